// Properties of assembly/fixed.ts against a float64 reference and an exact
// (BigInt) one, checking the bounds documented at the top of that file:
//   add/sub exact; mul_q16, div_q16, mul_q16_q32 within half an LSB (2^-17)
//   when the exact result is inside the Q16.16 range; saturation, never wrap,
//   outside it; f64_to_q16 / f64_to_q32_frac round to nearest (ties toward
//   +inf); median3 is the median; the Q32 filter state (mul_q32_q32,
//   lerp_q32) within 2^-31 per step, and q32_to_q16 rounding to nearest.
// The helpers are inlined in core.wasm, so test/assembly/fixed_exports.ts
// exports them into build/fixed_test.wasm (`npm run build:test-wasm`).
//
// "In range" means the exact result, in LSB, lies within [I32_MIN, I32_MAX],
// that is in [-32768, 32768 - 2^-16]: between 32768 - 2^-16 and 32768 the
// nearest representable value is I32_MAX, up to 1 LSB away, whatever the
// implementation (fixed.ts says |x| < 32768, which is loose by one LSB).
// The float64 reference a/2^16 * b/2^16 is itself rounded (relative error
// <= 2^-53), so the float64 check allows the bound plus that rounding; the
// BigInt check is exact and allows nothing more than the bound.
// FC_SEED=<n> replays a fast-check run; FC_RUNS=<n> changes the run count.

import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';

interface FixedExports {
  t_sat(x: bigint): number;
  t_add_q16(a: number, b: number): number;
  t_sub_q16(a: number, b: number): number;
  t_neg_q16(a: number): number;
  t_abs_q16(a: number): number;
  t_mul_q16(a: number, b: number): number;
  t_div_q16(a: number, b: number): number;
  t_mul_q16_q32(x: number, c: bigint): number;
  t_min_i32(a: number, b: number): number;
  t_max_i32(a: number, b: number): number;
  t_clamp_i32(x: number, lo: number, hi: number): number;
  t_median3(a: number, b: number, c: number): number;
  t_mul_q32_q32(x: bigint, c: bigint): bigint;
  t_lerp_q32(x: bigint, targetQ16: number, c: bigint): bigint;
  t_q32_to_q16(x: bigint): number;
  t_exp_neg(x: number): number;
  t_q16_to_f64(x: number): number;
  t_f64_to_q16(x: number): number;
  t_f64_to_q32_frac(x: number): bigint;
}

const WASM = fileURLToPath(new URL('../../build/fixed_test.wasm', import.meta.url));
const RUNS = Number(process.env.FC_RUNS ?? 20_000);
const SEED = process.env.FC_SEED === undefined ? undefined : Number(process.env.FC_SEED);
const opts = { numRuns: RUNS, seed: SEED };

const I32_MIN = -2147483648;
const I32_MAX = 2147483647;
const BMIN = BigInt(I32_MIN);
const BMAX = BigInt(I32_MAX);
const Q32 = 4294967296n;
const HALF_LSB = 2 ** -17;

let F: FixedExports;
beforeAll(async () => {
  if (!existsSync(WASM)) throw new Error(`${WASM} is missing: run npm run build:test-wasm`);
  const { instance } = await WebAssembly.instantiate(readFileSync(WASM), {});
  F = instance.exports as unknown as FixedExports;
});

// ---- reference arithmetic --------------------------------------------------

const clampI32 = (x: number) => Math.min(I32_MAX, Math.max(I32_MIN, x));
const clampB = (x: bigint) => (x > BMAX ? BMAX : x < BMIN ? BMIN : x);
const absB = (x: bigint) => (x < 0n ? -x : x);

/** floor(n / d) for d > 0. */
function floorDiv(n: bigint, d: bigint): bigint {
  const q = n / d;
  return n % d !== 0n && n < 0n ? q - 1n : q;
}

/** n / d (d > 0) rounded to nearest, ties toward +inf: floor(n/d + 1/2). */
const roundHalfUp = (n: bigint, d: bigint) => floorDiv(2n * n + d, 2n * d);

/** n / d rounded to nearest, ties away from zero. */
function roundHalfAway(n: bigint, d: bigint): bigint {
  if (d < 0n) { n = -n; d = -d; }
  const q = floorDiv(2n * absB(n) + d, 2n * d);
  return n < 0n ? -q : q;
}

