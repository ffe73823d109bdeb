// An agent: one core instance closing one loop through its I/O binding, at
// its own pace, and reporting over MQTT as a Sparkplug B edge node with one
// device. The network is never in the control path: the loop ticks whether
// or not the broker is there. MQTT callbacks only put validated commands
// into a bounded inbox; the tick drains it (house style: run at your own pace).
//
// Telemetry is never lost to a broker outage: while the agent is offline
// (or, with a primary host, while that host's STATE is not online, as
// Sparkplug B 3.0 asks) every sample goes into a bounded spool; on
// reconnect the agent re-births (NBIRTH, DBIRTH) and then replays the spool
// in order, each sample with its own timestamp and running `sample` number,
// so the host can check that nothing is missing. Only a spool overflow
// drops samples, and those are counted (stats.spoolDropped).

import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { isolatedCore } from '../runtime/engines/isolated.js';
import mqtt, { type MqttClient } from 'mqtt';
import { compileCoreModule, type Core, type CoreEvent } from '../runtime/core.js';
import { CoreSlot, type CoreConfig } from './core-slot.js';
import type { KeyInput } from '../deploy/signing.js';
import type { IoBinding } from '../io/binding.js';
import { GUARD_STATUS, MODES } from '../runtime/abi.js';
import { decodePayload, encodePayload, SeqCounter, type Metric, type Payload } from '../mqtt/codec.js';
import { deviceTopic, nodeTopic, stateTopic } from '../mqtt/topics.js';
import { commandIdOf, DEVICE_REBIRTH, isHostWrite, parseCommand, type AgentCommand } from '../mqtt/commands.js';
import { LoginWatch } from '../mqtt/refusal.js';
import { noDelay } from '../mqtt/topics.js';

export interface AgentOptions {
  group: string;
  node: string;
  device: string;
  core: Core;
  binding: IoBinding;
  broker: string;
  username?: string;
  password?: string;
  /** The agent's clock, microseconds (injected: tests use fake time). */
  clockUs?: () => number;
  /** Wall-clock time stamped on samples, ms since the epoch (injected for simulated time). */
  wallMs?: () => number;
  /** Commands waiting for a tick; more are refused (counted). */
  inboxMax?: number;
  /** Agents (group/node/device) whose output is this loop's input; announced in DBIRTH. */
  dependsOn?: readonly string[];
  /** Sparkplug primary host application id: publish only while its STATE is online. */
  primaryHost?: string;
  /** Samples kept while offline (default 36,000: an hour at 10 Hz); beyond it the oldest go, counted. */
  spoolMax?: number;
  /** The configuration `core` runs with: every core a deployment installs gets it too. */
  config?: CoreConfig;
  /** The bytes `core` was made from (names its version; lets a rollback re-create it). */
  moduleBytes?: Uint8Array;
  /** The fleet's Ed25519 public key: deployments signed by it are accepted; without it every deployment is refused. */
  fleetKey?: KeyInput;
  /**
   * The agent re-sends the core its setpoint this often (default 1 s); the
   * core's tim_sp_stale monitor trips when it stops (the agent is the
   * core's host, and a stuck agent must not go unnoticed).
   */
  setpointRefreshUs?: number;
  /**
   * QoS of births and data (default 0, as Sparkplug B specifies; the NDEATH
   * Will is always QoS 1). At QoS 0 a sample still in flight when the
   * connection drops would be lost, so the agent keeps what it published in
   * the last two keepalives and sends it again after the next births
   * (duplicates carry the same sample number and timestamp; the recorder
   * drops them). QoS 1 leaves that to the MQTT session instead, at about a
   * third more CPU per sample on the agent and the broker (bench:host).
   */
  dataQos?: 0 | 1;
  /** MQTT keepalive, s (the broker fires the NDEATH Will after 1.5x this of silence). */
  keepaliveS?: number;
  /**
   * Engineering units of the measurement (and setpoint, envelope, prediction)
   * and of the command, announced in DBIRTH as each metric's `engUnit`
   * property (Sparkplug B); without them no unit is announced.
   */
  units?: { measurement: string; command: string };
  /** Every event the core logs, as the tick that logged it reads it (narration, logs); never called from a network callback. */
  onCoreEvent?: (event: CoreEvent, nowUs: number) => void;
  /**
   * The broker refused the agent's log-in (bad username or password, or not
   * authorized): called once per distinct refusal, not on every retry. The
   * loop keeps running and spooling; the client keeps retrying.
   */
  onLoginRefused?: (refusal: string) => void;
  /**
   * Run every core in a worker thread, each call with a deadline (default
   * ISOLATE_DEADLINE_MS): a core whose tick never returns is stopped and
   * handled as a trap (safe output, trip, a new core or the previous one)
   * instead of freezing the loop. Needs moduleBytes. Costs some tenths of a
   * millisecond a tick.
   */
  isolate?: boolean | { deadlineMs?: number };
  /**
   * A file that keeps the highest release this agent has accepted, across
   * restarts: a restarted agent refuses what it refused before it stopped
   * (without it the floor is the starting core's release). Read at start
   * (a missing file is 0; an unreadable one is an error naming it), written
   * atomically whenever a deploy raises the floor.
   */
  releaseFile?: string;
  /**
   * The signed release of the core it starts with (from its verified .sig),
   * so that a deploy of an older one is refused; 0 (default) when not known:
   * any signed release is newer.
   */
  moduleRelease?: number;
  /** A tick on which the core trapped, and what the agent did (logs); an exception it throws is counted, not raised. */
  onTrap?: (report: TrapReport) => void;
}

