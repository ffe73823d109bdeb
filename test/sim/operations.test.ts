// Real operations in a scenario: the plant's load disturbance d(t) and the
// host's setpoint, scripted as steps and ramps. The loads are checked where
// they act, at the plant: a primary controller that holds its setpoint
// against a load must end up supplying what the load takes away, so the
// actuator's steady command moves by exactly the load (in the actuator's
// units). Runs here are unguarded (the primary controller alone): the
// estimation monitors know no load, so a guarded loop may call a large one
// a fault, which is the guard's business, not the loop's.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DEBUG_CORE_PATH } from '../../host/runtime/core.js';
import { runScenario, type RunResult } from '../../firmware-sim/run.js';
import { parseScenario, ScenarioError, type ScenarioInput } from '../../firmware-sim/scenario/schema.js';
import { LevelSchedule } from '../../firmware-sim/loop/schedule.js';
import { THERMAL, THERMAL_U_NOMINAL } from '../../firmware-sim/plants/thermal.js';
import { DRUM } from '../../firmware-sim/plants/integrator.js';

const module = new WebAssembly.Module(readFileSync(DEBUG_CORE_PATH));
const run = (input: ScenarioInput): RunResult => runScenario(parseScenario(input), { module, record: true });

/** Mean of a trace series over [fromS, toS). */
function mean(r: RunResult, key: 'command' | 'truth' | 'setpoint', fromS: number, toS: number): number {
  const t = r.trace!;
  let sum = 0;
  let n = 0;
  t.tS.forEach((tS, i) => { if (tS >= fromS && tS < toS) { sum += t[key][i]; n++; } });
  expect(n, `ticks in [${fromS}, ${toS})`).toBeGreaterThan(0);
  return sum / n;
}

/** The series at the first tick at or after tS. */
const at = (r: RunResult, key: 'command' | 'truth' | 'setpoint', tS: number): number => r.trace![key][r.trace!.tS.findIndex((t) => t >= tS)];

describe('scripted levels: steps and ramps', () => {
  it('are absolute levels: the base before the first step, a step at once, a ramp linearly from wherever the level was', () => {
    // base 0; 10 at 100 s (a step); back to 0 over 100 s from 250 s; then
    // 4 at 280 s (mid-ramp, where the level is 7): a ramp of 20 s from 7.
    const s = new LevelSchedule(0, [{ atS: 250, value: 0, rampS: 100 }, { atS: 100, value: 10 }, { atS: 280, value: 4, rampS: 20 }]);
    expect([0, 99.999, 100, 249].map((t) => s.valueAt(t))).toEqual([0, 0, 10, 10]);
    expect(s.valueAt(260)).toBeCloseTo(9, 12);
    expect(s.valueAt(280)).toBeCloseTo(7, 12);
    expect(s.valueAt(290)).toBeCloseTo(5.5, 12);
    expect(s.valueAt(300)).toBe(4);
    expect(s.valueAt(1e6)).toBe(4);
    // Going back in time gives the same answers (the cursor rescans).
    expect(s.valueAt(50)).toBe(0);
    expect(s.valueAt(260)).toBeCloseTo(9, 12);
  });

  it('two steps at the same time: the one listed later wins', () => {
    const s = new LevelSchedule(1, [{ atS: 5, value: 2 }, { atS: 5, value: 3 }]);
    expect([s.valueAt(4), s.valueAt(5)]).toEqual([1, 3]);
  });
});

describe('loads reach the plant as scripted', () => {
  it('thermal: a load of 10 % of heater power from t = 100 s -> the heater settles 10 % lower; ramped away from 250 s over 100 s -> back to 40 %', () => {
    // 80 C held by 40 % of heater power; from 100 s the load adds the heat
    // of 10 % -> the controller settles at 30 %; the load ramps back to 0
    // from 250 s to 350 s -> 35 % at mid-ramp, 40 % after.
    const r = run({ plant: 'thermal', durationS: 420, seed: 2, guarded: false, loads: [{ atS: 100, magnitude: 10 }, { atS: 250, magnitude: 0, rampS: 100 }] });
    expect(mean(r, 'command', 50, 100)).toBeCloseTo(THERMAL_U_NOMINAL, 0);
    expect(mean(r, 'command', 200, 250)).toBeCloseTo(THERMAL_U_NOMINAL - 10, 0);
    expect(Math.abs(at(r, 'command', 300) - (THERMAL_U_NOMINAL - 5))).toBeLessThan(1.5);
    expect(mean(r, 'command', 380, 420)).toBeCloseTo(THERMAL_U_NOMINAL, 0);
    expect(mean(r, 'truth', 200, 250)).toBeCloseTo(THERMAL.setpoint, 0);
    // Contrapositive: no load, the heater stays at 40 % throughout.
    const quiet = run({ plant: 'thermal', durationS: 420, seed: 2, guarded: false });
    expect(mean(quiet, 'command', 200, 250)).toBeCloseTo(THERMAL_U_NOMINAL, 0);
  });

  it('surge drum: an extra inflow of 10 % of pump capacity from t = 100 s -> the pump settles at 40 % against the 50 % draw', () => {
    const r = run({ plant: 'integrator', durationS: 300, seed: 2, guarded: false, loads: [{ atS: 100, magnitude: 10 }] });
    expect(mean(r, 'command', 50, 100)).toBeCloseTo(DRUM.demand, 0);
    expect(mean(r, 'command', 250, 300)).toBeCloseTo(DRUM.demand - 10, 0);
    // Contrapositive: the same load scripted after the end of the run does nothing.
    const late = run({ plant: 'integrator', durationS: 300, seed: 2, guarded: false, loads: [{ atS: 1000, magnitude: 10 }] });
    expect(mean(late, 'command', 250, 300)).toBeCloseTo(DRUM.demand, 0);
  });
});

