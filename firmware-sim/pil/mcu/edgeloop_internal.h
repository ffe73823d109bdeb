/*
 * Not part of the public API: the wasm2c instance behind edgeloop.h, for
 * code that runs many ticks under one trap guard of its own (the native
 * benchmark). Everything else goes through edgeloop.h.
 */
#ifndef EDGELOOP_INTERNAL_H
#define EDGELOOP_INTERNAL_H

#include "core.h"

Z_edgeloop_instance_t* edgeloop_core_instance(void);

#endif /* EDGELOOP_INTERNAL_H */
