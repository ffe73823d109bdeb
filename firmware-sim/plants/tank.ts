// Level tank with a free outflow through an orifice at its base, filled by
// a pump:
//
//   A dh/dt = q_in - c sqrt(h),   0 <= h <= H (above H it spills over the rim)
//
//   A = 0.05 m^2, c = 1.4142e-3 m^2.5/s (1 L/s at 0.5 m), H = 1 m,
//   pump 0..2 L/s (q_in in L/s, / 1000 in the equation).
//
// The level is reported in mm (the core's Q16.16 signals resolve 15 um, and
// its resid_sigma must be at least 0.001 units: in metres the 1 mm noise
// would not fit).
//
// Nonlinear (Torricelli outflow). Linearized at the operating point h0 =
// 0.5 m, q0 = 1 L/s: dh/dq = 2 sqrt(h0) / c = 1.0 m (1000 mm) per L/s, tau =
// 2 A sqrt(h0) / c = 50 s; that is the core's first-order model (offset h0 -
// K q0 = -500 mm). The local time constant is 32 s at 0.2 m and 64 s at 0.8 m.
//
// Integration: classical RK4 over the step, in equal substeps of at most
// 125 ms (one per jittered 100 ms tick, seven per 800 ms interval). Inside
// the envelope the local time constant is at least 27 s, so a substep is
// under 1/200 of it and the RK4 error stays below 1e-12 m (1e-9 mm; the
// core resolves 1.5e-5 mm); test/sim/plants.test.ts checks the level
// against the exact implicit solution. One substep costs four square roots
// in a dependent chain (about 30 ns); substeps of a few ms would cost 30
// times as much for no visible accuracy. Near an empty tank (h -> 0, where
// sqrt is stiff) the state is clamped at 0.

import { NON_ACTUATOR_FAULTS, type Plant, type PlantSpec } from '../types.js';

export const TANK = {
  /** m^2, cross-section. */
  area: 0.05,
  /** m^2.5/s, outflow coefficient (Cd a sqrt(2 g)). */
  c: 1e-3 / Math.sqrt(0.5),
  /** m, rim (overflow). */
  height: 1,
  /** m (the spec and the core work in mm: 500). */
  setpoint: 0.5,
} as const;

const MM_PER_M = 1000;

/** Pump flow that holds the setpoint, L/s (1.0). */
export const TANK_U_NOMINAL = 1000 * TANK.c * Math.sqrt(TANK.setpoint);
/** Linearization at the setpoint: mm per L/s (1000), and s (50). */
export const TANK_GAIN = (MM_PER_M * 2 * Math.sqrt(TANK.setpoint)) / (1000 * TANK.c);
export const TANK_TAU = (2 * TANK.area * Math.sqrt(TANK.setpoint)) / TANK.c;

/** Largest RK4 substep, s. */
export const TANK_SUBSTEP_S = 0.125;

/** The tank: level in mm, pump flow in L/s; d is an extra inflow in L/s (negative: an extra draw). */
export class Tank implements Plant {
  private h: number;
  private readonly kq: number;   // 1 / (1000 A): m/s per L/s
  private readonly kc: number;   // c / A

  /** At the operating point (0.5 m under 1 L/s) or, cold, at the 0.2 m the tank keeps after commissioning, pump off; or at h0 (m). */
  constructor(opts: { cold?: boolean; h0?: number } = {}) {
    this.h = opts.h0 ?? (opts.cold ? 0.2 : TANK.setpoint);
    this.kq = 1 / (1000 * TANK.area);
    this.kc = TANK.c / TANK.area;
  }

  get output(): number { return this.h * MM_PER_M; }
  /** Level, m. */
  get levelM(): number { return this.h; }

  /** Tripped: the isolation valves on the inlet and the outlet are shut: no inflow (pump or d), no outflow; the level holds. */
  step(u: number, dtS: number, d = 0, tripped = false): number {
    if (!(dtS >= 0)) throw new RangeError(`tank: dt must be >= 0, got ${dtS}`);
    if (tripped) return this.h * MM_PER_M;
    const inflow = (u + d) * this.kq;      // m/s
    const kc = this.kc;
    const n = dtS > TANK_SUBSTEP_S ? Math.ceil(dtS / TANK_SUBSTEP_S) : 1;
    const hs = dtS / n;
    let h = this.h;
    for (let s = 0; s < n; s++) {
      const k1 = inflow - kc * Math.sqrt(h);
      const k2 = inflow - kc * Math.sqrt(pos(h + 0.5 * hs * k1));
      const k3 = inflow - kc * Math.sqrt(pos(h + 0.5 * hs * k2));
      const k4 = inflow - kc * Math.sqrt(pos(h + hs * k3));
      h += (hs / 6) * (k1 + 2 * k2 + 2 * k3 + k4);
      h = h < 0 ? 0 : h > TANK.height ? TANK.height : h;
    }
    this.h = h;
    return h * MM_PER_M;
  }
}

