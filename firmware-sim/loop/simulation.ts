// One simulated run: the plant, the MCU's converters, clock, jitter, tick
// budget and watchdog, the injected faults and the host's setpoint
// schedule, in simulated time, around a controller that it reaches only
// through a port (port.ts). It is a state machine, not a loop: drive.ts
// calls its steps in order with one port call between them, directly for
// an engine and with await for a line target. So the loop's logic exists
// once, and the engine path never waits on a promise.
//
// One tick, as drive.ts runs it:
//   startTick    the plant runs from the previous tick to this one under
//                what the actuator applied and the scripted load; false if
//                the MCU misses the tick
//   setpointDue  the host's setpoint refresh, once a second (it may be lost)
//   sample       sensors through the faults and the ADC -> a TickRequest
//   flips        memory faults due now (rare)
//   reply        the controller's answer -> DAC -> actuator faults -> plant;
//                its trip output -> the contactor (unless trip.fail)
//   events       the core's event log (engines only)
//   overBudget   the tick's cost against the budget; true: watchdog reset
//   endTick      the trace
//   next         the next tick's time: the interval the core proposed,
//                timed by the MCU's clock, with jitter
//
// The scenario's load disturbance d(t) (`loads`: steps and ramps, in the
// actuator's units) is evaluated at the start of each plant step, that is
// at the previous tick's time, and held over the step, as the actuator's
// command is: a load step at atS acts from the first plant step that starts
// at or after atS, and a ramp is followed as a staircase of the ticks'
// intervals. The host's setpoint schedule (`setpoints`, also steps and
// ramps) is evaluated at every tick; the host sends the core its value at
// each refresh (once a second), so the core sees a ramp in 1 s steps.
//
// An oracle run (SimulationOptions.oracle) is the counterfactual the
// campaign weighs a violation against: from the first fault's onset to the
// end, the controller's output is replaced by a fixed one, the command
// reaching the actuator path pinned at the actuator's min or max (still
// through the DAC and the actuator faults; no trip), or the trip asserted
// (trip.fail still honoured; the command is the controller's). The core
// still runs and is still fed its measurements, so before the onset an
// oracle run is the run itself, tick for tick.
//
// Deterministic for a scenario (seed included): random streams are drawn
// in a fixed order (sensor noise, tick jitter, then one seed per fault), so
// the same scenario through any port gives the same trajectory as long as
// the controller gives the same replies.

import { MODES, Q16, SAMPLE_NONE, type CoreEvent, type Mode } from '../../host/runtime/core.js';
import { Rng } from '../rng.js';
import { Adc, Dac, mcuFor, tickCostUs } from '../mcu.js';
import { PLANTS } from '../plants/index.js';
import { compileFaults, type FaultContext } from '../faults/index.js';
import type { FaultHooks, McuSpec, Plant, PlantSpec } from '../types.js';
import type { Scenario } from '../scenario/schema.js';
import { EventBook } from './events.js';
import { loadSchedule, setpointSchedule, type LevelSchedule } from './schedule.js';
import { emptyTrace, halveTrace, TRACE_POINTS_MAX, type TickTrace } from './trace.js';
import type { TickReply, TickRequest } from './port.js';

/** How often the host refreshes the setpoint. */
export const SETPOINT_REFRESH_US = 1_000_000;

/** Where the core keeps what memory faults aim at, and how much linear memory it has. */
export interface CoreLayout {
  configAddr: number;
  shadowAddr: number;
  paramCount: number;
  memoryBytes: number;
}

/** What an oracle run puts in the controller's place from the first fault's onset. */
export type Oracle = 'min' | 'max' | 'trip';

export interface SimulationOptions {
  /** Where memory faults aim (from the core's ABI). */
  layout: CoreLayout;
  /** The interval the freshly configured core proposes (the port's freshIntervalUs). */
  intervalUs: number;
  /** Simulate only this many seconds (at most the scenario's durationS). */
  durationS?: number;
  /** Keep the per-tick trace and the event log. */
  record?: boolean;
  /** Take a tick's cost from the controller's own measurement (cycles at the MCU clock) when the reply has one. */
  measuredCost?: boolean;
  /** An oracle run: from the first fault's onset, the command pinned at the actuator's min or max, or the trip asserted. */
  oracle?: Oracle;
}

