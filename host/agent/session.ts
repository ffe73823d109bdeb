// The agent's Sparkplug B 3.0 session as an edge node with one device: the
// MQTT connection, its NDEATH Will, births, seq, the primary host's STATE
// and the rebirth requests. The loop never waits on it; it tells the agent
// when to spool, and hands it each command the host sends.
//
// bdSeq: each MQTT session's NBIRTH carries the bdSeq of the Will its CONNECT
// registered, and the next session takes the next one (0..255, wrapping).
// With `bdSeqFile` the last one is kept across restarts, so that a restarted
// (or replacement) agent never reuses the previous session's bdSeq: a late
// Will of the old session cannot kill the new one at a host. The client id
// is the same for every session of a node (`edgeloop-<group>-<node>`): a
// replacement takes the node's session over at the broker, which ends the
// old one (and publishes its Will) before the new births. An agent that
// finds the file advanced by another process has been replaced: it stops
// connecting (onSuperseded) instead of fighting the replacement for the node.
//
// The primary host's STATE (JSON {online, timestamp}): the agent births only
// while it is online; a STATE older than one already seen is ignored; an
// offline one from the host it was born to makes the agent publish its
// NDEATH, disconnect, and connect again to wait for the host to come back.

import { readKeptText, writeKept } from './kept-number.js';
import mqtt, { type MqttClient } from 'mqtt';
import { decodePayloadTolerant, encodePayload, PayloadError, SeqCounter, typeOfValue, type Metric, type Payload } from '../mqtt/codec.js';
import { DEVICE_REBIRTH, NODE_REBIRTH } from '../mqtt/commands.js';
import { LoginWatch } from '../mqtt/refusal.js';
import { deviceTopic, nodeTopic, noDelay, parseState, STATE_AHEAD_MAX_MS, stateTopic } from '../mqtt/topics.js';

export interface SessionOptions {
  group: string;
  node: string;
  device: string;
  broker: string;
  username?: string;
  password?: string;
  keepaliveS: number;
  /** QoS of births and data (the Will and the NDEATH are always QoS 1). */
  dataQos: 0 | 1;
  primaryHost?: string;
  /** MQTT client id (default `edgeloop-<group>-<node>`: one session per node at a broker). */
  clientId?: string;
  /** Keeps the last bdSeq across restarts (see above); without it each process starts at 0. */
  bdSeqFile?: string;
  /** Wall-clock time for payload timestamps, ms since the epoch. */
  wallMs: () => number;
}

export interface SessionStats {
  published: number;
  encodeErrors: number;
  stateRejected: number;
  /** STATE messages older than one already seen (ignored, as Sparkplug 3.0 asks). */
  stateStale: number;
  commandsRejected: number;
  loginRefused: number;
  eventCallbackErrors: number;
  /** bdSeq file writes that failed after the start (the bdSeq is kept in memory; tried again next session). */
  bdSeqWriteErrors: number;
  /** Births that could not be made (the device's metrics could not be read): none sent; a rebirth request or the next session tries again. */
  birthErrors: number;
}

export interface SessionHandlers {
  /** The DBIRTH's metrics (every metric the device will publish). */
  deviceBirth(): Metric[];
  /** Births are out: the spool may go. */
  born(): void;
  /** The session (or the host) went away after births: what went out lately may not have arrived. */
  lost(): void;
  /** A decoded DCMD that is not a rebirth request. */
  command(p: Payload): void;
  loginRefused?(refusal: string): void;
  /** Another process took this node over (the bdSeq file moved on): this session no longer connects. */
  superseded?(message: string): void;
}

/**
 * The bdSeq file: the last session's bdSeq and the node it belongs to
 * (`<bdSeq> <group>/<node>`), or null when there is none yet. An unreadable
 * file, or one that does not hold that, is an Error naming the file.
 */
export function readBdSeq(file: string): { bdSeq: number; node: string | null } | null {
  const text = readKeptText(file, 'bdSeq');
  if (text === null) return null;
  const m = /^\s*(\d{1,3})(?:\s+(\S+))?\s*$/.exec(text);
  const n = m ? Number(m[1]) : NaN;
  if (!m || n > 255) {
    throw new Error(`bdSeq file ${file}: expected the last session's bdSeq (an integer 0..255) and its node, found ${JSON.stringify(text.trim().slice(0, 40))}`);
  }
  return { bdSeq: n, node: m[2] ?? null };
}

