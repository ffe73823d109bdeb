// The coordinator (first part): discovers agents from their Sparkplug births,
// tracks their health from death certificates and stale data, and sends
// validated commands that it tracks to an acknowledgement (id, state,
// timeout). MQTT callbacks only queue messages; cycle() acts on them at the
// coordinator's own pace.
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
import { decodePayload, encodePayload, type Metric, type Payload } from '../mqtt/codec.js';
import { deviceTopic, nodeTopic, noDelay, parseTopic, stateTopic, type SparkplugTopic } from '../mqtt/topics.js';
import { Rollout, type RolloutOptions } from '../deploy/rollout.js';
import { GUARD_STATUS, MODES, type GuardFlag } from '../runtime/abi.js';
import { MODE_DEMANDS, parseCommand, type ModeDemand } from '../mqtt/commands.js';
import type { RolloutView } from '../deploy/types.js';

export type Health = 'online' | 'stale' | 'dead';

export interface AgentView {
  key: string;            // group/node/device
  group: string;
  node: string;
  device: string;
  health: Health;
  lastSeenMs: number;
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
  /** Decision log lines, as they are taken. */
  onDecision?: (d: Decision) => void;
  /** No data for this long: the agent is stale. */
  staleMs?: number;
  /** No acknowledgement for this long: the command timed out. */
  commandTimeoutMs?: number;
  inboxMax?: number;
  clockMs?: () => number;
}

