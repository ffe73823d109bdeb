// A Modbus binding: the loop's sensors, actuator command, feedback, trip and
// reference on a Modbus device (a PLC, a remote I/O block, a drive, a
// temperature controller), over Modbus TCP, RTU on a serial line, or RTU
// through a TCP terminal server. It is configured without code
// (host/io/config.ts, docs/io.md).
//
// IoBinding is synchronous and called every tick; Modbus is a request and an
// answer that may take a while or never come. So nothing on the wire happens
// inside read(), write() or writeTrip(): one background loop owns the
// connection and does one request at a time (a serial line allows nothing
// else), in this order of precedence:
//
//   1. the trip output, whenever it changed or its refresh is due (also
//      between the reads of a poll: a trip never waits behind a round of reads)
//   2. the actuator command, the newest one only (older ones are dropped)
//   3. the poll: every read point, every pollMs
//
// read() hands the core the newest sample of each sensor, once: a sensor
// whose poll failed, or that has not been polled again since the last tick,
// or whose sample is older than staleMs, is null, which the core sees as a
// missing sample (its sens_stale monitor counts them). A lost read is a
// missing sample, never an exception. Staleness is judged on the binding's
// own monotonic clock, not on the agent's nowUs: the samples arrive in real
// time whatever clock the agent's loop runs on.
//
// A request that fails is retried (retries), each try bounded (timeoutMs);
// a TCP connection that drops, or that stops answering for
// failuresToReconnect requests in a row, is reopened with a backoff from
// reconnectMinMs doubling to reconnectMaxMs. After every (re)connection both
// outputs are written again: a device that restarted has forgotten them.
// Errors are counted (stats) and reported through onError once per change
// of state, not on every retry.

import { createRequire } from 'node:module';
import ModbusSerial from 'modbus-serial';
import type { IoBinding, IoReading } from './binding.js';
import { SAMPLE_NONE } from '../runtime/abi.js';
import type { ModbusCommandPoint, ModbusConfig, ModbusReadPoint, ModbusTransport } from './config.js';

// modbus-serial is CommonJS: its module.exports is the client class, and its typings call that `default`
// (module.exports.default is the same class, so this holds at run time too).
const ModbusRTU = ModbusSerial.default;
type Client = InstanceType<typeof ModbusRTU>;

export const MODBUS_DATA_TYPES = ['int16', 'uint16', 'int32', 'uint32', 'float32'] as const;
export type ModbusDataType = (typeof MODBUS_DATA_TYPES)[number];

/** Registers a value of each data type takes. */
export const DATA_TYPE_WORDS: Readonly<Record<ModbusDataType, 1 | 2>> = { int16: 1, uint16: 1, int32: 2, uint32: 2, float32: 2 };

const FLOAT32_MAX = 3.4028234663852886e38;

/** The raw values each data type holds. */
export const DATA_TYPE_RANGE: Readonly<Record<ModbusDataType, readonly [number, number]>> = {
  int16: [-32768, 32767], uint16: [0, 65535], int32: [-2147483648, 2147483647], uint32: [0, 4294967295], float32: [-FLOAT32_MAX, FLOAT32_MAX],
};

/** How a value lies in its registers. */
export interface RegisterLayout {
  dataType: ModbusDataType;
  /** 'big': the high word first (ABCD, as most devices); 'little': the low word first (CDAB). */
  wordOrder: 'big' | 'little';
  /** 'big': the high byte first in each register (the Modbus standard); 'little': bytes swapped (BADC, DCBA). */
  byteOrder: 'big' | 'little';
}

const swapBytes = (w: number) => ((w & 0xff) << 8) | ((w >> 8) & 0xff);

/** The value in `words` (as the device sent them, in address order). */
export function decodeRegisters(words: readonly number[], layout: RegisterLayout): number {
  const n = DATA_TYPE_WORDS[layout.dataType];
  const buf = Buffer.alloc(4);
  for (let i = 0; i < n; i++) {
    const w = words[layout.wordOrder === 'big' ? i : n - 1 - i] & 0xffff;
    buf.writeUInt16BE(layout.byteOrder === 'big' ? w : swapBytes(w), 2 * i);
  }
  switch (layout.dataType) {
    case 'int16': return buf.readInt16BE(0);
    case 'uint16': return buf.readUInt16BE(0);
    case 'int32': return buf.readInt32BE(0);
    case 'uint32': return buf.readUInt32BE(0);
    case 'float32': return buf.readFloatBE(0);
  }
}

