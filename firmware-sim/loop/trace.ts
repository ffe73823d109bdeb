// The per-tick record of a run, kept only when asked for (plots, PIL
// comparisons): one entry per tick the MCU ran.

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