export interface AgentStats {
  ticks: number;
  /** Ticks that ran more than one period late (the timer chain, not the network). */
  lateTicks: number;
  published: number;
  spooled: number;
  replayed: number;
  spoolDropped: number;
  /** Samples published at QoS 0 shortly before a connection dropped, sent again after the next births. */
  resent: number;
  commandsApplied: number;
  commandsRejected: number;
  inboxDropped: number;
  /** Payloads that could not be encoded (never expected; counted, never thrown out of a tick). */
  encodeErrors: number;
  /** Inbound STATE messages that were not {online: boolean} (ignored: the host's state stays as it was). */
  stateRejected: number;
  /** Ticks whose reference the core refused as a setpoint (beyond the envelope's margin or the sensors' range): the last good one stayed. */
  referenceRejected: number;
  /** onCoreEvent calls that threw (counted; the tick went on). */
  eventCallbackErrors: number;
  /**
   * Ticks on which the core trapped (a Wasm runtime error): the actuator got
   * the safe output and the trip output was de-energized for that tick, and
   * the core was rolled back (after a deploy) or restarted.
   */
  traps: number;
  /**
   * Invariants the core broke (a bug in the core: each latched SAFE_STOP
   * until a reset, assembly/invariant.ts); not those broken under a
   * corrupted configuration, which the integrity monitor handles.
   */
  invariantFails: number;
  /** Recoveries after a trap that failed themselves (the safe output and the trip stay; tried again next tick). */
  recoverFailures: number;
  /** Connection attempts the broker refused for the log-in (bad credentials, not authorized). */
  loginRefused: number;
  /** Ticks that failed outside the core's own tick (the binding, or a trapped core that could not be restarted): the safe output and the trip were written. */
  tickErrors: number;
}

/** What the agent reports of a trap (the onTrap option): the error, and what it did about it. */
export interface TrapReport {
  error: Error;
  nowUs: number;
  /** 'rollback' (after a deploy), 'restart', or 'failed' (the safe output holds; tried again next tick). */
  action: 'rollback' | 'restart' | 'failed';
  /** The core version running after the recovery. */
  version: string;
}

/** Spooled samples sent per turn of the event loop. */
const REPLAY_CHUNK = 500;
/**
 * Samples kept for resending after a dropped connection, at most (the
 * recorder remembers DEDUP_SAMPLES = 1024 per agent to recognise them): two
 * keepalives of a 10 Hz loop are about 110.
 */
export const RESEND_MAX = 1000;

/** The guard/status bits by name, lowest first (announced in DBIRTH as the metric's `bits` property). */
const GUARD_BITS = Object.entries(GUARD_STATUS).sort((a, b) => a[1] - b[1]).map(([k]) => k).join(',');

/** The highest release kept in `file`: 0 when there is none yet; an Error naming the file when it is not one. */
export function readReleaseFloor(file: string): number {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw new Error(`release file ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const n = Number(text.trim());
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`release file ${file}: expected the highest accepted release (an integer >= 0), found ${JSON.stringify(text.trim().slice(0, 40))}`);
  return n;
}

/** Keep `release` in `file`, atomically (a temporary file renamed over it). */
function writeReleaseFloor(file: string, release: number): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${release}\n`);
  renameSync(tmp, file);
}

