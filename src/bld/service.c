/*
 * The builder service (include/bld/bld.h, "service"; docs/builds.md, "Builds as workflows").
 *
 * A build is the workflow "bld.build" with one step, "build", which runs the whole pipeline
 * (bld_build: clone, install, build, layers) and then the push. The step is not retried: after a
 * crash the engine runs the workflow again and, the step having no recorded result, the step
 * runs again from the clone; bld_build's caches make that cheap and give the same image.
 *
 * The "builds" table is what callers read. It is written by upserts that never leave a final
 * state, from three places that may race: bld_start_build (QUEUED, after flow_start, so the
 * workflow may already have written its first phase: the start's write then does nothing), the
 * pipeline's phase hook, and the end of the workflow (or bld_cancel_build for a workflow that
 * nobody runs, which the engine ends without calling it). A status read also looks at the
 * workflow itself, so a row left behind (a workflow failed by the engine) still ends.
 */
#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "base/base.h"
#include "bld/bld-int.h"
#include "flow/flow.h"

#define TOKEN_SKEW_S 30
#define WF_NAME      "bld.build"
#define QUEUE        "bld"
#define INPUT_MAX    (64u << 10)
#define LOG_BATCH    500
#define PATH_BYTES   1024

struct bld_svc {
    struct store *store;
    struct auth_keyring *keys;
    char *issuer, *data_dir, *base_cache;
    struct bld_cfg cfg; /* ca_bundle copied */
    struct flow *flow;
    pthread_mutex_t lock; /* guards reg */
    struct bld_registry reg;
};

static const struct log_ctx bld_log = {.svc = "builder"};

static const char *const state_names[] = {"QUEUED",    "CLONING", "BUILDING", "PUSHING",
                                          "SUCCEEDED", "FAILED",  "CANCELLED"};

const char *bld_state_name(enum bld_state s)
{
    return (unsigned)s < ARRAY_LEN(state_names) ? state_names[s] : "?";
}

static enum bld_state state_parse(struct slice s)
{
    for (size_t i = 0; i < ARRAY_LEN(state_names); i++)
        if (slice_eq_cstr(s, state_names[i]))
            return (enum bld_state)i;
    return BLD_FAILED;
}

bool bld_name_valid(const char *s)
{
    return s != NULL && strlen(s) <= 63 && oci_name_component_valid(slice_from_cstr(s));
}

/* ---------------------------------------------------------------- configuration */

#define HOST_CA "/etc/ssl/certs/ca-certificates.crt"

static const struct cfg_key bld_keys[] = {
    CFG_SIZE("builder.memory", struct bld_cfg, memory, 2LL << 30, 0, 1LL << 40, 0,
             "Memory (RAM and swap together) of each install or build step; past it the build "
             "fails with \"build needed more than N MiB\". 0: no limit."),
    CFG_INT("builder.cpu", struct bld_cfg, cpu_millis, 2000, 0, 1024000, 0,
            "CPU of each install or build step in thousandths of a core (2000: two cores). "
            "0: no limit."),
    CFG_INT("builder.pids", struct bld_cfg, pids, 1024, 0, 1 << 22, 0,
            "Processes and threads of each install or build step at once. 0: no limit."),
    CFG_DURATION("builder.timeout", struct bld_cfg, timeout_ms, 30LL * 60000, 0, 86400000, 0,
                 "Wall-clock time of a whole build, clone to push. 0: no limit."),
    CFG_INT("builder.concurrency", struct bld_cfg, concurrency, 2, 1, 256, 0,
            "Builds one process runs at once; more wait in state QUEUED."),
    CFG_STR("builder.ca_bundle", struct bld_cfg, ca_bundle, "", 0,
            "A host file of PEM certificates that install and build steps trust instead of "
            "the build image's own. Empty: the host's " HOST_CA " when there is one, so builds "
            "trust what this machine trusts (a TLS-intercepting proxy's CA too), else the "
            "image's Debian bundle. \"image\": always the image's."),
    CFG_STR("builder.base_cache", struct bld_cfg, base_cache, "", 0,
            "Where the Debian packages and root filesystems of the build images are kept; it "
            "holds no user data, so installations on one machine may share it. Empty: "
            "<data_dir>/builder/base."),
};

struct cfg_section bld_cfg_section(struct bld_cfg *target)
{
    return (struct cfg_section){"builder", bld_keys, ARRAY_LEN(bld_keys), target};
}

/* ---------------------------------------------------------------- the builds table */

static const struct store_migration migrations[] = {
    {1, "builds",
     "CREATE TABLE builds ("
     " id TEXT PRIMARY KEY,"
     " workspace TEXT NOT NULL,"
     " project TEXT NOT NULL,"
     " service TEXT NOT NULL,"
     " source_url TEXT NOT NULL," /* the password redacted */
     " ref TEXT NOT NULL,"
     " context_path TEXT NOT NULL,"
     " phase TEXT NOT NULL,"
     " commit_id TEXT NOT NULL DEFAULT '',"
     " digest TEXT NOT NULL DEFAULT '',"
     " image_ref TEXT NOT NULL DEFAULT '',"
     " error TEXT NOT NULL DEFAULT '',"
     " created BIGINT NOT NULL,"
     " started BIGINT,"
     " finished BIGINT);"
     "CREATE INDEX builds_project ON builds (workspace, project, service)",
     NULL, NULL},
};

/* One build as its workflow's input describes it. Strings belong to <json>. */
struct job {
    json_t *json;
    const char *id, *ws, *sub, *role, *project, *service, *url, *ref, *context_path;
    int64_t created;
};

/* What a write of the row sets; NULL and 0 leave a column as it is. */
struct row_set {
    enum bld_state state;
    const char *commit, *digest, *image_ref, *error;
};

static const char *opt(const char *s)
{
    return s ? s : "";
}

