// Configuration: a flat table of i32 parameters, each with a range, a default
// and a format. The running table (ACTIVE) changes only through commit(),
// which validates the whole staged table first: a rejected value or a
// rejected combination leaves ACTIVE untouched.
//
// Formats: Q16 = Q16.16 in engineering units; INT = plain integer (counts,
// ticks); US = microseconds; BOOL = 0/1; ACTION = supervisor action 0..4.
// host/runtime/abi.ts names the same ids; test/core/abi.test.ts checks that
// both agree.

import { MONITOR_DEFAULTS, MONITORS_MAX, REACTION_DEFAULTS, CAUSES_MAX } from "./monitor/ids";

export const FMT_INT: u8 = 0;
export const FMT_Q16: u8 = 1;
export const FMT_US: u8 = 2;
export const FMT_BOOL: u8 = 3;
export const FMT_ACTION: u8 = 4;
export const FMT_LEVEL: u8 = 5;
export const FMT_DIR: u8 = 6;

// Status codes returned by every setter.
export const OK: i32 = 0;
export const ERR_UNKNOWN_PARAM: i32 = -1;
export const ERR_RANGE: i32 = -2;
export const ERR_CONFLICT: i32 = -3;
export const ERR_STATE: i32 = -4;

// Parameter ids. Q16 thresholds of 0 mean "check disabled" where noted.
export const P_N_SENSORS: i32 = 0;        // INT 1..3 redundant sensors on one quantity
export const P_ADC_MIN: i32 = 1;          // INT lowest valid raw code
export const P_ADC_MAX: i32 = 2;          // INT highest valid raw code
export const P_S0_SCALE: i32 = 3;         // Q16 engineering units per count (nonzero)
export const P_S0_OFFSET: i32 = 4;        // Q16 engineering units at count 0
export const P_S1_SCALE: i32 = 5;
export const P_S1_OFFSET: i32 = 6;
export const P_S2_SCALE: i32 = 7;
export const P_S2_OFFSET: i32 = 8;
export const P_RANGE_MIN: i32 = 9;        // Q16 plausible range; outside trips SENS_RANGE, then clamped
export const P_RANGE_MAX: i32 = 10;
export const P_LPF_TAU: i32 = 11;         // Q16 s, first-order low-pass; 0 = off
export const P_MEDIAN3: i32 = 12;         // BOOL median-of-3 spike rejection
export const P_RATE_MAX: i32 = 13;        // Q16 units/s; 0 = off
export const P_SPIKE_THR: i32 = 14;       // Q16 |raw - median| counted as a spike; 0 = off
export const P_SPIKE_COUNT: i32 = 15;     // INT spikes within the last 16 samples that trip SENS_SPIKE
export const P_STUCK_BAND: i32 = 16;      // INT raw-code change at or below this counts as frozen
export const P_DISAGREE_THR: i32 = 17;    // Q16 redundant-sensor disagreement; 0 = off
export const P_MODEL_GAIN: i32 = 18;      // Q16 plant model static gain K
export const P_MODEL_TAU: i32 = 19;       // Q16 s plant model time constant (> 0)
export const P_MODEL_OFFSET: i32 = 20;    // Q16 model output at zero input
export const P_MODEL_CORR: i32 = 21;      // Q16 observer correction per tick, 0..1
export const P_RESID_SIGMA: i32 = 22;     // Q16 residual noise standard deviation (> 0)
export const P_CUSUM_K: i32 = 23;         // Q16 CUSUM reference value, in sigmas
export const P_CUSUM_H: i32 = 24;         // Q16 CUSUM decision interval, in sigmas
export const P_EWMA_LAMBDA: i32 = 25;     // Q16 EWMA weight, (0, 1]
export const P_EWMA_L: i32 = 26;          // Q16 EWMA limit width, in asymptotic sigmas
export const P_EW_WINDOW: i32 = 27;       // INT early-warning window (samples); 0 = off
export const P_EW_VAR_RATIO: i32 = 28;    // Q16 warn when residual variance exceeds this * sigma^2 ...
export const P_EW_AC1: i32 = 29;          // Q16 ... and its lag-1 autocorrelation exceeds this
export const P_KP: i32 = 30;              // Q16 proportional gain
export const P_TI: i32 = 31;              // Q16 s integral time; 0 = no integral action
export const P_TD: i32 = 32;              // Q16 s derivative time; 0 = no derivative
export const P_TF: i32 = 33;              // Q16 s derivative filter time constant
export const P_SP_WEIGHT: i32 = 34;       // Q16 setpoint weight b on the proportional term, 0..1
export const P_OUT_MIN: i32 = 35;         // Q16 actuator command limits
export const P_OUT_MAX: i32 = 36;
export const P_SLEW: i32 = 37;            // Q16 units/s output slew limit; 0 = unlimited
export const P_FB_SETPOINT: i32 = 38;     // Q16 fallback controller's safe setpoint
export const P_FB_KP: i32 = 39;           // Q16 fallback proportional gain
export const P_FB_TI: i32 = 40;           // Q16 s fallback integral time; 0 = P only
export const P_SAFE_OUTPUT: i32 = 41;     // Q16 SAFE_STOP command
export const P_TRACK_THR: i32 = 42;       // Q16 persistent tracking error; 0 = off
export const P_OSC_AMP: i32 = 43;         // Q16 error amplitude counted as an oscillation swing; 0 = off
export const P_OSC_CROSSINGS: i32 = 44;   // INT swings that trip CTL_OSCILLATION
export const P_OSC_WINDOW: i32 = 45;      // INT ticks within which each next swing must come
export const P_MISMATCH_THR: i32 = 46;    // Q16 |command - feedback|; 0 = off
export const P_OVERRUN_TOL_US: i32 = 47;  // US lateness tolerated before a tick counts as overrun
export const P_MISSED_COUNT: i32 = 48;    // INT missed ticks, summed over the last 16 ticks, that trip TIM_MISSED
export const P_SP_TIMEOUT_US: i32 = 49;   // US host setpoint older than this is stale; 0 = off
export const P_PERIOD_MIN_US: i32 = 50;   // US fastest sampling interval (the nominal period)
export const P_PERIOD_MAX_US: i32 = 51;   // US slowest sampling interval (action-to-sensing)
export const P_SETTLE_BAND: i32 = 52;     // Q16 |error| below this counts as settled; 0 = never slow down
export const P_SETTLE_TICKS: i32 = 53;    // INT settled ticks before the interval doubles
export const P_MODEL_DELAY_US: i32 = 54;  // US plant model dead time (up to DELAY_MAX ticks of history)
export const P_CASCADE_WINDOW: i32 = 55;  // INT a trip whose condition began within this many ticks of the
                                          // episode's last trip is consequential; later ones open a new episode; 0 = no limit
