/*
 * base: the library every slipway module stands on. It depends on nothing in slipway.
 *
 *   arena   one memory region per request/operation, with a byte budget
 *   slice   borrowed, not NUL-terminated views of bytes
 *   sbuf    owned, bounded, NUL-terminated growable buffers with sticky errors
 *   err     error codes and the caller-owned struct err, mapped once to HTTP and GraphQL
 *   json    jansson for reading, a streaming writer (jw_*) for responses
 *   log     JSON lines on stderr through one writer thread; secrets redacted by type
 *   cfg     one declarative table per module: defaults < file < SLIPWAY_* env < flags
 *   id      time-ordered ids (UUIDv7)
 *   ev      one event loop per thread; other threads reach it only through ev_post()
 *   pool    worker threads for blocking work, completion posted back to the caller's loop
 *   proc    child processes started in a process group of their own
 *   metrics Prometheus counters, gauges and histograms with a text renderer
 */
#ifndef SLIPWAY_BASE_H
#define SLIPWAY_BASE_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#define APP_MUST_CHECK   __attribute__((warn_unused_result))
#define APP_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define APP_NORETURN     __attribute__((noreturn))
#define ARRAY_LEN(a)     (sizeof(a) / sizeof((a)[0]))

/* ---------------------------------------------------------------- assertions */

/* ASSERT stays on in release builds: a broken invariant logs file:line and aborts.
 * DASSERT is for checks too costly for release. NEVER(x) marks a state that cannot happen
 * but still gets a safe path: it asserts in debug builds and returns x in release. */
APP_NORETURN void base_assert_fail(const char *expr, const char *file, int line);
#define ASSERT(x) ((x) ? (void)0 : base_assert_fail(#x, __FILE__, __LINE__))
#ifdef NDEBUG
#define DASSERT(x) ((void)0)
#define NEVER(x)   (x)
#else
#define DASSERT(x) ASSERT(x)
#define NEVER(x)   ((x) ? (base_assert_fail(#x, __FILE__, __LINE__), 1) : 0)
#endif

/* xmalloc and friends abort on failure: small, fixed sizes only. */
void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t n);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
/* <n> bytes of <s> and a NUL. */
char *xstrndup(const char *s, size_t n);
#define FREE_AND_NULL(p)                                                                           \
    do {                                                                                           \
        free(p);                                                                                   \
        (p) = NULL;                                                                                \
    } while (0)

/* ---------------------------------------------------------------- errors */

enum err_code {
    ERR_OK = 0,
    ERR_INVALID = -1,     /* the input breaks a rule; the message names the field and the rule */
    ERR_NOTFOUND = -2,    /* the thing asked for does not exist (or is not visible) */
    ERR_CONFLICT = -3,    /* the state does not allow it (exists already, changed meanwhile) */
    ERR_LIMIT = -4,       /* a configured limit was reached (size, count, rate, budget) */
    ERR_UNAVAILABLE = -5, /* a dependency is down; trying again later may work */
    ERR_TIMEOUT = -6,     /* a deadline passed */
    ERR_IO = -7,          /* the operating system refused (disk, socket) */
    ERR_INTERNAL = -8,    /* a bug or an impossible state */
    ERR_UNAUTHENTICATED = -9,
    ERR_FORBIDDEN = -10,
    ERR_CANCELLED = -11, /* someone cancelled the operation (a workflow, a build) */
};
#define ERR_CODE_MIN ERR_CANCELLED

/* Owned by the caller; the callee fills it when it fails. */
struct err {
    int code;
    char msg[200];
};

/* Records <code> and the formatted message in <e> (which may be NULL) and returns <code>, so a
 * failing function can `return err_set(err, ERR_INVALID, "x must be positive");`. */
int err_set(struct err *e, int code, const char *fmt, ...) APP_PRINTF(3, 4);
int err_setv(struct err *e, int code, const char *fmt, va_list ap) APP_PRINTF(3, 0);
/* Prefixes the message already in <e> with "<prefix>: " and returns its code. */
int err_wrap(struct err *e, const char *fmt, ...) APP_PRINTF(2, 3);
const char *err_name(int code);     /* "invalid", "not_found", … */
int err_http_status(int code);      /* 400, 404, 409, 429, 503, 504, 500, 500, 500, 401, 403 */
const char *err_gql_code(int code); /* BAD_USER_INPUT, NOT_FOUND, CONFLICT, … INTERNAL */
/* Maps an errno value to an ERR_* code (ENOENT → NOTFOUND, ENOSPC → IO, …). */
int err_from_errno(int errnum);

