// bench:sim: simulated plant + core ticks per second on one core (each
// plant, fault-free, in this thread), and the wall time of the 10,000-
// scenario campaign on every core of this machine. A benchmark, not a test.

import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { DEFAULT_CORE_PATH } from '../host/runtime/core.js';
import { runScenario } from '../firmware-sim/run.js';
import { parseScenario } from '../firmware-sim/scenario/schema.js';
import { runCampaign } from '../firmware-sim/campaign/run.js';
import { buildReport } from '../firmware-sim/campaign/report.js';
import { PLANT_NAMES } from '../firmware-sim/types.js';
import { PLANTS } from '../firmware-sim/plants/index.js';

const module = new WebAssembly.Module(readFileSync(DEFAULT_CORE_PATH));
const SCENARIOS = Number(process.env.BENCH_SCENARIOS ?? 10_000);

console.log('bench:sim');
let allTicks = 0;
let allNs = 0;
for (const plant of PLANT_NAMES) {
  const spec = PLANTS[plant];
  const durationS = (200_000 * spec.periodUs) / 1e6;
  for (const actionToSensing of [false]) {
    const sc = parseScenario({ plant, durationS, seed: 1, actionToSensing });
    runScenario({ ...sc, durationS: durationS / 10 }, { module }); // warm up
    const t0 = process.hrtime.bigint();
    const r = runScenario(sc, { module });
    const ns = Number(process.hrtime.bigint() - t0);
    allTicks += r.ticks;
    allNs += ns;
    console.log(`  ${plant.padEnd(10)} ${r.ticks} ticks in ${(ns / 1e6).toFixed(0)} ms: ${(r.ticks / ns * 1e3).toFixed(2)} M plant+core ticks/s (${(ns / r.ticks).toFixed(0)} ns/tick)`);
  }
}
const rate = allTicks / allNs * 1e3;
console.log(`  all plants: ${rate.toFixed(2)} M ticks/s per core (target >= 5 M: ${rate >= 5 ? 'met' : `missed, ${(100 * rate / 5).toFixed(0)} % of it`})`);

const workers = availableParallelism();
const t0 = process.hrtime.bigint();
const { results } = await runCampaign({ seed: 1, scenarios: SCENARIOS, workers, corePath: DEFAULT_CORE_PATH });
const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
const oracleTicks = (p: (typeof results)[number]) => (p.oracles ? p.oracles.min.ticks + p.oracles.max.ticks + p.oracles.trip.ticks : 0);
const ticks = results.reduce((s, p) => s + p.guarded.ticks + p.unguarded.ticks + (p.fixedRate?.ticks ?? 0) + oracleTicks(p), 0);
const report = buildReport(1, results);
console.log(`  campaign: ${SCENARIOS} scenarios (${SCENARIOS * 2 + report.faultFree + 3 * report.guard.misses} runs, oracles included, ${(ticks / 1e6).toFixed(1)} M ticks) on ${workers} workers in ${wallS.toFixed(1)} s` +
  ` (${(ticks / wallS / 1e6).toFixed(2)} M ticks/s; target < 60 s for 10,000: ${SCENARIOS === 10_000 ? (wallS < 60 ? 'met' : 'missed') : 'n/a at this size'})`);
