// `edgeloop command <group/node/device> <action> [value]`: one operator
// command to one loop, as the Sparkplug DCMD the agent already takes
// (host/mqtt/commands.ts), sent through the broker with an operator's
// log-in; then the agent's acknowledgement, in one line, and an exit code
// that says what became of it.
//
// The command goes out only once the agent has been seen (a DBIRTH or a
// DDATA on the live subscription): Sparkplug hosts command devices that are
// online, and "nothing was sent" is the clear answer for one that is not.
// The acknowledgement rides on the agent's DDATA (`command/ack`, "<id> ok
// ..." or "<id> rejected: <why>"), beside the loop's mode after it.
//
// CommandLink is the MQTT side, shared by the CLI (one connection, one
// command, no retries) and the dashboard's operator log-in (one connection
// kept open, commands from several operators). Its MQTT callbacks only put
// messages into a bounded inbox; the waits drain it at their own pace.

import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { InvalidArgumentError, type Command } from 'commander';
import mqtt, { type MqttClient } from 'mqtt';
import { decodePayload, encodePayload, type Metric } from '../mqtt/codec.js';
import { loadUsersFile } from '../mqtt/acl.js';
import { encodeCommand, parseCommand, type CommandBody, type ModeDemand } from '../mqtt/commands.js';
import { LoginWatch, loginRefusal } from '../mqtt/refusal.js';
import { checkId, deviceTopic, nodeTopic, noDelay, parseTopic } from '../mqtt/topics.js';
import type { DashboardOperators, OperatorAnswer } from '../telemetry/dashboard.js';

type Print = (line: string) => void;

/** What an operator may ask of a loop. */
export const OPERATOR_ACTIONS = ['setpoint', 'reset', 'hold', 'release', 'mode'] as const;
export type OperatorAction = (typeof OPERATOR_ACTIONS)[number];
/** What `mode` takes: the fallback controller, the trip, or none (the guard's own choice again: the agent's `command/mode release`). */
export const MODE_CHOICES = ['fallback', 'trip', 'none'] as const;
export type ModeChoice = (typeof MODE_CHOICES)[number];

export const COMMAND_EXIT = { accepted: 0, error: 1, rejected: 3, noAck: 4 } as const;

/** --timeout: default, bounds (s). */
export const TIMEOUT_DEFAULT_S = 5;
export const TIMEOUT_MIN_S = 0.1;
export const TIMEOUT_MAX_S = 600;
/** The environment variable a password may come from (not visible in `ps`, unlike --password). */
export const PASSWORD_ENV = 'EDGELOOP_PASSWORD';
/** A password file is read up to this many bytes (the broker's passwords are at most 1024 characters). */
const PASSWORD_FILE_MAX_BYTES = 4096;
/** Messages waiting for a drain, at most (a link subscribes to its targets only: about ten a second each). */
const INBOX_MAX = 1000;
/** How often a wait drains the inbox, ms. */
const DRAIN_MS = 20;

/** A bad argument: names it, says what was expected and what arrived. */
export class CommandArgError extends Error {
  constructor(readonly field: string, expected: string, received: unknown) {
    super(`${field}: expected ${expected}, got ${received === undefined ? 'nothing' : `'${String(received).slice(0, 80)}'`}`);
    this.name = 'CommandArgError';
  }
}

/** The broker could not be used: unreachable, the log-in refused, or a subscription the ACL refused. */
export class LinkError extends Error {
  constructor(readonly kind: 'unreachable' | 'login' | 'not-allowed', message: string) {
    super(message);
    this.name = 'LinkError';
  }
}

export interface OperatorRequest {
  group: string;
  node: string;
  device: string;
  /** group/node/device */
  key: string;
  action: OperatorAction;
  /** The command in words: 'setpoint 70', 'mode none', 'reset'. */
  text: string;
  /** The DCMD's command metric (beside its command/id). */
  metric: Metric;
}

const DECIMAL = /^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

