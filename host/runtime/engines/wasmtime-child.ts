// The Wasmtime child: loads one validated core with the npm `wasmtime`
// binding and serves calls from its parent over two FIFOs (the frames are in
// wasmtime-protocol.ts). argv: <request fifo> <response fifo> <core.wasm>.
// It exits when the parent's end of the request FIFO closes (the parent
// disposed it, or died). It guards every call so that the binding never sees
// a wrong argument count (which would abort the process); the module itself
// was validated by the parent (host/runtime/validate.ts) before it got here.

import { closeSync, constants, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { createRequire } from 'node:module';
import { CORE_FUNCTIONS, CORE_FUNCTION_NAMES } from '../abi.js';
import {
  MESSAGE_BYTES_MAX, OP_CALL, OP_INSTANTIATE, REQUEST_BYTES, RESPONSE_BYTES, SNAPSHOT, SNAPSHOT_BYTES, SNAPSHOT_SLOT,
  STATUS_FATAL, STATUS_OK, STATUS_TRAP,
} from './wasmtime-protocol.js';

/** The parts of the binding this child uses (wasmtime@0.0.2, index.d.ts). */
interface WasmFunction { call(store: unknown, args: number[]): number }
interface Binding {
  Engine: { default(): unknown };
  Module: { fromFile(engine: unknown, path: string): unknown };
  Store: new (engine: unknown) => unknown;
  Instance: new (store: unknown, module: unknown) => { getFunc(store: unknown, name: string): WasmFunction | null };
}

const [requestPath, responsePath, wasmPath] = process.argv.slice(2);
// Both opens return at once: the parent holds the other ends already.
const response = openSync(responsePath, constants.O_WRONLY);
const request = openSync(requestPath, constants.O_RDONLY);

const out = new Uint8Array(RESPONSE_BYTES + SNAPSHOT_BYTES);
const outView = new DataView(out.buffer);

function send(frame: Uint8Array): void {
  let done = 0;
  while (done < frame.length) done += writeSync(response, frame, done, frame.length - done);
}

function reply(status: number, value: number, message = ''): void {
  const text = Buffer.from(message, 'utf8').subarray(0, MESSAGE_BYTES_MAX);
  out.fill(0, 0, RESPONSE_BYTES);
  out[0] = status;
  outView.setUint32(4, text.length, true);
  outView.setFloat64(8, value, true);
  send(text.length ? Buffer.concat([out.subarray(0, RESPONSE_BYTES), text]) : out.subarray(0, RESPONSE_BYTES));
}

/** A successful result with the snapshot of the argument-free getters (wasmtime-protocol.ts). */
function replyWithSnapshot(value: number): void {
  try {
    for (let k = 0; k < snapshotFns.length; k++) outView.setFloat64(RESPONSE_BYTES + 8 * k, snapshotFns[k].call(store, []), true);
  } catch {
    reply(STATUS_OK, value); // a getter that traps: no snapshot, the host asks each time
    return;
  }
  out.fill(0, 0, RESPONSE_BYTES);
  out[1] = 1;
  outView.setFloat64(8, value, true);
  send(out);
}

/** Read exactly one request; false at end of file (the parent is gone). */
function readRequest(buf: Uint8Array): boolean {
  let got = 0;
  while (got < buf.length) {
    const n = readSync(request, buf, got, buf.length - got, null);
    if (n === 0) return false;
    got += n;
  }
  return true;
}

let binding: Binding;
let engine: unknown;
let module: unknown;
try {
  // The Wasmtime binding's prebuilt binary (npm `wasmtime`'s platform package,
  // published for Linux x64 with glibc only); its loader package is not a
  // dependency, because its lock entries for unpublished platforms break `npm ci`.
  binding = createRequire(import.meta.url)('wasmtime-linux-x64-gnu') as Binding;
  engine = binding.Engine.default();
  module = binding.Module.fromFile(engine, wasmPath);
} catch (err) {
  reply(STATUS_FATAL, 0, `cannot load the wasmtime binding or the module: ${(err as Error).message}`);
  process.exit(1);
}

let store: unknown;
let functions: WasmFunction[] = [];
let snapshotFns: WasmFunction[] = [];

/** A fresh store and instance; every ABI function looked up once. Returns an error message or ''. */
function instantiate(): string {
  store = new binding.Store(engine);
  const instance = new binding.Instance(store, module);
  const found: WasmFunction[] = [];
  for (const name of CORE_FUNCTION_NAMES) {
    const f = instance.getFunc(store, name);
    if (!f) return `the instance has no export '${name}'`;
    found.push(f);
  }
  functions = found;
  snapshotFns = SNAPSHOT.map((n) => found[CORE_FUNCTION_NAMES.indexOf(n)]);
  return '';
}

const first = instantiate();
if (first) {
  reply(STATUS_FATAL, 0, first);
  process.exit(1);
}
replyWithSnapshot(functions.length);

const req = new Uint8Array(REQUEST_BYTES);
const reqView = new DataView(req.buffer);
const arity = CORE_FUNCTION_NAMES.map((n) => CORE_FUNCTIONS[n].params.length);
const argLists = arity.map((n) => new Array<number>(n).fill(0));

let parentGone = false;
for (;;) {
  if (!readRequest(req)) {
    parentGone = true;
    break;
  }
  const op = req[0];
  if (op === OP_INSTANTIATE) {
    const problem = instantiate();
    if (problem) { reply(STATUS_FATAL, 0, problem); break; }
    replyWithSnapshot(functions.length);
    continue;
  }
  const index = req[1];
  const argc = req[2];
  if (op !== OP_CALL || index >= functions.length || argc !== arity[index]) {
    reply(STATUS_FATAL, 0, `bad request: op ${op}, function ${index}, ${argc} arguments`);
    break;
  }
  const args = argLists[index];
  for (let k = 0; k < argc; k++) args[k] = reqView.getFloat64(8 + 8 * k, true);
  let value: number;
  try {
    value = functions[index].call(store, args);
  } catch (err) {
    reply(STATUS_TRAP, 0, (err as Error).message);
    continue;
  }
  if (SNAPSHOT_SLOT[index] >= 0) reply(STATUS_OK, value);
  else replyWithSnapshot(value);
}
for (const fd of [request, response]) closeSync(fd);
// The end of the request FIFO: the parent disposed of the engine (and removes
// its folder too) or died without a word; either way the folder with the
// FIFOs and the module's copy is done with.
if (parentGone) rmSync(dirname(wasmPath), { recursive: true, force: true });
