/* Instructions per tick from TIMER0 under QEMU -icount (insn_counter.h). */
#include "insn_counter.h"

#include "cmsdk.h"
#include "probe.h"

volatile uint32_t el_probe_t0;
volatile uint32_t el_probe_t1;

#define CAL_RUNS 4u
#define CAL_ITER_SHORT 16u
#define CAL_ITER_LONG (16u + 32768u) /* 65536 more instructions than the short loop */
#define CAL_INSNS 65536u
#define EMPTY_RUNS 8u

static uint32_t s_cal_counts;     /* timer counts of CAL_RUNS * CAL_INSNS instructions */
static uint32_t s_overhead_insns; /* instructions of an empty probe (begin; end) */

/* Timer counts across `iterations` turns of a 2-instruction loop, measured
 * between two timer reads with nothing else in between. */
static uint32_t timed_loop(uint32_t iterations) {
  uint32_t t0, t1;
  __asm volatile(
      "ldr %0, [%3]\n"
      "1:\n"
      "subs %2, %2, #1\n"
      "bne 1b\n"
      "ldr %1, [%3]\n"
      : "=&r"(t0), "=&r"(t1), "+r"(iterations)
      : "r"(&CMSDK_TIMER0->VALUE)
      : "cc", "memory");
  return t0 - t1; /* the timer counts down */
}

/* Instructions for a sum of timer counts over `runs` measurements, rounded. */
static uint32_t to_insns(uint64_t counts, uint32_t runs) {
  uint64_t den = (uint64_t)s_cal_counts * runs;
  if (den == 0u) return 0u;
  return (uint32_t)((counts * CAL_RUNS * CAL_INSNS + den / 2u) / den);
}

void insn_counter_init(void) {
  CMSDK_TIMER0->CTRL = 0u;
  CMSDK_TIMER0->RELOAD = 0xffffffffu;
  CMSDK_TIMER0->VALUE = 0xffffffffu;
  CMSDK_TIMER0->CTRL = 1u;
  /* Sums over several runs: each reading is quantized by one timer count. */
  uint32_t shortest = 0u, longest = 0u, empty = 0u;
  for (uint32_t i = 0; i < CAL_RUNS; i++) {
    shortest += timed_loop(CAL_ITER_SHORT);
    longest += timed_loop(CAL_ITER_LONG);
  }
  s_cal_counts = longest - shortest;
  for (uint32_t i = 0; i < EMPTY_RUNS; i++) {
    EDGELOOP_PROBE_BEGIN();
    EDGELOOP_PROBE_END();
    empty += el_probe_t0 - el_probe_t1;
  }
  s_overhead_insns = to_insns(empty, EMPTY_RUNS);
}

uint32_t insn_counter_last_tick(void) {
  uint32_t insns = to_insns(el_probe_t0 - el_probe_t1, 1u);
  return insns > s_overhead_insns ? insns - s_overhead_insns : 0u;
}

void insn_counter_calibration(uint32_t* counts_per_65536, uint32_t* probe_overhead_insns) {
  *counts_per_65536 = s_cal_counts / CAL_RUNS;
  *probe_overhead_insns = s_overhead_insns;
}