describe('setpoint ramps', () => {
  it('thermal: 80 C -> 60 C ramped over 200 s from t = 100 s -> the host asks 70 C at mid-ramp and the chamber follows; 60 C at the end', () => {
    const r = run({ plant: 'thermal', durationS: 400, seed: 2, guarded: false, setpoints: [{ atS: 100, value: 60, rampS: 200 }] });
    expect(at(r, 'setpoint', 99)).toBe(80);
    expect(Math.abs(at(r, 'setpoint', 200) - 70)).toBeLessThan(0.1);
    expect(Math.abs(at(r, 'truth', 200) - 70)).toBeLessThan(1);
    expect(mean(r, 'truth', 350, 400)).toBeCloseTo(60, 0);
    // Contrapositive: the same change as a step is already at 60 C by mid-ramp time.
    const step = run({ plant: 'thermal', durationS: 400, seed: 2, guarded: false, setpoints: [{ atS: 100, value: 60 }] });
    expect(at(step, 'setpoint', 200)).toBe(60);
    expect(Math.abs(at(step, 'truth', 200) - 60)).toBeLessThan(1);
  });
});

describe('the schedules in scenario files', () => {
  function issuesOf(value: unknown): string {
    try {
      parseScenario(value, 'ops.json');
    } catch (e) {
      expect(e).toBeInstanceOf(ScenarioError);
      return (e as Error).message;
    }
    throw new Error('expected the scenario to be rejected');
  }
  const ok = { plant: 'tank', durationS: 60 };

  it('accepts loads and setpoint ramps', () => {
    const sc = parseScenario({ ...ok, loads: [{ atS: 10, magnitude: -0.2, rampS: 5 }], setpoints: [{ atS: 20, value: 600, rampS: 30 }] });
    expect(sc.loads).toEqual([{ atS: 10, magnitude: -0.2, rampS: 5 }]);
    expect(sc.setpoints).toEqual([{ atS: 20, value: 600, rampS: 30 }]);
  });

  it('names the bad field of a load entry, with its index', () => {
    const m = issuesOf({ ...ok, loads: [{ atS: 1, magnitude: 0.1 }, { atS: -1, magnitude: 'big', rampS: -2 }] });
    expect(m).toMatch(/loads\[1\]\.atS: expected a time in seconds >= 0 \(received -1\)/);
    expect(m).toMatch(/loads\[1\]\.magnitude: expected the load level, a number in the actuator's units .* \(received "big"\)/);
    expect(m).toMatch(/loads\[1\]\.rampS: expected a ramp time in seconds >= 0 .* \(received -2\)/);
    expect(m).not.toMatch(/loads\[0\]/);
  });

  it('rejects a load without its magnitude, an unknown key, a non-array and more than 1000 entries', () => {
    expect(issuesOf({ ...ok, loads: [{ atS: 1 }] })).toMatch(/loads\[0\]\.magnitude: expected the load level/);
    expect(issuesOf({ ...ok, loads: [{ atS: 1, magnitude: 1, value: 2 }] })).toMatch(/loads\[0\]/);
    expect(issuesOf({ ...ok, loads: { atS: 1, magnitude: 1 } })).toMatch(/loads: expected an array of load steps/);
    expect(issuesOf({ ...ok, loads: Array.from({ length: 1001 }, (_, i) => ({ atS: i, magnitude: 0 })) }))
      .toMatch(/loads: expected at most 1000 load steps/);
  });

  it('names a bad setpoint ramp', () => {
    expect(issuesOf({ ...ok, setpoints: [{ atS: 1, value: 500, rampS: 'slow' }] })).toMatch(/setpoints\[0\]\.rampS: expected a ramp time in seconds >= 0 .* \(received "slow"\)/);
  });
});
