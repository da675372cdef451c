/*
 * The engine: registered workflows, queues and cron schedules; the executor threads that run
 * claimed workflows; the watchdog that fires step tokens at their deadline; on PostgreSQL the
 * listener that turns other processes' notifications into wake-ups.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>

#include "flow/flow-int.h"

#define EXEC_STACK (1u << 20)
#define WATCH_MS   50

static bool name_ok(const char *s)
{
    size_t i, n = s == NULL ? 0 : strlen(s);

    if (n == 0 || n > 63 || !(s[0] >= 'a' && s[0] <= 'z'))
        return false;
    for (i = 1; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
              s[i] == '.' || s[i] == '-'))
            return false;
    return true;
}

struct flow *flow_new(const struct flow_opts *opts)
{
    struct flow *f = xcalloc(1, sizeof(*f));

    f->opts = *opts;
    if (f->opts.max_running == 0)
        f->opts.max_running = 256;
    if (f->opts.lease_ms == 0)
        f->opts.lease_ms = 10000;
    if (f->opts.log_max_bytes == 0)
        f->opts.log_max_bytes = 8u << 20;
    if (f->opts.poll_ms == 0)
        f->opts.poll_ms = 1000;
    f->opts.service = xstrdup(opts->service ? opts->service : "flow");
    f->opts.prune_schedule = NULL; /* borrowed only until flow_start_engine() */
    f->prune_schedule = xstrdup(opts->prune_schedule ? opts->prune_schedule : "7 * * * *");
    f->store = opts->store;
    f->pg = store_kind(f->store) == STORE_POSTGRES;
    id_new(f->owner);
    f->log.svc = f->opts.service;
    f->commit = flow_commit_new(f->store);
    f->ready = xcalloc(f->opts.max_running, sizeof(*f->ready));
    pthread_mutex_init(&f->lock, NULL);
    cond_init_mono(&f->sched_cv);
    cond_init_mono(&f->exec_cv);
    cond_init_mono(&f->final_cv);
    cond_init_mono(&f->call_cv);
    return f;
}

const struct flow_def *flow_def_find(const struct flow *f, struct slice name)
{
    for (size_t i = 0; i < f->ndefs; i++)
        if (slice_eq_cstr(name, f->defs[i].name))
            return &f->defs[i];
    return NULL;
}

const struct flow_qdef *flow_queue_find(const struct flow *f, struct slice name)
{
    for (size_t i = 0; i < f->nqueues; i++)
        if (slice_eq_cstr(name, f->queues[i].name))
            return &f->queues[i];
    return NULL;
}

int flow_register(struct flow *f, const struct flow_wf_def *def, struct err *err)
{
    struct flow_def *d;

    if (f->started)
        return err_set(err, ERR_CONFLICT, "flow_register: the engine runs already");
    if (!name_ok(def->name))
        return err_set(err, ERR_INVALID,
                       "workflow name \"%.64s\": lower-case letters, digits, '_', '.', '-', "
                       "starting with a letter, at most 63",
                       def->name ? def->name : "");
    if (def->fn == NULL)
        return err_set(err, ERR_INVALID, "workflow %s: no function", def->name);
    if (flow_def_find(f, slice_from_cstr(def->name)) != NULL)
        return err_set(err, ERR_CONFLICT, "workflow %s is registered already", def->name);
    f->defs = xrealloc(f->defs, (f->ndefs + 1) * sizeof(*f->defs));
    d = &f->defs[f->ndefs++];
    *d = (struct flow_def){.name = xstrdup(def->name),
                           .fn = def->fn,
                           .udata = def->udata,
                           .queue = def->queue ? xstrdup(def->queue) : NULL,
                           .deadline_ms = def->deadline_ms};
    return 0;
}

int flow_queue_add(struct flow *f, const struct flow_queue_def *def, struct err *err)
{
    if (f->started)
        return err_set(err, ERR_CONFLICT, "flow_queue_add: the engine runs already");
    if (!name_ok(def->name))
        return err_set(err, ERR_INVALID, "queue name \"%.64s\" is not a valid name",
                       def->name ? def->name : "");
    if (flow_queue_find(f, slice_from_cstr(def->name)) != NULL)
        return err_set(err, ERR_CONFLICT, "queue %s exists already", def->name);
    if (def->rate > 0 && def->period_ms == 0)
        return err_set(err, ERR_INVALID, "queue %s: a rate needs a period", def->name);
    f->queues = xrealloc(f->queues, (f->nqueues + 1) * sizeof(*f->queues));
    f->queues[f->nqueues++] = (struct flow_qdef){.name = xstrdup(def->name),
                                                 .concurrency = def->concurrency,
                                                 .per_key = def->per_key,
                                                 .rate = def->rate,
                                                 .period_ms = def->period_ms};
    return 0;
}

