// The Simplex decision module. Each tick it debounces every monitor's
// condition under that monitor's row of the failsafe table (action, clear
// policy, trip and clear dwell), attributes trips first-out, and picks the
// mode from the most severe active action:
//
//   action    NONE/WARN -> NOMINAL, DEGRADE -> DEGRADED,
//             FALLBACK -> FALLBACK, SAFE_STOP -> SAFE_STOP
//
// plus: a sensor out of the vote (or the model standing in for all of them)
// is at least DEGRADED; SAFE_STOP holds until reset(). Every mode change is
// logged with its reason: the monitor that decided it, REASON_CLEARED when
// the loop recovers, or REASON_RESET after an explicit reset.

import { p, MON_BASE, MF_ACTION } from "./params";
import { MONITORS_MAX, M_SENS_STALE, M_SENS_DISAGREE, M_EST_CUSUM, M_ACT_MISMATCH, stage_of,
  ACT_WARN, ACT_DEGRADE, ACT_FALLBACK, ACT_SAFE_STOP } from "./monitor/ids";
import { debounce, slots_busy, sensor_bits, sensor_slots_active, corroborate_sensors } from "./monitor/debounce";
import { cascade_trip, cascade_end, cascade_reset, root_monitor } from "./monitor/cascade";
import { MODE_NOMINAL, MODE_DEGRADED, MODE_FALLBACK, MODE_SAFE_STOP } from "./state";
import { event_log, count, C_MON_TRIPS, C_CLEARS, C_MODE_CHANGES, C_WARNINGS,
  EV_WARN, EV_CLEAR, EV_MODE, EV_STAGE_NONE, REASON_CLEARED, REASON_RESET } from "./events";

export let active_mask: i32 = 0;
const SENSING_BITS: i32 = ((1 << (M_SENS_DISAGREE + 1)) - 1) & ~((1 << M_SENS_STALE) - 1);
// Monitors downstream of sensing (estimation, control, actuation).
const DOWNSTREAM_BITS: i32 = ((1 << (M_ACT_MISMATCH + 1)) - 1) & ~((1 << M_EST_CUSUM) - 1);

// Monitors whose action makes them alarms (degrade or worse).
function alarm_bits(): i32 {
  let bits = 0;
  for (let m = 0; m < MONITORS_MAX; m++) if (action_of(m) >= ACT_DEGRADE) bits |= 1 << m;
  return bits;
}
let reset_pending = false;

export function supervisor_reset(): void {
  active_mask = 0;
  reset_pending = false;
  cascade_reset();
}

export function supervisor_note_reset(): void {
  reset_pending = true;
}

@inline function action_of(m: i32): i32 {
  return p(MON_BASE + m * 4 + MF_ACTION);
}

// raw: one bit per monitor, the conditions seen this tick (sensor checks are
// debounced per sensor by the sensing stage and ignored here).
// Returns the new mode.
export function supervisor_step(tick: i64, raw: i32, mode: i32, sensors_short: bool, stat: i32): i32 {
  // Healthy and quiet, nearly every tick: nothing to debounce, log or decide.
  if (raw == 0 && active_mask == 0 && mode == MODE_NOMINAL && !sensors_short && !reset_pending
    && slots_busy(0) == 0 && root_monitor < 0) return MODE_NOMINAL;
  // Monitors that need a debounce step: only those with something going on.
  let now: i32 = active_mask & SENSING_BITS;
  let busy = <i32>slots_busy(<u64>raw) & ~SENSING_BITS & ((1 << MONITORS_MAX) - 1);
  while (busy != 0) {
    let m = ctz(busy);
    busy &= busy - 1;
    if (debounce(m, m, ((raw >> m) & 1) != 0)) now |= 1 << m; else now &= ~(1 << m);
  }
  // A new alarm downstream of sensing confirms a sensing check in progress.
  if ((now & ~active_mask & DOWNSTREAM_BITS & alarm_bits()) != 0) corroborate_sensors();
  // Sensing monitors: active while any sensor's check is active.
  now &= ~SENSING_BITS;
  if (sensor_slots_active() != 0) {
    for (let m = M_SENS_STALE; m <= M_SENS_DISAGREE; m++) if (sensor_bits(m) != 0) now |= 1 << m;
  }
  let changed = now ^ active_mask;
  let rising = now & ~active_mask;
  active_mask = now;
  while (changed != 0) {
    let m = ctz(changed);
    changed &= changed - 1;
    let act = action_of(m);
    if ((rising & (1 << m)) != 0) {
      count(C_MON_TRIPS + m);
      if (act >= ACT_DEGRADE) cascade_trip(tick, m, stat);
      else if (act == ACT_WARN) { count(C_WARNINGS); event_log(tick, EV_WARN, stage_of(m), m, stat); }
    } else if (act >= ACT_WARN) {
      count(C_CLEARS);
      event_log(tick, EV_CLEAR, stage_of(m), m, 0);
    }
  }
  let severity = 0;
  let reason = -1;
  let on = now;
  while (on != 0) {
    let m = ctz(on);
    on &= on - 1;
    let act = action_of(m);
    if (act > severity) { severity = act; reason = m; }
  }
  // The root cause names the transition when it is what decides the mode.
  if (root_monitor >= 0 && (now & (1 << root_monitor)) != 0 && action_of(root_monitor) == severity) reason = root_monitor;
  let next = MODE_NOMINAL;
  if (severity >= ACT_SAFE_STOP || (mode == MODE_SAFE_STOP && !reset_pending)) next = MODE_SAFE_STOP;
  else if (severity == ACT_FALLBACK) next = MODE_FALLBACK;
  else if (severity == ACT_DEGRADE || sensors_short) next = MODE_DEGRADED;
  if (next == MODE_SAFE_STOP && severity < ACT_SAFE_STOP) reason = -1; // held by the latch
  if (next != mode) {
    let why = next < mode ? (reset_pending ? REASON_RESET : REASON_CLEARED) : reason;
    if (why < 0) why = REASON_CLEARED;
    count(C_MODE_CHANGES);
    event_log(tick, EV_MODE, why < MONITORS_MAX ? stage_of(why) : EV_STAGE_NONE, why, (mode << 8) | next);
  }
  if (next == MODE_NOMINAL && severity < ACT_DEGRADE) cascade_end(tick);
  reset_pending = false;
  return next;
}
