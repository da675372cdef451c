/* flow: internals shared by the engine's files and its tests. */
#ifndef SLIPWAY_FLOW_INT_H
#define SLIPWAY_FLOW_INT_H

#include <pthread.h>

#include "flow/flow.h"

/* ---------------------------------------------------------------- cron.c */

/* A parsed five-field cron specification (minute hour day-of-month month day-of-week, UTC). */
struct flow_cron_spec {
    uint64_t minutes; /* bit m: minute m (0-59) */
    uint32_t hours;   /* bit h: hour h (0-23) */
    uint32_t mdays;   /* bit d: day d of the month (1-31) */
    uint16_t months;  /* bit m: month m (1-12) */
    uint8_t wdays;    /* bit w: weekday w (0 = Sunday … 6) */
    bool mday_any;    /* the day-of-month field was '*' (or '?') */
    bool wday_any;    /* the day-of-week field was '*' (or '?') */
};
/* Parses <spec>. ERR_INVALID naming the field and the rule on anything else. */
int flow_cron_parse(struct slice spec, struct flow_cron_spec *out, struct err *err) APP_MUST_CHECK;
/* The first whole minute strictly after <after_ms> (Unix ms, UTC) that <c> matches, in Unix
 * ms; 0 when none comes within the next 5 years (e.g. "0 0 31 2 *"). */
uint64_t flow_cron_next(const struct flow_cron_spec *c, uint64_t after_ms);

/* ---------------------------------------------------------------- log.c */

/* The CREATE statements of the log tables (portable SQL), part of flow_migrate(). */
extern const char flow_logs_ddl[];
/* Log streams of the workflows of one store: lines are buffered in memory and written by a
 * thread of their own in batches, so flow_logs_append() never waits for the database or for
 * readers. */
struct flow_logs;
struct flow_logs *flow_logs_new(struct store *s, const char *service, uint64_t max_bytes);
/* Writes what is buffered, stops the thread, frees <l>. */
void flow_logs_free(struct flow_logs *l);
void flow_logs_append(struct flow_logs *l, const char *wf_id, struct slice line);
/* Returns once every line appended so far for <wf_id> is in the database. */
void flow_logs_flush(struct flow_logs *l, const char *wf_id);
/* Wakes the followers of <wf_id> (it has ended, or lines were written by another process). */
void flow_logs_kick(struct flow_logs *l, const char *wf_id);
/* See flow_log_follow() in flow.h. */
int flow_logs_follow(struct flow_logs *l, struct slice id, uint64_t from, uint64_t timeout_ms,
                     struct err *err) APP_MUST_CHECK;

#define FLOW_NEVER     INT64_MAX  /* wake_ms of a workflow that waits for a message or a child */
#define FLOW_MAX_INPUT (1u << 20) /* input, step output, message, event, result: 1 MiB each */
#define FLOW_FINAL(st) ((st) >= FLOW_SUCCEEDED)

/* ---------------------------------------------------------------- commit.c */

/* Group commit: concurrent writers hand their statements to whoever is committing (the
 * leader), so many completions share one transaction and one fsync. */
typedef int flow_apply_fn(struct store_tx *tx, void *arg, struct err *err);
struct flow_commit;
struct flow_commit *flow_commit_new(struct store *s);
void flow_commit_free(struct flow_commit *c);
/* Runs <fn>(tx, arg) in a transaction shared with other callers and returns once it is
 * committed (or failed: then <fn> ran alone in a transaction of its own, so another caller's
 * error is never reported here). <fn> may run twice (after a shared transaction failed): it
 * must only issue statements. */
int flow_commit_run(struct flow_commit *c, flow_apply_fn *fn, void *arg,
                    struct err *err) APP_MUST_CHECK;
/* The same for a caller whose statements can be merged with other callers' of the same kind:
 * <kind>->fn gets the arguments of every caller of the batch that passed that kind, in their
 * order (or just <arg> after a shared transaction failed), and does them all, e.g. in one
 * multi-row INSERT. When <kind>->one_statement says that <fn> writes such arguments in a single
 * statement, a batch made only of them runs without BEGIN and COMMIT (the statement commits by
 * itself: on PostgreSQL one round trip for the whole batch). */
typedef int flow_bulk_fn(struct store_tx *tx, void *const *args, size_t n, struct err *err);
struct flow_bulk {
    flow_bulk_fn *fn;
    bool (*one_statement)(void *const *args, size_t n); /* NULL: never */
};
int flow_commit_bulk(struct flow_commit *c, const struct flow_bulk *kind, void *arg,
                     struct err *err) APP_MUST_CHECK;
