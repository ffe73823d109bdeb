// The guard's decision: from what failed (the causes) to what the loop does.
//
// Every tick the alarms that are active, the state of the sensors and of the
// actuator, the envelope's look ahead and the host's demand are turned into
// a set of causes (monitor/ids.ts), each with its reaction from the reaction
// table (configuration, one named cell per cause). The most severe reaction
// sets the mode:
//
//   WARN -> NOMINAL   DEGRADE -> DEGRADED   FALLBACK -> FALLBACK   SAFE_STOP -> SAFE_STOP
//
// SAFE_STOP is the trip output de-energized (trip() reads 1), checked from
// the actuator's feedback; never an open-loop command through an actuator
// known to be faulty. The envelope cause holds the command in the safe
// direction (ENV_HI_DIR / ENV_LO_DIR); it escalates to the trip when the
// state is already outside, when no command direction helps, when the
// actuator is not to be trusted, when holding the command did not turn
// the state within the horizon, or when an actuator that does not deliver
// what it is asked would let the state cross the limit, at its present
// rate, before a hold could be seen to work.
//
// The way back: every mode but a latched trip returns by itself once its
// cause clears. Down from FALLBACK or SAFE_STOP only after HANDBACK_TICKS
// well inside the envelope, bumpless, at most 1 + HANDBACK_RETRIES times per
// episode (then the fallback holds until reset()). A trip latches only for
// the causes a person must inspect (CAUSES_LATCHING), or when the actuator
// did not obey the envelope's hold; reset() releases a latch only when its
// condition is false.

import { p, param_meta, P_GUARD, P_RESID_SIGMA, P_ENV_HI_DIR, P_ENV_LO_DIR, P_HANDBACK_TICKS, P_HANDBACK_RETRIES, P_TRIP_FB, P_MISMATCH_THR,
  P_OUT_MIN, P_OUT_MAX, P_TRIP_DIR, P_SAFE_OUTPUT, P_ENV_MIN, P_ENV_MAX, P_MODEL_GAIN, P_MODEL_TAU, P_PERIOD_MIN_US,
  REACT_BASE, MON_BASE, MF_ACTION } from "../params";
import { abs_q16, sub_q16, sat, q16_to_f64 } from "../fixed";
import * as ids from "../monitor/ids";
import { mismatch, disagreeing, act_class, act_class_clear, ACT_CLASS_WEAK, ACT_CLASS_STUCK, ACT_CLASS_REVERSED } from "../monitor/actuation";
import { isolated_stage, isolated_noisy, isolated_frozen, residual_jumped, model_restart, isolation_final, model_reanchor, model_target, ISOLATE_TICKS } from "../model";
import { integrity_failed, integrity_repaired_now } from "../integrity";
import { pid_detune } from "../control/pid";
import { consequential_mask } from "../monitor/cascade";
import { env_side, env_outside, env_clear, env_unsure, heading, verify_ticks, hold_verify_ticks, crosses_before_verified,
  envelope_step } from "./envelope";
import { model_estimate } from "../model";
import { plausible_out } from "../condition";
import { invariant_failed, INV_SUPERVISOR } from "../invariant";
import { MODE_NOMINAL, MODE_SAFE_STOP, SAMPLE_NONE } from "../state";
import { event_log, count, C_MODE_CHANGES, C_TRIPS_OUT, C_HANDBACKS, EV_MODE, EV_TRIP_OUT, EV_TRIP_FAILED, EV_HANDBACK,
  EV_DEMAND, EV_STAGE_NONE, REASON_CLEARED, REASON_RESET, REASON_CAUSE_BASE } from "../events";

export const DEMAND_NONE: i32 = 0;
export const DEMAND_FALLBACK: i32 = 1;
export const DEMAND_TRIP: i32 = 2;

