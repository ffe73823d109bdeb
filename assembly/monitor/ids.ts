// Monitor and stage ids. Monitor ids run along the loop, upstream first, so
// that the lowest id is the first-out tie-break when several trip in one tick.

// Stages of the loop.
export const STAGE_CORE: i32 = 0;        // the core's own integrity (soft errors)
export const STAGE_TIMING: i32 = 1;
export const STAGE_SENSING: i32 = 2;
export const STAGE_ESTIMATION: i32 = 3;
export const STAGE_CONTROL: i32 = 4;
export const STAGE_ACTUATION: i32 = 5;
export const STAGE_EARLY_WARNING: i32 = 6;

export const MONITORS_MAX: i32 = 19;
export const M_CORE_INTEGRITY: i32 = 0;  // config checksum or shadowed state mismatch
export const M_TIM_CLOCK: i32 = 1;       // time did not advance
export const M_TIM_OVERRUN: i32 = 2;     // tick started later than its tolerance
export const M_TIM_MISSED: i32 = 3;      // whole ticks missed
export const M_TIM_SP_STALE: i32 = 4;    // host setpoint not refreshed in time
export const M_SENS_STALE: i32 = 5;      // no valid sample (dropout, invalid code)
export const M_SENS_RANGE: i32 = 6;      // outside the plausible range
export const M_SENS_SPIKE: i32 = 7;      // rate of change or repeated spikes
export const M_SENS_STUCK: i32 = 8;      // frozen raw code
export const M_SENS_DISAGREE: i32 = 9;   // redundant sensors disagree
export const M_SENS_LOST: i32 = 10;      // no trusted sensor left; model substitution ran too long
export const M_EST_CUSUM: i32 = 11;      // model residual: two-sided CUSUM
export const M_EST_EWMA: i32 = 12;       // model residual: EWMA chart
export const M_CTL_TRACKING: i32 = 13;   // persistent tracking error
export const M_CTL_INTEG_SAT: i32 = 14;  // integrator held at its limit
export const M_CTL_OSCILLATION: i32 = 15;// sustained oscillation of the error
export const M_ACT_SATURATION: i32 = 16; // command held at a limit
export const M_ACT_MISMATCH: i32 = 17;   // commanded vs fed-back actuator position
export const M_EW_CSD: i32 = 18;         // critical slowing down of the residual (warning)

// Sensing checks that are kept per sensor (a sensor with any of them active
// is excluded from the vote). Indexed from M_SENS_STALE.
export const SENSOR_CHECKS: i32 = 5;
export const SENSORS_MAX: i32 = 3;

// Stage of each monitor.
const STAGE_OF = memory.data<u8>([
  0, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 3, 3, 4, 4, 4, 5, 5, 6,
]);

@inline export function stage_of(m: i32): i32 {
  return <i32>load<u8>(STAGE_OF + <usize>m);
}

// Supervisor actions, ordered: later is more severe.
export const ACT_NONE: i32 = 0;
export const ACT_WARN: i32 = 1;
export const ACT_DEGRADE: i32 = 2;
export const ACT_FALLBACK: i32 = 3;
export const ACT_SAFE_STOP: i32 = 4;

// Default failsafe table, as data: (action, latched, trip_ticks, clear_ticks).
export const MONITOR_DEFAULTS = memory.data<u16>([
  4, 1, 1, 0,        // CORE_INTEGRITY   safe stop, latched
  3, 0, 1, 10,       // TIM_CLOCK        fallback
  1, 0, 3, 10,       // TIM_OVERRUN      warn
  3, 0, 1, 50,       // TIM_MISSED       fallback
  3, 0, 1, 1,        // TIM_SP_STALE     fallback to the safe setpoint
  2, 0, 3, 10,       // SENS_STALE       degrade (exclude the sensor)
  2, 0, 2, 10,       // SENS_RANGE       degrade
  2, 0, 1, 16,       // SENS_SPIKE       degrade
  2, 0, 200, 5,      // SENS_STUCK       degrade
  2, 0, 5, 20,       // SENS_DISAGREE    degrade
  4, 1, 100, 0,      // SENS_LOST        safe stop, latched
  3, 1, 1, 0,        // EST_CUSUM        fallback, latched
  3, 1, 1, 0,        // EST_EWMA         fallback, latched
  3, 0, 500, 100,    // CTL_TRACKING     fallback
  1, 0, 200, 10,     // CTL_INTEG_SAT    warn
  3, 0, 1, 200,      // CTL_OSCILLATION  fallback
  3, 0, 500, 50,     // ACT_SATURATION   fallback
  4, 1, 20, 0,       // ACT_MISMATCH     safe stop, latched
  1, 0, 1, 50,       // EW_CSD           warn
]);
