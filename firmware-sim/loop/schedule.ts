// What the scenario scripts over simulated time: the host's setpoint and
// the plant's load disturbance. Both are a level that moves in steps or
// ramps, so one LevelSchedule serves both.

import type { PlantSpec } from '../types.js';
import type { Scenario } from '../scenario/schema.js';

/** One scripted change: from atS the level goes to `value`, linearly over rampS seconds (0 or absent: at once). */
export interface LevelStep {
  readonly atS: number;
  readonly value: number;
  readonly rampS?: number;
}

/**
 * A level over time: `base` until the first step; from each step's atS on,
 * it moves from wherever it was at atS to the step's value, linearly over
 * rampS seconds, and stays there. A later step takes over from the level
 * it finds, even in the middle of a ramp. Steps are ordered by atS; of two
 * at the same time the one listed later wins. Queries in non-decreasing
 * time cost O(1) (a cursor); going back in time rescans.
 */
export class LevelSchedule {
  private readonly atS: Float64Array;
  private readonly from: Float64Array;
  private readonly to: Float64Array;
  private readonly rampS: Float64Array;
  /** The step in force at the last query (-1: none yet). */
  private k = -1;

  constructor(private readonly base: number, steps: readonly LevelStep[]) {
    const sorted = [...steps].sort((a, b) => a.atS - b.atS);
    const n = sorted.length;
    this.atS = new Float64Array(n);
    this.from = new Float64Array(n);
    this.to = new Float64Array(n);
    this.rampS = new Float64Array(n);
    for (let j = 0; j < n; j++) {
      this.atS[j] = sorted[j].atS;
      this.to[j] = sorted[j].value;
      this.rampS[j] = sorted[j].rampS ?? 0;
      this.from[j] = this.levelOf(j - 1, this.atS[j]);
    }
  }

  /** The level at tS. */
  valueAt(tS: number): number {
    const at = this.atS;
    if (this.k >= 0 && tS < at[this.k]) this.k = -1;
    while (this.k + 1 < at.length && at[this.k + 1] <= tS) this.k++;
    return this.levelOf(this.k, tS);
  }

  // The level at tS under step j (j < 0: before any step).
  private levelOf(j: number, tS: number): number {
    if (j < 0) return this.base;
    const ramp = this.rampS[j];
    const into = tS - this.atS[j];
    if (ramp > 0 && into < ramp) return this.from[j] + (this.to[j] - this.from[j]) * (into / ramp);
    return this.to[j];
  }
}

/** The host's setpoint: the plant's nominal setpoint until the scenario's first setpoint step. */
export function setpointSchedule(sc: Scenario, spec: PlantSpec): LevelSchedule {
  return new LevelSchedule(spec.setpoint, sc.setpoints ?? []);
}

/** The load disturbance d, in the actuator's units; null when the scenario scripts none (d = 0 throughout). */
export function loadSchedule(sc: Scenario): LevelSchedule | null {
  const loads = sc.loads ?? [];
  return loads.length ? new LevelSchedule(0, loads.map((l) => ({ atS: l.atS, value: l.magnitude, rampS: l.rampS }))) : null;
}
