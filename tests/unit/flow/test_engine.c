/* The workflow engine on SQLite and (with SLIPWAY_TEST_PG_URL) PostgreSQL. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../test.h"
#include "base/base.h"
#include "flow/flow-int.h"
#include "store/store.h"
#include "../dbtest.h"

#define WAIT_MS 60000

struct env {
    enum store_kind kind;
    char url[1024];
    struct store *s;
    struct flow *f;
};

typedef void env_test_fn(struct env *e);
typedef void env_setup_fn(struct flow *f);

static void each_backend(env_test_fn *fn)
{
    struct env e = {.kind = STORE_SQLITE};
    struct err err = {0};

    dbtest_url(STORE_SQLITE, "flow", e.url, sizeof(e.url));
    e.s = dbtest_open(e.url, "flowtest", 8, 30000);
    OK(flow_migrate(e.s, &err));
    fn(&e);
    store_close(e.s);
    if (dbtest_pg_url() == NULL)
        return;
    e = (struct env){.kind = STORE_POSTGRES};
    dbtest_url(STORE_POSTGRES, "flow", e.url, sizeof(e.url));
    e.s = dbtest_open(e.url, "flowtest", 8, 30000);
    OK(flow_migrate(e.s, &err));
    fn(&e);
    store_close(e.s);
}

/* A new engine on e->s with what <setup> registers, started. */
static void engine_up(struct env *e, env_setup_fn *setup)
{
    struct err err = {0};

    e->f = flow_new(&(struct flow_opts){
        .store = e->s, .service = "flowtest", .lease_ms = 2000, .poll_ms = 200});
    setup(e->f);
    OK(flow_start_engine(e->f, &err));
}

static void engine_down(struct env *e)
{
    flow_free(e->f);
    e->f = NULL;
}

static void reg(struct flow *f, const char *name, flow_wf_fn *fn, const char *queue,
                uint64_t deadline)
{
    struct err err = {0};

    OK(flow_register(
        f, &(struct flow_wf_def){.name = name, .fn = fn, .queue = queue, .deadline_ms = deadline},
        &err));
}

static void start(struct env *e, const char *wf, const char *input, char id[37])
{
    struct err err = {0};

    OK(flow_start(e->f, wf, slice_from_cstr(input), NULL, id, &err));
}

/* Waits for <id> to end; checks its status; the result (or error message) into <out>. */
static void wait_end(struct env *e, const char *id, enum flow_status want, char *out, size_t n)
{
    struct arena *a = arena_new(NULL);
    struct flow_outcome o;
    struct err err = {0};

    OK(flow_wait(e->f, a, slice_from_cstr(id), WAIT_MS, &o, &err));
    if (o.status != want)
        test_fail(__FILE__, __LINE__, "workflow %s is %s, expected %s (%.*s)", id,
                  flow_status_name(o.status), flow_status_name(want), SLICE_ARG(o.err_msg));
    if (out != NULL) {
        struct slice s = want == FLOW_SUCCEEDED ? o.result : o.err_msg;

        snprintf(out, n, "%.*s", SLICE_ARG(s));
    }
    arena_free(a);
}

static int64_t query_int(struct store *s, const char *sql, const char *arg)
{
    struct arena *a = arena_new(NULL);
    struct store_rows *r;
    struct err err = {0};
    int64_t v;

    OK(store_query1(s, a, sql, (struct store_val[]){SV_CSTR(arg ? arg : "")}, arg ? 1 : 0, &r,
                    &err));
    CHECK_UINT_EQ(r->nrows, 1);
    v = store_cell(r, 0, 0)->i;
    arena_free(a);
    return v;
}

/* Polls until workflow <id> has status <st> (the engine parks it asynchronously). */
static void wait_status(struct env *e, const char *id, enum flow_status st)
{
    for (int i = 0; i < 6000; i++) {
        if (query_int(e->s, "SELECT status FROM flow_wf WHERE id = ?", id) == st)
            return;
        usleep(10 * 1000);
    }
    test_fail(__FILE__, __LINE__, "workflow %s never became %s", id, flow_status_name(st));
}

/* ---------------------------------------------------------------- steps and results */

static int echo_step(struct flow_call *call, struct slice input, struct sbuf *out, struct err *err)
{
    (void)call;
    (void)err;
    sbuf_printf(out, "\"<%.*s>\"", SLICE_ARG(input));
    return 0;
}

static int three_steps(struct flow_ctx *ctx, struct slice input, struct sbuf *result,
                       struct err *err)
{
    struct slice a, b, c;
    int rc;

    (void)input;
    rc = flow_step(ctx, "one", echo_step, SLICE("1"), &a, err);
    if (rc == 0)
        rc = flow_step(ctx, "two", echo_step, SLICE("2"), &b, err);
    if (rc == 0)
        rc = flow_step(ctx, "three", echo_step, SLICE("3"), &c, err);
    if (rc < 0)
        return rc;
    sbuf_printf(result, "[%.*s,%.*s,%.*s]", SLICE_ARG(a), SLICE_ARG(b), SLICE_ARG(c));
    return 0;
}

static void setup_three(struct flow *f)
{
    reg(f, "three", three_steps, NULL, 0);
}

static void t_steps(struct env *e)
{
    char id[37], out[256];

    engine_up(e, setup_three);
    start(e, "three", "{\"x\":1}", id);
    wait_end(e, id, FLOW_SUCCEEDED, out, sizeof(out));
    CHECK_STR_EQ(out, "[\"<1>\",\"<2>\",\"<3>\"]");
    CHECK_INT_EQ(query_int(e->s, "SELECT COUNT(*) FROM flow_step WHERE wf_id = ?", id), 3);
    engine_down(e);
}