/** The registers (in address order) holding `raw`, which must lie in DATA_TYPE_RANGE (and be an integer for integer types). */
export function encodeRegisters(raw: number, layout: RegisterLayout): number[] {
  const buf = Buffer.alloc(4);
  switch (layout.dataType) {
    case 'int16': buf.writeInt16BE(raw, 0); break;
    case 'uint16': buf.writeUInt16BE(raw, 0); break;
    case 'int32': buf.writeInt32BE(raw, 0); break;
    case 'uint32': buf.writeUInt32BE(raw, 0); break;
    case 'float32': buf.writeFloatBE(raw, 0); break;
  }
  const n = DATA_TYPE_WORDS[layout.dataType];
  const words: number[] = [];
  for (let i = 0; i < n; i++) {
    const w = buf.readUInt16BE(2 * i);
    words.push(layout.byteOrder === 'big' ? w : swapBytes(w));
  }
  return layout.wordOrder === 'big' ? words : words.reverse();
}

/**
 * The raw value to write for a command: (value - offset) / scale, rounded
 * for integer types, and held to the type's range (`saturated`: it did not
 * fit, and the nearest end is written, as a DAC does with a code beyond its
 * range).
 */
export function rawForValue(value: number, p: Pick<ModbusCommandPoint, 'dataType' | 'scale' | 'offset'>): { raw: number; saturated: boolean } {
  let raw = (value - p.offset) / p.scale;
  if (p.dataType !== 'float32') raw = Math.round(raw);
  if (raw === 0) raw = 0;   // -0 (a small negative rounded) is 0 on the wire; say so here too
  const [lo, hi] = DATA_TYPE_RANGE[p.dataType];
  if (raw < lo) return { raw: lo, saturated: true };
  if (raw > hi) return { raw: hi, saturated: true };
  return { raw, saturated: false };
}

/** A sensor value as the core's counts: an integer in the i32 range above SAMPLE_NONE, else null. */
export function toCounts(value: number): number | null {
  const c = Math.round(value);
  return Number.isFinite(c) && c > SAMPLE_NONE && c <= 2147483647 ? c : null;
}

/** What a program gives a binding besides its configuration. */
export interface ModbusBindingOptions {
  /** Called when a channel (connection, a point, an output) enters an error state or its error changes; never on every retry. */
  onError?: (message: string) => void;
  /** The binding's monotonic clock, ms (default performance.now): the age of samples and the refresh of outputs. */
  clockMs?: () => number;
}

export interface ModbusStats {
  /** Connected now. */
  connected: boolean;
  /** Poll rounds done (every read point asked once). */
  polls: number;
  /** Read requests that failed after their retries. */
  readsFailed: number;
  /** Write requests that succeeded (trip and command). */
  writes: number;
  /** Write requests that failed after their retries. */
  writesFailed: number;
  /** Connections established again after one was lost. */
  reconnects: number;
  /** Sensor samples read() gave as null because the newest was older than staleMs (or there was none yet). */
  staleSamples: number;
  /** Sensor samples read() gave as null because none had arrived since the last read() (the poll is slower than the tick). */
  repeatedSamples: number;
  /** Values that did not fit: a command saturated, a reading outside the counts' range, a non-finite command. */
  rangeErrors: number;
}

/** One read point and its newest sample. */
interface ReadSlot {
  name: string;
  point: ModbusReadPoint;
  /** Sensors: counts; feedback and reference: engineering units. */
  counts: boolean;
  sample: { value: number; atMs: number; seq: number } | null;
  /** Sensors: the seq of the sample read() gave last. */
  returnedSeq: number;
}

/** An output: what the loop wants and what the device was last told. */
interface WriteSlot<T> {
  desired: T | null;
  /** null: not written since the (re)connection, or the last write failed. */
  written: T | null;
  writtenAtMs: number;
  /** After a failed write, the next try waits until then (a device that refuses it is not hammered). */
  retryAtMs: number;
  same: (a: T, b: T) => boolean;
}

/** Trip writes in a row before anything else may go (a new demand while one is on the wire goes next). */
const TRIP_WRITES_MAX = 4;

