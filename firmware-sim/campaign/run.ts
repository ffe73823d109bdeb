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
    await Promise.all(Array.from({ length: workers }, () => new Promise<void>((resolve, reject) => {
      const w = new Worker(workerUrl(), { workerData: { corePath: opts.corePath, seed: opts.seed, engine: engineName } });
      let failed = false;
      const feed = () => w.postMessage(nextBatch());
      w.on('message', (m: WorkerMessage) => {
        if (m.type === 'result') {
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
      w.on('error', reject);
      w.on('exit', (code) => (code === 0 || failed ? resolve() : reject(new Error(`campaign worker exited with code ${code}`))));
      feed();
    })));
  }
  return { results: todo.map((i) => results[i]!), indices: todo, notRun };
}
