// The operations of a campaign scenario: what an operator and the process
// do to the loop while it runs, fault or no fault. A few setpoint changes
// (steps or ramps) and a few load changes (steps or ramps, both signs, up
// to LOAD_SHARE_MAX of the actuator's range), drawn from the scenario's
// Rng, so a scenario stays a pure function of (seed, index).
//
// Where the setpoints go. An operator keeps them well inside the envelope
// and where the actuator can hold them:
//
// - envelope: at least twice the core's env_margin from each limit (the
//   guard acts within one margin, and hands back only two margins inside),
//   plus what the largest drawn load change moves the output before the
//   primary controller has rejected it (LOAD_SWING);
// - actuator: at steady state, under every load level the scenario draws,
//   the command that holds the setpoint stays HEADROOM_SHARE of the range
//   away from either limit. That command comes from the core's own static
//   model, y = K (u + d) + offset (the plant's static gain: exact for the
//   thermal chamber and the motor, the tangent at the operating point for
//   the tank, whose orifice needs less flow than the tangent says at every
//   other level, and the drum's integrator to within 0.1 %).
//
// So a fault-free scenario is one the primary controller can run
// (test/sim/operations-campaign.test.ts runs them unguarded).

import type { Rng } from '../rng.js';
import type { PlantName, PlantSpec } from '../types.js';

/** The largest load level, as a share of the actuator's range (either sign). */
export const LOAD_SHARE_MAX = 0.15;
/** The share of the actuator's range kept free at both ends by the command that holds a setpoint. */
export const HEADROOM_SHARE = 0.1;
/** Setpoint changes per run, and load changes per run (each count drawn in this range). */
export const SETPOINT_CHANGES = { min: 1, max: 3 } as const;
export const LOAD_CHANGES = { min: 1, max: 3 } as const;
/** Operations fall within this share of the run (none at the very start or end). */
const WINDOW = { from: 0.05, to: 0.95 } as const;
/** A ramp lasts this share of the run at most; half the operations are steps. */
const RAMP_SHARE_MAX = 0.15;
const RAMP_SHARE_MIN = 0.01;
/** The share of load changes that take the load away (back to 0). */
const LOAD_OFF_SHARE = 0.25;

/**
 * How far a load step of one actuator unit moves each plant's output before
 * its primary controller has rejected it (output units per actuator unit):
 * 1.5 times the peak deviation measured for steps of 10 and 15 % of the
 * range, both signs, at the operating point (thermal 0.10 C/%, motor 37
 * rpm/V, tank 72 mm per L/s, drum 0.078 %/%). test/sim/operations-campaign.test.ts
 * measures them again. A plant missing here gets its open-loop static
 * swing, |K| per unit, which no closed loop exceeds.
 */
export const LOAD_SWING: Partial<Record<PlantName, number>> = {
  thermal: 0.15,
  motor: 56,
  tank: 108,
  integrator: 0.12,
};

export interface SetpointOp { atS: number; value: number; rampS?: number }
export interface LoadOp { atS: number; magnitude: number; rampS?: number }
export interface Operations { setpoints: SetpointOp[]; loads: LoadOp[] }

/** The core's static model of a plant: y = K (u + d) + offset at steady state. */
function staticModel(spec: PlantSpec): { k: number; offset: number } {
  return { k: Number(spec.core.model_gain ?? 1), offset: Number(spec.core.model_offset ?? 0) };
}

/** The command that holds `setpoint` at steady state under load d, by the core's static model. */
export function holdingCommand(spec: PlantSpec, setpoint: number, d: number): number {
  const { k, offset } = staticModel(spec);
  return (setpoint - offset) / k - d;
}

/** How far a load change of `step` actuator units moves the output before the loop rejects it. */
export function loadSwing(spec: PlantSpec, step: number): number {
  const perUnit = LOAD_SWING[spec.name] ?? Math.abs(staticModel(spec).k);
  return perUnit * Math.abs(step);
}

/**
 * Where an operator may put the setpoint in a scenario whose load moves
 * between dLo and dHi (0 included: the load before the first change) by
 * steps of at most `loadStep`: inside the envelope by twice the margin and
 * the load's swing, and where the actuator holds it with headroom.
 */
