/*
 * edgeloop.c: the public API (edgeloop.h) over the wasm2c output of
 * core.wasm (core.h, wabt 1.0.32 names: Z_edgeloopZ_<export>). Portable C:
 * the same file runs on the hosted wasm2c runtime (native harness, wabt's
 * wasm-rt-impl.c, guard pages) and on the bare-metal one (wasm-rt-mcu.c,
 * static memory, software bounds checks).
 *
 * Every call into the core runs under wasm_rt_impl_try(): a trap longjmps
 * back here, the instance is marked dead and the trap code goes up to the
 * caller's main loop, which applies the safe output and restarts.
 */
#include "edgeloop.h"
#include "edgeloop_internal.h"

#include "core.h"
#if defined(EDGELOOP_MCU)
#include "wasm-rt-mcu.h"
#else
#include "wasm-rt-impl.h"
#endif

/* A tick probe (a timer read before and after the core's tick), optional:
 * the MCU build measures instructions per tick with it (mcu/probe.h). */
#if defined(EDGELOOP_PROBE_HEADER)
#include EDGELOOP_PROBE_HEADER
#endif
#ifndef EDGELOOP_PROBE_BEGIN
#define EDGELOOP_PROBE_BEGIN() ((void)0)
#define EDGELOOP_PROBE_END() ((void)0)
#endif

typedef Z_edgeloop_instance_t core_t;

static core_t s_core;
static bool s_module_ready;   /* function types registered (once) */
static bool s_allocated;      /* s_core holds a memory */
static bool s_live;           /* instantiated and not trapped since */
static int32_t s_safe_q16;    /* safe_output of the last committed configuration */
static int64_t s_interval_us; /* last proposed interval */

/* Run `body` under a trap guard; on a trap, mark the core dead and return
 * the code. `body` may only assign results through pointers. */
#define GUARDED(body)                          \
  do {                                         \
    if (!s_live) return EDGELOOP_NOT_RUNNING;  \
    int trap_ = wasm_rt_impl_try();            \
    if (trap_ != 0) {                          \
      s_live = false;                          \
      return trap_;                            \
    }                                          \
    body;                                      \
    return 0;                                  \
  } while (0)

static void capture_safe_output(void) {
  s_safe_q16 = (int32_t)Z_edgeloopZ_param_get(&s_core, (u32)EL_P_SAFE_OUTPUT);
}

static edgeloop_trap_t instantiate(void) {
  int trap = wasm_rt_impl_try();
  if (trap != 0) {
    s_live = false;
    return trap;
  }
  if (!s_module_ready) {
    wasm_rt_init();
    Z_edgeloop_init_module();
    s_module_ready = true;
  }
  if (s_allocated) {
    s_allocated = false;
    Z_edgeloop_free(&s_core);
  }
  s_allocated = true;
  Z_edgeloop_instantiate(&s_core); /* runs the start function: init() */
  capture_safe_output();
  s_interval_us = (int64_t)Z_edgeloopZ_next_interval_us(&s_core);
  s_live = true;
  return 0;
}

edgeloop_trap_t edgeloop_start(void) { return instantiate(); }

edgeloop_trap_t edgeloop_restart(void) { return instantiate(); }

edgeloop_trap_t edgeloop_abi_version(int32_t* version) {
  GUARDED(*version = (int32_t)Z_edgeloopZ_abi_version(&s_core));
}

edgeloop_trap_t edgeloop_init(int32_t* status) {
  GUARDED({
    *status = (int32_t)Z_edgeloopZ_init(&s_core);
    capture_safe_output();
  });
}

edgeloop_trap_t edgeloop_reset(int32_t* released) {
  GUARDED(*released = (int32_t)Z_edgeloopZ_reset(&s_core));
}

edgeloop_trap_t edgeloop_config_begin(int32_t* status) {
  GUARDED(*status = (int32_t)Z_edgeloopZ_config_begin(&s_core));
}

edgeloop_trap_t edgeloop_config_set(int32_t id, int32_t value, int32_t* status) {
  GUARDED(*status = (int32_t)Z_edgeloopZ_config_set(&s_core, (u32)id, (u32)value));
}

edgeloop_trap_t edgeloop_config_commit(int32_t* status) {
  GUARDED({
    *status = (int32_t)Z_edgeloopZ_config_commit(&s_core);
    if (*status == 0) capture_safe_output();
  });
}

edgeloop_trap_t edgeloop_config_abort(int32_t* status) {
  GUARDED(*status = (int32_t)Z_edgeloopZ_config_abort(&s_core));
}

