// The safety envelope: limits on the controlled variable as the process
// really is (the voted measurement, or the model estimate while the sensors
// are blamed), separate from the sensors' plausible range, and a look ahead
// over the horizon (the dead time plus the fallback's reaction), as Simplex
// and Black-Box Simplex do (Sha 2001; Mehmood et al. 2021):
//
//   trend  y + rate * H             rate: the filtered rate of change (weight 1/16)
//   model  y + a_H (K u + c + d - x)  the core's own model's move under the
//                                     command being applied, a_H = 1 - exp(-H / tau)
//
// y itself is held to what the process can physically do: it moves at most
// a |K| (out_max - out_min) + 4 sigma per sample (the model's reach, as the
// isolation's jump bound), so a spike or a step in a reading cannot throw
// the envelope's view, while a real runaway passes at its own pace.
//
// While the model stands in for the sensors (none trusted, or all blamed),
// nothing corrects it: an unmeasured load moves the process away from it by
// up to LOAD_SHARE of the model's full swing per sample (a |K| (out_max -
// out_min); loads up to 18.75 % of the actuator's range). That uncertainty
// accumulates from the last trusted sample; once y plus or minus it comes
// within ENV_MARGIN of a limit the state is no longer known to be inside
// (env_unsure), and the guard stops (guard/react.ts: the trip, or the
// actuator held where the model settles the process mid-envelope).
//
// The worst of y, trend and model toward each limit is the prediction. The
// state is heading out (side +1 over ENV_MAX, -1 under ENV_MIN) when the
// prediction comes within ENV_MARGIN of a limit, or the rate exceeds
// ENV_RATE_MAX; it is well inside when the prediction keeps two margins
// from both limits (hysteresis for the way back).

import { p, P_ENV_MIN, P_ENV_MAX, P_ENV_MARGIN, P_ENV_RATE_MAX, P_ENV_HORIZON_US, P_MODEL_DELAY_US, P_MODEL_TAU,
  P_PERIOD_MIN_US, P_TRIP_VERIFY_US } from "../params";
import { sat, sub_q16, abs_q16, clamp_i32, q16_to_f64, f64_to_q16, f64_to_q32_frac, exp_neg } from "../fixed";
import { interval_us, reach, LEVELS_MAX } from "../levels";
import { model_ahead, model_estimate } from "../model";

const RATE_SCALE = memory.data(LEVELS_MAX << 2);   // Q16 1 / interval in seconds, per level
let horizon_q16: i32 = 0;          // H, seconds
let horizon_a_q32: i64 = 0;        // 1 - exp(-H / tau_model)
export let horizon_ticks: i32 = 1; // H in nominal periods
export let verify_ticks: i32 = 0;  // TRIP_VERIFY_US in nominal periods; 0 = not checked

let rate_q16: i32 = 0;             // filtered rate of change, units/s
let warm: i32 = 0;                 // ticks since the first, up to ENV_WARMUP_TICKS
export const ENV_WARMUP_TICKS: i32 = 16;
let y_last_q16: i32 = 0;
let primed = false;
export let predicted_q16: i32 = 0; // the prediction toward the nearer limit
export let env_side: i32 = 0;      // +1 heading out over ENV_MAX, -1 under ENV_MIN, 0 inside the margin
export let env_outside: bool = false; // the state itself is beyond a limit
export let env_clear: bool = true;    // well inside: two margins from both limits at the horizon
export let env_unsure: bool = false;  // open loop long enough that the state may be near a limit
let unsure_q16: i32 = 0;              // how far the process may be from the open-loop estimate

export function envelope_reset(): void {
  rate_q16 = 0; y_last_q16 = 0; primed = false; predicted_q16 = 0; warm = 0;
  env_side = 0; env_outside = false; env_clear = true; env_unsure = false; unsure_q16 = 0;
}

export function envelope_derive(): void {
  let period = <f64>p(P_PERIOD_MIN_US);
  let h_us = <f64>p(P_ENV_HORIZON_US);
  if (h_us == 0) h_us = <f64>p(P_MODEL_DELAY_US) + 4.0 * period;
  horizon_q16 = f64_to_q16(h_us / 1.0e6);
  horizon_a_q32 = f64_to_q32_frac(1.0 - exp_neg(h_us / 1.0e6 / q16_to_f64(p(P_MODEL_TAU))));
  horizon_ticks = max<i32>(1, <i32>Math.ceil(h_us / period));
  hold_verify_ticks = 2 * horizon_ticks + 16;
  verify_span_q16 = f64_to_q16(<f64>hold_verify_ticks * period / 1.0e6);
  verify_ticks = <i32>Math.ceil(<f64>p(P_TRIP_VERIFY_US) / period);
  for (let l = 0; l < LEVELS_MAX; l++) {
    store<i32>(RATE_SCALE + (<usize>l << 2), f64_to_q16(1.0e6 / <f64>interval_us(l)));
  }
}

