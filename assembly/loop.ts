// One tick of the loop, stage by stage:
//   timing -> estimation (predict) -> sensing -> estimation (correct, detect)
//   -> control and actuation checks -> integrity -> monitors (debounce,
//   first-out) -> guard (causes, envelope, reaction, trip) -> controller for
//   the mode (bumpless) -> slew limit -> next sampling interval.

import * as S from "./state";
import { p, P_MEDIAN3, P_OUT_MIN, P_OUT_MAX, P_KP, P_FB_KP, P_FB_SETPOINT, P_SETTLE_BAND, P_SETTLE_TICKS,
  P_ENV_MIN, P_ENV_MAX, P_SP_MARGIN } from "./params";
import { sat, abs_q16, sub_q16, clamp_i32 } from "./fixed";
import { levels_n, slew_step } from "./levels";
import * as ids from "./monitor/ids";
import { pending_any, sensor_check_active, debounce_set_tick } from "./monitor/debounce";
import { timing_step, timing_level, clock_bad, overrun, missed, sp_stale } from "./monitor/timing";
import { control_monitors_step, tracking, oscillating, oscillation_near } from "./monitor/control";
import { actuation_step, saturated, mismatch, disagreeing } from "./monitor/actuation";
import { condition_step, sensors_n, voted_out, filtered_out, trusted_mask, noisy_kept, readings_repeat } from "./condition";
import { model_push_command, model_amend_last, model_predict, model_prime, model_primed, model_reanchor, model_update, model_estimate, cusum_alarm, ewma_alarm,
  cusum_near, ewma_near, early_warning, cusum_pos_q16, cusum_neg_q16 } from "./model";
import { pid_step, pid_track, integ_held, pid_integrity_ok } from "./control/pid";
import { fallback_step, fallback_track, safe_output } from "./control/fallback";
import { supervisor_step, active_mask } from "./supervisor";
import { react_step, best_estimate, trip_out, pin_dir, distrust, comp_on, comp_capture, bias_q16, closed_hold, hold_map, hold_want,
  hold_ticks, set_hold_want, centre_command, feedback_thr, load_settled } from "./guard/react";
import { integrity_step } from "./integrity";
import { count, event_log, C_TICKS, C_SUBSTITUTED_TICKS, EV_SENSOR_OUT, EV_SENSOR_IN } from "./events";
import { invariant_bad, invariant_clear, invariant_failed, INV_OUTPUT, INV_MODE, INV_LEVEL } from "./invariant";

let settle_count: i32 = 0;

export function loop_reset(): void {
  settle_count = 0;
  invariant_clear();
  primary_was = true;
}

@inline function bit(cond: bool, m: i32): i32 {
  return cond ? 1 << m : 0;
}