TEST(flow_steps_record_and_return)
{
    each_backend(t_steps);
}

/* The workflow's result is the length of its input, taken by a step. */
static int input_len_wf(struct flow_ctx *ctx, struct slice input, struct sbuf *result,
                        struct err *err)
{
    struct slice out;
    char len[24];
    int n = snprintf(len, sizeof(len), "%zu", input.len);
    int rc = flow_step(ctx, "len", echo_step, (struct slice){len, (size_t)n}, &out, err);

    if (rc == 0)
        sbuf_put_slice(result, out);
    return rc;
}

static void setup_input_len(struct flow *f)
{
    reg(f, "input_len", input_len_wf, NULL, 0);
}

/* Claimed workflows get their input whether the scheduler read it with the claim (a short
 * one) or the run reads it (one longer than FLOW_PREFETCH_INPUT). */
static void t_inputs(struct env *e)
{
    struct sbuf big = SBUF_INIT(1u << 20);
    char small_id[37], big_id[37], out[64], want[64];

    sbuf_putc(&big, '"');
    for (unsigned i = 0; i < FLOW_PREFETCH_INPUT + 100; i++)
        sbuf_putc(&big, 'a' + (char)(i % 26));
    sbuf_putc(&big, '"');
    engine_up(e, setup_input_len);
    start(e, "input_len", "[1,2,3]", small_id);
    start(e, "input_len", big.buf, big_id);
    wait_end(e, small_id, FLOW_SUCCEEDED, out, sizeof(out));
    CHECK_STR_EQ(out, "\"<7>\"");
    wait_end(e, big_id, FLOW_SUCCEEDED, out, sizeof(out));
    snprintf(want, sizeof(want), "\"<%zu>\"", big.len);
    CHECK_STR_EQ(out, want);
    engine_down(e);
    sbuf_release(&big);
}

TEST(flow_runs_get_short_and_long_inputs)
{
    each_backend(t_inputs);
}

static void t_bad_start(struct env *e)
{
    struct err err = {0};
    char id[37];

    engine_up(e, setup_three);
    CHECK_INT_EQ(flow_start(e->f, "nope", SLICE("1"), NULL, id, &err), ERR_NOTFOUND);
    CHECK_CONTAINS(err.msg, "nope");
    CHECK_INT_EQ(flow_start(e->f, "three", SLICE("{bad"), NULL, id, &err), ERR_INVALID);
    CHECK_CONTAINS(err.msg, "input");
    CHECK_INT_EQ(
        flow_start(e->f, "three", SLICE("1"), &(struct flow_start_opts){.queue = "q9"}, id, &err),
        ERR_NOTFOUND);
    CHECK_INT_EQ(flow_send(e->f, SLICE("x"), "t", SLICE("m"), &err), ERR_INVALID);
    CHECK_INT_EQ(flow_cancel(e->f, SLICE("0190a0a0-0000-7000-8000-000000000000"), &err),
                 ERR_NOTFOUND);
    engine_down(e);
}

TEST(flow_start_rejects_bad_input)
{
    each_backend(t_bad_start);
}

/* ---------------------------------------------------------------- idempotency */

static void t_idempotent(struct env *e)
{
    struct flow_start_opts o = {.key = SLICE("deploy-42")};
    struct err err = {0};
    char a[37], b[37];

    engine_up(e, setup_three);
    CHECK_INT_EQ(flow_start(e->f, "three", SLICE("1"), &o, a, &err), 0);
    CHECK_INT_EQ(flow_start(e->f, "three", SLICE("2"), &o, b, &err), 1);
    CHECK_STR_EQ(a, b);
    wait_end(e, a, FLOW_SUCCEEDED, NULL, 0);
    CHECK_INT_EQ(flow_start(e->f, "three", SLICE("3"), &o, b, &err), 1);
    CHECK_STR_EQ(a, b);
    CHECK_INT_EQ(query_int(e->s, "SELECT COUNT(*) FROM flow_wf", NULL), 1);
    engine_down(e);
}

TEST(flow_idempotency_key_returns_the_same_workflow)
{
    each_backend(t_idempotent);
}

/* ---------------------------------------------------------------- replay after a stop */

static atomic_int first_runs, second_runs;
static atomic_bool second_may_finish;

static int count_first(struct flow_call *call, struct slice in, struct sbuf *out, struct err *err)
{
    (void)call, (void)in, (void)err;
    atomic_fetch_add(&first_runs, 1);
    sbuf_puts(out, "\"first\"");
    return 0;
}

/* Blocks until allowed (or its token fires: the engine stops). */
static int block_second(struct flow_call *call, struct slice in, struct sbuf *out, struct err *err)
{
    (void)in;
    atomic_fetch_add(&second_runs, 1);
    while (!atomic_load(&second_may_finish))
        if (flow_call_wait(call, 20))
            return err_set(err, ERR_CANCELLED, "stopped");
    sbuf_puts(out, "\"second\"");
    return 0;
}

static int two_phase(struct flow_ctx *ctx, struct slice input, struct sbuf *result, struct err *err)
{
    struct slice a, b;
    int rc = flow_step(ctx, "first", count_first, input, &a, err);

    if (rc == 0)
        rc = flow_step(ctx, "second", block_second, input, &b, err);
    if (rc == 0)
        sbuf_printf(result, "[%.*s,%.*s]", SLICE_ARG(a), SLICE_ARG(b));
    return rc;
}