/* Upserts the row of <j> with <w>, unless it is final already. */
static int row_put(struct bld_svc *s, const struct job *j, const struct row_set *w, struct err *err)
{
    struct sbuf url = SBUF_INIT(4096);
    int64_t now = (int64_t)time_wall_ms();
    int rc;

    bld_url_redact(j->url, &url);
    struct store_val args[] = {
        SV_CSTR(j->id),
        SV_CSTR(j->ws),
        SV_CSTR(j->project),
        SV_CSTR(j->service),
        SV_TEXT(sbuf_slice(&url)),
        SV_CSTR(opt(j->ref)),
        SV_CSTR(opt(j->context_path)),
        SV_CSTR(bld_state_name(w->state)),
        SV_CSTR(opt(w->commit)),
        SV_CSTR(opt(w->digest)),
        SV_CSTR(opt(w->image_ref)),
        SV_CSTR(opt(w->error)),
        SV_INT(j->created),
        w->state == BLD_QUEUED ? SV_NULL : SV_INT(now),
        bld_state_final(w->state) ? SV_INT(now) : SV_NULL,
    };
    rc = store_exec1(s->store,
                     "INSERT INTO builds (id, workspace, project, service, source_url, ref,"
                     " context_path, phase, commit_id, digest, image_ref, error, created, started,"
                     " finished) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                     " ON CONFLICT (id) DO UPDATE SET phase = excluded.phase,"
                     " commit_id = CASE WHEN excluded.commit_id = '' THEN builds.commit_id"
                     "  ELSE excluded.commit_id END,"
                     " digest = excluded.digest, image_ref = excluded.image_ref,"
                     " error = excluded.error,"
                     " started = COALESCE(builds.started, excluded.started),"
                     " finished = excluded.finished"
                     " WHERE builds.phase NOT IN ('SUCCEEDED', 'FAILED', 'CANCELLED')"
                     " AND excluded.phase <> 'QUEUED'",
                     args, ARRAY_LEN(args), NULL, err);
    sbuf_release(&url);
    return rc;
}

/* Logged, not returned: the row is what callers see, the workflow is what happens. */
static void row_put_logged(struct bld_svc *s, const struct job *j, const struct row_set *w)
{
    struct err err = {0};

    if (row_put(s, j, w, &err) < 0)
        LOG_WARN(&bld_log, "bld.row_not_written", LF_STR("build", j->id),
                 LF_STR("phase", bld_state_name(w->state)), LF_STR("error", err.msg));
}

/* ---------------------------------------------------------------- the job */

/* <id> NULL: the input's own "id" (a step's input carries its workflow's id). */
static int job_parse(struct slice input, const char *id, struct job *j, struct err *err)
{
    json_error_t je;

    memset(j, 0, sizeof(*j));
    j->json = json_loadb(input.ptr, input.len, 0, &je);
    if (j->json == NULL ||
        json_unpack_ex(j->json, &je, 0, "{s:s, s:s, s:s, s:s, s:s, s:s, s?s, s?s, s:I, s?s}", "ws",
                       &j->ws, "sub", &j->sub, "role", &j->role, "project", &j->project, "service",
                       &j->service, "url", &j->url, "ref", &j->ref, "context_path",
                       &j->context_path, "created", &j->created, "id", &j->id) != 0) {
        json_decref(j->json);
        j->json = NULL;
        return err_set(err, ERR_INVALID, "build input: %.150s", je.text);
    }
    if (id != NULL)
        j->id = id;
    if (j->id == NULL) {
        json_decref(j->json);
        j->json = NULL;
        return err_set(err, ERR_INVALID, "build input: no id");
    }
    return 0;
}

static void job_release(struct job *j)
{
    json_decref(j->json);
    j->json = NULL;
}

static int job_input(const struct auth_claims *who, const struct bld_call *c, struct sbuf *out)
{
    struct jw w;

    jw_init(&w, out);
    jw_obj_begin(&w);
    jw_key(&w, "ws");
    jw_str(&w, who->ws);
    jw_key(&w, "sub");
    jw_str(&w, who->sub);
    jw_key(&w, "role");
    jw_str(&w, who->role);
    jw_key(&w, "project");
    jw_str(&w, c->project);
    jw_key(&w, "service");
    jw_str(&w, c->service);
    jw_key(&w, "url");
    jw_str(&w, c->url);
    if (c->ref != NULL) {
        jw_key(&w, "ref");
        jw_str(&w, c->ref);
    }
    if (c->context_path != NULL) {
        jw_key(&w, "context_path");
        jw_str(&w, c->context_path);
    }
    jw_key(&w, "created");
    jw_int(&w, (int64_t)time_wall_ms());
    jw_obj_end(&w);
    return out->err;
}

/* <data_dir>/builder/cache/<workspace>/<project>: every name checked by bld_name_valid(). */
static void cache_dir(const struct bld_svc *s, const char *ws, const char *project, char *out,
                      size_t n)
{
    snprintf(out, n, "%s/builder/cache/%s/%s", s->data_dir, ws, project);
}

/* ---------------------------------------------------------------- the step */

/* The state of one running step, shared with its hooks and its watcher thread. */
struct run {
    struct bld_svc *s;
    struct flow_call *call;
    const struct job *j;
    _Atomic bool cancel, done;
};

static void on_phase(void *arg, enum bld_phase p)
{
    struct run *r = arg;
    enum bld_state st = p == BLD_PHASE_CLONING    ? BLD_CLONING
                        : p == BLD_PHASE_BUILDING ? BLD_BUILDING
                                                  : BLD_PUSHING;

    row_put_logged(r->s, r->j, &(struct row_set){.state = st});
}

static void on_line(void *arg, struct slice line)
{
    struct run *r = arg;

    flow_call_log_line(r->call, line);
}

/* The sandbox polls a flag, the engine fires a token: this thread turns one into the other
 * until the step is done. */
static void *watch(void *arg)
{
    struct run *r = arg;

    while (!atomic_load(&r->done))
        if (flow_call_wait(r->call, 100)) {
            atomic_store(&r->cancel, true);
            break;
        }
    return NULL;
}

