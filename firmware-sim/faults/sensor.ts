// Sensor faults. Physical-level kinds (bias, drift, noise_burst, spikes,
// delay) act on the reading in engineering units before the ADC; code-level
// kinds (stuck, dropout) act on the raw ADC code the core receives.
// Scope 'single' corrupts sensor 0 only; 'common' corrupts every sensor with
// the same corruption (one random draw per sample time, shared).

import type { Rng } from '../rng.js';
import type { FaultSpec } from '../types.js';
import type { FaultContext, FaultWindow, Injector, MagnitudeRule } from './index.js';

export type SensorKind = Extract<FaultSpec['kind'], `sensor.${string}`>;

/** spikes: probability of a spike on a sample that follows a clean one; the long-run rate is P/(1+P) = 0.2. */
export const SPIKE_AFTER_CLEAN_P = 0.25;
/** spikes: long-run fraction of spiked samples (documented figure). */
export const SPIKE_RATE = SPIKE_AFTER_CLEAN_P / (1 + SPIKE_AFTER_CLEAN_P);
/** dropout: largest magnitude (code adcMaxCode + floor(magnitude) must fit an i32). */
export const DROPOUT_MAGNITUDE_MAX = 65_535;
/** delay: longest delay, seconds. */
export const DELAY_S_MAX = 10;
/** delay: most samples one sensor's history may hold. */
export const DELAY_SAMPLES_MAX = 1 << 16;

const ANY: MagnitudeRule = { expected: () => 'any finite number (ignored)', ok: () => true };
const NONZERO: MagnitudeRule = { expected: () => 'a finite number other than 0', ok: (m) => m !== 0 };
const POSITIVE: MagnitudeRule = { expected: () => 'a number > 0', ok: (m) => m > 0 };

export const SENSOR_RULES: Readonly<Record<SensorKind, MagnitudeRule>> = {
  'sensor.stuck': ANY,
  'sensor.bias': NONZERO,
  'sensor.drift': NONZERO,
  'sensor.noise_burst': POSITIVE,
  'sensor.spikes': POSITIVE,
  'sensor.dropout': {
    expected: () => `a number in [0, ${DROPOUT_MAGNITUDE_MAX}] (< 1: no sample; >= 1: code adcMaxCode + floor(magnitude))`,
    ok: (m) => m >= 0 && m <= DROPOUT_MAGNITUDE_MAX,
  },
  'sensor.delay': {
    expected: (ctx) => `a number of seconds in (0, ${delayMaxS(ctx.periodUs)}]`,
    ok: (m, ctx) => m > 0 && m <= delayMaxS(ctx.periodUs),
  },
};

/** History capacity for a delay: samples may come as often as every half period. */
function delayCapacity(delayS: number, periodUs: number): number {
  return Math.ceil((2 * delayS * 1e6) / periodUs) + 2;
}

function delayMaxS(periodUs: number): number {
  const bySize = (((DELAY_SAMPLES_MAX - 2) * periodUs) / 2) / 1e6;
  return Math.min(DELAY_S_MAX, Math.floor(bySize * 1000) / 1000);
}

export function compileSensorFault(spec: FaultSpec & { kind: SensorKind }, win: FaultWindow, rng: Rng, ctx: FaultContext): Injector {
  const common = spec.scope === 'common';
  const applies = (i: number): boolean => common || i === 0;
  const m = spec.magnitude;
  switch (spec.kind) {
    case 'sensor.stuck': return stuck(win, applies, ctx.sensorCount);
    case 'sensor.bias': return physical(win, applies, (v) => v + m);
    case 'sensor.drift': return physical(win, applies, (v, tS) => v + m * (tS - win.onsetS));
    case 'sensor.noise_burst': {
      const draw = perSample(() => m * rng.gauss());
      return physical(win, applies, (v, tS) => v + draw(tS));
    }
    case 'sensor.spikes': return spikes(win, applies, rng, m);
    case 'sensor.dropout': {
      const out = m < 1 ? null : ctx.adcMaxCode + Math.floor(m);
      return { sensorCode: (i, code, tS) => (applies(i) && win.contains(tS) ? out : code) };
    }
    case 'sensor.delay': return delay(win, applies, ctx, m);
  }
}

