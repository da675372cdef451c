/*
 * Group commit. A caller queues its statements and waits; the first caller to find no commit in
 * progress becomes the leader: it takes everything queued, runs it in one transaction, commits
 * (one fsync for all) and wakes the others. Callers that queue while the leader commits form the
 * next batch. A lone caller is its own leader and pays no hand-off to another thread.
 */
#include <stdlib.h>

#include "flow/flow-int.h"

#define BATCH_MAX 1024

struct item {
    flow_apply_fn *fn;
    void *arg;
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
};

struct flow_commit *flow_commit_new(struct store *s)
{
    struct flow_commit *c = xcalloc(1, sizeof(*c));

    c->store = s;
    c->tail = &c->head;
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->cv, NULL);
    return c;
}

void flow_commit_free(struct flow_commit *c)
{
    if (c == NULL)
        return;
    ASSERT(c->head == NULL && !c->busy);
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->cv);
    free(c);
}

/* Runs one item alone: the fallback when a shared transaction failed. */
static void run_alone(struct flow_commit *c, struct item *it)
{
    struct store_tx *tx;

    it->rc = store_begin(c->store, &tx, &it->err);
    if (it->rc < 0)
        return;
    it->rc = it->fn(tx, it->arg, &it->err);
    if (it->rc < 0)
        store_rollback(tx);
    else
        it->rc = store_commit(tx, &it->err);
}

static int run_shared(struct flow_commit *c, struct item *batch, struct err *err)
{
    struct store_tx *tx;
    struct item *it;
    int rc = store_begin(c->store, &tx, err);

    if (rc < 0)
        return rc;
    for (it = batch; it != NULL; it = it->next) {
        rc = it->fn(tx, it->arg, err);
        if (rc < 0) {
            store_rollback(tx);
            return rc;
        }
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
    return batch;
}

int flow_commit_run(struct flow_commit *c, flow_apply_fn *fn, void *arg, struct err *err)
{
    struct item self = {.fn = fn, .arg = arg}, *batch, *it, *next;

    pthread_mutex_lock(&c->lock);
    *c->tail = &self;
    c->tail = &self.next;
    while (!self.done) {
        if (c->busy) {
            pthread_cond_wait(&c->cv, &c->lock);
            continue;
        }
        c->busy = true;
        batch = take_batch(c);
        pthread_mutex_unlock(&c->lock);
        commit_batch(c, batch);
        pthread_mutex_lock(&c->lock);
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
    if (self.rc < 0 && err != NULL)
        *err = self.err;
    return self.rc;
}

void flow_commit_stats(struct flow_commit *c, uint64_t *batches, uint64_t *items)
{
    pthread_mutex_lock(&c->lock);
    *batches = c->batches;
    *items = c->items;
    pthread_mutex_unlock(&c->lock);
}
