// Estimation stage: a first-order plant model run as an observer, and the
// change detectors that watch its residual.
//
//   prediction  x+ = x + a (K u + offset - x),  a = 1 - exp(-dt / tau)
//   residual    r  = y - x+            (y: voted measurement, unfiltered)
//   correction  x  = x+ + L r          (L = MODEL_CORR; 0 = pure simulation)
//   disturbance d  = d + (G / a) r     (G = DIST_GAIN: integral action of G
//               per sample on the residual, since d moves each step by a d): an unmeasured load
//               shifts the target, x+ = x + a (K u + offset + d - x), so a
//               load step that the primary controller rejects leaves no
//               lasting residual. It is frozen while the residual is blamed
//               on the sensors (it would learn the fault).
//   z = r / sigma, clamped to +-Z_CLAMP
//   CUSUM (two-sided, Page; Lucas & Crosier 1982):
//       S+ = max(0, S+ + z - k), S- = max(0, S- - z - k), alarm when S > h
//   EWMA (Lucas & Saccucci 1990, asymptotic limits):
//       w = w + lambda (z - w), alarm when |w| > L sqrt(lambda / (2 - lambda))
//   Early warning (critical slowing down): variance and lag-1
//   autocorrelation of z over a rolling window; warn only when both are high.

import { p, P_DIST_MAX, P_OUT_MIN, P_OUT_MAX, P_MODEL_DELAY_US, P_MODEL_GAIN, P_MODEL_OFFSET, P_MODEL_CORR, P_RESID_SIGMA, P_CUSUM_K, P_CUSUM_H,
  P_EWMA_LAMBDA, P_EWMA_L, P_EW_WINDOW, P_EW_VAR_RATIO, P_EW_AC1 } from "./params";
import { sat, mul_q16, mul_q16_q32, sub_q16, add_q16, q16_to_f64, f64_to_q16, f64_to_q32_frac, clamp_i32, lerp_q32, q32_to_q16, Q32_ONE, abs_q16 } from "./fixed";
import { model_a, dist_k, LEVELS_MAX } from "./levels";
import { STAGE_SENSING, STAGE_ACTUATION } from "./monitor/ids";

export const Z_CLAMP_Q16: i32 = 64 << 16;
export const DELAY_MAX: i32 = 64;   // commands remembered for the model's dead time
// Warm-up: for the first WARMUP_TICKS trusted samples the observer averages
// its residual (gain 1/n) instead of trusting the first sample alone, and
// the change detectors wait.
export const WARMUP_TICKS: i32 = 16;
export const EW_WINDOW_MAX: i32 = 64;

let x_q32: i64 = 0;           // model state (estimate), Q32 (no stall; see fixed.ts)
let dist_q32: i64 = 0;        // load-disturbance estimate, output units, Q32
// Its bound: twice the largest load the plant can see (or, unbounded, half
// the Q16 range), so that K u + offset + d stays a number.
let dist_bound_q32: i64 = 0;
let corr_clamp_q16: i32 = 0;  // CORR_CLAMP sigmas, Q16
export const CORR_CLAMP: f64 = 8.0;
let primed = false;
let warm: i32 = 0;            // trusted samples seen, up to WARMUP_TICKS
let inv_sigma_q16: i32 = 65536;
let corr_q32: i64 = 0;
let lambda_q32: i64 = 0;
let ewma_limit_q16: i32 = 0;

export let cusum_pos_q16: i32 = 0;
export let cusum_neg_q16: i32 = 0;
export let ewma_q16: i32 = 0;
export let z_q16: i32 = 0;

// Early warning ring of z and running sums (Q16 sums, Q32 sums of products).
const EW_RING = memory.data(EW_WINDOW_MAX << 2);
let ew_fill: i32 = 0;
let ew_head: i32 = 0;
let ew_s1: i64 = 0;
let ew_s2: i64 = 0;
let ew_s11: i64 = 0;
let ew_last: i32 = 0;
export let ew_var_q16: i32 = 0;   // last computed window variance of z
export let ew_ac1_q16: i32 = 0;   // last computed lag-1 autocorrelation of z

