/*
 * The deployer's lifecycle: start-up with adoption of what a previous process left running,
 * removal of services, status.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "dep/dep-int.h"

static const struct log_ctx dep_log = {.svc = "deployer"};

/* Whether <id> is a replica of some record's current generation. d->lock held. */
static bool id_current(struct dep *d, const char *id)
{
    for (struct dep_svc *s = d->svcs; s != NULL; s = s->next)
        for (unsigned i = 0; i < s->n_rep; i++)
            if (strcmp(s->rep[i].id, id) == 0)
                return true;
    return false;
}

/* Stops the containers that belong to no record's current generation: what a rollout that did
 * not finish started (pending), and anything else left in the runtime. */
static int adopt(struct dep *d, struct err *err)
{
    static char stop[1024][RT_ID_MAX + 1];
    struct arena *a = arena_new(&(struct arena_opts){.budget = 8u << 20});
    struct rt_info *list = NULL;
    size_t n_stop = 0, n = 0;
    int rc;

    if ((rc = dep_records_load(d, stop, ARRAY_LEN(stop), &n_stop, err)) < 0 ||
        (rc = rt_adopt(d->rt, a, &list, &n, err)) < 0) {
        arena_free(a);
        return rc;
    }
    for (size_t i = 0; i < n; i++) {
        struct dep_replica r = {0};
        if (id_current(d, list[i].id))
            continue;
        snprintf(r.id, sizeof(r.id), "%s", list[i].id);
        LOG_INFO(&dep_log, "deployer.orphan_stopped", LF_STR("replica", r.id));
        dep_stop_ids(d, &r, 1, (uint64_t)d->cfg.stop_grace_ms);
    }
    /* Pending ones not running any more were already gone from rt_adopt()'s list. */
    for (size_t i = 0; i < n_stop; i++) {
        struct dep_replica r = {0};
        snprintf(r.id, sizeof(r.id), "%s", stop[i]);
        dep_stop_ids(d, &r, 1, 0);
    }
    arena_free(a);
    return 0;
}

/* The replicas that run answer now: routes can go to them before the supervisor's first round.
 * An exited one is left to the supervisor, which restarts it. */
static void probe_all(struct dep *d)
{
    for (struct dep_svc *s = d->svcs; s != NULL; s = s->next) {
        for (unsigned i = 0; i < s->n_rep; i++) {
            struct dep_replica *r = &s->rep[i];
            struct rt_state st;
            if (rt_state(d->rt, r->id, &st, NULL) == 0 && st.status == RT_RUNNING &&
                dep_probe(d, &s->spec, r, NULL, 0)) {
                r->ready = true;
                r->up_since_ms = time_mono_ms();
            }
        }
        pthread_mutex_lock(&s->lock);
        dep_svc_health(s);
        pthread_mutex_unlock(&s->lock);
    }
}

static int dirs_make(struct dep *d, const struct dep_deps *deps, struct err *err)
{
    const char *subs[] = {"services", "images", "rt"};
    char path[DEP_PATH_MAX];
    int n = snprintf(d->dir, sizeof(d->dir), "%s/deployer", deps->data_dir);
    int rc;

    if (n < 0 || (size_t)n + 4 >= DEP_RT_ROOT_MAX)
        return err_set(err, ERR_INVALID, "data_dir: path too long");
    for (size_t i = 0; i < ARRAY_LEN(subs); i++) {
        snprintf(path, sizeof(path), "%s/%s", d->dir, subs[i]);
        if ((rc = file_mkdirs(path, 0700, -1, err)) < 0)
            return rc;
    }
    return 0;
}

int dep_new(const struct dep_deps *deps, struct dep **out, struct err *err)
{
    struct dep *d = xcalloc(1, sizeof(*d));
    char root[DEP_PATH_MAX];
    int rc;

    *out = NULL;
    pthread_mutex_init(&d->lock, NULL);
    pthread_mutex_init(&d->routes_lock, NULL);
    pthread_mutex_init(&d->sup_lock, NULL);
    cond_init_mono(&d->sup_cv);
    if (deps->cfg != NULL)
        d->cfg = *deps->cfg;
    else
        dep_cfg_defaults(&d->cfg);
    if (d->cfg.port_min > d->cfg.port_max || d->cfg.port_min < 1) {
        rc = err_set(err, ERR_INVALID, "deployer.port_min must not pass deployer.port_max");
        goto fail;
    }
    d->store = deps->store;
    d->ingress = deps->ingress;
    if ((rc = dirs_make(d, deps, err)) < 0)
        goto fail;
    snprintf(root, sizeof(root), "%s/rt", d->dir);
    struct rt_opts ro = {.root = root,
                         .runc_root = deps->runc_root,
                         .relay_exe = deps->relay_exe,
                         .log_max_bytes = (uint64_t)d->cfg.log_max_bytes};
    if ((rc = rt_new(&ro, &d->rt, err)) < 0)
        goto fail;
    if (d->store != NULL && (rc = dep_usage_migrate(d->store, err)) < 0)
        goto fail;
    if ((rc = adopt(d, err)) < 0)
        goto fail;
    probe_all(d);
    if (dep_routes_apply(d, err) < 0) {
        LOG_WARN(&dep_log, "deployer.routes_failed", LF_STR("error", err->msg));
        atomic_store(&d->routes_dirty, true);
    }
    d->next_usage_ms = time_mono_ms() + (uint64_t)d->cfg.usage_interval_ms;
    if ((rc = dep_supervisor_start(d, err)) < 0)
        goto fail;
    *out = d;
    return 0;
fail:
    dep_free(d);
    return rc;
}

