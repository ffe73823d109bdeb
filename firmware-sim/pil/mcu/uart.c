/* Polled CMSDK UART0 driver (cmsdk.h). */
#include "uart.h"

#include "cmsdk.h"

void uart_init(void) {
  CMSDK_UART0->BAUDDIV = 16u; /* the smallest divider the UART accepts; QEMU does not pace bytes */
  CMSDK_UART0->CTRL = UART_CTRL_TXEN | UART_CTRL_RXEN;
}

void uart_putc(char c) {
  while ((CMSDK_UART0->STATE & UART_STATE_TXFULL) != 0u) {}
  CMSDK_UART0->DATA = (uint32_t)(unsigned char)c;
}

void uart_puts(const char* s) {
  while (*s != '\0') uart_putc(*s++);
}

int uart_getc(void) {
  while ((CMSDK_UART0->STATE & UART_STATE_RXFULL) == 0u) {}
  return (int)(CMSDK_UART0->DATA & 0xffu);
}

int uart_getline(char* buf, size_t cap) {
  size_t n = 0;
  int overflow = 0;
  for (;;) {
    int c = uart_getc();
    if (c == '\n') break;
    if (c == '\r') continue;
    if (n + 1 < cap) {
      buf[n++] = (char)c;
    } else {
      overflow = 1;
    }
  }
  buf[n] = '\0';
  return overflow ? -1 : (int)n;
}
