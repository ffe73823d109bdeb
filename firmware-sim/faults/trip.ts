// Trip faults: the trip output is demanded, and nothing happens. trip.fail
// is a welded contactor (or a safe-torque-off or an isolation valve that
// does not act): while it is active a demanded trip does not reach the
// plant, and the actuator path stays as it was. The core is expected to
// notice from the actuator's feedback, which keeps reading the actuator.

import type { Rng } from '../rng.js';
import type { FaultSpec } from '../types.js';
import type { FaultContext, FaultWindow, Injector, MagnitudeRule } from './index.js';

export type TripKind = Extract<FaultSpec['kind'], `trip.${string}`>;

export const TRIP_RULES: Readonly<Record<TripKind, MagnitudeRule>> = {
  'trip.fail': { expected: () => 'any finite number (ignored)', ok: () => true },
};

export function compileTripFault(spec: FaultSpec & { kind: TripKind }, win: FaultWindow, _rng: Rng, _ctx: FaultContext): Injector {
  switch (spec.kind) {
    case 'trip.fail': return { tripFails: (tS) => win.contains(tS) };
  }
}
