// Soft-error protection of the core's own state, cheap enough for every
// tick: the configuration table is scrubbed one block of SCRUB_WORDS words
// per tick against the block sums taken at commit (a flip is seen within
// SCRUB_BLOCKS ticks) and repaired from its shadow copy, whose blocks are
// checked against the same sums and rewritten from the table; the integrator
// carries a complemented shadow copy (checked in the loop). A detected soft
// error raises the integrity condition for the tick it is found, repaired
// or not; one that cannot be repaired keeps it raised.

import { scrub_arm, scrub_check, SCRUB_BLOCKS, SCRUB_OK, SCRUB_REPAIRED, SCRUB_SHADOW_REPAIRED } from "./params";
import { count, C_REPAIRS } from "./events";
import { invariant_bad } from "./invariant";

let block: i32 = 0;
let bad_blocks: u32 = 0;   // blocks that failed and could not be repaired
let found = false;         // a soft error was found this tick
let active_hit = false;    // ... in the active table (not only in its shadow)

export function integrity_arm(): void {
  scrub_arm();
  block = 0;
  bad_blocks = 0;
  found = false;
  active_hit = false;
}

function check(k: i32): void {
  let bit: u32 = <u32>1 << <u32>k;
  let st = scrub_check(k);
  if (st == SCRUB_OK) { bad_blocks &= ~bit; return; }
  found = true;
  if (st != SCRUB_SHADOW_REPAIRED) active_hit = true;
  if (st == SCRUB_REPAIRED || st == SCRUB_SHADOW_REPAIRED) { count(C_REPAIRS); bad_blocks &= ~bit; } else bad_blocks |= bit;
}

// One block per tick. Returns true while a soft error was found this tick
// or a block stays unrepaired.
export function integrity_step(): bool {
  found = escalated;
  active_hit = escalated_hit;
  escalated = false;
  escalated_hit = false;
  check(block);
  block = block + 1 < SCRUB_BLOCKS ? block + 1 : 0;
  return found || bad_blocks != 0;
}

// An invariant broke (invariant.ts): the whole table is checked and
// repaired now, not one block a tick, and the next tick raises the
// integrity condition for what was found (a repair of the running table
// restarts the estimation then, as the scrub's own does). Returns whether
// the running table was corrupted this tick (repaired now, by this tick's
// scrub or by an earlier break this tick, or a block left unrepairable): the
// soft error's doing, not a bug. A flip found only in the shadow copy leaves
// the table the tick read intact: a break then is a bug.
let escalated = false;      // something was found this tick: raised on the next
let escalated_hit = false;  // ... in the running table
export function integrity_escalate(): bool {
  let hit = active_hit;
  active_hit = false;
  if (integrity_full_check()) escalated = true;
  active_hit = hit || active_hit;
  if (active_hit || bad_blocks != 0) escalated_hit = true;
  return escalated_hit;
}

// Not repairable: a block both copies lost, or a broken invariant (a bug:
// the core's own state is not to be trusted until reset()).
export function integrity_failed(): bool {
  return bad_blocks != 0 || invariant_bad;
}

// A soft error in the active table was found on this tick and every block
// is whole again (the loop read the corrupted value until then).
export function integrity_repaired_now(): bool {
  return active_hit && bad_blocks == 0;
}

// Every block now, not one: run when an alarm trips, so that a corrupted
// configuration is named as the root cause before the alarms it provokes
// ("cheap first, escalate near the boundary"). Returns true if any block
// failed its check (repaired or not).
export function integrity_full_check(): bool {
  let before = found;
  found = false;
  for (let k = 0; k < SCRUB_BLOCKS; k++) check(k);
  let now = found;
  found = before || now;
  return now || bad_blocks != 0;
}