/** The most the own deadline of a request exceeds the client's timeout: the client's fires first and cleans up after itself. */
const DEADLINE_SLACK_MS = 100;

/** A promise that settles as `p` does, or rejects after `ms`. */
function withDeadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms);
    p.then((v) => { clearTimeout(timer); resolve(v); }, (e: unknown) => { clearTimeout(timer); reject(e); });
  });
}

/** An answer from the device refusing the request (exception code): asking again gets the same answer. */
function isModbusException(err: unknown): boolean {
  return typeof (err as { modbusCode?: unknown } | null)?.modbusCode === 'number';
}

function messageOf(err: unknown, timeoutMs: number): string {
  const e = err as { message?: string; errno?: string } | null;
  if (e?.errno === 'ETIMEDOUT' || e?.message === 'Timed out') return `no answer within ${timeoutMs} ms`;
  return e?.message ?? String(err);
}

function describeTransport(t: ModbusTransport): string {
  switch (t.type) {
    case 'tcp': return `modbus tcp ${t.host}:${t.port} unit ${t.unitId}`;
    case 'rtu-over-tcp': return `modbus rtu-over-tcp ${t.host}:${t.port} unit ${t.unitId}`;
    case 'rtu': return `modbus rtu ${t.path} ${t.baudRate} ${t.dataBits}${t.parity[0].toUpperCase()}${t.stopBits} unit ${t.unitId}`;
  }
}

function describePoint(name: string, p: { kind: string; address: number; dataType?: string }): string {
  const what = { holding: 'holding register', input: 'input register', coil: 'coil', discrete: 'discrete input' }[p.kind] ?? p.kind;
  return `${name} (${what} ${p.address}${p.kind === 'holding' || p.kind === 'input' ? `, ${p.dataType}` : ''})`;
}

/** Whether the optional `serialport` package (which modbus-serial needs for a serial line) can be loaded. */
function serialportInstalled(): boolean {
  try {
    const require = createRequire(import.meta.url);
    createRequire(require.resolve('modbus-serial')).resolve('serialport');
    return true;
  } catch {
    return false;
  }
}

/** Reports each channel's error once, until the channel is healthy again. */
class ErrorLatch {
  private readonly states = new Map<string, string>();
  constructor(private readonly prefix: string, private readonly sink?: (message: string) => void) {}

  fail(channel: string, message: string): void {
    if (this.states.get(channel) === message) return;
    this.states.set(channel, message);
    try { this.sink?.(`${this.prefix}: ${channel}: ${message}`); } catch { /* a logger that throws must not stop the binding */ }
  }

  ok(channel: string): void { this.states.delete(channel); }

  /** The current errors, for a start() that gives up. */
  summary(): string { return [...this.states].map(([c, m]) => `${c}: ${m}`).join('; ') || 'no answer'; }
}

export class ModbusBinding implements IoBinding {
  /** What the binding talks to, as it names itself in errors (e.g. `modbus tcp 10.0.0.5:502 unit 1`). */
  readonly name: string;
  private readonly cfg: ModbusConfig;
  private readonly clock: () => number;
  private readonly errors: ErrorLatch;
  private readonly counters: Omit<ModbusStats, 'connected'> = {
    polls: 0, readsFailed: 0, writes: 0, writesFailed: 0, reconnects: 0, staleSamples: 0, repeatedSamples: 0, rangeErrors: 0,
  };
  private readonly sensorSlots: ReadSlot[];
  private readonly feedbackSlot: ReadSlot | null;
  private readonly referenceSlot: ReadSlot | null;
  private readonly sensorsOut: (number | null)[];
  private readonly command: WriteSlot<number[]> = {
    desired: null, written: null, writtenAtMs: 0, retryAtMs: 0, same: (a, b) => a.length === b.length && a.every((w, i) => w === b[i]),
  };
  private readonly trip: WriteSlot<boolean> = { desired: null, written: null, writtenAtMs: 0, retryAtMs: 0, same: (a, b) => a === b };