/* How many transactions were committed for how many callers so far, and in how long (may be
 * NULL). */
void flow_commit_stats(struct flow_commit *c, uint64_t *batches, uint64_t *items,
                       uint64_t *busy_ns);

/* ---------------------------------------------------------------- engine.c */

struct flow_def {
    char *name;
    flow_wf_fn *fn;
    void *udata;
    char *queue;
    uint64_t deadline_ms;
};
struct flow_qdef {
    char *name;
    unsigned concurrency, per_key, rate;
    uint64_t period_ms;
};
struct flow_crondef {
    char *name, *wf, *input;
    struct flow_cron_spec spec;
    uint64_t next_ms; /* scheduler thread only */
};

/* One step attempt in progress: the cancel token. */
struct flow_call {
    struct flow_ctx *ctx;
    unsigned attempt;
    uint64_t deadline_mono; /* ms, 0 = none */
    atomic_bool fired;
    int pgid; /* guarded by f->lock */
};

/* A workflow this process runs now. */
/* A claim: the workflow and its epoch (flow_wf.runs after the claim). Writes of a run are
 * fenced by owner and epoch, so a run of an earlier claim of the same engine (one that stalled
 * past its lease, the claim went elsewhere and came back) can no longer write. */
struct flow_claimed {
    char id[37];
    int64_t epoch;
    uint64_t t0;  /* time_mono_ms() when the claim's transaction began: its lease runs from there */
    bool pending; /* sched.c: chosen, not yet written */
    bool cancel;  /* engine.c: cancelled here while it waited for an executor */
    struct flow_wfrow *row; /* owned: what the run needs of its row; NULL: it reads it */
};

/* What a run needs of its workflow's row. On PostgreSQL the scheduler reads it for all the
 * claims of a round in one statement (sched.c), instead of each run reading its own. */
#define FLOW_PREFETCH_INPUT (16u << 10) /* a longer input is read by its run */
struct flow_wfrow {
    const struct flow_def *def;
    bool cancel;
    int64_t deadline;
    char parent[37];
    size_t input_len;
    char input[]; /* input_len bytes and a NUL */
};

struct flow_run {
    char id[37];
    int64_t epoch;
    struct flow *f;
    atomic_bool cancelled; /* flow_cancel() reached it */
    atomic_bool lost;      /* its claim went to another executor, or the engine stops */
    /* PostgreSQL: until when (time_mono_ms) the claim is surely still ours: 3/4 of a lease
     * after the last renewal was sent. Past it the run renews before acting, so a process
     * that stalled (paused, swapped out) learns it lost the claim before it runs a step. */
    _Atomic uint64_t lease_mono;
    struct flow_call *call;       /* guarded by f->lock */
    struct flow_run *prev, *next; /* guarded by f->lock */
};

struct flow {
    struct flow_opts opts;
    char *prune_schedule;
    struct store *store;
    bool pg;
    char owner[37]; /* this engine's id, written in flow_wf.owner of what it claims */
    struct log_ctx log;
    struct flow_commit *commit;
    struct flow_logs *logs;
    struct store_listener *listener;

    struct flow_def *defs;
    size_t ndefs;
    struct flow_qdef *queues;
    size_t nqueues;
    struct flow_crondef *crons;
    size_t ncrons;

    pthread_mutex_t lock;
    pthread_cond_t sched_cv;    /* the scheduler waits here: new work, free capacity */
    pthread_cond_t exec_cv;     /* idle executors wait here for claimed runs */
    pthread_cond_t final_cv;    /* flow_wait(): a workflow ended */
    pthread_cond_t call_cv;     /* flow_call_wait(): a token fired */
    bool started, stopping;     /* guarded by lock */
    uint64_t kicks;             /* guarded by lock: bumped by flow_kick() */
    bool full;                  /* guarded by lock: the scheduler's last look found no room */
    uint64_t ends;              /* guarded by lock: bumped when a workflow ends here */
    unsigned nrunning;          /* guarded by lock: claimed and not yet released */
    unsigned nthreads, nidle;   /* guarded by lock: executor threads */
    struct flow_claimed *ready; /* guarded by lock: claims for the executors, a ring */
    size_t ready_head, ready_len;
    struct flow_run *runs; /* guarded by lock */
    pthread_t sched, watch, listen;
    bool have_listen;
};

