// Actuation stage:
//   saturation: the command sits on a limit while the error asks for more
//     and the loop is not making progress, that is |error| has not shrunk by
//     an eighth since the saturation began or last made progress. A loop
//     that is saturated but converging (a heater off while the chamber cools
//     to a lower setpoint) is healthy.
//   mismatch: the command versus the actuator's fed-back position (when the
//     binding provides feedback).

import { p, P_OUT_MIN, P_OUT_MAX, P_MISMATCH_THR } from "../params";
import { abs_q16, sub_q16 } from "../fixed";
import { SAMPLE_NONE } from "../state";

export let saturated = false;
export let mismatch = false;
// Command and feedback apart by more than an eighth of the threshold: too
// little to trip, enough to point an estimation alarm at the actuator.
export let disagreeing = false;
let progress_ref_q16: i32 = -1;   // |error| at the last point of progress; -1: not saturated

export function actuation_reset(): void {
  saturated = false; mismatch = false; disagreeing = false; progress_ref_q16 = -1;
}

// u_prev: the command applied on the previous tick, which the feedback reflects.
// e: the active controller's error; direct: whether more command raises the measurement.
export function actuation_step(u_prev: i32, fb: i32, e: i32, started: bool, direct: bool): void {
  let pushes_up = direct ? e > 0 : e < 0;
  let pushes_down = direct ? e < 0 : e > 0;
  let at_limit = started && ((u_prev <= p(P_OUT_MIN) && pushes_down) || (u_prev >= p(P_OUT_MAX) && pushes_up));
  let mag = abs_q16(e);
  if (!at_limit) {
    progress_ref_q16 = -1;
    saturated = false;
  } else if (progress_ref_q16 < 0 || mag < progress_ref_q16 - (progress_ref_q16 >> 3)) {
    progress_ref_q16 = mag;          // (re)start the clock: converging
    saturated = false;
  } else {
    saturated = true;
  }
  let thr = p(P_MISMATCH_THR);
  let gap = fb != SAMPLE_NONE ? abs_q16(sub_q16(u_prev, fb)) : 0;
  mismatch = started && thr > 0 && gap > thr;
  disagreeing = started && thr > 0 && gap > (thr >> 3);
}
