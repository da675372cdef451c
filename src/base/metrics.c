/*
 * Prometheus metrics. Families and their series are created under a lock and never removed
 * until metrics_free(), so readers walk the lists without one; values are atomics, so any
 * thread may update them.
 */
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "base/base.h"

#define MAX_SERIES 1024
#define MAX_LABELS 8

/* A family is a struct metric with family == NULL; a series points at its family. */
struct metric {
    struct metric *family;
    struct metric *_Atomic next; /* the next family, or the next series of a family */
    /* family */
    enum metric_type type;
    char *name, *help;
    char *labels[MAX_LABELS];
    size_t nlabels;
    double *buckets;
    size_t nbuckets;
    struct metric *_Atomic series;
    size_t nseries; /* guarded by the metrics lock */
    /* series */
    char *values[MAX_LABELS];
    _Atomic uint64_t bits;    /* the value (gauge, counter) or the sum (histogram), as double */
    _Atomic uint64_t count;   /* histogram observations */
    _Atomic uint64_t *counts; /* histogram, per bucket (not cumulative) */
};

struct proc_metrics;

struct collector {
    struct collector *next;
    metrics_collect_fn *fn;
    void *arg;
};

/* A source of series that come and go (one per container): rendered as text after the rest. */
struct text_source {
    struct text_source *next;
    metrics_text_fn *fn;
    void *arg;
};

struct metrics {
    pthread_mutex_t lock;
    struct metric *_Atomic families;
    struct metric *last_family;   /* guarded by lock */
    struct collector *collectors; /* guarded by lock */
    struct text_source *texts;    /* guarded by lock */
    struct proc_metrics *proc;
};

static double bits_to_dbl(uint64_t b)
{
    double d;

    memcpy(&d, &b, sizeof(d));
    return d;
}

static uint64_t dbl_to_bits(double d)
{
    uint64_t b;

    memcpy(&b, &d, sizeof(b));
    return b;
}