  private client: Client | null = null;
  /** The connection closed or stopped answering: the loop drops it and reconnects. */
  private lost = false;
  private everConnected = false;
  private failuresInRow = 0;
  /** The wait before the next connection attempt (backoff). */
  private connectDelayMs = 0;
  private seq = 0;
  private nextPollMs = 0;
  private closing = false;
  private closed: Promise<void> | null = null;
  /** close() is writing the trip, after the loop ended. */
  private lastWord = false;
  private loop: Promise<void> | null = null;
  private sleeper: { timer: NodeJS.Timeout; resolve: () => void; wakeable: boolean } | null = null;
  private firstSample: { resolve: () => void; reject: (err: Error) => void } | null = null;

  /** A binding on a checked configuration (createBinding() checks one); nothing connects before start(). */
  constructor(config: ModbusConfig, opts: ModbusBindingOptions = {}) {
    this.cfg = config;
    this.name = describeTransport(config.transport);
    if (config.transport.type === 'rtu' && !serialportInstalled()) {
      throw new Error(`binding.transport.path: Modbus RTU on a serial line (${config.transport.path}) needs the optional package 'serialport': ` +
        "install it beside edgeloop (npm install serialport), or reach the line through a terminal server (transport.type 'rtu-over-tcp')");
    }
    this.clock = opts.clockMs ?? (() => performance.now());
    this.errors = new ErrorLatch(this.name, opts.onError);
    const slot = (name: string, point: ModbusReadPoint, counts: boolean): ReadSlot => ({ name, point, counts, sample: null, returnedSeq: 0 });
    this.sensorSlots = config.sensors.map((p, i) => slot(`sensors[${i}]`, p, true));
    this.feedbackSlot = config.feedback ? slot('feedback', config.feedback, false) : null;
    this.referenceSlot = config.reference ? slot('reference', config.reference, false) : null;
    this.sensorsOut = new Array(this.sensorSlots.length).fill(null);
  }

  get stats(): ModbusStats {
    return { connected: this.client !== null && !this.lost, ...this.counters };
  }