/** `<group/node/device> <action> [value]` as a DCMD, checked here and by the agent's own parser before anything is sent. */
export function parseOperatorRequest(target: string, action: string, value: string | undefined): OperatorRequest {
  const parts = typeof target === 'string' ? target.split('/') : [];
  const ids = ['group_id', 'edge_node_id', 'device_id'];
  if (parts.length !== 3 || parts.some((p, i) => { try { checkId(ids[i], p); return false; } catch { return true; } })) {
    throw new CommandArgError('<group/node/device>', "the loop as group/node/device, each a non-empty MQTT topic level without '/', '+' or '#'", target);
  }
  const [group, node, device] = parts;
  let body: CommandBody;
  switch (action) {
    case 'setpoint': {
      if (value === undefined || !DECIMAL.test(value.trim()) || !Number.isFinite(Number(value))) {
        throw new CommandArgError('value', "the new setpoint after 'setpoint', a decimal number in the loop's units", value);
      }
      body = { kind: 'setpoint', value: Number(value) };
      break;
    }
    case 'mode':
      if (!(MODE_CHOICES as readonly unknown[]).includes(value)) throw new CommandArgError('value', `one of ${MODE_CHOICES.join(', ')} after 'mode'`, value);
      body = { kind: 'mode', value: value === 'none' ? 'release' : value as ModeDemand };
      break;
    case 'reset': case 'hold': case 'release':
      if (value !== undefined) throw new CommandArgError('value', `nothing after '${action}'`, value);
      body = { kind: action };
      break;
    default: throw new CommandArgError('<action>', `one of ${OPERATOR_ACTIONS.join(', ')}`, action);
  }
  // The one encoding the agent's parser reads (host/mqtt/commands.ts).
  const metric: Metric = encodeCommand(body)[0];
  // The agent's parser, here first: a command it would refuse is never sent.
  parseCommand({ timestamp: Date.now(), metrics: [{ name: 'command/id', type: 'String', value: 'check' }, metric] });
  const text = action === 'setpoint' ? `setpoint ${Number(value)}` : action === 'mode' ? `mode ${value}` : action;
  return { group, node, device, key: `${group}/${node}/${device}`, action, text, metric };
}

/** --timeout <s>, for commander (an InvalidArgumentError exits 1, as main.ts's numberArg does). */
export function timeoutArg(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < TIMEOUT_MIN_S || n > TIMEOUT_MAX_S) {
    throw new InvalidArgumentError(`--timeout must be a number of seconds in [${TIMEOUT_MIN_S}, ${TIMEOUT_MAX_S}], got '${value}'`);
  }
  return n;
}

/** --broker <url>: mqtt://, mqtts://, ws://, wss:// or tcp://. */
function checkBroker(value: string): string {
  let u: URL;
  try { u = new URL(value); } catch { throw new CommandArgError('--broker', 'a URL such as mqtt://127.0.0.1:1883', value); }
  if (!['mqtt:', 'mqtts:', 'ws:', 'wss:', 'tcp:'].includes(u.protocol)) throw new CommandArgError('--broker', 'a URL with mqtt://, mqtts://, ws:// or wss://', value);
  return value;
}

export interface PasswordSources {
  username?: string;
  password?: string;
  passwordFile?: string;
}

/**
 * The password: --password-file, else --password, else EDGELOOP_PASSWORD
 * (only with a --username: a variable left in a shell does not turn an
 * anonymous command into a log-in). Undefined without a username.
 */
export function resolvePassword(o: PasswordSources, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (o.password !== undefined && o.passwordFile !== undefined) throw new CommandArgError('--password', 'either --password or --password-file, not both', '(both given)');
  if (o.username === undefined) {
    if (o.password !== undefined || o.passwordFile !== undefined) throw new CommandArgError('--username', "the operator's username alongside a password", undefined);
    return undefined;
  }
  if (o.passwordFile !== undefined) return readPasswordFile(o.passwordFile);
  if (o.password !== undefined) return o.password;
  const fromEnv = env[PASSWORD_ENV];
  if (fromEnv) return fromEnv;
  throw new CommandArgError('password', `one for user '${o.username}': --password-file <file>, ${PASSWORD_ENV}, or --password`, undefined);
}

