// A V8 core in a worker thread, called synchronously with a deadline, so
// that a core whose tick never returns (an endless loop in a deployed
// module) cannot freeze the thread that runs the loop. Every export call is
// a round trip through a SharedArrayBuffer: the caller writes the call and
// its arguments, wakes the worker (Atomics.notify) and waits for the answer
// (Atomics.wait) at most `deadlineMs`; past it the worker is terminated
// (V8 interrupts a Wasm loop) and the call throws CoreStalled, which the
// agent handles as a trap: safe output, trip, and a new core.
//
// A call costs a few microseconds more than in the same thread; the core's
// linear memory stays in the worker (events are read through the getter
// exports, as on Wasmtime).

import { Worker } from 'node:worker_threads';
import { CORE_FUNCTIONS, CORE_FUNCTION_NAMES, type CoreFunctions } from '../abi.js';
import { Core } from '../core.js';

/** A call that did not return within the deadline: the worker was terminated. */
export class CoreStalled extends Error {
  constructor(readonly call: string, readonly deadlineMs: number) {
    super(`the core did not return from ${call} within ${deadlineMs} ms (an endless loop?); its thread was stopped`);
    this.name = 'CoreStalled';
  }
}

/** A call that trapped in the worker (a Wasm runtime error), with its message. */
export class IsolatedTrap extends Error {
  constructor(readonly call: string, message: string) {
    super(`${call}: ${message}`);
    this.name = 'IsolatedTrap';
  }
}

const IDLE = 0;
const REQUEST = 1;
const DONE = 2;
const ARGS = 8;
const MESSAGE_BYTES = 512;

// The worker: instantiate, then serve calls until terminated.
const WORKER = `
const { workerData } = require('node:worker_threads');
const { module, sab, names, i64 } = workerData;
const ex = new WebAssembly.Instance(module, {}).exports;
const ctrl = new Int32Array(sab, 0, 4);          // state, function, argc, status
const f = new Float64Array(sab, 16, ${ARGS + 1});
const b = new BigInt64Array(sab, 16 + 8 * ${ARGS + 1}, ${ARGS + 1});
const msg = new Uint8Array(sab, 16 + 16 * ${ARGS + 1}, ${MESSAGE_BYTES});
for (;;) {
  let s;
  while ((s = Atomics.load(ctrl, 0)) !== ${REQUEST}) Atomics.wait(ctrl, 0, s);
  const k = ctrl[1];
  const args = [];
  for (let a = 0; a < ctrl[2]; a++) args.push(i64[k][a] ? b[a] : f[a]);
  try {
    const r = ex[names[k]](...args);
    if (typeof r === 'bigint') b[${ARGS}] = r; else f[${ARGS}] = r;
    ctrl[3] = 0;
  } catch (err) {
    const text = new TextEncoder().encode(String(err && err.message || err)).subarray(0, ${MESSAGE_BYTES - 1});
    msg.fill(0); msg.set(text);
    ctrl[3] = 1;
  }
  Atomics.store(ctrl, 0, ${DONE});
  Atomics.notify(ctrl, 0);
}
`;

export interface IsolatedCore {
  core: Core;
  /** Stop the worker (idempotent). */
  dispose(): void;
}

/**
 * A new instance of `module` in its own worker thread, wrapped as a Core
 * whose every call answers within `deadlineMs` or throws CoreStalled (after
 * which every further call throws it too: make a new one).
 */
export function isolatedCore(module: WebAssembly.Module, deadlineMs = 1000): IsolatedCore {
  const sab = new SharedArrayBuffer(16 + 16 * (ARGS + 1) + MESSAGE_BYTES);
  const ctrl = new Int32Array(sab, 0, 4);
  const f = new Float64Array(sab, 16, ARGS + 1);
  const b = new BigInt64Array(sab, 16 + 8 * (ARGS + 1), ARGS + 1);
  const msg = new Uint8Array(sab, 16 + 16 * (ARGS + 1), MESSAGE_BYTES);
  const i64 = CORE_FUNCTION_NAMES.map((n) => CORE_FUNCTIONS[n].params.map((p) => p === 'i64'));
  const worker = new Worker(WORKER, { eval: true, workerData: { module, sab, names: [...CORE_FUNCTION_NAMES], i64 } });
  worker.unref();
  let stalled: CoreStalled | null = null;
  let disposed = false;
  const dispose = () => { if (!disposed) { disposed = true; void worker.terminate(); } };
  const call = (index: number, name: string, args: unknown[]): number | bigint => {
    if (stalled) throw stalled;
    if (disposed) throw new Error(`isolated core: ${name}() after dispose()`);
    const sig = CORE_FUNCTIONS[CORE_FUNCTION_NAMES[index]];
    for (let a = 0; a < sig.params.length; a++) {
      if (sig.params[a] === 'i64') b[a] = typeof args[a] === 'bigint' ? (args[a] as bigint) : BigInt(Math.trunc(Number(args[a])));
      else f[a] = Number(args[a]);
    }
    ctrl[1] = index;
    ctrl[2] = sig.params.length;
    Atomics.store(ctrl, 0, REQUEST);
    Atomics.notify(ctrl, 0);
    // The first call also waits for the worker to start and instantiate: give it the deadline plus a start-up allowance.
    const until = Date.now() + deadlineMs + (started ? 0 : 5000);
    while (Atomics.load(ctrl, 0) === REQUEST) {
      const left = until - Date.now();
      if (left <= 0 || Atomics.wait(ctrl, 0, REQUEST, left) === 'timed-out') {
        if (Atomics.load(ctrl, 0) !== REQUEST) break;
        stalled = new CoreStalled(`${name}()`, deadlineMs);
        dispose();
        throw stalled;
      }
    }
    started = true;
    const status = ctrl[3];
    Atomics.store(ctrl, 0, IDLE);
    if (status !== 0) {
      const end = msg.indexOf(0);
      throw new IsolatedTrap(`${name}()`, new TextDecoder().decode(msg.subarray(0, end < 0 ? MESSAGE_BYTES : end)));
    }
    return sig.result === 'i64' ? b[ARGS] : f[ARGS];
  };
  let started = false;
  const exports: Record<string, (...args: unknown[]) => number | bigint> = {};
  CORE_FUNCTION_NAMES.forEach((name, index) => { exports[name] = (...args: unknown[]) => call(index, name, args); });
  return { core: Core.fromExports(exports as unknown as CoreFunctions), dispose };
}