export let causes: i32 = 0;          // bit per cause, this tick
export let trip_out: bool = false;   // the trip output de-energized
export let pin_dir: i32 = 0;         // the envelope holds the command: -1 at out_min, +1 at out_max, 0 not held
export let distrust: bool = false;   // the sensors are blamed: the model estimate stands in, open loop
// The estimation alarm is settled on a load the primary controller rejects
// (the actuator delivers, the sensors are not blamed): the observer may
// then learn from the whole residual (model.ts), not only its robust part.
export let load_settled: bool = false;
// A reading that stepped away from the process (a bias, common to every
// sensor left in the vote): the step is measured over COMP_CAPTURE_TICKS
// with the model open loop, then subtracted from the reading, which the
// controller and the envelope use (its changes are still the process's, so
// even an integrating plant stays observed), until the raw reading agrees
// with the estimate again (nearer it than the bias) for COMP_AGREE_TICKS:
// the bias went away.
export let comp_on: bool = false;
export let comp_capture: i32 = 0;
export let bias_q16: i32 = 0;
let comp_agree: i32 = 0;
export const COMP_CAPTURE_TICKS: i32 = 8;
export const COMP_AGREE_TICKS: i32 = 2;
export let noisy: bool = false;      // a kept sensor is noisy: heavier filtering
export let trip_failed: bool = false;// tripped, and the feedback does not show it
export let held: bool = false;       // hand-backs used up: the fallback holds until reset()
let latched: i32 = 0;                // causes whose trip holds until reset()
let demand_kind: i32 = DEMAND_NONE;
let pin_ticks: i32 = 0;
let calm_ticks: i32 = 0;
let handbacks: i32 = 0;
let rang = false;                    // the primary controller rang in this episode
let nominal_ticks: i32 = 0;
let tripped_ticks: i32 = 0;
let reset_pending = false;
let est_was = false;                 // an estimation alarm was active on the previous tick
let est_settled = false;
let est_settle_at: i64 = 0;
let est_stage: i32 = -1;
let est_scatter = false;             // this estimation alarm's step scattered: spikes, not a step

// The stage each cause is named at (events).
const CAUSE_STAGE = memory.data<u8>([0, 0, 1, 1, 2, 2, 2, 5, 5, 5, 3, 4, 4, 7, 255, 6]);

export function react_reset(): void {
  causes = 0; trip_out = false; pin_dir = 0; distrust = false; noisy = false; trip_failed = false; held = false;
  closed_hold = false; hold_sign = 1; hold_failures = 0; hold_ticks = 0; hold_want = 0;
  comp_on = false; comp_capture = 0; bias_q16 = 0; comp_agree = 0; comp_age = 0;
  latched = 0; demand_kind = DEMAND_NONE; pin_ticks = 0; calm_ticks = 0; handbacks = 0; nominal_ticks = 0; rang = false;
  tripped_ticks = 0; reset_pending = false; load_settled = false; est_was = false; est_settled = false; est_settle_at = 0; est_stage = -1;
}

@inline function bit(c: i32): i32 { return 1 << c; }
// Checked at use: a value outside the action enum can only be a soft error
// in the table (the setter checks the range), which the scrub is about to
// repair; until then the cell reads as its default, so that the flip makes
// no mode outside the enum and no stop of its own.
function reaction(c: i32): i32 {
  let v = p(REACT_BASE + c);
  return <u32>v <= <u32>ids.ACT_SAFE_STOP ? v : param_meta(REACT_BASE + c, 2);
}
@inline function mbit(m: i32): i32 { return 1 << m; }

// Monitors at alarm level feed the causes, except the control-stage ones
// that are consequential in the open episode: a tracking error or a ringing
// loop downstream of a bad reading is that reading's symptom, not a reason
// to take the primary controller away.
const CONTROL_STAGE: i32 = (1 << ids.M_CTL_TRACKING) | (1 << ids.M_CTL_INTEG_SAT) | (1 << ids.M_CTL_OSCILLATION);
function alarm_monitors(active: i32): i32 {
  active &= ~(consequential_mask & CONTROL_STAGE);
  let on = active;
  let alarms = 0;
  while (on != 0) {
    let m = ctz(on);
    on &= on - 1;
    if (p(MON_BASE + m * 4 + MF_ACTION) >= ids.LEVEL_ALARM) alarms |= mbit(m);
  }
  return alarms;
}

const TIMING_BITS: i32 = (1 << ids.M_TIM_CLOCK) | (1 << ids.M_TIM_OVERRUN) | (1 << ids.M_TIM_MISSED);
const EST_BITS: i32 = (1 << ids.M_EST_CUSUM) | (1 << ids.M_EST_EWMA);
const CONTROL_BITS: i32 = (1 << ids.M_CTL_TRACKING) | (1 << ids.M_CTL_INTEG_SAT);

