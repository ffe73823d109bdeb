// Sensing stage: raw ADC counts -> engineering units -> median-of-3 spike
// rejection -> per-sensor checks (stale, range, rate/spike, stuck) -> vote of
// the trusted sensors (mid-value select, disagreement check) -> range clamp
// -> first-order low-pass.

import { p, MON_BASE, MF_ACTION, P_N_SENSORS, P_ADC_MIN, P_ADC_MAX, P_S0_SCALE, P_RANGE_MIN, P_RANGE_MAX,
  P_MEDIAN3, P_SPIKE_THR, P_SPIKE_COUNT, P_STUCK_BAND, P_DISAGREE_THR, P_LPF_TAU, P_GUARD } from "./params";
import { sat, abs_q16, sub_q16, median3, clamp_i32, lerp_q32, q32_to_q16 } from "./fixed";
import { LEVEL_ALARM, SENSORS_MAX, M_SENS_STALE, M_SENS_RANGE, M_SENS_SPIKE, M_SENS_STUCK, M_SENS_DISAGREE } from "./monitor/ids";
import { debounce_sensor, sensor_busy, sensor_bits } from "./monitor/debounce";
import { rate_step, lpf_a, reach } from "./levels";
import { SAMPLE_NONE } from "./state";
import { count, C_SPIKES_REJECTED, C_INVALID_SAMPLES } from "./events";

// Per-sensor state, SENSORS_MAX i32 each.
const LAST_RAW = memory.data(SENSORS_MAX << 2);
const H1 = memory.data(SENSORS_MAX << 2);      // previous engineering value
const H2 = memory.data(SENSORS_MAX << 2);      // the one before
const VALUE = memory.data(SENSORS_MAX << 2);   // conditioned value (after median)
const SPIKES = memory.data(SENSORS_MAX << 2);  // spike history, one bit per sample, 16 samples
const SEEN = memory.data(SENSORS_MAX << 2);    // samples seen (saturating at 3)

export let trusted_mask: i32 = 0;
let repeat_mask: i32 = 0;      // sensors whose raw code did not change on their last sample
// Every sensor left is excluded only for spikes or noise: rather than none,
// they stay in the vote (heavier filtering follows; guard/react.ts).
export let noisy_kept: bool = false;
let filtered_q32: i64 = 0;     // low-pass state, Q32 (see fixed.ts lerp_q32)
let filter_primed = false;
let last_level: i32 = 0;       // the previous sample's level (the rate check, below)

@inline function get(base: usize, i: i32): i32 { return load<i32>(base + (<usize>i << 2)); }
@inline function put(base: usize, i: i32, v: i32): void { store<i32>(base + (<usize>i << 2), v); }

export function condition_reset(): void {
  memory.fill(LAST_RAW, 0, <usize>(SENSORS_MAX << 2));
  memory.fill(H1, 0, <usize>(SENSORS_MAX << 2));
  memory.fill(H2, 0, <usize>(SENSORS_MAX << 2));
  memory.fill(VALUE, 0, <usize>(SENSORS_MAX << 2));
  memory.fill(SPIKES, 0, <usize>(SENSORS_MAX << 2));
  memory.fill(SEEN, 0, <usize>(SENSORS_MAX << 2));
  trusted_mask = 0;
  repeat_mask = 0;
  noisy_kept = false;
  filtered_q32 = 0;
  filter_primed = false;
  last_level = 0;
}

