// The native target: build/core.wasm through wasm2c and gcc -O2 on the
// host (firmware-sim/pil/native/main.c on wabt's hosted runtime), driven
// over the line protocol (firmware-sim/pil/PROTOCOL.md). Every reply to a
// recorded command stream must equal the V8 core's, bit for bit.

import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Core } from '../../host/runtime/core.js';
import { campaignScenario } from '../../firmware-sim/campaign/generate.js';
import { parseScenario, type Scenario } from '../../firmware-sim/scenario/schema.js';
import { runScenario } from '../../firmware-sim/run.js';
import { recordOnV8, runPil } from '../../firmware-sim/pil/bridge.js';
import { benchStream } from '../../firmware-sim/pil/measure.js';
import { startNative } from '../../firmware-sim/pil/native.js';
import { firstDifference, ReferenceTarget } from '../../firmware-sim/pil/protocol.js';
import { ROOT, toolAvailable } from '../../firmware-sim/pil/qemu.js';
import type { ProcessTarget } from '../../firmware-sim/pil/target.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { demandProblems, demandStream, envelopeProblems, envelopeStream } from '../support/trip-streams.js';

const missing = ['wasm2c', 'gcc'].filter((t) => !toolAvailable(t));
const reason = missing.length ? ` (SKIPPED: ${missing.join(' and ')} not installed; the CI installs wabt and gcc)` : '';
if (missing.length) console.warn(`test/targets/native.test.ts: skipped: ${missing.join(', ')} not installed`);

function describeDiff(d: ReturnType<typeof firstDifference>): string {
  return d ? `first difference at tick ${d.tick} (line ${d.index}: '${d.line}'): native '${d.b}', V8 '${d.a}'` : 'equal';
}

const scenarioFile = (name: string): Scenario =>
  parseScenario(JSON.parse(readFileSync(join(ROOT, 'firmware-sim', 'scenarios', name), 'utf8')), name);

