/*
 * Structured logging: one JSON object per line. Callers format their line and hand it to one
 * writer thread through a bounded queue, so a slow sink never stalls an event loop; lines
 * that do not fit are counted and the count is written with the next line that does.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/uio.h>
#include <unistd.h>

#include "base/base.h"

#define LINE_MAX_BYTES (16u << 10)

struct line {
    struct line *next;
    size_t len;
    char text[];
};

static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct line *head, *tail; /* guarded by lock */
    size_t queued, queue_max; /* guarded by lock */
    bool running, stopping;   /* guarded by lock */
    bool waiting;             /* guarded by lock: the writer sleeps on cond */
    pthread_t thread;
    int fd;
    _Atomic int min_level;
    _Atomic uint64_t dropped, dropped_reported;
} lg = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .cond = PTHREAD_COND_INITIALIZER,
    .fd = 2,
    .min_level = LOG_INFO,
};

static const char *const level_names[] = {"debug", "info", "warn", "error"};

enum log_level log_level_parse(const char *s, bool *ok)
{
    for (size_t i = 0; i < ARRAY_LEN(level_names); i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *ok = true;
            return (enum log_level)i;
        }
    }
    *ok = false;
    return LOG_INFO;
}

void log_set_level(enum log_level min)
{
    atomic_store(&lg.min_level, (int)min);
}

bool log_enabled(enum log_level lvl)
{
    return (int)lvl >= atomic_load_explicit(&lg.min_level, memory_order_relaxed);
}

uint64_t log_dropped(void)
{
    return atomic_load(&lg.dropped);
}

static void put_field(struct sbuf *out, const struct log_field *f)
{
    sbuf_putc(out, ',');
    json_escape(out, slice_from_cstr(f->key));
    sbuf_putc(out, ':');
    switch (f->type) {
    case LF_T_STR:
        json_escape(out, f->v.s);
        break;
    case LF_T_SECRET:
        sbuf_puts(out, "\"***\"");
        break;
    case LF_T_INT:
        sbuf_printf(out, "%" PRId64, f->v.i);
        break;
    case LF_T_UINT:
        sbuf_printf(out, "%" PRIu64, f->v.u);
        break;
    case LF_T_DBL:
        if (isfinite(f->v.d))
            sbuf_printf(out, "%.6g", f->v.d);
        else
            sbuf_puts(out, "null"); /* nan and inf are not JSON */
        break;
    case LF_T_BOOL:
        sbuf_puts(out, f->v.b ? "true" : "false");
        break;
    case LF_T_END:
        break;
    }
}

static void put_ctx_field(struct sbuf *out, const char *key, const char *value)
{
    if (value != NULL)
        put_field(out, &LF_STR(key, value));
}

void log_format(struct sbuf *out, uint64_t ts_ms, const struct log_ctx *ctx, enum log_level lvl,
                const char *ev, const struct log_field *fields)
{
    char ts[32];

    time_rfc3339_ms(ts_ms, ts);
    sbuf_printf(out, "{\"ts\":\"%s\",\"lvl\":\"%s\"", ts, level_names[lvl & 3]);
    if (ctx != NULL) {
        put_ctx_field(out, "svc", ctx->svc);
        put_ctx_field(out, "ev", ev);
        put_ctx_field(out, "req", ctx->req);
        put_ctx_field(out, "job", ctx->job);
    } else {
        put_ctx_field(out, "ev", ev);
    }
    for (const struct log_field *f = fields; f && f->type != LF_T_END; f++)
        put_field(out, f);
    sbuf_putc(out, '}');
}

/* Writes a batch of lines with as few system calls as it takes (one writev for up to 64
 * lines; after a short write, the rest of the line it stopped in and each later line whole),
 * and frees them. A failing sink loses them: there is nowhere left to report it. */
static void write_batch(struct line *batch)
{
    while (batch) {
        struct iovec iov[64];
        struct line *end = batch;
        size_t n = 0, off;
        ssize_t w;

        for (; end && n < ARRAY_LEN(iov); end = end->next)
            iov[n++] = (struct iovec){end->text, end->len};
        do
            w = writev(lg.fd, iov, (int)n);
        while (w < 0 && errno == EINTR);
        off = w < 0 ? SIZE_MAX : (size_t)w;
        while (batch != end) {
            struct line *next = batch->next;

            if (off != SIZE_MAX && off < batch->len) {
                (void)file_write_all(lg.fd, batch->text + off, batch->len - off);
                off = 0;
            } else if (off != SIZE_MAX) {
                off -= batch->len;
            }
            free(batch);
            batch = next;
        }
    }
}

