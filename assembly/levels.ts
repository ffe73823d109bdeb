// Sampling levels and the coefficients that depend on the interval.
//
// Action-to-sensing proposes interval(level) = min(PERIOD_MIN << level,
// PERIOD_MAX). Every dt-dependent coefficient is computed once per level at
// commit (with f64, which is deterministic in Wasm), so the tick does no
// division. The tick picks the level whose interval is nearest the measured
// dt; jitter inside a level is a timing disturbance, watched by the timing
// monitors, not something the controller integrates.

import { p, P_PERIOD_MIN_US, P_PERIOD_MAX_US, P_LPF_TAU, P_MODEL_GAIN, P_OUT_MIN, P_OUT_MAX, P_RESID_SIGMA, P_MODEL_TAU, P_KP, P_TI, P_TD, P_TF,
  P_FB_KP, P_FB_TI, P_SLEW, P_RATE_MAX, P_DIST_GAIN } from "./params";
import { q16_to_f64, f64_to_q16, f64_to_q32_frac, exp_neg } from "./fixed";

export const LEVELS_MAX: i32 = 8;

const INTERVAL_US = memory.data(LEVELS_MAX << 3);   // i64
const SPLIT_US = memory.data(LEVELS_MAX << 3);      // i64: dt above this uses the next level
const LPF_A = memory.data(LEVELS_MAX << 3);         // Q32 dt/(tau+dt) (exact: 1-exp(-dt/tau))
const MODEL_A = memory.data(LEVELS_MAX << 3);       // Q32 1-exp(-dt/tau_model)
const KI_DT = memory.data(LEVELS_MAX << 3);         // Q32 Kp*dt/Ti
const D_A = memory.data(LEVELS_MAX << 3);           // Q32 Tf/(Tf+dt)
const D_B = memory.data(LEVELS_MAX << 2);           // Q16 Kp*Td/(Tf+dt)
const FB_KI_DT = memory.data(LEVELS_MAX << 3);      // Q32 Kp_fb*dt/Ti_fb
const SLEW_STEP = memory.data(LEVELS_MAX << 2);     // Q16 slew*dt; 0 = unlimited
const RATE_STEP = memory.data(LEVELS_MAX << 2);     // Q16 rate_max*dt; 0 = off
const REACH = memory.data(LEVELS_MAX << 2);         // Q16 the most the process moves in one interval (below)
const DIST_K = memory.data(LEVELS_MAX << 2);        // Q16 dist_gain / a: the disturbance estimate's step per unit residual

export let levels_n: i32 = 1;

@inline function i64_at(base: usize, l: i32): i64 { return load<i64>(base + (<usize>l << 3)); }
@inline function i32_at(base: usize, l: i32): i32 { return load<i32>(base + (<usize>l << 2)); }

@inline export function interval_us(l: i32): i64 { return i64_at(INTERVAL_US, l); }
@inline export function lpf_a(l: i32): i64 { return i64_at(LPF_A, l); }
@inline export function model_a(l: i32): i64 { return i64_at(MODEL_A, l); }
@inline export function ki_dt(l: i32): i64 { return i64_at(KI_DT, l); }
@inline export function d_a(l: i32): i64 { return i64_at(D_A, l); }
@inline export function d_b(l: i32): i32 { return i32_at(D_B, l); }
@inline export function fb_ki_dt(l: i32): i64 { return i64_at(FB_KI_DT, l); }
@inline export function slew_step(l: i32): i32 { return i32_at(SLEW_STEP, l); }
@inline export function rate_step(l: i32): i32 { return i32_at(RATE_STEP, l); }
// The most the process can move in one interval: the model's full swing,
// a |K| (out_max - out_min), plus 4 sigma of the residual's noise.
@inline export function reach(l: i32): i32 { return i32_at(REACH, l); }
// The observer's disturbance estimate d moves the model's per-sample step by
// a d, so d += (dist_gain / a) r is integral action of dist_gain per sample
// on the residual, at every sampling level and for any tau (an integrating
// plant's tau is long and a tiny: a gain on d itself would take ~10^6
// samples to learn its load).
@inline export function dist_k(l: i32): i32 { return i32_at(DIST_K, l); }