/* Copies the registry settings under the lock; the strings into <a>. */
static struct bld_registry registry_get(struct bld_svc *s, struct arena *a)
{
    struct bld_registry r;

    pthread_mutex_lock(&s->lock);
    r = s->reg;
    r.host = r.host ? arena_printf(a, "%s", r.host) : NULL;
    r.username = r.username ? arena_printf(a, "%s", r.username) : NULL;
    r.password = r.password ? arena_printf(a, "%s", r.password) : NULL;
    pthread_mutex_unlock(&s->lock);
    return r;
}

/* The client options of a push or delete for <j>'s workspace; the token in <tok>. */
static int client_opts(struct bld_svc *s, const struct bld_registry *reg, const char *ws,
                       const char *sub, const char *role, struct sbuf *tok,
                       struct oci_client_opts *o, struct err *err)
{
    *o = (struct oci_client_opts){.insecure_loopback = reg->insecure_loopback,
                                  .username = reg->username,
                                  .password = reg->password};
    if (!reg->internal_token)
        return 0;
    struct auth_claims c = {0};
    snprintf(c.iss, sizeof(c.iss), "%s", s->issuer);
    snprintf(c.sub, sizeof(c.sub), "%s", sub);
    snprintf(c.ws, sizeof(c.ws), "%s", ws);
    snprintf(c.role, sizeof(c.role), "%s", role);
    if (auth_internal_sign(s->keys, &c, (int64_t)time_wall_ms() / 1000, tok, err) < 0)
        return err_wrap(err, "push token");
    o->token = tok->buf;
    o->username = o->password = NULL;
    return 0;
}

static void say(struct run *r, const char *fmt, ...) APP_PRINTF(2, 3);
static void say(struct run *r, const char *fmt, ...)
{
    char line[1024];
    va_list ap;

    memcpy(line, "==> ", 4);
    va_start(ap, fmt);
    vsnprintf(line + 4, sizeof(line) - 4, fmt, ap);
    va_end(ap);
    flow_call_log_line(r->call, slice_from_cstr(line));
}

/* Pushes the layout's <tag> to <reg>'s <ws>/<project>/<service>; the reference into <ref>. */
static int push(struct run *r, const struct bld_registry *reg, const struct bld_build_result *res,
                char *ref, size_t ref_max, struct err *err)
{
    const struct job *j = r->j;
    struct oci_client *cl = NULL;
    struct oci_client_opts o;
    struct oci_push_stats st = {0};
    struct sbuf tok = SBUF_INIT(4096);
    char name[OCI_HOST_MAX + OCI_REPO_MAX + 8], digest[OCI_DIGEST_SIZE];
    struct oci_ref dest;
    int rc;

    on_phase(r, BLD_PHASE_PUSHING);
    snprintf(name, sizeof(name), "%s/%s/%s/%s:%s", reg->host, j->ws, j->project, j->service,
             res->tag);
    say(r, "pushing to %s", name);
    rc = oci_ref_parse(slice_from_cstr(name), &dest, err);
    if (rc == 0)
        rc = client_opts(r->s, reg, j->ws, j->sub, j->role, &tok, &o, err);
    if (rc == 0)
        rc = oci_client_new(&o, &cl, err);
    if (rc == 0)
        rc = oci_push(cl, res->layout_dir, res->tag, &dest, NULL, digest, &st, err);
    oci_client_free(cl);
    sbuf_release(&tok);
    if (rc < 0)
        return rc;
    say(r, "pushed %s: %" PRIu64 " blobs uploaded (%" PRIu64 " bytes), %" PRIu64 " already there",
        digest, st.blobs_uploaded, st.bytes_uploaded, st.blobs_present);
    snprintf(ref, ref_max, "%s@%s", name, digest);
    return 0;
}

/* Says so in the log when an earlier process was running this build when it stopped. */
static void restart_note(struct run *r)
{
    struct arena *a = arena_new(NULL);
    struct store_rows *rows = NULL;
    struct err err = {0};

    if (store_read1(r->s->store, a, "SELECT started FROM builds WHERE id = ?",
                    (struct store_val[]){SV_CSTR(r->j->id)}, 1, &rows, &err) == 0 &&
        rows->nrows == 1 && store_cell(rows, 0, 0)->type == STORE_T_INT)
        say(r, "the builder stopped during this build: building again from the start");
    arena_free(a);
}

static void result_write(const struct bld_build_result *res, const char *ref, struct sbuf *out)
{
    struct jw w;

    jw_init(&w, out);
    jw_obj_begin(&w);
    jw_key(&w, "commit");
    jw_str(&w, res->commit);
    jw_key(&w, "digest");
    jw_str(&w, res->digest);
    jw_key(&w, "image_ref");
    jw_str(&w, ref);
    jw_obj_end(&w);
}

/* The CA bundle the steps trust (builder.ca_bundle): NULL for the image's own. */
static const char *ca_bundle(const char *set)
{
    if (set != NULL && strcmp(set, "image") == 0)
        return NULL;
    if (set != NULL && *set)
        return set;
    return access(HOST_CA, R_OK) == 0 ? HOST_CA : NULL;
}

/* bld_build() and the push, with the engine's cancel token watched meanwhile. */
static int build_run(struct run *r, const char *work, const char *cache, struct sbuf *output,
                     struct err *err)
{
    struct bld_svc *s = r->s;
    const struct job *j = r->j;
    struct arena *a = arena_new(NULL);
    struct bld_registry reg = registry_get(s, a);
    struct bld_build_result res;
    char layout[PATH_BYTES + 80], ref[2048];
    pthread_t watcher;
    bool watching;
    int rc;