export interface EnvelopeRecord {
  min: number;
  max: number;
  violated: boolean;
  firstS: number | null;
  worstExcursion: number;
}

/** What a run gives, whichever port it ran through. */
export interface Outcome {
  simulatedS: number;
  ticks: number;
  faultFreeTicks: number;
  envelope: EnvelopeRecord;
  iae: number;
  finalMode: Mode;
  modeSeconds: Record<Mode, number>;
  watchdogResets: number;
  traps: number;
  overBudgetTicks: number;
  setpointRejects: number;
  /** Simulated seconds with the trip output asserted (demanded, whether or not a failed trip let it act). */
  tripSeconds: number;
  /** Times the trip output was asserted (rising edges). */
  trips: number;
  /** The trip output at the end of the run (0 or 1). */
  finalTrip: number;
  /**
   * A memory fault's corruption is still in the core's memory at the end of
   * the run (a flipped byte differs from what it held before the flip: not
   * repaired, not rewritten by a restart); null when the run flipped nothing
   * or the port cannot read memory.
   */
  corruptionLeft: boolean | null;
  events: EventBook;
  trace: TickTrace | null;
}

/** The ADC of a plant's sensors (the core's sensor scale and offset come from it). */
export function plantAdc(spec: PlantSpec): Adc {
  return new Adc(spec.sensors.min, spec.sensors.max, spec.sensors.adcBits);
}

const NO_MEMORY = new Uint8Array(0);

export class Simulation {
  readonly spec: PlantSpec;
  readonly mcu: McuSpec;
  readonly request: TickRequest = { clockUs: 0, s0: SAMPLE_NONE, s1: SAMPLE_NONE, s2: SAMPLE_NONE, feedbackQ16: SAMPLE_NONE };
  readonly book: EventBook;
  /** The host's setpoint now. */
  setpoint: number;
  private readonly adc: Adc;
  private readonly dac: Dac;
  private readonly noiseRng: Rng;
  private readonly jitterRng: Rng;
  private readonly faults: FaultHooks;
  private readonly plant: Plant;
  private readonly setpoints: LevelSchedule;
  private readonly loads: LevelSchedule | null;
  private readonly shadow: Uint8Array;
  /** Bytes a memory fault flipped, with what they held before (null: the port cannot read). */
  private readonly before = new Map<number, number | null>();
  private readonly codes: (number | null)[] = [null, null, null];
  private readonly trace: TickTrace | null;
  // The trace keeps one tick in traceEvery (trace.ts: bounded on long runs).
  private traceEvery = 1;
  private traceSkipped = 0;
  private readonly measuredCost: boolean;
  private readonly oracle: Oracle | null;
  private readonly durationS: number;
  private readonly endUs: number;
  private readonly firstOnsetUs: number;
  private readonly env: EnvelopeRecord;
  private readonly modeUs = [0, 0, 0, 0];
  private tripUs = 0;
  private trips = 0;
  /** The trip output as the last reply set it (0 or 1). */
  private tripDemand = 0;
  /** Whether the trip has taken effect at the plant (demanded, and the contactor opened). */
  private tripped = false;
  private tUs = 0;
  private tS = 0;
  private lastUs = 0;
  private applied: number;
  private command: number;
  private mode = 0;
  private intervalUs: number;
  private costUs = 0;
  private iae = 0;
  private ticks = 0;
  private faultFreeTicks = 0;
  private overBudgetRun = 0;
  private overBudgetTicks = 0;
  private watchdogResets = 0;
  private traps = 0;
  private nextRefreshUs = 0;
  private setpointRejects = 0;

