// Sparkplug B payloads, encoded with Eclipse Tahu's sparkplug-payload so that
// existing SCADA and IIoT tools read them. Decoding is defensive: an
// oversized or malformed payload is rejected with an error, never thrown
// through as something else, and 64-bit fields come back as numbers.
//
// Two ways in:
// - decodePayload (strict: commands, the broker's check of an operator's
//   DCMD): every metric has a name, a datatype and a finite number, boolean
//   or string value in the field its datatype uses, or the whole payload is
//   refused;
// - decodePayloadTolerant (the coordinator, reading edge nodes it did not
//   write): a metric it cannot take (a Template, DataSet, Bytes, null, ...)
//   is left out and counted, a metric may come by its alias only and
//   without a datatype (both declared by its birth).
// Either way a payload carries at most METRICS_MAX metrics, and a payload
// that is not Sparkplug B, too big or has a bad seq is refused whole.

import { createRequire } from 'node:module';

/** A metric property (Sparkplug B PropertyValue), e.g. `engUnit`: a String with the engineering unit. */
export interface MetricProperty {
  type: 'Int32' | 'Double' | 'Boolean' | 'String';
  value: number | boolean | string;
}

/** The Sparkplug B datatypes whose value is a number, boolean or string (the ones edgeloop reads). */
export type MetricType = 'Int8' | 'Int16' | 'Int32' | 'Int64' | 'UInt8' | 'UInt16' | 'UInt32' | 'UInt64'
  | 'Float' | 'Double' | 'Boolean' | 'String' | 'DateTime' | 'Text' | 'UUID';

export interface Metric {
  name: string;
  type: MetricType;
  value: number | boolean | string;
  /** When this value was taken, ms since the epoch (Sparkplug metric timestamp); absent: the payload's. */
  timestamp?: number;
  /** Sparkplug `is_historical`: a value from the past (a replayed sample), to be stored, never shown as the live value. */
  historical?: boolean;
  /** Sparkplug metric alias (UInt64; beyond 2^53 it reads approximately). A birth pairs it with the name; data may carry it alone. */
  alias?: number;
  /** Sparkplug B metric properties (births carry `engUnit`); inbound, only those with a number, boolean or string value are kept. */
  properties?: Record<string, MetricProperty>;
}

/** The most properties kept from one inbound metric. */
export const PROPERTIES_MAX = 16;

export interface Payload {
  timestamp: number;
  seq?: number;
  metrics: Metric[];
}

/** An inbound metric as decodePayloadTolerant gives it: by its alias only (no name), or without a datatype. */
export interface InboundMetric extends Omit<Metric, 'name' | 'type'> {
  name?: string;
  type?: MetricType;
}

export interface InboundPayload {
  timestamp: number;
  seq?: number;
  metrics: InboundMetric[];
}

/** A metric decodePayloadTolerant left out: what it was declared as, and why. */
export interface SkippedMetric {
  index: number;
  name?: string;
  alias?: number;
  /** Its Sparkplug datatype's name ('Template', 'DataSet', ...), when it has one. */
  type?: string;
  why: string;
}

export interface TolerantDecode {
  payload: InboundPayload;
  /** How many metrics were left out (skippedMetrics.length). */
  skipped: number;
  skippedMetrics: SkippedMetric[];
}

export interface TolerantOptions {
  /**
   * The datatype the sender's birth declared for a metric that comes
   * without one (looked up by its name, or by its alias when it has no
   * name): its value is read with it (signed or not). Undefined: unknown.
   */
  declared?: (name: string | undefined, alias: number | undefined) => string | undefined;
}

interface Tahu {
  encodePayload(p: unknown): Uint8Array;
}

const requireCjs = createRequire(import.meta.url);
const tahu = (requireCjs('sparkplug-payload') as { get(ns: string): Tahu }).get('spBv1.0');
/**
 * Tahu's protobuf classes, underneath its decoder. Both decoders read each
 * metric themselves: Tahu's decoder throws for the whole payload on one
 * DataSet it cannot read, and reads an Int32 without a value as 0.
 */
const ProtoPayload = (requireCjs('sparkplug-payload/lib/sparkplugPayloadProto') as {
  org: { eclipse: { tahu: { protobuf: { Payload: { decode(b: Uint8Array): Record<string, unknown> } } } } };
}).org.eclipse.tahu.protobuf.Payload;

/** The largest payload the host accepts (inbound) or sends. */
export const PAYLOAD_MAX_BYTES = 64 * 1024;

/** The most metrics an inbound payload may carry (an agent's DDATA has about ten, plus its acknowledgements). */
export const METRICS_MAX = 1024;

export class PayloadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PayloadError';
  }
}

