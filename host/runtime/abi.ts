// Names for the core's numeric ABI: parameter ids, monitors, stages, modes,
// event kinds and counters. The numbers come from assembly/; this file only
// names them. test/core/abi.test.ts checks both sides agree (count, ranges,
// formats read from the binary).

export const MODES = ['NOMINAL', 'DEGRADED', 'FALLBACK', 'SAFE_STOP'] as const;
export type Mode = (typeof MODES)[number];

export const STAGES = ['core', 'timing', 'sensing', 'estimation', 'control', 'actuation', 'early_warning', 'envelope'] as const;
export type Stage = (typeof STAGES)[number];

// Monitor ids, upstream first (assembly/monitor/ids.ts).
export const MONITORS = [
  'core_integrity', 'tim_clock', 'tim_overrun', 'tim_missed', 'tim_sp_stale',
  'sens_stale', 'sens_range', 'sens_spike', 'sens_stuck', 'sens_disagree', 'sens_lost',
  'est_cusum', 'est_ewma', 'ctl_tracking', 'ctl_integ_sat', 'ctl_oscillation',
  'act_saturation', 'act_mismatch', 'ew_csd',
] as const;
export type MonitorName = (typeof MONITORS)[number];

/** Reactions of the guard, least severe first (the reaction table's cells). */
export const ACTIONS = ['none', 'warn', 'degrade', 'fallback', 'safe_stop'] as const;
export type Action = (typeof ACTIONS)[number];

/** A monitor's level: off, a warning, or an alarm (first-out, feeds the cause isolation). */
export const LEVELS = ['none', 'warn', 'alarm'] as const;
export type Level = (typeof LEVELS)[number];

/** A command direction: the one that moves the controlled variable away from an envelope limit. */
export const DIRECTIONS = ['down', 'none', 'up'] as const;
export type Direction = (typeof DIRECTIONS)[number];

/**
 * Causes, as the core's isolation names them (assembly/monitor/ids.ts): what
 * failed, whichever monitor saw it. The reaction table maps each to an action
 * (parameters `react.<cause>`).
 */
export const CAUSES = [
  'soft_repaired', 'soft_failed', 'timing', 'setpoint', 'sensor_noisy', 'sensor_voted_out', 'sensor_untrusted',
  'act_weak', 'act_stuck', 'act_reversed', 'load', 'control', 'oscillation', 'envelope', 'host', 'early_warning',
] as const;
export type CauseName = (typeof CAUSES)[number];

/** What a host may demand of the guard (`demand()`): return to normal, the fallback controller, or the trip. */
export const DEMANDS = ['none', 'fallback', 'trip'] as const;
export type Demand = (typeof DEMANDS)[number];

/** guard_status() bits. */
export const GUARD_STATUS = {
  heading_over: 1, heading_under: 2, outside: 4, holding: 8, tripped: 16, trip_failed: 32, latched: 64,
  demanded: 128, sensors_blamed: 256, handbacks_used: 512, noisy: 1024, closed_hold: 2048, detuned: 4096,
} as const;
export type GuardFlag = keyof typeof GUARD_STATUS;

/** How a parameter's i32 is read: Q16.16 engineering units, integer, microseconds, flag, reaction, monitor level or direction. */
export type ParamFormat = 'int' | 'q16' | 'us' | 'bool' | 'action' | 'level' | 'dir';
export const FORMATS: readonly ParamFormat[] = ['int', 'q16', 'us', 'bool', 'action', 'level', 'dir'];

// Basic parameters in id order (assembly/params.ts).
const BASIC = [
  'n_sensors', 'adc_min', 'adc_max', 's0_scale', 's0_offset', 's1_scale', 's1_offset', 's2_scale', 's2_offset',
  'range_min', 'range_max', 'lpf_tau', 'median3', 'rate_max', 'spike_thr', 'spike_count', 'stuck_band',
  'disagree_thr', 'model_gain', 'model_tau', 'model_offset', 'model_corr', 'resid_sigma', 'cusum_k', 'cusum_h',
  'ewma_lambda', 'ewma_l', 'ew_window', 'ew_var_ratio', 'ew_ac1', 'kp', 'ti', 'td', 'tf', 'sp_weight',
  'out_min', 'out_max', 'slew', 'fb_setpoint', 'fb_kp', 'fb_ti', 'safe_output', 'track_thr', 'osc_amp',
  'osc_crossings', 'osc_window', 'mismatch_thr', 'overrun_tol_us', 'missed_count', 'sp_timeout_us',
  'period_min_us', 'period_max_us', 'settle_band', 'settle_ticks', 'model_delay_us', 'cascade_window',
  'env_min', 'env_max', 'env_margin', 'env_rate_max', 'env_horizon_us', 'env_hi_dir', 'env_lo_dir',
  'trip_fb', 'trip_verify_us', 'handback_ticks', 'handback_retries', 'dist_gain', 'guard', 'sp_margin',
  'dist_max', 'trip_dir',
] as const;

export const REACT_BASE = 72;
export const MON_BASE = 96;
const MONITOR_FIELDS = ['level', 'latched', 'trip_ticks', 'clear_ticks'] as const;
export type MonitorField = (typeof MONITOR_FIELDS)[number];