// The safety envelope and the guard (assembly/guard/).
export const P_ENV_MIN: i32 = 56;         // Q16 lowest safe value of the controlled variable (true process, not a sensor's range)
export const P_ENV_MAX: i32 = 57;         // Q16 highest safe value
export const P_ENV_MARGIN: i32 = 58;      // Q16 the guard acts when the prediction comes within this of a limit
export const P_ENV_RATE_MAX: i32 = 59;    // Q16 units/s fastest safe rate of change; 0 = no rate limit
export const P_ENV_HORIZON_US: i32 = 60;  // US prediction horizon: dead time plus the fallback's reaction; 0 = model dead time + 4 periods
export const P_ENV_HI_DIR: i32 = 61;      // DIR command direction that moves the variable away from ENV_MAX (-1 down, +1 up, 0 none: trip)
export const P_ENV_LO_DIR: i32 = 62;      // DIR the same for ENV_MIN
export const P_TRIP_FB: i32 = 63;         // Q16 actuator feedback while the trip output is de-energized (what proves the trip)
export const P_TRIP_VERIFY_US: i32 = 64;  // US the feedback must show the trip within this; 0 = not checked
export const P_HANDBACK_TICKS: i32 = 65;  // INT well inside the envelope, cause cleared, this long: back to the primary controller
export const P_HANDBACK_RETRIES: i32 = 66;// INT hand-backs per episode before the fallback holds until reset()
export const P_DIST_GAIN: i32 = 67;       // Q16 observer's load-disturbance gain per tick, 0..1; 0 = no disturbance estimate
export const P_GUARD: i32 = 68;           // BOOL 1 = the guard acts; 0 = the primary controller alone (monitors still report)
export const P_SP_MARGIN: i32 = 69;       // Q16 on the model estimate, the setpoint is kept this far inside the envelope
export const P_DIST_MAX: i32 = 70;        // Q16 the largest load the plant can see, in output units (K x the load); the
                                          // disturbance estimate is bounded at twice it; 0 = half the Q16 range
export const P_TRIP_DIR: i32 = 71;        // DIR the way the tripped process moves (-1 down, +1 up, 0 it holds or
                                          // settles inside): a limit on that side is kept by the verified hold