static void setup_two_phase(struct flow *f)
{
    reg(f, "two_phase", two_phase, NULL, 0);
}

static void t_replay(struct env *e)
{
    char id[37], out[128];

    atomic_store(&first_runs, 0);
    atomic_store(&second_runs, 0);
    atomic_store(&second_may_finish, false);
    engine_up(e, setup_two_phase);
    start(e, "two_phase", "null", id);
    while (atomic_load(&second_runs) == 0)
        usleep(1000);
    engine_down(e); /* the second step is cut off: nothing recorded for it */
    CHECK_INT_EQ(query_int(e->s, "SELECT status FROM flow_wf WHERE id = ?", id), FLOW_PENDING);
    CHECK_INT_EQ(query_int(e->s, "SELECT COUNT(*) FROM flow_step WHERE wf_id = ?", id), 1);
    atomic_store(&second_may_finish, true);
    engine_up(e, setup_two_phase);
    wait_end(e, id, FLOW_SUCCEEDED, out, sizeof(out));
    CHECK_STR_EQ(out, "[\"first\",\"second\"]");
    CHECK_INT_EQ(atomic_load(&first_runs), 1); /* recorded: never run again */
    CHECK_INT_EQ(atomic_load(&second_runs), 2);
    CHECK(query_int(e->s, "SELECT runs FROM flow_wf WHERE id = ?", id) >= 2);
    engine_down(e);
}

TEST(flow_resumes_after_stop_without_rerunning_recorded_steps)
{
    each_backend(t_replay);
}

/* ---------------------------------------------------------------- non-determinism */

static atomic_int version;

static int versioned(struct flow_ctx *ctx, struct slice input, struct sbuf *result, struct err *err)
{
    struct slice msg;
    int rc;

    (void)input, (void)result;
    rc = flow_step(ctx, atomic_load(&version) == 1 ? "build" : "push", echo_step, SLICE("x"), NULL,
                   err);
    if (rc == 0)
        rc = flow_recv(ctx, "go", UINT64_MAX, &msg, err);
    return rc;
}

static void setup_versioned(struct flow *f)
{
    reg(f, "versioned", versioned, NULL, 0);
}

static void t_nondet(struct env *e)
{
    struct err err = {0};
    char id[37], out[256];

    atomic_store(&version, 1);
    engine_up(e, setup_versioned);
    start(e, "versioned", "null", id);
    wait_status(e, id, FLOW_WAITING);
    engine_down(e);
    atomic_store(&version, 2);
    engine_up(e, setup_versioned);
    OK(flow_send(e->f, slice_from_cstr(id), "go", SLICE("now"), &err));
    wait_end(e, id, FLOW_FAILED, out, sizeof(out));
    CHECK_CONTAINS(out, "non-determinism");
    CHECK_CONTAINS(out, "\"build\"");
    CHECK_CONTAINS(out, "\"push\"");
    engine_down(e);
}

TEST(flow_replay_with_other_step_names_fails_naming_both)
{
    each_backend(t_nondet);
}

/* ---------------------------------------------------------------- retries, timeouts, deadline */

static atomic_int flaky_calls;

static int flaky(struct flow_call *call, struct slice in, struct sbuf *out, struct err *err)
{
    int n = atomic_fetch_add(&flaky_calls, 1) + 1;

    if (slice_eq_cstr(in, "invalid"))
        return err_set(err, ERR_INVALID, "bad input, attempt %u", flow_call_attempt(call));
    if (slice_eq_cstr(in, "always") || n < 3)
        return err_set(err, ERR_UNAVAILABLE, "down, attempt %u", flow_call_attempt(call));
    sbuf_printf(out, "%u", flow_call_attempt(call));
    return 0;
}

static int slow(struct flow_call *call, struct slice in, struct sbuf *out, struct err *err)
{
    (void)in, (void)out;
    if (flow_call_wait(call, 30000))
        return err_set(err, ERR_CANCELLED, "token fired");
    return 0;
}

static int retrying(struct flow_ctx *ctx, struct slice input, struct sbuf *result, struct err *err)
{
    struct flow_retry p = {.attempts = 3, .initial_ms = 5, .factor = 2, .max_ms = 20};
    struct slice out;
    int rc;

    if (slice_eq_cstr(input, "\"slow\"")) {
        p = (struct flow_retry){.attempts = 2, .initial_ms = 5, .timeout_ms = 100};
        return flow_step_retry(ctx, "slow", slow, input, &p, NULL, err);
    }
    rc = flow_step_retry(ctx, "flaky", flaky, (struct slice){input.ptr + 1, input.len - 2}, &p,
                         &out, err);
    if (rc == 0)
        sbuf_put_slice(result, out);
    return rc;
}

static void setup_retrying(struct flow *f)
{
    reg(f, "retrying", retrying, NULL, 0);
}

