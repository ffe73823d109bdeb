// The V8 engine: the module compiled once in this thread (after validation),
// a new instance per core; the instance's memory is in reach.

import { Core, compileCoreModule } from '../core.js';
import type { CoreEngine } from './engine.js';

export class V8Engine implements CoreEngine {
  readonly name = 'v8' as const;
  readonly module: WebAssembly.Module;

  /** Validates the bytes (InvalidCoreModule naming `source`) and compiles them. */
  constructor(bytes: Uint8Array, source?: string) {
    this.module = compileCoreModule(bytes, source);
  }

  core(): Core {
    return Core.fromModule(this.module);
  }

  dispose(): void {}
}
