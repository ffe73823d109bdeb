// Surge drum: a small buffer vessel feeding a process that draws a fixed
// flow, refilled by a pump. No outflow depends on the level, so the level
// integrates the flow imbalance:
//
//   dL/dt = ki (u + d - D),  ki = 0.1 %/s per % of pump capacity, D = 50 %
//
// (the pump at full capacity against the 50 % draw fills the empty drum in
// 20 s). Faults cascade fast: a pump that stops drains 5 %/s, 5 s from the
// setpoint to the edge of the envelope. Exact for any dt (a ramp), clamped
// at an empty (0 %) and a full (100 %, overflow) drum.
//
// The core's model is first order, x+ = x + a (K u + offset - x): an
// integrator is its limit tau -> infinity with K = ki tau. We take tau =
// 3000 s, K = 300 %/%, offset = L0 - K D = -14950 %, which is exact at the
// operating point L0 = 50 % and leaks by (L0 - L) / tau elsewhere (0.0033
// %/s per 10 % of level error). tau is bounded by the core's Q16 range: K u
// + offset must stay within +-32767 for every command (here -14950 ..
// 15050). The observer corrects 0.05 of the residual per tick (default
// 0.02): the leak, per 160 ms interval, would otherwise bias the residual
// by 1.4 sigma at the edge of the envelope.

import { NON_ACTUATOR_FAULTS, type Plant, type PlantSpec } from '../types.js';

export const DRUM = {
  /** %/s of level per % of pump capacity. */
  ki: 0.1,
  /** The process draw, % of pump capacity. */
  demand: 50,
  /** %. */
  setpoint: 50,
  /** The core's model time constant, s (long: an integrator). */
  modelTau: 3000,
} as const;

/** The drum: level in %, pump command in % of capacity; d is extra inflow in % of pump capacity (negative: a larger draw). */
export class SurgeDrum implements Plant {
  private level: number;

  /** At the operating point (50 %, pump matching the draw) or, cold, a restart at 40 % with the pump off (the draw is on). */
  constructor(opts: { cold?: boolean; level0?: number } = {}) {
    this.level = opts.level0 ?? (opts.cold ? 40 : DRUM.setpoint);
  }

  get output(): number { return this.level; }

  /** Tripped: the drum is isolated: the pump's inflow (and d) and the process draw both stop; the level holds. */
  step(u: number, dtS: number, d = 0, tripped = false): number {
    if (!(dtS >= 0)) throw new RangeError(`integrator: dt must be >= 0, got ${dtS}`);
    if (tripped) return this.level;
    const l = this.level + DRUM.ki * (u + d - DRUM.demand) * dtS;
    this.level = l < 0 ? 0 : l > 100 ? 100 : l;
    return this.level;
  }
}

const MODEL_GAIN = DRUM.ki * DRUM.modelTau;
// SIMC for an integrating process k' e^(-theta s) / s: Kc = 1 / (k' (tau_c +
// theta)), Ti = 4 (tau_c + theta); tau_c = 1 s, theta ~ one tick (20 ms).
const TAU_C = 1;
const THETA = 0.02;

export const integrator: PlantSpec = {
  name: 'integrator',
  description: 'Surge drum: pump 0..100 % against a fixed 50 % draw, level integrates the imbalance ' +
    '(0.1 %/s per %), two redundant level transmitters, 50 Hz loop',
  units: { measurement: '%', command: '%' },
  create: (opts) => new SurgeDrum(opts),
  setpoint: DRUM.setpoint,
  uNominal: DRUM.demand,
  // 12-bit pump drive with a flow meter; the nominal flow (the draw) is mid-range.
  actuator: { min: 0, max: 100, bits: 12, feedback: true },
  trip: {
    description: 'drum isolated: inlet and outlet valves shut, so the pump inflow and the process draw both stop; the level holds',
    feedback: 0,   // %: the flow meter reads no flow
  },
  // 0..100 % on 12 bits (0.024 % per code), 0.1 % rms noise.
  sensors: { count: 2, min: 0, max: 100, noise: 0.1, adcBits: 12 },
  periodUs: 20_000,
  periodMaxUs: 160_000,
  envelope: {
    min: 25, max: 75,
    description: 'level 25..75 %: below 25 % the process draw entrains gas, above 75 % the drum loses its surge volume; ' +
      '5 s from the setpoint with the pump stopped',
  },
  // The safe stop holds the pump at the draw (50 %, mid-range): the level
  // stays where it was, and a reversed pump drive still delivers 50 %. The
  // fallback (PI toward 50 %) keeps a common sensor bias or drift of up to
  // 20 % inside. Not covered: a pump stuck (where it froze decides), capped
  // at 20 % (under the draw), or that lost any of its effect (the flow
  // meter disagrees with the command, so act_mismatch latches the safe stop,
  // whose 50 % then delivers less than the draw: the drum empties).
  covered: [...NON_ACTUATOR_FAULTS, 'actuator.reversed'],
  core: {
    range_min: 0, range_max: 100,
    model_gain: MODEL_GAIN, model_tau: DRUM.modelTau, model_offset: DRUM.setpoint - MODEL_GAIN * DRUM.demand,
    // The residual's std in the nominal loop (measured, test/sim/loops.test.ts),
    // and change-detector limits for its autocorrelation (see index.ts).
    resid_sigma: 0.0485,
    model_corr: 0.05,      // see the header: the model's leak away from 50 %
    cusum_h: 25, ewma_l: 11,
    kp: 1 / (DRUM.ki * (TAU_C + THETA)), ti: 4 * (TAU_C + THETA), slew: 50,
    rate_max: 100,         // %/s: 2 % per tick (the level moves at most 0.1 % per tick; the rest is room for the noise at 50 Hz)
    spike_thr: 2,          // % away from the median of 3
    disagree_thr: 1,       // % between a sensor and the vote (10 x the noise)
    track_thr: 5,          // % for 500 ticks (10 s)
    osc_amp: 2,            // % swings both ways
    mismatch_thr: 5,       // % between command and flow meter
    fb_setpoint: DRUM.setpoint, fb_kp: 3, fb_ti: 20,
    safe_output: DRUM.demand,
    settle_band: 0.5,      // %: settled within 5 x the noise
    // The guard: the drum's surge volume and gas entrainment (the envelope
    // below), acted on 2 % before a limit; less pumping lowers the level.
    // The trip isolates the drum (inflow and draw stop), the flow meter reads 0.
    env_min: 25, env_max: 75, env_margin: 2, env_hi_dir: 'down', env_lo_dir: 'up',
    trip_fb: 0, sp_margin: 5, dist_gain: 0.000625, dist_max: 7500,
  },
};
