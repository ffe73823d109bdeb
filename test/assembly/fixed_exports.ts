// Thin exports of assembly/fixed.ts for test/core/fixed.test.ts. The core
// inlines these helpers and does not export them; this module does, with
// i32/i64/f64 only, so that a plain WebAssembly.instantiate can call them.
// Built by `npm run build:test-wasm` into build/fixed_test.wasm, with
// `--config test/assembly/asconfig.json` (an empty config): without it asc
// reads the root asconfig.json, adds assembly/index.ts as a second entry and
// writes its release target's build/core.wat.

import {
  sat, add_q16, sub_q16, neg_q16, abs_q16, mul_q16, div_q16, mul_q16_q32,
  min_i32, max_i32, clamp_i32, median3, q16_to_f64, f64_to_q16, f64_to_q32_frac,
  mul_q32_q32, lerp_q32, q32_to_q16, exp_neg } from "../../assembly/fixed";

export function t_sat(x: i64): i32 { return sat(x); }
export function t_add_q16(a: i32, b: i32): i32 { return add_q16(a, b); }
export function t_sub_q16(a: i32, b: i32): i32 { return sub_q16(a, b); }
export function t_neg_q16(a: i32): i32 { return neg_q16(a); }
export function t_abs_q16(a: i32): i32 { return abs_q16(a); }
export function t_mul_q16(a: i32, b: i32): i32 { return mul_q16(a, b); }
export function t_div_q16(a: i32, b: i32): i32 { return div_q16(a, b); }
export function t_mul_q16_q32(x: i32, c: i64): i32 { return mul_q16_q32(x, c); }
export function t_mul_q32_q32(x: i64, c: i64): i64 { return mul_q32_q32(x, c); }
export function t_lerp_q32(x: i64, target_q16: i32, c: i64): i64 { return lerp_q32(x, target_q16, c); }
export function t_q32_to_q16(x: i64): i32 { return q32_to_q16(x); }
export function t_min_i32(a: i32, b: i32): i32 { return min_i32(a, b); }
export function t_max_i32(a: i32, b: i32): i32 { return max_i32(a, b); }
export function t_clamp_i32(x: i32, lo: i32, hi: i32): i32 { return clamp_i32(x, lo, hi); }
export function t_median3(a: i32, b: i32, c: i32): i32 { return median3(a, b, c); }
export function t_q16_to_f64(x: i32): f64 { return q16_to_f64(x); }
export function t_f64_to_q16(x: f64): i32 { return f64_to_q16(x); }
export function t_f64_to_q32_frac(x: f64): i64 { return f64_to_q32_frac(x); }
export function t_exp_neg(x: f64): f64 { return exp_neg(x); }
