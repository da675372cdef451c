/*
 * The supervisor thread: every round it looks at each replica of each service, restarts the
 * ones that exited (with backoff), takes them out of the routes until they answer again, marks
 * a service DEGRADED when a replica keeps crashing, and records CPU and memory use. It works
 * on a service only while no rollout does (trylock of svc->roll), so runc is never called on a
 * replica a rollout is handling.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "dep/dep-int.h"
#include "ingress/ingress.h"

#define ROUND_MS 500

static const struct log_ctx dep_log = {.svc = "deployer"};

/* ---------------------------------------------------------------- health */

static unsigned recent_crashes(const struct dep_replica *r, uint64_t now)
{
    unsigned n = 0;

    for (unsigned i = 0; i < DEP_CRASHES_BAD; i++)
        n += r->crash_ms[i] != 0 && now - r->crash_ms[i] <= DEP_CRASH_WINDOW;
    return n;
}

void dep_svc_health(struct dep_svc *s)
{
    uint64_t now = time_mono_ms();
    unsigned ready = 0;

    for (unsigned i = 0; i < s->n_rep; i++)
        ready += s->rep[i].ready;
    if (!s->recorded) {
        s->health = DEP_UNKNOWN;
        s->message[0] = '\0';
        return;
    }
    for (unsigned i = 0; i < s->n_rep; i++) {
        const struct dep_replica *r = &s->rep[i];
        if (recent_crashes(r, now) >= DEP_CRASHES_BAD) {
            s->health = DEP_DEGRADED;
            snprintf(s->message, sizeof(s->message), "replica %u crashed %u times: %s", r->num,
                     r->n_crashes, r->last_crash);
            return;
        }
    }
    if (ready == s->n_rep && s->n_rep == s->spec.replicas) {
        s->health = DEP_SYNCED;
        if (s->n_rep == 0)
            snprintf(s->message, sizeof(s->message), "suspended");
        else
            snprintf(s->message, sizeof(s->message), "%u replica%s ready", ready,
                     ready == 1 ? "" : "s");
    } else {
        s->health = DEP_PROGRESSING;
        snprintf(s->message, sizeof(s->message), "%u of %u replicas ready", ready, s->n_rep);
    }
}

/* ---------------------------------------------------------------- routes */

/* Appends <s>'s routes to <rt> (room for them checked by the caller) and their text to <txt>;
 * strings in <a>. s->lock held. */
static void svc_routes(struct dep_svc *s, struct arena *a, struct ingress_route *rt, size_t *n,
                       struct sbuf *txt)
{
    const char **ups = NULL;
    const char *reason = NULL;
    size_t nup = 0;

    if (!s->recorded || s->spec.n_hosts == 0)
        return;
    if (s->n_rep > 0 && (ups = arena_alloc(a, s->n_rep * sizeof(*ups))) == NULL)
        return;
    for (unsigned i = 0; i < s->n_rep; i++)
        if (s->rep[i].ready)
            ups[nup++] = arena_printf(a, "127.0.0.1:%u", s->rep[i].app_port);
    if (nup == 0)
        reason = arena_printf(a, "%s",
                              s->spec.replicas == 0       ? "suspended"
                              : s->health == DEP_DEGRADED ? s->message
                                                          : "no replica is ready yet");
    for (size_t h = 0; h < s->spec.n_hosts; h++) {
        rt[*n] = (struct ingress_route){.host = arena_printf(a, "%s", s->spec.hosts[h]),
                                        .label = arena_printf(a, "%s", s->label),
                                        .reason = reason,
                                        .upstreams = ups,
                                        .nupstreams = nup,
                                        .websocket = true};
        sbuf_printf(txt, "%s %s %s", rt[*n].host, rt[*n].label, reason ? reason : "");
        for (size_t i = 0; i < nup; i++)
            sbuf_printf(txt, " %s", ups[i]);
        sbuf_putc(txt, '\n');
        (*n)++;
    }
}

