/*
 * edgeloop-native: core.wasm compiled by wasm2c and gcc -O2 for the host,
 * on wabt's hosted runtime (wasm-rt-impl.c).
 *
 *   edgeloop-native            speaks the line protocol (PROTOCOL.md) on
 *                              stdin/stdout, one reply per line, flushed
 *   edgeloop-native --bench N  N full ticks of a settled closed thermal loop
 *                              (the loop of bench/core.ts), ns per tick
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "edgeloop.h"
#include "edgeloop_internal.h"
#include "protocol.h"
#include "wasm-rt-impl.h"

#include "configs.h"

/* ---- protocol on stdin/stdout ------------------------------------------ */

static int serve(void) {
  static const el_proto_env_t env = {
      .target = "native", .can_quit = 1, .tick_cost = NULL, .cost_unit = "none", .cost_calibration = NULL, .stack_peak = NULL, .on_trap = NULL,
      .trip_output = NULL, /* no pin: the T reply carries the trip */
  };
  char line[4096];
  char reply[EL_PROTO_REPLY_MAX];
  if (edgeloop_start() != 0) {
    fputs("error: the core trapped while starting\n", stderr);
    return 2;
  }
  el_proto_begin(&env);
  el_proto_banner(reply, sizeof reply);
  printf("%s\n", reply);
  fflush(stdout);
  while (fgets(line, sizeof line, stdin) != NULL) {
    if (strchr(line, '\n') == NULL && !feof(stdin)) {
      int c;
      while ((c = getchar()) != EOF && c != '\n') {}
      puts("err line too long");
      fflush(stdout);
      continue;
    }
    int r = el_proto_handle(line, reply, sizeof reply);
    printf("%s\n", reply);
    fflush(stdout);
    if (r == EL_PROTO_QUIT) break;
  }
  return 0;
}

/* ---- benchmark --------------------------------------------------------- */

#define PERIOD_US 100000
#define NOISE_LEN (1u << 16)
#define ROUNDS 5

static float s_noise[3][NOISE_LEN];

/* Deterministic Gaussian noise, 2 counts rms (xorshift64* and Box-Muller). */
static void make_noise(void) {
  uint64_t x = 0x9e3779b97f4a7c15ull;
  for (int k = 0; k < 3; k++) {
    for (uint32_t i = 0; i < NOISE_LEN; i++) {
      double u[2];
      for (int j = 0; j < 2; j++) {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        u[j] = ((double)((x * 0x2545f4914f6cdd1dull) >> 11) + 0.5) / 9007199254740992.0;
      }
      s_noise[k][i] = (float)(2.0 * sqrt(-2.0 * log(u[0])) * cos(6.283185307179586 * u[1]));
    }
  }
}

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static volatile double s_sink;

/* The closed loop of bench/core.ts: a first-order plant settled at 80 C, three
 * sensors of 0.05 C per count. Returns ns per tick. */
static double run_loop(Z_edgeloop_instance_t* core, long n, int64_t* now_us, int with_core) {
  const double a = 1.0 - exp(-(double)PERIOD_US / 1e6 / 60.0);
  double y = 80.0, u = 40.0;
  int64_t now = *now_us;
  double t0 = now_ns();
  for (long i = 0; i < n; i++) {
    uint32_t j = (uint32_t)i & (NOISE_LEN - 1u);
    now += PERIOD_US;
    y += a * (1.5 * u + 20.0 - y);
    double counts = y * 20.0;
    int32_t c0 = (int32_t)lround(counts + s_noise[0][j]);
    int32_t c1 = (int32_t)lround(counts + s_noise[1][j]);
    int32_t c2 = (int32_t)lround(counts + s_noise[2][j]);
    if (with_core) {
      u32 cmd = Z_edgeloopZ_tick(core, (u64)now, (u32)c0, (u32)c1, (u32)c2, (u32)(int32_t)lround(u * 65536.0));
      u = (double)(int32_t)cmd / 65536.0;
    } else {
      u = (double)(c0 + c1 + c2) / 120.0;
    }
  }
  double dt = now_ns() - t0;
  s_sink = u;
  *now_us = now;
  return dt / (double)n;
}

