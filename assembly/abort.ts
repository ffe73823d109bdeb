// The stub runtime's abort, routed here (asconfig.json "use") so that the
// module imports nothing. A trap is the only way out of a broken invariant
// in Wasm; the core's own checks never reach it (they latch a fault code
// instead), so this is the last line of defence against a compiler-inserted
// check.
export function core_abort(message: usize, file: usize, line: u32, column: u32): void {
  unreachable();
}