static void t_retry(struct env *e)
{
    char id[37], out[256];

    engine_up(e, setup_retrying);
    atomic_store(&flaky_calls, 0);
    start(e, "retrying", "\"ok\"", id);
    wait_end(e, id, FLOW_SUCCEEDED, out, sizeof(out));
    CHECK_STR_EQ(out, "3");
    CHECK_INT_EQ(query_int(e->s, "SELECT COUNT(*) FROM flow_attempt WHERE wf_id = ?", id), 2);
    CHECK_INT_EQ(query_int(e->s, "SELECT attempts FROM flow_step WHERE wf_id = ?", id), 3);

    atomic_store(&flaky_calls, 0);
    start(e, "retrying", "\"invalid\"", id);
    wait_end(e, id, FLOW_FAILED, out, sizeof(out));
    CHECK_STR_EQ(out, "bad input, attempt 1"); /* not retried */
    CHECK_INT_EQ(atomic_load(&flaky_calls), 1);

    start(e, "retrying", "\"always\"", id);
    wait_end(e, id, FLOW_FAILED, out, sizeof(out));
    CHECK_STR_EQ(out, "down, attempt 3");

    start(e, "retrying", "\"slow\"", id);
    wait_end(e, id, FLOW_FAILED, out, sizeof(out));
    CHECK_CONTAINS(out, "attempt 2 ran out of time");
    CHECK_INT_EQ(query_int(e->s, "SELECT COUNT(*) FROM flow_attempt WHERE wf_id = ?", id), 1);
    engine_down(e);
}

TEST(flow_step_retry_policy_and_timeout)
{
    each_backend(t_retry);
}

static int sleepy(struct flow_ctx *ctx, struct slice input, struct sbuf *result, struct err *err)
{
    (void)input, (void)result;
    return flow_sleep(ctx, 3600 * 1000, err);
}

static void setup_deadline(struct flow *f)
{
    reg(f, "sleepy", sleepy, NULL, 300);
}

static void t_deadline(struct env *e)
{
    char id[37], out[256];

    engine_up(e, setup_deadline);
    start(e, "sleepy", "null", id);
    wait_end(e, id, FLOW_FAILED, out, sizeof(out));
    CHECK_CONTAINS(out, "deadline");
    engine_down(e);
}

TEST(flow_deadline_fails_a_waiting_workflow)
{
    each_backend(t_deadline);
}

/* ---------------------------------------------------------------- timers */

static int nap_then_step(struct flow_ctx *ctx, struct slice input, struct sbuf *result,
                         struct err *err)
{
    int rc = flow_sleep(ctx, 1500, err);

    (void)input;
    if (rc == 0)
        rc = flow_step(ctx, "after", echo_step, SLICE("woke"), NULL, err);
    if (rc == 0)
        sbuf_puts(result, "\"done\"");
    return rc;
}

static void setup_nap(struct flow *f)
{
    reg(f, "nap", nap_then_step, NULL, 0);
}

static void t_timer_restart(struct env *e)
{
    char id[37];

    engine_up(e, setup_nap);
    start(e, "nap", "null", id);
    wait_status(e, id, FLOW_WAITING);
    engine_down(e);
    engine_up(e, setup_nap);
    wait_end(e, id, FLOW_SUCCEEDED, NULL, 0);
    /* The step after the timer started no earlier than the timer was due. */
    CHECK(query_int(e->s,
                    "SELECT CAST(COUNT(*) AS BIGINT) FROM flow_step a, flow_step b WHERE "
                    "a.wf_id = ? AND b.wf_id = a.wf_id AND a.seq = 0 AND b.seq = 1 AND "
                    "b.started_ms >= a.wake_ms",
                    id) == 1);
    engine_down(e);
}

TEST(flow_timer_fires_after_a_restart)
{
    each_backend(t_timer_restart);
}

/* ---------------------------------------------------------------- messages and events */

static int receiver(struct flow_ctx *ctx, struct slice input, struct sbuf *result, struct err *err)
{
    struct slice m1, m2;
    int rc = flow_set_event(ctx, "phase", SLICE("WAITING"), err);

    if (rc == 0)
        rc = flow_recv(ctx, "go", UINT64_MAX, &m1, err);
    if (rc == 0)
        rc = flow_set_event(ctx, "phase", SLICE("GOT1"), err);
    if (rc == 0)
        rc = flow_recv(ctx, "go", UINT64_MAX, &m2, err);
    if (rc == 0)
        rc = flow_recv(ctx, "other", slice_eq_cstr(input, "1") ? 50 : 60000, NULL, err);
    if (rc == ERR_TIMEOUT) {
        sbuf_printf(result, "\"%.*s %.*s timeout\"", SLICE_ARG(m1), SLICE_ARG(m2));
        return 0;
    }
    return rc;
}

static void setup_receiver(struct flow *f)
{
    reg(f, "receiver", receiver, NULL, 0);
}

static void check_event(struct env *e, const char *id, const char *want)
{
    struct arena *a = arena_new(NULL);
    struct slice v;
    struct err err = {0};

    OK(flow_get_event(e->s, a, slice_from_cstr(id), "phase", &v, &err));
    CHECK(slice_eq_cstr(v, want));
    arena_free(a);
}

static void t_messages(struct env *e)
{
    struct flow *sender;
    struct err err = {0};
    char id[37], out[256];

    engine_up(e, setup_receiver);
    start(e, "receiver", "1", id);
    wait_status(e, id, FLOW_WAITING);
    check_event(e, id, "WAITING");
    engine_down(e);
    /* Both messages are sent while no engine runs the receiver. */
    sender = flow_new(&(struct flow_opts){.store = e->s, .service = "sender"});
    OK(flow_send(sender, slice_from_cstr(id), "go", SLICE("a"), &err));
    OK(flow_send(sender, slice_from_cstr(id), "go", SLICE("b"), &err));
    flow_free(sender);
    engine_up(e, setup_receiver);
    wait_end(e, id, FLOW_SUCCEEDED, out, sizeof(out));
    CHECK_STR_EQ(out, "\"a b timeout\"");
    check_event(e, id, "GOT1");
    CHECK_INT_EQ(query_int(e->s, "SELECT COUNT(*) FROM flow_msg WHERE taken_seq IS NULL", NULL), 0);
    {
        struct arena *a = arena_new(NULL);
        struct slice v;

        CHECK_INT_EQ(flow_get_event(e->s, a, slice_from_cstr(id), "nope", &v, &err), ERR_NOTFOUND);
        arena_free(a);
    }
    engine_down(e);
}

