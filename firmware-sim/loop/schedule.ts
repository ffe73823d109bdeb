// The host's setpoint schedule: what the host asks for at each moment of
// simulated time.

import type { PlantSpec } from '../types.js';
import type { Scenario } from '../scenario/schema.js';

/** The host's setpoint schedule as a step function of time (the plant's nominal setpoint before the first step). */
export function setpointSchedule(sc: Scenario, spec: PlantSpec): (tS: number) => number {
  const steps = [...(sc.setpoints ?? [])].sort((a, b) => a.atS - b.atS);
  if (steps.length === 0) return () => spec.setpoint;
  return (tS) => {
    let sp = spec.setpoint;
    for (const s of steps) {
      if (s.atS > tS) break;
      sp = s.value;
    }
    return sp;
  };
}