edgeloop_trap_t edgeloop_configure(const edgeloop_param_t* params, size_t n, int32_t* status, int32_t* bad_id) {
  GUARDED({
    *bad_id = -1;
    *status = (int32_t)Z_edgeloopZ_config_begin(&s_core);
    for (size_t i = 0; i < n && *status == 0; i++) {
      *status = (int32_t)Z_edgeloopZ_config_set(&s_core, (u32)params[i].id, (u32)params[i].value);
      if (*status != 0) *bad_id = params[i].id;
    }
    if (*status == 0) {
      *status = (int32_t)Z_edgeloopZ_config_commit(&s_core);
      if (*status != 0) *bad_id = (int32_t)Z_edgeloopZ_config_error_param(&s_core);
    }
    if (*status != 0) {
      (void)Z_edgeloopZ_config_abort(&s_core);
    } else {
      capture_safe_output();
    }
  });
}

edgeloop_trap_t edgeloop_set_setpoint(int32_t setpoint_q16, int64_t now_us, int32_t* status) {
  GUARDED(*status = (int32_t)Z_edgeloopZ_set_setpoint(&s_core, (u32)setpoint_q16, (u64)now_us));
}

edgeloop_trap_t edgeloop_tick(int64_t now_us, int32_t s0, int32_t s1, int32_t s2, int32_t feedback_q16,
                              edgeloop_tick_t* out) {
  /* What holds if the core traps or is not running: a core that cannot
   * answer demands the trip, like a cut wire on a de-energize-to-trip line. */
  out->command_q16 = s_safe_q16;
  out->mode = EDGELOOP_SAFE_STOP;
  out->next_interval_us = s_interval_us;
  out->trip = 1;
  GUARDED({
    EDGELOOP_PROBE_BEGIN();
    u32 command = Z_edgeloopZ_tick(&s_core, (u64)now_us, (u32)s0, (u32)s1, (u32)s2, (u32)feedback_q16);
    EDGELOOP_PROBE_END();
    out->command_q16 = (int32_t)command;
    out->mode = (int32_t)Z_edgeloopZ_mode(&s_core);
    s_interval_us = (int64_t)Z_edgeloopZ_next_interval_us(&s_core);
    out->next_interval_us = s_interval_us;
    out->trip = (int32_t)Z_edgeloopZ_trip(&s_core);
  });
}

edgeloop_trap_t edgeloop_demand(int32_t kind, int32_t* status) {
  GUARDED(*status = (int32_t)Z_edgeloopZ_demand(&s_core, (u32)kind));
}

edgeloop_trap_t edgeloop_diag(edgeloop_diag_t* out) {
  GUARDED({
    out->cause_monitor = (int32_t)Z_edgeloopZ_cause_monitor(&s_core);
    out->cause_stage = (int32_t)Z_edgeloopZ_cause_stage(&s_core);
    out->monitors_active = (int32_t)Z_edgeloopZ_monitors_active(&s_core);
    out->events_written = (int64_t)Z_edgeloopZ_events_written(&s_core);
    out->tick_count = (int64_t)Z_edgeloopZ_tick_count(&s_core);
    out->guard_status = (int32_t)Z_edgeloopZ_guard_status(&s_core);
  });
}

edgeloop_trap_t edgeloop_events_written(int64_t* written) {
  GUARDED(*written = (int64_t)Z_edgeloopZ_events_written(&s_core));
}

edgeloop_trap_t edgeloop_event(int64_t seq, edgeloop_event_t* out) {
  GUARDED({
    out->tick = (int64_t)Z_edgeloopZ_event_tick(&s_core, (u64)seq);
    out->kind = (int32_t)Z_edgeloopZ_event_kind(&s_core, (u64)seq);
    out->stage = (int32_t)Z_edgeloopZ_event_stage(&s_core, (u64)seq);
    out->monitor = (int32_t)Z_edgeloopZ_event_monitor(&s_core, (u64)seq);
    out->value = (int32_t)Z_edgeloopZ_event_value(&s_core, (u64)seq);
  });
}

int32_t edgeloop_safe_output_q16(void) { return s_safe_q16; }

uint8_t* edgeloop_memory(uint32_t* size_bytes) {
  if (!s_allocated) {
    if (size_bytes != NULL) *size_bytes = 0;
    return NULL;
  }
  wasm_rt_memory_t* memory = Z_edgeloopZ_memory(&s_core);
  if (size_bytes != NULL) *size_bytes = memory->size;
  return memory->data;
}

size_t edgeloop_instance_bytes(void) { return sizeof(core_t); }

core_t* edgeloop_core_instance(void) { return s_live ? &s_core : NULL; }

edgeloop_trap_t edgeloop_debug_trap(int code) {
  GUARDED(wasm_rt_trap((wasm_rt_trap_t)code));
}
