/*
 * The line protocol engine (PROTOCOL.md): parse one command, call the core
 * through edgeloop.h, format one reply. One dispatch switch; no allocation,
 * no printf, no locale: the same code on the MCU and natively.
 */
#include "protocol.h"

#include "edgeloop.h"

#define FIELDS_MAX 8

typedef struct {
  char* p;
  char* end;
} writer_t;

static const el_proto_env_t* s_env;
static int s_config_open; /* the protocol's configuration transaction */
static struct {
  uint32_t count, last, min, max;
  uint64_t total;
} s_cost;

static void put_str(writer_t* w, const char* s) {
  while (*s != '\0' && w->p < w->end) *w->p++ = *s++;
}

char* el_fmt_u64(char* out, uint64_t v) {
  char tmp[20];
  int n = 0;
  do {
    tmp[n++] = (char)('0' + (int)(v % 10u));
    v /= 10u;
  } while (v != 0u);
  while (n > 0) *out++ = tmp[--n];
  *out = '\0';
  return out;
}

char* el_fmt_i64(char* out, int64_t v) {
  if (v < 0) {
    *out++ = '-';
    return el_fmt_u64(out, (uint64_t)0 - (uint64_t)v);
  }
  return el_fmt_u64(out, (uint64_t)v);
}

static void put_i64(writer_t* w, int64_t v) {
  char buf[24];
  el_fmt_i64(buf, v);
  put_str(w, buf);
}

static void put_field(writer_t* w, int64_t v) {
  put_str(w, " ");
  put_i64(w, v);
}

/* A decimal integer: optional '-', then digits, within [min, max]. */
static int parse_int(const char* s, int64_t min, int64_t max, int64_t* out) {
  int neg = 0;
  uint64_t limit = (uint64_t)INT64_MAX;
  uint64_t v = 0;
  if (*s == '-') {
    neg = 1;
    limit += 1u;
    s++;
  }
  if (*s == '\0') return 0;
  for (; *s != '\0'; s++) {
    if (*s < '0' || *s > '9') return 0;
    uint64_t d = (uint64_t)(*s - '0');
    if (v > (limit - d) / 10u) return 0;
    v = v * 10u + d;
  }
  int64_t x = neg ? (v == (uint64_t)INT64_MAX + 1u ? INT64_MIN : -(int64_t)v) : (int64_t)v;
  if (x < min || x > max) return 0;
  *out = x;
  return 1;
}

/* Split a line in place into fields separated by spaces or tabs. */
static int split(char* line, char** fields) {
  int n = 0;
  char* p = line;
  for (;;) {
    while (*p == ' ' || *p == '\t') *p++ = '\0';
    if (*p == '\0') return n;
    if (n == FIELDS_MAX) return FIELDS_MAX + 1;
    fields[n++] = p;
    while (*p != '\0' && *p != ' ' && *p != '\t') p++;
  }
}

void el_proto_begin(const el_proto_env_t* env) {
  s_env = env;
  s_config_open = 0;
  s_cost.count = s_cost.last = s_cost.max = 0;
  s_cost.min = UINT32_MAX;
  s_cost.total = 0;
  /* De-energized until the first good tick: the core has not spoken yet. */
  if (env->trip_output != NULL) env->trip_output(0);
}

void el_proto_banner(char* reply, size_t cap) {
  writer_t w = {reply, reply + cap - 1};
  uint32_t mem_bytes = 0;
  int32_t abi = -1;
  (void)edgeloop_memory(&mem_bytes);
  (void)edgeloop_abi_version(&abi);
  put_str(&w, "ready ");
  put_str(&w, s_env->target);
  put_field(&w, abi);
  put_field(&w, (int64_t)mem_bytes);
  *w.p = '\0';
}

static void reply_status(writer_t* w, int32_t status) {
  put_str(w, "ok");
  put_field(w, status);
}

static void note_cost(uint32_t cost) {
  s_cost.count++;
  s_cost.last = cost;
  if (cost < s_cost.min) s_cost.min = cost;
  if (cost > s_cost.max) s_cost.max = cost;
  s_cost.total += cost;
}

