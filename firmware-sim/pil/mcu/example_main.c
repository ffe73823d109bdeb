/*
 * Example firmware main loop: how real firmware calls the core through its
 * own HAL (hal.h). The same shape works on bare metal (this file), in a
 * Zephyr thread (k_sleep_until for wait_until_us) or a FreeRTOS task
 * (vTaskDelayUntil).
 *
 *   boot      the trip output de-energized; edgeloop_start, the loop's
 *             configuration (a const table in flash, configs.h), the
 *             setpoint
 *   each tick read the ADCs, tick with the time, write the actuator and
 *             the trip output (energized = !trip: de-energize to trip),
 *             sleep for the interval the core proposes (action-to-sensing)
 *   a trap    safe output, trip output de-energized (a crashed core cannot
 *             vouch for the plant); restart the core and configure it again
 *             (the analogue of a watchdog reset). The trip output stays
 *             de-energized until a tick of the new core permits the run.
 *
 * The HAL functions below are weak stubs for the MPS2 board under QEMU:
 * TIMER0 as the clock, UART0 for the log, LED 0 as the trip output and a
 * simulated thermal chamber behind adc_read/actuator_write. A port
 * overrides them.
 */
#include <stdbool.h>
#include <stdint.h>

#include "cmsdk.h"
#include "configs.h"
#include "edgeloop.h"
#include "hal.h"
#include "protocol.h"
#include "uart.h"

#define SETPOINT_REFRESH_US 1000000

static const char* const MODE_NAMES[4] = {"NOMINAL", "DEGRADED", "FALLBACK", "SAFE_STOP"};

static int configure(int64_t now_us) {
  int32_t status = 0, bad = -1;
  if (edgeloop_configure(el_thermal_config, EL_THERMAL_CONFIG_COUNT, &status, &bad) != 0 || status != 0) return 0;
  return edgeloop_set_setpoint(EL_THERMAL_SETPOINT_Q16, now_us, &status) == 0 && status == 0;
}

static void log_value(const char* what, int64_t value) {
  char text[64];
  char* p = text;
  while (*what != '\0') *p++ = *what++;
  *p++ = ' ';
  el_fmt_i64(p, value);
  log_line(text);
}

/* The core trapped: it cannot vouch for the plant. Safe output, trip, and a
 * fresh core configured again; the next good tick decides the trip output. */
static void recover(edgeloop_trap_t trap, int64_t now_us) {
  actuator_write(edgeloop_safe_output_q16());
  hal_trip_output(false);
  log_value("edgeloop: trap", trap);
  if (edgeloop_restart() != 0 || !configure(now_us)) log_line("edgeloop: restart failed");
}

int main(void) {
  hal_init();
  hal_trip_output(false); /* until the first good tick: no core has permitted the run yet */
  if (edgeloop_start() != 0 || !configure(timer_now_us())) {
    actuator_write(edgeloop_safe_output_q16());
    log_line("edgeloop: configuration rejected; actuator held at the safe output, tripped");
    for (;;) {}
  }
  log_line("edgeloop: running");
  int32_t mode = EDGELOOP_NOMINAL;
  int64_t next_us = timer_now_us();
  int64_t refresh_us = next_us + SETPOINT_REFRESH_US;
  for (int64_t ticks = 0; EXAMPLE_TICKS_MAX == 0 || ticks < EXAMPLE_TICKS_MAX; ticks++) {
    wait_until_us(next_us);
    int64_t now = timer_now_us();
    edgeloop_tick_t t;
    edgeloop_trap_t trap = edgeloop_tick(now, adc_read(0), adc_read(1), adc_read(2), actuator_feedback_q16(), &t);
    actuator_write(t.command_q16);  /* after a trap: the safe output */
    hal_trip_output(t.trip == 0);   /* after a trap: trip = 1, de-energized */
    if (trap != 0) {
      recover(trap, now);
      t.next_interval_us = 100000;
    } else if (t.mode != mode) {
      edgeloop_diag_t d;
      (void)edgeloop_diag(&d);
      log_line(MODE_NAMES[t.mode & 3]);
      log_value("  cause monitor", d.cause_monitor);
      mode = t.mode;
    }
    if (now >= refresh_us) { /* the host's periodic setpoint message */
      int32_t status;
      edgeloop_trap_t sp_trap = edgeloop_set_setpoint(EL_THERMAL_SETPOINT_Q16, now, &status);
      if (sp_trap != 0) recover(sp_trap, now); /* trip now, not one interval later */
      refresh_us += SETPOINT_REFRESH_US;
    }
    if (ticks % 100 == 0) log_value("command_q16", t.command_q16);
    next_us = now + t.next_interval_us;
  }
  log_line("edgeloop: done");
  for (;;) {}
}

