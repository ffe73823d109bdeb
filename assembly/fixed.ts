// Q16.16 fixed point, saturating. Every signal in the core is an i32 holding
// value * 2^16; coefficients in [0, 1] are Q32 fractions held in i64.
//
// Rounding rule: every narrowing step rounds to nearest, ties toward +inf
// (add half an LSB, then arithmetic shift right: floor(x + 1/2)). Division
// rounds to nearest, ties away from zero.
//
// Error bounds against float64 on the represented values, when the exact
// result is inside the representable Q16.16 range [-32768, 32768 - 2^-16]:
//   add_q16, sub_q16          exact
//   mul_q16                   |err| <= 2^-17  (half an LSB, 7.63e-6)
//   div_q16                   |err| <= 2^-17
//   mul_q16_q32 (x * c)       |err| <= 2^-17
//   lerp_q32 (Q32 filter state) |err| <= 2^-31 per step (two floors in Q32);
//                               under 5 * 2^-32 for a step of 32768 units or more
//   from_f64 / to Q32         |err| <= half an LSB of the target format
// Outside the range every operation saturates to I32_MAX or I32_MIN: it never
// wraps. test/core/fixed.test.ts checks these bounds as properties.

export const Q16_ONE: i32 = 65536;
export const Q16_HALF: i64 = 32768;
export const Q32_ONE: i64 = 4294967296;
export const Q32_HALF: i64 = 2147483648;

// Saturate a 64-bit intermediate to the Q16.16 range.
@inline export function sat(x: i64): i32 {
  if (x > <i64>i32.MAX_VALUE) return i32.MAX_VALUE;
  if (x < <i64>i32.MIN_VALUE) return i32.MIN_VALUE;
  return <i32>x;
}

@inline export function add_q16(a: i32, b: i32): i32 {
  return sat(<i64>a + <i64>b);
}

@inline export function sub_q16(a: i32, b: i32): i32 {
  return sat(<i64>a - <i64>b);
}

@inline export function neg_q16(a: i32): i32 {
  return a == i32.MIN_VALUE ? i32.MAX_VALUE : -a;
}

@inline export function abs_q16(a: i32): i32 {
  return a < 0 ? neg_q16(a) : a;
}

// a * b, both Q16.16: the 64-bit product is Q32.32, rounded back to Q16.16.
@inline export function mul_q16(a: i32, b: i32): i32 {
  return sat((<i64>a * <i64>b + Q16_HALF) >> 16);
}

// a / b, both Q16.16. Division by zero saturates toward the sign of a (0/0 = 0).
export function div_q16(a: i32, b: i32): i32 {
  if (b == 0) return a > 0 ? i32.MAX_VALUE : a < 0 ? i32.MIN_VALUE : 0;
  let num = <i64>a << 16;
  let den = <i64>b;
  let half = (den < 0 ? -den : den) >> 1;
  // Round to nearest, ties away from zero: bias the numerator away from zero.
  num = (num < 0) ? num - half : num + half;
  return sat(num / den);
}

// x (Q16.16) times a Q32 coefficient c with |c| <= 2^32 (|c| <= 1.0).
// Rounded with a halved product so that adding the half never leaves i64;
// c = -1.0 is the one product that does not fit and is taken exactly.
@inline export function mul_q16_q32(x: i32, c: i64): i32 {
  if (c == -Q32_ONE) return neg_q16(x);
  let p = <i64>x * c;
  return sat(((p >> 1) + (1 << 30)) >> 31);
}

// Filter states are held in Q32.32 (i64) so that a first-order filter with a
// small coefficient still reaches its input: with a Q16 state, a step of
// a * (target - x) rounds to zero once |target - x| < 0.5/a LSB, and the
// filter stalls short of its input. In Q32 that gap is below a Q16 LSB for
// every coefficient down to 2^-16.