export const PARAMS_BASIC: i32 = 72;

// The reaction table: id = REACT_BASE + cause, one ACTION per cause (monitor/ids.ts).
export const REACT_BASE: i32 = 72;

// Per-monitor table, as data: id = MON_BASE + monitor * 4 + field.
export const MON_BASE: i32 = 96;
export const MF_ACTION: i32 = 0;          // LEVEL 0 none, 1 warn, 2 alarm
export const MF_LATCHED: i32 = 1;         // BOOL clear policy: 1 = latched until reset, 0 = auto-clear
export const MF_TRIP_TICKS: i32 = 2;      // INT consecutive ticks of the condition before a trip
export const MF_CLEAR_TICKS: i32 = 3;     // INT consecutive healthy ticks before an auto-clear (dwell)

export const PARAMS_MAX: i32 = MON_BASE + MONITORS_MAX * 4; // 172

const I32_MIN: i32 = i32.MIN_VALUE;
const I32_MAX: i32 = i32.MAX_VALUE;
const Q: i32 = 65536;

// (min, max, default) for each basic parameter, in id order; formats below.
const META_BASIC = memory.data<i32>([
  1, 3, 1,  // N_SENSORS
  I32_MIN, I32_MAX, 0,  // ADC_MIN
  I32_MIN, I32_MAX, 4095,  // ADC_MAX
  I32_MIN, I32_MAX, Q,  // S0_SCALE
  I32_MIN, I32_MAX, 0,  // S0_OFFSET
  I32_MIN, I32_MAX, Q,  // S1_SCALE
  I32_MIN, I32_MAX, 0,  // S1_OFFSET
  I32_MIN, I32_MAX, Q,  // S2_SCALE
  I32_MIN, I32_MAX, 0,  // S2_OFFSET
  -30000 * Q, 30000 * Q, -30000 * Q,  // RANGE_MIN
  -30000 * Q, 30000 * Q, 30000 * Q,  // RANGE_MAX
  0, 3600 * Q, 0,  // LPF_TAU
  0, 1, 1,  // MEDIAN3
  0, I32_MAX, 0,  // RATE_MAX
  0, I32_MAX, 0,  // SPIKE_THR
  1, 16, 4,  // SPIKE_COUNT
  0, 65535, 0,  // STUCK_BAND
  0, I32_MAX, 0,  // DISAGREE_THR
  -10000 * Q, 10000 * Q, Q,  // MODEL_GAIN
  Q / 1000, 32000 * Q, Q,  // MODEL_TAU
  -30000 * Q, 30000 * Q, 0,  // MODEL_OFFSET
  0, Q, Q / 50,  // MODEL_CORR
  Q / 1000, 10000 * Q, Q,  // RESID_SIGMA
  0, 16 * Q, Q,  // CUSUM_K
  Q / 16, 1000 * Q, 10 * Q,  // CUSUM_H
  Q / 1000, Q, Q / 10,  // EWMA_LAMBDA
  Q / 16, 100 * Q, 9 * Q / 2,  // EWMA_L
  0, 64, 0,  // EW_WINDOW
  Q, 1000 * Q, 3 * Q,  // EW_VAR_RATIO
  0, Q, 3 * Q / 4,  // EW_AC1
  -10000 * Q, 10000 * Q, Q,  // KP (negative: reverse acting)
  0, 32000 * Q, Q,  // TI
  0, 32000 * Q, 0,  // TD
  0, 3600 * Q, Q / 10,  // TF
  0, Q, Q,  // SP_WEIGHT
  -30000 * Q, 30000 * Q, 0,  // OUT_MIN
  -30000 * Q, 30000 * Q, 100 * Q,  // OUT_MAX
  0, I32_MAX, 0,  // SLEW
  -30000 * Q, 30000 * Q, 0,  // FB_SETPOINT
  -10000 * Q, 10000 * Q, Q / 5,  // FB_KP
  0, 32000 * Q, 5 * Q,  // FB_TI
  -30000 * Q, 30000 * Q, 0,  // SAFE_OUTPUT
  0, I32_MAX, 0,  // TRACK_THR
  0, I32_MAX, 0,  // OSC_AMP
  2, 1000, 6,  // OSC_CROSSINGS
  1, 1000000, 200,  // OSC_WINDOW
  0, I32_MAX, 0,  // MISMATCH_THR
  0, 10000000, 2000,  // OVERRUN_TOL_US
  1, 1000000, 3,  // MISSED_COUNT
  0, 2000000000, 0,  // SP_TIMEOUT_US (0 = off)
  100, 10000000, 10000,  // PERIOD_MIN_US
  100, 10000000, 10000,  // PERIOD_MAX_US
  0, I32_MAX, 0,  // SETTLE_BAND
  1, 1000000, 50,  // SETTLE_TICKS
  0, 600000000, 0,  // MODEL_DELAY_US
  0, 1000000000, 600,  // CASCADE_WINDOW
  -30000 * Q, 30000 * Q, -30000 * Q,  // ENV_MIN
  -30000 * Q, 30000 * Q, 30000 * Q,  // ENV_MAX
  0, I32_MAX, 0,  // ENV_MARGIN
  0, I32_MAX, 0,  // ENV_RATE_MAX
  0, 600000000, 0,  // ENV_HORIZON_US
  -1, 1, -1,  // ENV_HI_DIR
  -1, 1, 1,  // ENV_LO_DIR
  -30000 * Q, 30000 * Q, 0,  // TRIP_FB
  0, 600000000, 1000000,  // TRIP_VERIFY_US
  1, 1000000, 50,  // HANDBACK_TICKS
  0, 100, 3,  // HANDBACK_RETRIES
  0, Q, 0,  // DIST_GAIN
  0, 1, 1,  // GUARD
  0, I32_MAX, 0,  // SP_MARGIN
  0, I32_MAX, 0,  // DIST_MAX
  -1, 1, 0,  // TRIP_DIR
]);

