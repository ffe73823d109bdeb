// `edgeloop sim`: one scenario on a simulated MCU, with an SVG plot and the
// event log. `edgeloop campaign`: a seeded swarm of scenarios, guarded versus
// unguarded, with a report.

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
import cliProgress from 'cli-progress';
import { DEFAULT_CORE_PATH, compileCoreModule } from '../runtime/core.js';
import { openEngine, type EngineName } from '../runtime/engines/index.js';
import { runScenario, type RunResult } from '../../firmware-sim/run.js';
import { parseScenario, ScenarioError, scenarioJsonSchema, type Scenario } from '../../firmware-sim/scenario/schema.js';
import { campaignScenario } from '../../firmware-sim/campaign/generate.js';
import { runCampaign, type NotRun } from '../../firmware-sim/campaign/run.js';
import { buildReport, reportMarkdown, reproduceCommand, type CampaignReport } from '../../firmware-sim/campaign/report.js';
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
}

/** The core's bytes from a file, with an error naming the file. */
function readCore(path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new Error(`--core ${path}: cannot read it: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** Read and validate a scenario file: a clear error and nothing runs if it is bad. */
export function loadScenario(path: string): Scenario {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
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

function summary(r: RunResult): string[] {
  const lines = [
    `${r.name}: ${r.plant}, ${r.guarded ? 'guarded' : 'unguarded'}, ${r.simulatedS} s simulated, ${r.ticks} ticks`,
    `  envelope [${r.envelope.min}, ${r.envelope.max}]: ${r.envelope.violated ? `VIOLATED at ${r.envelope.firstS} s (by ${r.envelope.worstExcursion.toFixed(3)})` : 'kept'}`,
    `  IAE ${r.iae.toFixed(3)}; final mode ${r.finalMode}; time in modes: ${Object.entries(r.modeSeconds).filter(([, s]) => s > 0).map(([m, s]) => `${m} ${s.toFixed(1)} s`).join(', ')}`,
  ];
  if (r.faults.length) {
    lines.push(r.detection
      ? `  fault ${r.faults.map((f) => f.kind).join(', ')} detected after ${r.detection.latencyS.toFixed(3)} s by ${r.detection.monitor} (${r.detection.stage} stage; injected at ${r.expectedStage}: ${r.attributionCorrect ? 'attribution right' : 'attribution WRONG'})`
      : `  fault ${r.faults.map((f) => f.kind).join(', ')} not detected`);
  }
  if (r.falseTrips) lines.push(`  false trips before the fault: ${r.falseTripMonitors.join(', ')}`);
  if (r.watchdogResets) lines.push(`  watchdog resets: ${r.watchdogResets}`);
  if (r.trips) lines.push(`  trip output asserted ${r.trips} time(s), ${r.tripSeconds.toFixed(1)} s in all; ${r.finalTrip ? 'tripped' : 'run permitted'} at the end`);
  return lines;
}

export function simCommand(file: string | undefined, opts: SimOptions, print: Print): number {
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
  const engine = openEngine(opts.engine ?? 'v8', readCore(opts.core), opts.core);
  let r: RunResult;
  try {
    r = runScenario(sc, { engine: () => engine.core(), record: true });
  } finally {
    engine.dispose();
  }
  mkdirSync(opts.out, { recursive: true });
  const base = join(opts.out, slug(`${r.name}${r.guarded ? '' : '-unguarded'}`));
  const spec = PLANTS[sc.plant];
  writeFileSync(`${base}.svg`, plotRun(r.trace!, {
    title: `${r.name} (${r.guarded ? 'guarded' : 'unguarded'})`, units: spec.units,
    envelope: spec.envelope, faultOnsetS: sc.faults[0]?.onsetS, events: r.events,
  }));
  writeFileSync(`${base}.events.jsonl`, r.events!.map((e) => JSON.stringify(e)).join('\n') + '\n');
  writeFileSync(`${base}.scenario.json`, JSON.stringify(sc, null, 2) + '\n');
  for (const l of summary(r)) print(l);
  print(`  wrote ${base}.svg, ${base}.events.jsonl and ${base}.scenario.json`);
  return 0;
}

export interface CampaignCliOptions {
  scenarios: number;
  seed: number;
  workers: number;
  out: string;
  core: string;
  /** Where the core runs (default v8); with wasmtime each worker thread owns its own child process. */
  engine?: EngineName;
  progress: boolean;
}

export async function campaignCommand(opts: CampaignCliOptions, print: Print): Promise<number> {
  const started = process.hrtime.bigint();
  const bar = opts.progress ? new cliProgress.SingleBar({
    format: 'campaign [{bar}] {percentage}% | {value}/{total} scenarios | {eta_formatted} left',
    stream: process.stderr, hideCursor: true,
  }, cliProgress.Presets.shades_classic) : null;
  const engineName = opts.engine ?? 'v8';
  // Validate the core before any worker or engine gets it.
  const module = compileCoreModule(readCore(opts.core), opts.core);
  bar?.start(opts.scenarios, 0);
  const run = await runCampaign({
    seed: opts.seed, scenarios: opts.scenarios, workers: opts.workers, corePath: opts.core, engine: engineName,
    onProgress: (done) => bar?.update(done),
  }).finally(() => bar?.stop());
  const { results, notRun } = run;
  const report = notRun.length ? reindexReport(buildReport(opts.seed, results), run.indices, opts.seed, engineName)
    : buildReport(opts.seed, results);
  bar?.stop();
  const wallS = Number(process.hrtime.bigint() - started) / 1e9;
  mkdirSync(join(opts.out, 'plots'), { recursive: true });
  // Plots of the worst cases: re-run them with a trace (deterministic), on the same engine.
  const plotEngine = engineName === 'v8' ? null : openEngine(engineName, readCore(opts.core), opts.core);
  const runOpts = plotEngine ? { engine: () => plotEngine.core(), record: true } : { module, record: true };
  const plots: { file: string; title: string }[] = [];
  const worstIdx = report.worst.length ? report.worst.slice(0, 3).map((w) => w.index)
    : report.failing.slice(0, 3).map((f) => f.index);
  try {
    for (const index of worstIdx) {
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
  const json = engineName === 'v8' ? report : { ...report, engine: engineName, notRun };
  writeFileSync(join(opts.out, 'report.json'), JSON.stringify(json, null, 2) + '\n');
  writeFileSync(join(opts.out, 'report.md'), reportMarkdown(report, plots) + notRunMarkdown(engineName, notRun));
  const ticks = results.reduce((s, p) => s + p.guarded.ticks + p.unguarded.ticks + (p.fixedRate?.ticks ?? 0), 0);
  print(`campaign seed ${opts.seed}${engineName === 'v8' ? '' : ` on ${engineName}`}: ${report.scenarios} scenarios (${report.faulty} faulty, ${report.faultFree} fault-free), ${opts.workers} worker(s), ${wallS.toFixed(1)} s wall, ${(ticks / wallS / 1e6).toFixed(2)} M ticks/s`);
  if (notRun.length) print(`  not run on ${engineName}: ${notRun.length} scenario(s) with a memory fault (${engineName} does not expose the core's memory): ${notRun.slice(0, 10).map((n) => `#${n.index}`).join(', ')}${notRun.length > 10 ? ', ...' : ''}`);
  print(`  guarded envelope violations: ${report.guarded.violationsCovered} on covered faults, ${report.guarded.violationsUncovered} on uncovered ones`);
  print(`  unguarded envelope violations: ${report.unguarded.violations} of ${report.faulty} (${(100 * report.unguarded.violationShare).toFixed(1)} %)`);
  print(`  false trips: ${report.falseTrips.trips} over ${report.falseTrips.faultFreeTicks} fault-free ticks`);
  print(`  first-out attribution: ${report.attribution.correct} of ${report.attribution.detected} detected faults (${report.attribution.accuracy === null ? '-' : (100 * report.attribution.accuracy).toFixed(1) + ' %'})`);
  print(`  action-to-sensing: ${report.actionToSensing.ticksAdaptive} samples vs ${report.actionToSensing.ticksFixed} fixed-rate (ratio ${report.actionToSensing.sampleRatio}), IAE ratio ${report.actionToSensing.iaeRatio}`);
  for (const f of report.failing.slice(0, 20)) print(`  FAIL #${f.index} ${f.name}: ${f.why}\n    ${f.reproduce}`);
  if (report.failing.length > 20) print(`  ... ${report.failing.length - 20} more failing cases in ${join(opts.out, 'report.md')}`);
  print(`  report: ${join(opts.out, 'report.md')} and report.json`);
  const ok = report.guarded.violationsCovered === 0 && report.falseTrips.trips === 0;
  return ok ? 0 : 1;
}

/**
 * A report built over the scenarios an engine ran (results in scenario
 * order, `indices` their scenario numbers) names each case by its number in
 * the campaign, with a reproduce command on the same engine.
 */
function reindexReport(report: CampaignReport, indices: readonly number[], seed: number, engine: EngineName): CampaignReport {
  const at = (i: number) => indices[i];
  return {
    ...report,
    failing: report.failing.map((f) => ({
      ...f, index: at(f.index),
      reproduce: `${f.reproduce.replace(`--campaign ${seed}:${f.index}`, `--campaign ${seed}:${at(f.index)}`)} --engine ${engine}`,
    })),
    worst: report.worst.map((w) => ({ ...w, index: at(w.index) })),
  };
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
export { DEFAULT_CORE_PATH, reproduceCommand };