// One sensor's sample: conditioning and the per-sensor checks.
function sense_one(i: i32, raw: i32, level: i32): void {
  let valid = raw != SAMPLE_NONE && raw >= p(P_ADC_MIN) && raw <= p(P_ADC_MAX);
  let busy = sensor_busy(i);
  debounce_sensor(busy, M_SENS_STALE, i, !valid);
  if (!valid) { count(C_INVALID_SAMPLES); return; }   // other checks hold: no new information
  let seen = get(SEEN, i);
  let eng = sat(<i64>raw * <i64>p(P_S0_SCALE + 2 * i) + <i64>p(P_S0_SCALE + 2 * i + 1));
  let stuck = seen > 0 && abs(<i64>raw - <i64>get(LAST_RAW, i)) <= <i64>p(P_STUCK_BAND);
  put(LAST_RAW, i, raw);
  let h1 = seen > 0 ? get(H1, i) : eng;
  let h2 = seen > 1 ? get(H2, i) : h1;
  let med = p(P_MEDIAN3) != 0 ? median3(eng, h1, h2) : eng;
  put(H2, i, h1);
  put(H1, i, eng);
  let spike_thr = p(P_SPIKE_THR);
  let spike = spike_thr > 0 && abs_q16(sub_q16(eng, med)) > spike_thr;
  if (spike) count(C_SPIKES_REJECTED);
  let hist = ((get(SPIKES, i) << 1) | (spike ? 1 : 0)) & 0xFFFF;
  put(SPIKES, i, hist);
  // The median of 3 lags a ramp by one sample, so its change since the last
  // sample spans the interval before it as well as this one: with action-to-
  // sensing, a long interval followed by a short one would otherwise hold a
  // move over 16 ms to the rate allowed in 2 ms. The larger of the two steps.
  let step = p(P_MEDIAN3) != 0 ? max<i32>(rate_step(level), rate_step(last_level)) : rate_step(level);
  let fast = step > 0 && seen > 0 && abs_q16(sub_q16(med, get(VALUE, i))) > step;
  debounce_sensor(busy, M_SENS_SPIKE, i, fast || (hist != 0 && <i32>popcnt(hist) >= p(P_SPIKE_COUNT)));
  debounce_sensor(busy, M_SENS_RANGE, i, med < p(P_RANGE_MIN) || med > p(P_RANGE_MAX));
  debounce_sensor(busy, M_SENS_STUCK, i, stuck);
  if (stuck) repeat_mask |= 1 << i; else repeat_mask &= ~(1 << i);
  put(VALUE, i, med);
  if (seen < 3) put(SEEN, i, seen + 1);
}

// A sensing check takes a sensor out of the vote only when it is at alarm
// level (a check set to none or warn only reports).
@inline function excludes(m: i32): bool {
  return p(MON_BASE + m * 4 + MF_ACTION) >= LEVEL_ALARM;
}

@inline function excluding_bits(m: i32): i32 {
  return excludes(m) ? sensor_bits(m) : 0;
}

// Sensors (bit i) out of the vote by their own checks other than spikes, or never seen.
@inline function excluded_by_own_checks(): i32 {
  let bad = excluding_bits(M_SENS_STALE) | excluding_bits(M_SENS_RANGE) | excluding_bits(M_SENS_STUCK);
  for (let i = 0; i < SENSORS_MAX; i++) if (get(SEEN, i) == 0) bad |= 1 << i;
  return bad;
}

// The candidates for the vote: without the spiky ones, unless that leaves
// none (then the spiky ones, kept: noisy_kept).
function candidates(n: i32): i32 {
  let usable = ((1 << n) - 1) & ~excluded_by_own_checks();
  let spiky = excluding_bits(M_SENS_SPIKE);
  let cand = usable & ~spiky;
  noisy_kept = cand == 0 && (usable & spiky) != 0 && p(P_GUARD) != 0;
  return noisy_kept ? usable : cand;
}

