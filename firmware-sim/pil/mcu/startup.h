#ifndef EDGELOOP_STARTUP_H
#define EDGELOOP_STARTUP_H

#include <stdint.h>

/** Bytes of the stack ever used since reset (the painted region's high-water mark). */
int32_t stack_peak_bytes(void);

#endif /* EDGELOOP_STARTUP_H */
