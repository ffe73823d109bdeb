// The line protocol (PROTOCOL.md) on the TypeScript side: how commands and
// replies are written, and the reference target, which answers the same
// lines by calling core.wasm's exports in V8 (or any engine's raw exports).
// Every other target must give the same replies, bit for bit.

import { Core, DEMANDS, PARAM_IDS, type Demand, type ParamName, type ParamValue } from '../../host/runtime/core.js';
import type { LineTarget } from './target.js';

/** The exports the protocol calls (as Core.raw has them on every engine). */
type RawCore = Core['raw'];

const I32_MIN = -(2n ** 31n);
const I32_MAX = 2n ** 31n - 1n;
const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;

export const cmd = {
  init: () => 'I',
  set: (id: number, value: number) => `C ${id} ${value}`,
  commit: () => 'K',
  setpoint: (spQ16: number, nowUs: number | bigint) => `S ${spQ16} ${nowUs}`,
  reset: () => 'R',
  /** A host's demand, effective from the next tick: a name of DEMANDS (its index is the kind), or any kind as a number. */
  demand: (kind: Demand | number) => `G ${typeof kind === 'number' ? kind : DEMANDS.indexOf(kind)}`,
  tick: (nowUs: number | bigint, s0: number, s1: number, s2: number, fbQ16: number) => `T ${nowUs} ${s0} ${s1} ${s2} ${fbQ16}`,
  quit: () => 'Q',
  cost: () => 'P',
  diag: () => 'D',
  memory: () => 'M',
  flip: (addr: number, mask: number) => `W ${addr} ${mask}`,
  trap: (code: number) => `X ${code}`,
} as const;

export interface TickReply {
  kind: 'tick';
  commandQ16: number;
  mode: number;
  nextIntervalUs: number;
  /** 1: the core demands the trip (the trip output de-energized); 0: run permitted. */
  trip: number;
  /** The target's measured cost of the tick (instructions under QEMU), when it reports one. */
  cost: number | null;
}
export interface TrapReply {
  kind: 'trap';
  code: number;
  safeOutputQ16: number;
}
export interface OkReply {
  kind: 'ok';
  fields: string[];
}

export class ProtocolError extends Error {
  constructor(readonly line: string, readonly reply: string, what: string) {
    super(`'${line}' -> '${reply}': ${what}`);
    this.name = 'ProtocolError';
  }
}

/** Fields of a T reply: `<command_q16> <mode> <next_interval_us> <trip>`, then the optional `<cost>`. */
const TICK_FIELDS = 4;

/**
 * Parse a reply to a command line; an `err` reply, or a T reply that is not
 * `<command_q16> <mode> <next_interval_us> <trip>[ <cost>]`, throws.
 * A trap reply means the target has tripped (PROTOCOL.md).
 */
export function parseReply(line: string, reply: string): TickReply | TrapReply | OkReply {
  const f = reply.split(' ');
  if (f[0] === 'trap' && f.length === 3) return { kind: 'trap', code: Number(f[1]), safeOutputQ16: Number(f[2]) };
  if (f[0] === 'ok') return { kind: 'ok', fields: f.slice(1) };
  if (line.startsWith('T ')) {
    if ((f.length === TICK_FIELDS || f.length === TICK_FIELDS + 1) && f.every((x) => /^-?\d+$/.test(x))) {
      return {
        kind: 'tick', commandQ16: Number(f[0]), mode: Number(f[1]), nextIntervalUs: Number(f[2]), trip: Number(f[3]),
        cost: f.length > TICK_FIELDS ? Number(f[TICK_FIELDS]) : null,
      };
    }
    if (f[0] !== 'err') {
      throw new ProtocolError(line, reply, `expected <command_q16> <mode> <next_interval_us> <trip>[ <cost>] (${TICK_FIELDS} or ${TICK_FIELDS + 1} integers), received ${f.length} fields`);
    }
  }
  throw new ProtocolError(line, reply, 'unexpected reply');
}

/** The status of an `ok <status>` reply (or a ProtocolError). */
export function okStatus(line: string, reply: string): number {
  const r = parseReply(line, reply);
  if (r.kind !== 'ok' || r.fields.length < 1) throw new ProtocolError(line, reply, 'expected ok <status>');
  return Number(r.fields[0]);
}

/**
 * A reply as it must be the same on every target: a T reply without the
 * optional cost field (only measuring targets append it), its trip
 * included; everything else as is.
 */
export function comparable(line: string, reply: string): string {
  return line.startsWith('T ') && /^-?\d+ \d+ \d+ \d+ \d+$/.test(reply) ? reply.slice(0, reply.lastIndexOf(' ')) : reply;
}

/** A configuration as protocol lines: C per parameter, then K (raw values converted by the core's own formats, Core.rawParam). */
export function configLines(meta: Core, config: Partial<Record<ParamName, ParamValue>>): string[] {
  const lines: string[] = [];
  for (const [name, value] of Object.entries(config) as [ParamName, ParamValue][]) {
    lines.push(cmd.set(paramId(name), meta.rawParam(name, value)));
  }
  lines.push(cmd.commit());
  return lines;
}