export function model_derive(): void {
  let sigma = q16_to_f64(p(P_RESID_SIGMA));
  inv_sigma_q16 = f64_to_q16(1.0 / sigma);
  corr_clamp_q16 = f64_to_q16(CORR_CLAMP * sigma);
  isolation_derive(sigma);
  corr_q32 = f64_to_q32_frac(q16_to_f64(p(P_MODEL_CORR)));
  dist_bound_q32 = p(P_DIST_MAX) > 0 ? <i64>p(P_DIST_MAX) << 17 : <i64>16384 << 32;
  let lambda = q16_to_f64(p(P_EWMA_LAMBDA));
  lambda_q32 = f64_to_q32_frac(lambda);
  ewma_limit_q16 = f64_to_q16(q16_to_f64(p(P_EWMA_L)) * Math.sqrt(lambda / (2.0 - lambda)));
  // The window length may have changed: refill it from empty.
  memory.fill(EW_RING, 0, <usize>(EW_WINDOW_MAX << 2));
  ew_fill = 0; ew_head = 0; ew_s1 = 0; ew_s2 = 0; ew_s11 = 0; ew_last = 0;
}

export function model_reset(): void {
  x_q32 = 0; dist_q32 = 0; primed = false; pred_prev_q16 = 0; pred_q32 = 0; warm = 0; repeats = 0;
  delay_n = 0; delay_read = 0;
  detectors_reset();
}

// Called by reset(): detectors restart after an alarm, as the ARL tables assume.
export function detectors_reset(): void {
  z_prev_q16 = 0; r_prev_q16 = 0; r_seen = false; jump_age = JUMP_MEMORY + 1; dz_prev_q16 = 0; alt_q16 = -(1 << 16); level_1 = 0; level_2 = 0;
  cusum_pos_q16 = 0; cusum_neg_q16 = 0; ewma_q16 = 0; z_q16 = 0;
  memory.fill(EW_RING, 0, <usize>(EW_WINDOW_MAX << 2));
  ew_fill = 0; ew_head = 0; ew_s1 = 0; ew_s2 = 0; ew_s11 = 0; ew_last = 0;
  ew_var_q16 = 0; ew_ac1_q16 = 0;
}

// Commands as issued, with their times, for the model's dead time.
const DELAY_T = memory.data(DELAY_MAX << 3);
const DELAY_U = memory.data(DELAY_MAX << 2);
let delay_n: i64 = 0;      // commands pushed so far
let delay_read: i64 = 0;   // index of the command the model sees now

export function model_push_command(now: i64, u_q16: i32): void {
  let slot = <usize>(<i32>(delay_n & (DELAY_MAX - 1)));
  store<i64>(DELAY_T + (slot << 3), now);
  store<i32>(DELAY_U + (slot << 2), u_q16);
  delay_n++;
}

// What the actuator delivered on the last command, from its feedback: the
// model follows what reached the plant (a pump that lost effect, a tripped
// heater), so an actuator's fault is the actuation checks' finding (command
// against feedback) and leaves the model on the process.
export function model_amend_last(u_q16: i32): void {
  if (delay_n == 0) return;
  store<i32>(DELAY_U + (<usize>(<i32>((delay_n - 1) & (DELAY_MAX - 1))) << 2), u_q16);
}

// The command the plant is responding to now: the last one issued at or
// before now - dead time (the oldest remembered if the history is too short).
// Before the first command has aged past the dead time, there is none: the
// model holds its state (it started where the plant was).
const NO_COMMAND: i32 = i32.MIN_VALUE;
function delayed_command(now: i64, fallback_u: i32): i32 {
  if (delay_n == 0) return fallback_u;
  let horizon = now - <i64>p(P_MODEL_DELAY_US);
  if (delay_n <= DELAY_MAX && load<i64>(DELAY_T) > horizon) return NO_COMMAND;
  if (delay_read < delay_n - DELAY_MAX) delay_read = delay_n - DELAY_MAX;
  while (delay_read + 1 < delay_n
    && load<i64>(DELAY_T + (<usize>(<i32>((delay_read + 1) & (DELAY_MAX - 1))) << 3)) <= horizon) delay_read++;
  return load<i32>(DELAY_U + (<usize>(<i32>(delay_read & (DELAY_MAX - 1))) << 2));
}

