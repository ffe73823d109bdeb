// The coordinator (first part): discovers agents from their Sparkplug births,
// tracks their health from death certificates and stale data, and sends
// validated commands that it tracks to an acknowledgement (id, state,
// timeout). MQTT callbacks only queue messages; cycle() acts on them at the
// coordinator's own pace.
//
// Edge nodes edgeloop did not write (Eclipse Tahu's client, Ignition's
// MQTT Transmission, ...) are tracked too, as Sparkplug B asks of a host:
// names from the birth's aliases, datatypes from the birth, a metric it
// cannot take skipped and counted (never the whole message), data from a
// device or node not born (or dead since) answered with a rebirth request.
// edgeloop's own checks and containment apply to edgeloop devices only
// (recognized from their DBIRTH).
//
// Containment by scoped escalation (CASCADE): agents declare the agents
// they depend on. When one leaves control (FALLBACK, SAFE_STOP) or dies, the
// coordinator contains its direct dependents only, by holding them (they
// stop following their reference) or, with `contain: 'fallback'`, by
// switching them to their fallback controller (the core's demand); it
// widens the scope to their dependents only if the disturbance spreads (a
// contained dependent leaves NOMINAL of its own accord, or dies). Every
// decision is logged with its reason.

import { LoginWatch } from '../mqtt/refusal.js';
import { randomBytes } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import { decodePayloadTolerant, encodePayload, typeOfValue, type InboundPayload, type Metric, type Payload, type TolerantDecode } from '../mqtt/codec.js';
import { deviceTopic, nodeTopic, noDelay, parseState, parseTopic, STATE_AHEAD_MAX_MS, stateTopic, type SparkplugTopic } from '../mqtt/topics.js';
import { Rollout, type RolloutOptions } from '../deploy/rollout.js';
import { GUARD_STATUS, MODES, type GuardFlag, type ParamName } from '../runtime/abi.js';
import { encodeCommand, encodeDeploy, MODE_DEMANDS, parseCommand, type CommandBody, type ModeDemand } from '../mqtt/commands.js';
import type { RolloutView } from '../deploy/types.js';

export type Health = 'online' | 'stale' | 'dead';

/**
 * What a device is: an edgeloop loop (its DBIRTH declares `core_version`
 * and `guard/status`, as every edgeloop agent's does), or a device of a
 * foreign edge node, tracked for its health and its data only.
 */
export type DeviceKind = 'edgeloop' | 'foreign';

/** The metrics a DBIRTH declares that make it an edgeloop loop's. */
export const EDGELOOP_MARKERS = ['core_version', 'guard/status'] as const;

export interface AgentView {
  key: string;            // group/node/device
  group: string;
  node: string;
  device: string;
  /** An edgeloop loop, or a foreign device: the fields from `mode` on keep their defaults for a foreign one (mode '?', nulls, empty lists). */
  kind: DeviceKind;
  health: Health;
  lastSeenMs: number;
  /**
   * Since when it is dead (the DDEATH's own timestamp, or this host's clock
   * at its node's NDEATH): its last values are stale from then on. null while alive.
   */
  offlineSinceMs?: number | null;
  /** Metrics its last DBIRTH declared (0: none seen yet, a passive observer took it up from its data). */
  birthMetrics: number;
  mode: string;
  cause: string;
  setpoint: number | null;
  measurement: number | null;
  bdSeq: number | null;
  dependsOn: string[];
  /** Held by the coordinator to contain an upstream fault (contained === 'hold'). */
  held: boolean;
  /** How the coordinator contains it (held, or switched to its fallback), or null. */
  contained: ContainAction | null;
  /** What the agent itself last reported (its `held` metric). */
  reportsHeld: boolean;
  /** The trip output is de-energized (its `trip` metric). */
  tripped: boolean;
  /** Why it tripped, `<cause>/<stage>` ('' when not tripped). */
  tripCause: string;
  /** The guard's status flags (its `guard/status` bits, by name). */
  guard: GuardFlag[];
  /** The causes the guard sees now, and those latched until an operator's reset (CAUSES names). */
  causes: string[];
  latched: string[];
  /** The envelope's prediction at the horizon, engineering units. */
  predicted: number | null;
  /** Ticks on which its core trapped (its `watchdog/traps` metric: the safe output, the trip, the core rolled back or restarted). */
  traps: number;
  /** Invariants its core broke (its `core/invariant_fails` metric: a bug in the core, which latched SAFE_STOP). */
  invariantFails: number;
  /** The safety envelope on the controlled variable (DBIRTH), with its engineering unit ('' when not announced). */
  envelope: { min: number | null; max: number | null; unit: string };
  /** The running core's version as the agent reports it (sha256 prefix, or 'builtin'). */
  coreVersion: string;
  /** Modes this agent has been in since discovery (for reports). */
  modesSeen: Set<string>;
}

/** An edge node (group/node): its session (NBIRTH, NDEATH) and its own data (NDATA), devices or none. */
export interface NodeView {
  key: string;            // group/node
  group: string;
  node: string;
  /** online from its NBIRTH; stale when nothing of it (NDATA, its devices' messages) came for staleMs; dead from its NDEATH. */
  health: Health;
  lastSeenMs: number;
  /** Since when it is dead (this host's clock at its NDEATH; its last values are stale from then on), or null while alive. */
  offlineSinceMs: number | null;
  /** Its session's bdSeq (NBIRTH), or null when the NBIRTH carried none. */
  bdSeq: number | null;
  /** Metrics its NBIRTH declared. */
  birthMetrics: number;
  /** Its devices the coordinator tracks. */
  devices: number;
}

/** How containment acts on a dependent: hold it (stop following its reference) or switch it to its fallback controller. */
export const CONTAIN_ACTIONS = ['hold', 'fallback'] as const;
export type ContainAction = (typeof CONTAIN_ACTIONS)[number];

export interface Decision {
  tMs: number;
  agent: string;
  action: ContainAction;
  reason: string;
}

/** What an operator (or a program) may send an agent through the coordinator. */
export type OperatorCommand =
  | { kind: 'setpoint'; value: number }
  | { kind: 'reset' }
  | { kind: 'release' }
  | { kind: 'param'; name: string; value: number | boolean | string }
  | { kind: 'mode'; value: ModeDemand };

