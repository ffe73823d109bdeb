// Runs a campaign over worker threads (or in this thread with workers = 0),
// each with its own engine (for Wasmtime, its own child process). Results
// are gathered by scenario index, so the outcome is the same whatever the
// number of workers. Scenarios an engine cannot run (memory faults without
// memory access) are listed, not run; on V8 every scenario runs.

import { Worker } from 'node:worker_threads';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { openEngine, type EngineName } from '../../host/runtime/engines/index.js';
import { campaignScenario } from './generate.js';
import { cannotRun, runPair, type PairResult } from './pair.js';
import type { WorkerMessage } from './worker.js';

export interface CampaignOptions {
  seed: number;
  scenarios: number;
  /** Worker threads, one engine each; 0 runs everything in this thread. */
  workers: number;
  corePath: string;
  /** The engine every run's core runs on (default v8). */
  engine?: EngineName;
  onProgress?: (done: number, total: number) => void;
  /**
   * A worker that reports no scenario for this long (wall ms) is running a
   * core whose tick does not return (an endless loop): it is terminated and
   * the campaign fails with CoreStalledError. Default STALL_MS. (With
   * workers = 0 nothing can interrupt the core: use workers.)
   */
  stallMs?: number;
}

/** Default stall limit: a scenario takes well under a second; two minutes is a core that does not return. */
export const STALL_MS = 120_000;

/** A core whose tick did not return: the scenario it was in, and how long it was given. */
export class CoreStalledError extends Error {
  constructor(readonly index: number, readonly stallMs: number) {
    super(`the core did not return from tick in scenario #${index} within ${stallMs / 1000} s (an endless loop?); its worker was terminated`);
    this.name = 'CoreStalledError';
  }
}

export interface NotRun {
  index: number;
  name: string;
  why: string;
}

export interface CampaignResult {
  /** Results of the scenarios that ran, in scenario order. */
  results: PairResult[];
  /** The scenario index of each result. */
  indices: number[];
  notRun: NotRun[];
}

const BATCH = 16;

/** The compiled worker script (from source under vitest, the build in dist/). */
function workerUrl(): URL {
  const here = fileURLToPath(import.meta.url);
  const js = here.endsWith('.ts')
    ? here.replace(/\/firmware-sim\/campaign\/run\.ts$/, '/dist/firmware-sim/campaign/worker.js')
    : here.replace(/run\.js$/, 'worker.js');
  return new URL(`file://${js}`);
}

export async function runCampaign(opts: CampaignOptions): Promise<CampaignResult> {
  const engineName: EngineName = opts.engine ?? 'v8';
  const results: (PairResult | undefined)[] = new Array(opts.scenarios);
  const notRun: NotRun[] = [];
  const todo: number[] = [];
  for (let i = 0; i < opts.scenarios; i++) {
    const sc = campaignScenario(opts.seed, i);
    const why = cannotRun(sc, engineName);
    if (why) notRun.push({ index: i, name: sc.name ?? `#${i}`, why });
    else todo.push(i);
  }
  let done = notRun.length;
  if (done) opts.onProgress?.(done, opts.scenarios);
  if (opts.workers <= 0) {
    const engine = openEngine(engineName, readFileSync(opts.corePath), opts.corePath);
    try {
      for (const i of todo) {
        results[i] = runPair(campaignScenario(opts.seed, i), () => engine.core());
        opts.onProgress?.(++done, opts.scenarios);
      }
    } finally {
      engine.dispose();
    }
  } else {
    // Batches small enough that every worker gets some of a short campaign.
    const batch = Math.max(1, Math.min(BATCH, Math.ceil(todo.length / (4 * opts.workers))));
    let next = 0;
    const nextBatch = (): number[] | null => (next < todo.length ? todo.slice(next, (next += batch)) : null);
    const workers = Math.min(opts.workers, Math.ceil(todo.length / batch));
    const stallMs = opts.stallMs ?? STALL_MS;
    const running: Worker[] = [];
    await Promise.all(Array.from({ length: workers }, () => new Promise<void>((resolve, reject) => {
      const w = new Worker(workerUrl(), { workerData: { corePath: opts.corePath, seed: opts.seed, engine: engineName } });
      running.push(w);
      let failed = false;
      // The scenarios sent and not yet reported, and when the worker last reported one.
      let pending: number[] = [];
      let lastMs = Date.now();
      let child: number | null = null;   // the worker's Wasmtime child, if it has one
      const watchdog = setInterval(() => {
        if (pending.length === 0 || Date.now() - lastMs <= stallMs) return;
        failed = true;
        clearInterval(watchdog);
        const stuck = pending[0];
        if (child !== null) { try { process.kill(child, 'SIGKILL'); } catch { /* gone already */ } }
        for (const o of running) void o.terminate();   // the others too: the campaign has failed
        reject(new CoreStalledError(stuck, stallMs));
      }, Math.min(1000, Math.max(10, stallMs / 4)));
      const feed = () => {
        const b = nextBatch();
        pending = b ? [...b] : [];
        lastMs = Date.now();
        w.postMessage(b);
      };
      w.on('message', (m: WorkerMessage) => {
        if (m.type === 'pid') { child = m.pid; return; }
        lastMs = Date.now();
        if (m.type === 'result') {
          pending = pending.filter((i) => i !== m.index);
          results[m.index] = m.result;
          opts.onProgress?.(++done, opts.scenarios);
        } else if (m.type === 'error') {
          failed = true;
          w.postMessage(null); // the worker closes its engine, then exits
          reject(new Error(`scenario ${m.index} failed on ${engineName}: ${m.message}`));
        } else {
          feed();
        }
      });
      w.on('error', (err) => { clearInterval(watchdog); reject(err); });
      w.on('exit', (code) => {
        clearInterval(watchdog);
        if (code === 0 || failed) resolve(); else reject(new Error(`campaign worker exited with code ${code}`));
      });
      feed();
    })));
  }
  return { results: todo.map((i) => results[i]!), indices: todo, notRun };
}
