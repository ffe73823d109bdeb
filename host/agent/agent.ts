// An agent: one core instance closing one loop through its I/O binding, at
// its own pace, and reporting over MQTT as a Sparkplug B edge node with one
// device. The network is never in the control path: the loop ticks whether
// or not the broker is there. The agent is in rooms, one concern each:
//
//   pacing.ts    the tick's schedule (the core's interval, late ticks counted)
//   session.ts   the Sparkplug session: connection, Will, bdSeq, births, seq, STATE, rebirths
//   spool.ts     samples kept while the agent cannot publish, replayed as history
//   commands.ts  the inbox of checked commands, applied in the tick, each answered
//   report.ts    what DBIRTH declares and what each DDATA carries (fixed rate or by exception)
//   core-slot.ts the running core, deployments, rollbacks and recovery after a trap
//
// and this file ties them to the loop: read, compute, write, report.

import { readKept, writeKept } from './kept-number.js';
import { isolatedCore } from '../runtime/engines/isolated.js';
import { compileCoreModule, type Core, type CoreEvent } from '../runtime/core.js';
import { CoreSlot, type CoreConfig } from './core-slot.js';
import type { KeyInput } from '../deploy/signing.js';
import type { IoBinding } from '../io/binding.js';
import { MODES, type ParamName } from '../runtime/abi.js';
import type { Metric } from '../mqtt/codec.js';
import { DEVICE_REBIRTH, type ModeDemand } from '../mqtt/commands.js';
import { Pacer } from './pacing.js';
import { SparkplugSession } from './session.js';
import { Spool, type Sample } from './spool.js';
import { CommandDesk, type CommandTarget } from './commands.js';
import { COMMAND_METRICS, declare, Exceptions, paramMetrics, stamped, type ExceptionOptions } from './report.js';

export { RESEND_MAX } from './spool.js';
export type { ExceptionOptions } from './report.js';

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
  /**
   * A file that keeps the last session's bdSeq across restarts, so that a
   * restarted or replacement agent never reuses it (a late Will of the old
   * session cannot kill the new one at a host). Without it each process
   * starts at bdSeq 0. Read at start (an unreadable one is an error naming it).
   */
  bdSeqFile?: string;
  /** MQTT client id (default `edgeloop-<group>-<node>`, the same for every session of the node). */
  clientId?: string;
  /** Another process took this node over (its bdSeq file moved on): this agent stops connecting; the loop keeps ticking and spooling. */
  onSuperseded?: (message: string) => void;
  /**
   * Report by exception instead of every metric every tick: a metric goes
   * when it moved past its deadband (engineering units) since it was last
   * reported, everything at least every maxIntervalMs (default 10 s).
   */
  reportByException?: ExceptionOptions;
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
  /** Samples that went out shortly before a connection dropped and had been sent again once already: not sent a third time (they may not have arrived). */
  notResent: number;
  commandsApplied: number;
  commandsRejected: number;
  inboxDropped: number;
  /** Payloads that could not be encoded (never expected; counted, never thrown out of a tick). */
  encodeErrors: number;
  /** Inbound STATE messages that were not {online: boolean, timestamp: number} (ignored: the host's state stays as it was). */
  stateRejected: number;
  /** Inbound STATE messages older than one already seen (ignored, as Sparkplug 3.0 asks). */
  stateStale: number;
  /** Samples not sent because nothing moved past its deadband (report by exception). */
  unchanged: number;
  /** bdSeq file writes that failed after the start (the bdSeq is kept in memory; tried again next session). */
  bdSeqWriteErrors: number;
  /** Births that could not be made (the device's metrics could not be read): none sent; a rebirth request or the next session tries again. */
  birthErrors: number;
  /** Command answers dropped because ACKS_PENDING_MAX were waiting already (a flood). */
  acksDropped: number;
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

/** The highest release kept in `file`: 0 when there is none yet; an Error naming the file when it is not one. */
export function readReleaseFloor(file: string): number {
  return readKept(file, 'release', 0, Number.MAX_SAFE_INTEGER) ?? 0;
}

