// One campaign scenario, run side by side: guarded (monitors and fallback)
// and unguarded (the primary controller alone); a fault-free scenario also
// runs guarded at a fixed rate, to weigh action-to-sensing against it.

import { runScenario, type RunResult } from '../run.js';
import type { Scenario } from '../scenario/schema.js';

export interface PairResult {
  guarded: RunResult;
  unguarded: RunResult;
  fixedRate: RunResult | null;
}

export function runPair(sc: Scenario, module: WebAssembly.Module): PairResult {
  const guarded = runScenario({ ...sc, guarded: true }, { module });
  const unguarded = runScenario({ ...sc, guarded: false }, { module });
  const fixedRate = sc.faults.length === 0 ? runScenario({ ...sc, guarded: true, actionToSensing: false }, { module }) : null;
  return { guarded, unguarded, fixedRate };
}
