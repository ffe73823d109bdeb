// A campaign worker thread: opens its own engine (for Wasmtime, its own
// child process), runs the scenario indices it is sent, and closes the
// engine when it is told there is no more work.

import { parentPort, workerData } from 'node:worker_threads';
import { readFileSync } from 'node:fs';
import { openEngine, type EngineName } from '../../host/runtime/engines/index.js';
import { campaignScenario } from './generate.js';
import { runPair, type PairResult } from './pair.js';

interface Init { corePath: string; seed: number; engine: EngineName }

export type WorkerMessage =
  | { type: 'result'; index: number; result: PairResult }
  | { type: 'error'; index: number; message: string }
  | { type: 'idle' };

const init = workerData as Init;
const engine = openEngine(init.engine, readFileSync(init.corePath), init.corePath);
const core = () => engine.core();

parentPort!.on('message', (batch: number[] | null) => {
  if (batch === null) {
    engine.dispose();
    parentPort!.close();
    return;
  }
  for (const index of batch) {
    try {
      const result = runPair(campaignScenario(init.seed, index), core);
      parentPort!.postMessage({ type: 'result', index, result } satisfies WorkerMessage);
    } catch (err) {
      parentPort!.postMessage({ type: 'error', index, message: (err as Error).stack ?? String(err) } satisfies WorkerMessage);
      return;
    }
  }
  parentPort!.postMessage({ type: 'idle' } satisfies WorkerMessage);
});
