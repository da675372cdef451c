/*
 * gateway API: deploys and the logs of what runs (schema/deploys.graphql). The workflow itself
 * is deploy.c; this file turns GraphQL arguments into gw_deploy_req, reads runs back, and
 * streams logs.
 *
 * Both log streams (deployLogs, serviceLogs) are pollers: every POLL_MS a worker reads what is
 * new (the workflow's log from the gateway's store, the replicas' log files through the
 * deployer) and the loop hands it to the subscriber. Nothing waits on a worker between polls, so
 * a thousand idle streams hold no thread. The poller lives on the subscriber's loop: its timer,
 * its flags and its end are touched there only.
 */
#include <stdio.h>
#include <stdlib.h>

#include "dep/dep.h"
#include "flow/flow.h"
#include "gateway/gw-int.h"
#include "gql/gql.h"

#define POLL_MS      250
#define BATCH_LINES  500
#define TAIL_MAX     10000
#define STREAM_ARENA (8u << 20)

/* ---------------------------------------------------------------- arguments */

struct svc_args {
    const char *project, *env, *service;
};

/* projectId, environment (or <env_name>) and service of <in> (NULL: of the field). */
static int svc_args(struct gql_rctx *rc, const struct gql_val *in, const char *env_name,
                    struct svc_args *out, struct err *err)
{
    int rc_;

    if ((rc_ = gw_api_slug_arg(rc, in, "projectId", "projectId", false, &out->project, err)) < 0 ||
        (rc_ = gw_api_slug_arg(rc, in, env_name, env_name, false, &out->env, err)) < 0 ||
        (rc_ = gw_api_slug_arg(rc, in, "service", "service", false, &out->service, err)) < 0)
        return rc_;
    return 0;
}

static int run_value(struct gql_rctx *rc, const struct gw_deploy_run *run, struct gql_val *out,
                     struct err *err)
{
    return gw_api_ptr(rc, run, sizeof(*run), "DeployRun", out, err);
}

/* Deploy <id> of the caller's workspace as a DeployRun. */
static int run_get(struct gql_rctx *rc, struct gw_caller *c, const char *id, bool or_null,
                   struct gql_val *out, struct err *err)
{
    struct gw_deploy_run run;
    int rc_ = gw_deploy_get(c->g, gql_rctx_arena(rc), c->workspace, id, &run, err);

    if (rc_ == ERR_NOTFOUND && or_null) {
        *out = GQL_NULL;
        return 0;
    }
    return rc_ < 0 ? rc_ : run_value(rc, &run, out, err);
}

/* The id argument: a workflow id (a UUID); anything else names no deploy. */
static int id_arg(struct gql_rctx *rc, const char **out, struct err *err)
{
    struct slice s;
    int rc_ = gw_api_text(rc, NULL, "id", "id", 36, false, &s, err);

    if (rc_ < 0)
        return rc_;
    if (!id_valid(s))
        return err_set(err, ERR_NOTFOUND, "deploy %.*s does not exist", SLICE_ARG(s));
    *out = arena_strndup(gql_rctx_arena(rc), s.ptr, s.len);
    return *out ? 0 : err_set(err, ERR_LIMIT, "out of request memory");
}

/* ---------------------------------------------------------------- queries */

static int deploy_status(struct gql_rctx *rc, const struct gql_val *parent, struct gql_val *out,
                         struct err *err)
{
    struct gw_caller *c = gw_api_caller(rc);
    const char *id;
    int rc_ = id_arg(rc, &id, err);

    (void)parent;
    if (rc_ == ERR_NOTFOUND) {
        *out = GQL_NULL;
        return 0;
    }
    return rc_ < 0 ? rc_ : run_get(rc, c, id, true, out, err);
}

static int active_deployment(struct gql_rctx *rc, const struct gql_val *parent, struct gql_val *out,
                             struct err *err)
{
    struct gw_caller *c = gw_api_caller(rc);
    struct gw_deploy_run run;
    struct svc_args a;
    bool found;
    int rc_ = svc_args(rc, NULL, "environment", &a, err);

