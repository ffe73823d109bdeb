// The monitors' half of the supervisor. Each tick it debounces every
// monitor's condition under that monitor's row of the table (level, clear
// policy, trip and clear dwell), attributes alarm trips first-out
// (cascade.ts) and logs warnings and clears. It returns the monitors that
// are active; what the loop does about them is decided from their causes
// (guard/react.ts).

import { p, MON_BASE, MF_ACTION } from "./params";
import { MONITORS_MAX, M_CORE_INTEGRITY, M_SENS_STALE, M_SENS_DISAGREE, SENSORS_MAX, stage_of,
  LEVEL_WARN, LEVEL_ALARM } from "./monitor/ids";
import { debounce, debounce_force, slots_busy, sensor_bits, sensor_slots_active, corroborate, slot_onset, sensor_slot, is_active } from "./monitor/debounce";
import { cascade_trip, cascade_end, cascade_reset, cascade_isolate, root_monitor } from "./monitor/cascade";
import { integrity_full_check } from "./integrity";
import { MODE_NOMINAL } from "./state";
import { event_log, count, C_MON_TRIPS, C_CLEARS, C_WARNINGS, EV_WARN, EV_CLEAR } from "./events";

export let active_mask: i32 = 0;
const SENSING_BITS: i32 = ((1 << (M_SENS_DISAGREE + 1)) - 1) & ~((1 << M_SENS_STALE) - 1);

// Monitors whose action makes them alarms (degrade or worse).
function alarm_bits(): i32 {
  let bits = 0;
  for (let m = 0; m < MONITORS_MAX; m++) if (action_of(m) >= LEVEL_ALARM) bits |= 1 << m;
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

export function supervisor_reset(): void {
  active_mask = 0;
  cascade_reset();
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
// debounced per sensor by the sensing stage and ignored here). mode: the
// loop's mode on the previous tick (an episode ends back in NOMINAL);
// stat: the CUSUM statistic, logged with a trip.
// Returns the monitors active now.
export function supervisor_step(tick: i64, raw: i32, mode: i32, stat: i32): i32 {
  cascade_isolate(tick);
  // Healthy and quiet, nearly every tick: nothing to debounce or log.
  if (raw == 0 && active_mask == 0 && slots_busy(0) == 0 && root_monitor < 0) return 0;
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
  log_changes(tick, now, stat);
  if ((now & alarms) == 0 && mode == MODE_NOMINAL) cascade_end(tick);
  return now;
}

// Rising alarms go to first-out attribution, rising warnings and every
// clear are logged.
function log_changes(tick: i64, now: i32, stat: i32): void {
  let rising = now & ~active_mask;
  let falling = active_mask & ~now;
  active_mask = now;
  let n = rising != 0 ? order_by_onset(rising) : 0;
  for (let k = 0; k < n; k++) {
    let m = load<i32>(ORDER + (<usize>k << 2));
    let level = action_of(m);
    count(C_MON_TRIPS + m);
    if (level >= LEVEL_ALARM) cascade_trip(tick, m, stat, monitor_onset(m));
    else if (level == LEVEL_WARN) { count(C_WARNINGS); event_log(tick, EV_WARN, stage_of(m), m, stat); }
  }
  while (falling != 0) {
    let m = ctz(falling);
    falling &= falling - 1;
    if (action_of(m) >= LEVEL_WARN) {
      count(C_CLEARS);
      event_log(tick, EV_CLEAR, stage_of(m), m, 0);
    }
  }
}