export type CommandState = 'sent' | 'acked' | 'rejected' | 'timeout';

export interface TrackedCommand {
  id: string;
  target: string;
  kind: 'setpoint' | 'reset' | 'hold' | 'release' | 'param' | 'mode' | 'deploy' | 'rollback';
  state: CommandState;
  sentMs: number;
  detail: string;
}

export interface CoordinatorOptions {
  broker: string;
  hostId: string;
  username?: string;
  password?: string;
  /** The broker refused the log-in (bad username or password, or not authorized): called once per distinct refusal. */
  onLoginRefused?: (refusal: string) => void;
  /** Publish nothing (no STATE, no commands, no rebirth requests): an observer such as a dashboard on its own. */
  passive?: boolean;
  /**
   * Contain cascades: 'hold' (the default; true means it too) holds a
   * dependent, 'fallback' switches it to its fallback controller; false only
   * observes (the baseline a containment report compares against).
   */
  contain?: boolean | ContainAction;
  /** Every decoded, checked DDATA, for telemetry recording (host/telemetry/recorder.ts). */
  onData?: (agentKey: string, payload: Payload, receivedMs: number) => void;
  /** Every checked DBIRTH (its metrics named): the values a device's samples reported by exception leave out until they move. */
  onBirth?: (agentKey: string, payload: Payload, receivedMs: number) => void;
  /**
   * A gap in a node's seq that the missing message did not fill within this
   * long asks the node for a rebirth (Sparkplug's Reorder Timeout; default
   * REORDER_TIMEOUT_MS).
   */
  reorderTimeoutMs?: number;
  /** Decision log lines, as they are taken. */
  onDecision?: (d: Decision) => void;
  /** No data for this long: the agent is stale. */
  staleMs?: number;
  /** No acknowledgement for this long: the command timed out. */
  commandTimeoutMs?: number;
  inboxMax?: number;
  clockMs?: () => number;
}

/** The types the host reads an edgeloop loop's metrics as; anything else makes the message malformed. */
const METRIC_TYPES: Readonly<Record<string, 'number' | 'string' | 'boolean'>> = {
  setpoint: 'number', measurement: 'number', output: 'number', tick_us: 'number', sample: 'number',
  mode: 'string', cause: 'string', core_version: 'string', depends_on: 'string', 'command/ack': 'string', held: 'boolean',
  trip: 'boolean', 'trip/cause': 'string', 'guard/status': 'number', 'guard/causes': 'string', 'guard/latched': 'string',
  predicted: 'number', 'envelope/min': 'number', 'envelope/max': 'number', 'watchdog/traps': 'number', 'core/invariant_fails': 'number',
};
/** Every guard/status bit the ABI defines. */
const GUARD_BITS_ALL = Object.values(GUARD_STATUS).reduce((a, b) => a | b, 0);
/** Kept at most: finished commands (the oldest go first) and decisions (likewise). */
export const COMMANDS_KEPT = 1000;
export const DECISIONS_KEPT = 1000;
const MODE_NAMES: ReadonlySet<string> = new Set(MODES);

/** The longest string metric value the coordinator reads, characters (a cause, a version, a dependency list). */
export const METRIC_STRING_MAX = 4096;
/** The most devices (loops) the coordinator tracks per edge node; births of more are refused (counted). */
export const DEVICES_PER_NODE_MAX = 64;
/** The most edge nodes the coordinator tracks (NBIRTH); births of more are refused (counted), and so many rebirth requests are remembered. */
export const NODES_MAX = 4096;
/** At most one rebirth request per edge node this often, ms (the coordinator's clock): data from an unborn device must not flood its node. */
export const REBIRTH_INTERVAL_MS = 5000;
/** A gap in a node's seq not filled within this long asks for a rebirth (Sparkplug's Reorder Timeout), ms. */
export const REORDER_TIMEOUT_MS = 2000;

/** What is wrong with any device's or node's metrics (a bound the coordinator keeps for everyone), or null. */
export function boundProblem(p: Payload): string | null {
  for (const m of p.metrics) {
    if (typeof m.value === 'string' && m.value.length > METRIC_STRING_MAX) {
      return `metric '${m.name.slice(0, 100)}': expected a string of at most ${METRIC_STRING_MAX} characters, received ${m.value.length}`;
    }
  }
  return null;
}

/** What is wrong with the metrics of an edgeloop loop's payload (the bound, the types, the mode, the guard's bits), or null. */
export function metricProblem(p: Payload): string | null {
  const bound = boundProblem(p);
  if (bound) return bound;
  for (const m of p.metrics) {
    const want = METRIC_TYPES[m.name];
    if (want && typeof m.value !== want) return `metric '${m.name}': expected a ${want}, received ${JSON.stringify(m.value)}`;
    if (m.name === 'mode' && !MODE_NAMES.has(m.value as string)) return `metric 'mode': expected one of ${MODES.join(', ')}, received ${JSON.stringify(m.value)}`;
    if (m.name === 'guard/status' && !(Number.isInteger(m.value) && ((m.value as number) & ~GUARD_BITS_ALL) === 0)) {
      return `metric 'guard/status': expected an integer of the guard's status bits (0..${GUARD_BITS_ALL}), received ${m.value}`;
    }
  }
  return null;
}

/**
 * A node's bdSeq, if its message carries one: any non-negative integer
 * (Int64 or UInt64; Sparkplug B 3.0 keeps it in 0..255, larger ones are
 * tolerated). Anything else makes the message malformed: a death
 * certificate that cannot be matched to its session must not kill one.
 */
function readBdSeq(p: Payload): { bdSeq: number | undefined } | { problem: string } {
  const m = p.metrics.find((x) => x.name === 'bdSeq');
  if (!m) return { bdSeq: undefined };
  if (!(Number.isSafeInteger(m.value) && (m.value as number) >= 0)) return { problem: `metric 'bdSeq': expected a non-negative integer, received ${JSON.stringify(m.value)}` };
  return { bdSeq: m.value as number };
}

/** An edgeloop loop's birth (or, for a passive observer without one, its data): it carries every EDGELOOP_MARKERS metric. */
function isEdgeloop(p: Payload): boolean {
  return EDGELOOP_MARKERS.every((name) => p.metrics.some((m) => m.name === name));
}