/* ---------------------------------------------------------------- slices */

struct slice {
    const char *ptr;
    size_t len;
};
#define SLICE(lit) ((struct slice){(lit), sizeof(lit) - 1})

/* A file compiled into the binary by scripts/embed (see the Makefile's gen/ rules). */
struct embedded_file {
    const char *name; /* its path in the source tree, e.g. "schema/gateway.graphql" */
    const char *text; /* NUL-terminated */
    size_t len;
};
#define SLICE_NULL   ((struct slice){NULL, 0})
#define SLICE_FMT    "%.*s"
#define SLICE_ARG(s) (int)(s).len, (s).ptr

struct slice slice_from_cstr(const char *s);
bool slice_eq(struct slice a, struct slice b);
bool slice_eq_cstr(struct slice a, const char *b);
bool slice_case_eq_cstr(struct slice a, const char *b); /* ASCII case-insensitive */
bool slice_starts_with(struct slice s, struct slice prefix);
struct slice slice_trim(struct slice s); /* strips ASCII spaces and tabs on both ends */
/* Splits <s> at the first <sep>: *head gets what is before, <s> what is after. Returns false
 * (and gives all of <s> to *head) when <sep> does not occur. */
bool slice_split(struct slice *s, char sep, struct slice *head);
/* 0..15 for a hexadecimal digit (either case), else -1. */
int slice_hex_digit(char c);
/* Copies at most <max> bytes of <v> into <out> (which holds <max> + 4) to quote back in an
 * error message: control bytes become '?', a cut value ends in "..." (never inside a UTF-8
 * character). Returns <out>. Never call it with a secret. */
const char *slice_echo(char *out, size_t max, struct slice v);
/* Decimal digits only, no sign, no spaces; ERR_INVALID on anything else, ERR_LIMIT past max. */
int slice_to_u64(struct slice s, uint64_t *out) APP_MUST_CHECK;

/* ---------------------------------------------------------------- arena */

struct arena;
struct arena_opts {
    size_t chunk;  /* bytes per chunk, 0 = 4 KiB */
    size_t budget; /* total bytes the arena may hand out, 0 = unlimited */
};
typedef void arena_cleanup_fn(void *arg);

/* Returns a new arena; aborts only if the first small header cannot be allocated. */
struct arena *arena_new(const struct arena_opts *opts);
/* Runs the cleanups registered with arena_on_free (last first), then frees all memory. */
void arena_free(struct arena *a);
/* Runs the cleanups and forgets every allocation, keeping one chunk for reuse: the arena is
 * as new, with the same options (a per-loop cache of arenas saves the mallocs). */
void arena_reset(struct arena *a);
/* Memory aligned for any type, valid until arena_free(). NULL when the budget is spent or the
 * system has no memory; never aborts. */
void *arena_alloc(struct arena *a, size_t n) APP_MUST_CHECK;
void *arena_zalloc(struct arena *a, size_t n) APP_MUST_CHECK;
char *arena_strndup(struct arena *a, const char *s, size_t n) APP_MUST_CHECK;
char *arena_printf(struct arena *a, const char *fmt, ...) APP_PRINTF(2, 3) APP_MUST_CHECK;
/* A NUL-terminated copy of <s> in <a>; {NULL, 0} when out of budget. */
struct slice slice_dup(struct arena *a, struct slice s);
/* Percent-decodes <s> ("%2F" → "/"; '+' → ' ' too when <plus_is_space>, as in query strings)
 * into a NUL-terminated copy in <a>. ERR_INVALID on a bad escape, ERR_LIMIT when <a> is
 * spent. The result may hold NUL bytes: callers that forbid them check. */
int slice_percent_decode(struct arena *a, struct slice s, bool plus_is_space,
                         struct slice *out) APP_MUST_CHECK;
/* Registers <fn>(<arg>) to run at arena_free(), before the memory goes. 0 or ERR_LIMIT. */
int arena_on_free(struct arena *a, arena_cleanup_fn *fn, void *arg) APP_MUST_CHECK;
size_t arena_used(const struct arena *a);

