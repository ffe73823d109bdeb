// The runner: one scenario on the simulated MCU, deterministic, with the
// MCU's watchdog and memory limit in force.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DEBUG_CORE_PATH } from '../../host/runtime/core.js';
import { runScenario } from '../../firmware-sim/run.js';
import { parseScenario } from '../../firmware-sim/scenario/schema.js';

const module = new WebAssembly.Module(readFileSync(DEBUG_CORE_PATH));

describe('firmware-sim runner', () => {
  it('is deterministic: the same scenario gives the same result, trace included', () => {
    const sc = parseScenario({ plant: 'tank', durationS: 300, seed: 4, faults: [{ kind: 'sensor.spikes', onsetS: 100, magnitude: 100 }] });
    const a = runScenario(sc, { module, record: true });
    const b = runScenario(sc, { module, record: true });
    expect(JSON.stringify(b)).toBe(JSON.stringify(a));
  });

  it('a frozen sensor on the guarded thermal chamber is named at the sensing stage; the envelope holds', () => {
    const sc = parseScenario({ plant: 'thermal', durationS: 400, seed: 2, faults: [{ kind: 'sensor.stuck', onsetS: 150, magnitude: 0 }] });
    const r = runScenario(sc, { module });
    expect(r.detection).toMatchObject({ monitor: 'sens_stuck', stage: 'sensing' });
    expect(r.attributionCorrect).toBe(true);
    expect(r.envelope.violated).toBe(false);
    expect(r.falseTrips).toBe(0);
  });

  it('ticks that run past the budget delay the next one; the core sees the overrun, and the watchdog restarts it', () => {
    // thermal: 100 ms period (400 ms when settled), 50 ms budget; from t=100 s
    // every tick costs 600 ms more: each tick starts late, whole intervals are
    // missed -> tim_missed trips (timing stage); five over-budget ticks in a
    // row -> the watchdog restarts the core.
    const sc = parseScenario({ plant: 'thermal', durationS: 200, seed: 3, faults: [{ kind: 'timing.overrun', onsetS: 100, durationS: 20, magnitude: 600_000 }] });
    const r = runScenario(sc, { module });
    expect(r.overBudgetTicks).toBeGreaterThan(5);
    expect(r.watchdogResets).toBeGreaterThan(0);
    expect(r.detection).toMatchObject({ monitor: 'tim_missed', stage: 'timing' });
  });

  it('refuses a core whose memory exceeds the MCU limit, saying so', () => {
    const sc = parseScenario({ plant: 'motor', durationS: 1, mcu: { memoryLimitBytes: 4096 } });
    expect(() => runScenario(sc, { module })).toThrow(/core instance uses 65536 bytes of memory, over the MCU limit of 4096/);
  });

  it('unguarded runs the primary controller alone: no monitor acts', () => {
    const sc = parseScenario({ plant: 'thermal', durationS: 300, seed: 5, guarded: false, faults: [{ kind: 'sensor.bias', onsetS: 100, magnitude: 10 }] });
    const r = runScenario(sc, { module });
    expect(r.detection).toBeNull();
    expect(r.finalMode).toBe('NOMINAL');
  });
});
