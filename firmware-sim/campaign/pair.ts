// One campaign scenario, run side by side: guarded (monitors and fallback)
// and unguarded (the primary controller alone); a fault-free scenario also
// runs guarded at a fixed rate, to weigh action-to-sensing against it.

import type { Core } from '../../host/runtime/core.js';
import { ENGINE_HAS_MEMORY, type EngineName } from '../../host/runtime/engines/index.js';
import { runScenario, type RunResult } from '../run.js';
import type { Scenario } from '../scenario/schema.js';

export interface PairResult {
  guarded: RunResult;
  unguarded: RunResult;
  fixedRate: RunResult | null;
}

/** Where a run's cores come from: the compiled module (V8), or a factory (any engine). */
export type CoreSource = WebAssembly.Module | (() => Core);

export function runPair(sc: Scenario, source: CoreSource): PairResult {
  const opts = source instanceof WebAssembly.Module ? { module: source } : { engine: source };
  const guarded = runScenario({ ...sc, guarded: true }, opts);
  const unguarded = runScenario({ ...sc, guarded: false }, opts);
  const fixedRate = sc.faults.length === 0 ? runScenario({ ...sc, guarded: true, actionToSensing: false }, opts) : null;
  return { guarded, unguarded, fixedRate };
}

/** Why a scenario cannot run on an engine (a memory fault without memory access), or null. */
export function cannotRun(sc: Scenario, engine: EngineName): string | null {
  const memory = sc.faults.find((f) => f.kind.startsWith('memory.'));
  return memory && !ENGINE_HAS_MEMORY[engine] ? `${memory.kind} writes into the core's memory, which ${engine} does not expose` : null;
}
