/* Event loops: timers (order, cancel), ev_post from other threads, fd watches, ev_stop. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "base/base.h"
#include "../test.h"

static void stop_loop(void *arg)
{
    ev_stop(arg);
}

/* A timer that ends the test should anything hang: the runner's timeout is the real bound. */

TEST(ev_new_name_current_now)
{
    struct ev *l = ev_new("main-loop");
    uint64_t t0 = time_mono_ms();

    CHECK_STR_EQ(ev_name(l), "main-loop");
    CHECK(ev_current() == NULL);
    CHECK(ev_now_ms(l) <= t0);
    ev_free(l);
    ev_free(NULL);
}

static void check_current(void *arg)
{
    struct ev *l = arg;

    CHECK(ev_current() == l);
    ev_stop(l);
}

TEST(ev_current_set_only_while_running)
{
    struct ev *l = ev_new("x");
    uint64_t before;

    ev_post(l, check_current, l);
    before = ev_now_ms(l);
    ev_run(l);
    CHECK(ev_current() == NULL);
    CHECK(ev_now_ms(l) >= before);
    ev_free(l);
}

/* ------------------------------------------------------------ timers */

struct fired {
    struct ev *loop;
    int order[600];
    int n, stop_at;
};

struct tmr {
    struct fired *f;
    int id;
    uint64_t due; /* exact: the add happened within one clock millisecond */
    struct ev_timer *handle;
};

static void on_timer(void *arg)
{
    struct tmr *t = arg;

    CHECK(t->f->n < (int)ARRAY_LEN(t->f->order));
    CHECK(ev_current() == t->f->loop);
    CHECK(ev_now_ms(t->f->loop) >= t->due); /* never early */
    t->f->order[t->f->n++] = t->id;
    t->handle = NULL;
    if (t->f->n == t->f->stop_at)
        ev_stop(t->f->loop);
}

/* Adds a timer whose due time is known exactly: retried until the clock did not tick during
 * the add (bounded; a tick between reads is rare). */
static void add_exact(struct ev *l, struct tmr *t, uint64_t ms)
{
    for (int tries = 0; tries < 10000; tries++) {
        uint64_t before = time_mono_ms();
        struct ev_timer *h = ev_timer_add(l, ms, on_timer, t);

        if (time_mono_ms() == before) {
            t->due = before + ms;
            t->handle = h;
            return;
        }
        ev_timer_cancel(l, h);
    }
    test_fail(__FILE__, __LINE__, "the clock never held still for one add");
}

static int by_due_then_id(const void *a, const void *b)
{
    const struct tmr *x = a, *y = b;

    if (x->due != y->due)
        return x->due < y->due ? -1 : 1;
    return x->id - y->id; /* ties run in the order they were added */
}

TEST(ev_timers_fire_in_due_order)
{
    static struct fired f;
    static struct tmr t[500], sorted[500];
    struct ev *l = ev_new("timers");

    f = (struct fired){.loop = l, .stop_at = (int)ARRAY_LEN(t)};
    srand(7);
    for (int i = 0; i < (int)ARRAY_LEN(t); i++) {
        t[i] = (struct tmr){.f = &f, .id = i};
        add_exact(l, &t[i], (uint64_t)(rand() % 40)); /* many equal due times too */
    }
    memcpy(sorted, t, sizeof(t));
    qsort(sorted, ARRAY_LEN(sorted), sizeof(sorted[0]), by_due_then_id);
    ev_run(l);
    CHECK_INT_EQ(f.n, (int)ARRAY_LEN(t));
    for (int i = 0; i < (int)ARRAY_LEN(t); i++)
        if (f.order[i] != sorted[i].id)
            test_fail(__FILE__, __LINE__, "fired #%d was timer %d, expected %d", i, f.order[i],
                      sorted[i].id);
    ev_free(l);
}

TEST(ev_timers_same_delay_keep_insertion_order)
{
    static struct fired f;
    static struct tmr t[50];
    struct ev *l = ev_new("timers");

    f = (struct fired){.loop = l, .stop_at = (int)ARRAY_LEN(t)};
    for (int i = 0; i < (int)ARRAY_LEN(t); i++) {
        t[i] = (struct tmr){.f = &f, .id = i};
        t[i].handle = ev_timer_add(l, 5, on_timer, &t[i]);
    }
    ev_run(l);
    for (int i = 0; i < (int)ARRAY_LEN(t); i++)
        CHECK_INT_EQ(f.order[i], i);
    ev_free(l);
}

