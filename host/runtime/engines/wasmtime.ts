// The Wasmtime engine: the core in a supervised child process
// (wasmtime-child.ts) that holds it with the npm `wasmtime` binding. The
// binding aborts the whole process on some errors, so it never runs in the
// host's process, and it only gets a module that validate.ts has accepted.
//
// Calls are synchronous, as the Core wrapper and the simulator need them:
// two named FIFOs, opened with fs.openSync and used with blocking
// fs.writeSync/fs.readSync, carry fixed frames (wasmtime-protocol.ts). The
// host is the only writer of the request FIFO and the child the only writer
// of the response FIFO, so when the child dies the host's read sees the end
// of the file at once: the call throws EngineCrashed, and the next call
// starts a new child with a fresh instance (the caller configures it again).
//
// The binding has no memory access: the exports object has no `memory`, and
// Core reads events through the getter exports. i64 values cross as f64, so
// they must stay within 2^53 (microsecond times do for 285 years).

import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import {
  closeSync, constants, existsSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeFileSync, writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Core } from '../core.js';
import { CORE_FUNCTIONS, CORE_FUNCTION_NAMES, type AbiSignature, type CoreFunctionName, type CoreFunctions } from '../abi.js';
import { assertCoreModule, declaredMemoryBytes } from '../validate.js';
import type { CoreEngine } from './engine.js';
import {
  OP_CALL, OP_INSTANTIATE, REQUEST_BYTES, RESPONSE_BYTES, SNAPSHOT_BYTES, SNAPSHOT_SLOT, STATUS_FATAL, STATUS_OK, STATUS_TRAP,
} from './wasmtime-protocol.js';

/** The child died (crash, abort, kill); the engine starts a new one on the next call. */
export class EngineCrashed extends Error {
  constructor(readonly pid: number, readonly during: string, readonly detail: string) {
    super(`wasmtime child (pid ${pid}) died during ${during}${detail ? `: ${detail}` : ''}; the next call starts a new child with a fresh instance (configure it again)`);
    this.name = 'EngineCrashed';
  }
}

/** A child could not be started, or the module did not load in it. */
export class EngineStartError extends Error {
  constructor(message: string) {
    super(`wasmtime engine: ${message}`);
    this.name = 'EngineStartError';
  }
}

/** A call trapped in Wasmtime (as WebAssembly.RuntimeError would in V8), or the binding refused it; the child lives on. */
export class WasmtimeCallError extends Error {
  constructor(readonly fn: string, readonly detail: string) {
    super(`wasmtime: ${fn}() failed: ${detail}`);
    this.name = 'WasmtimeCallError';
  }
}

export interface WasmtimeOptions {
  /** Where the bytes came from, for error messages. */
  source?: string;
  /** How long a child may take to load and instantiate the module. */
  startTimeoutMs?: number;
}

interface Child {
  proc: ChildProcess;
  pid: number;
  /** Host's end of the request FIFO (read-write, so opening never blocks and writing never fails). */
  request: number;
  /** Host's end of the response FIFO (read-only, blocking: the end of file is the child's death). */
  response: number;
  files: string[];
  log: string;
}

/** The compiled child script (from source under vitest, the build in dist/). */
function childScript(): string {
  const here = fileURLToPath(import.meta.url);
  return here.endsWith('.ts')
    ? here.replace(/\/host\/runtime\/engines\/wasmtime\.ts$/, '/dist/host/runtime/engines/wasmtime-child.js')
    : here.replace(/wasmtime\.js$/, 'wasmtime-child.js');
}

const sleepCell = new Int32Array(new SharedArrayBuffer(4));
const sleepMs = (ms: number) => Atomics.wait(sleepCell, 0, 0, ms);

/** From /proc: null while the process runs, else how it ended (a zombie keeps its exit code until reaped). */
function procExit(pid: number): { ended: boolean; how: string } {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return { ended: existsSync('/proc/self/stat'), how: '' };
  }
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  if (fields[0] !== 'Z' && fields[0] !== 'X') return { ended: false, how: '' };
  const code = Number(fields[49]); // field 52, exit_code, as waitpid reports it (Linux >= 3.5)
  if (!Number.isInteger(code)) return { ended: true, how: '' };
  return { ended: true, how: (code & 0x7f) ? `killed by signal ${code & 0x7f}` : `exit code ${code >> 8}` };
}