const FORMAT_BASIC = memory.data<u8>([
  FMT_INT, FMT_INT, FMT_INT, FMT_Q16, FMT_Q16, FMT_Q16, FMT_Q16, FMT_Q16, FMT_Q16, FMT_Q16, FMT_Q16, FMT_Q16, FMT_BOOL, FMT_Q16, FMT_Q16, FMT_INT, FMT_INT, FMT_Q16, FMT_Q16, FMT_Q16, FMT_Q16, FMT_Q16, FMT_Q16, FMT_Q16, FMT_Q16, FMT_Q16, FMT_Q16, FMT_INT, FMT_Q16, FMT_Q16, FMT_Q16, FMT_Q16, FMT_Q16, FMT_Q16, FMT_Q16, FMT_Q16, FMT_Q16, FMT_Q16, FMT_Q16, FMT_Q16, FMT_Q16, FMT_Q16, FMT_Q16, FMT_Q16, FMT_INT, FMT_INT, FMT_Q16, FMT_US, FMT_INT, FMT_US, FMT_US, FMT_US, FMT_Q16, FMT_INT, FMT_US, FMT_INT,
  FMT_Q16, FMT_Q16, FMT_Q16, FMT_Q16, FMT_US, FMT_DIR, FMT_DIR, FMT_Q16, FMT_US, FMT_INT, FMT_INT, FMT_Q16, FMT_BOOL, FMT_Q16, FMT_Q16,
  FMT_DIR,
]);


// Two tables: ACTIVE runs the loop; STAGED collects a transaction.
const ACTIVE: usize = memory.data(PARAMS_MAX << 2);
const STAGED: usize = memory.data(PARAMS_MAX << 2);
let in_transaction = false;
let error_param: i32 = -1;

@inline export function p(id: i32): i32 {
  return load<i32>(ACTIVE + (<usize>id << 2));
}

export function param_known(id: i32): bool {
  return (id >= 0 && id < PARAMS_BASIC) || (id >= REACT_BASE && id < REACT_BASE + CAUSES_MAX) || (id >= MON_BASE && id < PARAMS_MAX);
}

// field: 0 min, 1 max, 2 default, 3 format. Caller checks param_known().
export function param_meta(id: i32, field: i32): i32 {
  if (id < PARAMS_BASIC) {
    return field < 3 ? load<i32>(META_BASIC + (<usize>(id * 3 + field) << 2)) : <i32>load<u8>(FORMAT_BASIC + <usize>id);
  }
  if (id < MON_BASE) {
    if (field == 0) return 0;
    if (field == 1) return 4;
    if (field == 2) return <i32>load<u8>(REACTION_DEFAULTS + <usize>(id - REACT_BASE));
    return FMT_ACTION;
  }
  let f = (id - MON_BASE) & 3;
  if (field == 0) return f == MF_TRIP_TICKS ? 1 : 0;
  if (field == 1) return f == MF_ACTION ? 2 : f == MF_LATCHED ? 1 : 65535;
  if (field == 2) return <i32>load<u16>(MONITOR_DEFAULTS + (<usize>(id - MON_BASE) << 1));
  return f == MF_ACTION ? FMT_LEVEL : f == MF_LATCHED ? FMT_BOOL : FMT_INT;
}

