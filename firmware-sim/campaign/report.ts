// The campaign report: the guard judged against its absence (saves, harms,
// misses, and whether a miss was preventable at all), what it costs in
// control quality and in time out of NOMINAL, false trips under real
// operations, and what was caught, how fast and where it was named.
// Deterministic for a seed: it holds no wall-clock time and is built from
// the results in scenario order, so the same seed gives the same bytes
// whatever the number of workers.

import { PLANTS } from '../plants/index.js';
import { FAULT_KINDS, type FaultKind, type PlantName } from '../types.js';
import type { Mode } from '../../host/runtime/core.js';
import { coreFailed, type Oracle, type RunResult } from '../run.js';
import { ORACLES, type PairResult } from './pair.js';

/** A fault's family: the part of the loop it hits (the kind's prefix). */
export const FAMILIES = ['sensor', 'actuator', 'timing', 'comm', 'memory', 'trip'] as const;
export type Family = (typeof FAMILIES)[number];
export const familyOf = (kind: FaultKind): Family => kind.slice(0, kind.indexOf('.')) as Family;

/** Guarded IAE more than this factor of the unguarded one counts as worse. */
export const IAE_WORSE_FACTOR = 1.1;

/** The guard against its absence over a set of faulty runs: each run is exactly one of saves, harms, misses, bothInside. */
export interface Counterfactual {
  runs: number;
  /** The unguarded run leaves the envelope, the guarded one does not. */
  saves: number;
  /** The guarded run leaves the envelope, the unguarded one does not. */
  harms: number;
  /** Both leave it. */
  misses: number;
  /** Misses that an oracle (the command pinned at min or max, or the trip, from the onset) keeps inside. */
  preventable: number;
  /** Neither leaves it. */
  bothInside: number;
}

/** A harm or a miss, with the lines that re-run it. */
export interface GuardCase {
  index: number;
  name: string;
  plant: string;
  /** The scenario's fault ('none' for a fault-free run). */
  kind: FaultKind | 'none';
  /** Worst excursion beyond the envelope (0: stayed inside) and when it first left, seconds. */
  guarded: { excursion: number; firstS: number | null; finalMode: Mode; finalTrip: number };
  unguarded: { excursion: number; firstS: number | null };
  reproduce: string;
  reproduceUnguarded: string;
}

export interface MissCase extends GuardCase {
  preventable: boolean;
  /** The oracles whose run stays inside the envelope. */
  preventedBy: Oracle[];
  oracles: Record<Oracle, { violated: boolean; worstExcursion: number }>;
  /** The first oracle run that stays inside, re-run alone; null when none does. */
  reproduceOracle: string | null;
}

/** Among `runs`, `count` have the property; share = count / runs (null without runs). */
export interface Share {
  runs: number;
  count: number;
  share: number | null;
}

export interface GuardReport {
  /** Over the faulty runs: */
  faultyRuns: number;
  saves: number;
  harms: number;
  misses: number;
  bothInside: number;
  guardedViolations: number;
  unguardedViolations: number;
  /** The misses an oracle keeps inside, and which they are (scenario indices). */
  preventable: { count: number; misses: number; indices: number[] };
  byFamily: Partial<Record<Family, Counterfactual>>;
  byKind: Partial<Record<FaultKind, Counterfactual>>;
  byPlant: Partial<Record<PlantName, Counterfactual>>;
  /** Per family: of the faulty runs the unguarded loop keeps inside the envelope, those whose guarded IAE is over IAE_WORSE_FACTOR times the unguarded one. */
  iaeWorseShare: Partial<Record<Family, Share>>;
  /** Per family: of the runs whose every fault ended before the run did, those not NOMINAL at the end (tripped: the trip output still asserted). */
  offNominalAfterClear: Partial<Record<Family, Share & { tripped: number }>>;
  /** Root-cause trips of a monitor before any fault (guarded runs, adaptive and fixed-rate), over the ticks before any fault. */
  falseTrips: { trips: number; runs: number; faultFreeTicks: number; monitors: Record<string, number> };
  /** The fault-free scenarios (operations only), guarded (adaptive) against unguarded. */
  faultFree: {
    scenarios: number;
    guardedViolations: number;
    unguardedViolations: number;
    /** Guarded leaves the envelope, unguarded does not: a harm without a fault (not in `harms`). */
    harms: number;
    /** Guarded runs that left NOMINAL, their seconds out of it, and those whose trip output was asserted. */
    leftNominal: number;
    offNominalSeconds: number;
    tripped: number;
    /** Host setpoints the core refused (operations too close to the envelope; 0 by construction). */
    setpointRejects: number;
  };
  /** Every harm (faulty runs first by index, then fault-free ones) and every miss, each with its reproduction. */
  harmCases: GuardCase[];
  missCases: MissCase[];
}

