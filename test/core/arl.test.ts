// Average run lengths of the estimation-stage change detectors (est_cusum,
// est_ewma), measured through the real tick, against the published tables.
//
// Published figures (as recorded in /work/shared/design/REFERENCES.md):
// - Two-sided CUSUM, k = 0.5, h = 4: Lucas, J. M. & Crosier, R. B. (1982),
//   "Fast initial response for CUSUM quality-control schemes: give your CUSUM
//   a head start", Technometrics 24(3), 199-205 (ARL without head start).
// - EWMA, lambda = 0.5, L = 3.071, asymptotic limits: Lucas, J. M. &
//   Saccucci, M. S. (1990), "Exponentially weighted moving average control
//   schemes: properties and enhancements", Technometrics 32(1), 1-12.
//
// Set-up: the model's prediction is held at exactly 0 (gain 0, offset 0,
// correction 0, primed on y = 0; with correction 0 its state stays at the
// prediction, which is 0), resid_sigma = 1, so the residual z the detectors
// see is the measurement itself. Measurements y ~ N(delta, 1) are fed as Q16
// values. Each run: reset() (restarts the detectors, releases the latches),
// then ticks with fresh samples until the monitor's active bit is set; the
// run length is the number of ticks, the alarming one included.

import { describe, expect, it } from 'vitest';
import { MONITORS, Q16, SAMPLE_NONE, type ParamName, type ParamValue } from '../../host/runtime/core.js';
import type { Core } from '../../host/runtime/core.js';
import { Rng } from '../../firmware-sim/rng.js';
import { freshCore } from '../support/core.js';

const PERIOD_US = 10_000;
// 4000 runs: Monte Carlo SE ~ARL/63. Not much more: the published tables are
// numerical approximations good to about 0.3 % (a float64 Monte Carlo of
// 4e5 runs gives 88.46 +- 0.14 and 17.44 +- 0.02 for the EWMA at delta 0.5
// and 1, against 88.8 and 17.5), which a far larger N would resolve.
const RUNS = 4000;
const BIT_CUSUM = 1 << MONITORS.indexOf('est_cusum'); // bit 11
const BIT_EWMA = 1 << MONITORS.indexOf('est_ewma'); // bit 12

// Lucas & Crosier (1982), two-sided CUSUM k = 0.5, h = 4.
const CUSUM_TABLE: readonly [number, number][] = [
  [0, 168], [0.25, 74.2], [0.5, 26.6], [0.75, 13.3], [1, 8.38], [1.5, 4.75], [2, 3.34], [3, 2.19], [4, 1.71],
];
// Lucas & Saccucci (1990), EWMA lambda = 0.5, L = 3.071.
const EWMA_TABLE: readonly [number, number][] = [
  [0, 500], [0.5, 88.8], [1, 17.5], [2, 3.63], [3, 1.93],
];

function detectorCore(): Core {
  const c = freshCore();
  const params: Partial<Record<ParamName, ParamValue>> = {
    // Engineering units straight in: raw counts are Q16 values.
    s0_scale: 1 / Q16, s0_offset: 0, adc_min: -2147483647, adc_max: 2147483647,
    range_min: -30000, range_max: 30000, median3: false, lpf_tau: 0,
    // Prediction 0: the residual is the measurement.
    model_gain: 0, model_offset: 0, model_corr: 0, model_tau: 0.001, model_delay_us: 0,
    resid_sigma: 1,
    cusum_k: 0.5, cusum_h: 4,
    ewma_lambda: 0.5, ewma_l: 3.071,
    ew_window: 0,
    period_min_us: PERIOD_US, period_max_us: PERIOD_US, settle_band: 0,
    'est_cusum.trip_ticks': 1, 'est_ewma.trip_ticks': 1,
    'est_cusum.latched': true, 'est_ewma.latched': true,
  };
  // The detectors keep their default (fallback, latched) rows; every other
  // monitor stands down. Nothing else feeds the detectors: the mode only
  // changes the command, which a model with gain 0 ignores.
  for (const m of MONITORS) if (m !== 'est_cusum' && m !== 'est_ewma') params[`${m}.level`] = 'none';
  c.configure(params);
  return c;
}

interface Point {
  delta: number;
  published: number;
  mean: number;
  sd: number;
  se: number;
  allowance: number;
}

/** Half a unit in the last digit of a figure published to 3 significant digits. */
function tableRounding(x: number): number {
  return 0.5 * 10 ** (Math.floor(Math.log10(x)) - 2);
}

