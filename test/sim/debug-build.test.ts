// The debug build of the core (build/core.debug.wasm: the same sources with
// assertions on, assembly/invariant.ts) and the field build (build/core.wasm):
// bit-exact while every invariant holds; when one breaks (a bug), the debug
// build traps at once, the field build counts it, logs what broke and latches
// the safe stop; either way the simulator and the campaign say CORE FAILED.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Core, DEBUG_CORE_PATH, DEFAULT_CORE_PATH, PARAM_IDS } from '../../host/runtime/core.js';
import { coreFailed, runScenario } from '../../firmware-sim/run.js';
import { campaignScenario } from '../../firmware-sim/campaign/generate.js';
import { parseScenario } from '../../firmware-sim/scenario/schema.js';
import { campaignCommand } from '../../host/cli/sim.js';
import { buildReport, NO_DETECTION_MIN_FAULTY } from '../../firmware-sim/campaign/report.js';
import { Thermal } from '../support/thermal.js';

const BUILD = join(DEFAULT_CORE_PATH, '..');
const debug = new WebAssembly.Module(readFileSync(DEBUG_CORE_PATH));
const field = new WebAssembly.Module(readFileSync(DEFAULT_CORE_PATH));
const buggyDebug = new WebAssembly.Module(readFileSync(join(BUILD, 'invariant_core.debug.wasm')));
const buggyField = new WebAssembly.Module(readFileSync(join(BUILD, 'invariant_core.wasm')));

const thermal = () => parseScenario({ plant: 'thermal', durationS: 60, seed: 3 });

describe('the debug build', () => {
  it('says which build it is: assertions() is 1 in the debug build, 0 in the field build', () => {
    expect(Core.fromModule(debug).assertions).toBe(true);
    expect(Core.fromModule(field).assertions).toBe(false);
  });

  it('is bit-exact with the field build on campaign scenarios of every plant and fault family, memory faults included', () => {
    // 40 scenarios of seed 9: every plant, sensor, actuator, timing, comm and memory faults, fault-free runs.
    const kinds = new Set<string>();
    for (let i = 0; i < 40; i++) {
      const sc = campaignScenario(9, i);
      kinds.add(sc.faults[0]?.kind.split('.')[0] ?? 'none');
      const a = runScenario(sc, { module: debug, record: true });
      const b = runScenario(sc, { module: field, record: true });
      expect(JSON.stringify(a), `scenario 9:${i}`).toBe(JSON.stringify(b));
      expect(a.invariantFails).toBe(0);
      expect(a.traps).toBe(0);
    }
    expect([...kinds].sort()).toEqual(expect.arrayContaining(['actuator', 'memory', 'none', 'sensor']));
  });
});

describe('a core that breaks an invariant (build/invariant_core*.wasm: INV_CASCADE on its 21st tick)', () => {
  it('debug build: the tick traps; the run says CORE FAILED and names what broke', () => {
    // the 21st tick -> invariant_failed(cascade) -> unreachable -> the MCU's watchdog restarts the core
    // (which breaks it again 21 ticks later) -> the run is a failed core, the broken invariant named.
    const r = runScenario(thermal(), { module: buggyDebug });
    expect(r.traps).toBeGreaterThan(0);
    expect(r.invariantFails).toBe(r.traps);
    expect(r.invariants[0]).toMatch(/^cascade: .* \(tick 21, value 77\)$/);
    expect(coreFailed(r)).toBe(true);
  });

  it('field build: no trap; the failure is counted and logged, and the loop latches SAFE_STOP with the trip asserted', () => {
    const r = runScenario(thermal(), { module: buggyField });
    expect(r.traps).toBe(0);
    expect(r.invariantFails).toBe(1);
    expect(r.finalMode).toBe('SAFE_STOP');
    expect(r.finalTrip).toBe(1);
    expect(coreFailed(r)).toBe(true);
  });

  it('field build, in a closed loop: the invariant event, the counter, the latched stop; reset() releases it once the condition is false', () => {
    // 20 good ticks -> the 21st breaks the invariant (counted, logged, integrity
    // raised, not repairable) -> SAFE_STOP, latched -> the operator's reset finds
    // the condition false (the bug does not repeat) and releases it -> the way back.
    const th = new Thermal({ core: Core.fromModule(buggyField), setpoint: 40, y0: 40, recordEvents: true });
    th.run(20);
    expect(th.core.counter('invariant_fails')).toBe(0);
    th.run(1);
    expect(th.log.filter((e) => e.kind === 'invariant')).toEqual([
      expect.objectContaining({ tick: 21, value: 77, reason: expect.stringMatching(/^cascade:/) })]);
    expect(th.core.counter('invariant_fails')).toBe(1);
    th.run(20);
    expect(th.core.mode).toBe('SAFE_STOP');
    th.run(100);
    expect(th.core.mode).toBe('SAFE_STOP');   // latched: it does not come back by itself
    expect(th.core.reset()).toBeGreaterThan(0);
    th.runWhile((t) => t.core.mode !== 'NOMINAL', 3000);
    expect(th.core.mode).toBe('NOMINAL');
    expect(th.core.counter('invariant_fails')).toBe(1);
  });

  it('a flip in the configuration decides: in the shadow copy only, the break is still a bug (counted, the debug build traps); in the running table, the soft error\'s', () => {
    // The bug breaks INV_CASCADE on the 21st tick; one tick before, a bit is
    // flipped in kp's word, in the shadow copy or in the running table. The
    // break escalates to the full scrub: a shadow-only flip leaves the table
    // the tick read intact (a bug); a running-table flip is the soft error's.
    const run = (module: WebAssembly.Module, where: 'shadow' | 'active') => {
      const th = new Thermal({ core: Core.fromModule(module), setpoint: 40, y0: 40, recordEvents: true });
      th.run(20);
      const raw = th.core.raw;
      const view = new DataView(raw.memory!.buffer);
      const at = (where === 'shadow' ? raw.config_shadow_addr() : raw.config_addr()) + PARAM_IDS.get('kp' as never)! * 4;
      view.setInt32(at, view.getInt32(at, true) ^ (1 << 20), true);
      let trapped = false;
      try { th.run(1); } catch { trapped = true; }
      return { trapped, bugs: Number(raw.counter(14)), events: th.log.filter((e) => e.kind === 'invariant').map((e) => e.stage ?? 'bug') };
    };
    expect(run(buggyField, 'shadow')).toEqual({ trapped: false, bugs: 1, events: ['bug'] });
    expect(run(buggyDebug, 'shadow').trapped).toBe(true);
    expect(run(buggyField, 'active')).toEqual({ trapped: false, bugs: 0, events: ['core'] });
    expect(run(buggyDebug, 'active')).toMatchObject({ trapped: false, bugs: 0 });
  });

  it('the campaign cannot pass it, on either build: exit 5, the report names the broken invariant', async () => {
    for (const core of ['invariant_core.debug.wasm', 'invariant_core.wasm']) {
      const out = mkdtempSync(join(tmpdir(), 'edgeloop-inv-'));
      const lines: string[] = [];
      const warnings: string[] = [];
      const code = await campaignCommand({ scenarios: 3, seed: 1, workers: 0, out, core: join(BUILD, core), progress: false },
        (l) => lines.push(l), (l) => warnings.push(l));
      expect(code, core).toBe(5);
      expect(warnings.join('\n')).toMatch(/the core under test is not controlling: the core broke its invariants in \d+ run\(s\) .*cascade:/);
      const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
      expect(report.health.invariantFails).toBeGreaterThan(0);
      expect(report.health.invariants[0]).toMatch(/^cascade:/);
      expect(readFileSync(join(out, 'report.md'), 'utf8')).toMatch(/\| broken invariants .* \| \*\*\d+\*\* in \d+ runs: cascade:/);
      // Reproductions name the core that failed, not the default.
      for (const f of report.failing) expect(f.reproduce).toContain(`--core ${join(BUILD, core)}`);
    }
  });
});

