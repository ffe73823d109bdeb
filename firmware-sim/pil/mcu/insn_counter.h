/*
 * Instructions per tick under QEMU -icount (see probe.h): TIMER0 runs at 25
 * MHz of virtual time, and with -icount shift=S every instruction advances
 * virtual time by 2^S ns, so a timer count is 2^S / 40 instructions. The
 * ratio is calibrated at boot against a loop of known length (2 instructions
 * per iteration), so the firmware does not need to know S; S >= 6 resolves
 * single instructions (qemu.ts runs S = 7: 3.2 counts per instruction).
 */
#ifndef EDGELOOP_INSN_COUNTER_H
#define EDGELOOP_INSN_COUNTER_H

#include <stdint.h>

void insn_counter_init(void);
/** Instructions between the two probe reads of the last tick (probe overhead removed). */
uint32_t insn_counter_last_tick(void);
/** Calibration: timer counts per 65536 instructions, and the instructions of an empty probe. */
void insn_counter_calibration(uint32_t* counts_per_65536, uint32_t* probe_overhead_insns);

#endif /* EDGELOOP_INSN_COUNTER_H */
