// Debounce with a clear policy, the same for every check (ArduPilot-style
// up/down counting, PX4-style hold times). One counter per slot: it counts
// consecutive "condition true" ticks while the slot is healthy, and
// consecutive "condition false" ticks while it is active.
//
//   trip:  condition true for trip_ticks consecutive ticks
//   clear: auto policy, condition false for clear_ticks consecutive ticks;
//          latched policy, only reset() and only while the condition is false.
//
// Bit masks over the slots (active, raw, counting) keep the healthy case,
// nearly every tick, down to a few mask operations.

import { p, MON_BASE, MF_LATCHED, MF_TRIP_TICKS, MF_CLEAR_TICKS } from "../params";
import { MONITORS_MAX, SENSOR_CHECKS, SENSORS_MAX, M_SENS_STALE } from "./ids";
import { invariant_failed, INV_DEBOUNCE } from "../invariant";

// Slots 0..MONITORS_MAX-1 are the monitors; per-sensor checks follow, three
// bits (one per sensor) for each check.
export const SENSOR_SLOT_BASE: i32 = MONITORS_MAX;
export const SLOTS_MAX: i32 = MONITORS_MAX + SENSOR_CHECKS * SENSORS_MAX;
const COUNT = memory.data(SLOTS_MAX << 2);
export let slot_active: u64 = 0;
export let slot_raw: u64 = 0;
let slot_counting: u64 = 0;    // slots whose counter is nonzero
let slot_near: u64 = 0;        // healthy slots at least half way to a trip
// When each active slot's condition began (tick), for first-out by onset.
const ONSET = memory.data(SLOTS_MAX << 3);
let tick_now: i64 = 0;

// The loop tells the debouncer which tick it is before any check runs.
export function debounce_set_tick(tick: i64): void {
  tick_now = tick;
}

// The tick at which an active slot's condition began.
@inline export function slot_onset(slot: i32): i64 {
  return load<i64>(ONSET + (<usize>slot << 3));
}

@inline export function sensor_slot(m: i32, sensor: i32): i32 {
  return SENSOR_SLOT_BASE + (m - M_SENS_STALE) * SENSORS_MAX + sensor;
}

export function debounce_reset(): void {
  for (let i = 0; i < SLOTS_MAX; i++) {
    store<i32>(COUNT + (<usize>i << 2), 0);
    store<i64>(ONSET + (<usize>i << 3), 0);
  }
  tick_now = 0;
  slot_active = 0;
  slot_raw = 0;
  slot_counting = 0;
  slot_near = 0;
}

@inline export function is_active(slot: i32): bool {
  return ((slot_active >> <u64>slot) & 1) != 0;
}

// Slots that need a debounce step this tick, given this tick's raw bits.
@inline export function slots_busy(raw: u64): u64 {
  return raw | slot_active | slot_counting;
}

// Feed one tick's condition for a slot governed by monitor m's table row.
// Returns whether the slot is active afterwards. The healthy case (condition
// false, nothing active or pending) is inlined at every call site.
@inline export function debounce(slot: i32, m: i32, raw: bool): bool {
  let bit: u64 = <u64>1 << <u64>slot;
  if (!raw && ((slot_active | slot_counting | slot_raw) & bit) == 0) return false;
  return debounce_step(slot, m, raw, bit);
}

// The same for the checks of one sensor, with the busy bits read once per
// sensor (busy = sensor_busy(i); check c of the sensor is bit 3c).
@inline export function sensor_busy(i: i32): i32 {
  return <i32>((slot_active | slot_counting | slot_raw) >> <u64>(SENSOR_SLOT_BASE + i));
}

@inline export function debounce_sensor(busy: i32, m: i32, i: i32, raw: bool): bool {
  let c = m - M_SENS_STALE;
  if (!raw && ((busy >> (c * SENSORS_MAX)) & 1) == 0) return false;
  let slot = SENSOR_SLOT_BASE + c * SENSORS_MAX + i;
  return debounce_step(slot, m, raw, <u64>1 << <u64>slot);
}