/** What a birth declared: each metric's datatype by name, and its name and datatype by alias. */
interface Declarations {
  types: Map<string, string | undefined>;
  aliases: Map<number, { name: string; type: string | undefined }>;
}

/** A birth's declarations, skipped metrics included (a Template or a null at birth still names its alias). */
function declarations(d: TolerantDecode): Declarations {
  const out: Declarations = { types: new Map(), aliases: new Map() };
  for (const m of [...d.payload.metrics, ...d.skippedMetrics]) {
    if (m.name === undefined) continue;
    out.types.set(m.name, m.type);
    if (m.alias !== undefined) out.aliases.set(m.alias, { name: m.name, type: m.type });
  }
  return out;
}

/** The datatype a birth declared for a metric, by its name, or by its alias when it has no name. */
function declaredType(d: Declarations, name: string | undefined, alias: number | undefined): string | undefined {
  if (name !== undefined) return d.types.get(name);
  return alias !== undefined ? d.aliases.get(alias)?.type : undefined;
}

/** The fields an edgeloop loop reports, at their defaults (what a foreign device keeps). */
function loopFields(): Omit<AgentView, 'key' | 'group' | 'node' | 'device' | 'kind' | 'health' | 'lastSeenMs' | 'birthMetrics' | 'bdSeq'> {
  return { mode: '?', cause: '', setpoint: null, measurement: null, dependsOn: [], held: false, contained: null, reportsHeld: false,
    tripped: false, tripCause: '', guard: [], causes: [], latched: [], predicted: null, traps: 0, invariantFails: 0,
    envelope: { min: null, max: null, unit: '' }, coreVersion: '?', modesSeen: new Set() };
}

/** Out of NOMINAL only because this coordinator switched it to its fallback (the guard names no cause but the host's demand). */
function onlyDemanded(a: AgentView): boolean {
  return a.contained === 'fallback' && a.causes.length > 0 && a.causes.every((c) => c === 'host');
}

export class Coordinator {
  readonly agents = new Map<string, AgentView>();
  readonly commands = new Map<string, TrackedCommand>();
  /** Edge nodes seen born (NBIRTH), by group/node; at most NODES_MAX. */
  readonly nodes = new Map<string, NodeView>();
  /**
   * What was not taken in: whole messages (`malformed`, `dropped`: the inbox
   * was full, `staleDeaths`, `tooManyDevices`, `tooManyNodes`, `unborn`: data
   * from a device or node never born or dead since, answered with a rebirth
   * request) and single metrics (`skippedMetrics`: a value that is not a
   * finite number, boolean or string, or an alias its birth did not declare;
   * the rest of its message was read).
   */
  readonly rejected = { malformed: 0, dropped: 0, staleDeaths: 0, tooManyDevices: 0, tooManyNodes: 0, unborn: 0, skippedMetrics: 0 };
  /** Rebirth requests sent (NCMD Node Control/Rebirth), and those held back by REBIRTH_INTERVAL_MS. */
  readonly rebirths = { requested: 0, limited: 0 };
  /** Gaps in a node's seq that the missing message did not fill within the Reorder Timeout (each asked for a rebirth). */
  seqGaps = 0;
  /** Per node: the seq expected next, and the ones missing since when (this host's clock). */
  private readonly seqs = new Map<string, { next: number; missing: Map<number, number> }>();
  private readonly devicesPerNode = new Map<string, number>();
  /** The last birth's declarations of each node (group/node) and device (group/node/device). */
  private readonly declared = new Map<string, Declarations>();
  /** When a rebirth was last asked of each node (the coordinator's clock), at most NODES_MAX. */
  private readonly rebirthAskedMs = new Map<string, number>();
  /** onData callbacks that threw (counted; the message was still handled). */
  dataErrors = 0;
  lastDataError: string | null = null;
  /** What the last rejected message was rejected for (the log line). */
  lastRejection: string | null = null;
  readonly decisions: Decision[] = [];
  private readonly contained = new Set<string>();
  /** Dependents an operator released during an episode: not held again until it ends. */
  private readonly operatorReleased = new Set<string>();
  private readonly client: MqttClient;
  private readonly inbox: { topic: string; payload: Buffer }[] = [];
  private readonly clock: () => number;
  private nextId = 1;
  /** Distinguishes this process's command ids from an earlier run's (acks can arrive late, from a spool). */
  private readonly session = randomBytes(3).toString('hex');
  /** Rollouts started here, oldest first; the last one is the current one. */
  readonly rollouts: Rollout[] = [];
  /**
   * What the broker has given this host so far: a connection, its
   * subscriptions (refused: a SUBACK with 128, a log-in that may not read
   * the agents' topics) and messages. Tells "no agent there" from "nothing
   * reaches me" (edgeloop deploy).
   */
  readonly link = { connected: false, subscribeRefused: false, messages: 0 };

  constructor(private readonly opts: CoordinatorOptions) {
    this.clock = opts.clockMs ?? Date.now;
    const state = stateTopic(opts.hostId);
    this.stateTs = Date.now();
    this.client = mqtt.connect(opts.broker, {
      clean: true,
      reconnectPeriod: 500,
      username: opts.username,
      password: opts.password,
      // A command that cannot go now is not held and sent when the link comes back, ahead of the STATE birth.
      queueQoSZero: false,
      will: this.stateWill(),
    });
    this.client.on('connect', () => {
      noDelay(this.client);
      this.link.connected = true;
      // Subscribe first (its own STATE too, to re-assert it), then declare STATE online:
      // edge nodes that wait for it birth and replay their spools into live subscriptions.
      const topics = ['spBv1.0/+/+/+', 'spBv1.0/+/+/+/+', ...(opts.passive ? [] : [state])];
      this.client.subscribe(topics, { qos: 1 }, (err, granted) => {
        if (err || (granted ?? []).some((g) => g.qos === 128)) this.link.subscribeRefused = true;
        this.publishOnline();
      });
    });
    this.client.on('close', () => {
      this.stateBorn = false;
      // The next session registers a new Will: its timestamp, and its online STATE's, are the new session's.
      if (opts.passive || this.stopping) return;
      this.stateTs = Math.max(Date.now(), this.stateTs + 1);
      this.client.options.will = this.stateWill();
    });
    this.client.on('message', (topic, payload) => {
      this.link.messages++;
      if (this.inbox.length >= (opts.inboxMax ?? 10_000)) { this.rejected.dropped++; return; }
      this.inbox.push({ topic, payload });
    });
    // The network's errors: the client reconnects by itself. A refused log-in is named once.
    this.login = new LoginWatch(this.client, (refusal) => {
      try { opts.onLoginRefused?.(refusal); } catch { /* a logger's failure is not the coordinator's */ }
    });
  }