  constructor(sc: Scenario, opts: SimulationOptions) {
    const spec = PLANTS[sc.plant];
    this.spec = spec;
    this.mcu = mcuFor(spec.periodUs, sc.mcu ?? {});
    const rng = new Rng(sc.seed);
    this.noiseRng = new Rng(rng.u32());
    this.jitterRng = new Rng(rng.u32());
    this.adc = plantAdc(spec);
    this.dac = new Dac(spec.actuator.min, spec.actuator.max, spec.actuator.bits);
    this.faults = compileFaults(sc.faults, new Rng(rng.u32()), faultContext(spec, this.adc, opts.layout));
    const memoryFault = sc.faults.some((f) => f.kind.startsWith('memory.'));
    this.shadow = memoryFault ? new Uint8Array(opts.layout.memoryBytes) : NO_MEMORY;
    this.plant = spec.create({ cold: sc.cold });
    this.durationS = Math.min(opts.durationS ?? sc.durationS, sc.durationS);
    this.endUs = Math.round(this.durationS * 1e6);
    this.firstOnsetUs = sc.faults.length ? Math.round(sc.faults.reduce((m, f) => Math.min(m, f.onsetS), Infinity) * 1e6) : Infinity;
    this.env = { min: spec.envelope.min, max: spec.envelope.max, violated: false, firstS: null, worstExcursion: 0 };
    this.book = new EventBook(this.firstOnsetUs, opts.record === true);
    this.trace = opts.record ? emptyTrace() : null;
    this.measuredCost = opts.measuredCost === true;
    this.oracle = opts.oracle ?? null;
    this.applied = sc.cold ? spec.actuator.min : spec.uNominal;
    this.command = this.applied;
    this.intervalUs = opts.intervalUs;
    this.setpoints = setpointSchedule(sc, spec);
    this.loads = loadSchedule(sc);
    this.setpoint = this.setpoints.valueAt(0);
  }

  /** Whether the run has ticks left. */
  running(): boolean {
    return this.tUs <= this.endUs;
  }

  /** Whether this run keeps a trace (the driver reads the core's measurement for it only then). */
  get recording(): boolean {
    return this.trace !== null;
  }

  /** The plant runs from the previous tick to this one; then whether the MCU runs this tick (a missed one does not). */
  startTick(): boolean {
    const tUs = this.tUs;
    if (tUs > this.lastUs) this.advancePlant(tUs);
    this.lastUs = tUs;
    const tS = tUs / 1e6;
    this.tS = tS;
    this.setpoint = this.setpoints.valueAt(tS);
    this.costUs = 0;
    if (this.faults.skipTick(tS)) return false;
    this.request.clockUs = Math.round(this.faults.clockUs(tUs));
    return true;
  }

  // The plant under the applied command and the load from the previous tick to tUs; IAE, time in modes, the envelope.
  private advancePlant(tUs: number): void {
    const dtUs = tUs - this.lastUs;
    const dtS = dtUs / 1e6;
    const plant = this.plant;
    const y0 = plant.output;
    const d = this.loads === null ? 0 : this.loads.valueAt(this.lastUs / 1e6);
    plant.step(this.applied, dtS, d, this.tripped);
    const y = plant.output;
    this.iae += Math.abs(this.setpoint - (y0 + y) / 2) * dtS;
    this.modeUs[this.mode] += dtUs;
    if (this.tripDemand !== 0) this.tripUs += dtUs;
    const env = this.env;
    if (y > env.max || y < env.min) {
      const ex = y > env.max ? y - env.max : env.min - y;
      if (!env.violated) { env.violated = true; env.firstS = tUs / 1e6; }
      if (ex > env.worstExcursion) env.worstExcursion = ex;
    }
  }

  /** Whether the host's setpoint refresh is due at this tick and arrives (a comm fault may lose it). */
  setpointDue(): boolean {
    if (this.tUs < this.nextRefreshUs) return false;
    this.nextRefreshUs += SETPOINT_REFRESH_US;
    return this.faults.setpointArrives(this.tS);
  }

  /** The core's answer to a setpoint message: the host counts refusals, the loop keeps its last setpoint. */
  setpointAnswered(accepted: boolean): void {
    if (!accepted) this.setpointRejects++;
  }

