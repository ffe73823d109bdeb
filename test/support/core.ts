// Test helpers: a fresh core instance per test (the .wasm bytes are read once).
// The tests run the debug build, where a broken invariant traps (a bug stops
// the test that found it); it is bit-exact with the field build otherwise
// (test/sim/debug-build.test.ts). Tests of the binary itself read build/core.wasm.
import { readFileSync } from 'node:fs';
import { Core, DEBUG_CORE_PATH, DEFAULT_CORE_PATH } from '../../host/runtime/core.js';

let bytes: Uint8Array | null = null;

export function coreBytes(): Uint8Array {
  bytes ??= readFileSync(DEBUG_CORE_PATH);
  return bytes;
}

export function freshCore(): Core {
  return Core.fromBytes(coreBytes());
}

let fieldBytes: Uint8Array | null = null;

/** build/core.wasm, the field build (assertions compiled out): what is deployed and flashed. */
export function fieldCoreBytes(): Uint8Array {
  fieldBytes ??= readFileSync(DEFAULT_CORE_PATH);
  return fieldBytes;
}
