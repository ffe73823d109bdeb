// Primary controller: PID, ISA form with derivative on measurement.
//
//   P = Kp (b r - y)                          setpoint weighting b
//   I = I + Kp dt/Ti (r - y)                  conditional integration (anti-windup)
//   D = a D - c (y - y_prev)                  a = Tf/(Tf+dt), c = Kp Td/(Tf+dt)
//   v = P + I + D, u = clamp(v, out_min, out_max)
//
// The integrator is held in Q32.32 (i64) so that small Ki*dt increments are
// not lost to rounding; anti-windup and its clamp are in integrator.ts. The slew limit applies to the final command, after mode selection, in
// the loop (so every controller and every switch obeys it).

import { p, P_KP, P_TI, P_TD, P_SP_WEIGHT, P_OUT_MIN, P_OUT_MAX } from "../params";
import { sat, mul_q16, sub_q16, clamp_i32, mul_q32_q32, q32_to_q16 } from "../fixed";
import { ki_dt, d_a, d_b } from "../levels";
import { integ_step, integ_clamp } from "./integrator";
export { integ_held } from "./integrator";

const D_Q32_MAX: i64 = 0x7FFFFFFFFFFF;  // the Q16.16 range, in Q32
let integ_q32: i64 = 0;       // integral term, Q32.32
let integ_shadow: i64 = -1;   // bitwise complement of integ_q32 (soft-error check)
let deriv_q32: i64 = 0;       // filtered derivative term, Q32 (no stall; see fixed.ts)
let y_prev_q16: i32 = 0;
let primed = false;
// Halvings of the gain after the loop rang (guard/react.ts): Kp / 2^d, Ki / 4^d.
export let pid_detune: i32 = 0;

export function pid_reset(): void {
  pid_detune = 0;
  integ_q32 = 0; integ_shadow = ~integ_q32;
  deriv_q32 = 0; y_prev_q16 = 0; primed = false;
}

@inline function set_integ(v: i64): void {
  integ_q32 = v;
  integ_shadow = ~v;
}

export function pid_integrity_ok(): bool {
  return integ_shadow == ~integ_q32;
}

export function pid_integral_q16(): i32 {
  return sat((integ_q32 + (1 << 15)) >> 16);
}

// One step. Returns the (limited, not yet slew-limited) command.
export function pid_step(r: i32, y: i32, level: i32): i32 {
  if (!primed) { y_prev_q16 = y; primed = true; }
  let out_min = p(P_OUT_MIN);
  let out_max = p(P_OUT_MAX);
  let prop = prop_of(r, y);
  let dy = sub_q16(y, y_prev_q16);
  y_prev_q16 = y;
  // D = a D - c dy, in Q32: c (Q16) * dy (Q16) is exactly Q32.
  let d = mul_q32_q32(deriv_q32, d_a(level)) - <i64>d_b(level) * <i64>dy;
  deriv_q32 = d > D_Q32_MAX ? D_Q32_MAX : d < -D_Q32_MAX ? -D_Q32_MAX : d;
  let pd = <i64>prop + <i64>q32_to_q16(deriv_q32);
  let v = pd + <i64>pid_integral_q16();
  let u = clamp_i32(sat(v), out_min, out_max);
  let ki = p(P_TI) > 0 ? ki_dt(level) >> (pid_detune << 1) : 0;
  set_integ(integ_step(integ_q32, sub_q16(r, y), ki, v, pd, out_min, out_max));
  return u;
}

// Bumpless transfer into the primary: choose the integrator so that the
// controller's output right now equals the command already applied.
function prop_of(r: i32, y: i32): i32 {
  return mul_q16(p(P_KP), sub_q16(mul_q16(p(P_SP_WEIGHT), r), y)) >> pid_detune;
}

export function pid_track(u_applied: i32, r: i32, y: i32): void {
  let prop = prop_of(r, y);
  deriv_q32 = 0;
  y_prev_q16 = y;
  primed = true;
  set_integ(integ_clamp((<i64>u_applied - <i64>prop) << 16, <i64>prop, p(P_OUT_MIN), p(P_OUT_MAX)));
}

export function pid_td_on(): bool { return p(P_TD) > 0; }