/* ---------------------------------------------------------------- sbuf */

/* An owned, NUL-terminated buffer that grows up to <max> bytes (not counting the NUL).
 * Errors are sticky: the first failure (ERR_LIMIT past max) is kept in <err>, later writes
 * are ignored, and the data written before the failure stays intact. buf is never NULL. */
struct sbuf {
    char *buf;
    size_t len;
    size_t cap;
    size_t max;
    int err;
};
extern char sbuf_empty[1];
#define SBUF_INIT(max_bytes) ((struct sbuf){sbuf_empty, 0, 0, (max_bytes), 0})

void sbuf_init(struct sbuf *b, size_t max);
void sbuf_release(struct sbuf *b);
void sbuf_reset(struct sbuf *b); /* len = 0 and err = 0, memory kept */
void sbuf_put(struct sbuf *b, const void *p, size_t n);
void sbuf_puts(struct sbuf *b, const char *s);
void sbuf_putc(struct sbuf *b, char c);
void sbuf_put_slice(struct sbuf *b, struct slice s);
void sbuf_put_i64(struct sbuf *b, int64_t v); /* decimal, as "%" PRId64 without printf */
void sbuf_put_u64(struct sbuf *b, uint64_t v);
void sbuf_printf(struct sbuf *b, const char *fmt, ...) APP_PRINTF(2, 3);
void sbuf_vprintf(struct sbuf *b, const char *fmt, va_list ap) APP_PRINTF(2, 0);
/* Makes room for <n> more bytes and returns where they go (NULL on error); sbuf_commit()
 * then adds the bytes actually written. */
char *sbuf_reserve(struct sbuf *b, size_t n);
void sbuf_commit(struct sbuf *b, size_t n);
void sbuf_consume(struct sbuf *b, size_t n); /* drops the first <n> bytes */
/* Hands the bytes to the caller (free() them); the buffer is empty again. Never NULL. */
char *sbuf_take(struct sbuf *b, size_t *len);
static inline struct slice sbuf_slice(const struct sbuf *b)
{
    return (struct slice){b->buf, b->len};
}

/* ---------------------------------------------------------------- time */

uint64_t time_mono_ns(void); /* CLOCK_MONOTONIC */
uint64_t time_mono_ms(void);
uint64_t time_wall_ms(void); /* Unix epoch */
/* Condition variables whose timed waits follow the monotonic clock, so a step of the wall
 * clock neither stretches nor cuts them. cond_wait_until() waits on <cv> (holding <m>) until
 * woken or until time_mono_ns() reaches <at_ns>: 0, or ETIMEDOUT once that time has passed. */
void cond_init_mono(pthread_cond_t *cv);
int cond_wait_until(pthread_cond_t *cv, pthread_mutex_t *m, uint64_t at_ns);
/* Writes "2026-01-05T10:00:00.123Z" (24 chars + NUL) for <ms> since the epoch. */
void time_rfc3339_ms(uint64_t ms, char out[32]);

/* ---------------------------------------------------------------- parsing helpers */

/* "250ms", "30s", "5m", "2h", "1d", or a bare number of seconds. ERR_INVALID on anything else,
 * ERR_LIMIT past a year. */
int parse_duration_ms(struct slice s, uint64_t *out_ms) APP_MUST_CHECK;
/* A moment as Unix milliseconds ("1767607200000") or an RFC 3339 date-time with a zone
 * ("2026-01-05T10:00:00Z", "2026-01-05T10:00:00.5+02:00"), up to year 9999; ERR_INVALID
 * otherwise (also before 1970, or the 31st of a month of 30 days). */
int parse_time_ms(struct slice s, uint64_t *out_ms) APP_MUST_CHECK;
/* "512", "64KiB", "8MiB", "1GiB", "10kB", "5MB". ERR_INVALID or ERR_LIMIT (past 1 TiB). */
int parse_size(struct slice s, uint64_t *out) APP_MUST_CHECK;

/* ---------------------------------------------------------------- files */

/* Writes <len> bytes to <path> so that a crash leaves either the old file or the new one:
 * a temporary file in the same directory, fsync, rename, fsync of the directory. <mode> is
 * the new file's permission bits. */
