/*
 * wasm-rt-mcu: a bare-metal wasm2c runtime for one instance of core.wasm on
 * a microcontroller. It replaces wabt's hosted wasm-rt-impl.c:
 *
 *   - linear memory is ONE static buffer of EDGELOOP_CORE_MEM_BYTES (the
 *     highest address the core touches, computed from the .wasm at build
 *     time by scripts/firmware.mjs into core_layout.h), not 64 KiB pages and
 *     no heap: the core allocates nothing at run time;
 *   - memory accesses are checked in software (wasm2c's bounds-check path,
 *     WASM_RT_MEMCHECK_SIGNAL_HANDLER=0): an access past the buffer traps
 *     instead of touching other RAM; there are no guard pages on an MCU;
 *   - a trap (out of bounds, division by zero, unreachable, call depth)
 *     longjmps back to the caller's wasm_rt_impl_try(), which routes it to
 *     the safe-stop path (edgeloop.c).
 *
 * Same interface as wabt's wasm-rt-impl.h, so edgeloop.c uses one
 * try/trap idiom on the hosted runtime and here.
 */
#ifndef WASM_RT_MCU_H_
#define WASM_RT_MCU_H_

#include "wasm-rt.h"

#ifdef __cplusplus
extern "C" {
#endif

#if WASM_RT_MEMCHECK_SIGNAL_HANDLER
#error "wasm-rt-mcu checks memory bounds in software: build with -DWASM_RT_MEMCHECK_SIGNAL_HANDLER=0"
#endif

/** Where a trap jumps to (set by wasm_rt_impl_try). */
extern jmp_buf wasm_rt_jmp_buf;

#if WASM_RT_USE_STACK_DEPTH_COUNT
/** Call depth at the last wasm_rt_impl_try, restored by a trap. */
extern uint32_t wasm_rt_saved_call_stack_depth;
#define WASM_RT_SAVE_STACK_DEPTH() (wasm_rt_saved_call_stack_depth = wasm_rt_call_stack_depth)
#else
#define WASM_RT_SAVE_STACK_DEPTH() (void)0
#endif

/** 0 on the way in; the trap code (> 0) when a call made after it traps. */
#define wasm_rt_impl_try() (WASM_RT_SAVE_STACK_DEPTH(), setjmp(wasm_rt_jmp_buf))

/** The static linear memory (for fault injection and diagnostics). */
uint8_t* wasm_rt_mcu_memory(uint32_t* size_bytes);

#ifdef __cplusplus
}
#endif

#endif /* WASM_RT_MCU_H_ */