int flow_cron_add(struct flow *f, const char *name, const char *spec, const char *wf,
                  struct slice input, struct err *err)
{
    struct flow_cron_spec cs;
    struct flow_crondef *c;
    int rc;

    if (f->started)
        return err_set(err, ERR_CONFLICT, "flow_cron_add: the engine runs already");
    if (!name_ok(name))
        return err_set(err, ERR_INVALID, "cron name \"%.64s\" is not a valid name",
                       name ? name : "");
    rc = flow_cron_parse(slice_from_cstr(spec), &cs, err);
    if (rc < 0)
        return rc;
    if (flow_def_find(f, slice_from_cstr(wf)) == NULL)
        return err_set(err, ERR_NOTFOUND, "cron %s: workflow %s is not registered", name, wf);
    f->crons = xrealloc(f->crons, (f->ncrons + 1) * sizeof(*f->crons));
    c = &f->crons[f->ncrons++];
    *c = (struct flow_crondef){
        .name = xstrdup(name),
        .wf = xstrdup(wf),
        .input = xstrndup(input.ptr ? input.ptr : "null", input.ptr ? input.len : 4),
        .spec = cs};
    return 0;
}

/* ---------------------------------------------------------------- wake-ups */

int flow_notify(struct flow *f, struct store_tx *tx, const char *payload, struct err *err)
{
    if (!f->pg)
        return 0;
    return store_notify(tx, "slipway_flow", slice_from_cstr(payload), err);
}

const char *flow_engine_id(const struct flow *f)
{
    return f->owner;
}

void flow_kick(struct flow *f)
{
    pthread_mutex_lock(&f->lock);
    f->kicks++;
    pthread_cond_signal(&f->sched_cv);
    pthread_mutex_unlock(&f->lock);
}

static void fire_locked(struct flow *f, struct flow_run *r)
{
    if (r->call != NULL) {
        atomic_store(&r->call->fired, true);
        if (r->call->pgid > 0)
            kill(-r->call->pgid, SIGKILL);
    }
    pthread_cond_broadcast(&f->call_cv);
}

/* Sets the cancelled (or lost) flag of the runs of <id> here (of claim <epoch>, or any when
 * it is 0) and fires their tokens. */
static void mark_local(struct flow *f, const char *id, int64_t epoch, bool cancelled)
{
    struct flow_run *r;

    pthread_mutex_lock(&f->lock);
    for (r = f->runs; r != NULL; r = r->next)
        if (strcmp(r->id, id) == 0 && (epoch == 0 || r->epoch == epoch)) {
            atomic_store(cancelled ? &r->cancelled : &r->lost, true);
            fire_locked(f, r);
        }
    for (size_t i = 0; cancelled && i < f->ready_len; i++) { /* claimed, not yet started */
        struct flow_claimed *c = &f->ready[(f->ready_head + i) % f->opts.max_running];

        if (strcmp(c->id, id) == 0)
            c->cancel = true;
    }
    pthread_mutex_unlock(&f->lock);
}

void flow_cancel_local(struct flow *f, const char *id)
{
    mark_local(f, id, 0, true);
}

void flow_lost_local(struct flow *f, const struct flow_claimed *c)
{
    mark_local(f, c->id, c->epoch, false);
}

void flow_renewed_local(struct flow *f, const struct flow_claimed *c, uint64_t t0)
{
    struct flow_run *r;

    pthread_mutex_lock(&f->lock);
    for (r = f->runs; r != NULL; r = r->next)
        if (strcmp(r->id, c->id) == 0 && r->epoch == c->epoch)
            atomic_store(&r->lease_mono, t0 + f->opts.lease_ms * 3 / 4);
    pthread_mutex_unlock(&f->lock);
}

void flow_ended_local(struct flow *f, const char *id)
{
    pthread_mutex_lock(&f->lock);
    f->ends++;
    pthread_cond_broadcast(&f->final_cv);
    pthread_mutex_unlock(&f->lock);
    if (f->logs != NULL)
        flow_logs_kick(f->logs, id);
}

