// A core whose tick never returns (the watchdog tests): the real core with
// its whole ABI, except that from its 21st tick on `tick` loops forever, as
// a bug in a loop bound would. It passes validateCoreModule. Only a watchdog
// that can interrupt the thread it runs in stops it.
//
// Built by `npm run build:test-wasm` into build/loop_core.wasm with the
// core's own options.

import { tick as loop_tick } from "../../assembly/loop";
import { tick_count } from "../../assembly/index";

export * from "./core_abi";

let spin: i32 = 0;

export function tick(now_us: i64, s0: i32, s1: i32, s2: i32, fb_q16: i32): i32 {
  let u = loop_tick(now_us, s0, s1, s2, fb_q16);
  if (tick_count() > 20) {
    while (true) { spin++; }
  }
  return u;
}
