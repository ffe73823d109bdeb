// The frames between the host and its Wasmtime child (wasmtime.ts,
// wasmtime-child.ts), over two named FIFOs, so that a call is a plain
// blocking write and read: the core is called synchronously, tick by tick.
//
// Request, REQUEST_BYTES, little-endian:
//   [0] op (OP_CALL | OP_INSTANTIATE)   [1] function index in CORE_FUNCTION_NAMES
//   [2] argument count                  [3..7] zero
//   [8 + 8k] argument k as f64 (i32 and i64 values are integers; i64 within 2^53)
// Response, RESPONSE_BYTES:
//   [0] status   [1] 1 when a snapshot follows   [2..3] zero
//   [4] u32 length of the message that follows (status != OK)   [8] result as f64
// then, if [1] is 1, SNAPSHOT_BYTES: the value of each SNAPSHOT function, as f64;
// then the message, UTF-8.
// The child answers every request with exactly one response. The first
// response, unasked, says whether the module loaded and instantiated.
//
// The snapshot: after every successful call that is not itself a snapshot
// getter (so after every call that may change the instance's state), and
// after instantiating, the child reads the argument-free getters and sends
// their values along. The host answers those getters from it until its next
// call, so a simulated tick (tick, then mode, events_written,
// next_interval_us) costs one round trip instead of four. The getters are
// pure reads of the instance's state; a trap sends no snapshot.

import { CORE_FUNCTIONS, CORE_FUNCTION_NAMES, type CoreFunctionName } from '../abi.js';

/** The most arguments any ABI function takes (tick: 5). */
export const ARGS_MAX = Object.values(CORE_FUNCTIONS).reduce((most, s) => Math.max(most, s.params.length), 0);
export const REQUEST_BYTES = 8 + 8 * ARGS_MAX;
export const RESPONSE_BYTES = 16;

export const OP_CALL = 1;
/** Drop the instance and make a new one of the same module (a fresh store). */
export const OP_INSTANTIATE = 2;

export const STATUS_OK = 0;
/** The call trapped (or the binding refused it); the child carries on. */
export const STATUS_TRAP = 1;
/** The child cannot go on (module did not load, protocol error); it exits after this. */
export const STATUS_FATAL = 2;

/** Longest message a response carries. */
export const MESSAGE_BYTES_MAX = 4096;

/**
 * Argument-free getters that only read the instance's state (assembly/index.ts),
 * the snapshot, in this order: those the simulator and the Core wrapper read
 * around every tick. Each costs the child about 0.2 us per snapshot, so the
 * rarely read ones are left out and cost a round trip when read.
 */
export const SNAPSHOT: readonly CoreFunctionName[] = [
  'mode', 'trip', 'output', 'measurement', 'setpoint', 'tick_count', 'next_interval_us', 'monitors_active',
  'cause_monitor', 'cause_stage', 'events_written', 'events_capacity', 'config_error_param',
];
export const SNAPSHOT_BYTES = 8 * SNAPSHOT.length;

/** For each function (CORE_FUNCTION_NAMES order), its slot in the snapshot or -1. */
export const SNAPSHOT_SLOT: readonly number[] = CORE_FUNCTION_NAMES.map((n) => SNAPSHOT.indexOf(n));
