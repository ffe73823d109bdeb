// Oracle runs, the campaign's counterfactual: from the first fault's onset
// the controller's output is replaced by a fixed one (the command pinned at
// the actuator's min or max, or the trip asserted), to tell whether a
// violation was preventable at all. Before the onset an oracle run is the
// run itself. With the trip asserted, each plant does what its trip does
// (thermal cools, the motor coasts, tank and drum hold their level), and a
// welded contactor (trip.fail) makes the plant ignore it.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DEBUG_CORE_PATH } from '../../host/runtime/core.js';
import { runScenario, type Oracle, type RunResult } from '../../firmware-sim/run.js';
import { parseScenario, type ScenarioInput } from '../../firmware-sim/scenario/schema.js';
import { PLANTS } from '../../firmware-sim/plants/index.js';
import { THERMAL } from '../../firmware-sim/plants/thermal.js';
import { MOTOR } from '../../firmware-sim/plants/motor.js';
import type { FaultSpec } from '../../firmware-sim/types.js';

const module = new WebAssembly.Module(readFileSync(DEBUG_CORE_PATH));
const run = (input: ScenarioInput, oracle?: Oracle): RunResult => runScenario(parseScenario(input), { module, record: true, oracle });

/** A fault that gives the run an onset and leaves the plant and the actuator alone: the host's setpoint goes stale. */
const onsetAt = (onsetS: number): FaultSpec => ({ kind: 'comm.setpoint_stale', onsetS, durationS: null, magnitude: 1 });
/** A contactor welded from t = 1 s to the end. */
const welded: FaultSpec = { kind: 'trip.fail', onsetS: 1, durationS: null, magnitude: 1 };

/** Index of the first tick at or after tS. */
const tick = (r: RunResult, tS: number): number => r.trace!.tS.findIndex((t) => t >= tS);
const after = (r: RunResult, key: 'truth' | 'measurement' | 'command', tS: number): number[] => r.trace![key].slice(tick(r, tS));

describe('oracles pin the command from the onset, and not before', () => {
  const sc: ScenarioInput = { plant: 'thermal', durationS: 300, seed: 4, faults: [onsetAt(100)] };
  const own = run(sc);

  for (const [oracle, pinned] of [['max', 100], ['min', 0]] as const) {
    it(`'${oracle}': the heater runs the guarded run's trajectory until t = 100 s, then at ${pinned} % on every tick`, () => {
      // setpoint goes stale at t = 100 s (the onset) -> from the first tick
      // at or after 100 s the heater gets ${pinned} % whatever the core says;
      // before it, tick for tick what the guarded run applied.
      const r = run(sc, oracle);
      const k = tick(r, 100);
      expect(r.trace!.command.slice(0, k)).toEqual(own.trace!.command.slice(0, k));
      expect(r.trace!.truth.slice(0, k)).toEqual(own.trace!.truth.slice(0, k));
      expect(r.trace!.command.slice(k).every((u) => u === pinned)).toBe(true);
      expect(r.oracle).toBe(oracle);
      // Contrapositive: the core's own run does not sit at that bound after the onset.
      expect(own.trace!.command.slice(k).every((u) => u === pinned)).toBe(false);
    });
  }

  it("'max' drives the chamber out of its envelope (95 C), 'min' lets it cool toward ambient; the guarded run does neither", () => {
    const hot = run(sc, 'max');
    const cold = run(sc, 'min');
    expect(hot.envelope.violated).toBe(true);
    expect(hot.envelope.firstS!).toBeGreaterThan(100);
    expect(cold.trace!.truth[cold.trace!.truth.length - 1]).toBeLessThan(THERMAL.ambient + 10);
    expect(own.envelope.violated).toBe(false);
  });

  it('the pinned command still goes through the actuator faults: a reversed heater driver turns max into 0 %', () => {
    const r = run({ plant: 'thermal', durationS: 200, seed: 4, faults: [{ kind: 'actuator.reversed', onsetS: 100, durationS: null, magnitude: 1 }] }, 'max');
    expect(after(r, 'command', 100).every((u) => u === 0)).toBe(true);
  });

  it('a fault-free run never engages the oracle: it is the run itself', () => {
    const free: ScenarioInput = { plant: 'tank', durationS: 120, seed: 4 };
    const plain = run(free);
    for (const oracle of ['min', 'max', 'trip'] as const) {
      const r = run(free, oracle);
      expect(r.trace).toEqual(plain.trace);
      expect(r.iae).toBe(plain.iae);
    }
  });
});