static int cmp_double(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return x < y ? -1 : x > y;
}

static double median(double* xs, int n) {
  qsort(xs, (size_t)n, sizeof *xs, cmp_double);
  return xs[n / 2];
}

static int bench_one(int sensors, long n, double* loop_ns, double* plant_ns) {
  int32_t st = 0, bad = -1;
  if (edgeloop_restart() != 0) return 0;
  const edgeloop_param_t* cfg = sensors == 3 ? el_bench_config_3 : el_bench_config_1;
  size_t count = sensors == 3 ? EL_BENCH_CONFIG_3_COUNT : EL_BENCH_CONFIG_1_COUNT;
  if (edgeloop_configure(cfg, count, &st, &bad) != 0 || st != 0) {
    fprintf(stderr, "bench: configuration rejected (status %d, parameter %d)\n", st, bad);
    return 0;
  }
  if (edgeloop_set_setpoint(EDGELOOP_Q16(80.0), 0, &st) != 0 || st != 0) return 0;
  Z_edgeloop_instance_t* core = edgeloop_core_instance();
  int64_t now = 0;
  double loops[ROUNDS], plants[ROUNDS];
  wasm_rt_trap_t trap = wasm_rt_impl_try();
  if (trap != WASM_RT_TRAP_NONE) {
    fprintf(stderr, "bench: the core trapped (%d)\n", (int)trap);
    return 0;
  }
  (void)run_loop(core, 200000, &now, 1); /* settle */
  if (Z_edgeloopZ_mode(core) != EDGELOOP_NOMINAL) {
    fprintf(stderr, "bench: loop not settled (mode %u)\n", Z_edgeloopZ_mode(core));
    return 0;
  }
  for (int k = 0; k < ROUNDS; k++) loops[k] = run_loop(core, n, &now, 1);
  if (Z_edgeloopZ_mode(core) != EDGELOOP_NOMINAL) {
    fprintf(stderr, "bench: loop left NOMINAL (mode %u)\n", Z_edgeloopZ_mode(core));
    return 0;
  }
  for (int k = 0; k < ROUNDS; k++) {
    int64_t t = 0;
    plants[k] = run_loop(core, n, &t, 0);
  }
  *loop_ns = median(loops, ROUNDS);
  *plant_ns = median(plants, ROUNDS);
  return 1;
}

static int bench(long n) {
  make_noise();
  if (edgeloop_start() != 0) return 2;
  printf("native bench: full tick of core.wasm via wasm2c + gcc -O2 (%s), closed thermal loop, "
         "batches of %ld ticks, median of %d\n",
         WASM_RT_MEMCHECK_SIGNAL_HANDLER ? "guard pages" : "software bounds checks", n, ROUNDS);
  const int sensors[2] = {3, 1};
  for (int i = 0; i < 2; i++) {
    double loop_ns, plant_ns;
    if (!bench_one(sensors[i], n, &loop_ns, &plant_ns)) return 1;
    printf("  %d sensor%s: plant + core %.1f ns/tick, plant alone %.1f ns/tick -> core tick %.1f ns/tick\n",
           sensors[i], sensors[i] > 1 ? "s" : " ", loop_ns, plant_ns, loop_ns - plant_ns);
  }
  return 0;
}

int main(int argc, char** argv) {
  if (argc == 3 && strcmp(argv[1], "--bench") == 0) {
    long n = strtol(argv[2], NULL, 10);
    if (n <= 0) {
      fputs("usage: edgeloop-native [--bench N]\n", stderr);
      return 64;
    }
    return bench(n);
  }
  if (argc != 1) {
    fputs("usage: edgeloop-native [--bench N]\n", stderr);
    return 64;
  }
  return serve();
}