/* ---------------------------------------------------------------- executors */

static void *exec_main(void *arg)
{
    struct flow *f = arg;
    struct flow_claimed c;
    struct flow_run run;

    pthread_mutex_lock(&f->lock);
    for (;;) {
        while (f->ready_len == 0 && !f->stopping) {
            f->nidle++;
            pthread_cond_wait(&f->exec_cv, &f->lock);
            f->nidle--;
        }
        if (f->ready_len == 0)
            break;
        c = f->ready[f->ready_head];
        f->ready_head = (f->ready_head + 1) % f->opts.max_running;
        f->ready_len--;
        flow_run_start_locked(f, &c, &run);
        pthread_mutex_unlock(&f->lock);
        flow_run_claimed(f, &c, &run);
        pthread_mutex_lock(&f->lock);
        f->nrunning--;
        if (f->full) { /* room again for what the scheduler had to leave */
            f->kicks++;
            pthread_cond_signal(&f->sched_cv);
        }
    }
    f->nthreads--;
    pthread_cond_broadcast(&f->sched_cv);
    pthread_mutex_unlock(&f->lock);
    return NULL;
}

void flow_exec_push_locked(struct flow *f, const struct flow_claimed *c)
{
    size_t tail = (f->ready_head + f->ready_len) % f->opts.max_running;
    pthread_attr_t attr;
    pthread_t t;

    ASSERT(f->ready_len < f->opts.max_running);
    f->ready[tail] = *c;
    f->ready_len++;
    if (f->nidle >= f->ready_len) {
        pthread_cond_signal(&f->exec_cv);
        return;
    }
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, EXEC_STACK);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &attr, exec_main, f) == 0)
        f->nthreads++;
    else if (f->nthreads == 0)
        ASSERT(!"cannot start a workflow executor thread");
    pthread_attr_destroy(&attr);
}

/* ---------------------------------------------------------------- watchdog */

static void watch_tick(struct flow *f)
{
    uint64_t now = time_mono_ms();
    struct flow_run *r;

    pthread_mutex_lock(&f->lock);
    for (r = f->runs; r != NULL; r = r->next) {
        struct flow_call *c = r->call;

        if (c == NULL || atomic_load(&c->fired))
            continue;
        if ((c->deadline_mono != 0 && now >= c->deadline_mono) || atomic_load(&r->cancelled) ||
            atomic_load(&r->lost))
            fire_locked(f, r);
    }
    pthread_mutex_unlock(&f->lock);
}

static void *watch_main(void *arg)
{
    struct flow *f = arg;
    uint64_t beat = 0;

    pthread_mutex_lock(&f->lock);
    while (!f->stopping) {
        pthread_mutex_unlock(&f->lock);
        watch_tick(f);
        if (f->pg && time_mono_ms() >= beat) {
            flow_heartbeat(f);
            beat = time_mono_ms() + f->opts.lease_ms / 3;
        }
        pthread_mutex_lock(&f->lock);
        if (!f->stopping)
            cond_wait_until(&f->final_cv, &f->lock, time_mono_ns() + WATCH_MS * 1000000u);
    }
    pthread_mutex_unlock(&f->lock);
    return NULL;
}

/* ---------------------------------------------------------------- PostgreSQL listener */

/* Another process started, woke, cancelled or ended a workflow: payloads "wake",
 * "cancel:<id>", "end:<id>". */
static void on_notice(struct flow *f, struct slice p)
{
    char id[37];

    if (p.len == 7 + 36 && memcmp(p.ptr, "cancel:", 7) == 0) {
        memcpy(id, p.ptr + 7, 36);
        id[36] = '\0';
        flow_cancel_local(f, id);
    } else if (p.len == 4 + 36 && memcmp(p.ptr, "end:", 4) == 0) {
        memcpy(id, p.ptr + 4, 36);
        id[36] = '\0';
        flow_ended_local(f, id);
        return; /* nothing new to claim: an end that wakes a parent also sends "wake" */
    }
    flow_kick(f);
}