/** An isolated core's calls must answer within this (a tick takes microseconds), ms. */
export const ISOLATE_DEADLINE_MS = 1000;

/** Command acknowledgements carried by one DDATA at most. */
const ACKS_PER_SAMPLE = 16;
/** The longest acknowledgement status sent (an error that echoes a 50 KB value is cut: the ack is for a person to read). */
const ACK_STATUS_MAX = 300;
function ack(id: string, status: string): Metric {
  const text = status.length > ACK_STATUS_MAX ? `${status.slice(0, ACK_STATUS_MAX)}... (${status.length} characters)` : status;
  return { name: 'command/ack', type: 'String', value: `${id} ${text}` };
}

/** Acknowledgements waiting for a DDATA, at most (a flood of refused commands is counted, not queued). */
const ACKS_PENDING_MAX = 256;

interface SpooledSample {
  timestamp: number;
  metrics: Metric[];
}

export class Agent {
  readonly stats: AgentStats = { ticks: 0, lateTicks: 0, published: 0, spooled: 0, replayed: 0, spoolDropped: 0, resent: 0, commandsApplied: 0, commandsRejected: 0, inboxDropped: 0, encodeErrors: 0, stateRejected: 0, referenceRejected: 0, eventCallbackErrors: 0, traps: 0, invariantFails: 0, recoverFailures: 0, loginRefused: 0, tickErrors: 0 };
  private readonly client: MqttClient;
  private readonly seq = new SeqCounter();
  private readonly inbox: AgentCommand[] = [];
  private readonly acks: Metric[] = [];
  private readonly spool: SpooledSample[] = [];
  /** Samples published at QoS 0 within the resend window (oldest first). */
  private recent: { sample: SpooledSample; sentUs: number }[] = [];
  private spoolHead = 0;
  private sample = 0;
  private bdSeq = 0;
  private online = false;
  private hostOnline: boolean;
  private following = true;
  private hasFeed = false;
  private nextRefreshUs = 0;
  private timer: NodeJS.Timeout | null = null;
  private readonly clock: () => number;
  private readonly wall: () => number;

  private readonly slot: CoreSlot;

  constructor(private readonly opts: AgentOptions) {
    this.clock = opts.clockUs ?? (() => Math.round(performance.now() * 1000));
    this.slot = this.makeSlot(opts);
    if (opts.releaseFile) {
      const file = opts.releaseFile;
      this.slot.keepFloor(readReleaseFloor(file), (release) => writeReleaseFloor(file, release));
    }
    this.wall = opts.wallMs ?? Date.now;
    this.hostOnline = opts.primaryHost === undefined;
    this.client = mqtt.connect(opts.broker, {
      clean: true,
      reconnectPeriod: 500,
      connectTimeout: 5000,
      keepalive: opts.keepaliveS ?? 5,
      username: opts.username,
      password: opts.password,
      will: this.will(),
    });
    this.client.on('connect', () => { noDelay(this.client); this.onConnect(); });
    this.client.on('close', () => {
      if (this.online) {
        // A new session gets a new bdSeq: its NDEATH Will must carry it.
        this.bdSeq = (this.bdSeq + 1) % 256;
        this.client.options.will = this.will();
        this.requeueRecent();
      }
      this.online = false;
    });
    this.client.on('message', (topic, payload) => this.onMessage(topic, payload));
    // The network's errors: the client reconnects by itself, and the loop does not care. A refused log-in is named once.
    this.login = new LoginWatch(this.client, (refusal) => {
      try { this.opts.onLoginRefused?.(refusal); } catch { this.stats.eventCallbackErrors++; }
    }, () => { this.stats.loginRefused++; });
  }

  /**
   * The slot the loop's cores live in. With `isolate` and the module's
   * bytes, every core (the first one too: a new instance of the module,
   * configured and given the setpoint `opts.core` has) runs in a worker
   * thread with a deadline per call (host/runtime/engines/isolated.ts).
   */
  private makeSlot(opts: AgentOptions): CoreSlot {
    const release = opts.moduleRelease ?? 0;
    if (!opts.isolate || !opts.moduleBytes) return new CoreSlot(opts.core, opts.config ?? {}, opts.moduleBytes, release);
    const deadlineMs = typeof opts.isolate === 'object' ? opts.isolate.deadlineMs ?? ISOLATE_DEADLINE_MS : ISOLATE_DEADLINE_MS;
    const make = (m: WebAssembly.Module) => isolatedCore(m, deadlineMs);
    const first = make(compileCoreModule(opts.moduleBytes));
    first.core.configure(opts.config ?? {});
    first.core.setSetpoint(opts.core.setpoint, this.clock());
    return new CoreSlot(first.core, opts.config ?? {}, opts.moduleBytes, release, make, first.dispose);
  }

