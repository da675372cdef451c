/*
 * flow-torture: the process tests/integration/test_flow_torture.py kills with SIGKILL over
 * and over, to prove that the workflow engine completes every workflow exactly once and
 * never runs a step again once its completion is recorded.
 *
 *   flow-torture <store-url> <journal-path> <workflows> <steps> [--lease-ms N]
 *
 * Opens the store, applies flow_migrate(), registers two workflows and starts <workflows>
 * of them with the idempotency keys "tort-0", "tort-1", … (so a restarted process finds the
 * ones it started before and starts only the missing ones), runs the engine, and exits 0
 * printing "done" once every "tort" workflow is SUCCEEDED (1 when one ended otherwise).
 *
 *   tort        input: the number of steps of its child (0: none). Runs <steps> steps
 *               "s0".."s<steps-1>", sleeps a few ms before every 5th, publishes event "half"
 *               half-way, starts its child a third of the way and joins it at the end; its
 *               result is {"steps":n,"sum":s,"child":<the child's result or null>}.
 *   tort.child  input: its number of steps. Steps "s0".., one sleep; {"steps":n,"sum":s}.
 *
 * Every step is a side effect outside the database: it appends the line
 * "<workflow-id> <seq> run <pid>" to the journal (O_APPEND, then fsync) and outputs its
 * index k (the sum of the outputs proves the replay hands back what was recorded). Before
 * that, it asks the database itself whether the completion of its position is recorded
 * already; if so, the engine runs a step again after recording it, and the line is
 * "<workflow-id> <seq> VIOLATION <pid>" instead. <seq> is the step's position in the
 * engine's record (flow_step.seq): the workflow counts the positions its flow_* calls take.
 *
 * With several processes on one PostgreSQL database, each is an executor; --lease-ms sets
 * how soon the others take over what a killed one held.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "flow/flow.h"
#include "store/store.h"

#define WF_MAIN    "tort"
#define WF_CHILD   "tort.child"
#define POLL_MS    50
#define READ_TRIES 100 /* the detector's read, 20 ms apart, before the step gives up */
#define MAX_WFS    100000
#define MAX_STEPS  10000

/* What the workflows and steps share (flow_udata, flow_call_udata). */
struct torture {
    struct store *store;
    int journal;
    unsigned steps; /* of a "tort" workflow */
    long pid;
};

static const struct log_ctx tort_log = {.svc = "flow-torture"};

/* ---------------------------------------------------------------- the step */

/* Whether position <seq> of workflow <wf> has its completion recorded: 1 yes, 0 no. */
static int completed(struct torture *t, struct slice wf, uint64_t seq, struct err *err)
{
    struct arena *a = arena_new(&(struct arena_opts){.budget = 64 << 10});
    struct store_rows *r = NULL;
    int rc = ERR_INTERNAL;

    /* A busy pool or a lock wait is not the engine's fault: retry rather than fail the step
     * (a failed step would be recorded and fail the workflow). */
    for (int i = 0; i < READ_TRIES; i++) {
        rc = store_read1(t->store, a,
                         "SELECT CAST(COUNT(*) AS BIGINT) FROM flow_step "
                         "WHERE wf_id = ? AND seq = ? AND status = 0",
                         (struct store_val[]){SV_TEXT(wf), SV_INT(seq)}, 2, &r, err);
        if (rc == 0)
            break;
        usleep(20 * 1000);
    }
    if (rc == 0)
        rc = r->nrows == 1 && store_cell(r, 0, 0)->i > 0;
    arena_free(a);
    return rc;
}

/* Appends <line> to the journal and makes it durable. */
static int journal_put(struct torture *t, const char *line, size_t len, struct err *err)
{
    ssize_t n = write(t->journal, line, len);

    if (n != (ssize_t)len)
        return err_set(err, ERR_IO, "journal: write: %s", n < 0 ? strerror(errno) : "short");
    if (fsync(t->journal) < 0)
        return err_set(err, ERR_IO, "journal: fsync: %s", strerror(errno));
    return 0;
}

/* Input "<workflow-id> <seq> <k>"; output "<k>". */
static int tort_step(struct flow_call *call, struct slice input, struct sbuf *output,
                     struct err *err)
{
    struct torture *t = flow_call_udata(call);
    struct slice rest = input, wf, seq_s;
    uint64_t seq = 0;
    char line[128];
    int rc, len;

    if (!slice_split(&rest, ' ', &wf) || !slice_split(&rest, ' ', &seq_s) ||
        slice_to_u64(seq_s, &seq) < 0)
        return err_set(err, ERR_INVALID, "step input \"%.*s\"", SLICE_ARG(input));
    rc = completed(t, wf, seq, err);
    if (rc < 0)
        return rc;
    len = snprintf(line, sizeof(line), "%.*s %" PRIu64 " %s %ld\n", SLICE_ARG(wf), seq,
                   rc ? "VIOLATION" : "run", t->pid);
    if (len < 0 || (size_t)len >= sizeof(line))
        return err_set(err, ERR_INVALID, "step input \"%.*s\"", SLICE_ARG(input));
    rc = journal_put(t, line, (size_t)len, err);
    if (rc < 0)
        return rc;
    sbuf_put_slice(output, rest);
    return output->err;
}