  /**
   * The timestamp of this session's STATE: its Will (offline) and its birth
   * (online) carry the same one (Sparkplug B 3.0). Wall-clock time whatever
   * clockMs is (a simulated run's too): edge nodes order a host's STATE
   * messages by it, across its sessions, so it never goes back.
   */
  private stateTs: number;
  private stopping = false;
  /** Offline STATEs on this host's own topic answered with its online STATE again (a stray Will, another process with its id). */
  stateReasserted = 0;
  private lastReassertMs = -Infinity;

  private stateWill() {
    if (this.opts.passive) return undefined;
    return { topic: stateTopic(this.opts.hostId), payload: Buffer.from(JSON.stringify({ online: false, timestamp: this.stateTs })), qos: 1 as const, retain: true };
  }

  /** This session's online STATE is out: commands may go. */
  private stateBorn = false;
  private reassertTimer: NodeJS.Timeout | null = null;

  private publishOnline(): void {
    if (this.opts.passive || this.stopping) return;
    this.client.publish(stateTopic(this.opts.hostId), JSON.stringify({ online: true, timestamp: this.stateTs }), { qos: 1, retain: true });
    this.stateBorn = true;
  }

  /**
   * Its own STATE, as the broker has it: offline while this host is up (an
   * earlier session's Will, a stray message, another process with the same
   * host id) is answered with the online STATE again, at most once a
   * second. One newer than this session's birth would win over it at the
   * edge nodes: the session starts again with a newer Will and birth.
   */
  private ownState(bytes: Buffer): void {
    if (this.opts.passive || this.stopping || !this.client.connected) return;
    const s = parseState(bytes);
    if (!s || s.online) return;
    this.stateReasserted++;
    // A timestamp more than a day ahead of this host's clock is refused by edge nodes (STATE_AHEAD_MAX_MS): answered like any stray.
    if (s.timestamp <= Date.now() + STATE_AHEAD_MAX_MS && s.timestamp > this.stateTs) {
      // Newer than this session's birth: edge nodes would take it over any birth with this timestamp.
      // Leave cleanly (an offline STATE with the time now), and start again with a Will and birth newer than both.
      const leftAt = Math.max(Date.now(), this.stateTs);
      const offline = JSON.stringify({ online: false, timestamp: leftAt });
      this.stateTs = Math.max(leftAt, s.timestamp) + 1;
      this.client.publish(stateTopic(this.opts.hostId), offline, { qos: 1, retain: true }, () => {
        this.client.end(false, {}, () => { if (!this.stopping) this.client.reconnect(); });
      });
      return;
    }
    // Answered at once, and again a second later if more came meanwhile (another process with this id keeps saying offline).
    const now = Date.now();
    if (now - this.lastReassertMs >= 1000) {
      this.lastReassertMs = now;
      this.publishOnline();
    } else if (!this.reassertTimer) {
      this.reassertTimer = setTimeout(() => {
        this.reassertTimer = null;
        this.lastReassertMs = Date.now();
        if (this.client.connected) this.publishOnline();
      }, 1000 - (now - this.lastReassertMs));
    }
  }

  /** The broker's last refusal of this coordinator's log-in, or null once connected. */
  get loginRefusal(): string | null { return this.login.refusal; }
  private readonly login: LoginWatch;

  /** Drain the inbox, then age health and commands. */
  cycle(): void {
    const now = this.clock();
    for (const m of this.inbox.splice(0)) this.handle(m.topic, m.payload, now);
    const staleMs = this.opts.staleMs ?? 3000;
    for (const a of this.agents.values()) {
      if (a.health === 'online' && now - a.lastSeenMs > staleMs) a.health = 'stale';
    }
    for (const n of this.nodes.values()) {
      if (n.health === 'online' && now - n.lastSeenMs > staleMs) n.health = 'stale';
    }
    this.checkSeqs(now);
    this.contain(now);
    for (const r of this.rollouts) r.step();
    const timeout = this.opts.commandTimeoutMs ?? 5000;
    for (const c of this.commands.values()) {
      if (c.state === 'sent' && now - c.sentMs > timeout) { c.state = 'timeout'; c.detail = `no acknowledgement within ${timeout} ms`; }
    }
  }

  private handle(topic: string, bytes: Buffer, now: number): void {
    let t: SparkplugTopic;
    try {
      t = parseTopic(topic);
    } catch (err) {
      this.reject(topic, (err as Error).message);
      return;
    }
    if (t.kind === 'state') { if (t.host === this.opts.hostId) this.ownState(bytes); return; }
    const scope = t.kind === 'node' ? `${t.group}/${t.node}` : `${t.group}/${t.node}/${t.device}`;
    // Data is read with its birth's datatypes; a birth declares its own.
    const born = t.type === 'NBIRTH' || t.type === 'DBIRTH' ? undefined : this.declared.get(scope);
    let d: TolerantDecode;
    try {
      d = decodePayloadTolerant(bytes, born ? { declared: (name, alias) => declaredType(born, name, alias) } : {});
    } catch (err) {
      this.reject(topic, (err as Error).message);
      return;
    }
    this.rejected.skippedMetrics += d.skipped;
    // Commands (DCMD, NCMD) are other hosts' business: decoded (a malformed one is counted), never read.
    if (t.type === 'NCMD' || t.type === 'DCMD') return;
    this.trackSeq(`${t.group}/${t.node}`, t.type, d.payload.seq, now);
    if (t.kind === 'node') this.handleNode(topic, t, d, now);
    else this.handleDevice(topic, t, d, now);
  }

