/*
 * Group commit. A caller queues its statements and waits; the first caller to find no commit in
 * progress becomes the leader: it takes everything queued, runs it in one transaction, commits
 * (one fsync for all) and wakes the others. Callers that queue while the leader commits form the
 * next batch, led by the first of them, whom the leader hands over to. A lone caller is its own
 * leader and pays no hand-off to another thread.
 *
 * Each caller sleeps on a semaphore of its own and is woken once, when its batch is committed
 * or when it is to lead: with hundreds of workflows writing at once, a shared condition
 * variable woke every one of them after every commit, and most went back to sleep.
 */
#include <semaphore.h>
#include <stdlib.h>
#include <time.h>

#include "flow/flow-int.h"

#define BATCH_MAX   1024
#define FILL_MAX_NS 2000000 /* the longest a leader waits for its batch to fill */

struct item {
    flow_apply_fn *fn;
    const struct flow_bulk *bulk; /* instead of fn: applied once to every item of its kind */
    void *arg;
    bool grouped; /* applied with an earlier item of its bulk */
    bool waited;  /* waited once for the batch to fill */
    int rc;
    struct err err;
    bool done, lead; /* set before <wake> is posted: committed / to lead the next batch */
    sem_t wake;
    struct item *next;
};

struct flow_commit {
    struct store *store;
    pthread_mutex_t lock;
    pthread_cond_t cv;         /* a filling leader waits here for its batch */
    bool busy;                 /* guarded by lock: a leader leads (also while it hands over) */
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

/* Whether <first> (alone, or with the rest of its batch) is all of one bulk kind that writes
 * them in a single statement. */
static bool one_statement(struct flow_commit *c, struct item *first, bool alone)
{
    size_t n = 0;

    if (first->bulk == NULL || first->bulk->one_statement == NULL)
        return false;
    for (struct item *it = first; it != NULL; it = alone ? NULL : it->next) {
        if (it->bulk != first->bulk)
            return false;
        c->args[n++] = it->arg;
    }
    return first->bulk->one_statement(c->args, n);
}

/* A transaction, or one for a single statement (<single>). */
static int begin(struct flow_commit *c, bool single, struct store_tx **tx, struct err *err)
{
    return single ? store_begin_single(c->store, tx, err) : store_begin(c->store, tx, err);
}

/* Runs one item alone: the fallback when a shared transaction failed. */
static void run_alone(struct flow_commit *c, struct item *it)
{
    struct store_tx *tx;

    it->rc = begin(c, one_statement(c, it, true), &tx, &it->err);
    if (it->rc < 0)
        return;
    it->rc = it->bulk ? it->bulk->fn(tx, &it->arg, 1, &it->err) : it->fn(tx, it->arg, &it->err);
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
    return first->bulk->fn(tx, c->args, n, err);
}

/* Runs <batch> in one transaction (one statement when <single>). */
static int run_shared(struct flow_commit *c, struct item *batch, bool single, struct err *err)
{
    struct store_tx *tx;
    struct item *it;
    int rc = begin(c, single, &tx, err);

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

/* Commits <group> (a list of items), together when it can, else one by one; <single>: its
 * items are of one kind that writes them in one statement. */
static void commit_group(struct flow_commit *c, struct item *group, bool single)
{
    struct err err = {0};
    struct item *it;

    if (group->next == NULL) {
        run_alone(c, group);
        return;
    }
    if (run_shared(c, group, single, &err) == 0) {
        for (it = group; it != NULL; it = it->next)
            it->rc = 0;
        return;
    }
    for (it = group; it != NULL; it = it->next)
        run_alone(c, it);
}

/* Moves the items of <kind> out of *<list> into a list of their own, in their order. */
static struct item *take_kind(struct item **list, const struct flow_bulk *kind)
{
    struct item *out = NULL, **tail = &out, **p = list;

    while (*p != NULL) {
        if ((*p)->bulk != kind) {
            p = &(*p)->next;
            continue;
        }
        *tail = *p;
        *p = (*p)->next;
        tail = &(*tail)->next;
    }
    *tail = NULL;
    return out;
}

static struct item **list_end(struct item **list)
{
    while (*list != NULL)
        list = &(*list)->next;
    return list;
}

/* Commits <batch>: the items of each kind that writes them in a single statement on their
 * own (on PostgreSQL one round trip each, instead of BEGIN, every statement and COMMIT for
 * all), the others in one transaction. The callers' writes are independent of each other:
 * sharing a transaction only saves commits. Returns the batch relinked. */
static struct item *commit_batch(struct flow_commit *c, struct item *batch)
{
    const struct flow_bulk *tried[4];
    struct item *done = NULL, **tail = &done, *group, *it;
    size_t ntried = 0;

    for (it = batch; it != NULL && ntried < ARRAY_LEN(tried);) {
        bool seen = it->bulk == NULL || it->bulk->one_statement == NULL;

        for (size_t i = 0; !seen && i < ntried; i++)
            seen = tried[i] == it->bulk;
        if (seen) {
            it = it->next;
            continue;
        }
        tried[ntried++] = it->bulk;
        group = take_kind(&batch, it->bulk);
        if (one_statement(c, group, false)) {
            commit_group(c, group, true);
            *tail = group;
            tail = list_end(tail);
        } else {
            *list_end(&batch) = group;
        }
        it = batch;
    }
    if (batch != NULL)
        commit_group(c, batch, false);
    *tail = batch;
    return done;
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

int flow_commit_bulk(struct flow_commit *c, const struct flow_bulk *kind, void *arg,
                     struct err *err)
{
    struct item self = {.bulk = kind, .arg = arg};

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

/* The first of the callers queued while a batch was committed leads the next one. Caller
 * holds c->lock. */
static void hand_over(struct flow_commit *c)
{
    if (c->head == NULL) {
        c->busy = false;
        return;
    }
    c->head->lead = true;
    sem_post(&c->head->wake);
}

/* Commits the batch led by <self> (the head of the queue), hands the lead over and wakes the
 * batch's callers. Caller holds c->lock and set c->busy; returns without the lock. */
static void lead(struct flow_commit *c, struct item *self)
{
    struct item *batch, *it, *next;
    uint64_t t0;

    while (should_fill(c, self))
        fill_wait(c, self);
    batch = take_batch(c);
    pthread_mutex_unlock(&c->lock);
    t0 = time_mono_ns();
    batch = commit_batch(c, batch);
    pthread_mutex_lock(&c->lock);
    c->last_ns = time_mono_ns() - t0;
    c->busy_ns += c->last_ns;
    c->batches++;
    c->items += c->last_n;
    hand_over(c);
    pthread_mutex_unlock(&c->lock);
    for (it = batch; it != NULL; it = next) {
        next = it->next; /* <it> may be gone once woken */
        it->done = true;
        if (it != self)
            sem_post(&it->wake);
    }
}

static int run_item(struct flow_commit *c, struct item *self, struct err *err)
{
    sem_init(&self->wake, 0, 0);
    pthread_mutex_lock(&c->lock);
    *c->tail = self;
    c->tail = &self->next;
    c->queued++;
    if (c->filling && c->queued >= c->last_n / 2)
        pthread_cond_signal(&c->cv);
    if (!c->busy) {
        c->busy = true;
        lead(c, self);
    } else {
        pthread_mutex_unlock(&c->lock);
        while (sem_wait(&self->wake) < 0)
            ; /* EINTR */
        if (self->lead) {
            /* woken to lead: still the head of the queue, c->busy still set */
            pthread_mutex_lock(&c->lock);
            ASSERT(!self->done && c->head == self);
            lead(c, self);
        }
    }
    sem_destroy(&self->wake);
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
