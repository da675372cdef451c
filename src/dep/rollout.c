/*
 * The deployer's lifecycle and rollouts. A rollout starts the new release beside the old one
 * and switches the routes only once every new replica answers, so the old release serves
 * until then and keeps serving when the new one fails; its ids are recorded as pending before
 * any starts, so a deployer killed half-way knows what to stop (docs/deploy.md).
 */
#include <errno.h>
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "dep/dep-int.h"
#include "oci/oci.h"

_Atomic bool dep_test_abandon;

static const struct log_ctx dep_log = {.svc = "deployer"};

static void say(const struct dep_hooks *h, const char *fmt, ...) APP_PRINTF(2, 3);
static void say(const struct dep_hooks *h, const char *fmt, ...)
{
    char line[600];
    va_list ap;

    if (h == NULL || h->line == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    h->line(h->arg, line);
}

static bool cancelled(const struct dep_hooks *h)
{
    return h != NULL && h->cancel != NULL && atomic_load(h->cancel);
}

/* Sleeps <ms>, waking early when the rollout is cancelled: true then. */
static bool nap(const struct dep_hooks *h, uint64_t ms)
{
    for (uint64_t end = time_mono_ms() + ms; time_mono_ms() < end;) {
        if (cancelled(h))
            return true;
        usleep(20 * 1000);
    }
    return cancelled(h);
}

static int key_check(const struct dep_key *k, struct err *err)
{
    const char *names[] = {"workspace", "project", "env", "service"};
    const char *v[] = {k->workspace, k->project, k->env, k->service};

    for (size_t i = 0; i < 4; i++)
        if (v[i] == NULL || !slug_valid(slice_from_cstr(v[i])))
            return err_set(err, ERR_INVALID, "key.%s: not a slug", names[i]);
    return 0;
}

static bool path_ok(const char *p)
{
    if (p[0] != '/' || strlen(p) > 1000)
        return false;
    for (; *p != '\0'; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return false;
    return true;
}

static int spec_check(const struct dep_spec *s, struct err *err)
{
    if (s->digest == NULL || !oci_digest_valid(slice_from_cstr(s->digest)))
        return err_set(err, ERR_INVALID, "spec.digest: not sha256:<64 hex>");
    if (s->layout_dir == NULL && (s->registry == NULL || s->repository == NULL))
        return err_set(err, ERR_INVALID, "spec.registry/repository: needed without layout_dir");
    if (s->replicas > DEP_REPLICAS_MAX)
        return err_set(err, ERR_INVALID, "spec.replicas: at most %d", DEP_REPLICAS_MAX);
    if (s->health_path != NULL && !path_ok(s->health_path))
        return err_set(err, ERR_INVALID, "spec.health_path: must start with / and hold no space");
    for (size_t i = 0; i < s->n_env; i++)
        if (s->env[i] == NULL || strchr(s->env[i], '=') == NULL || s->env[i][0] == '=')
            return err_set(err, ERR_INVALID, "spec.env[%zu]: not K=V", i);
    for (size_t i = 0; i < s->n_hosts; i++)
        if (s->hosts[i] == NULL || s->hosts[i][0] == '\0')
            return err_set(err, ERR_INVALID, "spec.hosts[%zu]: empty", i);
    return 0;
}

/* Where the image lives: the caller's layout, or the deployer's layout of its repository. */
static int layout_resolve(struct dep *d, const struct dep_spec *spec, char *out, size_t max,
                          struct err *err)
{
    char hex[DEP_HASH_HEX + 1], name[OCI_HOST_MAX + OCI_REPO_MAX + 2];
    int n;

    if (spec->layout_dir != NULL) {
        n = snprintf(out, max, "%s", spec->layout_dir);
    } else {
        snprintf(name, sizeof(name), "%s/%s", spec->registry, spec->repository);
        dep_sha256_hex(name, strlen(name), hex);
        n = snprintf(out, max, "%s/images/%.16s", d->dir, hex);
    }
    if (n < 0 || (size_t)n >= max)
        return err_set(err, ERR_INVALID, "spec.layout_dir: too long");
    return 0;
}

/* Pulls the image unless the layout holds it already. */
static int image_fetch(const struct dep_spec *spec, const char *layout, const struct dep_hooks *h,
                       struct err *err)
{
    struct arena *a = arena_new(&(struct arena_opts){.budget = 16u << 20});
    struct oci_client *c = NULL;
    struct oci_image *img;
    struct oci_ref ref;
    char name[OCI_HOST_MAX + OCI_REPO_MAX + OCI_DIGEST_SIZE + 4];
    int rc = oci_layout_read(a, layout, spec->digest, OCI_READ_TRUST_LAYERS, &img, NULL);

    arena_free(a);
    if (rc == 0)
        return 0;
    if (spec->layout_dir != NULL)
        return err_set(err, ERR_INVALID, "spec.layout_dir: %s holds no image %s", layout,
                       spec->digest);
    snprintf(name, sizeof(name), "%s/%s@%s", spec->registry, spec->repository, spec->digest);
    if ((rc = oci_ref_parse(slice_from_cstr(name), &ref, err)) < 0)
        return err_wrap(err, "spec.registry/repository");
    say(h, "pulling %s", spec->digest);
    struct oci_client_opts o = {.token = spec->pull_token,
                                .insecure_loopback = spec->insecure_loopback};
    if ((rc = oci_client_new(&o, &c, err)) == 0)
        rc = oci_pull(c, &ref, layout, NULL, err);
    oci_client_free(c);
    return rc < 0 ? err_wrap(err, "pull") : 0;
}

struct rt_spec dep_rt_spec(const struct dep_spec *spec, const struct dep_replica *r,
                           const char *argv[4])
{
    struct rt_spec rs = {.id = r->id,
                         .layout_dir = spec->layout_dir,
                         .digest = spec->digest,
                         .env = spec->env,
                         .n_env = spec->n_env,
                         .port = r->host_port,
                         .memory_bytes = spec->memory_bytes,
                         .cpu_quota_us = spec->cpu_millis * 100,
                         .cpu_period_us = spec->cpu_millis > 0 ? 100000 : 0,
                         .pids_max = DEP_PIDS_MAX};

    if (spec->start_command != NULL) {
        argv[0] = "/bin/sh";
        argv[1] = "-c";
        argv[2] = spec->start_command;
        argv[3] = NULL;
        rs.argv = argv;
    }
    return rs;
}

void dep_stop_ids(struct dep *d, const struct dep_replica *reps, unsigned n, uint64_t grace_ms)
{
    for (unsigned i = 0; i < n; i++) {
        struct err err = {0};
        if (rt_stop(d->rt, reps[i].id, grace_ms, &err) < 0 && err.code != ERR_NOTFOUND)
            LOG_WARN(&dep_log, "deployer.stop_failed", LF_STR("replica", reps[i].id),
                     LF_STR("error", err.msg));
    }
}

/* The last lines <id> wrote, without their time and stream, fitting <max> from the end. */
static void tail_text(struct dep *d, const char *id, char *out, size_t max)
{
    struct sbuf raw = SBUF_INIT(4 * DEP_TAIL_BYTES), txt = SBUF_INIT(4 * DEP_TAIL_BYTES);
    struct slice rest;

    out[0] = '\0';
    if (rt_log_tail(d->rt, id, DEP_TAIL_BYTES, &raw, NULL) == 0) {
        rest = sbuf_slice(&raw);
        for (struct slice line; rest.len > 0;) {
            struct slice ts, stream;
            if (!slice_split(&rest, '\n', &line))
                rest.len = 0;
            if (slice_split(&line, ' ', &ts) && slice_split(&line, ' ', &stream) && line.len > 0) {
                sbuf_put_slice(&txt, line);
                sbuf_putc(&txt, '\n');
            }
        }
    }
    if (txt.len > 0 && txt.buf[txt.len - 1] == '\n')
        txt.buf[--txt.len] = '\0';
    size_t from = txt.len + 1 > max ? txt.len + 1 - max : 0;
    snprintf(out, max, "%s", txt.buf + from);
    sbuf_release(&raw);
    sbuf_release(&txt);
}

/* Fails the rollout on replica <r>: ERR_UNAVAILABLE with why and its last output, in <err>
 * (short) and res->message (longer). */
static int replica_failed(struct dep *d, const struct dep_replica *r, const char *why,
                          bool port_clash, struct dep_result *res, struct err *err)
{
    char tail[400];
    const char *clash = port_clash ? " (replicas share the host network: an app that ignores "
                                     "PORT cannot run two replicas at once)"
                                   : "";

    tail_text(d, r->id, tail, sizeof(tail));
    /* err->msg is short: the end of the output is what says why. */
    size_t tl = strlen(tail), keep = 110;
    snprintf(res->message, sizeof(res->message), "replica %u %s%s: %s", r->num, why, clash, tail);
    return err_set(err, ERR_UNAVAILABLE, "replica %u %s: %s", r->num, why,
                   tail + (tl > keep ? tl - keep : 0));
}

/* Whether an app that ignores PORT runs in <reps> (an app port found elsewhere). */
static bool ignores_port(const struct dep_replica *reps, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        if (reps[i].app_port != 0 && reps[i].app_port != reps[i].host_port)
            return true;
    return false;
}

struct roll {
    struct dep *d;
    struct dep_svc *s;
    const struct dep_spec *spec; /* the parsed copy: layout resolved */
    const struct dep_hooks *h;
    struct dep_result *res;
    struct dep_replica reps[DEP_REPLICAS_MAX];
    unsigned n;
    uint64_t gen;
    char note[200];
};

/* Waits until every new replica answers; fails at once when one exits. */
static int wait_ready(struct roll *ro, struct err *err)
{
    struct dep *d = ro->d;
    uint64_t deadline = time_mono_ms() + (uint64_t)d->cfg.ready_timeout_ms;
    unsigned ready = 0;

    for (;;) {
        for (unsigned i = 0; i < ro->n; i++) {
            struct dep_replica *r = &ro->reps[i];
            struct rt_state st;
            char why[64];
            if (r->ready)
                continue;
            if (rt_state(d->rt, r->id, &st, err) < 0)
                return err_wrap(err, "replica %u", r->num);
            if (st.status == RT_EXITED) {
                /* The release running, or a sibling, holds the port it wants. */
                pthread_mutex_lock(&ro->s->lock);
                bool clash = ignores_port(ro->s->rep, ro->s->n_rep) ||
                             (ro->n > 1 && ignores_port(ro->reps, ro->n));
                pthread_mutex_unlock(&ro->s->lock);
                snprintf(why, sizeof(why), "exited with %d%s before it was ready", st.exit_code,
                         st.oom_killed ? " (out of memory)" : "");
                return replica_failed(d, r, why, clash, ro->res, err);
            }
            if (dep_probe(d, ro->spec, r, ro->note[0] ? NULL : ro->note, sizeof(ro->note))) {
                r->ready = true;
                r->up_since_ms = time_mono_ms();
                say(ro->h, "replica %u/%u ready", ++ready, ro->n);
            }
        }
        if (ready == ro->n)
            return 0;
        if (time_mono_ms() >= deadline) {
            for (unsigned i = 0; i < ro->n; i++)
                if (!ro->reps[i].ready) {
                    char why[64];
                    snprintf(why, sizeof(why), "not ready within %" PRId64 " ms",
                             d->cfg.ready_timeout_ms);
                    return replica_failed(d, &ro->reps[i], why, false, ro->res, err);
                }
        }
        if (nap(ro->h, 150))
            return err_set(err, ERR_CANCELLED, "rollout cancelled");
    }
}

/* Starts the new replicas, after recording them as pending. */
static int start_all(struct roll *ro, struct err *err)
{
    uint16_t ports[DEP_REPLICAS_MAX];
    int rc;

    if ((rc = dep_ports_take(ro->d, ro->s, ro->n, ports, err)) < 0)
        return rc;
    for (unsigned i = 0; i < ro->n; i++) {
        struct dep_replica *r = &ro->reps[i];
        memset(r, 0, sizeof(*r));
        r->num = i + 1;
        r->host_port = r->app_port = ports[i];
        dep_replica_id(ro->s, ro->gen, r->num, r->id);
    }
    if ((rc = dep_record_write(ro->d, ro->s, ro->gen, ro->reps, ro->n, err)) < 0)
        return rc;
    for (unsigned i = 0; i < ro->n; i++) {
        const char *argv[4];
        struct rt_spec rs = dep_rt_spec(ro->spec, &ro->reps[i], argv);
        if (cancelled(ro->h))
            return err_set(err, ERR_CANCELLED, "rollout cancelled");
        /* A container of this id left by an abandoned attempt goes first. */
        dep_stop_ids(ro->d, &ro->reps[i], 1, 0);
        if ((rc = rt_start(ro->d->rt, &rs, err)) < 0)
            return err_wrap(err, "replica %u", i + 1);
    }
    say(ro->h, "%u replica%s started", ro->n, ro->n == 1 ? "" : "s");
    return 0;
}

/* Removes the logs of this service's generations before <keep_from>. */
static void logs_prune(struct dep *d, struct dep_svc *s, uint64_t keep_from)
{
    char dir[DEP_PATH_MAX], prefix[DEP_KEY_HEX + 4];
    struct dirent *e;
    DIR *dh;

    snprintf(dir, sizeof(dir), "%s/rt/logs", d->dir);
    snprintf(prefix, sizeof(prefix), "%s-g", s->key_hex);
    if ((dh = opendir(dir)) == NULL)
        return;
    while ((e = readdir(dh)) != NULL) {
        char *end;
        if (strncmp(e->d_name, prefix, strlen(prefix)) != 0)
            continue;
        unsigned long long g = strtoull(e->d_name + strlen(prefix), &end, 10);
        if (end != e->d_name + strlen(prefix) && strncmp(end, "-r", 2) == 0 && g < keep_from)
            if (rt_logs_remove(d->rt, e->d_name, NULL) < 0)
                continue; /* the next rollout tries again */
    }
    closedir(dh);
}

/* Swaps the new release in: state, routes, record. On failure the old one is back. */
static int switch_to(struct roll *ro, json_t *spec_json, struct dep_spec *spec, const char *hash,
                     struct dep_replica *old, unsigned *n_old, struct err *err)
{
    struct dep_svc *s = ro->s, saved;
    int rc;

    pthread_mutex_lock(&s->lock);
    saved = *s;
    *n_old = s->n_rep;
    memcpy(old, s->rep, s->n_rep * sizeof(*old));
    memcpy(s->rep, ro->reps, ro->n * sizeof(*old));
    s->n_rep = ro->n;
    s->spec_json = spec_json;
    s->spec = *spec;
    snprintf(s->spec_hash, sizeof(s->spec_hash), "%s", hash);
    s->gen = ro->gen;
    s->recorded = true;
    s->n_pending_ports = 0;
    dep_svc_health(s);
    pthread_mutex_unlock(&s->lock);
    if ((rc = dep_routes_apply(ro->d, err)) == 0 &&
        (rc = dep_record_write(ro->d, s, 0, NULL, 0, err)) == 0) {
        if (saved.spec_json != NULL)
            json_decref(saved.spec_json);
        dep_spec_clear(&saved.spec);
        return 0;
    }
    pthread_mutex_lock(&s->lock);
    memcpy(s->rep, old, *n_old * sizeof(*old));
    s->n_rep = *n_old;
    s->spec_json = saved.spec_json;
    s->spec = saved.spec;
    memcpy(s->spec_hash, saved.spec_hash, sizeof(s->spec_hash));
    s->gen = saved.gen;
    s->recorded = saved.recorded;
    dep_svc_health(s);
    pthread_mutex_unlock(&s->lock);
    struct err e2 = {0};
    if (dep_routes_apply(ro->d, &e2) < 0)
        atomic_store(&ro->d->routes_dirty, true);
    return rc;
}

/* Whether <s> runs <hash> with every replica ready. */
static bool runs_already(struct dep_svc *s, const char *hash, unsigned replicas)
{
    bool same;

    pthread_mutex_lock(&s->lock);
    same = s->recorded && strcmp(s->spec_hash, hash) == 0 && s->n_rep == replicas &&
           s->health != DEP_DEGRADED;
    for (unsigned i = 0; same && i < s->n_rep; i++)
        same = s->rep[i].ready;
    pthread_mutex_unlock(&s->lock);
    return same;
}

/* The spec as recorded: serialised with the resolved layout, parsed back (owning copies). */
static int spec_copy(const struct dep_spec *spec, const char *layout, json_t **json,
                     struct dep_spec *out, char hash[DEP_HASH_HEX + 1], struct err *err)
{
    struct sbuf b = SBUF_INIT(4u << 20);
    struct jw w;
    int rc;

    jw_init(&w, &b);
    dep_spec_json(&w, spec, layout);
    if (b.err != 0) {
        sbuf_release(&b);
        return err_set(err, ERR_LIMIT, "spec: over 4 MiB");
    }
    dep_sha256_hex(b.buf, b.len, hash);
    rc = json_read_object(sbuf_slice(&b), b.len, 8, json, err);
    sbuf_release(&b);
    if (rc < 0)
        return rc;
    if ((rc = dep_spec_read(*json, out, err)) < 0) {
        json_decref(*json);
        *json = NULL;
    }
    return rc;
}

static int roll_run(struct roll *ro, json_t *json, struct dep_spec *spec, const char *hash,
                    struct err *err)
{
    struct dep_replica old[DEP_REPLICAS_MAX];
    unsigned n_old = 0;
    int rc;

    if (ro->n > 0 && ((rc = start_all(ro, err)) < 0 || (rc = wait_ready(ro, err)) < 0))
        return rc;
    if (atomic_load(&dep_test_abandon))
        return err_set(err, ERR_INTERNAL, "abandoned (test)");
    if (cancelled(ro->h))
        return err_set(err, ERR_CANCELLED, "rollout cancelled");
    if ((rc = switch_to(ro, json, spec, hash, old, &n_old, err)) < 0)
        return rc;
    say(ro->h, "routes switched to generation %" PRIu64, ro->gen);
    if (n_old > 0 && ro->n > 0 && ro->d->cfg.drain_ms > 0)
        usleep((useconds_t)ro->d->cfg.drain_ms * 1000);
    dep_stop_ids(ro->d, old, n_old, (uint64_t)ro->d->cfg.stop_grace_ms);
    logs_prune(ro->d, ro->s, ro->gen > 0 ? ro->gen - 1 : 0);
    return 0;
}

static void result_say(struct roll *ro)
{
    if (ro->n == 0)
        snprintf(ro->res->message, sizeof(ro->res->message), "suspended");
    else if (ro->note[0] != '\0')
        snprintf(ro->res->message, sizeof(ro->res->message), "%u replica%s ready; %s", ro->n,
                 ro->n == 1 ? "" : "s", ro->note);
    else
        snprintf(ro->res->message, sizeof(ro->res->message), "%u replica%s ready", ro->n,
                 ro->n == 1 ? "" : "s");
}

/* After a failed rollout the record names the current release only again (or is gone when
 * there was none). */
static void record_restore(struct dep *d, struct dep_svc *s)
{
    char path[DEP_PATH_MAX];
    struct err e2 = {0};
    int rc;

    pthread_mutex_lock(&s->lock);
    if (s->recorded)
        rc = dep_record_write(d, s, 0, NULL, 0, &e2);
    else if ((rc = dep_record_path(d, s, path, sizeof(path), &e2)) == 0 && unlink(path) != 0 &&
             errno != ENOENT)
        rc = err_set(&e2, ERR_IO, "%s: %s", path, strerror(errno));
    pthread_mutex_unlock(&s->lock);
    if (rc < 0)
        LOG_WARN(&dep_log, "deployer.record_failed", LF_STR("error", e2.msg));
}

int dep_rollout(struct dep *d, const struct dep_key *key, const struct dep_spec *spec,
                const struct dep_hooks *hooks, struct dep_result *res, struct err *err)
{
    struct roll *ro = NULL;
    struct dep_spec copy = {0};
    json_t *json = NULL;
    char layout[DEP_PATH_MAX], hash[DEP_HASH_HEX + 1];
    struct dep_svc *s;
    int rc;

    memset(res, 0, sizeof(*res));
    if ((rc = key_check(key, err)) < 0 || (rc = spec_check(spec, err)) < 0 ||
        (rc = layout_resolve(d, spec, layout, sizeof(layout), err)) < 0 ||
        (rc = spec_copy(spec, layout, &json, &copy, hash, err)) < 0)
        return rc;
    s = dep_svc_get(d, key, true);
    pthread_mutex_lock(&s->roll);
    if (runs_already(s, hash, spec->replicas)) {
        res->unchanged = true;
        snprintf(res->message, sizeof(res->message), "%u replica%s ready", spec->replicas,
                 spec->replicas == 1 ? "" : "s");
        goto out;
    }
    if (cancelled(hooks)) {
        rc = err_set(err, ERR_CANCELLED, "rollout cancelled");
        goto out;
    }
    if (spec->replicas > 0 && (rc = image_fetch(spec, layout, hooks, err)) < 0)
        goto out;
    ro = xcalloc(1, sizeof(*ro));
    *ro = (struct roll){.d = d, .s = s, .spec = &copy, .h = hooks, .res = res, .n = spec->replicas};
    pthread_mutex_lock(&s->lock);
    ro->gen = s->next_gen > s->gen ? s->next_gen : s->gen + 1;
    s->next_gen = ro->gen + 1;
    pthread_mutex_unlock(&s->lock);
    rc = roll_run(ro, json, &copy, hash, err);
    if (rc == 0) {
        json = NULL; /* the service's now */
        memset(&copy, 0, sizeof(copy));
        result_say(ro);
        LOG_INFO(&dep_log, "deployer.rolled_out", LF_STR("service", s->label),
                 LF_UINT("generation", ro->gen), LF_UINT("replicas", ro->n));
    } else if (!atomic_load(&dep_test_abandon)) {
        dep_stop_ids(d, ro->reps, ro->n, 0);
        dep_ports_release(d, s);
        record_restore(d, s);
        if (res->message[0] == '\0')
            snprintf(res->message, sizeof(res->message), "%s", err->msg);
    }
out:
    pthread_mutex_unlock(&s->roll);
    free(ro);
    dep_spec_clear(&copy);
    if (json != NULL)
        json_decref(json);
    return rc;
}
