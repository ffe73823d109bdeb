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
