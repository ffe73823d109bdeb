// The field recorder: turns agents' Sparkplug DBIRTH/DDATA payloads into
// telemetry rows and alarm events, and writes them in batches.
//
// The caller (the coordinator's cycle, never an MQTT callback) hands over
// each decoded payload with the time it arrived. Rows are queued and written
// in one transaction every flushMs, or at once when flushRows are waiting:
// at 2,000 agents x 10 Hz that is about 400 rows per 20 ms batch, which keeps
// publish-to-store latency well inside 50 ms.
//
// Alarms come from changes of the agent's first-out cause, its mode and its
// trip output (de-energized, energized again, failed to take effect; each
// with the cause it tripped for), taken in the agent's own sample order: a
// spooled sample replayed late is stored with its own time and number, but
// it does not move the alarm state back.

import type { Metric, Payload } from '../mqtt/codec.js';
import { GUARD_STATUS } from '../runtime/abi.js';
import type { Sample, TelemetryStore } from './store.js';

export interface RecorderOptions {
  /** Write queued rows this often (ms); 0 = only on flush() or the size threshold. Default 20. */
  flushMs?: number;
  /** Write at once when this many rows are queued. Default 2000. */
  flushRows?: number;
  /** Keep this much history (ms, by sample time). Default: the store's retainMs, or none. */
  retainMs?: number;
  /** The host clock (ms since the epoch): retention cutoff and stored_ms. */
  clockMs?: () => number;
}

/** What the recorder last saw of one agent. */
interface AgentState {
  /** The newest sample seen: its number (null without one) and time. */
  sample: number | null;
  tMs: number;
  mode: string | null;
  cause: string;
  tripped: boolean;
  tripFailed: boolean;
  /** The cause the trip output was de-energized for (`<cause>/<stage>`), for its release and failure rows. */
  tripCause: string;
}

/** A payload's fields, validated: anything missing or of the wrong type is null. */
interface Fields {
  setpoint: number | null;
  measurement: number | null;
  output: number | null;
  mode: string | null;
  cause: string | null;
  sample: number | null;
  /** Not every agent has a trip (older ones): null when the payload does not say. */
  tripped: boolean | null;
  tripCause: string | null;
  tripFailed: boolean | null;
}

/** Whatever the recorder had to make of malformed input (for metrics and tests). */
export interface RecorderCounts {
  samples: number;
  alarms: number;
  /** Payloads with at least one expected field missing or invalid. */
  incomplete: number;
  /** Samples older than one already seen for that agent (spooled replays). */
  late: number;
  /** Samples dropped as already recorded (same number and timestamp: resent after a dropped connection). */
  duplicates: number;
}

const finite = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** Read the telemetry fields out of a payload's metrics: one pass, one dispatch. */
export function readFields(metrics: readonly Metric[]): { fields: Fields; complete: boolean } {
  const f: Fields = { setpoint: null, measurement: null, output: null, mode: null, cause: null, sample: null, tripped: null, tripCause: null, tripFailed: null };
  for (const m of metrics) {
    if (!m || typeof m !== 'object') continue;
    const v: unknown = m.value;
    switch (m.name) {
      case 'setpoint': f.setpoint = finite(v); break;
      case 'measurement': f.measurement = finite(v); break;
      case 'output': f.output = finite(v); break;
      case 'mode': f.mode = typeof v === 'string' && v !== '' ? v : null; break;
      case 'cause': f.cause = typeof v === 'string' ? v : null; break;
      case 'sample': f.sample = Number.isSafeInteger(v) && (v as number) >= 0 ? (v as number) : null; break;
      case 'trip': f.tripped = typeof v === 'boolean' ? v : null; break;
      case 'trip/cause': f.tripCause = typeof v === 'string' ? v : null; break;
      case 'guard/status': f.tripFailed = Number.isSafeInteger(v) ? ((v as number) & GUARD_STATUS.trip_failed) !== 0 : null; break;
      default: break;
    }
  }
  const complete = f.setpoint !== null && f.measurement !== null && f.output !== null && f.mode !== null && f.cause !== null && f.sample !== null;
  return { fields: f, complete };
}

/** 'monitor/stage' as its parts; a cause without a stage keeps the whole string as the monitor. */
export function splitCause(cause: string): { monitor: string; stage: string } {
  const i = cause.indexOf('/');
  return i < 0 ? { monitor: cause, stage: '' } : { monitor: cause.slice(0, i), stage: cause.slice(i + 1) };
}

/**
 * Is (sample, tMs) newer than the agent's newest state? The sample counter
 * decides (the agent's clock may step); a counter that went back while time
 * went forward is an agent that restarted, and its sample is new.
 */
