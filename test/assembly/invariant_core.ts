// A core with a bug that breaks one of its invariants (the debug-build
// tests, test/sim/debug-build.test.ts): the real core with its whole ABI,
// except that its 21st tick, after running the real loop, reports the
// cascade's invariant broken (INV_CASCADE, value 77), as a bug that left an
// episode's root cause without a stage would. Built twice by
// `npm run build:test-wasm`: build/invariant_core.debug.wasm with
// assertions on (the tick traps) and build/invariant_core.wasm with them
// compiled out (the tick counts the failure and latches the safe stop).

import { tick as loop_tick } from "../../assembly/loop";
import { tick_count } from "../../assembly/index";
import { invariant_failed, INV_CASCADE } from "../../assembly/invariant";

export * from "./core_abi";

export function tick(now_us: i64, s0: i32, s1: i32, s2: i32, fb_q16: i32): i32 {
  let u = loop_tick(now_us, s0, s1, s2, fb_q16);
  if (tick_count() == 21) invariant_failed(INV_CASCADE, 77);
  return u;
}