/**
 * The documented contract of a narrowing operation whose exact result, in
 * LSB, is n/d (d > 0) and which returned r. `rounded` is the rounding rule.
 * Returns a description of the first violation, or null.
 */
function checkNarrowing(r: number, n: bigint, d: bigint, rounded: bigint): string | null {
  const R = BigInt(r);
  const exact = `${n}/${d} LSB (~${Number(n) / Number(d)})`;
  if (!Number.isInteger(r) || r < I32_MIN || r > I32_MAX) return `result ${r} is not an i32`;
  // Never wrap: the result has the sign of the exact value.
  if ((n > 0n && R < 0n) || (n < 0n && R > 0n)) return `wrapped: exact ${exact}, got ${r}`;
  // In range: within half an LSB.
  if (n >= BMIN * d && n <= BMAX * d && 2n * absB(R * d - n) > d) {
    return `error above half an LSB: exact ${exact}, got ${r}`;
  }
  // Outside the range: saturated.
  if (2n * n > (2n * BMAX + 1n) * d && R !== BMAX) return `did not saturate high: exact ${exact}, got ${r}`;
  if (2n * n < (2n * BMIN - 1n) * d && R !== BMIN) return `did not saturate low: exact ${exact}, got ${r}`;
  // The rounding rule itself (which makes the above exact statements).
  if (R !== clampB(rounded)) return `rounding rule: exact ${exact}, expected ${clampB(rounded)}, got ${r}`;
  return null;
}

/**
 * The float64 check: |r/2^16 - ref| <= 2^-17 plus the reference's own
 * rounding, when ref lies in the represented range [-32768, 32768 - 2^-16].
 */
function checkF64(r: number, ref: number): string | null {
  if (!(ref >= I32_MIN / 65536 && ref <= I32_MAX / 65536)) return null;
  const err = Math.abs(r / 65536 - ref);
  return err <= HALF_LSB + Math.abs(ref) * 2 ** -53 ? null : `float64 reference ${ref}, got ${r / 65536} (error ${err})`;
}

function holds(what: string, violation: string | null): boolean {
  if (violation !== null) throw new Error(`${what}: ${violation}`);
  return true;
}

// ---- arbitraries -------------------------------------------------------------

const I32_EDGES = [0, 1, -1, 2, -2, 3, 32767, 32768, -32768, 65535, 65536, -65536, 65537, 98304, -98304,
  0x40000000, -0x40000000, 0x7fff0000, -0x7fff0000, I32_MAX, I32_MIN, I32_MAX - 1, I32_MIN + 1];
const i32Edge = fc.constantFrom(...I32_EDGES);
const i32Full = fc.integer({ min: I32_MIN, max: I32_MAX });
/** Signals: the whole i32 range, everyday magnitudes (|x| < 16 in Q16) and edge values. */
const i32 = fc.oneof(
  { weight: 4, arbitrary: i32Full },
  { weight: 3, arbitrary: fc.integer({ min: -(1 << 20), max: 1 << 20 }) },
  { weight: 2, arbitrary: i32Edge },
);
const odd = (max: number) => fc.integer({ min: -max, max }).map((k) => 2 * k + 1);

/** Q32 coefficients with |c| <= 1.0, the documented domain of mul_q16_q32. */
const Q32_EDGES = [0n, 1n, -1n, 2n, Q32, -Q32, Q32 - 1n, -Q32 + 1n, Q32 / 2n, -Q32 / 2n, Q32 / 2n + 1n, 65536n, -65536n];
const q32 = fc.oneof(
  { weight: 4, arbitrary: fc.bigInt({ min: -Q32, max: Q32 }) },
  { weight: 2, arbitrary: fc.bigInt({ min: 0n, max: Q32 }) },
  { weight: 1, arbitrary: fc.bigInt({ min: -(1n << 20n), max: 1n << 20n }) },
  { weight: 2, arbitrary: fc.constantFrom(...Q32_EDGES) },
);

/** Pairs whose exact product lies near the saturation limits (in LSB: |a b / 2^16| ~ 2^31). */
const mulNearLimit = fc.tuple(i32.filter((a) => a !== 0), fc.integer({ min: -3, max: 3 }), fc.boolean())
  .map(([a, d, high]) => {
    const target = high ? 2 ** 31 * 65536 : -(2 ** 31) * 65536;
    return [a, clampI32(Math.round(target / a) + d)] as [number, number];
  });