/* The core trapped: report it, trip (a crashed core cannot vouch for the
 * plant), apply the safe output, start a fresh core. The trip output stays
 * de-energized until a tick of the new core permits the run. */
static void reply_trap(writer_t* w, edgeloop_trap_t trap) {
  int32_t safe = edgeloop_safe_output_q16();
  s_config_open = 0;
  put_str(w, "trap");
  put_field(w, trap);
  put_field(w, safe);
  if (s_env->trip_output != NULL) s_env->trip_output(0);
  if (s_env->on_trap != NULL) s_env->on_trap(trap, safe);
  (void)edgeloop_restart();
}

static void cmd_tick(writer_t* w, const int64_t* a) {
  edgeloop_tick_t t;
  edgeloop_trap_t trap = edgeloop_tick(a[0], (int32_t)a[1], (int32_t)a[2], (int32_t)a[3], (int32_t)a[4], &t);
  if (trap != 0) {
    reply_trap(w, trap);
    return;
  }
  if (s_env->trip_output != NULL) s_env->trip_output(t.trip == 0);
  put_i64(w, t.command_q16);
  put_field(w, t.mode);
  put_field(w, t.next_interval_us);
  put_field(w, t.trip);
  uint32_t cost;
  if (s_env->tick_cost != NULL && s_env->tick_cost(&cost)) {
    note_cost(cost);
    put_field(w, (int64_t)cost);
  }
}

static void cmd_cost(writer_t* w) {
  put_str(w, "ok ");
  put_str(w, s_env->tick_cost != NULL ? s_env->cost_unit : "none");
  put_field(w, s_cost.count);
  put_field(w, s_cost.last);
  put_field(w, s_cost.count != 0 ? s_cost.min : 0);
  put_field(w, s_cost.max);
  put_field(w, (int64_t)s_cost.total);
  uint32_t per, overhead;
  if (s_env->cost_calibration != NULL && s_env->cost_calibration(&per, &overhead)) {
    put_field(w, per);
    put_field(w, overhead);
  }
}

static void cmd_diag(writer_t* w) {
  edgeloop_diag_t d;
  edgeloop_trap_t trap = edgeloop_diag(&d);
  if (trap != 0) {
    reply_trap(w, trap);
    return;
  }
  put_str(w, "ok");
  put_field(w, d.cause_monitor);
  put_field(w, d.cause_stage);
  put_field(w, d.monitors_active);
  put_field(w, d.events_written);
  put_field(w, d.tick_count);
  put_field(w, d.guard_status);
}

static void cmd_memory(writer_t* w) {
  uint32_t mem_bytes = 0;
  (void)edgeloop_memory(&mem_bytes);
  put_str(w, "ok");
  put_field(w, (int64_t)mem_bytes);
  put_field(w, (int64_t)edgeloop_instance_bytes());
  put_field(w, s_env->stack_peak != NULL ? s_env->stack_peak() : -1);
}

static void cmd_flip(writer_t* w, const int64_t* a) {
  uint32_t size = 0;
  uint8_t* mem = edgeloop_memory(&size);
  if (mem == NULL || a[0] >= (int64_t)size) {
    put_str(w, "err address");
    return;
  }
  mem[a[0]] ^= (uint8_t)a[1];
  put_str(w, "ok 0");
}

/* Fields of each command: count and ranges (i32 unless noted). */
#define I32_MIN_ ((int64_t)INT32_MIN)
#define I32_MAX_ ((int64_t)INT32_MAX)

