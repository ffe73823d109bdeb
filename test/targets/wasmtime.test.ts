// The same core on Wasmtime (host/runtime/engines/wasmtime.ts): a supervised
// child process holds it with the npm `wasmtime` binding and serves calls
// over two FIFOs. Held here: a scenario gives the same result JSON and the
// same per-tick trace on V8 and on Wasmtime (events read from memory on V8,
// through the getter exports on Wasmtime); a child killed mid-run is a
// watchdog reset and the run goes on; the child goes when the engine or the
// host goes; and the per-call latency, printed.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Core, DEFAULT_CORE_PATH, SAMPLE_NONE, type EngineExports } from '../../host/runtime/core.js';
import { EngineCrashed, WasmtimeCallError, WasmtimeEngine } from '../../host/runtime/engines/wasmtime.js';
import { runScenario, type RunOptions, type RunResult } from '../../firmware-sim/run.js';
import { parseScenario, type Scenario } from '../../firmware-sim/scenario/schema.js';
import { campaignScenario } from '../../firmware-sim/campaign/generate.js';
import { Rng } from '../../firmware-sim/rng.js';
import { runPair } from '../../firmware-sim/campaign/pair.js';
import { runCampaign } from '../../firmware-sim/campaign/run.js';
import { benchStream } from '../../firmware-sim/pil/measure.js';
import { firstDifference as firstLineDifference, ReferenceTarget } from '../../firmware-sim/pil/protocol.js';
import { coreBytes } from '../support/core.js';
import { demandProblems, demandStream, envelopeProblems, envelopeStream } from '../support/trip-streams.js';
import { stubCore } from '../support/wasm-build.js';

const module = new WebAssembly.Module(coreBytes() as Uint8Array<ArrayBuffer>);
const scenarioFile = (name: string) => fileURLToPath(new URL(`../../firmware-sim/scenarios/${name}`, import.meta.url));
const loadScenario = (name: string) => parseScenario(JSON.parse(readFileSync(scenarioFile(name), 'utf8')), name);

let wt: WasmtimeEngine;
beforeAll(() => { wt = WasmtimeEngine.open(coreBytes(), { source: DEFAULT_CORE_PATH }); });
afterAll(() => wt?.dispose());

const onV8: RunOptions['engine'] = () => Core.fromModule(module);
const onWasmtime: RunOptions['engine'] = () => wt.core();

const TRACE_KEYS = ['tS', 'command', 'mode', 'measurement', 'truth', 'setpoint'] as const;

/** Where two recorded runs first part: the first differing tick, else the first differing event or field; null if identical. */
function firstDifference(a: RunResult, b: RunResult): string | null {
  const ta = a.trace!;
  const tb = b.trace!;
  const n = Math.max(ta.tS.length, tb.tS.length);
  for (let i = 0; i < n; i++) {
    for (const k of TRACE_KEYS) {
      if (!Object.is(ta[k][i], tb[k][i])) return `tick ${i} (t = ${ta.tS[i] ?? tb.tS[i]} s): ${k} ${ta[k][i]} on v8, ${tb[k][i]} on wasmtime`;
    }
  }
  const ea = a.events!;
  const eb = b.events!;
  for (let i = 0; i < Math.max(ea.length, eb.length); i++) {
    if (JSON.stringify(ea[i]) !== JSON.stringify(eb[i])) return `event ${i}: ${JSON.stringify(ea[i])} on v8, ${JSON.stringify(eb[i])} on wasmtime`;
  }
  for (const k of Object.keys({ ...a, ...b }) as (keyof RunResult)[]) {
    if (JSON.stringify(a[k]) !== JSON.stringify(b[k])) return `result field '${k}': ${JSON.stringify(a[k])} on v8, ${JSON.stringify(b[k])} on wasmtime`;
  }
  return null;
}

function timed<T>(f: () => T): [T, number] {
  const t0 = performance.now();
  const r = f();
  return [r, performance.now() - t0];
}

