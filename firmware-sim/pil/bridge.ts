// Processor-in-the-loop: a firmware-sim scenario with the controller on a
// target that speaks the line protocol: the firmware under QEMU (qemu.ts),
// the native harness (native.ts) or the V8 reference (protocol.ts). The
// plant, the ADCs and DAC, the MCU's clock and jitter, the fault injectors
// and the setpoint schedule stay here in simulated time; sensor samples go
// out over the serial link in T lines, the actuator command comes back.
//
// The loop is firmware-sim/loop/simulation.ts, the one runScenario runs, so
// a run on the V8 reference reproduces runScenario's trajectory, and a run
// on any target that reproduces the V8 replies reproduces it too. Here it
// is driven asynchronously through a LinePort (line-port.ts). What the
// protocol does not carry is left out: the event log (the final first-out
// cause comes from D instead) and the per-event detection latency.
//
//   node dist/firmware-sim/pil/bridge.js <scenario.json> [--target m3|m4|native|v8] [--seconds S] [--measured-cost]

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Core, MONITORS, Q16, STAGES, type Mode } from '../../host/runtime/core.js';
import { PLANTS } from '../plants/index.js';
import { coreConfig } from '../run.js';
import { parseScenario, type Scenario } from '../scenario/schema.js';
import { plantAdc, Simulation, type CoreLayout, type Oracle, type Outcome } from '../loop/simulation.js';
import { driveAsync } from '../loop/drive.js';
import type { TickTrace } from '../loop/trace.js';
import { ReferenceTarget } from './protocol.js';
import { LinePort } from './line-port.js';
import { startNative } from './native.js';
import { startQemu, type TickCost } from './qemu.js';
import type { LineTarget } from './target.js';

export interface PilOptions {
  /** Simulate only this many seconds (default: the scenario's durationS). */
  durationS?: number;
  /**
   * Cost of each tick from the target's own measurement (the instruction
   * count appended to T replies under QEMU, taken as cycles at the MCU's
   * clock) instead of firmware-sim's cycle model. Off by default, so a run
   * stays comparable with runScenario.
   */
  measuredCost?: boolean;
  /** Keep every line sent and every reply (for replay on another target). */
  transcript?: boolean;
  /** Keep the per-tick trace. */
  trace?: boolean;
  /** An oracle run, as runScenario's RunOptions.oracle. */
  oracle?: Oracle;
}

export interface PilTrace {
  tUs: number[];
  truth: number[];
  commandQ16: number[];
  /** What the actuator path applied after each tick (after the DAC and the actuator faults), output units: runScenario's trace.command. */
  applied: number[];
  mode: number[];
  /** The trip output after each tick (the T reply's <trip>): 1 = trip demanded. */
  trip: number[];
}

export interface PilResult {
  name: string;
  plant: string;
  target: string;
  simulatedS: number;
  ticks: number;
  envelope: { min: number; max: number; violated: boolean; firstS: number | null; worstExcursion: number };
  iae: number;
  finalMode: Mode;
  modeSeconds: Record<Mode, number>;
  /** The first-out root cause at the end of the run (D), or null. */
  cause: { monitor: string; stage: string } | null;
  /** Traps the target reported (each one: safe output, fresh core, configuration again). */
  traps: number;
  watchdogResets: number;
  overBudgetTicks: number;
  setpointRejects: number;
  /** Simulated seconds with the trip output asserted, how many times it was asserted, and its state at the end. */
  tripSeconds: number;
  trips: number;
  finalTrip: number;
  /** The target's tick-cost statistics (P), when it measures them. */
  tickCost: TickCost | null;
  trace?: PilTrace;
  transcript?: { lines: string[]; replies: string[] };
}

/** The bytes of core memory the memory faults' shadow spans (one Wasm page: the core's memory). */
const SHADOW_BYTES = 65536;

let metaCore: Core | null = null;
/** A V8 instance for the ABI's metadata only (parameter formats, addresses): never ticked. */
function meta(): Core {
  metaCore ??= Core.load();
  return metaCore;
}

export async function runPil(sc: Scenario, target: LineTarget, opts: PilOptions = {}): Promise<PilResult> {
  const spec = PLANTS[sc.plant];
  const port = await LinePort.open(target, meta(), coreConfig(spec, sc, plantAdc(spec)), { transcript: opts.transcript });
  const raw = meta().raw;
  const layout: CoreLayout = {
    configAddr: raw.config_addr(), shadowAddr: raw.config_shadow_addr(), paramCount: raw.param_count(), memoryBytes: SHADOW_BYTES,
  };
  const sim = new Simulation(sc, {
    layout, intervalUs: port.freshIntervalUs, durationS: opts.durationS, record: opts.trace, measuredCost: opts.measuredCost,
    oracle: opts.oracle,
  });
  const o = await driveAsync(sim, port);
  const ids = await port.cause();
  const cause = ids && { monitor: MONITORS[ids.monitor] ?? `#${ids.monitor}`, stage: STAGES[ids.stage] ?? `#${ids.stage}` };
  const tickCost = await port.tickCost();
  return pilResult(sc, target.name, o, { cause, tickCost, transcript: port.transcript });
}

