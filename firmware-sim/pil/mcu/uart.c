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

/* A line ends at LF, at CR LF, or at a lone CR: a terminal sends CR for
 * Enter (QEMU puts its stdio in raw mode), a host sends LF. An LF right after
 * the CR that ended the last line belongs to that line. */
int uart_getline(char* buf, size_t cap) {
  static int s_after_cr;
  size_t n = 0;
  int overflow = 0;
  for (;;) {
    int c = uart_getc();
    int after_cr = s_after_cr;
    s_after_cr = 0;
    if (c == '\n' && after_cr && n == 0) continue;
    if (c == '\n') break;
    if (c == '\r') {
      s_after_cr = 1;
      break;
    }
    if (n + 1 < cap) {
      buf[n++] = (char)c;
    } else {
      overflow = 1;
    }
  }
  buf[n] = '\0';
  return overflow ? -1 : (int)n;
}
