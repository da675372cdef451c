/*
 * flow-bench: the measuring half of bench/flow.sh. Each mode does one thing, times it with
 * the monotonic clock and prints one JSON line on stdout.
 *
 *   flow-bench raw <sqlite-path> <n>
 *       <n> transactions of one single-row INSERT and COMMIT through store_* on SQLite
 *       (store_open's settings: WAL, synchronous=FULL), in a new table of the file: what one
 *       durable write costs on this disk, the ceiling of a workflow that records every step.
 *       Prints {"rows":n,"seconds":s,"per_s":x}.
 *   flow-bench seq <store-url> <steps>
 *       one workflow of <steps> steps, each a function that writes a tiny output (its own
 *       number), queued with flow_start(), timed as below. Prints {"steps":n,"seconds":s,
 *       "steps_per_s":x,"start_seconds":t}.
 *   flow-bench conc <store-url> <wfs> <steps>
 *       <wfs> such workflows of <steps> steps each, all queued (flow_start() in a loop) before
 *       the clock starts, as the peer's jobs are. Prints {"workflows":w,"steps":n,
 *       "seconds":s,"steps_per_s":x,"queue_seconds":q,"start_seconds":t}, q what queueing
 *       them took.
 *
 * The clock is the peer's (bench/flow-graphile.mjs): it starts when the first step starts
 * (after flow_start_engine(): start_seconds is how long that took, connecting to the store and
 * claiming the first workflows) and stops when the store shows every workflow ended: once
 * every workflow function has returned, the flow_wf table is polled every millisecond, as the
 * peer polls its job table. Each workflow is then checked with flow_wait(), off the clock.
 *
 * On SQLite every mode first makes 1,200 unmeasured one-row commits (see warm_wal()).
 *
 * <store-url> is what store_open() takes: "sqlite:<path>" or a postgres:// URL. The engine
 * runs with its defaults (flow_opts all 0) on a store opened with its defaults, so the
 * figures are what a service gets. Only warnings and errors are logged (on stderr). Exit
 * status 0, or 1 with the error on stderr.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "base/base.h"
#include "flow/flow.h"
#include "store/store.h"

enum {
    MAX_STEPS = 10000000,
    MAX_WFS = 100000,
    WARM_COMMITS = 1200, /* one-page commits: past SQLite's first checkpoint at 1000 pages */
};
#define WAIT_MS (30 * 60 * 1000) /* per flow_wait(): far longer than any sane run */
#define WF_NAME "bench.steps"

static const struct log_ctx bench_log = {.svc = "flow-bench"};

static double seconds_since(uint64_t t0_ns)
{
    return (double)(time_mono_ns() - t0_ns) / 1e9;
}

/* <s> as a count in 1..<max>; exits on anything else. */
static uint64_t count_arg(const char *what, const char *s, uint64_t max)
{
    uint64_t v = 0;

    if (slice_to_u64(slice_from_cstr(s), &v) < 0 || v == 0 || v > max) {
        fprintf(stderr, "flow-bench: %s must be 1..%" PRIu64 ", not '%s'\n", what, max, s);
        exit(2);
    }
    return v;
}

static int open_store(const char *url, struct store **s, struct err *err)
{
    struct store_opts o = {.url = url, .service = "flow-bench"};

    return store_open(&o, s, err);
}

/* ---------------------------------------------------------------- raw */

static int raw_insert(struct store *s, uint64_t i, struct err *err)
{
    struct store_tx *tx = NULL;
    char key[37], val[24];
    int rc;

    /* a row about the size of a step's: a UUID-sized key and a tiny value */
    id_new(key);
    snprintf(val, sizeof(val), "%" PRIu64, i);
    const struct store_val args[] = {SV_CSTR(key), SV_BLOB(slice_from_cstr(val))};
    rc = store_begin(s, &tx, err);
    if (rc < 0)
        return rc;
    rc = store_exec(tx, "INSERT INTO bench_raw (k, v) VALUES (?, ?)", args, ARRAY_LEN(args), NULL,
                    err);
    if (rc < 0) {
        store_rollback(tx);
        return rc;
    }
    return store_commit(tx, err);
}

/* <n> raw_insert() transactions, in a table made when missing. */
static int raw_rows(struct store *s, uint64_t n, struct err *err)
{
    int rc = store_exec1(s,
                         "CREATE TABLE IF NOT EXISTS bench_raw"
                         " (id INTEGER PRIMARY KEY, k TEXT NOT NULL, v BLOB NOT NULL)",
                         NULL, 0, NULL, err);

    for (uint64_t i = 0; rc == 0 && i < n; i++)
        rc = raw_insert(s, i, err);
    return rc;
}