static int routes_build_apply(struct dep *d, struct arena *a, struct err *err)
{
    struct sbuf txt = SBUF_INIT(64u << 20);
    struct ingress_route *rt = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;

    pthread_mutex_lock(&d->lock);
    for (struct dep_svc *s = d->svcs; s != NULL; s = s->next) {
        pthread_mutex_lock(&s->lock);
        if (n + s->spec.n_hosts > cap) {
            size_t ncap = (n + s->spec.n_hosts) * 2 + 16;
            struct ingress_route *bigger = arena_alloc(a, ncap * sizeof(*rt));
            if (bigger != NULL && n > 0)
                memcpy(bigger, rt, n * sizeof(*rt));
            if (bigger != NULL)
                rt = bigger, cap = ncap;
        }
        if (n + s->spec.n_hosts <= cap)
            svc_routes(s, a, rt, &n, &txt);
        pthread_mutex_unlock(&s->lock);
    }
    pthread_mutex_unlock(&d->lock);
    if (txt.err != 0 || (n > 0 && rt == NULL)) {
        sbuf_release(&txt);
        return err_set(err, ERR_LIMIT, "route table too large");
    }
    /* The same table as the one serving: nothing to reload. */
    if (d->last_routes != NULL && strcmp(d->last_routes, txt.buf) == 0) {
        sbuf_release(&txt);
        return 0;
    }
    if ((rc = ingress_apply(d->ingress, rt, n, err)) == 0) {
        free(d->last_routes);
        d->last_routes = sbuf_take(&txt, NULL);
    }
    sbuf_release(&txt);
    return rc;
}

int dep_routes_apply(struct dep *d, struct err *err)
{
    struct arena *a;
    int rc;

    if (d->ingress == NULL)
        return 0;
    a = arena_new(&(struct arena_opts){.chunk = 64u << 10, .budget = 64u << 20});
    pthread_mutex_lock(&d->routes_lock);
    rc = routes_build_apply(d, a, err);
    atomic_store(&d->routes_dirty, rc < 0);
    pthread_mutex_unlock(&d->routes_lock);
    arena_free(a);
    if (rc < 0)
        LOG_WARN(&dep_log, "deployer.routes_failed", LF_STR("error", err->msg));
    return rc;
}

/* ---------------------------------------------------------------- crash restarts */

/* The last line <id> wrote, without its time and stream. */
static void last_line(struct dep *d, const char *id, char *out, size_t max)
{
    struct sbuf b = SBUF_INIT(8192);
    const char *p, *end;

    out[0] = '\0';
    if (rt_log_tail(d->rt, id, 1024, &b, NULL) == 0 && b.len > 0) {
        end = b.buf + b.len;
        while (end > b.buf && end[-1] == '\n')
            end--;
        for (p = end; p > b.buf && p[-1] != '\n'; p--)
            ;
        /* "<time> <stream> <text>" */
        for (int sp = 0; sp < 2 && p < end; p++)
            sp += *p == ' ';
        snprintf(out, max, "%.*s", (int)(end - p), p);
    }
    sbuf_release(&b);
}

/* Notes the crash of <r> (exit <code>) and when it may start again. */
static void crash_note(struct dep *d, struct dep_svc *s, struct dep_replica *r, int code,
                       uint64_t now)
{
    char line[200];

    last_line(d, r->id, line, sizeof(line));
    snprintf(r->last_crash, sizeof(r->last_crash), "exit %d: %s", code, line);
    r->crash_ms[r->n_crashes % DEP_CRASHES_BAD] = now;
    r->n_crashes++;
    if (r->backoff_ms == 0 || (r->up_since_ms != 0 && now - r->up_since_ms >= DEP_HEALTHY_RESET))
        r->backoff_ms = 1000;
    else
        r->backoff_ms = r->backoff_ms * 2 > (uint64_t)d->cfg.backoff_max_ms
                            ? (uint64_t)d->cfg.backoff_max_ms
                            : r->backoff_ms * 2;
    r->restart_at_ms = now + r->backoff_ms;
    r->ready = false;
    r->up_since_ms = 0;
    LOG_WARN(&dep_log, "deployer.replica_crashed", LF_STR("service", s->label),
             LF_STR("replica", r->id), LF_INT("exit", code), LF_UINT("backoff_ms", r->backoff_ms));
}