TEST(flow_messages_sent_while_the_receiver_is_down_arrive)
{
    each_backend(t_messages);
}

/* ---------------------------------------------------------------- children and cancellation */

static int child_wf(struct flow_ctx *ctx, struct slice input, struct sbuf *result, struct err *err)
{
    int rc = 0;

    if (slice_eq_cstr(input, "\"wait\""))
        rc = flow_recv(ctx, "never", UINT64_MAX, NULL, err);
    if (rc == 0)
        sbuf_printf(result, "{\"child\":%.*s}", SLICE_ARG(input));
    return rc;
}

static int parent_wf(struct flow_ctx *ctx, struct slice input, struct sbuf *result, struct err *err)
{
    char child[37];
    struct slice r;
    int rc = flow_child_start(ctx, "child", input, child, err);

    if (rc == 0)
        rc = flow_set_event(ctx, "child", slice_from_cstr(child), err);
    if (rc == 0)
        rc = flow_child_wait(ctx, child, &r, err);
    if (rc == 0)
        sbuf_put_slice(result, r);
    return rc;
}

static atomic_int victim;

static int long_running(struct flow_call *call, struct slice in, struct sbuf *out, struct err *err)
{
    pid_t pid = fork();

    (void)in, (void)out;
    if (pid == 0) {
        setpgid(0, 0);
        execlp("sleep", "sleep", "600", (char *)NULL);
        _exit(127);
    }
    setpgid(pid, pid);
    atomic_store(&victim, pid);
    flow_call_kill_group(call, pid);
    flow_call_wait(call, 600000);
    flow_call_kill_group(call, 0);
    return err_set(err, ERR_CANCELLED, "stopped");
}

static int long_wf(struct flow_ctx *ctx, struct slice input, struct sbuf *result, struct err *err)
{
    (void)input, (void)result;
    return flow_step(ctx, "build", long_running, SLICE("x"), NULL, err);
}

static void setup_family(struct flow *f)
{
    reg(f, "child", child_wf, NULL, 0);
    reg(f, "parent", parent_wf, NULL, 0);
    reg(f, "long", long_wf, NULL, 0);
}

static void child_of(struct env *e, const char *parent, char child[37])
{
    struct arena *a = arena_new(NULL);
    struct slice v = SLICE_NULL;
    struct err err = {0};

    for (int i = 0; i < 6000 && v.len == 0; i++)
        if (flow_get_event(e->s, a, slice_from_cstr(parent), "child", &v, &err) < 0)
            usleep(10 * 1000);
    CHECK_UINT_EQ(v.len, 36);
    memcpy(child, v.ptr, 36);
    child[36] = '\0';
    arena_free(a);
}

static void t_children(struct env *e)
{
    struct err err = {0};
    char id[37], child[37], out[256];
    int status;

    engine_up(e, setup_family);
    start(e, "parent", "7", id);
    wait_end(e, id, FLOW_SUCCEEDED, out, sizeof(out));
    CHECK_STR_EQ(out, "{\"child\":7}");

    start(e, "parent", "\"wait\"", id);
    child_of(e, id, child);
    wait_status(e, child, FLOW_WAITING);
    wait_status(e, id, FLOW_WAITING);
    OK(flow_cancel(e->f, slice_from_cstr(id), &err));
    wait_end(e, id, FLOW_CANCELLED, NULL, 0);
    wait_end(e, child, FLOW_CANCELLED, NULL, 0);
    CHECK_INT_EQ(flow_cancel(e->f, slice_from_cstr(id), &err), ERR_CONFLICT);

    /* Cancelling reaches the running step and kills its process group. */
    atomic_store(&victim, 0);
    start(e, "long", "null", id);
    while (atomic_load(&victim) == 0)
        usleep(1000);
    OK(flow_cancel(e->f, slice_from_cstr(id), &err));
    wait_end(e, id, FLOW_CANCELLED, NULL, 0);
    CHECK(waitpid(atomic_load(&victim), &status, 0) == atomic_load(&victim));
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

    /* A cancelled workflow can be retried: it runs again from its recorded steps. */
    OK(flow_retry(e->f, slice_from_cstr(child), &err));
    OK(flow_send(e->f, slice_from_cstr(child), "never", SLICE("x"), &err));
    wait_end(e, child, FLOW_SUCCEEDED, out, sizeof(out));
    CHECK_STR_EQ(out, "{\"child\":\"wait\"}");
    CHECK_INT_EQ(flow_retry(e->f, slice_from_cstr(child), &err), ERR_CONFLICT);
    engine_down(e);
}

TEST(flow_children_cancel_and_retry)
{
    each_backend(t_children);
}

/* ---------------------------------------------------------------- queues */

static atomic_int now_running, max_running, order_len;
static atomic_int part_running[2], part_max[2];
static char order[64];

