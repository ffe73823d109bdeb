// The core's whole ABI but `tick`, for the test cores that replace only
// their tick (bad_core.ts, trap_core.ts, loop_core.ts): each re-exports this
// and defines its own `tick`.

export {
  init, reset, abi_version, assertions,
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