static void restart(struct dep *d, struct dep_svc *s, struct dep_replica *r, uint64_t now)
{
    const char *argv[4];
    struct rt_spec rs = dep_rt_spec(&s->spec, r, argv);
    struct err err = {0};

    dep_stop_ids(d, r, 1, 0);
    if (rt_start(d->rt, &rs, &err) < 0) {
        LOG_WARN(&dep_log, "deployer.restart_failed", LF_STR("replica", r->id),
                 LF_STR("error", err.msg));
        snprintf(r->last_crash, sizeof(r->last_crash), "cannot start: %s", err.msg);
        r->backoff_ms = r->backoff_ms * 2 > (uint64_t)d->cfg.backoff_max_ms
                            ? (uint64_t)d->cfg.backoff_max_ms
                            : r->backoff_ms * 2;
        r->restart_at_ms = now + r->backoff_ms;
        return;
    }
    r->restart_at_ms = 0;
    r->restarts++;
}

/* How long an exited replica's status may take to be written by its relay. */
#define EXIT_STATUS_WAIT_MS 2000

/* One replica's round; true when its readiness changed. */
static bool replica_round(struct dep *d, struct dep_svc *s, struct dep_replica *r)
{
    bool was = r->ready;
    struct rt_state st;
    uint64_t now = time_mono_ms();
    int rc = rt_state(d->rt, r->id, &st, NULL);

    if (rc == 0 && st.status == RT_EXITED && st.exit_code < 0 && r->restart_at_ms == 0 &&
        (r->exit_seen_ms == 0 || now - r->exit_seen_ms < EXIT_STATUS_WAIT_MS)) {
        /* The app is gone and its relay has not written the status yet: the crash is noted
         * with it a round or two later (after EXIT_STATUS_WAIT_MS as unknown). */
        if (r->exit_seen_ms == 0)
            r->exit_seen_ms = now;
        r->ready = false; /* out of the routes at once */
        return was != r->ready;
    }
    if (rc == ERR_NOTFOUND || (rc == 0 && st.status == RT_EXITED)) {
        r->exit_seen_ms = 0;
        if (r->restart_at_ms == 0)
            crash_note(d, s, r, rc == 0 ? st.exit_code : -1, now);
        else if (now >= r->restart_at_ms)
            restart(d, s, r, now);
    } else if (rc == 0 && !r->ready && dep_probe(d, &s->spec, r, NULL, 0)) {
        r->ready = true;
        r->up_since_ms = now;
    }
    return was != r->ready;
}

/* One service's round, holding s->roll; true when the routes must change. */
static bool svc_round(struct dep *d, struct dep_svc *s)
{
    struct dep_replica r;
    bool changed = false;
    unsigned n;

    pthread_mutex_lock(&s->lock);
    n = s->n_rep;
    pthread_mutex_unlock(&s->lock);
    /* Only a rollout or a removal changes the replica set, and both hold s->roll. */
    for (unsigned i = 0; i < n; i++) {
        pthread_mutex_lock(&s->lock);
        r = s->rep[i];
        pthread_mutex_unlock(&s->lock);
        bool c = replica_round(d, s, &r);
        pthread_mutex_lock(&s->lock);
        s->rep[i] = r;
        pthread_mutex_unlock(&s->lock);
        changed |= c;
    }
    pthread_mutex_lock(&s->lock);
    enum dep_health before = s->health;
    dep_svc_health(s);
    changed |= before != s->health && s->n_rep > 0;
    pthread_mutex_unlock(&s->lock);
    return changed;
}

/* ---------------------------------------------------------------- usage ledger */

static const struct store_migration usage_migrations[] = {
    {.version = 1,
     .name = "usage samples",
     .sql = "CREATE TABLE dep_usage ("
            " workspace TEXT NOT NULL, project TEXT NOT NULL, env TEXT NOT NULL,"
            " service TEXT NOT NULL, replica TEXT NOT NULL, at_ms BIGINT NOT NULL,"
            " cpu_seconds DOUBLE PRECISION NOT NULL, memory_bytes BIGINT NOT NULL);"
            "CREATE INDEX dep_usage_by_project ON dep_usage (workspace, project, at_ms)"},
};