/* SQLite: brings a new database's write-ahead log to its working size before anything is
 * timed. Until the first checkpoint (at 1000 pages) every commit appends to the log, and
 * an append costs a second synchronous write here (the file's new size); after it, commits
 * overwrite the log in place. A service's log has long reached that size, so both the raw
 * rate and the workflows are measured past it. PostgreSQL recycles its log: nothing to do. */
static int warm_wal(struct store *s, struct err *err)
{
    return store_kind(s) == STORE_SQLITE ? raw_rows(s, WARM_COMMITS, err) : 0;
}

static int run_raw(const char *path, uint64_t n, struct err *err)
{
    struct sbuf url = SBUF_INIT(4096);
    struct store *s = NULL;
    uint64_t t0;
    int rc;

    sbuf_printf(&url, "sqlite:%s", path);
    if (url.err != 0) {
        sbuf_release(&url);
        return err_set(err, ERR_INVALID, "path too long");
    }
    rc = open_store(url.buf, &s, err);
    sbuf_release(&url);
    if (rc < 0)
        return rc;
    rc = warm_wal(s, err);
    t0 = time_mono_ns();
    if (rc == 0)
        rc = raw_rows(s, n, err);
    if (rc == 0) {
        double secs = seconds_since(t0);
        printf("{\"rows\":%" PRIu64 ",\"seconds\":%.4f,\"per_s\":%.0f}\n", n, secs,
               (double)n / secs);
    }
    store_close(s);
    return rc;
}

/* ---------------------------------------------------------------- workflows */

/* Sleeps about a millisecond. */
static void nap(void)
{
    nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
}

static _Atomic uint64_t first_step_ns; /* time_mono_ns() when the first step started */
static atomic_ulong returned;          /* workflow functions that returned */

/* The step: writes its input (its number) back as its output. */
static int noop_step(struct flow_call *call, struct slice input, struct sbuf *output,
                     struct err *err)
{
    uint64_t zero = 0;

    (void)call, (void)err;
    atomic_compare_exchange_strong(&first_step_ns, &zero, time_mono_ns());
    sbuf_put_slice(output, input);
    return output->err;
}

/* The workflow: its input is the number of steps to run, one after the other. */
static int steps_wf(struct flow_ctx *ctx, struct slice input, struct sbuf *result, struct err *err)
{
    uint64_t n = 0;
    char num[24];
    int rc = 0;

    if (slice_to_u64(input, &n) < 0)
        return err_set(err, ERR_INVALID, "input must be a step count");
    for (uint64_t i = 0; i < n; i++) {
        struct slice out;
        int len = snprintf(num, sizeof(num), "%" PRIu64, i);

        rc = flow_step(ctx, "noop", noop_step, (struct slice){num, (size_t)len}, &out, err);
        if (rc < 0)
            break;
    }
    if (rc == 0)
        sbuf_printf(result, "%" PRIu64, n);
    atomic_fetch_add(&returned, 1);
    return rc < 0 ? rc : result->err;
}

/* The store and an engine with the benchmark's workflow registered, not yet running. */
static int engine_open(const char *url, struct store **s, struct flow **f, struct err *err)
{
    static const struct flow_wf_def def = {.name = WF_NAME, .fn = steps_wf};
    int rc;

    *f = NULL;
    rc = open_store(url, s, err);
    if (rc < 0)
        return rc;
    rc = flow_migrate(*s, err);
    if (rc == 0)
        rc = warm_wal(*s, err);
    if (rc < 0)
        goto fail;
    *f = flow_new(&(struct flow_opts){.store = *s, .service = "flow-bench"});
    rc = flow_register(*f, &def, err);
    if (rc == 0)
        return 0;
    flow_free(*f);
    *f = NULL;
fail:
    store_close(*s);
    *s = NULL;
    return rc;
}

static void engine_close(struct store *s, struct flow *f)
{
    flow_free(f);
    store_close(s);
}

/* Waits for workflow <id> and checks that it succeeded. */
static int wait_ok(struct flow *f, const char *id, struct err *err)
{
    struct arena *a = arena_new(&(struct arena_opts){.chunk = 4096});
    struct flow_outcome out = {0};
    int rc;

    rc = flow_wait(f, a, slice_from_cstr(id), WAIT_MS, &out, err);
    if (rc == 0 && out.status != FLOW_SUCCEEDED)
        rc = err_set(err, ERR_INTERNAL, "workflow %s ended %s: " SLICE_FMT, id,
                     flow_status_name(out.status), SLICE_ARG(out.err_msg));
    arena_free(a);
    return rc;
}

/* Returns once every workflow function has returned and the store shows none of the
 * workflows still to end (their ends committed). */
