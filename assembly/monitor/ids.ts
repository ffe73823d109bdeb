// Monitor, stage and cause ids. Monitor ids run along the loop, upstream
// first, so that the lowest id is the first-out tie-break when several trip
// in one tick.

// Stages of the loop.
export const STAGE_CORE: i32 = 0;        // the core's own integrity (soft errors)
export const STAGE_TIMING: i32 = 1;
export const STAGE_SENSING: i32 = 2;
export const STAGE_ESTIMATION: i32 = 3;
export const STAGE_CONTROL: i32 = 4;
export const STAGE_ACTUATION: i32 = 5;
export const STAGE_EARLY_WARNING: i32 = 6;
export const STAGE_ENVELOPE: i32 = 7;    // the safety envelope (the guard's own boundary)

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

// A monitor's level: whether it is off, reports a warning, or is an alarm.
// An alarm opens (or joins) an episode, gets first-out attribution and feeds
// the cause isolation; what the loop does about it is the cause's reaction
// (below), not the monitor's.
export const LEVEL_NONE: i32 = 0;
export const LEVEL_WARN: i32 = 1;
export const LEVEL_ALARM: i32 = 2;

// Reactions, ordered: later is more severe.
export const ACT_NONE: i32 = 0;
export const ACT_WARN: i32 = 1;          // report only: the primary controller keeps control
export const ACT_DEGRADE: i32 = 2;       // primary controller, degraded inputs (held setpoint, filtered, voted, estimated)
export const ACT_FALLBACK: i32 = 3;      // the fallback controller (or the command held in the safe direction)
export const ACT_SAFE_STOP: i32 = 4;     // the trip output de-energized

// Default monitor table, as data: (level, latched, trip_ticks, clear_ticks).
// Nothing latches at the monitor: a latch is a property of a cause (below).
export const MONITOR_DEFAULTS = memory.data<u16>([
  2, 0, 1, 10,       // CORE_INTEGRITY
  2, 0, 1, 10,       // TIM_CLOCK
  1, 0, 3, 10,       // TIM_OVERRUN      (warning)
  2, 0, 1, 50,       // TIM_MISSED
  2, 0, 1, 1,        // TIM_SP_STALE
  2, 0, 3, 10,       // SENS_STALE
  2, 0, 2, 10,       // SENS_RANGE
  2, 0, 1, 16,       // SENS_SPIKE
  2, 0, 200, 5,      // SENS_STUCK
  2, 0, 5, 20,       // SENS_DISAGREE
  2, 0, 100, 10,     // SENS_LOST
  2, 0, 1, 20,       // EST_CUSUM
  2, 0, 1, 20,       // EST_EWMA
  1, 0, 500, 100,    // CTL_TRACKING     (warning: the primary does what it can)
  1, 0, 200, 10,     // CTL_INTEG_SAT    (warning)
  2, 0, 1, 200,      // CTL_OSCILLATION
  1, 0, 500, 50,     // ACT_SATURATION   (warning: an actuator at the end of its authority)
  2, 0, 20, 20,      // ACT_MISMATCH
  1, 0, 1, 50,       // EW_CSD           (warning)
]);

// Causes: what failed, as the isolation names it (the stage and the kind),
// whichever monitor saw it. The reaction table maps each cause to an action;
// it is configuration (parameters REACT_BASE + cause), one named cell each.
export const CAUSES_MAX: i32 = 16;
export const CAUSE_SOFT_REPAIRED: i32 = 0;    // a soft error the scrub repaired from the shadow
export const CAUSE_SOFT_FAILED: i32 = 1;      // a soft error that could not be repaired (latched)
export const CAUSE_TIMING: i32 = 2;           // missed ticks, overruns, a clock that stalled
export const CAUSE_SETPOINT: i32 = 3;         // the host's setpoint is stale or lost: the last good one is held
export const CAUSE_SENSOR_NOISY: i32 = 4;     // spikes or zero-mean noise on a sensor that is kept: heavier filtering
export const CAUSE_SENSOR_VOTED_OUT: i32 = 5; // a bad sensor among redundant ones, out of the vote
export const CAUSE_SENSOR_UNTRUSTED: i32 = 6; // biased, frozen or lost sensing: the model estimate stands in
export const CAUSE_ACT_WEAK: i32 = 7;         // the actuator delivers less than asked, in the right direction
export const CAUSE_ACT_STUCK: i32 = 8;        // the actuator does not follow (stuck, or more than asked)
export const CAUSE_ACT_REVERSED: i32 = 9;     // the actuator moves against the command (latched)
export const CAUSE_LOAD: i32 = 10;            // the plant moved as a load disturbance would; the actuator is healthy
export const CAUSE_CONTROL: i32 = 11;         // persistent tracking error, integrator at its limit
export const CAUSE_OSCILLATION: i32 = 12;     // the primary controller rings
export const CAUSE_ENVELOPE: i32 = 13;        // the state is predicted to leave the safety envelope
export const CAUSE_HOST: i32 = 14;            // a host's demand (fallback or trip)
export const CAUSE_EARLY_WARNING: i32 = 15;   // critical slowing down of the residual

// Default reactions, one per cause (the functional-safety defaults).
export const REACTION_DEFAULTS = memory.data<u8>([
  1,   // SOFT_REPAIRED      warn
  4,   // SOFT_FAILED        trip (latched)
  1,   // TIMING             warn: the controller already uses the measured interval
  2,   // SETPOINT           hold the last good setpoint
  2,   // SENSOR_NOISY       primary controller, heavier filtering
  2,   // SENSOR_VOTED_OUT   primary controller on the remaining sensors
  2,   // SENSOR_UNTRUSTED   primary controller on the model estimate, setpoint with margin
  1,   // ACT_WEAK           warn: integral action compensates
  1,   // ACT_STUCK          warn; the envelope guard trips it if the state heads out
  4,   // ACT_REVERSED       trip (latched)
  1,   // LOAD               warn: the primary controller rejects it
  1,   // CONTROL            warn
  3,   // OSCILLATION        fallback controller
  3,   // ENVELOPE           hold the command in the safe direction; trip if that does not turn the state
  3,   // HOST               as demanded (fallback or trip)
  1,   // EARLY_WARNING      warn
]);

// Causes whose trip stays until a person resets it: the ones that need an
// inspection (an actuator that runs against its command, a core whose memory
// cannot be repaired).
export const CAUSES_LATCHING: i32 = (1 << CAUSE_SOFT_FAILED) | (1 << CAUSE_ACT_REVERSED);