describe('soft errors the debug build found (memory.bitflip in the configuration table)', () => {
  // A flipped bit breaks an invariant only through a value the tick reads
  // from the table before the scrub repairs it; every such value is bounded
  // at use, so nothing outlives the repair, and a broken invariant under a
  // corrupted table is the soft error's doing (event stage 'core'), not a bug.
  it('campaign 1:4089 (bit 25 of react.soft_repaired) and 1:7375 (bit 10 of n_sensors) run on the debug build without a trap or a bug', () => {
    for (const i of [4089, 7375]) {
      const r = runScenario(campaignScenario(1, i), { module: debug });
      expect(r.faults[0].kind).toBe('memory.bitflip');
      expect({ i, traps: r.traps, bugs: r.invariantFails }).toEqual({ i, traps: 0, bugs: 0 });
      expect(r.corruptionLeft).toBe(false);
    }
  });

  const flipActive = (core: Core, name: string, bit: number) => {
    const id = PARAM_IDS.get(name as never)!;
    const view = new DataView(core.raw.memory!.buffer);
    const at = core.raw.config_addr() + id * 4;
    view.setInt32(at, view.getInt32(at, true) ^ (1 << bit), true);
  };

  it('n_sensors with bit 10 flipped: the sensing loops stay within their three sensors; the scrub repairs it; no bug', () => {
    // before: n_sensors read as 1027 sent the vote's loop over 1027 "sensors",
    // writing debounce counters far past their array (the debug build trapped
    // on the debounce invariant; the field build ran on corrupted state).
    const th = new Thermal({ nSensors: 3, setpoint: 40, y0: 40, recordEvents: true });
    th.run(50);
    flipActive(th.core, 'n_sensors', 10);
    th.run(400);
    expect(th.core.counter('invariant_fails')).toBe(0);
    expect(th.core.counter('repairs')).toBeGreaterThan(0);
    expect(th.log.filter((e) => e.kind === 'invariant' && e.stage === null)).toEqual([]);
    expect(th.core.mode).toBe('NOMINAL');
  });
});

describe('a campaign whose core detects nothing', () => {
  // The guarded runs replaced by the primary controller alone (nothing
  // watches): no injected fault is ever detected. Among ten faulty runs or
  // more that condemns the core; among fewer it does not (a campaign of two
  // scenarios may honestly hold only undetectable faults).
  const pairs = (n: number) => {
    const out = [];
    for (let i = 0; out.length < n; i++) {
      const sc = campaignScenario(9, i);
      if (sc.faults.length === 0) continue;
      const blind = runScenario({ ...sc, guarded: false }, { module: field });
      out.push({ guarded: blind, unguarded: blind, fixedRate: null, oracles: null });
    }
    return out;
  };

  it(`fails it from NO_DETECTION_MIN_FAULTY faulty runs on, and not below`, () => {
    expect(buildReport(9, pairs(NO_DETECTION_MIN_FAULTY)).health.dead).toBe(`no injected fault was detected in ${NO_DETECTION_MIN_FAULTY} faulty run(s)`);
    expect(buildReport(9, pairs(2)).health.dead).toBeNull();
  });
});