    snprintf(layout, sizeof(layout), "%s/images", cache);
    if ((rc = file_mkdirs(layout, 0755, -1, err)) < 0) {
        arena_free(a);
        return rc;
    }
    snprintf(layout, sizeof(layout), "%s/images/%s", cache, j->service);
    struct bld_build_req req = {
        .url = j->url,
        .ref = j->ref,
        .context_path = j->context_path,
        .work_dir = work,
        .cache_dir = cache,
        .base_cache = s->base_cache,
        .layout_dir = layout,
        .memory_bytes = (uint64_t)s->cfg.memory,
        .cpu_quota_us = (uint64_t)s->cfg.cpu_millis * 100,
        .cpu_period_us = 100000,
        .pids_max = (uint32_t)s->cfg.pids,
        .wall_ms = (uint64_t)s->cfg.timeout_ms,
        .ca_bundle = ca_bundle(s->cfg.ca_bundle),
    };
    struct bld_build_hooks hooks = {
        .phase = on_phase, .line = on_line, .arg = r, .cancel = &r->cancel};
    watching = pthread_create(&watcher, NULL, watch, r) == 0;
    rc = bld_build(&req, &hooks, &res, err);
    if (rc == 0 && reg.host != NULL)
        rc = push(r, &reg, &res, ref, sizeof(ref), err);
    else if (rc == 0)
        snprintf(ref, sizeof(ref), "oci:%s:%s", res.layout_dir, res.tag);
    atomic_store(&r->done, true);
    if (watching)
        pthread_join(watcher, NULL);
    if (rc == 0 && atomic_load(&r->cancel))
        rc = err_set(err, ERR_CANCELLED, "build cancelled");
    if (rc == 0)
        result_write(&res, ref, output);
    arena_free(a);
    return rc;
}

static int build_step(struct flow_call *call, struct slice input, struct sbuf *output,
                      struct err *err)
{
    struct bld_svc *s = flow_call_udata(call);
    struct job j;
    struct run r = {.s = s, .call = call, .j = &j};
    char cache[PATH_BYTES], work[PATH_BYTES];
    int rc;

    if ((rc = job_parse(input, NULL, &j, err)) < 0)
        return rc;
    restart_note(&r);
    cache_dir(s, j.ws, j.project, cache, sizeof(cache));
    snprintf(work, sizeof(work), "%s/builder/work/%s", s->data_dir, j.id);
    /* A run cut short leaves its checkout behind, and bld_clone wants an empty directory. */
    rc = file_remove_tree(work, err);
    if (rc == 0)
        rc = build_run(&r, work, cache, output, err);
    if (file_remove_tree(work, &(struct err){0}) < 0)
        LOG_WARN(&bld_log, "bld.work_not_removed", LF_STR("dir", work));
    job_release(&j);
    return rc;
}

/* ---------------------------------------------------------------- the workflow */

static int build_wf(struct flow_ctx *ctx, struct slice input, struct sbuf *result, struct err *err)
{
    struct bld_svc *s = flow_udata(ctx);
    struct slice out = SLICE_NULL;
    struct job j;
    json_t *o = NULL;
    int rc;

    char *step_in;

    if ((rc = job_parse(input, flow_id(ctx), &j, err)) < 0)
        return rc;
    json_object_set_new(j.json, "id", json_string(j.id));
    step_in = json_dumps(j.json, JSON_COMPACT | JSON_SORT_KEYS);
    rc = step_in ? flow_step(ctx, "build", build_step, slice_from_cstr(step_in), &out, err)
                 : err_set(err, ERR_INTERNAL, "build input: cannot encode");
    free(step_in);
    if (rc == FLOW_SUSPENDED) {
        job_release(&j); /* the engine stops: the next one carries the build on */
        return rc;
    }
    if (rc == 0 && (o = json_loadb(out.ptr, out.len, 0, NULL)) != NULL)
        row_put_logged(
            s, &j,
            &(struct row_set){.state = BLD_SUCCEEDED,
                              .commit = json_string_value(json_object_get(o, "commit")),
                              .digest = json_string_value(json_object_get(o, "digest")),
                              .image_ref = json_string_value(json_object_get(o, "image_ref"))});
    else if (rc == 0)
        rc = err_set(err, ERR_INTERNAL, "build step: output is not JSON");
    if (rc < 0)
        row_put_logged(s, &j,
                       &(struct row_set){.state = rc == ERR_CANCELLED ? BLD_CANCELLED : BLD_FAILED,
                                         .error = err->msg});
    else
        sbuf_put_slice(result, out);
    json_decref(o);
    job_release(&j);
    return rc;
}

/* ---------------------------------------------------------------- life */

