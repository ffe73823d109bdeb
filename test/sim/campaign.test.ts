// The campaign is deterministic: the same seed gives the same report, byte
// for byte, whatever the number of worker threads; any scenario re-runs
// alone from its seed and index. And a bounded campaign, every scenario
// under operations, guarded and unguarded: the guard harms no run and
// trips on no fault-free tick, and the report's counterfactual adds up.
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { DEBUG_CORE_PATH } from '../../host/runtime/core.js';
import { runCampaign } from '../../firmware-sim/campaign/run.js';
import { buildReport, FAMILIES, familyOf, faultsEnded, IAE_WORSE_FACTOR, reportMarkdown, type CampaignReport, type Counterfactual } from '../../firmware-sim/campaign/report.js';
import { campaignScenario } from '../../firmware-sim/campaign/generate.js';
import { ORACLES, runPair, type PairResult } from '../../firmware-sim/campaign/pair.js';

const N = 40;

describe('campaign determinism', () => {
  it('same seed, same report bytes with 0, 1 and 2 workers', async () => {
    const reports = [];
    for (const workers of [0, 1, 2]) {
      const { results } = await runCampaign({ seed: 11, scenarios: N, workers, corePath: DEBUG_CORE_PATH });
      const r = buildReport(11, results);
      reports.push(JSON.stringify(r) + reportMarkdown(r));
    }
    expect(reports[1]).toBe(reports[0]);
    expect(reports[2]).toBe(reports[0]);
  });

  it('a different seed gives a different swarm', () => {
    const a = Array.from({ length: 20 }, (_, i) => JSON.stringify(campaignScenario(1, i)));
    const b = Array.from({ length: 20 }, (_, i) => JSON.stringify(campaignScenario(2, i)));
    expect(a).not.toEqual(b);
  });

  it('scenario i re-runs alone with the result it had in the campaign', async () => {
    const { results } = await runCampaign({ seed: 5, scenarios: 12, workers: 0, corePath: DEBUG_CORE_PATH });
    const module = new WebAssembly.Module(readFileSync(DEBUG_CORE_PATH));
    expect(JSON.stringify(runPair(campaignScenario(5, 9), module))).toBe(JSON.stringify(results[9]));
  });
});

// A seed no README figure uses; a few hundred scenarios on two workers.
const BOUNDED_SEED = 4099;
const BOUNDED_SCENARIOS = 450;

const sum = (cs: Partial<Record<string, Counterfactual>>, key: keyof Counterfactual) =>
  Object.values(cs).reduce((s, c) => s + c![key], 0);

