// Test helpers: a fresh core instance per test (the .wasm bytes are read once).
import { readFileSync } from 'node:fs';
import { Core, DEFAULT_CORE_PATH } from '../../host/runtime/core.js';

let bytes: Uint8Array | null = null;

export function coreBytes(): Uint8Array {
  bytes ??= readFileSync(DEFAULT_CORE_PATH);
  return bytes;
}

export function freshCore(): Core {
  return Core.fromBytes(coreBytes());
}