function causes_of(a: i32, trusted: i32, n: i32, noisy_kept: bool): i32 {
  let c = 0;
  if ((a & mbit(ids.M_CORE_INTEGRITY)) != 0) c |= bit(integrity_failed() ? ids.CAUSE_SOFT_FAILED : ids.CAUSE_SOFT_REPAIRED);
  if ((a & TIMING_BITS) != 0) c |= bit(ids.CAUSE_TIMING);
  if ((a & mbit(ids.M_TIM_SP_STALE)) != 0) c |= bit(ids.CAUSE_SETPOINT);
  if (noisy_kept) c |= bit(ids.CAUSE_SENSOR_NOISY);
  if (trusted > 0 && trusted < n) c |= bit(ids.CAUSE_SENSOR_VOTED_OUT);
  if (trusted == 0 || (a & mbit(ids.M_SENS_LOST)) != 0) c |= bit(ids.CAUSE_SENSOR_UNTRUSTED);
  if ((a & mbit(ids.M_ACT_MISMATCH)) != 0) c |= actuator_cause();
  if ((a & mbit(ids.M_ACT_SATURATION)) != 0) c |= bit(ids.CAUSE_ACT_WEAK);
  if ((a & CONTROL_BITS) != 0) c |= bit(ids.CAUSE_CONTROL);
  if ((a & mbit(ids.M_CTL_OSCILLATION)) != 0) c |= bit(ids.CAUSE_OSCILLATION);
  if ((a & mbit(ids.M_EW_CSD)) != 0) c |= bit(ids.CAUSE_EARLY_WARNING);
  return c;
}

function actuator_cause(): i32 {
  let k = act_class();
  return k == ACT_CLASS_REVERSED ? bit(ids.CAUSE_ACT_REVERSED) : k == ACT_CLASS_STUCK ? bit(ids.CAUSE_ACT_STUCK)
    : k == ACT_CLASS_WEAK ? bit(ids.CAUSE_ACT_WEAK) : 0;
}

// An estimation alarm points where its residual points (model.ts): at the
// sensors (a step or a freeze: the model stands in; noise: heavier
// filtering), or through the plant: the actuator when its feedback
// disagrees with its command, otherwise a load the primary controller
// rejects. The stage is provisional for ISOLATE_TICKS, then settled.
function estimation_cause(tick: i64, on: bool, timing_ok: bool): i32 {
  let was_load = load_settled;
  load_settled = false;
  if (!on) { est_was = false; distrust = false; est_stage = -1; est_scatter = false; return 0; }
  // A load's alarm still on (its observer still learning) when the residual
  // jumps by more than the plant can move in one sample, or the reading
  // freezes while the model moves: that is a new finding, a reading's step
  // or freeze, and it is isolated afresh rather than taken into the load
  // (whose estimate would learn the fault as more load).
  if (was_load && (residual_jumped() || isolated_frozen())) est_was = false;
  if (!est_was) {
    // While ticks go missing, a gap longer than the slowest interval moves
    // the plant further than one sample's bound: a jump then is no evidence
    // against the sensors.
    est_stage = timing_ok ? isolated_stage() : ids.STAGE_ACTUATION;
    est_settle_at = tick + <i64>ISOLATE_TICKS;
    est_settled = false;
  } else if (!est_settled && tick >= est_settle_at) {
    est_stage = est_stage != ids.STAGE_SENSING && disagreeing ? ids.STAGE_ACTUATION : isolation_final(est_stage);
    est_settled = true;
  }
  est_was = true;
  if (est_stage == ids.STAGE_SENSING) {
    // A residual gone noisy, or a reading that scattered while its step was
    // being measured (spikes): the readings scatter around the truth rather
    // than leave it.
    if (isolated_noisy() || est_scatter) { distrust = false; return bit(ids.CAUSE_SENSOR_NOISY); }
    // Frozen: the reading carries nothing; the model stands in, open loop.
    // A step: measure it and take it off the reading.
    distrust = isolated_frozen();
    if (!distrust && !comp_on) { comp_on = true; comp_capture = COMP_CAPTURE_TICKS; comp_agree = 0; }
    return bit(ids.CAUSE_SENSOR_UNTRUSTED);
  }
  distrust = false;
  if (!est_settled) return 0;
  if (disagreeing || mismatch) { let k = actuator_cause(); if (k != 0) return k; }
  load_settled = true;
  return bit(ids.CAUSE_LOAD);
}

