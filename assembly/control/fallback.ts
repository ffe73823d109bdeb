// Fallback controller: deliberately simple and conservative. A low-gain PI
// on the most trusted measurement toward a safe setpoint, no derivative, no
// setpoint weighting; and the safe-stop command.

import { p, P_FB_KP, P_FB_TI, P_FB_SETPOINT, P_OUT_MIN, P_OUT_MAX, P_SAFE_OUTPUT } from "../params";
import { sat, mul_q16, sub_q16, clamp_i32 } from "../fixed";
import { fb_ki_dt } from "../levels";

let integ_q32: i64 = 0;

export function fallback_reset(): void {
  integ_q32 = 0;
}

export function fallback_step(y: i32, level: i32): i32 {
  let e = sub_q16(p(P_FB_SETPOINT), y);
  let out_min = p(P_OUT_MIN);
  let out_max = p(P_OUT_MAX);
  let prop = mul_q16(p(P_FB_KP), e);
  let i_q16 = sat((integ_q32 + (1 << 15)) >> 16);
  let v = <i64>prop + <i64>i_q16;
  let inc = p(P_FB_TI) > 0 ? (<i64>clamp_i32(e, -(1 << 30), 1 << 30) * fb_ki_dt(level)) >> 16 : 0;
  let held = (v >= <i64>out_max && inc > 0) || (v <= <i64>out_min && inc < 0);
  if (!held) {
    let next = integ_q32 + inc;
    let lo = <i64>out_min << 16;
    let hi = <i64>out_max << 16;
    integ_q32 = next < lo ? lo : next > hi ? hi : next;
  }
  return clamp_i32(sat(v), out_min, out_max);
}

// Bumpless transfer into the fallback from the command already applied.
export function fallback_track(u_applied: i32, y: i32): void {
  let prop = mul_q16(p(P_FB_KP), sub_q16(p(P_FB_SETPOINT), y));
  let i = (<i64>u_applied - <i64>prop) << 16;
  let lo = <i64>p(P_OUT_MIN) << 16;
  let hi = <i64>p(P_OUT_MAX) << 16;
  integ_q32 = i < lo ? lo : i > hi ? hi : i;
}

export function safe_output(): i32 {
  return p(P_SAFE_OUTPUT);
}
