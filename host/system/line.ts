// The chain demo: a line of thermal zones, each its own loop on its own
// simulated MCU (firmware-sim device) and its own agent, coordinated over
// MQTT. Zone 1 is the lead: it holds its setpoint. Every other zone follows
// the zone before it (master-slave zone control): its setpoint is the
// upstream zone's temperature, wired to it from the upstream transmitter.
// That wire is how a fault cascades: a runaway upstream drags each follower
// after it, one after another, and each one leaves NOMINAL in turn.
//
// The coordinator contains it by scoped escalation: when a zone leaves
// control, its direct dependent is held (it stops following and keeps its
// setpoint, as a slave zone sheds to a local setpoint); the scope widens
// only if a held zone leaves NOMINAL too.
//
// Time is simulated (so a 10-minute run takes seconds) but the messages
// are real: agents, coordinator and broker talk over MQTT on loopback, and
// each step yields to the event loop so commands arrive as they would.

import { Agent } from '../agent/agent.js';
import { Coordinator, type Decision } from '../coordinator/coordinator.js';
import { Core } from '../runtime/core.js';
import { SimDevice } from '../../firmware-sim/device.js';
import type { FaultSpec } from '../../firmware-sim/types.js';
import type { Payload } from '../mqtt/codec.js';

export const LINE_GROUP = 'line1';
export const LINE_ZONES = 6;
export const LINE_HOST = 'edgeloop-coordinator';

/** The scripted fault: the lead zone's heater driver fails reversed (lo + hi - command), a runaway no command can stop. */
export const LINE_FAULT: FaultSpec = { kind: 'actuator.reversed', onsetS: 120, durationS: null, magnitude: 0 };

export interface LineOptions {
  broker: string;
  /** Coordinate (contain the cascade) or only observe. */
  contain: boolean;
  zones?: number;
  seconds?: number;
  seed?: number;
  fault?: FaultSpec | null;
  /** Which zone the fault hits (0: the lead). */
  faultZone?: number;
  /** Core module to run (default: build/core.wasm). */
  module?: WebAssembly.Module;
  /** Real milliseconds per simulated tick (0: as fast as messages allow). */
  paceMs?: number;
  /** Where telemetry goes (host/telemetry/recorder.ts). */
  recorder?: { record(agentKey: string, p: Payload, receivedMs: number): void };
  onEvent?: (line: string) => void;
  /** Stop early if this returns true (checked every step). */
  stopWhen?: () => boolean;
  /** The coordinator, for a dashboard to read while the line runs. */
  onCoordinator?: (c: Coordinator) => void;
  credentials?: { agent?: (zone: number) => { username: string; password: string }; coordinator?: { username: string; password: string } };
}

export interface ZoneResult {
  key: string;
  /** Every mode the zone's core was in after the fault's onset. */
  modes: string[];
  leftNominal: boolean;
  /** First time (s) it left NOMINAL, or null. */
  leftAtS: number | null;
  held: boolean;
  maxTemperature: number;
  /** The zone's safety envelope (from the plant spec) was left. */
  envelopeViolated: boolean;
}

export interface LineResult {
  contain: boolean;
  zones: ZoneResult[];
  /** Zones downstream of the faulty one that left NOMINAL. */
  downstreamOutOfNominal: number;
  downstreamEnvelopeViolations: number;
  decisions: Decision[];
  ticks: number;
  lateCommands: number;
}

const TICK_US = 100_000;
/** Telemetry ticks allowed in flight between the agents and the coordinator (200 ms of simulated time). */
const LAG_TICKS = 2;
/**
 * The zones' heaters are sized for the line (70 % of the driver's range:
 * 80 C needs 40 %, the most a zone can hold is 125 C). A zone asked to follow
 * above that saturates.
 */
export const ZONE_HEATER_MAX = 70;
const yieldIo = () => new Promise<void>((r) => setImmediate(r));
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function lineKey(zone: number): string {
  return `${LINE_GROUP}/zone${zone + 1}/loop`;
}