// The model's one-step prediction for this tick. The step from the previous
// tick (prev) to now responds to the command in force during
// [prev - delay, now - delay] (zero-order hold); it is looked up at the
// middle of that interval so that microsecond jitter cannot flip it.
export function model_predict(prev: i64, now: i64, u_last_q16: i32, level: i32): i32 {
  let u_q16 = delayed_command(prev + ((now - prev) >> 1), u_last_q16);
  if (u_q16 == NO_COMMAND) { pred_q32 = x_q32; return q32_to_q16(x_q32); }
  pred_q32 = lerp_q32(x_q32, model_target(u_q16), model_a(level));
  return q32_to_q16(pred_q32);
}

// Where the model settles under a command held: K u + offset + d.
export function model_target(u_q16: i32): i32 {
  return add_q16(add_q16(mul_q16(p(P_MODEL_GAIN), u_q16), p(P_MODEL_OFFSET)), q32_to_q16(dist_q32));
}

// The model's state after a fraction a_q32 of its settling under command u
// (a = 1 - exp(-horizon / tau)): the envelope's look ahead.
export function model_ahead(u_q16: i32, a_q32: i64): i32 {
  return q32_to_q16(lerp_q32(x_q32, model_target(u_q16), a_q32));
}
let pred_q32: i64 = 0;   // the last prediction, full precision

// First measurement of a run: start the model where the plant is.
export function model_prime(y_q16: i32): void {
  if (!primed) { x_q32 = <i64>y_q16 << 16; pred_q32 = x_q32; pred_prev_q16 = y_q16; primed = true; }
}

export function model_primed(): bool { return primed; }

// The vote changed (a sensor left or rejoined it): the voted value may step
// by the sensors' disagreement, which is the sensing stage's finding, not
// the plant's. The model continues from the new vote, so the step is not
// taken for a second fault.
export function model_reanchor(y_q16: i32): void {
  if (!primed) return;
  x_q32 = <i64>y_q16 << 16;
  pred_q32 = x_q32;
  pred_prev_q16 = y_q16;
  r_seen = false;
}

// A soft error in the configuration was repaired: whatever the corrupted
// value (a gain, an offset, a time constant) fed the model before the scrub
// found it is in the model's state and its load estimate, not in the table.
// Both restart, from the vote and from no load, and so do the detectors: a
// finding made on that residual would outlive the error it came from.
export function model_restart(y_q16: i32): void {
  if (!primed) return;
  model_reanchor(y_q16);
  dist_q32 = 0;
  detectors_reset();
}