describe("the 'trip' oracle on each plant", () => {
  // Thermal and motor run unguarded (the primary controller alone), so that
  // with the contactor welded the loop simply goes on holding its setpoint
  // (guarded, the stale setpoint would send it to its fallback setpoint).
  it('thermal: tripped from t = 100 s -> the chamber cools from 80 C toward 20 C; welded contactor -> 80 C held', () => {
    const sc: ScenarioInput = { plant: 'thermal', durationS: 400, seed: 6, guarded: false, faults: [onsetAt(100)] };
    const r = run(sc, 'trip');
    expect(r.trace!.truth[tick(r, 99)]).toBeGreaterThan(THERMAL.setpoint - 1);
    expect(r.trace!.truth[r.trace!.truth.length - 1]).toBeLessThan(THERMAL.ambient + 1);
    expect(r.trips).toBe(1);
    expect(r.finalTrip).toBe(1);
    expect(r.trace!.trip.slice(0, tick(r, 100))).not.toContain(1);
    // Contrapositive: the contactor is welded; the trip is demanded (and counted) but the chamber stays at 80 C.
    const w = run({ ...sc, faults: [welded, onsetAt(100)] }, 'trip');
    expect(w.trips).toBe(1);
    expect(Math.min(...after(w, 'truth', 100))).toBeGreaterThan(THERMAL.setpoint - 1);
  });

  it('motor: tripped from t = 5 s -> safe torque off, it coasts from 3000 rpm below 200 rpm by 11 s; welded -> 3000 rpm held', () => {
    const sc: ScenarioInput = { plant: 'motor', durationS: 11, seed: 6, guarded: false, faults: [onsetAt(5)] };
    const r = run(sc, 'trip');
    const end = r.trace!.truth[r.trace!.truth.length - 1];
    expect(r.trace!.truth[tick(r, 4.9)]).toBeGreaterThan(MOTOR.setpoint - 100);
    expect(end).toBeLessThan(200);
    expect(end).toBeGreaterThan(0);
    const w = run({ ...sc, faults: [welded, onsetAt(5)] }, 'trip');
    expect(Math.min(...after(w, 'truth', 5))).toBeGreaterThan(MOTOR.setpoint - 100);
  });

  // A draw that the pump cannot make up (tank: 1.5 L/s extra against a 2 L/s
  // pump; drum: 60 % extra against a 100 % pump) from t = 60 s, the trip
  // from t = 50 s: isolated, the level holds; welded, the tank drains.
  const draws = [
    { plant: 'tank' as const, load: -1.5, seconds: 150 },
    { plant: 'integrator' as const, load: -60, seconds: 40 },
  ];
  for (const { plant, load, seconds } of draws) {
    it(`${plant}: isolated from t = 50 s, an extra draw from t = 60 s -> the level holds within noise; welded -> it drains`, () => {
      const sc: ScenarioInput = { plant, durationS: 50 + seconds, seed: 6, faults: [onsetAt(50)], loads: [{ atS: 60, magnitude: load }] };
      const noise = PLANTS[plant].sensors.noise;
      const r = run(sc, 'trip');
      const held = after(r, 'truth', 51);
      expect(Math.max(...held) - Math.min(...held)).toBe(0);
      const seen = after(r, 'measurement', 51);
      expect(Math.max(...seen.map((m) => Math.abs(m - held[0])))).toBeLessThan(6 * noise);
      const w = run({ ...sc, faults: [welded, onsetAt(50)] }, 'trip');
      const drained = after(w, 'truth', 51);
      expect(drained[drained.length - 1]).toBeLessThan(drained[0] - 100 * noise);
    });
  }
});
