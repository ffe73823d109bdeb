// Runs one scenario: a plant, the sensors and actuator through the simulated
// MCU's converters, the injected faults, and one core instance on an engine,
// tick by tick in simulated time. Deterministic for a given scenario (seed
// included). The loop is firmware-sim/loop/simulation.ts, the same one the
// processor-in-the-loop bridge drives over the line protocol; here it runs
// synchronously through an EnginePort.

import { Core, MONITORS, type ParamName, type ParamValue } from '../host/runtime/core.js';
import { mcuFor, type Adc } from './mcu.js';
import { PLANTS } from './plants/index.js';
import { FAULT_STAGE, type FaultKind, type McuSpec, type PlantSpec } from './types.js';
import type { Scenario } from './scenario/schema.js';
import { plantAdc, Simulation, type CoreLayout, type Oracle, type Outcome } from './loop/simulation.js';
import { EnginePort } from './loop/engine-port.js';
import { driveSync } from './loop/drive.js';
import type { TickTrace } from './loop/trace.js';
import type { TimedEvent } from './loop/events.js';

export { SETPOINT_REFRESH_US, type Oracle } from './loop/simulation.js';
export type { TimedEvent } from './loop/events.js';
/** When the core calls the host's setpoint stale. */
export const SETPOINT_TIMEOUT_US = 3_500_000;

export interface RunOptions {
  /** The compiled core.wasm, run in V8 (when no `engine` is given). */
  module?: WebAssembly.Module;
  /**
   * Makes the run's core: a fresh instance on any engine (host/runtime/engines:
   * V8 from the compiled module, or Wasmtime in its child process). An engine
   * without memory access cannot take memory faults.
   */
  engine?: () => Core;
  /** Keep a per-tick trace and the event log (for plots); off in campaigns. */
  record?: boolean;
  /**
   * An oracle run, for the campaign's counterfactual (was a violation
   * preventable?): from the first fault's onset to the end of the run, the
   * command reaching the actuator path is pinned at the actuator's min or
   * max (it still goes through the DAC and the actuator faults), or the
   * trip is asserted (trip.fail still honoured). Before the onset the run is
   * exactly the run without an oracle; a fault-free run never engages it.
   */
  oracle?: Oracle;
}

export interface Trace {
  tS: number[];
  setpoint: number[];
  truth: number[];
  measurement: number[];
  command: number[];
  mode: number[];
  /** The trip output after each tick: 1 = trip demanded, 0 = run permitted. */
  trip: number[];
}

/**
 * One scenario's result: the loop's outcome (firmware-sim/loop/simulation.ts:
 * ticks, envelope, IAE, modes, watchdog, trip) with what the engine's events
 * tell (detection, attribution, false trips) and the scenario it ran.
 */
export interface RunResult extends Omit<Outcome, 'events' | 'trace'> {
  name: string;
  plant: string;
  guarded: boolean;
  actionToSensing: boolean;
  /** The oracle this run ran under, or null for a run of the controller itself. */
  oracle: Oracle | null;
  faults: { kind: FaultKind; onsetS: number; durationS: number | null; magnitude: number; scope?: string }[];
  /** The first root-cause trip at or after the first fault's onset. */
  detection: { tS: number; latencyS: number; monitor: string; stage: string } | null;
  /** Whether the stage named first-out is where the fault was injected (null when nothing was detected or no fault). */
  attributionCorrect: boolean | null;
  expectedStage: string | null;
  /** Root trips before the first fault's onset (false trips). */
  falseTrips: number;
  falseTripMonitors: string[];
  consequential: number;
  /** Broken invariants the core logged (a bug in the core); each also trapped when it ran the debug build. */
  invariantFails: number;
  /** What broke (the first few, each once), with the tick and the value found. */
  invariants: string[];
  /** Invariants broken under a corrupted configuration table: a soft error's consequence, which the integrity monitor handles. */
  invariantSoft: number;
  events?: TimedEvent[];
  trace?: Trace;
}

/** Monitor actions that turn the guard off: the primary controller alone. */
const UNGUARDED: Partial<Record<ParamName, ParamValue>> = {
  guard: false,
  ...Object.fromEntries(MONITORS.map((m) => [`${m}.level`, 'none'])),
} as Partial<Record<ParamName, ParamValue>>;

/** The full core configuration for a plant and scenario. */
export function coreConfig(spec: PlantSpec, sc: Scenario, adc: Adc): Partial<Record<ParamName, ParamValue>> {
  const cfg: Partial<Record<ParamName, ParamValue>> = {
    n_sensors: spec.sensors.count, adc_min: 0, adc_max: adc.maxCode,
    out_min: spec.actuator.min, out_max: spec.actuator.max,
    period_min_us: spec.periodUs, period_max_us: sc.actionToSensing ? spec.periodMaxUs : spec.periodUs,
    sp_timeout_us: SETPOINT_TIMEOUT_US,
  };
  for (let i = 0; i < spec.sensors.count; i++) {
    (cfg as Record<string, ParamValue>)[`s${i}_scale`] = adc.scale;
    (cfg as Record<string, ParamValue>)[`s${i}_offset`] = adc.min;
  }
  Object.assign(cfg, spec.core, sc.core ?? {});
  if (!sc.guarded) Object.assign(cfg, UNGUARDED);
  return cfg;
}

