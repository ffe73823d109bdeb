// A target that speaks the line protocol (PROTOCOL.md) over a child
// process's stdin/stdout: the native harness directly, the firmware through
// QEMU's serial port on stdio. One reply line per command line, in order;
// every wait is bounded; the process this module started is killed by its
// PID on close(), on a timeout, and at the latest when Node exits.

import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';

/** Anything that answers protocol lines: a process, or the V8 reference (protocol.ts). */
export interface LineTarget {
  readonly name: string;
  /** One command line (no newline) -> its reply line. */
  request(line: string): Promise<string>;
  /** Many lines, pipelined (at most `window` in flight); replies in order. */
  requestMany(lines: readonly string[], window?: number): Promise<string[]>;
  close(): Promise<void>;
}

/** The banner a target prints once it runs: `ready <target> <abi> <memory bytes>`. */
export interface Banner {
  target: string;
  abiVersion: number;
  memoryBytes: number;
}

export class TargetError extends Error {
  constructor(readonly target: string, message: string, readonly stderr = '') {
    super(`${target}: ${message}${stderr.trim() ? `\n--- stderr ---\n${stderr.trim().slice(-2000)}` : ''}`);
    this.name = 'TargetError';
  }
}

export interface ProcessTargetOptions {
  name: string;
  command: string;
  args: readonly string[];
  /** Wait at most this long for the banner (default 15 s). */
  readyTimeoutMs?: number;
  /** Wait at most this long for any one reply (default 5 s). */
  replyTimeoutMs?: number;
}

interface Pending {
  resolve(line: string): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

// Every process started here, so that none outlives Node.
const live = new Set<ChildProcessWithoutNullStreams>();
process.once('exit', () => {
  for (const child of live) killChild(child);
});

function killChild(child: ChildProcessWithoutNullStreams): void {
  if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

export class ProcessTarget implements LineTarget {
  readonly name: string;
  banner!: Banner;
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly replyTimeoutMs: number;
  private readonly pending: Pending[] = [];
  private partial = '';
  private stderr = '';
  private failure: Error | null = null;
  private exited: Promise<void>;
  private onBanner: ((b: Banner) => void) | null = null;

  private constructor(opts: ProcessTargetOptions) {
    this.name = opts.name;
    this.replyTimeoutMs = opts.replyTimeoutMs ?? 5_000;
    this.child = spawn(opts.command, [...opts.args], { stdio: ['pipe', 'pipe', 'pipe'] });
    live.add(this.child);
    this.exited = new Promise((resolve) => {
      this.child.once('close', () => {
        live.delete(this.child);
        this.fail(new TargetError(this.name, `process exited (code ${this.child.exitCode}, signal ${this.child.signalCode})`, this.stderr));
        resolve();
      });
    });
    this.child.once('error', (e) => this.fail(new TargetError(this.name, `cannot start ${opts.command}: ${e.message}`)));
    this.child.stdin.on('error', () => { /* reported through 'close' */ });
    this.child.stdout.setEncoding('latin1');
    this.child.stdout.on('data', (chunk: string) => this.onData(chunk));
    this.child.stderr.setEncoding('utf8');
    this.child.stderr.on('data', (chunk: string) => { this.stderr = (this.stderr + chunk).slice(-8192); });
  }

  /** Start the process and wait for its banner. */
  static async start(opts: ProcessTargetOptions): Promise<ProcessTarget> {
    const t = new ProcessTarget(opts);
    const timeoutMs = opts.readyTimeoutMs ?? 15_000;
    try {
      t.banner = await new Promise<Banner>((resolve, reject) => {
        const timer = setTimeout(() => reject(new TargetError(t.name, `no banner within ${timeoutMs} ms`, t.stderr)), timeoutMs);
        t.onBanner = (b) => { clearTimeout(timer); resolve(b); };
        void t.exited.then(() => { clearTimeout(timer); reject(t.failure ?? new TargetError(t.name, 'exited before its banner', t.stderr)); });
      });
    } catch (e) {
      await t.close();
      throw e;
    }
    return t;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  private onData(chunk: string): void {
    this.partial += chunk;
    for (;;) {
      const nl = this.partial.indexOf('\n');
      if (nl < 0) break;
      const line = this.partial.slice(0, nl).replace(/\r$/, '');
      this.partial = this.partial.slice(nl + 1);
      this.onLine(line);
    }
  }

  private onLine(line: string): void {
    if (this.onBanner) {
      const m = /^ready (\S+) (-?\d+) (\d+)$/.exec(line);
      if (m) {
        const cb = this.onBanner;
        this.onBanner = null;
        cb({ target: m[1], abiVersion: Number(m[2]), memoryBytes: Number(m[3]) });
      }
      return; // anything before the banner is boot noise
    }
    if (line.startsWith('fault ')) {
      // A hardware fault on the MCU: it resets; what was in flight is lost.
      this.fail(new TargetError(this.name, `hardware fault (${line})`, this.stderr));
      return;
    }
    const p = this.pending.shift();
    if (!p) {
      this.fail(new TargetError(this.name, `unexpected line '${line}'`, this.stderr));
      return;
    }
    clearTimeout(p.timer);
    p.resolve(line);
  }

  private fail(e: Error): void {
    if (!this.failure) this.failure = e;
    for (const p of this.pending.splice(0)) {
      clearTimeout(p.timer);
      p.reject(this.failure);
    }
    killChild(this.child);
  }

  request(line: string): Promise<string> {
    if (this.failure) return Promise.reject(this.failure);
    if (line.includes('\n')) return Promise.reject(new TypeError('a protocol line has no newline'));
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => this.fail(new TargetError(this.name, `no reply to '${line}' within ${this.replyTimeoutMs} ms`, this.stderr)),
        this.replyTimeoutMs);
      this.pending.push({ resolve, reject, timer });
      this.child.stdin.write(`${line}\n`);
    });
  }

  async requestMany(lines: readonly string[], window = 32): Promise<string[]> {
    const replies: string[] = new Array(lines.length);
    let next = 0;
    const lane = async () => {
      while (next < lines.length) {
        const i = next++;
        replies[i] = await this.request(lines[i]);
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(window, lines.length)) }, lane));
    return replies;
  }

  /** Kill the process (by its PID) and wait for it, at most 5 s. */
  async close(): Promise<void> {
    killChild(this.child);
    await Promise.race([this.exited, new Promise((r) => setTimeout(r, 5_000).unref())]);
  }
}
