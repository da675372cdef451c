/*
 * flow: durable workflows. A workflow is a registered C function that does its side effects
 * through steps; the engine records the workflow's input before it starts, each step's result
 * (output or error) as the step completes, and the workflow's final result, in the store of the
 * service that runs it. After a crash every workflow still unfinished is run again from the
 * top: steps with a recorded result return it without running, and the first step without
 * one runs for real. So a workflow function must be deterministic apart from its steps: the
 * same input and the same step results must lead to the same calls in the same order.
 *
 *   static int deploy(struct flow_ctx *ctx, struct slice input, struct sbuf *result,
 *                     struct err *err)
 *   {
 *       struct slice image;
 *       int rc = flow_step(ctx, "build", build_step, input, &image, err);
 *       if (rc < 0)
 *           return rc;             // also how FLOW_SUSPENDED and cancellation leave
 *       ...
 *   }
 *
 * Waiting (flow_sleep, flow_recv, flow_child_wait) does not hold a thread: the call records
 * what it waits for and returns FLOW_SUSPENDED, which the workflow returns like any error; the
 * engine runs the workflow again from the top when the wait is over. Once a call has returned
 * FLOW_SUSPENDED or ERR_CANCELLED every later flow_* call of that run returns the same, and
 * whatever the function then returns is ignored.
 *
 * Threads: workflow functions and steps run on the engine's executor threads and may block.
 * Every other function here blocks on the store too: call from worker threads, never from an
 * event loop.
 */
#ifndef SLIPWAY_FLOW_H
#define SLIPWAY_FLOW_H

#include "base/base.h"
#include "store/store.h"

/* Returned by a waiting call when the run must stop until the wait is over. Not an error: the
 * engine never records it as the workflow's result. */
#define FLOW_SUSPENDED (-100)

enum flow_status {
    FLOW_PENDING,   /* waiting to be run (new, woken, or its executor died) */
    FLOW_RUNNING,   /* an executor holds it */
    FLOW_WAITING,   /* suspended on a timer, a message or a child */
    FLOW_SUCCEEDED, /* final */
    FLOW_FAILED,    /* final: the function returned an error, or a deadline passed */
    FLOW_CANCELLED, /* final */
};
const char *flow_status_name(enum flow_status s); /* "PENDING", … */
bool flow_status_parse(struct slice s, enum flow_status *out);

struct flow;      /* one engine: a store, registered workflows and queues, executor threads */
struct flow_ctx;  /* one run of one workflow */
struct flow_call; /* one attempt of one step */

/* ---------------------------------------------------------------- engine */

struct flow_opts {
    struct store *store;  /* borrowed; flow_migrate() must have been applied to it */
    const char *service;  /* for logs: "gateway", "builder", … */
    unsigned max_running; /* workflows run at once by this process, 0 = 256 */
    /* PostgreSQL: how long a claim lasts without a heartbeat; a dead executor's workflows are
     * taken over this long after its last one. 0 = 10 s. SQLite ignores it: one process owns
     * the file and takes every unfinished workflow over when it starts. */
    uint64_t lease_ms;
    uint64_t log_max_bytes; /* kept per workflow log; older lines are dropped, 0 = 8 MiB */
    uint64_t poll_ms;       /* PostgreSQL: look for work this often without a wake-up, 0 = 1 s */
    /* Ended workflows are deleted (with their steps, messages, events and log) this long
     * after they ended, by the built-in workflow "flow.prune" run on <prune_schedule>
     * (a cron spec, NULL = "7 * * * *"); 0 keeps them for ever. */
    uint64_t retention_ms;
    const char *prune_schedule;
};

/* The engine's configuration keys (flow.*), for a process that runs one. */
struct flow_cfg {
    int64_t max_running, lease_ms, log_max_bytes, retention_ms;
    char *prune_schedule;
};
struct cfg_section flow_cfg_section(struct flow_cfg *target);
/* <opts> from <cfg> for an engine on <store>. */
void flow_opts_from_cfg(struct flow_opts *opts, const struct flow_cfg *cfg, struct store *store,
                        const char *service);

