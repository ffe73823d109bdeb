// Fallback controller: deliberately simple and conservative. A low-gain PI
// on the most trusted measurement toward a safe setpoint, no derivative, no
// setpoint weighting; and the safe-stop command.

import { p, P_FB_KP, P_FB_TI, P_FB_SETPOINT, P_OUT_MIN, P_OUT_MAX, P_SAFE_OUTPUT } from "../params";
import { sat, mul_q16, sub_q16, clamp_i32 } from "../fixed";
import { fb_ki_dt } from "../levels";
import { integ_step, integ_clamp } from "./integrator";

let integ_q32: i64 = 0;

export function fallback_reset(): void {
  integ_q32 = 0;
}

export function fallback_step(y: i32, level: i32): i32 {
  let e = sub_q16(p(P_FB_SETPOINT), y);
  let out_min = p(P_OUT_MIN);
  let out_max = p(P_OUT_MAX);
  let prop = <i64>mul_q16(p(P_FB_KP), e);
  let v = prop + <i64>sat((integ_q32 + (1 << 15)) >> 16);
  let ki = p(P_FB_TI) > 0 ? fb_ki_dt(level) : 0;
  integ_q32 = integ_step(integ_q32, e, ki, v, prop, out_min, out_max);
  return clamp_i32(sat(v), out_min, out_max);
}

// Bumpless transfer into the fallback from the command already applied.
export function fallback_track(u_applied: i32, y: i32): void {
  let prop = <i64>mul_q16(p(P_FB_KP), sub_q16(p(P_FB_SETPOINT), y));
  integ_q32 = integ_clamp((<i64>u_applied - prop) << 16, prop, p(P_OUT_MIN), p(P_OUT_MAX));
}

export function safe_output(): i32 {
  return p(P_SAFE_OUTPUT);
}