TEST(ev_timer_cancel_removes_it)
{
    static struct fired f;
    static struct tmr t[200];
    struct ev *l = ev_new("timers");
    int kept = 0;

    f = (struct fired){.loop = l};
    for (int i = 0; i < (int)ARRAY_LEN(t); i++) {
        t[i] = (struct tmr){.f = &f, .id = i};
        t[i].handle = ev_timer_add(l, (uint64_t)(i * 7 % 30), on_timer, &t[i]);
    }
    /* Cancel every third one, from the middle of the heap and its ends alike. */
    for (int i = 0; i < (int)ARRAY_LEN(t); i++) {
        if (i % 3 == 0) {
            ev_timer_cancel(l, t[i].handle);
            t[i].handle = NULL;
        } else {
            kept++;
        }
    }
    ev_timer_cancel(l, NULL); /* no-op */
    f.stop_at = kept;
    ev_run(l);
    CHECK_INT_EQ(f.n, kept);
    for (int i = 0; i < f.n; i++)
        CHECK(f.order[i] % 3 != 0);
    ev_free(l);
}

struct canceller {
    struct ev *loop;
    struct ev_timer *victim;
    int *victim_ran;
};

static void mark(void *arg)
{
    (*(int *)arg)++;
}

static void cancel_other(void *arg)
{
    struct canceller *c = arg;

    ev_timer_cancel(c->loop, c->victim); /* due at the same time, not run yet */
    c->victim = NULL;
}

TEST(ev_timer_cancel_from_another_timer_callback)
{
    struct ev *l = ev_new("timers");
    static int victim_ran;
    struct canceller c = {.loop = l, .victim_ran = &victim_ran};

    /* Same delay, added in this order: the canceller runs first. */
    (void)ev_timer_add(l, 0, cancel_other, &c);
    c.victim = ev_timer_add(l, 0, mark, &victim_ran);
    (void)ev_timer_add(l, 20, stop_loop, l);
    ev_run(l);
    CHECK_INT_EQ(victim_ran, 0);
    CHECK(c.victim == NULL);
    ev_free(l);
}

struct rearm {
    struct ev *loop;
    int left;
};

static void rearm_timer(void *arg)
{
    struct rearm *r = arg;

    if (--r->left == 0)
        ev_stop(r->loop);
    else
        (void)ev_timer_add(r->loop, 0, rearm_timer, r); /* from inside a timer callback */
}

TEST(ev_timer_added_from_timer_callback)
{
    struct ev *l = ev_new("timers");
    struct rearm r = {l, 100};

    (void)ev_timer_add(l, 0, rearm_timer, &r);
    ev_run(l);
    CHECK_INT_EQ(r.left, 0);
    ev_free(l);
}

TEST(ev_timer_far_future_never_fires_early)
{
    struct ev *l = ev_new("timers");
    static int far_ran;
    struct ev_timer *far = ev_timer_add(l, UINT64_MAX, mark, &far_ran);
    struct ev_timer *big = ev_timer_add(l, UINT64_MAX / 2, mark, &far_ran);

    (void)ev_timer_add(l, 30, stop_loop, l);
    ev_run(l);
    CHECK_INT_EQ(far_ran, 0);
    ev_timer_cancel(l, far);
    ev_timer_cancel(l, big);
    ev_free(l);
}

TEST(ev_free_releases_pending_timers)
{
    struct ev *l = ev_new("timers");
    static int ran;

    for (int i = 0; i < 10; i++)
        (void)ev_timer_add(l, 100000, mark, &ran);
    ev_free(l); /* LeakSanitizer checks they are freed */
    CHECK_INT_EQ(ran, 0);
}

/* ------------------------------------------------------------ ev_post */

enum { POSTERS = 4, POSTS_EACH = 20000 };

struct post_state {
    struct ev *loop;
    pthread_t loop_thread;
    int64_t next[POSTERS];
    long total;
};

struct post_msg {
    struct post_state *st;
    int poster;
    int64_t seq;
};

static struct post_msg msgs[POSTERS][POSTS_EACH];

static void on_post(void *arg)
{
    struct post_msg *m = arg;
    struct post_state *st = m->st;

    CHECK(pthread_equal(pthread_self(), st->loop_thread));
    CHECK(ev_current() == st->loop);
    if (m->seq != st->next[m->poster])
        test_fail(__FILE__, __LINE__, "poster %d: got %" PRId64 ", expected %" PRId64, m->poster,
                  m->seq, st->next[m->poster]);
    st->next[m->poster]++;
    if (++st->total == (long)POSTERS * POSTS_EACH)
        ev_stop(st->loop);
}

static void *poster_main(void *arg)
{
    struct post_msg *mine = arg;

    for (int i = 0; i < POSTS_EACH; i++)
        ev_post(mine[i].st->loop, on_post, &mine[i]);
    return NULL;
}