export function tick(now: i64, s0: i32, s1: i32, s2: i32, fb: i32): i32 {
  let first = !S.started;
  let prev_us = S.last_us;
  debounce_set_tick(S.tick_n);
  let dt = timing_step(now, S.last_us, S.started, S.level_next, S.setpoint_us);
  let level = timing_level(dt);
  S.set_time(now, now, level);  // a clock that stepped back resyncs here

  // Estimation, predict: the model's view of this sample, used to arbitrate
  // between two disagreeing sensors and to stand in when none is trusted.
  // The model follows what the actuator delivered when its feedback
  // disagrees with the command (by half of mismatch_thr: a pump that
  // lost effect, a welded relay); when they agree, the command (the
  // feedback's noise stays out of the model). Not behind the trip: there the
  // plant's own trip physics rule (a vessel isolated, inflow and draw
  // stopped), which safe_output stands for.
  if (!first && fb != S.SAMPLE_NONE && !trip_out && abs_q16(sub_q16(fb, S.output_q16)) > (feedback_thr() >> 1)) model_amend_last(fb);
  let pred = model_predict(first ? now : prev_us, now, S.output_q16, level);
  let trusted_before = trusted_mask;
  let trusted = condition_step(s0, s1, s2, level, model_primed() ? pred : S.meas_q16);
  if (trusted_mask != trusted_before && !first) log_vote_change(trusted_before, trusted_mask);
  let voted = voted_out();
  // The last sensor left the vote: the model goes on from the last voted
  // value (what the process was), not from an estimate a load may have
  // pulled aside.
  if (trusted == 0 && trusted_before != 0 && !first) model_reanchor(S.voted_q16);
  if (!model_primed() && trusted > 0) { model_prime(voted); pred = voted; }
  else if (trusted_mask != trusted_before && trusted > 0 && !first) { model_reanchor(voted); pred = voted; }
  if (trusted == 0) count(C_SUBSTITUTED_TICKS);
  // While the sensors are blamed the model runs open loop; its residual
  // still feeds the detectors, which clear when the sensors agree again.
  // A compensated bias is taken off the reading the model is corrected with.
  let y_model = comp_on && comp_capture == 0 ? sat(<i64>voted - <i64>bias_q16) : voted;
  let r = model_update(pred, y_model, trusted > 0, p(P_MEDIAN3) != 0, level, !distrust && comp_capture == 0, !disagreeing,
    readings_repeat(), load_settled);
  let y = filtered_out();
  S.set_estimate(model_estimate(), r);

  let raw = monitor_conditions(first, fb, best_estimate(y, trusted, noisy_kept), trusted);
  let stat = cusum_pos_q16 > cusum_neg_q16 ? cusum_pos_q16 : cusum_neg_q16;
  let prev_mode = S.mode;
  let active = supervisor_step(S.tick_n, raw, prev_mode, stat);
  let mode = react_step(S.tick_n, active, trusted, sensors_n, noisy_kept, prev_mode, fb, y, S.output_q16, level);
  S.set_mode(mode);
  // The controller sees the best estimate as the guard decided it this tick.
  let y_ctl = best_estimate(y, trusted, noisy_kept);
  S.set_measurement(voted, y_ctl, trusted);

  let u = command_for(mode, prev_mode, first, fb, y_ctl, level);
  S.set_output(u);
  model_push_command(now, hold_map(u));
  propose_interval(mode, S.error_q16);
  check_invariants(u, mode);
  count(C_TICKS);
  S.tick_done();
  return u;
}

// The setpoint the primary controller follows: the host's (the last good one
// when it is stale), kept SP_MARGIN inside the envelope while the model
// estimate stands in for the sensors.
function setpoint_for(trusted: i32): i32 {
  let sp = S.setpoint_q16;
  if (!distrust && !comp_on && trusted > 0) return sp;
  let margin = p(P_SP_MARGIN);
  let lo = sat(<i64>p(P_ENV_MIN) + <i64>margin);
  let hi = sat(<i64>p(P_ENV_MAX) - <i64>margin);
  return lo < hi ? clamp_i32(sp, lo, hi) : sp;
}

// The control, actuation and integrity checks, as this tick's raw conditions.
function monitor_conditions(first: bool, fb: i32, y: i32, trusted: i32): i32 {
  // Control and actuation checks see the controller that is in charge.
  let in_fallback = S.mode == S.MODE_FALLBACK && pin_dir == 0;
  let sp = in_fallback ? p(P_FB_SETPOINT) : setpoint_for(trusted);
  let e = sub_q16(sp, y);
  S.set_error(e);
  // The control-stage checks watch the primary controller; the fallback's
  // slow approach to its safe setpoint is not a tracking fault.
  control_monitors_step(S.mode >= S.MODE_FALLBACK ? 0 : e, sp);
  let direct = (in_fallback ? p(P_FB_KP) : p(P_KP)) >= 0;
  actuation_step(S.output_q16, fb, e, !first, direct, trip_out || pin_dir != 0 || closed_hold);
  let integrity_bad = integrity_step() || !pid_integrity_ok() || invariant_bad;
  return bit(integrity_bad, ids.M_CORE_INTEGRITY) | bit(clock_bad, ids.M_TIM_CLOCK)
    | bit(overrun, ids.M_TIM_OVERRUN) | bit(missed, ids.M_TIM_MISSED) | bit(sp_stale, ids.M_TIM_SP_STALE)
    | bit(trusted == 0, ids.M_SENS_LOST) | bit(cusum_alarm(), ids.M_EST_CUSUM) | bit(ewma_alarm(), ids.M_EST_EWMA)
    | bit(tracking, ids.M_CTL_TRACKING) | bit(integ_held && S.mode < S.MODE_FALLBACK, ids.M_CTL_INTEG_SAT)
    | bit(oscillating, ids.M_CTL_OSCILLATION) | bit(saturated, ids.M_ACT_SATURATION)
    | bit(mismatch, ids.M_ACT_MISMATCH) | bit(early_warning(), ids.M_EW_CSD);
}

