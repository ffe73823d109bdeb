// A campaign worker thread for engine-campaign.ts: opens its own engine (for
// Wasmtime, its own child process), runs the scenario indices it is sent, and
// closes the engine when it is told there is no more work.

import { parentPort, workerData } from 'node:worker_threads';
import { readFileSync } from 'node:fs';
import { campaignScenario } from '../../firmware-sim/campaign/generate.js';
import { openEngine, type EngineName } from '../runtime/engines/index.js';
import { runPairOn, type EngineWorkerMessage } from './engine-campaign.js';

interface Init { corePath: string; seed: number; engine: EngineName }

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
      const result = runPairOn(campaignScenario(init.seed, index), core);
      parentPort!.postMessage({ type: 'result', index, result } satisfies EngineWorkerMessage);
    } catch (err) {
      parentPort!.postMessage({ type: 'error', index, message: (err as Error).stack ?? String(err) } satisfies EngineWorkerMessage);
      return;
    }
  }
  parentPort!.postMessage({ type: 'idle' } satisfies EngineWorkerMessage);
});
