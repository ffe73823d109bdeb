// The per-tick record of a run, kept only when asked for (plots, PIL
// comparisons): one entry per tick the MCU ran, up to TRACE_POINTS_MAX.
// A longer run (the schema allows a day of a 2 ms loop: 43 M ticks) keeps
// every 2nd, then every 4th ... tick, so that its memory stays bounded
// (about 25 MB); its figures (envelope, IAE, modes) come from the run itself,
// not from the trace.

export interface TickTrace {
  tUs: number[];
  /** The host's setpoint at the tick. */
  setpoint: number[];
  /** The plant's true output at the tick. */
  truth: number[];
  /** The core's conditioned measurement after the tick (NaN where the port cannot read it). */
  measurement: number[];
  /** What the actuator path applies after the tick (after the DAC and the actuator faults), output units. */
  applied: number[];
  /** The controller's command, output units (an oracle run's pinned command shows in `applied`, not here). */
  command: number[];
  mode: number[];
  /** The trip output after the tick as it reaches the contactor: 1 = trip demanded, 0 = run permitted. */
  trip: number[];
}

export function emptyTrace(): TickTrace {
  return { tUs: [], setpoint: [], truth: [], measurement: [], applied: [], command: [], mode: [], trip: [] };
}

/** The most ticks a trace holds; past it, it keeps every other one of them and records half as often. */
export const TRACE_POINTS_MAX = 400_000;

/**
 * Keep one tick of each pair, the same one in every series: the one whose
 * true output is farther from the setpoint, so that an excursion (what the
 * envelope is about) survives the thinning.
 */
export function halveTrace(t: TickTrace): void {
  const n = t.tUs.length;
  const series = Object.values(t) as number[][];
  let j = 0;
  for (let i = 0; i < n; i += 2) {
    const k = i + 1 < n && Math.abs(t.truth[i + 1] - t.setpoint[i + 1]) > Math.abs(t.truth[i] - t.setpoint[i]) ? i + 1 : i;
    for (const s of series) s[j] = s[k];
    j++;
  }
  for (const s of series) s.length = j;
}