describe.skipIf(missing.length > 0)(`native harness: wasm2c + gcc -O2${reason}`, () => {
  let target: ProcessTarget;

  beforeAll(async () => {
    const r = spawnSync(process.execPath, [join(ROOT, 'scripts', 'firmware.mjs'), '--target', 'native', '--quiet'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`npm run firmware (native) failed:\n${r.stderr}${r.stdout}`);
    target = await startNative();
  }, 120_000);

  afterAll(async () => {
    await target?.close();
  });

  it('answers every command of the protocol', async () => {
    expect(target.banner).toEqual({ target: 'native', abiVersion: Core.load().raw.abi_version(), memoryBytes: 65536 });
    const ask = (l: string) => target.request(l);
    expect(await ask('I')).toBe('ok 0');
    expect(await ask('C 0 1')).toBe('ok 0');          // n_sensors = 1
    expect(await ask('C 9999 1')).toBe('ok -1');      // unknown parameter
    expect(await ask('C 0 7')).toBe('ok -2');         // out of range
    expect(await ask('K')).toBe('ok 0');
    expect(await ask('S 5242880 0')).toBe('ok 0');    // 80 C
    expect(await ask('T 100000 1600 -2147483648 -2147483648 2621440')).toMatch(/^-?\d+ [0-3] \d+ [01]$/);
    expect(await ask('R')).toMatch(/^ok \d+$/);
    expect(await ask('D')).toMatch(/^ok -?\d+ -?\d+ \d+ \d+ 1 -?\d+$/);
    expect(await ask('G 2')).toBe('ok 0');            // demand the trip
    expect(await ask('G 0')).toBe('ok 0');            // and release it
    expect(await ask('G 3')).toBe('ok -2');           // unknown kind
    expect(await ask('G')).toBe('err expected 1 fields');
    expect(await ask('G 2147483648')).toBe('err field 1 is not an integer in range');
    expect(await ask('P')).toBe('ok none 0 0 0 0 0');
    expect(await ask('M')).toMatch(/^ok 65536 \d+ -1$/);
    expect(await ask('W 65536 1')).toBe('err address');
    expect(await ask('T 1 2 3')).toBe('err expected 5 fields');
    expect(await ask('T 1 2 3 4 2147483648')).toBe('err field 5 is not an integer in range');
    expect(await ask('S 1 9223372036854775808')).toBe('err field 2 is not an integer in range');
    expect(await ask('Z')).toBe('err unknown command');
    expect(await ask('')).toBe('err empty line');
  });

  it('routes a trap to the safe output and restarts the core', async () => {
    expect(await target.request('I')).toBe('ok 0');
    expect(await target.request('C 41 1310720')).toBe('ok 0'); // safe_output = 20
    expect(await target.request('K')).toBe('ok 0');
    expect(await target.request('T 100000 1600 1600 1600 0')).toMatch(/^\d+ \d \d+ [01]$/);
    // A trap inside a call (division by zero) -> the safe output of the
    // committed configuration, the trip, a fresh core: the same state as a
    // fresh V8 instance, whose next tick decides the trip again.
    expect(await target.request('X 3')).toBe('trap 3 1310720');
    const fresh = ReferenceTarget.v8();
    for (const l of ['D', 'T 200000 1600 1600 1600 0', 'D']) expect(await target.request(l), l).toBe(fresh.handle(l));
  });

  it('reproduces the V8 replies bit for bit: the bench loop, 3 and 1 sensors', async () => {
    for (const sensors of [3, 1] as const) {
      const s = benchStream(sensors, 1000, 1000);
      const replies = await target.requestMany(s.lines, 64);
      const d = firstDifference(s.lines, s.replies, replies);
      expect(d, describeDiff(d)).toBeNull();
    }
  });

  it('reproduces the V8 replies bit for bit, trip included: a demanded trip and fallback, and their release', async () => {
    // G 2 -> trip 1 on every tick until G 0 -> released; G 1 -> FALLBACK until G 0.
    for (const sensors of [1, 3] as const) {
      const s = demandStream(sensors);
      expect(demandProblems(s.lines, s.replies), 'V8').toEqual([]);
      const replies = await target.requestMany(s.lines, 64);
      const d = firstDifference(s.lines, s.replies, replies);
      expect(d, describeDiff(d)).toBeNull();
      expect(demandProblems(s.lines, replies), 'native').toEqual([]);
    }
  });

  it('reproduces the V8 replies bit for bit, trip included: the guard trips on its envelope (a stuck heater)', async () => {
    // heater stuck at full power -> heading for env_max -> the hold fails -> trip 1, the contactor opens -> repaired, R -> NOMINAL.
    for (const sensors of [1, 3] as const) {
      const s = envelopeStream(sensors);
      expect(envelopeProblems(s.lines, s.replies), 'V8').toEqual([]);
      const replies = await target.requestMany(s.lines, 64);
      const d = firstDifference(s.lines, s.replies, replies);
      expect(d, describeDiff(d)).toBeNull();
    }
  });

  it('reproduces the V8 replies bit for bit: recorded scenarios of every plant and fault family', async () => {
    // The three example scenarios, then campaign scenarios (seed 1): 4 plants,
    // every fault kind including bit flips in the configuration (W lines).
    const scenarios: Scenario[] = [
      scenarioFile('thermal-stuck-sensor.json'), scenarioFile('thermal-weak-heater.json'), scenarioFile('tank-common-mode-bias.json'),
      ...Array.from({ length: 40 }, (_, i) => campaignScenario(1, i)),
    ];
    const kinds = new Set<string>();
    let ticks = 0;
    for (const sc of scenarios) {
      const rec = await recordOnV8(sc, Math.min(sc.durationS, 400));
      const replies = await target.requestMany(rec.lines, 64);
      const d = firstDifference(rec.lines, rec.replies, replies);
      expect(d, `${sc.name ?? sc.plant} (${sc.faults.map((f) => f.kind).join(', ') || 'no fault'}): ${describeDiff(d)}`).toBeNull();
      sc.faults.forEach((f) => kinds.add(f.kind));
      ticks += rec.result.ticks;
    }
    expect(kinds.has('memory.bitflip')).toBe(true);
    expect(ticks).toBeGreaterThan(50_000);
  });

  it('runs a PIL scenario with the same trajectory as firmware-sim', async () => {
    const sc = { ...scenarioFile('thermal-stuck-sensor.json'), durationS: 300 };
    const sim = runScenario(sc, { module: new WebAssembly.Module(readFileSync(join(ROOT, 'build', 'core.wasm'))) });
    const pil = await runPil(sc, target);
    expect({ ticks: pil.ticks, iae: pil.iae, envelope: pil.envelope, finalMode: pil.finalMode })
      .toEqual({ ticks: sim.ticks, iae: sim.iae, envelope: sim.envelope, finalMode: sim.finalMode });
    expect(pil.cause).toEqual({ monitor: 'sens_stuck', stage: 'sensing' });
  });

  it('quits on Q', async () => {
    const t = await startNative();
    expect(await t.request('Q')).toBe('ok 0');
    await t.close();
  });
});
