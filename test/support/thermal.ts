// A thermal chamber in the loop: a FOPDT plant (k = 1.5 C per %, tau = 60 s,
// theta = 2 s, ambient 20 C) sampled by 12-bit ADCs with 2 counts rms of
// noise, driven by one core.wasm instance at 10 Hz. Hooks corrupt what the
// core sees (sensor samples, the actuator, the host's clock, the setpoint
// refresh) so a test can narrate a fault and watch the core react.

import { expect } from 'vitest';
import { Core, Q16, SAMPLE_NONE, type CoreEvent, type ParamName, type ParamValue } from '../../host/runtime/core.js';
import { Fopdt } from '../../firmware-sim/plants/fopdt.js';
import { Rng } from '../../firmware-sim/rng.js';
import { freshCore } from './core.js';

export const PERIOD_US = 100_000;
export const DT_S = PERIOD_US / 1e6;
export const PLANT = { k: 1.5, tau: 60, theta: 2, ambient: 20 } as const;

/** ADC channel of each sensor: engineering value = scale * counts + offset. */
export const SENSORS = [
  { scale: 0.05, offset: 0 },      // 12-bit, 0..204.75 C
  { scale: 0.055, offset: -12 },   // a second make: -12..213 C
  { scale: 0.052, offset: -10 },   // a third: -10..202.9 C
] as const;
export const ADC_MAX = 4095;

/** The core configuration of the chamber (checks that are off by default stay off). */
export const BASE_CONFIG: Partial<Record<ParamName, ParamValue>> = {
  n_sensors: 1,
  s0_scale: SENSORS[0].scale, s0_offset: SENSORS[0].offset,
  s1_scale: SENSORS[1].scale, s1_offset: SENSORS[1].offset,
  s2_scale: SENSORS[2].scale, s2_offset: SENSORS[2].offset,
  range_min: -10, range_max: 200,
  model_gain: PLANT.k, model_tau: PLANT.tau, model_offset: PLANT.ambient, model_delay_us: PLANT.theta * 1e6,
  resid_sigma: 0.12,
  kp: 10, ti: 16, out_min: 0, out_max: 100, slew: 20,
  fb_setpoint: 40, fb_kp: 2, fb_ti: 60,
  period_min_us: PERIOD_US, period_max_us: PERIOD_US,
};

/** Every check that is off by default, switched on at a level the chamber tolerates in nominal operation. */
export const ALL_CHECKS: Partial<Record<ParamName, ParamValue>> = {
  rate_max: 50,          // C/s: 5 C in one tick (the plant moves at most 2.5 C/s)
  spike_thr: 5,          // C away from the median of 3
  track_thr: 10,         // C of error for 50 s
  osc_amp: 2,            // C swings both ways, 6 of them each within 20 s
  mismatch_thr: 5,       // % between command and measured heater power
  sp_timeout_us: 5_000_000,
  // The safety envelope of the chamber: 10..95 C, acted on 3 C before a limit;
  // its trip (the heater's contactor) cools it.
  env_min: 10, env_max: 95, env_margin: 3, env_hi_dir: 'down', env_lo_dir: 'up', trip_fb: 0, trip_dir: 'down',
  ew_window: 64,
  ew_var_ratio: 2,       // residual variance 2 sigma^2 (nominal: under 0.8) with lag-1 autocorrelation > 0.75
};

export interface ThermalOptions {
  seed?: number;
  nSensors?: 1 | 2 | 3;
  /** Core parameters on top of BASE_CONFIG. */
  params?: Partial<Record<ParamName, ParamValue>>;
  setpoint?: number;
  /** Initial chamber temperature (default: ambient). */
  y0?: number;
  /** Sensor noise, counts rms. */
  noiseCounts?: number;
  /** Report the heater's measured power to the core (actuator feedback). */
  feedback?: boolean;
  /** Noise of the power measurement, % rms. */
  feedbackNoise?: number;
  /** The host refreshes its setpoint every this many microseconds (0: only when it changes). */
  spRefreshUs?: number;
  /** Host scheduling jitter: each tick starts up to this many microseconds late (uniform). */
  jitterUs?: number;
  /** Record the core's events after every tick (off for long nominal runs). */
  recordEvents?: boolean;
  /** The core in the loop (default: a fresh instance of the debug build). */
  core?: Core;
}

export class Thermal {
  readonly core: Core;
  readonly rng: Rng;
  readonly plant: Fopdt;
  readonly nSensors: number;
  readonly log: CoreEvent[] = [];

