// bench:targets: footprint and cost of the same core.wasm on every target.
//   - the .wasm size;
//   - firmware .text/.data/.bss and the core's RAM (npm run firmware builds the ELFs);
//   - instructions per full tick on the Cortex-M3 and M4 under QEMU -icount
//     (firmware-sim/pil/measure.ts);
//   - ns per full tick on V8 and on Wasmtime beside the native wasm2c build
//     (gcc -O2) of the same core, measured in the same run on the same
//     settled closed loop (3 sensors, every monitor).
// A benchmark, not a test. Run `npm run bench:targets`.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Core, DEFAULT_CORE_PATH } from '../host/runtime/core.js';
import { benchStream } from '../firmware-sim/pil/measure.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TICKS = Number(process.env.BENCH_TICKS ?? 200_000);
const ROUNDS = 5;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** The measured tick lines of the bench stream, as numbers. */
function ticksOf(lines: string[], from: number): number[][] {
  return lines.slice(from).filter((l) => l.startsWith('T ')).map((l) => l.split(' ').slice(1).map(Number));
}

function v8NsPerTick(lines: string[], from: number): number {
  const core = Core.load();
  const raw = core.raw;
  // Replay the setup (config, setpoint, settling ticks) through the protocol semantics.
  let open = false;
  for (const l of lines.slice(0, from)) {
    const [op, a, b, c, d, e] = l.split(' ');
    if (op === 'I') raw.init();
    else if (op === 'C') { if (!open) { raw.config_begin(); open = true; } raw.config_set(Number(a), Number(b)); }
    else if (op === 'K') { raw.config_commit(); open = false; }
    else if (op === 'S') raw.set_setpoint(Number(a), BigInt(b));
    else if (op === 'T') raw.tick(BigInt(a), Number(b), Number(c), Number(d), Number(e));
  }
  const ticks = ticksOf(lines, from);
  const span = ticks[ticks.length - 1][0] - ticks[0][0] + (ticks[1][0] - ticks[0][0]);
  const runs: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    // Each round continues the clock (rounds follow one another in time); the
    // times are made before the clock starts.
    const times = ticks.map(([t]) => BigInt(t + r * span));
    const start = process.hrtime.bigint();
    for (let i = 0; i < ticks.length; i++) {
      const k = ticks[i];
      raw.tick(times[i], k[1], k[2], k[3], k[4]);
    }
    runs.push(Number(process.hrtime.bigint() - start) / ticks.length);
  }
  if (raw.mode() !== 0) throw new Error(`V8 replay left NOMINAL (mode ${raw.mode()})`);
  return median(runs);
}

