// The core's invariants (STYLE.md 3: assertions that say why). A broken
// invariant is a bug. Every build counts it (invariant_fails), logs it as an
// EV_INVARIANT event whose monitor field is the reason code below, and
// raises the integrity condition as a fault that cannot be repaired, which
// latches the safe stop until reset(): the field build's explicit recovery
// action.
//
// The debug build (asconfig.json target "debug", assertions on:
// build/core.debug.wasm, which `sim`, `campaign` and the tests run) traps
// there as well, as `if (DEBUG) assert(...)` would, so a bug stops the run
// that found it. Neither build counts it as a bug when the running
// configuration table was corrupted this tick (integrity_escalate): a soft
// error (or a memory fault a campaign injects) can break an invariant
// without any bug; the event is logged with the core stage and the
// integrity monitor owns the case. `unreachable` rather than `assert`: the stub runtime's abort would
// carry the file name as a string.
//
// Reason codes are numbers, not strings, so the binary stays small; the host
// names them (host/runtime/abi.ts INVARIANTS).

import * as S from "./state";
import { integrity_escalate } from "./integrity";
import { count, event_log, C_INVARIANT_FAILS, EV_INVARIANT, EV_STAGE_NONE } from "./events";
import { STAGE_CORE } from "./monitor/ids";

export const INV_OUTPUT: i32 = 1;      // the command is outside [out_min, out_max]
export const INV_MODE: i32 = 2;        // the mode is outside the mode enum
export const INV_LEVEL: i32 = 3;       // the proposed sampling level is outside the derived levels
export const INV_DEBOUNCE: i32 = 4;    // a debounce counter and its counting bit disagree
export const INV_CASCADE: i32 = 5;     // an open episode's root cause or its stage is not a monitor/stage
export const INV_SUPERVISOR: i32 = 6;  // a latched cause or the trip output outside SAFE_STOP
export const INV_PARAMS: i32 = 7;      // a derived quantity (levels, coefficients) out of its bounds at commit

// Assertions compiled in (the debug build): ASC_NO_ASSERT is asc's --noAssert.
@inline export const DEBUG: bool = !ASC_NO_ASSERT;

// Raised until reset(): the integrity condition reads it.
export let invariant_bad = false;

export function invariant_clear(): void {
  invariant_bad = false;
}

// value: what was found (the command, the mode, the counter ...).
export function invariant_failed(reason: i32, value: i32): void {
  // The whole table is scrubbed and repaired now; if the running table was
  // hit this tick, the break is the soft error's doing, not a bug: logged
  // with the core stage and left to the integrity monitor, whose condition
  // the next tick raises.
  // Every value the tick reads from the table is checked at use, so that
  // nothing outlives the repair.
  let soft = integrity_escalate();
  event_log(S.tick_n, EV_INVARIANT, soft ? STAGE_CORE : EV_STAGE_NONE, reason, value);
  if (soft) return;
  count(C_INVARIANT_FAILS);
  invariant_bad = true;
  if (DEBUG) unreachable();
}
