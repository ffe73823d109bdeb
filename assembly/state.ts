// The loop's running state that several stages read. One loop per instance.

export const MODE_NOMINAL: i32 = 0;
export const MODE_DEGRADED: i32 = 1;
export const MODE_FALLBACK: i32 = 2;
export const MODE_SAFE_STOP: i32 = 3;

// Raw-sample sentinel: "no sample this tick" (dropout).
export const SAMPLE_NONE: i32 = i32.MIN_VALUE;

export let tick_n: i64 = 0;          // ticks run since init
export let now_us: i64 = 0;          // time of the current tick
export let last_us: i64 = 0;         // time of the previous tick
export let started: bool = false;    // first tick seen
export let level_dt: i32 = 0;        // level matching the measured dt (coefficients)
export let level_next: i32 = 0;      // proposed level for the next interval

export let mode: i32 = MODE_NOMINAL;
export let setpoint_q16: i32 = 0;    // host setpoint
export let setpoint_us: i64 = 0;     // when the host last refreshed it
export let output_q16: i32 = 0;      // actuator command applied this tick
export let output_prev_q16: i32 = 0; // command applied on the previous tick
export let meas_q16: i32 = 0;        // voted, clamped, filtered measurement the controller sees
export let voted_q16: i32 = 0;       // voted and clamped, unfiltered (residual input)
export let trusted_n: i32 = 0;       // sensors in the vote this tick (0 = model substituted)
export let estimate_q16: i32 = 0;    // model estimate
export let residual_q16: i32 = 0;    // measurement minus model prediction
export let error_q16: i32 = 0;       // active setpoint minus measurement

export function state_reset(): void {
  tick_n = 0; now_us = 0; last_us = 0; started = false;
  level_dt = 0; level_next = 0;
  mode = MODE_NOMINAL;
  setpoint_q16 = 0; setpoint_us = 0;
  output_q16 = 0; output_prev_q16 = 0;
  meas_q16 = 0; voted_q16 = 0; trusted_n = 0;
  estimate_q16 = 0; residual_q16 = 0; error_q16 = 0;
}

// Setters: AssemblyScript module globals are read-only from other modules.
export function set_time(t: i64, prev: i64, lvl: i32): void { now_us = t; last_us = prev; level_dt = lvl; started = true; }
export function set_level_next(l: i32): void { level_next = l; }
export function set_mode(m: i32): void { mode = m; }
export function set_setpoint(sp: i32, t: i64): void { setpoint_q16 = sp; setpoint_us = t; }
export function set_output(u: i32): void { output_prev_q16 = output_q16; output_q16 = u; }
export function set_measurement(voted: i32, filtered: i32, n: i32): void { voted_q16 = voted; meas_q16 = filtered; trusted_n = n; }
export function set_estimate(est: i32, r: i32): void { estimate_q16 = est; residual_q16 = r; }
export function set_error(e: i32): void { error_q16 = e; }
export function tick_done(): void { tick_n++; }
