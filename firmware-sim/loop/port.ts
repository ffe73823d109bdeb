// The controller as the simulation loop sees it: one port, called in one of
// two ways. An engine's Core (V8 or Wasmtime, engine-port.ts) answers
// synchronously, so the campaign's 10^8 ticks never wait on a promise; a
// LineTarget (QEMU firmware, the native harness, the V8 reference over the
// line protocol, pil/line-port.ts) answers asynchronously. The loop itself
// (simulation.ts) is written once; drive.ts only sequences a port's calls.

import type { CoreEvent } from '../../host/runtime/core.js';

/** What the MCU hands the controller at one tick: integers, as the ABI takes them. */
export interface TickRequest {
  /** The MCU clock's reading at this tick, microseconds. */
  clockUs: number;
  /** Raw ADC codes of sensors 0..2; SAMPLE_NONE for no sample (and for sensors the loop does not have). */
  s0: number;
  s1: number;
  s2: number;
  /** Actuator feedback, Q16.16 output units; SAMPLE_NONE when the actuator has none. */
  feedbackQ16: number;
}

/** What the controller answers to one tick. */
export interface TickReply {
  /** The actuator command, output units (the safe output after a trap). */
  command: number;
  /** The supervisor's mode after the tick (MODES index). */
  mode: number;
  /** The interval the core proposes until the next tick, microseconds. */
  nextIntervalUs: number;
  /**
   * The core's trip output after the tick, independent of the command
   * (de-energize to trip): 1 = trip demanded (contactor, safe torque off or
   * isolation valves de-energized), 0 = run permitted.
   */
  trip: number;
  /** The controller trapped during the tick: it was restarted and configured again, the command is the safe output. */
  trapped: boolean;
  /** The target's own measure of the tick's cost (instructions under QEMU), or null. */
  cost: number | null;
}

/** How a port is called. */
export type Calling = 'sync' | 'async';
/** A port's answer: the value itself, or a promise of it. */
export type Answer<C extends Calling, T> = C extends 'sync' ? T : Promise<T>;

/**
 * The controller behind the loop. A port arrives configured (a fresh core,
 * the run's configuration applied); the loop never sees how it talks to it.
 */
export interface ControllerPort<C extends Calling> {
  readonly name: string;
  /** The interval a freshly configured core proposes before its first tick (its period_min_us). */
  readonly freshIntervalUs: number;
  /** The host's setpoint message (measurement units), stamped with the MCU clock; false if the core refuses it. */
  setSetpoint(value: number, clockUs: number): Answer<C, boolean>;
  /** XOR `mask` into byte `addr` of the core's linear memory (memory.bitflip). */
  flip(addr: number, mask: number): Answer<C, void>;
  /**
   * Byte `addr` of the core's linear memory, or null if the port cannot read
   * it: whether a memory fault's corruption is still there at the end of the
   * run (it ends only when the bits are restored, not when its window ends).
   */
  read(addr: number): Answer<C, number | null>;
  /** One tick. The reply object may be reused by the next call: read it before calling again. */
  tick(req: TickRequest): Answer<C, TickReply>;
  /** The watchdog's reset: a fresh core, configured again. */
  restart(): Answer<C, void>;
  /** Events the core logged since the last call, or null when there are none (or the port cannot read them). */
  events(): Answer<C, readonly CoreEvent[] | null>;
  /** The core's conditioned measurement now, measurement units (NaN if the port cannot read it). */
  measurement(): Answer<C, number>;
  /** The core's mode at the end of the run, or null if the port cannot read it apart from a tick. */
  finalMode(): Answer<C, number | null>;
}