function newer(prev: AgentState, sample: number | null, tMs: number): boolean {
  if (sample === null || prev.sample === null) return tMs > prev.tMs;
  return sample > prev.sample || (sample < prev.sample && tMs > prev.tMs);
}

/** The fields a sample reported by exception may leave out (they keep their last value). */
const CARRIED = ['setpoint', 'measurement', 'output', 'mode', 'cause'] as const;
/** Agents whose last values are kept, at most (the oldest first out). */
const AGENTS_REMEMBERED = 10_000;

/** Samples per agent remembered for duplicate detection (a resend window is two keepalives: about 100 at 10 Hz). */
export const DEDUP_SAMPLES = 1024;

export class Recorder {
  readonly counts: RecorderCounts = { samples: 0, alarms: 0, incomplete: 0, late: 0, duplicates: 0 };
  private readonly agents = new Map<string, AgentState>();
  /** Per agent, the numbers (and timestamps) of its latest samples, to drop resent duplicates. */
  private readonly recentSamples = new Map<string, { newest: number; newestMs: number; seen: Map<number, number> }>();
  private readonly clock: () => number;
  private readonly flushRows: number;
  private readonly retainMs: number | null;
  private readonly timer: NodeJS.Timeout | null;
  private closed = false;

  constructor(private readonly store: TelemetryStore, opts: RecorderOptions = {}) {
    const flushMs = opts.flushMs ?? 20;
    if (!(Number.isFinite(flushMs) && flushMs >= 0)) throw new RangeError(`Recorder: flushMs must be >= 0 ms, got ${String(opts.flushMs)}`);
    this.flushRows = opts.flushRows ?? 2000;
    if (!(Number.isSafeInteger(this.flushRows) && this.flushRows >= 1)) throw new RangeError(`Recorder: flushRows must be an integer >= 1, got ${String(opts.flushRows)}`);
    if (opts.retainMs !== undefined && !(Number.isFinite(opts.retainMs) && opts.retainMs > 0)) {
      throw new RangeError(`Recorder: retainMs must be a positive number of ms, got ${String(opts.retainMs)}`);
    }
    this.retainMs = opts.retainMs ?? store.retainMs;
    this.clock = opts.clockMs ?? Date.now;
    this.timer = flushMs > 0 ? setInterval(() => this.flush(), flushMs) : null;
    // The timer must not keep a process alive that has nothing else to do.
    this.timer?.unref();
  }

  /**
   * Queue one agent payload (DBIRTH or DDATA) received at receivedMs. Never
   * throws on what the payload holds: missing fields are stored as nulls.
   */
  record(agentKey: string, p: Payload, receivedMs: number): void {
    if (this.closed) throw new Error(`Recorder.record: the recorder is closed (agent '${agentKey}')`);
    const metrics = p && Array.isArray(p.metrics) ? p.metrics : [];
    const read = readFields(metrics);
    const f = read.fields;
    let complete = read.complete;
    // Reported by exception: what a live sample does not carry has not moved since the agent last reported it.
    // History (a replayed sample) is sent whole; it is never completed from, nor leaves, the live values.
    const history = metrics.some((m) => m && m.historical === true);
    if (!complete && f.sample !== null && !history) complete = this.fill(agentKey, f, metrics);
    // A sample needs a time to be found again: without a valid one, the time it arrived.
    const tMs = p && Number.isFinite(p.timestamp) ? p.timestamp : receivedMs;
    if (f.sample !== null && this.isDuplicate(agentKey, f.sample, tMs)) { this.counts.duplicates++; return; }
    if (!complete || tMs !== p?.timestamp) this.counts.incomplete++;
    const row: Sample = { agent: agentKey, tMs, setpoint: f.setpoint, measurement: f.measurement, output: f.output, mode: f.mode, sample: f.sample, recvMs: receivedMs, cause: f.cause, tripped: f.tripped };
    this.store.add(row);
    this.counts.samples++;
    this.track(agentKey, tMs, f);
    if (!history) this.remember(agentKey, f);
    if (this.store.pendingCount >= this.flushRows) this.flush();
  }

  /** Per agent, the last value of each field it reported (births and samples), to complete samples reported by exception. */
  private readonly lastValues = new Map<string, Partial<Pick<Fields, (typeof CARRIED)[number]>>>();

  /**
   * A device's births (DBIRTH): not a sample, but the values its samples
   * reported by exception leave out until they move.
   */
  birth(agentKey: string, p: Payload): void {
    if (this.closed || !p || !Array.isArray(p.metrics)) return;
    this.remember(agentKey, readFields(p.metrics).fields);
  }

  private remember(agent: string, f: Fields): void {
    const last = this.lastValues.get(agent) ?? {};
    for (const k of CARRIED) if (f[k] !== null) (last as Record<string, unknown>)[k] = f[k];
    if (!this.lastValues.has(agent) && this.lastValues.size >= AGENTS_REMEMBERED) this.lastValues.delete(this.lastValues.keys().next().value!);
    this.lastValues.set(agent, last);
  }