function newCore(opts: RunOptions): Core {
  if (opts.engine) return opts.engine();
  if (!opts.module) throw new TypeError('runScenario: RunOptions needs a module or an engine');
  return Core.fromModule(opts.module);
}

/** The engine can hold this run: the core fits the MCU's memory, and memory faults can reach it. */
function checkEngine(core: Core, sc: Scenario, mcu: McuSpec): void {
  const memoryBytes = core.memoryBytes ?? 0;
  if (memoryBytes > mcu.memoryLimitBytes) {
    throw new RangeError(`core instance uses ${memoryBytes} bytes of memory, over the MCU limit of ${mcu.memoryLimitBytes}`);
  }
  const memoryFault = sc.faults.find((f) => f.kind.startsWith('memory.'));
  if (memoryFault && !core.raw.memory) {
    throw new RangeError(`fault '${memoryFault.kind}' writes into the core's linear memory, which this engine does not expose (run it on v8)`);
  }
}

/**
 * The core itself failed the run: it trapped, broke one of its invariants
 * (a bug: assembly/invariant.ts), or the watchdog restarted it without an
 * injected overrun to blame (an overrun fault is meant to make ticks late
 * enough for the watchdog: that is the scenario's doing).
 */
export function coreFailed(r: RunResult): boolean {
  return r.traps > 0 || r.invariantFails > 0 || (r.watchdogResets > 0 && !r.faults.some((f) => f.kind === 'timing.overrun'));
}

/** One scenario on the simulated MCU, the core on an engine, synchronously. */
export function runScenario(sc: Scenario, opts: RunOptions): RunResult {
  const spec = PLANTS[sc.plant];
  const mcu = mcuFor(spec.periodUs, sc.mcu ?? {});
  const config = coreConfig(spec, sc, plantAdc(spec));
  const port = new EnginePort(newCore(opts), config);
  const core = port.core;
  checkEngine(core, sc, mcu);
  const raw = core.raw;
  const layout: CoreLayout = {
    configAddr: raw.config_addr(), shadowAddr: raw.config_shadow_addr(), paramCount: raw.param_count(),
    memoryBytes: raw.memory ? raw.memory.buffer.byteLength : 0,
  };
  const sim = new Simulation(sc, { layout, intervalUs: port.freshIntervalUs, record: opts.record, oracle: opts.oracle });
  return runResult(sc, driveSync(sim, port), opts);
}

function runResult(sc: Scenario, o: Outcome, opts: RunOptions): RunResult {
  const record = opts.record === true;
  const kind = sc.faults[0]?.kind;
  const det = o.events.detection;
  return {
    name: sc.name ?? `${sc.plant}${kind ? `-${kind}` : ''}`,
    plant: sc.plant,
    guarded: sc.guarded,
    actionToSensing: sc.actionToSensing,
    oracle: opts.oracle ?? null,
    faults: sc.faults.map((f) => ({ ...f })),
    simulatedS: sc.durationS,
    ticks: o.ticks,
    faultFreeTicks: o.faultFreeTicks,
    envelope: o.envelope,
    iae: o.iae,
    detection: det,
    expectedStage: kind ? FAULT_STAGE[kind] : null,
    attributionCorrect: kind && det ? det.stage === FAULT_STAGE[kind] : null,
    falseTrips: o.events.falseTrips,
    falseTripMonitors: o.events.falseTripMonitors,
    finalMode: o.finalMode,
    modeSeconds: o.modeSeconds,
    consequential: o.events.consequential,
    invariantFails: o.events.invariantFails,
    invariants: [...o.events.invariants],
    invariantSoft: o.events.invariantSoft,
    watchdogResets: o.watchdogResets,
    traps: o.traps,
    overBudgetTicks: o.overBudgetTicks,
    setpointRejects: o.setpointRejects,
    tripSeconds: o.tripSeconds,
    trips: o.trips,
    finalTrip: o.finalTrip,
    corruptionLeft: o.corruptionLeft,
    ...(record ? { events: o.events.log ?? [], trace: runTrace(o.trace!) } : {}),
  };
}

function runTrace(t: TickTrace): Trace {
  return {
    tS: t.tUs.map((us) => us / 1e6), setpoint: t.setpoint, truth: t.truth,
    measurement: t.measurement, command: t.applied, mode: t.mode, trip: t.trip,
  };
}