int file_write_atomic(const char *path, const void *data, size_t len, unsigned mode,
                      struct err *err) APP_MUST_CHECK;
/* Reads the <len>-byte secret in <path>, creating it (random bytes, mode 0600, written
 * atomically) when it does not exist. ERR_INVALID when the file has another size,
 * ERR_FORBIDDEN when others may read it. */
int file_secret_load(const char *path, unsigned char *key, size_t len,
                     struct err *err) APP_MUST_CHECK;
/* Writes all <len> bytes of <data> to <fd>, again after EINTR and short writes: 0, or -1 with
 * errno set (0 when the fd stopped taking bytes). Only write() and errno: safe in a forked
 * child of a threaded process. */
int file_write_all(int fd, const void *data, size_t len);
/* Appends the whole file <path> (not through a symbolic link) to <out>: ERR_LIMIT naming the
 * file when it passes <out>'s max, the errno's code (ERR_NOTFOUND for a missing one) else. */
int file_read(const char *path, struct sbuf *out, struct err *err) APP_MUST_CHECK;
/* mkdir -p <path>: creates it and the directories above it that are missing, each new one with
 * <mode> and, when <owner> is not negative, owned by <owner>:<owner>. 0 when it exists. */
int file_mkdirs(const char *path, unsigned mode, int owner, struct err *err) APP_MUST_CHECK;
/* rm -rf <path>, never following a symbolic link: 0 once it is gone (or never was). */
int file_remove_tree(const char *path, struct err *err) APP_MUST_CHECK;

/* ---------------------------------------------------------------- id */

/* A UUIDv7 (RFC 9562): 48-bit Unix milliseconds, then randomness; ids made in this process
 * sort in creation order. <out> gets 36 chars + NUL. */
void id_new(char out[37]);
bool id_valid(struct slice s);
/* A slug: what names workspaces, projects, environments and services in the API — an RFC 1123
 * DNS label, ^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$. Also safe as one path component. */
#define SLUG_MAX 63
bool slug_valid(struct slice s);

/* ---------------------------------------------------------------- log */

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };
enum log_field_type { LF_T_STR, LF_T_INT, LF_T_UINT, LF_T_DBL, LF_T_BOOL, LF_T_SECRET, LF_T_END };
struct log_field {
    const char *key;
    enum log_field_type type;
    union {
        struct slice s;
        int64_t i;
        uint64_t u;
        double d;
        bool b;
    } v;
};
#define LF_STR(k, str)  ((struct log_field){(k), LF_T_STR, {.s = slice_from_cstr(str)}})
#define LF_SLICE(k, sl) ((struct log_field){(k), LF_T_STR, {.s = (sl)}})
#define LF_INT(k, n)    ((struct log_field){(k), LF_T_INT, {.i = (int64_t)(n)}})
#define LF_UINT(k, n)   ((struct log_field){(k), LF_T_UINT, {.u = (uint64_t)(n)}})
#define LF_DBL(k, n)    ((struct log_field){(k), LF_T_DBL, {.d = (double)(n)}})
#define LF_BOOL(k, n)   ((struct log_field){(k), LF_T_BOOL, {.b = (n)}})
/* Never printed: the line says "***" whatever the value. */
#define LF_SECRET(k, str) ((struct log_field){(k), LF_T_SECRET, {.s = SLICE_NULL}})
#define LF_END_           ((struct log_field){NULL, LF_T_END, {.i = 0}})

/* Who is speaking: a service, and optionally the request or job it works for. Children copy
 * their parent and add ids. Strings are borrowed and must outlive the lines written. */
struct log_ctx {
    const char *svc;
    const char *req;
    const char *job;
};

/* Starts the writer thread; lines go to <fd> (stderr normally). <queue_max> lines may wait;
 * past that, lines are counted as dropped and the count is reported in the next line written.
 * Before log_start() (and after log_stop()) lines are written synchronously. */
void log_start(int fd, enum log_level min, size_t queue_max);
void log_stop(void); /* writes every queued line, then joins the writer */
void log_set_level(enum log_level min);
bool log_enabled(enum log_level lvl);
uint64_t log_dropped(void);
void log_write(const struct log_ctx *ctx, enum log_level lvl, const char *ev,
               const struct log_field *fields);