function pilResult(sc: Scenario, target: string, o: Outcome, fromTarget: Pick<PilResult, 'cause' | 'tickCost' | 'transcript'>): PilResult {
  const kind = sc.faults[0]?.kind;
  return {
    name: sc.name ?? `${sc.plant}${kind ? `-${kind}` : ''}`,
    plant: sc.plant,
    target,
    simulatedS: o.simulatedS,
    ticks: o.ticks,
    envelope: o.envelope,
    iae: o.iae,
    finalMode: o.finalMode,
    modeSeconds: o.modeSeconds,
    cause: fromTarget.cause,
    traps: o.traps,
    watchdogResets: o.watchdogResets,
    overBudgetTicks: o.overBudgetTicks,
    setpointRejects: o.setpointRejects,
    tripSeconds: o.tripSeconds,
    trips: o.trips,
    finalTrip: o.finalTrip,
    tickCost: fromTarget.tickCost,
    ...(o.trace ? { trace: pilTrace(o.trace) } : {}),
    ...(fromTarget.transcript ? { transcript: fromTarget.transcript } : {}),
  };
}

function pilTrace(t: TickTrace): PilTrace {
  return { tUs: t.tUs, truth: t.truth, commandQ16: t.command.map((u) => Math.round(u * Q16)), applied: t.applied, mode: t.mode, trip: t.trip };
}

/**
 * A scenario's command stream as the V8 reference answers it: the lines to
 * replay on another target and the replies it must give (PIL closed loop,
 * recorded).
 */
export async function recordOnV8(sc: Scenario, durationS?: number): Promise<{ lines: string[]; replies: string[]; result: PilResult }> {
  const result = await runPil(sc, ReferenceTarget.v8(), { durationS, transcript: true });
  const { lines, replies } = result.transcript!;
  return { lines, replies, result };
}

/** Start a target by name: m3, m4 (QEMU), native, or v8 (the reference, in process). */
export async function startTarget(name: string): Promise<LineTarget> {
  if (name === 'm3' || name === 'm4') return startQemu({ target: name });
  if (name === 'native') return startNative();
  if (name === 'v8') return ReferenceTarget.v8();
  throw new RangeError(`unknown target '${name}': expected m3, m4, native or v8`);
}

async function cli(argv: string[]): Promise<number> {
  let file: string | undefined;
  let targetName = 'm3';
  let seconds: number | undefined;
  let measuredCost = false;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--target') targetName = argv[++i];
    else if (argv[i] === '--seconds') seconds = Number(argv[++i]);
    else if (argv[i] === '--measured-cost') measuredCost = true;
    else if (!file) file = argv[i];
    else { console.error(`unexpected argument '${argv[i]}'`); return 64; }
  }
  if (!file || (seconds !== undefined && !(seconds > 0))) {
    console.error('usage: node dist/firmware-sim/pil/bridge.js <scenario.json> [--target m3|m4|native|v8] [--seconds S] [--measured-cost]');
    return 64;
  }
  const sc = parseScenario(JSON.parse(readFileSync(file, 'utf8')), file);
  const target = await startTarget(targetName);
  try {
    const started = Date.now();
    const r = await runPil(sc, target, { durationS: seconds, measuredCost });
    console.log(`${r.name} on ${r.target}: ${r.ticks} ticks over ${r.simulatedS} s simulated in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    console.log(`  envelope ${r.envelope.min}..${r.envelope.max}: ${r.envelope.violated ? `VIOLATED at ${r.envelope.firstS} s (worst ${r.envelope.worstExcursion.toFixed(3)})` : 'kept'}`);
    console.log(`  final mode ${r.finalMode}, cause ${r.cause ? `${r.cause.monitor} (${r.cause.stage})` : 'none'}, IAE ${r.iae.toFixed(3)}`);
    console.log(`  traps ${r.traps}, watchdog resets ${r.watchdogResets}, over-budget ticks ${r.overBudgetTicks}, setpoint rejects ${r.setpointRejects}`);
    console.log(`  trip output asserted ${r.trips} time(s), ${r.tripSeconds.toFixed(1)} s in all; ${r.finalTrip ? 'tripped' : 'run permitted'} at the end`);
    if (r.tickCost) {
      const c = r.tickCost;
      console.log(`  tick cost (${c.unit}): mean ${c.mean.toFixed(1)}, min ${c.min}, max ${c.max} over ${c.count} ticks`);
    }
    return r.envelope.violated ? 1 : 0;
  } finally {
    await target.close();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  cli(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (e: unknown) => {
    console.error(e instanceof Error ? e.message : e);
    process.exitCode = 1;
  });
}
