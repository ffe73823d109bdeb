// DC motor speed: a 24 V permanent-magnet motor driving a pump impeller
// (its load is viscous, lumped into b), voltage-commanded through a PWM
// driver (0..24 V, one direction), speed measured by a tachometer.
//
//   L di/dt = V - R i - Ke w           (armature)
//   J dw/dt = Kt i - b w               (mechanics)
//
//   R = 2 ohm, L = 2 mH, Ke = Kt = 0.05 V s/rad, J = 2e-4 kg m^2, b = 1e-4 N m s
//
// Poles: -6.8 /s (mechanical, tau 147 ms) and -994 /s (electrical, 1.0 ms).
// Static gain Kt / (Kt Ke + R b) = 18.5 rad/s per V = 176.8 rpm/V, so the
// setpoint 3000 rpm takes 16.97 V and 24 V gives 4244 rpm.
//
// The step is the exact zero-order-hold solution for any dt: with the two
// (real, distinct) eigenvalues l1, l2 of the state matrix A,
// x(t + dt) = x_ss + e^(A dt) (x - x_ss), e^(A dt) = (e^(l1 dt) (A - l2 I)
// - e^(l2 dt) (A - l1 I)) / (l1 - l2), and x_ss the steady state under V.
// Two exponentials per step (expNeg: exact to the last bit); the matrix is
// reused while dt repeats.
//
// The core's model is first order: the dominant mechanical pole (gain 176.8
// rpm/V, tau 147 ms); the electrical lag (1 ms) shows as a small dead time.
//
// Safe torque off (the trip) disconnects the drive's output: no armature
// voltage and no current (i = 0), so no motor torque. The rotor coasts under
// its viscous load and the load disturbance d, which acts as the torque it
// exerts with the drive on, Kt d / R (d is an equivalent voltage):
//
//   J dw/dt = Kt d / R - b w   ->   w(t + dt) = w_ss + e^(-b dt / J) (w - w_ss),  w_ss = Kt d / (R b)
//
// (J / b = 2 s: from 3000 rpm, about 1100 rpm are left after 2 s.) Once the
// trip clears, the drive takes over again from that state.

import { NON_ACTUATOR_FAULTS, type Plant, type PlantSpec } from '../types.js';
import { expNeg } from './fopdt.js';

export const MOTOR = {
  /** ohm */
  R: 2,
  /** H */
  L: 2e-3,
  /** V s/rad (back-emf) */
  Ke: 0.05,
  /** N m/A (torque) */
  Kt: 0.05,
  /** kg m^2, rotor and impeller */
  J: 2e-4,
  /** N m s, bearing and pump load */
  b: 1e-4,
  /** rpm */
  setpoint: 3000,
} as const;

export const RPM_PER_RAD_S = 60 / (2 * Math.PI);

export interface MotorParams {
  R: number; L: number; Ke: number; Kt: number; J: number; b: number;
}

/** Linearized numbers of a motor: eigenvalues, static gain (rpm/V) and the dominant time constant (s). */
export function motorNumbers(p: MotorParams = MOTOR): { l1: number; l2: number; gainRpmPerV: number; tauS: number; tauElecS: number } {
  const a11 = -p.R / p.L, a12 = -p.Ke / p.L, a21 = p.Kt / p.J, a22 = -p.b / p.J;
  const tr = a11 + a22;
  const det = a11 * a22 - a12 * a21;
  const disc = tr * tr / 4 - det;
  if (!(disc > 0)) throw new RangeError('motor: the poles must be real and distinct (overdamped)');
  const l1 = tr / 2 + Math.sqrt(disc);   // slow (mechanical)
  const l2 = tr / 2 - Math.sqrt(disc);   // fast (electrical)
  const gain = p.Kt / (p.Kt * p.Ke + p.R * p.b);
  return { l1, l2, gainRpmPerV: gain * RPM_PER_RAD_S, tauS: -1 / l1, tauElecS: -1 / l2 };
}

const NUM = motorNumbers();
const CACHE_SIZE = 256;
/** Voltage that holds the setpoint, V. */
export const MOTOR_U_NOMINAL = MOTOR.setpoint / NUM.gainRpmPerV;

/**
 * The motor: speed in rpm, voltage in V; d is a load expressed as an
 * equivalent voltage (added to V; negative = a braking load, such as the
 * pump's back-pressure). A braking load opposes the rotation: it can bring the
 * rotor to rest but not turn it backwards (the drive never applies a negative
 * voltage), powered or coasting.
 */