static void atomic_add_dbl(_Atomic uint64_t *p, double v)
{
    uint64_t old = atomic_load_explicit(p, memory_order_relaxed);

    while (!atomic_compare_exchange_weak_explicit(p, &old, dbl_to_bits(bits_to_dbl(old) + v),
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

struct metrics *metrics_new(void)
{
    struct metrics *m = xcalloc(1, sizeof(*m));

    pthread_mutex_init(&m->lock, NULL);
    return m;
}

static void metric_free_one(struct metric *s)
{
    for (size_t i = 0; i < MAX_LABELS; i++) {
        free(s->values[i]);
        free(s->labels[i]);
    }
    free(s->counts);
    free(s->name);
    free(s->help);
    free(s->buckets);
    free(s);
}

void metrics_free(struct metrics *m)
{
    struct metric *f, *s;

    if (m == NULL)
        return;
    while ((f = atomic_load(&m->families)) != NULL) {
        atomic_store(&m->families, atomic_load(&f->next));
        while ((s = atomic_load(&f->series)) != NULL) {
            atomic_store(&f->series, atomic_load(&s->next));
            metric_free_one(s);
        }
        metric_free_one(f);
    }
    while (m->collectors) {
        struct collector *c = m->collectors;

        m->collectors = c->next;
        free(c);
    }
    while (m->texts) {
        struct text_source *t = m->texts;

        m->texts = t->next;
        free(t);
    }
    free(m->proc);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

struct metric *metrics_family(struct metrics *m, enum metric_type type, const char *name,
                              const char *help, const char *const *labels, const double *buckets,
                              size_t nbuckets)
{
    struct metric *f = xcalloc(1, sizeof(*f));

    f->type = type;
    f->name = xstrdup(name);
    f->help = xstrdup(help);
    for (; labels && labels[f->nlabels]; f->nlabels++) {
        ASSERT(f->nlabels < MAX_LABELS);
        f->labels[f->nlabels] = xstrdup(labels[f->nlabels]);
    }
    if (type == METRIC_HISTOGRAM) {
        f->nbuckets = nbuckets;
        f->buckets = xmalloc((nbuckets ? nbuckets : 1) * sizeof(double));
        memcpy(f->buckets, buckets, nbuckets * sizeof(double));
    }
    pthread_mutex_lock(&m->lock);
    if (m->last_family)
        atomic_store(&m->last_family->next, f);
    else
        atomic_store(&m->families, f);
    m->last_family = f;
    pthread_mutex_unlock(&m->lock);
    return f;
}

static bool values_match(const struct metric *s, const char *const *values, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s->values[i], values[i]) != 0)
            return false;
    return true;
}

static struct metric *find_series(struct metric *f, const char *const *values)
{
    for (struct metric *s = atomic_load_explicit(&f->series, memory_order_acquire); s;
         s = atomic_load_explicit(&s->next, memory_order_acquire))
        if (values_match(s, values, f->nlabels))
            return s;
    return NULL;
}

/* The lock serializing series creation: families do not know their registry, so one global
 * lock suffices (creation is rare). */
static pthread_mutex_t series_lock = PTHREAD_MUTEX_INITIALIZER;

struct metric *metric_series(struct metric *f, const char *const *values)
{
    struct metric *s = find_series(f, values);

    if (s != NULL)
        return s;
    pthread_mutex_lock(&series_lock);
    s = find_series(f, values);
    if (s == NULL && f->nseries < MAX_SERIES) {
        s = xcalloc(1, sizeof(*s));
        s->family = f;
        for (size_t i = 0; i < f->nlabels; i++)
            s->values[i] = xstrdup(values[i]);
        if (f->type == METRIC_HISTOGRAM)
            s->counts = xcalloc(f->nbuckets + 1, sizeof(*s->counts));
        atomic_store(&s->next, atomic_load(&f->series)); /* newest first; render reverses */
        atomic_store_explicit(&f->series, s, memory_order_release);
        f->nseries++;
    }
    pthread_mutex_unlock(&series_lock);
    return s;
}

void metric_add(struct metric *s, double v)
{
    if (s != NULL)
        atomic_add_dbl(&s->bits, v);
}

void metric_set(struct metric *s, double v)
{
    if (s != NULL)
        atomic_store_explicit(&s->bits, dbl_to_bits(v), memory_order_relaxed);
}

void metric_observe(struct metric *s, double v)
{
    size_t i = 0;

    if (s == NULL)
        return;
    while (i < s->family->nbuckets && v > s->family->buckets[i])
        i++;
    atomic_fetch_add_explicit(&s->counts[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->count, 1, memory_order_relaxed);
    atomic_add_dbl(&s->bits, v);
}

void metrics_on_collect(struct metrics *m, metrics_collect_fn *fn, void *arg)
{
    struct collector *c = xmalloc(sizeof(*c));

    c->fn = fn;
    c->arg = arg;
    pthread_mutex_lock(&m->lock);
    c->next = m->collectors;
    m->collectors = c;
    pthread_mutex_unlock(&m->lock);
}

void metrics_on_render(struct metrics *m, metrics_text_fn *fn, void *arg)
{
    struct text_source *t = xmalloc(sizeof(*t));

    t->fn = fn;
    t->arg = arg;
    pthread_mutex_lock(&m->lock);
    t->next = m->texts;
    m->texts = t;
    pthread_mutex_unlock(&m->lock);
}

static void put_label_value(struct sbuf *out, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            sbuf_putc(out, '\\');
        if (*v == '\n')
            sbuf_puts(out, "\\n");
        else
            sbuf_putc(out, *v);
    }
}

/* {a="1",b="2"[,le="0.5"]} or nothing when there are no labels. */
static void put_labels(struct sbuf *out, const struct metric *s, const char *le)
{
    const struct metric *f = s->family;

    if (f->nlabels == 0 && le == NULL)
        return;
    sbuf_putc(out, '{');
    for (size_t i = 0; i < f->nlabels; i++) {
        sbuf_printf(out, "%s%s=\"", i ? "," : "", f->labels[i]);
        put_label_value(out, s->values[i]);
        sbuf_putc(out, '"');
    }
    if (le)
        sbuf_printf(out, "%sle=\"%s\"", f->nlabels ? "," : "", le);
    sbuf_putc(out, '}');
}

/* The shortest of %.15g and %.17g that reads back as <v>: "0.0005", not
 * "0.00050000000000000001", so label values match what people write in queries. */
static void fmt_double(char out[32], double v)
{
    snprintf(out, 32, "%.15g", v);
    if (strtod(out, NULL) != v)
        snprintf(out, 32, "%.17g", v);
}

static void put_value(struct sbuf *out, double v)
{
    char buf[32];

    if (v != v) {
        sbuf_puts(out, "NaN");
        return;
    }
    fmt_double(buf, v);
    sbuf_puts(out, buf);
}

static void render_histogram(struct sbuf *out, const struct metric *s)
{
    const struct metric *f = s->family;
    uint64_t cum = 0;
    char le[32];

    for (size_t i = 0; i <= f->nbuckets; i++) {
        cum += atomic_load_explicit(&s->counts[i], memory_order_relaxed);
        if (i < f->nbuckets)
            fmt_double(le, f->buckets[i]);
        else
            snprintf(le, sizeof(le), "+Inf");
        sbuf_printf(out, "%s_bucket", f->name);
        put_labels(out, s, le);
        sbuf_printf(out, " %" PRIu64 "\n", cum);
    }
    sbuf_printf(out, "%s_sum", f->name);
    put_labels(out, s, NULL);
    sbuf_putc(out, ' ');
    put_value(out, bits_to_dbl(atomic_load(&s->bits)));
    sbuf_printf(out, "\n%s_count", f->name);
    put_labels(out, s, NULL);
    sbuf_printf(out, " %" PRIu64 "\n", cum);
}

static void render_series(struct sbuf *out, const struct metric *s)
{
    if (s == NULL)
        return;
    render_series(out, atomic_load(&s->next)); /* oldest first */
    if (s->family->type == METRIC_HISTOGRAM) {
        render_histogram(out, s);
        return;
    }
    sbuf_puts(out, s->family->name);
    put_labels(out, s, NULL);
    sbuf_putc(out, ' ');
    put_value(out, bits_to_dbl(atomic_load(&s->bits)));
    sbuf_putc(out, '\n');
}

void metrics_render(struct metrics *m, struct sbuf *out)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};

    pthread_mutex_lock(&m->lock);
    for (struct collector *c = m->collectors; c; c = c->next)
        c->fn(c->arg, m);
    pthread_mutex_unlock(&m->lock);
    for (struct metric *f = atomic_load(&m->families); f; f = atomic_load(&f->next)) {
        struct metric *first = atomic_load(&f->series);

        if (first == NULL && f->nlabels > 0)
            continue; /* nothing observed yet */
        if (first == NULL)
            first = metric_series(f, NULL);
        sbuf_printf(out, "# HELP %s ", f->name);
        put_label_value(out, f->help);
        sbuf_printf(out, "\n# TYPE %s %s\n", f->name, types[f->type]);
        render_series(out, atomic_load(&f->series));
    }
    pthread_mutex_lock(&m->lock);
    for (struct text_source *t = m->texts; t; t = t->next)
        t->fn(t->arg, out);
    pthread_mutex_unlock(&m->lock);
}

