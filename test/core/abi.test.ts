// The ABI of build/core.wasm, read from the binary itself
// (host/runtime/wasm-binary.ts), and the names in host/runtime/abi.ts held
// against it. ARCHITECTURE.md's rules: the module imports nothing; every
// export takes and returns only i32/i64/f64 and returns exactly one value;
// the only other export is the memory.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  ACTIONS, CAUSES, FORMATS, LEVELS, MODES, MONITORS, MON_BASE, PARAM_IDS, PARAM_NAMES, REACT_BASE, STAGES,
  type CoreExports, type ParamFormat,
} from '../../host/runtime/abi.js';
import { fieldCoreBytes as coreBytes, freshCore } from '../support/core.js';
import { Reader, exportedFunctions, parseWasm, signature } from '../../host/runtime/wasm-binary.js';

/** The core's bytes, typed for the WebAssembly API. */
const wasmBytes = () => coreBytes() as Uint8Array<ArrayBuffer>;

const ABI_TYPES = new Set(['i32', 'i64', 'f64']);

function rawCore(): CoreExports {
  const instance = new WebAssembly.Instance(new WebAssembly.Module(wasmBytes()), {});
  return instance.exports as unknown as CoreExports;
}

describe('wasm binary reader', () => {
  // Known encodings from the spec and the LEB128 literature.
  it('decodes LEB128', () => {
    const u = (bytes: number[], bits = 32) => new Reader(Uint8Array.from(bytes)).u(bits);
    const s = (bytes: number[], bits = 32) => new Reader(Uint8Array.from(bytes)).s(bits);
    expect(u([0x00])).toBe(0n);
    expect(u([0x7f])).toBe(127n);
    expect(u([0x80, 0x01])).toBe(128n);
    expect(u([0xe5, 0x8e, 0x26])).toBe(624485n);
    expect(u([0xff, 0xff, 0xff, 0xff, 0x0f])).toBe(0xffffffffn);
    expect(u([0x80, 0x80, 0x80, 0x00])).toBe(0n); // redundant padding is allowed
    expect(() => u([0xff, 0xff, 0xff, 0xff, 0x1f])).toThrow(/out of range/);
    expect(() => u([0x80, 0x80, 0x80, 0x80, 0x80, 0x00])).toThrow(/longer/);
    expect(() => u([0x80])).toThrow(/end of data/);
    expect(s([0x7f])).toBe(-1n);
    expect(s([0x3f])).toBe(63n);
    expect(s([0x40])).toBe(-64n);
    expect(s([0xc0, 0xbb, 0x78])).toBe(-123456n);
    expect(s([0x80, 0x80, 0x80, 0x80, 0x78])).toBe(-2147483648n);
    expect(s([0xff, 0xff, 0xff, 0xff, 0x07])).toBe(2147483647n);
    expect(s([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x7f], 64)).toBe(-(2n ** 63n));
    expect(() => s([0xff, 0xff, 0xff, 0xff, 0x0f])).toThrow(/out of range/);
  });

  it('parses a hand-assembled module', () => {
    // (module (import "env" "f" (func (param i32))) (memory 1)
    //   (func (export "g") (param i64 f64) (result i32) i32.const 0) (export "mem" (memory 0)))
    const bytes = Uint8Array.from([
      0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
      0x01, 0x0b, 0x02, 0x60, 0x01, 0x7f, 0x00, 0x60, 0x02, 0x7e, 0x7c, 0x01, 0x7f, // type
      0x02, 0x09, 0x01, 0x03, 0x65, 0x6e, 0x76, 0x01, 0x66, 0x00, 0x00, // import
      0x03, 0x02, 0x01, 0x01, // function
      0x05, 0x03, 0x01, 0x00, 0x01, // memory
      0x07, 0x0b, 0x02, 0x01, 0x67, 0x00, 0x01, 0x03, 0x6d, 0x65, 0x6d, 0x02, 0x00, // export
      0x0a, 0x06, 0x01, 0x04, 0x00, 0x41, 0x00, 0x0b, // code
    ]);
    expect(WebAssembly.validate(bytes)).toBe(true);
    const info = parseWasm(bytes);
    expect(info.imports).toEqual([{ module: 'env', name: 'f', kind: 'func', typeIndex: 0 }]);
    expect(info.exports).toEqual([{ name: 'g', kind: 'func', index: 1 }, { name: 'mem', kind: 'memory', index: 0 }]);
    expect(exportedFunctions(info).map((f) => [f.name, signature(f.type)])).toEqual([['g', '(i64, f64) -> (i32)']]);
  });

  it('agrees with the engine on the imports and exports of core.wasm', () => {
    const info = parseWasm(coreBytes());
    const module = new WebAssembly.Module(wasmBytes());
    expect(info.exports.map((e) => [e.name, e.kind === 'func' ? 'function' : e.kind]))
      .toEqual(WebAssembly.Module.exports(module).map((e) => [e.name, e.kind]));
    expect(info.imports.map((i) => [i.module, i.name])).toEqual(WebAssembly.Module.imports(module).map((i) => [i.module, i.name]));
  });
});

