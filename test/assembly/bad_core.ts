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

export {
  init, reset, abi_version,
  param_count, param_known, param_get, param_min, param_max, param_default, param_format,
  config_begin, config_abort, config_error_param, config_set, config_commit, param_set,
  config_checksum, config_addr, config_shadow_addr,
  set_setpoint,
  mode, output, measurement, voted, estimate, residual, setpoint, tick_count, next_interval_us,
  sample_level, monitors_active, sensors_trusted, sensor, cause_monitor, cause_stage, monitor_stage,
  monitor_count, stat_cusum, counter,
  events_addr, events_capacity, events_written, event_tick, event_kind, event_stage, event_monitor, event_value,
  trip, demand, guard_status, guard_causes, guard_latched, predicted, cause_count,
} from "../../assembly/index";

// The sabotage: the loop runs, its command is thrown away.
export function tick(now_us: i64, s0: i32, s1: i32, s2: i32, fb_q16: i32): i32 {
  loop_tick(now_us, s0, s1, s2, fb_q16);
  return p(P_OUT_MAX);
}
