// The simulated MCU around one core instance: ADC and DAC/PWM quantization,
// a tick clock with jitter, a per-tick cost budget, a watchdog and a memory
// limit. Everything is deterministic for a given seed.
//
// Tick cost: a deterministic model, cyclesPerTick / cpuMhz microseconds plus
// whatever an overrun fault adds. (Wall-clock time would make a run depend
// on the machine; cyclesPerTick is calibrated from the Cortex-M build's
// instruction count.) A tick that runs past its budget delays the next tick,
// which the core's timing monitors see as lateness; ticks over budget
// watchdogTicks times in a row make the watchdog reset the core.

import type { McuSpec } from './types.js';

export const DEFAULT_MCU: Omit<McuSpec, 'budgetUs'> = {
  cpuMhz: 48,
  cyclesPerTick: 1200,
  jitterUs: 50,
  watchdogTicks: 5,
  memoryLimitBytes: 65536,
};

/** The MCU spec for a loop of the given period: the budget defaults to half the period. */
export function mcuFor(periodUs: number, overrides: Partial<McuSpec> = {}): McuSpec {
  return { ...DEFAULT_MCU, budgetUs: Math.round(periodUs / 2), ...overrides };
}

/** An ADC mapping [min, max] engineering units onto codes 0 .. 2^bits - 1. */
export class Adc {
  readonly maxCode: number;
  /** Engineering units per code. */
  readonly scale: number;

  constructor(readonly min: number, readonly max: number, readonly bits: number) {
    if (!(max > min)) throw new RangeError(`adc: max (${max}) must be above min (${min})`);
    if (!Number.isInteger(bits) || bits < 4 || bits > 24) throw new RangeError(`adc: bits must be an integer in [4, 24], got ${bits}`);
    this.maxCode = 2 ** bits - 1;
    this.scale = (max - min) / this.maxCode;
  }

  /** The code for a physical value: quantized, clamped to the converter's range. */
  code(value: number): number {
    const c = Math.round((value - this.min) / this.scale);
    return c < 0 ? 0 : c > this.maxCode ? this.maxCode : c;
  }

  value(code: number): number {
    return this.min + code * this.scale;
  }
}

/** A DAC or PWM output of the given resolution over [min, max]. */
export class Dac {
  private readonly step: number;

  constructor(readonly min: number, readonly max: number, readonly bits: number) {
    if (!(max > min)) throw new RangeError(`dac: max (${max}) must be above min (${min})`);
    this.step = (max - min) / (2 ** bits - 1);
  }

  /** The output actually produced for a command. */
  output(command: number): number {
    const c = Math.round((command - this.min) / this.step);
    const q = this.min + c * this.step;
    return q < this.min ? this.min : q > this.max ? this.max : q;
  }
}

/** Cost of one tick in microseconds under the cost model. */
export function tickCostUs(mcu: McuSpec, extraUs: number): number {
  return mcu.cyclesPerTick / mcu.cpuMhz + extraUs;
}