function tail(path: string, chars = 1500): string {
  try {
    const text = readFileSync(path, 'utf8').trim();
    return text.length > chars ? `...${text.slice(-chars)}` : text;
  } catch {
    return '';
  }
}

/** Read exactly buf.length bytes; false at the end of the file. `poll`: the fd is non-blocking; wait while `alive()`. */
function readExact(fd: number, buf: Uint8Array, poll?: { alive: () => boolean; deadline: number }): boolean {
  let got = 0;
  while (got < buf.length) {
    let n: number;
    try {
      n = readSync(fd, buf, got, buf.length - got, null);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EINTR') continue;
      if (code !== 'EAGAIN' || !poll) throw err;
      n = -1; // a writer, no data yet
    }
    if (n > 0) { got += n; continue; }
    if (!poll) return false;
    // n === 0: no writer yet (the child has not opened its end) or no more (it died).
    if (n === 0 && !poll.alive()) return false;
    if (Date.now() > poll.deadline) throw new EngineStartError('the child did not answer in time');
    sleepMs(1);
  }
  return true;
}

function writeAll(fd: number, buf: Uint8Array): void {
  let done = 0;
  while (done < buf.length) {
    try {
      done += writeSync(fd, buf, done, buf.length - done);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EINTR') throw err;
    }
  }
}

/** Engines with a live child, closed when the process exits. */
const live = new Set<WasmtimeEngine>();
let exitHookInstalled = false;
function track(engine: WasmtimeEngine): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => { for (const e of [...live]) e.dispose(); });
  }
  live.add(engine);
}

export class WasmtimeEngine implements CoreEngine {
  /** Child processes this thread has started (the tests check that a refused module starts none). */
  static childrenStarted = 0;
  readonly name = 'wasmtime' as const;
  /** Bytes of linear memory the module declares (the binding cannot show the instance's). */
  readonly memoryBytes: number;
  /** Children started after the first one (after crashes). */
  restarts = 0;
  /** Calls served. */
  calls = 0;
  /** Calls that went to the child (the others were answered from the snapshot). */
  roundTrips = 0;
  private readonly dir: string;
  private readonly wasmPath: string;
  private readonly startTimeoutMs: number;
  private child: Child | null = null;
  private children = 0;
  private generation = 0;
  private disposed = false;
  private readonly req = new Uint8Array(REQUEST_BYTES);
  private readonly reqView = new DataView(this.req.buffer);
  private readonly resp = new Uint8Array(RESPONSE_BYTES);
  private readonly respView = new DataView(this.resp.buffer);
  /** The argument-free getters' values after the child's last state-changing call (wasmtime-protocol.ts). */
  private readonly snapshot = new Float64Array(SNAPSHOT_BYTES / 8);
  private readonly snapshotBytes = new Uint8Array(this.snapshot.buffer);
  private snapshotValid = false;

  private constructor(bytes: Uint8Array, opts: WasmtimeOptions) {
    this.memoryBytes = declaredMemoryBytes(bytes);
    this.startTimeoutMs = opts.startTimeoutMs ?? 20_000;
    this.dir = mkdtempSync(join(tmpdir(), 'edgeloop-wasmtime-'));
    // The child loads this private copy: exactly the bytes that were validated.
    this.wasmPath = join(this.dir, 'core.wasm');
    writeFileSync(this.wasmPath, bytes);
  }

  /**
   * Validate the module (InvalidCoreModule, naming what is wrong, and no child
   * is started), then start a child that loads and instantiates it.
   */
  static open(bytes: Uint8Array, opts: WasmtimeOptions = {}): WasmtimeEngine {
    assertCoreModule(bytes, opts.source);
    const script = childScript();
    if (!existsSync(script)) throw new EngineStartError(`child script ${script} is missing (run npm run build)`);
    const engine = new WasmtimeEngine(bytes, opts);
    try {
      engine.child = engine.startChild();
    } catch (err) {
      engine.dispose();
      throw err;
    }
    track(engine);
    return engine;
  }

  /** The current child's process id (null between a crash and the next call). */
  get pid(): number | null {
    return this.child?.pid ?? null;
  }

