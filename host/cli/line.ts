// The chain demo (wiring, so it lives with the other composition roots in
// host/cli/): a line of thermal zones, each its own loop on its own
// simulated MCU (firmware-sim device) and its own agent, coordinated over
// MQTT. Zone 1 is the lead: it holds its setpoint. Every other zone follows
// the zone before it (master-slave zone control): its setpoint is the
// upstream zone's temperature, wired to it from the upstream transmitter.
// That wire is how a fault cascades: whatever happens upstream, a runaway
// or a trip that lets the zone cool, drags each follower after it, one
// after another.
//
// The scripted fault: zone 1's heater driver fails reversed (it heats when
// told to stop). Zone 1's core classes the actuator reversed and trips: the
// trip output cuts the heater's power, whatever its driver does, and zone 1
// cools toward ambient, inside its envelope. Its followers follow it down:
// the cascade now costs production, not safety.
//
// The coordinator contains it by scoped escalation: when a zone leaves
// control, its direct dependent is held (it stops following and keeps its
// setpoint, as a slave zone sheds to a local setpoint) or, with contain
// 'fallback', switched to its fallback controller; the scope widens only if
// a contained zone leaves NOMINAL of its own accord.
//
// Time is simulated (so a 10-minute run takes seconds) but the messages
// are real: agents, coordinator and broker talk over MQTT on loopback, and
// each step yields to the event loop so commands arrive as they would.

import { Agent } from '../agent/agent.js';
import { Coordinator, type ContainAction, type Decision } from '../coordinator/coordinator.js';
import { Core, type CoreEvent } from '../runtime/core.js';
import { describeCause } from '../runtime/causes.js';
import { SimDevice } from '../../firmware-sim/device.js';
import type { FaultSpec } from '../../firmware-sim/types.js';
import type { Payload } from '../mqtt/codec.js';

export const LINE_GROUP = 'line1';
export const LINE_ZONES = 6;
export const LINE_HOST = 'edgeloop-coordinator';

/**
 * The scripted fault: the lead zone's heater driver fails reversed (lo + hi -
 * command): told to stop heating, it heats at full power. No command through
 * the driver stops it; the trip output, which cuts the heater's power, does.
 */
export const LINE_FAULT: FaultSpec = { kind: 'actuator.reversed', onsetS: 120, durationS: null, magnitude: 0 };

export interface LineOptions {
  broker: string;
  /** Coordinate (contain the cascade: true or 'hold' holds a dependent, 'fallback' switches it to its fallback) or only observe (false). */
  contain: boolean | ContainAction;
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
  /** How the coordinator contained it at the end of the run (held, switched to its fallback), or null. */
  contained: ContainAction | null;
  /** The trip output was de-energized after the fault's onset: when first (s), and why (`<cause>/<stage>`). */
  tripped: boolean;
  trippedAtS: number | null;
  tripCause: string;
  maxTemperature: number;
  minTemperature: number;
  /** The farthest the zone's temperature went from the line's operating point (the lead's setpoint), C. */
  maxDeviation: number;
  /** The zone's safety envelope (from the plant spec) was left. */
  envelopeViolated: boolean;
}