  /**
   * Connect and poll until a first sensor sample arrives (the loop can run);
   * rejects, naming what failed, if none arrives within startTimeoutMs, and
   * then leaves nothing running. Points that fail while another sensor reads
   * are reported through onError, not refused: a redundant sensor that is
   * down must not keep the loop from starting.
   */
  async start(): Promise<void> {
    if (this.loop) throw new Error(`${this.name}: start() called twice`);
    const first = new Promise<void>((resolve, reject) => { this.firstSample = { resolve, reject }; });
    this.loop = this.run();
    const timer = setTimeout(() => this.firstSample?.reject(new Error(
      `${this.name}: no sensor sample within ${this.cfg.startTimeoutMs} ms (startTimeoutMs): ${this.errors.summary()}`)), this.cfg.startTimeoutMs);
    try {
      await first;
    } catch (err) {
      // A device that answers writes but not the sensors: told to trip all the same (tripOnClose).
      await this.shutdown(this.cfg.tripOnClose);
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stop polling, write the trip (tripOnClose) if connected, and disconnect; nothing is left running. Never throws. */
  async close(): Promise<void> {
    await this.shutdown(this.cfg.tripOnClose);
  }

  read(_nowUs: number): IoReading {
    const now = this.clock();
    for (let i = 0; i < this.sensorSlots.length; i++) this.sensorsOut[i] = this.takeSensor(this.sensorSlots[i], now);
    return { sensors: this.sensorsOut, feedback: this.latest(this.feedbackSlot, now), reference: this.latest(this.referenceSlot, now) };
  }

  write(command: number, _nowUs: number): void {
    if (!Number.isFinite(command)) {
      this.counters.rangeErrors++;
      this.errors.fail('command value', 'a command that is not a finite number was not written');
      return;
    }
    const p = this.cfg.command;
    const { raw, saturated } = rawForValue(command, p);
    if (saturated) {
      this.counters.rangeErrors++;
      const [a, b] = DATA_TYPE_RANGE[p.dataType].map((r) => r * p.scale + p.offset).sort((x, y) => x - y);
      this.errors.fail('command value', `a command outside what ${p.dataType} holds (${a} .. ${b} at scale ${p.scale}, offset ${p.offset}) is written as the nearest end`);
    } else {
      this.errors.ok('command value');
    }
    const words = encodeRegisters(raw, p);
    const d = this.command.desired;
    if (d === null || d.length !== words.length || d.some((w, i) => w !== words[i])) {
      this.command.desired = words;
      this.wake();
    }
  }

  writeTrip(tripped: boolean, _nowUs: number): void {
    if (this.trip.desired === tripped) return;
    this.trip.desired = tripped;
    this.wake();
  }

  /** The newest sample of a sensor as counts, once, and only while younger than staleMs. */
  private takeSensor(s: ReadSlot, now: number): number | null {
    const sample = s.sample;
    if (sample === null || now - sample.atMs > this.cfg.staleMs) {
      this.counters.staleSamples++;
      return null;
    }
    if (sample.seq === s.returnedSeq) {
      this.counters.repeatedSamples++;
      return null;
    }
    s.returnedSeq = sample.seq;
    return sample.value;
  }

  /** Feedback and reference are levels, not samples: the newest value serves every tick while it is younger than staleMs. */
  private latest(s: ReadSlot | null, now: number): number | null {
    if (s === null || s.sample === null || now - s.sample.atMs > this.cfg.staleMs) return null;
    return s.sample.value;
  }

  /** The background loop: (re)connect, write, poll, sleep; it ends only when closing, and never rejects. */
  private async run(): Promise<void> {
    while (!this.closing) {
      try {
        if (this.client && (this.lost || !this.client.isOpen)) this.drop('the connection was lost; reconnecting');
        if (!this.client) {
          await this.reconnect();
          continue;
        }
        await this.flushWrites();
        if (this.clock() >= this.nextPollMs) {
          this.nextPollMs = this.clock() + this.cfg.pollMs;
          await this.poll();
          await this.flushWrites();
        }
        await this.sleep(this.nextWakeMs() - this.clock(), true);
      } catch (err) {
        // Not expected (every request's failure is handled where it is made); counted as a read failure and paced.
        this.counters.readsFailed++;
        this.errors.fail('loop', messageOf(err, this.cfg.timeoutMs));
        await this.sleep(this.cfg.pollMs, false);
      }
    }
  }

  /** When the loop must next act without being woken: the next poll, an output's retry or its refresh. */
  private nextWakeMs(): number {
    return Math.min(this.nextPollMs, this.dueAtMs(this.trip), this.dueAtMs(this.command));
  }

  /** When an output is to be written next: now if it changed (after a failure's pause), else at its refresh. */
  private dueAtMs<T>(s: WriteSlot<T>): number {
    if (s.desired === null) return Infinity;
    if (s.written === null || !s.same(s.desired, s.written)) return s.retryAtMs;
    return Math.max(s.retryAtMs, s.writtenAtMs + this.cfg.refreshMs);
  }

  /**
   * One connection attempt, after the backoff the attempts before it earned:
   * none after a connection that answered, else reconnectMinMs doubling to
   * reconnectMaxMs. Only an answered request clears it, so a device that
   * accepts connections and closes them at once (one that takes a single
   * client, and has one) is not hammered either.
   */
  private async reconnect(): Promise<void> {
    if (this.connectDelayMs > 0) await this.sleep(this.connectDelayMs, false);
    if (this.closing) return;
    this.connectDelayMs = Math.min(this.cfg.reconnectMaxMs, Math.max(this.cfg.reconnectMinMs, this.connectDelayMs * 2));
    try {
      await this.connect();
      this.nextPollMs = this.clock();
    } catch (err) {
      this.errors.fail('connection', messageOf(err, this.cfg.connectTimeoutMs));
    }
  }

  private async connect(): Promise<void> {
    const client = new ModbusRTU();
    // Port errors surface as failed requests and a 'close'; without a listener an 'error' event would throw.
    client.on('error', () => { if (this.client === client) this.lost = true; });
    client.on('close', () => { if (this.client === client) this.lost = true; });
    client.setTimeout(this.cfg.timeoutMs);
    try {
      await withDeadline(openTransport(client, this.cfg.transport), this.cfg.connectTimeoutMs, 'no connection');
    } catch (err) {
      destroyQuietly(client);
      throw err;
    }
    client.setID(this.cfg.transport.unitId);
    this.client = client;
    this.lost = false;
    this.failuresInRow = 0;
    if (this.everConnected) this.counters.reconnects++;
    this.everConnected = true;
    this.errors.ok('connection');
    // A device that restarted has forgotten both outputs: write them again now.
    for (const s of [this.trip, this.command] as WriteSlot<unknown>[]) {
      s.written = null;
      s.retryAtMs = 0;
    }
  }

  private drop(reason: string | null): void {
    const c = this.client;
    this.client = null;
    this.lost = false;
    if (c) destroyQuietly(c);
    if (reason) this.errors.fail('connection', reason);
  }

  /** One request, retried; each try bounded by timeoutMs. Counts the failures in a row that make a TCP connection be reopened. */
  private async request<T>(what: string, op: (c: Client) => Promise<T>): Promise<T> {
    let last: unknown = new Error('not connected');
    for (let attempt = 0; attempt <= this.cfg.retries; attempt++) {
      const c = this.client;
      if (c === null || this.lost) break;
      // close() waits for the loop: a poll is not worth a retry then (the trip on close still gets its retries).
      if (attempt > 0 && this.closing && !this.lastWord) break;
      try {
        const r = await withDeadline(op(c), this.cfg.timeoutMs + DEADLINE_SLACK_MS, 'no answer');
        this.failuresInRow = 0;
        this.connectDelayMs = 0;
        return r;
      } catch (err) {
        last = err;
        if (isModbusException(err)) break;
      }
    }
    if (isModbusException(last)) {
      // The device answered (with a refusal): the connection works.
      this.failuresInRow = 0;
      this.connectDelayMs = 0;
    } else if (++this.failuresInRow >= this.cfg.failuresToReconnect && this.cfg.transport.type !== 'rtu') {
      // A half-open TCP connection (a device that died without closing it) never reports 'close'.
      this.lost = true;
    }
    const tries = this.cfg.retries + 1;
    throw new Error(`${what}: ${messageOf(last, this.cfg.timeoutMs)}${!isModbusException(last) && tries > 1 ? ` (${tries} tries)` : ''}`);
  }

  /** Every read point once, the trip written between them if it changed meanwhile. */
  private async poll(): Promise<void> {
    const slots = [...this.sensorSlots, this.feedbackSlot, this.referenceSlot].filter((s): s is ReadSlot => s !== null);
    let sensorRead = false;
    for (const s of slots) {
      if (this.closing || this.client === null || this.lost) return;
      await this.flushTrip();
      try {
        const raw = await this.request(describePoint(s.name, s.point), (c) => readPoint(c, s.point));
        if (this.store(s, raw * s.point.scale + s.point.offset) && s.counts) sensorRead = true;
        this.errors.ok(s.name);
      } catch (err) {
        this.counters.readsFailed++;
        this.errors.fail(s.name, (err as Error).message);
      }
    }
    this.counters.polls++;
    if (sensorRead && this.firstSample) {
      this.firstSample.resolve();
      this.firstSample = null;
    }
  }

  /** Keep a sample as the slot's newest; a sensor value that is no count (NaN, beyond i32) is refused and counted. */
  private store(s: ReadSlot, value: number): boolean {
    const v = s.counts ? toCounts(value) : (Number.isFinite(value) ? value : null);
    if (v === null) {
      this.counters.rangeErrors++;
      this.errors.fail(`${s.name} value`, s.counts ? 'a reading that is no count in the i32 range (after scale and offset) is dropped' : 'a reading that is not a finite number is dropped');
      return false;
    }
    this.errors.ok(`${s.name} value`);
    s.sample = { value: v, atMs: this.clock(), seq: ++this.seq };
    return true;
  }

  /** The outputs that are due, the trip first. */
  private async flushWrites(): Promise<void> {
    await this.flushTrip();
    await this.flushCommand();
  }

  /**
   * The trip, if due; again if a new demand arrived while it was on the wire
   * (a refresh in flight must not let the command go before a new trip).
   * Bounded: a trip that flaps on every request cannot hold the loop.
   */
  private async flushTrip(): Promise<void> {
    for (let i = 0; i < TRIP_WRITES_MAX && this.client !== null && this.dueAtMs(this.trip) <= this.clock(); i++) {
      const tripped = this.trip.desired!;
      await this.send('trip', this.trip, tripped, (c) => writeTripPoint(c, this.cfg, tripped));
    }
  }

  private async flushCommand(): Promise<void> {
    if (this.client === null || this.dueAtMs(this.command) > this.clock()) return;
    const words = this.command.desired!;
    await this.send('command', this.command, words, (c) => writeWords(c, this.cfg.command.address, words, this.cfg.multiWrite));
  }

  private async send<T>(name: string, slot: WriteSlot<T>, value: T, op: (c: Client) => Promise<unknown>): Promise<void> {
    const point = name === 'trip' ? this.cfg.trip : this.cfg.command;
    try {
      await this.request(describePoint(name, point), op);
      slot.written = value;
      slot.writtenAtMs = this.clock();
      this.counters.writes++;
      this.errors.ok(name);
    } catch (err) {
      // Written again after a pause of pollMs: `written` no longer matches `desired`.
      slot.written = null;
      slot.retryAtMs = this.clock() + this.cfg.pollMs;
      this.counters.writesFailed++;
      this.errors.fail(name, (err as Error).message);
    }
  }

  /** Resolves after `ms`, or sooner on close (and, if wakeable, when an output changes). */
  private sleep(ms: number, wakeable: boolean): Promise<void> {
    if (this.closing) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = () => { this.sleeper = null; resolve(); };
      this.sleeper = { timer: setTimeout(done, Math.max(0, ms)), resolve: done, wakeable };
    });
  }

