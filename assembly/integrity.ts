// Soft-error protection of the core's own state, cheap enough for every
// tick: the configuration table is scrubbed one block of SCRUB_WORDS words
// per tick against the block sums taken at commit (a flip is seen within
// SCRUB_BLOCKS ticks), and the integrator carries a complemented shadow copy
// (checked in the loop).

import { scrub_arm, scrub_check, SCRUB_BLOCKS } from "./params";

let block: i32 = 0;
let bad_blocks: u32 = 0;   // one bit per block that failed its check

export function integrity_arm(): void {
  scrub_arm();
  block = 0;
  bad_blocks = 0;
}

// Returns true while any block disagrees with its commit-time sum.
export function integrity_step(): bool {
  let bit: u32 = <u32>1 << <u32>block;
  bad_blocks = scrub_check(block) ? (bad_blocks | bit) : (bad_blocks & ~bit);
  block = block + 1 < SCRUB_BLOCKS ? block + 1 : 0;
  return bad_blocks != 0;
}

export function integrity_failed(): bool {
  return bad_blocks != 0;
}

// Every block now, not one: run when an alarm trips, so that a corrupted
// configuration is named as the root cause before the alarms it provokes
// ("cheap first, escalate near the boundary"). Returns true if any block fails.
export function integrity_full_check(): bool {
  for (let k = 0; k < SCRUB_BLOCKS; k++) {
    let bit: u32 = <u32>1 << <u32>k;
    bad_blocks = scrub_check(k) ? (bad_blocks | bit) : (bad_blocks & ~bit);
  }
  return bad_blocks != 0;
}