/** Wasmtime in a separate process (the binding aborts its process on some errors), the same ticks. */
function wasmtimeNsPerTick(lines: string[], from: number): number | string {
  const dir = mkdtempSync(join(tmpdir(), 'edgeloop-wt-'));
  const file = join(dir, 'lines.json');
  writeFileSync(file, JSON.stringify({ setup: lines.slice(0, from), ticks: ticksOf(lines, from), rounds: ROUNDS }));
  const script = `
    const w = require('wasmtime-linux-x64-gnu');
    const { setup, ticks, rounds } = JSON.parse(require('fs').readFileSync(${JSON.stringify(file)}, 'utf8'));
    const engine = new w.Engine(new w.Config());
    const store = new w.Store(engine);
    const inst = new w.Instance(store, w.Module.fromFile(engine, ${JSON.stringify(DEFAULT_CORE_PATH)}));
    const f = (n) => inst.getFunc(store, n);
    const init = f('init'), begin = f('config_begin'), set = f('config_set'), commit = f('config_commit'), sp = f('set_setpoint'), tick = f('tick');
    let open = false;
    for (const l of setup) {
      const [op, a, b, c, d, e] = l.split(' ').map((x, i) => i ? Number(x) : x);
      if (op === 'I') init.call(store, []);
      else if (op === 'C') { if (!open) { begin.call(store, []); open = true; } set.call(store, [a, b]); }
      else if (op === 'K') { commit.call(store, []); open = false; }
      else if (op === 'S') sp.call(store, [a, b]);
      else if (op === 'T') tick.call(store, [a, b, c, d, e]);
    }
    const span = ticks[ticks.length - 1][0] - ticks[0][0] + (ticks[1][0] - ticks[0][0]);
    const runs = [];
    for (let r = 0; r < rounds; r++) {
      const args = ticks.map((t) => [t[0] + r * span, t[1], t[2], t[3], t[4]]);
      const start = process.hrtime.bigint();
      for (const a of args) tick.call(store, a);
      runs.push(Number(process.hrtime.bigint() - start) / ticks.length);
    }
    runs.sort((x, y) => x - y);
    console.log(runs[Math.floor(runs.length / 2)]);`;
  const r = spawnSync(process.execPath, ['-e', script], { cwd: ROOT, encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0) return `failed: ${(r.stderr || r.stdout).trim().split('\n').slice(-1)[0]}`;
  return Number(r.stdout.trim());
}

function nativeNsPerTick(): number | string {
  const r = spawnSync(join(ROOT, 'build', 'native', 'edgeloop-native'), ['--bench', String(TICKS)], { encoding: 'utf8', timeout: 300_000 });
  const m = /3 sensors:.*core tick ([\d.]+) ns/.exec(r.stdout);
  return m ? Number(m[1]) : `failed: ${r.stderr.trim() || r.stdout.trim()}`;
}

function elfSize(elf: string): string {
  const r = spawnSync('arm-none-eabi-size', [elf], { encoding: 'utf8' });
  if (r.status !== 0) return `${elf}: not built (${r.stderr.trim()})`;
  const [text, data, bss] = r.stdout.trim().split('\n')[1].trim().split(/\s+/).map(Number);
  return `${elf.replace(ROOT, '')}: .text ${text} B (budget <= 40960: ${text <= 40960 ? 'met' : 'missed'}; ` +
    `ARCHITECTURE.md target <= 32768: ${text <= 32768 ? 'met' : 'missed'}), .data ${data} B, .bss ${bss} B`;
}

console.log('bench:targets  one core.wasm, every target');
console.log(`  core.wasm: ${statSync(DEFAULT_CORE_PATH).size} bytes`);
for (const k of ['m3', 'm4']) console.log(`  ${elfSize(join(ROOT, 'build', 'firmware', `edgeloop-${k}.elf`))}`);
const m = spawnSync(process.execPath, [join(ROOT, 'dist', 'firmware-sim', 'pil', 'measure.js')], { cwd: ROOT, encoding: 'utf8', timeout: 600_000 });
process.stdout.write(m.stdout.split('\n').map((l) => (l ? `  ${l}` : l)).join('\n'));
if (m.status !== 0) console.log(`  (instruction counts failed: ${m.stderr.trim().split('\n').slice(-1)[0]})`);

const stream = benchStream(3, 2000, TICKS);
const native = nativeNsPerTick();
const v8 = v8NsPerTick(stream.lines, stream.measuredFrom);
const wt = wasmtimeNsPerTick(stream.lines, stream.measuredFrom);
const ratio = (x: number | string) => (typeof x === 'number' && typeof native === 'number' ? ` = ${(x / native).toFixed(2)}x native (target <= 1.5x: ${x / native <= 1.5 ? 'met' : 'missed'})` : '');
console.log(`  ns per full tick, 3 sensors, ${TICKS} settled ticks, median of ${ROUNDS}:`);
console.log(`    native (wasm2c + gcc -O2): ${typeof native === 'number' ? native.toFixed(1) : native}`);
console.log(`    V8 (raw export per tick):  ${v8.toFixed(1)}${ratio(v8)}`);
console.log(`    Wasmtime (binding, per tick call, in its own process): ${typeof wt === 'number' ? wt.toFixed(1) : wt}${ratio(wt)}`);
