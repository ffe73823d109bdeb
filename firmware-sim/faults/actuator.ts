// Actuator faults: the command the core sends -> what the actuator applies
// to the plant. With a command inside [actuatorMin, actuatorMax] every kind
// applies a value inside it too.

import type { Rng } from '../rng.js';
import type { FaultSpec } from '../types.js';
import type { FaultContext, FaultWindow, Injector, MagnitudeRule } from './index.js';

export type ActuatorKind = Extract<FaultSpec['kind'], `actuator.${string}`>;

const ANY: MagnitudeRule = { expected: () => 'any finite number (ignored)', ok: () => true };

export const ACTUATOR_RULES: Readonly<Record<ActuatorKind, MagnitudeRule>> = {
  'actuator.stuck': ANY,
  'actuator.effectiveness': { expected: () => 'a fraction of lost effectiveness in (0, 1]', ok: (m) => m > 0 && m <= 1 },
  'actuator.saturation': { expected: () => 'a fraction of the range in [0, 1)', ok: (m) => m >= 0 && m < 1 },
  'actuator.reversed': ANY,
};

export function compileActuatorFault(
  spec: FaultSpec & { kind: ActuatorKind }, win: FaultWindow, _rng: Rng, ctx: FaultContext,
): Injector {
  const { actuatorMin: lo, actuatorMax: hi } = ctx;
  const m = spec.magnitude;
  const whileActive = (f: (u: number) => number): Injector => ({
    actuator: (u, tS) => (win.contains(tS) ? f(u) : u),
  });
  switch (spec.kind) {
    case 'actuator.stuck': {
      // Freezes at the first command inside the window.
      let frozen: number | null = null;
      return whileActive((u) => (frozen ??= u));
    }
    case 'actuator.effectiveness': return whileActive((u) => lo + (u - lo) * (1 - m));
    case 'actuator.saturation': {
      const ceiling = lo + m * (hi - lo);
      return whileActive((u) => Math.min(u, ceiling));
    }
    case 'actuator.reversed': return whileActive((u) => lo + hi - u);
  }
}
