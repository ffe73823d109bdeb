// Scenario files are validated before anything runs: an invalid file gets an
// error that names the bad field, says what was expected and what came.
import { describe, expect, it } from 'vitest';
import { parseScenario, ScenarioError, scenarioJsonSchema } from '../../firmware-sim/scenario/schema.js';

const ok = { plant: 'thermal', durationS: 60 };

function issuesOf(value: unknown): string {
  try {
    parseScenario(value, 'test.json');
  } catch (e) {
    expect(e).toBeInstanceOf(ScenarioError);
    return (e as Error).message;
  }
  throw new Error('expected the scenario to be rejected');
}

describe('scenario schema', () => {
  it('fills defaults for a minimal valid scenario', () => {
    const s = parseScenario(ok);
    expect(s).toMatchObject({ plant: 'thermal', durationS: 60, seed: 1, guarded: true, actionToSensing: true, cold: false, faults: [] });
  });

  it('names an unknown plant and lists the valid ones', () => {
    const m = issuesOf({ ...ok, plant: 'reactor' });
    expect(m).toContain('test.json: invalid scenario');
    expect(m).toMatch(/plant: expected one of thermal, motor, tank, integrator \(received "reactor"\)/);
  });

  it('names the bad field inside a fault, with its index', () => {
    const m = issuesOf({ ...ok, faults: [{ kind: 'sensor.bias', onsetS: 10, magnitude: 1 }, { kind: 'sensor.melt', onsetS: -1, magnitude: 'big' }] });
    expect(m).toMatch(/faults\[1\]\.kind: expected one of sensor\.stuck, .* \(received "sensor\.melt"\)/);
    expect(m).toMatch(/faults\[1\]\.onsetS: expected the onset in seconds, >= 0 \(received -1\)/);
    expect(m).toMatch(/faults\[1\]\.magnitude: expected the fault's magnitude, a number .* \(received "big"\)/);
    expect(m).not.toMatch(/faults\[0\]/);
  });

  it('rejects unknown keys (a typo is not silently ignored)', () => {
    const m = issuesOf({ ...ok, duration: 60 });
    expect(m).toMatch(/duration/);
  });

  it('rejects a scope on a non-sensor fault, a zero duration and a missing duration of the run', () => {
    expect(issuesOf({ ...ok, faults: [{ kind: 'actuator.stuck', onsetS: 1, magnitude: 0, scope: 'common' }] }))
      .toMatch(/faults\[0\]\.scope: scope applies to sensor faults only/);
    expect(issuesOf({ ...ok, faults: [{ kind: 'sensor.stuck', onsetS: 1, durationS: 0, magnitude: 0 }] }))
      .toMatch(/faults\[0\]\.durationS: expected a duration > 0 seconds, or null/);
    expect(issuesOf({ plant: 'thermal' })).toMatch(/durationS: expected a duration in seconds/);
  });

  it('rejects wrong types at the root and in the MCU overrides', () => {
    expect(issuesOf([])).toMatch(/\(root\)/);
    expect(issuesOf({ ...ok, guarded: 'yes' })).toMatch(/guarded: expected true .* \(received "yes"\)/);
    expect(issuesOf({ ...ok, mcu: { watchdogTicks: 1.5 } })).toMatch(/mcu\.watchdogTicks: expected an integer number of ticks/);
  });

  it('bounds the MCU to what an MCU or a gateway can be, so that a run cannot pass in one tick', () => {
    expect(issuesOf({ ...ok, mcu: { cpuMhz: 1e-9 } })).toMatch(/mcu\.cpuMhz: expected a clock in MHz, 1 \.\. 5000 \(received 1e-9\)/);
    expect(issuesOf({ ...ok, mcu: { budgetUs: 1e300 } })).toMatch(/mcu\.budgetUs: expected a budget in microseconds, 1 \.\. 10\^7/);
    expect(issuesOf({ ...ok, mcu: { cyclesPerTick: 1e9 } })).toMatch(/mcu\.cyclesPerTick: expected cyclesPerTick \/ cpuMhz .* at most 1000000/);
    expect(parseScenario({ ...ok, mcu: { cpuMhz: 72, cyclesPerTick: 6000, budgetUs: 5000 } }).mcu).toEqual({ cpuMhz: 72, cyclesPerTick: 6000, budgetUs: 5000 });
  });

  it('counts core parameters before it checks them one by one: more than 512 are refused at once', () => {
    const core = Object.fromEntries(Array.from({ length: 100_000 }, (_, i) => [`k${i}`, 1]));
    expect(issuesOf({ ...ok, core })).toMatch(/core: expected at most 512 core parameters/);
  });

  it('exports a JSON Schema for editors', () => {
    const js = scenarioJsonSchema() as { properties: Record<string, unknown>; required: string[] };
    expect(Object.keys(js.properties)).toEqual(expect.arrayContaining(['plant', 'durationS', 'faults', 'mcu', 'core']));
    expect(js.required).toEqual(expect.arrayContaining(['plant', 'durationS']));
  });
});