export function params_reset(): void {
  for (let id = 0; id < PARAMS_MAX; id++) {
    let v = param_known(id) ? param_meta(id, 2) : 0;
    store<i32>(ACTIVE + (<usize>id << 2), v);
  }
  in_transaction = false;
  error_param = -1;
}

export function config_begin(): i32 {
  memory.copy(STAGED, ACTIVE, <usize>PARAMS_MAX << 2);
  in_transaction = true;
  return OK;
}

export function config_abort(): i32 {
  in_transaction = false;
  return OK;
}

export function config_error_param(): i32 {
  return error_param;
}

// Stage one value; the range is checked now, combinations at commit.
export function param_stage(id: i32, value: i32): i32 {
  if (!in_transaction) return ERR_STATE;
  if (!param_known(id)) { error_param = id; return ERR_UNKNOWN_PARAM; }
  if (value < param_meta(id, 0) || value > param_meta(id, 1)) { error_param = id; return ERR_RANGE; }
  store<i32>(STAGED + (<usize>id << 2), value);
  return OK;
}

@inline function s(id: i32): i32 {
  return load<i32>(STAGED + (<usize>id << 2));
}

// Combinations that single ranges cannot express. Returns the offending id or -1.
function staged_conflict(): i32 {
  if (s(P_ADC_MIN) >= s(P_ADC_MAX)) return P_ADC_MIN;
  if (s(P_S0_SCALE) == 0) return P_S0_SCALE;
  if (s(P_S1_SCALE) == 0) return P_S1_SCALE;
  if (s(P_S2_SCALE) == 0) return P_S2_SCALE;
  if (s(P_RANGE_MIN) >= s(P_RANGE_MAX)) return P_RANGE_MIN;
  if (s(P_OUT_MIN) >= s(P_OUT_MAX)) return P_OUT_MIN;
  if (s(P_SAFE_OUTPUT) < s(P_OUT_MIN) || s(P_SAFE_OUTPUT) > s(P_OUT_MAX)) return P_SAFE_OUTPUT;
  if (s(P_FB_SETPOINT) < s(P_RANGE_MIN) || s(P_FB_SETPOINT) > s(P_RANGE_MAX)) return P_FB_SETPOINT;
  if (s(P_PERIOD_MIN_US) > s(P_PERIOD_MAX_US)) return P_PERIOD_MIN_US;
  if (s(P_EW_WINDOW) != 0 && s(P_EW_WINDOW) < 8) return P_EW_WINDOW;
  if (s(P_TD) > 0 && s(P_TF) == 0 && s(P_PERIOD_MIN_US) < 1000) return P_TF;
  if (s(P_ENV_MIN) >= s(P_ENV_MAX)) return P_ENV_MIN;
  return -1;
}

// Validate the staged table and make it the running one. On error ACTIVE is
// untouched and the transaction stays open so the caller can fix or abort.
export function config_commit(): i32 {
  if (!in_transaction) return ERR_STATE;
  let bad = staged_conflict();
  if (bad >= 0) { error_param = bad; return ERR_CONFLICT; }
  memory.copy(ACTIVE, STAGED, <usize>PARAMS_MAX << 2);
  in_transaction = false;
  error_param = -1;
  return OK;
}

export function config_open(): bool {
  return in_transaction;
}

// Checksum of the running table: the block sums of the scrub (below),
// folded. Any single bit flip changes it.
export function config_checksum(): i32 {
  let h: u32 = 0;
  for (let k = 0; k < SCRUB_BLOCKS; k++) h = (h << 5 | h >> 27) ^ block_sum_at(ACTIVE, k);
  return <i32>h;
}

// Scrub: the table in blocks of SCRUB_WORDS words, one block per tick, each
// compared with its own sum taken at commit. A flipped bit is seen when its
// block comes round: within one pass of SCRUB_BLOCKS ticks.
export const SCRUB_WORDS: i32 = 8;
export const SCRUB_BLOCKS: i32 = (PARAMS_MAX + SCRUB_WORDS - 1) / SCRUB_WORDS;
const BLOCK_SUM = memory.data(SCRUB_BLOCKS << 2);

