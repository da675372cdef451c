/*
 * Group commit. A caller queues its statements and waits; the first caller to find no commit in
 * progress becomes the leader: it takes everything queued, runs it in one transaction, commits
 * (one fsync for all) and wakes the others. Callers that queue while the leader commits form the
 * next batch. A lone caller is its own leader and pays no hand-off to another thread.
 */
#include <stdlib.h>
#include <time.h>

#include "flow/flow-int.h"

#define BATCH_MAX   1024
#define FILL_MAX_NS 2000000 /* the longest a leader waits for its batch to fill */

struct item {
    flow_apply_fn *fn;
    flow_bulk_fn *bulk; /* instead of fn: applied once for every item of the batch that has it */
    void *arg;
    bool grouped; /* applied with an earlier item of its bulk */
    bool waited;  /* waited once for the batch to fill */
    int rc;
    struct err err;
    bool done;
    struct item *next;
};

struct flow_commit {
    struct store *store;
    pthread_mutex_t lock;
    pthread_cond_t cv;
    bool busy;                 /* guarded by lock: a leader is committing */
    struct item *head, **tail; /* guarded by lock */
    uint64_t batches, items;   /* guarded by lock: commits made, callers served */
    size_t queued;             /* guarded by lock: items in the queue */
    size_t last_n;             /* guarded by lock: items in the last batch */
    uint64_t last_ns;          /* guarded by lock: how long its commit took */
    bool filling;              /* guarded by lock: a leader waits for more items */
    uint64_t busy_ns;          /* guarded by lock: time spent committing */
    void **args;               /* the leader's: a bulk's arguments, [BATCH_MAX] */
};

struct flow_commit *flow_commit_new(struct store *s)
{
    struct flow_commit *c = xcalloc(1, sizeof(*c));

    c->store = s;
    c->tail = &c->head;
    c->args = xcalloc(BATCH_MAX, sizeof(*c->args));
    pthread_mutex_init(&c->lock, NULL);
    cond_init_mono(&c->cv);
    return c;
}

void flow_commit_free(struct flow_commit *c)
{
    if (c == NULL)
        return;
    ASSERT(c->head == NULL && !c->busy);
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->cv);
    free(c->args);
    free(c);
}

/* Runs one item alone: the fallback when a shared transaction failed. */
static void run_alone(struct flow_commit *c, struct item *it)
{
    struct store_tx *tx;

    it->rc = store_begin(c->store, &tx, &it->err);
    if (it->rc < 0)
        return;
    it->rc = it->bulk ? it->bulk(tx, &it->arg, 1, &it->err) : it->fn(tx, it->arg, &it->err);
    if (it->rc < 0)
        store_rollback(tx);
    else
        it->rc = store_commit(tx, &it->err);
}

/* Applies <first>'s bulk to it and every later item of the batch with the same bulk. */
static int apply_bulk(struct flow_commit *c, struct store_tx *tx, struct item *first,
                      struct err *err)
{
    size_t n = 0;

    for (struct item *it = first; it != NULL; it = it->next)
        if (it->bulk == first->bulk) {
            c->args[n++] = it->arg;
            it->grouped = true;
        }
    return first->bulk(tx, c->args, n, err);
}

static int run_shared(struct flow_commit *c, struct item *batch, struct err *err)
{
    struct store_tx *tx;
    struct item *it;
    int rc = store_begin(c->store, &tx, err);

    if (rc < 0)
        return rc;
    for (it = batch; rc == 0 && it != NULL; it = it->next) {
        if (it->bulk == NULL)
            rc = it->fn(tx, it->arg, err);
        else if (!it->grouped)
            rc = apply_bulk(c, tx, it, err);
    }
    if (rc < 0) {
        store_rollback(tx);
        return rc;
    }
    return store_commit(tx, err);
}

/* Commits <batch> (a list of items), together when it can, else one by one. */
static void commit_batch(struct flow_commit *c, struct item *batch)
{
    struct err err = {0};
    struct item *it;

    if (batch->next == NULL) {
        run_alone(c, batch);
        return;
    }
    if (run_shared(c, batch, &err) == 0) {
        for (it = batch; it != NULL; it = it->next)
            it->rc = 0;
        return;
    }
    for (it = batch; it != NULL; it = it->next)
        run_alone(c, it);
}

/* Takes up to BATCH_MAX queued items. Caller holds c->lock. */
static struct item *take_batch(struct flow_commit *c)
{
    struct item *batch = c->head, **p = &c->head;
    size_t n = 0;

    while (*p != NULL && n < BATCH_MAX) {
        p = &(*p)->next;
        n++;
    }
    c->head = *p;
    *p = NULL;
    if (c->head == NULL)
        c->tail = &c->head;
    c->queued -= n;
    c->last_n = n;
    return batch;
}

static int run_item(struct flow_commit *c, struct item *self, struct err *err);

int flow_commit_run(struct flow_commit *c, flow_apply_fn *fn, void *arg, struct err *err)
{
    struct item self = {.fn = fn, .arg = arg};

    return run_item(c, &self, err);
}

int flow_commit_bulk(struct flow_commit *c, flow_bulk_fn *fn, void *arg, struct err *err)
{
    struct item self = {.bulk = fn, .arg = arg};

    return run_item(c, &self, err);
}

/* Half of the last batch: a leader that finds fewer queued waits a little for them, since the
 * callers of the last batch come back at once with their next write (a workflow's next step);
 * without it batches alternate between many and few. A lone caller never waits. */
static bool should_fill(struct flow_commit *c, struct item *self)
{
    return !self->waited && c->last_n >= 4 && c->queued < c->last_n / 2;
}

static void fill_wait(struct flow_commit *c, struct item *self)
{
    uint64_t ns = c->last_ns / 2 < FILL_MAX_NS ? c->last_ns / 2 : FILL_MAX_NS;

    self->waited = true;
    c->filling = true;
    cond_wait_until(&c->cv, &c->lock, time_mono_ns() + ns);
    c->filling = false;
}

static int run_item(struct flow_commit *c, struct item *self, struct err *err)
{
    struct item *batch, *it, *next;
    uint64_t t0;

    pthread_mutex_lock(&c->lock);
    *c->tail = self;
    c->tail = &self->next;
    c->queued++;
    if (c->filling && c->queued >= c->last_n / 2)
        pthread_cond_broadcast(&c->cv);
    while (!self->done) {
        if (c->busy) {
            pthread_cond_wait(&c->cv, &c->lock);
            continue;
        }
        if (should_fill(c, self)) {
            fill_wait(c, self);
            continue;
        }
        c->busy = true;
        batch = take_batch(c);
        pthread_mutex_unlock(&c->lock);
        t0 = time_mono_ns();
        commit_batch(c, batch);
        pthread_mutex_lock(&c->lock);
        c->last_ns = time_mono_ns() - t0;
        c->busy_ns += c->last_ns;
        for (it = batch; it != NULL; it = next) {
            next = it->next; /* <it> may be gone once done is seen */
            it->done = true;
            c->items++;
        }
        c->busy = false;
        c->batches++;
        pthread_cond_broadcast(&c->cv);
    }
    pthread_mutex_unlock(&c->lock);
    if (self->rc < 0 && err != NULL)
        *err = self->err;
    return self->rc;
}

void flow_commit_stats(struct flow_commit *c, uint64_t *batches, uint64_t *items, uint64_t *busy_ns)
{
    pthread_mutex_lock(&c->lock);
    *batches = c->batches;
    *items = c->items;
    if (busy_ns != NULL)
        *busy_ns = c->busy_ns;
    pthread_mutex_unlock(&c->lock);
}