export class DcMotor implements Plant {
  private i: number;   // A
  private w: number;   // rad/s
  private readonly a11: number; private readonly a12: number; private readonly a21: number; private readonly a22: number;
  private readonly l1: number; private readonly l2: number;
  // Coasting (tripped): 1/s of speed decay, b / J; steady speed per volt of load, Kt / (R b).
  private readonly coastRate: number; private readonly coastGw: number;
  // Steady state per volt: i_ss = gi V, w_ss = gw V.
  private readonly gi: number; private readonly gw: number;
  // e^(A dt) for the last dt, and a direct-mapped cache of it by dt in whole
  // microseconds (jittered ticks repeat a few hundred distinct intervals).
  private lastDt = -1;
  private p11 = 1; private p12 = 0; private p21 = 0; private p22 = 1;
  private readonly cacheDt = new Float64Array(CACHE_SIZE).fill(-1);
  private readonly cacheP = new Float64Array(CACHE_SIZE * 4);

  /** At the operating point (3000 rpm under its nominal voltage) or, cold, at rest (no current, no speed). */
  constructor(opts: { cold?: boolean; params?: MotorParams } = {}) {
    const p = opts.params ?? MOTOR;
    this.a11 = -p.R / p.L; this.a12 = -p.Ke / p.L; this.a21 = p.Kt / p.J; this.a22 = -p.b / p.J;
    const n = motorNumbers(p);
    this.l1 = n.l1; this.l2 = n.l2;
    const den = p.Kt * p.Ke + p.R * p.b;
    this.gw = p.Kt / den;
    this.gi = p.b / den;
    this.coastRate = p.b / p.J;
    this.coastGw = p.Kt / (p.R * p.b);
    const v0 = opts.cold ? 0 : MOTOR.setpoint / n.gainRpmPerV;
    this.i = this.gi * v0;
    this.w = this.gw * v0;
  }

  get output(): number { return this.w * RPM_PER_RAD_S; }
  /** Armature current, A. */
  get current(): number { return this.i; }

  /** Tripped: safe torque off, no armature voltage or current; the motor coasts down under its load (see the header). */
  step(u: number, dtS: number, d = 0, tripped = false): number {
    if (tripped) return this.coast(dtS, d);
    if (dtS !== this.lastDt) this.transition(dtS);
    const v = d < 0 ? Math.max(u + d, 0) : u + d;
    const di = this.i - this.gi * v;
    const dw = this.w - this.gw * v;
    this.i = this.gi * v + this.p11 * di + this.p12 * dw;
    this.w = this.gw * v + this.p21 * di + this.p22 * dw;
    return this.w * RPM_PER_RAD_S;
  }

  private coast(dtS: number, d: number): number {
    if (!(dtS >= 0)) throw new RangeError(`motor: dt must be >= 0, got ${dtS}`);
    // The pump is a passive load: coasting, a heavier load (d < 0) brakes the
    // rotor harder, a lighter one does not drive it.
    const wSs = d < 0 ? this.coastGw * d : 0;
    this.i = 0;
    this.w = wSs + (this.w - wSs) * expNeg(this.coastRate * dtS);
    if (d < 0 && this.w < 0) this.w = 0;   // a braking load stops the rotor, no more
    return this.w * RPM_PER_RAD_S;
  }

  private transition(dtS: number): void {
    if (!(dtS >= 0)) throw new RangeError(`motor: dt must be >= 0, got ${dtS}`);
    const slot = Math.round(dtS * 1e6) & (CACHE_SIZE - 1);
    const at = slot * 4;
    const cp = this.cacheP;
    if (this.cacheDt[slot] === dtS) {
      this.p11 = cp[at]; this.p12 = cp[at + 1]; this.p21 = cp[at + 2]; this.p22 = cp[at + 3];
      this.lastDt = dtS;
      return;
    }
    const e1 = expNeg(-this.l1 * dtS);
    const e2 = expNeg(-this.l2 * dtS);
    const k = 1 / (this.l1 - this.l2);
    // (e1 (A - l2 I) - e2 (A - l1 I)) / (l1 - l2)
    const s = (e1 - e2) * k;
    const c = (e2 * this.l1 - e1 * this.l2) * k;
    this.p11 = s * this.a11 + c; this.p12 = s * this.a12;
    this.p21 = s * this.a21; this.p22 = s * this.a22 + c;
    this.lastDt = dtS;
    this.cacheDt[slot] = dtS;
    cp[at] = this.p11; cp[at + 1] = this.p12; cp[at + 2] = this.p21; cp[at + 3] = this.p22;
  }
}

