// One campaign scenario, run side by side: guarded (the core's guard) and
// unguarded (the primary controller alone); a fault-free scenario also runs
// guarded at a fixed rate, to weigh action-to-sensing against it. When both
// leave the envelope (a miss), the scenario runs again under each oracle
// (RunOptions.oracle): could anything acting from the fault's onset have
// kept it inside?

import type { Core } from '../../host/runtime/core.js';
import { ENGINE_HAS_MEMORY, type EngineName } from '../../host/runtime/engines/index.js';
import { runScenario, type Oracle, type RunOptions, type RunResult } from '../run.js';
import type { Scenario } from '../scenario/schema.js';

/** The oracles a miss is tried against, in this order. */
export const ORACLES: readonly Oracle[] = ['min', 'max', 'trip'];

/** What an oracle run did to the envelope. */
export interface OracleOutcome {
  violated: boolean;
  worstExcursion: number;
  ticks: number;
}

export interface PairResult {
  guarded: RunResult;
  unguarded: RunResult;
  fixedRate: RunResult | null;
  /** For a miss (a faulty scenario that both runs take out of the envelope): each oracle's run; else null. */
  oracles: Record<Oracle, OracleOutcome> | null;
}

/** Where a run's cores come from: the compiled module (V8), or a factory (any engine). */
export type CoreSource = WebAssembly.Module | (() => Core);

export function runPair(sc: Scenario, source: CoreSource): PairResult {
  const opts: RunOptions = source instanceof WebAssembly.Module ? { module: source } : { engine: source };
  const guarded = runScenario({ ...sc, guarded: true }, opts);
  const unguarded = runScenario({ ...sc, guarded: false }, opts);
  const fixedRate = sc.faults.length === 0 ? runScenario({ ...sc, guarded: true, actionToSensing: false }, opts) : null;
  const miss = sc.faults.length > 0 && guarded.envelope.violated && unguarded.envelope.violated;
  return { guarded, unguarded, fixedRate, oracles: miss ? oracleRuns(sc, opts) : null };
}

/** The scenario (guarded until the onset, as the campaign runs it) under each oracle. */
function oracleRuns(sc: Scenario, opts: RunOptions): Record<Oracle, OracleOutcome> {
  const out = {} as Record<Oracle, OracleOutcome>;
  for (const oracle of ORACLES) {
    const { envelope, ticks } = runScenario({ ...sc, guarded: true }, { ...opts, oracle });
    out[oracle] = { violated: envelope.violated, worstExcursion: envelope.worstExcursion, ticks };
  }
  return out;
}

/** Why a scenario cannot run on an engine (a memory fault without memory access), or null. */
export function cannotRun(sc: Scenario, engine: EngineName): string | null {
  const memory = sc.faults.find((f) => f.kind.startsWith('memory.'));
  return memory && !ENGINE_HAS_MEMORY[engine] ? `${memory.kind} writes into the core's memory, which ${engine} does not expose` : null;
}