export type BasicParamName = (typeof BASIC)[number];
export type MonitorParamName = `${MonitorName}.${MonitorField}`;
export type ReactionParamName = `react.${CauseName}`;
export type ParamName = BasicParamName | ReactionParamName | MonitorParamName;

/** Parameter name -> id. */
export const PARAM_IDS: ReadonlyMap<ParamName, number> = new Map<ParamName, number>([
  ...BASIC.map((n, i) => [n, i] as [ParamName, number]),
  ...CAUSES.map((c, i) => [`react.${c}` as ParamName, REACT_BASE + i] as [ParamName, number]),
  ...MONITORS.flatMap((m, mi) =>
    MONITOR_FIELDS.map((f, fi) => [`${m}.${f}` as ParamName, MON_BASE + mi * 4 + fi] as [ParamName, number])),
]);
export const PARAM_NAMES: ReadonlyMap<number, ParamName> = new Map([...PARAM_IDS].map(([n, id]) => [id, n]));
export const BASIC_PARAM_COUNT = BASIC.length;

export const EVENT_KINDS = [
  'none', 'trip', 'consequential', 'clear', 'mode', 'warn', 'reset', 'config',
  'sensor_out', 'sensor_in', 'episode_end', 'isolated', 'trip_out', 'trip_failed', 'handback', 'demand', 'invariant',
] as const;
export type EventKind = (typeof EVENT_KINDS)[number];

/**
 * An `invariant` event's reason code (its monitor field; assembly/invariant.ts):
 * what broke. A broken invariant is a bug in the core; the debug build traps on it.
 */
export const INVARIANTS: Readonly<Record<number, string>> = {
  1: 'output: the command outside [out_min, out_max]',
  2: 'mode: the mode outside its enum',
  3: 'level: the proposed sampling level outside the derived levels',
  4: 'debounce: a debounce counter and its counting bit disagree',
  5: 'cascade: an episode\'s root cause or its stage is not a monitor or a stage',
  6: 'supervisor: a latched cause or the trip output outside SAFE_STOP',
  7: 'params: a derived quantity (levels, coefficients) out of its bounds at commit',
};

export const REASON_CLEARED = 32;
export const REASON_RESET = 33;
/** Mode, trip and demand events: reason = REASON_CAUSE_BASE + the cause's index in CAUSES. */
export const REASON_CAUSE_BASE = 40;
export const STAGE_NONE = 255;
export const EVENT_BYTES = 16;

export const COUNTERS = {
  ticks: 0, events: 1, root_trips: 2, consequential: 3, clears: 4, mode_changes: 5, missed_ticks: 6,
  overruns: 7, param_rejects: 8, resets: 9, spikes_rejected: 10, substituted_ticks: 11, invalid_samples: 12,
  warnings: 13, invariant_fails: 14, setpoint_rejects: 15, repairs: 16, trip_changes: 17, handbacks: 18, loads: 19,
} as const;
export type CounterName = keyof typeof COUNTERS;
export const C_MON_TRIPS = 32;
export const C_MON_SUPPRESSED = 64;

export const STATUS = { 0: 'ok', [-1]: 'unknown parameter', [-2]: 'out of range', [-3]: 'conflicts with another parameter', [-4]: 'not allowed in this state' } as Record<number, string>;

/** "No sample this tick" for a raw sensor input. */
export const SAMPLE_NONE = -2147483648;
export const Q16 = 65536;

/** The raw exports of core.wasm, as every engine sees them (i64 as bigint). */
export interface CoreExports {
  memory: WebAssembly.Memory;
  init(): number;
  reset(): number;
  abi_version(): number;
  /** 1: the debug build, whose broken invariants trap (build/core.debug.wasm); 0: the field build. */
  assertions(): number;
  param_count(): number;
  param_known(id: number): number;
  param_get(id: number): number;
  param_min(id: number): number;
  param_max(id: number): number;
  param_default(id: number): number;
  param_format(id: number): number;
  config_begin(): number;
  config_abort(): number;
  config_error_param(): number;
  config_set(id: number, value: number): number;
  config_commit(): number;
  param_set(id: number, value: number): number;
  config_checksum(): number;
  config_addr(): number;
  config_shadow_addr(): number;
  set_setpoint(sp: number, nowUs: bigint): number;
  tick(nowUs: bigint, s0: number, s1: number, s2: number, fb: number): number;
  mode(): number;
  output(): number;
  measurement(): number;
  voted(): number;
  estimate(): number;
  residual(): number;
  setpoint(): number;
  tick_count(): bigint;
  next_interval_us(): bigint;
  sample_level(): number;
  monitors_active(): number;
  sensors_trusted(): number;
  sensor(i: number): number;
  cause_monitor(): number;
  cause_stage(): number;
  monitor_stage(m: number): number;
  monitor_count(): number;
  stat_cusum(): number;
  counter(id: number): bigint;
  events_addr(): number;
  events_capacity(): number;
  events_written(): bigint;
  event_tick(seq: bigint): bigint;
  event_kind(seq: bigint): number;
  event_stage(seq: bigint): number;
  event_monitor(seq: bigint): number;
  event_value(seq: bigint): number;
  trip(): number;
  demand(kind: number): number;
  guard_status(): number;
  guard_causes(): number;
  guard_latched(): number;
  predicted(): number;
  cause_count(): number;
}