export interface LineResult {
  contain: boolean | ContainAction;
  zones: ZoneResult[];
  /** Zones downstream of the faulty one that left NOMINAL. */
  downstreamOutOfNominal: number;
  downstreamEnvelopeViolations: number;
  /** Zones downstream of the faulty one dragged more than LINE_DRAG_C off the operating point (production lost). */
  downstreamDragged: number;
  /** The line's operating point: the lead zone's setpoint, C. */
  operatingPoint: number;
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

/**
 * How far off the operating point a zone may go before its product is lost,
 * C: the loops' own tracking threshold (track_thr, 10 C), which the zones
 * may be pushed to by a wandering reference without any alarm of their own.
 */
export const LINE_DRAG_C = 10;

/** A core event as one line of narration, or null for the events the line does not narrate. */
function narrate(zone: number, e: CoreEvent, tripWhat: string): string | null {
  const where = e.stage ? ` at the ${e.stage} stage` : '';
  switch (e.kind) {
    case 'trip_out':
      return e.tripped
        ? `zone ${zone + 1}: TRIP: the trip output is de-energized (${tripWhat}); cause ${describeCause(e.reason)}${where}`
        : `zone ${zone + 1}: trip released: the trip output is energized again`;
    case 'trip_failed':
      return `zone ${zone + 1}: TRIP FAILED: the actuator's feedback (${e.value / 65536}) does not show the trip; cause ${describeCause(e.reason)}`;
    case 'handback': return `zone ${zone + 1}: handed back to the primary controller (hand-back ${e.value})`;
    case 'demand': return `zone ${zone + 1}: the host demands ${e.demand === 'none' ? 'a return to normal' : e.demand === 'trip' ? 'the trip' : 'the fallback'}`;
    default: return null;
  }
}

/** A mode change with the cause that decided it (the guard's) and the first-out monitor (the cascade's). */
function narrateMode(zone: number, e: CoreEvent, firstOut: { monitor: string; stage: string } | null): string {
  const why = e.reason === 'cleared' ? 'its cause cleared' : e.reason === 'reset' ? "an operator's reset" : `${describeCause(e.reason)}${e.stage ? ` at the ${e.stage} stage` : ''}`;
  const first = firstOut && e.reason !== 'cleared' && e.reason !== 'reset' ? ` (first out: ${firstOut.monitor} at the ${firstOut.stage} stage)` : '';
  return `zone ${zone + 1}: ${e.from} -> ${e.to}: ${why}${first}`;
}

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
  /** Each zone's core events of the current tick, narrated after it. */
  const events: CoreEvent[][] = Array.from({ length: zones }, () => []);
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
      dependsOn: z > 0 ? [lineKey(z - 1)] : [], units: device.spec.units,
      onCoreEvent: (e) => { events[z].push(e); },
      ...opts.credentials?.agent?.(z),
    }));
  }

  try {
    // Everyone born and seen before the clock starts.
    for (let i = 0; i < 500 && coord.agents.size < zones; i++) {
      for (const a of agents) a.tick();
      for (const e of events) e.length = 0;
      nowUs += TICK_US;
      await sleep(10);
      coord.cycle();
    }
    if (coord.agents.size < zones) throw new Error(`line: only ${coord.agents.size} of ${zones} agents were discovered; is the broker at ${opts.broker} up?`);
    say(`${zones} zones on line ${LINE_GROUP}: zone 1 leads at ${devices[0].spec.setpoint} C, each other zone follows the one before it`);

    const startUs = nowUs;
    // Fault windows count from the devices' t = 0, the agents' clock (discovery included).
    const onsetUs = fault ? fault.onsetS * 1e6 : Infinity;
    const operatingPoint = devices[0].spec.setpoint;
    const results: ZoneResult[] = agents.map((_, z) => ({ key: lineKey(z), modes: [], leftNominal: false, leftAtS: null, held: false, contained: null,
      tripped: false, trippedAtS: null, tripCause: '', maxTemperature: -Infinity, minTemperature: Infinity, maxDeviation: 0, envelopeViolated: false }));
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
          r.maxTemperature = Math.max(r.maxTemperature, y);
          r.minTemperature = Math.min(r.minTemperature, y);
          r.maxDeviation = Math.max(r.maxDeviation, Math.abs(y - operatingPoint));
          if (y > devices[z].spec.envelope.max || y < devices[z].spec.envelope.min) r.envelopeViolated = true;
        }
        for (const e of events[z].splice(0)) {
          if (e.kind === 'trip_out' && e.tripped && nowUs >= onsetUs && !r.tripped) {
            r.tripped = true;
            r.trippedAtS = tS;
            r.tripCause = `${e.reason ?? ''}${e.stage ? `/${e.stage}` : ''}`;
          }
          // What the trip does, in its first words (the plant's description goes on with the physics).
          const line = e.kind === 'mode' ? narrateMode(z, e, agents[z].core.cause) : narrate(z, e, devices[z].tripDescription.split(':')[0]);
          if (line) say(`t=${tS.toFixed(1)} s  ${line}`);
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
    for (let z = 0; z < zones; z++) {
      results[z].held = !agents[z].followingReference;
      results[z].contained = coord.agents.get(lineKey(z))?.contained ?? null;
    }
    const downstream = results.filter((_, z) => z > faultZone);
    const result: LineResult = {
      contain: opts.contain,
      zones: results,
      downstreamOutOfNominal: downstream.filter((r) => r.leftNominal).length,
      downstreamEnvelopeViolations: downstream.filter((r) => r.envelopeViolated).length,
      downstreamDragged: downstream.filter((r) => r.maxDeviation > LINE_DRAG_C).length,
      operatingPoint,
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