int bld_svc_new(const struct bld_svc_deps *d, struct bld_svc **out, struct err *err)
{
    struct bld_svc *s;
    char path[PATH_BYTES];
    int rc;

    *out = NULL;
    if (d->store == NULL || d->keys == NULL || d->issuer == NULL || d->data_dir == NULL)
        return err_set(err, ERR_INVALID, "bld: store, keys, issuer and data_dir are required");
    s = xcalloc(1, sizeof(*s));
    pthread_mutex_init(&s->lock, NULL);
    s->store = d->store;
    s->keys = d->keys;
    s->issuer = xstrdup(d->issuer);
    s->data_dir = xstrdup(d->data_dir);
    snprintf(path, sizeof(path), "%s/builder/base", d->data_dir);
    if (d->base_cache != NULL)
        s->base_cache = xstrdup(d->base_cache);
    else if (d->cfg != NULL && d->cfg->base_cache != NULL && *d->cfg->base_cache)
        s->base_cache = xstrdup(d->cfg->base_cache);
    else
        s->base_cache = xstrdup(path);
    if (d->cfg != NULL) {
        s->cfg = *d->cfg;
    } else {
        struct cfg *c = cfg_new(); /* the defaults, as the keys above give them */
        struct cfg_section sec = bld_cfg_section(&s->cfg);
        cfg_add(c, &sec);
        cfg_free(c); /* frees the strings it gave: ca_bundle is copied below */
        s->cfg.ca_bundle = NULL;
        s->cfg.base_cache = NULL;
    }
    s->cfg.ca_bundle = xstrdup(d->cfg && d->cfg->ca_bundle ? d->cfg->ca_bundle : "");
    s->cfg.base_cache = NULL; /* the caller's; s->base_cache is the copy used */
    bld_svc_set_registry(s, d->registry);
    rc = store_migrate(s->store, migrations, ARRAY_LEN(migrations), err);
    if (rc == 0)
        rc = flow_migrate(s->store, err);
    if (rc == 0) {
        struct flow_opts fo = {.store = s->store, .service = "builder"};
        s->flow = flow_new(&fo);
        rc = flow_register(
            s->flow,
            &(struct flow_wf_def){.name = WF_NAME, .fn = build_wf, .udata = s, .queue = QUEUE},
            err);
    }
    if (rc == 0)
        rc = flow_queue_add(
            s->flow,
            &(struct flow_queue_def){.name = QUEUE, .concurrency = (unsigned)s->cfg.concurrency},
            err);
    if (rc == 0)
        rc = flow_start_engine(s->flow, err);
    if (rc < 0) {
        bld_svc_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

static void registry_clear(struct bld_registry *r)
{
    free((char *)r->host);
    free((char *)r->username);
    free((char *)r->password);
    *r = (struct bld_registry){0};
}

void bld_svc_free(struct bld_svc *s)
{
    if (s == NULL)
        return;
    flow_free(s->flow);
    registry_clear(&s->reg);
    pthread_mutex_destroy(&s->lock);
    free(s->issuer);
    free(s->data_dir);
    free(s->base_cache);
    free(s->cfg.ca_bundle);
    free(s);
}

static char *dup_or_null(const char *s)
{
    return s && *s ? xstrdup(s) : NULL;
}

void bld_svc_set_registry(struct bld_svc *s, const struct bld_registry *r)
{
    struct bld_registry n = {0}, old;

    if (r != NULL)
        n = (struct bld_registry){.host = dup_or_null(r->host),
                                  .insecure_loopback = r->insecure_loopback,
                                  .internal_token = r->internal_token,
                                  .username = dup_or_null(r->username),
                                  .password = dup_or_null(r->password)};
    pthread_mutex_lock(&s->lock);
    old = s->reg;
    s->reg = n;
    pthread_mutex_unlock(&s->lock);
    registry_clear(&old);
}

/* ---------------------------------------------------------------- calls */

/* Verifies <c>'s token into <who>: ERR_UNAUTHENTICATED without a valid internal token,
 * ERR_FORBIDDEN for a role that may not build. */
static int call_begin(struct bld_svc *s, const struct bld_call *c, struct auth_claims *who,
                      struct err *err)
{
    int rc;

    if (c->token.len == 0)
        return err_set(err, ERR_UNAUTHENTICATED, "bld: the call carries no internal token");
    rc = auth_internal_verify(s->keys, c->token, s->issuer, (int64_t)time_wall_ms() / 1000,
                              TOKEN_SKEW_S, who, err);
    if (rc < 0)
        return err_wrap(err, "bld: internal token");
    if (strcmp(who->role, "ADMIN") != 0 && strcmp(who->role, "USER") != 0)
        return err_set(err, ERR_FORBIDDEN, "bld: role %.20s may not build", who->role);
    if (!bld_name_valid(who->ws))
        return err_set(err, ERR_INVALID, "bld: workspace id %.40s is not a registry name", who->ws);
    return 0;
}

/* A local source (file:// or a path) inside slipway's data directory would reach every
 * workspace's repositories and caches: ERR_FORBIDDEN. */
static int source_check(const struct bld_svc *s, const char *url, struct err *err)
{
    char real_data[PATH_MAX], real_src[PATH_MAX];
    const char *path = strncmp(url, "file://", 7) == 0 ? url + 7 : url[0] == '/' ? url : NULL;
    size_t n;

    if (path == NULL || realpath(s->data_dir, real_data) == NULL ||
        realpath(path, real_src) == NULL)
        return 0; /* not local, or not there: the clone says what is wrong */
    n = strlen(real_data);
    if (strncmp(real_src, real_data, n) == 0 && (real_src[n] == '/' || real_src[n] == '\0'))
        return err_set(err, ERR_FORBIDDEN, "url: slipway's own data directory cannot be a source");
    return 0;
}

int bld_detect_services(struct bld_svc *s, const struct bld_call *c, struct arena *a,
                        struct bld_service **out, size_t *count, struct err *err)
{
    struct auth_claims who;
    char dir[PATH_MAX], src[PATH_MAX + 8], commit[BLD_OID_HEX + 1];
    int rc;

    if ((rc = call_begin(s, c, &who, err)) < 0)
        return rc;
    if (c->url == NULL || *c->url == '\0')
        return err_set(err, ERR_INVALID, "url: required");
    if ((rc = source_check(s, c->url, err)) < 0)
        return rc;
    snprintf(dir, sizeof(dir), "%s/builder/tmp", s->data_dir);
    if ((rc = file_mkdirs(dir, 0700, -1, err)) < 0)
        return rc;
    snprintf(dir, sizeof(dir), "%s/builder/tmp/detect-XXXXXX", s->data_dir);
    if (mkdtemp(dir) == NULL)
        return err_set(err, ERR_IO, "scratch directory: %s", strerror(errno));
    snprintf(src, sizeof(src), "%s/src", dir);
    rc = bld_clone(c->url, c->ref, src, commit, err);
    if (rc == 0)
        rc = bld_detect(src, a, out, count, err);
    if (file_remove_tree(dir, &(struct err){0}) < 0)
        LOG_WARN(&bld_log, "bld.detect.cleanup_failed", LF_STR("dir", dir));
    return rc;
}

int bld_start_build(struct bld_svc *s, const struct bld_call *c, char id[37], struct err *err)
{
    struct auth_claims who;
    struct sbuf input = SBUF_INIT(INPUT_MAX), key = SBUF_INIT(1024);
    struct job j;
    int rc;

    if ((rc = call_begin(s, c, &who, err)) < 0)
        return rc;
    if (!bld_name_valid(c->project))
        return err_set(err, ERR_INVALID, "project: 1 to 63 of a-z 0-9, joined by . _ -");
    if (!bld_name_valid(c->service))
        return err_set(err, ERR_INVALID, "service: 1 to 63 of a-z 0-9, joined by . _ -");
    if (c->url == NULL || *c->url == '\0')
        return err_set(err, ERR_INVALID, "url: required");
    if ((rc = source_check(s, c->url, err)) < 0)
        return rc;
    if (job_input(&who, c, &input) != 0) {
        rc = err_set(err, ERR_LIMIT, "build request over %u bytes", INPUT_MAX);
        goto out;
    }
    /* Keys are per workspace: another workspace's key never finds this one's build. */
    if (c->key.len > 0)
        sbuf_printf(&key, "%s:" SLICE_FMT, who.ws, SLICE_ARG(c->key));
    rc = flow_start(s->flow, WF_NAME, sbuf_slice(&input),
                    &(struct flow_start_opts){.key = sbuf_slice(&key)}, id, err);
    if (rc < 0)
        goto out;
    if ((rc = job_parse(sbuf_slice(&input), id, &j, err)) == 0) {
        rc = row_put(s, &j, &(struct row_set){.state = BLD_QUEUED}, err);
        job_release(&j);
    }
    if (rc == 0)
        LOG_INFO(&bld_log, "bld.build.started", LF_STR("build", id), LF_STR("workspace", who.ws),
                 LF_STR("project", c->project), LF_STR("service", c->service));
out:
    sbuf_release(&input);
    sbuf_release(&key);
    return rc;
}

#define STATUS_COLS                                                                                \
    "id, project, service, source_url, ref, context_path, phase, commit_id, digest, image_ref,"    \
    " error, created, started, finished"

static void cell_copy(const struct store_rows *rows, size_t col, char *out, size_t max)
{
    const struct store_val *v = store_cell(rows, 0, col);

    snprintf(out, max, SLICE_FMT, (int)(v->type == STORE_T_TEXT ? v->s.len : 0),
             v->type == STORE_T_TEXT ? v->s.ptr : "");
}

static int64_t cell_int(const struct store_rows *rows, size_t col)
{
    const struct store_val *v = store_cell(rows, 0, col);

    return v->type == STORE_T_INT ? v->i : 0;
}

/* The row of build <id> in <ws> into <out>; ERR_NOTFOUND when there is none there. */
static int row_get(struct bld_svc *s, const char *ws, const char *id, struct bld_status *out,
                   struct err *err)
{
    struct arena *a = arena_new(NULL);
    struct store_rows *rows = NULL;
    char phase[16];
    int rc;

    memset(out, 0, sizeof(*out));
    rc = store_read1(s->store, a,
                     "SELECT " STATUS_COLS " FROM builds WHERE id = ? AND workspace = ?",
                     (struct store_val[]){SV_CSTR(id), SV_CSTR(ws)}, 2, &rows, err);
    if (rc == 0 && rows->nrows == 0)
        rc = err_set(err, ERR_NOTFOUND, "bld: no build %.40s", id);
    if (rc == 0) {
        cell_copy(rows, 0, out->id, sizeof(out->id));
        cell_copy(rows, 1, out->project, sizeof(out->project));
        cell_copy(rows, 2, out->service, sizeof(out->service));
        cell_copy(rows, 3, out->url, sizeof(out->url));
        cell_copy(rows, 4, out->ref, sizeof(out->ref));
        cell_copy(rows, 5, out->context_path, sizeof(out->context_path));
        cell_copy(rows, 6, phase, sizeof(phase));
        out->state = state_parse(slice_from_cstr(phase));
        cell_copy(rows, 7, out->commit, sizeof(out->commit));
        cell_copy(rows, 8, out->digest, sizeof(out->digest));
        cell_copy(rows, 9, out->image_ref, sizeof(out->image_ref));
        cell_copy(rows, 10, out->error, sizeof(out->error));
        out->created_ms = cell_int(rows, 11);
        out->started_ms = cell_int(rows, 12);
        out->finished_ms = cell_int(rows, 13);
    }
    arena_free(a);
    return rc;
}

/* A row the workflow never finished (the engine failed or cancelled it without running it):
 * the workflow's own end says how it ended. */
static void reconcile(struct bld_svc *s, struct bld_status *st)
{
    struct arena *a;
    struct flow_outcome o;
    struct err err = {0};

    if (bld_state_final(st->state))
        return;
    a = arena_new(NULL);
    if (flow_wait(s->flow, a, slice_from_cstr(st->id), 0, &o, &err) == 0 &&
        o.status != FLOW_SUCCEEDED) {
        st->state = o.status == FLOW_CANCELLED ? BLD_CANCELLED : BLD_FAILED;
        snprintf(st->error, sizeof(st->error), SLICE_FMT, SLICE_ARG(o.err_msg));
    }
    arena_free(a);
}

int bld_build_status(struct bld_svc *s, const struct bld_call *c, const char *id,
                     struct bld_status *out, struct err *err)
{
    struct auth_claims who;
    int rc;

    if ((rc = call_begin(s, c, &who, err)) < 0 || (rc = row_get(s, who.ws, id, out, err)) < 0)
        return rc;
    reconcile(s, out);
    return 0;
}

/* Gives the lines from *from on, in batches; 1 when <fn> stopped. */
static int logs_drain(struct bld_svc *s, const char *id, uint64_t *from, bld_log_fn *fn, void *arg,
                      struct err *err)
{
    for (;;) {
        struct arena *a = arena_new(NULL);
        struct flow_log_line *lines = NULL;
        size_t n = 0;
        uint64_t skipped = 0;
        int rc = flow_log_read(s->store, a, slice_from_cstr(id), *from, LOG_BATCH, &lines, &n,
                               &skipped, err);
        bool stop = false;

        for (size_t i = 0; rc == 0 && i < n && !stop; i++) {
            stop = !fn(arg, lines[i].n, lines[i].text);
            *from = lines[i].n + 1;
        }
        arena_free(a);
        if (rc < 0)
            return rc;
        if (stop)
            return 1;
        if (n < LOG_BATCH)
            return 0;
    }
}

int bld_build_logs(struct bld_svc *s, const struct bld_call *c, const char *id, uint64_t from,
                   uint64_t follow_ms, bld_log_fn *fn, void *arg, uint64_t *next, struct err *err)
{
    struct auth_claims who;
    struct bld_status st;
    uint64_t end = time_mono_ms() + follow_ms;
    int rc;

    if ((rc = call_begin(s, c, &who, err)) < 0 || (rc = row_get(s, who.ws, id, &st, err)) < 0)
        return rc;
    for (;;) {
        if ((rc = logs_drain(s, id, &from, fn, arg, err)) != 0)
            break;
        uint64_t now = time_mono_ms();
        rc = flow_log_follow(s->flow, slice_from_cstr(id), from, now < end ? end - now : 0, err);
        if (rc == 0) /* the build ended: what is left was written before its end */
            rc = logs_drain(s, id, &from, fn, arg, err);
        if (rc == ERR_TIMEOUT) {
            *err = (struct err){0};
            rc = 1;
        }
        if (rc != 1 || now >= end)
            break;
    }
    if (next != NULL)
        *next = from;
    return rc;
}

int bld_cancel_build(struct bld_svc *s, const struct bld_call *c, const char *id, struct err *err)
{
    struct auth_claims who;
    struct bld_status st;
    struct job j = {0};
    int rc;

    if ((rc = call_begin(s, c, &who, err)) < 0 || (rc = row_get(s, who.ws, id, &st, err)) < 0)
        return rc;
    if ((rc = flow_cancel(s->flow, slice_from_cstr(id), err)) < 0)
        return rc;
    /* A queued build ends without its workflow running again: its row ends here. */
    j = (struct job){.id = id,
                     .ws = who.ws,
                     .project = st.project,
                     .service = st.service,
                     .url = st.url,
                     .ref = st.ref,
                     .context_path = st.context_path,
                     .created = st.created_ms};
    row_put_logged(s, &j, &(struct row_set){.state = BLD_CANCELLED, .error = "build cancelled"});
    LOG_INFO(&bld_log, "bld.build.cancelled", LF_STR("build", id));
    return 0;
}

/* ---------------------------------------------------------------- deleting images */

static size_t no_body(char *p, size_t size, size_t n, void *arg)
{
    (void)p;
    (void)arg;
    return size * n;
}

static size_t body_keep(char *p, size_t size, size_t n, void *arg)
{
    sbuf_put_slice(arg, (struct slice){p, size * n});
    return size * n;
}

/* The digest header of a HEAD, kept in <arg> (OCI_DIGEST_SIZE bytes). */
static size_t digest_header(char *p, size_t size, size_t n, void *arg)
{
    static const char name[] = "docker-content-digest:";
    struct slice h = {p, size * n};

    if (h.len > sizeof(name) - 1 && slice_case_eq_cstr((struct slice){p, sizeof(name) - 1}, name)) {
        struct slice v = slice_trim((struct slice){p + sizeof(name) - 1, h.len - sizeof(name) + 1});
        while (v.len > 0 && (v.ptr[v.len - 1] == '\r' || v.ptr[v.len - 1] == '\n'))
            v.len--;
        if (oci_digest_valid(v))
            snprintf(arg, OCI_DIGEST_SIZE, SLICE_FMT, SLICE_ARG(v));
    }
    return size * n;
}

/* One request to the registry: <method> on /v2/<path>; the HTTP status into *status. */
static int reg_request(const struct bld_registry *reg, const struct oci_client_opts *o,
                       const char *method, const char *path, struct sbuf *body, char *digest,
                       long *status, struct err *err)
{
    CURL *h = curl_easy_init();
    struct curl_slist *hdrs = NULL;
    char url[2048], auth[4200];
    CURLcode cc;

    if (h == NULL)
        return err_set(err, ERR_INTERNAL, "curl_easy_init failed");
    snprintf(url, sizeof(url), "%s://%s/v2/%s", reg->insecure_loopback ? "http" : "https",
             reg->host, path);
    hdrs = curl_slist_append(hdrs, "Accept: application/vnd.oci.image.manifest.v1+json, "
                                   "application/vnd.oci.image.index.v1+json, "
                                   "application/vnd.docker.distribution.manifest.v2+json");
    if (o->token != NULL) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", o->token);
        hdrs = curl_slist_append(hdrs, auth);
    } else if (o->username != NULL) {
        curl_easy_setopt(h, CURLOPT_USERNAME, o->username);
        curl_easy_setopt(h, CURLOPT_PASSWORD, o->password ? o->password : "");
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_NOBODY, strcmp(method, "HEAD") == 0 ? 1L : 0L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, body ? body_keep : no_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, body);
    if (digest != NULL) {
        digest[0] = '\0';
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, digest_header);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, digest);
    }
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 60000L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    cc = curl_easy_perform(h);
    if (cc == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    if (cc != CURLE_OK)
        return err_set(err, ERR_UNAVAILABLE, "registry %.200s: %s", reg->host,
                       curl_easy_strerror(cc));
    return 0;
}