/** A datatype for a metric that has none, in its payload nor in its birth: what its value is. */
export function typeOfValue(v: number | boolean | string): MetricType {
  return typeof v === 'boolean' ? 'Boolean' : typeof v === 'string' ? 'String' : 'Double';
}

export function encodePayload(p: Payload): Uint8Array {
  // Tahu's name for the flag is isHistorical; a metric without it is encoded as before (no field).
  const metrics = p.metrics.map((m) => (m.historical === undefined ? m : { ...m, isHistorical: m.historical }));
  const bytes = tahu.encodePayload({ ...p, metrics });
  if (bytes.length > PAYLOAD_MAX_BYTES) throw new PayloadError(`payload of ${bytes.length} bytes is over the ${PAYLOAD_MAX_BYTES}-byte limit`);
  return bytes;
}

/**
 * A protobuf Long (or a number) as a number; null if it is neither. A
 * Sparkplug Int64 travels in the unsigned long_value field as two's
 * complement, so it is read signed (`signed`) whatever the Long says.
 */
function toNumber(v: unknown, signed = false): number | null {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (v && typeof v === 'object' && 'low' in v && 'high' in v) {
    const l = v as { low: number; high: number; unsigned?: boolean };
    const hi = l.unsigned && !signed ? l.high >>> 0 : l.high | 0;
    return hi * 4294967296 + (l.low >>> 0);
  }
  return null;
}

/**
 * Decode an inbound payload, strictly: every metric has a name, a datatype
 * and a finite number, boolean or string value of it. Throws PayloadError
 * saying what is wrong (the first metric that is not so refuses the whole
 * payload: a command is taken whole or not at all).
 */
export function decodePayload(bytes: Uint8Array): Payload {
  const { timestamp, seq, list } = decodeWhole(bytes);
  return {
    timestamp,
    ...(seq !== undefined ? { seq } : {}),
    metrics: list.map((m, i) => {
      if (!has(m, 'name') || typeof m.name !== 'string') throw new PayloadError(`payload.metrics[${i}].name: expected a string`);
      const type = typeName(m.datatype);
      const r = type === undefined ? { why: 'expected a number, boolean or string, received no datatype' } : readScalar(m, type);
      if ('why' in r) throw new PayloadError(`payload.metrics[${i}].value: ${r.why}`);
      const metric: Metric = { name: m.name, type: type as MetricType, value: r.value };
      readMetricFields(m, metric);
      const props = readProperties(protoProperties(m.properties));
      if (props) metric.properties = props;
      return metric;
    }),
  };
}

/** The payload as a whole (both decoders): bytes, size, protobuf, timestamp, seq, metric count. Throws PayloadError. */
function decodeWhole(bytes: Uint8Array): { timestamp: number; seq: number | undefined; list: Record<string, unknown>[] } {
  if (!(bytes instanceof Uint8Array)) throw new PayloadError('payload must be bytes');
  if (bytes.length > PAYLOAD_MAX_BYTES) throw new PayloadError(`payload of ${bytes.length} bytes is over the ${PAYLOAD_MAX_BYTES}-byte limit`);
  let raw: Record<string, unknown>;
  try {
    raw = ProtoPayload.decode(bytes);
  } catch (err) {
    throw new PayloadError(`not a Sparkplug B payload: ${(err as Error).message}`);
  }
  const timestamp = has(raw, 'timestamp') ? toNumber(raw.timestamp) : null;
  if (timestamp === null) throw new PayloadError('payload.timestamp: expected a timestamp (ms since the epoch)');
  const seq = has(raw, 'seq') ? toNumber(raw.seq) : undefined;
  if (seq !== undefined && (seq === null || seq < 0 || seq > 255)) throw new PayloadError(`payload.seq: expected 0..255, received ${String(seq)}`);
  const list = Array.isArray(raw.metrics) ? raw.metrics as Record<string, unknown>[] : [];
  if (list.length > METRICS_MAX) throw new PayloadError(`payload.metrics: expected at most ${METRICS_MAX} metrics, received ${list.length}`);
  return { timestamp, seq: seq ?? undefined, list };
}

/** The per-metric fields both decoders keep, as far as the metric carries them: timestamp, is_historical, alias. */
function readMetricFields(m: Record<string, unknown>, into: InboundMetric): void {
  const ts = has(m, 'timestamp') ? toNumber(m.timestamp) : null;
  if (ts !== null) into.timestamp = ts;
  if (has(m, 'isHistorical') && typeof m.isHistorical === 'boolean') into.historical = m.isHistorical;
  const alias = has(m, 'alias') ? toNumber(m.alias) : null;
  if (alias !== null) into.alias = alias;
}