// A repaired soft error: the model, its load estimate and detectors restart
// (model_restart), and what was concluded from their residual is dropped
// (a sensor blamed, a bias being compensated, a load settled).
function estimation_restart(y: i32): void {
  model_restart(y);
  comp_on = false; comp_capture = 0; bias_q16 = 0; comp_agree = 0;
  est_was = false; distrust = false; load_settled = false; est_stage = -1; est_scatter = false;
}

// The severity the causes ask for, and the cause that decides it.
let decided_by: i32 = -1;
function severity_of(c: i32): i32 {
  let sev = ids.ACT_NONE;
  decided_by = -1;
  let rest = c;
  while (rest != 0) {
    let k = ctz(rest);
    rest &= rest - 1;
    let act = k == ids.CAUSE_HOST ? (demand_kind == DEMAND_TRIP ? ids.ACT_SAFE_STOP : ids.ACT_FALLBACK) : reaction(k);
    if (act > sev) { sev = act; decided_by = k; }
  }
  return sev;
}

// The envelope's hold escalates to the trip (see the header).
function envelope_trip(c: i32): bool {
  let dir = env_side > 0 ? p(P_ENV_HI_DIR) : p(P_ENV_LO_DIR);
  let actuator_bad = (c & (bit(ids.CAUSE_ACT_STUCK) | bit(ids.CAUSE_ACT_REVERSED))) != 0;
  let hold_failed = pin_ticks >= hold_verify_ticks && heading(env_side);
  if (actuator_bad || hold_failed) latched |= bit(ids.CAUSE_ENVELOPE);
  // An actuator that is not delivering what it is asked (its feedback
  // disagrees, or it is classed weak), with the state crossing before a hold
  // could be seen to work: the hold could only fail.
  let undelivered = (disagreeing || act_class() == ACT_CLASS_WEAK) && crosses_before_verified(env_side);
  return env_outside || dir == 0 || actuator_bad || hold_failed || env_unsure || undelivered;
}

@inline function sev_of_mode(mode: i32): i32 {
  return mode == MODE_NOMINAL ? ids.ACT_WARN : mode + 1;
}

@inline function mode_of_sev(sev: i32): i32 {
  return sev <= ids.ACT_WARN ? MODE_NOMINAL : sev - 1;
}

// Down from FALLBACK or SAFE_STOP: well inside for HANDBACK_TICKS, within the retry limit.
function way_back(tick: i64, target: i32, cur: i32): i32 {
  if (target >= cur || cur < ids.ACT_FALLBACK) { calm_ticks = 0; return target; }
  if (held || !env_clear) { calm_ticks = 0; return cur; }
  calm_ticks++;
  if (calm_ticks < p(P_HANDBACK_TICKS)) return cur;
  calm_ticks = 0;
  if (handbacks > p(P_HANDBACK_RETRIES)) { held = true; return cur; }
  handbacks++;
  // The primary controller rang: it comes back with half the gain (at most
  // three times), until the episode is over.
  if (rang && pid_detune < 3) pid_detune++;
  rang = false;
  count(C_HANDBACKS);
  event_log(tick, EV_HANDBACK, ids.STAGE_ENVELOPE, REASON_CLEARED, handbacks);
  return target;
}

// The controlled variable as best known: the model estimate while the
// sensors are blamed (open loop) or none is trusted; while the ones kept are
// noisy, the reading held to what the process can physically have done
// (heavier filtering: a spike moves it by the model's reach at most);
// otherwise the measurement.
export function best_estimate(y_meas: i32, trusted: i32, noisy_now: bool): i32 {
  if (distrust || trusted == 0 || comp_capture > 0) return model_estimate();
  if (comp_on) return sat(<i64>y_meas - <i64>bias_q16);
  return noisy || noisy_now ? plausible_out() : y_meas;
}