export async function runLine(opts: LineOptions): Promise<LineResult> {
  const zones = opts.zones ?? LINE_ZONES;
  const seconds = opts.seconds ?? 300;
  const fault = opts.fault === undefined ? LINE_FAULT : opts.fault;
  const faultZone = opts.faultZone ?? 0;
  const say = opts.onEvent ?? (() => {});
  let nowUs = 0;
  const epoch = Date.now();
  const wallMs = () => epoch + Math.round(nowUs / 1000);

  // The newest sample the coordinator has from each agent: simulated time
  // waits for the messages (below), so the network's delay in simulated
  // time stays what it is in real deployments, a few ticks at most.
  const seen = new Map<string, number>();
  const coord = new Coordinator({
    broker: opts.broker, hostId: LINE_HOST, contain: opts.contain, clockMs: wallMs, staleMs: 3000,
    ...opts.credentials?.coordinator,
    onData: (k, p, t) => {
      const s = p.metrics.find((m) => m.name === 'sample')?.value;
      if (typeof s === 'number' && s > (seen.get(k) ?? -1)) seen.set(k, s);
      opts.recorder?.record(k, p, t);
    },
    onDecision: (d) => say(`t=${((d.tMs - epoch) / 1000).toFixed(1)} s   coordinator: ${d.action} ${d.agent} (${d.reason})`),
  });
  opts.onCoordinator?.(coord);

  const devices: SimDevice[] = [];
  const agents: Agent[] = [];
  for (let z = 0; z < zones; z++) {
    const upstream = z > 0 ? devices[z - 1] : null;
    const device = new SimDevice({
      plant: 'thermal', seed: (opts.seed ?? 1) * 1000 + z,
      faults: fault && z === faultZone ? [fault] : [],
      reference: upstream ? () => upstream.transmit() : undefined,
      core: { out_max: ZONE_HEATER_MAX },
    });
    devices.push(device);
    const core = opts.module ? Core.fromModule(opts.module) : Core.load();
    core.configure(device.config);
    core.setSetpoint(device.spec.setpoint, 0);
    agents.push(new Agent({
      group: LINE_GROUP, node: `zone${z + 1}`, device: 'loop', core, binding: device, broker: opts.broker,
      clockUs: () => nowUs, wallMs, primaryHost: LINE_HOST,
      dependsOn: z > 0 ? [lineKey(z - 1)] : [],
      ...opts.credentials?.agent?.(z),
    }));
  }

  try {
    // Everyone born and seen before the clock starts.
    for (let i = 0; i < 500 && coord.agents.size < zones; i++) {
      for (const a of agents) a.tick();
      nowUs += TICK_US;
      await sleep(10);
      coord.cycle();
    }
    if (coord.agents.size < zones) throw new Error(`line: only ${coord.agents.size} of ${zones} agents were discovered; is the broker at ${opts.broker} up?`);
    say(`${zones} zones on line ${LINE_GROUP}: zone 1 leads at ${devices[0].spec.setpoint} C, each other zone follows the one before it`);

    const startUs = nowUs;
    // Fault windows count from the devices' t = 0, the agents' clock (discovery included).
    const onsetUs = fault ? fault.onsetS * 1e6 : Infinity;
    const results: ZoneResult[] = agents.map((_, z) => ({ key: lineKey(z), modes: [], leftNominal: false, leftAtS: null, held: false, maxTemperature: -Infinity, envelopeViolated: false }));
    const lastMode = agents.map((a) => a.core.mode as string);
    const endUs = startUs + seconds * 1e6;
    let ticks = 0;
    let announcedFault = false;
    const sentAt = new Map<string, number>();
    while (nowUs < endUs && !(opts.stopWhen?.() ?? false)) {
      nowUs += TICK_US;
      const tS = nowUs / 1e6;
      if (fault && !announcedFault && nowUs >= onsetUs) {
        announcedFault = true;
        say(`t=${tS.toFixed(1)} s  fault injected: ${fault.kind} on zone ${faultZone + 1}`);
      }
      for (let z = 0; z < zones; z++) {
        agents[z].tick();
        const mode = agents[z].core.mode;
        const r = results[z];
        const y = devices[z].truth;
        if (nowUs >= onsetUs) {
          if (!r.modes.includes(mode)) r.modes.push(mode);
          if (mode !== 'NOMINAL' && !r.leftNominal) { r.leftNominal = true; r.leftAtS = tS; }
          if (y > r.maxTemperature) r.maxTemperature = y;
          if (y > devices[z].spec.envelope.max || y < devices[z].spec.envelope.min) r.envelopeViolated = true;
        }
        if (mode !== lastMode[z]) {
          const cause = agents[z].core.cause;
          say(`t=${tS.toFixed(1)} s  zone ${z + 1}: ${lastMode[z]} -> ${mode}${cause ? ` (first out: ${cause.monitor} at the ${cause.stage} stage)` : ''}`);
          lastMode[z] = mode;
        }
      }
      ticks++;
      if (opts.paceMs) await sleep(opts.paceMs); else await yieldIo();
      coord.cycle();
      // At most LAG_TICKS of telemetry in flight: wait (a bounded real time) for the coordinator to catch up.
      // The same for commands: one not acknowledged LAG_TICKS after it was sent holds simulated time.
      for (const c of coord.commands.values()) if (!sentAt.has(c.id)) sentAt.set(c.id, ticks);
      const lagging = () => agents.some((a, z) => (seen.get(lineKey(z)) ?? -1) < a.stats.ticks - 1 - LAG_TICKS)
        || [...coord.commands.values()].some((c) => c.state === 'sent' && ticks - sentAt.get(c.id)! > LAG_TICKS);
      for (let i = 0; i < 400 && lagging(); i++) { await sleep(1); coord.cycle(); }
    }
    for (let z = 0; z < zones; z++) results[z].held = !agents[z].followingReference;
    const downstream = results.filter((_, z) => z > faultZone);
    const result: LineResult = {
      contain: opts.contain,
      zones: results,
      downstreamOutOfNominal: downstream.filter((r) => r.leftNominal).length,
      downstreamEnvelopeViolations: downstream.filter((r) => r.envelopeViolated).length,
      decisions: [...coord.decisions],
      ticks,
      lateCommands: [...coord.commands.values()].filter((c) => c.state === 'timeout').length,
    };
    return result;
  } finally {
    await Promise.all(agents.map((a) => a.stop()));
    await coord.stop();
  }
}