TEST(ev_post_from_many_threads_all_run_in_order)
{
    static struct post_state st;
    pthread_t t[POSTERS];

    st = (struct post_state){.loop = ev_new("posts"), .loop_thread = pthread_self()};
    for (int p = 0; p < POSTERS; p++)
        for (int i = 0; i < POSTS_EACH; i++)
            msgs[p][i] = (struct post_msg){&st, p, i};
    for (int p = 0; p < POSTERS; p++)
        CHECK_INT_EQ(pthread_create(&t[p], NULL, poster_main, msgs[p]), 0);
    ev_run(st.loop);
    for (int p = 0; p < POSTERS; p++)
        pthread_join(t[p], NULL);
    CHECK_INT_EQ(st.total, (long)POSTERS * POSTS_EACH);
    for (int p = 0; p < POSTERS; p++)
        CHECK_INT_EQ(st.next[p], POSTS_EACH);
    ev_free(st.loop);
}

static void post_more(void *arg)
{
    int *n = arg;

    if (++*n < 1000)
        ev_post(ev_current(), post_more, n); /* posting to one's own loop */
    else
        ev_stop(ev_current());
}

TEST(ev_post_from_the_loop_itself)
{
    struct ev *l = ev_new("self");
    int n = 0;

    ev_post(l, post_more, &n);
    ev_run(l);
    CHECK_INT_EQ(n, 1000);
    ev_free(l);
}

static void free_arg(void *arg)
{
    free(arg);
}

TEST(ev_free_runs_posts_never_run)
{
    struct ev *l = ev_new("pending");

    /* The callbacks own the memory: without them, LeakSanitizer fails this test. */
    for (int i = 0; i < 10; i++)
        ev_post(l, free_arg, xmalloc(32));
    ev_free(l);
}

/* ------------------------------------------------------------ ev_stop */

struct stopper {
    struct ev *loop;
    _Atomic int started;
};

static void note_started(void *arg)
{
    atomic_store(&((struct stopper *)arg)->started, 1);
}

static void *stopper_main(void *arg)
{
    struct stopper *s = arg;

    while (!atomic_load(&s->started))
        usleep(1000);
    ev_stop(s->loop); /* the loop sleeps in epoll_wait with nothing to do */
    return NULL;
}

TEST(ev_stop_from_another_thread)
{
    struct stopper s = {.loop = ev_new("idle")};
    pthread_t t;

    ev_post(s.loop, note_started, &s);
    CHECK_INT_EQ(pthread_create(&t, NULL, stopper_main, &s), 0);
    ev_run(s.loop); /* returns only through ev_stop(); the runner's timeout bounds it */
    pthread_join(t, NULL);
    CHECK(atomic_load(&s.started));
    CHECK(ev_current() == NULL);
    ev_free(s.loop);
}

TEST(ev_run_again_after_stop)
{
    struct ev *l = ev_new("twice");
    int n = 0;

    for (int round = 0; round < 3; round++) {
        ev_post(l, mark, &n);
        ev_post(l, stop_loop, l);
        ev_run(l);
        CHECK_INT_EQ(n, round + 1);
    }
    ev_free(l);
}

/* ------------------------------------------------------------ fd watches */

struct pipe_reader {
    struct ev *loop;
    int fd;
    char got[64];
    size_t len, want;
    int calls;
};

static void on_readable(void *arg, uint32_t events)
{
    struct pipe_reader *r = arg;
    ssize_t n;

    CHECK(events & EPOLLIN);
    r->calls++;
    n = read(r->fd, r->got + r->len, sizeof(r->got) - r->len);
    CHECK(n > 0);
    r->len += (size_t)n;
    if (r->len == r->want) {
        ev_io_del(r->loop, r->fd);
        ev_stop(r->loop);
    }
}

struct pipe_writer {
    int fd;
};

static void *writer_main(void *arg)
{
    struct pipe_writer *w = arg;

    for (const char *p = "hello, loop"; *p; p++) {
        CHECK_INT_EQ(write(w->fd, p, 1), 1);
        usleep(500);
    }
    return NULL;
}

