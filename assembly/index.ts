// The core's ABI. Rules (ARCHITECTURE.md): the module imports nothing; every
// export takes and returns only i32/i64/f64 and returns a value; nothing is
// allocated after init; time is an argument; configuration goes through
// validated setters that return a status (0 OK, <0 error) and leave the
// running configuration untouched on error. One loop per instance.

import "./abort";
import * as S from "./state";
import * as P from "./params";
import * as E from "./events";
import { tick as loop_tick, loop_reset } from "./loop";
import { invariant_clear, invariant_failed, INV_PARAMS, DEBUG } from "./invariant";
import { levels_derive, levels_n, interval_us, LEVELS_MAX } from "./levels";
import { condition_reset, trusted_mask, sensor_value } from "./condition";
import { model_reset, model_derive, detectors_reset, cusum_pos_q16, cusum_neg_q16 } from "./model";
import { pid_reset, pid_integrity_ok } from "./control/pid";
import { fallback_reset } from "./control/fallback";
import { debounce_reset, debounce_release } from "./monitor/debounce";
import { timing_reset } from "./monitor/timing";
import { control_monitors_reset } from "./monitor/control";
import { actuation_reset } from "./monitor/actuation";
import { supervisor_reset, active_mask } from "./supervisor";
import { react_reset, react_derive, react_release, react_demand, trip_out, causes, guard_status_bits, latched_causes } from "./guard/react";
import { envelope_reset, envelope_derive, predicted_q16 } from "./guard/envelope";
import { root_monitor, root_stage } from "./monitor/cascade";
import { stage_of, MONITORS_MAX, CAUSES_MAX, M_CORE_INTEGRITY, M_EST_CUSUM, M_EST_EWMA, M_EW_CSD } from "./monitor/ids";
import { integrity_arm, integrity_failed } from "./integrity";

// 3: assertions(), the `invariant` event.
const ABI_VERSION: i32 = 3;

function derive(): void {
  levels_derive();
  // The interval range may have shrunk under a settled loop.
  if (S.level_next >= levels_n) S.set_level_next(levels_n - 1);
  model_derive();
  envelope_derive();
  react_derive();
  integrity_arm();
  // What the tick relies on from a validated table (invariant.ts).
  if (levels_n < 1 || levels_n > LEVELS_MAX || interval_us(0) <= 0) invariant_failed(INV_PARAMS, levels_n);
}

// ---- lifecycle -----------------------------------------------------------

// Defaults, empty state. Called once at instantiation; call again to restart.
export function init(): i32 {
  P.params_reset();
  S.state_reset();
  E.events_reset();
  debounce_reset();
  condition_reset();
  model_reset();
  pid_reset();
  fallback_reset();
  timing_reset();
  control_monitors_reset();
  actuation_reset();
  supervisor_reset();
  react_reset();
  envelope_reset();
  loop_reset();
  derive();
  return P.OK;
}
init();

// An operator's reset: release the latches whose condition is false now
// (a latched trip, the fallback held by the retry limit, latched monitors),
// and restart the change detectors. Returns how many latches were released.
export function reset(): i32 {
  detectors_reset();
  invariant_clear();
  let restarted = (<u64>1 << <u64>M_EST_CUSUM) | (<u64>1 << <u64>M_EST_EWMA) | (<u64>1 << <u64>M_EW_CSD);
  // The integrity monitor is released only when the configuration scrub and
  // the shadowed integrator both check out now.
  if (!integrity_failed() && pid_integrity_ok()) restarted |= <u64>1 << <u64>M_CORE_INTEGRITY;
  let released = debounce_release(restarted) + react_release();
  E.count(E.C_RESETS);
  E.event_log(S.tick_n, E.EV_RESET, E.EV_STAGE_NONE, E.REASON_RESET, released);
  return released;
}

export function abi_version(): i32 { return ABI_VERSION; }
// 1: the debug build (a broken invariant traps, invariant.ts); 0: the field build.
export function assertions(): i32 { return DEBUG ? 1 : 0; }

// ---- configuration -------------------------------------------------------

export function param_count(): i32 { return P.PARAMS_MAX; }
export function param_known(id: i32): i32 { return P.param_known(id) ? 1 : 0; }
export function param_get(id: i32): i32 { return P.param_known(id) ? P.p(id) : 0; }
export function param_min(id: i32): i32 { return P.param_known(id) ? P.param_meta(id, 0) : 0; }
export function param_max(id: i32): i32 { return P.param_known(id) ? P.param_meta(id, 1) : 0; }
export function param_default(id: i32): i32 { return P.param_known(id) ? P.param_meta(id, 2) : 0; }
export function param_format(id: i32): i32 { return P.param_known(id) ? P.param_meta(id, 3) : -1; }

export function config_begin(): i32 { return P.config_begin(); }
export function config_abort(): i32 { return P.config_abort(); }
export function config_error_param(): i32 { return P.config_error_param(); }

export function config_set(id: i32, value: i32): i32 {
  let st = P.param_stage(id, value);
  if (st != P.OK) E.count(E.C_PARAM_REJECTS);
  return st;
}

export function config_commit(): i32 {
  let st = P.config_commit();
  if (st != P.OK) { E.count(E.C_PARAM_REJECTS); return st; }
  derive();
  E.event_log(S.tick_n, E.EV_CONFIG, E.EV_STAGE_NONE, 0, P.config_checksum());
  return st;
}

