/* Worker pool: work on workers, completion on the submitting loop, pool_free drains. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/base.h"
#include "../test.h"

TEST(pool_threads_count)
{
    struct pool *p = pool_new("w", 3);
    struct pool *q = pool_new("w0", 0);

    CHECK_UINT_EQ(pool_threads(p), 3);
    CHECK_UINT_EQ(pool_threads(q), 1); /* at least one */
    CHECK_UINT_EQ(pool_queued(p), 0);
    pool_free(p);
    pool_free(q);
    pool_free(NULL);
}

enum { JOBS = 2000 };

struct job_state {
    struct ev *loop;
    pthread_t loop_thread;
    long done;
    long want;
};

struct job {
    struct job_state *st;
    int id;
    _Atomic int worked; /* set on the worker, read on the loop */
    pthread_t worker;
};

static void job_work(void *arg)
{
    struct job *j = arg;

    j->worker = pthread_self();
    CHECK(ev_current() == NULL); /* workers run no loop */
    atomic_store(&j->worked, 1);
}

static void job_done(void *arg)
{
    struct job *j = arg;

    CHECK(atomic_load(&j->worked) == 1);
    CHECK(pthread_equal(pthread_self(), j->st->loop_thread));
    CHECK(!pthread_equal(j->worker, j->st->loop_thread));
    CHECK(ev_current() == j->st->loop);
    if (++j->st->done == j->st->want)
        ev_stop(j->st->loop);
}

struct submit {
    struct pool *pool;
    struct job *jobs;
    int n;
};

static void submit_all(void *arg)
{
    struct submit *s = arg;

    for (int i = 0; i < s->n; i++)
        pool_run(s->pool, job_work, job_done, &s->jobs[i]);
}

TEST(pool_done_runs_on_the_submitting_loop)
{
    static struct job jobs[JOBS];
    struct job_state st = {.loop = ev_new("main"), .loop_thread = pthread_self(), .want = JOBS};
    struct pool *p = pool_new("w", 4);
    struct submit s = {p, jobs, JOBS};

    for (int i = 0; i < JOBS; i++)
        jobs[i] = (struct job){.st = &st, .id = i};
    ev_post(st.loop, submit_all, &s); /* pool_run from inside the loop */
    ev_run(st.loop);
    CHECK_INT_EQ(st.done, JOBS);
    pool_free(p);
    ev_free(st.loop);
}

/* Two loops on two threads share one pool: each completion goes back to its own loop. */
struct loop_thread {
    struct job_state st;
    struct job jobs[500];
    struct submit s;
    pthread_t thread;
};

static void *loop_main(void *arg)
{
    struct loop_thread *lt = arg;

    lt->st.loop_thread = pthread_self();
    for (int i = 0; i < (int)ARRAY_LEN(lt->jobs); i++)
        lt->jobs[i] = (struct job){.st = &lt->st, .id = i};
    ev_post(lt->st.loop, submit_all, &lt->s);
    ev_run(lt->st.loop);
    return NULL;
}

TEST(pool_completions_return_to_each_own_loop)
{
    static struct loop_thread lt[2];
    struct pool *p = pool_new("shared", 3);

    for (int i = 0; i < 2; i++) {
        lt[i].st = (struct job_state){.loop = ev_new(i ? "b" : "a"), .want = 500};
        lt[i].s = (struct submit){p, lt[i].jobs, 500};
        CHECK_INT_EQ(pthread_create(&lt[i].thread, NULL, loop_main, &lt[i]), 0);
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(lt[i].thread, NULL);
        CHECK_INT_EQ(lt[i].st.done, 500);
    }
    pool_free(p);
    for (int i = 0; i < 2; i++)
        ev_free(lt[i].st.loop);
}

/* ------------------------------------------------------------ pool_free drains */

struct gate {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool open, entered;
};

static struct gate gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, false};
static _Atomic long ran;

static void wait_at_gate(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&gate.lock);
    gate.entered = true;
    pthread_cond_broadcast(&gate.cond);
    while (!gate.open)
        pthread_cond_wait(&gate.cond, &gate.lock);
    pthread_mutex_unlock(&gate.lock);
    atomic_fetch_add(&ran, 1);
}

static void count_work(void *arg)
{
    (void)arg;
    atomic_fetch_add(&ran, 1);
}

static void *open_gate_later(void *arg)
{
    (void)arg;
    usleep(20000); /* lets pool_free() start first; correctness does not depend on it */
    pthread_mutex_lock(&gate.lock);
    gate.open = true;
    pthread_cond_broadcast(&gate.cond);
    pthread_mutex_unlock(&gate.lock);
    return NULL;
}

TEST(pool_free_finishes_queued_work)
{
    struct pool *p = pool_new("one", 1);
    pthread_t opener;

    pool_run(p, wait_at_gate, NULL, NULL); /* no loop needed without a done callback */
    pthread_mutex_lock(&gate.lock);
    while (!gate.entered)
        pthread_cond_wait(&gate.cond, &gate.lock);
    pthread_mutex_unlock(&gate.lock);
    /* The only worker is stuck: everything below waits in the queue. */
    for (int i = 0; i < 500; i++)
        pool_run(p, count_work, NULL, NULL);
    CHECK_UINT_EQ(pool_queued(p), 500);
    CHECK_INT_EQ(pthread_create(&opener, NULL, open_gate_later, NULL), 0);
    pool_free(p);
    CHECK_INT_EQ(atomic_load(&ran), 501);
    pthread_join(opener, NULL);
}

struct drain_all {
    struct ev *loop;
    struct pool *pool;
    int done;
};

static void inc_done(void *arg)
{
    struct drain_all *d = arg;

    CHECK(ev_current() == d->loop);
    d->done++;
}

static void noop_work(void *arg)
{
    (void)arg;
}

static void submit_then_free(void *arg)
{
    struct drain_all *d = arg;

    for (int i = 0; i < 300; i++)
        pool_run(d->pool, noop_work, inc_done, d);
    pool_free(d->pool); /* waits for the work; the completions are posted to this loop */
    d->pool = NULL;
    ev_stop(d->loop);
}

TEST(pool_free_inside_the_loop_then_completions_run)
{
    struct drain_all d = {.loop = ev_new("main"), .pool = pool_new("w", 2)};

    ev_post(d.loop, submit_then_free, &d);
    ev_run(d.loop); /* runs what was posted before it returns */
    CHECK_INT_EQ(d.done, 300);
    ev_free(d.loop);
}

TEST(pool_run_without_done_needs_no_loop)
{
    struct pool *p = pool_new("w", 4);

    CHECK(ev_current() == NULL);
    for (int i = 0; i < 1000; i++)
        pool_run(p, count_work, NULL, NULL);
    pool_free(p);
    CHECK_INT_EQ(atomic_load(&ran), 1000);
}