/* Formats one line into <out> without the trailing newline; for tests and the writer. */
void log_format(struct sbuf *out, uint64_t ts_ms, const struct log_ctx *ctx, enum log_level lvl,
                const char *ev, const struct log_field *fields);
enum log_level log_level_parse(const char *s, bool *ok);

#define LOG_AT_(lvl, ctx, ev, ...)                                                                 \
    do {                                                                                           \
        if (log_enabled(lvl))                                                                      \
            log_write((ctx), (lvl), (ev),                                                          \
                      (const struct log_field[]){__VA_ARGS__ __VA_OPT__(, ) LF_END_});             \
    } while (0)
#define LOG_DEBUG(ctx, ev, ...) LOG_AT_(LOG_DEBUG, ctx, ev, __VA_ARGS__)
#define LOG_INFO(ctx, ev, ...)  LOG_AT_(LOG_INFO, ctx, ev, __VA_ARGS__)
#define LOG_WARN(ctx, ev, ...)  LOG_AT_(LOG_WARN, ctx, ev, __VA_ARGS__)
#define LOG_ERROR(ctx, ev, ...) LOG_AT_(LOG_ERROR, ctx, ev, __VA_ARGS__)

/* ---------------------------------------------------------------- json */

/* Reading uses jansson directly (json_t). These helpers add limits and field-naming errors. */
typedef struct json_t json_t;

/* Parses <body> as a JSON object of at most <max_bytes> and <max_depth> nesting. On failure
 * returns ERR_INVALID naming the rule ("body: invalid JSON at line 1, column 7: …", "body:
 * nested deeper than 32 levels"): input past a limit is bad input (400), not a rate; on success
 * *out is a new reference the caller json_decref()s. */
int json_read_object(struct slice body, size_t max_bytes, int max_depth, json_t **out,
                     struct err *err) APP_MUST_CHECK;
/* Field access that names the field and the rule on failure. <required> false lets an
 * absent or null field leave *out untouched and return 0. */
int json_get_str(const json_t *obj, const char *field, bool required, struct slice *out,
                 struct err *err) APP_MUST_CHECK;
int json_get_int(const json_t *obj, const char *field, bool required, int64_t min, int64_t max,
                 int64_t *out, struct err *err) APP_MUST_CHECK;
int json_get_bool(const json_t *obj, const char *field, bool required, bool *out,
                  struct err *err) APP_MUST_CHECK;

/* A streaming writer into an sbuf: commas and nesting are tracked for the caller. Writers
 * after an error do nothing; the sbuf's sticky error reports it. */
struct jw {
    struct sbuf *out;
    uint32_t depth;
    uint64_t need_comma; /* bit d set: the next value at depth d needs a comma first */
    uint64_t after_key;  /* bit d set: a key was just written at depth d */
};
void jw_init(struct jw *w, struct sbuf *out);
void jw_obj_begin(struct jw *w);
void jw_obj_end(struct jw *w);
void jw_arr_begin(struct jw *w);
void jw_arr_end(struct jw *w);
void jw_key(struct jw *w, const char *key);
void jw_str(struct jw *w, const char *s);
void jw_slice(struct jw *w, struct slice s);
void jw_int(struct jw *w, int64_t v);
void jw_uint(struct jw *w, uint64_t v);
void jw_dbl(struct jw *w, double v);
void jw_bool(struct jw *w, bool v);
void jw_null(struct jw *w);
void jw_raw(struct jw *w, struct slice json); /* already-encoded JSON value */
/* Appends <s> as a JSON string literal with quotes (escapes control chars, replaces invalid
 * UTF-8 with U+FFFD). */
void json_escape(struct sbuf *out, struct slice s);
/* Appends <s> as text a database will take: each byte of an invalid UTF-8 sequence becomes
 * U+FFFD and each NUL the two characters "\0". */
void sbuf_put_utf8(struct sbuf *out, struct slice s);

/* ---------------------------------------------------------------- cfg */

enum cfg_type { CFG_T_INT, CFG_T_BOOL, CFG_T_STR, CFG_T_SECRET, CFG_T_DURATION, CFG_T_SIZE };
#define CFG_RELOAD 1u /* may change while running */

/* One key of a module's table. The value lives at <offset> in the module's config struct:
 * int64_t for INT, DURATION (milliseconds) and SIZE (bytes); bool for BOOL; char * (owned by
 * the cfg set) for STR and SECRET. */
