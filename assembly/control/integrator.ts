// The integrator shared by the primary and the fallback controller:
// conditional integration (it does not move further into a limit the output
// already sits on) and a clamp that lets P + D + I reach either output limit
// but no further. The clamp is relative to P + D, not the bare output range,
// so that a bumpless switch can always set I = u - P - D exactly.

import { clamp_i32 } from "../fixed";

export let integ_held: bool = false;

// Integrator limits for the current P + D, in Q32.
@inline function lo_q32(pd_q16: i64, out_min: i32): i64 {
  let lo = <i64>out_min - pd_q16;
  return (lo < <i64>out_min ? lo : <i64>out_min) << 16;
}

@inline function hi_q32(pd_q16: i64, out_max: i32): i64 {
  let hi = <i64>out_max - pd_q16;
  return (hi > <i64>out_max ? hi : <i64>out_max) << 16;
}

export function integ_clamp(i_q32: i64, pd_q16: i64, out_min: i32, out_max: i32): i64 {
  let lo = lo_q32(pd_q16, out_min);
  let hi = hi_q32(pd_q16, out_max);
  return i_q32 < lo ? lo : i_q32 > hi ? hi : i_q32;
}

// One integration step. v: the unlimited controller output (P + I + D).
// Sets integ_held when integration was held or clamped.
export function integ_step(i_q32: i64, e: i32, ki_dt_q32: i64, v: i64, pd_q16: i64, out_min: i32, out_max: i32): i64 {
  let inc = (<i64>clamp_i32(e, -(1 << 30), 1 << 30) * ki_dt_q32) >> 16;
  let held = (v >= <i64>out_max && inc > 0) || (v <= <i64>out_min && inc < 0);
  let next = held ? i_q32 : i_q32 + inc;
  let clamped = integ_clamp(next, pd_q16, out_min, out_max);
  integ_held = (held || clamped != next) && ki_dt_q32 != 0;
  return clamped;
}
