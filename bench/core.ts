// bench:core: the full loop (conditioning of 3 redundant sensors, or 1, PID,
// every monitor, supervisor, event log) in V8, on a settled thermal loop
// with realistic sensor noise. Prints ns per tick and ticks per second over
// batches of ticks, beside the same loop without the core (the plant alone),
// and the .wasm size. A benchmark, not a test.

import { statSync } from 'node:fs';
import { Core, DEFAULT_CORE_PATH, Q16 } from '../host/runtime/core.js';
import { Rng } from '../firmware-sim/rng.js';
import { benchConfig } from '../firmware-sim/pil/measure.js';

const N = Number(process.env.BENCH_TICKS ?? 2_000_000);
const ROUNDS = 5;
const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
const PERIOD_US = 100_000;

// The loop's configuration is shared with the cross-target cost report
// (firmware-sim/pil/measure.ts), so both measure the same tick.
function makeCore(sensors: 1 | 3): Core {
  const c = Core.load();
  c.configure(benchConfig(sensors));
  c.setSetpoint(80, 0);
  return c;
}

// A closed loop: a first-order thermal plant (the same as the core's model)
// settled at 80 C, three sensors of 0.05 C per count with 2 counts rms of
// precomputed noise each. The plant costs a few flops per tick.
const rng = new Rng(7);
const LEN = 1 << 16;
const noise = [0, 1, 2].map(() => Float64Array.from({ length: LEN }, () => 2 * rng.gauss()));
const A = 1 - Math.exp(-PERIOD_US / 1e6 / 60);

function jsLoop(c: Core, n: number, t0: bigint, withCore = true): number {
  const r = c.raw;
  const [na, nb, nc] = noise;
  let now = t0;
  let y = 80;
  let u = 40;
  const step = BigInt(PERIOD_US);
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const j = i & (LEN - 1);
    now += step;
    y += A * (1.5 * u + 20 - y);
    const counts = y * 20;
    if (withCore) {
      u = r.tick(now, Math.round(counts + na[j]), Math.round(counts + nb[j]), Math.round(counts + nc[j]),
        Math.round(u * Q16)) / Q16;
    } else {
      u = (Math.round(counts + na[j]) + Math.round(counts + nb[j]) + Math.round(counts + nc[j])) / 120;
    }
  }
  return Number(process.hrtime.bigint() - start) / n;
}

interface Result { sensors: number; loop: number; plant: number; core: number }

function measure(sensors: 1 | 3): Result {
  const c = makeCore(sensors);
  jsLoop(c, 200_000, 0n); // warm up and settle
  if (c.mode !== 'NOMINAL') throw new Error(`bench loop is not settled: mode ${c.mode}, active ${c.activeMonitors}`);
  const perTick: number[] = [];
  for (let k = 0; k < ROUNDS; k++) perTick.push(jsLoop(c, N, BigInt(1 + k) * BigInt(N) * BigInt(PERIOD_US) * 2n));
  if (c.mode !== 'NOMINAL') throw new Error(`bench loop left NOMINAL: ${c.mode}, active ${c.activeMonitors}`);
  const plant = median(Array.from({ length: ROUNDS }, () => jsLoop(c, N, 0n, false)));
  const loop = median(perTick);
  return { sensors, loop, plant, core: loop - plant };
}

const results = ([3, 1] as const).map(measure);
const size = statSync(DEFAULT_CORE_PATH).size;
console.log(`bench:core  full tick in V8 (conditioning, PID, every monitor, supervisor), closed loop, batches of ${N} ticks, median of ${ROUNDS}`);
for (const r of results) {
  console.log(`  ${r.sensors} sensor${r.sensors > 1 ? 's' : ' '}: plant + core ${r.loop.toFixed(1)} ns/tick, plant alone ${r.plant.toFixed(1)} ns/tick` +
    ` -> core tick ${r.core.toFixed(1)} ns (${(1e3 / r.core).toFixed(2)} M ticks/s, includes the JS->Wasm call);` +
    ` target <= 150 ns: ${r.core <= 150 ? 'met' : `missed by ${(r.core - 150).toFixed(1)} ns`}`);
}
console.log(`  core.wasm: ${size} bytes (target <= 16384: ${size <= 16384 ? 'met' : 'missed'})`);