  /**
   * A node's seq: each message after its NBIRTH takes the next one (0..255,
   * wrapping). One that skips ahead leaves the ones in between missing; a
   * missing one that arrives late (delivered out of order) is crossed off.
   */
  private trackSeq(node: string, type: string, seq: number | undefined, now: number): void {
    if (type === 'NDEATH' || seq === undefined) return;
    if (type === 'NBIRTH') {
      if (this.seqs.has(node) || this.seqs.size < NODES_MAX) this.seqs.set(node, { next: (seq + 1) & 0xff, missing: new Map() });
      return;
    }
    const s = this.seqs.get(node);
    if (!s) return;
    if (s.missing.delete(seq)) return;
    // Behind the next one expected (by up to half the range): a duplicate (a bridge, a redelivery), not a gap.
    const ahead = (seq - s.next) & 0xff;
    if (ahead >= 128) return;
    for (let n = s.next; n !== seq; n = (n + 1) & 0xff) s.missing.set(n, now);
    s.next = (seq + 1) & 0xff;
  }

  /** Gaps older than the Reorder Timeout: the node's messages were lost; ask for its births again. */
  private checkSeqs(now: number): void {
    const timeout = this.opts.reorderTimeoutMs ?? REORDER_TIMEOUT_MS;
    for (const [node, s] of this.seqs) {
      if (!s.missing.size) continue;
      // Missing ones are kept in the order they went missing: the first is the oldest.
      const oldest = s.missing.values().next().value!;
      if (now - oldest < timeout) continue;
      // A request went to this node less than REBIRTH_INTERVAL_MS ago: the gap waits for the next one it may send.
      const asked = this.rebirthAskedMs.get(node);
      if (asked !== undefined && now - asked < REBIRTH_INTERVAL_MS && !this.opts.passive) continue;
      s.missing.clear();
      this.seqGaps++;
      const [group, name] = node.split('/');
      this.askRebirth(group, name, now);
    }
  }

  /** A whole message not taken in: counted, and the reason kept for the log. */
  private reject(topic: string, why: string): void {
    this.rejected.malformed++;
    this.lastRejection = `${topic.slice(0, 300)}: ${why}`;
  }

  /**
   * Its metrics by name: an alias alone is named from the birth (`decl`),
   * a metric without a datatype gets the birth's, or what its value is. An
   * alias the birth did not declare: the metric is skipped and counted.
   */
  private named(p: InboundPayload, decl: Declarations | undefined): Payload {
    const metrics: Metric[] = [];
    for (const m of p.metrics) {
      if (m.name !== undefined && m.type !== undefined) { metrics.push(m as Metric); continue; }
      const name = m.name ?? (m.alias !== undefined ? decl?.aliases.get(m.alias)?.name : undefined);
      if (name === undefined) { this.rejected.skippedMetrics++; continue; }
      metrics.push({ ...m, name, type: m.type ?? typeOfValue(m.value) });
    }
    return { timestamp: p.timestamp, ...(p.seq !== undefined ? { seq: p.seq } : {}), metrics };
  }

  /** NBIRTH, NDEATH, NDATA: the node's session and its own data. */
  private handleNode(topic: string, t: Extract<SparkplugTopic, { kind: 'node' }>, d: TolerantDecode, now: number): void {
    const key = `${t.group}/${t.node}`;
    const n = this.nodes.get(key);
    // Data from a node not born, or dead since: its values mean nothing without their session; ask for one.
    if (t.type === 'NDATA' && (!n || n.health === 'dead')) { this.unborn(t.group, t.node, now); return; }
    const decl = t.type === 'NBIRTH' ? declarations(d) : this.declared.get(key);
    const p = this.named(d.payload, decl);
    const bound = boundProblem(p);
    if (bound) { this.reject(topic, bound); return; }
    const bd = readBdSeq(p);
    if ('problem' in bd) { this.reject(topic, bd.problem); return; }
    if (t.type === 'NDATA') { this.touchNode(key, now); return; }
    if (t.type === 'NDEATH') {
      // A death certificate from an earlier session (its bdSeq is not the
      // live birth's) says nothing about the node now: Sparkplug B says ignore it.
      if (bd.bdSeq !== undefined && n?.bdSeq != null && bd.bdSeq !== n.bdSeq) { this.rejected.staleDeaths++; return; }
      if (n) { n.health = 'dead'; n.offlineSinceMs = now; }
      for (const a of this.agents.values()) {
        if (a.group !== t.group || a.node !== t.node) continue;
        if (a.health !== 'dead') a.offlineSinceMs = now;
        a.health = 'dead';
        if (bd.bdSeq !== undefined) a.bdSeq = bd.bdSeq;
      }
      return;
    }
    // NBIRTH: a new session (without a bdSeq, its deaths cannot be told from an earlier session's).
    if (!n && this.nodes.size >= NODES_MAX) {
      this.rejected.tooManyNodes++;
      this.lastRejection = `${topic}: ${NODES_MAX} edge nodes tracked already (at most ${NODES_MAX})`;
      return;
    }
    const view: NodeView = n ?? { key, group: t.group, node: t.node, health: 'online', lastSeenMs: now, offlineSinceMs: null, bdSeq: null, birthMetrics: 0, devices: 0 };
    Object.assign(view, { health: 'online', lastSeenMs: now, offlineSinceMs: null, bdSeq: bd.bdSeq ?? null, birthMetrics: d.payload.metrics.length + d.skipped,
      devices: this.devicesPerNode.get(key) ?? 0 });
    this.nodes.set(key, view);
    this.declared.set(key, decl!);
    for (const a of this.agents.values()) {
      if (a.group === t.group && a.node === t.node) a.bdSeq = view.bdSeq;
    }
  }

  /** Anything of a node's session (its NDATA, its devices' messages): it is there. */
  private touchNode(key: string, now: number): void {
    const n = this.nodes.get(key);
    if (!n || n.health === 'dead') return;
    n.health = 'online';
    n.lastSeenMs = now;
  }

  /**
   * Data from a device or node never born, or dead since: not read (its
   * aliases and datatypes come with its birth, and it is not online until
   * one arrives). Its node is asked to rebirth, at most once per
   * REBIRTH_INTERVAL_MS; a passive observer cannot ask.
   */
  private unborn(group: string, node: string, now: number): void {
    this.rejected.unborn++;
    this.askRebirth(group, node, now);
  }