const struct flow_def *flow_def_find(const struct flow *f, struct slice name);
const struct flow_qdef *flow_queue_find(const struct flow *f, struct slice name);
/* Wakes the scheduler (this process) and, on PostgreSQL, every engine listening. */
void flow_kick(struct flow *f);
/* Marks every running workflow of <ids> here as cancelled and fires its token. */
void flow_cancel_local(struct flow *f, const char *id);
/* The claim <c> went elsewhere (heartbeat): its run here stops at its next call. */
void flow_lost_local(struct flow *f, const struct flow_claimed *c);
/* Claim <c> was renewed by a statement sent at <t0> (time_mono_ms). */
void flow_renewed_local(struct flow *f, const struct flow_claimed *c, uint64_t t0);
/* Wakes flow_wait() and log followers in this process after workflow <id> ended. */
void flow_ended_local(struct flow *f, const char *id);
/* Sends the engines' wake-up notification in <tx> (PostgreSQL; nothing on SQLite). */
int flow_notify(struct flow *f, struct store_tx *tx, const char *payload, struct err *err);

/* Hands a claimed workflow to an executor, starting a thread when none is idle. Caller holds
 * f->lock and has counted the claim in f->nrunning. */
void flow_exec_push_locked(struct flow *f, const struct flow_claimed *c);

/* ---------------------------------------------------------------- sched.c */

/* The scheduler thread: claims ready workflows within the queues' limits, starts cron ticks,
 * and on PostgreSQL returns expired claims to the pool. */
void *flow_sched_main(void *arg);

/* ---------------------------------------------------------------- prune.c */

/* Registers the built-in retention workflow and its schedule (when a retention is set). */
int flow_prune_register(struct flow *f, struct err *err) APP_MUST_CHECK;

/* ---------------------------------------------------------------- run.c */

/* A run of claim <c>, registered with the engine (caller holds f->lock): from then on
 * cancellations and lost claims reach it. */
void flow_run_start_locked(struct flow *f, const struct flow_claimed *c, struct flow_run *run);
/* Runs the workflow of claim <c> (its run started) until it ends, waits or its claim is lost;
 * then unregisters the run and frees c->row. */
void flow_run_claimed(struct flow *f, struct flow_claimed *c, struct flow_run *run);
/* PostgreSQL: renews the leases of what this engine runs, and learns which claims it lost and
 * which of its workflows were cancelled by another process. Watchdog thread. */
void flow_heartbeat(struct flow *f);

/* ---------------------------------------------------------------- run.c, step.c, write.c */

#define FLOW_RUN_ARENA (256u << 20) /* the budget of a run's arena: its records and outputs */
/* A batch of more bytes than this ends its runs one by one, and it bounds each array of the
 * bulk UPDATE (PostgreSQL). */
#define FLOW_ENDS_BULK_BYTES (4u << 20)

/* The status of a step position, as in flow_step.status. */
enum flow_step_status { FLOW_STEP_DONE = 0, FLOW_STEP_FAILED = 1, FLOW_STEP_WAITING = 2 };
/* What a suspended run waits for; park_tx() makes it due at once when that is already there. */
enum flow_wait_kind { FLOW_WAIT_NONE, FLOW_WAIT_TIMER, FLOW_WAIT_RECV, FLOW_WAIT_CHILD };

/* A step position as an earlier run recorded it (load_steps()): what the replay answers. */
struct flow_rec {
    bool set;
    struct slice name;
    int status;
    struct slice output;
    int err_code;
    struct slice err_msg;
    int64_t wake_ms;
};

/* One run of a workflow (flow.h's struct flow_ctx), on the executor thread running it. */
struct flow_ctx {
    struct flow *f;
    struct flow_run *run;
    const struct flow_def *def;
    struct arena *a;
    char id[37];
    char parent[37];
    struct flow_rec *rec;
    size_t nrec;
    unsigned seq;     /* the next step position */
    bool fresh;       /* a step ran for real in this run: no earlier attempts to count */
    int64_t deadline; /* wall ms, 0 = none */
    int stop;         /* sticky; see run.c */
    struct err stop_err;
    bool release; /* stopped because the claim was lost or the engine stops */
    enum flow_wait_kind wait;
    int64_t wake_ms;
    char wait_key[160]; /* the topic, or the child's id */
};

/* A row of flow_step to record; changes is set by the insert. */
struct flow_step_row {
    const char *wf;
    unsigned seq;
    const char *name;
    int status;
    struct slice output;
    struct err *err; /* FAILED: the error */
    unsigned attempts;
    int64_t started, ended, wake;
    int64_t changes;
};