// The reading, held to what the process can have done since the last one.
function plausible(y: i32, level: i32): i32 {
  if (!primed) return y;
  let step = reach(level);
  return clamp_i32(y, sat(<i64>y_last_q16 - <i64>step), sat(<i64>y_last_q16 + <i64>step));
}

// The rate of change, filtered: rate += (dy / dt - rate) / 16.
function rate_step(y: i32, level: i32): void {
  if (!primed) { y_last_q16 = y; primed = true; return; }
  let inst = sat((<i64>sub_q16(y, y_last_q16) * <i64>load<i32>(RATE_SCALE + (<usize>level << 2))) >> 16);
  y_last_q16 = y;
  rate_q16 = sat(<i64>rate_q16 + ((<i64>inst - <i64>rate_q16) >> 4));
}

// y: the best knowledge of the controlled variable; u: the command being
// applied; open_loop: y is the model's estimate, uncorrected.
export function envelope_step(y_in: i32, u: i32, level: i32, open_loop: bool): void {
  let y = plausible(y_in, level);
  rate_step(y, level);
  let lo = p(P_ENV_MIN);
  let hi = p(P_ENV_MAX);
  let margin = p(P_ENV_MARGIN);
  unsure_q16 = open_loop ? sat(<i64>unsure_q16 + <i64>(reach(level) >> 3) + <i64>(reach(level) >> 4)) : 0;
  env_unsure = open_loop && (<i64>y + <i64>unsure_q16 > <i64>hi - <i64>margin || <i64>y - <i64>unsure_q16 < <i64>lo + <i64>margin);
  let trend = sat(<i64>y + ((<i64>rate_q16 * <i64>horizon_q16) >> 16));
  // The model's move over the horizon under the command, from where the
  // process is (not from the observer's state, which a bad reading may pull).
  let model = sat(<i64>y + <i64>sub_q16(model_ahead(u, horizon_a_q32), model_estimate()));
  let worst_hi = max<i32>(y, max<i32>(trend, model));
  let worst_lo = min<i32>(y, min<i32>(trend, model));
  env_outside = y > hi || y < lo;
  // Heading out: near or past a limit and still moving toward it. A state
  // that is outside but coming back (a tank filling from empty at start-up)
  // is left to the primary controller. Decisions wait for the rate to settle.
  if (warm < ENV_WARMUP_TICKS) { warm++; env_side = 0; env_clear = false; predicted_q16 = y; return; }
  let ahead_hi = max<i32>(trend, model);
  let ahead_lo = min<i32>(trend, model);
  // Within the margin, or heading into it.
  let over = (<i64>max<i32>(y, ahead_hi) > <i64>hi - <i64>margin && ahead_hi > y) || <i64>y > <i64>hi - <i64>margin;
  let under = (<i64>min<i32>(y, ahead_lo) < <i64>lo + <i64>margin && ahead_lo < y) || <i64>y < <i64>lo + <i64>margin;
  let rate_max = p(P_ENV_RATE_MAX);
  let too_fast = rate_max > 0 && abs_q16(rate_q16) > rate_max;
  env_side = over && (!under || rate_q16 >= 0) ? 1 : under ? -1 : too_fast ? (rate_q16 > 0 ? 1 : -1) : 0;
  predicted_q16 = env_side < 0 ? worst_lo : worst_hi;
  env_clear = <i64>worst_hi < <i64>hi - 2 * <i64>margin && <i64>worst_lo > <i64>lo + 2 * <i64>margin
    && (rate_max == 0 || abs_q16(rate_q16) <= (rate_max >> 1)) && !env_unsure;
}

// At the rate it moves now the state crosses the side's limit before a
// hold in the safe direction can be seen to work (HOLD_VERIFY_TICKS nominal
// periods): then the trip, at once, instead of a hold that could only fail.
export function crosses_before_verified(side: i32): bool {
  let ahead = <i64>y_last_q16 + ((<i64>rate_q16 * <i64>verify_span_q16) >> 16);
  return side > 0 ? ahead > <i64>p(P_ENV_MAX) : side < 0 ? ahead < <i64>p(P_ENV_MIN) : false;
}
export let hold_verify_ticks: i32 = 17;   // 2 H + 16 nominal periods (guard/react.ts)
let verify_span_q16: i32 = 0;             // the same in seconds

// Still heading toward the side's limit (the rate points at it).
export function heading(side: i32): bool {
  return side > 0 ? rate_q16 > 0 : side < 0 ? rate_q16 < 0 : false;
}

