// Runs one scenario: a plant, the sensors and actuator through the simulated
// MCU's converters, the injected faults, and one core instance, tick by tick
// in simulated time. Deterministic for a given scenario (seed included).

import { Core, MODES, MONITORS, Q16, SAMPLE_NONE, type CoreEvent, type Mode, type ParamName, type ParamValue } from '../host/runtime/core.js';
import { Rng } from './rng.js';
import { Adc, Dac, mcuFor, tickCostUs } from './mcu.js';
import { PLANTS } from './plants/index.js';
import { compileFaults, type FaultContext } from './faults/index.js';
import { FAULT_STAGE, type FaultKind, type McuSpec, type PlantSpec } from './types.js';
import type { Scenario } from './scenario/schema.js';

/** How often the host refreshes the setpoint, and when the core calls it stale. */
export const SETPOINT_REFRESH_US = 1_000_000;
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
}

export interface TimedEvent extends CoreEvent {
  tS: number;
}

export interface Trace {
  tS: number[];
  setpoint: number[];
  truth: number[];
  measurement: number[];
  command: number[];
  mode: number[];
}

export interface RunResult {
  name: string;
  plant: string;
  guarded: boolean;
  actionToSensing: boolean;
  faults: { kind: FaultKind; onsetS: number; durationS: number | null; magnitude: number; scope?: string }[];
  simulatedS: number;
  ticks: number;
  /** Ticks before the first fault's onset (all of them in a fault-free run). */
  faultFreeTicks: number;
  envelope: { min: number; max: number; violated: boolean; firstS: number | null; worstExcursion: number };
  /** Integral of |setpoint - true output| dt over the run. */
  iae: number;
  /** The first root-cause trip at or after the first fault's onset. */
  detection: { tS: number; latencyS: number; monitor: string; stage: string } | null;
  /** Whether the stage named first-out is where the fault was injected (null when nothing was detected or no fault). */
  attributionCorrect: boolean | null;
  expectedStage: string | null;
  /** Root trips before the first fault's onset (false trips). */
  falseTrips: number;
  falseTripMonitors: string[];
  finalMode: Mode;
  modeSeconds: Record<Mode, number>;
  consequential: number;
  watchdogResets: number;
  overBudgetTicks: number;
  setpointRejects: number;
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

/** The host's setpoint schedule as a step function of time. */
function setpointSchedule(sc: Scenario, spec: PlantSpec): (tS: number) => number {
  const steps = [...(sc.setpoints ?? [])].sort((a, b) => a.atS - b.atS);
  if (steps.length === 0) return () => spec.setpoint;
  return (tS) => {
    let sp = spec.setpoint;
    for (const s of steps) {
      if (s.atS > tS) break;
      sp = s.value;
    }
    return sp;
  };
}

function newCore(opts: RunOptions): Core {
  if (opts.engine) return opts.engine();
  if (!opts.module) throw new TypeError('runScenario: RunOptions needs a module or an engine');
  return Core.fromModule(opts.module);
}

export function runScenario(sc: Scenario, opts: RunOptions): RunResult {
  const spec = PLANTS[sc.plant];
  const mcu: McuSpec = mcuFor(spec.periodUs, sc.mcu ?? {});
  const rng = new Rng(sc.seed);
  const noiseRng = new Rng(rng.u32());
  const jitterRng = new Rng(rng.u32());
  const adc = new Adc(spec.sensors.min, spec.sensors.max, spec.sensors.adcBits);
  const dac = new Dac(spec.actuator.min, spec.actuator.max, spec.actuator.bits);
  const core = newCore(opts);
  const config = coreConfig(spec, sc, adc);
  core.configure(config);
  const memoryBytes = core.memoryBytes ?? 0;
  if (memoryBytes > mcu.memoryLimitBytes) {
    throw new RangeError(`core instance uses ${memoryBytes} bytes of memory, over the MCU limit of ${mcu.memoryLimitBytes}`);
  }
  const raw = core.raw;
  const memoryFault = sc.faults.find((f) => f.kind.startsWith('memory.'));
  if (memoryFault && !raw.memory) {
    throw new RangeError(`fault '${memoryFault.kind}' writes into the core's linear memory, which this engine does not expose (run it on v8)`);
  }
  // One page, fixed: the core's memory never grows. Empty on an engine without memory access (no memory faults then).
  const memory = raw.memory ? new Uint8Array(raw.memory.buffer) : new Uint8Array(0);
  const cfgAddr = core.raw.config_addr();
  const ctx: FaultContext = {
    sensorCount: spec.sensors.count, adcMaxCode: adc.maxCode,
    actuatorMin: spec.actuator.min, actuatorMax: spec.actuator.max, periodUs: spec.periodUs,
    memoryRegions: [
      { start: cfgAddr, end: cfgAddr + core.raw.param_count() * 4, name: 'configuration' },
      { start: core.raw.config_shadow_addr(), end: core.raw.config_shadow_addr() + core.raw.param_count() * 4, name: 'configuration shadow' },
    ],
  };
  const faults = compileFaults(sc.faults, new Rng(rng.u32()), ctx);
  const plant = spec.create({ cold: sc.cold });

  const endUs = Math.round(sc.durationS * 1e6);
  const firstOnsetUs = sc.faults.length ? Math.round(Math.min(...sc.faults.map((f) => f.onsetS)) * 1e6) : Infinity;
  const env = { min: spec.envelope.min, max: spec.envelope.max, violated: false, firstS: null as number | null, worstExcursion: 0 };
  const modeUs: number[] = [0, 0, 0, 0];
  const noise = spec.sensors.noise;
  const sensorCount = spec.sensors.count;
  const codes: (number | null)[] = [null, null, null];
  const events: TimedEvent[] = [];
  const trace: Trace | undefined = opts.record ? { tS: [], setpoint: [], truth: [], measurement: [], command: [], mode: [] } : undefined;

  let tUs = 0;
  let lastUs = 0;
  let applied = sc.cold ? spec.actuator.min : spec.uNominal;
  let command = applied;
  let iae = 0;
  let ticks = 0;
  let faultFreeTicks = 0;
  let overBudgetRun = 0;
  let overBudgetTicks = 0;
  let watchdogResets = 0;
  let nextRefreshUs = 0;
  const setpointAt = setpointSchedule(sc, spec);
  let sp = setpointAt(0);
  let detection: RunResult['detection'] = null;
  let detectionSettled = false;
  let falseTrips = 0;
  const falseTripMonitors: string[] = [];
  let consequential = 0;
  let mode = 0;

  // The host's setpoint message; the core may reject it (a corrupted range,
  // say): the host counts that and the loop keeps its last setpoint.
  let setpointRejects = 0;
  const deliverSetpoint = (clock: number) => {
    try {
      core.setSetpoint(sp, clock);
    } catch {
      setpointRejects++;
    }
  };

  let eventsSeen = 0n;
  const handleEvents = (nowS: number) => {
    const written = raw.events_written();
    if (written === eventsSeen) return;   // nothing new: the common case, one cheap call
    eventsSeen = written;
    for (const ev of core.events()) {
      if (opts.record) events.push({ ...ev, tS: nowS });
      if (ev.kind === 'consequential') consequential++;
      // An estimation root names its stage for good once isolation settles.
      if (ev.kind === 'isolated' && detection && !detectionSettled && ev.monitor === detection.monitor) {
        detection = { ...detection, stage: ev.stage ?? '?' };
        detectionSettled = true;
      }
      if (ev.kind !== 'trip') continue;
      if (nowS * 1e6 < firstOnsetUs) {
        falseTrips++;
        falseTripMonitors.push(ev.monitor ?? '?');
      } else if (!detection) {
        detection = { tS: nowS, latencyS: nowS - firstOnsetUs / 1e6, monitor: ev.monitor ?? '?', stage: ev.stage ?? '?' };
      }
    }
  };

  while (tUs <= endUs) {
    // The plant runs from the previous tick to this one under the applied command.
    const dtS = (tUs - lastUs) / 1e6;
    if (dtS > 0) {
      const y0 = plant.output;
      plant.step(applied, dtS);
      const y = plant.output;
      iae += Math.abs(sp - (y0 + y) / 2) * dtS;
      modeUs[mode] += tUs - lastUs;
      if (y > env.max || y < env.min) {
        const ex = y > env.max ? y - env.max : env.min - y;
        if (!env.violated) { env.violated = true; env.firstS = tUs / 1e6; }
        if (ex > env.worstExcursion) env.worstExcursion = ex;
      }
    }
    lastUs = tUs;
    const tS = tUs / 1e6;
    sp = setpointAt(tS);

    let costUs = 0;
    if (!faults.skipTick(tS)) {
      const clock = Math.round(faults.clockUs(tUs));
      if (tUs >= nextRefreshUs) {
        if (faults.setpointArrives(tS)) deliverSetpoint(clock);
        nextRefreshUs += SETPOINT_REFRESH_US;
      }
      for (let i = 0; i < sensorCount; i++) {
        const physical = faults.sensorPhysical(i, plant.output + noise * noiseRng.gauss(), tS);
        codes[i] = faults.sensorCode(i, adc.code(physical), tS);
      }
      faults.corrupt(memory, tS);
      try {
        // The raw export: the runner's inputs are integers already (the wrapper's checks cost more than the tick).
        command = raw.tick(BigInt(clock), codes[0] ?? SAMPLE_NONE, codes[1] ?? SAMPLE_NONE, codes[2] ?? SAMPLE_NONE,
          spec.actuator.feedback ? Math.round(applied * Q16) : SAMPLE_NONE) / Q16;
      } catch {
        // A trap: the watchdog restarts the core; the actuator gets the safe output meanwhile.
        watchdogResets++;
        core.raw.init();
        core.configure(config);
        command = Number(config.safe_output ?? 0);
      }
      applied = faults.actuator(dac.output(command), tS);
      applied = Math.min(spec.actuator.max, Math.max(spec.actuator.min, applied));
      mode = raw.mode();
      ticks++;
      if (tUs < firstOnsetUs) faultFreeTicks++;
      handleEvents(tS);
      costUs = tickCostUs(mcu, faults.extraCostUs(tS));
      if (costUs > mcu.budgetUs) {
        overBudgetTicks++;
        if (++overBudgetRun >= mcu.watchdogTicks) {
          watchdogResets++;
          overBudgetRun = 0;
          core.raw.init();
          core.configure(config);
          deliverSetpoint(clock);
        }
      } else {
        overBudgetRun = 0;
      }
      if (trace) {
        trace.tS.push(tS); trace.setpoint.push(sp); trace.truth.push(plant.output);
        trace.measurement.push(core.measurement); trace.command.push(applied); trace.mode.push(mode);
      }
    }
    // Next tick: the interval the core proposes, timed by the MCU's own clock
    // (which a clock-drift fault makes run fast or slow against true time),
    // with jitter, and never before this tick's work is done.
    const interval = Number(raw.next_interval_us());
    const clockRate = (faults.clockUs(tUs + interval) - faults.clockUs(tUs)) / interval;
    const trueInterval = clockRate > 0 ? Math.round(interval / clockRate) : interval;
    const jitter = mcu.jitterUs > 0 ? Math.round((jitterRng.next() * 2 - 1) * mcu.jitterUs) : 0;
    tUs = Math.max(tUs + trueInterval + jitter, tUs + Math.ceil(costUs), tUs + 1);
  }

  const kind = sc.faults[0]?.kind;
  const det = detection as RunResult['detection'];
  return {
    name: sc.name ?? `${sc.plant}${kind ? `-${kind}` : ''}`,
    plant: sc.plant,
    guarded: sc.guarded,
    actionToSensing: sc.actionToSensing,
    faults: sc.faults.map((f) => ({ ...f })),
    simulatedS: sc.durationS,
    ticks,
    faultFreeTicks,
    envelope: env,
    iae,
    detection: det,
    expectedStage: kind ? FAULT_STAGE[kind] : null,
    attributionCorrect: kind && det ? det.stage === FAULT_STAGE[kind] : null,
    falseTrips,
    falseTripMonitors,
    finalMode: MODES[core.raw.mode()],
    modeSeconds: Object.fromEntries(MODES.map((m, i) => [m, modeUs[i] / 1e6])) as Record<Mode, number>,
    consequential,
    watchdogResets,
    overBudgetTicks,
    setpointRejects,
    ...(opts.record ? { events, trace } : {}),
  };
}
