// One scenario in a worker thread, for `edgeloop sim`: the core runs where it
// can be interrupted. A core whose tick never returns (an endless loop) would
// hang the thread it runs in for good; in a worker, the CLI terminates it
// after a deadline and says so (host/cli/sim.ts).

import { parentPort, workerData } from 'node:worker_threads';
import { readFileSync } from 'node:fs';
import { openEngine, type EngineName } from '../host/runtime/engines/index.js';
import { runScenario, type Oracle, type RunResult } from './run.js';
import type { Scenario } from './scenario/schema.js';

export interface RunJob { scenario: Scenario; corePath: string; engine: EngineName; oracle?: Oracle }
export type RunReply = { ok: true; result: RunResult } | { ok: false; message: string } | { pid: number };

const job = workerData as RunJob;
let reply: RunReply;
try {
  const engine = openEngine(job.engine, readFileSync(job.corePath), job.corePath);
  try {
    // The engine's child process, if it has one, is named to the parent as it starts: a child whose
    // core never returns blocks this thread in a read no terminate() can stop; the parent kills the child.
    const core = () => {
      const c = engine.core();
      if (typeof engine.pid === 'number') parentPort!.postMessage({ pid: engine.pid } satisfies RunReply);
      return c;
    };
    reply = { ok: true, result: runScenario(job.scenario, { engine: core, record: true, oracle: job.oracle }) };
  } finally {
    engine.dispose();
  }
} catch (err) {
  reply = { ok: false, message: (err as Error).message };
}
parentPort!.postMessage(reply);