  /** The broker's last refusal of this agent's log-in (bad credentials, not authorized), or null once connected. */
  get loginRefusal(): string | null { return this.login.refusal; }
  private readonly login: LoginWatch;
  private stopping = false;

  /** The running core (a deployment replaces it). */
  get core(): Core { return this.slot.core; }
  /** The running core's version: its module's sha256 prefix, or 'builtin'. */
  get coreVersion(): string { return this.slot.version; }

  /** Tick the loop on the core's own schedule (setTimeout chain). */
  start(): void {
    let due = this.clock();
    const step = () => {
      const now = this.clock();
      let periodUs = 100_000;
      try {
        periodUs = this.core.nextIntervalUs;
        if (now - due > periodUs) this.stats.lateTicks++;
        this.tick();
      } finally {
        // Whatever happened in the tick, the next one comes (at the last interval, or 100 ms if the core cannot say).
        due = now + periodUs;
        if (!this.stopping) this.timer = setTimeout(step, Math.max(1, Math.round(periodUs / 1000)));
      }
    };
    step();
  }

  /**
   * One tick: drain the inbox, read, compute, write, report. Nothing thrown
   * in it leaves it: a core that traps is handled in the tick (trap()); any
   * other failure (a binding that cannot read, a trapped core that could not
   * be restarted and cannot be asked) is counted, and the actuator gets the
   * safe output with the trip de-energized.
   */
  tick(): void {
    const now = this.clock();
    try {
      this.tickOnce(now);
    } catch (err) {
      this.stats.tickErrors++;
      this.lastTickError = (err as Error).message;
      this.trapped = true;
      try { this.drive(this.safeOutput(), true, now); } catch { this.stats.tickErrors++; }
    }
  }

  private tickOnce(now: number): void {
    if (this.inbox.length) {
      while (this.inbox.length) this.apply(this.inbox.shift()!, now);
      // A command may have set the setpoint: the refresh below re-sends that one, not the one before it.
      try { this.goodSetpoint = this.core.setpoint; } catch { /* a trapped core: the last good one stays */ }
    }
    const core = this.core;
    const io = this.opts.binding.read(now);
    this.hasFeed = typeof io.reference === 'number';
    if (this.following && typeof io.reference === 'number' && Number.isFinite(io.reference) && io.reference !== core.setpoint
      && this.follow(io.reference, now)) {
      this.nextRefreshUs = now + (this.opts.setpointRefreshUs ?? 1_000_000);
    } else if (now >= this.nextRefreshUs) {
      // The refresh re-sends the setpoint the host last gave (a core swapped in after a trap starts from it).
      const sp = this.goodSetpoint ?? core.setpoint;
      try { core.setSetpoint(sp, now); } catch { this.stats.referenceRejected++; }
      this.nextRefreshUs = now + (this.opts.setpointRefreshUs ?? 1_000_000);
    }
    let u: number;
    try {
      u = this.slot.tick(now, io);
      this.trapped = false;
      this.goodSetpoint = this.core.setpoint;
    } catch (err) {
      u = this.trap(err as Error, now);
    }
    this.drive(u, this.trapped || this.core.tripped, now);
    if (!this.trapped) this.readEvents(now);
    this.stats.ticks++;
    this.report(now, u);
  }

  /** The last failure counted in stats.tickErrors, or null. */
  lastTickError: string | null = null;

  /** The last tick trapped: its output was the safe one and the trip output was de-energized. */
  private trapped = false;

  /**
   * The core trapped in its tick: the loop writes the safe output with the
   * trip de-energized (a core that cannot compute is no reason to trust the
   * actuator path), counts it, and gets a working core back: the one a
   * deploy replaced (rollback), else a fresh instance of the same module.
   * Returns the command for this tick.
   */
  private trap(error: Error, now: number): number {
    this.stats.traps++;
    this.trapped = true;
    const safe = this.safeOutput();
    const setpoint = this.lastSetpoint();
    let action: TrapReport['action'];
    try {
      action = this.slot.recover(now, setpoint, safe).action;
    } catch {
      this.stats.recoverFailures++;
      action = 'failed';
    }
    this.tripCause = 'trap/core';
    try {
      this.opts.onTrap?.({ error, nowUs: now, action, version: this.slot.version });
    } catch {
      this.stats.eventCallbackErrors++;
    }
    return safe;
  }

