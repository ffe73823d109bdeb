// Timing faults: extra execution time (overrun), ticks that never run
// (missed) and an MCU clock that runs at the wrong rate (clock_drift).

import type { Rng } from '../rng.js';
import type { FaultSpec } from '../types.js';
import type { FaultContext, FaultWindow, Injector, MagnitudeRule } from './index.js';

export type TimingKind = Extract<FaultSpec['kind'], `timing.${string}`>;

/** overrun: the longest extra cost per tick, microseconds (10 s). */
export const OVERRUN_US_MAX = 10_000_000;
/** clock_drift: the largest rate error, as a fraction (50 % fast or slow). */
export const CLOCK_DRIFT_MAX = 0.5;

export const TIMING_RULES: Readonly<Record<TimingKind, MagnitudeRule>> = {
  'timing.overrun': {
    expected: () => `microseconds in (0, ${OVERRUN_US_MAX}]`,
    ok: (m) => m > 0 && m <= OVERRUN_US_MAX,
  },
  'timing.missed': { expected: () => 'a fraction of ticks in (0, 1]', ok: (m) => m > 0 && m <= 1 },
  'timing.clock_drift': {
    expected: () => `a rate error in [-${CLOCK_DRIFT_MAX}, ${CLOCK_DRIFT_MAX}] other than 0 (0.05 = 5 % fast)`,
    ok: (m) => m !== 0 && Math.abs(m) <= CLOCK_DRIFT_MAX,
  },
};

export function compileTimingFault(spec: FaultSpec & { kind: TimingKind }, win: FaultWindow, rng: Rng, _ctx: FaultContext): Injector {
  const m = spec.magnitude;
  switch (spec.kind) {
    case 'timing.overrun': return { extraCostUs: (tS) => (win.contains(tS) ? m : 0) };
    case 'timing.missed': {
      // Bernoulli per due tick, one draw per distinct tS while active.
      let lastS = NaN;
      let skipped = false;
      return {
        skipTick: (tS) => {
          if (!win.contains(tS)) return false;
          if (tS !== lastS) {
            lastS = tS;
            skipped = rng.next() < m;
          }
          return skipped;
        },
      };
    }
    case 'timing.clock_drift': {
      // The offset grows at rate m inside the window and holds after it:
      // the clock stays continuous and monotonic.
      const { onsetUs, endUs } = win;
      return { clockOffsetUs: (trueUs) => m * (Math.min(trueUs, endUs) - Math.min(trueUs, onsetUs)) };
    }
  }
}