/* ------------------------------------------------------------ process metrics */

struct proc_metrics {
    struct metric *cpu, *rss, *vsz, *fds, *max_fds, *start;
};

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;

    if (d == NULL)
        return -1;
    while (readdir(d) != NULL)
        n++;
    closedir(d);
    return n - 3; /* ".", ".." and the directory's own fd */
}

static double boot_time(void)
{
    char line[256];
    double bt = 0;
    FILE *f = fopen("/proc/stat", "r");

    if (f == NULL)
        return 0;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, "btime ", 6) == 0)
            bt = strtod(line + 6, NULL);
    fclose(f);
    return bt;
}

static void collect_process(void *arg, struct metrics *m)
{
    struct proc_metrics *p = arg;
    unsigned long utime, stime, vsize;
    unsigned long long start;
    long rss, tick = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    struct rlimit rl;
    char buf[1024], *s;
    FILE *f = fopen("/proc/self/stat", "r");
    size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;

    (void)m;
    if (f)
        fclose(f);
    buf[n] = '\0';
    s = strrchr(buf, ')'); /* the command name may hold spaces */
    if (s && sscanf(s + 2,
                    "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d %*d %*d %*d "
                    "%*d %llu %lu %ld",
                    &utime, &stime, &start, &vsize, &rss) == 5) {
        metric_set(p->cpu, (double)(utime + stime) / (double)tick);
        metric_set(p->vsz, (double)vsize);
        metric_set(p->rss, (double)rss * (double)page);
        metric_set(p->start, boot_time() + (double)start / (double)tick);
    }
    metric_set(p->fds, count_fds());
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        metric_set(p->max_fds, (double)rl.rlim_cur);
}

static struct metric *plain(struct metrics *m, enum metric_type t, const char *name,
                            const char *help)
{
    return metric_series(metrics_family(m, t, name, help, NULL, NULL, 0), NULL);
}

void metrics_add_process(struct metrics *m)
{
    struct proc_metrics *p = xcalloc(1, sizeof(*p));

    p->cpu = plain(m, METRIC_COUNTER, "process_cpu_seconds_total",
                   "Total user and system CPU time spent in seconds.");
    p->rss =
        plain(m, METRIC_GAUGE, "process_resident_memory_bytes", "Resident memory size in bytes.");
    p->vsz =
        plain(m, METRIC_GAUGE, "process_virtual_memory_bytes", "Virtual memory size in bytes.");
    p->fds = plain(m, METRIC_GAUGE, "process_open_fds", "Number of open file descriptors.");
    p->max_fds =
        plain(m, METRIC_GAUGE, "process_max_fds", "Maximum number of open file descriptors.");
    p->start = plain(m, METRIC_GAUGE, "process_start_time_seconds",
                     "Start time of the process since unix epoch in seconds.");
    free(m->proc);
    m->proc = p; /* freed with the registry */
    metrics_on_collect(m, collect_process, p);
}