/** The exported functions of the core: every export but the memory. */
export type CoreFunctionName = Exclude<keyof CoreExports, 'memory'>;
/** The core's functions alone, for engines that cannot reach its linear memory (Wasmtime through the npm binding). */
export type CoreFunctions = Pick<CoreExports, CoreFunctionName>;

/** The value types the ABI allows (ARCHITECTURE.md: plain numbers only; i64 is a bigint on the JS side). */
export type AbiValType = 'i32' | 'i64' | 'f64';
type AbiTag<T> = T extends bigint ? 'i64' : 'i32' | 'f64';
type AbiSignatureOf<F> = F extends (...args: infer A) => infer R
  ? { readonly params: { readonly [K in keyof A]: AbiTag<A[K]> }; readonly result: AbiTag<R> }
  : never;
export interface AbiSignature {
  readonly params: readonly AbiValType[];
  readonly result: AbiValType;
}

/**
 * The Wasm signature of every function the host may call, exactly one result
 * each (assembly/index.ts). The type ties it to CoreExports: a function added
 * there without a row here, or with another arity or i64-ness, does not compile.
 * host/runtime/validate.ts holds every module to this table before it reaches an engine.
 */
export const CORE_FUNCTIONS: { readonly [K in CoreFunctionName]: AbiSignatureOf<CoreExports[K]> } = {
  init: { params: [], result: 'i32' },
  reset: { params: [], result: 'i32' },
  abi_version: { params: [], result: 'i32' },
  assertions: { params: [], result: 'i32' },
  param_count: { params: [], result: 'i32' },
  param_known: { params: ['i32'], result: 'i32' },
  param_get: { params: ['i32'], result: 'i32' },
  param_min: { params: ['i32'], result: 'i32' },
  param_max: { params: ['i32'], result: 'i32' },
  param_default: { params: ['i32'], result: 'i32' },
  param_format: { params: ['i32'], result: 'i32' },
  config_begin: { params: [], result: 'i32' },
  config_abort: { params: [], result: 'i32' },
  config_error_param: { params: [], result: 'i32' },
  config_set: { params: ['i32', 'i32'], result: 'i32' },
  config_commit: { params: [], result: 'i32' },
  param_set: { params: ['i32', 'i32'], result: 'i32' },
  config_checksum: { params: [], result: 'i32' },
  config_addr: { params: [], result: 'i32' },
  config_shadow_addr: { params: [], result: 'i32' },
  set_setpoint: { params: ['i32', 'i64'], result: 'i32' },
  tick: { params: ['i64', 'i32', 'i32', 'i32', 'i32'], result: 'i32' },
  mode: { params: [], result: 'i32' },
  output: { params: [], result: 'i32' },
  measurement: { params: [], result: 'i32' },
  voted: { params: [], result: 'i32' },
  estimate: { params: [], result: 'i32' },
  residual: { params: [], result: 'i32' },
  setpoint: { params: [], result: 'i32' },
  tick_count: { params: [], result: 'i64' },
  next_interval_us: { params: [], result: 'i64' },
  sample_level: { params: [], result: 'i32' },
  monitors_active: { params: [], result: 'i32' },
  sensors_trusted: { params: [], result: 'i32' },
  sensor: { params: ['i32'], result: 'i32' },
  cause_monitor: { params: [], result: 'i32' },
  cause_stage: { params: [], result: 'i32' },
  monitor_stage: { params: ['i32'], result: 'i32' },
  monitor_count: { params: [], result: 'i32' },
  stat_cusum: { params: [], result: 'i32' },
  counter: { params: ['i32'], result: 'i64' },
  events_addr: { params: [], result: 'i32' },
  events_capacity: { params: [], result: 'i32' },
  events_written: { params: [], result: 'i64' },
  event_tick: { params: ['i64'], result: 'i64' },
  event_kind: { params: ['i64'], result: 'i32' },
  event_stage: { params: ['i64'], result: 'i32' },
  event_monitor: { params: ['i64'], result: 'i32' },
  event_value: { params: ['i64'], result: 'i32' },
  trip: { params: [], result: 'i32' },
  demand: { params: ['i32'], result: 'i32' },
  guard_status: { params: [], result: 'i32' },
  guard_causes: { params: [], result: 'i32' },
  guard_latched: { params: [], result: 'i32' },
  predicted: { params: [], result: 'i32' },
  cause_count: { params: [], result: 'i32' },
};

/** The names of CORE_FUNCTIONS, in a fixed order (the Wasmtime child's call table is indexed by it). */
export const CORE_FUNCTION_NAMES = Object.keys(CORE_FUNCTIONS) as CoreFunctionName[];

/** The one non-function export the ABI allows: the linear memory, under this name. */
export const CORE_MEMORY_EXPORT = 'memory';
