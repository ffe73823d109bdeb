// Event log: a fixed ring of EVENTS_MAX records plus i64 counters. The host
// reads it straight from linear memory (V8, wasm2c) or through getter exports
// (Wasmtime); both read the same bytes.
//
// Record layout, 16 bytes, little-endian:
//   0  u32 tick (low word)   4  u32 tick (high word)
//   8  u16 kind              10 u8 stage      11 u8 monitor (or reason code)
//   12 i32 value
// Record `seq` (0-based, counting every event ever written) lives in slot
// seq % EVENTS_MAX; it is still readable while seq >= written - EVENTS_MAX.

export const EVENTS_MAX: i32 = 64;
export const EVENT_BYTES: i32 = 16;

export const EV_TRIP: i32 = 1;          // root cause (first-out) of a new episode
export const EV_CONSEQUENTIAL: i32 = 2; // trip during an open episode: suppressed
export const EV_CLEAR: i32 = 3;         // monitor cleared
export const EV_MODE: i32 = 4;          // mode transition; value = old << 8 | new, monitor = reason
export const EV_WARN: i32 = 5;          // warning-level trip (no episode)
export const EV_RESET: i32 = 6;         // explicit reset; value = latches released
export const EV_CONFIG: i32 = 7;        // configuration committed; value = checksum
export const EV_SENSOR_OUT: i32 = 8;    // sensor excluded from the vote; value = sensor index
export const EV_SENSOR_IN: i32 = 9;     // sensor back in the vote; value = sensor index
export const EV_EPISODE_END: i32 = 10;  // all alarms of an episode cleared; value = suppressed count
export const EV_ISOLATED: i32 = 11;     // (not written since ABI 2: an estimation root's trip is logged once its stage settles)
export const EV_TRIP_OUT: i32 = 12;     // the trip output changed; value = 1 tripped (de-energized), 0 released; monitor = reason
export const EV_TRIP_FAILED: i32 = 13;  // tripped, but the actuator feedback does not show it; value = the feedback (Q16)
export const EV_HANDBACK: i32 = 14;     // back to the primary controller after the envelope cleared; value = hand-backs this episode
export const EV_DEMAND: i32 = 15;       // a host's demand; value = 0 none, 1 fallback, 2 trip
export const EV_INVARIANT: i32 = 16;    // an invariant broke (a bug); monitor = reason code (invariant.ts), value = what was found

// Reason codes beyond monitor ids, for EV_MODE.
export const EV_STAGE_NONE: i32 = 255;  // stage field of events not tied to a stage
export const REASON_CLEARED: i32 = 32;
export const REASON_RESET: i32 = 33;
export const REASON_INIT: i32 = 34;
export const REASON_CAUSE_BASE: i32 = 40; // + cause id (monitor/ids.ts): the cause that decided it

// Counters.
export const C_TICKS: i32 = 0;
export const C_EVENTS: i32 = 1;
export const C_ROOT_TRIPS: i32 = 2;
export const C_CONSEQUENTIAL: i32 = 3;
export const C_CLEARS: i32 = 4;
export const C_MODE_CHANGES: i32 = 5;
export const C_MISSED_TICKS: i32 = 6;
export const C_OVERRUNS: i32 = 7;
export const C_PARAM_REJECTS: i32 = 8;
export const C_RESETS: i32 = 9;
export const C_SPIKES_REJECTED: i32 = 10;
export const C_SUBSTITUTED_TICKS: i32 = 11;
export const C_INVALID_SAMPLES: i32 = 12;
export const C_WARNINGS: i32 = 13;
export const C_INVARIANT_FAILS: i32 = 14;
export const C_SETPOINT_REJECTS: i32 = 15;
export const C_REPAIRS: i32 = 16;        // configuration blocks repaired from the shadow copy
export const C_TRIPS_OUT: i32 = 17;      // changes of the trip output (trips and releases)
export const C_HANDBACKS: i32 = 18;      // hand-backs to the primary controller
export const C_LOADS: i32 = 19;          // estimation alarms isolated as a load disturbance (warnings)
export const C_MON_TRIPS: i32 = 32;      // + monitor id: trips of that monitor (root or not)
export const C_MON_SUPPRESSED: i32 = 64; // + monitor id: of which consequential
export const COUNTERS_MAX: i32 = 96;

const RING: usize = memory.data(EVENTS_MAX * EVENT_BYTES);
const COUNTERS: usize = memory.data(COUNTERS_MAX << 3);
let written: i64 = 0;

export function events_reset(): void {
  memory.fill(RING, 0, <usize>(EVENTS_MAX * EVENT_BYTES));
  memory.fill(COUNTERS, 0, <usize>(COUNTERS_MAX << 3));
  written = 0;
}

export function event_log(tick: i64, kind: i32, stage: i32, monitor: i32, value: i32): void {
  let at = RING + <usize>((<i32>(written & (EVENTS_MAX - 1))) * EVENT_BYTES);
  store<i64>(at, tick);
  store<u16>(at, <u16>kind, 8);
  store<u8>(at, <u8>stage, 10);
  store<u8>(at, <u8>monitor, 11);
  store<i32>(at, value, 12);
  written++;
  count(C_EVENTS);
}

// A call, not inlined: some thirty call sites inlined cost about 240 bytes.
export function count(id: i32): void {
  let at = COUNTERS + (<usize>id << 3);
  store<i64>(at, load<i64>(at) + 1);
}

export function count_add(id: i32, n: i64): void {
  let at = COUNTERS + (<usize>id << 3);
  store<i64>(at, load<i64>(at) + n);
}

export function counter_get(id: i32): i64 {
  if (id < 0 || id >= COUNTERS_MAX) return -1;
  return load<i64>(COUNTERS + (<usize>id << 3));
}

export function events_written(): i64 {
  return written;
}

export function events_addr(): usize {
  return RING;
}

// Address of record seq, or 0 if it was never written or was overwritten.
export function event_at(seq: i64): usize {
  if (seq < 0 || seq >= written || seq < written - EVENTS_MAX) return 0;
  return RING + <usize>((<i32>(seq & (EVENTS_MAX - 1))) * EVENT_BYTES);
}
