// First-out attribution and suppression of consequential alarms.
//
// An episode opens when a monitor whose action is DEGRADE or worse trips
// while no episode is open: that monitor is the root cause (EV_TRIP). Every
// other monitor that trips while the episode is open, and whose condition
// began within CASCADE_WINDOW ticks of the episode's latest trip (a chain of
// consequences), is consequential: it is logged once as EV_CONSEQUENTIAL and
// counted, not raised as a new alarm. A trip whose condition began later is
// an independent fault: it becomes the root of a new episode.
// Monitors that trip in the same tick are taken in the order their
// conditions began (ties: upstream first, lowest id), so a fault is named at
// the stage where it starts. The episode ends when no
// such monitor is active and the loop is back to NOMINAL.
//
// An estimation alarm that opens an episode is named once its isolation
// settles (ISOLATE_TICKS later), at the stage it settles on. If that is the
// plant with a healthy actuator (a load disturbance the primary controller
// rejects), it is a warning, not a trip, and the episode closes.

import { stage_of, M_EST_CUSUM, M_EST_EWMA, STAGE_SENSING, STAGE_ACTUATION, STAGE_ESTIMATION, STAGE_ENVELOPE, MONITORS_MAX } from "./ids";
import { invariant_failed, INV_CASCADE } from "../invariant";
import { disagreeing, mismatch } from "./actuation";
import { isolated_stage, isolation_final, ISOLATE_TICKS } from "../model";
import { p, P_CASCADE_WINDOW } from "../params";
import { event_log, count, C_ROOT_TRIPS, C_CONSEQUENTIAL, C_MON_SUPPRESSED, C_WARNINGS, C_LOADS,
  EV_TRIP, EV_CONSEQUENTIAL, EV_EPISODE_END, EV_WARN } from "../events";

export let root_monitor: i32 = -1;
export let root_stage: i32 = -1;   // where the root cause is named: the monitor's stage, or an isolated one
let isolate_at: i64 = -1;          // tick at which an estimation root's isolation is settled; -1: none pending
let suppressed: i32 = 0;
let last_trip_tick: i64 = 0;
let root_value: i32 = 0;
// Monitors logged consequential in the open episode: symptoms of its root,
// whose own reactions the guard leaves out (guard/react.ts).
export let consequential_mask: i32 = 0;           // the value logged with an estimation root's trip once it settles

export function cascade_reset(): void {
  root_monitor = -1;
  root_stage = -1;
  isolate_at = -1;
  suppressed = 0;
  last_trip_tick = 0;
  consequential_mask = 0;
}

// The stage a trip of m names: its own, except for the estimation monitors,
// which detect at the model but point at where the fault started (model.ts).
function named_stage(m: i32): i32 {
  return m == M_EST_CUSUM || m == M_EST_EWMA ? isolated_stage() : stage_of(m);
}

// onset: the tick at which m's condition began.
export function cascade_trip(tick: i64, m: i32, value: i32, onset: i64): void {
  let window = p(P_CASCADE_WINDOW);
  let independent = root_monitor >= 0 && window > 0 && onset - last_trip_tick > <i64>window;
  last_trip_tick = tick;
  if (root_monitor < 0 || independent) {
    root_monitor = m;
    root_stage = named_stage(m);
    suppressed = 0;
    consequential_mask = 0;
    isolate_at = -1;
    if (m == M_EST_CUSUM || m == M_EST_EWMA) {
      isolate_at = tick + <i64>ISOLATE_TICKS;
      root_value = value;
    } else {
      count(C_ROOT_TRIPS);
      event_log(tick, EV_TRIP, root_stage, m, value);
    }
    check_root();
  } else {
    suppressed++;
    consequential_mask |= 1 << m;
    count(C_CONSEQUENTIAL);
    count(C_MON_SUPPRESSED + m);
    event_log(tick, EV_CONSEQUENTIAL, stage_of(m), m, root_monitor);
  }
}

// Settle an estimation root's isolation once its window has passed, and
// name it: a trip at the final stage, or a load disturbance (a warning).
export function cascade_isolate(tick: i64): void {
  if (isolate_at < 0 || tick < isolate_at || root_monitor < 0) return;
  let provisional = root_stage;
  // An actuator whose feedback disagrees with its command is the answer.
  root_stage = provisional != STAGE_SENSING && disagreeing ? STAGE_ACTUATION : isolation_final(provisional);
  isolate_at = -1;
  if (root_stage == STAGE_ACTUATION && !disagreeing && !mismatch) {
    count(C_WARNINGS);
    count(C_LOADS);
    event_log(tick, EV_WARN, STAGE_ESTIMATION, root_monitor, root_value);
    root_monitor = -1;
    root_stage = -1;
    suppressed = 0;
    consequential_mask = 0;
    return;
  }
  check_root();
  count(C_ROOT_TRIPS);
  event_log(tick, EV_TRIP, root_stage, root_monitor, root_value);
}

// An episode's root is a monitor, named at a stage (invariant.ts).
function check_root(): void {
  if (<u32>root_monitor >= <u32>MONITORS_MAX || <u32>root_stage > <u32>STAGE_ENVELOPE) invariant_failed(INV_CASCADE, root_monitor);
}

export function cascade_end(tick: i64): void {
  if (root_monitor < 0) return;
  event_log(tick, EV_EPISODE_END, root_stage, root_monitor, suppressed);
  root_monitor = -1;
  root_stage = -1;
  suppressed = 0;
  consequential_mask = 0;
}
