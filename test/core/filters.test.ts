// First-order filter states reach their input. With a Q16 state, a step of
// a * (target - x) rounds to zero once |target - x| < 0.5/a LSB, and the
// filter stalls short of its input (7.6 % short for lpf_tau 10 s at 1 ms).
// The core keeps filter states in Q32 (assembly/fixed.ts lerp_q32).
import { describe, expect, it } from 'vitest';
import { Q16 } from '../../host/runtime/core.js';
import { freshCore } from '../support/core.js';

const DIRECT = { s0_scale: 1 / Q16, adc_min: -2147483647, adc_max: 2147483647, range_min: -1000, range_max: 1000, median3: false } as const;
const QUIET = Object.fromEntries(
  ['sens_stuck', 'est_cusum', 'est_ewma', 'ctl_tracking', 'ctl_integ_sat', 'act_saturation'].map((m) => [`${m}.level`, 'none']),
);

describe('filters converge to their input (no fixed-point stall)', () => {
  for (const tau of [0.1, 1, 10]) {
    it(`low-pass, tau ${tau} s at 1 ms: settles within 1 LSB of a constant input`, () => {
      const c = freshCore();
      c.configure({ ...DIRECT, ...QUIET, lpf_tau: tau, period_min_us: 1000, period_max_us: 1000 });
      c.tick(0, { sensors: [0] });
      const n = Math.round((12 * tau) / 0.001);
      for (let k = 1; k <= n; k++) c.tick(k * 1000, { sensors: [Q16] });
      expect(Math.abs(c.raw.measurement() - Q16)).toBeLessThanOrEqual(1);
    });
  }

  it('the derivative term decays to zero once the measurement is constant (PD, no integrator to hide it)', () => {
    const c = freshCore();
    c.configure({ ...DIRECT, ...QUIET, kp: 1, ti: 0, td: 0.3, tf: 0.5, out_min: -100, out_max: 100, period_min_us: 1000, period_max_us: 1000 });
    c.setSetpoint(0, 0);
    let t = 0;
    for (let k = 0; k < 1000; k++) c.tick((t += 1000), { sensors: [Math.round((k / 1000) * Q16)] }); // ramp to 1.0
    for (let k = 0; k < 20_000; k++) c.tick((t += 1000), { sensors: [Q16] });
    // u = Kp (0 - y) + D with y = 1: D must be back to 0 within 1 LSB.
    expect(Math.abs(c.raw.output() + Q16)).toBeLessThanOrEqual(1);
  });

  it('the model estimate settles on its steady state K u + offset', () => {
    const c = freshCore();
    c.configure({ ...DIRECT, ...QUIET, model_gain: 2, model_tau: 10, model_offset: 1, model_corr: 0, kp: 0, ti: 0,
      out_min: -100, out_max: 100, safe_output: 3, period_min_us: 1000, period_max_us: 1000 });
    c.tick(0, { sensors: [0] });
    for (let k = 1; k <= 150_000; k++) c.tick(k * 1000, { sensors: [0] });
    // kp = 0 and no integral: the command stays at the safe output it started from (3).
    expect(c.raw.output()).toBe(3 * Q16);
    expect(Math.abs(c.raw.estimate() - 7 * Q16)).toBeLessThanOrEqual(1);
  });
});