/** An isolated core's calls must answer within this (a tick takes microseconds), ms. */
export const ISOLATE_DEADLINE_MS = 1000;

export class Agent {
  readonly stats: AgentStats = { ticks: 0, lateTicks: 0, published: 0, spooled: 0, replayed: 0, spoolDropped: 0, resent: 0, notResent: 0, commandsApplied: 0, commandsRejected: 0, inboxDropped: 0, encodeErrors: 0, stateRejected: 0, stateStale: 0, unchanged: 0, bdSeqWriteErrors: 0, birthErrors: 0, acksDropped: 0, referenceRejected: 0, eventCallbackErrors: 0, traps: 0, invariantFails: 0, recoverFailures: 0, loginRefused: 0, tickErrors: 0 };
  private readonly session: SparkplugSession;
  private readonly spool: Spool;
  private readonly desk: CommandDesk;
  private readonly pacer: Pacer;
  private readonly exceptions: Exceptions | null;
  private sample = 0;
  private following = true;
  private hasFeed = false;
  private nextRefreshUs = 0;
  private readonly clock: () => number;
  private readonly wall: () => number;
  private readonly slot: CoreSlot;

  constructor(private readonly opts: AgentOptions) {
    this.clock = opts.clockUs ?? (() => Math.round(performance.now() * 1000));
    this.wall = opts.wallMs ?? Date.now;
    this.slot = this.makeSlot(opts);
    if (opts.releaseFile) {
      const file = opts.releaseFile;
      this.slot.keepFloor(readReleaseFloor(file), (release) => writeKept(file, release));
    }
    const keepaliveS = opts.keepaliveS ?? 5;
    // At QoS 1 the MQTT session resends: nothing is kept for a resend here.
    this.spool = new Spool(this.stats, opts.spoolMax ?? 36_000, (2 * keepaliveS + 1) * 1e6, this.clock, (opts.dataQos ?? 0) === 0);
    this.desk = new CommandDesk(this.stats, opts.inboxMax ?? 64);
    this.pacer = new Pacer(this.clock, () => this.core.nextIntervalUs, () => { this.stats.lateTicks++; });
    this.exceptions = opts.reportByException ? new Exceptions(opts.reportByException) : null;
    this.session = new SparkplugSession({
      group: opts.group, node: opts.node, device: opts.device, broker: opts.broker, username: opts.username, password: opts.password,
      keepaliveS, dataQos: opts.dataQos ?? 0, primaryHost: opts.primaryHost, clientId: opts.clientId, bdSeqFile: opts.bdSeqFile, wallMs: this.wall,
    }, this.stats, {
      deviceBirth: () => this.birthMetrics(),
      born: () => this.replaySpool(),
      // What went out at QoS 0 lately may never have arrived: sent again (as history) after the next births.
      lost: () => this.spool.requeueRecent(),
      command: (p) => this.desk.intake(p),
      loginRefused: (refusal) => this.opts.onLoginRefused?.(refusal),
      superseded: (message) => this.opts.onSuperseded?.(message),
    });
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
  get loginRefusal(): string | null { return this.session.loginRefusal; }

  /** The running core (a deployment replaces it). */
  get core(): Core { return this.slot.core; }
  /** The running core's version: its module's sha256 prefix, or 'builtin'. */
  get coreVersion(): string { return this.slot.version; }
  /** The bdSeq of the current MQTT session (its Will and NBIRTH). */
  get bdSeq(): number { return this.session.currentBdSeq; }

  /** Tick the loop on the core's own schedule. */
  start(): void {
    this.pacer.start(() => this.tick());
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
    if (this.desk.drain(this.target, now)) {
      this.paramsDirty = true;
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

  /** What each command does to this loop (the desk applies them in the tick). */
  private readonly target: CommandTarget = {
    setpoint: (value, now) => { this.core.setSetpoint(value, now); this.following = false; },
    reset: () => {
      // The core releases only the latches whose condition is false now; the ack says how many, and what is left.
      const released = this.core.reset();
      const left = this.core.latchedCauses;
      return `released ${released}${left.length ? `; still latched: ${left.join(',')}` : ''}`;
    },
    hold: (now) => {
      // With a reference feed: stop following it, keep the setpoint (the
      // loop sheds to a local setpoint). Without one: hold where it is.
      if (!this.hasFeed) this.core.setSetpoint(this.core.measurement, now);
      this.following = false;
    },
    release: () => { this.following = true; },
    param: (name: ParamName, value) => { this.slot.configure({ [name]: value }); },
    deploy: (module, signature, now) => {
      if (this.opts.fleetKey === undefined) throw new Error('this agent has no fleet key: deployments are refused');
      return this.slot.install(module, signature, this.opts.fleetKey, this.core.setpoint, now);
    },
    rollback: (now) => this.slot.rollback(now),
    mode: (demand: ModeDemand) => {
      // From the next tick: the fallback controller, the trip, or back to the guard's own choice.
      const d = demand === 'release' ? 'none' : demand;
      this.core.demand(d);
      return `demand ${d}`;
    },
  };

  private metrics(now: number, u: number, timestamp: number): Metric[] {
    const core = this.core;
    const cause = core.cause;
    return [
      { name: 'setpoint', type: 'Double', value: core.setpoint, timestamp },
      { name: 'measurement', type: 'Double', value: core.measurement, timestamp },
      { name: 'output', type: 'Double', value: u, timestamp },
      { name: 'mode', type: 'String', value: core.mode, timestamp },
      { name: 'cause', type: 'String', value: cause ? `${cause.monitor}/${cause.stage}` : '', timestamp },
      { name: 'tick_us', type: 'UInt64', value: now, timestamp },
      { name: 'sample', type: 'UInt64', value: this.sample, timestamp },
      { name: 'held', type: 'Boolean', value: !this.following, timestamp },
      { name: 'core_version', type: 'String', value: this.slot.version, timestamp },
      { name: 'trip', type: 'Boolean', value: this.trapped || core.tripped, timestamp },
      { name: 'trip/cause', type: 'String', value: this.tripCause, timestamp },
      { name: 'guard/status', type: 'Int32', value: core.raw.guard_status(), timestamp },
      { name: 'guard/causes', type: 'String', value: core.causes.join(','), timestamp },
      { name: 'guard/latched', type: 'String', value: core.latchedCauses.join(','), timestamp },
      { name: 'predicted', type: 'Float', value: core.predicted, timestamp },
      { name: 'watchdog/traps', type: 'UInt64', value: this.stats.traps, timestamp },
      { name: 'core/invariant_fails', type: 'UInt64', value: this.stats.invariantFails, timestamp },
    ];
  }

  /**
   * DBIRTH: every metric the device will publish, each with its datatype,
   * description, engineering unit (when the agent knows them) and whether a
   * host may write it: the sample's metrics, the envelope, the core's
   * parameters, what this loop depends on, the command acknowledgement, the
   * guard's reset and the device's rebirth control.
   */
  private birthMetrics(): Metric[] {
    const o = this.opts;
    const now = this.clock();
    const timestamp = this.wall();
    const sample = this.metrics(now, this.core.output, timestamp);
    this.exceptions?.reported(sample, now);
    const params = this.readParams();
    this.reportedParams = new Map(params.map((m) => [m.name, m.value]));
    this.paramsDirty = false;
    return stamped([
      ...sample,
      ...this.envelopeMetrics(),
      ...params,
      { name: 'depends_on', type: 'String', value: (o.dependsOn ?? []).join(',') },
      // Answers to commands ride on DDATA: declared here, as everything DDATA carries.
      { name: 'command/ack', type: 'String', value: '' },
      { name: 'guard/reset', type: 'Boolean', value: false },
      { name: DEVICE_REBIRTH, type: 'Boolean', value: false },
      // What a DCMD may carry (Sparkplug: a command writes metrics its device's birth declared).
      ...COMMAND_METRICS.map((m) => (m.name === 'command/setpoint' ? { ...m, value: this.core.setpoint } : m)),
    ].map((m) => declare(m as Metric, o.units)), timestamp);
  }

  private envelopeMetrics(): Metric[] {
    return [
      { name: 'envelope/min', type: 'Double', value: this.core.param('env_min') },
      { name: 'envelope/max', type: 'Double', value: this.core.param('env_max') },
    ];
  }

  /** The core's parameters as metrics; none when the core cannot be asked (a trapped one). */
  private readParams(): Metric[] {
    try {
      return paramMetrics(this.core);
    } catch {
      return [];
    }
  }

  /** Parameters as last announced (DBIRTH, or a DDATA after a change), by metric name. */
  private reportedParams = new Map<string, Metric['value']>();
  /** A command or a core swap may have changed parameters: compare them at the next report. */
  private paramsDirty = false;

  /** Parameters (and the envelope) that changed since they were announced: they ride on the next DDATA, by exception. */
  private changedParams(): Metric[] {
    if (!this.paramsDirty) return [];
    this.paramsDirty = false;
    const changed = this.readParams().filter((m) => this.reportedParams.get(m.name) !== m.value);
    for (const m of changed) this.reportedParams.set(m.name, m.value);
    const envelope = changed.some((m) => m.name === 'param/env_min' || m.name === 'param/env_max') ? this.envelopeMetrics() : [];
    return [...changed, ...envelope];
  }

  private report(now: number, u: number): void {
    // Every metric of the sample carries the sample's time (built so, not copied).
    const timestamp = this.wall();
    const all = this.metrics(now, u, timestamp);
    const picked = this.exceptions ? this.exceptions.filter(all, now) : all;
    const extra = stamped([...this.changedParams(), ...this.desk.takeAcks()], timestamp);
    this.sample++;
    if (picked === null && !extra.length) { this.stats.unchanged++; return; }
    const base = picked ?? all.filter((m) => m.name === 'sample' || m.name === 'tick_us');
    const sample: Sample = { timestamp, metrics: extra.length ? [...base, ...extra] : base };
    if (this.session.publishing && this.spool.length === 0) {
      if (this.session.send(this.session.dataTopic, timestamp, sample.metrics)) this.spool.sentLive(sample);
      return;
    }
    // Spooled, a sample goes whole: replayed as history after the next births, it cannot lean on values reported before them.
    this.spool.push(picked === all ? sample : { timestamp, metrics: [...all, ...extra] });
    if (this.session.publishing) this.replaySpool();
  }

  /** The spool as history, while the session publishes and its socket keeps up. */
  private replaySpool(): void {
    this.spool.replay((s) => { this.session.send(this.session.dataTopic, s.timestamp, s.metrics); }, () => this.session.publishing, () => this.session.congested);
  }

  /** Samples waiting in the spool. */
  get spoolLength(): number { return this.spool.length; }

  /** Commands received and waiting for the next tick. */
  get inboxLength(): number { return this.desk.waiting; }

  /** Why the last payload could not be encoded, if one could not. */
  get lastEncodeError(): string | null { return this.session.lastEncodeError; }

  /**
   * Stop the loop and leave: a clean disconnect makes the broker drop the
   * Will, so the agent publishes its NDEATH itself first (Sparkplug B), and
   * the coordinator sees it go. Never waits on a broker that is not there.
   */
  async stop(): Promise<void> {
    this.pacer.stop();
    await this.session.stop();
    this.slot.dispose();
  }

  /** For tests: drop the connection without a clean disconnect (the Will fires). */
  kill(): void {
    this.pacer.stop();
    setImmediate(() => this.slot.dispose());
    this.session.kill();
  }

  get modeName(): string { return MODES[this.core.raw.mode()]; }
}