int dep_usage_migrate(struct store *s, struct err *err)
{
    int rc = store_migrate_set(s, "deployer", usage_migrations, ARRAY_LEN(usage_migrations), err);

    return rc < 0 ? err_wrap(err, "deployer usage") : 0;
}

static void usage_record(struct dep *d, struct dep_svc *s, struct store_tx *tx)
{
    static const char sql[] =
        "INSERT INTO dep_usage (workspace, project, env, service, replica, at_ms, cpu_seconds,"
        " memory_bytes) VALUES (?, ?, ?, ?, ?, ?, CAST(? AS DOUBLE PRECISION), ?)";
    struct dep_replica reps[DEP_REPLICAS_MAX];
    unsigned n;

    pthread_mutex_lock(&s->lock);
    n = s->n_rep;
    memcpy(reps, s->rep, n * sizeof(*reps));
    pthread_mutex_unlock(&s->lock);
    for (unsigned i = 0; i < n; i++) {
        struct rt_usage u;
        struct err err = {0};
        char cpu[48];
        if (rt_usage(d->rt, reps[i].id, &u, NULL) < 0)
            continue;
        snprintf(cpu, sizeof(cpu), "%.6f", u.cpu_seconds);
        struct store_val args[] = {
            SV_CSTR(s->ws),      SV_CSTR(s->project),    SV_CSTR(s->env), SV_CSTR(s->service),
            SV_CSTR(reps[i].id), SV_INT(time_wall_ms()), SV_CSTR(cpu),    SV_INT(u.memory_bytes)};
        if (store_exec(tx, sql, args, ARRAY_LEN(args), NULL, &err) < 0)
            LOG_WARN(&dep_log, "deployer.usage_failed", LF_STR("error", err.msg));
    }
}

static void usage_round(struct dep *d, struct dep_svc **svcs, size_t n)
{
    struct store_tx *tx;
    struct err err = {0};

    if (d->store == NULL)
        return;
    if (store_begin(d->store, &tx, &err) < 0) {
        LOG_WARN(&dep_log, "deployer.usage_failed", LF_STR("error", err.msg));
        return;
    }
    for (size_t i = 0; i < n; i++)
        usage_record(d, svcs[i], tx);
    if (store_commit(tx, &err) < 0)
        LOG_WARN(&dep_log, "deployer.usage_failed", LF_STR("error", err.msg));
}

/* ---------------------------------------------------------------- the thread */

/* The services now, in an array the caller frees (they stay valid until dep_free()). */
static struct dep_svc **svcs_snapshot(struct dep *d, size_t *n)
{
    struct dep_svc **v;
    size_t count = 0;

    pthread_mutex_lock(&d->lock);
    for (struct dep_svc *s = d->svcs; s != NULL; s = s->next)
        count++;
    v = xcalloc(count + 1, sizeof(*v));
    count = 0;
    for (struct dep_svc *s = d->svcs; s != NULL; s = s->next)
        v[count++] = s;
    pthread_mutex_unlock(&d->lock);
    *n = count;
    return v;
}

void dep_supervise_round(struct dep *d)
{
    size_t n;
    struct dep_svc **v = svcs_snapshot(d, &n);
    bool changed = atomic_load(&d->routes_dirty);
    struct err err = {0};

    for (size_t i = 0; i < n; i++) {
        if (pthread_mutex_trylock(&v[i]->roll) != 0)
            continue;
        changed |= svc_round(d, v[i]);
        pthread_mutex_unlock(&v[i]->roll);
    }
    if (changed && dep_routes_apply(d, &err) < 0)
        atomic_store(&d->routes_dirty, true); /* logged; tried again next round */
    if (time_mono_ms() >= d->next_usage_ms) {
        d->next_usage_ms = time_mono_ms() + (uint64_t)d->cfg.usage_interval_ms;
        usage_round(d, v, n);
    }
    free(v);
}

static void *supervise(void *arg)
{
    struct dep *d = arg;

    pthread_mutex_lock(&d->sup_lock);
    while (!d->stopping) {
        pthread_mutex_unlock(&d->sup_lock);
        dep_supervise_round(d);
        pthread_mutex_lock(&d->sup_lock);
        if (!d->stopping)
            (void)cond_wait_until(&d->sup_cv, &d->sup_lock,
                                  time_mono_ns() + (uint64_t)ROUND_MS * 1000000);
    }
    pthread_mutex_unlock(&d->sup_lock);
    return NULL;
}

