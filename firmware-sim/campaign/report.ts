// The campaign report: what was caught, how fast, where it was named, and
// what would have happened without the guard. Deterministic for a seed: it
// holds no wall-clock time, so the same seed gives the same bytes.

import { PLANTS } from '../plants/index.js';
import { FAULT_KINDS, type FaultKind, type PlantName } from '../types.js';
import type { PairResult } from './pair.js';
import type { RunResult } from '../run.js';

export interface KindRow {
  kind: FaultKind | 'none';
  scenarios: number;
  covered: number;
  detected: number;
  latencyS: { p50: number | null; p90: number | null; max: number | null };
  attributed: number;
  guardedViolations: number;
  guardedViolationsCovered: number;
  unguardedViolations: number;
  iaeGuarded: number;
  iaeUnguarded: number;
}

export interface FailingCase {
  index: number;
  name: string;
  why: string;
  reproduce: string;
}

export interface CampaignReport {
  seed: number;
  scenarios: number;
  faulty: number;
  faultFree: number;
  guarded: { violationsCovered: number; violationsUncovered: number };
  unguarded: { violations: number; violationShare: number };
  falseTrips: { trips: number; faultFreeTicks: number; monitors: Record<string, number> };
  attribution: { detected: number; correct: number; accuracy: number | null };
  actionToSensing: { scenarios: number; ticksAdaptive: number; ticksFixed: number; sampleRatio: number | null; iaeAdaptive: number; iaeFixed: number; iaeRatio: number | null };
  /** Per plant, fault-free: mean |error| with action-to-sensing and at a fixed rate, beside the sensor noise rms. */
  actionToSensingByPlant: Record<string, { samplesAdaptive: number; samplesFixed: number; meanAbsErrorAdaptive: number; meanAbsErrorFixed: number; sensorNoise: number }>;
  byKind: KindRow[];
  byPlant: Record<string, { scenarios: number; guardedViolations: number; unguardedViolations: number }>;
  failing: FailingCase[];
  worst: { index: number; name: string; excursion: number }[];
}

const quantile = (xs: number[], q: number): number | null => {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};
const round = (x: number, d = 4) => Number(x.toFixed(d));

export function reproduceCommand(seed: number, index: number, unguarded = false): string {
  return `npx edgeloop sim --campaign ${seed}:${index}${unguarded ? ' --unguarded' : ''}`;
}

function covered(r: RunResult): boolean {
  const kind = r.faults[0]?.kind;
  return kind !== undefined && PLANTS[r.plant as PlantName].covered.includes(kind);
}

