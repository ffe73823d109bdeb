/*
 * The board services a control loop needs, as the example firmware
 * (example_main.c) calls them. A real port implements them on its own
 * drivers (bare metal, Zephyr, FreeRTOS); example_main.c has weak stubs.
 */
#ifndef EDGELOOP_HAL_H
#define EDGELOOP_HAL_H

#include <stdbool.h>
#include <stdint.h>

/** Bring up the clock, the ADCs, the actuator and the log; the trip output comes up de-energized. */
void hal_init(void);
/** Raw ADC counts of sensor channel 0..2, or INT32_MIN if the conversion failed. */
int32_t adc_read(int channel);
/** Drive the actuator (Q16.16 output units, e.g. % of heater power). */
void actuator_write(int32_t command_q16);
/**
 * The trip output: a contactor, safe torque off or isolation valves,
 * independent of the actuator. De-energize to trip: energized = false trips
 * the plant. Written every tick with !trip, and false at boot and on a trap.
 */
void hal_trip_output(bool energized);
/** Measured actuator output (Q16), or INT32_MIN if the board has no feedback. */
int32_t actuator_feedback_q16(void);
/** A monotonic microsecond clock. */
int64_t timer_now_us(void);
/** Sleep (or yield to the RTOS) until timer_now_us() >= deadline_us. */
void wait_until_us(int64_t deadline_us);
/** One line of log output (no newline). */
void log_line(const char* text);

#endif /* EDGELOOP_HAL_H */