describe(`a bounded campaign (seed ${BOUNDED_SEED}, ${BOUNDED_SCENARIOS} scenarios under operations)`, () => {
  let results: PairResult[];
  let report: CampaignReport;
  let g: CampaignReport['guard'];
  beforeAll(async () => {
    ({ results } = await runCampaign({ seed: BOUNDED_SEED, scenarios: BOUNDED_SCENARIOS, workers: 2, corePath: DEBUG_CORE_PATH }));
    report = buildReport(BOUNDED_SEED, results);
    g = report.guard;
  }, 60_000);

  // The guard's acceptance: what the report must show.
  it('the guard harms no run: none leaves the envelope that the primary controller alone keeps inside', () => {
    const lines = g.harmCases.map((c) => `${c.name}: guarded out at ${c.guarded.firstS} s by ${c.guarded.excursion}, ends ${c.guarded.finalMode} (${c.reproduce})`);
    expect(g.harms + g.faultFree.harms, `harms:\n${lines.join('\n')}`).toBe(0);
  });

  it('no false trip on any fault-free tick, under setpoint changes and load disturbances', () => {
    const lines = report.failing.filter((f) => f.why.startsWith('false trip')).map((f) => `#${f.index} ${f.name}: ${f.why}`);
    expect(g.falseTrips.trips, `false trips:\n${lines.slice(0, 50).join('\n')}${lines.length > 50 ? `\n... ${lines.length - 50} more` : ''}`).toBe(0);
    expect(g.falseTrips.faultFreeTicks).toBeGreaterThan(1_000_000);
  });

  // The operations themselves: what the primary controller alone can run.
  it('fault-free operations are the primary controller\'s to run: unguarded, no fault-free run leaves the envelope, no setpoint is refused', () => {
    expect(g.faultFree.scenarios).toBeGreaterThan(30);
    expect(g.faultFree.unguardedViolations).toBe(0);
    expect(g.faultFree.setpointRejects).toBe(0);
  });

  // The counterfactual adds up.
  it('saves, harms, misses and both-inside split the faulty runs; with misses they make up each side\'s violations', () => {
    expect(g.faultyRuns).toBe(report.faulty);
    expect(report.faulty + report.faultFree).toBe(BOUNDED_SCENARIOS);
    expect(g.saves + g.harms + g.misses + g.bothInside).toBe(g.faultyRuns);
    const faulty = results.filter((p) => p.guarded.faults.length > 0);
    expect(g.saves + g.misses).toBe(faulty.filter((p) => p.unguarded.envelope.violated).length);
    expect(g.harms + g.misses).toBe(faulty.filter((p) => p.guarded.envelope.violated).length);
    expect(g.unguardedViolations).toBe(g.saves + g.misses);
    expect(g.guardedViolations).toBe(g.harms + g.misses);
    expect(g.faultFree.scenarios).toBe(report.faultFree);
    expect(g.faultFree.harms).toBeLessThanOrEqual(g.faultFree.guardedViolations);
    const faultFree = results.filter((p) => p.guarded.faults.length === 0).map((p) => p.guarded);
    const off = faultFree.map((r) => r.modeSeconds.DEGRADED + r.modeSeconds.FALLBACK + r.modeSeconds.SAFE_STOP);
    expect(g.faultFree.leftNominal).toBe(off.filter((s) => s > 0).length);
    expect(g.faultFree.offNominalSeconds).toBeCloseTo(off.reduce((a, b) => a + b, 0), 2);
    expect(g.faultFree.tripped).toBe(faultFree.filter((r) => r.trips > 0).length);
  });

  it('by family, by kind and by plant, the rows add up to the whole', () => {
    for (const rows of [g.byFamily, g.byKind, g.byPlant]) {
      for (const key of ['runs', 'saves', 'harms', 'misses', 'preventable', 'bothInside'] as const) {
        const whole = key === 'runs' ? g.faultyRuns : key === 'preventable' ? g.preventable.count : g[key];
        expect(sum(rows, key), key).toBe(whole);
      }
      for (const c of Object.values(rows)) expect(c!.saves + c!.harms + c!.misses + c!.bothInside).toBe(c!.runs);
    }
    expect(Object.keys(g.byFamily).every((f) => (FAMILIES as readonly string[]).includes(f))).toBe(true);
    // trip.fail is not drawn: no trip family.
    expect(g.byFamily.trip).toBeUndefined();
  });

  it('every harm and every miss is listed once, with the line that re-runs it; the preventable ones are those an oracle keeps inside', () => {
    expect(g.harmCases.length).toBe(g.harms + g.faultFree.harms);
    expect(g.missCases.length).toBe(g.misses);
    expect(new Set([...g.harmCases, ...g.missCases].map((c) => c.index)).size).toBe(g.harmCases.length + g.missCases.length);
    for (const c of [...g.harmCases, ...g.missCases]) {
      expect(c.reproduce).toBe(`npx edgeloop sim --campaign ${BOUNDED_SEED}:${c.index}`);
      expect(c.reproduceUnguarded).toBe(`npx edgeloop sim --campaign ${BOUNDED_SEED}:${c.index} --unguarded`);
      expect(c.guarded.excursion).toBeGreaterThan(0);
    }
    for (const c of g.harmCases) expect(c.unguarded.excursion).toBe(0);
    for (const c of g.missCases) {
      expect(c.unguarded.excursion).toBeGreaterThan(0);
      expect(c.preventedBy).toEqual(ORACLES.filter((o) => !c.oracles[o].violated));
      expect(c.preventable).toBe(c.preventedBy.length > 0);
      expect(c.reproduceOracle).toBe(c.preventable ? `npx edgeloop sim --campaign ${BOUNDED_SEED}:${c.index} --oracle ${c.preventedBy[0]}` : null);
    }
    expect(g.preventable.indices).toEqual(g.missCases.filter((c) => c.preventable).map((c) => c.index));
    expect(g.preventable.count).toBe(g.preventable.indices.length);
    expect(g.preventable.misses).toBe(g.misses);
    // Oracles run for misses only (they keep campaigns fast).
    results.forEach((p) => expect(p.oracles !== null).toBe(p.guarded.faults.length > 0 && p.guarded.envelope.violated && p.unguarded.envelope.violated));
  });

  it('report.md names every harm and miss with its reproduction, and the counterfactual per family', () => {
    const md = reportMarkdown(report);
    expect(md).toMatch(/## The guard against its absence/);
    expect(md).toContain(`| **all** | ${g.faultyRuns} | ${g.saves} |`);
    for (const c of [...g.harmCases, ...g.missCases].slice(0, 200)) expect(md).toContain(`\`${c.reproduce}\``);
    expect(md).not.toMatch(/covered/);
  });

  it('IAE worse and off NOMINAL after the fault cleared count the runs they say they count', () => {
    const faulty = results.filter((p) => p.guarded.faults.length > 0);
    for (const f of FAMILIES) {
      const mine = faulty.filter((p) => familyOf(p.guarded.faults[0].kind) === f);
      const inside = mine.filter((p) => !p.unguarded.envelope.violated);
      const iae = g.iaeWorseShare[f];
      expect(iae?.runs ?? 0).toBe(inside.length);
      expect(iae?.count ?? 0).toBe(inside.filter((p) => p.guarded.iae > IAE_WORSE_FACTOR * p.unguarded.iae).length);
      const ended = mine.filter((p) => faultsEnded(p.guarded));
      const off = g.offNominalAfterClear[f];
      expect(off?.runs ?? 0).toBe(ended.length);
      expect(off?.count ?? 0).toBe(ended.filter((p) => p.guarded.finalMode !== 'NOMINAL').length);
      expect(off?.tripped ?? 0).toBeLessThanOrEqual(off?.count ?? 0);
      if (iae) expect(iae.share).toBe(iae.runs ? Number((iae.count / iae.runs).toFixed(4)) : null);
    }
    expect(Object.values(g.iaeWorseShare).reduce((s, x) => s + x!.runs, 0)).toBe(g.bothInside + g.harms);
  });

  it('a faulty run whose fault never ends is not counted after clearing; a fault-free run is in no family', () => {
    const permanent = results.filter((p) => p.guarded.faults.some((f) => f.durationS === null));
    expect(permanent.length).toBeGreaterThan(0);
    for (const p of permanent) expect(faultsEnded(p.guarded)).toBe(false);
    expect(results.filter((p) => p.guarded.faults.length === 0).every((p) => !faultsEnded(p.guarded))).toBe(true);
  });
});
