// A late sensor that catches up at once (guard/envelope.ts, guard/react.ts):
// the motor's only tachometer lags 0.12 s for 2.8 s; when the delay ends
// the reading jumps 1,300 rpm ahead of the model, which had followed the
// late readings. The jump holds still, so the guard measures it as a bias
// and takes it off the reading. Had the reading been right, the process is
// where the raw reading says: the envelope keeps that inside its margins as
// well, and trips the drive when it is not (before this, the compensated
// speed read 2,300 rpm while the motor ran past 3,600). Once the reading
// less the bias is where no motor can be (under the plausible range, the
// drive tripped and coasting), the compensation ends.
// Its contrapositive: a real bias with the same loop, whose reading less
// the bias stays inside, is compensated and trips nothing.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DEBUG_CORE_PATH } from '../../host/runtime/core.js';
import { runScenario } from '../../firmware-sim/run.js';
import { parseScenario } from '../../firmware-sim/scenario/schema.js';

const module = new WebAssembly.Module(readFileSync(DEBUG_CORE_PATH));

// Campaign 11#9581 (npx edgeloop sim --campaign 11:9581), as a file.
const LATE = {
  plant: 'motor', durationS: 12, seed: 3951021013,
  setpoints: [{ atS: 3.691, value: 450, rampS: 0.282 }, { atS: 6.416, value: 2610 }],
  loads: [{ atS: 4.843, magnitude: -2.31, rampS: 1.405 }],
  faults: [{ kind: 'sensor.delay', onsetS: 4.926, durationS: 2.764, magnitude: 0.12 }],
};

describe('a late sensor catching up', () => {
  it('motor, delay ends with a 1,300 rpm jump -> taken for a bias -> the raw reading nears 3,600 -> trip; the envelope is kept', () => {
    const sc = parseScenario(LATE);
    const g = runScenario(sc, { module, record: true });
    expect(g.envelope.violated).toBe(false);
    const end = 4.926 + 2.764;
    const trip = g.events!.find((e) => e.kind === 'trip_out' && e.tS > end);
    expect(trip).toMatchObject({ stage: 'envelope', reason: 'envelope', tripped: true });
    // The guard's own view when it tripped: the compensated speed far under the limit, the true one near it.
    const i = g.trace!.tS.findIndex((t) => t >= trip!.tS);
    expect(g.trace!.truth[i]).toBeGreaterThan(3300);
    expect(g.trace!.measurement[i]).toBeLessThan(2500);
    // The compensation ended: at the end the reading and the guard's view agree again.
    const n = g.trace!.tS.length - 1;
    expect(Math.abs(g.trace!.measurement[n] - g.trace!.truth[n])).toBeLessThan(50);
    const u = runScenario({ ...sc, guarded: false }, { module });
    expect(u.envelope.violated).toBe(false);
  });

  it('contrapositive: a real -300 rpm bias at 2,000 rpm is compensated, trips nothing, and the envelope is kept', () => {
    const sc = parseScenario({ plant: 'motor', durationS: 12, seed: 5, setpoints: [{ atS: 1, value: 2000 }],
      faults: [{ kind: 'sensor.bias', onsetS: 5, magnitude: -300 }] });
    const g = runScenario(sc, { module, record: true });
    expect(g.envelope.violated).toBe(false);
    expect(g.events!.filter((e) => e.kind === 'trip_out')).toEqual([]);
    expect(g.modeSeconds.SAFE_STOP).toBe(0);
  });
});