  /** A rebirth request, unless one went to this node less than REBIRTH_INTERVAL_MS ago. */
  private askRebirth(group: string, node: string, now: number): boolean {
    if (this.opts.passive) return false;
    const key = `${group}/${node}`;
    const last = this.rebirthAskedMs.get(key);
    if (last !== undefined && now - last < REBIRTH_INTERVAL_MS) { this.rebirths.limited++; return false; }
    if (last === undefined && this.rebirthAskedMs.size >= NODES_MAX) {
      for (const [k, ms] of this.rebirthAskedMs) if (now - ms >= REBIRTH_INTERVAL_MS) this.rebirthAskedMs.delete(k);
      if (this.rebirthAskedMs.size >= NODES_MAX) { this.rebirths.limited++; return false; }
    }
    this.rebirthAskedMs.set(key, now);
    this.requestRebirth(group, node);
    return true;
  }

  /** DBIRTH, DDATA, DDEATH: a device's session and its data. */
  private handleDevice(topic: string, t: Extract<SparkplugTopic, { kind: 'device' }>, d: TolerantDecode, now: number): void {
    const key = `${t.group}/${t.node}/${t.device}`;
    const nodeKey = `${t.group}/${t.node}`;
    let a = this.agents.get(key);
    if (t.type === 'DDEATH') {
      // Dead from the time its edge node says (the DDEATH's timestamp), else from now.
      if (a) { a.offlineSinceMs = a.health === 'dead' ? a.offlineSinceMs ?? now : Number.isFinite(d.payload.timestamp) ? d.payload.timestamp : now; a.health = 'dead'; }
      this.touchNode(nodeKey, now);
      return;
    }
    const birth = t.type === 'DBIRTH';
    // Data from a device dead since its last birth, or (unless this host only observes and cannot ask) never born.
    if (!birth && (a ? a.health === 'dead' : !this.opts.passive)) { this.unborn(t.group, t.node, now); return; }
    const decl = birth ? declarations(d) : this.declared.get(key);
    const p = this.named(d.payload, decl);
    // Without a birth (a passive observer taking a device up from its data), each message says what it is.
    const kind: DeviceKind = birth ? (isEdgeloop(p) ? 'edgeloop' : 'foreign')
      : a && this.declared.has(key) ? a.kind
      : isEdgeloop(p) ? 'edgeloop' : a?.kind ?? 'foreign';
    const problem = kind === 'edgeloop' ? metricProblem(p) : boundProblem(p);
    if (problem) { this.reject(topic, problem); return; }
    if (!a) {
      const adopted = this.adopt(topic, t, kind, now);
      if (!adopted) return;
      a = adopted;
    }
    if (birth) {
      // A birth from a node not born (or dead since): its session is not known here; ask for it.
      const n = this.nodes.get(nodeKey);
      if (!n || n.health === 'dead') this.askRebirth(t.group, t.node, now);
      this.declared.set(key, decl!);
      a.birthMetrics = d.payload.metrics.length + d.skipped;
      try {
        this.opts.onBirth?.(key, p, now);
      } catch (err) {
        this.dataErrors++;
        this.lastDataError = (err as Error).message;
      }
    }
    if (a.kind !== kind) Object.assign(a, loopFields(), { kind });
    a.health = 'online';
    a.offlineSinceMs = null;
    a.lastSeenMs = now;
    this.touchNode(nodeKey, now);
    // The history is the data stream: a DBIRTH restates the current values, it is not a new sample.
    if (!birth && this.opts.onData) {
      try {
        this.opts.onData(key, p, now);
      } catch (err) {
        // Recording is not the coordinator's job: a failing store must not stop containment.
        this.dataErrors++;
        this.lastDataError = (err as Error).message;
      }
    }
    if (a.kind === 'edgeloop') this.readLoop(a, p);
  }

  /** A device seen for the first time, unless its node has DEVICES_PER_NODE_MAX already (counted). */
  private adopt(topic: string, t: Extract<SparkplugTopic, { kind: 'device' }>, kind: DeviceKind, now: number): AgentView | null {
    const nodeKey = `${t.group}/${t.node}`;
    // Devices of nodes never born count against NODES_MAX too (each node's devices are tracked under it).
    if (!this.devicesPerNode.has(nodeKey) && !this.nodes.has(nodeKey) && this.devicesPerNode.size >= NODES_MAX) {
      this.rejected.tooManyNodes++;
      this.lastRejection = `${topic}: ${NODES_MAX} edge nodes tracked already (at most ${NODES_MAX})`;
      return null;
    }
    // A node may birth a few loops, not thousands (each is tracked, recorded and drawn).
    const perNode = (this.devicesPerNode.get(nodeKey) ?? 0) + 1;
    if (perNode > DEVICES_PER_NODE_MAX) {
      this.rejected.tooManyDevices++;
      this.lastRejection = `${topic}: node ${nodeKey} has ${DEVICES_PER_NODE_MAX} devices already (at most ${DEVICES_PER_NODE_MAX} per node)`;
      return null;
    }
    this.devicesPerNode.set(nodeKey, perNode);
    const n = this.nodes.get(nodeKey);
    if (n) n.devices = perNode;
    const a: AgentView = { key: `${nodeKey}/${t.device}`, group: t.group, node: t.node, device: t.device, kind, health: 'online', lastSeenMs: now,
      birthMetrics: 0, bdSeq: n?.bdSeq ?? null, ...loopFields() };
    this.agents.set(a.key, a);
    return a;
  }