/* The engine's tables, as store migrations of the set "flow" (store_migrate_set). */
int flow_migrate(struct store *s, struct err *err) APP_MUST_CHECK;

struct flow *flow_new(const struct flow_opts *opts);
/* Starts the executor threads: from here on workflows run. Register workflows, queues and
 * cron schedules before. */
int flow_start_engine(struct flow *f, struct err *err) APP_MUST_CHECK;
/* Stops taking work, asks the running workflows to stop at their next flow_* call (they are
 * left unfinished and run again by the next engine), waits for the threads and frees <f>. */
void flow_free(struct flow *f);
/* This engine's id: what flow_wf.owner holds for the workflows it has claimed. */
const char *flow_engine_id(const struct flow *f);

/* The workflow function. <input> is the JSON given to flow_start(); <result> gets the JSON
 * result (empty means null). A negative return fails the workflow with <err> (recorded),
 * except FLOW_SUSPENDED and ERR_CANCELLED (a cancelled workflow: every flow_* call of the run
 * returns ERR_CANCELLED from the moment flow_cancel() reaches it). */
typedef int flow_wf_fn(struct flow_ctx *ctx, struct slice input, struct sbuf *result,
                       struct err *err);
struct flow_wf_def {
    const char *name; /* ^[a-z][a-z0-9_.-]{0,62}$ */
    flow_wf_fn *fn;
    void *udata;          /* flow_udata() */
    const char *queue;    /* default queue, NULL = none (no limits) */
    uint64_t deadline_ms; /* whole workflow, from its start; 0 = none */
};
/* Before flow_start_engine(). The definition is copied. */
int flow_register(struct flow *f, const struct flow_wf_def *def, struct err *err) APP_MUST_CHECK;

/* A queue limits how its workflows start: at most <concurrency> unfinished (started and not
 * final) at once, at most <per_key> per partition key, at most <rate> starts per <period_ms>.
 * 0 means no limit. Among ready workflows, lower <priority> starts first, then older. */
struct flow_queue_def {
    const char *name;
    unsigned concurrency;
    unsigned per_key;
    unsigned rate;
    uint64_t period_ms;
};
int flow_queue_add(struct flow *f, const struct flow_queue_def *def,
                   struct err *err) APP_MUST_CHECK;

/* Starts workflow <wf> at every minute matching <spec> ("30 2 * * *": minute hour day month
 * weekday, UTC; steps, ranges, lists, names and @daily-style macros as in cron) with <input>; each
 * tick starts exactly once, whichever process sees it, and a tick missed while no engine ran is
 * started once when one does. */
int flow_cron_add(struct flow *f, const char *name, const char *spec, const char *wf,
                  struct slice input, struct err *err) APP_MUST_CHECK;

/* ---------------------------------------------------------------- starting and steering */

struct flow_start_opts {
    struct slice key;       /* idempotency key: a second start with it returns the first id */
    const char *queue;      /* NULL = the workflow's default */
    struct slice partition; /* the queue's per-key limit counts per partition */
    int priority;           /* lower first; 0 default */
    struct slice parent;    /* set by flow_child_start() */
};
/* Records a new workflow and wakes an executor. <id_out> gets its id (a UUIDv7); with an
 * idempotency key already used, the existing workflow's id and 1 is returned instead of 0.
 * ERR_NOTFOUND for an unregistered <wf>, ERR_INVALID for input that is not JSON. */
int flow_start(struct flow *f, const char *wf, struct slice input, const struct flow_start_opts *o,
               char id_out[37], struct err *err) APP_MUST_CHECK;

/* Delivers <msg> on <topic> to workflow <id>; kept until a flow_recv() takes it, so the
 * receiver may be down or not yet waiting. ERR_NOTFOUND for an unknown workflow. */
