// Sparkplug B payloads, encoded with Eclipse Tahu's sparkplug-payload so that
// existing SCADA and IIoT tools read them. Decoding is defensive: an
// oversized or malformed payload is rejected with an error, never thrown
// through as something else, and 64-bit fields come back as numbers.
// Inbound, every metric has a name and a number (finite), boolean or string
// value, and a payload carries at most METRICS_MAX of them.

import { createRequire } from 'node:module';

/** A metric property (Sparkplug B PropertyValue), e.g. `engUnit`: a String with the engineering unit. */
export interface MetricProperty {
  type: 'Int32' | 'Double' | 'Boolean' | 'String';
  value: number | boolean | string;
}

export interface Metric {
  name: string;
  type: 'Int32' | 'Int64' | 'UInt64' | 'Float' | 'Double' | 'Boolean' | 'String';
  value: number | boolean | string;
  timestamp?: number;
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

interface Tahu {
  encodePayload(p: unknown): Uint8Array;
  decodePayload(b: Uint8Array): Record<string, unknown>;
}

const tahu = (createRequire(import.meta.url)('sparkplug-payload') as { get(ns: string): Tahu }).get('spBv1.0');

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

export function encodePayload(p: Payload): Uint8Array {
  const bytes = tahu.encodePayload(p);
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

/** Decode an inbound payload. Throws PayloadError saying what is wrong. */
export function decodePayload(bytes: Uint8Array): Payload {
  if (!(bytes instanceof Uint8Array)) throw new PayloadError('payload must be bytes');
  if (bytes.length > PAYLOAD_MAX_BYTES) throw new PayloadError(`payload of ${bytes.length} bytes is over the ${PAYLOAD_MAX_BYTES}-byte limit`);
  let raw: Record<string, unknown>;
  try {
    raw = tahu.decodePayload(bytes);
  } catch (err) {
    throw new PayloadError(`not a Sparkplug B payload: ${(err as Error).message}`);
  }
  const timestamp = toNumber(raw.timestamp);
  if (timestamp === null) throw new PayloadError('payload.timestamp: expected a timestamp (ms since the epoch)');
  const seq = raw.seq === undefined || raw.seq === null ? undefined : toNumber(raw.seq);
  if (seq !== undefined && (seq === null || seq < 0 || seq > 255)) throw new PayloadError(`payload.seq: expected 0..255, received ${String(seq)}`);
  const metrics = Array.isArray(raw.metrics) ? raw.metrics : [];
  if (metrics.length > METRICS_MAX) throw new PayloadError(`payload.metrics: expected at most ${METRICS_MAX} metrics, received ${metrics.length}`);
  return {
    timestamp,
    ...(seq !== undefined && seq !== null ? { seq } : {}),
    metrics: metrics.map((m: Record<string, unknown>, i: number) => {
      if (typeof m.name !== 'string') throw new PayloadError(`payload.metrics[${i}].name: expected a string`);
      const value = typeof m.value === 'boolean' || typeof m.value === 'string' ? m.value : toNumber(m.value, m.type === 'Int64');
      if (value === null) throw new PayloadError(`payload.metrics[${i}].value: expected a number, boolean or string`);
      if (typeof value === 'number' && !Number.isFinite(value)) throw new PayloadError(`payload.metrics[${i}].value: expected a finite number, received ${value}`);
      const metric: Metric = { name: m.name, type: (m.type as Metric['type']) ?? 'Double', value };
      const props = readProperties(m.properties);
      if (props) metric.properties = props;
      return metric;
    }),
  };
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
