// Thermal chamber: a heater (0..100 % power) and a chamber that follows it
// as first order plus dead time,
//
//   tau dT/dt = k P(t - theta) + T_ambient - T,
//   k = 1.5 C per %, tau = 60 s, theta = 2 s, T_ambient = 20 C,
//
// held at 80 C by 40 % of heater power. The dead time is the transport from
// the heater to the sensors; FopdtVariable integrates it exactly for any
// step (time-stamped input history), so jittered ticks and the long
// intervals of action-to-sensing cost nothing in accuracy.
//
// The core's model is the plant itself (same k, tau, theta, ambient), and
// its tuning is the one test/support/thermal.ts runs 10^6 nominal ticks
// with: SIMC PI with tau_c = theta (Kc = tau / (k (tau_c + theta)) = 10 %/C,
// Ti = min(tau, 4 (tau_c + theta)) = 16 s).

import { NON_ACTUATOR_FAULTS, type Plant, type PlantSpec } from '../types.js';
import { FopdtVariable } from './fopdt.js';

export const THERMAL = {
  /** C per % of heater power. */
  k: 1.5,
  /** s. */
  tau: 60,
  /** s, heater to sensors. */
  theta: 2,
  /** C. */
  ambient: 20,
  /** C. */
  setpoint: 80,
} as const;

/** Heater power that holds the setpoint, %. */
export const THERMAL_U_NOMINAL = (THERMAL.setpoint - THERMAL.ambient) / THERMAL.k;

/** The chamber: temperature in C, heater power in %; d is extra heat input in % of heater power (it enters with the heater, so it is delayed too). */
export class ThermalChamber extends FopdtVariable implements Plant {
  /** At the operating point (80 C under 40 % for longer than the dead time) or, cold, at ambient with the heater off. */
  constructor(opts: { cold?: boolean } = {}) {
    super({ k: THERMAL.k, tau: THERMAL.tau, theta: THERMAL.theta, ambient: THERMAL.ambient, u0: opts.cold ? 0 : THERMAL_U_NOMINAL });
  }

  /**
   * Tripped: the heater's contactor is open, so the heater gets no power
   * whatever the drive commands; the load's heat d still enters (through
   * the same dead time), and the chamber cools toward ambient.
   */
  override step(u: number, dtS: number, d = 0, tripped = false): number {
    return super.step(tripped ? 0 : u, dtS, d);
  }
}

export const thermal: PlantSpec = {
  name: 'thermal',
  description: 'Thermal chamber: heater 0..100 %, first order plus dead time (k 1.5 C/%, tau 60 s, theta 2 s, ambient 20 C), ' +
    'three redundant temperature sensors, 10 Hz loop',
  units: { measurement: 'C', command: '%' },
  create: (opts) => new ThermalChamber(opts),
  setpoint: THERMAL.setpoint,
  uNominal: THERMAL_U_NOMINAL,
  // 10-bit PWM heater driver with a power meter.
  actuator: { min: 0, max: 100, bits: 10, feedback: true },
  trip: {
    description: 'heater contactor opens: no heater power whatever the drive commands (the load still heats); ' +
      'the chamber cools toward 20 C ambient, tau 60 s after the 2 s dead time',
    feedback: 0,   // % : the power meter reads no power
  },
  // 0..204.75 C on 12 bits: 0.05 C per code; 0.1 C rms (2 codes) of noise.
  sensors: { count: 3, min: 0, max: 204.75, noise: 0.1, adcBits: 12 },
  periodUs: 100_000,
  // 4x, not 8x: the levels 100, 200 and 400 ms all divide the 2 s dead time,
  // so the core's model (one command per interval, looked up at mid-interval)
  // sees the same delayed input as the plant. At 800 ms the delayed window
  // straddles two commands, the model's error grows 2.5-fold and the CUSUM
  // false-trips within 10^5 ticks (measured).
  periodMaxUs: 400_000,
  envelope: {
    min: 10, max: 95,
    description: 'chamber temperature 10..95 C: above 95 C the load is damaged; below 10 C it would condense ' +
      '(the heater cannot cool, so only the upper limit can be reached)',
  },
  // The fallback (PI toward 40 C on the voted measurement) and the safe stop
  // (heater off: the chamber cools to 20 C) keep it inside for everything
  // that is seen by the sensing, estimation or timing stages, for an
  // actuator that heats less than asked (weak or saturated heater: at most
  // 1.5 C/% x what it delivers), and for bit flips (safe stop). Not
  // covered: a heater driver that is stuck (frozen at its last power: where
  // it froze decides, not the controller) or reversed (lo + hi - command:
  // the safe stop's 0 % becomes 100 %, 170 C).
  covered: [...NON_ACTUATOR_FAULTS, 'actuator.effectiveness', 'actuator.saturation'],
  core: {
    range_min: 0, range_max: 200,
    model_gain: THERMAL.k, model_tau: THERMAL.tau, model_offset: THERMAL.ambient, model_delay_us: THERMAL.theta * 1e6,
    // The residual's std in the nominal loop (measured, test/sim/loops.test.ts),
    // and change-detector limits for its autocorrelation (see index.ts).
    resid_sigma: 0.0475,
    cusum_h: 25, ewma_l: 11,
    kp: 10, ti: 16, slew: 20,
    rate_max: 50,          // C/s: 5 C in one tick (the chamber moves at most 2.5 C/s)
    spike_thr: 5,          // C away from the median of 3
    disagree_thr: 1,       // C between a sensor and the vote (10 x the noise)
    track_thr: 10,         // C of error for 500 ticks
    osc_amp: 2,            // C swings both ways, 6 of them each within 200 ticks
    mismatch_thr: 5,       // % between command and measured heater power
    fb_setpoint: 40, fb_kp: 2, fb_ti: 60,
    safe_output: 0,
    settle_band: 0.5,      // C: settled within 5 x the noise, then the interval doubles
    // The guard: the envelope on the chamber's temperature (below), acted on
    // 3 C before a limit at the horizon (dead time + 4 periods, 2.4 s): less
    // heat moves it away from the top, more from the bottom. The trip cuts
    // the heater's power, which its meter then reads as 0 %.
    env_min: 10, env_max: 95, env_margin: 3, env_hi_dir: 'down', env_lo_dir: 'up',
    trip_fb: 0, trip_dir: 'down', sp_margin: 5, dist_max: 37.5,
    // model_corr^2 / 4 = 0.0001 is not a Q16.16 value; the nearest is 7/65536.
    dist_gain: 7 / 65536,
  },
};