  /** Physical time of the next tick, microseconds. */
  tUs = 0;
  /** Host ticks issued (the core's tick count unless ticks were skipped). */
  hostTicks = 0;
  /** The last command the core returned, %. */
  command = 0;
  /** Heater power the plant received over the last interval, %. */
  delivered = 0;
  /** The time the core was last given (what the host's clock said). */
  lastReportedUs = 0;
  /** The interval to the next tick, microseconds (the core's proposal when followAdaptive). */
  intervalUs = PERIOD_US;
  followAdaptive = false;

  // ---- fault hooks: undefined means healthy --------------------------------
  /** Raw sample of sensor i given the healthy one (counts); return null for "no sample". */
  sensorFault?: (i: number, counts: number, tUs: number) => number | null;
  /** Heater power the plant actually receives for a command. */
  actuatorFault?: (u: number, tUs: number) => number;
  /** What the host's clock says at physical time tUs. */
  clockFault?: (tUs: number) => number;
  /** The host misses this tick (the plant runs on with the last command). */
  skipTick?: (tUs: number) => boolean;
  /** Unmodelled heat input, % of heater power. */
  loadDisturbance?: (tUs: number) => number;
  /** Unmodelled ripple on the chamber temperature at the sensors, C. */
  tempDisturbance?: (tUs: number) => number;
  /** The host stops refreshing its setpoint while this is true. */
  spRefreshFault?: (tUs: number) => boolean;
  /** The contactor is welded: a demanded trip does not cut the power. */
  tripFails?: (tUs: number) => boolean;
  /** Whether the heater's power was cut over the last interval. */
  tripped = false;

  private sp: number;
  private lateUs = 0;
  private spSentUs = -Infinity;
  private readonly noise: number;
  private readonly feedback: boolean;
  private readonly feedbackNoise: number;
  private readonly spRefreshUs: number;
  private readonly jitterUs: number;
  private readonly record: boolean;

  constructor(opts: ThermalOptions = {}) {
    this.rng = new Rng(opts.seed ?? 1);
    this.nSensors = opts.nSensors ?? 1;
    this.noise = opts.noiseCounts ?? 2;
    this.feedback = opts.feedback ?? false;
    this.feedbackNoise = opts.feedbackNoise ?? 0.3;
    this.spRefreshUs = opts.spRefreshUs ?? 0;
    this.jitterUs = opts.jitterUs ?? 0;
    this.record = opts.recordEvents ?? true;
    this.sp = opts.setpoint ?? 80;
    this.plant = Thermal.plantAtRest(opts.y0 ?? PLANT.ambient);
    this.delivered = (this.plant.output - PLANT.ambient) / PLANT.k;
    this.core = opts.core ?? freshCore();
    this.core.configure({ ...BASE_CONFIG, n_sensors: this.nSensors, ...opts.params });
    this.core.setSetpoint(this.sp, 0);
    this.spSentUs = 0;
    this.core.events(); // the config event
  }

  /**
   * A plant at rest at y0: its heater has been at the power that holds y0
   * for longer than the dead time (the dead-time line is full of it).
   */
  static plantAtRest(y0: number): Fopdt {
    const u0 = (y0 - PLANT.ambient) / PLANT.k;
    const n = Math.round(PLANT.theta / DT_S);
    // The line starts empty (heater off): start warmer so that n steps of
    // cooling land exactly on y0 while u0 fills the line.
    const yStart = PLANT.ambient + (y0 - PLANT.ambient) * Math.exp((n * DT_S) / PLANT.tau);
    const plant = new Fopdt({ ...PLANT, dt: DT_S, y0: yStart });
    for (let i = 0; i < n; i++) plant.step(u0);
    return plant;
  }

  /** True chamber temperature, C. */
  get temperature(): number { return this.plant.output; }
  get seconds(): number { return this.tUs / 1e6; }
  get setpoint(): number { return this.sp; }

  /** The operator changes the setpoint (the host sends it at once). */
  setSetpoint(v: number): void {
    this.sp = v;
    this.sendSetpoint(this.clockFault ? this.clockFault(this.tUs) : this.tUs);
  }

  /** Healthy raw sample (ADC counts) of sensor i for temperature y. */
  counts(i: number, y: number): number {
    const s = SENSORS[i];
    const c = Math.round((y - s.offset) / s.scale + this.noise * this.rng.gauss());
    return c < 0 ? 0 : c > ADC_MAX ? ADC_MAX : c;
  }

  // The host's clock at the tick due at tUs: a clock fault lies about the
  // time; jitter is real lateness (the tick, its sample and its command all
  // happen late, see step()).
  private reportedTime(tUs: number): number {
    if (this.clockFault) {
      this.lateUs = 0;
      return this.clockFault(tUs);
    }
    this.lateUs = this.jitterUs > 0 ? Math.floor(this.rng.next() * this.jitterUs) : 0;
    return tUs + this.lateUs;
  }