struct cfg_key {
    const char *name; /* "http.max_body_bytes" */
    enum cfg_type type;
    size_t offset;
    int64_t def_int;
    const char *def_str;
    int64_t min, max;
    unsigned flags;
    const char *doc;
};
#define CFG_INT(n, T, f, d, lo, hi, fl, doc)                                                       \
    {                                                                                              \
        (n), CFG_T_INT, offsetof(T, f), (d), NULL, (lo), (hi), (fl), (doc)                         \
    }
#define CFG_DURATION(n, T, f, d, lo, hi, fl, doc)                                                  \
    {                                                                                              \
        (n), CFG_T_DURATION, offsetof(T, f), (d), NULL, (lo), (hi), (fl), (doc)                    \
    }
#define CFG_SIZE(n, T, f, d, lo, hi, fl, doc)                                                      \
    {                                                                                              \
        (n), CFG_T_SIZE, offsetof(T, f), (d), NULL, (lo), (hi), (fl), (doc)                        \
    }
#define CFG_BOOL(n, T, f, d, fl, doc)                                                              \
    {                                                                                              \
        (n), CFG_T_BOOL, offsetof(T, f), (d), NULL, 0, 1, (fl), (doc)                              \
    }
#define CFG_STR(n, T, f, d, fl, doc)                                                               \
    {                                                                                              \
        (n), CFG_T_STR, offsetof(T, f), 0, (d), 0, 0, (fl), (doc)                                  \
    }
#define CFG_SECRET(n, T, f, fl, doc)                                                               \
    {                                                                                              \
        (n), CFG_T_SECRET, offsetof(T, f), 0, NULL, 0, 0, (fl), (doc)                              \
    }

/* A module's table and the struct it fills. */
struct cfg_section {
    const char *module;
    const struct cfg_key *keys;
    size_t nkeys;
    void *target;
};

enum cfg_source { CFG_SRC_DEFAULT, CFG_SRC_FILE, CFG_SRC_ENV, CFG_SRC_FLAG };

struct cfg;
struct cfg *cfg_new(void);
void cfg_free(struct cfg *c); /* frees the strings it put into targets too */
/* Registers a section; its target is filled with defaults at once. */
void cfg_add(struct cfg *c, const struct cfg_section *sec);
/* Reads "key = value" lines (# comments, blank lines) from <path>. Errors name path:line and
 * the key. An unknown key is an error. */
int cfg_load_file(struct cfg *c, const char *path, struct err *err) APP_MUST_CHECK;
/* cfg_load_file() for <text> already in memory; <name> stands for the path in errors. */
int cfg_load_buffer(struct cfg *c, const char *name, struct slice text,
                    struct err *err) APP_MUST_CHECK;
/* Reads SLIPWAY_<KEY> variables from <envp> (key with dots as underscores, upper case). */
int cfg_load_env(struct cfg *c, char *const *envp, struct err *err) APP_MUST_CHECK;
/* Sets one key from a flag ("--set http.port=9000" or a dedicated flag). */
int cfg_set(struct cfg *c, const char *key, const char *value, enum cfg_source src,
            struct err *err) APP_MUST_CHECK;
/* Writes every key, value (secrets as "***" when set) and where it came from, one per line. */
void cfg_show(const struct cfg *c, struct sbuf *out);
/* Writes the documentation of every key (name, type, default, range, doc). */
void cfg_doc(const struct cfg *c, struct sbuf *out);

/* ---------------------------------------------------------------- ev */

struct ev;
struct ev_timer;
typedef void ev_fn(void *arg);
typedef void ev_io_fn(void *arg, uint32_t events); /* EPOLLIN/EPOLLOUT/EPOLLERR/EPOLLHUP bits */

/* A loop owned by the thread that calls ev_run(). */
struct ev *ev_new(const char *name);
void ev_free(struct ev *l);
/* Runs until ev_stop(); sets ev_current() for this thread. */
void ev_run(struct ev *l);
/* Any thread: ends ev_run() after the current iteration. */
void ev_stop(struct ev *l);
/* Any thread: runs fn(arg) on <l>'s thread, in order of posting. Never fails: the queue is
 * unbounded because callers are bounded by their own limits (pool size, connections). */