/** The first line of a password file (a trailing newline is not part of the password). */
function readPasswordFile(path: string): string {
  let text: string;
  try {
    const bytes = readFileSync(path);
    if (bytes.length > PASSWORD_FILE_MAX_BYTES) throw new CommandArgError('--password-file', `a file of at most ${PASSWORD_FILE_MAX_BYTES} bytes`, `${path} (${bytes.length} bytes)`);
    text = bytes.toString('utf8');
  } catch (err) {
    if (err instanceof CommandArgError) throw err;
    throw new CommandArgError('--password-file', 'a readable file holding the password', `${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const password = text.split(/\r?\n/)[0];
  if (password === '') throw new CommandArgError('--password-file', 'the password on its first line', `${path} (empty)`);
  return password;
}

/** How the agent looked while the link waited: its data or a birth seen, a death seen last, or nothing at all. */
export type AgentSeen = 'online' | 'offline' | 'unseen';

/** What became of a command. */
export interface CommandOutcome {
  result: 'accepted' | 'rejected' | 'no-ack';
  key: string;
  command: string;
  /** The DCMD's command/id; null when nothing was sent. */
  id: string | null;
  /** The acknowledgement's status ('ok ...' or 'rejected: ...'); '' without one. */
  status: string;
  /** The loop as the DDATA carrying the acknowledgement reported it (null without one). */
  mode: string | null;
  setpoint: number | null;
  held: boolean | null;
  agent: AgentSeen;
  /** The outcome in one line, for a person. */
  line: string;
}

/** A loop commands are waiting on: its topics, how many commands share them, and what was seen of it. */
interface Watch { topics: string[]; users: number; seen: AgentSeen; how: string; subscribed: Promise<void> }
interface Ack { status: string; mode: string | null; setpoint: number | null; held: boolean | null }

export interface CommandLinkOptions {
  broker: string;
  username?: string;
  password?: string;
  /** Keep the connection and reconnect (the dashboard); without it the first failure is final (the CLI). */
  persistent?: boolean;
  /** Each distinct log-in refusal, once (persistent links retry every 5 s meanwhile). */
  onLoginRefused?: (refusal: string) => void;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const nowMs = () => performance.now();

/** `p`, or the error `late()` makes if the deadline (performance.now()) comes first; no timer is left behind either way. */
function beforeDeadline<T>(p: Promise<T>, deadlineMs: number, late: () => Error): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expiry = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(late()), Math.max(0, deadlineMs - nowMs())); });
  return Promise.race([p, expiry]).finally(() => clearTimeout(timer));
}

/** An MQTT connection that sends operator commands and waits for their acknowledgements. */
export class CommandLink {
  private readonly client: MqttClient;
  private readonly inbox: { topic: string; payload: Buffer }[] = [];
  private readonly watches = new Map<string, Watch>();
  /** Commands sent and not yet answered: id -> the target's key and its ack once it came. */
  private readonly pending = new Map<string, { key: string; ack: Ack | null }>();
  private readonly login: LoginWatch;
  private failure: LinkError | null = null;
  private connectedOnce = false;
  /** Messages dropped because the inbox was full (counted). */
  inboxDropped = 0;

  constructor(private readonly o: CommandLinkOptions) {
    this.client = mqtt.connect(o.broker, {
      clean: true,
      clientId: `edgeloop-command-${randomBytes(6).toString('hex')}`,
      username: o.username,
      password: o.password,
      reconnectPeriod: o.persistent ? 1000 : 0,
      connectTimeout: 5000,
      // A command that cannot go now is refused, never held and sent when the link comes back.
      queueQoSZero: false,
    });
    this.client.on('connect', () => {
      noDelay(this.client);
      this.connectedOnce = true;
      this.failure = null;
      // A clean session forgets subscriptions: what is being waited on is subscribed again.
      const topics = [...this.watches.values()].flatMap((w) => w.topics);
      if (topics.length) this.client.subscribe(topics, { qos: 1 });
    });
    this.client.on('error', (err) => {
      const refusal = loginRefusal(err);
      const code = (err as NodeJS.ErrnoException).code;
      this.failure = refusal !== null ? new LinkError('login', refusal)
        : new LinkError('unreachable', `cannot reach the broker at ${o.broker} (${typeof code === 'string' ? code : err.message})`);
    });
    this.client.on('close', () => {
      if (o.persistent || this.failure) return;
      this.failure = new LinkError('unreachable', this.connectedOnce ? `the connection to ${o.broker} dropped` : `the broker at ${o.broker} closed the connection`);
    });
    this.client.on('message', (topic, payload) => {
      if (this.inbox.length >= INBOX_MAX) { this.inboxDropped++; return; }
      this.inbox.push({ topic, payload });
    });
    this.login = new LoginWatch(this.client, (r) => o.onLoginRefused?.(r));
    if (!o.persistent) this.login.stop();
  }

  /** Connected, or a LinkError: the failure (at once, without retries), or no connection by the deadline. */
  async ready(deadlineMs: number): Promise<void> {
    while (!this.client.connected) {
      if (this.failure && !(this.o.persistent && this.failure.kind === 'unreachable')) throw this.failure;
      if (nowMs() >= deadlineMs) throw this.failure ?? new LinkError('unreachable', `no connection to the broker at ${this.o.broker} in time`);
      await sleep(DRAIN_MS);
    }
  }

  /**
   * Send one command once its agent is seen and wait for the
   * acknowledgement; all within `timeoutMs`, the connection included. A
   * LinkError means nothing was sent.
   */
  async command(req: OperatorRequest, timeoutMs: number): Promise<CommandOutcome> {
    const deadline = nowMs() + timeoutMs;
    await this.ready(deadline);
    const watch = await this.watch(req, deadline);
    let id: string | null = null;
    try {
      while (watch.seen !== 'online' && nowMs() < deadline) await this.pause(true);
      if (watch.seen !== 'online') return outcome(req, timeoutMs, { id, ack: null, watch });
      if (!this.client.connected) throw this.failure ?? new LinkError('unreachable', `the connection to ${this.o.broker} dropped`);
      id = `op-${randomBytes(8).toString('hex')}`;
      const sent = { key: req.key, ack: null as Ack | null };
      this.pending.set(id, sent);
      const metrics: Metric[] = [{ name: 'command/id', type: 'String', value: id }, req.metric];
      // QoS 0, as Sparkplug B asks of commands: a command lost is reported (no acknowledgement) and can be
      // sent again; one kept in a session and delivered after a reconnect, minutes later, could not be taken back.
      this.client.publish(deviceTopic(req.group, 'DCMD', req.node, req.device), Buffer.from(encodePayload({ timestamp: Date.now(), metrics })), { qos: 0 });
      while (sent.ack === null && nowMs() < deadline && !(this.failure && !this.o.persistent)) await this.pause(false);
      const lost = sent.ack === null && this.failure !== null && !this.o.persistent;
      return outcome(req, timeoutMs, { id, ack: sent.ack, watch, lost });
    } finally {
      if (id !== null) this.pending.delete(id);
      this.unwatch(req.key);
    }
  }

  /** A wait step: the inbox drained; before sending, a CLI link's lost connection (it does not come back) ends the wait. */
  private async pause(beforeSend: boolean): Promise<void> {
    await sleep(DRAIN_MS);
    if (beforeSend && this.failure && !this.o.persistent) throw this.failure;
    this.drain();
  }

  /**
   * Subscribe to the target's births, deaths and data; commands to the same
   * loop share the subscription (a second one waits for the first's SUBACK).
   */
  private async watch(req: OperatorRequest, deadlineMs: number): Promise<Watch> {
    let w = this.watches.get(req.key);
    if (w) {
      w.users++;
    } else {
      const topics = [deviceTopic(req.group, 'DBIRTH', req.node, req.device), deviceTopic(req.group, 'DDATA', req.node, req.device),
        deviceTopic(req.group, 'DDEATH', req.node, req.device), nodeTopic(req.group, 'NDEATH', req.node)];
      w = { topics, users: 1, seen: 'unseen', how: '', subscribed: this.subscribe(req.key, topics, deadlineMs) };
      this.watches.set(req.key, w);
    }
    try {
      await w.subscribed;
    } catch (err) {
      this.unwatch(req.key);
      throw err;
    }
    return w;
  }

  /** The SUBACK, by the deadline; a LinkError naming the topics the broker's ACL refused. */
  private async subscribe(key: string, topics: string[], deadlineMs: number): Promise<void> {
    try {
      // A SUBACK that never comes (the connection lost meanwhile) must not hold the wait past its deadline.
      await beforeDeadline(this.client.subscribeAsync(topics, { qos: 1 }), deadlineMs,
        () => this.failure ?? new LinkError('unreachable', `no answer to the subscription from ${this.o.broker} in time`));
    } catch (err) {
      if (err instanceof LinkError) throw err;
      // mqtt.js fails the subscription when the SUBACK refuses any topic (a code with 0x80: the broker's ACL said no).
      const granted = (err as { packet?: { granted?: unknown } }).packet?.granted;
      const refused = Array.isArray(granted) ? topics.filter((_, i) => typeof granted[i] === 'number' && (granted[i] & 0x80) !== 0) : [];
      if (refused.length) {
        throw new LinkError('not-allowed', `the broker refused the subscription to ${refused.join(', ')}` +
          `${this.o.username ? ` for user '${this.o.username}'` : ''}: this log-in may not read ${key}'s births, deaths and data (the operator role may)`);
      }
      throw this.failure ?? new LinkError('unreachable', `cannot subscribe: ${(err as Error).message}`);
    }
  }

  private unwatch(key: string): void {
    const w = this.watches.get(key);
    if (!w || --w.users > 0) return;
    this.watches.delete(key);
    if (this.client.connected) this.client.unsubscribe(w.topics);
    // Nothing is waited on: what is still queued is from before the next command and must not vouch for its agent.
    if (this.watches.size === 0) this.inbox.length = 0;
  }

  /** What arrived since the last drain: who is there, and the acknowledgements waited for. */
  private drain(): void {
    for (const { topic, payload } of this.inbox.splice(0)) {
      let t: ReturnType<typeof parseTopic>;
      try { t = parseTopic(topic); } catch { continue; }
      if (t.kind === 'node' && t.type === 'NDEATH') {
        // The node's death takes its devices with it (Sparkplug B).
        for (const [key, w] of this.watches) if (key.startsWith(`${t.group}/${t.node}/`)) { w.seen = 'offline'; w.how = 'its node\'s NDEATH arrived'; }
        continue;
      }
      if (t.kind !== 'device') continue;
      const key = `${t.group}/${t.node}/${t.device}`;
      const w = this.watches.get(key);
      if (!w) continue;
      if (t.type === 'DDEATH') { w.seen = 'offline'; w.how = 'its DDEATH arrived'; continue; }
      w.seen = 'online';
      if (t.type === 'DDATA') this.readAcks(key, payload);
    }
  }

  private readAcks(key: string, payload: Buffer): void {
    let metrics: Metric[];
    try { metrics = decodePayload(payload).metrics; } catch { return; }
    const value = (name: string) => metrics.find((m) => m.name === name)?.value;
    for (const m of metrics) {
      if (m.name !== 'command/ack' || typeof m.value !== 'string') continue;
      const space = m.value.indexOf(' ');
      const p = this.pending.get(m.value.slice(0, space));
      if (space < 0 || !p || p.key !== key || p.ack !== null) continue;
      const mode = value('mode');
      const setpoint = value('setpoint');
      const held = value('held');
      p.ack = { status: m.value.slice(space + 1), mode: typeof mode === 'string' ? mode : null,
        setpoint: typeof setpoint === 'number' ? setpoint : null, held: typeof held === 'boolean' ? held : null };
    }
  }

  /** Disconnect; never waits on a broker that is not there. */
  async close(): Promise<void> {
    this.login.stop();
    try {
      await beforeDeadline(this.client.endAsync(), nowMs() + 2000, () => new Error('no DISCONNECT in time'));
    } catch {
      await this.client.endAsync(true);
    }
  }
}