export interface KindRow {
  kind: FaultKind | 'none';
  scenarios: number;
  detected: number;
  latencyS: { p50: number | null; p90: number | null; max: number | null };
  attributed: number;
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
  guard: GuardReport;
  attribution: { detected: number; correct: number; accuracy: number | null };
  actionToSensing: { scenarios: number; ticksAdaptive: number; ticksFixed: number; sampleRatio: number | null; iaeAdaptive: number; iaeFixed: number; iaeRatio: number | null };
  /** Per plant, fault-free: mean |error| with action-to-sensing and at a fixed rate, beside the sensor noise rms. */
  actionToSensingByPlant: Record<string, { samplesAdaptive: number; samplesFixed: number; meanAbsErrorAdaptive: number; meanAbsErrorFixed: number; sensorNoise: number }>;
  /** Detection, attribution and IAE per fault kind. */
  byKind: KindRow[];
  /** False trips and first-out attributions that named the wrong stage. */
  failing: FailingCase[];
  /** The largest guarded excursions of faulty runs. */
  worst: { index: number; name: string; excursion: number }[];
  /**
   * Whether the core under test controlled at all: runs (guarded or not) in
   * which it trapped, or overran its tick budget without an injected
   * overrun, and the watchdog restarted it, with the count of restarts; and
   * whether any injected fault was detected. `dead` names why the campaign
   * must fail, or is null.
   */
  health: {
    runsWithResets: number; resets: number; traps: number;
    /** Broken invariants (a bug in the core), in how many runs, and what broke (each once). */
    invariantFails: number; runsWithInvariantFails: number; invariants: string[];
    firstIndices: number[]; dead: string | null;
  };
}

export interface ReportOptions {
  /** The scenario number of each result (default: its position), when an engine left some out. */
  indices?: readonly number[];
  /** The engine the campaign ran on; reproductions name it unless it is v8. */
  engine?: string;
  /** The core the campaign ran, when not the default (the debug build): reproductions name it. */
  core?: string;
}

const quantile = (xs: number[], q: number): number | null => {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};
const round = (x: number, d = 4) => Number(x.toFixed(d));
const share = (count: number, runs: number): number | null => (runs ? round(count / runs) : null);

/** Where a campaign ran: its engine and core, as its reproductions must name them. */
type Where = { engine?: string; core?: string };

/** The one line that re-runs scenario `index` of campaign `seed` (guarded unless told). */
export function reproduceCommand(seed: number, index: number, opts: Where & { unguarded?: boolean; oracle?: Oracle } = {}): string {
  return `npx edgeloop sim --campaign ${seed}:${index}${opts.unguarded ? ' --unguarded' : ''}${opts.oracle ? ` --oracle ${opts.oracle}` : ''}` +
    `${opts.engine && opts.engine !== 'v8' ? ` --engine ${opts.engine}` : ''}${opts.core ? ` --core ${opts.core}` : ''}`;
}

/** Whether every fault of a run ended before the run did (a permanent fault never ends). */
export function faultsEnded(r: RunResult): boolean {
  // A bit flip acts once, at its onset; its window's end restores nothing.
  // It has ended when its bytes hold their values again (repaired from the
  // shadow, or rewritten by a restart), not while the corruption is left.
  return r.faults.length > 0 && r.faults.every((f) => f.durationS !== null && f.onsetS + f.durationS < r.simulatedS)
    && r.corruptionLeft !== true;
}