  private wake(closing = false): void {
    const s = this.sleeper;
    if (s && (s.wakeable || closing)) {
      clearTimeout(s.timer);
      s.resolve();
    }
  }

  private shutdown(writeTrip: boolean): Promise<void> {
    this.closed ??= (async () => {
      this.closing = true;
      this.wake(true);
      await this.loop;
      if (writeTrip) await this.writeTripOnClose();
      this.drop(null);
      this.firstSample?.reject(new Error(`${this.name}: closed before a first sample arrived`));
      this.firstSample = null;
    })();
    return this.closed;
  }

  /** The last word on close: the trip, de-energized, if the device can still be told. */
  private async writeTripOnClose(): Promise<void> {
    if (this.client === null || this.lost) {
      this.errors.fail('trip', 'not connected at close: the trip was not written (the device must trip on its own loss of communication)');
      return;
    }
    this.trip.desired = true;
    this.trip.written = null;
    this.trip.retryAtMs = 0;
    this.lastWord = true;
    await this.flushTrip();
  }
}

async function openTransport(client: Client, t: ModbusTransport): Promise<void> {
  switch (t.type) {
    case 'tcp': return client.connectTCP(t.host, { port: t.port });
    case 'rtu-over-tcp': return client.connectTcpRTUBuffered(t.host, { port: t.port });
    case 'rtu': return client.connectRTUBuffered(t.path, { baudRate: t.baudRate, parity: t.parity, dataBits: t.dataBits, stopBits: t.stopBits });
  }
}

