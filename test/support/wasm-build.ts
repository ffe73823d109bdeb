// Tiny WebAssembly modules assembled byte by byte, for the validation and
// engine tests: by default a stand-in core with every ABI function
// (CORE_FUNCTIONS), each returning zero, and its memory; options break it in
// one way at a time. Spec: WebAssembly Core 2.0, 5 (Binary format).

import { CORE_FUNCTIONS, CORE_FUNCTION_NAMES } from '../../host/runtime/abi.js';
import type { ValType } from '../../host/runtime/wasm-binary.js';

export interface FuncSpec {
  name: string;
  params: ValType[];
  results: ValType[];
  /** 'zero': return a zero of each result type; 'trap': unreachable. */
  body?: 'zero' | 'trap';
}

export interface ModuleSpec {
  funcs: FuncSpec[];
  imports?: { module: string; name: string; params: ValType[]; results: ValType[] }[];
  /** Export the memory under this name (null: no memory at all). */
  memory?: string | null;
}

const TYPE_CODE: Record<string, number> = { i32: 0x7f, i64: 0x7e, f32: 0x7d, f64: 0x7c };
const ZERO: Record<string, number[]> = {
  i32: [0x41, 0x00], i64: [0x42, 0x00], f32: [0x43, 0, 0, 0, 0], f64: [0x44, 0, 0, 0, 0, 0, 0, 0, 0],
};

function leb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

const name = (s: string) => { const b = [...new TextEncoder().encode(s)]; return [...leb(b.length), ...b]; };
const vec = (items: number[][]) => [...leb(items.length), ...items.flat()];
const section = (id: number, body: number[]) => [id, ...leb(body.length), ...body];

export function buildModule(spec: ModuleSpec): Uint8Array {
  const imports = spec.imports ?? [];
  const sigs: string[] = [];
  const typeOf = (params: ValType[], results: ValType[]) => {
    const key = `${params.join(',')}>${results.join(',')}`;
    if (!sigs.includes(key)) sigs.push(key);
    return sigs.indexOf(key);
  };
  const importTypes = imports.map((i) => typeOf(i.params, i.results));
  const funcTypes = spec.funcs.map((f) => typeOf(f.params, f.results));
  const types = sigs.map((k) => {
    const [p, r] = k.split('>').map((s) => (s ? s.split(',') : []));
    return [0x60, ...vec(p.map((t) => [TYPE_CODE[t]])), ...vec(r.map((t) => [TYPE_CODE[t]]))];
  });
  const memory = spec.memory === undefined ? 'memory' : spec.memory;
  const exports = spec.funcs.map((f, i) => [...name(f.name), 0x00, ...leb(imports.length + i)]);
  if (memory !== null) exports.push([...name(memory), 0x02, 0x00]);
  const bodies = spec.funcs.map((f) => {
    const code = f.body === 'trap' ? [0x00] : f.results.flatMap((t) => ZERO[t]);
    const body = [0x00, ...code, 0x0b]; // no locals, code, end
    return [...leb(body.length), ...body];
  });
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec(types)),
    ...(imports.length ? section(2, vec(imports.map((im, k) => [...name(im.module), ...name(im.name), 0x00, ...leb(importTypes[k])]))) : []),
    ...section(3, vec(funcTypes.map((t) => leb(t)))),
    ...(memory !== null ? section(5, vec([[0x01, 0x01, 0x01]])) : []),
    ...section(7, vec(exports)),
    ...section(10, vec(bodies)),
  ]);
}

/** Every ABI function with its own signature, returning zero. */
export function abiFuncs(): FuncSpec[] {
  return CORE_FUNCTION_NAMES.map((n) => ({ name: n, params: [...CORE_FUNCTIONS[n].params], results: [CORE_FUNCTIONS[n].result] }));
}

/** A stand-in core: the ABI, zeros, one page of memory; `edit` changes the function list. */
export function stubCore(edit: (funcs: FuncSpec[]) => FuncSpec[] = (f) => f, extra: Omit<ModuleSpec, 'funcs'> = {}): Uint8Array {
  return buildModule({ funcs: edit(abiFuncs()), ...extra });
}
