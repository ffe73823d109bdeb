// A core that traps (the watchdog tests, test/host/trap.test.ts): the real
// core with its whole ABI, except that `tick` runs the real loop and then,
// from its 21st tick on, executes `unreachable` (a Wasm runtime error, as a
// bug that indexes out of bounds or divides by zero would raise). It passes
// validateCoreModule and is signed like a good module. A fresh instance of
// it runs 20 good ticks again before it traps.
//
// Built by `npm run build:test-wasm` into build/trap_core.wasm with the
// core's own options (stub runtime, abort routed away, one page of memory).

import { tick as loop_tick } from "../../assembly/loop";
import { tick_count } from "../../assembly/index";

export * from "./core_abi";

export function tick(now_us: i64, s0: i32, s1: i32, s2: i32, fb_q16: i32): i32 {
  let u = loop_tick(now_us, s0, s1, s2, fb_q16);
  if (tick_count() > 20) unreachable();
  return u;
}
