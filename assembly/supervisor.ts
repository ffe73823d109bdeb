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
import { MONITORS_MAX, M_CORE_INTEGRITY, M_SENS_STALE, M_SENS_DISAGREE, SENSORS_MAX, stage_of,
  ACT_WARN, ACT_DEGRADE, ACT_FALLBACK, ACT_SAFE_STOP } from "./monitor/ids";
import { debounce, debounce_force, slots_busy, sensor_bits, sensor_slots_active, corroborate, slot_onset, sensor_slot, is_active } from "./monitor/debounce";
import { cascade_trip, cascade_end, cascade_reset, cascade_isolate, root_monitor } from "./monitor/cascade";
import { integrity_full_check } from "./integrity";
import { MODE_NOMINAL, MODE_DEGRADED, MODE_FALLBACK, MODE_SAFE_STOP } from "./state";
import { event_log, count, C_MON_TRIPS, C_CLEARS, C_MODE_CHANGES, C_WARNINGS,
  EV_WARN, EV_CLEAR, EV_MODE, EV_STAGE_NONE, REASON_CLEARED, REASON_RESET } from "./events";

export let active_mask: i32 = 0;
const SENSING_BITS: i32 = ((1 << (M_SENS_DISAGREE + 1)) - 1) & ~((1 << M_SENS_STALE) - 1);

// Monitors whose action makes them alarms (degrade or worse).
function alarm_bits(): i32 {
  let bits = 0;
  for (let m = 0; m < MONITORS_MAX; m++) if (action_of(m) >= ACT_DEGRADE) bits |= 1 << m;
  return bits;
}

// The debounce slots of those monitors: their own slot, or their per-sensor slots.
function alarm_slots(alarms: i32): u64 {
  let slots = <u64>(alarms & ~SENSING_BITS);
  for (let m = M_SENS_STALE; m <= M_SENS_DISAGREE; m++) {
    if ((alarms & (1 << m)) != 0) slots |= <u64>7 << <u64>(sensor_slot(m, 0));
  }
  return slots;
}

// When a monitor's condition began: its slot's onset, or the earliest of its active sensors'.
function monitor_onset(m: i32): i64 {
  if (m < M_SENS_STALE || m > M_SENS_DISAGREE) return slot_onset(m);
  let onset = i64.MAX_VALUE;
  for (let i = 0; i < SENSORS_MAX; i++) {
    let slot = sensor_slot(m, i);
    if (is_active(slot) && slot_onset(slot) < onset) onset = slot_onset(slot);
  }
  return onset;
}

// Monitors that rose this tick, ordered by the onset of their condition
// (first-out), ties to the lowest id (upstream first).
const ORDER = memory.data(MONITORS_MAX << 2);
function order_by_onset(rising: i32): i32 {
  let n = 0;
  while (rising != 0) {
    let m = ctz(rising);
    rising &= rising - 1;
    let j = n;
    let onset = monitor_onset(m);
    while (j > 0) {
      let prev = load<i32>(ORDER + (<usize>(j - 1) << 2));
      let po = monitor_onset(prev);
      if (po < onset || (po == onset && prev < m)) break;
      store<i32>(ORDER + (<usize>j << 2), prev);
      j--;
    }
    store<i32>(ORDER + (<usize>j << 2), m);
    n++;
  }
  return n;
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

// Sensing monitors are active while any sensor's check is active.
function with_sensing(now: i32): i32 {
  now &= ~SENSING_BITS;
  if (sensor_slots_active() != 0) {
    for (let m = M_SENS_STALE; m <= M_SENS_DISAGREE; m++) if (sensor_bits(m) != 0) now |= 1 << m;
  }
  return now;
}

// raw: one bit per monitor, the conditions seen this tick (sensor checks are
// debounced per sensor by the sensing stage and ignored here).
// Returns the new mode.
export function supervisor_step(tick: i64, raw: i32, mode: i32, sensors_short: bool, stat: i32): i32 {
  cascade_isolate(tick);
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
  now = with_sensing(now);
  // A new alarm confirms the other alarm-level checks already in progress,
  // and escalates the integrity check to the whole configuration at once: a
  // corrupted core is the root of whatever it provokes.
  let alarms = alarm_bits();
  if ((now & ~active_mask & alarms) != 0) {
    if ((now & 1) == 0 && integrity_full_check() && debounce_force(M_CORE_INTEGRITY, i64.MIN_VALUE)) now |= 1;
    let promoted = corroborate(alarm_slots(alarms));
    now = with_sensing(now | <i32>(promoted & ((<u64>1 << <u64>MONITORS_MAX) - 1)));
  }
  let rising = now & ~active_mask;
  let falling = active_mask & ~now;
  active_mask = now;
  let n = rising != 0 ? order_by_onset(rising) : 0;
  for (let k = 0; k < n; k++) {
    let m = load<i32>(ORDER + (<usize>k << 2));
    let act = action_of(m);
    count(C_MON_TRIPS + m);
    if (act >= ACT_DEGRADE) cascade_trip(tick, m, stat, monitor_onset(m));
    else if (act == ACT_WARN) { count(C_WARNINGS); event_log(tick, EV_WARN, stage_of(m), m, stat); }
  }
  while (falling != 0) {
    let m = ctz(falling);
    falling &= falling - 1;
    if (action_of(m) >= ACT_WARN) {
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