  /** The sensors sampled through their faults and the ADC, and the actuator feedback: this tick's request. */
  sample(): TickRequest {
    const { faults, codes, adc, noiseRng } = this;
    const tS = this.tS;
    const noise = this.spec.sensors.noise;
    const y = this.plant.output;
    for (let i = 0; i < this.spec.sensors.count; i++) {
      const physical = faults.sensorPhysical(i, y + noise * noiseRng.gauss(), tS);
      codes[i] = faults.sensorCode(i, adc.code(physical), tS);
    }
    const req = this.request;
    req.s0 = codes[0] ?? SAMPLE_NONE;
    req.s1 = codes[1] ?? SAMPLE_NONE;
    req.s2 = codes[2] ?? SAMPLE_NONE;
    // A trip that took effect cuts the actuator off: its feedback reads what it reads with the power cut.
    const fb = this.tripped ? this.spec.trip.feedback : this.applied;
    req.feedbackQ16 = this.spec.actuator.feedback ? Math.round(fb * Q16) : SAMPLE_NONE;
    return req;
  }

  /**
   * Memory faults due now, as [byte address, XOR mask] pairs, or null (the
   * common case). The injector flips bits in a zeroed shadow of the core's
   * memory; the port applies each flipped byte to the core.
   */
  flips(): [number, number][] | null {
    const offsets = this.faults.corrupt(this.shadow, this.tS);
    if (offsets.length === 0) return null;
    const out: [number, number][] = [];
    for (const addr of new Set(offsets)) {
      out.push([addr, this.shadow[addr]]);
      this.shadow[addr] = 0;
    }
    return out;
  }

  /**
   * The controller's answer: the command through the DAC and the actuator
   * faults to the plant, the trip output to the contactor; the tick's cost.
   * While a trip has taken effect the plant gets no actuator input at all,
   * but the actuator path still follows the commands (a stuck actuator
   * still freezes where it would have), and takes over again when the trip
   * clears.
   */
  reply(r: TickReply): void {
    const spec = this.spec;
    const tS = this.tS;
    this.command = r.command;
    const pinned = this.oracle !== null && this.tUs >= this.firstOnsetUs;
    const command = pinned ? this.oracleCommand(r.command) : r.command;
    const u = this.faults.actuator(this.dac.output(command), tS);
    this.applied = Math.min(spec.actuator.max, Math.max(spec.actuator.min, u));
    this.trip(pinned ? (this.oracle === 'trip' ? 1 : 0) : r.trip !== 0 ? 1 : 0, tS);
    this.mode = r.mode;
    this.intervalUs = r.nextIntervalUs;
    if (r.trapped) {
      this.traps++;
      this.watchdogResets++;
    }
    this.ticks++;
    if (this.tUs < this.firstOnsetUs) this.faultFreeTicks++;
    const extraUs = this.faults.extraCostUs(tS);
    this.costUs = this.measuredCost && r.cost !== null ? r.cost / this.mcu.cpuMhz + extraUs : tickCostUs(this.mcu, extraUs);
  }

  // The command an oracle sends to the actuator path in the controller's place.
  private oracleCommand(command: number): number {
    if (this.oracle === 'min') return this.spec.actuator.min;
    if (this.oracle === 'max') return this.spec.actuator.max;
    return command;
  }

  // The trip output reaches the contactor; a welded one (trip.fail) does not open.
  private trip(demand: number, tS: number): void {
    if (demand !== 0 && this.tripDemand === 0) this.trips++;
    this.tripDemand = demand;
    this.tripped = demand !== 0 && !this.faults.tripFails(tS);
  }

  /** Events the core logged at this tick. */
  events(events: readonly CoreEvent[]): void {
    this.book.take(events, this.tS);
  }

  /** Whether this tick ran past the budget once too often in a row: then the watchdog resets the core. */
  overBudget(): boolean {
    if (this.costUs <= this.mcu.budgetUs) {
      this.overBudgetRun = 0;
      return false;
    }
    this.overBudgetTicks++;
    if (++this.overBudgetRun < this.mcu.watchdogTicks) return false;
    this.watchdogResets++;
    this.overBudgetRun = 0;
    return true;
  }