  /**
   * What an edgeloop loop reports, into its view. The live view takes only
   * live values: a metric flagged `historical` (a replayed sample) is
   * recorded (onData) but never read here. A command's acknowledgement is
   * read either way: it answers its command whenever it arrives.
   */
  private readLoop(a: AgentView, p: Payload): void {
    const live = p.metrics.some((m) => m.historical) ? p.metrics.filter((m) => !m.historical) : p.metrics;
    const metric = (name: string) => live.find((m) => m.name === name)?.value;
    const mode = metric('mode');
    if (typeof mode === 'string') { a.mode = mode; a.modesSeen.add(mode); }
    const held = metric('held');
    if (typeof held === 'boolean') a.reportsHeld = held;
    const version = metric('core_version');
    if (typeof version === 'string') a.coreVersion = version;
    const deps = metric('depends_on');
    if (typeof deps === 'string') a.dependsOn = deps.split(',').filter(Boolean);
    const cause = metric('cause');
    if (typeof cause === 'string') a.cause = cause;
    const sp = metric('setpoint');
    if (typeof sp === 'number') a.setpoint = sp;
    const y = metric('measurement');
    if (typeof y === 'number') a.measurement = y;
    this.readGuard(a, live);
    for (const m of p.metrics) {
      if (m.name !== 'command/ack' || typeof m.value !== 'string') continue;
      const [id, ...rest] = m.value.split(' ');
      const c = this.commands.get(id);
      if (!c || c.state !== 'sent' || c.target !== a.key) continue;
      const status = rest.join(' ');
      c.state = status === 'ok' || status.startsWith('ok ') ? 'acked' : 'rejected';
      c.detail = status;
    }
  }

  /** The trip, the guard's flags and causes, the prediction and the envelope, as far as the payload carries them. */
  private readGuard(a: AgentView, metrics: readonly Metric[]): void {
    for (const m of metrics) {
      const v = m.value;
      switch (m.name) {
        case 'trip': a.tripped = v === true; break;
        case 'trip/cause': a.tripCause = String(v); break;
        case 'guard/status': a.guard = (Object.keys(GUARD_STATUS) as GuardFlag[]).filter((k) => ((v as number) & GUARD_STATUS[k]) !== 0); break;
        case 'guard/causes': a.causes = String(v).split(',').filter(Boolean); break;
        case 'guard/latched': a.latched = String(v).split(',').filter(Boolean); break;
        case 'predicted': a.predicted = v as number; break;
        case 'watchdog/traps': a.traps = v as number; break;
        case 'core/invariant_fails': a.invariantFails = v as number; break;
        case 'envelope/min': case 'envelope/max': {
          const unit = m.properties?.engUnit?.value;
          if (typeof unit === 'string') a.envelope.unit = unit;
          if (m.name === 'envelope/min') a.envelope.min = v as number; else a.envelope.max = v as number;
          break;
        }
        default: break;
      }
    }
  }

  /** How this coordinator contains a dependent, or null when it only observes. */
  get containAction(): ContainAction | null {
    const c = this.opts.contain ?? true;
    if (this.opts.passive || c === false) return null;
    return c === true ? 'hold' : c;
  }

  /**
   * Out of control on its own account: dead, or out of NOMINAL for a reason
   * other than the fallback this coordinator demanded of it.
   */
  private outOfControl(a: AgentView): boolean {
    if (a.health === 'dead') return true;
    return (a.mode === 'FALLBACK' || a.mode === 'SAFE_STOP') && !onlyDemanded(a);
  }

  /**
   * Agents out of control: their direct dependents are contained.
   * Level-triggered: every cycle, a dependent that should be contained and
   * does not report it (not held, or no demand in force: it was offline when
   * the command went, restarted, or came back) gets the command again,
   * unless one is in flight or an operator released it. An agent back
   * online and NOMINAL ends its episode.
   */
  private contain(now: number): void {
    const action = this.containAction;
    if (action === null) return;
    for (const a of this.agents.values()) {
      // A foreign device is no loop of edgeloop's: it neither starts an episode nor is contained.
      if (a.kind !== 'edgeloop') continue;
      const out = this.outOfControl(a);
      const spreading = a.contained !== null && (out || (a.mode === 'DEGRADED' && !onlyDemanded(a)));
      if (!(out || spreading)) {
        if (a.health === 'online' && a.mode === 'NOMINAL') this.contained.delete(a.key);
        continue;
      }
      this.contained.add(a.key);
      const state = a.health === 'dead' ? 'dead' : a.mode;
      const why = a.contained !== null ? `disturbance spread to ${a.key} (${state}): widening the scope` : `${a.key} left control (${state})`;
      for (const d of this.agents.values()) {
        if (d.kind !== 'edgeloop' || !d.dependsOn.includes(a.key) || d.health !== 'online' || this.operatorReleased.has(d.key)) continue;
        this.containOne(d, action, why, now);
      }
    }
    // An operator's release lasts while what the agent depends on is contained.
    for (const k of this.operatorReleased) {
      const d = this.agents.get(k);
      if (!d || !d.dependsOn.some((u) => this.contained.has(u))) this.operatorReleased.delete(k);
    }
  }

  /** Hold a dependent, or switch it to its fallback, unless it already reports it or the command is in flight. */
  private containOne(d: AgentView, action: ContainAction, why: string, now: number): void {
    const kind = action === 'hold' ? 'hold' : 'mode';
    const reports = action === 'hold' ? d.reportsHeld : d.guard.includes('demanded');
    if (d.contained === action && reports) return;
    if ([...this.commands.values()].some((c) => c.target === d.key && c.kind === kind && c.state === 'sent')) return;
    const again = d.contained === action ? ` (again: ${d.key} reports ${action === 'hold' ? 'it is not held' : 'no fallback demand in force'})` : '';
    const what = action === 'hold' ? '' : ': switched to its fallback';
    d.contained = action;
    d.held = action === 'hold';
    const decision: Decision = { tMs: now, agent: d.key, action, reason: `${why}; ${d.key} depends on it${what}${again}` };
    this.decisions.push(decision);
    if (this.decisions.length > DECISIONS_KEPT) this.decisions.splice(0, this.decisions.length - DECISIONS_KEPT);
    this.opts.onDecision?.(decision);
    this.send(d, encodeCommand(action === 'hold' ? { kind: 'hold' } : { kind: 'mode', value: 'fallback' }), kind);
  }