  /** Fill the fields a sample does not carry from the agent's last values; whether the sample is complete now. */
  private fill(agent: string, f: Fields, metrics: readonly Metric[]): boolean {
    const last = this.lastValues.get(agent);
    if (!last) return false;
    for (const k of CARRIED) {
      if (f[k] !== null || last[k] === undefined || metrics.some((m) => m && m.name === k)) continue;
      (f as unknown as Record<string, unknown>)[k] = last[k];
    }
    return f.setpoint !== null && f.measurement !== null && f.output !== null && f.mode !== null && f.cause !== null;
  }

  /**
   * A sample already recorded: the same number with the same timestamp
   * (agents send the last moments before a dropped connection again). A
   * restarted agent counts from 0 again, but at other timestamps.
   */
  private isDuplicate(agent: string, sample: number, tMs: number): boolean {
    let m = this.recentSamples.get(agent);
    if (!m) this.recentSamples.set(agent, m = { newest: -1, newestMs: -Infinity, seen: new Map() });
    if (sample > m.newest || tMs > m.newestMs) {
      // The stream moves on (or the agent restarted: its count starts over, at later times).
      if (sample <= m.newest) m.seen.clear();
      m.newest = sample;
      m.newestMs = tMs;
      m.seen.set(sample, tMs);
      if (m.seen.size > DEDUP_SAMPLES) m.seen.delete(m.seen.keys().next().value!);
      return false;
    }
    // Older than the newest: a resend (a duplicate when remembered with the same time) or a late replay.
    // It is looked up, never remembered, so a long resend cannot push out what it is checked against.
    return m.seen.get(sample) === tMs;
  }

  /** Alarm rows from changes of cause and mode, in the agent's sample order. */
  private track(agent: string, tMs: number, f: Fields): void {
    const prev = this.agents.get(agent);
    if (prev && !newer(prev, f.sample, tMs)) { this.counts.late++; return; }
    const state = prev ?? { sample: f.sample, tMs, mode: f.mode, cause: '', tripped: false, tripFailed: false, tripCause: '' };
    state.sample = f.sample;
    state.tMs = tMs;
    this.agents.set(agent, state);
    // First sight sets the mode baseline quietly; an active cause still raises its trip.
    if (prev && f.mode !== null && f.mode !== state.mode) {
      this.alarm({ agent, tMs, kind: 'mode', monitor: f.mode, stage: state.mode ?? '' });
    }
    if (f.mode !== null) state.mode = f.mode;
    this.trackTrip(agent, tMs, f, state);
    if (f.cause === null || f.cause === state.cause) return;
    const { monitor, stage } = splitCause(f.cause === '' ? state.cause : f.cause);
    this.alarm({ agent, tMs, kind: f.cause === '' ? 'clear' : 'trip', monitor, stage });
    state.cause = f.cause;
  }

  /** Trip rows: de-energized (with its cause), energized again, and a trip that did not take effect. First sight of a tripped agent raises its trip. */
  private trackTrip(agent: string, tMs: number, f: Fields, state: AgentState): void {
    if (f.tripped !== null && f.tripped !== state.tripped) {
      if (f.tripped) state.tripCause = f.tripCause ?? '';
      const { monitor, stage } = splitCause(state.tripCause);
      this.alarm({ agent, tMs, kind: f.tripped ? 'trip_out' : 'trip_release', monitor, stage });
      state.tripped = f.tripped;
      if (!f.tripped) state.tripFailed = false;
    }
    if (f.tripFailed !== null && f.tripFailed !== state.tripFailed) {
      if (f.tripFailed) this.alarm({ agent, tMs, kind: 'trip_failed', ...splitCause(state.tripCause || (f.tripCause ?? '')) });
      state.tripFailed = f.tripFailed;
    }
  }

  private alarm(a: { agent: string; tMs: number; kind: string; monitor: string; stage: string }): void {
    this.store.addAlarm(a);
    this.counts.alarms++;
  }

  /** Write what is queued; apply retention. Returns the samples written. */
  flush(): number {
    const now = this.clock();
    const n = this.store.flush(now);
    if (this.retainMs !== null) {
      // Bounded per pass (twice what came in, plus some) so retention keeps
      // up with the inflow without one long delete stalling the next flush.
      this.store.retain(now - this.retainMs, 2 * n + 1000);
    }
    return n;
  }

  /** Stop the timer and write what is queued. The store stays open: its owner closes it. */
  close(): void {
    if (this.closed) return;
    if (this.timer) clearInterval(this.timer);
    this.flush();
    this.closed = true;
  }
}
