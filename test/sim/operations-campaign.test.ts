// The operations every campaign scenario runs under (firmware-sim/campaign/
// operations.ts): a few setpoint changes and load disturbances, drawn from
// the seed, where an operator would put them. The setpoints stay well inside
// the envelope and where the actuator can hold them under the drawn load,
// so the primary controller alone runs every fault-free scenario: checked
// here on the plants themselves, unguarded.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DEBUG_CORE_PATH } from '../../host/runtime/core.js';
import { runScenario } from '../../firmware-sim/run.js';
import { parseScenario } from '../../firmware-sim/scenario/schema.js';
import { campaignScenario, RUN_TICKS } from '../../firmware-sim/campaign/generate.js';
import {
  HEADROOM_SHARE, holdingCommand, LOAD_CHANGES, LOAD_SHARE_MAX, LOAD_SWING, loadSwing, SETPOINT_CHANGES, setpointWindow,
} from '../../firmware-sim/campaign/operations.js';
import { PLANTS } from '../../firmware-sim/plants/index.js';
import { PLANT_NAMES, type PlantName } from '../../firmware-sim/types.js';
import type { Scenario } from '../../firmware-sim/scenario/schema.js';

const module = new WebAssembly.Module(readFileSync(DEBUG_CORE_PATH));
const SEED = 5150;
const scenarios = Array.from({ length: 400 }, (_, i) => campaignScenario(SEED, i));
const range = (p: PlantName) => PLANTS[p].actuator.max - PLANTS[p].actuator.min;

/** The load's levels over a scenario (0 before its first change) and its largest change. */
function loadLevels(sc: Scenario): { levels: number[]; step: number } {
  const levels = [0, ...[...(sc.loads ?? [])].sort((a, b) => a.atS - b.atS).map((l) => l.magnitude)];
  let step = 0;
  for (let j = 1; j < levels.length; j++) step = Math.max(step, Math.abs(levels[j] - levels[j - 1]));
  return { levels, step };
}

describe('every campaign scenario runs under operations', () => {
  it('fault-free and faulty alike: 1 to 3 setpoint changes and 1 to 3 load changes, within the run, steps and ramps', () => {
    for (const sc of scenarios) {
      expect(sc.setpoints!.length).toBeGreaterThanOrEqual(SETPOINT_CHANGES.min);
      expect(sc.setpoints!.length).toBeLessThanOrEqual(SETPOINT_CHANGES.max);
      expect(sc.loads!.length).toBeGreaterThanOrEqual(LOAD_CHANGES.min);
      expect(sc.loads!.length).toBeLessThanOrEqual(LOAD_CHANGES.max);
      for (const op of [...sc.setpoints!, ...sc.loads!]) {
        expect(op.atS).toBeGreaterThan(0);
        expect(op.atS).toBeLessThan(sc.durationS);
      }
    }
    const ops = scenarios.flatMap((sc) => [...sc.setpoints!, ...sc.loads!]);
    expect(ops.some((o) => o.rampS === undefined)).toBe(true);
    expect(ops.some((o) => (o.rampS ?? 0) > 0)).toBe(true);
    expect(scenarios.some((sc) => sc.faults.length === 0)).toBe(true);
  });

  it('loads reach 10 % of the actuator\'s range and more, of both signs, never beyond LOAD_SHARE_MAX', () => {
    for (const p of PLANT_NAMES) {
      const shares = scenarios.filter((sc) => sc.plant === p).flatMap((sc) => sc.loads!.map((l) => l.magnitude / range(p)));
      expect(Math.max(...shares), p).toBeGreaterThan(0.1);
      expect(Math.min(...shares), p).toBeLessThan(-0.1);
      for (const s of shares) expect(Math.abs(s)).toBeLessThanOrEqual(LOAD_SHARE_MAX + 1e-9);
    }
  });

  it('setpoints sit twice the envelope margin plus the load\'s swing inside the envelope, where the actuator holds them with headroom under every drawn load', () => {
    for (const sc of scenarios) {
      const spec = PLANTS[sc.plant];
      const margin = Number(spec.core.env_margin);
      const { levels, step } = loadLevels(sc);
      const room = HEADROOM_SHARE * range(sc.plant);
      for (const s of sc.setpoints!) {
        expect(s.value, sc.name).toBeGreaterThanOrEqual(spec.envelope.min + 2 * margin + loadSwing(spec, step) - 1e-9);
        expect(s.value, sc.name).toBeLessThanOrEqual(spec.envelope.max - 2 * margin - loadSwing(spec, step) + 1e-9);
        for (const d of levels) {
          const u = holdingCommand(spec, s.value, d);
          expect(u, `${sc.name}: ${s.value} under ${d}`).toBeGreaterThanOrEqual(spec.actuator.min + room - 1e-9);
          expect(u, `${sc.name}: ${s.value} under ${d}`).toBeLessThanOrEqual(spec.actuator.max - room + 1e-9);
        }
      }
    }
  });

  it('every plant has room: its nominal setpoint is held under the largest load, and the window is never empty', () => {
    for (const p of PLANT_NAMES) {
      const spec = PLANTS[p];
      const loadMax = LOAD_SHARE_MAX * range(p);
      for (const d of [-loadMax, loadMax]) {
        const u = holdingCommand(spec, spec.setpoint, d);
        expect(u, p).toBeGreaterThan(spec.actuator.min + HEADROOM_SHARE * range(p));
        expect(u, p).toBeLessThan(spec.actuator.max - HEADROOM_SHARE * range(p));
      }
      const w = setpointWindow(spec, -loadMax, loadMax, 2 * loadMax);
      expect(w.hi - w.lo, p).toBeGreaterThan(0.1 * (spec.envelope.max - spec.envelope.min));
    }
  });
});