void ev_post(struct ev *l, ev_fn *fn, void *arg);
/* The loop of the calling thread, or NULL when it runs none. */
struct ev *ev_current(void);
const char *ev_name(const struct ev *l);
/* Loop thread only: watch <fd> for <events>; <fn> runs on this loop. */
int ev_io_add(struct ev *l, int fd, uint32_t events, ev_io_fn *fn, void *arg) APP_MUST_CHECK;
int ev_io_mod(struct ev *l, int fd, uint32_t events) APP_MUST_CHECK;
void ev_io_del(struct ev *l, int fd);
/* Loop thread only: runs fn(arg) once after <ms>. The handle is valid until the timer fires
 * or is cancelled. */
struct ev_timer *ev_timer_add(struct ev *l, uint64_t ms, ev_fn *fn, void *arg);
void ev_timer_cancel(struct ev *l, struct ev_timer *t);
uint64_t ev_now_ms(const struct ev *l); /* monotonic ms, cached per iteration */

/* ---------------------------------------------------------------- pool */

struct pool;
typedef void pool_work_fn(void *arg); /* runs on a worker thread; may block */
typedef void pool_done_fn(void *arg); /* runs on the submitting loop afterwards */

struct pool *pool_new(const char *name, unsigned threads);
/* Finishes the queued work, then joins the workers. */
void pool_free(struct pool *p);
/* Runs work(arg) on a worker, then done(arg) on the loop of the calling thread (ev_current(),
 * which must exist when <done> is set). */
void pool_run(struct pool *p, pool_work_fn *work, pool_done_fn *done, void *arg);
unsigned pool_threads(const struct pool *p);
size_t pool_queued(struct pool *p);

/* ---------------------------------------------------------------- proc */

/* A child for proc_spawn(). */
struct proc_spec {
    const char *path;        /* the program: no PATH search */
    const char *const *argv; /* NULL-terminated */
    const char *const *env;  /* NULL-terminated "K=V": the child's whole environment */
    int fds[3];              /* become the child's 0, 1 and 2; -1: /dev/null */
};

/* Starts <s> in a process group of its own (kill(-pid) ends it and all it started), with no
 * signal blocked and every signal at its default action (slipway ignores SIGPIPE; a child
 * must not), and nothing open but 0, 1 and 2. *pid is the child, for the caller to wait for.
 * Any thread. The ERR_* of errno, "cannot start <path>: <why>", when it could not start. */
int proc_spawn(const struct proc_spec *s, pid_t *pid, struct err *err) APP_MUST_CHECK;

/* ---------------------------------------------------------------- metrics */

/* Prometheus metrics. Metric objects are made at start-up and live until metrics_free();
 * updating them is lock-free and safe from any thread. */
struct metrics;
struct metric;
enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };
typedef void metrics_collect_fn(void *arg, struct metrics *m); /* refreshes gauges at scrape */

struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);
/* Registers a family. <labels> is NULL or a NULL-terminated list of label names. Histograms
 * take <buckets> (upper bounds, ascending) and <nbuckets>. */
struct metric *metrics_family(struct metrics *m, enum metric_type type, const char *name,
                              const char *help, const char *const *labels, const double *buckets,
                              size_t nbuckets);
/* The series for these label values (as many as the family has labels), created on first use.
 * The returned pointer stays valid; cache it on hot paths. NULL past 1,024 series a family. */
struct metric *metric_series(struct metric *family, const char *const *values);
void metric_add(struct metric *s, double v);
void metric_set(struct metric *s, double v);
void metric_observe(struct metric *s, double v);
void metrics_on_collect(struct metrics *m, metrics_collect_fn *fn, void *arg);
/* Registers <fn>, which appends whole families in the text format after the registered ones at
 * every render: for series that come and go (the replicas of apps). */
typedef void metrics_text_fn(void *arg, struct sbuf *out);
void metrics_on_render(struct metrics *m, metrics_text_fn *fn, void *arg);
/* Prometheus text exposition format 0.0.4. */
void metrics_render(struct metrics *m, struct sbuf *out);
/* Registers process_cpu_seconds_total, process_resident_memory_bytes, process_open_fds,
 * process_max_fds, process_start_time_seconds, process_virtual_memory_bytes. */
void metrics_add_process(struct metrics *m);

#include "base/banned.h"

#endif