/** Doubles near the rounding ties of a format with 2^bits steps per unit. */
function nearTies(bits: number, maxUnits: number) {
  return fc.tuple(fc.integer({ min: -maxUnits, max: maxUnits }), fc.integer({ min: -3, max: 3 }))
    .map(([k, ulps]) => {
      let x = (k + 0.5) / 2 ** bits;
      for (let i = 0; i < Math.abs(ulps); i++) x = nextDouble(x, Math.sign(ulps));
      return x;
    });
}

function nextDouble(x: number, dir: number): number {
  if (x === 0) return dir > 0 ? Number.MIN_VALUE : -Number.MIN_VALUE;
  const buf = new DataView(new ArrayBuffer(8));
  buf.setFloat64(0, x);
  const bitsV = buf.getBigInt64(0);
  buf.setBigInt64(0, bitsV + ((x > 0) === (dir > 0) ? 1n : -1n));
  return buf.getFloat64(0);
}

// ---- exact operations --------------------------------------------------------

describe('fixed.ts: add, sub, neg, abs, sat are exact and saturate', () => {
  it('add_q16 and sub_q16 equal the exact sum or difference, saturated', () => {
    fc.assert(fc.property(i32, i32, (a, b) => {
      expect(F.t_add_q16(a, b), `add_q16(${a}, ${b})`).toBe(clampI32(a + b));
      expect(F.t_sub_q16(a, b), `sub_q16(${a}, ${b})`).toBe(clampI32(a - b));
      // In range they are exact in the represented values too.
      if (Math.abs(a + b) < 2 ** 31) expect(F.t_add_q16(a, b) / 65536).toBe(a / 65536 + b / 65536);
      return true;
    }), opts);
  });

  it('neg_q16 and abs_q16 saturate at I32_MIN', () => {
    fc.assert(fc.property(i32, (a) => {
      expect(F.t_neg_q16(a), `neg_q16(${a})`).toBe(clampI32(-a) | 0);
      expect(F.t_abs_q16(a), `abs_q16(${a})`).toBe(clampI32(Math.abs(a)));
      return true;
    }), opts);
  });

  it('sat clamps any i64 to the i32 range', () => {
    const i64 = fc.oneof(fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }),
      fc.bigInt({ min: BMIN - 4n, max: BMIN + 4n }), fc.bigInt({ min: BMAX - 4n, max: BMAX + 4n }));
    fc.assert(fc.property(i64, (x) => {
      expect(F.t_sat(x), `sat(${x})`).toBe(Number(clampB(x)));
      return true;
    }), opts);
  });

  it('min, max, clamp and median3 select the right operand', () => {
    fc.assert(fc.property(i32, i32, i32, (a, b, c) => {
      expect(F.t_min_i32(a, b)).toBe(Math.min(a, b));
      expect(F.t_max_i32(a, b)).toBe(Math.max(a, b));
      const [lo, hi] = a <= b ? [a, b] : [b, a];
      expect(F.t_clamp_i32(c, lo, hi)).toBe(Math.min(hi, Math.max(lo, c)));
      const median = [a, b, c].sort((x, y) => x - y)[1];
      for (const [x, y, z] of [[a, b, c], [a, c, b], [b, a, c], [b, c, a], [c, a, b], [c, b, a]]) {
        expect(F.t_median3(x, y, z), `median3(${x}, ${y}, ${z})`).toBe(median);
      }
      return true;
    }), opts);
  });

  it('q16_to_f64 is exact', () => {
    fc.assert(fc.property(i32, (a) => {
      expect(F.t_q16_to_f64(a)).toBe(a / 65536);
      return true;
    }), opts);
  });
});

// ---- rounding operations -----------------------------------------------------