// Correct with the measurement (when one is trusted) and update the detectors.
// `lagged`: the measurement went through the median-of-3, which delays a
// ramp by one sample, so it is compared with the previous prediction.
// Returns the residual.
let pred_prev_q16: i32 = 0;
// `correct`: the measurement may pull the estimate (false while the sensors
// are blamed: the model runs open loop, and the detectors keep watching the
// residual, so they clear once the measurement agrees with the model again).
// `learn_load`: the disturbance estimate learns (false while the actuator's
// feedback disagrees with its command: a pump or heater that does not
// deliver is the actuator's finding, not an unmeasured load).
export function model_update(pred_q16: i32, y_q16: i32, trusted: bool, lagged: bool, level: i32, correct: bool, learn_load: bool,
  repeat: bool, wide: bool): i32 {
  let ref = lagged && primed ? pred_prev_q16 : pred_q16;
  let step = abs_q16(sub_q16(pred_q16, pred_prev_q16));
  let moving = step > (corr_clamp_q16 >> 5);   // by more than sigma / 4
  slewing = step > (corr_clamp_q16 >> 2);      // by more than 2 sigma
  pred_prev_q16 = pred_q16;
  if (!trusted) { x_q32 = pred_q32; return 0; }
  isolate_measurement(y_q16, moving, repeat);
  let r = sub_q16(y_q16, ref);
  if (!correct || repeats >= REPEAT_SUSPEND) {
    x_q32 = pred_q32;
    if (warm >= WARMUP_TICKS) detect_residual(r, level);
    return r;
  }
  // x = prediction + L r; r (Q16) * L (Q32) >> 16 is Q32.
  if (warm < WARMUP_TICKS) {
    warm++;
    let gain = Q32_ONE / <i64>warm;
    x_q32 = pred_q32 + ((<i64>r * (gain > corr_q32 ? gain : corr_q32)) >> 16);
    return r;
  }
  // The correction is robust (Huber): a residual beyond CORR_CLAMP sigmas,
  // a spike or a step in a reading, pulls the estimate no harder than that;
  // the detectors still see all of it.
  // Once the alarm is settled on a load (`wide`), the residual is the load's
  // and the bound widens 8-fold (Z_CLAMP sigmas): a load of a tenth of the
  // actuator's range otherwise takes the observer minutes to learn at the
  // robust rate, its alarm stays on as long, and a sensor fault that comes
  // meanwhile is taken into the load's episode instead of isolated afresh.
  let bound = wide ? corr_clamp_q16 << 3 : corr_clamp_q16;
  let rc = clamp_i32(r, -bound, bound);
  x_q32 = pred_q32 + ((<i64>rc * corr_q32) >> 16);
  if (learn_load) dist_q32 += <i64>rc * <i64>dist_k(level);
  if (dist_q32 > dist_bound_q32) dist_q32 = dist_bound_q32;
  else if (dist_q32 < -dist_bound_q32) dist_q32 = -dist_bound_q32;
  detect_residual(r, level);
  return r;
}

function detect_residual(r: i32, level: i32): void {
  let z = clamp_i32(mul_q16(r, inv_sigma_q16), -Z_CLAMP_Q16, Z_CLAMP_Q16);
  z_q16 = z;
  detect(z, r, level);
}

// The measurement froze while the model moved.
export function isolated_frozen(): bool {
  return frozen >= FROZEN_TICKS;
}

// The residual jumped on this sample by more than the plant can move in one.
export function residual_jumped(): bool {
  return jump_age == 0;
}

// The residual looks like zero-mean noise (differences that alternate in sign).
export function isolated_noisy(): bool {
  return alt_q16 < -NOISY_VAR_Q16;
}

export function model_estimate(): i32 { return q32_to_q16(x_q32); }

// Isolation: where an estimation alarm points. An actuator or plant fault
// reaches the measurement through the plant: in one sample the plant can
// move by at most a |K| (out_max - out_min) (a = 1 - exp(-dt/tau)). A
// sensor fault reaches it directly. So the residual points at sensing when,
// within the last JUMP_MEMORY ticks, it jumped by more than the plant could
// move in one sample plus JUMP_Z of noise (bias, spike, dropout), or when it
// turned noisy: the differences of white noise alternate in sign (their
// lag-1 product averages -sigma^2), so a short-run average of
// dz(k) * dz(k-1) below -NOISY_VAR marks a noise burst, while a residual
// that ramps or grows through the plant has differences of one sign
// (positive products); otherwise at actuation (or the plant).
export const JUMP_Z: f64 = 5.66;                // 4 sigma of the difference of two samples
export const JUMP_MEMORY: i32 = 64;
export const NOISY_VAR_Q16: i32 = 4 << 16;      // noise of about 2 times the nominal rms
// Per level: the largest plant-explained jump of the residual, in its own
// units (not in clamped z: at a slow sampling level the bound can exceed the
// clamp, and a jump would never show), Q16.
const JUMP_BOUND = memory.data(LEVELS_MAX << 2);
let z_prev_q16: i32 = 0;
let r_prev_q16: i32 = 0;
let r_seen = false;
let jump_age: i32 = JUMP_MEMORY + 1;            // ticks since the residual last jumped beyond the bound
let dz_prev_q16: i32 = 0;
let slewing = false;                            // the model moved by more than 2 sigma this sample
let alt_q16: i32 = -(1 << 16);                  // EWMA of dz(k) * dz(k-1), weight 1/32

