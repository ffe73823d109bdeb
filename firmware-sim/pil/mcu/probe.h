/*
 * The tick probe of the firmware build (edgeloop.c includes it through
 * EDGELOOP_PROBE_HEADER): CMSDK TIMER0 is read right before and right after
 * the call into the core's tick. Under QEMU with -icount the timer follows
 * virtual time, which advances by a fixed step per executed instruction, so
 * the difference counts the instructions of the call (insn_counter.c turns
 * timer counts into instructions).
 */
#ifndef EDGELOOP_PROBE_H
#define EDGELOOP_PROBE_H

#include <stdint.h>

#include "cmsdk.h"

extern volatile uint32_t el_probe_t0;
extern volatile uint32_t el_probe_t1;

#define EDGELOOP_PROBE_BEGIN() (el_probe_t0 = CMSDK_TIMER0->VALUE)
#define EDGELOOP_PROBE_END() (el_probe_t1 = CMSDK_TIMER0->VALUE)

#endif /* EDGELOOP_PROBE_H */