static void *listen_main(void *arg)
{
    struct flow *f = arg;
    struct sbuf payload = SBUF_INIT(8192);
    struct err err = {0};
    int rc;

    for (;;) {
        pthread_mutex_lock(&f->lock);
        bool stop = f->stopping;
        pthread_mutex_unlock(&f->lock);
        if (stop)
            break;
        sbuf_reset(&payload);
        rc = store_listener_wait(f->listener, f->opts.poll_ms, &payload, &err);
        if (rc == 1)
            on_notice(f, (struct slice){payload.buf, payload.len});
        else if (rc < 0)
            usleep(100 * 1000);
    }
    sbuf_release(&payload);
    return NULL;
}

/* ---------------------------------------------------------------- start and stop */

int flow_start_engine(struct flow *f, struct err *err)
{
    int rc;

    if (f->started)
        return err_set(err, ERR_CONFLICT, "the workflow engine runs already");
    rc = flow_prune_register(f, err);
    if (rc < 0)
        return rc;
    f->logs = flow_logs_new(f->store, f->opts.service, f->opts.log_max_bytes);
    if (f->pg) {
        struct err e = {0};

        rc = store_listen(f->store, "slipway_flow", &f->listener, err);
        if (rc < 0)
            return rc;
        /* the first claims start many workflows at once, each reading its row */
        if (store_warm(f->store, UINT_MAX, &e) < 0)
            LOG_WARN(&f->log, "flow.pool_warm_failed", LF_STR("error", e.msg));
    }
    f->started = true;
    if (pthread_create(&f->sched, NULL, flow_sched_main, f) != 0 ||
        pthread_create(&f->watch, NULL, watch_main, f) != 0)
        ASSERT(!"cannot start the workflow engine's threads");
    if (f->pg) {
        if (pthread_create(&f->listen, NULL, listen_main, f) != 0)
            ASSERT(!"cannot start the workflow engine's listener");
        f->have_listen = true;
    }
    LOG_INFO(&f->log, "flow.started", LF_STR("owner", f->owner), LF_INT("workflows", f->ndefs),
             LF_INT("max_running", f->opts.max_running));
    return 0;
}

static void stop_threads(struct flow *f)
{
    struct flow_run *r;

    pthread_mutex_lock(&f->lock);
    f->stopping = true;
    for (r = f->runs; r != NULL; r = r->next) {
        atomic_store(&r->lost, true);
        fire_locked(f, r);
    }
    pthread_cond_broadcast(&f->sched_cv);
    pthread_cond_broadcast(&f->exec_cv);
    pthread_cond_broadcast(&f->final_cv);
    pthread_mutex_unlock(&f->lock);
    if (f->listener != NULL)
        store_listener_wake(f->listener);
    pthread_join(f->sched, NULL);
    pthread_join(f->watch, NULL);
    if (f->have_listen)
        pthread_join(f->listen, NULL);
    pthread_mutex_lock(&f->lock);
    while (f->nthreads > 0)
        pthread_cond_wait(&f->sched_cv, &f->lock);
    pthread_mutex_unlock(&f->lock);
}

void flow_free(struct flow *f)
{
    size_t i;

    if (f == NULL)
        return;
    if (f->started) {
        uint64_t batches, items, ns;

        stop_threads(f);
        flow_commit_stats(f->commit, &batches, &items, &ns);
        LOG_INFO(&f->log, "flow.stopped", LF_UINT("commits", batches), LF_UINT("writes", items),
                 LF_UINT("commit_ms", ns / 1000000));
    }
    if (f->logs != NULL)
        flow_logs_free(f->logs);
    if (f->listener != NULL)
        store_listener_close(f->listener);
    flow_commit_free(f->commit);
    for (i = 0; i < f->ndefs; i++) {
        free(f->defs[i].name);
        free(f->defs[i].queue);
    }
    for (i = 0; i < f->nqueues; i++)
        free(f->queues[i].name);
    for (i = 0; i < f->ncrons; i++) {
        free(f->crons[i].name);
        free(f->crons[i].wf);
        free(f->crons[i].input);
    }
    free(f->defs);
    free(f->queues);
    free(f->crons);
    free(f->ready);
    free((char *)f->opts.service);
    free(f->prune_schedule);
    pthread_mutex_destroy(&f->lock);
    pthread_cond_destroy(&f->sched_cv);
    pthread_cond_destroy(&f->exec_cv);
    pthread_cond_destroy(&f->final_cv);
    pthread_cond_destroy(&f->call_cv);
    free(f);
}
