// A small reader for the parts of a WebAssembly binary the host checks before
// a module reaches an engine (validate.ts) and the ABI tests hold against the
// core: the type, import, function, memory and export sections
// (LEB128-encoded). It reads the bytes itself rather than trusting an
// engine's reflection, which has no signatures and which the Wasmtime
// binding does not have at all. Spec: WebAssembly Core 2.0, 5 (Binary format).

export type ValType = 'i32' | 'i64' | 'f32' | 'f64' | 'v128' | 'funcref' | 'externref';
export type ExternKind = 'func' | 'table' | 'memory' | 'global' | 'tag';

export interface FuncType {
  params: ValType[];
  results: ValType[];
}

export interface Import {
  module: string;
  name: string;
  kind: ExternKind;
  /** For a function import: its type index. */
  typeIndex?: number;
}

export interface Export {
  name: string;
  kind: ExternKind;
  index: number;
}

export interface ExportedFunction {
  name: string;
  index: number;
  type: FuncType;
}

export interface Limits {
  min: bigint;
  max: bigint | null;
}

export interface WasmModuleInfo {
  types: FuncType[];
  imports: Import[];
  /** Type index of each function defined in the module (function section). */
  functions: number[];
  /** Limits, in 64 KiB pages, of each memory defined in the module (memory section). */
  memories: Limits[];
  exports: Export[];
  /** Section ids in file order (custom sections as 0). */
  sectionIds: number[];
}

const VAL_TYPES: Record<number, ValType> = {
  0x7f: 'i32', 0x7e: 'i64', 0x7d: 'f32', 0x7c: 'f64', 0x7b: 'v128', 0x70: 'funcref', 0x6f: 'externref',
};
const EXTERN_KINDS: ExternKind[] = ['func', 'table', 'memory', 'global', 'tag'];

export const SECTION = { custom: 0, type: 1, import: 2, function: 3, memory: 5, export: 7 } as const;

/** Bytes in one page of linear memory. */
export const WASM_PAGE_BYTES = 65536;

/** A cursor over the bytes with the LEB128 and vector readers of the spec. */
export class Reader {
  pos: number;