// Q32 state x times a Q32 coefficient c, |c| <= 1: floor(x * c / 2^32).
// |x| must stay below 2^47 (the Q16.16 range, shifted); x is split so that
// no partial product leaves i64.
@inline export function mul_q32_q32(x: i64, c: i64): i64 {
  if (c == -Q32_ONE) return -x;  // the one product below that would leave i64
  let hi = x >> 16;            // |hi| <= 2^31
  let lo = x & 0xFFFF;         // 0..65535
  return ((hi * c) >> 16) + ((lo * c) >> 32);
}

// One step of x += c * (target - x), x in Q32 within the Q16.16 range,
// target in Q16. A difference wider than 2^47 (a step of 32768 units or
// more) is halved for the product and doubled back (one Q32 LSB coarser).
@inline export function lerp_q32(x: i64, target_q16: i32, c: i64): i64 {
  let d = (<i64>target_q16 << 16) - x;
  if (d > Q47_MAX || d < -Q47_MAX) return x + (mul_q32_q32(d >> 1, c) << 1);
  return x + mul_q32_q32(d, c);
}

const Q47_MAX: i64 = 0x7FFFFFFFFFFF;

// Q32 state back to Q16, rounded to nearest (ties up), saturating.
@inline export function q32_to_q16(x: i64): i32 {
  return sat((x >> 16) + ((x >> 15) & 1));
}

@inline export function min_i32(a: i32, b: i32): i32 {
  return a < b ? a : b;
}

@inline export function max_i32(a: i32, b: i32): i32 {
  return a > b ? a : b;
}

@inline export function clamp_i32(x: i32, lo: i32, hi: i32): i32 {
  return x < lo ? lo : x > hi ? hi : x;
}

// Median of three, branch-light.
@inline export function median3(a: i32, b: i32, c: i32): i32 {
  return max_i32(min_i32(a, b), min_i32(max_i32(a, b), c));
}

// Conversions used only at configuration time (commit), never in the tick.
// f64 arithmetic in Wasm is IEEE-754 correctly rounded, so these are
// bit-identical on every engine and on soft-float MCUs.
export function q16_to_f64(x: i32): f64 {
  return <f64>x / 65536.0;
}

// Round half up, without the float rounding of floor(m + 0.5) (which turns
// 0.49999999999999994 into 1).
@inline function round_half_up(m: f64): f64 {
  let y = Math.floor(m);
  return m - y >= 0.5 ? y + 1.0 : y;
}

export function f64_to_q16(x: f64): i32 {
  let y = round_half_up(x * 65536.0);
  if (y >= 2147483647.0) return i32.MAX_VALUE;
  if (y <= -2147483648.0) return i32.MIN_VALUE;
  return <i32>y;
}

// A coefficient in [-1, 1] as Q32 (clamped to that range; NaN gives 0).
export function f64_to_q32_frac(x: f64): i64 {
  if (x != x) return 0;
  if (x >= 1.0) return Q32_ONE;
  if (x <= -1.0) return -Q32_ONE;
  return <i64>round_half_up(x * 4294967296.0);
}

// e^-x for x >= 0, for coefficients at commit time. Range reduction
// x = k ln2 + r (|r| <= ln2/2) and a degree-13 Taylor polynomial in Horner
// form: relative error below 1e-15, in a fraction of the std lib's exp
// (the core is size-bound: 16 KB). Deterministic on every engine.
export function exp_neg(x: f64): f64 {
  if (!(x > 0.0)) return 1.0;
  if (x > 700.0) return 0.0;
  let k = Math.floor(x * 1.4426950408889634 + 0.5);
  let r = (x - k * 6.93147180369123816490e-01) - k * 1.90821492927058770002e-10; // ln2 split hi/lo
  let p = 1.0;
  for (let n = 13; n >= 1; n--) p = 1.0 - r * p / <f64>n;
  // 2^-k as a double built from its exponent bits (k <= 1010 here).
  return p * reinterpret<f64>(<i64>(1023 - <i32>k) << 52);
}
