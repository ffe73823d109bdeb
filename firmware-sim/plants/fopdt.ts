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