/** The outcome and its line: accepted or rejected with the agent's words and the loop after it, or why no answer came. */
function outcome(req: OperatorRequest, timeoutMs: number, r: { id: string | null; ack: Ack | null; watch: Watch; lost?: boolean }): CommandOutcome {
  const { id, ack, watch: w } = r;
  const base = { key: req.key, command: req.text, id, agent: w.seen, status: ack?.status ?? '', mode: ack?.mode ?? null, setpoint: ack?.setpoint ?? null, held: ack?.held ?? null };
  const head = `${req.key}: ${req.text}`;
  if (ack) {
    const ok = ack.status === 'ok' || ack.status.startsWith('ok ');
    // Six significant digits: the core's Q16.16 setpoint read back as a double has a dozen more, all noise to a person.
    const setpoint = ack.setpoint === null ? '?' : String(Number(ack.setpoint.toPrecision(6)));
    const loop = `loop ${ack.mode ?? '?'}, setpoint ${setpoint}${ack.held === null ? '' : ack.held ? ', held' : ', not held'}`;
    const line = ok ? `${head}: accepted${ack.status.length > 2 ? ` (${ack.status.slice(3)})` : ''}; ${loop}`
      : `${head}: REJECTED by the agent: ${ack.status.replace(/^rejected:\s*/, '')}; ${loop}`;
    return { ...base, result: ok ? 'accepted' : 'rejected', line };
  }
  let why: string;
  if (id === null) {
    why = w.seen === 'offline' ? `the agent is offline (${w.how}; no DBIRTH or DDATA since); nothing was sent`
      : `no agent seen (no DBIRTH or DDATA from ${req.key}: it is offline, or the name is wrong); nothing was sent`;
  } else if (r.lost) {
    why = 'the connection to the broker dropped after the command was sent';
  } else {
    why = w.seen === 'offline' ? `the command was sent, then the agent went offline (${w.how})`
      : `the agent is online (its data arrives) but did not answer command ${id}: the broker may have dropped it (only the operator and coordinator roles may publish DCMD)`;
  }
  return { ...base, result: 'no-ack', line: `${head}: no acknowledgement within ${timeoutMs / 1000} s: ${why}` };
}