const emptyCounterfactual = (): Counterfactual => ({ runs: 0, saves: 0, harms: 0, misses: 0, preventable: 0, bothInside: 0 });
const preventedBy = (p: PairResult): Oracle[] => (p.oracles ? ORACLES.filter((o) => !p.oracles![o].violated) : []);

function addOutcome(c: Counterfactual, p: PairResult): void {
  const g = p.guarded.envelope.violated;
  const u = p.unguarded.envelope.violated;
  c.runs++;
  if (u && !g) c.saves++;
  else if (g && !u) c.harms++;
  else if (g && u) {
    c.misses++;
    if (preventedBy(p).length) c.preventable++;
  } else c.bothInside++;
}

function guardCase(seed: number, index: number, p: PairResult, where: Where): GuardCase {
  const g = p.guarded;
  const u = p.unguarded;
  return {
    index, name: g.name, plant: g.plant, kind: g.faults.length ? g.faults[0].kind : 'none',
    guarded: { excursion: round(g.envelope.worstExcursion), firstS: g.envelope.firstS === null ? null : round(g.envelope.firstS), finalMode: g.finalMode, finalTrip: g.finalTrip },
    unguarded: { excursion: round(u.envelope.worstExcursion), firstS: u.envelope.firstS === null ? null : round(u.envelope.firstS) },
    reproduce: reproduceCommand(seed, index, where),
    reproduceUnguarded: reproduceCommand(seed, index, { unguarded: true, ...where }),
  };
}

function missCase(seed: number, index: number, p: PairResult, where: Where): MissCase {
  const by = preventedBy(p);
  const oracles = Object.fromEntries(ORACLES.map((o) => [o, { violated: p.oracles![o].violated, worstExcursion: round(p.oracles![o].worstExcursion) }])) as MissCase['oracles'];
  return {
    ...guardCase(seed, index, p, where), preventable: by.length > 0, preventedBy: by, oracles,
    reproduceOracle: by.length ? reproduceCommand(seed, index, { oracle: by[0], ...where }) : null,
  };
}

/** Keys of a partial record in a fixed order, dropping the absent ones. */
function ordered<K extends string, V>(keys: readonly K[], m: Map<K, V>): Partial<Record<K, V>> {
  const out: Partial<Record<K, V>> = {};
  for (const k of keys) if (m.has(k)) out[k] = m.get(k)!;
  return out;
}

function buildGuard(seed: number, results: readonly PairResult[], at: (pos: number) => number, where: Where): GuardReport {
  const all = emptyCounterfactual();
  const byFamily = new Map<Family, Counterfactual>();
  const byKind = new Map<FaultKind, Counterfactual>();
  const byPlant = new Map<PlantName, Counterfactual>();
  const iae = new Map<Family, Share>();
  const offNominal = new Map<Family, Share & { tripped: number }>();
  const falseTrips: GuardReport['falseTrips'] = { trips: 0, runs: 0, faultFreeTicks: 0, monitors: {} };
  const faultFree: GuardReport['faultFree'] = {
    scenarios: 0, guardedViolations: 0, unguardedViolations: 0, harms: 0, leftNominal: 0, offNominalSeconds: 0, tripped: 0, setpointRejects: 0,
  };
  const harms: GuardCase[] = [];
  const faultFreeHarms: GuardCase[] = [];
  const misses: MissCase[] = [];
  results.forEach((p, pos) => {
    const index = at(pos);
    const g = p.guarded;
    const u = p.unguarded;
    addFalseTrips(falseTrips, p);
    if (g.faults.length === 0) {
      addFaultFree(faultFree, p);
      if (g.envelope.violated && !u.envelope.violated) faultFreeHarms.push(guardCase(seed, index, p, where));
      return;
    }
    const kind = g.faults[0].kind;
    const family = familyOf(kind);
    for (const c of [all, get(byFamily, family, emptyCounterfactual), get(byKind, kind, emptyCounterfactual), get(byPlant, g.plant as PlantName, emptyCounterfactual)]) addOutcome(c, p);
    if (g.envelope.violated && !u.envelope.violated) harms.push(guardCase(seed, index, p, where));
    if (g.envelope.violated && u.envelope.violated) misses.push(missCase(seed, index, p, where));
    if (!u.envelope.violated) {
      const s = get(iae, family, () => ({ runs: 0, count: 0, share: null }));
      s.runs++;
      if (g.iae > IAE_WORSE_FACTOR * u.iae) s.count++;
    }
    if (faultsEnded(g)) {
      const s = get(offNominal, family, () => ({ runs: 0, count: 0, share: null, tripped: 0 }));
      s.runs++;
      if (g.finalMode !== 'NOMINAL') s.count++;
      if (g.finalTrip !== 0) s.tripped++;
    }
  });
  for (const s of [...iae.values(), ...offNominal.values()]) s.share = share(s.count, s.runs);
  faultFree.offNominalSeconds = round(faultFree.offNominalSeconds, 3);
  return {
    faultyRuns: all.runs, saves: all.saves, harms: all.harms, misses: all.misses, bothInside: all.bothInside,
    guardedViolations: all.harms + all.misses, unguardedViolations: all.saves + all.misses,
    preventable: { count: all.preventable, misses: all.misses, indices: misses.filter((m) => m.preventable).map((m) => m.index) },
    byFamily: ordered(FAMILIES, byFamily),
    byKind: ordered(FAULT_KINDS, byKind),
    byPlant: ordered(Object.keys(PLANTS) as PlantName[], byPlant),
    iaeWorseShare: ordered(FAMILIES, iae),
    offNominalAfterClear: ordered(FAMILIES, offNominal),
    falseTrips, faultFree,
    harmCases: [...harms, ...faultFreeHarms],
    missCases: misses,
  };
}

