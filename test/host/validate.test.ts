// Every module is held to the ABI before it reaches an engine
// (host/runtime/validate.ts): the real core passes; a module broken in one
// way at a time is refused with a reason that names what is wrong, and a
// refused module never starts a Wasmtime child.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Rng } from '../../firmware-sim/rng.js';
import { Core, CORE_FUNCTION_NAMES, InvalidCoreModule, validateCoreModule } from '../../host/runtime/core.js';
import { WasmtimeEngine } from '../../host/runtime/engines/wasmtime.js';
import { openEngine } from '../../host/runtime/engines/index.js';
import { run } from '../../host/cli/main.js';
import { coreBytes } from '../support/core.js';
import { buildModule, stubCore } from '../support/wasm-build.js';

const reasonOf = (bytes: Uint8Array) => {
  const v = validateCoreModule(bytes);
  return v.ok ? null : v.reason;
};

const randomBytes = (seed: number, n: number) => {
  const rng = new Rng(seed);
  return Uint8Array.from({ length: n }, () => rng.u32() & 0xff);
};

const tick = (params: ('i32' | 'i64' | 'f32' | 'f64')[], results: ('i32' | 'i64' | 'f32' | 'f64')[] = ['i32']) =>
  stubCore((fs) => fs.map((f) => (f.name === 'tick' ? { ...f, params, results } : f)));

