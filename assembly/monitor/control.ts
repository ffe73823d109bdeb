// Control stage: persistent tracking error, integrator held at a limit,
// sustained oscillation (error swings past +-OSC_AMP, each swing within
// OSC_WINDOW ticks of the previous one).

import { p, P_TRACK_THR, P_OSC_AMP, P_OSC_CROSSINGS, P_OSC_WINDOW } from "../params";
import { abs_q16 } from "../fixed";

export let tracking = false;
export let oscillating = false;
let osc_sign: i32 = 0;
let osc_count: i32 = 0;
let osc_age: i32 = 0;

export function control_monitors_reset(): void {
  tracking = false; oscillating = false; osc_sign = 0; osc_count = 0; osc_age = 0;
}

export function control_monitors_step(e: i32): void {
  let thr = p(P_TRACK_THR);
  tracking = thr > 0 && abs_q16(e) > thr;
  let amp = p(P_OSC_AMP);
  if (amp == 0) { oscillating = false; return; }
  if (osc_age < i32.MAX_VALUE) osc_age++;
  let swing = (e > amp && osc_sign <= 0) || (e < -amp && osc_sign >= 0);
  if (swing) {
    osc_count = osc_age <= p(P_OSC_WINDOW) && osc_sign != 0 ? osc_count + 1 : 1;
    osc_sign = e > 0 ? 1 : -1;
    osc_age = 0;
  }
  oscillating = osc_count >= p(P_OSC_CROSSINGS) && osc_age <= p(P_OSC_WINDOW);
}

export function oscillation_near(): bool {
  return osc_count >= 2 && osc_age <= p(P_OSC_WINDOW);
}