/** Root-cause trips before any fault, in the guarded runs (adaptive and fixed-rate). */
function addFalseTrips(falseTrips: GuardReport['falseTrips'], p: PairResult): void {
  for (const run of p.fixedRate ? [p.guarded, p.fixedRate] : [p.guarded]) {
    falseTrips.trips += run.falseTrips;
    falseTrips.faultFreeTicks += run.faultFreeTicks;
    if (run.falseTrips > 0) falseTrips.runs++;
    for (const m of run.falseTripMonitors) falseTrips.monitors[m] = (falseTrips.monitors[m] ?? 0) + 1;
  }
}

/** A fault-free scenario: what the guard did to operations alone. */
function addFaultFree(ff: GuardReport['faultFree'], p: PairResult): void {
  const g = p.guarded;
  const u = p.unguarded;
  ff.scenarios++;
  if (g.envelope.violated) ff.guardedViolations++;
  if (u.envelope.violated) ff.unguardedViolations++;
  if (g.envelope.violated && !u.envelope.violated) ff.harms++;
  const off = g.modeSeconds.DEGRADED + g.modeSeconds.FALLBACK + g.modeSeconds.SAFE_STOP;
  if (off > 0) ff.leftNominal++;
  ff.offNominalSeconds += off;
  if (g.trips > 0) ff.tripped++;
  ff.setpointRejects += g.setpointRejects + u.setpointRejects;
}

function get<K, V>(m: Map<K, V>, k: K, make: () => V): V {
  let v = m.get(k);
  if (v === undefined) m.set(k, (v = make()));
  return v;
}

/**
 * Faulty runs a campaign needs before "nothing detected" condemns the core:
 * some faults are not detectable by design (a slow common-mode drift), so a
 * campaign of two scenarios may honestly detect none; among ten, the real
 * core has never missed them all.
 */
export const NO_DETECTION_MIN_FAULTY = 10;

/** Why the campaign says the core under test is not controlling, or null. */
function deadCore(h: Omit<CampaignReport['health'], 'dead'>, faulty: number, detected: number): string | null {
  const why: string[] = [];
  if (h.runsWithInvariantFails > 0) {
    why.push(`the core broke its invariants in ${h.runsWithInvariantFails} run(s) (${h.invariantFails} times, a bug in it: ${h.invariants.join('; ')})`);
  }
  if (h.runsWithResets > 0) why.push(`the core trapped or overran its tick budget in ${h.runsWithResets} run(s) (${h.resets} watchdog restarts, ${h.traps} traps)`);
  if (why.length === 0 && faulty >= NO_DETECTION_MIN_FAULTY && detected === 0) why.push(`no injected fault was detected in ${faulty} faulty run(s)`);
  return why.length ? why.join('; ') : null;
}