/** Each way to break a module, with the reason it must get. */
const BAD: [string, () => Uint8Array, RegExp][] = [
  ['random bytes', () => randomBytes(1, 4096), /^not a WebAssembly module: bad magic/],
  ['random bytes behind a valid header', () => Uint8Array.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, ...randomBytes(2, 512)]),
    /^not a (valid )?WebAssembly module: /],
  ['an empty file', () => new Uint8Array(0), /^not a WebAssembly module: 0 bytes, too short for the 8-byte header$/],
  ['a truncated core', () => coreBytes().subarray(0, Math.floor(coreBytes().length * 0.6)),
    /^not a WebAssembly module: section 10 runs past the end of the file/],
  ['a module with a garbled function body', () => {
    // Sections intact, the last body's code garbled: only the engine's validator sees it.
    const b = Uint8Array.from(stubCore());
    b[b.length - 2] = 0xff;
    return b;
  }, /^not a valid WebAssembly module: .+/],
  ['a module that imports env.abort', () => stubCore((f) => f, { imports: [{ module: 'env', name: 'abort', params: ['i32', 'i32', 'i32', 'i32'], results: [] }] }),
    /^module imports env\.abort \(func\); the core must import nothing$/],
  ['a module with a void export', () => stubCore((fs) => fs.map((f) => (f.name === 'init' ? { ...f, results: [] } : f))),
    /^export 'init' returns nothing but the ABI needs one i32 result$/],
  ['a module missing an ABI export', () => stubCore((fs) => fs.filter((f) => f.name !== 'event_value')),
    /^missing export 'event_value' \(the ABI needs \(i64\) -> i32\)$/],
  ['a module with tick taking one argument too few', () => tick(['i64', 'i32', 'i32', 'i32']),
    /^export 'tick' takes \(i64, i32, i32, i32\) but the ABI needs \(i64, i32, i32, i32, i32\)$/],
  ['a module with tick taking its time as i32', () => tick(['i32', 'i32', 'i32', 'i32', 'i32']),
    /^export 'tick' takes \(i32, i32, i32, i32, i32\) but the ABI needs \(i64, i32, i32, i32, i32\)$/],
  ['a module with tick returning f32', () => tick(['i64', 'i32', 'i32', 'i32', 'i32'], ['f32']),
    /^export 'tick' returns \(f32\) but the ABI needs \(i32\)$/],
  ['a module with tick returning two values', () => tick(['i64', 'i32', 'i32', 'i32', 'i32'], ['i32', 'i32']),
    /^export 'tick' returns \(i32, i32\) but the ABI needs \(i32\)$/],
  ['a module exporting a function the ABI does not have', () => stubCore((fs) => [...fs, { name: 'debug_dump', params: [], results: [] }]),
    /^unexpected export 'debug_dump' \(func\): the core exports the ABI functions and its memory, nothing else$/],
  ['a module without its memory', () => stubCore((f) => f, { memory: null }), /^missing export 'memory' \(the core's linear memory\)$/],
  ['a module exporting its memory under another name', () => stubCore((f) => f, { memory: 'mem' }),
    /^missing export 'memory' .*; unexpected export 'mem' \(memory\)/],
  ['a module with nothing in it', () => buildModule({ funcs: [], memory: null }),
    // Four problems named, the rest counted: every ABI function and the memory are missing.
    new RegExp(`^missing export 'init' .*; missing export 'reset' .*; and ${CORE_FUNCTION_NAMES.length + 1 - 4} more$`)],
];

describe('validateCoreModule', () => {
  it('accepts build/core.wasm and a stand-in core with the same ABI', () => {
    expect(validateCoreModule(coreBytes())).toEqual({ ok: true });
    expect(validateCoreModule(stubCore())).toEqual({ ok: true });
  });

  for (const [what, bytes, reason] of BAD) {
    it(`refuses ${what}, saying why`, () => {
      expect(reasonOf(bytes())).toMatch(reason);
    });
  }

  it('lists several problems of one module in a stable order (imports, ABI functions, extra exports)', () => {
    const b = stubCore((fs) => [...fs.filter((f) => f.name !== 'mode').map((f) => (f.name === 'reset' ? { ...f, results: [] } : f)), { name: 'x', params: [], results: ['i32'] }],
      { imports: [{ module: 'wasi', name: 'clock', params: [], results: ['i64'] }] });
    expect(reasonOf(b)).toBe("module imports wasi.clock (func); the core must import nothing; export 'reset' returns nothing but the ABI needs one i32 result; "
      + "missing export 'mode' (the ABI needs () -> i32); unexpected export 'x' (func): the core exports the ABI functions and its memory, nothing else");
  });
});

describe('no refused module reaches an engine', () => {
  it('V8: Core.fromBytes and Core.load throw InvalidCoreModule, naming the file', () => {
    expect(() => Core.fromBytes(tick(['i64', 'i32', 'i32', 'i32']))).toThrow(InvalidCoreModule);
    const dir = mkdtempSync(join(tmpdir(), 'edgeloop-validate-'));
    const path = join(dir, 'void.wasm');
    writeFileSync(path, stubCore((fs) => fs.map((f) => (f.name === 'init' ? { ...f, results: [] } : f))));
    expect(() => Core.load(path)).toThrow(`${path}: not a usable core: export 'init' returns nothing but the ABI needs one i32 result`);
  });

  it('Wasmtime: every refused module is refused before a child process starts', () => {
    const before = WasmtimeEngine.childrenStarted;
    for (const [what, bytes, reason] of BAD) {
      let err: unknown;
      try {
        openEngine('wasmtime', bytes(), what).dispose();
      } catch (e) {
        err = e;
      }
      expect(err, what).toBeInstanceOf(InvalidCoreModule);
      expect((err as InvalidCoreModule).reason, what).toMatch(reason);
    }
    expect(WasmtimeEngine.childrenStarted).toBe(before);
  });

  it('the CLI refuses a bad --core with the file and the reason, and runs nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgeloop-validate-'));
    const path = join(dir, 'imports.wasm');
    writeFileSync(path, stubCore((f) => f, { imports: [{ module: 'env', name: 'abort', params: ['i32', 'i32', 'i32', 'i32'], results: [] }] }));
    const scenario = new URL('../../firmware-sim/scenarios/thermal-stuck-sensor.json', import.meta.url).pathname;
    const errors: string[] = [];
    const log = console.error;
    console.error = (line: string) => errors.push(line);
    try {
      for (const engine of ['v8', 'wasmtime']) {
        const before = WasmtimeEngine.childrenStarted;
        const code = await run(['node', 'edgeloop', 'sim', scenario, '--core', path, '--engine', engine, '--out', join(dir, 'out')]);
        expect(code).toBe(1);
        expect(errors.pop()).toBe(`edgeloop: ${path}: not a usable core: module imports env.abort (func); the core must import nothing`);
        expect(WasmtimeEngine.childrenStarted).toBe(before);
      }
    } finally {
      console.error = log;
    }
  });
});
