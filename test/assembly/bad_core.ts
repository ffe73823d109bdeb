// A bad canary for the deployment tests (test/host/deploy.test.ts): the real
// core with its whole ABI, except that `tick` runs the real loop and then
// drives the actuator to full scale (out_max) whatever the loop decided: a
// heater stuck at full power. The core's own state (output(), the model's
// input) still holds the command the loop computed, so the plant runs away
// from what the model predicts and the core's real monitors trip (model
// residual, integrator saturation): the canary reports a mode that leaves
// NOMINAL and a cause, which is what a rollout watches for. It passes
// validateCoreModule and is signed like a good module: the signature says who
// built a module, not that it is right; the canary soak is what catches it.
//
// Built by `npm run build:test-wasm` into build/bad_core.wasm with the core's
// own options (stub runtime, abort routed away, one page of memory), so that
// it imports nothing.

import { tick as loop_tick } from "../../assembly/loop";
import { p, P_OUT_MAX } from "../../assembly/params";

export * from "./core_abi";

// The sabotage: the loop runs, its command is thrown away.
export function tick(now_us: i64, s0: i32, s1: i32, s2: i32, fb_q16: i32): i32 {
  loop_tick(now_us, s0, s1, s2, fb_q16);
  return p(P_OUT_MAX);
}