function measure(bit: number, table: readonly [number, number][], seed: number): Point[] {
  const c = detectorCore();
  const r = c.raw;
  let now = 0n;
  // The model primes on its first samples (an observer warm-up of 16 trusted
  // samples, assembly/model.ts WARMUP_TICKS, during which the detectors
  // wait): run it past the warm-up on y = 0 before the first run.
  for (let k = 0; k < 20; k++) { now += BigInt(PERIOD_US); r.tick(now, 0, SAMPLE_NONE, SAMPLE_NONE, SAMPLE_NONE); }
  const out: Point[] = [];
  table.forEach(([delta, published], i) => {
    const rng = new Rng(seed + i);
    const cap = Math.ceil(published * 100);
    let sum = 0;
    let sum2 = 0;
    for (let run = 0; run < RUNS; run++) {
      r.reset();
      let n = 0;
      do {
        now += BigInt(PERIOD_US);
        r.tick(now, Math.round((delta + rng.gauss()) * Q16), SAMPLE_NONE, SAMPLE_NONE, SAMPLE_NONE);
        n++;
      } while ((r.monitors_active() & bit) === 0 && n < cap);
      expect(n, `run ${run} at delta ${delta} never alarmed`).toBeLessThan(cap);
      sum += n;
      sum2 += n * n;
    }
    const mean = sum / RUNS;
    const sd = Math.sqrt((sum2 - RUNS * mean * mean) / (RUNS - 1));
    // Allowance beyond Monte Carlo error:
    // - the table's own rounding (3 significant digits);
    // - Q16 quantization, at most 1e-3 of the ARL. The detectors see
    //   z = round(y * 2^16) / 2^16 (sigma 1: the scaling is exact), an error
    //   uniform in +-2^-17, zero-mean and independent of the state. CUSUM
    //   arithmetic (k, h exact in Q16) is exact; the EWMA update rounds to
    //   +-2^-17 per step (accumulated error <= 2^-17 / lambda = 1.5e-5 sigma)
    //   and its limit 3.071 * sqrt(1/3) rounds to +-2^-17. An ARL moves by
    //   about (d ln ARL / dh) * eps ~ 3 * 1.5e-5 / 0.577 < 1e-4 of itself
    //   for eps this small: 1e-3 keeps a 10x margin.
    out.push({ delta, published, mean, sd, se: sd / Math.sqrt(RUNS),
      allowance: tableRounding(published) + 1e-3 * published });
  });
  return out;
}

function printTable(name: string, points: Point[]): void {
  const rows = points.map((p) => `  ${p.delta.toFixed(2).padStart(5)} | ${p.mean.toFixed(3).padStart(9)} | `
    + `${p.se.toFixed(3).padStart(6)} | ${(p.published / Math.sqrt(RUNS)).toFixed(3).padStart(6)} | `
    + `${String(p.published).padStart(6)} | ${((p.mean - p.published) / p.se).toFixed(2).padStart(6)}`);
  // eslint-disable-next-line no-console
  console.log(`${name} (${RUNS} runs per point)\n  delta |  measured |     SE | ARL/vN | publ.  | (m-p)/SE\n${rows.join('\n')}`);
}

function check(points: Point[]): void {
  for (const p of points) {
    expect(Math.abs(p.mean - p.published), `delta ${p.delta}: measured ${p.mean.toFixed(3)} ± ${p.se.toFixed(3)}, published ${p.published}`)
      .toBeLessThanOrEqual(4 * p.se + p.allowance);
  }
}

describe('change detector ARL tables through the real tick', () => {
  it('two-sided CUSUM k = 0.5, h = 4 reproduces Lucas & Crosier (1982)', () => {
    const t0 = performance.now();
    const points = measure(BIT_CUSUM, CUSUM_TABLE, 0xc05a0);
    printTable(`est_cusum ARL, ${((performance.now() - t0) / 1000).toFixed(1)} s`, points);
    check(points);
  });

  it('EWMA lambda = 0.5, L = 3.071 reproduces Lucas & Saccucci (1990)', () => {
    const t0 = performance.now();
    const points = measure(BIT_EWMA, EWMA_TABLE, 0xe3a0);
    printTable(`est_ewma ARL, ${((performance.now() - t0) / 1000).toFixed(1)} s`, points);
    check(points);
  });
});