/** A physical-level fault: f applies while active to the sensors in scope. */
function physical(win: FaultWindow, applies: (i: number) => boolean, f: (v: number, tS: number) => number): Injector {
  return { sensorPhysical: (i, v, tS) => (applies(i) && win.contains(tS) ? f(v, tS) : v) };
}

/**
 * One draw per distinct sample time: every sensor of a tick (and a repeated
 * call at the same tS) sees the same value. Called only while active.
 */
function perSample(draw: () => number): (tS: number) => number {
  let lastS = NaN;
  let last = 0;
  return (tS) => {
    if (tS !== lastS) {
      lastS = tS;
      last = draw();
    }
    return last;
  };
}

/** The code of each sensor in scope freezes at its first code inside the window. */
function stuck(win: FaultWindow, applies: (i: number) => boolean, sensorCount: number): Injector {
  const frozen: (number | null)[] = new Array<number | null>(sensorCount).fill(null);
  return {
    sensorCode: (i, code, tS) => {
      if (!applies(i) || !win.contains(tS)) return code;
      if (frozen[i] === null) frozen[i] = code;
      return frozen[i] ?? code;
    },
  };
}

/** Isolated spikes of +-m: never two in a row; after a clean sample, one with probability SPIKE_AFTER_CLEAN_P. */
function spikes(win: FaultWindow, applies: (i: number) => boolean, rng: Rng, m: number): Injector {
  let previous = false;
  const draw = perSample(() => {
    const u = rng.next();
    const negative = rng.next() < 0.5;
    const spike = !previous && u < SPIKE_AFTER_CLEAN_P;
    previous = spike;
    return spike ? (negative ? -m : m) : 0;
  });
  return physical(win, applies, (v, tS) => v + draw(tS));
}

/**
 * Transport delay: the reading at tS is the value recorded at the latest
 * sample time <= tS - delay (the oldest one held if the history does not
 * reach back that far). Recording runs outside the window too, so at onset
 * the sensor already shows the value from `delay` seconds before.
 */
function delay(win: FaultWindow, applies: (i: number) => boolean, ctx: FaultContext, delayS: number): Injector {
  const capacity = delayCapacity(delayS, ctx.periodUs);
  const delayUs = Math.round(delayS * 1e6);
  const histories = Array.from({ length: ctx.sensorCount }, () => new History(capacity));
  return {
    sensorPhysical: (i, v, tS) => {
      if (!applies(i)) return v;
      const h = histories[i];
      const tUs = Math.round(tS * 1e6);
      h.record(tUs, v);
      h.forget(tUs - delayUs);
      return win.contains(tS) ? h.oldest() : v;
    },
  };
}

/** Time-stamped samples in a ring of fixed capacity, oldest first. */
class History {
  private readonly tUs: Float64Array;
  private readonly value: Float64Array;
  private head = 0;
  private count = 0;

  constructor(private readonly capacity: number) {
    this.tUs = new Float64Array(capacity);
    this.value = new Float64Array(capacity);
  }

  private at(k: number): number {
    return (this.head + k) % this.capacity;
  }

  /** Append (tUs, v); a repeated tUs overwrites the newest sample. */
  record(tUs: number, v: number): void {
    if (this.count > 0) {
      const newest = this.at(this.count - 1);
      if (tUs < this.tUs[newest]) {
        throw new RangeError(`sensor.delay: sample times must not decrease (${tUs} us after ${this.tUs[newest]} us)`);
      }
      if (tUs === this.tUs[newest]) {
        this.value[newest] = v;
        return;
      }
    }
    if (this.count === this.capacity) {
      // A bug in the caller: samples came faster than every half period.
      throw new RangeError(`sensor.delay: history full (${this.capacity} samples); sensors sampled faster than every half period`);
    }
    const k = this.at(this.count);
    this.tUs[k] = tUs;
    this.value[k] = v;
    this.count++;
  }

  /** Drop samples older than needed: keep exactly one at or before cutoffUs (if any). */
  forget(cutoffUs: number): void {
    while (this.count >= 2 && this.tUs[this.at(1)] <= cutoffUs) {
      this.head = this.at(1);
      this.count--;
    }
  }

  oldest(): number {
    return this.value[this.head];
  }
}
