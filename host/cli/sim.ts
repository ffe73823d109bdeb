// `edgeloop sim`: one scenario on a simulated MCU, with an SVG plot and the
// event log. `edgeloop campaign`: a seeded swarm of scenarios, guarded versus
// unguarded, with a report.

import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import type { RunJob, RunReply } from '../../firmware-sim/run-worker.js';
import { closeSync, mkdirSync, openSync, readFileSync, readSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
import cliProgress from 'cli-progress';
import { DEBUG_CORE_PATH, DEFAULT_CORE_PATH, Core, compileCoreModule } from '../runtime/core.js';
import { openEngine, type EngineName } from '../runtime/engines/index.js';
import { coreFailed, runScenario, type Oracle, type RunResult } from '../../firmware-sim/run.js';
import { parseScenario, ScenarioError, scenarioJsonSchema, SCENARIO_BYTES_MAX, type Scenario } from '../../firmware-sim/scenario/schema.js';
import { campaignScenario } from '../../firmware-sim/campaign/generate.js';
import { CoreStalledError, runCampaign, type NotRun } from '../../firmware-sim/campaign/run.js';
import { buildReport, FAMILIES, IAE_WORSE_FACTOR, reportMarkdown, reproduceCommand, type CampaignReport, type Share } from '../../firmware-sim/campaign/report.js';
import { plotRun } from '../../firmware-sim/report/svg.js';
import { PLANTS } from '../../firmware-sim/plants/index.js';

type Print = (line: string) => void;

export interface SimOptions {
  out: string;
  unguarded: boolean;
  campaign?: string;
  schema: boolean;
  core: string;
  /** Where the core runs (default v8). */
  engine?: EngineName;
  /** An oracle run: from the first fault's onset the command pinned at the actuator's min or max, or the trip asserted. */
  oracle?: Oracle;
  /** Seconds the run may take before its core is taken for stuck (default: 30 s plus 20 us a tick at the plant's period). */
  stall?: number;
}

/** The core's bytes from a file, with an error naming the file. */
function readCore(path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new Error(`--core ${path}: cannot read it: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/**
 * A file's text, refused past `max` bytes while it is read (a pipe or a
 * device reports no size up front, and must not be read whole first).
 */
function readBounded(path: string, max: number): string {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(max + 1);
    let n = 0;
    for (let got = 1; got > 0 && n <= max;) {
      got = readSync(fd, buf, n, max + 1 - n, null);
      n += got;
    }
    if (n > max) throw new ScenarioError(path, [{ path: '(file)', message: `expected at most ${max} bytes, read more than that` }]);
    return buf.toString('utf8', 0, n);
  } finally {
    closeSync(fd);
  }
}

/** Read and validate a scenario file: a clear error and nothing runs if it is bad. */
export function loadScenario(path: string): Scenario {
  let text: string;
  try {
    const bytes = statSync(path).size;
    if (bytes > SCENARIO_BYTES_MAX) {
      throw new ScenarioError(path, [{ path: '(file)', message: `expected at most ${SCENARIO_BYTES_MAX} bytes, the file has ${bytes}` }]);
    }
    text = readBounded(path, SCENARIO_BYTES_MAX);
  } catch (err) {
    if (err instanceof ScenarioError) throw err;
    throw new ScenarioError(path, [{ path: '(file)', message: `cannot read it: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` }]);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ScenarioError(path, [{ path: '(file)', message: `not valid JSON: ${(err as Error).message}` }]);
  }
  return parseScenario(json, path);
}

const slug = (s: string) => s.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 80) || 'run';

/** Names with how often each occurs, in first-seen order: 'a x3, b'. */
function tally(names: readonly string[]): string {
  const n = new Map<string, number>();
  for (const x of names) n.set(x, (n.get(x) ?? 0) + 1);
  return [...n].map(([x, k]) => (k > 1 ? `${x} x${k}` : x)).join(', ');
}

function summary(r: RunResult): string[] {
  const lines = [
    `${r.name}: ${r.plant}, ${r.guarded ? 'guarded' : 'unguarded'}${r.oracle ? `, oracle '${r.oracle}' from the fault's onset` : ''}, ${r.simulatedS} s simulated, ${r.ticks} ticks`,
    `  envelope [${r.envelope.min}, ${r.envelope.max}]: ${r.envelope.violated ? `VIOLATED at ${r.envelope.firstS} s (by ${r.envelope.worstExcursion.toFixed(3)})` : 'kept'}`,
    `  IAE ${r.iae.toFixed(3)}; final mode ${r.finalMode}; time in modes: ${Object.entries(r.modeSeconds).filter(([, s]) => s > 0).map(([m, s]) => `${m} ${s.toFixed(1)} s`).join(', ')}`,
  ];
  if (r.oracle && r.faults.length === 0) lines.push(`  no fault: the oracle '${r.oracle}' never engages`);
  if (r.faults.length) {
    lines.push(r.detection
      ? `  fault ${r.faults.map((f) => f.kind).join(', ')} detected after ${r.detection.latencyS.toFixed(3)} s by ${r.detection.monitor} (${r.detection.stage} stage; injected at ${r.expectedStage}: ${r.attributionCorrect ? 'attribution right' : 'attribution WRONG'})`
      : `  fault ${r.faults.map((f) => f.kind).join(', ')} not detected`);
  }
  if (r.falseTrips) lines.push(`  false trips before the fault: ${tally(r.falseTripMonitors)}`);
  if (r.invariantSoft) {
    lines.push(`  invariants broken while the configuration was corrupted: ${r.invariantSoft} (the soft error's doing; the integrity monitor handles it)`);
  }
  if (r.invariantFails) {
    lines.push(`  CORE FAILED: it broke its invariants ${r.invariantFails} time(s), a bug in the core: ${r.invariants.join('; ')}`);
  }
  if (coreFailed(r) && r.watchdogResets) {
    lines.push(`  CORE FAILED: the watchdog restarted it ${r.watchdogResets} time(s) (${r.traps} trap(s), ${r.watchdogResets - r.traps} tick(s) over budget); ` +
      'each time the safe output was applied and the trip de-energized: the figures above are not the controller\'s');
  } else if (r.watchdogResets) {
    lines.push(`  watchdog resets: ${r.watchdogResets} (the injected overrun made ticks late)`);
  }
  if (r.corruptionLeft !== null) {
    lines.push(r.corruptionLeft
      ? '  memory: the bit flips are still in the configuration at the end (not repairable from its shadow)'
      : '  memory: every flipped byte holds its value again at the end (repaired)');
  }
  if (r.trips) lines.push(`  trip output asserted ${r.trips} time(s), ${r.tripSeconds.toFixed(1)} s in all; ${r.finalTrip ? 'tripped' : 'run permitted'} at the end`);
  return lines;
}

/** Which core runs, and whether a broken invariant traps in it (the debug build) or is only counted. */
function coreLine(path: string, assertions: boolean): string {
  return `core ${path}: ${assertions
    ? 'debug build (assertions on: a broken invariant traps)'
    : 'field build (assertions compiled out: a broken invariant is counted and fails the run, but does not stop it; the debug build is build/core.debug.wasm)'}`;
}

/**
 * How long one run may take before its core is taken for stuck: 30 s, plus
 * 20 us for every tick it could have at its plant's fixed period (a tick
 * takes well under 1 us on V8 and a few on Wasmtime).
 */
function simDeadlineMs(sc: Scenario): number {
  const ticks = (sc.durationS * 1e6) / PLANTS[sc.plant].periodUs;
  return 30_000 + ticks * 0.02;
}

/** The compiled run worker (from source under vitest, the build in dist/). */
function runWorkerUrl(): URL {
  const here = fileURLToPath(import.meta.url);
  const js = here.endsWith('.ts') ? here.replace(/\/host\/cli\/sim\.ts$/, '/dist/firmware-sim/run-worker.js') : here.replace(/\/host\/cli\/sim\.js$/, '/firmware-sim/run-worker.js');
  return new URL(`file://${js}`);
}

/** One run in a worker: its result, an Error from it, or null when it did not finish within deadlineMs (the worker is terminated). */
function runInWorker(job: RunJob, deadlineMs: number): Promise<RunResult | null> {
  return new Promise((resolve, reject) => {
    const w = new Worker(runWorkerUrl(), { workerData: job });
    let child: number | null = null;
    const timer = setTimeout(() => {
      // A Wasmtime child looping in its core holds the worker in a read: end the child first.
      if (child !== null) { try { process.kill(child, 'SIGKILL'); } catch { /* gone already */ } }
      void w.terminate();
      resolve(null);
    }, deadlineMs);
    w.on('message', (m: RunReply) => {
      if ('pid' in m) { child = m.pid; return; }
      clearTimeout(timer);
      void w.terminate();
      if (m.ok) resolve(m.result); else reject(new Error(m.message));
    });
    w.once('error', (err) => { clearTimeout(timer); reject(err); });
  });
}

export async function simCommand(file: string | undefined, opts: SimOptions, print: Print): Promise<number> {
  if (opts.schema) {
    print(JSON.stringify(scenarioJsonSchema(), null, 2));
    return 0;
  }
  let sc: Scenario;
  if (opts.campaign) {
    const m = /^(\d+):(\d+)$/.exec(opts.campaign);
    if (!m) throw new ScenarioError('--campaign', [{ path: '--campaign', message: "expected <seed>:<index>, for example 7:1234", received: opts.campaign }]);
    sc = campaignScenario(Number(m[1]), Number(m[2]));
  } else if (file) {
    sc = loadScenario(file);
  } else {
    throw new ScenarioError('sim', [{ path: '<scenario.json>', message: 'expected a scenario file (or --campaign <seed>:<index>)' }]);
  }
  if (opts.unguarded) sc = { ...sc, guarded: false };
  // The engine validates the bytes first: a bad core gets an error naming what is wrong, and nothing runs.
  const probe = openEngine(opts.engine ?? 'v8', readCore(opts.core), opts.core);
  try {
    print(coreLine(opts.core, probe.core().assertions));
  } finally {
    probe.dispose();
  }
  // The run itself in a worker, where a core whose tick never returns can be stopped.
  const deadlineMs = opts.stall !== undefined ? opts.stall * 1000 : simDeadlineMs(sc);
  const r = await runInWorker({ scenario: sc, corePath: opts.core, engine: opts.engine ?? 'v8', oracle: opts.oracle }, deadlineMs);
  if (r === null) {
    print(`${sc.name ?? sc.plant}: CORE FAILED: the run did not finish within ${Math.round(deadlineMs / 1000)} s: the core did not return from a tick (an endless loop?); its thread was stopped`);
    return SIM_EXIT.deadCore;
  }
  mkdirSync(opts.out, { recursive: true });
  const base = join(opts.out, slug(`${r.name}${r.guarded ? '' : '-unguarded'}${r.oracle ? `-oracle-${r.oracle}` : ''}`));
  const spec = PLANTS[sc.plant];
  writeFileSync(`${base}.svg`, plotRun(r.trace!, {
    title: `${r.name} (${r.guarded ? 'guarded' : 'unguarded'}${r.oracle ? `, oracle ${r.oracle}` : ''})`, units: spec.units,
    envelope: spec.envelope, faultOnsetS: sc.faults[0]?.onsetS, events: r.events,
  }));
  writeFileSync(`${base}.events.jsonl`, r.events!.map((e) => JSON.stringify(e)).join('\n') + '\n');
  writeFileSync(`${base}.scenario.json`, JSON.stringify(sc, null, 2) + '\n');
  for (const l of summary(r)) print(l);
  print(`  wrote ${base}.svg, ${base}.events.jsonl and ${base}.scenario.json`);
  return coreFailed(r) ? SIM_EXIT.deadCore : SIM_EXIT.ok;
}

/**
 * How `edgeloop campaign` ends: 0 the campaign ran (and, with
 * --fail-on-harm, the guard harmed no run); 1 an error stopped it, or an
 * argument was bad; 3 false trips (a monitor tripped before any fault); 4
 * harms, with --fail-on-harm (a run the guard took out of the envelope
 * that the primary controller alone kept inside). Harms outrank false
 * trips.
 */
export const CAMPAIGN_EXIT = { ok: 0, error: 1, badScenario: 2, falseTrips: 3, harm: 4, deadCore: 5 } as const;
/** How `edgeloop sim` ends: 0 the run went through; 1 an error or a bad argument; 5 the core trapped or overran its tick budget (the watchdog restarted it). */
export const SIM_EXIT = { ok: 0, error: 1, badScenario: 2, deadCore: 5 } as const;

export interface CampaignCliOptions {
  /** A worker that reports no scenario for this long (ms) is running a core that does not return: the campaign fails (default STALL_MS). */
  stallMs?: number;
  scenarios: number;
  seed: number;
  workers: number;
  out: string;
  core: string;
  /** Where the core runs (default v8); with wasmtime each worker thread owns its own child process. */
  engine?: EngineName;
  progress: boolean;
  /** Exit with CAMPAIGN_EXIT.harm on any harm, with a one-line summary on stderr. */
  failOnHarm?: boolean;
}

/** Where the stderr summaries go (console.error unless a test captures them). */
type Warn = (line: string) => void;

/** `--out` exists (or is created) and takes a file: an Error naming the folder and why otherwise. */
function writableFolder(out: string): void {
  const probe = join(out, `.edgeloop-write-test-${process.pid}`);
  try {
    mkdirSync(join(out, 'plots'), { recursive: true });
    writeFileSync(probe, '');
    unlinkSync(probe);
  } catch (err) {
    throw new Error(`--out ${out}: cannot write the report there (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

export async function campaignCommand(opts: CampaignCliOptions, print: Print, warn: Warn = (l) => console.error(l)): Promise<number> {
  const started = process.hrtime.bigint();
  const bar = opts.progress ? new cliProgress.SingleBar({
    format: 'campaign [{bar}] {percentage}% | {value}/{total} scenarios | {eta_formatted} left',
    stream: process.stderr, hideCursor: true,
  }, cliProgress.Presets.shades_classic) : null;
  const engineName = opts.engine ?? 'v8';
  // Validate the core before any worker or engine gets it, and the report's
  // folder before the run (not after an hour of it).
  const module = compileCoreModule(readCore(opts.core), opts.core);
  writableFolder(opts.out);
  print(coreLine(opts.core, Core.fromModule(module).assertions));
  bar?.start(opts.scenarios, 0);
  let run: Awaited<ReturnType<typeof runCampaign>>;
  try {
    run = await runCampaign({
      seed: opts.seed, scenarios: opts.scenarios, workers: opts.workers, corePath: opts.core, engine: engineName,
      onProgress: (done) => bar?.update(done), stallMs: opts.stallMs,
    }).finally(() => bar?.stop());
  } catch (err) {
    if (!(err instanceof CoreStalledError)) throw err;
    warn(`edgeloop campaign: seed ${opts.seed}: the core under test is not controlling: ${err.message} (reproduce: npx edgeloop sim --campaign ${opts.seed}:${err.index} --core ${opts.core}${engineName === 'v8' ? '' : ` --engine ${engineName}`})`);
    return CAMPAIGN_EXIT.deadCore;
  }
  const { results, notRun } = run;
  const report = buildReport(opts.seed, results, { indices: run.indices, engine: engineName, core: opts.core === DEBUG_CORE_PATH ? undefined : opts.core });
  const wallS = Number(process.hrtime.bigint() - started) / 1e9;
  mkdirSync(join(opts.out, 'plots'), { recursive: true });
  const plots = writePlots(opts, report, engineName, module);
  const json = engineName === 'v8' ? report : { ...report, engine: engineName, notRun };
  writeFileSync(join(opts.out, 'report.json'), JSON.stringify(json, null, 2) + '\n');
  writeFileSync(join(opts.out, 'report.md'), reportMarkdown(report, plots) + notRunMarkdown(engineName, notRun));
  const ticks = results.reduce((s, p) => s + p.guarded.ticks + p.unguarded.ticks + (p.fixedRate?.ticks ?? 0) +
    (p.oracles ? p.oracles.min.ticks + p.oracles.max.ticks + p.oracles.trip.ticks : 0), 0);
  print(`campaign seed ${opts.seed}${engineName === 'v8' ? '' : ` on ${engineName}`}: ${report.scenarios} scenarios (${report.faulty} faulty, ${report.faultFree} fault-free), ${opts.workers} worker(s), ${wallS.toFixed(1)} s wall, ${(ticks / wallS / 1e6).toFixed(2)} M ticks/s`);
  if (notRun.length) print(`  not run on ${engineName}: ${notRun.length} scenario(s) with a memory fault (${engineName} does not expose the core's memory): ${notRun.slice(0, 10).map((n) => `#${n.index}`).join(', ')}${notRun.length > 10 ? ', ...' : ''}`);
  for (const line of summaryLines(report)) print(line);
  for (const c of report.guard.harmCases.slice(0, 20)) print(`  HARM #${c.index} ${c.name}\n    ${c.reproduce}`);
  for (const c of report.guard.missCases.slice(0, 20)) print(`  MISS #${c.index} ${c.name}${c.preventable ? ` (preventable: ${c.preventedBy.join(', ')})` : ''}\n    ${c.reproduce}`);
  const more = Math.max(0, report.guard.harmCases.length - 20) + Math.max(0, report.guard.missCases.length - 20);
  if (more) print(`  ... ${more} more harms and misses in ${join(opts.out, 'report.md')}`);
  print(`  report: ${join(opts.out, 'report.md')} and report.json`);
  return exitCode(opts, report, warn);
}

function summaryLines(report: CampaignReport): string[] {
  const g = report.guard;
  const ff = g.faultFree;
  const pctOf = (s: Share | undefined) => (s ? `${s.count} of ${s.runs}` : '-');
  const byFamily = (m: Partial<Record<string, Share>>) => FAMILIES.filter((f) => m[f]).map((f) => `${f} ${pctOf(m[f])}`).join(', ');
  const a = report.actionToSensing;
  return [
    `  guard, ${g.faultyRuns} faulty runs: ${g.saves} saves, ${g.harms} harms, ${g.misses} misses (${g.preventable.count} preventable by an oracle), ${g.bothInside} both inside`,
    `  fault-free, ${ff.scenarios} runs: ${ff.harms} harms; envelope left guarded ${ff.guardedViolations}, unguarded ${ff.unguardedViolations}; ${ff.leftNominal} left NOMINAL, ${ff.tripped} tripped`,
    `  guarded IAE over ${IAE_WORSE_FACTOR} x unguarded (unguarded inside): ${byFamily(g.iaeWorseShare)}`,
    `  off NOMINAL at the end after the fault cleared: ${byFamily(g.offNominalAfterClear)}`,
    `  false trips: ${g.falseTrips.trips} in ${g.falseTrips.runs} runs over ${g.falseTrips.faultFreeTicks} fault-free ticks`,
    `  watchdog: ${report.health.resets} restarts (${report.health.traps} traps) in ${report.health.runsWithResets} runs; invariants broken: ${report.health.invariantFails}${report.health.dead ? `: CORE FAILED, ${report.health.dead}` : ''}`,
    `  first-out attribution: ${report.attribution.correct} of ${report.attribution.detected} detected faults (${report.attribution.accuracy === null ? '-' : (100 * report.attribution.accuracy).toFixed(1) + ' %'})`,
    `  action-to-sensing: ${a.ticksAdaptive} samples vs ${a.ticksFixed} fixed-rate (ratio ${a.sampleRatio}), IAE ratio ${a.iaeRatio}`,
  ];
}

/** The campaign's exit code (CAMPAIGN_EXIT), with a one-line summary on stderr for a failure. */
function exitCode(opts: CampaignCliOptions, report: CampaignReport, warn: Warn): number {
  const g = report.guard;
  const harms = g.harms + g.faultFree.harms;
  const where = join(opts.out, 'report.md');
  const list = (xs: number[]) => `${xs.slice(0, 10).map((i) => `#${i}`).join(', ')}${xs.length > 10 ? ', ...' : ''}`;
  if (report.health.dead) {
    warn(`edgeloop campaign: seed ${opts.seed}: the core under test is not controlling: ${report.health.dead}` +
      `${report.health.firstIndices.length ? ` (first: ${list(report.health.firstIndices)})` : ''}; see ${where}`);
    return CAMPAIGN_EXIT.deadCore;
  }
  if (opts.failOnHarm && harms > 0) {
    warn(`edgeloop campaign: seed ${opts.seed}: ${harms} harm(s) (${g.harms} faulty, ${g.faultFree.harms} fault-free): ${list(g.harmCases.map((c) => c.index))}; see ${where}`);
    return CAMPAIGN_EXIT.harm;
  }
  if (g.falseTrips.trips > 0) {
    const runs = [...new Set(report.failing.filter((f) => f.why.startsWith('false trip')).map((f) => f.index))];
    warn(`edgeloop campaign: seed ${opts.seed}: ${g.falseTrips.trips} false trip(s) in ${g.falseTrips.runs} run(s): ${list(runs)}; see ${where}`);
    return CAMPAIGN_EXIT.falseTrips;
  }
  return CAMPAIGN_EXIT.ok;
}

/** Plots of the harms first, then the worst misses (guarded and unguarded), re-run with a trace on the campaign's engine. */
function writePlots(opts: CampaignCliOptions, report: CampaignReport, engineName: EngineName, module: WebAssembly.Module): { file: string; title: string }[] {
  const g = report.guard;
  const misses = [...g.missCases].sort((a, b) => b.guarded.excursion - a.guarded.excursion || a.index - b.index);
  const picked = [...g.harmCases, ...misses].slice(0, 3).map((c) => c.index);
  const indices = picked.length ? picked : report.worst.slice(0, 3).map((w) => w.index);
  const plotEngine = engineName === 'v8' ? null : openEngine(engineName, readCore(opts.core), opts.core);
  const runOpts = plotEngine ? { engine: () => plotEngine.core(), record: true } : { module, record: true };
  const plots: { file: string; title: string }[] = [];
  try {
    for (const index of indices) {
      const sc = campaignScenario(opts.seed, index);
      for (const guarded of [true, false]) {
        const r = runScenario({ ...sc, guarded }, runOpts);
        const file = `plots/${index}-${guarded ? 'guarded' : 'unguarded'}.svg`;
        const spec = PLANTS[sc.plant];
        const title = `#${index} ${sc.name} (${guarded ? 'guarded' : 'unguarded'})`;
        writeFileSync(join(opts.out, file), plotRun(r.trace!, { title, units: spec.units, envelope: spec.envelope, faultOnsetS: sc.faults[0]?.onsetS, events: r.events }));
        plots.push({ file, title });
      }
    }
  } finally {
    plotEngine?.dispose();
  }
  return plots;
}

function notRunMarkdown(engine: EngineName, notRun: readonly NotRun[]): string {
  if (notRun.length === 0) return '';
  const lines = [
    '', `## Not run on ${engine}`, '',
    `${notRun.length} scenario(s) are left out of every figure above: ${engine} does not expose the core's linear memory, so a memory fault cannot be injected. They run on v8 (\`--engine v8\`).`, '',
    ...notRun.slice(0, 200).map((n) => `- #${n.index} ${n.name}: ${n.why}`),
  ];
  if (notRun.length > 200) lines.push(`- ... ${notRun.length - 200} more in report.json`);
  return lines.join('\n') + '\n';
}

export const DEFAULT_WORKERS = availableParallelism();
export { DEBUG_CORE_PATH, DEFAULT_CORE_PATH, reproduceCommand };