/* ---- weak HAL stubs: MPS2 under QEMU -------------------------------------- */

static uint64_t s_clock_counts; /* TIMER0 counts since hal_init, extended to 64 bits */
static uint32_t s_clock_last;
static double s_temp_c = 80.0;  /* the simulated chamber */
static double s_heater = 40.0;  /* % */
static int s_trip_logged = -1;  /* the trip output as last logged, -1 never */
static int64_t s_plant_us;
static uint32_t s_noise = 1u;

__attribute__((weak)) void hal_init(void) {
  uart_init();
  CMSDK_TIMER0->CTRL = 0u;
  CMSDK_TIMER0->RELOAD = 0xffffffffu;
  CMSDK_TIMER0->VALUE = 0xffffffffu;
  CMSDK_TIMER0->CTRL = 1u;
  s_clock_last = CMSDK_TIMER0->VALUE;
}

__attribute__((weak)) int64_t timer_now_us(void) {
  uint32_t v = CMSDK_TIMER0->VALUE;
  s_clock_counts += (uint32_t)(s_clock_last - v); /* counts down; call at least once per wrap (171 s) */
  s_clock_last = v;
  return (int64_t)(s_clock_counts / (CMSDK_PCLK_HZ / 1000000u));
}

__attribute__((weak)) void wait_until_us(int64_t deadline_us) {
  while (timer_now_us() < deadline_us) {}
}

/* The chamber of firmware-sim/plants/thermal.ts without its dead time:
 * tau dT/dt = 1.5 P + 20 - T, tau = 60 s, advanced to the time of each read. */
static void plant_advance(void) {
  int64_t now = timer_now_us();
  for (; s_plant_us + 10000 <= now; s_plant_us += 10000) s_temp_c += (1.5 * s_heater + 20.0 - s_temp_c) * (0.01 / 60.0);
}

__attribute__((weak)) int32_t adc_read(int channel) {
  (void)channel;
  plant_advance();
  s_noise = s_noise * 1664525u + 1013904223u; /* +-2 counts of noise */
  return (int32_t)(s_temp_c / 0.05 + 0.5) + (int32_t)(s_noise >> 30) - 2;
}

__attribute__((weak)) void actuator_write(int32_t command_q16) {
  plant_advance();
  s_heater = (double)command_q16 / 65536.0;
}

/* The trip output on LED 0 (lit = energized); each change is logged. The
 * simulated chamber starts settled at 40 % heater power and does not model
 * the contactor: a port wires the pin to its contactor, safe torque off or
 * isolation valves, whose state its feedback should show. */
__attribute__((weak)) void hal_trip_output(bool energized) {
  uint32_t led = MPS2_FPGAIO_LED0 & ~MPS2_LED_TRIP_ENERGIZED;
  MPS2_FPGAIO_LED0 = energized ? led | MPS2_LED_TRIP_ENERGIZED : led;
  if ((int)energized != s_trip_logged) log_line(energized ? "trip output: energized (run permitted)" : "trip output: de-energized (tripped)");
  s_trip_logged = energized;
}

__attribute__((weak)) int32_t actuator_feedback_q16(void) { return (int32_t)(s_heater * 65536.0); }

__attribute__((weak)) void log_line(const char* text) {
  uart_puts(text);
  uart_putc('\n');
}