  /** A fresh instance in the child (the previous one is dropped: calls through its Core then throw), wrapped. */
  core(): Core {
    this.checkOpen();
    if (this.child) {
      this.req.fill(0);
      this.req[0] = OP_INSTANTIATE;
      this.exchange(this.child, 'instantiate');
    } else {
      this.restart();
    }
    const gen = ++this.generation;
    return Core.fromExports(this.exportsFor(gen), { memoryBytes: this.memoryBytes });
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (this.child) this.closeChild(this.child);
    this.child = null;
    live.delete(this);
    rmSync(this.dir, { recursive: true, force: true });
  }

  private checkOpen(): void {
    if (this.disposed) throw new Error('wasmtime engine: used after dispose()');
  }

  private exportsFor(gen: number): CoreFunctions {
    const out: Record<string, (...args: unknown[]) => number | bigint> = {};
    CORE_FUNCTION_NAMES.forEach((name, index) => {
      const sig: AbiSignature = CORE_FUNCTIONS[name];
      const slot = SNAPSHOT_SLOT[index];
      const i64 = sig.result === 'i64';
      out[name] = slot < 0
        ? (...args: unknown[]) => this.call(gen, index, name, sig, args)
        : (...args: unknown[]) => {
          if (!this.snapshotValid || gen !== this.generation || this.disposed) return this.call(gen, index, name, sig, args);
          this.calls++;
          return i64 ? BigInt(this.snapshot[slot]) : this.snapshot[slot];
        };
    });
    return out as unknown as CoreFunctions;
  }

  private call(gen: number, index: number, name: CoreFunctionName, sig: AbiSignature, args: unknown[]): number | bigint {
    this.checkOpen();
    if (gen !== this.generation) throw new Error(`wasmtime engine: ${name}() on an instance that core() has replaced`);
    const req = this.req;
    const argc = sig.params.length;
    req[0] = OP_CALL;
    req[1] = index;
    req[2] = argc;
    for (let k = 0; k < argc; k++) this.reqView.setFloat64(8 + 8 * k, encodeArg(name, k, sig.params[k], args[k]), true);
    const child = this.child ?? this.restart();
    const value = this.exchange(child, `${name}()`);
    // A state-changing call that brought no snapshot (a getter trapped in the child) leaves none to trust.
    if (this.resp[1] !== 1 && SNAPSHOT_SLOT[index] < 0) this.snapshotValid = false;
    this.calls++;
    return sig.result === 'i64' ? BigInt(value) : value;
  }

  /** Send the request in this.req, return the result; throws EngineCrashed or WasmtimeCallError. */
  private exchange(child: Child, during: string): number {
    this.roundTrips++;
    writeAll(child.request, this.req);
    if (!readExact(child.response, this.resp)) this.crashed(child, during);
    const status = this.resp[0];
    if (status === STATUS_OK) {
      if (this.resp[1] === 1) {
        if (!readExact(child.response, this.snapshotBytes)) this.crashed(child, during);
        this.snapshotValid = true;
      }
      return this.respView.getFloat64(8, true);
    }
    this.snapshotValid = false;
    const message = this.readMessage(child);
    if (status === STATUS_TRAP) throw new WasmtimeCallError(during.replace(/\(\)$/, ''), message);
    if (status === STATUS_FATAL) this.crashed(child, during, message);
    this.crashed(child, during, `unknown status ${status}`);
  }

  private readMessage(child: Child): string {
    const text = new Uint8Array(this.respView.getUint32(4, true));
    if (!readExact(child.response, text)) this.crashed(child, 'a reply');
    return Buffer.from(text).toString('utf8');
  }

  /** The child is gone: collect what it said, clean up, throw. */
  private crashed(child: Child, during: string, message = ''): never {
    let how = '';
    for (let i = 0; i < 200 && !how; i++) { // its exit status, once the kernel has it (about a millisecond)
      const e = procExit(child.pid);
      if (e.ended) { how = e.how || 'ended'; break; }
      sleepMs(1);
    }
    const detail = [how, message, tail(child.log)].filter(Boolean).join('; ');
    this.closeChild(child);
    this.child = null;
    this.snapshotValid = false;
    throw new EngineCrashed(child.pid, during, detail);
  }

  private restart(): Child {
    this.checkOpen();
    this.snapshotValid = false;
    this.child = this.startChild();
    this.restarts++;
    return this.child;
  }

