/*
 * The few peripherals of Arm's MPS2 boards (AN385: Cortex-M3, AN386:
 * Cortex-M4) that the firmware uses, as QEMU models them: the CMSDK APB
 * UART0 and TIMER0, the FPGA I/O LEDs, and the system control block. Addresses from the AN385
 * application note (table "APB peripherals") and QEMU's hw/arm/mps2.c.
 */
#ifndef EDGELOOP_CMSDK_H
#define EDGELOOP_CMSDK_H

#include <stdint.h>

typedef struct {
  volatile uint32_t DATA;      /* 0x00 rx/tx byte */
  volatile uint32_t STATE;     /* 0x04 bit 0: tx full, bit 1: rx full */
  volatile uint32_t CTRL;      /* 0x08 bit 0: tx enable, bit 1: rx enable */
  volatile uint32_t INTSTATUS; /* 0x0c */
  volatile uint32_t BAUDDIV;   /* 0x10 >= 16 */
} cmsdk_uart_t;

typedef struct {
  volatile uint32_t CTRL;      /* 0x00 bit 0: enable */
  volatile uint32_t VALUE;     /* 0x04 counts down at PCLK (25 MHz) */
  volatile uint32_t RELOAD;    /* 0x08 */
  volatile uint32_t INTSTATUS; /* 0x0c */
} cmsdk_timer_t;

#define CMSDK_UART0 ((cmsdk_uart_t*)0x40004000u)
#define CMSDK_TIMER0 ((cmsdk_timer_t*)0x40000000u)
#define CMSDK_PCLK_HZ 25000000u

#define UART_STATE_TXFULL 1u
#define UART_STATE_RXFULL 2u
#define UART_CTRL_TXEN 1u
#define UART_CTRL_RXEN 2u

/* MPS2 FPGA I/O: LED0 bits [1:0] drive the board's user LEDs (QEMU keeps
 * the register; it reads back what was written). The firmware's trip
 * output (main_pil.c, example_main.c's weak stub): bit 0, lit = energized. */
#define MPS2_FPGAIO_LED0 (*(volatile uint32_t*)0x40028000u)
#define MPS2_LED_TRIP_ENERGIZED 1u

/* System control block: reset request, fault status. */
#define SCB_AIRCR (*(volatile uint32_t*)0xE000ED0Cu)
#define SCB_CFSR (*(volatile uint32_t*)0xE000ED28u)
#define SCB_AIRCR_RESET (0x05FA0000u | 4u) /* VECTKEY | SYSRESETREQ */

#endif /* EDGELOOP_CMSDK_H */