/** The default MQTT client id of a node's agent: stable across restarts, MQTT-safe. */
export function nodeClientId(group: string, node: string): string {
  return `edgeloop-${group}-${node}`.replace(/[^A-Za-z0-9._-]/g, '_');
}

export class SparkplugSession {
  readonly client: MqttClient;
  private readonly seq = new SeqCounter();
  private bdSeq: number;
  /** Connected, and the session counted (its bdSeq taken). */
  private up = false;
  private hostOnline: boolean;
  /** The newest STATE timestamp seen from the primary host (ms), or null. */
  private hostStateTs: number | null = null;
  private bornNow = false;
  private stopping = false;
  private readonly login: LoginWatch;

  constructor(private readonly o: SessionOptions, private readonly stats: SessionStats, private readonly on: SessionHandlers) {
    const last = o.bdSeqFile ? readBdSeq(o.bdSeqFile) : null;
    if (last?.node && last.node !== this.nodeKey) {
      throw new Error(`bdSeq file ${o.bdSeqFile}: it belongs to node ${last.node}, not ${this.nodeKey}; give each node its own file`);
    }
    this.bdSeq = last === null ? 0 : (last.bdSeq + 1) % 256;
    if (o.bdSeqFile) this.keepBdSeq(true);
    this.hostOnline = o.primaryHost === undefined;
    this.client = mqtt.connect(o.broker, {
      clientId: o.clientId ?? nodeClientId(o.group, o.node),
      clean: true,
      reconnectPeriod: 500,
      connectTimeout: 5000,
      keepalive: o.keepaliveS,
      username: o.username,
      password: o.password,
      will: this.will(),
    });
    this.client.on('connect', () => { noDelay(this.client); this.onConnect(); });
    this.client.on('close', () => this.onClose());
    this.client.on('message', (topic, payload) => this.onMessage(topic, payload));
    // The network's errors: the client reconnects by itself, and the loop does not care. A refused log-in is named once.
    this.login = new LoginWatch(this.client, (refusal) => {
      try { this.on.loginRefused?.(refusal); } catch { this.stats.eventCallbackErrors++; }
    }, () => { this.stats.loginRefused++; });
  }

  /** The bdSeq of this session's Will (and of its NBIRTH). */
  get currentBdSeq(): number { return this.bdSeq; }

  /** The broker's last refusal of the log-in, or null once connected. */
  get loginRefusal(): string | null { return this.login.refusal; }

  /** Births are out and data may go: connected, born, and the primary host (if any) online. */
  get publishing(): boolean {
    return this.up && this.bornNow && this.hostOnline && this.client.connected;
  }

  /** The NDEATH (Will, and what stop() publishes): bdSeq as Int64. */
  will() {
    const o = this.o;
    return {
      topic: nodeTopic(o.group, 'NDEATH', o.node),
      payload: Buffer.from(encodePayload({ timestamp: o.wallMs(), metrics: [{ name: 'bdSeq', type: 'Int64', value: this.bdSeq }] })),
      qos: 1 as const,
      retain: false,
    };
  }

  private onConnect(): void {
    const o = this.o;
    this.up = true;
    this.bornNow = false;
    const subs = [deviceTopic(o.group, 'DCMD', o.node, o.device), nodeTopic(o.group, 'NCMD', o.node)];
    if (o.primaryHost !== undefined) {
      // The host's STATE is retained: its current value arrives on subscribe.
      this.hostOnline = false;
      subs.push(stateTopic(o.primaryHost));
    }
    // The retained STATE may arrive before or after the SUBACK: whichever comes second does not birth again.
    this.client.subscribe(subs, { qos: 1 }, () => { if (this.hostOnline && !this.bornNow && this.up) this.birth(); });
  }

  /**
   * The connection closed. A session that was up is over: the next CONNECT
   * gets the next bdSeq in its Will, unless another process has taken the
   * node (the bdSeq file moved on), in which case this one stops.
   */
  private onClose(): void {
    if (!this.up) return;
    this.up = false;
    // Leaving on purpose (stop()): nothing to send again.
    if (this.bornNow && !this.stopping) this.on.lost();
    this.bornNow = false;
    if (this.stopping) return;
    if (this.replaced()) {
      this.stopping = true;
      this.login.stop();
      this.client.end(true);
      const message = `another agent has taken node ${this.nodeKey} over (bdSeq file ${this.o.bdSeqFile} is at ${this.seenInFile}, this agent last kept ${this.written}): this one stops connecting`;
      try { this.on.superseded?.(message); } catch { this.stats.eventCallbackErrors++; }
      return;
    }
    this.bdSeq = (this.bdSeq + 1) % 256;
    if (this.o.bdSeqFile) this.keepBdSeq(false);
    this.client.options.will = this.will();
  }