describe('fixed.ts: mul_q16 within half an LSB, saturating', () => {
  const check = (a: number, b: number) => {
    const r = F.t_mul_q16(a, b);
    const n = BigInt(a) * BigInt(b);
    const what = `mul_q16(${a}, ${b})`;
    return holds(what, checkNarrowing(r, n, 65536n, roundHalfUp(n, 65536n)))
      && holds(what, checkF64(r, (a / 65536) * (b / 65536)));
  };

  it('over the whole i32 x i32 domain', () => {
    fc.assert(fc.property(i32, i32, check), opts);
  });

  it('near the saturation limits', () => {
    fc.assert(fc.property(mulNearLimit, ([a, b]) => check(a, b)), opts);
  });

  it('on exact ties (rounded toward +inf)', () => {
    // a odd, b = 32768 c with c odd: the product's low 16 bits are 0x8000.
    fc.assert(fc.property(odd(2 ** 30 - 1), odd(32767), (a, c) => check(a, 32768 * c)), opts);
    expect(F.t_mul_q16(1, 32768)).toBe(1);   //  0.5 LSB -> 1
    expect(F.t_mul_q16(-1, 32768)).toBe(0);  // -0.5 LSB -> 0
    expect(F.t_mul_q16(3, 32768)).toBe(2);   //  1.5 LSB -> 2
    expect(F.t_mul_q16(-3, 32768)).toBe(-1); // -1.5 LSB -> -1
  });

  it('saturates at the corners', () => {
    expect(F.t_mul_q16(I32_MIN, I32_MIN)).toBe(I32_MAX);
    expect(F.t_mul_q16(I32_MAX, I32_MAX)).toBe(I32_MAX);
    expect(F.t_mul_q16(I32_MIN, I32_MAX)).toBe(I32_MIN);
    expect(F.t_mul_q16(I32_MIN, -65536)).toBe(I32_MAX); // -32768 * -1 = +32768: one past the top
    expect(F.t_mul_q16(I32_MIN, 65536)).toBe(I32_MIN);
  });
});

describe('fixed.ts: div_q16 within half an LSB, saturating', () => {
  const check = (a: number, b: number) => {
    const r = F.t_div_q16(a, b);
    const what = `div_q16(${a}, ${b})`;
    if (b === 0) return holds(what, r === (a > 0 ? I32_MAX : a < 0 ? I32_MIN : 0) ? null : `division by zero gave ${r}`);
    // Exact: a 2^16 / b LSB; as n/d with d > 0.
    const [n, d] = b > 0 ? [BigInt(a) << 16n, BigInt(b)] : [-(BigInt(a) << 16n), -BigInt(b)];
    return holds(what, checkNarrowing(r, n, d, roundHalfAway(n, d)))
      && holds(what, checkF64(r, (a / 65536) / (b / 65536)));
  };

  it('over the whole i32 x i32 domain, b = 0 included', () => {
    fc.assert(fc.property(i32, fc.oneof(i32, fc.constant(0)), check), opts);
  });

  it('with small divisors (results near and beyond the limits)', () => {
    fc.assert(fc.property(i32, fc.integer({ min: -131072, max: 131072 }), check), opts);
  });

  it('on exact ties (rounded away from zero)', () => {
    // b = 2^17 c, a = c (2m + 1): exact (2m + 1) / 2 LSB.
    fc.assert(fc.property(odd(1000), odd(2 ** 19), (c, m) => check(c * m, 131072 * c)), opts);
    expect(F.t_div_q16(1, 131072)).toBe(1);   //  0.5 LSB -> 1
    expect(F.t_div_q16(-1, 131072)).toBe(-1); // -0.5 LSB -> -1
    expect(F.t_div_q16(1, -131072)).toBe(-1);
    expect(F.t_div_q16(-1, -131072)).toBe(1);
  });

  it('saturates at the corners and on division by zero', () => {
    expect(F.t_div_q16(I32_MIN, -1)).toBe(I32_MAX);
    expect(F.t_div_q16(I32_MIN, -65536)).toBe(I32_MAX); // -32768 / -1: one past the top
    expect(F.t_div_q16(I32_MAX, 1)).toBe(I32_MAX);
    expect(F.t_div_q16(I32_MIN, 1)).toBe(I32_MIN);
    expect(F.t_div_q16(5, 0)).toBe(I32_MAX);
    expect(F.t_div_q16(-5, 0)).toBe(I32_MIN);
    expect(F.t_div_q16(0, 0)).toBe(0);
  });
});