    (void)parent;
    if (rc_ == 0)
        rc_ = gw_deploy_active(c->g, gql_rctx_arena(rc), c->workspace, a.project, a.env, a.service,
                               &run, &found, err);
    if (rc_ < 0)
        return rc_;
    if (!found) {
        *out = GQL_NULL;
        return 0;
    }
    return run_value(rc, &run, out, err);
}

/* DeployRun.phase and .rolloutHealth: enum values held as strings. */
static int run_enum(struct gql_rctx *rc, const struct gql_val *parent, struct gql_val *out,
                    struct err *err)
{
    const struct gw_deploy_run *run = parent->ptr.p;
    const char *v = gql_rctx_udata(rc) == NULL ? run->phase : run->health;

    (void)err;
    *out = v ? GQL_ENUM(slice_from_cstr(v)) : GQL_NULL;
    return 0;
}

/* ---------------------------------------------------------------- mutations */

/* Starts <r> as the caller and answers with the new run. */
static int start(struct gql_rctx *rc, struct gw_caller *c, struct gw_mut *m,
                 const struct gw_deploy_req *r, struct gql_val *out, struct err *err)
{
    char id[37];
    int rc_;

    m->target = slice_from_cstr(
        arena_printf(gql_rctx_arena(rc), "%s/%s/%s", r->project, r->env, r->service));
    if ((rc_ = gw_api_require_active(c, err)) < 0 || (rc_ = gw_deploy_start(c, r, id, err)) < 0)
        return rc_;
    m->detail = arena_printf(gql_rctx_arena(rc), "{\"deploy\":\"%s\"}", id);
    return out ? run_get(rc, c, id, false, out, err) : 0;
}

static int deploy(struct gql_rctx *rc, struct gw_caller *c, struct gw_mut *m, struct gql_val *out,
                  struct err *err)
{
    const struct gql_val *in = gql_arg(rc, "input");
    struct slice ref;
    struct svc_args a;
    int rc_;

    if ((rc_ = svc_args(rc, in, "environment", &a, err)) < 0 ||
        (rc_ = gw_api_text(rc, in, "gitRef", "gitRef", 255, true, &ref, err)) < 0)
        return rc_;
    struct gw_deploy_req r = {.kind = GW_DEPLOY_BUILD,
                              .project = a.project,
                              .env = a.env,
                              .service = a.service,
                              .git_ref = ref.ptr};
    return start(rc, c, m, &r, out, err);
}

static int rollback(struct gql_rctx *rc, struct gw_caller *c, struct gw_mut *m, struct gql_val *out,
                    struct err *err)
{
    const struct gql_val *in = gql_arg(rc, "input");
    struct slice tag;
    struct svc_args a;
    int rc_;

    if ((rc_ = svc_args(rc, in, "environment", &a, err)) < 0 ||
        (rc_ = gw_api_text(rc, in, "imageTag", "imageTag", 128, false, &tag, err)) < 0)
        return rc_;
    struct gw_deploy_req r = {.kind = GW_DEPLOY_ROLLBACK,
                              .project = a.project,
                              .env = a.env,
                              .service = a.service,
                              .tag = tag.ptr};
    if ((rc_ = start(rc, c, m, &r, NULL, err)) < 0)
        return rc_;
    *out = GQL_BOOL(true);
    return 0;
}

static int promote(struct gql_rctx *rc, struct gw_caller *c, struct gw_mut *m, struct gql_val *out,
                   struct err *err)
{
    const struct gql_val *in = gql_arg(rc, "input");
    const char *from;
    struct svc_args a;
    int rc_;

    if ((rc_ = svc_args(rc, in, "toEnvironment", &a, err)) < 0 ||
        (rc_ = gw_api_slug_arg(rc, in, "fromEnvironment", "fromEnvironment", false, &from, err)) <
            0)
        return rc_;
    if (strcmp(from, a.env) == 0)
        return err_set(err, ERR_INVALID, "toEnvironment must differ from fromEnvironment");
    struct gw_deploy_req r = {.kind = GW_DEPLOY_PROMOTE,
                              .project = a.project,
                              .env = a.env,
                              .service = a.service,
                              .from_env = from};
    if ((rc_ = start(rc, c, m, &r, NULL, err)) < 0)
        return rc_;
    return gw_api_service_value(rc, c, a.project, a.env, a.service, out, err);
}

