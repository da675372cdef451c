/*
 * Event loops: epoll for file descriptors, a binary heap of timers, and an eventfd that
 * other threads ring after queueing work with ev_post(). One loop per thread.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "base/base.h"

struct ev_timer {
    uint64_t due;
    uint64_t seq; /* ties keep insertion order */
    size_t slot;  /* index in the heap */
    ev_fn *fn;
    void *arg;
};

struct io_watch {
    ev_io_fn *fn;
    void *arg;
    bool used;
};

struct post {
    struct post *next;
    ev_fn *fn;
    void *arg;
};

struct ev {
    char name[32];
    int epfd, wakefd;
    _Atomic bool stop;
    uint64_t now;
    struct io_watch *io; /* indexed by fd */
    size_t nio;
    struct ev_timer **heap;
    size_t nheap, capheap;
    uint64_t timer_seq;
    pthread_mutex_t lock;
    struct post *posts, *posts_tail; /* guarded by lock */
};

static _Thread_local struct ev *current;

struct ev *ev_new(const char *name)
{
    struct ev *l = xcalloc(1, sizeof(*l));
    struct epoll_event e = {.events = EPOLLIN, .data.ptr = NULL};

    snprintf(l->name, sizeof(l->name), "%s", name);
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    l->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    ASSERT(l->epfd >= 0 && l->wakefd >= 0);
    ASSERT(epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->wakefd, &e) == 0);
    pthread_mutex_init(&l->lock, NULL);
    l->now = time_mono_ms();
    return l;
}

static void run_posts(struct ev *l)
{
    struct post *p;

    pthread_mutex_lock(&l->lock);
    p = l->posts;
    l->posts = l->posts_tail = NULL;
    pthread_mutex_unlock(&l->lock);
    while (p) {
        struct post *next = p->next;

        p->fn(p->arg);
        free(p);
        p = next;
    }
}

void ev_free(struct ev *l)
{
    if (l == NULL)
        return;
    run_posts(l); /* posted work owns resources only its callback releases */
    for (size_t i = 0; i < l->nheap; i++)
        free(l->heap[i]);
    free(l->heap);
    free(l->io);
    close(l->epfd);
    close(l->wakefd);
    pthread_mutex_destroy(&l->lock);
    free(l);
}

struct ev *ev_current(void)
{
    return current;
}

const char *ev_name(const struct ev *l)
{
    return l->name;
}

uint64_t ev_now_ms(const struct ev *l)
{
    return l->now;
}

static void wake(struct ev *l)
{
    uint64_t one = 1;

    (void)!write(l->wakefd, &one, sizeof(one));
}

void ev_stop(struct ev *l)
{
    atomic_store(&l->stop, true);
    wake(l);
}

void ev_post(struct ev *l, ev_fn *fn, void *arg)
{
    struct post *p = xmalloc(sizeof(*p));
    bool was_empty;

    p->next = NULL;
    p->fn = fn;
    p->arg = arg;
    pthread_mutex_lock(&l->lock);
    was_empty = l->posts == NULL;
    if (l->posts_tail)
        l->posts_tail->next = p;
    else
        l->posts = p;
    l->posts_tail = p;
    pthread_mutex_unlock(&l->lock);
    if (was_empty)
        wake(l);
}

int ev_io_add(struct ev *l, int fd, uint32_t events, ev_io_fn *fn, void *arg)
{
    struct epoll_event e = {.events = events};

    if (fd < 0)
        return ERR_INVALID;
    if ((size_t)fd >= l->nio) {
        size_t n = (size_t)fd * 2 + 16;

        l->io = xrealloc(l->io, n * sizeof(*l->io));
        memset(l->io + l->nio, 0, (n - l->nio) * sizeof(*l->io));
        l->nio = n;
    }
    e.data.u64 = (uint64_t)fd + 1; /* 0 is the wake-up eventfd */
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &e) != 0)
        return err_from_errno(errno); /* EEXIST: the watch already there stays as it was */
    l->io[fd] = (struct io_watch){fn, arg, true};
    return 0;
}

