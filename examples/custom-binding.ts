// A custom I/O binding: a loop on a microcontroller board that speaks a
// small ASCII line protocol over a serial port (docs/io.md, "Writing your
// own binding"). The board samples its ADC and sends
//
//   S <counts> [<counts> [<counts>]]   one sample of each sensor, raw ADC counts
//   F <value>                          the actuator's measured output (optional)
//
// and takes
//
//   U <value>                          the actuator command
//   T 1 | T 0                          trip (de-energize) | run permitted
//
// The board's firmware must open its contactor on `T 1` and also when no
// `T 0` has arrived for a while (its watchdog): this binding sends `T 0`
// again every refreshMs while run is permitted, so a host that hangs, a
// cable that is pulled or a process that dies trips the loop.
//
// It runs over any Node.js Duplex stream: a SerialPort from the `serialport`
// package, a TCP socket to a terminal server, or the in-memory board at the
// bottom of this file for a try without hardware:
//
//   import { SerialPort } from 'serialport';
//   const binding = new LineBinding(new SerialPort({ path: '/dev/ttyACM0', baudRate: 115200 }), { sensors: 1 });
//   // ...then hand `binding` to an Agent (edgeloop/agent) with a core configured for the board's ADC.

import { Duplex } from 'node:stream';
import type { IoBinding, IoReading } from 'edgeloop/io';

export interface LineBindingOptions {
  /** Sensors the board sends in each S line (1..3). */
  sensors: number;
  /** A sample older than this is not used (ms; default 500). */
  staleMs?: number;
  /** While run is permitted, `T 0` is sent again this often (ms; default 200): it feeds the board's watchdog. */
  refreshMs?: number;
  /** Monotonic clock, ms (default performance.now). */
  clockMs?: () => number;
  /** A line the board sent that is not the protocol, or a stream error; called once per distinct message. */
  onError?: (message: string) => void;
}

/** The longest line kept: a board that sends garbage without newlines must not grow the buffer without bound. */
const LINE_CHARS_MAX = 256;

export class LineBinding implements IoBinding {
  private readonly staleMs: number;
  private readonly refreshMs: number;
  private readonly clock: () => number;
  private partial = '';
  private sample: { counts: (number | null)[]; atMs: number } | null = null;
  private sampleTaken = true;
  private feedback: { value: number; atMs: number } | null = null;
  private lastError = '';
  private sentCommand: string | null = null;
  private sentTrip: { tripped: boolean; atMs: number } | null = null;
  /** Counters for the operator: samples the board sent that read() gave as null for being stale, and lines refused. */
  readonly stats = { staleSamples: 0, badLines: 0, writesDropped: 0 };

  constructor(private readonly port: Duplex, private readonly opts: LineBindingOptions) {
    this.staleMs = opts.staleMs ?? 500;
    this.refreshMs = opts.refreshMs ?? 200;
    this.clock = opts.clockMs ?? (() => performance.now());
    port.setEncoding('utf8');
    // The stream's callbacks only store what arrived; the loop reads it at its own pace in read().
    port.on('data', (chunk: string) => this.take(chunk));
    port.on('error', (err: Error) => this.report(`stream: ${err.message}`));
  }

  /** The newest sample, once; null for each sensor when none arrived since the last tick or it is older than staleMs. */
  read(_nowUs: number): IoReading {
    const now = this.clock();
    const fb = this.feedback !== null && now - this.feedback.atMs <= this.staleMs ? this.feedback.value : null;
    const s = this.sample;
    if (s === null || this.sampleTaken || now - s.atMs > this.staleMs) {
      if (s !== null && !this.sampleTaken) this.stats.staleSamples++;
      return { sensors: new Array(this.opts.sensors).fill(null), feedback: fb };
    }
    this.sampleTaken = true;
    return { sensors: s.counts, feedback: fb };
  }

  /** The command, sent only when it changed (to the board's resolution of 0.1). */
  write(command: number, _nowUs: number): void {
    if (!Number.isFinite(command)) return;
    const text = command.toFixed(1);
    if (text === this.sentCommand) return;
    if (this.send(`U ${text}`)) this.sentCommand = text;
  }

  /** The trip on every change, and `T 0` again every refreshMs (the board's watchdog trips without it). */
  writeTrip(tripped: boolean, _nowUs: number): void {
    const now = this.clock();
    const last = this.sentTrip;
    if (last !== null && last.tripped === tripped && (tripped || now - last.atMs < this.refreshMs)) return;
    if (this.send(`T ${tripped ? 1 : 0}`)) this.sentTrip = { tripped, atMs: now };
  }

  /** Write a line without waiting: a stream that is not taking more drops it (counted) and the next tick tries again. */
  private send(line: string): boolean {
    if (this.port.destroyed || this.port.writableNeedDrain) {
      this.stats.writesDropped++;
      return false;
    }
    this.port.write(`${line}\n`);
    return true;
  }

  private take(chunk: string): void {
    const lines = (this.partial + chunk).split('\n');
    this.partial = lines.pop()!.slice(-LINE_CHARS_MAX);
    for (const line of lines) this.parse(line.trim());
  }

  private parse(line: string): void {
    const [tag, ...fields] = line.split(/\s+/);
    const nums = fields.map(Number);
    if (tag === 'S' && nums.length === this.opts.sensors && nums.every(Number.isInteger)) {
      this.sample = { counts: nums, atMs: this.clock() };
      this.sampleTaken = false;
    } else if (tag === 'F' && nums.length === 1 && Number.isFinite(nums[0])) {
      this.feedback = { value: nums[0], atMs: this.clock() };
    } else if (line !== '') {
      this.stats.badLines++;
      this.report(`the board sent a line that is not the protocol: '${line.slice(0, 40)}'`);
    }
  }

  private report(message: string): void {
    if (message === this.lastError) return;
    this.lastError = message;
    this.opts.onError?.(message);
  }
}

/**
 * An in-memory board for trying the binding without hardware: a heater
 * (first order, 1.5 C per %, 20 s, ambient 20 C) behind a 12-bit ADC at
 * 0.05 C per count, sampled every 100 ms, with a contactor that opens on
 * `T 1` and when `T 0` has not come for 500 ms. Stop it with destroy().
 */
export function simulatedBoard(): Duplex {
  let temperature = 20;
  let command = 0;
  let tripped = true;
  let lastRunPermitMs = -Infinity;
  let pending = '';
  const board = new Duplex({
    read() {},
    write(chunk: Buffer, _encoding, done) {
      const lines = (pending + chunk.toString('utf8')).split('\n');
      pending = lines.pop()!;
      for (const line of lines) {
        const [tag, value] = line.trim().split(/\s+/);
        if (tag === 'U') command = Math.min(100, Math.max(0, Number(value) || 0));
        if (tag === 'T') {
          tripped = value !== '0';
          if (!tripped) lastRunPermitMs = performance.now();
        }
      }
      done();
    },
  });
  const timer = setInterval(() => {
    const watchdog = performance.now() - lastRunPermitMs > 500;
    const power = tripped || watchdog ? 0 : command;
    temperature += ((1.5 * power + 20 - temperature) * 0.1) / 20;
    board.push(`S ${Math.round(temperature / 0.05)}\nF ${power.toFixed(1)}\n`);
  }, 100);
  board.on('close', () => clearInterval(timer));
  return board;
}