describe('fixed.ts: mul_q16_q32 (x * c, |c| <= 1.0) within half an LSB, saturating', () => {
  const check = (x: number, c: bigint) => {
    const r = F.t_mul_q16_q32(x, c);
    const n = BigInt(x) * c;
    const what = `mul_q16_q32(${x}, ${c}n)`;
    return holds(what, checkNarrowing(r, n, Q32, roundHalfUp(n, Q32)))
      && holds(what, checkF64(r, (x / 65536) * (Number(c) / 2 ** 32)));
  };

  it('over the whole documented domain', () => {
    fc.assert(fc.property(i32, q32, check), opts);
  });

  it('on exact ties (rounded toward +inf)', () => {
    // x = odd 2^k, c = odd' 2^(31 - k): the product's low 32 bits are 2^31.
    const tie = fc.integer({ min: 0, max: 30 }).chain((k) => fc.tuple(
      odd(2 ** (30 - k) - 1).map((o) => o * 2 ** k),
      odd(2 ** k - 1).map((o) => BigInt(o) << BigInt(31 - k)),
    ));
    fc.assert(fc.property(tie, ([x, c]) => check(x, c)), opts);
    expect(F.t_mul_q16_q32(1, Q32 / 2n)).toBe(1);  //  0.5 LSB -> 1
    expect(F.t_mul_q16_q32(-1, Q32 / 2n)).toBe(0); // -0.5 LSB -> 0
  });

  it('saturates, never wraps, at the corners of the domain', () => {
    expect(F.t_mul_q16_q32(I32_MAX, Q32)).toBe(I32_MAX);
    expect(F.t_mul_q16_q32(I32_MIN, Q32)).toBe(I32_MIN);
    expect(F.t_mul_q16_q32(I32_MAX, -Q32)).toBe(-I32_MAX);
    // -32768.0 * -1.0 = +32768.0, one past the top: saturates to I32_MAX.
    expect(F.t_mul_q16_q32(I32_MIN, -Q32), 'mul_q16_q32(I32_MIN, -2^32)').toBe(I32_MAX);
    // -32768.0 * -(1 - 2^-32) = 32768 - 2^-17: rounds (tie, up) to 2^31 LSB, saturates to I32_MAX.
    expect(F.t_mul_q16_q32(I32_MIN, -Q32 + 1n), 'mul_q16_q32(I32_MIN, -2^32 + 1)').toBe(I32_MAX);
  });
});

// ---- Q32 filter states ---------------------------------------------------------

// A Q32 state is a Q16.16 signal shifted left by 16 (value * 2^32), |x| < 2^47.
const Q47 = 1n << 47n;
const state = fc.oneof(
  { weight: 4, arbitrary: fc.bigInt({ min: -Q47 + 1n, max: Q47 - 1n }) },
  { weight: 2, arbitrary: fc.bigInt({ min: -(1n << 36n), max: 1n << 36n }) },
  { weight: 1, arbitrary: fc.constantFrom(0n, 1n, -1n, Q47 - 1n, -Q47 + 1n, -Q47 + 65535n, Q47 - 65536n) },
);
/** Filter coefficients: Q32 in [0, 1]. */
const coef = fc.oneof(
  { weight: 4, arbitrary: fc.bigInt({ min: 0n, max: Q32 }) },
  { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: 1n << 16n }) },
  { weight: 1, arbitrary: fc.constantFrom(0n, 1n, Q32, Q32 - 1n, Q32 / 2n) },
);