/** Run a scenario on both engines with a trace; they must agree to the bit. */
function expectSameOnBothEngines(sc: Scenario, label: string): RunResult {
  const [v8, msV8] = timed(() => runScenario(sc, { engine: onV8, record: true }));
  const [wasmtime, msWt] = timed(() => runScenario(sc, { engine: onWasmtime, record: true }));
  console.log(`${label}: ${v8.ticks} ticks, v8 ${msV8.toFixed(0)} ms, wasmtime ${msWt.toFixed(0)} ms (${(msWt / msV8).toFixed(1)}x)`);
  expect(firstDifference(v8, wasmtime), `${label}: first difference`).toBeNull();
  expect(JSON.stringify(wasmtime)).toBe(JSON.stringify(v8));
  return v8;
}

describe('one scenario, two engines, one result', () => {
  it('thermal chamber, sensor A freezes (firmware-sim/scenarios/thermal-stuck-sensor.json)', () => {
    const r = expectSameOnBothEngines(loadScenario('thermal-stuck-sensor.json'), 'thermal-stuck-sensor');
    expect(r.detection).toMatchObject({ monitor: 'sens_stuck', stage: 'sensing' });
    expect(r.events!.length).toBeGreaterThan(0);
  });

  it('campaign scenarios: common-mode bias (tank, 3 sensors), spikes (motor), lost setpoint (integrator), guarded and unguarded', () => {
    for (const index of [38, 9, 15]) {
      const sc = campaignScenario(1, index);
      for (const guarded of [true, false]) expectSameOnBothEngines({ ...sc, guarded }, `campaign 1:${index} ${sc.faults[0].kind} ${guarded ? 'guarded' : 'unguarded'}`);
    }
  });

  it('the over-budget watchdog (init, configure and setpoint again mid-run) gives the same run', () => {
    const sc = parseScenario({ plant: 'thermal', durationS: 200, seed: 3, faults: [{ kind: 'timing.overrun', onsetS: 100, durationS: 20, magnitude: 600_000 }] });
    expect(expectSameOnBothEngines(sc, 'thermal overrun').watchdogResets).toBeGreaterThan(0);
  });

  it('the campaign pair (guarded, unguarded, fixed rate) of a fault-free scenario', () => {
    const sc = campaignScenario(1, 1);
    expect(JSON.stringify(runPair(sc, onWasmtime))).toBe(JSON.stringify(runPair(sc, module)));
  });

  it('events read through the getter exports equal events read from memory (V8 both ways)', () => {
    const sc = loadScenario('tank-common-mode-bias.json');
    const noMemory = () => {
      const c = Core.fromModule(module);
      return Core.fromExports({ ...c.raw, memory: undefined } as EngineExports, { memoryBytes: c.memoryBytes! });
    };
    const a = runScenario(sc, { engine: onV8, record: true });
    const b = runScenario(sc, { engine: noMemory, record: true });
    expect(a.events!.length).toBeGreaterThan(3);
    expect(JSON.stringify(b)).toBe(JSON.stringify(a));
  });

  it('a memory fault cannot run on Wasmtime, and says so', () => {
    const sc = parseScenario({ plant: 'motor', durationS: 10, faults: [{ kind: 'memory.bitflip', onsetS: 5, magnitude: 1 }] });
    expect(() => runScenario(sc, { engine: onWasmtime })).toThrow(/fault 'memory\.bitflip' writes into the core's linear memory, which this engine does not expose/);
  });

  it('the MCU memory limit holds on Wasmtime too (the module\'s declared memory)', () => {
    const sc = parseScenario({ plant: 'motor', durationS: 1, mcu: { memoryLimitBytes: 4096 } });
    expect(() => runScenario(sc, { engine: onWasmtime })).toThrow(/core instance uses 65536 bytes of memory, over the MCU limit of 4096/);
  });
});

describe('the line protocol on Wasmtime: the replies of V8, bit for bit, trip included', () => {
  // The V8 reference target (firmware-sim/pil/protocol.ts) answers each line
  // by calling the core's exports; the same class over the Wasmtime child's
  // exports must give the same replies to the same recorded lines.
  const replay = (lines: readonly string[]) => {
    const t = new ReferenceTarget(wt.core().raw, 'wasmtime');
    return lines.map((l) => t.handle(l));
  };

  it('a demanded trip and fallback, and their release (G 2 -> trip 1 until G 0; G 1 -> FALLBACK until G 0)', () => {
    for (const sensors of [1, 3] as const) {
      const s = demandStream(sensors);
      expect(demandProblems(s.lines, s.replies), 'V8').toEqual([]);
      const replies = replay(s.lines);
      const d = firstLineDifference(s.lines, s.replies, replies);
      expect(d, d ? `tick ${d.tick}, '${d.line}': wasmtime '${d.b}', V8 '${d.a}'` : '').toBeNull();
      expect(demandProblems(s.lines, replies), 'wasmtime').toEqual([]);
    }
  });

  it('the guard trips on its envelope: a stuck heater, the repair, the operator\'s reset', () => {
    for (const sensors of [1, 3] as const) {
      const s = envelopeStream(sensors);
      expect(envelopeProblems(s.lines, s.replies), 'V8').toEqual([]);
      const d = firstLineDifference(s.lines, s.replies, replay(s.lines));
      expect(d, d ? `tick ${d.tick}, '${d.line}': wasmtime '${d.b}', V8 '${d.a}'` : '').toBeNull();
    }
  });

  it('the settled bench loop', () => {
    const s = benchStream(3, 500, 500);
    const d = firstLineDifference(s.lines, s.replies, replay(s.lines));
    expect(d, d ? `tick ${d.tick}, '${d.line}': wasmtime '${d.b}', V8 '${d.a}'` : '').toBeNull();
  });

  it('trip(), guard_status() and predicted() after every tick of a scenario, and demand() itself', () => {
    // trip() is answered from the snapshot the child sends with each tick;
    // guard_status() and predicted() cost a round trip each.
    const v = Core.fromModule(module).raw;
    const w = wt.core().raw;
    const rng = new Rng(11);
    const rows: [number, number, number, number, number][][] = [[], []];
    for (let i = 0; i < 600; i++) {
      const kind = i === 200 ? 2 : i === 300 ? 0 : i === 400 ? 1 : i === 450 ? 9 : i === 500 ? 0 : -1;
      const t = BigInt((i + 1) * 100_000);
      const s0 = 1600 + Math.round(3 * rng.gauss());
      [v, w].forEach((raw, k) => {
        const status = kind >= 0 ? raw.demand(kind) : 0;
        const u = raw.tick(t, s0, SAMPLE_NONE, SAMPLE_NONE, SAMPLE_NONE);
        rows[k].push([status, u, raw.trip(), raw.guard_status(), raw.predicted()]);
      });
    }
    expect(rows[1]).toEqual(rows[0]);
    expect(rows[0][450][0]).toBe(-2);                       // an unknown kind is refused
    expect(rows[0].slice(200, 300).every((r) => r[2] === 1)).toBe(true); // trip demanded
  });
});

describe('supervision', () => {
  it('a child killed mid-run: tick throws EngineCrashed, the watchdog restarts the core on a new child, the run goes on', () => {
    // thermal, sensor A freezes; at tick 1500 the child is killed (SIGKILL,
    // by its pid) -> that tick throws EngineCrashed -> run.ts counts a
    // watchdog reset, outputs the safe value, init()s and configures again
    // -> the engine has started a new child with a fresh instance -> the run
    // finishes, exactly as a V8 run whose tick 1500 traps.
    const sc = loadScenario('thermal-stuck-sensor.json');
    const KILL_AT = 1500;
    const crashes: unknown[] = [];
    let killed = 0;
    const restartsBefore = wt.restarts;
    const withKill = (make: () => Core, kill: () => void) => () => {
      const core = make();
      const raw = core.raw;
      let n = 0;
      const tick: EngineExports['tick'] = (...args) => {
        if (++n === KILL_AT) kill();
        try {
          return raw.tick(...args);
        } catch (err) {
          crashes.push(err);
          throw err;
        }
      };
      return Core.fromExports({ ...raw, tick }, { memoryBytes: core.memoryBytes! });
    };
    const r = runScenario(sc, {
      record: true,
      engine: withKill(() => wt.core(), () => { killed = wt.pid!; process.kill(killed, 'SIGKILL'); }),
    });
    expect(crashes).toHaveLength(1);
    expect(crashes[0]).toBeInstanceOf(EngineCrashed);
    expect((crashes[0] as Error).message).toMatch(new RegExp(`wasmtime child \\(pid ${killed}\\) died during tick\\(\\): killed by signal 9`));
    expect(r.watchdogResets).toBe(1);
    expect(wt.restarts).toBe(restartsBefore + 1);
    expect(wt.pid).not.toBe(killed);
    expect(r.ticks).toBe(4261);
    // The same run on V8, where tick 1500 traps instead.
    const v8 = runScenario(sc, {
      record: true,
      engine: withKill(() => Core.fromModule(module), () => { throw new WebAssembly.RuntimeError('unreachable'); }),
    });
    expect(v8.watchdogResets).toBe(1);
    expect(firstDifference(v8, r)).toBeNull();
  });

  it('a trap is an error of that call only: the child lives on', () => {
    const e = WasmtimeEngine.open(stubCore((fs) => fs.map((f) => (f.name === 'tick' ? { ...f, body: 'trap' as const } : f))));
    try {
      const raw = e.core().raw;
      const pid = e.pid;
      expect(() => raw.tick(1n, 0, 0, 0, 0)).toThrow(WasmtimeCallError);
      expect(() => raw.tick(1n, 0, 0, 0, 0)).toThrow(/^wasmtime: tick\(\) failed: error while executing/);
      expect(raw.mode()).toBe(0);
      expect(e.pid).toBe(pid);
      expect(e.restarts).toBe(0);
    } finally {
      e.dispose();
    }
  });

  it('arguments convert as V8 converts them, and an i64 beyond 2^53 is refused rather than rounded', () => {
    const v8 = Core.fromModule(module).raw;
    const w = wt.core().raw;
    for (const raw of [v8, w]) {
      expect(() => raw.set_setpoint(0, 5 as unknown as bigint)).toThrow(TypeError);
      expect(() => raw.param_get(1n as unknown as number)).toThrow(TypeError);
      expect(raw.tick_count()).toBe(0n);
      expect(raw.param_get(2.9)).toBe(raw.param_get(2));
      expect(raw.param_known(2 ** 32 + 1)).toBe(raw.param_known(1));
    }
    expect(() => w.tick(2n ** 60n, SAMPLE_NONE, SAMPLE_NONE, SAMPLE_NONE, SAMPLE_NONE)).toThrow(/beyond 2\^53/);
  });

  it('a Core from an earlier core() call is dropped: its calls throw instead of reaching the new instance', () => {
    const a = wt.core();
    wt.core();
    expect(() => a.mode).toThrow(/an instance that core\(\) has replaced/);
  });

  it('dispose() ends the child; so does the host exiting, or dying', async () => {
    // Gone: no such process, or a zombie (ended, not yet reaped by whoever adopted it).
    const ended = (pid: number) => {
      try {
        return /^[ZX]/.test(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]);
      } catch {
        return true;
      }
    };
    const gone = async (pid: number) => {
      for (let i = 0; i < 300 && !ended(pid); i++) await new Promise((r) => setTimeout(r, 10));
      return ended(pid);
    };
    const e = WasmtimeEngine.open(coreBytes());
    const pid = e.pid!;
    e.dispose();
    expect(await gone(pid)).toBe(true);
    expect(() => e.core()).toThrow(/after dispose/);

    const dir = mkdtempSync(join(tmpdir(), 'edgeloop-wt-host-'));
    const script = join(dir, 'host.mjs');
    const engineUrl = pathToFileURL(fileURLToPath(new URL('../../dist/host/runtime/engines/wasmtime.js', import.meta.url))).href;
    writeFileSync(script, [
      `import { readFileSync } from 'node:fs';`,
      `import { WasmtimeEngine } from ${JSON.stringify(engineUrl)};`,
      `const e = WasmtimeEngine.open(readFileSync(${JSON.stringify(DEFAULT_CORE_PATH)}));`,
      `e.core().tick(1000, { sensors: [1] });`,
      `console.log(e.pid);`,
      `if (process.argv[2] === 'hang') setInterval(() => {}, 1000); else process.exit(0);`,
    ].join('\n'));
    // The host exits without dispose(): its exit hook ends the child.
    const exited = spawnSync(process.execPath, [script], { encoding: 'utf8', timeout: 30_000 });
    expect(exited.status, exited.stderr).toBe(0);
    expect(await gone(Number(exited.stdout.trim()))).toBe(true);
    // The host is killed (no hook runs): the child reads the end of its request FIFO and exits.
    const host = spawn(process.execPath, [script, 'hang'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const childPid = await new Promise<number>((resolve) => host.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
    expect(ended(childPid)).toBe(false);
    host.kill('SIGKILL');
    expect(await gone(childPid)).toBe(true);
  });
});

describe('latency', () => {
  it('per call, against V8 (printed)', () => {
    const N = 20_000;
    const w = wt.core();
    const v = Core.fromModule(module);
    const perCall = (f: () => unknown) => {
      for (let i = 0; i < 500; i++) f();
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < N; i++) f();
      return Number(process.hrtime.bigint() - t0) / N / 1000;
    };
    let t = 0n;
    const tickArgs = () => [(t += 100_000n), 400, SAMPLE_NONE, SAMPLE_NONE, SAMPLE_NONE] as const;
    // param_get: a plain round trip; tick: a round trip plus the snapshot; mode: read from the snapshot.
    const wGet = perCall(() => w.raw.param_get(0));
    const wTick = perCall(() => w.raw.tick(...tickArgs()));
    const wMode = perCall(() => w.raw.mode());
    t = 0n;
    const vGet = perCall(() => v.raw.param_get(0));
    const vTick = perCall(() => v.raw.tick(...tickArgs()));
    const [, startMs] = timed(() => WasmtimeEngine.open(coreBytes()).dispose());
    console.log(`per call, ${N} calls back to back: wasmtime param_get() ${wGet.toFixed(1)} us, tick() ${wTick.toFixed(1)} us, `
      + `mode() after a tick ${(wMode * 1000).toFixed(0)} ns (snapshot); v8 param_get() ${(vGet * 1000).toFixed(0)} ns, tick() ${(vTick * 1000).toFixed(0)} ns; `
      + `a wasmtime child starts in ${startMs.toFixed(0)} ms`);
    // The figures above are printed, not asserted (the machine's load decides them); what holds is the answers.
    expect(w.raw.param_get(0)).toBe(v.raw.param_get(0));
    expect(w.raw.mode()).toBe(v.raw.mode());
  });
});

describe('campaign and CLI on Wasmtime', () => {
  it('a campaign over two workers, each with its own child: same pairs as V8; the memory fault is listed, not run', async () => {
    // seed 3: scenario 7 is a memory.bitflip.
    const childPids = new Set<number>();
    const sample = setInterval(() => {
      for (const p of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
        try {
          const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8');
          const ppid = Number(readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1].split(' ')[1]);
          if (ppid === process.pid && cmd.includes('wasmtime-child') && Number(p) !== wt.pid) childPids.add(Number(p));
        } catch { /* gone */ }
      }
    }, 20);
    const r = await runCampaign({ seed: 3, scenarios: 8, workers: 2, corePath: DEFAULT_CORE_PATH, engine: 'wasmtime' }).finally(() => clearInterval(sample));
    expect(r.notRun.map((n) => n.index)).toEqual([7]);
    expect(r.indices).toEqual([0, 1, 2, 3, 4, 5, 6]);
    r.indices.forEach((index, k) => {
      expect(JSON.stringify(r.results[k]), `scenario 3:${index}`).toBe(JSON.stringify(runPair(campaignScenario(3, index), module)));
    });
    expect(childPids.size).toBe(2);
  });

  it('edgeloop sim --engine wasmtime writes what --engine v8 writes; a bad --engine is named', () => {
    const bin = fileURLToPath(new URL('../../bin/edgeloop.js', import.meta.url));
    const run = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 60_000 });
    const outs = ['v8', 'wasmtime'].map((engine) => {
      const out = mkdtempSync(join(tmpdir(), `edgeloop-sim-${engine}-`));
      const r = run('sim', scenarioFile('thermal-stuck-sensor.json'), '--engine', engine, '--out', out);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/detected after [\d.]+ s by sens_stuck/);
      const events = readdirSync(out).find((f) => f.endsWith('.events.jsonl'))!;
      return readFileSync(join(out, events), 'utf8');
    });
    expect(outs[1]).toBe(outs[0]);
    for (const cmd of ['sim', 'campaign']) {
      const bad = run(cmd, '--engine', 'wasm3');
      expect(bad.status).not.toBe(0);
      expect(bad.stderr).toMatch(/--engine must be one of v8, wasmtime, got 'wasm3'/);
    }
    expect(existsSync(bin)).toBe(true);
  });
});