static int busy(struct flow_call *call, struct slice in, struct sbuf *out, struct err *err)
{
    int n = atomic_fetch_add(&now_running, 1) + 1, m, p = -1;

    (void)out, (void)err;
    while ((m = atomic_load(&max_running)) < n &&
           !atomic_compare_exchange_weak(&max_running, &m, n))
        ;
    if (in.len > 0 && (in.ptr[0] == 'A' || in.ptr[0] == 'B')) {
        p = in.ptr[0] - 'A';
        n = atomic_fetch_add(&part_running[p], 1) + 1;
        while ((m = atomic_load(&part_max[p])) < n &&
               !atomic_compare_exchange_weak(&part_max[p], &m, n))
            ;
    }
    if (in.len > 0 && in.ptr[0] >= 'a' && in.ptr[0] <= 'z')
        order[atomic_fetch_add(&order_len, 1) % 63] = in.ptr[0];
    flow_call_wait(call, 60);
    if (p >= 0)
        atomic_fetch_sub(&part_running[p], 1);
    atomic_fetch_sub(&now_running, 1);
    return 0;
}

static int queued(struct flow_ctx *ctx, struct slice input, struct sbuf *result, struct err *err)
{
    (void)result;
    return flow_step(ctx, "busy", busy, (struct slice){input.ptr + 1, input.len - 2}, NULL, err);
}

static void setup_queues(struct flow *f)
{
    struct err err = {0};

    OK(flow_queue_add(f, &(struct flow_queue_def){.name = "two", .concurrency = 2}, &err));
    OK(flow_queue_add(f, &(struct flow_queue_def){.name = "perkey", .per_key = 1}, &err));
    OK(flow_queue_add(f, &(struct flow_queue_def){.name = "one", .concurrency = 1}, &err));
    OK(flow_queue_add(f, &(struct flow_queue_def){.name = "rated", .rate = 2, .period_ms = 400},
                      &err));
    reg(f, "queued", queued, "two", 0);
}

static void start_in(struct env *e, const char *queue, const char *part, int prio,
                     const char *input, char id[37])
{
    struct flow_start_opts o = {
        .queue = queue, .partition = slice_from_cstr(part ? part : ""), .priority = prio};
    struct err err = {0};

    OK(flow_start(e->f, "queued", slice_from_cstr(input), &o, id, &err) < 0);
}

static void t_queues(struct env *e)
{
    char ids[8][37];
    int i;

    engine_up(e, setup_queues);
    atomic_store(&max_running, 0);
    for (i = 0; i < 8; i++)
        start_in(e, NULL, NULL, 0, "\"x\"", ids[i]); /* the workflow's default queue: two */
    for (i = 0; i < 8; i++)
        wait_end(e, ids[i], FLOW_SUCCEEDED, NULL, 0);
    CHECK(atomic_load(&max_running) <= 2);

    atomic_store(&max_running, 0);
    for (i = 0; i < 6; i++)
        start_in(e, "perkey", i % 2 ? "B" : "A", 0, i % 2 ? "\"B\"" : "\"A\"", ids[i]);
    for (i = 0; i < 6; i++)
        wait_end(e, ids[i], FLOW_SUCCEEDED, NULL, 0);
    CHECK(atomic_load(&part_max[0]) == 1 && atomic_load(&part_max[1]) == 1);

    /* Priorities: with one slot taken, the lower number goes first. */
    atomic_store(&order_len, 0);
    start_in(e, "one", NULL, 0, "\"a\"", ids[0]);
    start_in(e, "one", NULL, 9, "\"z\"", ids[1]);
    start_in(e, "one", NULL, -9, "\"b\"", ids[2]);
    for (i = 0; i < 3; i++)
        wait_end(e, ids[i], FLOW_SUCCEEDED, NULL, 0);
    if (order[0] == 'a') /* "a" may have been claimed before the others were queued */
        CHECK(order[1] == 'b' && order[2] == 'z');

    /* Rate: no 400 ms window holds more than 2 starts. */
    for (i = 0; i < 6; i++)
        start_in(e, "rated", NULL, 0, "\"r\"", ids[i]);
    for (i = 0; i < 6; i++)
        wait_end(e, ids[i], FLOW_SUCCEEDED, NULL, 0);
    CHECK_INT_EQ(
        query_int(e->s,
                  "SELECT CAST(COUNT(*) AS BIGINT) FROM flow_wf a WHERE a.queue = ? AND "
                  "(SELECT COUNT(*) FROM flow_wf b WHERE b.queue = a.queue AND "
                  "b.started_ms >= a.started_ms AND b.started_ms < a.started_ms + 400) > 2",
                  "rated"),
        0);
    engine_down(e);
}

TEST(flow_queue_limits_and_priorities)
{
    each_backend(t_queues);
}

/* ---------------------------------------------------------------- cron */

static int ticked(struct flow_ctx *ctx, struct slice input, struct sbuf *result, struct err *err)
{
    (void)ctx, (void)input, (void)result, (void)err;
    return 0;
}

static void setup_cron(struct flow *f)
{
    struct err err = {0};

    reg(f, "ticked", ticked, NULL, 0);
    OK(flow_cron_add(f, "every_minute", "* * * * *", "ticked", SLICE("{}"), &err));
    CHECK_INT_EQ(flow_cron_add(f, "bad", "61 * * * *", "ticked", SLICE("{}"), &err), ERR_INVALID);
    CHECK_INT_EQ(flow_cron_add(f, "nowf", "* * * * *", "nope", SLICE("{}"), &err), ERR_NOTFOUND);
}

