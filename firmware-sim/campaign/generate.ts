// The campaign's swarm: scenario i of a campaign with seed S is a pure
// function of (S, i), so any scenario can be re-run alone from its seed and
// index, and the campaign's result does not depend on how it was split.
// Every scenario, fault-free or not, runs under real operations: setpoint
// changes and load disturbances (operations.ts).

import { Rng } from '../rng.js';
import { PLANTS } from '../plants/index.js';
import { FAULT_KINDS, PLANT_NAMES, type FaultKind, type FaultSpec, type PlantSpec } from '../types.js';
import { parseScenario, type Scenario } from '../scenario/schema.js';
import { drawOperations } from './operations.js';

/** Share of scenarios with no fault at all (false-trip and action-to-sensing evidence). */
export const FAULT_FREE_SHARE = 0.2;
/** Ticks of a campaign run at the plant's nominal period. */
export const RUN_TICKS = 6000;

const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[Math.floor(rng.next() * xs.length)];

/**
 * The kinds the swarm draws from. trip.fail (a welded contactor) is left
 * out: it is latent, it changes nothing until the guard demands a trip, and
 * a campaign scenario has one fault. Alone it would be a fault-free run
 * counted as a faulty one (the unguarded loop never trips; the guarded one
 * trips only falsely, which the fault-free runs already measure). It
 * belongs with a second fault that makes the trip necessary, which the
 * swarm does not draw; scenario files can script it (firmware-sim/scenarios).
 */
const CAMPAIGN_KINDS: readonly FaultKind[] = FAULT_KINDS.filter((k) => k !== 'trip.fail');

/** A fault's magnitude for a plant, in the kind's unit (firmware-sim/faults/README.md). */
function magnitude(kind: FaultKind, spec: PlantSpec, rng: Rng): number {
  const span = spec.sensors.max - spec.sensors.min;
  const sign = rng.next() < 0.5 ? -1 : 1;
  const periodS = spec.periodUs / 1e6;
  switch (kind) {
    case 'sensor.stuck': return 0;
    case 'sensor.bias': return sign * pick(rng, [0.02, 0.05, 0.1, 0.2]) * span;
    case 'sensor.drift': return sign * pick(rng, [0.02, 0.05, 0.2]) * span / (RUN_TICKS * periodS);
    case 'sensor.noise_burst': return pick(rng, [0.01, 0.03, 0.1]) * span;
    case 'sensor.spikes': return pick(rng, [0.1, 0.3, 0.5]) * span;
    case 'sensor.dropout': return pick(rng, [0, 1]);
    case 'sensor.delay': return pick(rng, [5, 20, 60]) * periodS;
    case 'actuator.stuck': return 0;
    case 'actuator.effectiveness': return pick(rng, [0.3, 0.6, 0.9]);
    case 'actuator.saturation': return pick(rng, [0.2, 0.5]);
    case 'actuator.reversed': return 0;
    case 'timing.overrun': return Math.round(pick(rng, [0.6, 1.0, 2.5]) * spec.periodUs);
    case 'timing.missed': return pick(rng, [0.3, 0.6, 0.9]);
    case 'timing.clock_drift': return sign * pick(rng, [0.05, 0.2, 0.5]);
    case 'memory.bitflip': return pick(rng, [1, 2, 4]);
    case 'comm.setpoint_stale': return 0;
    case 'comm.setpoint_lost': return pick(rng, [0.5, 0.9, 1]);
    case 'trip.fail': return 0;
  }
}

function mix(seed: number, index: number): number {
  let h = (seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/** Scenario `index` of the campaign with `seed`. */
export function campaignScenario(seed: number, index: number): Scenario {
  const rng = new Rng(mix(seed, index));
  const plant = PLANT_NAMES[index % PLANT_NAMES.length];
  const spec = PLANTS[plant];
  const durationS = (RUN_TICKS * spec.periodUs) / 1e6;
  const faults: FaultSpec[] = [];
  const faultFree = rng.next() < FAULT_FREE_SHARE;
  let label = 'fault-free';
  if (!faultFree) {
    const kind = pick(rng, CAMPAIGN_KINDS);
    const onsetS = Number((durationS * (0.3 + 0.2 * rng.next())).toFixed(3));
    const permanent = rng.next() < 0.5;
    const durationFault = permanent ? null : Number((durationS * (0.1 + 0.2 * rng.next())).toFixed(3));
    const f: FaultSpec = {
      kind, onsetS, durationS: durationFault, magnitude: Number(magnitude(kind, spec, rng).toPrecision(6)),
      ...(kind.startsWith('sensor.') ? { scope: spec.sensors.count > 1 && rng.next() < 0.3 ? 'common' as const : 'single' as const } : {}),
    };
    faults.push(f);
    label = `${kind}${f.scope === 'common' ? '(common)' : ''}`;
  }
  const runSeed = rng.u32();
  // Drawn after everything else, so the faults and the run's seed are those of the same (seed, index) without operations.
  const ops = drawOperations(spec, rng, durationS);
  return parseScenario({
    name: `campaign ${seed}#${index} ${plant} ${label}`,
    plant, seed: runSeed, durationS, faults, setpoints: ops.setpoints, loads: ops.loads,
  }, `campaign ${seed}#${index}`);
}