TEST(ev_io_reads_a_pipe)
{
    struct pipe_reader r = {.loop = ev_new("io"), .want = 11};
    struct pipe_writer w;
    pthread_t t;
    int fds[2];

    CHECK_INT_EQ(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
    r.fd = fds[0];
    w.fd = fds[1];
    CHECK_INT_EQ(ev_io_add(r.loop, r.fd, EPOLLIN, on_readable, &r), 0);
    CHECK_INT_EQ(pthread_create(&t, NULL, writer_main, &w), 0);
    ev_run(r.loop);
    pthread_join(t, NULL);
    CHECK_MEM_EQ(r.got, r.len, "hello, loop", 11);
    CHECK(r.calls >= 1);
    close(fds[0]);
    close(fds[1]);
    ev_free(r.loop);
}

struct hup {
    struct ev *loop;
    int fd;
    uint32_t events;
};

static void on_hup(void *arg, uint32_t events)
{
    struct hup *h = arg;
    char buf[16];

    h->events |= events;
    if (read(h->fd, buf, sizeof(buf)) == 0) { /* end of file */
        ev_io_del(h->loop, h->fd);
        ev_stop(h->loop);
    }
}

TEST(ev_io_sees_hangup)
{
    struct hup h = {.loop = ev_new("io")};
    int fds[2];

    CHECK_INT_EQ(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
    h.fd = fds[0];
    CHECK_INT_EQ(ev_io_add(h.loop, h.fd, EPOLLIN, on_hup, &h), 0);
    CHECK_INT_EQ(write(fds[1], "x", 1), 1);
    close(fds[1]);
    ev_run(h.loop);
    CHECK(h.events & EPOLLHUP);
    close(fds[0]);
    ev_free(h.loop);
}

struct writable {
    struct ev *loop;
    int fd;
    int calls, calls_at_mod;
};

static void on_writable(void *arg, uint32_t events)
{
    struct writable *w = arg;

    CHECK(events & EPOLLOUT);
    if (++w->calls == 3) {
        /* Level-triggered: it would fire every iteration; after the change it must not. */
        CHECK_INT_EQ(ev_io_mod(w->loop, w->fd, EPOLLIN), 0);
        w->calls_at_mod = w->calls;
        (void)ev_timer_add(w->loop, 20, stop_loop, w->loop);
    }
}

TEST(ev_io_mod_changes_the_events)
{
    struct writable w = {.loop = ev_new("io")};
    int fds[2];

    CHECK_INT_EQ(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
    w.fd = fds[1];
    CHECK_INT_EQ(ev_io_add(w.loop, w.fd, EPOLLOUT, on_writable, &w), 0);
    ev_run(w.loop);
    CHECK_INT_EQ(w.calls, 3);
    CHECK_INT_EQ(w.calls_at_mod, 3);
    ev_io_del(w.loop, w.fd);
    ev_io_del(w.loop, w.fd);                      /* twice is harmless */
    CHECK(ev_io_mod(w.loop, w.fd, EPOLLOUT) < 0); /* no longer watched */
    close(fds[0]);
    close(fds[1]);
    ev_free(w.loop);
}

struct counter_io {
    int calls;
};

static void count_io(void *arg, uint32_t events)
{
    (void)events;
    ((struct counter_io *)arg)->calls++;
}

struct first_watch {
    struct ev *loop;
    int fd;
    bool ran;
};

static void first_cb(void *arg, uint32_t events)
{
    struct first_watch *fw = arg;

    (void)events;
    fw->ran = true;
    ev_io_del(fw->loop, fw->fd);
    ev_stop(fw->loop);
}

TEST(ev_io_add_twice_is_refused_and_keeps_the_first)
{
    struct first_watch fw = {.loop = ev_new("io")};
    struct counter_io second = {0};
    int fds[2];

    CHECK_INT_EQ(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
    fw.fd = fds[0];
    CHECK_INT_EQ(ev_io_add(fw.loop, fds[0], EPOLLIN, first_cb, &fw), 0);
    CHECK_INT_EQ(ev_io_add(fw.loop, fds[0], EPOLLIN, count_io, &second), ERR_CONFLICT);
    CHECK_INT_EQ(write(fds[1], "x", 1), 1);
    ev_run(fw.loop); /* the first watch still works (the runner's timeout bounds a hang) */
    CHECK(fw.ran);
    CHECK_INT_EQ(second.calls, 0);
    close(fds[0]);
    close(fds[1]);
    ev_free(fw.loop);
}

TEST(ev_io_add_bad_fds)
{
    struct ev *l = ev_new("io");
    struct counter_io c = {0};
    int fds[2];

    CHECK_INT_EQ(ev_io_add(l, -1, EPOLLIN, count_io, &c), ERR_INVALID);
    CHECK_INT_EQ(pipe(fds), 0);
    close(fds[0]);
    close(fds[1]);
    CHECK(ev_io_add(l, fds[0], EPOLLIN, count_io, &c) < 0); /* closed: EBADF */
    ev_io_del(l, fds[0]);
    ev_io_del(l, -1);
    ev_io_del(l, 100000);
    ev_free(l);
}

TEST(ev_io_high_fd_numbers)
{
    struct pipe_reader r = {.loop = ev_new("io"), .want = 1};
    int fds[2], hi;

    CHECK_INT_EQ(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
    hi = fcntl(fds[0], F_DUPFD_CLOEXEC, 500); /* grows the watch table */
    CHECK(hi >= 500);
    r.fd = hi;
    CHECK_INT_EQ(ev_io_add(r.loop, hi, EPOLLIN, on_readable, &r), 0);
    CHECK_INT_EQ(write(fds[1], "z", 1), 1);
    ev_run(r.loop);
    CHECK_MEM_EQ(r.got, r.len, "z", 1);
    close(hi);
    close(fds[0]);
    close(fds[1]);
    ev_free(r.loop);
}
