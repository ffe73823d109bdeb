/* Polled CMSDK UART0 driver: blocking byte I/O, no interrupts. */
#ifndef EDGELOOP_UART_H
#define EDGELOOP_UART_H

#include <stddef.h>

void uart_init(void);
void uart_putc(char c);
void uart_puts(const char* s);
int uart_getc(void); /* blocks until a byte arrives */
/** Read one line (ended by LF, CR LF or a lone CR; without it, NUL-terminated); returns its length, or -1 if it did not fit (the rest is discarded). */
int uart_getline(char* buf, size_t cap);

#endif /* EDGELOOP_UART_H */