int ev_io_mod(struct ev *l, int fd, uint32_t events)
{
    struct epoll_event e = {.events = events, .data.u64 = (uint64_t)fd + 1};

    return epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &e) == 0 ? 0 : err_from_errno(errno);
}

void ev_io_del(struct ev *l, int fd)
{
    if (fd >= 0 && (size_t)fd < l->nio && l->io[fd].used) {
        epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
        l->io[fd].used = false;
    }
}

static bool timer_before(const struct ev_timer *a, const struct ev_timer *b)
{
    return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static void heap_set(struct ev *l, size_t i, struct ev_timer *t)
{
    l->heap[i] = t;
    t->slot = i;
}

static void heap_up(struct ev *l, size_t i)
{
    struct ev_timer *t = l->heap[i];

    while (i > 0 && timer_before(t, l->heap[(i - 1) / 2])) {
        heap_set(l, i, l->heap[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    heap_set(l, i, t);
}

static void heap_down(struct ev *l, size_t i)
{
    struct ev_timer *t = l->heap[i];

    for (;;) {
        size_t c = 2 * i + 1;

        if (c >= l->nheap)
            break;
        if (c + 1 < l->nheap && timer_before(l->heap[c + 1], l->heap[c]))
            c++;
        if (!timer_before(l->heap[c], t))
            break;
        heap_set(l, i, l->heap[c]);
        i = c;
    }
    heap_set(l, i, t);
}

static void heap_remove(struct ev *l, size_t i)
{
    struct ev_timer *last = l->heap[--l->nheap];

    if (i == l->nheap)
        return;
    heap_set(l, i, last);
    heap_down(l, i);
    heap_up(l, last->slot);
}

struct ev_timer *ev_timer_add(struct ev *l, uint64_t ms, ev_fn *fn, void *arg)
{
    struct ev_timer *t = xmalloc(sizeof(*t));
    uint64_t now = time_mono_ms();

    /* A delay past the end of the clock saturates instead of wrapping into the past. */
    *t = (struct ev_timer){.due = ms > UINT64_MAX - now ? UINT64_MAX : now + ms,
                           .seq = l->timer_seq++,
                           .fn = fn,
                           .arg = arg};
    if (l->nheap == l->capheap) {
        l->capheap = l->capheap ? l->capheap * 2 : 16;
        l->heap = xrealloc(l->heap, l->capheap * sizeof(*l->heap));
    }
    heap_set(l, l->nheap++, t);
    heap_up(l, t->slot);
    return t;
}

void ev_timer_cancel(struct ev *l, struct ev_timer *t)
{
    if (t == NULL)
        return;
    ASSERT(t->slot < l->nheap && l->heap[t->slot] == t);
    heap_remove(l, t->slot);
    free(t);
}

static void run_timers(struct ev *l)
{
    while (l->nheap > 0 && l->heap[0]->due <= l->now) {
        struct ev_timer *t = l->heap[0];
        ev_fn *fn = t->fn;
        void *arg = t->arg;

        heap_remove(l, 0);
        free(t);
        fn(arg);
    }
}

static int next_timeout(const struct ev *l)
{
    uint64_t due;

    if (l->nheap == 0)
        return -1;
    due = l->heap[0]->due;
    return due <= l->now ? 0 : (int)(due - l->now > 60000 ? 60000 : due - l->now);
}

static void dispatch(struct ev *l, const struct epoll_event *e)
{
    uint64_t n;
    int fd;

    if (e->data.u64 == 0) {
        (void)!read(l->wakefd, &n, sizeof(n));
        run_posts(l);
        return;
    }
    fd = (int)(e->data.u64 - 1);
    if ((size_t)fd < l->nio && l->io[fd].used)
        l->io[fd].fn(l->io[fd].arg, e->events);
}

void ev_run(struct ev *l)
{
    struct epoll_event events[64];

    current = l;
    while (!atomic_load(&l->stop)) {
        int n = epoll_wait(l->epfd, events, ARRAY_LEN(events), next_timeout(l));

        l->now = time_mono_ms();
        for (int i = 0; i < n; i++)
            dispatch(l, &events[i]);
        run_timers(l);
    }
    run_posts(l);
    atomic_store(&l->stop, false);
    current = NULL;
}
