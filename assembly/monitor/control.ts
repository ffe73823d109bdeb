// Control stage: persistent tracking error, integrator held at a limit,
// sustained oscillation (error swings past +-OSC_AMP, each swing within
// OSC_WINDOW ticks of the previous one), or a growing one: a swing's
// half-cycle peaking at more than twice the one before, both past OSC_AMP.
// A stable loop's swings shrink (ringing after a step); only an unstable
// one's grow, within a few swings (a single sensor's delay past the loop's
// margin: about three times per half-cycle on the motor), long before the
// count of sustained swings. A setpoint step past OSC_AMP starts the count
// afresh (its step is no swing of the loop's own).

import { p, P_TRACK_THR, P_OSC_AMP, P_OSC_CROSSINGS, P_OSC_WINDOW } from "../params";
import { abs_q16, sub_q16 } from "../fixed";

export let tracking = false;
export let oscillating = false;
let osc_sign: i32 = 0;
let osc_count: i32 = 0;
let osc_age: i32 = 0;
let osc_peak: i32 = 0;       // |error| peak of the half-cycle in progress
let osc_last_peak: i32 = 0;  // ... of the half-cycle before it
let sp_last: i32 = 0;        // the setpoint on the last tick (a step restarts the count)

export function control_monitors_reset(): void {
  tracking = false; oscillating = false; osc_sign = 0; osc_count = 0; osc_age = 0; osc_peak = 0; osc_last_peak = 0; sp_last = 0;
}

// e: the error; sp: the setpoint it is taken from.
export function control_monitors_step(e: i32, sp: i32): void {
  let thr = p(P_TRACK_THR);
  tracking = thr > 0 && abs_q16(e) > thr;
  let amp = p(P_OSC_AMP);
  if (amp == 0) { oscillating = false; return; }
  if (osc_age < i32.MAX_VALUE) osc_age++;
  let swing = (e > amp && osc_sign <= 0) || (e < -amp && osc_sign >= 0);
  // A ramp's small steps do not restart it: an instability during a ramp is still seen.
  if (abs_q16(sub_q16(sp, sp_last)) > amp) osc_sign = 0;
  sp_last = sp;
  if (swing) {
    osc_count = osc_age <= p(P_OSC_WINDOW) && osc_sign != 0 ? osc_count + 1 : 1;
    // The half-cycle just completed against the one before, both swings:
    // grown to twice, it counts as the sustained oscillation at once.
    if (osc_count >= 3 && (osc_peak >> 1) > osc_last_peak) osc_count = p(P_OSC_CROSSINGS);
    osc_last_peak = osc_peak;
    osc_peak = 0;
    osc_sign = e > 0 ? 1 : -1;
    osc_age = 0;
  }
  let mag = abs_q16(e);
  if (mag > osc_peak) osc_peak = mag;
  oscillating = osc_count >= p(P_OSC_CROSSINGS) && osc_age <= p(P_OSC_WINDOW);
}

export function oscillation_near(): bool {
  return osc_count >= 2 && osc_age <= p(P_OSC_WINDOW);
}