  private sendSetpoint(nowUs: number): void {
    this.core.setSetpoint(this.sp, nowUs);
    this.spSentUs = nowUs;
  }

  /** One sampling interval: the host ticks the core (unless it misses the tick), then the plant runs. */
  step(): void {
    const t = this.tUs;
    if (!(this.skipTick && this.skipTick(t))) {
      const now = this.reportedTime(t);
      if (this.spRefreshUs > 0 && now - this.spSentUs >= this.spRefreshUs && !(this.spRefreshFault && this.spRefreshFault(t))) {
        this.sendSetpoint(now);
      }
      let y = this.plant.output;
      if (this.tempDisturbance) y += this.tempDisturbance(t);
      const s: number[] = [SAMPLE_NONE, SAMPLE_NONE, SAMPLE_NONE];
      for (let i = 0; i < this.nSensors; i++) {
        let c: number | null = this.counts(i, y);
        if (this.sensorFault) c = this.sensorFault(i, c, t);
        s[i] = c === null ? SAMPLE_NONE : c;
      }
      let fb = SAMPLE_NONE;
      if (this.feedback) {
        fb = Math.round((this.delivered + this.feedbackNoise * this.rng.gauss()) * Q16);
      }
      this.command = this.core.raw.tick(BigInt(now), s[0], s[1], s[2], fb) / Q16;
      this.lastReportedUs = now;
      this.hostTicks++;
      if (this.record) this.log.push(...this.core.events());
      if (this.followAdaptive) this.intervalUs = this.core.nextIntervalUs;
    }
    // The trip output cuts the heater's power at the contactor, whatever the
    // driver (and a fault in it) would have applied; the power meter reads 0.
    this.tripped = this.core.tripped && !(this.tripFails && this.tripFails(t));
    const u = this.tripped ? 0 : this.actuatorFault ? this.actuatorFault(this.command, t) : this.command;
    // A late tick leaves the previous power on for its lateness: the plant's
    // fixed step sees the average power over the interval.
    const f = this.lateUs / PERIOD_US;
    const firstStepU = f > 0 ? this.delivered * f + u * (1 - f) : u;
    this.delivered = u;
    const steps = Math.max(1, Math.round(this.intervalUs / PERIOD_US));
    for (let k = 0; k < steps; k++) {
      const d = this.loadDisturbance ? this.loadDisturbance(this.tUs + k * PERIOD_US) : 0;
      this.plant.step(k === 0 ? firstStepU : u, d);
    }
    this.tUs += steps * PERIOD_US;
  }

  /** Run n intervals; `each` sees every one after it ran (return true to stop early). */
  run(n: number, each?: (th: Thermal) => boolean | void): void {
    for (let i = 0; i < n; i++) {
      this.step();
      if (each && each(this)) return;
    }
  }

  /** Run until physical time t seconds. */
  runUntil(tS: number, each?: (th: Thermal) => boolean | void): void {
    const end = Math.round(tS * 1e6);
    while (this.tUs < end) {
      this.step();
      if (each && each(this)) return;
    }
  }

  /** Run until pred holds (checked after each tick) or maxTicks pass; returns the ticks run. */
  runWhile(pred: (th: Thermal) => boolean, maxTicks: number): number {
    let n = 0;
    while (n < maxTicks && pred(this)) { this.step(); n++; }
    return n;
  }

  /** Events recorded since `fromTick` (core ticks). */
  eventsSince(fromTick: number): CoreEvent[] {
    return this.log.filter((e) => e.tick >= fromTick);
  }

  /** The first event of a kind (and monitor) at or after a core tick. */
  first(kind: CoreEvent['kind'], monitor?: string, fromTick = 0): CoreEvent | undefined {
    return this.log.find((e) => e.kind === kind && e.tick >= fromTick && (monitor === undefined || e.monitor === monitor));
  }
}

/** The chamber with every check on, a heater power meter and a host that refreshes its setpoint every second. */
export function chamber(o: ThermalOptions = {}): Thermal {
  return new Thermal({ feedback: true, spRefreshUs: 1_000_000, ...o, params: { ...ALL_CHECKS, ...o.params } });
}

/** Event kinds that are alarms (a root cause or a consequence). */
export const ALARMS = new Set<CoreEvent['kind']>(['trip', 'consequential']);

/** Warm up and settle until t seconds; the loop must be NOMINAL with nothing tripped. Returns the next core tick. */
export function settle(th: Thermal, untilS = 80): number {
  th.runUntil(untilS);
  expect(th.log.filter((e) => ALARMS.has(e.kind)), 'nothing trips before the fault').toEqual([]);
  expect(th.core.mode).toBe('NOMINAL');
  return th.core.ticks;
}