export function buildReport(seed: number, results: readonly PairResult[]): CampaignReport {
  const rows = new Map<string, { rs: PairResult[] }>();
  for (const k of ['none', ...FAULT_KINDS]) rows.set(k, { rs: [] });
  const byPlant: CampaignReport['byPlant'] = {};
  const failing: FailingCase[] = [];
  const monitors: Record<string, number> = {};
  let trips = 0;
  let faultFreeTicks = 0;
  let detected = 0;
  let correct = 0;
  let violationsCovered = 0;
  let violationsUncovered = 0;
  let unguardedViolations = 0;
  let faulty = 0;
  const a2s = { scenarios: 0, ticksAdaptive: 0, ticksFixed: 0, iaeAdaptive: 0, iaeFixed: 0 };
  const a2sPlant: Record<string, { samplesAdaptive: number; samplesFixed: number; iaeA: number; iaeF: number; seconds: number }> = {};
  const worst: CampaignReport['worst'] = [];

  results.forEach((p, index) => {
    const g = p.guarded;
    const kind: FaultKind | 'none' = g.faults.length ? g.faults[0].kind : 'none';
    rows.get(kind)!.rs.push(p);
    const plant = (byPlant[g.plant] ??= { scenarios: 0, guardedViolations: 0, unguardedViolations: 0 });
    plant.scenarios++;
    if (g.envelope.violated) plant.guardedViolations++;
    if (p.unguarded.envelope.violated) plant.unguardedViolations++;
    // False trips: every guarded run (adaptive and fixed-rate) before any fault.
    for (const run of p.fixedRate ? [g, p.fixedRate] : [g]) {
      trips += run.falseTrips;
      faultFreeTicks += run.faultFreeTicks;
      for (const m of run.falseTripMonitors) monitors[m] = (monitors[m] ?? 0) + 1;
      if (run.falseTrips > 0) failing.push({ index, name: run.name, why: `false trip before any fault${run.actionToSensing ? '' : ' (fixed rate)'}: ${run.falseTripMonitors.join(', ')}`, reproduce: reproduceCommand(seed, index) });
    }
    if (kind !== 'none') {
      faulty++;
      if (p.unguarded.envelope.violated) unguardedViolations++;
      if (g.detection) {
        detected++;
        if (g.attributionCorrect) correct++;
        else failing.push({ index, name: g.name, why: `first-out named ${g.detection.monitor} (${g.detection.stage}), the fault was injected at ${g.expectedStage}`, reproduce: reproduceCommand(seed, index) });
      }
      if (g.envelope.violated) {
        if (covered(g)) {
          violationsCovered++;
          failing.push({ index, name: g.name, why: `guarded run left the safety envelope (by ${round(g.envelope.worstExcursion)}) for a fault its fallback covers`, reproduce: reproduceCommand(seed, index) });
        } else {
          violationsUncovered++;
        }
        worst.push({ index, name: g.name, excursion: round(g.envelope.worstExcursion) });
      }
    }
    if (p.fixedRate) {
      a2s.scenarios++;
      a2s.ticksAdaptive += g.ticks;
      a2s.ticksFixed += p.fixedRate.ticks;
      a2s.iaeAdaptive += g.iae;
      a2s.iaeFixed += p.fixedRate.iae;
      const ap = (a2sPlant[g.plant] ??= { samplesAdaptive: 0, samplesFixed: 0, iaeA: 0, iaeF: 0, seconds: 0 });
      ap.samplesAdaptive += g.ticks;
      ap.samplesFixed += p.fixedRate.ticks;
      ap.iaeA += g.iae;
      ap.iaeF += p.fixedRate.iae;
      ap.seconds += g.simulatedS;
    }
  });

  const byKind: KindRow[] = [...rows].filter(([, v]) => v.rs.length > 0).map(([kind, v]) => {
    const lat = v.rs.map((p) => p.guarded.detection?.latencyS).filter((x): x is number => x !== undefined);
    return {
      kind: kind as FaultKind | 'none',
      scenarios: v.rs.length,
      covered: v.rs.filter((p) => covered(p.guarded)).length,
      detected: lat.length,
      latencyS: { p50: quantile(lat, 0.5), p90: quantile(lat, 0.9), max: lat.length ? Math.max(...lat) : null },
      attributed: v.rs.filter((p) => p.guarded.attributionCorrect === true).length,
      guardedViolations: v.rs.filter((p) => p.guarded.envelope.violated).length,
      guardedViolationsCovered: v.rs.filter((p) => p.guarded.envelope.violated && covered(p.guarded)).length,
      unguardedViolations: v.rs.filter((p) => p.unguarded.envelope.violated).length,
      iaeGuarded: round(v.rs.reduce((s, p) => s + p.guarded.iae, 0) / v.rs.length),
      iaeUnguarded: round(v.rs.reduce((s, p) => s + p.unguarded.iae, 0) / v.rs.length),
    };
  });
  worst.sort((a, b) => b.excursion - a.excursion || a.index - b.index);
  failing.sort((a, b) => a.index - b.index);
  return {
    seed,
    scenarios: results.length,
    faulty,
    faultFree: results.length - faulty,
    guarded: { violationsCovered, violationsUncovered },
    unguarded: { violations: unguardedViolations, violationShare: faulty ? round(unguardedViolations / faulty) : 0 },
    falseTrips: { trips, faultFreeTicks, monitors },
    attribution: { detected, correct, accuracy: detected ? round(correct / detected) : null },
    actionToSensing: {
      ...a2s,
      iaeAdaptive: round(a2s.iaeAdaptive), iaeFixed: round(a2s.iaeFixed),
      sampleRatio: a2s.ticksFixed ? round(a2s.ticksAdaptive / a2s.ticksFixed) : null,
      iaeRatio: a2s.iaeFixed ? round(a2s.iaeAdaptive / a2s.iaeFixed) : null,
    },
    actionToSensingByPlant: Object.fromEntries(Object.entries(a2sPlant).map(([name, v]) => [name, {
      samplesAdaptive: v.samplesAdaptive, samplesFixed: v.samplesFixed,
      meanAbsErrorAdaptive: round(v.iaeA / v.seconds, 6), meanAbsErrorFixed: round(v.iaeF / v.seconds, 6),
      sensorNoise: PLANTS[name as PlantName].sensors.noise,
    }])),
    byKind,
    byPlant,
    failing,
    worst: worst.slice(0, 5),
  };
}

const fmt = (x: number | null, d = 3) => (x === null ? '-' : Number(x.toFixed(d)).toString());
const pct = (a: number, b: number) => (b ? `${((100 * a) / b).toFixed(1)} %` : '-');