/* ---------------------------------------------------------------- the workflows */

/* A workflow run's walk through its positions. */
struct walk {
    struct flow_ctx *ctx;
    unsigned pos; /* the next position: every flow_* call below but flow_log takes one */
    uint64_t sum;
};

/* Step "s<k>" at the next position; adds its output to the sum. */
static int walk_step(struct walk *w, unsigned k, struct err *err)
{
    char name[16], input[96];
    struct slice out;
    uint64_t v = 0;
    int len, rc;

    snprintf(name, sizeof(name), "s%u", k);
    len = snprintf(input, sizeof(input), "%s %u %u", flow_id(w->ctx), w->pos++, k);
    rc = flow_step(w->ctx, name, tort_step, (struct slice){input, (size_t)len}, &out, err);
    if (rc < 0)
        return rc;
    if (slice_to_u64(out, &v) < 0 || v != k)
        return err_set(err, ERR_INTERNAL, "step %s gave back \"%.*s\"", name, SLICE_ARG(out));
    w->sum += v;
    return 0;
}

static int walk_sleep(struct walk *w, unsigned k, struct err *err)
{
    w->pos++;
    return flow_sleep(w->ctx, 2 + k % 7, err);
}

static int input_count(struct slice input, uint64_t max, uint64_t *n, struct err *err)
{
    if (slice_to_u64(input, n) < 0 || *n > max)
        return err_set(err, ERR_INVALID, "input \"%.*s\" is not a count", SLICE_ARG(input));
    return 0;
}

static int child_wf(struct flow_ctx *ctx, struct slice input, struct sbuf *result, struct err *err)
{
    struct walk w = {.ctx = ctx};
    uint64_t n = 0;
    int rc = input_count(input, MAX_STEPS, &n, err);

    for (unsigned k = 0; rc == 0 && k < n; k++) {
        if (k == n / 2)
            rc = walk_sleep(&w, k, err);
        if (rc == 0)
            rc = walk_step(&w, k, err);
    }
    if (rc < 0)
        return rc;
    flow_log(ctx, "child: %" PRIu64 " steps, sum %" PRIu64, n, w.sum);
    sbuf_printf(result, "{\"steps\":%" PRIu64 ",\"sum\":%" PRIu64 "}", n, w.sum);
    return result->err;
}

/* The calls made before step k besides the step itself: a sleep, the event, the child. */
static int main_extras(struct walk *w, unsigned k, unsigned steps, uint64_t child_steps,
                       char child[37], struct err *err)
{
    char buf[24];
    int len, rc = 0;

    if (k > 0 && k % 5 == 0)
        rc = walk_sleep(w, k, err);
    if (rc == 0 && k == steps / 2) {
        len = snprintf(buf, sizeof(buf), "%u", k);
        w->pos++;
        rc = flow_set_event(w->ctx, "half", (struct slice){buf, (size_t)len}, err);
    }
    if (rc == 0 && k == steps / 3 && child_steps > 0) {
        len = snprintf(buf, sizeof(buf), "%" PRIu64, child_steps);
        w->pos++;
        rc = flow_child_start(w->ctx, WF_CHILD, (struct slice){buf, (size_t)len}, child, err);
    }
    return rc;
}

static int main_wf(struct flow_ctx *ctx, struct slice input, struct sbuf *result, struct err *err)
{
    struct torture *t = flow_udata(ctx);
    struct walk w = {.ctx = ctx};
    struct slice child_result = SLICE("null");
    char child[37] = "";
    uint64_t child_steps = 0;
    int rc = input_count(input, MAX_STEPS, &child_steps, err);

    for (unsigned k = 0; rc == 0 && k < t->steps; k++) {
        rc = main_extras(&w, k, t->steps, child_steps, child, err);
        if (rc == 0)
            rc = walk_step(&w, k, err);
    }
    if (rc == 0 && child[0] != '\0') {
        w.pos++;
        rc = flow_child_wait(ctx, child, &child_result, err);
    }
    if (rc < 0)
        return rc;
    flow_log(ctx, "tort: %u steps in %u positions, sum %" PRIu64, t->steps, w.pos, w.sum);
    sbuf_printf(result, "{\"steps\":%u,\"sum\":%" PRIu64 ",\"child\":%.*s}", t->steps, w.sum,
                SLICE_ARG(child_result));
    return result->err;
}

/* ---------------------------------------------------------------- main */

