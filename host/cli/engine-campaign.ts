// A fault campaign on an engine other than the simulator's own V8 path
// (firmware-sim/campaign/run.ts): the same swarm (campaignScenario), the same
// runs per scenario (guarded, unguarded, fixed rate when fault-free) and the
// same report, over worker threads that each own one engine, so with
// Wasmtime each worker owns its own child process. Scenarios an engine cannot
// run (memory faults without memory access) are listed, not run.

import { Worker } from 'node:worker_threads';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { runScenario } from '../../firmware-sim/run.js';
import { campaignScenario } from '../../firmware-sim/campaign/generate.js';
import type { PairResult } from '../../firmware-sim/campaign/pair.js';
import type { Scenario } from '../../firmware-sim/scenario/schema.js';
import type { Core } from '../runtime/core.js';
import { ENGINE_HAS_MEMORY, openEngine, type EngineName } from '../runtime/engines/index.js';

export interface EngineCampaignOptions {
  seed: number;
  scenarios: number;
  /** Worker threads, one engine each; 0 runs everything in this thread. */
  workers: number;
  corePath: string;
  engine: EngineName;
  onProgress?: (done: number, total: number) => void;
}

export interface NotRun {
  index: number;
  name: string;
  why: string;
}

export interface EngineCampaignResult {
  /** Results of the scenarios that ran, in scenario order. */
  results: PairResult[];
  /** The scenario index of each result. */
  indices: number[];
  notRun: NotRun[];
}

export type EngineWorkerMessage =
  | { type: 'result'; index: number; result: PairResult }
  | { type: 'error'; index: number; message: string }
  | { type: 'idle' };

const BATCH = 16;

/** Why a scenario cannot run on an engine, or null. */
export function cannotRun(sc: Scenario, engine: EngineName): string | null {
  const memory = sc.faults.find((f) => f.kind.startsWith('memory.'));
  return memory && !ENGINE_HAS_MEMORY[engine] ? `${memory.kind} writes into the core's memory, which ${engine} does not expose` : null;
}

/** One campaign scenario side by side, as firmware-sim/campaign/pair.ts runs it, with cores from `engine`. */
export function runPairOn(sc: Scenario, engine: () => Core): PairResult {
  const guarded = runScenario({ ...sc, guarded: true }, { engine });
  const unguarded = runScenario({ ...sc, guarded: false }, { engine });
  const fixedRate = sc.faults.length === 0 ? runScenario({ ...sc, guarded: true, actionToSensing: false }, { engine }) : null;
  return { guarded, unguarded, fixedRate };
}

/** The compiled worker script (from source under vitest, the build in dist/). */
function workerUrl(): URL {
  const here = fileURLToPath(import.meta.url);
  const js = here.endsWith('.ts')
    ? here.replace(/\/host\/cli\/engine-campaign\.ts$/, '/dist/host/cli/engine-campaign-worker.js')
    : here.replace(/engine-campaign\.js$/, 'engine-campaign-worker.js');
  return new URL(`file://${js}`);
}

export async function runEngineCampaign(opts: EngineCampaignOptions): Promise<EngineCampaignResult> {
  const results: (PairResult | undefined)[] = new Array(opts.scenarios);
  const notRun: NotRun[] = [];
  const todo: number[] = [];
  for (let i = 0; i < opts.scenarios; i++) {
    const sc = campaignScenario(opts.seed, i);
    const why = cannotRun(sc, opts.engine);
    if (why) notRun.push({ index: i, name: sc.name ?? `#${i}`, why });
    else todo.push(i);
  }
  let done = notRun.length;
  if (done) opts.onProgress?.(done, opts.scenarios);
  if (opts.workers <= 0) {
    const engine = openEngine(opts.engine, readFileSync(opts.corePath), opts.corePath);
    try {
      for (const i of todo) {
        results[i] = runPairOn(campaignScenario(opts.seed, i), () => engine.core());
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
      const w = new Worker(workerUrl(), { workerData: { corePath: opts.corePath, seed: opts.seed, engine: opts.engine } });
      let failed = false;
      const feed = () => w.postMessage(nextBatch());
      w.on('message', (m: EngineWorkerMessage) => {
        if (m.type === 'result') {
          results[m.index] = m.result;
          opts.onProgress?.(++done, opts.scenarios);
        } else if (m.type === 'error') {
          failed = true;
          w.postMessage(null); // the worker closes its engine, then exits
          reject(new Error(`scenario ${m.index} failed on ${opts.engine}: ${m.message}`));
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