// Vote among the sensors that pass their own checks; the disagreement check
// then removes an outlier. `pred` (the model prediction) arbitrates between
// two disagreeing sensors. Returns the voted value; trusted_mask says who voted.
// The vote of the sensors in `mask`: mid-value of 3, mean of 2 (or, when
// they disagree by more than thr, the one nearer the model prediction), or
// the single one. thr = 0: no arbitration.
function vote_of(mask: i32, thr: i32, pred: i32): i32 {
  let k = <i32>popcnt(mask);
  if (k == 3) return median3(get(VALUE, 0), get(VALUE, 1), get(VALUE, 2));
  let a = ctz(mask);
  let va = get(VALUE, a);
  if (k == 1) return va;
  let vb = get(VALUE, 31 - clz(mask));
  if (thr > 0 && abs_q16(sub_q16(va, vb)) > thr) {
    return abs_q16(sub_q16(va, pred)) <= abs_q16(sub_q16(vb, pred)) ? va : vb;
  }
  return <i32>((<i64>va + <i64>vb) >> 1);
}

function vote(n: i32, pred: i32): i32 {
  let cand = candidates(n);
  let k = <i32>popcnt(cand);
  let thr = p(P_DISAGREE_THR);
  let voted = k > 0 ? vote_of(cand, thr, pred) : 0;
  let mask = 0;
  for (let i = 0; i < n; i++) {
    // Disagreement: every sensor that has a value is compared with the vote,
    // so an excluded sensor comes back once it agrees again.
    let off = k >= 2 && thr > 0 && get(SEEN, i) > 0 && abs_q16(sub_q16(get(VALUE, i), voted)) > thr;
    let dis = debounce_sensor(sensor_busy(i), M_SENS_DISAGREE, i, off) && excludes(M_SENS_DISAGREE);
    if ((cand & (1 << i)) != 0 && !dis) mask |= 1 << i;
  }
  // The disagreement check removed someone: vote again among the rest.
  if (mask != cand && mask != 0) voted = vote_of(mask, 0, pred);
  trusted_mask = mask;
  return voted;
}

// Runs the sensing stage. Returns the number of trusted sensors; the voted
// (clamped) value and the filtered value come back through voted_out() and
// filtered_out(). With no trusted sensor the model prediction stands in.
let voted_q16: i32 = 0;
// Sensors in use: n_sensors, bounded by SENSORS_MAX where it is used (a
// soft error in the table must not send the loops below past their arrays
// before the scrub repairs it).
export let sensors_n: i32 = 1;
export function condition_step(s0: i32, s1: i32, s2: i32, level: i32, pred: i32): i32 {
  let n = <i32>min<u32>(<u32>p(P_N_SENSORS), <u32>SENSORS_MAX);
  sensors_n = n;
  sense_one(0, s0, level);
  if (n > 1) sense_one(1, s1, level);
  if (n > 2) sense_one(2, s2, level);
  last_level = level;
  let v = vote(n, pred);
  let k = <i32>popcnt(trusted_mask);
  if (k == 0) v = pred;
  v = clamp_i32(v, p(P_RANGE_MIN), p(P_RANGE_MAX));
  voted_q16 = v;
  // The same value held to what the process can have done since the last
  // one (the model's reach per interval): what the controller sees while the
  // sensors kept are noisy (spikes move it by at most the reach).
  plausible_q16 = filter_primed
    ? clamp_i32(v, sat(<i64>plausible_q16 - <i64>reach(level)), sat(<i64>plausible_q16 + <i64>reach(level)))
    : v;
  if (!filter_primed || p(P_LPF_TAU) == 0) {
    filtered_q32 = <i64>v << 16;
    filter_primed = true;
  } else {
    filtered_q32 = lerp_q32(filtered_q32, v, lpf_a(level));
  }
  return k;
}

export function voted_out(): i32 { return voted_q16; }
// Every sensor in the vote repeated its raw code exactly on this sample.
export function readings_repeat(): bool {
  return trusted_mask != 0 && (repeat_mask & trusted_mask) == trusted_mask;
}
let plausible_q16: i32 = 0;
export function plausible_out(): i32 { return plausible_q16; }
export function filtered_out(): i32 { return q32_to_q16(filtered_q32); }
export function sensor_value(i: i32): i32 { return get(VALUE, i); }