// One decision. active: the monitors active this tick; trusted/n: sensors
// in the vote and configured; prev: the mode of the previous tick; fb: the
// actuator feedback (the trip check); y_meas: the conditioned measurement;
// u: the command being applied. Returns the mode.
export function react_step(tick: i64, active: i32, trusted: i32, n: i32, noisy_kept: bool, prev: i32, fb: i32,
  y_meas: i32, u: i32, level: i32): i32 {
  if (p(P_GUARD) == 0) { causes = 0; distrust = false; noisy = false; pin_dir = 0; trip_out = false; closed_hold = false; return MODE_NOMINAL; }
  // The estimation alarms decide first whether the sensors are believed; the
  // envelope then looks ahead from the best estimate.
  if (integrity_repaired_now()) estimation_restart(y_meas);
  let alarms = active != 0 ? alarm_monitors(active) : 0;
  let est = estimation_cause(tick, (alarms & EST_BITS) != 0, (active & TIMING_BITS) == 0);
  if (comp_on) compensation_step(y_meas, trusted);
  envelope_step(best_estimate(y_meas, trusted, noisy_kept), hold_map(u), level, distrust || trusted == 0);
  // Healthy and quiet, nearly every tick: nothing to decide.
  if (active == 0 && env_side == 0 && !env_outside && prev == MODE_NOMINAL && latched == 0 && demand_kind == 0
    && trusted == n && !noisy_kept && !trip_out && pin_dir == 0 && est == 0 && !reset_pending && !comp_on) {
    causes = 0; distrust = false; noisy = false;
    if (nominal_ticks < i32.MAX_VALUE) nominal_ticks++;
    if (handbacks != 0 && nominal_ticks >= 10 * p(P_HANDBACK_TICKS)) { handbacks = 0; pid_detune = 0; }
    return MODE_NOMINAL;
  }
  nominal_ticks = 0;
  let c = causes_of(alarms, trusted, n, noisy_kept) | est;
  if (comp_on) c |= bit(ids.CAUSE_SENSOR_UNTRUSTED);
  if ((c & bit(ids.CAUSE_OSCILLATION)) != 0) rang = true;
  if (env_side != 0 || env_outside || env_unsure) c |= bit(ids.CAUSE_ENVELOPE);
  if (demand_kind != DEMAND_NONE) c |= bit(ids.CAUSE_HOST);
  causes = c;
  noisy = (c & bit(ids.CAUSE_SENSOR_NOISY)) != 0;
  let sev = severity_of(c);
  let why = decided_by;
  if ((c & bit(ids.CAUSE_ENVELOPE)) != 0 && reaction(ids.CAUSE_ENVELOPE) == ids.ACT_FALLBACK && envelope_trip(c)) {
    sev = ids.ACT_SAFE_STOP;
    why = ids.CAUSE_ENVELOPE;
  }
  if (sev >= ids.ACT_SAFE_STOP && why >= 0 && ((ids.CAUSES_LATCHING >> why) & 1) != 0) latched |= bit(why);
  if (latched != 0 && sev < ids.ACT_SAFE_STOP) { sev = ids.ACT_SAFE_STOP; why = ctz(latched); }
  if (held && sev < ids.ACT_FALLBACK) sev = ids.ACT_FALLBACK;
  let next = mode_of_sev(way_back(tick, sev, sev_of_mode(prev)));
  hold_in_safe_direction(c, next);
  let stop = next == MODE_SAFE_STOP;
  trip_step(tick, stop && !closed_hold_step(stop, fb, hold_map(u)), why, fb);
  if (next != prev) log_mode(tick, prev, next, why);
  reset_pending = false;
  // A latch or the trip output holds the safe stop (invariant.ts).
  if ((latched != 0 || trip_out) && next != MODE_SAFE_STOP) invariant_failed(INV_SUPERVISOR, next);
  return next;
}