// One parameter in its own transaction.
export function param_set(id: i32, value: i32): i32 {
  if (P.config_open()) return P.ERR_STATE;
  P.config_begin();
  let st = config_set(id, value);
  if (st == P.OK) st = config_commit();
  if (st != P.OK) P.config_abort();
  return st;
}

export function config_checksum(): i32 { return P.config_checksum(); }
export function config_addr(): i32 { return <i32>P.CONFIG_ADDR; }
// The shadow copy the scrub repairs from (for fault-injection campaigns).
export function config_shadow_addr(): i32 { return <i32>P.SHADOW_ADDR; }

// ---- running -------------------------------------------------------------

// The host's setpoint, with the time it was issued (for the stale check).
// Refused (ERR_RANGE, the last good one stays) outside the sensors' range
// or within env_margin of the safety envelope's limits: a setpoint the guard
// would have to fight is bad input.
export function set_setpoint(sp_q16: i32, now_us: i64): i32 {
  let margin = <i64>P.p(P.P_ENV_MARGIN);
  if (sp_q16 < P.p(P.P_RANGE_MIN) || sp_q16 > P.p(P.P_RANGE_MAX)
    || <i64>sp_q16 < <i64>P.p(P.P_ENV_MIN) + margin || <i64>sp_q16 > <i64>P.p(P.P_ENV_MAX) - margin) {
    E.count(E.C_SETPOINT_REJECTS);
    return P.ERR_RANGE;
  }
  S.set_setpoint(sp_q16, now_us);
  return P.OK;
}

// One tick. s0..s2: raw sensor samples (counts), SAMPLE_NONE (i32 min) for
// "no sample"; fb_q16: actuator feedback, SAMPLE_NONE if there is none.
// Returns the actuator command (Q16).
export function tick(now_us: i64, s0: i32, s1: i32, s2: i32, fb_q16: i32): i32 {
  return loop_tick(now_us, s0, s1, s2, fb_q16);
}

// The trip output after the last tick: 1 = tripped (de-energize the
// contactor, safe torque off, close the isolation valves), 0 = run permitted.
// Independent of the actuator command; a host drives it every tick.
export function trip(): i32 { return trip_out ? 1 : 0; }

// A host's demand from the next tick: 0 none (return), 1 fallback, 2 trip.
// Returns 0, or ERR_RANGE for an unknown kind (nothing changes).
export function demand(kind: i32): i32 {
  return react_demand(S.tick_n, kind) ? P.OK : P.ERR_RANGE;
}

// ---- state readers -------------------------------------------------------

export function mode(): i32 { return S.mode; }
export function output(): i32 { return S.output_q16; }
export function measurement(): i32 { return S.meas_q16; }
export function voted(): i32 { return S.voted_q16; }
export function estimate(): i32 { return S.estimate_q16; }
export function residual(): i32 { return S.residual_q16; }
export function setpoint(): i32 { return S.setpoint_q16; }
export function tick_count(): i64 { return S.tick_n; }
export function next_interval_us(): i64 { return interval_us(S.level_next); }
export function sample_level(): i32 { return S.level_next; }
export function monitors_active(): i32 { return active_mask; }
export function sensors_trusted(): i32 { return trusted_mask; }
export function sensor(i: i32): i32 { return i >= 0 && i < 3 ? sensor_value(i) : 0; }
export function cause_monitor(): i32 { return root_monitor; }
// The stage the root cause is named at: the monitor's own, or for the
// estimation monitors the stage their residual points at (sensing or actuation).
export function cause_stage(): i32 { return root_monitor >= 0 ? root_stage : -1; }
export function monitor_stage(m: i32): i32 { return m >= 0 && m < MONITORS_MAX ? stage_of(m) : -1; }
export function monitor_count(): i32 { return MONITORS_MAX; }
// The guard: status bits (docs/core.md), the causes active (bit per cause),
// the latched causes, and the envelope's prediction at the horizon (Q16).
export function guard_status(): i32 { return guard_status_bits(); }
export function guard_causes(): i32 { return causes; }
export function guard_latched(): i32 { return latched_causes(); }
export function predicted(): i32 { return predicted_q16; }
export function cause_count(): i32 { return CAUSES_MAX; }
export function stat_cusum(): i32 { return cusum_pos_q16 > cusum_neg_q16 ? cusum_pos_q16 : -cusum_neg_q16; }
export function counter(id: i32): i64 { return E.counter_get(id); }

// ---- event log -----------------------------------------------------------

export function events_addr(): i32 { return <i32>E.events_addr(); }
export function events_capacity(): i32 { return E.EVENTS_MAX; }
export function events_written(): i64 { return E.events_written(); }
// Getters for engines that cannot read linear memory. -1 when seq is gone.
export function event_tick(seq: i64): i64 { let a = E.event_at(seq); return a == 0 ? -1 : load<i64>(a); }
export function event_kind(seq: i64): i32 { let a = E.event_at(seq); return a == 0 ? -1 : <i32>load<u16>(a, 8); }
export function event_stage(seq: i64): i32 { let a = E.event_at(seq); return a == 0 ? -1 : <i32>load<u8>(a, 10); }
export function event_monitor(seq: i64): i32 { let a = E.event_at(seq); return a == 0 ? -1 : <i32>load<u8>(a, 11); }
export function event_value(seq: i64): i32 { let a = E.event_at(seq); return a == 0 ? -1 : load<i32>(a, 12); }