export interface OperatorCommandOptions extends PasswordSources {
  broker: string;
  /** Seconds to wait for the acknowledgement (default 5), the connection included. */
  timeout?: number;
}

/** The whole command, without a process: prints one line and returns the exit code (COMMAND_EXIT). */
export async function operatorCommand(target: string, action: string, value: string | undefined, o: OperatorCommandOptions,
  print: Print, printError: Print = print, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let req: OperatorRequest;
  let password: string | undefined;
  const timeoutS = o.timeout ?? TIMEOUT_DEFAULT_S;
  try {
    checkBroker(o.broker);
    if (!(timeoutS >= TIMEOUT_MIN_S && timeoutS <= TIMEOUT_MAX_S)) throw new CommandArgError('--timeout', `seconds in [${TIMEOUT_MIN_S}, ${TIMEOUT_MAX_S}]`, timeoutS);
    req = parseOperatorRequest(target, action, value);
    password = resolvePassword(o, env);
  } catch (err) {
    printError(`edgeloop command: ${(err as Error).message}`);
    return COMMAND_EXIT.error;
  }
  const link = new CommandLink({ broker: o.broker, username: o.username, password });
  try {
    const r = await link.command(req, timeoutS * 1000);
    print(r.line);
    return r.result === 'accepted' ? COMMAND_EXIT.accepted : r.result === 'rejected' ? COMMAND_EXIT.rejected : COMMAND_EXIT.noAck;
  } catch (err) {
    if (!(err instanceof LinkError)) throw err;
    const who = o.username ? `user '${o.username}'` : 'no username given';
    printError(`edgeloop command: ${err.message} (${o.broker}, ${who}); nothing was sent`);
    return COMMAND_EXIT.error;
  } finally {
    await link.close();
  }
}

