// Timing stage: the core never reads a clock; the host passes now_us and the
// core checks it against the interval it proposed on the previous tick.
//   clock:   time did not advance (dt <= 0)
//   overrun: the tick started later than PERIOD + OVERRUN_TOL_US
//   missed:  whole intervals were skipped: MISSED_COUNT or more missed ticks
//            summed over the last MISSED_WINDOW ticks (one long stall counts
//            as all the ticks it skipped)
//   stale setpoint: the host setpoint is older than SP_TIMEOUT_US

import { p, P_OVERRUN_TOL_US, P_MISSED_COUNT, P_SP_TIMEOUT_US } from "../params";
import { interval_us, level_for_dt } from "../levels";
import { count, count_add, C_MISSED_TICKS, C_OVERRUNS } from "../events";

export let clock_bad = false;
export let overrun = false;
export let missed = false;
export let sp_stale = false;
export const MISSED_WINDOW: i32 = 16;
const MISSED_RING = memory.data(MISSED_WINDOW << 2);
let missed_head: i32 = 0;
let missed_sum: i64 = 0;

export function timing_reset(): void {
  clock_bad = false; overrun = false; missed = false; sp_stale = false;
  for (let i = 0; i < MISSED_WINDOW; i++) store<i32>(MISSED_RING + (<usize>i << 2), 0);
  missed_head = 0; missed_sum = 0;
}

// Returns dt in microseconds as the controller should use it.
export function timing_step(now: i64, last: i64, started: bool, proposed_level: i32, setpoint_us: i64): i64 {
  let expected = interval_us(proposed_level);
  let dt = started ? now - last : expected;
  clock_bad = started && dt <= 0;
  if (clock_bad) dt = expected;
  let late = dt - expected;
  overrun = late > <i64>p(P_OVERRUN_TOL_US);
  if (overrun) count(C_OVERRUNS);
  let skipped: i64 = late >= expected ? late / expected : 0;
  if (skipped > 0) count_add(C_MISSED_TICKS, skipped);
  // Ring of missed-tick counts, each saturated at 2^30 so the sum stays exact.
  let add = <i32>(skipped > (1 << 30) ? (1 << 30) : skipped);
  let at = MISSED_RING + (<usize>missed_head << 2);
  missed_sum += <i64>add - <i64>load<i32>(at);
  store<i32>(at, add);
  missed_head = missed_head + 1 < MISSED_WINDOW ? missed_head + 1 : 0;
  missed = missed_sum >= <i64>p(P_MISSED_COUNT);
  let timeout = p(P_SP_TIMEOUT_US);
  sp_stale = timeout > 0 && now - setpoint_us > <i64>timeout;
  return dt;
}

export function timing_level(dt: i64): i32 {
  return level_for_dt(dt);
}