function isolation_derive(sigma: f64): void {
  let reach = Math.abs(q16_to_f64(p(P_MODEL_GAIN))) * (q16_to_f64(p(P_OUT_MAX)) - q16_to_f64(p(P_OUT_MIN)));
  for (let l = 0; l < LEVELS_MAX; l++) {
    let a = <f64>model_a(l) / 4294967296.0;
    store<i32>(JUMP_BOUND + (<usize>l << 2), f64_to_q16(a * reach + JUMP_Z * sigma));
  }
}

let level_1: i32 = 0;   // sampling levels of the two previous ticks: the
let level_2: i32 = 0;   // median of 3 can carry a change over the longest of them

function isolate_step(z: i32, r: i32, level: i32): void {
  // The first residual the detectors see (after the warm-up, or a restart)
  // has nothing before it to have jumped from.
  if (!r_seen) { r_prev_q16 = r; z_prev_q16 = z; r_seen = true; }
  let dz = sub_q16(z, z_prev_q16);
  let dr = sub_q16(r, r_prev_q16);
  z_prev_q16 = z;
  r_prev_q16 = r;
  let span = max<i32>(level, max<i32>(level_1, level_2));
  level_2 = level_1;
  level_1 = level;
  // A jump is a step, not noise: it does not enter the noise test.
  if (abs_q16(dr) > load<i32>(JUMP_BOUND + (<usize>span << 2))) { jump_age = 0; dz = 0; }
  else if (jump_age <= JUMP_MEMORY) jump_age++;
  // Not while the model itself moves by more than 2 sigma a sample: its
  // command lookup at mid-interval flips between two commands on a steep
  // ramp, and the residual alternates with it (that is no sensor noise).
  if (!slewing) alt_q16 = add_q16(alt_q16, sub_q16(mul_q16(dz, dz_prev_q16), alt_q16) >> 5);
  dz_prev_q16 = dz;
}

// A measurement that stopped changing while the model expects it to move
// is a frozen sensor: FROZEN_TICKS identical voted samples, each while the
// model's prediction moved by more than sigma / 4 and every sensor in the
// vote repeated its raw code, point at sensing (a settled loop's reading
// repeats too, and means nothing; and the median of three live, noisy
// sensors can plateau while a model whose load estimate is still settling
// drifts: a stuck sensor repeats its code, a live one does not).
export const FROZEN_TICKS: i32 = 8;
let y_last_q16: i32 = 0;
let frozen: i32 = 0;

export function isolate_measurement(y: i32, moving: bool, repeat: bool): void {
  if (y != y_last_q16 || !repeat) frozen = 0;
  else if (moving && frozen < FROZEN_TICKS) frozen++;
  y_last_q16 = y;
  repeats = !repeat ? 0 : repeats < REPEAT_SUSPEND ? repeats + 1 : repeats;
}

// Readings that repeat exactly, every sensor in the vote sample after
// sample, carry no noise: a live process's readings do (the median of three
// noisy sensors can plateau; each of them does not). After REPEAT_SUSPEND such samples the
// observer stops pulling the model toward it (and the disturbance estimate
// stops learning from it): the model runs on, so that if the process moves
// (a pump at full flow behind sensors that stuck) the model moves with it,
// the residual grows and the freeze is seen (isolated_frozen), instead of
// the observer taking the stuck reading for a load that holds the level.
export const REPEAT_SUSPEND: i32 = 4;
let repeats: i32 = 0;

// Isolation is settled over the ISOLATE_TICKS samples after the alarm:
// sensing if the alarm already pointed there (a jump, a freeze), the
// residual turned noisy since, or the reading froze since (a stuck reading
// raises the alarm before FROZEN_TICKS samples have shown the freeze); otherwise actuation (the actuator or the
// plant: a residual that builds up through the plant's dynamics). A residual
// that decays afterwards is no evidence either way: under the load-
// disturbance estimate and the primary controller's integral action a load
// decays too. A slow drift of every sensor alike therefore looks like a load
// (which no vote can see; the envelope then guards the reading it gives).
export const ISOLATE_TICKS: i32 = 16;

