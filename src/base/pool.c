/* Worker threads for blocking work. The completion runs on the loop that submitted it. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/base.h"

struct job {
    struct job *next;
    pool_work_fn *work;
    pool_done_fn *done;
    void *arg;
    struct ev *loop;
};

struct pool {
    char name[32];
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct job *head, *tail; /* guarded by lock */
    size_t queued;           /* guarded by lock */
    bool stopping;           /* guarded by lock */
    unsigned nthreads;
    pthread_t threads[];
};

static void *worker_main(void *arg)
{
    struct pool *p = arg;

    pthread_mutex_lock(&p->lock);
    for (;;) {
        struct job *j;

        while (p->head == NULL && !p->stopping)
            pthread_cond_wait(&p->cond, &p->lock);
        if (p->head == NULL)
            break;
        j = p->head;
        p->head = j->next;
        if (p->head == NULL)
            p->tail = NULL;
        p->queued--;
        pthread_mutex_unlock(&p->lock);
        j->work(j->arg);
        if (j->done)
            ev_post(j->loop, j->done, j->arg);
        free(j);
        pthread_mutex_lock(&p->lock);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

struct pool *pool_new(const char *name, unsigned threads)
{
    struct pool *p;
    pthread_attr_t attr;

    if (threads == 0)
        threads = 1;
    p = xcalloc(1, sizeof(*p) + threads * sizeof(pthread_t));
    snprintf(p->name, sizeof(p->name), "%s", name);
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 1u << 20);
    for (unsigned i = 0; i < threads; i++) {
        ASSERT(pthread_create(&p->threads[i], &attr, worker_main, p) == 0);
        p->nthreads++;
    }
    pthread_attr_destroy(&attr);
    return p;
}

void pool_free(struct pool *p)
{
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->lock);
    p->stopping = true;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    for (unsigned i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

void pool_run(struct pool *p, pool_work_fn *work, pool_done_fn *done, void *arg)
{
    struct job *j = xmalloc(sizeof(*j));

    *j = (struct job){.work = work, .done = done, .arg = arg, .loop = ev_current()};
    ASSERT(done == NULL || j->loop != NULL);
    pthread_mutex_lock(&p->lock);
    if (p->tail)
        p->tail->next = j;
    else
        p->head = j;
    p->tail = j;
    p->queued++;
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->lock);
}

unsigned pool_threads(const struct pool *p)
{
    return p->nthreads;
}

size_t pool_queued(struct pool *p)
{
    size_t n;

    pthread_mutex_lock(&p->lock);
    n = p->queued;
    pthread_mutex_unlock(&p->lock);
    return n;
}
