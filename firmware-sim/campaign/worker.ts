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
  | { type: 'idle' }
  | { type: 'pid'; pid: number };

const init = workerData as Init;
const engine = openEngine(init.engine, readFileSync(init.corePath), init.corePath);
// A Wasmtime engine's child process is named to the parent as it starts: a child whose core never
// returns blocks this thread in a read no terminate() can stop; the parent kills the child.
let lastPid: number | null = null;
const core = () => {
  const c = engine.core();
  const pid = engine.pid;
  if (typeof pid === 'number' && pid !== lastPid) { lastPid = pid; parentPort!.postMessage({ type: 'pid', pid } satisfies WorkerMessage); }
  return c;
};

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