/**
 * The dashboard's operator commands through one persistent link: each
 * request parsed as the CLI parses it; a bad one is 'invalid', a broker that
 * cannot be used is 'error', and the rest is the agent's answer.
 */
export function linkSender(link: CommandLink, timeoutS = TIMEOUT_DEFAULT_S): DashboardOperators['send'] {
  return async (target, action, value) => {
    let req: OperatorRequest;
    try {
      req = parseOperatorRequest(target, action, value);
    } catch (err) {
      return { result: 'invalid', line: (err as Error).message, mode: null, setpoint: null, status: '' } satisfies OperatorAnswer;
    }
    try {
      const r = await link.command(req, timeoutS * 1000);
      return { result: r.result, line: r.line, mode: r.mode, setpoint: r.setpoint, status: r.status };
    } catch (err) {
      if (!(err instanceof LinkError)) throw err;
      return { result: 'error', line: `${req.key}: ${req.text}: not sent: ${err.message}`, mode: null, setpoint: null, status: '' };
    }
  };
}

export interface DashboardOperatorOptions {
  /** Who may log in: a users file in the broker's format (`edgeloop broker --users`); its users with role operator. */
  usersFile: string;
  broker: string;
  /** The dashboard's own log-in for the commands: a broker user with the operator (or coordinator) role. */
  username?: string;
  password?: string;
  /** Seconds each command waits for its acknowledgement (default 5). */
  timeout?: number;
}