/* How a run ends (run_end()): an item of the bulk of ends; changes says whether it applied. */
struct flow_end {
    struct flow_ctx *ctx;
    enum flow_status status;
    struct slice result;
    const struct err *e;
    int64_t changes;
};

/* run.c: stops the run stickily with <code> (the first stop stays); returns the stop. */
int flow_ctx_stop(struct flow_ctx *ctx, int code, struct err *err, const char *fmt, ...)
    APP_PRINTF(4, 5);
/* run.c: stops the run to wait for <kind> (<key>: the topic or child id) until <wake>. */
int flow_ctx_suspend(struct flow_ctx *ctx, enum flow_wait_kind kind, int64_t wake, const char *key,
                     struct err *err);
/* run.c: stops the run to hand its workflow back (claim lost, or the engine stops). */
int flow_ctx_release(struct flow_ctx *ctx, struct err *err);
/* run.c: 0, or the stop of a run that must not act now (cancelled, lost, past its deadline). */
int flow_ctx_check_live(struct flow_ctx *ctx, struct err *err) APP_MUST_CHECK;
/* run.c: the record at the next position, checked against <name>; NULL when the call is new. */
const struct flow_rec *flow_ctx_next_rec(struct flow_ctx *ctx, const char *name, unsigned *seq,
                                         struct err *err, int *rc);
/* run.c: what a recorded call returned: 0 and its output in <out>, or its error. */
int flow_rec_result(const struct flow_rec *r, struct slice *out, struct err *err) APP_MUST_CHECK;

/* write.c: commits <fn>(<arg>) fenced by the run's claim: 0, 1 when it was lost, or an error. */
int flow_ctx_commit(struct flow_ctx *ctx, flow_apply_fn *fn, void *arg,
                    struct err *err) APP_MUST_CHECK;
/* write.c: in <tx>, inserts the step row <arg> (a struct flow_step_row) unless its position is. */
int flow_step_row_tx(struct store_tx *tx, void *arg, struct err *err) APP_MUST_CHECK;
/* write.c: records <row> in a bulk: 0, 1 when recorded elsewhere first or the claim is lost. */
int flow_ctx_record(struct flow_ctx *ctx, struct flow_step_row *row,
                    struct err *err) APP_MUST_CHECK;
/* write.c: gives up the run after a record or commit that returned <rc> (not 0). */
int flow_ctx_record_failed(struct flow_ctx *ctx, int rc, struct err *err) APP_MUST_CHECK;
/* write.c: records that position <seq> (<name>) waits until <wake> (wall ms). */
int flow_ctx_record_waiting(struct flow_ctx *ctx, unsigned seq, const char *name, int64_t wake,
                            struct err *err) APP_MUST_CHECK;
/* write.c: turns waiting position <seq> into its result, <output> or the error <e>. */
int flow_ctx_settle(struct flow_ctx *ctx, unsigned seq, struct slice output, const struct err *e,
                    struct err *err) APP_MUST_CHECK;
/* write.c: where the item with id <id> is among <n> items (item i's id is <id_of>(items, i)),
 * looking from *<at> on, since a bulk statement's rows mostly come back in the batch's order;
 * n when none. *<at> moves past a match. */
typedef const char *flow_id_of_fn(const void *items, size_t i);
size_t flow_find_id(struct slice id, const void *items, size_t n, flow_id_of_fn *id_of, size_t *at);
/* write.c, PostgreSQL: ends <xs> in one UPDATE, which also sends their notifications when
 * <notify>; each one's changes says whether it applied. */
int flow_ends_update_pg(struct store_tx *tx, struct flow_end *const *xs, size_t n, bool notify,
                        struct err *err) APP_MUST_CHECK;
/* write.c, PostgreSQL: then wakes parents, cancels children and notifies once for all. */
int flow_ends_after_pg(struct store_tx *tx, struct flow_end *const *xs, size_t n,
                       struct err *err) APP_MUST_CHECK;

/* ---------------------------------------------------------------- control.c */

/* Inserts a workflow row in <tx>; 0 and the new id, or 1 and the id already holding <key>. */
struct flow_new_wf {
    const char *name;
    struct slice input;
    struct slice key, partition, parent;
    const char *queue;
    int priority;
};
int flow_insert(struct store_tx *tx, const struct flow_new_wf *w, char id_out[37],
                struct err *err) APP_MUST_CHECK;
/* In <tx>: cancels workflow <id> and its unfinished descendants (their cancel flag, woken). */
int flow_cancel_tree(struct flow *f, struct store_tx *tx, const char *id,
                     struct err *err) APP_MUST_CHECK;

#endif
