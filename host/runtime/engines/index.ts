// Engines by name: V8 in this thread, or Wasmtime in a supervised child process.

import type { CoreEngine, EngineName } from './engine.js';
import { V8Engine } from './v8.js';
import { WasmtimeEngine } from './wasmtime.js';

export * from './engine.js';
export { V8Engine } from './v8.js';
export { EngineCrashed, EngineStartError, WasmtimeCallError, WasmtimeEngine } from './wasmtime.js';

/** Open an engine on a module's bytes; the bytes are validated before any engine sees them. */
export function openEngine(name: EngineName, bytes: Uint8Array, source?: string): CoreEngine {
  switch (name) {
    case 'v8': return new V8Engine(bytes, source);
    case 'wasmtime': return WasmtimeEngine.open(bytes, { source });
  }
}