// The level whose interval is nearest the measured dt.
export function level_for_dt(dt_us: i64): i32 {
  let l = 0;
  while (l < levels_n - 1 && dt_us > i64_at(SPLIT_US, l)) l++;
  return l;
}

function frac_exp(dt_s: f64, tau_s: f64): i64 {
  return tau_s > 0.0 ? f64_to_q32_frac(1.0 - exp_neg(dt_s / tau_s)) : f64_to_q32_frac(1.0);
}

export function levels_derive(): void {
  let min_us = <i64>p(P_PERIOD_MIN_US);
  let max_us = <i64>p(P_PERIOD_MAX_US);
  levels_n = 0;
  for (let l = 0; l < LEVELS_MAX; l++) {
    let iv = min_us << l;
    if (iv > max_us) iv = max_us;
    store<i64>(INTERVAL_US + (<usize>l << 3), iv);
    if (levels_n == 0 || iv > interval_us(levels_n - 1)) levels_n = l + 1;
  }
  let kp = q16_to_f64(p(P_KP));
  let ti = q16_to_f64(p(P_TI));
  let td = q16_to_f64(p(P_TD));
  let tf = q16_to_f64(p(P_TF));
  let fb_kp = q16_to_f64(p(P_FB_KP));
  let fb_ti = q16_to_f64(p(P_FB_TI));
  let span = Math.abs(q16_to_f64(p(P_MODEL_GAIN))) * (q16_to_f64(p(P_OUT_MAX)) - q16_to_f64(p(P_OUT_MIN)));
  let noise = 4.0 * q16_to_f64(p(P_RESID_SIGMA));
  for (let l = 0; l < LEVELS_MAX; l++) {
    let iv = interval_us(l);
    let next = l + 1 < LEVELS_MAX ? interval_us(l + 1) : iv;
    store<i64>(SPLIT_US + (<usize>l << 3), (iv + next) >> 1);
    let dt = <f64>iv / 1.0e6;
    store<i64>(LPF_A + (<usize>l << 3), frac_exp(dt, q16_to_f64(p(P_LPF_TAU))));
    let model_a_l = frac_exp(dt, q16_to_f64(p(P_MODEL_TAU)));
    store<i64>(MODEL_A + (<usize>l << 3), model_a_l);
    store<i32>(REACH + (<usize>l << 2), f64_to_q16(<f64>model_a_l / 4294967296.0 * span + noise));
    let a_f = <f64>model_a_l / 4294967296.0;
    store<i32>(DIST_K + (<usize>l << 2), a_f > 0.0 ? f64_to_q16(Math.min(q16_to_f64(p(P_DIST_GAIN)) / a_f, 32767.0)) : 0);
    store<i64>(KI_DT + (<usize>l << 3), ti > 0.0 ? f64_to_q32_frac(kp * dt / ti) : 0);
    store<i64>(FB_KI_DT + (<usize>l << 3), fb_ti > 0.0 ? f64_to_q32_frac(fb_kp * dt / fb_ti) : 0);
    store<i64>(D_A + (<usize>l << 3), f64_to_q32_frac(tf / (tf + dt)));
    store<i32>(D_B + (<usize>l << 2), td > 0.0 ? f64_to_q16(kp * td / (tf + dt)) : 0);
    store<i32>(SLEW_STEP + (<usize>l << 2), p(P_SLEW) > 0 ? max<i32>(1, f64_to_q16(q16_to_f64(p(P_SLEW)) * dt)) : 0);
    store<i32>(RATE_STEP + (<usize>l << 2), p(P_RATE_MAX) > 0 ? max<i32>(1, f64_to_q16(q16_to_f64(p(P_RATE_MAX)) * dt)) : 0);
  }
}