export const motor: PlantSpec = {
  name: 'motor',
  description: 'DC motor speed: 24 V PWM drive, armature (2 ohm, 2 mH) and rotor with a pump load (J 2e-4 kg m^2), ' +
    'second order (poles at 147 ms and 1 ms), one tachometer, 500 Hz loop',
  units: { measurement: 'rpm', command: 'V' },
  create: (opts) => new DcMotor(opts),
  setpoint: MOTOR.setpoint,
  uNominal: MOTOR_U_NOMINAL,
  // 10-bit PWM over 0..24 V; the drive reports the armature voltage.
  actuator: { min: 0, max: 24, bits: 10, feedback: true },
  trip: {
    description: 'safe torque off: the drive output is disconnected, no armature voltage or current; ' +
      'the motor coasts down under its pump load (J / b = 2 s)',
    feedback: 0,   // V: the drive reports no output voltage
  },
  // Tachometer through an offset amplifier: -1000..5000 rpm on 12 bits (1.47 rpm per code), 4 rpm rms noise.
  sensors: { count: 1, min: -1000, max: 5000, noise: 4, adcBits: 12 },
  periodUs: 2_000,
  periodMaxUs: 16_000,
  envelope: {
    min: -50, max: 3600,
    description: 'speed -50..3600 rpm: over-speed above 120 % of the 3000 rpm setpoint; the pump must not run backwards',
  },
  // One sensor: a sensing fault that the core names ends in the safe stop
  // (0 V, the motor coasts down) or, seen by the residual, in the fallback
  // (PI toward 2000 rpm: a bias or drift of up to 1200 rpm keeps the true
  // speed under 3600). Less voltage than asked only slows the motor. A
  // stuck or reversed drive is not covered: the safe stop's 0 V becomes the
  // frozen voltage or 24 V (4244 rpm).
  covered: [...NON_ACTUATOR_FAULTS, 'actuator.effectiveness', 'actuator.saturation'],
  core: {
    range_min: -500, range_max: 4800,
    model_gain: NUM.gainRpmPerV, model_tau: NUM.tauS, model_offset: 0, model_delay_us: 1000,
    // The residual's std in the nominal loop (measured, test/sim/loops.test.ts),
    // and change-detector limits for its autocorrelation (see index.ts).
    resid_sigma: 2.9,
    // The observer corrects 0.2 of the residual per tick (default 0.02): the
    // first-order model misses the electrical lag, a small error per tick
    // while the voltage ramps (up to 0.5 rpm), which the default observer
    // would amplify 50-fold (a setpoint step trips the CUSUM); at 0.2 it is
    // 5-fold. model_delay_us = 1 ms (the electrical time constant) takes the
    // lag as a dead time: at 2 ms ticks the model looks the command up at
    // mid-interval minus 1 ms, right on a command boundary, so the jitter
    // picks one side or the other - on average the half-and-half blend of
    // two commands that the lag produces (0 or 2 ms left larger maxima).
    model_corr: 0.2,
    cusum_h: 25, ewma_l: 11,
    // SIMC with tau_c = 30 ms, theta = 2 ms (electrical lag + half a tick):
    // Kc = tau / (K (tau_c + theta)), Ti = min(tau, 4 (tau_c + theta)).
    kp: NUM.tauS / (NUM.gainRpmPerV * 0.032), ti: Math.min(NUM.tauS, 4 * 0.032), slew: 200,
    rate_max: 32_000,      // rpm/s: 64 rpm per tick (24 V from rest accelerates at 28,700 rpm/s; the Q16 limit is 32767)
    spike_thr: 100,        // rpm away from the median of 3
    track_thr: 300,        // rpm (10 %) for 500 ticks (1 s)
    osc_amp: 20,
    mismatch_thr: 1,       // V between command and armature voltage
    fb_setpoint: 2000, fb_kp: 0.002, fb_ti: 0.15,
    safe_output: 0,
    settle_band: 20,       // rpm: settled within 5 x the noise
    // The guard: over-speed and reverse running (the envelope below), acted
    // on 100 rpm before a limit; less voltage slows it. Safe torque off
    // disconnects the drive, whose output then reads 0 V.
    env_min: -50, env_max: 3600, env_margin: 100, env_hi_dir: 'down', env_lo_dir: 'up',
    trip_fb: 0, sp_margin: 300, dist_gain: 0.01, dist_max: 1060,
  },
};