function paramId(name: ParamName): number {
  const id = PARAM_IDS.get(name);
  if (id === undefined) throw new RangeError(`unknown parameter '${name}'`);
  return id;
}

function int(field: string | undefined, min: bigint, max: bigint): bigint | null {
  if (field === undefined || !/^-?\d+$/.test(field)) return null;
  const v = BigInt(field);
  return v < min || v > max ? null : v;
}

/**
 * The reference target: the protocol on a core instance's exports, in the
 * calling process. Same parsing and the same transaction rule as
 * common/protocol.c. It cannot trap on purpose (X) and measures nothing (P).
 */
export class ReferenceTarget implements LineTarget {
  private open = false;

  constructor(readonly raw: RawCore, readonly name = 'v8') {}

  /** A fresh V8 instance of build/core.wasm (or the given file). */
  static v8(path?: string): ReferenceTarget {
    return new ReferenceTarget(Core.load(path).raw);
  }

  get memoryBytes(): number {
    const memory = (this.raw as { memory?: WebAssembly.Memory }).memory;
    return memory ? memory.buffer.byteLength : 0;
  }

  handle(line: string): string {
    const f = line.trim().split(/[ \t]+/);
    const op = f[0];
    const want: Record<string, [bigint, bigint][]> = {
      I: [], K: [], R: [], Q: [], P: [], D: [], M: [],
      C: [[I32_MIN, I32_MAX], [I32_MIN, I32_MAX]],
      G: [[I32_MIN, I32_MAX]],
      S: [[I32_MIN, I32_MAX], [I64_MIN, I64_MAX]],
      T: [[I64_MIN, I64_MAX], [I32_MIN, I32_MAX], [I32_MIN, I32_MAX], [I32_MIN, I32_MAX], [I32_MIN, I32_MAX]],
      W: [[0n, I32_MAX], [0n, 255n]],
      X: [[1n, 8n]],
    };
    if (line.trim() === '') return 'err empty line';
    const ranges = want[op];
    if (!ranges) return 'err unknown command';
    if (f.length - 1 !== ranges.length) return `err expected ${ranges.length} fields`;
    const a: bigint[] = [];
    for (let i = 0; i < ranges.length; i++) {
      const v = int(f[i + 1], ranges[i][0], ranges[i][1]);
      if (v === null) return `err field ${i + 1} is not an integer in range`;
      a.push(v);
    }
    const r = this.raw;
    switch (op) {
      case 'I': this.open = false; return `ok ${r.init()}`;
      case 'C':
        if (!this.open) { r.config_begin(); this.open = true; }
        return `ok ${r.config_set(Number(a[0]), Number(a[1]))}`;
      case 'K': this.open = false; return `ok ${r.config_commit()}`;
      case 'S': return `ok ${r.set_setpoint(Number(a[0]), a[1])}`;
      case 'R': return `ok ${r.reset()}`;
      case 'G': return `ok ${r.demand(Number(a[0]))}`;
      case 'T': {
        const u = r.tick(a[0], Number(a[1]), Number(a[2]), Number(a[3]), Number(a[4]));
        return `${u} ${r.mode()} ${r.next_interval_us()} ${r.trip()}`;
      }
      case 'Q': return 'ok 0';
      case 'P': return 'ok none 0 0 0 0 0';
      case 'D': return `ok ${r.cause_monitor()} ${r.cause_stage()} ${r.monitors_active()} ${r.events_written()} ${r.tick_count()} ${r.guard_status()}`;
      case 'M': return `ok ${this.memoryBytes} -1 -1`;
      case 'W': {
        const memory = (r as { memory?: WebAssembly.Memory }).memory;
        if (!memory || a[0] >= BigInt(memory.buffer.byteLength)) return 'err address';
        const bytes = new Uint8Array(memory.buffer);
        bytes[Number(a[0])] ^= Number(a[1]);
        return 'ok 0';
      }
      default: return 'err unsupported';
    }
  }

  async request(line: string): Promise<string> {
    return this.handle(line);
  }

  async requestMany(lines: readonly string[]): Promise<string[]> {
    return lines.map((l) => this.handle(l));
  }

  async close(): Promise<void> {}
}

/** Compare two targets' replies to the same lines; the first difference, or null. */
export function firstDifference(lines: readonly string[], a: readonly string[], b: readonly string[]):
  { index: number; tick: number; line: string; a: string; b: string } | null {
  let tick = -1;
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].startsWith('T ')) tick++;
    if (comparable(lines[i], a[i] ?? '(none)') !== comparable(lines[i], b[i] ?? '(none)')) {
      return { index: i, tick, line: lines[i], a: a[i] ?? '(none)', b: b[i] ?? '(none)' };
    }
  }
  return null;
}