int flow_send(struct flow *f, struct slice id, const char *topic, struct slice msg,
              struct err *err) APP_MUST_CHECK;

/* Cancels workflow <id> and its unfinished children: the running step's cancel token is set
 * (and its process group killed, see flow_call_kill_group), waits end, and the workflow ends
 * CANCELLED. ERR_CONFLICT when it is already final. */
int flow_cancel(struct flow *f, struct slice id, struct err *err) APP_MUST_CHECK;

/* Runs a FAILED or CANCELLED workflow again: its failed last step and result are forgotten,
 * its completed steps are kept. ERR_CONFLICT when it is not in one of those states. */
int flow_retry(struct flow *f, struct slice id, struct err *err) APP_MUST_CHECK;

/* The value of event <key> published by workflow <id> (flow_set_event), copied into <a>.
 * ERR_NOTFOUND when it has not published it. */
int flow_get_event(struct store *s, struct arena *a, struct slice id, const char *key,
                   struct slice *value, struct err *err) APP_MUST_CHECK;

/* Blocks until workflow <id> is final or <timeout_ms> passes; gives its status and result (or
 * error) in <a>. On ERR_TIMEOUT *out still holds the status it has now, so a <timeout_ms> of
 * 0 reads the status without waiting. */
struct flow_outcome {
    enum flow_status status;
    struct slice result;
    int err_code;
    struct slice err_msg;
};
int flow_wait(struct flow *f, struct arena *a, struct slice id, uint64_t timeout_ms,
              struct flow_outcome *out, struct err *err) APP_MUST_CHECK;

/* ---------------------------------------------------------------- inside a workflow */

void *flow_udata(const struct flow_ctx *ctx);
const char *flow_id(const struct flow_ctx *ctx);
/* An arena that lives as long as this run; outputs of steps point into it. */
struct arena *flow_arena(struct flow_ctx *ctx);

struct flow_retry {
    unsigned attempts;   /* in all, 0 = 1 (no retry) */
    uint64_t initial_ms; /* wait before the second attempt, 0 = 1 s */
    double factor;       /* each wait is the previous times this, 0 = 2 */
    uint64_t max_ms;     /* waits grow up to this, 0 = 1 min */
    const int *no_retry; /* error codes never retried, ending with 0; NULL = ERR_INVALID, */
                         /* ERR_NOTFOUND, ERR_FORBIDDEN, ERR_UNAUTHENTICATED, ERR_CANCELLED */
    uint64_t timeout_ms; /* per attempt, 0 = none: the call's token fires at the deadline */
};

/* A step. <output> gets what the step wrote (JSON or any text), in flow_arena(ctx). The step
 * may block; it should poll flow_call_cancelled(). Its error, once retries are spent, is
 * recorded and returned again by every replay. */
typedef int flow_step_fn(struct flow_call *call, struct slice input, struct sbuf *output,
                         struct err *err);
int flow_step(struct flow_ctx *ctx, const char *name, flow_step_fn *fn, struct slice input,
              struct slice *output, struct err *err) APP_MUST_CHECK;
int flow_step_retry(struct flow_ctx *ctx, const char *name, flow_step_fn *fn, struct slice input,
                    const struct flow_retry *retry, struct slice *output,
                    struct err *err) APP_MUST_CHECK;

/* A durable timer: returns 0 once <ms> have passed since the first time this call ran, even
 * across restarts; until then FLOW_SUSPENDED. */
int flow_sleep(struct flow_ctx *ctx, uint64_t ms, struct err *err) APP_MUST_CHECK;
/* The oldest message on <topic> not yet received, in flow_arena(ctx); waits up to
 * <timeout_ms> from the first time this call ran (FLOW_SUSPENDED meanwhile), then returns
 * ERR_TIMEOUT. */
int flow_recv(struct flow_ctx *ctx, const char *topic, uint64_t timeout_ms, struct slice *msg,
              struct err *err) APP_MUST_CHECK;