export function setpointWindow(spec: PlantSpec, dLo: number, dHi: number, loadStep: number): { lo: number; hi: number } {
  const margin = Number(spec.core.env_margin ?? 0);
  const inset = 2 * margin + loadSwing(spec, loadStep);
  const { k } = staticModel(spec);
  const room = HEADROOM_SHARE * (spec.actuator.max - spec.actuator.min);
  // y = K (u + d) + offset with u in [min + room, max - room] for both dLo and dHi.
  const a = k * (spec.actuator.min + room + dHi) + staticModel(spec).offset;
  const b = k * (spec.actuator.max - room + dLo) + staticModel(spec).offset;
  return {
    lo: Math.max(spec.envelope.min + inset, Math.min(a, b)),
    hi: Math.min(spec.envelope.max - inset, Math.max(a, b)),
  };
}

/** A step in setpoint units fine enough for an operator's entry: about a thousandth of the envelope. */
function setpointQuantum(spec: PlantSpec): number {
  return 10 ** Math.floor(Math.log10((spec.envelope.max - spec.envelope.min) / 100));
}

const round = (x: number, digits: number) => Number(x.toFixed(digits));

/** n times in the run's window, sorted, to the millisecond. */
function times(rng: Rng, n: number, durationS: number): number[] {
  const span = WINDOW.to - WINDOW.from;
  return Array.from({ length: n }, () => round(durationS * (WINDOW.from + span * rng.next()), 3)).sort((a, b) => a - b);
}

/** A ramp time (or none: a step). */
function ramp(rng: Rng, durationS: number): number | undefined {
  if (rng.next() < 0.5) return undefined;
  return round(durationS * (RAMP_SHARE_MIN + (RAMP_SHARE_MAX - RAMP_SHARE_MIN) * rng.next()), 3);
}

/** The operations of one scenario on `spec` lasting durationS, drawn from rng. */
export function drawOperations(spec: PlantSpec, rng: Rng, durationS: number): Operations {
  const range = spec.actuator.max - spec.actuator.min;
  const loadMax = LOAD_SHARE_MAX * range;
  const loadDigits = Math.max(0, 3 - Math.floor(Math.log10(range)));
  const loads: LoadOp[] = times(rng, rng.int(LOAD_CHANGES.min, LOAD_CHANGES.max), durationS).map((atS) => {
    const magnitude = rng.next() < LOAD_OFF_SHARE ? 0 : round(loadMax * (2 * rng.next() - 1), loadDigits);
    const rampS = ramp(rng, durationS);
    return rampS === undefined ? { atS, magnitude } : { atS, magnitude, rampS };
  });
  // The load's levels (0 before the first change) and its largest change.
  const levels = [0, ...loads.map((l) => l.magnitude)];
  let step = 0;
  let lowest = 0;
  let highest = 0;
  for (let j = 1; j < levels.length; j++) {
    step = Math.max(step, Math.abs(levels[j] - levels[j - 1]));
    lowest = Math.min(lowest, levels[j]);
    highest = Math.max(highest, levels[j]);
  }
  const w = setpointWindow(spec, lowest, highest, step);
  const q = setpointQuantum(spec);
  const lo = Math.ceil(w.lo / q) * q;
  const hi = Math.floor(w.hi / q) * q;
  const digits = Math.max(0, -Math.round(Math.log10(q)));
  const setpoints: SetpointOp[] = times(rng, rng.int(SETPOINT_CHANGES.min, SETPOINT_CHANGES.max), durationS).map((atS) => {
    const u = rng.next();
    // No room at all (a plant whose envelope is too narrow for its loads): the nominal setpoint, re-entered.
    const value = hi < lo ? spec.setpoint : round(Math.min(hi, lo + Math.round(((hi - lo) * u) / q) * q), digits);
    const rampS = ramp(rng, durationS);
    return rampS === undefined ? { atS, value } : { atS, value, rampS };
  });
  return { setpoints, loads };
}