const has = (o: object, k: string) => Object.prototype.hasOwnProperty.call(o, k);

/** Sparkplug B datatype codes (sparkplug_b.proto, 3.0), by code. */
const TYPE_NAMES = ['Unknown', 'Int8', 'Int16', 'Int32', 'Int64', 'UInt8', 'UInt16', 'UInt32', 'UInt64', 'Float', 'Double', 'Boolean', 'String',
  'DateTime', 'Text', 'UUID', 'DataSet', 'Bytes', 'File', 'Template', 'PropertySet', 'PropertySetList', 'Int8Array', 'Int16Array',
  'Int32Array', 'Int64Array', 'UInt8Array', 'UInt16Array', 'UInt32Array', 'UInt64Array', 'FloatArray', 'DoubleArray', 'BooleanArray',
  'StringArray', 'DateTimeArray'] as const;

/** Integer datatypes: their width and sign. DateTime is ms since the epoch, unsigned. */
const INTEGERS: Readonly<Record<string, { bits: number; signed: boolean }>> = {
  Int8: { bits: 8, signed: true }, Int16: { bits: 16, signed: true }, Int32: { bits: 32, signed: true }, Int64: { bits: 64, signed: true },
  UInt8: { bits: 8, signed: false }, UInt16: { bits: 16, signed: false }, UInt32: { bits: 32, signed: false }, UInt64: { bits: 64, signed: false },
  DateTime: { bits: 64, signed: false },
};
const STRINGS: ReadonlySet<string> = new Set(['String', 'Text', 'UUID']);
/** The value fields of a Metric (and a PropertyValue) that hold a number, boolean or string. */
const SCALAR_FIELDS = ['intValue', 'longValue', 'floatValue', 'doubleValue', 'booleanValue', 'stringValue'] as const;

/** A datatype code as its name; undefined when the metric has none (0 or absent). */
function typeName(code: unknown): string | undefined {
  if (typeof code !== 'number' || code === 0) return undefined;
  return TYPE_NAMES[code] ?? `datatype ${code}`;
}

/**
 * A narrow signed integer as the sender meant it: two's complement in the
 * 32 (or 64) bits of its field, or in its own width (an Int8 -1 sent as 255).
 */
function narrowSigned(v: number, bits: number): number {
  if (bits < 32 && v >= 2 ** (bits - 1) && v < 2 ** bits) return v - 2 ** bits;
  return v;
}

/**
 * The value of a decoded Metric or PropertyValue, read by its datatype
 * (`type`, or the birth's when it has none); `why` when it is not a finite
 * number, boolean or string.
 */
function readScalar(raw: Record<string, unknown>, type: string | undefined): { value: number | boolean | string } | { why: string } {
  const expected = 'expected a number, boolean or string, received';
  if (has(raw, 'isNull') && raw.isNull === true) return { why: `${expected} null (is_null)` };
  if (type !== undefined && !(type in INTEGERS) && !STRINGS.has(type) && type !== 'Float' && type !== 'Double' && type !== 'Boolean') {
    return { why: `${expected} a ${type}` };
  }
  const field = SCALAR_FIELDS.find((f) => has(raw, f) && raw[f] !== null && raw[f] !== undefined);
  if (field === undefined) return { why: `${expected} no value` };
  const v = raw[field];
  let value: number | boolean | string | null;
  if (type === undefined) {
    // No datatype here nor in the birth: the field says what it is; an integer reads unsigned.
    value = field === 'intValue' ? (v as number) >>> 0 : field === 'longValue' ? toNumber(v) : (v as number | boolean | string);
  } else if (type in INTEGERS) {
    const { bits, signed } = INTEGERS[type];
    if (field === 'intValue') {
      // uint32 on the wire: a negative is two's complement in 32 bits (-9 as 4294967287), or in the type's own width.
      const i = (v as number) | 0;
      value = !signed ? (v as number) >>> 0 : i < 0 ? i : narrowSigned(i, bits);
    }
    else if (field === 'longValue') { const n = toNumber(v, signed); value = n === null || !signed ? n : narrowSigned(n, bits); }
    else return { why: `${expected} a ${type} in ${field}` };
  } else if (type === 'Float' || type === 'Double') {
    value = field === 'floatValue' || field === 'doubleValue' ? (v as number) : null;
  } else if (type === 'Boolean') {
    value = field === 'booleanValue' ? (v as boolean) : null;
  } else {
    value = field === 'stringValue' ? (v as string) : null;
  }
  if (value === null || !['number', 'boolean', 'string'].includes(typeof value)) return { why: `${expected} a ${type ?? 'value'} in ${field}` };
  if (typeof value === 'number' && !Number.isFinite(value)) return { why: `expected a finite number, received ${value}` };
  return { value };
}