/** The types the host reads these metrics as; anything else makes the message malformed. */
const METRIC_TYPES: Readonly<Record<string, 'number' | 'string' | 'boolean'>> = {
  setpoint: 'number', measurement: 'number', output: 'number', tick_us: 'number', sample: 'number', bdSeq: 'number',
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

/** What is wrong with the metrics of an inbound payload, or null. */
export function metricProblem(p: Payload): string | null {
  for (const m of p.metrics) {
    if (typeof m.value === 'string' && m.value.length > METRIC_STRING_MAX) {
      return `metric '${m.name.slice(0, 100)}': expected a string of at most ${METRIC_STRING_MAX} characters, received ${m.value.length}`;
    }
    const want = METRIC_TYPES[m.name];
    if (want && typeof m.value !== want) return `metric '${m.name}': expected a ${want}, received ${JSON.stringify(m.value)}`;
    if (m.name === 'mode' && !MODE_NAMES.has(m.value as string)) return `metric 'mode': expected one of ${MODES.join(', ')}, received ${JSON.stringify(m.value)}`;
    if (m.name === 'bdSeq' && !(Number.isInteger(m.value) && (m.value as number) >= 0 && (m.value as number) <= 255)) return `metric 'bdSeq': expected an integer 0..255, received ${m.value}`;
    if (m.name === 'guard/status' && !(Number.isInteger(m.value) && ((m.value as number) & ~GUARD_BITS_ALL) === 0)) {
      return `metric 'guard/status': expected an integer of the guard's status bits (0..${GUARD_BITS_ALL}), received ${m.value}`;
    }
  }
  return null;
}

/** Out of NOMINAL only because this coordinator switched it to its fallback (the guard names no cause but the host's demand). */
function onlyDemanded(a: AgentView): boolean {
  return a.contained === 'fallback' && a.causes.length > 0 && a.causes.every((c) => c === 'host');
}

export class Coordinator {
  readonly agents = new Map<string, AgentView>();
  readonly commands = new Map<string, TrackedCommand>();
  readonly rejected = { malformed: 0, dropped: 0, staleDeaths: 0, tooManyDevices: 0 };
  private readonly devicesPerNode = new Map<string, number>();
  /** onData callbacks that threw (counted; the message was still handled). */
  dataErrors = 0;
  lastDataError: string | null = null;
  /** What the last rejected message was rejected for (the log line). */
  lastRejection: string | null = null;
  private readonly nodeBdSeq = new Map<string, number>();
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
    // Sparkplug B 3.0: the online STATE carries the timestamp of the Will (the offline STATE) its connection registered.
    const stateTs = this.clock();
    this.client = mqtt.connect(opts.broker, {
      clean: true,
      reconnectPeriod: 500,
      username: opts.username,
      password: opts.password,
      will: opts.passive ? undefined : { topic: state, payload: Buffer.from(JSON.stringify({ online: false, timestamp: stateTs })), qos: 1, retain: true },
    });
    this.client.on('connect', () => {
      noDelay(this.client);
      this.link.connected = true;
      // Subscribe first, then declare STATE online: edge nodes that wait
      // for it birth and replay their spools into live subscriptions.
      this.client.subscribe(['spBv1.0/+/+/+', 'spBv1.0/+/+/+/+'], { qos: 1 }, (err, granted) => {
        if (err || (granted ?? []).some((g) => g.qos === 128)) this.link.subscribeRefused = true;
        if (!opts.passive) this.client.publish(state, JSON.stringify({ online: true, timestamp: stateTs }), { qos: 1, retain: true });
      });
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
    this.contain(now);
    for (const r of this.rollouts) r.step();
    const timeout = this.opts.commandTimeoutMs ?? 5000;
    for (const c of this.commands.values()) {
      if (c.state === 'sent' && now - c.sentMs > timeout) { c.state = 'timeout'; c.detail = `no acknowledgement within ${timeout} ms`; }
    }
  }

  private handle(topic: string, bytes: Buffer, now: number): void {
    let t: SparkplugTopic;
    let p: Payload;
    try {
      t = parseTopic(topic);
      if (t.kind === 'state') return;
      p = decodePayload(bytes);
    } catch {
      this.rejected.malformed++;
      return;
    }
    const metric = (name: string) => p.metrics.find((m) => m.name === name)?.value;
    // Commands (DCMD, NCMD) are other hosts' business: only what agents report is read, and checked.
    const isCommand = (t.kind === 'node' && t.type === 'NCMD') || (t.kind === 'device' && t.type === 'DCMD');
    const problem = isCommand ? null : metricProblem(p);
    if (problem) {
      this.rejected.malformed++;
      this.lastRejection = `${topic}: ${problem}`;
      return;
    }
    if (t.kind === 'node') {
      if (t.type === 'NDEATH' || t.type === 'NBIRTH') {
        const nodeKey = `${t.group}/${t.node}`;
        const bd = metric('bdSeq') as number | undefined;
        if (t.type === 'NBIRTH' && bd !== undefined) this.nodeBdSeq.set(nodeKey, bd);
        // A death certificate from an earlier session (its bdSeq is not the
        // live birth's) says nothing about the node now: Sparkplug B says ignore it.
        const born = this.nodeBdSeq.get(nodeKey);
        if (t.type === 'NDEATH' && bd !== undefined && born !== undefined && bd !== born) {
          this.rejected.staleDeaths++;
          return;
        }
        for (const a of this.agents.values()) {
          if (a.group !== t.group || a.node !== t.node) continue;
          if (t.type === 'NDEATH') a.health = 'dead';
          if (bd !== undefined) a.bdSeq = bd;
        }
      }
      return;
    }
    const key = `${t.group}/${t.node}/${t.device}`;
    let a = this.agents.get(key);
    if (!a) {
      if (t.type !== 'DBIRTH' && t.type !== 'DDATA') return;
      // A node may birth a few loops, not thousands (each is tracked, recorded and drawn).
      const perNode = (this.devicesPerNode.get(`${t.group}/${t.node}`) ?? 0) + 1;
      if (perNode > DEVICES_PER_NODE_MAX) {
        this.rejected.tooManyDevices++;
        this.lastRejection = `${topic}: node ${t.group}/${t.node} has ${DEVICES_PER_NODE_MAX} devices already (at most ${DEVICES_PER_NODE_MAX} per node)`;
        return;
      }
      this.devicesPerNode.set(`${t.group}/${t.node}`, perNode);
      a = { key, group: t.group, node: t.node, device: t.device, health: 'online', lastSeenMs: now, mode: '?', cause: '', setpoint: null,
        measurement: null, bdSeq: this.nodeBdSeq.get(`${t.group}/${t.node}`) ?? null, dependsOn: [], held: false, contained: null, reportsHeld: false,
        tripped: false, tripCause: '', guard: [], causes: [], latched: [], predicted: null, traps: 0, invariantFails: 0, envelope: { min: null, max: null, unit: '' },
        coreVersion: '?', modesSeen: new Set() };
      this.agents.set(key, a);
      // Data from a device we never saw born: ask its node to rebirth (Sparkplug B).
      if (t.type === 'DDATA') this.requestRebirth(t.group, t.node);
    }
    if (t.type === 'DDEATH') { a.health = 'dead'; return; }
    if (t.type !== 'DBIRTH' && t.type !== 'DDATA') return;
    a.health = 'online';
    a.lastSeenMs = now;
    const mode = metric('mode');
    if (typeof mode === 'string') { a.mode = mode; a.modesSeen.add(mode); }
    const held = metric('held');
    if (typeof held === 'boolean') a.reportsHeld = held;
    const version = metric('core_version');
    if (typeof version === 'string') a.coreVersion = version;
    // The history is the data stream: a DBIRTH restates the current values, it is not a new sample.
    if (t.type === 'DDATA' && this.opts.onData) {
      try {
        this.opts.onData(key, p, now);
      } catch (err) {
        // Recording is not the coordinator's job: a failing store must not stop containment.
        this.dataErrors++;
        this.lastDataError = (err as Error).message;
      }
    }
    const deps = metric('depends_on');
    if (typeof deps === 'string') a.dependsOn = deps.split(',').filter(Boolean);
    const cause = metric('cause');
    if (typeof cause === 'string') a.cause = cause;
    const sp = metric('setpoint');
    if (typeof sp === 'number') a.setpoint = sp;
    const y = metric('measurement');
    if (typeof y === 'number') a.measurement = y;
    this.readGuard(a, p);
    for (const m of p.metrics) {
      if (m.name !== 'command/ack' || typeof m.value !== 'string') continue;
      const [id, ...rest] = m.value.split(' ');
      const c = this.commands.get(id);
      if (!c || c.state !== 'sent' || c.target !== key) continue;
      const status = rest.join(' ');
      c.state = status === 'ok' || status.startsWith('ok ') ? 'acked' : 'rejected';
      c.detail = status;
    }
  }

  /** The trip, the guard's flags and causes, the prediction and the envelope, as far as the payload carries them. */
  private readGuard(a: AgentView, p: Payload): void {
    for (const m of p.metrics) {
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
        if (!d.dependsOn.includes(a.key) || d.health !== 'online' || this.operatorReleased.has(d.key)) continue;
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
    const body: Metric[] = action === 'hold'
      ? [{ name: 'command/hold', type: 'Boolean', value: true }]
      : [{ name: 'command/mode', type: 'String', value: 'fallback' }];
    this.send(d, body, kind);
  }

  /** Send a validated command to an agent (group/node/device); returns its tracking record. */
  command(target: string, cmd: OperatorCommand): TrackedCommand {
    const a = this.agents.get(target);
    if (!a) throw new Error(`command: unknown agent '${target}' (known: ${[...this.agents.keys()].join(', ') || 'none'})`);
    let body: Metric[];
    switch (cmd.kind) {
      case 'setpoint':
        if (typeof cmd.value !== 'number' || !Number.isFinite(cmd.value)) throw new Error(`command: setpoint must be a finite number, got ${JSON.stringify(cmd.value)}`);
        body = [{ name: 'command/setpoint', type: 'Double', value: cmd.value }];
        break;
      case 'reset': body = [{ name: 'command/reset', type: 'Boolean', value: true }]; break;
      case 'release':
        // Ends containment the way it was taken: a dependent switched to its fallback is released from the demand.
        body = a.contained === 'fallback'
          ? [{ name: 'command/mode', type: 'String', value: 'release' }]
          : [{ name: 'command/release', type: 'Boolean', value: true }];
        break;
      case 'param': body = [{ name: 'command/param', type: 'String', value: `${cmd.name}=${String(cmd.value)}` }]; break;
      case 'mode':
        if (!(MODE_DEMANDS as readonly unknown[]).includes(cmd.value)) {
          throw new Error(`command: mode must be one of ${MODE_DEMANDS.join(', ')}, got ${JSON.stringify(cmd.value)}`);
        }
        body = [{ name: 'command/mode', type: 'String', value: cmd.value }];
        break;
      default: throw new Error(`command: kind must be one of setpoint, reset, release, param, mode, got ${JSON.stringify((cmd as { kind: unknown }).kind)}`);
    }
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
      agents: () => [...this.agents.values()],
      sendDeploy: (key, moduleB64, signatureB64) => this.send(this.known(key), [
        { name: 'command/deploy', type: 'String', value: moduleB64 },
        { name: 'command/signature', type: 'String', value: signatureB64 },
      ], 'deploy'),
      sendRollback: (key) => this.send(this.known(key), [{ name: 'command/rollback', type: 'Boolean', value: true }], 'rollback'),
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
    if (this.opts.passive) return;
    const metrics: Metric[] = [{ name: 'Node Control/Rebirth', type: 'Boolean', value: true }];
    // Commands at QoS 0 (Sparkplug B 3.0): one that cannot be delivered now must not arrive minutes later.
    this.client.publish(nodeTopic(group, 'NCMD', node), Buffer.from(encodePayload({ timestamp: this.clock(), metrics })), { qos: 0 });
  }

  private send(a: AgentView, body: Metric[], kind: TrackedCommand['kind']): TrackedCommand {
    if (this.opts.passive) throw new Error(`command: this host (${this.opts.hostId}) is passive and sends no commands`);
    const id = `${this.opts.hostId}-${this.session}-${this.nextId++}`;
    const metrics: Metric[] = [{ name: 'command/id', type: 'String', value: id }, ...body];
    this.client.publish(deviceTopic(a.group, 'DCMD', a.node, a.device), Buffer.from(encodePayload({ timestamp: this.clock(), metrics })), { qos: 0 });
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
    this.login.stop();
    if (!this.client.connected) {
      await this.client.endAsync(true);
      return;
    }
    if (!this.opts.passive) {
      const offline = this.client.publishAsync(stateTopic(this.opts.hostId), JSON.stringify({ online: false, timestamp: this.clock() }), { qos: 1, retain: true });
      await Promise.race([offline.catch(() => {}), new Promise((r) => setTimeout(r, 2000))]);
    }
    await Promise.race([this.client.endAsync(), new Promise((r) => setTimeout(r, 2000))]);
    if (!this.client.disconnected) await this.client.endAsync(true);
  }
}