void dep_free(struct dep *d)
{
    if (d == NULL)
        return;
    dep_supervisor_stop(d);
    while (d->svcs != NULL) {
        struct dep_svc *s = d->svcs;
        d->svcs = s->next;
        dep_svc_free(s);
    }
    rt_free(d->rt);
    free(d->last_routes);
    pthread_mutex_destroy(&d->lock);
    pthread_mutex_destroy(&d->routes_lock);
    pthread_mutex_destroy(&d->sup_lock);
    pthread_cond_destroy(&d->sup_cv);
    free(d);
}

int dep_remove(struct dep *d, const struct dep_key *key, struct err *err)
{
    struct dep_svc *s = dep_svc_get(d, key, false);
    struct dep_replica old[DEP_REPLICAS_MAX];
    char path[DEP_PATH_MAX];
    unsigned n_old;
    int rc;

    if (s == NULL)
        return 0;
    pthread_mutex_lock(&s->roll);
    pthread_mutex_lock(&s->lock);
    n_old = s->n_rep;
    memcpy(old, s->rep, n_old * sizeof(*old));
    s->n_rep = 0;
    s->recorded = false;
    dep_spec_clear(&s->spec);
    if (s->spec_json != NULL)
        json_decref(s->spec_json);
    s->spec_json = NULL;
    s->spec_hash[0] = '\0';
    s->next_gen = s->gen + 1;
    dep_svc_health(s);
    pthread_mutex_unlock(&s->lock);
    if ((rc = dep_routes_apply(d, err)) < 0)
        atomic_store(&d->routes_dirty, true);
    dep_stop_ids(d, old, n_old, (uint64_t)d->cfg.stop_grace_ms);
    if ((rc = dep_record_path(d, s, path, sizeof(path), err)) == 0 && unlink(path) != 0 &&
        errno != ENOENT)
        rc = err_set(err, ERR_IO, "%s: %s", path, strerror(errno));
    pthread_mutex_unlock(&s->roll);
    return rc;
}

int dep_remove_project(struct dep *d, const char *workspace, const char *project, const char *env,
                       struct err *err)
{
    struct dep_key keys[256];
    size_t n = 0;
    int rc = 0;

    /* Services are never unlisted, so their names stay valid after d->lock is let go. */
    pthread_mutex_lock(&d->lock);
    for (struct dep_svc *s = d->svcs; s != NULL && n < ARRAY_LEN(keys); s = s->next)
        if (strcmp(s->ws, workspace) == 0 && strcmp(s->project, project) == 0 &&
            (env == NULL || strcmp(s->env, env) == 0))
            keys[n++] = (struct dep_key){s->ws, s->project, s->env, s->service};
    pthread_mutex_unlock(&d->lock);
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = dep_remove(d, &keys[i], err);
    return rc;
}

int dep_status(struct dep *d, const struct dep_key *key, struct dep_status *out, struct err *err)
{
    struct dep_svc *s = dep_svc_get(d, key, false);

    (void)err;
    memset(out, 0, sizeof(*out));
    if (s == NULL)
        return 0;
    pthread_mutex_lock(&s->lock);
    if (s->recorded) {
        out->health = s->health;
        snprintf(out->message, sizeof(out->message), "%s", s->message);
        snprintf(out->digest, sizeof(out->digest), "%s",
                 s->spec.digest != NULL ? s->spec.digest : "");
        out->replicas = s->spec.replicas;
        for (unsigned i = 0; i < s->n_rep; i++) {
            out->ready += s->rep[i].ready;
            if (out->port == 0)
                out->port = s->rep[i].app_port;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return 0;
}

int dep_stop_all(const char *data_dir, const char *runc_root, uint64_t grace_ms, size_t *stopped,
                 struct err *err)
{
    char root[DEP_PATH_MAX];
    struct arena *a = arena_new(NULL);
    struct rt_info *list = NULL;
    struct rt *rt = NULL;
    size_t n = 0;
    int rc;

    *stopped = 0;
    snprintf(root, sizeof(root), "%s/deployer/rt", data_dir);
    if (access(root, F_OK) != 0) {
        arena_free(a);
        return 0; /* nothing ever ran here */
    }
    rc = rt_new(&(struct rt_opts){.root = root, .runc_root = runc_root}, &rt, err);
    if (rc == 0)
        rc = rt_adopt(rt, a, &list, &n, err);
    for (size_t i = 0; rc == 0 && i < n; i++)
        if ((rc = rt_stop(rt, list[i].id, grace_ms, err)) == 0)
            (*stopped)++;
    rt_free(rt);
    arena_free(a);
    return rc;
}
