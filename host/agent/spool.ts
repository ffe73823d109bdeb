// The agent's spool: telemetry is never lost to a broker outage. While the
// agent cannot publish (offline, or its primary host's STATE is not
// online), every sample goes in here, bounded; after the next births the
// spool goes out in order, each sample with its own timestamp and running
// `sample` number, every metric flagged `is_historical` (Sparkplug B), so
// that a host files it in its history and never sets a live tag from it.
// Only an overflow drops samples, the oldest first, and those are counted.
//
// At QoS 0 a sample published shortly before a connection drops may never
// have arrived. The spool keeps what went out (live or as history) in the
// last two keepalives and, when the connection drops, sends it once more, as
// history, ahead of the rest: each sample at most once more. The replay waits
// while the socket's buffer is full, so little is ever in flight. The
// recorder recognizes a sample it already has (same number and timestamp)
// and drops it.

import type { Metric } from '../mqtt/codec.js';

export interface Sample {
  timestamp: number;
  metrics: Metric[];
  /** Times it was put back after a dropped connection (at most once). */
  resends?: number;
}

export interface SpoolStats {
  spooled: number;
  replayed: number;
  spoolDropped: number;
  resent: number;
  /** Samples that went out shortly before a connection dropped and had been put back once already: not sent a third time (they may not have arrived). */
  notResent: number;
}

/** Spooled samples sent per turn of the event loop (a full spool would otherwise hold the tick back for hundreds of ms). */
export const REPLAY_CHUNK = 500;
/**
 * Samples kept for resending after a dropped connection, at most (the
 * recorder remembers DEDUP_SAMPLES = 1024 per agent to recognise them): two
 * keepalives of a 10 Hz loop are about 110.
 */
export const RESEND_MAX = 1000;

/** A sample's metrics as history (is_historical), as a host must take replayed data. */
export function asHistory(sample: Sample): Sample {
  return { timestamp: sample.timestamp, metrics: sample.metrics.map((m) => ({ ...m, historical: true })) };
}

export class Spool {
  private readonly queue: Sample[] = [];
  private head = 0;
  /** Samples that went out live within the resend window (oldest first), with when (agent clock, us). */
  private recent: { sample: Sample; sentUs: number }[] = [];
  private replayScheduled = false;

  /**
   * @param max samples kept while the agent cannot publish; beyond it the oldest go, counted
   * @param windowUs how long a sample sent live is kept for a resend (two keepalives and a second)
   */
  /** @param resend keep what went out for a resend after a drop (QoS 0; at QoS 1 the MQTT session resends) */
  constructor(private readonly stats: SpoolStats, private readonly max: number, private readonly windowUs: number, private readonly clockUs: () => number,
    private readonly resend = true) {}

  /** Samples waiting. */
  get length(): number { return this.queue.length - this.head; }

  /** Keep a sample that cannot go out now (or must wait behind the ones already waiting). */
  push(sample: Sample): void {
    this.queue.push(sample);
    this.stats.spooled++;
    if (this.length > this.max) { this.head++; this.stats.spoolDropped++; }
    this.compact();
  }

  /** A sample went out (live, or as history) at QoS 0: keep it for the resend window. */
  sentLive(sample: Sample): void {
    if (!this.resend) return;
    const now = this.clockUs();
    this.recent.push({ sample, sentUs: now });
    let drop = 0;
    while (drop < this.recent.length && (this.recent[drop].sentUs < now - this.windowUs || this.recent.length - drop > RESEND_MAX)) drop++;
    if (drop) this.recent.splice(0, drop);
  }

  /**
   * The connection (or the host) went away: what went out lately may not
   * have arrived. It goes again, as history, ahead of the spool; each sample
   * at most once (one put back before is not put back again: counted in
   * notResent, as it may not have arrived).
   */
  requeueRecent(): void {
    const again = this.recent.filter((r) => (r.sample.resends ?? 0) < 1).map((r) => ({ ...r.sample, resends: (r.sample.resends ?? 0) + 1 }));
    this.stats.notResent += this.recent.length - again.length;
    this.queue.splice(this.head, 0, ...again);
    this.stats.resent += again.length;
    this.recent = [];
    if (this.length > this.max) {
      const over = this.length - this.max;
      this.head += over;
      this.stats.spoolDropped += over;
    }
  }

  /**
   * Send the spool as history, oldest first, REPLAY_CHUNK samples at a time
   * with the event loop free in between, while `canSend()`; whatever is left
   * when it cannot waits for the next births.
   */
  replay(send: (sample: Sample) => void, canSend: () => boolean, congested: () => boolean = () => false): void {
    const end = Math.min(this.queue.length, this.head + REPLAY_CHUNK);
    while (this.head < end && canSend() && !congested()) {
      const sample = this.queue[this.head++];
      send(asHistory(sample));
      this.sentLive(sample);
      this.stats.replayed++;
    }
    if (this.head === this.queue.length) { this.queue.length = 0; this.head = 0; return; }
    if (canSend() && !this.replayScheduled) {
      // The socket's buffer full: wait for it to drain (what sits in it is lost if the connection drops).
      this.replayScheduled = true;
      const next = () => { this.replayScheduled = false; if (canSend()) this.replay(send, canSend, congested); };
      if (congested()) setTimeout(next, 5); else setImmediate(next);
    }
  }

  private compact(): void {
    if (this.head > 4096 && this.head * 2 > this.queue.length) { this.queue.splice(0, this.head); this.head = 0; }
  }
}