static int engine_open(struct torture *t, uint64_t lease_ms, struct flow **f, struct err *err)
{
    const struct flow_wf_def defs[] = {{.name = WF_MAIN, .fn = main_wf, .udata = t},
                                       {.name = WF_CHILD, .fn = child_wf, .udata = t}};
    int rc = flow_migrate(t->store, err);

    if (rc < 0)
        return rc;
    *f = flow_new(&(struct flow_opts){
        .store = t->store, .service = "flow-torture", .lease_ms = lease_ms, .poll_ms = 200});
    for (size_t i = 0; rc == 0 && i < ARRAY_LEN(defs); i++)
        rc = flow_register(*f, &defs[i], err);
    /* the test tells the executors apart by this line (flow_wf.owner of their claims) */
    fprintf(stderr, "{\"ev\":\"torture.engine\",\"owner\":\"%s\"}\n", flow_engine_id(*f));
    if (rc == 0)
        rc = flow_start_engine(*f, err);
    return rc;
}

/* Starts the workflows not started yet; every fourth has a child of 5 steps. */
static int start_all(struct flow *f, uint64_t n, struct err *err)
{
    char key[32], id[37];
    int rc = 0;

    for (uint64_t i = 0; rc >= 0 && i < n; i++) {
        int len = snprintf(key, sizeof(key), "tort-%" PRIu64, i);

        rc = flow_start(f, WF_MAIN, i % 4 == 0 ? SLICE("5") : SLICE("0"),
                        &(struct flow_start_opts){.key = {key, (size_t)len}}, id, err);
    }
    return rc < 0 ? rc : 0;
}

/* 1 when all <n> "tort" workflows succeeded, 0 while some are unfinished, ERR_CONFLICT when
 * one ended otherwise. */
static int all_done(struct store *s, uint64_t n, struct err *err)
{
    struct arena *a = arena_new(&(struct arena_opts){.budget = 1 << 20});
    struct store_rows *r;
    int64_t ok = 0, total = 0;
    int rc = store_read1(s, a,
                         "SELECT status, CAST(COUNT(*) AS BIGINT), MIN(err_msg) FROM flow_wf "
                         "WHERE name = ? GROUP BY status",
                         (struct store_val[]){SV_CSTR(WF_MAIN)}, 1, &r, err);

    for (size_t i = 0; rc == 0 && i < r->nrows; i++) {
        int64_t st = store_cell(r, i, 0)->i, c = store_cell(r, i, 1)->i;

        total += c;
        if (st == FLOW_SUCCEEDED)
            ok += c;
        else if (st > FLOW_SUCCEEDED)
            rc = err_set(err, ERR_CONFLICT, "%" PRId64 " workflows ended %s: %.*s", c,
                         flow_status_name((enum flow_status)st), SLICE_ARG(store_cell(r, i, 2)->s));
    }
    if (rc == 0 && total > (int64_t)n)
        rc = err_set(err, ERR_CONFLICT, "%" PRId64 " workflows, %" PRIu64 " started", total, n);
    arena_free(a);
    return rc < 0 ? rc : ok == (int64_t)n;
}

static int torture(const char *url, const char *journal, uint64_t wfs, uint64_t steps,
                   uint64_t lease_ms, struct err *err)
{
    struct torture t = {.steps = (unsigned)steps, .pid = (long)getpid()};
    struct flow *f = NULL;
    int rc;

    t.journal = open(journal, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (t.journal < 0)
        return err_set(err, ERR_IO, "%s: %s", journal, strerror(errno));
    rc = store_open(&(struct store_opts){.url = url, .service = "flow-torture", .max_conns = 16},
                    &t.store, err);
    if (rc == 0)
        rc = engine_open(&t, lease_ms, &f, err);
    if (rc == 0)
        rc = start_all(f, wfs, err);
    while (rc == 0) {
        rc = all_done(t.store, wfs, err);
        if (rc == 0)
            usleep(POLL_MS * 1000);
    }
    if (rc == 1)
        printf("done\n");
    flow_free(f);
    if (t.store != NULL)
        store_close(t.store);
    close(t.journal);
    return rc < 0 ? rc : 0;
}

static uint64_t count_arg(const char *what, const char *s, uint64_t max)
{
    uint64_t v = 0;

    if (slice_to_u64(slice_from_cstr(s), &v) < 0 || v == 0 || v > max) {
        fprintf(stderr, "flow-torture: %s must be 1..%" PRIu64 ", not '%s'\n", what, max, s);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    struct err err = {0};
    uint64_t lease_ms = 0;
    int rc;

    if (argc == 7 && strcmp(argv[5], "--lease-ms") == 0)
        lease_ms = count_arg("--lease-ms", argv[6], 3600 * 1000);
    else if (argc != 5) {
        fprintf(stderr, "usage: flow-torture <store-url> <journal-path> <workflows> <steps> "
                        "[--lease-ms N]\n");
        return 2;
    }
    log_start(2, LOG_WARN, 4096);
    rc = torture(argv[1], argv[2], count_arg("workflows", argv[3], MAX_WFS),
                 count_arg("steps", argv[4], MAX_STEPS), lease_ms, &err);
    if (rc < 0)
        LOG_ERROR(&tort_log, "flow_torture.failed", LF_STR("error", err.msg),
                  LF_STR("code", err_name(rc)));
    log_stop();
    fflush(stdout);
    return rc < 0 ? 1 : 0;
}