static int cancel_deploy(struct gql_rctx *rc, struct gw_caller *c, struct gw_mut *m,
                         struct gql_val *out, struct err *err)
{
    struct gw_deploy_run run;
    const char *id;
    int rc_;

    if ((rc_ = id_arg(rc, &id, err)) < 0)
        return rc_;
    m->target = slice_from_cstr(id);
    if ((rc_ = gw_deploy_get(c->g, gql_rctx_arena(rc), c->workspace, id, &run, err)) < 0)
        return rc_;
    rc_ = flow_cancel(c->g->flow, slice_from_cstr(id), err);
    if (rc_ == ERR_CONFLICT)
        return err_set(err, ERR_CONFLICT, "deploy %s has ended already (%s)", id, run.phase);
    if (rc_ < 0)
        return rc_;
    return run_get(rc, c, id, false, out, err);
}

/* ---------------------------------------------------------------- pollers */

struct poller;
/* On a worker: reads what is new into the poller's batch; sets p->done when nothing more will
 * come, p->err for an error that ends the stream. */
typedef void poll_work_fn(struct poller *p);
/* On the loop: gives the batch to the subscriber. */
typedef void poll_give_fn(struct poller *p);

struct poller {
    struct gw *g;
    struct ev *loop;
    struct ev_timer *timer;
    bool busy, cancelled;
    gql_emit_fn *emit;
    void *sink;
    void (*end)(void *owner, const struct err *err);
    void *owner;
    poll_work_fn *work;
    poll_give_fn *give;
    struct arena *batch; /* the lines of one poll, reset before each */
    bool done;
    struct err err;
    /* deployLogs */
    char ws[GW_ID_MAX + 1], id[37];
    uint64_t next;
    bool checked;
    struct flow_log_line *lines;
    size_t nlines;
    /* serviceLogs */
    char project[GW_SLUG_MAX + 1], env[GW_SLUG_MAX + 1], service[GW_SLUG_MAX + 1];
    size_t tail;
    struct dep_log_cursor *cur;
    struct dep_log_line *entries;
    size_t nentries, cap;
};

static void poll_schedule(struct poller *p, uint64_t ms);

static void poller_free(struct poller *p)
{
    dep_logs_close(p->cur);
    arena_free(p->batch);
    free(p);
}

static void poll_work(void *arg)
{
    struct poller *p = arg;

    arena_reset(p->batch);
    p->work(p);
}

static void poll_done(void *arg)
{
    struct poller *p = arg;

    p->busy = false;
    if (p->cancelled) {
        poller_free(p);
        return;
    }
    if (p->err.code != 0) {
        p->end(p->owner, &p->err); /* cancels the stream: <p> is freed by then */
        return;
    }
    p->give(p);
    if (p->cancelled) /* the subscriber went while it was given lines */
        return;
    if (p->done && p->end != NULL) {
        p->end(p->owner, NULL);
        return;
    }
    poll_schedule(p, POLL_MS);
}

static void poll_fire(void *arg)
{
    struct poller *p = arg;

    p->timer = NULL;
    p->busy = true;
    pool_run(p->g->workers, poll_work, poll_done, p);
}

static void poll_schedule(struct poller *p, uint64_t ms)
{
    p->timer = ev_timer_add(p->loop, ms, poll_fire, p);
}

static void poll_cancel(void *state)
{
    struct poller *p = state;

    p->cancelled = true;
    if (p->timer != NULL)
        ev_timer_cancel(p->loop, p->timer);
    p->timer = NULL;
    if (!p->busy)
        poller_free(p);
}

static struct poller *poller_new(struct gw_caller *c, gql_emit_fn *emit, void *sink,
                                 poll_work_fn *work, poll_give_fn *give)
{
    struct poller *p = xcalloc(1, sizeof(*p));

    p->g = c->g;
    p->loop = ev_current();
    p->emit = emit;
    p->sink = sink;
    p->end = c->stream_end;
    p->owner = c->stream_owner;
    p->work = work;
    p->give = give;
    p->batch = arena_new(&(struct arena_opts){.budget = STREAM_ARENA});
    snprintf(p->ws, sizeof(p->ws), "%s", c->workspace);
    return p;
}