export function buildReport(seed: number, results: readonly PairResult[], opts: ReportOptions = {}): CampaignReport {
  const at = (pos: number) => opts.indices?.[pos] ?? pos;
  const where: Where = { engine: opts.engine, core: opts.core };
  const rows = new Map<string, { rs: PairResult[] }>();
  for (const k of ['none', ...FAULT_KINDS]) rows.set(k, { rs: [] });
  const failing: FailingCase[] = [];
  let detected = 0;
  let correct = 0;
  let faulty = 0;
  const a2s = { scenarios: 0, ticksAdaptive: 0, ticksFixed: 0, iaeAdaptive: 0, iaeFixed: 0 };
  const a2sPlant: Record<string, { samplesAdaptive: number; samplesFixed: number; iaeA: number; iaeF: number; seconds: number }> = {};
  const worst: CampaignReport['worst'] = [];
  const health = { runsWithResets: 0, resets: 0, traps: 0, invariantFails: 0, runsWithInvariantFails: 0, invariants: [] as string[], firstIndices: [] as number[] };

  results.forEach((p, pos) => {
    const index = at(pos);
    const g = p.guarded;
    for (const run of [g, p.unguarded, ...(p.fixedRate ? [p.fixedRate] : [])]) {
      if (!coreFailed(run)) continue;
      if (run.watchdogResets > 0) health.runsWithResets++;
      health.resets += run.watchdogResets;
      health.traps += run.traps;
      if (run.invariantFails > 0) health.runsWithInvariantFails++;
      health.invariantFails += run.invariantFails;
      for (const w of run.invariants) {
        const what = w.replace(/ \(tick .*$/, '');
        if (health.invariants.length < 10 && !health.invariants.includes(what)) health.invariants.push(what);
      }
      if (health.firstIndices.length < 10 && !health.firstIndices.includes(index)) health.firstIndices.push(index);
    }
    const kind: FaultKind | 'none' = g.faults.length ? g.faults[0].kind : 'none';
    rows.get(kind)!.rs.push(p);
    for (const run of p.fixedRate ? [g, p.fixedRate] : [g]) {
      if (run.falseTrips > 0) failing.push({ index, name: run.name, why: `false trip before any fault${run.actionToSensing ? '' : ' (fixed rate)'}: ${run.falseTripMonitors.join(', ')}`, reproduce: reproduceCommand(seed, index, where) });
    }
    if (kind !== 'none') {
      faulty++;
      if (g.detection) {
        detected++;
        if (g.attributionCorrect) correct++;
        else failing.push({ index, name: g.name, why: `first-out named ${g.detection.monitor} (${g.detection.stage}), the fault was injected at ${g.expectedStage}`, reproduce: reproduceCommand(seed, index, where) });
      }
      if (g.envelope.violated) worst.push({ index, name: g.name, excursion: round(g.envelope.worstExcursion) });
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
      detected: lat.length,
      latencyS: { p50: quantile(lat, 0.5), p90: quantile(lat, 0.9), max: lat.reduce((m, x) => (m === null || x > m ? x : m), null as number | null) },
      attributed: v.rs.filter((p) => p.guarded.attributionCorrect === true).length,
      iaeGuarded: round(v.rs.reduce((s, p) => s + p.guarded.iae, 0) / v.rs.length),
      iaeUnguarded: round(v.rs.reduce((s, p) => s + p.unguarded.iae, 0) / v.rs.length),
    };
  });
  worst.sort((a, b) => b.excursion - a.excursion || a.index - b.index);
  failing.sort((a, b) => a.index - b.index);
  const dead = deadCore(health, faulty, detected);
  return {
    seed,
    scenarios: results.length,
    faulty,
    faultFree: results.length - faulty,
    guard: buildGuard(seed, results, at, where),
    attribution: { detected, correct, accuracy: detected ? round(correct / detected) : null },
    actionToSensing: {
      ...a2s,
      iaeAdaptive: round(a2s.iaeAdaptive), iaeFixed: round(a2s.iaeFixed),
      sampleRatio: a2s.ticksFixed ? round(a2s.ticksAdaptive / a2s.ticksFixed) : null,
      iaeRatio: a2s.iaeFixed ? round(a2s.iaeAdaptive / a2s.iaeFixed) : null,
    },
    health: { ...health, dead },
    actionToSensingByPlant: Object.fromEntries(Object.entries(a2sPlant).map(([name, v]) => [name, {
      samplesAdaptive: v.samplesAdaptive, samplesFixed: v.samplesFixed,
      meanAbsErrorAdaptive: round(v.iaeA / v.seconds, 6), meanAbsErrorFixed: round(v.iaeF / v.seconds, 6),
      sensorNoise: PLANTS[name as PlantName].sensors.noise,
    }])),
    byKind,
    failing,
    worst: worst.slice(0, 5),
  };
}

const fmt = (x: number | null, d = 3) => (x === null ? '-' : Number(x.toFixed(d)).toString());
const pct = (a: number, b: number) => (b ? `${((100 * a) / b).toFixed(1)} %` : '-');
const num = (n: number) => n.toLocaleString('en-US');
/** At most this many cases of one list in report.md (all of them are in report.json). */
const MD_CASES_MAX = 200;

function counterfactualTable(L: string[], head: string, rows: [string, Counterfactual][]): void {
  L.push(`| ${head} | faulty runs | saves | harms | misses (preventable) | both inside |`);
  L.push('|---|---|---|---|---|---|');
  for (const [name, c] of rows) L.push(`| ${name} | ${c.runs} | ${c.saves} | ${c.harms ? `**${c.harms}**` : 0} | ${c.misses} (${c.preventable}) | ${c.bothInside} |`);
}

function shareCell(s: Share | undefined): string {
  return s ? `${s.count} of ${s.runs} (${pct(s.count, s.runs)})` : '-';
}

function caseLine(c: GuardCase): string {
  const where = (x: { excursion: number; firstS: number | null }) => (x.firstS === null ? 'inside' : `out at ${x.firstS} s by ${x.excursion}`);
  return `#${c.index} ${c.name}: guarded ${where(c.guarded)} (ends ${c.guarded.finalMode}${c.guarded.finalTrip ? ', tripped' : ''}), unguarded ${where(c.unguarded)}`;
}

function guardMarkdown(L: string[], g: GuardReport): void {
  L.push('## The guard against its absence');
  L.push('');
  L.push('Every faulty scenario ran guarded and unguarded (the primary controller alone). A **save**: only the unguarded run leaves the safety envelope; a **harm**: only the guarded one does; a **miss**: both do. A miss is **preventable** when an oracle run of the same scenario stays inside: from the fault\'s onset the command pinned at the actuator\'s minimum or maximum, or the trip asserted.');
  L.push('');
  counterfactualTable(L, 'family', Object.entries(g.byFamily) as [string, Counterfactual][]);
  L.push(`| **all** | ${g.faultyRuns} | ${g.saves} | ${g.harms ? `**${g.harms}**` : 0} | ${g.misses} (${g.preventable.count}) | ${g.bothInside} |`);
  L.push('');
  L.push('### By fault kind');
  L.push('');
  counterfactualTable(L, 'fault', Object.entries(g.byKind) as [string, Counterfactual][]);
  L.push('');
  L.push('### By plant');
  L.push('');
  counterfactualTable(L, 'plant', Object.entries(g.byPlant) as [string, Counterfactual][]);
  L.push('');
  L.push('### What the guard costs');
  L.push('');
  L.push(`IAE worse: of the faulty runs the unguarded loop keeps inside the envelope, those whose guarded IAE (against the host's setpoint) is over ${IAE_WORSE_FACTOR} times the unguarded one. Off NOMINAL after the fault cleared: of the runs whose fault ended before the run did, those not NOMINAL at the end (tripped: the trip output still asserted).`);
  L.push('');
  L.push('| family | IAE worse by over 10 % | off NOMINAL after the fault cleared | of which tripped |');
  L.push('|---|---|---|---|');
  for (const f of FAMILIES) {
    const i = g.iaeWorseShare[f];
    const o = g.offNominalAfterClear[f];
    if (!i && !o) continue;
    L.push(`| ${f} | ${shareCell(i)} | ${shareCell(o)} | ${o ? o.tripped : '-'} |`);
  }
  L.push('');
  const ff = g.faultFree;
  L.push('### Fault-free runs (operations only)');
  L.push('');
  L.push('| measure | result |');
  L.push('|---|---|');
  L.push(`| false trips (root-cause trips of a monitor before any fault; guarded runs, adaptive and fixed-rate) | **${g.falseTrips.trips}** in ${g.falseTrips.runs} runs over ${num(g.falseTrips.faultFreeTicks)} fault-free ticks |`);
  L.push(`| envelope left, guarded / unguarded | ${ff.guardedViolations} / ${ff.unguardedViolations} of ${ff.scenarios} |`);
  L.push(`| harms without a fault | ${ff.harms ? `**${ff.harms}**` : 0} |`);
  L.push(`| guarded runs that left NOMINAL | ${ff.leftNominal} of ${ff.scenarios} (${num(ff.offNominalSeconds)} s out of it) |`);
  L.push(`| guarded runs whose trip output was asserted | ${ff.tripped} |`);
  L.push(`| setpoints the core refused | ${ff.setpointRejects} |`);
  if (Object.keys(g.falseTrips.monitors).length) {
    L.push('');
    L.push(`False trips by monitor: ${Object.entries(g.falseTrips.monitors).map(([m, n]) => `${m} ${n}`).join(', ')}.`);
  }
  L.push('');
  L.push(`### Harms (${g.harmCases.length})`);
  L.push('');
  if (g.harmCases.length === 0) L.push('None.');
  for (const c of g.harmCases.slice(0, MD_CASES_MAX)) L.push(`- ${caseLine(c)}. Reproduce: \`${c.reproduce}\` (unguarded: \`${c.reproduceUnguarded}\`)`);
  if (g.harmCases.length > MD_CASES_MAX) L.push(`- ... ${g.harmCases.length - MD_CASES_MAX} more in report.json`);
  L.push('');
  L.push(`### Misses (${g.missCases.length}, ${g.preventable.count} preventable)`);
  L.push('');
  if (g.missCases.length === 0) L.push('None.');
  for (const c of g.missCases.slice(0, MD_CASES_MAX)) {
    const oracle = c.preventable ? `preventable (${c.preventedBy.join(', ')}: \`${c.reproduceOracle}\`)` : `not preventable (oracles out by ${ORACLES.map((o) => `${o} ${c.oracles[o].worstExcursion}`).join(', ')})`;
    L.push(`- ${caseLine(c)}; ${oracle}. Reproduce: \`${c.reproduce}\``);
  }
  if (g.missCases.length > MD_CASES_MAX) L.push(`- ... ${g.missCases.length - MD_CASES_MAX} more in report.json`);
  L.push('');
}

export function reportMarkdown(r: CampaignReport, plots: readonly { file: string; title: string }[] = []): string {
  const L: string[] = [];
  const g = r.guard;
  L.push(`# Fault campaign, seed ${r.seed}: ${r.scenarios} scenarios`);
  L.push('');
  if (r.health.dead) {
    L.push(`**CORE FAILED: the core under test is not controlling: ${r.health.dead}.** Whenever the watchdog restarted it, the loop ran on the safe output with the trip de-energized, so the figures below are the watchdog's, not the controller's.` +
      `${r.health.firstIndices.length ? ` First runs: ${r.health.firstIndices.map((i) => `#${i}`).join(', ')}.` : ''}`);
    L.push('');
  }
  L.push(`${r.faulty} with an injected fault, ${r.faultFree} fault-free; every scenario runs under operations (setpoint changes and load disturbances), guarded (the core's guard) and unguarded (the primary controller alone).`);
  L.push('');
  L.push('| measure | result |');
  L.push('|---|---|');
  L.push(`| saves (only the unguarded run leaves the envelope) | ${g.saves} of ${g.faultyRuns} faulty runs |`);
  L.push(`| harms (only the guarded run leaves it) | **${g.harms}**${g.faultFree.harms ? ` (and **${g.faultFree.harms}** without a fault)` : ''} |`);
  L.push(`| misses (both leave it), preventable by an oracle | ${g.misses}, ${g.preventable.count} preventable |`);
  L.push(`| envelope left, guarded / unguarded | ${g.guardedViolations} / ${g.unguardedViolations} of ${g.faultyRuns} faulty runs (${pct(g.guardedViolations, g.faultyRuns)} / ${pct(g.unguardedViolations, g.faultyRuns)}) |`);
  L.push(`| false trips (guarded runs, adaptive and fixed-rate, before any fault) | **${g.falseTrips.trips}** over ${num(g.falseTrips.faultFreeTicks)} fault-free ticks |`);
  L.push(`| first-out attribution right | ${r.attribution.correct} of ${r.attribution.detected} detected (${r.attribution.accuracy === null ? '-' : pct(r.attribution.correct, r.attribution.detected)}) |`);
  L.push(`| watchdog restarts (the core trapped or overran its tick budget) | **${r.health.resets}** (${r.health.traps} traps) in ${r.health.runsWithResets} runs |`);
  L.push(`| broken invariants (a bug in the core; assembly/invariant.ts) | **${r.health.invariantFails}** in ${r.health.runsWithInvariantFails} runs${r.health.invariants.length ? `: ${r.health.invariants.join('; ')}` : ''} |`);
  const a = r.actionToSensing;
  L.push(`| action-to-sensing, fault-free runs | ${num(a.ticksAdaptive)} samples vs ${num(a.ticksFixed)} at a fixed rate (ratio ${fmt(a.sampleRatio)}); IAE ratio ${fmt(a.iaeRatio)} |`);
  L.push('');
  guardMarkdown(L, g);
  L.push('## Detection and attribution by fault kind');
  L.push('');
  L.push('IAE is measured against the host setpoint, so a guarded run that holds the command, falls back or trips pays for it in IAE by design.');
  L.push('');
  L.push('| fault | runs | detected | latency p50 / p90 / max (s) | attribution right | mean IAE guarded / unguarded |');
  L.push('|---|---|---|---|---|---|');
  for (const k of r.byKind) {
    L.push(`| ${k.kind} | ${k.scenarios} | ${k.detected} | ${fmt(k.latencyS.p50)} / ${fmt(k.latencyS.p90)} / ${fmt(k.latencyS.max)} | ${k.kind === 'none' ? '-' : pct(k.attributed, k.detected)} | ${fmt(k.iaeGuarded, 2)} / ${fmt(k.iaeUnguarded, 2)} |`);
  }
  L.push('');
  L.push('## Action-to-sensing, fault-free runs');
  L.push('');
  L.push('| plant | samples adaptive / fixed | mean abs error adaptive / fixed | sensor noise rms |');
  L.push('|---|---|---|---|');
  for (const [pl, v] of Object.entries(r.actionToSensingByPlant)) {
    L.push(`| ${pl} | ${v.samplesAdaptive} / ${v.samplesFixed} (${pct(v.samplesAdaptive, v.samplesFixed)}) | ${fmt(v.meanAbsErrorAdaptive, 4)} / ${fmt(v.meanAbsErrorFixed, 4)} | ${v.sensorNoise} |`);
  }
  L.push('');
  L.push(`## False trips and wrong attributions (${r.failing.length})`);
  L.push('');
  if (r.failing.length === 0) L.push('None.');
  for (const f of r.failing.slice(0, MD_CASES_MAX)) L.push(`- #${f.index} ${f.name}: ${f.why}. Reproduce: \`${f.reproduce}\``);
  if (r.failing.length > MD_CASES_MAX) L.push(`- ... ${r.failing.length - MD_CASES_MAX} more in report.json`);
  if (plots.length) {
    L.push('');
    L.push('## Plots');
    L.push('');
    for (const p of plots) L.push(`### ${p.title}\n\n![${p.title}](${p.file})\n`);
  }
  return L.join('\n') + '\n';
}