/* Deletes every tagged manifest of <repo>; a repository the registry does not know is empty. */
static int repo_delete(const struct bld_registry *reg, const struct oci_client_opts *o,
                       const char *repo, uint64_t *deleted, struct err *err)
{
    struct sbuf body = SBUF_INIT(4 << 20);
    char path[1024], digest[OCI_DIGEST_SIZE];
    json_t *doc = NULL, *tags;
    long status = 0;
    size_t i;
    int rc;

    snprintf(path, sizeof(path), "%s/tags/list?n=10000", repo);
    rc = reg_request(reg, o, "GET", path, &body, NULL, &status, err);
    if (rc == 0 && status == 404)
        goto out;
    if (rc == 0 && status != 200)
        rc = err_set(err, ERR_UNAVAILABLE, "registry %.200s: tags of %s: HTTP %ld", reg->host, repo,
                     status);
    if (rc == 0 && (doc = json_loadb(body.buf, body.len, 0, NULL)) == NULL)
        rc =
            err_set(err, ERR_UNAVAILABLE, "registry %.200s: tags of %s: not JSON", reg->host, repo);
    tags = doc ? json_object_get(doc, "tags") : NULL;
    for (i = 0; rc == 0 && i < json_array_size(tags); i++) {
        const char *tag = json_string_value(json_array_get(tags, i));
        if (tag == NULL)
            continue;
        snprintf(path, sizeof(path), "%s/manifests/%s", repo, tag);
        rc = reg_request(reg, o, "HEAD", path, NULL, digest, &status, err);
        if (rc < 0 || status == 404 || digest[0] == '\0')
            continue; /* gone meanwhile (another tag of the same manifest) */
        snprintf(path, sizeof(path), "%s/manifests/%s", repo, digest);
        rc = reg_request(reg, o, "DELETE", path, NULL, NULL, &status, err);
        if (rc == 0 && status == 202)
            (*deleted)++;
        else if (rc == 0 && status != 404)
            rc = err_set(err, ERR_UNAVAILABLE, "registry %.200s: DELETE %s@%s: HTTP %ld", reg->host,
                         repo, digest, status);
    }
out:
    json_decref(doc);
    sbuf_release(&body);
    return rc;
}