static void t_cron(struct env *e)
{
    uint64_t minute = time_wall_ms() / 60000 * 60000;
    struct err err = {0};
    char key[128];

    /* The last tick started was five minutes ago: one run makes up for the missed ones. */
    OK(store_exec1(e->s, "INSERT INTO flow_cron (name, last_tick_ms) VALUES ('every_minute', ?)",
                   (struct store_val[]){SV_INT(minute - 5 * 60000)}, 1, NULL, &err));
    engine_up(e, setup_cron);
    for (int i = 0; i < 6000; i++) {
        if (query_int(e->s, "SELECT COUNT(*) FROM flow_wf WHERE name = ?", "ticked") > 0)
            break;
        usleep(10 * 1000);
    }
    engine_down(e);
    CHECK(query_int(e->s, "SELECT COUNT(*) FROM flow_wf WHERE name = ?", "ticked") >= 1);
    /* Exactly one for the missed ticks (a second may be the next minute's, if it came). */
    snprintf(key, sizeof(key), "cron:every_minute:%" PRIu64, minute);
    CHECK_INT_EQ(query_int(e->s, "SELECT COUNT(*) FROM flow_wf WHERE idem_key = ?", key), 1);
    CHECK(query_int(e->s, "SELECT COUNT(*) FROM flow_wf WHERE name = ?", "ticked") <= 2);
}

TEST(flow_cron_starts_a_missed_tick_once)
{
    each_backend(t_cron);
}

/* ---------------------------------------------------------------- logs */

static int chatty(struct flow_ctx *ctx, struct slice input, struct sbuf *result, struct err *err)
{
    int rc;

    (void)input, (void)result;
    flow_log(ctx, "starting");
    rc = flow_step(ctx, "one", echo_step, SLICE("1"), NULL, err);
    if (rc == 0) {
        flow_log(ctx, "between");
        rc = flow_recv(ctx, "go", UINT64_MAX, NULL, err);
    }
    if (rc == 0)
        flow_log(ctx, "after");
    return rc;
}

static void setup_chatty(struct flow *f)
{
    reg(f, "chatty", chatty, NULL, 0);
}

static void t_logs(struct env *e)
{
    struct arena *a = arena_new(NULL);
    struct flow_log_line *lines;
    size_t n;
    uint64_t skipped;
    struct err err = {0};
    char id[37];

    engine_up(e, setup_chatty);
    start(e, "chatty", "null", id);
    wait_status(e, id, FLOW_WAITING);
    OK(flow_send(e->f, slice_from_cstr(id), "go", SLICE("x"), &err));
    wait_end(e, id, FLOW_SUCCEEDED, NULL, 0);
    OK(flow_log_read(e->s, a, slice_from_cstr(id), 0, 100, &lines, &n, &skipped, &err));
    CHECK_UINT_EQ(n, 3); /* the replay after the message wrote nothing twice */
    CHECK(slice_eq_cstr(lines[0].text, "starting") && slice_eq_cstr(lines[2].text, "after"));
    CHECK_INT_EQ(flow_log_follow(e->f, slice_from_cstr(id), 3, 1000, &err), 0);
    engine_down(e);
    arena_free(a);
}

TEST(flow_logs_are_written_once_across_replays)
{
    each_backend(t_logs);
}

/* ---------------------------------------------------------------- many at once */

static int steps20(struct flow_ctx *ctx, struct slice input, struct sbuf *result, struct err *err)
{
    char name[16];
    int rc = 0;

    (void)input, (void)result;
    for (int i = 0; i < 20 && rc == 0; i++) {
        snprintf(name, sizeof(name), "s%d", i);
        rc = flow_step(ctx, name, echo_step, SLICE("x"), NULL, err);
    }
    return rc;
}

static void setup_many(struct flow *f)
{
    reg(f, "steps20", steps20, NULL, 0);
}

static void t_many(struct env *e)
{
    static char ids[200][37];
    int i;

    engine_up(e, setup_many);
    for (i = 0; i < 200; i++)
        start(e, "steps20", "null", ids[i]);
    for (i = 0; i < 200; i++)
        wait_end(e, ids[i], FLOW_SUCCEEDED, NULL, 0);
    CHECK_INT_EQ(query_int(e->s, "SELECT COUNT(*) FROM flow_step WHERE name LIKE ?", "s%"), 4000);
    engine_down(e);
}

TEST(flow_many_workflows_at_once)
{
    each_backend(t_many);
}

/* Two engines on one PostgreSQL database share the work, each workflow run by one. */
static void t_two_engines(struct env *e)
{
    static char ids[100][37];
    struct env other = *e;
    int i;

    if (e->kind != STORE_POSTGRES)
        return;
    other.s = dbtest_open(e->url, "flowtest2", 8, 30000);
    engine_up(e, setup_many);
    engine_up(&other, setup_many);
    for (i = 0; i < 100; i++)
        start(i % 2 ? &other : e, "steps20", "null", ids[i]);
    for (i = 0; i < 100; i++)
        wait_end(e, ids[i], FLOW_SUCCEEDED, NULL, 0);
    CHECK_INT_EQ(query_int(e->s, "SELECT COUNT(*) FROM flow_step WHERE name LIKE ?", "s%"), 2000);
    CHECK_INT_EQ(query_int(e->s, "SELECT MAX(runs) FROM flow_wf", NULL), 1);
    engine_down(&other);
    engine_down(e);
    store_close(other.s);
}

TEST(flow_two_engines_share_postgres)
{
    each_backend(t_two_engines);
}

/* ---------------------------------------------------------------- retention and visibility */