/* Publishes <value> under <key> for flow_get_event() (the latest value wins). */
int flow_set_event(struct flow_ctx *ctx, const char *key, struct slice value,
                   struct err *err) APP_MUST_CHECK;
/* Starts child workflow <wf> (once: a replay gets the same child). Cancelling this workflow
 * cancels the child. */
int flow_child_start(struct flow_ctx *ctx, const char *wf, struct slice input, char id_out[37],
                     struct err *err) APP_MUST_CHECK;
/* Waits for the child to end: 0 with its result when it succeeded, its error otherwise. */
int flow_child_wait(struct flow_ctx *ctx, const char *child_id, struct slice *result,
                    struct err *err) APP_MUST_CHECK;
/* Appends one line to the workflow's log (flow_log_read). Never blocks on readers. */
void flow_log(struct flow_ctx *ctx, const char *fmt, ...) APP_PRINTF(2, 3);

/* ---------------------------------------------------------------- inside a step */

void *flow_call_udata(const struct flow_call *call);
unsigned flow_call_attempt(const struct flow_call *call); /* 1, 2, … */
/* True once the workflow is cancelled, the attempt's timeout passed or the engine stops. */
bool flow_call_cancelled(const struct flow_call *call);
/* Blocks up to <ms> or until the token fires; true when it fired. */
bool flow_call_wait(struct flow_call *call, uint64_t ms);
/* Process group <pgid> is killed (SIGKILL) when the token fires; 0 forgets it. */
void flow_call_kill_group(struct flow_call *call, int pgid);
void flow_call_log(struct flow_call *call, const char *fmt, ...) APP_PRINTF(2, 3);
void flow_call_log_line(struct flow_call *call, struct slice line);

/* ---------------------------------------------------------------- logs */

/* Lines <from>, <from>+1, … of workflow <id>'s log, at most <max> of them, into <a>. Line
 * numbers count every line ever written; lines dropped to keep the log under its size bound
 * are reported in *skipped (never silently): *first is the number of lines[0]. */
struct flow_log_line {
    uint64_t n;
    uint64_t ts_ms;
    struct slice text;
};
int flow_log_read(struct store *s, struct arena *a, struct slice id, uint64_t from, size_t max,
                  struct flow_log_line **lines, size_t *nlines, uint64_t *skipped,
                  struct err *err) APP_MUST_CHECK;
/* Blocks until workflow <id>'s log has a line numbered <from> or later, the workflow is final,
 * or <timeout_ms> passes. 1 when there is more to read, 0 when the workflow is final and
 * everything was read, ERR_TIMEOUT otherwise. */
int flow_log_follow(struct flow *f, struct slice id, uint64_t from, uint64_t timeout_ms,
                    struct err *err) APP_MUST_CHECK;

/* ---------------------------------------------------------------- visibility */

struct flow_filter {
    const char *name;    /* workflow name, NULL = any */
    int status;          /* enum flow_status, -1 = any */
    struct slice key;    /* idempotency key prefix */
    uint64_t since_ms;   /* created at or after, 0 = any */
    uint64_t until_ms;   /* created before, 0 = any */
    size_t limit;        /* 0 = 100 */
    struct slice before; /* ids sort by creation: page with the last id of the previous page */
};
/* Writes a JSON array of workflows, newest first: id, name, status, key, queue, partition,
 * parent, created, updated, started, runs (how many times an executor took it up) and error. */
int flow_list_json(struct store *s, const struct flow_filter *filter, struct jw *w,
                   struct err *err) APP_MUST_CHECK;
/* Writes one workflow as a JSON object: the list fields plus input, result, error, events,
 * children and its steps (seq, name, status, attempts with their errors, started, ended,
 * output). ERR_NOTFOUND. */
int flow_show_json(struct store *s, struct slice id, struct jw *w, struct err *err) APP_MUST_CHECK;

#endif
