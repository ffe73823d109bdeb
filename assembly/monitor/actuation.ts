// Actuation stage: the command held at a limit while the error still asks
// for more (a command at a limit the loop does not push against is healthy,
// such as a heater off above its setpoint), and the command versus the
// actuator's fed-back position (when the binding provides feedback).

import { p, P_OUT_MIN, P_OUT_MAX, P_MISMATCH_THR } from "../params";
import { abs_q16, sub_q16 } from "../fixed";
import { SAMPLE_NONE } from "../state";

export let saturated = false;
export let mismatch = false;

export function actuation_reset(): void {
  saturated = false; mismatch = false;
}

// u_prev: the command applied on the previous tick, which the feedback reflects.
// e: the active controller's error; its sign says which way the loop pushes.
export function actuation_step(u_prev: i32, fb: i32, e: i32, started: bool, direct: bool): void {
  let pushes_up = direct ? e > 0 : e < 0;
  let pushes_down = direct ? e < 0 : e > 0;
  saturated = started && ((u_prev <= p(P_OUT_MIN) && pushes_down) || (u_prev >= p(P_OUT_MAX) && pushes_up));
  let thr = p(P_MISMATCH_THR);
  mismatch = started && thr > 0 && fb != SAMPLE_NONE && abs_q16(sub_q16(u_prev, fb)) > thr;
}