  /** The configured safe output (the slot's configuration, else the core's default, else 0). */
  private safeOutput(): number {
    const v = this.slot.config.safe_output;
    if (typeof v === 'number' && Number.isFinite(v)) return v;
    try {
      return this.core.paramRange('safe_output').default;
    } catch {
      return 0;
    }
  }

  /** The setpoint after the last good tick (kept here: a trapped core may not answer). */
  private goodSetpoint: number | null = null;

  /** The setpoint the trapped core had: the last good tick's, else the core's if it can still be read, else none. */
  private lastSetpoint(): number | null {
    if (this.goodSetpoint !== null) return this.goodSetpoint;
    try {
      const sp = this.core.setpoint;
      return Number.isFinite(sp) ? sp : null;
    } catch {
      return null;
    }
  }

  /**
   * The actuator command and the trip output, in the safe order both ways:
   * a trip de-energizes before the command is written; a release writes the
   * command (the core's bumpless one) before the energy comes back.
   */
  private drive(u: number, tripped: boolean, now: number): void {
    const b = this.opts.binding;
    if (tripped) {
      b.writeTrip(true, now);
      b.write(u, now);
    } else {
      b.write(u, now);
      b.writeTrip(false, now);
    }
  }

  /** The core's events of this tick: the trip's cause is kept for the telemetry; each goes to onCoreEvent (which cannot throw out of the tick). */
  private readEvents(now: number): void {
    for (const e of this.core.events()) {
      if (e.kind === 'trip_out') this.tripCause = e.tripped ? `${e.reason ?? ''}${e.stage ? `/${e.stage}` : ''}` : '';
      if (e.kind === 'invariant' && e.stage === null) this.stats.invariantFails++;
      try {
        this.opts.onCoreEvent?.(e, now);
      } catch {
        this.stats.eventCallbackErrors++;
      }
    }
    // A core swapped in starts untripped (its own init): no cause is left over from the one before.
    if (!this.core.tripped) this.tripCause = '';
  }

  /** Why the trip output is de-energized (`<cause>/<stage>`, CAUSES), '' while run is permitted. */
  private tripCause = '';

  /**
   * Take the reference as the setpoint, unless the core refuses it (outside
   * the sensors' range, or within the margin of the safety envelope: a
   * setpoint the guard would have to fight): then the last good setpoint
   * stays, and the refusal is counted, never thrown out of the tick.
   */
  private follow(reference: number, now: number): boolean {
    try {
      this.core.setSetpoint(reference, now);
      return true;
    } catch {
      this.stats.referenceRejected++;
      return false;
    }
  }

  /** Whether the loop follows its reference feed (false while held). */
  get followingReference(): boolean { return this.following; }

  private apply(c: AgentCommand, now: number): void {
    let status = 'ok';
    try {
      const core = this.core;
      switch (c.kind) {
        case 'setpoint': core.setSetpoint(c.value, now); this.following = false; break;
        case 'reset': {
          // The core releases only the latches whose condition is false now; the ack says how many, and what is left.
          const released = core.reset();
          const left = core.latchedCauses;
          status = `ok released ${released}${left.length ? `; still latched: ${left.join(',')}` : ''}`;
          break;
        }
        case 'hold':
          // With a reference feed: stop following it, keep the setpoint (the
          // loop sheds to a local setpoint). Without one: hold where it is.
          if (!this.hasFeed) core.setSetpoint(core.measurement, now);
          this.following = false;
          break;
        case 'release': this.following = true; break;
        case 'param': this.slot.configure({ [c.name]: c.value }); break;
        case 'deploy': {
          if (this.opts.fleetKey === undefined) throw new Error('this agent has no fleet key: deployments are refused');
          const version = this.slot.install(c.module, c.signature, this.opts.fleetKey, core.setpoint, now);
          status = `ok ${version}`;
          break;
        }
        case 'rollback': status = `ok ${this.slot.rollback(now)}`; break;
        case 'mode':
          // From the next tick: the fallback controller, the trip, or back to the guard's own choice.
          core.demand(c.value === 'release' ? 'none' : c.value);
          status = `ok demand ${c.value === 'release' ? 'none' : c.value}`;
          break;
        default: throw new Error(`no handler for '${(c as { kind: string }).kind}' commands on this agent`);
      }
      this.stats.commandsApplied++;
    } catch (err) {
      status = `rejected: ${(err as Error).message}`;
      this.stats.commandsRejected++;
    }
    this.acks.push(ack(c.id, status));
  }

