// The seams of firmware-sim: plants, fault hooks and the simulated MCU meet
// the core only through these types. The runner (firmware-sim/run.ts)
// composes them; nothing here imports the runner.

import type { ParamName, ParamValue } from '../host/runtime/core.js';
import type { Rng } from './rng.js';

// ---- plants ------------------------------------------------------------------

export const PLANT_NAMES = ['thermal', 'motor', 'tank', 'integrator'] as const;
export type PlantName = (typeof PLANT_NAMES)[number];

/** A simulated plant: deterministic, advanced by the runner between ticks. */
export interface Plant {
  /** The controlled quantity (what the sensors measure), engineering units. */
  readonly output: number;
  /**
   * Advance by dtS seconds with the actuator applying u (engineering units,
   * already limited by the actuator) and an optional load disturbance d
   * (in the same units as u). With `tripped`, the plant's trip has taken
   * effect (see PlantSpec.trip): the actuator path is cut and u is ignored;
   * what still acts, and how, is each plant's own physics. Returns the new
   * output.
   */
  step(u: number, dtS: number, d?: number, tripped?: boolean): number;
}

/** A plant model together with everything a loop on it needs. */
export interface PlantSpec {
  readonly name: PlantName;
  readonly description: string;
  /** Engineering units of the measurement and of the command. */
  readonly units: { readonly measurement: string; readonly command: string };
  /** A fresh plant at its operating point (settled at `setpoint` under `uNominal`) or, with `cold`, at rest. */
  create(opts?: { cold?: boolean }): Plant;
  /** Nominal setpoint and the command that holds it. */
  readonly setpoint: number;
  readonly uNominal: number;
  /** Actuator range (the core's out_min..out_max) and its DAC/PWM resolution in bits. */
  readonly actuator: { readonly min: number; readonly max: number; readonly bits: number; readonly feedback: boolean };
  /**
   * The trip: the core's independent trip output (de-energize to trip)
   * opens a contactor, a safe-torque-off or isolation valves, bypassing the
   * actuator path. `description`: what it does to this plant; `feedback`:
   * what the actuator's feedback reads while tripped (engineering units of
   * the command: no power, no voltage, no flow).
   */
  readonly trip: { readonly description: string; readonly feedback: number };
  /** Sensors: how many redundant ones, their physical input range (mapped onto the ADC), noise rms in engineering units. */
  readonly sensors: { readonly count: 1 | 2 | 3; readonly min: number; readonly max: number; readonly noise: number; readonly adcBits: number };
  /** Nominal tick period and the slowest interval action-to-sensing may propose. */
  readonly periodUs: number;
  readonly periodMaxUs: number;
  /** The safety envelope on the true output; leaving it is a violation. */
  readonly envelope: { readonly min: number; readonly max: number; readonly description: string };
  /**
   * Fault kinds that this plant's fallback was tuned to keep inside the
   * envelope. Documentation only: the campaign judges the guard against its
   * absence (saves, harms, misses), whatever the kind.
   */
  readonly covered: readonly FaultKind[];
  /**
   * The tuned core configuration for this loop (guarded). The runner adds the
   * sensor scale/offset, ADC code range, out_min/out_max and periods from the
   * fields above, so this holds the controller, model and monitor tuning.
   */
  readonly core: Partial<Record<ParamName, ParamValue>>;
}

// ---- faults ------------------------------------------------------------------