function debounce_step(slot: i32, m: i32, raw: bool, bit: u64): bool {
  let at = COUNT + (<usize>slot << 2);
  let n = load<i32>(at);
  // The healthy fast path skips a slot whose counting bit is clear: the
  // counter and its bit must agree, or the slot would stall half-way.
  if ((n != 0) != ((slot_counting & bit) != 0)) invariant_failed(INV_DEBOUNCE, n);
  let active = (slot_active & bit) != 0;
  slot_raw = raw ? (slot_raw | bit) : (slot_raw & ~bit);
  let row = MON_BASE + m * 4;
  if (raw == active) {
    n = 0;                                  // nothing pending
  } else if (!active) {
    n++;
    if (n >= p(row + MF_TRIP_TICKS)) {
      store<i64>(ONSET + (<usize>slot << 3), tick_now - <i64>n + 1);
      active = true;
      n = 0;
    }
  } else if (p(row + MF_LATCHED) == 0) {
    n++;
    if (n >= p(row + MF_CLEAR_TICKS)) { active = false; n = 0; }
  }
  store<i32>(at, n);
  slot_counting = n != 0 ? (slot_counting | bit) : (slot_counting & ~bit);
  let near = !active && n > 0 && (n << 1) >= p(row + MF_TRIP_TICKS);
  slot_near = near ? (slot_near | bit) : (slot_near & ~bit);
  slot_active = active ? (slot_active | bit) : (slot_active & ~bit);
  return active;
}

// Corroboration (the two-indicator lesson of FIPER): when an alarm trips,
// any other check of alarm level (`candidates`) whose condition has already
// held for at least a quarter of its trip time is taken as confirmed and
// trips now, keeping the tick its condition began. First-out by onset then
// names the fault where it started: a frozen sensor rather than the model
// residual it moves, a stuck actuator rather than the tracking error.
// Returns the slots promoted.
export function corroborate(candidates: u64): u64 {
  let cand = slot_raw & ~slot_active & slot_counting & candidates;
  let promoted: u64 = 0;
  while (cand != 0) {
    let slot = <i32>ctz(cand);
    let bit: u64 = <u64>1 << <u64>slot;
    cand &= ~bit;
    let m = slot < SENSOR_SLOT_BASE ? slot : M_SENS_STALE + (slot - SENSOR_SLOT_BASE) / SENSORS_MAX;
    let at = COUNT + (<usize>slot << 2);
    let n = load<i32>(at);
    if ((n << 2) >= p(MON_BASE + m * 4 + MF_TRIP_TICKS)) {
      store<i64>(ONSET + (<usize>slot << 3), tick_now - <i64>n + 1);
      store<i32>(at, 0);
      slot_counting &= ~bit;
      slot_near &= ~bit;
      slot_active |= bit;
      promoted |= bit;
    }
  }
  return promoted;
}

// Trip a slot now, with the given onset (an escalated check that found its
// condition true). Returns whether it was newly activated.
export function debounce_force(slot: i32, onset: i64): bool {
  let bit: u64 = <u64>1 << <u64>slot;
  slot_raw |= bit;
  if ((slot_active & bit) != 0) return false;
  store<i64>(ONSET + (<usize>slot << 3), onset);
  store<i32>(COUNT + (<usize>slot << 2), 0);
  slot_counting &= ~bit;
  slot_near &= ~bit;
  slot_active |= bit;
  return true;
}

// A healthy slot whose condition has held for at least half its trip time
// is "near a trip" (a single-tick trip time counts as soon as it holds).
export function pending_any(): bool {
  return (slot_near & ~slot_active) != 0;
}

// The three per-sensor bits of sensing check m (bit i = sensor i).
@inline export function sensor_bits(m: i32): i32 {
  return <i32>(slot_active >> <u64>(SENSOR_SLOT_BASE + (m - M_SENS_STALE) * SENSORS_MAX)) & 7;
}

// The first sensing check (monitor id) active for sensor i, else M_SENS_STALE.
export function sensor_check_active(i: i32): i32 {
  for (let m = M_SENS_STALE; m < M_SENS_STALE + SENSOR_CHECKS; m++) {
    if (is_active(sensor_slot(m, i))) return m;
  }
  return M_SENS_STALE;
}

@inline export function sensor_slots_active(): u64 {
  return slot_active >> <u64>SENSOR_SLOT_BASE;
}

// reset(): release latched slots whose condition is false now. `restarted`:
// slots whose condition reset() itself clears (the change detectors restart),
// so they count as false. Returns how many slots were released.
export function debounce_release(restarted: u64): i32 {
  slot_raw &= ~restarted;
  let released = slot_active & ~slot_raw;
  slot_active &= slot_raw;
  for (let i = 0; i < SLOTS_MAX; i++) store<i32>(COUNT + (<usize>i << 2), 0);
  slot_counting = 0;
  slot_near = 0;
  return <i32>popcnt(released);
}