  /** After the watchdog's reset: the fresh core proposes its first interval. */
  restarted(freshIntervalUs: number): void {
    this.intervalUs = freshIntervalUs;
  }

  /** The end of the tick: the trace, with the core's measurement (NaN where the port cannot read it). */
  endTick(measurement: number): void {
    const t = this.trace;
    if (t === null) return;
    if (++this.traceSkipped < this.traceEvery) return;
    this.traceSkipped = 0;
    if (t.tUs.length >= TRACE_POINTS_MAX) {
      halveTrace(t);
      this.traceEvery *= 2;
    }
    t.tUs.push(this.tUs); t.setpoint.push(this.setpoint); t.truth.push(this.plant.output);
    t.measurement.push(measurement); t.applied.push(this.applied); t.command.push(this.command); t.mode.push(this.mode);
    t.trip.push(this.tripDemand);
  }

  /**
   * The next tick: the interval the core proposes, timed by the MCU's own
   * clock (which a clock-drift fault makes run fast or slow against true
   * time), with jitter, and never before this tick's work is done.
   */
  next(): void {
    const tUs = this.tUs;
    const interval = this.intervalUs;
    const clockRate = (this.faults.clockUs(tUs + interval) - this.faults.clockUs(tUs)) / interval;
    const trueInterval = clockRate > 0 ? Math.round(interval / clockRate) : interval;
    const jitterUs = this.mcu.jitterUs;
    const jitter = jitterUs > 0 ? Math.round((this.jitterRng.next() * 2 - 1) * jitterUs) : 0;
    this.tUs = Math.max(tUs + trueInterval + jitter, tUs + Math.ceil(this.costUs), tUs + 1);
  }

  /** A byte about to be flipped, as it is now (kept from its first flip). */
  flipping(addr: number, byte: number | null): void {
    if (!this.before.has(addr)) this.before.set(addr, byte);
  }

  /** The bytes memory faults flipped, in the order of flipped(). */
  flipped(): number[] {
    return [...this.before.keys()];
  }

  /**
   * The run's outcome; `finalMode` from the port if it can read it, else the
   * last reply's; `left`: the flipped bytes as they are now (flipped() order).
   */
  finish(finalMode: number | null, left: readonly (number | null)[] = []): Outcome {
    const was = [...this.before.values()];
    const known = was.length > 0 && was.every((b, i) => b !== null && left[i] !== null && left[i] !== undefined);
    return {
      simulatedS: this.durationS,
      ticks: this.ticks,
      faultFreeTicks: this.faultFreeTicks,
      envelope: this.env,
      iae: this.iae,
      finalMode: MODES[finalMode ?? this.mode],
      modeSeconds: Object.fromEntries(MODES.map((m, i) => [m, this.modeUs[i] / 1e6])) as Record<Mode, number>,
      watchdogResets: this.watchdogResets,
      traps: this.traps,
      overBudgetTicks: this.overBudgetTicks,
      setpointRejects: this.setpointRejects,
      tripSeconds: this.tripUs / 1e6,
      trips: this.trips,
      finalTrip: this.tripDemand,
      corruptionLeft: known ? was.some((b, i) => left[i] !== b) : null,
      events: this.book,
      trace: this.trace,
    };
  }
}

function faultContext(spec: PlantSpec, adc: Adc, layout: CoreLayout): FaultContext {
  const paramBytes = layout.paramCount * 4;
  return {
    sensorCount: spec.sensors.count, adcMaxCode: adc.maxCode,
    actuatorMin: spec.actuator.min, actuatorMax: spec.actuator.max, periodUs: spec.periodUs,
    memoryRegions: [
      { start: layout.configAddr, end: layout.configAddr + paramBytes, name: 'configuration' },
      { start: layout.shadowAddr, end: layout.shadowAddr + paramBytes, name: 'configuration shadow' },
    ],
  };
}
