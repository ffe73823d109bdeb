/*
 * edgeloop.h: the control core (build/core.wasm, compiled to C by wasm2c)
 * as a C library for firmware: bare metal, Zephyr or FreeRTOS alike. One
 * loop, one static instance; no heap, no OS calls, no clock: the firmware
 * passes the time (microseconds) and the raw ADC counts, and writes the
 * command it gets back to its actuator. See example_main.c for a main loop
 * and docs/core.md for what the core does.
 *
 * Every call returns an edgeloop_trap_t: 0, or the code of a trap in the
 * core (a wasm trap: out-of-bounds access, division by zero, unreachable,
 * call depth; see wasm-rt.h). A trap is the last line of defence, the core's
 * own checks latch SAFE_STOP instead. After a trap the firmware must drive
 * its actuator to edgeloop_safe_output_q16(), de-energize its trip output (a
 * core that crashed cannot vouch for the plant: a trap is a trip), call
 * edgeloop_restart() and configure the core again; until then every call
 * returns EDGELOOP_NOT_RUNNING.
 *
 * The trip output is the guard's last resort, independent of the actuator
 * command: a contactor, safe torque off, isolation valves. It is
 * de-energize to trip: the firmware energizes it only after a tick that
 * returned 0 with trip == 0, and de-energizes it at boot, on trip == 1 and
 * on any trap, so a trap, a reset (pins come up de-energized) and a cut
 * wire all end tripped. See example_main.c.
 *
 * Numbers: Q16.16 fixed point in int32_t (value * 65536) for engineering
 * units, microseconds in int64_t, raw ADC counts in int32_t,
 * EDGELOOP_SAMPLE_NONE for "no sample this tick". Parameter ids are in
 * edgeloop_params.h (generated from host/runtime/abi.ts by
 * scripts/firmware.mjs).
 *
 * Not reentrant: call it from one thread (the control task) only.
 */
#ifndef EDGELOOP_H
#define EDGELOOP_H

#include <stddef.h>
#include <stdint.h>

#include "edgeloop_params.h"

#ifdef __cplusplus
extern "C" {
#endif

/** 0, or a wasm trap code (1..8, wasm_rt_trap_t), or EDGELOOP_NOT_RUNNING. */
typedef int edgeloop_trap_t;
#define EDGELOOP_NOT_RUNNING 0x100

/** "No sample" for a raw sensor input or the actuator feedback. */
#define EDGELOOP_SAMPLE_NONE INT32_MIN
/** A constant in engineering units as Q16.16, for configuration tables. */
#define EDGELOOP_Q16(x) ((int32_t)((x) * 65536.0 + ((x) >= 0 ? 0.5 : -0.5)))

enum edgeloop_mode {
  EDGELOOP_NOMINAL = 0,
  EDGELOOP_DEGRADED = 1,
  EDGELOOP_FALLBACK = 2,
  EDGELOOP_SAFE_STOP = 3,
};

/** One parameter of a configuration table. */
typedef struct {
  int32_t id;
  int32_t value;
} edgeloop_param_t;

/** Host demands (edgeloop_demand), effective from the next tick. */
enum edgeloop_demand {
  EDGELOOP_DEMAND_NONE = 0,      /* release any demand: the loop returns by itself */
  EDGELOOP_DEMAND_FALLBACK = 1,  /* go to the fallback controller */
  EDGELOOP_DEMAND_TRIP = 2,      /* trip: de-energize the trip output */
};

/** What one tick produces. */
typedef struct {
  int32_t command_q16;       /* actuator command, Q16 output units */
  int32_t mode;              /* enum edgeloop_mode */
  int64_t next_interval_us;  /* when the core wants the next tick */
  int32_t trip;              /* 1: the core demands the trip (de-energize the trip output), 0: run permitted */
} edgeloop_tick_t;

/** First-out diagnosis and counters. */
typedef struct {
  int32_t cause_monitor;     /* root-cause monitor id, -1 = none */
  int32_t cause_stage;       /* its stage, -1 = none */
  int32_t monitors_active;   /* bit mask of active monitors */
  int64_t events_written;    /* records ever written to the event ring */
  int64_t tick_count;
  int32_t guard_status;      /* the guard's status bits (docs/core.md) */
} edgeloop_diag_t;

/** One event record (docs/core.md, Event log). */
typedef struct {
  int64_t tick;
  int32_t kind;
  int32_t stage;
  int32_t monitor;           /* or the reason of a mode event */
  int32_t value;
} edgeloop_event_t;

/** Instantiate the core (defaults, empty state). Once at boot. */
edgeloop_trap_t edgeloop_start(void);
/** After a trap: a fresh instance, defaults, empty state (not configured). */
edgeloop_trap_t edgeloop_restart(void);

edgeloop_trap_t edgeloop_abi_version(int32_t* version);
edgeloop_trap_t edgeloop_init(int32_t* status);
edgeloop_trap_t edgeloop_reset(int32_t* released);
edgeloop_trap_t edgeloop_config_begin(int32_t* status);
edgeloop_trap_t edgeloop_config_set(int32_t id, int32_t value, int32_t* status);
edgeloop_trap_t edgeloop_config_commit(int32_t* status);
edgeloop_trap_t edgeloop_config_abort(int32_t* status);
/**
 * A whole configuration as one transaction: begin, set each, commit; on the
 * first error nothing changes, *status is the error and *bad_id names the
 * parameter.
 */
edgeloop_trap_t edgeloop_configure(const edgeloop_param_t* params, size_t n, int32_t* status, int32_t* bad_id);
edgeloop_trap_t edgeloop_set_setpoint(int32_t setpoint_q16, int64_t now_us, int32_t* status);
/**
 * One tick at now_us with up to 3 raw samples and the actuator feedback
 * (Q16, or EDGELOOP_SAMPLE_NONE). Write out->command_q16 to the actuator and
 * !out->trip to the trip output, every tick. On a trap (or while the core is
 * not running), *out holds the safe output, SAFE_STOP, the last proposed
 * interval and trip = 1.
 */
edgeloop_trap_t edgeloop_tick(int64_t now_us, int32_t s0, int32_t s1, int32_t s2, int32_t feedback_q16,
                              edgeloop_tick_t* out);
/**
 * A host's (coordinator's) demand, effective from the next tick: one of
 * enum edgeloop_demand. *status is 0, or -2 for an unknown kind (nothing
 * changes). Once a demand is released, the loop returns the way it returns
 * from the guard's own causes (docs/core.md).
 */
edgeloop_trap_t edgeloop_demand(int32_t kind, int32_t* status);
edgeloop_trap_t edgeloop_diag(edgeloop_diag_t* out);
edgeloop_trap_t edgeloop_events_written(int64_t* written);
/** The record seq (valid while seq > events_written - capacity); 0 with out->kind = -1 if gone. */
edgeloop_trap_t edgeloop_event(int64_t seq, edgeloop_event_t* out);

/**
 * The output to apply when the core cannot be trusted: the safe_output of
 * the last committed configuration, kept by this library outside the
 * core's memory.
 */
int32_t edgeloop_safe_output_q16(void);

/** The core's linear memory (fault injection, diagnostics) and its size in bytes. */
uint8_t* edgeloop_memory(uint32_t* size_bytes);
/** Bytes of the instance (the core's Wasm globals and memory descriptor). */
size_t edgeloop_instance_bytes(void);

/** Raise a trap inside a guarded call (tests the safe-stop path). */
edgeloop_trap_t edgeloop_debug_trap(int code);

#ifdef __cplusplus
}
#endif

#endif /* EDGELOOP_H */