/**
 * Decode an inbound payload from an edge node that edgeloop may not have
 * written. A metric whose value is not a finite number, boolean or string
 * (Template, DataSet, Bytes, File, PropertySet, arrays, null, no value, a
 * value in a field its datatype does not use), or with neither a name nor
 * an alias, is left out and listed in `skippedMetrics`; the rest of the
 * message stands. A metric may come with its alias only (the caller names
 * it from the birth) and without a datatype (`opts.declared`, else
 * undefined). Throws PayloadError only for the whole payload: not Sparkplug
 * B, over PAYLOAD_MAX_BYTES, over METRICS_MAX metrics, no timestamp, a seq
 * outside 0..255.
 */
export function decodePayloadTolerant(bytes: Uint8Array, opts: TolerantOptions = {}): TolerantDecode {
  const { timestamp, seq, list } = decodeWhole(bytes);
  const metrics: InboundMetric[] = [];
  const skippedMetrics: SkippedMetric[] = [];
  list.forEach((m, index) => {
    const name = typeof m.name === 'string' && has(m, 'name') ? m.name : undefined;
    const alias = has(m, 'alias') ? toNumber(m.alias) ?? undefined : undefined;
    const type = typeName(m.datatype) ?? opts.declared?.(name, alias);
    const r = name === undefined && alias === undefined ? { why: 'expected a name or an alias, received neither' } : readScalar(m, type);
    if ('why' in r) {
      skippedMetrics.push({ index, ...(name !== undefined ? { name } : {}), ...(alias !== undefined ? { alias } : {}), ...(type !== undefined ? { type } : {}), why: r.why });
      return;
    }
    const metric: InboundMetric = { ...(name !== undefined ? { name } : {}), ...(type !== undefined ? { type: type as MetricType } : {}), value: r.value };
    readMetricFields(m, metric);
    const props = readProperties(protoProperties(m.properties));
    if (props) metric.properties = props;
    metrics.push(metric);
  });
  return { payload: { timestamp, ...(seq !== undefined ? { seq } : {}), metrics }, skipped: skippedMetrics.length, skippedMetrics };
}

/** A protobuf PropertySet (keys, values) as {key: {type, value}}: the first PROPERTIES_MAX with a scalar value. */
function protoProperties(ps: unknown): Record<string, { type: string | undefined; value: unknown }> | null {
  if (!ps || typeof ps !== 'object') return null;
  const { keys, values } = ps as { keys?: unknown; values?: unknown };
  if (!Array.isArray(keys) || !Array.isArray(values)) return null;
  // No prototype: a property named __proto__ is just a key.
  const out = Object.create(null) as Record<string, { type: string | undefined; value: unknown }>;
  let n = 0;
  for (let i = 0; i < keys.length && i < values.length && n < PROPERTIES_MAX; i++) {
    const pv = values[i] as Record<string, unknown> | null;
    if (typeof keys[i] !== 'string' || !pv || typeof pv !== 'object') continue;
    const type = typeName(pv.type);
    const r = readScalar(pv, type);
    if ('value' in r) { out[keys[i] as string] = { type, value: r.value }; n++; }
  }
  return out;
}

/** An inbound property set: at most PROPERTIES_MAX entries with a finite number, boolean or string value; anything else is left out. */
function readProperties(raw: unknown): Record<string, MetricProperty> | null {
  if (!raw || typeof raw !== 'object') return null;
  // No prototype: a property named __proto__ is just a key.
  const out: Record<string, MetricProperty> = Object.create(null) as Record<string, MetricProperty>;
  let n = 0;
  for (const [key, pv] of Object.entries(raw as Record<string, unknown>)) {
    if (n >= PROPERTIES_MAX) break;
    if (!pv || typeof pv !== 'object') continue;
    const { type, value } = pv as { type?: unknown; value?: unknown };
    const v = typeof value === 'boolean' || typeof value === 'string' ? value : toNumber(value);
    if (v === null || (typeof v === 'number' && !Number.isFinite(v))) continue;
    out[key] = { type: typeof type === 'string' ? type as MetricProperty['type'] : 'String', value: v };
    n++;
  }
  return n > 0 ? out : null;
}

/** Sparkplug's message sequence: 0..255, wrapping; the birth certificate starts it at 0. */
export class SeqCounter {
  private n = 0;

  /** The seq the next message will get, without taking it. */
  peek(): number {
    return this.n;
  }

  /** The seq for the next message. */
  next(): number {
    const s = this.n;
    this.n = (this.n + 1) & 0xff;
    return s;
  }

  reset(): void {
    this.n = 0;
  }
}
