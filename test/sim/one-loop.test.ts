// One simulation loop: runScenario drives it synchronously through an
// engine's Core, the processor-in-the-loop bridge with await through a line
// target. On the V8 reference (the same core answering the protocol's
// lines) the two must be the same run: tick for tick the same times, true
// output, applied command, mode and trip output, and the same bookkeeping
// (IAE, envelope, time in modes, watchdog resets, trips), whatever the
// scenario throws at the loop: faults of every family, memory bit flips
// (W lines), watchdog resets, loads, setpoint ramps and oracle runs.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DEBUG_CORE_PATH } from '../../host/runtime/core.js';
import { runScenario, type Oracle, type RunResult } from '../../firmware-sim/run.js';
import { runPil, type PilResult } from '../../firmware-sim/pil/bridge.js';
import { ReferenceTarget } from '../../firmware-sim/pil/protocol.js';
import { parseScenario, type ScenarioInput } from '../../firmware-sim/scenario/schema.js';

const module = new WebAssembly.Module(readFileSync(DEBUG_CORE_PATH));

/** The first tick where the two runs part, or null. */
function firstDifference(a: RunResult, b: PilResult): string | null {
  const ta = a.trace!;
  const tb = b.trace!;
  if (ta.tS.length !== tb.tUs.length) return `${ta.tS.length} ticks through the engine, ${tb.tUs.length} through the line`;
  for (let i = 0; i < ta.tS.length; i++) {
    const pairs: [string, number, number][] = [
      ['tUs', Math.round(ta.tS[i] * 1e6), tb.tUs[i]], ['truth', ta.truth[i], tb.truth[i]],
      ['command', ta.command[i], tb.applied[i]], ['mode', ta.mode[i], tb.mode[i]], ['trip', ta.trip[i], tb.trip[i]],
    ];
    for (const [k, x, y] of pairs) if (!Object.is(x, y)) return `tick ${i} (t = ${ta.tS[i]} s): ${k} ${x} through the engine, ${y} through the line`;
  }
  return null;
}

const SCENARIOS: { story: string; input: ScenarioInput; oracle?: Oracle }[] = [
  {
    story: 'tank: common-mode sensor bias at 60 s, an extra draw ramped in from 40 s, a setpoint ramp from 100 s',
    input: {
      plant: 'tank', durationS: 200, seed: 11,
      faults: [{ kind: 'sensor.bias', onsetS: 60, durationS: null, magnitude: 30, scope: 'common' }],
      loads: [{ atS: 40, magnitude: -0.2, rampS: 20 }], setpoints: [{ atS: 100, value: 550, rampS: 50 }],
    },
  },
  {
    story: 'thermal: bit flips in the configuration at 80 s (W lines on the line, XOR in memory on the engine)',
    input: { plant: 'thermal', durationS: 200, seed: 12, faults: [{ kind: 'memory.bitflip', onsetS: 80, durationS: null, magnitude: 4 }] },
  },
  {
    story: 'motor: ticks over budget from 4 s (the watchdog resets the core), then lost setpoints',
    input: {
      plant: 'motor', durationS: 12, seed: 13,
      faults: [
        { kind: 'timing.overrun', onsetS: 4, durationS: 1, magnitude: 3000 },
        { kind: 'comm.setpoint_lost', onsetS: 6, durationS: null, magnitude: 0.7 },
      ],
    },
  },
  {
    story: "surge drum, oracle 'trip' from a stuck sensor at 20 s, a welded contactor from 30 s to 40 s",
    input: {
      plant: 'integrator', durationS: 60, seed: 14,
      faults: [
        { kind: 'sensor.stuck', onsetS: 20, durationS: null, magnitude: 0 },
        { kind: 'trip.fail', onsetS: 30, durationS: 10, magnitude: 1 },
      ],
      loads: [{ atS: 25, magnitude: 5 }],
    },
    oracle: 'trip',
  },
  {
    story: "thermal, oracle 'max' from a clock drift at 50 s, missed ticks from 120 s",
    input: {
      plant: 'thermal', durationS: 200, seed: 15,
      faults: [
        { kind: 'timing.clock_drift', onsetS: 50, durationS: 40, magnitude: 0.2 },
        { kind: 'timing.missed', onsetS: 120, durationS: 30, magnitude: 0.5 },
      ],
    },
    oracle: 'max',
  },
];

describe('one loop, two drivers: runScenario and runPil on the V8 reference', () => {
  for (const { story, input, oracle } of SCENARIOS) {
    it(`${story}: the same trajectory tick for tick`, async () => {
      const sc = parseScenario(input);
      const sim = runScenario(sc, { module, record: true, oracle });
      const pil = await runPil(sc, ReferenceTarget.v8(), { trace: true, oracle });
      expect(firstDifference(sim, pil)).toBeNull();
      const book = (r: RunResult | PilResult) => ({
        ticks: r.ticks, iae: r.iae, envelope: r.envelope, modeSeconds: r.modeSeconds, finalMode: r.finalMode,
        watchdogResets: r.watchdogResets, traps: r.traps, overBudgetTicks: r.overBudgetTicks, setpointRejects: r.setpointRejects,
        tripSeconds: r.tripSeconds, trips: r.trips, finalTrip: r.finalTrip,
      });
      expect(book(pil)).toEqual(book(sim));
      // Each story exercises what it says it does.
      expect(sim.ticks).toBeGreaterThan(100);
      if (input.faults?.some((f) => f.kind === 'timing.overrun')) expect(sim.watchdogResets).toBeGreaterThan(0);
      if (oracle === 'trip') expect(sim.trips).toBeGreaterThan(0);
    });
  }

  it('contrapositive: a different seed is a different run (the comparison can fail)', async () => {
    const sc = parseScenario(SCENARIOS[0].input);
    const sim = runScenario(sc, { module, record: true });
    const pil = await runPil({ ...sc, seed: sc.seed + 1 }, ReferenceTarget.v8(), { trace: true });
    expect(firstDifference(sim, pil)).not.toBeNull();
  });
});
