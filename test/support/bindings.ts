// I/O bindings for the host tests: a thermal chamber behind one sensor, and
// a sensor that never moves. Neither has a physical trip channel: a trip
// cuts the actuator's power in the binding itself (the chamber's heater
// gets 0 %), as host/io/binding.ts asks of such a binding.
import type { IoBinding } from '../../host/io/binding.js';
import { Fopdt } from '../../firmware-sim/plants/fopdt.js';

/** A binding that also shows what the agent drove it with. */
export type TestBinding = IoBinding & { readonly tripped: boolean; readonly applied: number };

/**
 * A first-order chamber (k 1.5 C/%, tau 60 s, no dead time, ambient 20 C)
 * at 80 C, one sensor at 20 counts per C, advanced one step of `dtS` per
 * command; a trip turns the heater off.
 */
export function chamberBinding(dtS = 0.1): TestBinding & { readonly temperature: number } {
  const plant = new Fopdt({ k: 1.5, tau: 60, theta: 0, ambient: 20, dt: dtS, y0: 80 });
  let tripped = false;
  let applied = 0;
  return {
    read: () => ({ sensors: [Math.round(plant.output * 20)] }),
    write: (u) => { applied = tripped ? 0 : u; plant.step(applied); },
    writeTrip: (t) => { tripped = t; },
    get tripped() { return tripped; },
    get applied() { return applied; },
    get temperature() { return plant.output; },
  };
}

/** A sensor stuck at `counts` and an actuator that goes nowhere (a trip is only recorded). */
export function steadyBinding(counts = 1000): TestBinding {
  let tripped = false;
  let applied = 0;
  return {
    read: () => ({ sensors: [counts] }),
    write: (u) => { applied = tripped ? 0 : u; },
    writeTrip: (t) => { tripped = t; },
    get tripped() { return tripped; },
    get applied() { return applied; },
  };
}