// A shadow copy of the running table, taken at commit: a block that fails
// its check is repaired from the shadow when the shadow's block still
// matches (ECC-style scrubbing; the soft error is still reported).
const SHADOW: usize = memory.data(PARAMS_MAX << 2);

function block_sum_at(base: usize, block: i32): u32 {
  let a: u32 = 1;
  let b: u32 = 0;
  let end = min<i32>((block + 1) * SCRUB_WORDS, PARAMS_MAX);
  for (let id = block * SCRUB_WORDS; id < end; id++) {
    a += load<u32>(base + (<usize>id << 2));
    b += a;
  }
  return a ^ (b << 7 | b >> 25);
}

// At commit: remember every block's sum and take the shadow copy.
export function scrub_arm(): void {
  for (let id = 0; id < PARAMS_MAX; id++) store<i32>(SHADOW + (<usize>id << 2), load<i32>(ACTIVE + (<usize>id << 2)));
  for (let k = 0; k < SCRUB_BLOCKS; k++) store<u32>(BLOCK_SUM + (<usize>k << 2), block_sum_at(ACTIVE, k));
}

export const SCRUB_OK: i32 = 0;
export const SCRUB_REPAIRED: i32 = 1;
export const SCRUB_FAILED: i32 = 2;
export const SCRUB_SHADOW_REPAIRED: i32 = 3;

// Check one block against its commit-time sum; repair it from the shadow
// copy when that copy is intact. The shadow is checked too: a flip there is
// latent (the table still reads right) but leaves the next flip in the same
// block unrepairable, so it is rewritten from the active copy at once.
// Returns SCRUB_OK, SCRUB_REPAIRED, SCRUB_SHADOW_REPAIRED or SCRUB_FAILED
// (both copies bad).
export function scrub_check(block: i32): i32 {
  let want = load<u32>(BLOCK_SUM + (<usize>block << 2));
  if (block_sum_at(ACTIVE, block) == want) {
    if (block_sum_at(SHADOW, block) == want) return SCRUB_OK;
    let end = min<i32>((block + 1) * SCRUB_WORDS, PARAMS_MAX);
    for (let id = block * SCRUB_WORDS; id < end; id++) store<i32>(SHADOW + (<usize>id << 2), load<i32>(ACTIVE + (<usize>id << 2)));
    return SCRUB_SHADOW_REPAIRED;
  }
  let start = block * SCRUB_WORDS;
  let end = min<i32>(start + SCRUB_WORDS, PARAMS_MAX);
  let pick = block_sum_at(SHADOW, block) == want ? -1 : repair_mix(block, want);
  if (pick == 0) return SCRUB_FAILED;
  for (let id = start; id < end; id++) {
    let from = ((pick >> (id - start)) & 1) != 0 ? SHADOW : ACTIVE;
    let v = load<i32>(from + (<usize>id << 2));
    store<i32>(ACTIVE + (<usize>id << 2), v);
    store<i32>(SHADOW + (<usize>id << 2), v);
  }
  return SCRUB_REPAIRED;
}

// Both copies of a block fail their sum: when the soft errors hit different
// words in the two copies, some mix of words from each matches the sum taken
// at commit. Returns the words to take from the shadow (a bit per word), or
// 0 when no mix matches (the same word corrupted in both).
function repair_mix(block: i32, want: u32): i32 {
  let start = block * SCRUB_WORDS;
  let end = min<i32>(start + SCRUB_WORDS, PARAMS_MAX);
  let diff = 0;
  for (let id = start; id < end; id++) {
    if (load<i32>(ACTIVE + (<usize>id << 2)) != load<i32>(SHADOW + (<usize>id << 2))) diff |= 1 << (id - start);
  }
  // Every nonempty subset of the differing words (at most 2^SCRUB_WORDS - 1).
  let sub = diff;
  while (sub != 0) {
    if (mixed_sum(start, end, sub) == want) return sub;
    sub = (sub - 1) & diff;
  }
  return 0;
}

function mixed_sum(start: i32, end: i32, pick: i32): u32 {
  let a: u32 = 1;
  let b: u32 = 0;
  for (let id = start; id < end; id++) {
    let from = ((pick >> (id - start)) & 1) != 0 ? SHADOW : ACTIVE;
    a += load<u32>(from + (<usize>id << 2));
    b += a;
  }
  return a ^ (b << 7 | b >> 25);
}

export const CONFIG_ADDR: usize = ACTIVE;
export const SHADOW_ADDR: usize = SHADOW;