// The bias: measured while capturing (the model open loop), then held; the
// compensation ends once the raw reading agrees with the estimate again.
function compensation_step(y: i32, trusted: i32): void {
  if (trusted == 0) return;
  let gap = sub_q16(y, model_estimate());
  if (comp_capture > 0) { capture(gap); comp_age = 0; return; }
  // Held for long enough (two model time constants, at least 30 s): the compensation ends,
  // and is measured again if the step is still there. With the model
  // corrected by the compensated reading, a step that faded slowly (a
  // reading that lagged a moving process and caught up) never shows as a
  // reading that agrees again; the raw reading then steps against the model
  // and the estimation alarms measure it afresh, or find nothing.
  if (comp_age < i32.MAX_VALUE) comp_age++;
  // (The alarm that is on is isolated afresh on the next tick: est_was.)
  if (comp_age >= comp_hold_ticks) { comp_on = false; bias_q16 = 0; comp_agree = 0; est_was = false; return; }
  // The raw reading is nearer the estimate than the estimate plus the bias:
  // the step went away (a sensor repaired); the compensated reading would now
  // be off by the whole bias, so this must not wait long.
  comp_agree = abs_q16(gap) < (abs_q16(bias_q16) >> 1) ? comp_agree + 1 : 0;
  if (comp_agree < COMP_AGREE_TICKS) return;
  comp_on = false;
  bias_q16 = 0;
  comp_agree = 0;
  model_reanchor(y);
}

// A step holds still: over the capture (after the two samples the median of
// 3 takes to pass it) the gap stays within 8 sigma, and the
// bias is the middle of its range. A gap that scatters more is spikes, not a
// step, and one under 8 sigma is no step worth taking off: the compensation
// is dropped (the sensing checks, the noise test and the observer take it
// from there).
let gap_min: i32 = 0;
let gap_max: i32 = 0;
let comp_age: i32 = 0;                 // ticks the measured bias has been held
export let comp_hold_ticks: i32 = i32.MAX_VALUE;   // two model time constants, at least COMP_HOLD_MIN_S, in nominal periods
const COMP_HOLD_MIN_S: f64 = 30.0;                 // (a fast plant would otherwise bump its loop every fraction of a second)

export function react_derive(): void {
  let ticks = Math.max(2.0 * q16_to_f64(p(P_MODEL_TAU)), COMP_HOLD_MIN_S) * 1.0e6 / <f64>p(P_PERIOD_MIN_US);
  comp_hold_ticks = ticks >= 2.0e9 ? i32.MAX_VALUE : max<i32>(COMP_CAPTURE_TICKS, <i32>Math.ceil(ticks));
}
const CAPTURE_SETTLE_TICKS: i32 = 2;   // the median of 3 passes a step over two samples
function capture(gap: i32): void {
  let k = COMP_CAPTURE_TICKS - comp_capture;   // 0, 1, ... within the capture
  if (k == CAPTURE_SETTLE_TICKS) { gap_min = gap; gap_max = gap; }
  if (k >= CAPTURE_SETTLE_TICKS) { gap_min = min<i32>(gap_min, gap); gap_max = max<i32>(gap_max, gap); }
  comp_capture--;
  if (comp_capture > 0) return;
  let sigma8 = <i64>p(P_RESID_SIGMA) << 3;
  let mid = (<i64>gap_min + <i64>gap_max) >> 1;
  // Scattered (spikes), or too small to be a step worth taking off (a
  // transient of the model, which the observer absorbs by itself): dropped.
  if (<i64>gap_max - <i64>gap_min > sigma8 || (mid < sigma8 && mid > -sigma8)) { comp_on = false; bias_q16 = 0; est_scatter = true; return; }
  bias_q16 = <i32>mid;
}

// FALLBACK because the state heads out: the command is held in the safe direction.
function hold_in_safe_direction(c: i32, mode: i32): void {
  let hold = mode == mode_of_sev(ids.ACT_FALLBACK) && (c & bit(ids.CAUSE_ENVELOPE)) != 0 && env_side != 0;
  pin_dir = hold ? (env_side > 0 ? p(P_ENV_HI_DIR) : p(P_ENV_LO_DIR)) : 0;
  pin_ticks = pin_dir != 0 ? pin_ticks + 1 : 0;
}

