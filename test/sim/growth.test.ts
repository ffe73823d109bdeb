// A growing oscillation (assembly/monitor/control.ts): the motor's only
// tachometer delayed by 0.12 s takes its 30 ms PI loop unstable; the swings
// grow about threefold per half-cycle, so the count of sustained swings (6)
// comes after the envelope is left. From the third swing past osc_amp (20
// rpm, 5 x the tachometer's noise), a half-cycle peaking at more than twice
// the one before trips ctl_oscillation at once. Its contrapositive: setpoint
// steps and 10 % load steps on the same loop ring and decay, never grow.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DEBUG_CORE_PATH } from '../../host/runtime/core.js';
import { runScenario } from '../../firmware-sim/run.js';
import { parseScenario } from '../../firmware-sim/scenario/schema.js';

const module = new WebAssembly.Module(readFileSync(DEBUG_CORE_PATH));

describe('a growing oscillation', () => {
  it('motor, tachometer delayed by 0.12 s at t=5 s -> swings grow -> ctl_oscillation -> FALLBACK before the envelope is left; the unguarded loop leaves it', () => {
    const sc = parseScenario({ plant: 'motor', durationS: 12, seed: 3, faults: [{ kind: 'sensor.delay', onsetS: 5, magnitude: 0.12 }] });
    const u = runScenario({ ...sc, guarded: false }, { module });
    expect(u.envelope.violated).toBe(true);
    const g = runScenario(sc, { module, record: true });
    // (ctl_oscillation joins the episode the model residual's warnings opened: logged consequential, it decides the mode.)
    const handover = g.events!.find((e) => e.kind === 'mode' && e.from === 'NOMINAL');
    expect(handover).toMatchObject({ to: 'FALLBACK', reason: 'oscillation' });
    expect(handover!.tS).toBeLessThan(u.envelope.firstS!);
    expect(g.events!.some((e) => e.monitor === 'ctl_oscillation' && e.tS <= handover!.tS)).toBe(true);
    expect(g.envelope.violated).toBe(false);
  });

  it('contrapositive: setpoint steps and 10 % load steps and ramps on the same loop trip nothing, and it stays NOMINAL', () => {
    const sc = parseScenario({
      plant: 'motor', durationS: 12, seed: 3,
      setpoints: [{ atS: 2, value: 2000 }, { atS: 5, value: 3200 }, { atS: 8, value: 2500 }],
      loads: [{ atS: 3.5, magnitude: 2.4 }, { atS: 6.5, magnitude: -2.4 }, { atS: 9.5, magnitude: 2.4, rampS: 1 }],
    });
    const r = runScenario(sc, { module, record: true });
    expect(r.falseTrips).toBe(0);
    expect(r.events!.filter((e) => e.monitor === 'ctl_oscillation')).toEqual([]);
    expect(r.modeSeconds.NOMINAL).toBeCloseTo(r.simulatedS, 1);
  });
});
