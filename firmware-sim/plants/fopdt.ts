// First-order-plus-dead-time plant: tau dy/dt = k u(t - theta) + ambient - y.
// Exact zero-order-hold discretization for a fixed step; the dead time is a
// FIFO of past inputs, so theta is rounded to a whole number of steps.

export interface FopdtOptions {
  /** Static gain (output units per input unit). */
  k: number;
  /** Time constant, s. */
  tau: number;
  /** Dead time, s. */
  theta: number;
  /** Output at zero input. */
  ambient?: number;
  /** Integration step, s. */
  dt: number;
  /** Initial output (default: ambient). */
  y0?: number;
}

export class Fopdt {
  readonly opts: Required<FopdtOptions>;
  private y: number;
  private readonly a: number;
  private readonly delay: number[];
  private head = 0;

  constructor(opts: FopdtOptions) {
    if (!(opts.tau > 0)) throw new RangeError(`fopdt: tau must be > 0, got ${opts.tau}`);
    if (!(opts.dt > 0)) throw new RangeError(`fopdt: dt must be > 0, got ${opts.dt}`);
    if (!(opts.theta >= 0)) throw new RangeError(`fopdt: theta must be >= 0, got ${opts.theta}`);
    const ambient = opts.ambient ?? 0;
    this.opts = { ambient, y0: opts.y0 ?? ambient, ...opts } as Required<FopdtOptions>;
    this.y = this.opts.y0;
    this.a = Math.exp(-opts.dt / opts.tau);
    this.delay = new Array(Math.round(opts.theta / opts.dt)).fill(0);
  }

  get output(): number { return this.y; }

  /** Apply input u for one step (plus an input disturbance d) and return the new output. */
  step(u: number, d = 0): number {
    let applied = u + d;
    if (this.delay.length > 0) {
      const oldest = this.delay[this.head];
      this.delay[this.head] = applied;
      this.head = (this.head + 1) % this.delay.length;
      applied = oldest;
    }
    const target = this.opts.k * applied + this.opts.ambient;
    this.y = target + (this.y - target) * this.a;
    return this.y;
  }
}

/** A FOPDT plant for variable steps: the same model, exact for any dt. */
export interface FopdtVariableOptions {
  /** Static gain (output units per input unit). */
  k: number;
  /** Time constant, s. */
  tau: number;
  /** Dead time, s. */
  theta: number;
  /** Output at zero input. */
  ambient?: number;
  /** Initial output (default: the steady state under u0). */
  y0?: number;
  /** The input applied since forever before the first step (default 0). */
  u0?: number;
}

/**
 * tau dy/dt = k u(t - theta) + ambient - y, advanced by any dt (jittered
 * ticks, long action-to-sensing intervals) without approximation: the input
 * is held between steps (zero-order hold), every step records (start time,
 * input) in a time-stamped history, and the step integrates the delayed
 * input piece by piece, each piece with its exact exponential. Usually one
 * or two pieces per step; the history holds theta's worth of steps (a ring
 * that grows only if steps get shorter than ever before).
 */
export class FopdtVariable {
  readonly k: number;
  readonly tau: number;
  readonly theta: number;
  readonly ambient: number;
  private y: number;
  /** Plant time, s (0 at creation). */
  private t = 0;
  // Ring of input segments (capacity a power of two): segment j starts at
  // startS[j] and lasts until the next one starts; the oldest is at `head`,
  // the newest at `head + count - 1`. The first one covers all of the past.
  private startS: Float64Array;
  private value: Float64Array;
  private mask = 15;
  private head = 0;
  private count = 1;

  constructor(opts: FopdtVariableOptions) {
    if (!(opts.tau > 0)) throw new RangeError(`fopdt: tau must be > 0, got ${opts.tau}`);
    if (!(opts.theta >= 0) || !Number.isFinite(opts.theta)) throw new RangeError(`fopdt: theta must be finite and >= 0, got ${opts.theta}`);
    this.k = opts.k;
    this.tau = opts.tau;
    this.theta = opts.theta;
    this.ambient = opts.ambient ?? 0;
    const u0 = opts.u0 ?? 0;
    this.y = opts.y0 ?? this.k * u0 + this.ambient;
    this.startS = new Float64Array(this.mask + 1);
    this.value = new Float64Array(this.mask + 1);
    this.startS[0] = -Infinity;
    this.value[0] = u0;
  }

  get output(): number { return this.y; }
  /** Plant time since creation, s. */
  get timeS(): number { return this.t; }

  /** Apply u (plus an input disturbance d) for dtS seconds; returns the new output. */
  step(u: number, dtS: number, d = 0): number {
    if (!(dtS >= 0)) throw new RangeError(`fopdt: dt must be >= 0, got ${dtS}`);
    this.record(u + d);
    if (dtS === 0) return this.y;
    // The plant responds over [t, t + dt] to the input of [t - theta, t + dt - theta].
    const from = this.t - this.theta;
    const to = from + dtS;
    const startS = this.startS;
    const value = this.value;
    const mask = this.mask;
    const k = this.k;
    const ambient = this.ambient;
    const rate = 1 / this.tau;
    let y = this.y;
    let j = this.head;
    let start = from;   // the head segment covers `from` (forget() keeps it so)
    for (let n = this.count; n > 0; n--) {
      const next = n > 1 ? startS[(j + 1) & mask] : Infinity;
      const end = next < to ? next : to;
      if (end > start) {
        const target = k * value[j] + ambient;
        y = target + (y - target) * expNeg((end - start) * rate);
      }
      if (next >= to) break;
      start = next;
      j = (j + 1) & mask;
    }
    this.y = y;
    this.t += dtS;
    this.forget(this.t - this.theta);
    return y;
  }

  // A new segment from now on, unless the input did not change.
  private record(v: number): void {
    const last = (this.head + this.count - 1) & this.mask;
    if (this.value[last] === v) return;
    if (this.startS[last] === this.t) { this.value[last] = v; return; }   // replaced before it took effect
    if (this.count > this.mask) this.grow();
    const at = (this.head + this.count) & this.mask;
    this.startS[at] = this.t;
    this.value[at] = v;
    this.count++;
  }

  // Drop the segments that ended at or before `horizon` (the next step reads from there).
  private forget(horizon: number): void {
    while (this.count > 1 && this.startS[(this.head + 1) & this.mask] <= horizon) {
      this.head = (this.head + 1) & this.mask;
      this.count--;
    }
  }

  private grow(): void {
    const cap = this.mask + 1;
    const s = new Float64Array(cap * 2);
    const v = new Float64Array(cap * 2);
    for (let n = 0; n < this.count; n++) {
      s[n] = this.startS[(this.head + n) & this.mask];
      v[n] = this.value[(this.head + n) & this.mask];
    }
    this.startS = s;
    this.value = v;
    this.mask = cap * 2 - 1;
    this.head = 0;
  }
}

/**
 * e^-x for x >= 0: the Taylor series to x^6 below 0.02 (truncation under
 * 2.6e-16, below the last bit), where a 100 ms tick of a 60 s plant lands,
 * and Math.exp above. Cheaper than Math.exp, and as exact.
 */
export function expNeg(x: number): number {
  return x < 0.02
    ? 1 - x * (1 - x * (1 / 2 - x * (1 / 6 - x * (1 / 24 - x * (1 / 120 - x * (1 / 720))))))
    : Math.exp(-x);
}