export const FAULT_KINDS = [
  'sensor.stuck', 'sensor.bias', 'sensor.drift', 'sensor.noise_burst', 'sensor.spikes', 'sensor.dropout', 'sensor.delay',
  'actuator.stuck', 'actuator.effectiveness', 'actuator.saturation', 'actuator.reversed',
  'timing.overrun', 'timing.missed', 'timing.clock_drift',
  'memory.bitflip',
  'comm.setpoint_stale', 'comm.setpoint_lost',
  'trip.fail',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** Every fault kind of a family, for plants' `covered` lists. */
export const faultsOf = (family: 'sensor' | 'actuator' | 'timing' | 'memory' | 'comm' | 'trip'): FaultKind[] =>
  FAULT_KINDS.filter((k) => k.startsWith(`${family}.`));

/** Faults a fallback toward a safe setpoint covers on any plant whose actuator still works. */
export const NON_ACTUATOR_FAULTS: readonly FaultKind[] = [
  ...faultsOf('sensor'), ...faultsOf('timing'), ...faultsOf('memory'), ...faultsOf('comm'),
];

/** The stage of the loop where each kind of fault is injected (what first-out attribution should name). */
export const FAULT_STAGE: Readonly<Record<FaultKind, 'sensing' | 'actuation' | 'timing' | 'core'>> = {
  'sensor.stuck': 'sensing', 'sensor.bias': 'sensing', 'sensor.drift': 'sensing', 'sensor.noise_burst': 'sensing',
  'sensor.spikes': 'sensing', 'sensor.dropout': 'sensing', 'sensor.delay': 'sensing',
  'actuator.stuck': 'actuation', 'actuator.effectiveness': 'actuation', 'actuator.saturation': 'actuation',
  'actuator.reversed': 'actuation',
  'timing.overrun': 'timing', 'timing.missed': 'timing', 'timing.clock_drift': 'timing',
  'memory.bitflip': 'core',
  'comm.setpoint_stale': 'timing', 'comm.setpoint_lost': 'timing',
  'trip.fail': 'actuation',
};

/** One injected fault. */
export interface FaultSpec {
  readonly kind: FaultKind;
  /** Onset, seconds from the start of the run. */
  readonly onsetS: number;
  /** Duration in seconds; null = permanent. */
  readonly durationS: number | null;
  /**
   * Size of the fault, in the kind's own unit (see firmware-sim/faults/README
   * or the kind's doc comment): engineering units for bias, units/s for drift,
   * a fraction for effectiveness, microseconds for overrun, ...
   */
  readonly magnitude: number;
  /** Sensor faults: one sensor ('single', sensor 0) or every redundant sensor at once ('common'). */
  readonly scope?: 'single' | 'common';
}

/**
 * What the runner asks the active faults at each point of a tick. Every
 * method is the identity when no fault applies. Implementations are
 * deterministic: randomness comes only from the Rng they were built with.
 */
export interface FaultHooks {
  /** Physical reading of sensor i (engineering units) at true time tS: bias, drift, noise burst, spikes, delay. */
  sensorPhysical(i: number, value: number, tS: number): number;
  /** Raw ADC code of sensor i: may freeze it (stuck), replace it with an invalid code, or drop the sample (null). */
  sensorCode(i: number, code: number, tS: number): number | null;
  /** The command reaching the actuator -> what it applies to the plant (stuck, lost effectiveness, saturation, reversed). */
  actuator(command: number, tS: number): number;
  /** Extra execution time of this tick, microseconds (overrun). */
  extraCostUs(tS: number): number;
  /** Whether the tick due at tS is skipped (missed ticks). */
  skipTick(tS: number): boolean;
  /** The MCU clock's reading, in microseconds, at true time trueUs (clock drift). */
  clockUs(trueUs: number): number;
  /** Whether the host's setpoint refresh due at tS arrives (stale or lost setpoint). */
  setpointArrives(tS: number): boolean;
  /** One-shot corruption of the core's linear memory at tS (bit flips); returns the byte offsets flipped. */
  corrupt(memory: Uint8Array, tS: number): number[];
  /** Whether a trip demanded at tS fails to take effect (trip.fail: a welded contactor). */
  tripFails(tS: number): boolean;
}

// ---- the simulated MCU ---------------------------------------------------------

export interface McuSpec {
  /** Tick cost model: cycles per full tick and the clock, so cost = cycles / MHz microseconds. */
  readonly cpuMhz: number;
  readonly cyclesPerTick: number;
  /** Budget per tick, microseconds; a tick that runs longer delays the next one (an overrun the core sees). */
  readonly budgetUs: number;
  /** Tick start jitter, microseconds (uniform, +-). */
  readonly jitterUs: number;
  /** Watchdog: consecutive over-budget ticks before the MCU resets the core (output to safe value meanwhile). */
  readonly watchdogTicks: number;
  /** Memory limit for the core instance, bytes (its linear memory may not exceed it). */
  readonly memoryLimitBytes: number;
}

export type { Rng };
