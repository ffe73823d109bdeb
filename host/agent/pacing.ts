// The agent's pace: one tick per core interval, on a setTimeout chain. The
// core says how long to wait (nextIntervalUs, its own schedule); a tick
// that starts more than one interval late is counted, never caught up by
// ticking twice. Whatever a tick throws, the next one comes.

export class Pacer {
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  /**
   * @param clockUs the agent's clock, microseconds
   * @param intervalUs the interval before the next tick (the core's), read before each tick
   * @param onLate a tick started more than one interval after it was due
   */
  constructor(private readonly clockUs: () => number, private readonly intervalUs: () => number, private readonly onLate: () => void) {}

  /** Run `tick` now and then on the core's schedule until stop(). */
  start(tick: () => void): void {
    let due = this.clockUs();
    const step = () => {
      const now = this.clockUs();
      let periodUs = 100_000;
      try {
        periodUs = this.intervalUs();
        if (now - due > periodUs) this.onLate();
        tick();
      } finally {
        // The next tick comes at the last interval, or 100 ms if the core could not say.
        due = now + periodUs;
        if (!this.stopped) this.timer = setTimeout(step, Math.max(1, Math.round(periodUs / 1000)));
      }
    };
    step();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