  constructor(readonly bytes: Uint8Array, start = 0, readonly end = bytes.length) {
    this.pos = start;
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  byte(): number {
    if (this.pos >= this.end) throw new Error(`wasm: unexpected end of data at offset ${this.pos}`);
    return this.bytes[this.pos++];
  }

  /** Unsigned LEB128 of at most `bits` bits (u32 by default). */
  u(bits = 32): bigint {
    const maxBytes = Math.ceil(bits / 7);
    let result = 0n;
    let shift = 0n;
    for (let i = 0; i < maxBytes; i++) {
      const b = this.byte();
      result |= BigInt(b & 0x7f) << shift;
      shift += 7n;
      if ((b & 0x80) === 0) {
        if (result >> BigInt(bits) !== 0n) throw new Error(`wasm: LEB128 u${bits} out of range at offset ${this.pos - 1}`);
        return result;
      }
    }
    throw new Error(`wasm: LEB128 u${bits} longer than ${maxBytes} bytes at offset ${this.pos}`);
  }

  /** Signed LEB128 of at most `bits` bits. */
  s(bits = 32): bigint {
    const maxBytes = Math.ceil(bits / 7);
    let result = 0n;
    let shift = 0n;
    for (let i = 0; i < maxBytes; i++) {
      const b = this.byte();
      result |= BigInt(b & 0x7f) << shift;
      shift += 7n;
      if ((b & 0x80) === 0) {
        if ((b & 0x40) !== 0) result -= 1n << shift;
        const lo = -(1n << BigInt(bits - 1));
        const hi = (1n << BigInt(bits - 1)) - 1n;
        if (result < lo || result > hi) throw new Error(`wasm: LEB128 s${bits} out of range at offset ${this.pos - 1}`);
        return result;
      }
    }
    throw new Error(`wasm: LEB128 s${bits} longer than ${maxBytes} bytes at offset ${this.pos}`);
  }

  u32(): number {
    return Number(this.u(32));
  }

  name(): string {
    const n = this.u32();
    if (this.pos + n > this.end) throw new Error(`wasm: name runs past the end at offset ${this.pos}`);
    const s = new TextDecoder('utf-8', { fatal: true }).decode(this.bytes.subarray(this.pos, this.pos + n));
    this.pos += n;
    return s;
  }

  valType(): ValType {
    const b = this.byte();
    const t = VAL_TYPES[b];
    if (t === undefined) throw new Error(`wasm: unknown value type 0x${b.toString(16)} at offset ${this.pos - 1}`);
    return t;
  }

  vec<T>(item: () => T): T[] {
    const n = this.u32();
    const out: T[] = [];
    for (let i = 0; i < n; i++) out.push(item());
    return out;
  }

  limits(): Limits {
    const flags = this.byte();
    if (flags > 0x07) throw new Error(`wasm: unknown limits flags 0x${flags.toString(16)}`);
    const bits = (flags & 0x04) !== 0 ? 64 : 32;
    const min = this.u(bits);
    const max = (flags & 0x01) !== 0 ? this.u(bits) : null;
    return { min, max };
  }
}

function readFuncType(r: Reader): FuncType {
  const form = r.byte();
  if (form !== 0x60) throw new Error(`wasm: type form 0x${form.toString(16)} is not a function type (0x60)`);
  return { params: r.vec(() => r.valType()), results: r.vec(() => r.valType()) };
}

function readImport(r: Reader): Import {
  const module = r.name();
  const name = r.name();
  const k = r.byte();
  const kind = EXTERN_KINDS[k];
  if (kind === undefined) throw new Error(`wasm: unknown import kind ${k}`);
  switch (kind) {
    case 'func': return { module, name, kind, typeIndex: r.u32() };
    case 'table': r.byte(); r.limits(); break;
    case 'memory': r.limits(); break;
    case 'global': r.valType(); r.byte(); break;
    case 'tag': r.byte(); r.u32(); break;
  }
  return { module, name, kind };
}

function readExport(r: Reader): Export {
  const name = r.name();
  const k = r.byte();
  const kind = EXTERN_KINDS[k];
  if (kind === undefined) throw new Error(`wasm: unknown export kind ${k}`);
  return { name, kind, index: r.u32() };
}

/** Parse the header and the type, import, function, memory and export sections. */
export function parseWasm(bytes: Uint8Array): WasmModuleInfo {
  if (bytes.length < 8) throw new Error(`wasm: ${bytes.length} bytes, too short for the 8-byte header`);
  const r = new Reader(bytes);
  const magic = [r.byte(), r.byte(), r.byte(), r.byte()];
  if (magic.join() !== '0,97,115,109') throw new Error('wasm: bad magic (not a WebAssembly binary)');
  const version = r.byte() | (r.byte() << 8) | (r.byte() << 16) | (r.byte() << 24);
  if (version !== 1) throw new Error(`wasm: unsupported binary version ${version}`);
  const info: WasmModuleInfo = { types: [], imports: [], functions: [], memories: [], exports: [], sectionIds: [] };
  while (!r.done) {
    const id = r.byte();
    const size = r.u32();
    const end = r.pos + size;
    if (end > bytes.length) throw new Error(`wasm: section ${id} runs past the end of the file`);
    const s = new Reader(bytes, r.pos, end);
    info.sectionIds.push(id);
    switch (id) {
      case SECTION.type: info.types = s.vec(() => readFuncType(s)); break;
      case SECTION.import: info.imports = s.vec(() => readImport(s)); break;
      case SECTION.function: info.functions = s.vec(() => s.u32()); break;
      case SECTION.memory: info.memories = s.vec(() => s.limits()); break;
      case SECTION.export: info.exports = s.vec(() => readExport(s)); break;
      default: s.pos = end; break;
    }
    if (s.pos !== end) throw new Error(`wasm: section ${id} has ${end - s.pos} unread bytes`);
    r.pos = end;
  }
  return info;
}

/** The type of function `index` in the function index space (imports first). */
export function functionType(info: WasmModuleInfo, index: number): FuncType {
  const imported = info.imports.filter((i) => i.kind === 'func');
  const typeIndex = index < imported.length ? imported[index].typeIndex! : info.functions[index - imported.length];
  const t = typeIndex === undefined ? undefined : info.types[typeIndex];
  if (t === undefined) throw new Error(`wasm: function ${index} has no type`);
  return t;
}

/** Every exported function with its signature, in export order. */
export function exportedFunctions(info: WasmModuleInfo): ExportedFunction[] {
  return info.exports
    .filter((e) => e.kind === 'func')
    .map((e) => ({ name: e.name, index: e.index, type: functionType(info, e.index) }));
}

export function signature(t: FuncType): string {
  return `(${t.params.join(', ')}) -> (${t.results.join(', ')})`;
}
