// The gate every module passes before it reaches an engine (V8 or Wasmtime).
// ARCHITECTURE.md's ABI rules, checked on the bytes: a valid WebAssembly
// binary, no imports, every function the host calls (CORE_FUNCTIONS in
// abi.ts) exported with its exact signature and one result, and nothing else
// exported but the memory. The Wasmtime binding aborts the whole process on
// an invalid module, an import it cannot satisfy or a call to a void export,
// so a module that fails here never gets that far.

import { CORE_FUNCTIONS, CORE_FUNCTION_NAMES, CORE_MEMORY_EXPORT, type AbiSignature } from './abi.js';
import { WASM_PAGE_BYTES, functionType, parseWasm, type FuncType, type WasmModuleInfo } from './wasm-binary.js';

export type ValidationResult = { ok: true } | { ok: false; reason: string };

/** A module the host refuses to hand to an engine; `reason` says what is wrong. */
export class InvalidCoreModule extends Error {
  constructor(readonly reason: string, readonly source?: string) {
    super(`${source ? `${source}: ` : ''}not a usable core: ${reason}`);
    this.name = 'InvalidCoreModule';
  }
}

/** Problems listed in a reason before "and N more". */
const REASONS_MAX = 4;

const list = (types: readonly string[]) => `(${types.join(', ')})`;

/** What is wrong with one exported function against its ABI row, or null. */
function signatureProblem(name: string, actual: FuncType, abi: AbiSignature): string | null {
  if (list(actual.params) !== list(abi.params)) {
    return `export '${name}' takes ${list(actual.params)} but the ABI needs ${list(abi.params)}`;
  }
  if (actual.results.length === 0) return `export '${name}' returns nothing but the ABI needs one ${abi.result} result`;
  if (actual.results.length !== 1 || actual.results[0] !== abi.result) {
    return `export '${name}' returns ${list(actual.results)} but the ABI needs (${abi.result})`;
  }
  return null;
}

/** Every ABI problem of a parsed module, in a stable order (imports, then exports in ABI order, then extra exports). */
function abiProblems(info: WasmModuleInfo): string[] {
  const problems: string[] = [];
  for (const imp of info.imports) problems.push(`module imports ${imp.module}.${imp.name} (${imp.kind}); the core must import nothing`);
  const exports = new Map(info.exports.map((e) => [e.name, e]));
  for (const name of CORE_FUNCTION_NAMES) {
    const abi: AbiSignature = CORE_FUNCTIONS[name];
    const e = exports.get(name);
    if (!e) {
      problems.push(`missing export '${name}' (the ABI needs ${list(abi.params)} -> ${abi.result})`);
      continue;
    }
    if (e.kind !== 'func') {
      problems.push(`export '${name}' is a ${e.kind} but the ABI needs a function`);
      continue;
    }
    const p = signatureProblem(name, functionType(info, e.index), abi);
    if (p) problems.push(p);
  }
  const memory = exports.get(CORE_MEMORY_EXPORT);
  if (!memory) problems.push(`missing export '${CORE_MEMORY_EXPORT}' (the core's linear memory)`);
  else if (memory.kind !== 'memory') problems.push(`export '${CORE_MEMORY_EXPORT}' is a ${memory.kind} but the ABI needs the linear memory`);
  for (const e of info.exports) {
    if (e.name !== CORE_MEMORY_EXPORT && !(e.name in CORE_FUNCTIONS)) {
      problems.push(`unexpected export '${e.name}' (${e.kind}): the core exports the ABI functions and its memory, nothing else`);
    }
  }
  return problems;
}

/** The engine's own word on a module it will not compile (CompileError's message); no instance is made. */
function compileError(bytes: Uint8Array): string {
  try {
    new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>);
    return 'WebAssembly.validate rejects it';
  } catch (err) {
    return (err as Error).message;
  }
}

/** Check a module against the core's ABI before any engine instantiates it. */
export function validateCoreModule(bytes: Uint8Array): ValidationResult {
  if (!(bytes instanceof Uint8Array)) return { ok: false, reason: `not a WebAssembly module: expected bytes (a Uint8Array), received ${typeof bytes}` };
  let info: WasmModuleInfo;
  try {
    info = parseWasm(bytes);
  } catch (err) {
    return { ok: false, reason: `not a WebAssembly module: ${(err as Error).message.replace(/^wasm: /, '')}` };
  }
  if (!WebAssembly.validate(bytes as Uint8Array<ArrayBuffer>)) {
    return { ok: false, reason: `not a valid WebAssembly module: ${compileError(bytes)}` };
  }
  let problems: string[];
  try {
    problems = abiProblems(info);
  } catch (err) {
    return { ok: false, reason: `not a WebAssembly module: ${(err as Error).message.replace(/^wasm: /, '')}` };
  }
  if (problems.length === 0) return { ok: true };
  const more = problems.length > REASONS_MAX ? `; and ${problems.length - REASONS_MAX} more` : '';
  return { ok: false, reason: problems.slice(0, REASONS_MAX).join('; ') + more };
}

/** validateCoreModule, throwing InvalidCoreModule (naming `source`, a file path, say) when the module is refused. */
export function assertCoreModule(bytes: Uint8Array, source?: string): void {
  const v = validateCoreModule(bytes);
  if (!v.ok) throw new InvalidCoreModule(v.reason, source);
}

/** Bytes of linear memory the module declares (its memory's initial size; the core's never grows). */
export function declaredMemoryBytes(bytes: Uint8Array): number {
  const mem = parseWasm(bytes).memories[0];
  return mem ? Number(mem.min) * WASM_PAGE_BYTES : 0;
}