// SAFE_STOP's other verified form, the hold closed on the actuator's
// feedback. A trip moves the process one way (TRIP_DIR: a heater whose
// contactor opened cools); under a load that pushes the same way it would
// take the state out over the limit on that side, which only the actuator
// can keep. There, instead of the trip, the fallback controller acts through
// the actuator, its command mapped so that the feedback reads what the
// fallback asks (inverted, lo + hi - u, for an actuator classed reversed),
// checked every tick after the verify time. While the state is not known
// (the sensors lost or blamed, and the open-loop uncertainty reaches a
// margin: envelope.ts) the trip could as well take it out: the stop is the
// one that leaves the most room to the limits under the load the model knows
// of now, the trip or the hold at the command that settles the process
// mid-envelope (centre_command: the most room for a load that changes while
// nothing is measured); it steers on no reading it does not have. A mapping the feedback does not
// bear out is swapped for the other once; when neither holds, or the state
// heads for the opposite limit, the trip stands. The mode stays SAFE_STOP and
// its latches hold.
export let closed_hold: bool = false;
export let hold_sign: i32 = 1;       // +1 the command as asked; -1 inverted
let hold_failures: i32 = 0;          // mappings the feedback did not bear out, this stop
export let hold_want: i32 = 0;       // what the fallback asked last tick (the actuator's output)
export let hold_ticks: i32 = 0;      // ticks under this mapping (0: the hold starts: the fallback tracks from the trip)

function closed_hold_step(stop: bool, fb: i32, u_now: i32): bool {
  let tdir = p(P_TRIP_DIR);
  if (!stop || tdir == 0 || fb == SAMPLE_NONE) { closed_hold = false; if (!stop) hold_failures = 0; return false; }
  if (!closed_hold) {
    if ((env_side != tdir && !(env_unsure && !trip_keeps_more())) || hold_failures >= 2 || trip_failed) return false;
    closed_hold = true;
    hold_ticks = 0;
    hold_want = trip_out ? p(P_TRIP_FB) : u_now;
    hold_sign = (latched & bit(ids.CAUSE_ACT_REVERSED)) != 0 ? -1 : 1;
    if (hold_failures == 1) hold_sign = -hold_sign;
    return true;
  }
  if (env_side == -tdir) { closed_hold = false; return false; }
  hold_ticks++;
  let thr = feedback_thr();
  if (hold_ticks <= max<i32>(verify_ticks, 2) || abs_q16(sub_q16(fb, hold_want)) <= thr) return true;
  hold_failures++;
  hold_sign = -hold_sign;
  hold_ticks = 0;
  if (hold_failures < 2) return true;
  closed_hold = false;
  return false;
}

// How far the actuator's feedback may be from what it should read:
// mismatch_thr, or 1/64 of the actuator's range when that check is off.
export function feedback_thr(): i32 {
  let thr = p(P_MISMATCH_THR);
  return thr > 0 ? thr : (p(P_OUT_MAX) - p(P_OUT_MIN)) >> 6;
}

// The command made under the hold: what the fallback asked (after the first tick, tracked from the trip).
export function set_hold_want(u: i32): void { hold_want = u; hold_ticks = max<i32>(hold_ticks, 1); }

// With the state unknown, the stop that keeps the most margin: where the
// process settles under the load it is under now (the model with its
// disturbance estimate) tripped (at the safe output) against held at the
// command that centres it in the envelope (centre_command), each by its
// distance to the nearer limit.
function trip_keeps_more(): bool {
  return room(model_target(p(P_SAFE_OUTPUT))) >= room(model_target(centre_command()));
}

// The command under which the model settles mid-envelope under the load it
// knows of: (mid - offset - d) / K, within the actuator's range. Held open
// loop, it leaves the most room for a load that changes while nothing is
// measured (a chamber at 52.5 C in 10..95 C takes +-28 % of its heater).
export function centre_command(): i32 {
  let k = <i64>p(P_MODEL_GAIN);
  let lo = p(P_OUT_MIN);
  let hi = p(P_OUT_MAX);
  if (k == 0) return p(P_SAFE_OUTPUT);
  let mid = (<i64>p(P_ENV_MIN) + <i64>p(P_ENV_MAX)) >> 1;
  let zero = <i64>model_target(0);            // offset + d
  let u = ((mid - zero) << 16) / k;
  return u < <i64>lo ? lo : u > <i64>hi ? hi : <i32>u;
}

function room(s: i32): i64 {
  let below = <i64>s - <i64>p(P_ENV_MIN);
  let above = <i64>p(P_ENV_MAX) - <i64>s;
  return below < above ? below : above;
}

