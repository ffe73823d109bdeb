// Processor-in-the-loop: a firmware-sim scenario with the controller on a
// target that speaks the line protocol: the firmware under QEMU (qemu.ts),
// the native harness (native.ts) or the V8 reference (protocol.ts). The
// plant, the ADCs and DAC, the MCU's clock and jitter, the fault injectors
// and the setpoint schedule stay here in simulated time; sensor samples go
// out over the serial link in T lines, the actuator command comes back.
//
// The loop is the loop of firmware-sim/run.ts, step for step and draw for
// draw of its random streams, so a run on the V8 reference reproduces
// runScenario's trajectory, and a run on any target that reproduces the V8
// replies reproduces it too. What the protocol does not carry is left out:
// the event log (the final first-out cause comes from D instead) and the
// per-event detection latency.
//
//   node dist/firmware-sim/pil/bridge.js <scenario.json> [--target m3|m4|native|v8] [--seconds S] [--measured-cost]

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Core, MODES, MONITORS, Q16, SAMPLE_NONE, STAGES, type Mode, type ParamName, type ParamValue } from '../../host/runtime/core.js';
import { Rng } from '../rng.js';
import { Adc, Dac, mcuFor, tickCostUs } from '../mcu.js';
import { PLANTS } from '../plants/index.js';
import { compileFaults, type FaultContext } from '../faults/index.js';
import { coreConfig, SETPOINT_REFRESH_US } from '../run.js';
import { parseScenario, type Scenario } from '../scenario/schema.js';
import type { McuSpec, PlantSpec } from '../types.js';
import { cmd, configLines, okStatus, parseReply, ProtocolError, ReferenceTarget } from './protocol.js';
import { startNative } from './native.js';
import { startQemu, tickCost, type TickCost } from './qemu.js';
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
}

export interface PilTrace {
  tUs: number[];
  truth: number[];
  commandQ16: number[];
  mode: number[];
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
  /** The target's tick-cost statistics (P), when it measures them. */
  tickCost: TickCost | null;
  trace?: PilTrace;
  transcript?: { lines: string[]; replies: string[] };
}

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

let metaCore: Core | null = null;
/** A V8 instance for the ABI's metadata only (parameter formats, addresses): never ticked. */
function meta(): Core {
  metaCore ??= Core.load();
  return metaCore;
}