int el_proto_handle(const char* line, char* reply, size_t cap) {
  char buf[EL_PROTO_LINE_MAX + 1];
  char* f[FIELDS_MAX];
  int64_t a[FIELDS_MAX - 1];
  writer_t w = {reply, reply + cap - 1};
  size_t len = 0;
  while (line[len] != '\0' && line[len] != '\r' && line[len] != '\n') {
    if (len == EL_PROTO_LINE_MAX) {
      put_str(&w, "err line too long");
      *w.p = '\0';
      return EL_PROTO_CONTINUE;
    }
    buf[len] = line[len];
    len++;
  }
  buf[len] = '\0';
  int n = split(buf, f);
  if (n == 0 || f[0][1] != '\0') {
    put_str(&w, n == 0 ? "err empty line" : "err unknown command");
    *w.p = '\0';
    return EL_PROTO_CONTINUE;
  }
  char op = f[0][0];
  int want;
  int64_t lo[FIELDS_MAX - 1], hi[FIELDS_MAX - 1];
  for (int i = 0; i < FIELDS_MAX - 1; i++) {
    lo[i] = I32_MIN_;
    hi[i] = I32_MAX_;
  }
  switch (op) {
    case 'I': case 'K': case 'R': case 'Q': case 'P': case 'D': case 'M':
      want = 0;
      break;
    case 'C':
      want = 2;
      break;
    case 'S':
      want = 2;
      lo[1] = INT64_MIN;
      hi[1] = INT64_MAX;
      break;
    case 'T':
      want = 5;
      lo[0] = INT64_MIN;
      hi[0] = INT64_MAX;
      break;
    case 'W':
      want = 2;
      lo[0] = 0;
      lo[1] = 0;
      hi[1] = 255;
      break;
    case 'X':
      want = 1;
      lo[0] = 1;
      hi[0] = 8;
      break;
    case 'G': /* any i32: the core itself refuses an unknown kind (-2) */
      want = 1;
      break;
    default:
      put_str(&w, "err unknown command");
      *w.p = '\0';
      return EL_PROTO_CONTINUE;
  }
  if (n - 1 != want) {
    put_str(&w, "err expected ");
    put_i64(&w, want);
    put_str(&w, " fields");
    *w.p = '\0';
    return EL_PROTO_CONTINUE;
  }
  for (int i = 0; i < want; i++) {
    if (!parse_int(f[i + 1], lo[i], hi[i], &a[i])) {
      put_str(&w, "err field ");
      put_i64(&w, i + 1);
      put_str(&w, " is not an integer in range");
      *w.p = '\0';
      return EL_PROTO_CONTINUE;
    }
  }

  int32_t st = 0;
  edgeloop_trap_t trap = 0;
  int result = EL_PROTO_CONTINUE;
  switch (op) {
    case 'I':
      s_config_open = 0;
      trap = edgeloop_init(&st);
      break;
    case 'C':
      if (!s_config_open) {
        int32_t begun;
        trap = edgeloop_config_begin(&begun);
        s_config_open = trap == 0;
      }
      if (trap == 0) trap = edgeloop_config_set((int32_t)a[0], (int32_t)a[1], &st);
      break;
    case 'K':
      s_config_open = 0;
      trap = edgeloop_config_commit(&st);
      break;
    case 'S':
      trap = edgeloop_set_setpoint((int32_t)a[0], a[1], &st);
      break;
    case 'R':
      trap = edgeloop_reset(&st);
      break;
    case 'G':
      trap = edgeloop_demand((int32_t)a[0], &st);
      break;
    case 'T':
      cmd_tick(&w, a);
      break;
    case 'Q':
      if (s_env->can_quit) {
        result = EL_PROTO_QUIT;
      } else {
        put_str(&w, "err unsupported");
        *w.p = '\0';
        return EL_PROTO_CONTINUE;
      }
      break;
    case 'P':
      cmd_cost(&w);
      break;
    case 'D':
      cmd_diag(&w);
      break;
    case 'M':
      cmd_memory(&w);
      break;
    case 'W':
      cmd_flip(&w, a);
      break;
    case 'X':
      trap = edgeloop_debug_trap((int)a[0]);
      break;
  }
  if (trap != 0) {
    reply_trap(&w, trap);
  } else if (op == 'I' || op == 'C' || op == 'K' || op == 'S' || op == 'R' || op == 'G' || op == 'Q') {
    reply_status(&w, st);
  }
  *w.p = '\0';
  return result;
}