  private will() {
    const o = this.opts;
    return {
      topic: nodeTopic(o.group, 'NDEATH', o.node),
      payload: Buffer.from(encodePayload({ timestamp: this.wall(), metrics: [{ name: 'bdSeq', type: 'Int64', value: this.bdSeq }] })),
      qos: 1 as const,
      retain: false,
    };
  }

  private onConnect(): void {
    const o = this.opts;
    this.online = true;
    this.born = false;
    const subs = [deviceTopic(o.group, 'DCMD', o.node, o.device), nodeTopic(o.group, 'NCMD', o.node)];
    if (o.primaryHost !== undefined) {
      // The host's STATE is retained: its current value arrives on subscribe.
      this.hostOnline = false;
      subs.push(stateTopic(o.primaryHost));
    }
    // The retained STATE may arrive before or after the SUBACK: whichever comes second does not birth again.
    this.client.subscribe(subs, { qos: 1 }, () => { if (this.hostOnline && !this.born) this.birth(); });
  }

  /** Births sent in this session (nothing else goes out before them). */
  private born = false;

  private get publishing(): boolean {
    return this.online && this.born && this.hostOnline && this.client.connected;
  }

  /** NBIRTH, DBIRTH, then the spool in order. */
  private birth(): void {
    const o = this.opts;
    this.born = true;
    this.seq.reset();
    const now = this.clock();
    this.send(nodeTopic(o.group, 'NBIRTH', o.node), this.wall(), [
      { name: 'bdSeq', type: 'Int64', value: this.bdSeq },
      { name: 'Node Control/Rebirth', type: 'Boolean', value: false },
    ]);
    this.send(deviceTopic(o.group, 'DBIRTH', o.node, o.device), this.wall(), this.birthMetrics(now));
    this.replay();
  }

  /**
   * Send the spool, oldest first, REPLAY_CHUNK samples at a time with the
   * event loop free in between (a full spool would otherwise hold the tick
   * back for hundreds of ms).
   */
  private replay(): void {
    const topic = deviceTopic(this.opts.group, 'DDATA', this.opts.node, this.opts.device);
    const end = Math.min(this.spool.length, this.spoolHead + REPLAY_CHUNK);
    while (this.spoolHead < end && this.publishing) {
      const s = this.spool[this.spoolHead++];
      this.sendData(topic, s);
      this.stats.replayed++;
    }
    if (this.spoolHead === this.spool.length) { this.spool.length = 0; this.spoolHead = 0; return; }
    if (this.publishing && !this.replayScheduled) {
      this.replayScheduled = true;
      setImmediate(() => { this.replayScheduled = false; if (this.publishing) this.replay(); });
    }
  }

  private replayScheduled = false;

  private metrics(now: number, u: number): Metric[] {
    const core = this.core;
    const cause = core.cause;
    return [
      { name: 'setpoint', type: 'Double', value: core.setpoint },
      { name: 'measurement', type: 'Double', value: core.measurement },
      { name: 'output', type: 'Double', value: u },
      { name: 'mode', type: 'String', value: core.mode },
      { name: 'cause', type: 'String', value: cause ? `${cause.monitor}/${cause.stage}` : '' },
      { name: 'tick_us', type: 'UInt64', value: now },
      { name: 'sample', type: 'UInt64', value: this.sample },
      { name: 'held', type: 'Boolean', value: !this.following },
      { name: 'core_version', type: 'String', value: this.slot.version },
      { name: 'trip', type: 'Boolean', value: this.trapped || core.tripped },
      { name: 'trip/cause', type: 'String', value: this.tripCause },
      { name: 'guard/status', type: 'Int32', value: core.raw.guard_status() },
      { name: 'guard/causes', type: 'String', value: core.causes.join(',') },
      { name: 'guard/latched', type: 'String', value: core.latchedCauses.join(',') },
      { name: 'predicted', type: 'Float', value: core.predicted },
      { name: 'watchdog/traps', type: 'UInt64', value: this.stats.traps },
      { name: 'core/invariant_fails', type: 'UInt64', value: this.stats.invariantFails },
    ];
  }

