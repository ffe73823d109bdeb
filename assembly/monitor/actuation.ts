// Actuation stage:
//   saturation: the command sits on a limit while the error asks for more
//     and the loop is not making progress, that is |error| has not shrunk by
//     an eighth since the saturation began or last made progress. A loop
//     that is saturated but converging (a heater off while the chamber cools
//     to a lower setpoint) is healthy.
//   mismatch: the command versus the actuator's fed-back position (when the
//     binding provides feedback).
//   class: what kind of actuator fault a mismatch is, from command and
//     feedback (act_class()):
//       REVERSED  the feedback moves against the command: a vote over the
//                 ticks where both moved (by more than 1/64 of the mismatch
//                 threshold), +1 when they moved apart, -1 together, held in
//                 0..16, reaches 8 (a single step of the feedback, as when a
//                 cap engages, is one vote, not a verdict);
//       WEAK      the feedback lies between the actuator's zero (out_min)
//                 and the command: less effect in the right direction
//                 (lost effectiveness, a cap), which integral action makes up;
//       STUCK     anything else: it does not follow, or gives more than asked.

import { p, P_OUT_MIN, P_OUT_MAX, P_MISMATCH_THR } from "../params";
import { abs_q16, sub_q16 } from "../fixed";
import { SAMPLE_NONE } from "../state";

export const ACT_CLASS_NONE: i32 = 0;
export const ACT_CLASS_WEAK: i32 = 1;
export const ACT_CLASS_STUCK: i32 = 2;
export const ACT_CLASS_REVERSED: i32 = 3;

export let saturated = false;
export let mismatch = false;
// Command and feedback apart by more than an eighth of the threshold: too
// little to trip, enough to point an estimation alarm at the actuator.
export let disagreeing = false;
let progress_ref_q16: i32 = -1;   // |error| at the last point of progress; -1: not saturated
let u_last_q16: i32 = 0;          // the previous tick's command and feedback, for their changes
let fb_last_q16: i32 = 0;
let have_last = false;
let against: i32 = 0;             // the vote, 0..VOTE_MAX
const VOTE_MAX: i32 = 16;
const VOTE_REVERSED: i32 = 8;
let klass: i32 = ACT_CLASS_NONE;  // the class of the last mismatch seen

export function actuation_reset(): void {
  saturated = false; mismatch = false; disagreeing = false; progress_ref_q16 = -1;
  u_last_q16 = 0; fb_last_q16 = 0; have_last = false; against = 0; klass = ACT_CLASS_NONE;
}

// u_prev: the command applied on the previous tick, which the feedback reflects.
// e: the active controller's error; direct: whether more command raises the measurement.
// tripped: the trip output is de-energized, so the actuator is off on purpose
// and command and feedback are not compared.
export function actuation_step(u_prev: i32, fb: i32, e: i32, started: bool, direct: bool, tripped: bool): void {
  let pushes_up = direct ? e > 0 : e < 0;
  let pushes_down = direct ? e < 0 : e > 0;
  let at_limit = started && !tripped && ((u_prev <= p(P_OUT_MIN) && pushes_down) || (u_prev >= p(P_OUT_MAX) && pushes_up));
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
  let has_fb = fb != SAMPLE_NONE && !tripped;
  let gap = has_fb ? abs_q16(sub_q16(u_prev, fb)) : 0;
  mismatch = started && thr > 0 && gap > thr;
  // Held while the feedback is not compared (tripped, or the command pinned):
  // what it last said of the actuator stands.
  if (has_fb || !started) disagreeing = started && thr > 0 && gap > (thr >> 3);
  if (!has_fb) { have_last = false; return; }
  correlate(u_prev, fb, thr);
  if (mismatch) klass = classify(u_prev, fb, thr);
}

// The vote on whether the feedback moves against the command.
function correlate(u: i32, fb: i32, thr: i32): void {
  if (have_last) {
    let eps = thr >> 6;
    let du = sub_q16(u, u_last_q16);
    let df = sub_q16(fb, fb_last_q16);
    if ((du > eps || du < -eps) && (df > eps || df < -eps)) {
      let apart = (du > 0) != (df > 0);
      against = apart ? min<i32>(against + 1, VOTE_MAX) : max<i32>(against - 1, 0);
    }
  }
  u_last_q16 = u;
  fb_last_q16 = fb;
  have_last = true;
}

function classify(u: i32, fb: i32, thr: i32): i32 {
  if (against >= VOTE_REVERSED) return ACT_CLASS_REVERSED;
  let zero = p(P_OUT_MIN);
  let asked = <i64>u - <i64>zero;
  let got = <i64>fb - <i64>zero;
  let weaker = asked >= 0 ? got >= -(<i64>thr >> 1) && got <= asked : got <= (<i64>thr >> 1) && got >= asked;
  return weaker ? ACT_CLASS_WEAK : ACT_CLASS_STUCK;
}

// The class of the actuator fault behind the current (or last) mismatch.
export function act_class(): i32 {
  return klass;
}

export function act_class_clear(): void {
  klass = ACT_CLASS_NONE;
}