function destroyQuietly(c: Client): void {
  try { c.destroy(() => {}); } catch { /* already gone */ }
}

/** The raw value of a read point: a register value as its data type, a bit as 0 or 1. */
async function readPoint(c: Client, p: ModbusReadPoint): Promise<number> {
  const n = DATA_TYPE_WORDS[p.dataType];
  switch (p.kind) {
    case 'holding': return decodeRegisters((await c.readHoldingRegisters(p.address, n)).data, p);
    case 'input': return decodeRegisters((await c.readInputRegisters(p.address, n)).data, p);
    case 'coil': return (await c.readCoils(p.address, 1)).data[0] ? 1 : 0;
    case 'discrete': return (await c.readDiscreteInputs(p.address, 1)).data[0] ? 1 : 0;
  }
}

/** FC6 for one register (FC16 if multiWrite, for devices that refuse FC6), FC16 for two. */
function writeWords(c: Client, address: number, words: readonly number[], multiWrite: boolean): Promise<unknown> {
  return words.length === 1 && !multiWrite ? c.writeRegister(address, words[0]) : c.writeRegisters(address, [...words]);
}

function writeTripPoint(c: Client, cfg: ModbusConfig, tripped: boolean): Promise<unknown> {
  const t = cfg.trip;
  const value = tripped ? t.trippedValue : t.runValue;
  if (t.kind === 'holding') return writeWords(c, t.address, [value], cfg.multiWrite);
  return cfg.multiWrite ? c.writeCoils(t.address, [value === 1]) : c.writeCoil(t.address, value === 1);
}