  /**
   * DBIRTH: every DDATA metric, each with its engineering unit when the
   * agent knows them, the envelope, the meaning of the guard's status bits,
   * what this loop depends on, the command acknowledgement and the
   * device's rebirth control.
   */
  private birthMetrics(now: number): Metric[] {
    const o = this.opts;
    const unit = (m: Metric, which: 'measurement' | 'command'): Metric =>
      o.units ? { ...m, properties: { ...m.properties, engUnit: { type: 'String', value: o.units[which] } } } : m;
    const measured = new Set(['setpoint', 'measurement', 'predicted']);
    const metrics = this.metrics(now, this.core.output).map((m) => {
      if (measured.has(m.name)) return unit(m, 'measurement');
      if (m.name === 'output') return unit(m, 'command');
      if (m.name === 'guard/status') return { ...m, properties: { bits: { type: 'String' as const, value: GUARD_BITS } } };
      return m;
    });
    this.reportedEnvelope = this.envelope();
    return [
      ...metrics,
      ...this.envelopeMetrics().map((m) => unit(m, 'measurement')),
      { name: 'depends_on', type: 'String', value: (o.dependsOn ?? []).join(',') },
      // Every metric the device will publish is declared here (Sparkplug B): the answers to commands,
      // which ride on DDATA, and the rebirth a host may write.
      { name: 'command/ack', type: 'String', value: '' },
      { name: DEVICE_REBIRTH, type: 'Boolean', value: false },
    ];
  }

  /** The running core's safety envelope (env_min, env_max), engineering units. */
  private envelope(): string {
    return `${this.core.param('env_min')},${this.core.param('env_max')}`;
  }

  private envelopeMetrics(): Metric[] {
    return [
      { name: 'envelope/min', type: 'Double', value: this.core.param('env_min') },
      { name: 'envelope/max', type: 'Double', value: this.core.param('env_max') },
    ];
  }

  /** The envelope as last announced (DBIRTH, or a DDATA after a parameter changed it). */
  private reportedEnvelope = '';

  private report(now: number, u: number): void {
    // The envelope rides on DDATA only when it changed (a command/param), as Sparkplug reports by exception.
    const envelope = this.envelope();
    const changed = envelope !== this.reportedEnvelope && this.born ? this.envelopeMetrics() : [];
    if (changed.length) this.reportedEnvelope = envelope;
    // A bounded number of acks per sample; the rest go with the next one.
    const metrics = [...this.metrics(now, u), ...changed, ...this.acks.splice(0, ACKS_PER_SAMPLE)];
    this.sample++;
    const timestamp = this.wall();
    if (this.publishing && this.spoolHead === this.spool.length) {
      this.sendData(deviceTopic(this.opts.group, 'DDATA', this.opts.node, this.opts.device), { timestamp, metrics });
      return;
    }
    this.spool.push({ timestamp, metrics });
    this.stats.spooled++;
    if (this.spool.length - this.spoolHead > (this.opts.spoolMax ?? 36_000)) { this.spoolHead++; this.stats.spoolDropped++; }
    if (this.spoolHead > 4096 && this.spoolHead * 2 > this.spool.length) { this.spool.splice(0, this.spoolHead); this.spoolHead = 0; }
    if (this.publishing) this.replay();
  }

  /** Samples waiting in the spool. */
  get spoolLength(): number { return this.spool.length - this.spoolHead; }

  /** Commands received and waiting for the next tick. */
  get inboxLength(): number { return this.inbox.length; }

  /** A sample as DDATA; at QoS 0 it is kept for the resend window (by when it was sent, on the agent's clock). */
  private sendData(topic: string, sample: SpooledSample): void {
    this.send(topic, sample.timestamp, sample.metrics);
    if ((this.opts.dataQos ?? 0) !== 0) return;
    const now = this.clock();
    this.recent.push({ sample, sentUs: now });
    const windowUs = (2 * (this.opts.keepaliveS ?? 5) + 1) * 1e6;
    let drop = 0;
    while (drop < this.recent.length && (this.recent[drop].sentUs < now - windowUs || this.recent.length - drop > RESEND_MAX)) drop++;
    if (drop) this.recent.splice(0, drop);
  }

  /** What went out at QoS 0 lately may never have arrived: send it again, ahead of the spool. */
  private requeueRecent(): void {
    this.spool.splice(this.spoolHead, 0, ...this.recent.map((r) => r.sample));
    this.stats.resent += this.recent.length;
    this.recent = [];
  }