describe('core.wasm: the binary obeys the ABI rules', () => {
  const info = parseWasm(coreBytes());
  const funcs = exportedFunctions(info);

  it('imports nothing', () => {
    expect(info.imports).toEqual([]);
  });

  it('exports only i32/i64/f64 functions that return exactly one value', () => {
    expect(funcs.length).toBeGreaterThan(0);
    const bad = funcs
      .filter((f) => f.type.results.length !== 1 || ![...f.type.params, ...f.type.results].every((t) => ABI_TYPES.has(t)))
      .map((f) => `${f.name}: ${signature(f.type)}`);
    expect(bad, 'exports that break the ABI rule').toEqual([]);
  });

  it('exports nothing but functions and one memory named "memory"', () => {
    const others = info.exports.filter((e) => e.kind !== 'func');
    expect(others.map((e) => [e.name, e.kind])).toEqual([['memory', 'memory']]);
  });

  it('has unique export names', () => {
    const names = info.exports.map((e) => e.name);
    expect(new Set(names).size).toBe(names.length);
  });

  it('exports every function host/runtime/abi.ts declares', () => {
    // The CoreExports interface is types only; check the names the host calls.
    const c = rawCore() as unknown as Record<string, unknown>;
    const used = ['init', 'reset', 'abi_version', 'param_count', 'param_known', 'param_get', 'param_min', 'param_max',
      'param_default', 'param_format', 'config_begin', 'config_abort', 'config_error_param', 'config_set',
      'config_commit', 'param_set', 'set_setpoint', 'tick', 'mode', 'output', 'monitor_count', 'monitor_stage',
      'counter', 'events_addr', 'events_capacity', 'events_written', 'cause_monitor', 'cause_stage',
      'monitors_active', 'next_interval_us', 'tick_count'];
    const exported = new Set(funcs.map((f) => f.name));
    expect(used.filter((n) => !exported.has(n) || typeof c[n] !== 'function')).toEqual([]);
  });
});

// The formats host/runtime/abi.ts implies for each parameter name, from the
// comments in assembly/params.ts: *_us are microseconds; median3 and
// <monitor>.latched, median3 and guard flags; <monitor>.level levels;
// react.<cause> reactions; env_*_dir directions; counts, ticks, retries,
// windows, crossings and raw codes integers; everything else Q16.16.
const INT_PARAMS = new Set(['n_sensors', 'adc_min', 'adc_max', 'stuck_band', 'handback_retries']);
function expectedFormat(name: string): ParamFormat {
  if (name.endsWith('.level')) return 'level';
  if (name.startsWith('react.')) return 'action';
  if (name.endsWith('_dir')) return 'dir';
  if (name.endsWith('.latched') || name === 'median3' || name === 'guard') return 'bool';
  if (INT_PARAMS.has(name) || /(_ticks|_count|_window|_crossings)$/.test(name)) return 'int';
  if (name.endsWith('_us')) return 'us';
  return 'q16';
}