int dep_supervisor_start(struct dep *d, struct err *err)
{
    int e = pthread_create(&d->sup, NULL, supervise, d);

    if (e != 0)
        return err_set(err, ERR_INTERNAL, "supervisor thread: %s", strerror(e));
    d->sup_started = true;
    return 0;
}

void dep_supervisor_stop(struct dep *d)
{
    if (!d->sup_started)
        return;
    pthread_mutex_lock(&d->sup_lock);
    d->stopping = true;
    pthread_cond_broadcast(&d->sup_cv);
    pthread_mutex_unlock(&d->sup_lock);
    pthread_join(d->sup, NULL);
    d->sup_started = false;
}

/* ---------------------------------------------------------------- metrics */

static void labels(struct sbuf *b, const struct dep_svc *s)
{
    sbuf_printf(b, "workspace=\"%s\",project=\"%s\",env=\"%s\",service=\"%s\"", s->ws, s->project,
                s->env, s->service);
}

void dep_metrics_render(struct dep *d, struct sbuf *out)
{
    struct sbuf cpu = SBUF_INIT(16u << 20), mem = SBUF_INIT(16u << 20),
                ready = SBUF_INIT(16u << 20), restarts = SBUF_INIT(16u << 20);
    struct dep_replica reps[DEP_REPLICAS_MAX];
    size_t n;
    struct dep_svc **v = svcs_snapshot(d, &n);

    for (size_t i = 0; i < n; i++) {
        struct dep_svc *s = v[i];
        unsigned nr, nready = 0;
        bool rec;
        pthread_mutex_lock(&s->lock);
        rec = s->recorded;
        nr = s->n_rep;
        memcpy(reps, s->rep, nr * sizeof(*reps));
        pthread_mutex_unlock(&s->lock);
        if (!rec)
            continue;
        for (unsigned j = 0; j < nr; j++) {
            struct rt_usage u;
            nready += reps[j].ready;
            sbuf_puts(&restarts, "slipway_replica_restarts_total{");
            labels(&restarts, s);
            sbuf_printf(&restarts, ",replica=\"%u\"} %" PRIu64 "\n", reps[j].num, reps[j].restarts);
            if (rt_usage(d->rt, reps[j].id, &u, NULL) < 0)
                continue;
            sbuf_puts(&cpu, "slipway_replica_cpu_seconds_total{");
            labels(&cpu, s);
            sbuf_printf(&cpu, ",replica=\"%u\"} %.6f\n", reps[j].num, u.cpu_seconds);
            sbuf_puts(&mem, "slipway_replica_memory_bytes{");
            labels(&mem, s);
            sbuf_printf(&mem, ",replica=\"%u\"} %" PRIu64 "\n", reps[j].num, u.memory_bytes);
        }
        sbuf_puts(&ready, "slipway_replicas_ready{");
        labels(&ready, s);
        sbuf_printf(&ready, "} %u\n", nready);
    }
    free(v);
    sbuf_puts(out, "# HELP slipway_replica_cpu_seconds_total CPU time a replica used.\n"
                   "# TYPE slipway_replica_cpu_seconds_total counter\n");
    sbuf_put_slice(out, sbuf_slice(&cpu));
    sbuf_puts(out, "# HELP slipway_replica_memory_bytes Memory a replica uses now.\n"
                   "# TYPE slipway_replica_memory_bytes gauge\n");
    sbuf_put_slice(out, sbuf_slice(&mem));
    sbuf_puts(out, "# HELP slipway_replicas_ready Replicas of a service answering now.\n"
                   "# TYPE slipway_replicas_ready gauge\n");
    sbuf_put_slice(out, sbuf_slice(&ready));
    sbuf_puts(out, "# HELP slipway_replica_restarts_total Crash restarts of a replica.\n"
                   "# TYPE slipway_replica_restarts_total counter\n");
    sbuf_put_slice(out, sbuf_slice(&restarts));
    sbuf_release(&cpu);
    sbuf_release(&mem);
    sbuf_release(&ready);
    sbuf_release(&restarts);
}