static int wait_ended(struct store *s, uint64_t wfs, struct err *err)
{
    struct arena *a = arena_new(&(struct arena_opts){.chunk = 4096});
    uint64_t deadline = time_mono_ms() + WAIT_MS;
    struct store_rows *r;
    int rc = 0;

    while (rc == 0 && atomic_load(&returned) < wfs && time_mono_ms() < deadline)
        nap();
    for (;;) {
        arena_reset(a);
        rc =
            store_read1(s, a,
                        "SELECT CAST(COUNT(*) AS BIGINT) FROM flow_wf WHERE name = ? AND "
                        "status < ?",
                        (struct store_val[]){SV_CSTR(WF_NAME), SV_INT(FLOW_SUCCEEDED)}, 2, &r, err);
        if (rc < 0 || (r->nrows == 1 && store_cell(r, 0, 0)->i == 0))
            break;
        if (time_mono_ms() >= deadline) {
            rc = err_set(err, ERR_TIMEOUT, "the workflows did not end in %d s", WAIT_MS / 1000);
            break;
        }
        nap();
    }
    arena_free(a);
    return rc;
}

/* Starts <wfs> workflows of <steps> steps, then waits for each; prints the rate. */
static int run_flows(const char *url, uint64_t wfs, uint64_t steps, struct err *err)
{
    struct store *s = NULL;
    struct flow *f = NULL;
    char(*ids)[37] = NULL;
    char input[24];
    double queued = 0;
    uint64_t t0, t1;
    int rc;

    rc = engine_open(url, &s, &f, err);
    if (rc < 0)
        return rc;
    ids = xcalloc(wfs, sizeof(*ids));
    snprintf(input, sizeof(input), "%" PRIu64, steps);
    /* Queued before the clock starts, as the peer's jobs are (bench/flow-graphile.mjs): the
     * figure is how fast queued work is done. */
    t0 = time_mono_ns();
    for (uint64_t i = 0; rc == 0 && i < wfs; i++)
        rc = flow_start(f, WF_NAME, slice_from_cstr(input), &(struct flow_start_opts){0}, ids[i],
                        err);
    queued = seconds_since(t0);
    t0 = time_mono_ns();
    if (rc == 0)
        rc = flow_start_engine(f, err);
    if (rc == 0)
        rc = wait_ended(s, wfs, err);
    t1 = time_mono_ns();
    for (uint64_t i = 0; rc == 0 && i < wfs; i++)
        rc = wait_ok(f, ids[i], err);
    if (rc == 0) {
        double secs = (double)(t1 - first_step_ns) / 1e9,
               start = (double)(first_step_ns - t0) / 1e9;

        if (wfs == 1)
            printf("{\"steps\":%" PRIu64 ",\"seconds\":%.4f,\"steps_per_s\":%.0f,"
                   "\"start_seconds\":%.4f}\n",
                   steps, secs, (double)steps / secs, start);
        else
            printf("{\"workflows\":%" PRIu64 ",\"steps\":%" PRIu64
                   ",\"seconds\":%.4f,\"steps_per_s\":%.0f,\"queue_seconds\":%.4f,"
                   "\"start_seconds\":%.4f}\n",
                   wfs, wfs * steps, secs, (double)(wfs * steps) / secs, queued, start);
    }
    free(ids);
    engine_close(s, f);
    return rc;
}

/* ---------------------------------------------------------------- main */

APP_NORETURN static void usage(void)
{
    fprintf(stderr, "usage: flow-bench raw <sqlite-path> <n>\n"
                    "       flow-bench seq <store-url> <steps>\n"
                    "       flow-bench conc <store-url> <workflows> <steps>\n");
    exit(2);
}

int main(int argc, char **argv)
{
    struct err err = {0};
    int rc;

    if (argc < 2)
        usage();
    log_start(2, getenv("FLOW_BENCH_INFO") ? LOG_INFO : LOG_WARN, 4096);
    if (strcmp(argv[1], "raw") == 0 && argc == 4)
        rc = run_raw(argv[2], count_arg("n", argv[3], MAX_STEPS), &err);
    else if (strcmp(argv[1], "seq") == 0 && argc == 4)
        rc = run_flows(argv[2], 1, count_arg("steps", argv[3], MAX_STEPS), &err);
    else if (strcmp(argv[1], "conc") == 0 && argc == 5)
        rc = run_flows(argv[2], count_arg("workflows", argv[3], MAX_WFS),
                       count_arg("steps", argv[4], MAX_STEPS), &err);
    else
        usage();
    if (rc < 0)
        LOG_ERROR(&bench_log, "flow_bench.failed", LF_STR("error", err.msg),
                  LF_STR("code", err_name(rc)));
    log_stop();
    fflush(stdout);
    return rc < 0 ? 1 : 0;
}
