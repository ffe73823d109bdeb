// Runs a campaign over worker threads (or in this thread with workers = 0).
// Results are gathered by scenario index, so the outcome is the same
// whatever the number of workers.

import { Worker } from 'node:worker_threads';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { campaignScenario } from './generate.js';
import { runPair, type PairResult } from './pair.js';
import type { WorkerMessage } from './worker.js';

export interface CampaignOptions {
  seed: number;
  scenarios: number;
  /** Worker threads; 0 runs everything in this thread. */
  workers: number;
  corePath: string;
  /** Called after each finished scenario. */
  onProgress?: (done: number, total: number) => void;
}

const BATCH = 16;

/** The compiled worker script (from source under vitest, the build in dist/). */
function workerUrl(): URL {
  const here = fileURLToPath(import.meta.url);
  const js = here.endsWith('.ts') ? here.replace(/\/firmware-sim\/campaign\/run\.ts$/, '/dist/firmware-sim/campaign/worker.js') : here.replace(/run\.js$/, 'worker.js');
  return new URL(`file://${js}`);
}

export async function runCampaign(opts: CampaignOptions): Promise<PairResult[]> {
  const results: (PairResult | undefined)[] = new Array(opts.scenarios);
  let done = 0;
  if (opts.workers <= 0) {
    const module = new WebAssembly.Module(readFileSync(opts.corePath));
    for (let i = 0; i < opts.scenarios; i++) {
      results[i] = runPair(campaignScenario(opts.seed, i), module);
      opts.onProgress?.(++done, opts.scenarios);
    }
    return results as PairResult[];
  }
  let next = 0;
  const nextBatch = (): number[] | null => {
    if (next >= opts.scenarios) return null;
    const batch: number[] = [];
    for (let k = 0; k < BATCH && next < opts.scenarios; k++) batch.push(next++);
    return batch;
  };
  const workers = Math.min(opts.workers, Math.ceil(opts.scenarios / BATCH));
  await Promise.all(Array.from({ length: workers }, () => new Promise<void>((resolve, reject) => {
    const w = new Worker(workerUrl(), { workerData: { corePath: opts.corePath, seed: opts.seed } });
    const feed = () => {
      const batch = nextBatch();
      w.postMessage(batch);
      if (batch === null) resolve();
    };
    w.on('message', (m: WorkerMessage | { type: 'idle' }) => {
      if (m.type === 'result') {
        results[m.index] = m.result;
        opts.onProgress?.(++done, opts.scenarios);
      } else if (m.type === 'error') {
        void w.terminate();
        reject(new Error(`scenario ${m.index} failed: ${m.message}`));
      } else {
        feed();
      }
    });
    w.on('error', reject);
    feed();
  })));
  return results as PairResult[];
}