export async function runPil(sc: Scenario, target: LineTarget, opts: PilOptions = {}): Promise<PilResult> {
  const spec = PLANTS[sc.plant];
  const mcu: McuSpec = mcuFor(spec.periodUs, sc.mcu ?? {});
  const rng = new Rng(sc.seed);
  const noiseRng = new Rng(rng.u32());
  const jitterRng = new Rng(rng.u32());
  const adc = new Adc(spec.sensors.min, spec.sensors.max, spec.sensors.adcBits);
  const dac = new Dac(spec.actuator.min, spec.actuator.max, spec.actuator.bits);
  const config: Partial<Record<ParamName, ParamValue>> = coreConfig(spec, sc, adc);
  const setupLines = [cmd.init(), ...configLines(meta(), config)];
  const raw = meta().raw;
  const transcript = opts.transcript ? { lines: [] as string[], replies: [] as string[] } : undefined;

  const send = async (line: string): Promise<string> => {
    const reply = await target.request(line);
    if (transcript) { transcript.lines.push(line); transcript.replies.push(reply); }
    return reply;
  };
  const configure = async () => {
    for (const line of setupLines) {
      const reply = await send(line);
      if (okStatus(line, reply) !== 0) throw new ProtocolError(line, reply, 'configuration rejected');
    }
  };
  await configure();

  // memory.bitflip: the injector flips bits in a zeroed shadow of the core's
  // memory; each flipped byte goes to the target as W <addr> <mask>.
  const shadow = new Uint8Array(65536);
  const cfgAddr = raw.config_addr();
  const shadowAddr = raw.config_shadow_addr();
  const paramBytes = raw.param_count() * 4;
  const ctx: FaultContext = {
    sensorCount: spec.sensors.count, adcMaxCode: adc.maxCode,
    actuatorMin: spec.actuator.min, actuatorMax: spec.actuator.max, periodUs: spec.periodUs,
    memoryRegions: [
      { start: cfgAddr, end: cfgAddr + paramBytes, name: 'configuration' },
      { start: shadowAddr, end: shadowAddr + paramBytes, name: 'configuration shadow' },
    ],
  };
  const faults = compileFaults(sc.faults, new Rng(rng.u32()), ctx);
  const plant = spec.create({ cold: sc.cold });

  const durationS = Math.min(opts.durationS ?? sc.durationS, sc.durationS);
  const endUs = Math.round(durationS * 1e6);
  const env = { min: spec.envelope.min, max: spec.envelope.max, violated: false, firstS: null as number | null, worstExcursion: 0 };
  const modeUs = [0, 0, 0, 0];
  const noise = spec.sensors.noise;
  const sensorCount = spec.sensors.count;
  const codes: (number | null)[] = [null, null, null];
  const trace: PilTrace | undefined = opts.trace ? { tUs: [], truth: [], commandQ16: [], mode: [] } : undefined;

  let tUs = 0;
  let lastUs = 0;
  let applied = sc.cold ? spec.actuator.min : spec.uNominal;
  let command = applied;
  let iae = 0;
  let ticks = 0;
  let overBudgetRun = 0;
  let overBudgetTicks = 0;
  let watchdogResets = 0;
  let traps = 0;
  let nextRefreshUs = 0;
  let setpointRejects = 0;
  let mode = 0;
  let interval = spec.periodUs;
  const setpointAt = setpointSchedule(sc, spec);
  let sp = setpointAt(0);

  const deliverSetpoint = async (clock: number) => {
    const line = cmd.setpoint(Math.round(sp * Q16), clock);
    if (okStatus(line, await send(line)) !== 0) setpointRejects++;
  };

  while (tUs <= endUs) {
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
        if (faults.setpointArrives(tS)) await deliverSetpoint(clock);
        nextRefreshUs += SETPOINT_REFRESH_US;
      }
      for (let i = 0; i < sensorCount; i++) {
        const physical = faults.sensorPhysical(i, plant.output + noise * noiseRng.gauss(), tS);
        codes[i] = faults.sensorCode(i, adc.code(physical), tS);
      }
      for (const addr of new Set(faults.corrupt(shadow, tS))) {
        const line = cmd.flip(addr, shadow[addr]);
        if (okStatus(line, await send(line)) !== 0) throw new ProtocolError(line, 'not ok', 'memory fault not applied');
        shadow[addr] = 0;
      }
      const line = cmd.tick(clock, codes[0] ?? SAMPLE_NONE, codes[1] ?? SAMPLE_NONE, codes[2] ?? SAMPLE_NONE,
        spec.actuator.feedback ? Math.round(applied * Q16) : SAMPLE_NONE);
      const reply = parseReply(line, await send(line));
      let measured: number | null = null;
      if (reply.kind === 'tick') {
        command = reply.commandQ16 / Q16;
        mode = reply.mode;
        interval = reply.nextIntervalUs;
        measured = reply.cost;
      } else if (reply.kind === 'trap') {
        // The firmware applied the safe output and restarted its core: configure it again.
        traps++;
        watchdogResets++;
        await configure();
        command = reply.safeOutputQ16 / Q16;
        mode = 0;                 // the fresh core's mode, as runScenario reads it
        interval = spec.periodUs; // and its first proposed interval (period_min_us)
      } else {
        throw new ProtocolError(line, reply.fields.join(' '), 'expected a tick reply');
      }
      applied = faults.actuator(dac.output(command), tS);
      applied = Math.min(spec.actuator.max, Math.max(spec.actuator.min, applied));
      ticks++;
      costUs = opts.measuredCost && measured !== null
        ? measured / mcu.cpuMhz + faults.extraCostUs(tS)
        : tickCostUs(mcu, faults.extraCostUs(tS));
      if (costUs > mcu.budgetUs) {
        overBudgetTicks++;
        if (++overBudgetRun >= mcu.watchdogTicks) {
          watchdogResets++;
          overBudgetRun = 0;
          await configure();
          await deliverSetpoint(clock);
          interval = spec.periodUs;
        }
      } else {
        overBudgetRun = 0;
      }
      if (trace) {
        trace.tUs.push(tUs); trace.truth.push(plant.output); trace.commandQ16.push(Math.round(command * Q16)); trace.mode.push(mode);
      }
    }
    const clockRate = (faults.clockUs(tUs + interval) - faults.clockUs(tUs)) / interval;
    const trueInterval = clockRate > 0 ? Math.round(interval / clockRate) : interval;
    const jitter = mcu.jitterUs > 0 ? Math.round((jitterRng.next() * 2 - 1) * mcu.jitterUs) : 0;
    tUs = Math.max(tUs + trueInterval + jitter, tUs + Math.ceil(costUs), tUs + 1);
  }

  const d = parseReply(cmd.diag(), await send(cmd.diag()));
  let cause: PilResult['cause'] = null;
  if (d.kind === 'ok' && Number(d.fields[0]) >= 0) {
    cause = { monitor: MONITORS[Number(d.fields[0])] ?? `#${d.fields[0]}`, stage: STAGES[Number(d.fields[1])] ?? `#${d.fields[1]}` };
  }
  let cost: TickCost | null = null;
  const pReply = await target.request(cmd.cost());
  if (!pReply.startsWith('ok none')) cost = await tickCost({ request: async () => pReply });
  const kind = sc.faults[0]?.kind;
  return {
    name: sc.name ?? `${sc.plant}${kind ? `-${kind}` : ''}`,
    plant: sc.plant,
    target: target.name,
    simulatedS: durationS,
    ticks,
    envelope: env,
    iae,
    finalMode: MODES[mode],
    modeSeconds: Object.fromEntries(MODES.map((m, i) => [m, modeUs[i] / 1e6])) as Record<Mode, number>,
    cause,
    traps,
    watchdogResets,
    overBudgetTicks,
    setpointRejects,
    tickCost: cost,
    ...(trace ? { trace } : {}),
    ...(transcript ? { transcript } : {}),
  };
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
