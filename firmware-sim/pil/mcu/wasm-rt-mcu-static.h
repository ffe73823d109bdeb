/*
 * Forced into the MCU compile of the wasm2c output (-include): the linear
 * memory is one static buffer of a size fixed at build time, so wasm2c's
 * software bounds check compares against a constant and addresses are
 * constant offsets from a link-time address. The generated code otherwise
 * reloads memory->size and memory->data from the instance after every store
 * (a byte store may alias them), which made the checks cost about 23 % of a
 * tick on the Cortex-M3; with constants they cost about 6 % (measured:
 * firmware-sim/pil/README.md). Every access is still checked and still
 * traps out of bounds.
 *
 * scripts/firmware.mjs routes the accessors of the generated core.c
 * through WASM_RT_MEM_SIZE and WASM_RT_MEM_DATA (whose defaults are the
 * instance's memory, as on the hosted runtime). Valid because there is
 * exactly one memory and it is this buffer: wasm_rt_allocate_memory traps
 * on a second one, and the core never grows it (checked at build time).
 */
#ifndef WASM_RT_MCU_STATIC_H_
#define WASM_RT_MCU_STATIC_H_

#include <stdint.h>

#include "core_layout.h"

extern uint8_t wasm_rt_mcu_linear_memory[EDGELOOP_CORE_MEM_BYTES];

#define WASM_RT_MEM_SIZE(mem) ((uint64_t)EDGELOOP_CORE_MEM_BYTES)
#define WASM_RT_MEM_DATA(mem) (wasm_rt_mcu_linear_memory)

#endif /* WASM_RT_MCU_STATIC_H_ */