  private startChild(): Child {
    const n = this.children++;
    const requestPath = join(this.dir, `request.${n}`);
    const responsePath = join(this.dir, `response.${n}`);
    const log = join(this.dir, `child.${n}.log`);
    execFileSync('mkfifo', ['-m', '600', requestPath, responsePath]);
    const files = [requestPath, responsePath, log];
    // The response FIFO first as a non-blocking reader, so that the child's
    // open for writing returns at once; the request FIFO read-write, so that
    // the host's open returns at once and the child's open for reading too.
    const probe = openSync(responsePath, constants.O_RDONLY | constants.O_NONBLOCK);
    const request = openSync(requestPath, constants.O_RDWR);
    const logFd = openSync(log, 'w');
    WasmtimeEngine.childrenStarted++;
    const proc = spawn(process.execPath, [childScript(), requestPath, responsePath, this.wasmPath], {
      stdio: ['ignore', logFd, logFd],
    });
    closeSync(logFd);
    proc.on('error', () => {}); // a failed spawn shows as pid undefined below
    proc.unref(); // the child never keeps the host alive; it exits when the host's request end closes
    const pid = proc.pid;
    const abandon = (why: string): never => {
      proc.kill('SIGKILL');
      for (const fd of [probe, request]) closeSync(fd);
      const said = tail(log);
      for (const f of files) rmSync(f, { force: true });
      throw new EngineStartError(`${why}${said ? `: ${said}` : ''}`);
    };
    if (pid === undefined) return abandon(`cannot start ${process.execPath}`);
    // The first reply says whether the module loaded; wait for it, watching the child.
    const deadline = Date.now() + this.startTimeoutMs;
    const watch = { alive: () => !procExit(pid).ended, deadline };
    /** '' when buf is filled, else why not (the child ended, or took too long). */
    const read = (buf: Uint8Array): string => {
      try {
        return readExact(probe, buf, watch) ? '' : `the child (pid ${pid}) ended before it was ready (${procExit(pid).how || 'no status'})`;
      } catch (err) {
        return (err as Error).message;
      }
    };
    const failed = read(this.resp);
    if (failed) return abandon(failed);
    if (this.resp[0] !== STATUS_OK) {
      const text = new Uint8Array(this.respView.getUint32(4, true));
      return abandon(read(text) || Buffer.from(text).toString('utf8'));
    }
    if (this.resp[1] === 1) {
      const lost = read(this.snapshotBytes);
      if (lost) return abandon(lost);
      this.snapshotValid = true;
    }
    // Swap the probe for a blocking reader. The child holds a writer now, but
    // may die at any moment: a writer of our own for the length of the open
    // keeps it from blocking, and once closed, the child's is the only one.
    // (Polling the probe instead of blocking was tried: a round trip is no
    // faster inside a run, and much slower with two workers on two cores.)
    const hold = openSync(responsePath, constants.O_WRONLY | constants.O_NONBLOCK);
    const response = openSync(responsePath, constants.O_RDONLY);
    closeSync(hold);
    closeSync(probe);
    return { proc, pid, request, response, files, log };
  }

  private closeChild(child: Child): void {
    for (const fd of [child.request, child.response]) {
      try { closeSync(fd); } catch { /* closed already */ }
    }
    child.proc.kill('SIGKILL'); // a no-op once the child has exited and been reaped
    for (const f of child.files) rmSync(f, { force: true });
  }
}

/** One argument as the binding takes it (an f64), converted as V8 converts it for the same Wasm type. */
function encodeArg(name: string, k: number, type: string, value: unknown): number {
  if (type === 'i64') {
    if (typeof value !== 'bigint') throw new TypeError(`${name}: argument ${k} (i64) must be a bigint, received ${typeof value}`);
    const v = Number(BigInt.asIntN(64, value));
    if (!Number.isSafeInteger(v)) throw new RangeError(`${name}: argument ${k} (i64) is ${value}, beyond 2^53, which the wasmtime binding cannot pass`);
    return v;
  }
  if (typeof value === 'bigint') throw new TypeError(`${name}: argument ${k} (${type}) cannot be a bigint`);
  return type === 'i32' ? Number(value) | 0 : Number(value);
}