describe('host/runtime/abi.ts agrees with the binary', () => {
  const c = rawCore();
  const count = c.param_count();
  const known = (): number[] => {
    const ids: number[] = [];
    for (let id = 0; id < count; id++) if (c.param_known(id) === 1) ids.push(id);
    return ids;
  };

  it('PARAM_IDS covers exactly the ids the core knows', () => {
    expect([...PARAM_IDS.values()].sort((a, b) => a - b)).toEqual(known());
    expect(PARAM_NAMES.size).toBe(PARAM_IDS.size);
  });

  it('knows no id outside 0..param_count()-1, and param_known is 0 or 1', () => {
    const beyond = [-1, -2, -64, -2147483648, count, count + 1, count + 7, count + 64, 255, 256, 65535, 2147483647];
    for (const id of beyond) expect(c.param_known(id), `param_known(${id})`).toBe(0);
    for (let id = 0; id < count; id++) expect([0, 1], `param_known(${id})`).toContain(c.param_known(id));
  });

  it('unknown ids read as 0 (min, max, default, value) and format -1', () => {
    for (const id of [-1, 55, 63, count, count + 1, 2147483647, -2147483648]) {
      if (c.param_known(id)) continue;
      expect([c.param_get(id), c.param_min(id), c.param_max(id), c.param_default(id), c.param_format(id)], `id ${id}`)
        .toEqual([0, 0, 0, 0, -1]);
    }
  });

  it('every parameter has min <= default <= max, and starts at its default', () => {
    for (const id of known()) {
      const [min, max, def] = [c.param_min(id), c.param_max(id), c.param_default(id)];
      const name = PARAM_NAMES.get(id);
      expect(min <= def && def <= max, `${name} (#${id}): min ${min}, default ${def}, max ${max}`).toBe(true);
      expect(c.param_get(id), `${name} (#${id}) value after init`).toBe(def);
    }
  });

  it('FORMATS indexes param_format, and each parameter has the format its name implies', () => {
    for (const [name, id] of PARAM_IDS) {
      const f = c.param_format(id);
      expect(f, `param_format(${name})`).toBeGreaterThanOrEqual(0);
      expect(f, `param_format(${name})`).toBeLessThan(FORMATS.length);
      expect(FORMATS[f], `format of ${name} (#${id})`).toBe(expectedFormat(name));
      if (FORMATS[f] === 'bool') expect([c.param_min(id), c.param_max(id)], name).toEqual([0, 1]);
      if (FORMATS[f] === 'action') expect([c.param_min(id), c.param_max(id)], name).toEqual([0, ACTIONS.length - 1]);
    }
  });

  it('MONITORS matches monitor_count(), and the monitor fields sit at MON_BASE + 4 m', () => {
    expect(MONITORS.length).toBe(c.monitor_count());
    expect(MON_BASE + 4 * MONITORS.length).toBe(count);
    expect(PARAM_IDS.get('core_integrity.level')).toBe(MON_BASE);
    expect(PARAM_IDS.get(`${MONITORS[MONITORS.length - 1]}.clear_ticks`)).toBe(count - 1);
  });

  it('monitor_stage(m) and the default monitor table match docs/core.md', () => {
    // | id | monitor | stage | default level | clear policy | trip / clear ticks |
    const doc = readFileSync(new URL('../../docs/core.md', import.meta.url), 'utf8');
    const rows = doc.split('\n')
      .map((l) => /^\|\s*(\d+)\s*\|\s*(\w+)\s*\|\s*(\w+)\s*\|\s*(\w+)\s*\|\s*(\w+)\s*\|\s*(\d+)\s*\/\s*([\d-]+)\s*\|/.exec(l))
      .filter((m): m is RegExpExecArray => m !== null);
    expect(rows.length, 'monitor rows in the docs/core.md table').toBe(MONITORS.length);
    for (const [, idText, name, stage, level, policy, trip, clear] of rows) {
      const m = Number(idText);
      expect(MONITORS[m], `docs row ${m}`).toBe(name);
      expect(STAGES[c.monitor_stage(m)], `monitor_stage(${m}) (${name})`).toBe(stage);
      const field = (f: string) => c.param_default(PARAM_IDS.get(`${MONITORS[m]}.${f}` as never)!);
      expect(LEVELS[field('level')], `${name}.level default`).toBe(level);
      expect(field('latched') === 1 ? 'latched' : 'auto', `${name}.latched default`).toBe(policy);
      expect(field('trip_ticks'), `${name}.trip_ticks default`).toBe(Number(trip));
      if (clear !== '-') expect(field('clear_ticks'), `${name}.clear_ticks default`).toBe(Number(clear));
    }
    for (const m of [-1, MONITORS.length, 255, -2147483648, 2147483647]) expect(c.monitor_stage(m), `monitor_stage(${m})`).toBe(-1);
  });

  it('CAUSES matches cause_count(), and the default reaction table matches docs/core.md', () => {
    // | cause | when | default reaction | what the loop does |
    expect(CAUSES.length).toBe(c.cause_count());
    const doc = readFileSync(new URL('../../docs/core.md', import.meta.url), 'utf8');
    const rows = doc.split('\n')
      .map((l) => /^\|\s*([a-z_]+)\s*\|[^|]*\|\s*(none|warn|degrade|fallback|safe_stop|as demanded)\s*\|/.exec(l))
      .filter((m): m is RegExpExecArray => m !== null);
    expect(rows.map((r) => r[1]), 'cause rows in docs/core.md').toEqual([...CAUSES]);
    for (const [, cause, reaction] of rows) {
      const id = PARAM_IDS.get(`react.${cause}` as never)!;
      expect(id, `react.${cause}`).toBe(REACT_BASE + CAUSES.indexOf(cause as never));
      if (reaction !== 'as demanded') expect(ACTIONS[c.param_default(id)], `react.${cause} default`).toBe(reaction);
    }
  });
});

describe('the default core', () => {
  it('loads through the host wrapper and runs one tick', () => {
    const core = freshCore();
    expect(core.raw.abi_version()).toBe(3);
    expect(core.mode).toBe('NOMINAL');
    const u = core.tick(10_000, { sensors: [20] });
    expect(Number.isFinite(u)).toBe(true);
    expect(core.ticks).toBe(1);
    expect(MODES).toContain(core.mode);
    expect(u).toBeGreaterThanOrEqual(core.param('out_min'));
    expect(u).toBeLessThanOrEqual(core.param('out_max'));
    expect(core.counter('invariant_fails')).toBe(0);
    expect(core.counter('ticks')).toBe(1);
  });

  it('loads with a plain WebAssembly.instantiate and an empty import object', async () => {
    const { instance } = await WebAssembly.instantiate(wasmBytes(), {});
    const c = instance.exports as unknown as CoreExports;
    expect(c.memory).toBeInstanceOf(WebAssembly.Memory);
    const u = c.tick(10_000n, 20, -2147483648, -2147483648, -2147483648);
    expect(typeof u).toBe('number');
    expect(c.tick_count()).toBe(1n);
    expect(c.counter(14)).toBe(0n);
  });
});