// The actuator's command for what the hold wants it to deliver (and back).
export function hold_map(u: i32): i32 {
  return closed_hold && hold_sign < 0 ? sat(<i64>p(P_OUT_MIN) + <i64>p(P_OUT_MAX) - <i64>u) : u;
}

// The trip output, and its check: once tripped for the verify time, the
// actuator's feedback must read what it reads with the power cut, every tick
// for as long as the trip lasts (a contactor can weld later).
function trip_step(tick: i64, on: bool, why: i32, fb: i32): void {
  if (on != trip_out) {
    trip_out = on;
    tripped_ticks = 0;
    trip_failed = false;
    count(C_TRIPS_OUT);
    event_log(tick, EV_TRIP_OUT, why >= 0 ? <i32>load<u8>(CAUSE_STAGE + <usize>why) : EV_STAGE_NONE,
      on && why >= 0 ? REASON_CAUSE_BASE + why : REASON_CLEARED, on ? 1 : 0);
  }
  if (!on) return;
  if (tripped_ticks < i32.MAX_VALUE) tripped_ticks++;
  let thr = feedback_thr();
  let failed = verify_ticks > 0 && tripped_ticks >= verify_ticks && fb != SAMPLE_NONE && abs_q16(sub_q16(fb, p(P_TRIP_FB))) > thr;
  if (failed && !trip_failed) event_log(tick, EV_TRIP_FAILED, ids.STAGE_ACTUATION, why >= 0 ? REASON_CAUSE_BASE + why : REASON_CLEARED, fb);
  trip_failed = failed;
}

function log_mode(tick: i64, prev: i32, next: i32, why: i32): void {
  let worse = next > prev && why >= 0;
  let reason = worse ? REASON_CAUSE_BASE + why : reset_pending ? REASON_RESET : REASON_CLEARED;
  count(C_MODE_CHANGES);
  event_log(tick, EV_MODE, worse ? <i32>load<u8>(CAUSE_STAGE + <usize>why) : EV_STAGE_NONE, reason, (prev << 8) | next);
}

// A host's demand (coordinator, operator): fallback, trip, or none (return).
export function react_demand(tick: i64, kind: i32): bool {
  if (kind < DEMAND_NONE || kind > DEMAND_TRIP) return false;
  if (kind != demand_kind) event_log(tick, EV_DEMAND, EV_STAGE_NONE, REASON_CAUSE_BASE + ids.CAUSE_HOST, kind);
  demand_kind = kind;
  return true;
}

// reset(): release the latches whose condition is false now, and the
// fallback held by the retry limit. Returns how many were released.
export function react_release(): i32 {
  let released = 0;
  if ((latched & bit(ids.CAUSE_SOFT_FAILED)) != 0 && !integrity_failed()) { latched &= ~bit(ids.CAUSE_SOFT_FAILED); released++; }
  // A reversed actuator behind a verified trip: while de-energized nothing
  // contradicts it; back in control it is classified again from scratch.
  if ((latched & bit(ids.CAUSE_ACT_REVERSED)) != 0 && !trip_failed) { latched &= ~bit(ids.CAUSE_ACT_REVERSED); act_class_clear(); released++; }
  if ((latched & bit(ids.CAUSE_ENVELOPE)) != 0 && env_clear) { latched &= ~bit(ids.CAUSE_ENVELOPE); released++; }
  if (held) { held = false; released++; }
  handbacks = 0;
  pid_detune = 0;
  calm_ticks = 0;
  reset_pending = true;
  return released;
}

export function latched_causes(): i32 {
  return latched;
}

// Guard status bits for hosts (docs/core.md).
export function guard_status_bits(): i32 {
  return (env_side > 0 ? 1 : 0) | (env_side < 0 ? 2 : 0) | (env_outside ? 4 : 0) | (pin_dir != 0 ? 8 : 0)
    | (trip_out ? 16 : 0) | (trip_failed ? 32 : 0) | (latched != 0 ? 64 : 0) | (demand_kind != 0 ? 128 : 0)
    | (distrust || comp_on ? 256 : 0) | (held ? 512 : 0) | (noisy ? 1024 : 0) | (closed_hold ? 2048 : 0) | (pid_detune != 0 ? 4096 : 0);
}
