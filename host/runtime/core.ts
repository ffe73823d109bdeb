// A typed wrapper around one instance of core.wasm (one loop): loaded into
// V8 with @assemblyscript/loader, or over the raw exports of any other engine
// (Core.fromExports; engines/wasmtime.ts). Engineering units in, engineering
// units out; names instead of ids; typed modes and decoded events. Every
// module is held to the ABI (validate.ts) before it reaches an engine.

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { instantiateSync } from '@assemblyscript/loader';
import {
  ACTIONS, CAUSES, COUNTERS, INVARIANTS, C_MON_SUPPRESSED, C_MON_TRIPS, DEMANDS, DIRECTIONS, EVENT_BYTES, EVENT_KINDS, FORMATS,
  GUARD_STATUS, LEVELS, MODES, MONITORS, PARAM_IDS, PARAM_NAMES, Q16, REASON_CAUSE_BASE, REASON_CLEARED, REASON_RESET,
  SAMPLE_NONE, STAGES, STATUS,
  type Action, type CauseName, type CoreExports, type CoreFunctions, type CounterName, type Demand, type Direction,
  type EventKind, type GuardFlag, type Level, type Mode, type MonitorName, type ParamFormat, type ParamName, type Stage,
} from './abi.js';
import { assertCoreModule } from './validate.js';

export * from './abi.js';
export { InvalidCoreModule, validateCoreModule } from './validate.js';

/**
 * The raw exports as an engine gives them: every ABI function, and the linear
 * memory when the engine can reach it (V8 can; Wasmtime through the npm
 * binding cannot, so events are read through the getter exports instead).
 */
export type EngineExports = CoreFunctions & { readonly memory?: WebAssembly.Memory };

/** The package root: the nearest folder above this file with a package.json (works from host/ and dist/host/). */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

/** Where `npm run build` puts the core (the field build, the one deployed and flashed). */
export const DEFAULT_CORE_PATH = join(packageRoot(), 'build', 'core.wasm');
/**
 * The same sources built with assertions on (asconfig.json target "debug"):
 * a broken invariant traps instead of only latching a fault code
 * (assembly/invariant.ts). `sim`, `campaign` and the tests run it; otherwise
 * bit-exact with the field build.
 */
export const DEBUG_CORE_PATH = join(packageRoot(), 'build', 'core.debug.wasm');

/** A parameter value as a user writes it: a number in engineering units, a flag, a reaction, a monitor level or a direction. */
export type ParamValue = number | boolean | Action | Level | Direction;

