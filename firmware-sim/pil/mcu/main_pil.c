/*
 * The processor-in-the-loop firmware: the core behind the line protocol
 * (PROTOCOL.md) on UART0. The host (firmware-sim/pil/qemu.ts) sends sensor
 * samples and the time, the firmware answers with the actuator command
 * and the trip, and drives its trip output pin (LED 0) as real firmware
 * would. Each tick's instructions are measured (insn_counter.h) and
 * appended to the T reply.
 */
#include "cmsdk.h"
#include "edgeloop.h"
#include "insn_counter.h"
#include "protocol.h"
#include "startup.h"
#include "uart.h"

#ifndef EDGELOOP_TARGET_NAME
#define EDGELOOP_TARGET_NAME "cortex-m"
#endif

static int tick_insns(uint32_t* cost) {
  *cost = insn_counter_last_tick();
  return 1;
}

static int calibration(uint32_t* counts_per_65536, uint32_t* overhead) {
  insn_counter_calibration(counts_per_65536, overhead);
  return 1;
}

/* In the loop, the actuator is the host's plant: the trap reply carries the safe output. */
static void on_trap(int code, int32_t safe_output_q16) {
  (void)code;
  (void)safe_output_q16;
}

/* The trip output on a pin all the same (the board's LED 0, lit = energized),
 * as firmware drives its contactor: the host reads the trip from the T reply. */
static void trip_output(int energized) {
  uint32_t led = MPS2_FPGAIO_LED0 & ~MPS2_LED_TRIP_ENERGIZED;
  MPS2_FPGAIO_LED0 = energized ? led | MPS2_LED_TRIP_ENERGIZED : led;
}

static const el_proto_env_t s_env = {
    .target = EDGELOOP_TARGET_NAME,
    .can_quit = 0,
    .tick_cost = tick_insns,
    .cost_unit = "insn",
    .cost_calibration = calibration,
    .stack_peak = stack_peak_bytes,
    .on_trap = on_trap,
    .trip_output = trip_output,
};

int main(void) {
  static char line[EL_PROTO_LINE_MAX + 1];
  static char reply[EL_PROTO_REPLY_MAX];
  uart_init();
  insn_counter_init();
  if (edgeloop_start() != 0) uart_puts("fault start\n");
  el_proto_begin(&s_env);
  /* For a person at QEMU's console: what to type and how to leave. Before
   * the "ready" line, where a host skips whatever it reads (PROTOCOL.md). */
  uart_puts("edgeloop " EDGELOOP_TARGET_NAME " PIL firmware: one command a line (firmware-sim/pil/PROTOCOL.md; not echoed), "
            "e.g. T 100000 1600 1600 1600 0 to tick, D to diagnose; Ctrl-A then X quits QEMU\n");
  el_proto_banner(reply, sizeof reply);
  uart_puts(reply);
  uart_putc('\n');
  for (;;) {
    if (uart_getline(line, sizeof line) < 0) {
      uart_puts("err line too long\n");
      continue;
    }
    (void)el_proto_handle(line, reply, sizeof reply);
    uart_puts(reply);
    uart_putc('\n');
  }
}
