/*
 * Startup for the MPS2 boards under QEMU (and any Cortex-M3/M4 with the
 * same memory layout): the vector table, the reset handler (copy .data from
 * flash, zero .bss, paint the stack for the high-water mark, call main) and
 * the fault handler (report on UART0, then request a system reset: what a
 * watchdog would do on real hardware).
 */
#include <stdint.h>

#include "cmsdk.h"
#include "startup.h"
#include "uart.h"

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _sstack, _estack;
extern int main(void);

#define STACK_PAINT 0xa5a5a5a5u

void Reset_Handler(void);
void Fault_Handler(void);

__attribute__((section(".isr_vector"), used)) void (*const g_vectors[16])(void) = {
    (void (*)(void))(&_estack), /* initial stack pointer */
    Reset_Handler,
    Fault_Handler, /* NMI */
    Fault_Handler, /* HardFault */
    Fault_Handler, /* MemManage */
    Fault_Handler, /* BusFault */
    Fault_Handler, /* UsageFault */
    0, 0, 0, 0,
    Fault_Handler, /* SVCall */
    Fault_Handler, /* DebugMon */
    0,
    Fault_Handler, /* PendSV */
    Fault_Handler, /* SysTick */
};

__attribute__((noreturn)) void Reset_Handler(void) {
  uint32_t* src = &_sidata;
  for (uint32_t* dst = &_sdata; dst < &_edata;) *dst++ = *src++;
  for (uint32_t* dst = &_sbss; dst < &_ebss;) *dst++ = 0u;
  /* Paint the stack below the current frame, for stack_peak_bytes(). */
  uint32_t* sp;
  __asm volatile("mov %0, sp" : "=r"(sp));
  for (uint32_t* p = &_sstack; p < sp - 16; p++) *p = STACK_PAINT;
  (void)main();
  for (;;) {}
}

int32_t stack_peak_bytes(void) {
  const uint32_t* p = &_sstack;
  while (p < &_estack && *p == STACK_PAINT) p++;
  return (int32_t)((const uint8_t*)&_estack - (const uint8_t*)p);
}

static void put_hex(uint32_t v) {
  static const char digits[] = "0123456789abcdef";
  for (int i = 28; i >= 0; i -= 4) uart_putc(digits[(v >> i) & 15u]);
}

__attribute__((noreturn)) void Fault_Handler(void) {
  uint32_t ipsr;
  __asm volatile("mrs %0, ipsr" : "=r"(ipsr));
  uart_puts("fault ");
  put_hex(ipsr);
  uart_putc(' ');
  put_hex(SCB_CFSR);
  uart_putc('\n');
  SCB_AIRCR = SCB_AIRCR_RESET;
  for (;;) {}
}