/** A rejected configuration: names the field, what was expected and what was received. */
/** A received value as an error message shows it (a BigInt, a symbol or a cycle must not throw from inside the error). */
function shown(v: unknown): string {
  if (typeof v === 'bigint') return `${v}n (a BigInt)`;
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

export class ParamError extends Error {
  constructor(
    readonly field: string,
    readonly expected: string,
    readonly received: unknown,
    readonly status: number,
  ) {
    super(`parameter '${field}': expected ${expected}, received ${shown(received)} (${STATUS[status] ?? `status ${status}`})`);
    this.name = 'ParamError';
  }
}

export interface CoreEvent {
  seq: number;
  tick: number;
  kind: EventKind;
  stage: Stage | null;
  /** Monitor for trips, warnings and clears (null for guard events). */
  monitor: MonitorName | null;
  /**
   * For mode, trip_out, trip_failed and handback events: 'cleared', 'reset' or
   * the cause (CAUSES) that decided it; for invariant events, what broke (INVARIANTS).
   */
  reason?: string;
  /** For trip_out events: whether the trip output is now de-energized. */
  tripped?: boolean;
  /** For demand events: what the host demanded. */
  demand?: Demand;
  from?: Mode;
  to?: Mode;
  value: number;
}

export interface Cause {
  monitor: MonitorName;
  stage: Stage;
}

export interface TickInput {
  /** Raw sensor samples (ADC counts); null or undefined for "no sample". */
  sensors: readonly (number | null | undefined)[];
  /** Actuator feedback in output units, if the binding has any. */
  feedback?: number | null;
}

const NAMED: Partial<Record<ParamFormat, readonly string[]>> = { action: ACTIONS, level: LEVELS };

function toRaw(format: ParamFormat, value: ParamValue): number {
  const names = NAMED[format];
  if (names) {
    if (typeof value === 'string') return names.indexOf(value);
    return typeof value === 'number' && Number.isInteger(value) ? value : NaN;
  }
  if (format === 'dir') {
    if (typeof value === 'string') return DIRECTIONS.includes(value as Direction) ? DIRECTIONS.indexOf(value as Direction) - 1 : NaN;
    return typeof value === 'number' && Number.isInteger(value) ? value : NaN;
  }
  if (typeof value === 'string') return NaN;
  if (format === 'bool') return value === true || value === 1 ? 1 : value === false || value === 0 ? 0 : NaN;
  if (typeof value !== 'number') return NaN;
  return format === 'q16' ? Math.round(value * Q16) : value;
}

/** Smallest step of a Q16.16 parameter. */
const Q16_STEP = 1 / Q16;

/**
 * What a number loses as a Q16.16 parameter, as the expectation of a
 * ParamError, or null when it is held within 1 %. A value that quantizes to
 * 0 would mean something else (ti = 0 is no integral action at all), and one
 * stored more than 1 % off is not what was asked.
 */
function quantizationLoss(format: ParamFormat, value: ParamValue, raw: number): string | null {
  if (format !== 'q16' || typeof value !== 'number' || value === 0 || !Number.isFinite(raw)) return null;
  const stored = raw / Q16;
  if (raw === 0) return `0, or a value of at least the format's smallest step, 1/65536 = ${Q16_STEP.toPrecision(3)} (this one would be stored as 0)`;
  if (Math.abs(stored - value) > 0.01 * Math.abs(value)) {
    return `a value the Q16.16 format holds within 1 % (steps of 1/65536 = ${Q16_STEP.toPrecision(3)}: this one would be stored as ${stored}, ` +
      `${(100 * Math.abs(stored - value) / Math.abs(value)).toFixed(1)} % off)`;
  }
  return null;
}

function fromRaw(format: ParamFormat, raw: number): number {
  return format === 'q16' ? raw / Q16 : raw;
}

function describe(format: ParamFormat, min: number, max: number, name?: string): string {
  switch (format) {
    case 'action': return `one of ${ACTIONS.join(', ')}`;
    case 'level': return `one of ${LEVELS.join(', ')}`;
    case 'dir': return `one of ${DIRECTIONS.join(', ')} (${name === 'trip_dir'
      ? 'the way the tripped process moves; none: it holds or settles inside'
      : 'the command direction that moves the variable away from the limit'})`;
    case 'bool': return 'true or false';
    case 'q16': return `a number in [${min / Q16}, ${max / Q16}]`;
    case 'us': return `an integer number of microseconds in [${min}, ${max}]`;
    default: return `an integer in [${min}, ${max}]`;
  }
}

export class Core {
  readonly raw: EngineExports;
  private nextSeq = 0n;
  private lost = 0;
  private readonly declaredMemoryBytes: number | null;

  private constructor(exports: EngineExports, memoryBytes: number | null) {
    this.raw = exports;
    this.declaredMemoryBytes = memoryBytes;
  }

  /** Instantiate the core from a .wasm file (default: build/core.wasm), validated first. */
  static load(path: string = DEFAULT_CORE_PATH): Core {
    return Core.fromBytes(readFileSync(path), path);
  }

  /** Validate the bytes against the ABI (InvalidCoreModule names what is wrong), then compile and instantiate in V8. */
  static fromBytes(bytes: Uint8Array, source?: string): Core {
    return Core.fromModule(compileCoreModule(bytes, source));
  }

  /** A new instance of an already compiled module: cheap, for many loops or many simulation runs. */
  static fromModule(module: WebAssembly.Module): Core {
    const { exports } = instantiateSync<CoreExports & Record<string, unknown>>(module, {});
    return new Core(exports as unknown as CoreExports, null);
  }

  /**
   * A core over the raw exports of an instance some other engine holds (the
   * Wasmtime child, say). Without `memory`, events() reads the ring through
   * the getter exports; `memoryBytes` is the size of the instance's linear
   * memory when the engine cannot show it (the module's declared size).
   */
  static fromExports(exports: EngineExports, opts: { memoryBytes?: number } = {}): Core {
    return new Core(exports, opts.memoryBytes ?? null);
  }

  /** The debug build: a broken invariant traps (assembly/invariant.ts). */
  get assertions(): boolean {
    return this.raw.assertions() === 1;
  }

  /** Bytes of linear memory the instance uses, or null when the engine can tell neither. */
  get memoryBytes(): number | null {
    return this.raw.memory ? this.raw.memory.buffer.byteLength : this.declaredMemoryBytes;
  }

  /** The format of a named parameter, or an error naming it. */
  paramFormat(name: string): ParamFormat {
    const id = PARAM_IDS.get(name as ParamName);
    if (id === undefined) throw new ParamError(name, 'a known parameter name', name, -1);
    return FORMATS[this.raw.param_format(id)];
  }

  /** Range of a parameter in engineering units. */
  paramRange(name: ParamName): { min: number; max: number; default: number; format: ParamFormat } {
    const id = PARAM_IDS.get(name)!;
    const format = this.paramFormat(name);
    return {
      min: fromRaw(format, this.raw.param_min(id)),
      max: fromRaw(format, this.raw.param_max(id)),
      default: fromRaw(format, this.raw.param_default(id)),
      format,
    };
  }

  param(name: ParamName): number {
    return fromRaw(this.paramFormat(name), this.raw.param_get(PARAM_IDS.get(name)!));
  }

  /**
   * A parameter value as the i32 that config_set takes, converted with the
   * parameter's format as configure() converts it (for protocol lines and C
   * tables); the range is left to the core. A value that does not convert
   * to an i32 is a ParamError naming the field.
   */
  rawParam(name: ParamName, value: ParamValue): number {
    const format = this.paramFormat(name);
    const raw = toRaw(format, value);
    if (!Number.isInteger(raw) || raw < -(2 ** 31) || raw >= 2 ** 31) {
      const id = PARAM_IDS.get(name)!;
      throw new ParamError(name, describe(format, this.raw.param_min(id), this.raw.param_max(id), name), value, -2);
    }
    const loss = quantizationLoss(format, value, raw);
    if (loss) throw new ParamError(name, loss, value, -2);
    return raw;
  }

  /**
   * Apply several parameters as one transaction: either all of them take
   * effect or, on the first error, none does and a ParamError names the field.
   */
  configure(params: Partial<Record<ParamName, ParamValue>>): void {
    const entries = Object.entries(params) as [ParamName, ParamValue][];
    const staged: [string, number, number, ParamValue][] = [];
    for (const [name, value] of entries) {
      const format = this.paramFormat(name);
      const id = PARAM_IDS.get(name)!;
      const raw = toRaw(format, value);
      const min = this.raw.param_min(id);
      const max = this.raw.param_max(id);
      if (!Number.isFinite(raw) || !Number.isInteger(raw) || raw < min || raw > max) {
        throw new ParamError(name, describe(format, min, max, name), value, -2);
      }
      const loss = quantizationLoss(format, value, raw);
      if (loss) throw new ParamError(name, loss, value, -2);
      staged.push([name, id, raw, value]);
    }
    const r = this.raw;
    let st = r.config_begin();
    if (st !== 0) throw new ParamError('(transaction)', 'no open transaction', null, st);
    for (const [name, id, raw, value] of staged) {
      st = r.config_set(id, raw);
      if (st !== 0) {
        r.config_abort();
        const format = FORMATS[r.param_format(id)];
        throw new ParamError(name, describe(format, r.param_min(id), r.param_max(id), name), value, st);
      }
    }
    st = r.config_commit();
    if (st !== 0) {
      const bad = r.config_error_param();
      r.config_abort();
      const name = PARAM_NAMES.get(bad) ?? `#${bad}`;
      throw new ParamError(name, conflictHint(name), params[name as ParamName] ?? this.param(name as ParamName), st);
    }
  }

  /** Host setpoint (engineering units) with the time it was issued. */
  setSetpoint(value: number, nowUs: number): void {
    const lo = Math.max(this.param('range_min'), this.param('env_min') + this.param('env_margin'));
    const hi = Math.min(this.param('range_max'), this.param('env_max') - this.param('env_margin'));
    // Checked here too: a value outside i32 would wrap on its way into the core.
    if (typeof value !== 'number' || !Number.isFinite(value) || value < lo || value > hi) {
      throw new ParamError('setpoint', `a number in [${lo}, ${hi}]`, value, -2);
    }
    checkTime(nowUs);
    const st = this.raw.set_setpoint(Math.round(value * Q16), BigInt(nowUs));
    if (st !== 0) throw new ParamError('setpoint', `a number in [${lo}, ${hi}]`, value, st);
  }

  /** One tick at time nowUs. Returns the actuator command in engineering units. */
  tick(nowUs: number, input: TickInput): number {
    checkTime(nowUs);
    const s = input.sensors;
    const fb = input.feedback;
    const s0 = sample(s[0], 0);
    const s1 = sample(s[1], 1);
    const s2 = sample(s[2], 2);
    let f = SAMPLE_NONE;
    if (fb !== null && fb !== undefined) {
      if (typeof fb !== 'number' || !Number.isFinite(fb) || Math.abs(fb) >= 32768) {
        throw new RangeError(`tick: feedback must be a finite number in (-32768, 32768) output units or null, received ${fb}`);
      }
      f = Math.round(fb * Q16);
    }
    return this.raw.tick(BigInt(nowUs), s0, s1, s2, f) / Q16;
  }

  get mode(): Mode { return MODES[this.raw.mode()]; }
  get output(): number { return this.raw.output() / Q16; }
  get measurement(): number { return this.raw.measurement() / Q16; }
  get estimate(): number { return this.raw.estimate() / Q16; }
  get residual(): number { return this.raw.residual() / Q16; }
  get setpoint(): number { return this.raw.setpoint() / Q16; }
  get ticks(): number { return Number(this.raw.tick_count()); }
  /** The sampling interval the core proposes for the next tick (action-to-sensing). */
  get nextIntervalUs(): number { return Number(this.raw.next_interval_us()); }

  /** The trip output after the last tick: true = de-energize (contactor open, safe torque off, isolation valves closed). */
  get tripped(): boolean { return this.raw.trip() === 1; }
  /** The envelope's prediction at the horizon, engineering units. */
  get predicted(): number { return this.raw.predicted() / Q16; }
  /** The guard's status flags that are set. */
  get guardFlags(): GuardFlag[] {
    const bits = this.raw.guard_status();
    return (Object.keys(GUARD_STATUS) as GuardFlag[]).filter((k) => (bits & GUARD_STATUS[k]) !== 0);
  }
  /** The causes the guard sees now (CAUSES), and those latched until reset(). */
  get causes(): CauseName[] { return causeNames(this.raw.guard_causes()); }
  get latchedCauses(): CauseName[] { return causeNames(this.raw.guard_latched()); }

  /** A host's demand from the next tick: 'fallback', 'trip', or 'none' to return. */
  demand(kind: Demand): void {
    const i = DEMANDS.indexOf(kind);
    if (i < 0) throw new ParamError('demand', `one of ${DEMANDS.join(', ')}`, kind, -2);
    const st = this.raw.demand(i);
    if (st !== 0) throw new ParamError('demand', `one of ${DEMANDS.join(', ')}`, kind, st);
  }

  /** The root cause of the current episode (first-out), or null. */
  get cause(): Cause | null {
    const m = this.raw.cause_monitor();
    return m < 0 ? null : { monitor: MONITORS[m], stage: STAGES[this.raw.cause_stage()] };
  }

  /** Monitors currently tripped. */
  get activeMonitors(): MonitorName[] {
    const mask = this.raw.monitors_active();
    return MONITORS.filter((_, i) => (mask >> i) & 1);
  }

  counter(name: CounterName): number {
    return Number(this.raw.counter(COUNTERS[name]));
  }

  monitorTrips(m: MonitorName): number { return Number(this.raw.counter(C_MON_TRIPS + MONITORS.indexOf(m))); }
  monitorSuppressed(m: MonitorName): number { return Number(this.raw.counter(C_MON_SUPPRESSED + MONITORS.indexOf(m))); }

  /**
   * Events logged since the previous call: decoded from linear memory, or,
   * on an engine without memory access, from the getter exports (the same
   * records, ARCHITECTURE.md; test/targets/wasmtime.test.ts holds both equal).
   */
  events(): CoreEvent[] {
    const r = this.raw;
    const written = r.events_written();
    const cap = BigInt(r.events_capacity());
    // init() under this wrapper (a watchdog's restart) starts the log over.
    if (written < this.nextSeq) this.nextSeq = 0n;
    if (this.nextSeq < written - cap) {
      this.lost += Number(written - cap - this.nextSeq);
      this.nextSeq = written - cap;
    }
    const out: CoreEvent[] = [];
    if (r.memory) {
      const view = new DataView(r.memory.buffer);
      const base = r.events_addr();
      for (let seq = this.nextSeq; seq < written; seq++) {
        const at = base + Number(seq % cap) * EVENT_BYTES;
        out.push(decodeEvent(Number(seq), view.getBigInt64(at, true), view.getUint16(at + 8, true),
          view.getUint8(at + 10), view.getUint8(at + 11), view.getInt32(at + 12, true)));
      }
    } else {
      for (let seq = this.nextSeq; seq < written; seq++) {
        out.push(decodeEvent(Number(seq), r.event_tick(seq), r.event_kind(seq),
          r.event_stage(seq), r.event_monitor(seq), r.event_value(seq)));
      }
    }
    this.nextSeq = written;
    return out;
  }

  /** Events that were overwritten before events() read them. */
  get eventsLost(): number { return this.lost; }

  /** An operator's reset: release the latches whose condition is false now. Returns how many. */
  reset(): number { return this.raw.reset(); }
}

/** Validate a module's bytes against the ABI, then compile it for V8 (InvalidCoreModule, naming `source`, if refused). */
export function compileCoreModule(bytes: Uint8Array, source?: string): WebAssembly.Module {
  assertCoreModule(bytes, source);
  return new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>);
}

