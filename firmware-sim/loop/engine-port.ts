// The controller port over an engine's Core (V8, or Wasmtime in its child
// process): synchronous, calling the raw exports directly, since the loop's
// inputs are integers already and the wrapper's checks cost more than the
// tick. A trap inside a call is the MCU's: the watchdog restarts the core
// and the actuator gets the safe output meanwhile.

import { Core, Q16, type CoreEvent, type EngineExports, type ParamName, type ParamValue } from '../../host/runtime/core.js';
import type { ControllerPort, TickReply, TickRequest } from './port.js';

/** The trip output's export, `trip(): i32` (1 = trip demanded), read only where the core has it. */
type TripExport = { trip?: () => number };

export class EnginePort implements ControllerPort<'sync'> {
  readonly name = 'engine';
  readonly freshIntervalUs: number;
  private readonly raw: EngineExports;
  private readonly memory: Uint8Array;
  private readonly reply: TickReply = { command: 0, mode: 0, nextIntervalUs: 0, trip: 0, trapped: false, cost: null };
  // A core built before the trip export existed has no trip output: it never trips.
  private readonly hasTrip: boolean;
  private eventsSeen = 0n;
  // What the core logged up to a trap (the invariant that broke, in the
  // debug build), kept across the restart for the next events().
  private trapEvents: CoreEvent[] | null = null;

  /** The core, configured here with `config` (a ParamError names a bad parameter). */
  constructor(readonly core: Core, private readonly config: Partial<Record<ParamName, ParamValue>>) {
    core.configure(config);
    this.raw = core.raw;
    // One page, fixed: the core's memory never grows. Empty on an engine without memory access (no memory faults then).
    this.memory = this.raw.memory ? new Uint8Array(this.raw.memory.buffer) : new Uint8Array(0);
    this.freshIntervalUs = Number(this.raw.next_interval_us());
    this.hasTrip = typeof (this.raw as TripExport).trip === 'function';
  }

  setSetpoint(value: number, clockUs: number): boolean {
    try {
      this.core.setSetpoint(value, clockUs);
      return true;
    } catch {
      return false;
    }
  }

  flip(addr: number, mask: number): void {
    this.memory[addr] ^= mask;
  }

  read(addr: number): number | null {
    return addr < this.memory.length ? this.memory[addr] : null;
  }

  tick(req: TickRequest): TickReply {
    const raw = this.raw;
    const r = this.reply;
    try {
      r.command = raw.tick(BigInt(req.clockUs), req.s0, req.s1, req.s2, req.feedbackQ16) / Q16;
      r.trapped = false;
    } catch {
      this.trapEvents = this.core.events();
      this.restart();
      r.command = Number(this.config.safe_output ?? 0);
      r.trapped = true;
    }
    r.mode = raw.mode();
    r.nextIntervalUs = Number(raw.next_interval_us());
    // De-energize to trip: a core that trapped has its trip output
    // de-energized until the fresh core's first good tick (PROTOCOL.md).
    r.trip = r.trapped ? 1 : this.hasTrip ? (raw as TripExport).trip!() : 0;
    return r;
  }

  restart(): void {
    this.raw.init();
    this.core.configure(this.config);
  }

  events(): readonly CoreEvent[] | null {
    const written = this.raw.events_written();
    const held = this.trapEvents;
    if (written === this.eventsSeen && held === null) return null;   // nothing new: the common case, one cheap call
    this.eventsSeen = written;
    this.trapEvents = null;
    const now = this.core.events();
    return held ? [...held, ...now] : now;
  }

  measurement(): number {
    return this.core.measurement;
  }

  finalMode(): number {
    return this.raw.mode();
  }
}