export function isolation_final(provisional: i32): i32 {
  if (provisional == STAGE_SENSING || alt_q16 < -NOISY_VAR_Q16 || frozen >= FROZEN_TICKS) return STAGE_SENSING;
  return STAGE_ACTUATION;
}

// The stage an estimation alarm raised now points at (provisional).
export function isolated_stage(): i32 {
  let step = jump_age <= JUMP_MEMORY || frozen >= FROZEN_TICKS;
  let noisy = alt_q16 < -NOISY_VAR_Q16;
  return step || noisy ? STAGE_SENSING : STAGE_ACTUATION;
}

function detect(z: i32, r: i32, level: i32): void {
  isolate_step(z, r, level);
  let k = p(P_CUSUM_K);
  let cap = p(P_CUSUM_H) << 1;   // bounded so that a cleared fault can decay back
  cusum_pos_q16 = clamp_i32(sat(<i64>cusum_pos_q16 + <i64>z - <i64>k), 0, cap);
  cusum_neg_q16 = clamp_i32(sat(<i64>cusum_neg_q16 - <i64>z - <i64>k), 0, cap);
  ewma_q16 = add_q16(ewma_q16, mul_q16_q32(sub_q16(z, ewma_q16), lambda_q32));
  if (p(P_EW_WINDOW) > 0) early_warning_push(z);
}

export function cusum_alarm(): bool {
  let h = p(P_CUSUM_H);
  return cusum_pos_q16 > h || cusum_neg_q16 > h;
}

export function cusum_near(): bool {
  let h = p(P_CUSUM_H) >> 1;
  return cusum_pos_q16 > h || cusum_neg_q16 > h;
}

export function ewma_alarm(): bool {
  return ewma_q16 > ewma_limit_q16 || ewma_q16 < -ewma_limit_q16;
}

export function ewma_near(): bool {
  let l = ewma_limit_q16 >> 1;
  return ewma_q16 > l || ewma_q16 < -l;
}

function early_warning_push(z: i32): void {
  // Bounded by the ring even if the table was corrupted past its check.
  let w = min<i32>(p(P_EW_WINDOW), EW_WINDOW_MAX);
  if (ew_head >= w) ew_head = 0;
  let at = EW_RING + (<usize>ew_head << 2);
  if (ew_fill == w) {
    // Evict the oldest value and its pair with the next oldest.
    let old = load<i32>(at);
    let ni: i32 = ew_head + 1 < w ? ew_head + 1 : 0;
    let next = load<i32>(EW_RING + (<usize>ni << 2));
    ew_s1 -= <i64>old;
    ew_s2 -= <i64>old * <i64>old;
    ew_s11 -= <i64>old * <i64>next;
  } else {
    ew_fill++;
  }
  if (ew_fill > 1) ew_s11 += <i64>ew_last * <i64>z;
  ew_s1 += <i64>z;
  ew_s2 += <i64>z * <i64>z;
  store<i32>(at, z);
  ew_last = z;
  ew_head++;
  // Statistics every quarter window: cheap first, the divisions only here.
  if (ew_fill == w && (ew_head & 7) == 0) {
    let n = <i64>w;
    let mean = ew_s1 / n;                                  // Q16
    let var_q32 = ew_s2 / n - mean * mean;                 // Q32
    let cov_q32 = ew_s11 / (n - 1) - mean * mean;          // Q32
    ew_var_q16 = sat(var_q32 >> 16);
    ew_ac1_q16 = var_q32 >= 256 ? sat((cov_q32 << 8) / (var_q32 >> 8)) : 0;
  }
}

// Both indicators high: rising variance and rising lag-1 autocorrelation.
export function early_warning(): bool {
  let w = p(P_EW_WINDOW);
  if (w == 0 || ew_fill < w) return false;
  return ew_var_q16 > p(P_EW_VAR_RATIO) && ew_ac1_q16 > p(P_EW_AC1);
}