describe('the primary controller alone runs every fault-free scenario', () => {
  // After each change has settled (ramp ended this long ago): on the setpoint, the command off its limits.
  const SETTLE_S: Record<PlantName, number> = { thermal: 120, motor: 1.5, tank: 120, integrator: 12 };

  for (const p of PLANT_NAMES) {
    it(`${p}: inside the envelope throughout; once settled, on the setpoint within 5 x the noise and the command 5 % of the range off its limits`, () => {
      const spec = PLANTS[p];
      const faultFree = Array.from({ length: 2000 }, (_, i) => campaignScenario(SEED + 1, i)).filter((sc) => sc.plant === p && sc.faults.length === 0).slice(0, 20);
      expect(faultFree.length).toBe(20);
      let settled = 0;
      const worst = { error: { value: 0, at: '' }, low: { value: Infinity, at: '' }, high: { value: -Infinity, at: '' } };
      for (const sc of faultFree) {
        const r = runScenario({ ...sc, guarded: false }, { module, record: true });
        expect(r.envelope.violated, sc.name).toBe(false);
        const edges = [...sc.setpoints!, ...sc.loads!].map((o) => [o.atS, o.atS + (o.rampS ?? 0)]);
        const t = r.trace!;
        t.tS.forEach((tS, k) => {
          if (!edges.every(([a, b]) => tS < a || tS > b + SETTLE_S[p])) return;
          // Settled time, not ticks: action-to-sensing samples a settled loop slowly.
          settled += k > 0 ? (tS - t.tS[k - 1]) * 1e6 / spec.periodUs : 1;
          const error = Math.abs(t.truth[k] - t.setpoint[k]);
          if (error > worst.error.value) worst.error = { value: error, at: `${sc.name} at ${tS} s` };
          if (t.command[k] < worst.low.value) worst.low = { value: t.command[k], at: `${sc.name} at ${tS} s` };
          if (t.command[k] > worst.high.value) worst.high = { value: t.command[k], at: `${sc.name} at ${tS} s` };
        });
      }
      expect(settled).toBeGreaterThan(10_000);   // nominal periods' worth of settled time
      expect(worst.error.value, worst.error.at).toBeLessThan(5 * spec.sensors.noise);
      expect(worst.low.value, worst.low.at).toBeGreaterThan(spec.actuator.min + 0.05 * range(p));
      expect(worst.high.value, worst.high.at).toBeLessThan(spec.actuator.max - 0.05 * range(p));
    });
  }

  it('LOAD_SWING holds: a load step of LOAD_SHARE_MAX of the range, either sign, moves no plant further than it says', () => {
    for (const p of PLANT_NAMES) {
      const spec = PLANTS[p];
      expect(LOAD_SWING[p], p).toBeDefined();
      const durationS = (RUN_TICKS * spec.periodUs) / 1e6;
      const t0 = 0.2 * durationS;
      for (const sign of [-1, 1]) {
        const d = sign * LOAD_SHARE_MAX * range(p);
        const r = runScenario(parseScenario({ plant: p, durationS, seed: 9, guarded: false, loads: [{ atS: t0, magnitude: d }] }), { module, record: true });
        const t = r.trace!;
        let peak = 0;
        t.tS.forEach((tS, k) => { if (tS >= t0) peak = Math.max(peak, Math.abs(t.truth[k] - spec.setpoint)); });
        expect(peak, `${p} under ${d}`).toBeLessThan(loadSwing(spec, d));
        // Contrapositive: the bound is close to a real swing (it is at least a third of it), not a bound of nothing.
        expect(peak, `${p} under ${d}`).toBeGreaterThan(loadSwing(spec, d) / 3);
      }
    }
  });
});