// A sensor that leaves or rejoins the vote, with the check that removed it.
function log_vote_change(before: i32, after: i32): void {
  for (let i = 0; i < 3; i++) {
    let bit = 1 << i;
    if ((before & bit) != 0 && (after & bit) == 0) {
      let why = sensor_check_active(i);
      event_log(S.tick_n, EV_SENSOR_OUT, ids.STAGE_SENSING, why, i);
    } else if ((before & bit) == 0 && (after & bit) != 0) {
      event_log(S.tick_n, EV_SENSOR_IN, ids.STAGE_SENSING, ids.M_SENS_STALE, i);
    }
  }
}

// The controller for the mode, with bumpless transfer and the slew limit.
// Tripped: the safe output (the actuator is de-energized anyway). Held by
// the envelope: the limit in the safe direction, at once (the slew limit
// protects the actuator in normal operation, not the process at its limit).
function command_for(mode: i32, prev_mode: i32, first: bool, fb: i32, y: i32, level: i32): i32 {
  let out_min = p(P_OUT_MIN);
  let out_max = p(P_OUT_MAX);
  // Where the actuator is now: the last command, or on the first tick its
  // feedback if it has any, else the safe output.
  let prev = first ? clamp_i32(fb != S.SAMPLE_NONE ? fb : safe_output(), out_min, out_max) : S.output_q16;
  if (trip_out) { primary_was = false; return clamp_i32(safe_output(), out_min, out_max); }
  if (pin_dir != 0) { primary_was = false; return pin_dir > 0 ? out_max : out_min; }
  if (closed_hold) {
    // The stop's hold closed on the feedback (guard/react.ts): the fallback
    // from what the actuator delivers now, through the verified mapping.
    // Open loop (no sensor believed): the command that settles the process
    // mid-envelope under the load the model knows of, approached at the slew
    // rate from where the actuator is.
    let open = distrust || S.trusted_n == 0;
    if (hold_ticks == 0 || open) fallback_track(hold_want, y);
    primary_was = false;
    let want = open ? slewed(hold_want, centre_command(), level) : fallback_step(y, level);
    set_hold_want(want);
    return clamp_i32(hold_map(want), out_min, out_max);
  }
  let u: i32;
  if (mode == S.MODE_FALLBACK) {
    if (primary_was || first) fallback_track(prev, y);
    u = fallback_step(y, level);
    primary_was = false;
  } else {
    let sp = setpoint_for(S.trusted_n);
    if (!primary_was || first) pid_track(prev, sp, y);
    u = pid_step(sp, y, level);
    primary_was = true;
  }
  return clamp_i32(slewed(prev, u, level), out_min, out_max);
}
let primary_was = true;   // the primary controller made the last command (bumpless transfer)

// u toward target by at most the slew step.
function slewed(u: i32, target: i32, level: i32): i32 {
  let step = slew_step(level);
  return step > 0 ? clamp_i32(target, sat(<i64>u - <i64>step), sat(<i64>u + <i64>step)) : target;
}


// The tick's own invariants (invariant.ts: a bug; the debug build traps).
function check_invariants(u: i32, mode: i32): void {
  if (u < p(P_OUT_MIN) || u > p(P_OUT_MAX)) invariant_failed(INV_OUTPUT, u);
  if (<u32>mode > <u32>S.MODE_SAFE_STOP) invariant_failed(INV_MODE, mode);
  if (<u32>S.level_next >= <u32>levels_n) invariant_failed(INV_LEVEL, S.level_next);
}

// Action-to-sensing: slow down one level after SETTLE_TICKS settled ticks;
// back to the fastest interval at once when disturbed or near a trip.
function propose_interval(mode: i32, e: i32): void {
  let band = p(P_SETTLE_BAND);
  let settled = mode == S.MODE_NOMINAL && band > 0 && abs_q16(e) < band && active_mask == 0
    && !pending_any() && !cusum_near() && !ewma_near() && !oscillation_near();
  if (!settled) {
    settle_count = 0;
    S.set_level_next(0);
    return;
  }
  settle_count++;
  if (settle_count >= p(P_SETTLE_TICKS) && S.level_next < levels_n - 1) {
    settle_count = 0;
    S.set_level_next(S.level_next + 1);
  }
}