static void setup_prune(struct flow *f)
{
    reg(f, "three", three_steps, NULL, 0);
}

static void t_prune(struct env *e)
{
    uint64_t minute = time_wall_ms() / 60000 * 60000;
    struct err err = {0};
    char old[37], fresh[37], running[37];

    e->f = flow_new(&(struct flow_opts){.store = e->s, .service = "flowtest"});
    setup_prune(e->f);
    OK(flow_start_engine(e->f, &err));
    start(e, "three", "1", old);
    start(e, "three", "2", fresh);
    wait_end(e, old, FLOW_SUCCEEDED, NULL, 0);
    wait_end(e, fresh, FLOW_SUCCEEDED, NULL, 0);
    engine_down(e);
    /* <old> ended two days ago; an unfinished one as old is kept. */
    OK(store_exec1(e->s, "UPDATE flow_wf SET updated_ms = ? WHERE id = ?",
                   (struct store_val[]){SV_INT(minute - 2 * 86400000LL), SV_CSTR(old)}, 2, NULL,
                   &err));
    id_new(running);
    OK(store_exec1(e->s,
                   "INSERT INTO flow_wf (id, name, status, input, wake_ms, created_ms, updated_ms) "
                   "VALUES (?, 'other', 2, 'null', ?, 0, 0)",
                   (struct store_val[]){SV_CSTR(running), SV_INT(INT64_MAX)}, 2, NULL, &err));
    OK(store_exec1(e->s, "INSERT INTO flow_cron (name, last_tick_ms) VALUES ('flow.prune', ?)",
                   (struct store_val[]){SV_INT(minute - 3 * 3600000LL)}, 1, NULL, &err));
    e->f = flow_new(&(struct flow_opts){.store = e->s,
                                        .service = "flowtest",
                                        .retention_ms = 86400000,
                                        .prune_schedule = "7 * * * *"});
    setup_prune(e->f);
    OK(flow_start_engine(e->f, &err));
    for (int i = 0; i < 6000; i++) {
        if (query_int(e->s, "SELECT COUNT(*) FROM flow_wf WHERE id = ?", old) == 0)
            break;
        usleep(10 * 1000);
    }
    engine_down(e);
    CHECK_INT_EQ(query_int(e->s, "SELECT COUNT(*) FROM flow_wf WHERE id = ?", old), 0);
    CHECK_INT_EQ(query_int(e->s, "SELECT COUNT(*) FROM flow_step WHERE wf_id = ?", old), 0);
    CHECK_INT_EQ(query_int(e->s, "SELECT COUNT(*) FROM flow_wf WHERE id = ?", fresh), 1);
    CHECK_INT_EQ(query_int(e->s, "SELECT COUNT(*) FROM flow_wf WHERE id = ?", running), 1);
}

TEST(flow_prune_deletes_what_ended_before_the_retention)
{
    each_backend(t_prune);
}

static void t_visibility(struct env *e)
{
    struct sbuf out = SBUF_INIT(1 << 20);
    struct jw w;
    struct err err = {0};
    char ok_id[37], bad_id[37];

    engine_up(e, setup_retrying);
    start(e, "retrying", "\"ok\"", ok_id);
    atomic_store(&flaky_calls, 0);
    wait_end(e, ok_id, FLOW_SUCCEEDED, NULL, 0);
    start(e, "retrying", "\"invalid\"", bad_id);
    wait_end(e, bad_id, FLOW_FAILED, NULL, 0);

    jw_init(&w, &out);
    OK(flow_list_json(e->s, &(struct flow_filter){.name = "retrying", .status = FLOW_FAILED}, &w,
                      &err));
    CHECK_CONTAINS(out.buf, bad_id);
    CHECK(strstr(out.buf, ok_id) == NULL);
    CHECK_CONTAINS(out.buf, "\"status\":\"FAILED\"");
    CHECK_CONTAINS(out.buf, "\"code\":\"invalid\"");

    sbuf_reset(&out);
    jw_init(&w, &out);
    OK(flow_list_json(e->s, &(struct flow_filter){.status = -1, .limit = 1}, &w, &err));
    CHECK_CONTAINS(out.buf, bad_id); /* newest first */
    sbuf_reset(&out);
    jw_init(&w, &out);
    OK(flow_list_json(
        e->s, &(struct flow_filter){.status = -1, .limit = 1, .before = slice_from_cstr(bad_id)},
        &w, &err));
    CHECK_CONTAINS(out.buf, ok_id);

    sbuf_reset(&out);
    jw_init(&w, &out);
    OK(flow_show_json(e->s, slice_from_cstr(ok_id), &w, &err));
    CHECK_CONTAINS(out.buf, "\"name\":\"flaky\"");
    CHECK_CONTAINS(out.buf, "\"attempts\":3");
    CHECK_CONTAINS(out.buf, "\"failed_attempts\":[{\"attempt\":1,\"code\":\"unavailable\"");
    CHECK_CONTAINS(out.buf, "\"result\":3");

    sbuf_reset(&out);
    jw_init(&w, &out);
    CHECK_INT_EQ(flow_show_json(e->s, SLICE("0190a0a0-0000-7000-8000-000000000000"), &w, &err),
                 ERR_NOTFOUND);
    CHECK_INT_EQ(flow_show_json(e->s, SLICE("nope"), &w, &err), ERR_INVALID);
    sbuf_release(&out);
    engine_down(e);
}

TEST(flow_list_and_show)
{
    each_backend(t_visibility);
}