  private send(topic: string, timestamp: number, metrics: Metric[]): void {
    let payload: Uint8Array;
    try {
      payload = encodePayload({ timestamp, seq: this.seq.peek(), metrics });
    } catch (err) {
      // Never out of the tick: a payload that cannot be encoded is counted and dropped.
      this.stats.encodeErrors++;
      this.lastEncodeError = (err as Error).message;
      return;
    }
    this.seq.next();
    this.client.publish(topic, Buffer.from(payload), { qos: this.opts.dataQos ?? 0 });
    this.stats.published++;
  }

  /** Why the last payload could not be encoded, if one could not. */
  lastEncodeError: string | null = null;

  private onMessage(topic: string, payload: Buffer): void {
    if (topic.startsWith('spBv1.0/STATE/')) {
      this.onHostState(payload);
      return;
    }
    let p: Payload;
    try {
      p = decodePayload(payload);
    } catch {
      this.stats.commandsRejected++;   // no payload, no id: nothing to acknowledge
      return;
    }
    if (topic.includes('/NCMD/')) {
      if (p.metrics.some((m) => m.name === 'Node Control/Rebirth' && m.value === true)) { if (this.publishing) this.birth(); }
      else this.stats.commandsRejected++;
      return;
    }
    // A host asks for this device's births again: the node's with them (a DBIRTH needs its NBIRTH's session and seq).
    if (p.metrics.length === 1 && p.metrics[0].name === DEVICE_REBIRTH) {
      if (p.metrics[0].value === true && this.publishing) this.birth(); else if (p.metrics[0].value !== true) this.stats.commandsRejected++;
      return;
    }
    try {
      if (this.inbox.length >= (this.opts.inboxMax ?? 64)) {
        this.stats.inboxDropped++;
        // Not taken in, but answered: its sender learns it must send it again.
        const id = commandIdOf(p);
        if (id !== null && this.acks.length < ACKS_PENDING_MAX) this.acks.push(ack(id, `rejected: the agent's command inbox is full (${this.opts.inboxMax ?? 64} waiting); send it again`));
        return;
      }
      this.inbox.push(parseCommand(p));
    } catch (err) {
      this.stats.commandsRejected++;
      // A usable id gets its answer (docs/host.md): rejected, and why; bounded, so a flood cannot grow it.
      // A host's tag write without an id is answered under the metric's name.
      const id = commandIdOf(p) ?? (isHostWrite(p) ? 'setpoint' : null);
      if (id !== null && this.acks.length < ACKS_PENDING_MAX) {
        this.acks.push(ack(id, `rejected: ${(err as Error).message}`));
      }
    }
  }

  /** The primary host's STATE (Sparkplug 3.0: JSON {online, timestamp}). */
  private onHostState(payload: Buffer): void {
    let online: boolean;
    try {
      const s = JSON.parse(payload.toString('utf8')) as { online?: unknown } | null;
      if (typeof s !== 'object' || s === null || typeof s.online !== 'boolean') throw new Error('expected {"online": true|false, ...}');
      online = s.online;
    } catch {
      this.stats.stateRejected++;
      return;
    }
    const was = this.hostOnline;
    this.hostOnline = online;
    if (online && !was && this.online && !this.born) this.birth();
    // The host went away: what it may not have taken in goes out again, after new births, once it is back.
    if (!online && was) { this.born = false; this.requeueRecent(); }
  }

  /**
   * Stop the loop and leave: a clean disconnect makes the broker drop the
   * Will, so the agent publishes its NDEATH itself first (Sparkplug B), and
   * the coordinator sees it go. Never waits on a broker that is not there.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    this.login.stop();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.client.connected) {
      const w = this.will();
      const death = this.client.publishAsync(w.topic, w.payload, { qos: 1 });
      await Promise.race([death.catch(() => {}), new Promise((r) => setTimeout(r, 2000))]);
      await Promise.race([this.client.endAsync(), new Promise((r) => setTimeout(r, 2000))]);
    }
    if (!this.client.disconnected) await this.client.endAsync(true);
    this.slot.dispose();
  }

  /** For tests: drop the connection without a clean disconnect (the Will fires). */
  kill(): void {
    this.stopping = true;
    setImmediate(() => this.slot.dispose());
    this.login.stop();
    if (this.timer) clearTimeout(this.timer);
    this.client.stream.destroy();
    this.client.end(true);
  }

  get modeName(): string { return MODES[this.core.raw.mode()]; }
}