export function reportMarkdown(r: CampaignReport, plots: readonly { file: string; title: string }[] = []): string {
  const L: string[] = [];
  L.push(`# Fault campaign, seed ${r.seed}: ${r.scenarios} scenarios`);
  L.push('');
  L.push(`${r.faulty} with an injected fault, ${r.faultFree} fault-free; every scenario ran guarded (monitors and fallback) and unguarded (primary controller only).`);
  L.push('');
  L.push('| measure | result |');
  L.push('|---|---|');
  L.push(`| guarded envelope violations, faults the fallback covers | **${r.guarded.violationsCovered}** |`);
  L.push(`| guarded envelope violations, faults it does not cover | ${r.guarded.violationsUncovered} |`);
  L.push(`| unguarded envelope violations | ${r.unguarded.violations} of ${r.faulty} faulty runs (${pct(r.unguarded.violations, r.faulty)}) |`);
  L.push(`| false trips (guarded runs, adaptive and fixed-rate, before any fault) | **${r.falseTrips.trips}** over ${r.falseTrips.faultFreeTicks.toLocaleString('en-US')} fault-free ticks |`);
  L.push(`| first-out attribution right | ${r.attribution.correct} of ${r.attribution.detected} detected (${r.attribution.accuracy === null ? '-' : pct(r.attribution.correct, r.attribution.detected)}) |`);
  const a = r.actionToSensing;
  L.push(`| action-to-sensing, fault-free runs | ${a.ticksAdaptive.toLocaleString('en-US')} samples vs ${a.ticksFixed.toLocaleString('en-US')} at a fixed rate (ratio ${fmt(a.sampleRatio)}); IAE ratio ${fmt(a.iaeRatio)} |`);
  L.push('');
  L.push('## Action-to-sensing, fault-free runs');
  L.push('');
  L.push('| plant | samples adaptive / fixed | mean abs error adaptive / fixed | sensor noise rms |');
  L.push('|---|---|---|---|');
  for (const [pl, v] of Object.entries(r.actionToSensingByPlant)) {
    L.push(`| ${pl} | ${v.samplesAdaptive} / ${v.samplesFixed} (${pct(v.samplesAdaptive, v.samplesFixed)}) | ${fmt(v.meanAbsErrorAdaptive, 4)} / ${fmt(v.meanAbsErrorFixed, 4)} | ${v.sensorNoise} |`);
  }
  L.push('');
  L.push('## By fault kind');
  L.push('');
  L.push('IAE is measured against the host setpoint, so a guarded run that falls back toward its safe setpoint (or stops) pays for it in IAE by design.');
  L.push('');
  L.push('| fault | runs | covered | detected | latency p50 / p90 / max (s) | attribution right | guarded violations (covered) | unguarded violations | mean IAE guarded / unguarded |');
  L.push('|---|---|---|---|---|---|---|---|---|');
  for (const k of r.byKind) {
    L.push(`| ${k.kind} | ${k.scenarios} | ${k.covered} | ${k.detected} | ${fmt(k.latencyS.p50)} / ${fmt(k.latencyS.p90)} / ${fmt(k.latencyS.max)} | ${k.kind === 'none' ? '-' : pct(k.attributed, k.detected)} | ${k.guardedViolations} (${k.guardedViolationsCovered}) | ${k.unguardedViolations} | ${fmt(k.iaeGuarded, 2)} / ${fmt(k.iaeUnguarded, 2)} |`);
  }
  L.push('');
  L.push('## By plant');
  L.push('');
  L.push('| plant | runs | guarded violations | unguarded violations |');
  L.push('|---|---|---|---|');
  for (const [p, v] of Object.entries(r.byPlant)) L.push(`| ${p} | ${v.scenarios} | ${v.guardedViolations} | ${v.unguardedViolations} |`);
  if (Object.keys(r.falseTrips.monitors).length) {
    L.push('');
    L.push(`False trips by monitor: ${Object.entries(r.falseTrips.monitors).map(([m, n]) => `${m} ${n}`).join(', ')}.`);
  }
  L.push('');
  L.push(`## Failing cases (${r.failing.length})`);
  L.push('');
  if (r.failing.length === 0) L.push('None.');
  for (const f of r.failing.slice(0, 200)) L.push(`- #${f.index} ${f.name}: ${f.why}. Reproduce: \`${f.reproduce}\``);
  if (r.failing.length > 200) L.push(`- ... ${r.failing.length - 200} more in report.json`);
  if (plots.length) {
    L.push('');
    L.push('## Worst cases');
    L.push('');
    for (const p of plots) L.push(`### ${p.title}\n\n![${p.title}](${p.file})\n`);
  }
  return L.join('\n') + '\n';
}