/* ---------------------------------------------------------------- deployLogs */

static void deploy_logs_work(struct poller *p)
{
    struct flow_outcome o;
    uint64_t skipped = 0;
    int rc = 0;

    p->nlines = 0;
    if (!p->checked) {
        struct gw_deploy_run run;

        rc = gw_deploy_get(p->g, p->batch, p->ws, p->id, &run, &p->err);
        p->checked = rc == 0;
    }
    /* The status first: a deploy final before the read has every line in that read. */
    if (rc == 0)
        rc = flow_wait(p->g->flow, p->batch, slice_from_cstr(p->id), 0, &o, &p->err);
    if (rc == ERR_TIMEOUT) /* not final yet: o holds its status */
        rc = 0, p->err = (struct err){0};
    if (rc == 0)
        rc = flow_log_read(p->g->store, p->batch, slice_from_cstr(p->id), p->next, BATCH_LINES,
                           &p->lines, &p->nlines, &skipped, &p->err);
    if (rc < 0)
        return;
    if (p->nlines > 0)
        p->next = p->lines[p->nlines - 1].n + 1;
    p->done = p->nlines < BATCH_LINES &&
              (o.status == FLOW_SUCCEEDED || o.status == FLOW_FAILED || o.status == FLOW_CANCELLED);
}

static void deploy_logs_give(struct poller *p)
{
    for (size_t i = 0; i < p->nlines && !p->cancelled; i++) {
        struct slice t = p->lines[i].text;
        const char *s = arena_strndup(p->batch, t.ptr, t.len);

        if (s != NULL)
            p->emit(p->sink, &GQL_STRING(slice_from_cstr(s)));
    }
}

static int deploy_logs_subscribe(struct gql_rctx *rc, gql_emit_fn *emit, void *sink,
                                 void (**cancel)(void *state), void **state, struct err *err)
{
    struct gw_caller *c = gw_api_caller(rc);
    struct poller *p;
    struct slice id;
    int rc_ = gw_api_text(rc, NULL, "id", "id", 36, false, &id, err);

    if (rc_ < 0)
        return rc_;
    if (!id_valid(id))
        return err_set(err, ERR_NOTFOUND, "deploy %.*s does not exist", SLICE_ARG(id));
    if (c->g->flow == NULL)
        return err_set(err, ERR_UNAVAILABLE, "deploys do not run in this process");
    p = poller_new(c, emit, sink, deploy_logs_work, deploy_logs_give);
    memcpy(p->id, id.ptr, id.len);
    poll_schedule(p, 0);
    *cancel = poll_cancel;
    *state = p;
    return 0;
}

/* ---------------------------------------------------------------- serviceLogs */

static bool entry_keep(void *arg, const struct dep_log_line *l)
{
    struct poller *p = arg;
    struct dep_log_line *e;

    if (p->nentries == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        struct dep_log_line *n = arena_alloc(p->batch, cap * sizeof(*n));

        if (n == NULL)
            return false; /* the rest comes with the next poll */
        if (p->nentries)
            memcpy(n, p->entries, p->nentries * sizeof(*n));
        p->entries = n;
        p->cap = cap;
    }
    e = &p->entries[p->nentries];
    e->replica = arena_strndup(p->batch, l->replica, strlen(l->replica));
    e->timestamp = arena_strndup(p->batch, l->timestamp, strlen(l->timestamp));
    e->stream = l->stream;
    e->text = slice_dup(p->batch, l->text);
    if (e->replica == NULL || e->timestamp == NULL || e->text.ptr == NULL)
        return false;
    p->nentries++;
    return true;
}

/* The cursor is opened by the first poll, on a worker: it reads the replicas' files. */
static void service_logs_work(struct poller *p)
{
    struct dep_key key = {p->ws, p->project, p->env, p->service};

    p->nentries = p->cap = 0;
    p->entries = NULL;
    if (p->cur == NULL && dep_logs_open(p->g->dep, &key, p->tail, &p->cur, &p->err) < 0)
        return;
    if (dep_logs_read(p->cur, entry_keep, p, &p->err) < 0)
        return;
}