  private get nodeKey(): string { return `${this.o.group}/${this.o.node}`; }
  /** The bdSeq this agent last wrote to its file (null: none written yet). */
  private written: number | null = null;
  private seenInFile: number | null = null;

  /** Keep this session's bdSeq in the file (at start, a failure is an error; later, it is tried again next session). */
  private keepBdSeq(atStart: boolean): void {
    try {
      writeKept(this.o.bdSeqFile!, `${this.bdSeq} ${this.nodeKey}`);
      this.written = this.bdSeq;
    } catch (err) {
      if (atStart) throw new Error(`bdSeq file ${this.o.bdSeqFile}: cannot write it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
      this.stats.bdSeqWriteErrors++;
    }
  }

  /**
   * Another agent of this node has written the bdSeq file since this one
   * last did: it took the node over. A missing or unreadable file, or one of
   * another node, is no such sign (the file is written again).
   */
  private replaced(): boolean {
    const file = this.o.bdSeqFile;
    if (!file || this.written === null) return false;
    let kept: ReturnType<typeof readBdSeq>;
    try { kept = readBdSeq(file); } catch { return false; }
    if (kept === null || (kept.node !== null && kept.node !== this.nodeKey)) return false;
    this.seenInFile = kept.bdSeq;
    return kept.bdSeq !== this.written;
  }

  /** NBIRTH, then DBIRTH, then whatever the agent has waiting. */
  birth(): void {
    const o = this.o;
    let device: Metric[];
    try {
      device = this.on.deviceBirth();
    } catch {
      // A core that cannot be asked (a trap it could not recover from): no births now, never out of a network callback.
      this.stats.birthErrors++;
      return;
    }
    this.declaredTypes = new Map(device.map((m) => [m.name, m.type]));
    this.bornNow = true;
    this.seq.reset();
    const timestamp = o.wallMs();
    this.send(nodeTopic(o.group, 'NBIRTH', o.node), timestamp, [
      { name: 'bdSeq', type: 'Int64', value: this.bdSeq, timestamp },
      { name: NODE_REBIRTH, type: 'Boolean', value: false, timestamp },
    ]);
    this.send(deviceTopic(o.group, 'DBIRTH', o.node, o.device), o.wallMs(), device);
    this.on.born();
  }

  /** Publish a payload with the next seq; one that cannot be encoded is counted, never thrown. */
  send(topic: string, timestamp: number, metrics: Metric[]): boolean {
    let payload: Uint8Array;
    try {
      payload = encodePayload({ timestamp, seq: this.seq.peek(), metrics });
    } catch (err) {
      this.stats.encodeErrors++;
      this.lastEncodeError = (err as Error).message;
      return false;
    }
    this.seq.next();
    this.client.publish(topic, Buffer.from(payload), { qos: this.o.dataQos });
    this.stats.published++;
    return true;
  }

  /** Why the last payload could not be encoded, if one could not. */
  lastEncodeError: string | null = null;

  /** The socket's write buffer holds more than a replay should leave in flight (256 KiB). */
  get congested(): boolean {
    const w = (this.client.stream as { writableLength?: number } | undefined)?.writableLength ?? 0;
    return w > 256 * 1024;
  }

  /** The device's DDATA topic. */
  get dataTopic(): string {
    return deviceTopic(this.o.group, 'DDATA', this.o.node, this.o.device);
  }

  private onMessage(topic: string, payload: Buffer): void {
    if (topic.startsWith('spBv1.0/STATE/')) {
      this.onHostState(payload);
      return;
    }
    let p: Payload;
    try {
      p = this.decodeCommand(payload);
    } catch {
      this.stats.commandsRejected++;   // no payload, no id: nothing to acknowledge
      return;
    }
    if (topic.includes('/NCMD/')) {
      if (p.metrics.some((m) => m.name === NODE_REBIRTH && m.value === true)) { if (this.publishing) this.birth(); }
      else this.stats.commandsRejected++;
      return;
    }
    // A host asks for this device's births again: the node's with them (a DBIRTH needs its NBIRTH's session and seq).
    const rebirth = p.metrics.filter((m) => m.name === DEVICE_REBIRTH);
    if (rebirth.length) {
      if (rebirth.some((m) => m.value !== true)) this.stats.commandsRejected++;
      else if (this.publishing) this.birth();
      const rest = p.metrics.filter((m) => m.name !== DEVICE_REBIRTH);
      if (!rest.length) return;
      p = { ...p, metrics: rest };
    }
    this.on.command(p);
  }

  /** What this device's DBIRTH declared, by name: a host's write may leave the datatype out (Sparkplug: it SHOULD). */
  private declaredTypes = new Map<string, Metric['type']>();

  /**
   * A command payload: each metric by name with a number, boolean or string
   * value; a datatype left out is the DBIRTH's. A metric without a name or
   * a readable value refuses the payload (PayloadError), as the strict
   * decoder does.
   */
  private decodeCommand(bytes: Buffer): Payload {
    const d = decodePayloadTolerant(bytes, { declared: (name) => (name === undefined ? undefined : this.declaredTypes.get(name)) });
    if (d.skipped) throw new PayloadError(`${d.skipped} metric(s) without a name or a readable value`);
    const metrics: Metric[] = [];
    for (const m of d.payload.metrics) {
      if (m.name === undefined) throw new PayloadError('a metric without a name');
      // edgeloop's own command metrics always carry their datatype (the coordinator writes it); a tag write may leave it out.
      if (m.type === undefined && m.name.startsWith('command/')) throw new PayloadError(`${m.name}: no datatype`);
      metrics.push({ ...m, name: m.name, type: m.type ?? this.declaredTypes.get(m.name) ?? typeOfValue(m.value) });
    }
    return { timestamp: d.payload.timestamp, ...(d.payload.seq !== undefined ? { seq: d.payload.seq } : {}), metrics };
  }

  /** The primary host's STATE (Sparkplug 3.0: JSON {online, timestamp}). */
  private onHostState(payload: Buffer): void {
    const state = parseState(payload);
    if (!state) { this.stats.stateRejected++; return; }
    const { online, timestamp: ts } = state;
    // A timestamp more than a day ahead of this gateway's clock is no host's (a bad clock, microseconds, a stray):
    // taken, it would make every later STATE look stale. Refused and counted.
    if (ts > Date.now() + STATE_AHEAD_MAX_MS) { this.stats.stateRejected++; return; }
    // An older STATE than one already seen (a late Will of an earlier host session, a stale retained one) says nothing now.
    if (this.hostStateTs !== null && ts < this.hostStateTs) { this.stats.stateStale++; return; }
    this.hostStateTs = ts;
    const was = this.hostOnline;
    this.hostOnline = online;
    if (online && this.up && !this.bornNow) { this.birth(); return; }
    if (!online && was && this.bornNow) this.restartSession();
  }

  /**
   * The primary host went offline while this node was born to it: publish
   * the NDEATH, disconnect, and connect again (a new session, the next
   * bdSeq) to wait for the host's online STATE before the next births.
   */
  private restartSession(): void {
    const w = this.will();
    this.client.publish(w.topic, w.payload, { qos: 1 }, () => {
      this.client.end(false, {}, () => { if (!this.stopping) this.client.reconnect(); });
    });
  }

  /**
   * Leave cleanly: publish the NDEATH (a clean disconnect makes the broker
   * drop the Will) and disconnect. Never waits on a broker that is not there.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    this.login.stop();
    if (this.client.connected) {
      const w = this.will();
      const death = this.client.publishAsync(w.topic, w.payload, { qos: 1 });
      await Promise.race([death.catch(() => {}), new Promise((r) => setTimeout(r, 2000))]);
      await Promise.race([this.client.endAsync(), new Promise((r) => setTimeout(r, 2000))]);
    }
    if (!this.client.disconnected) await this.client.endAsync(true);
  }

  /** For tests: drop the connection without a clean disconnect (the Will fires). */
  kill(): void {
    this.stopping = true;
    this.login.stop();
    this.client.stream.destroy();
    this.client.end(true);
  }
}
