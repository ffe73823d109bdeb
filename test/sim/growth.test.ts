// A growing oscillation (assembly/monitor/control.ts): the motor's only
// tachometer delayed by 0.12 s takes its 30 ms PI loop unstable; the swings
// grow about threefold per half-cycle, so the count of sustained swings (6)
// comes after the envelope is left. From the third swing past osc_amp (20
// rpm, 5 x the tachometer's noise), a half-cycle peaking at more than twice
// the one before trips ctl_oscillation at once. Its contrapositive: setpoint
// steps and 10 % load steps on the same loop ring and decay, never grow.
// While the delay lasts, each hand-back gives the loop back to the primary
// controller with half its gain (guard/react.ts, way_back): it rings less
// or not at all, instead of leaving the envelope on the way back.
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

  it('a delay that stays: each hand-back detunes the primary controller; the envelope is kept and the loop ends NOMINAL on it', () => {
    // Campaign 1#2413 (npx edgeloop sim --campaign 1:2413): with the full
    // gain on the way back, the primary rang anew and left the envelope at 7.7 s.
    const sc = parseScenario({
      plant: 'motor', durationS: 12, seed: 191711794,
      setpoints: [{ atS: 10.484, value: 1640, rampS: 0.652 }],
      loads: [{ atS: 0.744, magnitude: -2.14 }, { atS: 4.137, magnitude: 1.26 }, { atS: 5.765, magnitude: 3.25, rampS: 0.997 }],
      faults: [{ kind: 'sensor.delay', onsetS: 5.832, magnitude: 0.12 }],
    });
    const u = runScenario({ ...sc, guarded: false }, { module });
    expect(u.envelope.violated).toBe(true);
    const g = runScenario(sc, { module, record: true });
    expect(g.envelope.violated).toBe(false);
    const backs = g.events!.filter((e) => e.kind === 'mode' && e.from === 'FALLBACK' && e.to === 'NOMINAL');
    expect(backs.length).toBeGreaterThanOrEqual(1);
    expect(g.finalMode).toBe('NOMINAL');
    expect(g.modeSeconds.SAFE_STOP).toBe(0);
  });
});