function pos(x: number): number {
  return x > 0 ? x : 0;
}

export const tank: PlantSpec = {
  name: 'tank',
  description: 'Level tank: pump 0..2 L/s into a 0.05 m^2 tank with a free orifice outflow (A dh/dt = q - c sqrt(h)), ' +
    'three redundant level transmitters, 10 Hz loop',
  units: { measurement: 'mm', command: 'L/s' },
  create: (opts) => new Tank(opts),
  setpoint: TANK.setpoint * MM_PER_M,
  uNominal: TANK_U_NOMINAL,
  // 10-bit variable-speed pump drive with a flow meter; the nominal flow is mid-range.
  actuator: { min: 0, max: 2, bits: 10, feedback: true },
  trip: {
    description: 'isolation valves shut on the inlet and the outlet: no inflow, no outflow; the level holds where it was',
    feedback: 0,   // L/s: the flow meter reads no flow
  },
  // 0..1000 mm on 12 bits (0.24 mm per code), 1 mm rms noise (surface ripple).
  sensors: { count: 3, min: 0, max: 1000, noise: 1, adcBits: 12 },
  periodUs: 100_000,
  periodMaxUs: 800_000,
  envelope: {
    min: 150, max: 850,
    description: 'level 150..850 mm: below 0.15 m the downstream pump cavitates (dry run); above 0.85 m the tank ' +
      'overflows its 1 m rim in splashes',
  },
  // The safe stop is the nominal flow, 1 L/s, which is mid-range: the tank
  // is self-regulating and settles back at 0.5 m open loop, and a reversed
  // pump drive (lo + hi - command) still delivers 1 L/s. The fallback (PI
  // toward 0.5 m) keeps a common sensor bias or drift of up to 0.2 m inside.
  // Not covered: a pump stuck (where it froze decides), a pump that lost 60 %
  // or more of its effect (the flow meter disagrees with the command, so
  // act_mismatch latches the safe stop, whose 1 L/s then delivers 0.4 L/s:
  // 80 mm) or is capped at 20 % of its range (0.4 L/s) - no command can make
  // up the flow.
  covered: [...NON_ACTUATOR_FAULTS, 'actuator.reversed'],
  core: {
    range_min: 0, range_max: 1000,
    model_gain: TANK_GAIN, model_tau: TANK_TAU, model_offset: TANK.setpoint * MM_PER_M - TANK_GAIN * TANK_U_NOMINAL,
    // The residual's std in the nominal loop (measured, test/sim/loops.test.ts),
    // and change-detector limits for its autocorrelation (see index.ts).
    resid_sigma: 0.62,
    // The observer corrects 0.4 of the residual per tick (default 0.02): the
    // linear model's slope is off by up to 1.35 mm/s at 0.2 m (Torricelli vs
    // its tangent), which a weak observer turns into a residual of 50 x the
    // per-tick error (15 sigma: a cold start or a setpoint step trips the
    // CUSUM); at 0.4 it is 2.5 x (under 1 sigma). Steps in the measurement
    // still stand out (a 20 mm bias is 37 sigma in its first tick).
    model_corr: 0.4,
    cusum_h: 25, ewma_l: 11,
    // SIMC with tau_c = 5 s (theta ~ half a tick): Kc = tau / (K (tau_c + theta)) = 0.0099 (L/s)/mm,
    // Ti = min(tau, 4 (tau_c + theta)) = 20 s.
    kp: TANK_TAU / (TANK_GAIN * 5.05), ti: 4 * 5.05, slew: 1,
    rate_max: 200,         // mm/s: 20 mm per tick (the level moves at most 40 mm/s)
    spike_thr: 20,         // mm away from the median of 3
    disagree_thr: 10,      // mm between a sensor and the vote (10 x the noise)
    track_thr: 100,        // mm for 500 ticks
    osc_amp: 20,           // mm swings both ways
    mismatch_thr: 0.2,     // L/s between command and flow meter
    fb_setpoint: TANK.setpoint * MM_PER_M, fb_kp: 0.002, fb_ti: 60,
    safe_output: TANK_U_NOMINAL,
    settle_band: 5,        // mm: settled within 5 x the noise
    // The guard: overflow and dry run (the envelope below), acted on 20 mm
    // before a limit; less inflow lowers the level. The trip closes the
    // isolation valves (inflow and outflow stop), and the flow meter reads 0.
    env_min: 150, env_max: 850, env_margin: 20, env_hi_dir: 'down', env_lo_dir: 'up',
    trip_fb: 0, sp_margin: 50, dist_gain: 0.04, dist_max: 500,
  },
};