/* The services of <project> with builds in <ws>, into <a>. */
static int services_list(struct bld_svc *s, const char *ws, const struct bld_call *c,
                         struct arena *a, struct store_rows **rows, struct err *err)
{
    if (c->service != NULL)
        return store_read1(s->store, a, "SELECT CAST(? AS TEXT)",
                           (struct store_val[]){SV_CSTR(c->service)}, 1, rows, err);
    return store_read1(s->store, a,
                       "SELECT DISTINCT service FROM builds WHERE workspace = ? AND project = ?",
                       (struct store_val[]){SV_CSTR(ws), SV_CSTR(c->project)}, 2, rows, err);
}

static int running_check(struct bld_svc *s, const char *ws, const struct bld_call *c,
                         struct arena *a, struct err *err)
{
    struct store_rows *rows = NULL;
    int rc = store_read1(s->store, a,
                         "SELECT id FROM builds WHERE workspace = ? AND project = ?"
                         " AND (? = '' OR service = ?)"
                         " AND phase NOT IN ('SUCCEEDED', 'FAILED', 'CANCELLED')",
                         (struct store_val[]){SV_CSTR(ws), SV_CSTR(c->project),
                                              SV_CSTR(opt(c->service)), SV_CSTR(opt(c->service))},
                         4, &rows, err);

