// The SVG plot of a run (firmware-sim/report/svg.ts) at the schema's longest
// run: 86,400 s of the motor at 2 ms is 43.2 M ticks. A plot of millions of
// points must be drawn from a decimated series (no spread of a large array
// into Math.min/max, which overflows the call stack), and must stay small.
import { describe, expect, it } from 'vitest';
import { plotRun } from '../../firmware-sim/report/svg.js';
import type { Trace } from '../../firmware-sim/run.js';

describe('plotRun', () => {
  it('draws a 2,000,000-tick trace (a day of a 43 ms loop) into an SVG of bounded size, spikes kept', () => {
    const n = 2_000_000;
    const t: Trace = { tS: new Array(n), setpoint: new Array(n), truth: new Array(n), measurement: new Array(n), command: new Array(n), mode: new Array(n), trip: new Array(n) };
    for (let i = 0; i < n; i++) {
      t.tS[i] = i * 0.0432;
      t.setpoint[i] = 80;
      t.truth[i] = 80 + Math.sin(i / 1000);
      t.measurement[i] = i === 1_234_567 ? 140 : t.truth[i];   // one spike
      t.command[i] = 40;
      t.mode[i] = i > 1_500_000 ? 2 : 0;
      t.trip[i] = 0;
    }
    const svg = plotRun(t, { title: 'a day', units: { measurement: 'C', command: '%' }, envelope: { min: 10, max: 95 } });
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.length).toBeLessThan(2_000_000);
    // The spike is drawn: the y axis reaches past it.
    expect(svg).toMatch(/14\d(\.\d+)?</);
  });
});

describe('the trace of a long run', () => {
  it('stays bounded: 1,000 s of the motor (500,000 ticks) keeps at most TRACE_POINTS_MAX of them, spread over the whole run, its excursion kept', async () => {
    const { readFileSync } = await import('node:fs');
    const { DEBUG_CORE_PATH } = await import('../../host/runtime/core.js');
    const { runScenario } = await import('../../firmware-sim/run.js');
    const { parseScenario } = await import('../../firmware-sim/scenario/schema.js');
    const { TRACE_POINTS_MAX } = await import('../../firmware-sim/loop/trace.js');
    const module = new WebAssembly.Module(readFileSync(DEBUG_CORE_PATH));
    const sc = parseScenario({ plant: 'motor', durationS: 1000, seed: 2, guarded: false, actionToSensing: false,
      faults: [{ kind: 'sensor.delay', onsetS: 900, magnitude: 0.12 }] });
    const r = runScenario(sc, { module, record: true });
    expect(r.ticks).toBeGreaterThan(TRACE_POINTS_MAX);
    const t = r.trace!;
    expect(t.tS.length).toBeLessThanOrEqual(TRACE_POINTS_MAX);
    expect(t.tS.length).toBeGreaterThan(TRACE_POINTS_MAX / 2);
    expect(t.tS[0]).toBeLessThan(0.01);
    expect(t.tS.at(-1)!).toBeGreaterThan(999);
    for (const s of [t.setpoint, t.truth, t.measurement, t.command, t.mode, t.trip]) expect(s).toHaveLength(t.tS.length);
    // The unguarded loop on a delayed tachometer goes unstable: the trace shows the run's worst excursion.
    expect(r.envelope.violated).toBe(true);
    expect(Math.max(...t.truth.slice(-50_000))).toBeGreaterThan(r.envelope.max);
  });
});
