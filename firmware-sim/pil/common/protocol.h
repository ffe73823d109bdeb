/*
 * The line protocol every non-JS target speaks (firmware-sim/pil/PROTOCOL.md):
 * one command line in, one reply line out. The same engine runs in the
 * native harness (stdin/stdout) and in the firmware (UART); only the
 * transport and the tick probe differ.
 */
#ifndef EDGELOOP_PROTOCOL_H
#define EDGELOOP_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Longest command line accepted, without the newline. */
#define EL_PROTO_LINE_MAX 120
/** Room for any reply, with its terminating NUL (no newline). */
#define EL_PROTO_REPLY_MAX 160

/** What a target adds to the engine. */
typedef struct {
  /** "native", "cortex-m3", "cortex-m4". */
  const char* target;
  /** Whether `Q` ends the session (a process can exit, a firmware cannot). */
  int can_quit;
  /**
   * The cost of the last tick, if the target measures it: returns 1 and
   * sets *cost, or 0. The unit is cost_unit ("insn" under QEMU).
   */
  int (*tick_cost)(uint32_t* cost);
  const char* cost_unit;
  /** Optional: how the cost is measured (timer counts per 65536 instructions, probe overhead), appended to P. */
  int (*cost_calibration)(uint32_t* counts_per_65536, uint32_t* overhead);
  /** Peak stack use in bytes since boot, or -1 if unknown. */
  int32_t (*stack_peak)(void);
  /** Called after a trap, before the core restarts: apply the safe output. */
  void (*on_trap)(int code, int32_t safe_output_q16);
  /**
   * Optional: drive the target's trip output, de-energize to trip
   * (energized = 1: run permitted). Called with 0 by el_proto_begin, with
   * !trip after every tick, and with 0 on any trap, before on_trap.
   */
  void (*trip_output)(int energized);
} el_proto_env_t;

enum { EL_PROTO_CONTINUE = 0, EL_PROTO_QUIT = 1 };

void el_proto_begin(const el_proto_env_t* env);
/** The banner the target prints once at start: "ready <target> <abi> <mem>". */
void el_proto_banner(char* reply, size_t cap);
/** Handle one command line (no newline); write the reply (no newline). */
int el_proto_handle(const char* line, char* reply, size_t cap);

/** Decimal formatting helpers (no printf on the MCU). */
char* el_fmt_i64(char* out, int64_t v);
char* el_fmt_u64(char* out, uint64_t v);

#ifdef __cplusplus
}
#endif

#endif /* EDGELOOP_PROTOCOL_H */