describe('fixed.ts: Q32 filter states within 2^-31 per step', () => {
  // Two floors, each short by less than one Q32 LSB (2^-32): the result is
  // exact - e with 0 <= e < 2 LSB.
  const checkMul = (x: bigint, c: bigint) => {
    const r = F.t_mul_q32_q32(x, c);
    const e = x * c - r * Q32; // (exact - r) in units of 2^-32 LSB
    return holds(`mul_q32_q32(${x}n, ${c}n)`, e >= 0n && e < 2n * Q32 ? null
      : `exact ${x * c}/2^32, got ${r} (short by ${Number(e) / 2 ** 32} LSB)`);
  };

  it('mul_q32_q32 for |x| < 2^47 and |c| <= 1.0', () => {
    fc.assert(fc.property(state, q32, checkMul), opts);
  });

  it('mul_q32_q32 does not wrap at the corners of its domain', () => {
    checkMul(Q47 - 1n, Q32);
    checkMul(-Q47 + 1n, Q32);
    checkMul(Q47 - 1n, -Q32);
    // hi = x >> 16 = -2^31 and c = -2^32: the partial product is +2^63.
    checkMul(-Q47 + 1n, -Q32);
  });

  const checkLerp = (x: bigint, t: number, c: bigint) => {
    const r = F.t_lerp_q32(x, t, c);
    const exactTimesQ32 = x * Q32 + c * ((BigInt(t) << 16n) - x); // x + c (t - x), times 2^32
    const e = exactTimesQ32 - r * Q32;
    // fixed.ts: 2 Q32 LSB per step, under 5 for a difference wider than 2^47 (halved for the product).
    const bound = absB((BigInt(t) << 16n) - x) > Q47 - 1n ? 5n * Q32 : 2n * Q32;
    return holds(`lerp_q32(${x}n, ${t}, ${c}n)`, absB(e) <= bound ? null
      : `exact ${Number(exactTimesQ32) / 2 ** 32} (Q32 LSB), got ${r}: off by ${Number(e) / 2 ** 32} LSB = ${Number(e) / 2 ** 64}`);
  };

  it('lerp_q32 (x += c (target - x)) for a state in the Q16.16 range, any target, c in [0, 1]', () => {
    fc.assert(fc.property(state, i32, coef, checkLerp), opts);
  });

  it('lerp_q32 for steps |target - x| under 32768 (no clamping of the difference)', () => {
    const small = fc.tuple(state, i32, coef).filter(([x, t]) => absB((BigInt(t) << 16n) - x) < Q47);
    fc.assert(fc.property(small, ([x, t, c]) => checkLerp(x, t, c)), opts);
  });

  it('lerp_q32 takes a full-range step of the default sensing range (-30000 -> +30000) in one go', () => {
    // a = 0.5: the filter moves half way, to 0.
    expect(F.t_lerp_q32(-30000n << 32n, 30000 * 65536, Q32 / 2n), 'lerp_q32(-30000, +30000, 0.5)').toBe(0n);
    // a = 1: it reaches the target.
    expect(F.t_lerp_q32(-30000n << 32n, 30000 * 65536, Q32), 'lerp_q32(-30000, +30000, 1.0)').toBe(30000n << 32n);
  });

  it('q32_to_q16 rounds to nearest (ties toward +inf) and saturates over the whole i64 range', () => {
    const i64 = fc.oneof(
      { weight: 3, arbitrary: state },
      { weight: 2, arbitrary: fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }) },
      { weight: 1, arbitrary: fc.bigInt({ min: (1n << 63n) - 65536n, max: (1n << 63n) - 1n }) },
      { weight: 1, arbitrary: fc.bigInt({ min: -(1n << 63n), max: -(1n << 63n) + 65536n }) },
      { weight: 1, arbitrary: fc.bigInt({ min: -100n, max: 100n }).map((k) => k * 65536n + 32768n) },
    );
    fc.assert(fc.property(i64, (x) => {
      const r = F.t_q32_to_q16(x);
      return holds(`q32_to_q16(${x}n)`, checkNarrowing(r, x, 65536n, roundHalfUp(x, 65536n)));
    }), opts);
  });
});

// ---- conversions -------------------------------------------------------------

/** Nearest integer to m (a double), ties toward +inf, computed exactly. */
function nearestUp(m: number): number {
  const fl = Math.floor(m);
  return m - fl >= 0.5 ? fl + 1 : fl; // m - floor(m) is exact in binary floating point
}

/** |r - m| for an integer r within 1 of m, computed exactly. */
function errFromFloor(r: number, m: number): number {
  const fl = Math.floor(m);
  const frac = m - fl;
  return r === fl ? frac : r === fl + 1 ? 1 - frac : Infinity;
}

const finite = fc.double({ noNaN: true, noDefaultInfinity: true });