/* What ServiceLogEntry resolves from. */
struct log_entry_v {
    const char *line, *replica, *timestamp;
};

static void service_logs_give(struct poller *p)
{
    for (size_t i = 0; i < p->nentries && !p->cancelled; i++) {
        struct log_entry_v v = {.line = p->entries[i].text.ptr,
                                .replica = p->entries[i].replica,
                                .timestamp = p->entries[i].timestamp};

        p->emit(p->sink, &GQL_PTR(&v, "ServiceLogEntry"));
    }
}

static int service_logs_subscribe(struct gql_rctx *rc, gql_emit_fn *emit, void *sink,
                                  void (**cancel)(void *state), void **state, struct err *err)
{
    struct gw_caller *c = gw_api_caller(rc);
    const struct gql_val *tail = gql_arg(rc, "tailLines");
    struct svc_args a;
    struct poller *p;
    int rc_ = svc_args(rc, NULL, "environment", &a, err);

    if (rc_ < 0)
        return rc_;
    if (tail != NULL && tail->kind == GQL_V_INT && (tail->i < 0 || tail->i > TAIL_MAX))
        return err_set(err, ERR_INVALID, "tailLines must be 0..%d", TAIL_MAX);
    if (c->g->dep == NULL)
        return err_set(err, ERR_UNAVAILABLE, "the deployer does not run in this process");
    p = poller_new(c, emit, sink, service_logs_work, service_logs_give);
    snprintf(p->project, sizeof(p->project), "%s", a.project);
    snprintf(p->env, sizeof(p->env), "%s", a.env);
    snprintf(p->service, sizeof(p->service), "%s", a.service);
    p->tail = tail != NULL && tail->kind == GQL_V_INT ? (size_t)tail->i : 100;
    poll_schedule(p, 0);
    *cancel = poll_cancel;
    *state = p;
    return 0;
}

/* ---------------------------------------------------------------- bindings */

#define RUN_F(f, k, m)                                                                             \
    {                                                                                              \
        "DeployRun", (f), (k), offsetof(struct gw_deploy_run, m), NULL, NULL, 0, NULL              \
    }
#define LOG_F(f, m)                                                                                \
    {                                                                                              \
        "ServiceLogEntry", (f), GW_F_STR, offsetof(struct log_entry_v, m), NULL, NULL, 0, NULL     \
    }

const struct gw_field_bind gw_api_deploys_binds[] = {
    {"Query", "deployStatus", GW_F_FN, 0, deploy_status, NULL, GQL_BLOCKING, NULL},
    {"Query", "activeDeployment", GW_F_FN, 0, active_deployment, NULL, GQL_BLOCKING, NULL},
    GW_MUTATION("deploy", "deploy.start", false, deploy),
    GW_MUTATION("cancelDeploy", "deploy.cancel", false, cancel_deploy),
    GW_MUTATION("rollback", "deploy.rollback", false, rollback),
    GW_MUTATION("promote", "deploy.promote", false, promote),
    {"Subscription", "deployLogs", GW_F_FN, 0, NULL, deploy_logs_subscribe, 0, NULL},
    {"Subscription", "serviceLogs", GW_F_FN, 0, NULL, service_logs_subscribe, 0, NULL},
    RUN_F("id", GW_F_STR, id),
    {"DeployRun", "phase", GW_F_FN, 0, run_enum, NULL, 0, NULL},
    RUN_F("buildId", GW_F_STR, build_id),
    RUN_F("imageRef", GW_F_STR, image_ref),
    RUN_F("digest", GW_F_STR, digest),
    RUN_F("error", GW_F_STR, error),
    RUN_F("startedAt", GW_F_TIME, started_ms),
    RUN_F("finishedAt", GW_F_TIME, finished_ms),
    {"DeployRun", "rolloutHealth", GW_F_FN, 0, run_enum, NULL, 0, "health"},
    RUN_F("rolloutMessage", GW_F_STR, message),
    LOG_F("line", line),
    LOG_F("replica", replica),
    LOG_F("timestamp", timestamp),
};
const size_t gw_api_deploys_nbinds = ARRAY_LEN(gw_api_deploys_binds);