  /** Send a validated command to an agent (group/node/device); returns its tracking record. */
  command(target: string, cmd: OperatorCommand): TrackedCommand {
    const a = this.agents.get(target);
    if (!a) throw new Error(`command: unknown agent '${target}' (known: ${[...this.agents.keys()].join(', ') || 'none'})`);
    if (a.kind !== 'edgeloop') {
      throw new Error(`command: '${target}' is a foreign device (its DBIRTH declares no ${EDGELOOP_MARKERS.join(' and ')}): it takes no edgeloop commands`);
    }
    let c: CommandBody;
    switch (cmd.kind) {
      case 'setpoint':
        if (typeof cmd.value !== 'number' || !Number.isFinite(cmd.value)) throw new Error(`command: setpoint must be a finite number, got ${JSON.stringify(cmd.value)}`);
        c = { kind: 'setpoint', value: cmd.value };
        break;
      case 'reset': c = { kind: 'reset' }; break;
      // Ends containment the way it was taken: a dependent switched to its fallback is released from the demand.
      case 'release': c = a.contained === 'fallback' ? { kind: 'mode', value: 'release' } : { kind: 'release' }; break;
      case 'param': c = { kind: 'param', name: cmd.name as ParamName, value: cmd.value }; break;
      case 'mode':
        if (!(MODE_DEMANDS as readonly unknown[]).includes(cmd.value)) {
          throw new Error(`command: mode must be one of ${MODE_DEMANDS.join(', ')}, got ${JSON.stringify(cmd.value)}`);
        }
        c = { kind: 'mode', value: cmd.value };
        break;
      default: throw new Error(`command: kind must be one of setpoint, reset, release, param, mode, got ${JSON.stringify((cmd as { kind: unknown }).kind)}`);
    }
    const body = encodeCommand(c);
    // The same check the agent applies, before anything is sent (the agent's core still checks ranges).
    try {
      parseCommand({ timestamp: this.clock(), metrics: [{ name: 'command/id', type: 'String', value: 'check' }, ...body] });
    } catch (err) {
      throw new Error(`command: ${(err as Error).message}`);
    }
    const releasing = cmd.kind === 'release' || (cmd.kind === 'mode' && cmd.value === 'release' && a.contained === 'fallback');
    if (releasing) {
      const kind = a.contained === 'fallback' ? 'mode' : 'release';
      a.held = false;
      a.contained = null;
      this.operatorReleased.add(target);
      return this.send(a, body, kind);
    }
    return this.send(a, body, cmd.kind);
  }

  /** Start a staged rollout of a signed module to a group; it advances on every cycle(). */
  startRollout(opts: Omit<RolloutOptions, 'clockMs' | 'id'> & { id?: string }): Rollout {
    const active = this.rollouts.find((r) => !r.finished && r.view().group === opts.group);
    if (active) throw new Error(`rollout: group '${opts.group}' already has rollout ${active.view().id} in phase ${active.phase}`);
    const r = new Rollout({ ...opts, id: opts.id ?? `${this.opts.hostId}-rollout-${this.rollouts.length + 1}`, clockMs: this.clock }, {
      agents: () => [...this.agents.values()].filter((a) => a.kind === 'edgeloop'),
      sendDeploy: (key, moduleB64, signatureB64) => this.send(this.known(key), encodeDeploy(moduleB64, signatureB64), 'deploy'),
      sendRollback: (key) => this.send(this.known(key), encodeCommand({ kind: 'rollback' }), 'rollback'),
    });
    this.rollouts.push(r);
    return r;
  }

  /** The current (latest) rollout's view, or null. */
  rollout(): RolloutView | null {
    return this.rollouts.length ? this.rollouts[this.rollouts.length - 1].view() : null;
  }

  private known(key: string): AgentView {
    const a = this.agents.get(key);
    if (!a) throw new Error(`unknown agent '${key}'`);
    return a;
  }

  /** Ask an edge node to publish its births again (NCMD Node Control/Rebirth). */
  requestRebirth(group: string, node: string): void {
    // Nothing before this session's STATE birth (Sparkplug B 3.0): a request now is dropped, as one while the link is down.
    if (this.opts.passive || !this.stateBorn) return;
    this.rebirths.requested++;
    const metrics: Metric[] = [{ name: 'Node Control/Rebirth', type: 'Boolean', value: true }];
    // Commands at QoS 0 (Sparkplug B 3.0): one that cannot be delivered now must not arrive minutes later.
    this.client.publish(nodeTopic(group, 'NCMD', node), Buffer.from(encodePayload({ timestamp: this.clock(), metrics })), { qos: 0 });
  }

  private send(a: AgentView, body: Metric[], kind: TrackedCommand['kind']): TrackedCommand {
    if (this.opts.passive) throw new Error(`command: this host (${this.opts.hostId}) is passive and sends no commands`);
    const id = `${this.opts.hostId}-${this.session}-${this.nextId++}`;
    const metrics: Metric[] = [{ name: 'command/id', type: 'String', value: id }, ...body];
    // Nothing before this session's STATE birth: a command then is dropped (it times out), never sent ahead of it.
    if (this.stateBorn) this.client.publish(deviceTopic(a.group, 'DCMD', a.node, a.device), Buffer.from(encodePayload({ timestamp: this.clock(), metrics })), { qos: 0 });
    const tracked: TrackedCommand = { id, target: a.key, kind, state: 'sent', sentMs: this.clock(), detail: '' };
    this.commands.set(id, tracked);
    this.forgetOldCommands();
    return tracked;
  }

  /** At most COMMANDS_KEPT finished commands are kept, the newest; those still waiting for an ack always are. */
  private forgetOldCommands(): void {
    let excess = this.commands.size - COMMANDS_KEPT;
    if (excess <= 0) return;
    for (const [id, c] of this.commands) {
      if (excess <= 0) break;
      if (c.state === 'sent') continue;
      this.commands.delete(id);
      excess--;
    }
  }

  /** Declare STATE offline (when connected) and disconnect; never waits on a broker that is not there. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.reassertTimer) clearTimeout(this.reassertTimer);
    this.login.stop();
    if (!this.client.connected) {
      await this.client.endAsync(true);
      return;
    }
    if (!this.opts.passive) {
      const offline = this.client.publishAsync(stateTopic(this.opts.hostId), JSON.stringify({ online: false, timestamp: Math.max(Date.now(), this.stateTs) }), { qos: 1, retain: true });
      await Promise.race([offline.catch(() => {}), new Promise((r) => setTimeout(r, 2000))]);
    }
    await Promise.race([this.client.endAsync(), new Promise((r) => setTimeout(r, 2000))]);
    if (!this.client.disconnected) await this.client.endAsync(true);
  }
}