static void *writer_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&lg.lock);
    for (;;) {
        struct line *batch;

        while (lg.head == NULL && !lg.stopping) {
            lg.waiting = true;
            pthread_cond_wait(&lg.cond, &lg.lock);
            lg.waiting = false;
        }
        if (lg.head == NULL)
            break;
        batch = lg.head;
        lg.head = lg.tail = NULL;
        lg.queued = 0;
        pthread_mutex_unlock(&lg.lock);
        write_batch(batch);
        pthread_mutex_lock(&lg.lock);
    }
    pthread_mutex_unlock(&lg.lock);
    return NULL;
}

void log_start(int fd, enum log_level min, size_t queue_max)
{
    pthread_mutex_lock(&lg.lock);
    lg.fd = fd;
    lg.queue_max = queue_max ? queue_max : 4096;
    lg.stopping = false;
    atomic_store(&lg.min_level, (int)min);
    if (!lg.running && pthread_create(&lg.thread, NULL, writer_main, NULL) == 0)
        lg.running = true;
    pthread_mutex_unlock(&lg.lock);
}

void log_stop(void)
{
    bool was_running;

    pthread_mutex_lock(&lg.lock);
    was_running = lg.running;
    lg.stopping = true;
    lg.running = false;
    pthread_cond_signal(&lg.cond);
    pthread_mutex_unlock(&lg.lock);
    if (was_running)
        pthread_join(lg.thread, NULL);
}

/* Queues the line, or writes it at once when no writer runs. Takes ownership of <l>, which
 * reports <carried> dropped lines: when it is dropped too, a later line reports them. */
static void enqueue(struct line *l, uint64_t carried)
{
    pthread_mutex_lock(&lg.lock);
    if (!lg.running) {
        pthread_mutex_unlock(&lg.lock);
        (void)file_write_all(lg.fd, l->text, l->len);
        free(l);
        return;
    }
    if (lg.queued >= lg.queue_max) {
        pthread_mutex_unlock(&lg.lock);
        atomic_fetch_add(&lg.dropped, 1);
        atomic_fetch_sub(&lg.dropped_reported, carried);
        free(l);
        return;
    }
    if (lg.tail)
        lg.tail->next = l;
    else
        lg.head = l;
    lg.tail = l;
    lg.queued++;
    if (lg.waiting) /* a busy writer finds the line when it looks again: no wake-up needed */
        pthread_cond_signal(&lg.cond);
    pthread_mutex_unlock(&lg.lock);
}

void log_write(const struct log_ctx *ctx, enum log_level lvl, const char *ev,
               const struct log_field *fields)
{
    struct sbuf b = SBUF_INIT(LINE_MAX_BYTES + 64); /* + the drop count and the newline */
    uint64_t dropped = atomic_load(&lg.dropped);
    uint64_t reported = atomic_load(&lg.dropped_reported);
    uint64_t carried = 0;
    struct line *l;

    log_format(&b, time_wall_ms(), ctx, lvl, ev, fields);
    if (b.err || b.len > LINE_MAX_BYTES) { /* too long: keep the event, say fields were cut */
        sbuf_reset(&b);
        log_format(&b, time_wall_ms(), ctx, lvl, ev,
                   (const struct log_field[]){LF_BOOL("truncated", true), LF_END_});
    }
    if (b.err || b.len > LINE_MAX_BYTES) { /* the event or the ids alone are too long */
        sbuf_reset(&b);
        log_format(&b, time_wall_ms(), NULL, lvl, "log.line_too_long", NULL);
    }
    if (dropped != reported &&
        atomic_compare_exchange_strong(&lg.dropped_reported, &reported, dropped)) {
        carried = dropped - reported;
        b.len--; /* reopen the object to add the count */
        sbuf_printf(&b, ",\"log_dropped\":%" PRIu64 "}", carried);
    }
    sbuf_putc(&b, '\n');
    l = xmalloc(sizeof(*l) + b.len);
    l->next = NULL;
    l->len = b.len;
    memcpy(l->text, b.buf, b.len);
    sbuf_release(&b);
    enqueue(l, carried);
}
