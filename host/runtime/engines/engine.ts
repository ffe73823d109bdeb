// What every engine gives the host: fresh core instances of one validated
// module, and a way to let go of whatever the engine holds (a child process).

import type { Core } from '../core.js';

export const ENGINE_NAMES = ['v8', 'wasmtime'] as const;
export type EngineName = (typeof ENGINE_NAMES)[number];

/** Whether the host can reach an instance's linear memory on this engine (memory faults need it). */
export const ENGINE_HAS_MEMORY: Readonly<Record<EngineName, boolean>> = { v8: true, wasmtime: false };

export interface CoreEngine {
  readonly name: EngineName;
  /** A new instance of the module (one loop), wrapped. An engine may serve one live instance at a time. */
  core(): Core;
  /** Release the engine (close its child process, if any). Idempotent. */
  dispose(): void;
  /** The child process the engine runs its core in, if it has one (Wasmtime), else null. */
  readonly pid?: number | null;
}

/** A factory for runScenario and friends: one fresh Core per call. */
export type CoreFactory = () => Core;

/** An engine name from user input, or an error naming the option and the choices. */
export function parseEngineName(value: unknown, option = '--engine'): EngineName {
  if (typeof value === 'string' && (ENGINE_NAMES as readonly string[]).includes(value)) return value as EngineName;
  throw new RangeError(`${option} must be one of ${ENGINE_NAMES.join(', ')}, got '${String(value)}'`);
}
