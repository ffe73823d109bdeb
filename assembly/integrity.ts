// Soft-error protection of the core's own state, cheap enough for every
// tick: the configuration table is scrubbed SCRUB_WORDS words per tick
// against the checksum taken at commit, and the integrator carries a
// complemented shadow copy (checked in the loop).

import { config_checksum, scrub_step, scrub_result, scrub_reset } from "./params";

let expected: i32 = 0;
let bad = false;

export function integrity_arm(): void {
  expected = config_checksum();
  scrub_reset();
  bad = false;
}

// Returns true while the last finished scrub pass disagreed.
export function integrity_step(): bool {
  if (scrub_step() != 0) bad = scrub_result() != expected;
  return bad;
}

export function integrity_expected(): i32 {
  return expected;
}
