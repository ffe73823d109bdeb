// A campaign worker thread: compiles the core once, then runs the scenario
// indices it is sent (guarded, unguarded, and for fault-free scenarios also
// at a fixed rate) and posts compact results back.

import { parentPort, workerData } from 'node:worker_threads';
import { readFileSync } from 'node:fs';
import { campaignScenario } from './generate.js';
import { runPair, type PairResult } from './pair.js';

interface Init { corePath: string; seed: number }
export type WorkerMessage = { type: 'result'; index: number; result: PairResult } | { type: 'error'; index: number; message: string };

const init = workerData as Init;
const module = new WebAssembly.Module(readFileSync(init.corePath));

parentPort!.on('message', (batch: number[] | null) => {
  if (batch === null) {
    parentPort!.close();
    return;
  }
  for (const index of batch) {
    try {
      const result = runPair(campaignScenario(init.seed, index), module);
      parentPort!.postMessage({ type: 'result', index, result } satisfies WorkerMessage);
    } catch (err) {
      parentPort!.postMessage({ type: 'error', index, message: (err as Error).stack ?? String(err) } satisfies WorkerMessage);
    }
  }
  parentPort!.postMessage({ type: 'idle' });
});