function checkTime(nowUs: number): void {
  if (!Number.isSafeInteger(nowUs)) {
    throw new RangeError(`time must be an integer number of microseconds, received ${nowUs}`);
  }
}

function sample(v: number | null | undefined, i: number): number {
  if (v === null || v === undefined) return SAMPLE_NONE;
  if (!Number.isInteger(v) || v <= SAMPLE_NONE || v > 2147483647) {
    throw new RangeError(`tick: sensors[${i}] must be an integer ADC count in the i32 range or null, received ${v}`);
  }
  return v;
}

export function decodeEvent(seq: number, tick: bigint, kind: number, stage: number, monitor: number, value: number): CoreEvent {
  const k: EventKind = EVENT_KINDS[kind] ?? 'none';
  const hasMonitor = k !== 'config' && k !== 'reset' && k !== 'none' && k !== 'invariant';
  const ev: CoreEvent = {
    seq, tick: Number(tick), kind: k,
    stage: STAGES[stage] ?? null, monitor: hasMonitor ? MONITORS[monitor] ?? null : null, value,
  };
  const guard = k === 'mode' || k === 'trip_out' || k === 'trip_failed' || k === 'handback' || k === 'demand';
  if (guard) {
    ev.monitor = null;
    ev.reason = reasonName(monitor);
  }
  if (k === 'mode') {
    ev.from = MODES[(value >> 8) & 0xff];
    ev.to = MODES[value & 0xff];
  } else if (k === 'trip_out') {
    ev.tripped = value === 1;
  } else if (k === 'demand') {
    ev.demand = DEMANDS[value];
  } else if (k === 'invariant') {
    ev.reason = INVARIANTS[monitor] ?? `invariant #${monitor}`;
  }
  return ev;
}

function reasonName(code: number): string {
  if (code === REASON_CLEARED) return 'cleared';
  if (code === REASON_RESET) return 'reset';
  return CAUSES[code - REASON_CAUSE_BASE] ?? `#${code}`;
}

function causeNames(bits: number): CauseName[] {
  return CAUSES.filter((_, i) => (bits >> i) & 1);
}

function conflictHint(name: string): string {
  switch (name) {
    case 'adc_min': return 'adc_min < adc_max';
    case 'range_min': return 'range_min < range_max';
    case 'out_min': return 'out_min < out_max';
    case 'safe_output': return 'safe_output within [out_min, out_max]';
    case 'fb_setpoint': return 'fb_setpoint within [range_min, range_max]';
    case 'env_min': return 'env_min < env_max';
    case 'period_min_us': return 'period_min_us <= period_max_us';
    case 'ew_window': return 'ew_window 0 (off) or at least 8';
    case 's0_scale': case 's1_scale': case 's2_scale': return 'a nonzero scale';
    case 'tf': return 'tf > 0 when td > 0 and the period is under 1 ms';
    default: return 'a value consistent with the other parameters';
  }
}
