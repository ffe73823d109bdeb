// What the core's event log says about a run: the first root-cause trip at
// or after the first fault's onset (detection, and the stage it names),
// root trips before it (false trips), consequential trips, and the log
// itself when the run is recorded. Only a port that reads the log (an
// engine's Core) feeds it; over the line protocol it stays empty.

import type { CoreEvent } from '../../host/runtime/core.js';

export interface TimedEvent extends CoreEvent {
  tS: number;
}

export interface Detection {
  tS: number;
  latencyS: number;
  monitor: string;
  stage: string;
}

export class EventBook {
  detection: Detection | null = null;
  falseTrips = 0;
  readonly falseTripMonitors: string[] = [];
  consequential = 0;
  /** Broken invariants the core logged (a bug in it; the debug build traps on each). */
  invariantFails = 0;
  /**
   * Invariants broken while the configuration table was corrupted (the
   * event's stage is the core's): a soft error's doing, not a bug.
   */
  invariantSoft = 0;
  /** What broke, each once, in the order first seen. */
  readonly invariants: string[] = [];
  /** Every event with its time, when recording; else null. */
  readonly log: TimedEvent[] | null;
  private detectionSettled = false;

  constructor(private readonly firstOnsetUs: number, record: boolean) {
    this.log = record ? [] : null;
  }

  /** The events logged by the tick at nowS. */
  take(events: readonly CoreEvent[], nowS: number): void {
    for (const ev of events) {
      if (this.log) this.log.push({ ...ev, tS: nowS });
      if (ev.kind === 'consequential') this.consequential++;
      if (ev.kind === 'invariant' && ev.stage !== null) this.invariantSoft++;
      if (ev.kind === 'invariant' && ev.stage === null) {
        this.invariantFails++;
        const what = `${ev.reason} (tick ${ev.tick}, value ${ev.value})`;
        if (this.invariants.length < 5 && !this.invariants.some((w) => w.startsWith(ev.reason ?? '?'))) this.invariants.push(what);
      }
      // An estimation root names its stage for good once isolation settles.
      const d = this.detection;
      if (ev.kind === 'isolated' && d && !this.detectionSettled && ev.monitor === d.monitor) {
        this.detection = { ...d, stage: ev.stage ?? '?' };
        this.detectionSettled = true;
      }
      if (ev.kind !== 'trip') continue;
      if (nowS * 1e6 < this.firstOnsetUs) {
        this.falseTrips++;
        this.falseTripMonitors.push(ev.monitor ?? '?');
      } else if (!this.detection) {
        this.detection = { tS: nowS, latencyS: nowS - this.firstOnsetUs / 1e6, monitor: ev.monitor ?? '?', stage: ev.stage ?? '?' };
      }
    }
  }
}