/**
 * Operator commands for a dashboard (`startDashboard(..., { operators })`):
 * the log-ins from a users file, one persistent link that sends every
 * operator's commands with the dashboard's own operator log-in, and every
 * log-in and command through `print` (the composition root's logger).
 */
export function dashboardOperators(o: DashboardOperatorOptions, print: Print): { operators: DashboardOperators; close(): Promise<void> } {
  const users = loadUsersFile(o.usersFile);
  if (!users.some((u) => u.role === 'operator')) throw new Error(`${o.usersFile}: no user with role 'operator': nobody could log in to the dashboard`);
  const link = new CommandLink({ broker: o.broker, username: o.username, password: o.password, persistent: true,
    onLoginRefused: (why) => print(`dashboard: ERROR: operator commands cannot be sent: ${why} (${o.broker}${o.username ? `, user '${o.username}'` : ', no username given'}); retrying`) });
  return { operators: { users, send: linkSender(link, o.timeout), log: print }, close: () => link.close() };
}

const HELP_AFTER = [
  '',
  'Actions:',
  '  setpoint <x>               a new setpoint in the loop\'s units (the loop stops following its reference feed)',
  '  reset                      the operator\'s reset: latches whose condition is gone are released',
  '  hold                       stop following the reference feed, keep the setpoint',
  '  release                    follow the reference feed again (ends a hold)',
  '  mode <fallback|trip|none>  demand the fallback controller, the trip, or none (back to the guard\'s own choice)',
  '',
  `The password comes from --password-file <file> (its first line), else ${PASSWORD_ENV}; --password works`,
  'too, but every user of this machine sees it in ps and it stays in the shell history. The log-in needs the',
  'broker\'s operator role (or coordinator).',
  '',
  'Exit codes:',
  `  ${COMMAND_EXIT.accepted}  the agent acknowledged and accepted it`,
  `  ${COMMAND_EXIT.error}  an error: a bad argument, the broker unreachable, the log-in refused; nothing was sent`,
  `  ${COMMAND_EXIT.rejected}  the agent rejected it (the reason is printed)`,
  `  ${COMMAND_EXIT.noAck}  no acknowledgement within --timeout (it says whether the agent was seen at all)`,
  '',
  'Examples:',
  '  edgeloop command plant1/gw1/loop setpoint 72.5 --broker mqtt://10.0.0.5:1883 --username alice --password-file ~/.edgeloop-pw',
  '  EDGELOOP_PASSWORD=... edgeloop command plant1/gw1/loop mode fallback --broker mqtt://10.0.0.5:1883 --username alice',
].join('\n');

/** `edgeloop command`, on the program; `done` gets the exit code. */
export function registerCommand(program: Command, done: (code: number) => void): Command {
  return program
    .command('command')
    .description("Send one operator command to one loop through the broker (a Sparkplug DCMD) and print the agent's acknowledgement in one line.")
    .argument('<group/node/device>', 'the loop')
    .argument('<action>', OPERATOR_ACTIONS.join(', '))
    .argument('[value]', `the setpoint (for setpoint) or ${MODE_CHOICES.join('|')} (for mode)`)
    .requiredOption('--broker <url>', 'MQTT broker URL')
    .option('--username <u>', "the operator's MQTT username (a user with the operator role)")
    .option('--password-file <file>', 'read the password from this file (its first line)')
    .option('--password <p>', `the password (visible in ps and the shell history: prefer --password-file or ${PASSWORD_ENV})`)
    .option('--timeout <s>', 'how long to wait for the acknowledgement, seconds', timeoutArg, TIMEOUT_DEFAULT_S)
    .addHelpText('after', HELP_AFTER)
    .action(async (target: string, action: string, value: string | undefined, opts: OperatorCommandOptions) => {
      done(await operatorCommand(target, action, value, opts, (l) => console.log(l), (l) => console.error(l)));
    });
}
