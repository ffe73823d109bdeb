// Communication faults: the host's setpoint refresh, due at tS, does not
// arrive (stale: none arrives while active; lost: each is lost at random).

import type { Rng } from '../rng.js';
import type { FaultSpec } from '../types.js';
import type { FaultContext, FaultWindow, Injector, MagnitudeRule } from './index.js';

export type CommKind = Extract<FaultSpec['kind'], `comm.${string}`>;

export const COMM_RULES: Readonly<Record<CommKind, MagnitudeRule>> = {
  'comm.setpoint_stale': { expected: () => 'any finite number (ignored)', ok: () => true },
  'comm.setpoint_lost': { expected: () => 'a loss probability in (0, 1]', ok: (m) => m > 0 && m <= 1 },
};

export function compileCommFault(spec: FaultSpec & { kind: CommKind }, win: FaultWindow, rng: Rng, _ctx: FaultContext): Injector {
  switch (spec.kind) {
    case 'comm.setpoint_stale': return { setpointLost: (tS) => win.contains(tS) };
    case 'comm.setpoint_lost': {
      // One draw per distinct refresh time while active; a repeated call at the same tS agrees.
      let lastS = NaN;
      let lost = false;
      return {
        setpointLost: (tS) => {
          if (!win.contains(tS)) return false;
          if (tS !== lastS) {
            lastS = tS;
            lost = rng.next() < spec.magnitude;
          }
          return lost;
        },
      };
    }
  }
}