    for (size_t i = 0; rc == 0 && i < rows->nrows; i++) {
        struct bld_status st = {0};
        const struct store_val *v = store_cell(rows, i, 0);
        snprintf(st.id, sizeof(st.id), SLICE_FMT, SLICE_ARG(v->s));
        reconcile(s, &st); /* a row the engine ended without the workflow does not count */
        if (!bld_state_final(st.state))
            return err_set(err, ERR_CONFLICT, "build %s of this project is running", st.id);
    }
    return rc;
}

int bld_delete_images(struct bld_svc *s, const struct bld_call *c, struct bld_delete_stats *out,
                      struct err *err)
{
    struct auth_claims who;
    struct arena *a = NULL;
    struct store_rows *rows = NULL;
    struct bld_registry reg;
    struct oci_client_opts o;
    struct sbuf tok = SBUF_INIT(4096);
    char dir[PATH_BYTES], path[PATH_BYTES + 80], repo[512];
    struct stat sb;
    int rc;

    *out = (struct bld_delete_stats){0};
    if ((rc = call_begin(s, c, &who, err)) < 0)
        return rc;
    if (!bld_name_valid(c->project) || (c->service != NULL && !bld_name_valid(c->service)))
        return err_set(err, ERR_INVALID, "project and service: 1 to 63 of a-z 0-9, . _ -");
    a = arena_new(NULL);
    reg = registry_get(s, a);
    if ((rc = running_check(s, who.ws, c, a, err)) < 0 ||
        (rc = services_list(s, who.ws, c, a, &rows, err)) < 0)
        goto out;
    if (reg.host != NULL &&
        (rc = client_opts(s, &reg, who.ws, who.sub, who.role, &tok, &o, err)) < 0)
        goto out;
    for (size_t i = 0; reg.host != NULL && i < rows->nrows; i++) {
        const struct store_val *v = store_cell(rows, i, 0);
        snprintf(repo, sizeof(repo), "%s/%s/" SLICE_FMT, who.ws, c->project, SLICE_ARG(v->s));
        if ((rc = repo_delete(&reg, &o, repo, &out->manifests_deleted, err)) < 0)
            goto out;
    }
    cache_dir(s, who.ws, c->project, dir, sizeof(dir));
    if (c->service != NULL)
        snprintf(path, sizeof(path), "%s/images/%s", dir, c->service);
    else
        snprintf(path, sizeof(path), "%s", dir);
    if (stat(path, &sb) == 0 && (rc = file_remove_tree(path, err)) == 0)
        out->dirs_removed++;
    LOG_INFO(&bld_log, "bld.images.deleted", LF_STR("workspace", who.ws),
             LF_STR("project", c->project), LF_STR("service", opt(c->service)),
             LF_INT("manifests", (int64_t)out->manifests_deleted));
out:
    sbuf_release(&tok);
    arena_free(a);
    return rc;
}