describe('fixed.ts: f64_to_q16 rounds to nearest (ties toward +inf), saturating', () => {
  const check = (x: number) => {
    const r = F.t_f64_to_q16(x);
    const m = x * 65536; // exact (a power-of-two scaling) unless it overflows to infinity
    const what = `f64_to_q16(${x})`;
    if (!Number.isFinite(m)) return holds(what, r === (m > 0 ? I32_MAX : I32_MIN) ? null : `got ${r}`);
    const want = clampI32(nearestUp(m));
    if (r !== want) return holds(what, `x * 2^16 = ${m}: expected ${want}, got ${r}`);
    if (Math.abs(m) <= I32_MAX) {
      const err = errFromFloor(r, m);
      if (!(err <= 0.5)) return holds(what, `error ${err} LSB above half an LSB`);
    }
    return true;
  };

  it('over all finite doubles', () => {
    fc.assert(fc.property(finite, check), opts);
  });

  it('over the Q16.16 range', () => {
    fc.assert(fc.property(fc.double({ min: -32769, max: 32769, noNaN: true }), check), opts);
  });

  it('next to the rounding ties', () => {
    fc.assert(fc.property(nearTies(16, 2 ** 31), check), opts);
    expect(F.t_f64_to_q16(2 ** -17)).toBe(1);   //  0.5 LSB -> 1
    expect(F.t_f64_to_q16(-(2 ** -17))).toBe(0); // -0.5 LSB -> 0
    expect(F.t_f64_to_q16(Infinity)).toBe(I32_MAX);
    expect(F.t_f64_to_q16(-Infinity)).toBe(I32_MIN);
    expect(F.t_f64_to_q16(32768)).toBe(I32_MAX);
    expect(F.t_f64_to_q16(-32768)).toBe(I32_MIN);
  });

  it('rounds the largest double below half an LSB down to 0', () => {
    // x 2^16 = 0.5 - 2^-54 (0.49999999999999994 LSB): the nearest Q16 is 0.
    const x = (0.5 - 2 ** -54) / 65536;
    expect(F.t_f64_to_q16(x), `f64_to_q16(${x})`).toBe(0);
  });
});

describe('fixed.ts: f64_to_q32_frac rounds to nearest within [-1, 1]', () => {
  const check = (x: number) => {
    const r = F.t_f64_to_q32_frac(x);
    const what = `f64_to_q32_frac(${x})`;
    let want: number;
    if (x >= 1) want = 2 ** 32;
    else if (x <= -1) want = -(2 ** 32);
    else want = nearestUp(x * 2 ** 32);
    if (r !== BigInt(want)) return holds(what, `expected ${want}, got ${r}`);
    if (Math.abs(x) < 1 && !(errFromFloor(Number(r), x * 2 ** 32) <= 0.5)) return holds(what, 'error above half an LSB');
    return true;
  };

  it('over [-1, 1] and beyond (clamped)', () => {
    fc.assert(fc.property(fc.oneof(fc.double({ min: -1, max: 1, noNaN: true }), finite,
      fc.double({ min: -1e-6, max: 1e-6, noNaN: true })), check), opts);
  });

  it('next to the rounding ties', () => {
    fc.assert(fc.property(nearTies(32, 2 ** 32 - 1).filter((x) => Math.abs(x) < 1), check), opts);
  });

  it('maps NaN to 0 and clamps the infinities', () => {
    expect(F.t_f64_to_q32_frac(NaN)).toBe(0n);
    expect(F.t_f64_to_q32_frac(Infinity)).toBe(Q32);
    expect(F.t_f64_to_q32_frac(-Infinity)).toBe(-Q32);
    expect(F.t_f64_to_q32_frac(2 ** -33)).toBe(1n);   //  0.5 LSB -> 1
    expect(F.t_f64_to_q32_frac(-(2 ** -33))).toBe(0n); // -0.5 LSB -> 0
  });

  it('rounds the largest double below half an LSB down to 0', () => {
    const x = (0.5 - 2 ** -54) / 2 ** 32;
    expect(F.t_f64_to_q32_frac(x), `f64_to_q32_frac(${x})`).toBe(0n);
  });
});

describe('fixed.ts: exp_neg (coefficients at commit)', () => {
  it('e^-x within 2e-15 relative of Math.exp over [0, 700], exact at 0, 0 beyond', () => {
    fc.assert(fc.property(fc.double({ min: 0, max: 700, noNaN: true }), (x) => {
      const want = Math.exp(-x);
      const got = F.t_exp_neg(x);
      return Math.abs(got - want) <= 2e-15 * want || `exp_neg(${x}) = ${got}, Math.exp(-x) = ${want}`;
    }), opts);
    expect(F.t_exp_neg(0)).toBe(1);
    expect(F.t_exp_neg(1e-12)).toBe(Math.exp(-1e-12));
    expect(F.t_exp_neg(800)).toBe(0);
  });
});
