/*
 * gateway: the deploy workflow (docs/deploy.md). A deploy joins the builder, the packager and
 * the deployer as one durable workflow "deploy" on the gateway's flow engine:
 *
 *   build      (BUILD only) starts the builder's own durable build, keyed by this workflow's id
 *              so a replay finds the same build, and waits for it, copying its log here;
 *   commit     records the release in the project's repository (pkg_deploy, the rollback or
 *              promote commit; nothing for a redeploy);
 *   rollout    reads what the environment wants (pkg_env_services, pkg_service_env) and has
 *              the deployer roll it out (dep_rollout).
 *
 * The phase is published as event "phase" (QUEUED, BUILD, DEPLOYING); while it is BUILD the
 * builder's own state says CLONING, BUILDING or PUSHING. The workflow's status gives the end:
 * SUCCEEDED, FAILED, CANCELLED. Each step signs a fresh internal token for the user who asked
 * (kept in the input), so a deploy resumed by a later process acts as that user, and every token
 * lives 60 s at most.
 *
 * A deploy's idempotency key is "<workspace>/<project>/<env>/<service>/<id>": the prefix finds
 * a service's deploys (activeDeployment) and keeps workspaces apart.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "bld/bld.h"
#include "dep/dep.h"
#include "gateway/gw-int.h"
#include "oci/oci.h"
#include "pkg/pkg.h"

static const struct log_ctx gw_log = {.svc = "gateway"};

#define WF_NAME     "deploy"
#define QUEUE       "deploys"
#define DEADLINE_MS (2 * 3600 * 1000)
#define BUILD_POLL  250
#define KEY_MAX     300
#define SHOW_MAX    (4u << 20)

static const char *const kind_names[] = {"build", "image", "redeploy", "rollback", "promote"};

/* ---------------------------------------------------------------- the input */

/* What a deploy was asked for, read back from its JSON input (strings point into <j>). */
struct dreq {
    json_t *j;
    enum gw_deploy_kind kind;
    const char *ws, *role, *user_id, *user_name, *user_email;
    const char *project, *env, *service, *git_ref, *image, *tag, *from_env;
};

static const char *jstr(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* A copy of <s> in <a>; NULL for NULL (or a spent arena). */
static const char *adup(struct arena *a, const char *s)
{
    return s ? arena_strndup(a, s, strlen(s)) : NULL;
}

/* Key <k> with string <v>, left out when <v> is NULL. */
static void put(struct jw *w, const char *k, const char *v)
{
    if (v == NULL)
        return;
    jw_key(w, k);
    jw_str(w, v);
}

static int dreq_parse(struct slice in, struct dreq *r, struct err *err)
{
    const char *kind;

    memset(r, 0, sizeof(*r));
    r->j = json_loadb(in.ptr, in.len, 0, NULL);
    if (r->j == NULL)
        return err_set(err, ERR_INTERNAL, "deploy input: not JSON");
    kind = jstr(r->j, "kind");
    for (size_t i = 0; kind != NULL && i < ARRAY_LEN(kind_names); i++)
        if (strcmp(kind, kind_names[i]) == 0)
            r->kind = (enum gw_deploy_kind)i;
    r->ws = jstr(r->j, "workspace");
    r->role = jstr(r->j, "role");
    r->user_id = jstr(r->j, "user");
    r->user_name = jstr(r->j, "name");
    r->user_email = jstr(r->j, "email");
    r->project = jstr(r->j, "project");
    r->env = jstr(r->j, "env");
    r->service = jstr(r->j, "service");
    r->git_ref = jstr(r->j, "ref");
    r->image = jstr(r->j, "image");
    r->tag = jstr(r->j, "tag");
    r->from_env = jstr(r->j, "from_env");
    if (kind == NULL || !r->ws || !r->role || !r->user_id || !r->project || !r->env || !r->service)
        return err_set(err, ERR_INTERNAL, "deploy input: a field is missing");
    return 0;
}

static void dreq_release(struct dreq *r)
{
    json_decref(r->j);
    r->j = NULL;
}

/* A caller standing for the user who asked, to sign internal tokens as them. */
static struct gw_caller dreq_caller(struct gw *g, const struct dreq *r)
{
    struct gw_caller c = {.g = g, .authenticated = true, .workspace = r->ws};

    c.user.id = r->user_id;
    c.user.name = r->user_name;
    c.user.email = r->user_email;
    c.role = strcmp(r->role, "ADMIN") == 0 ? GW_ROLE_ADMIN : GW_ROLE_USER;
    return c;
}

static int dreq_pkg(struct gw *g, const struct dreq *r, struct arena *a, struct pkg_call *pc,
                    struct err *err)
{
    struct gw_caller c = dreq_caller(g, r);

    return gw_pkg_call(&c, a, r->ws, c.role, r->project, pc, err);
}

/* ---------------------------------------------------------------- the service's values */

/* Service <name> of <env> as the packager has it now. */
static int service_info(struct gw *g, const struct dreq *r, const char *env, struct arena *a,
                        struct pkg_call *pc, const struct pkg_service_info **out, struct err *err)
{
    struct pkg_service_info *svcs;
    size_t n;
    int rc;

    if ((rc = dreq_pkg(g, r, a, pc, err)) < 0 ||
        (rc = pkg_env_services(g->pkg, pc, env, a, &svcs, &n, err)) < 0)
        return rc;
    for (size_t i = 0; i < n; i++)
        if (strcmp(svcs[i].name, r->service) == 0) {
            *out = &svcs[i];
            return 0;
        }
    return err_set(err, ERR_NOTFOUND, "service %s does not exist in environment %s", r->service,
                   env);
}

/* ---------------------------------------------------------------- step: build */

struct build_out {
    char id[37];
    struct bld_status st;
};

static int build_call(struct gw *g, const struct dreq *r, struct arena *a, struct bld_call *bc,
                      struct err *err)
{
    struct gw_caller c = dreq_caller(g, r);

    *bc = (struct bld_call){.project = r->project, .service = r->service};
    if (g->bld == NULL)
        return err_set(err, ERR_UNAVAILABLE, "the builder does not run in this process");
    return gw_internal_token(&c, a, r->ws, c.role, &bc->token, err);
}

static bool copy_line(void *arg, uint64_t n, struct slice line)
{
    (void)n;
    flow_call_log_line(arg, line);
    return true;
}

/* Waits for build <id>, its log copied into this workflow's; a cancel cancels the build. */
static int build_wait(struct gw *g, const struct dreq *r, struct flow_call *call, const char *id,
                      struct bld_status *st, struct err *err)
{
    uint64_t next = 0;
    int rc;

    for (;;) {
        struct arena *a = arena_new(NULL);
        struct bld_call bc;

        rc = build_call(g, r, a, &bc, err);
        if (rc == 0 && flow_call_cancelled(call)) {
            if (bld_cancel_build(g->bld, &bc, id, &(struct err){0}) < 0)
                LOG_INFO(&gw_log, "deploy.build_ended", LF_STR("build", id));
            rc = err_set(err, ERR_CANCELLED, "deploy cancelled during the build");
        }
        if (rc == 0)
            rc = bld_build_logs(g->bld, &bc, id, next, BUILD_POLL, copy_line, call, &next, err);
        if (rc >= 0)
            rc = bld_build_status(g->bld, &bc, id, st, err);
        arena_free(a);
        if (rc < 0 || bld_state_final(st->state))
            return rc;
    }
}

/* Starts the builder's build of the service, keyed by this deploy's id so that a replay finds
 * the same build; its output is the build's id. */
static int build_start_step(struct flow_call *call, struct slice input, struct sbuf *output,
                            struct err *err)
{
    struct gw *g = flow_call_udata(call);
    struct arena *a = arena_new(NULL);
    const struct pkg_service_info *si;
    struct pkg_call pc;
    struct bld_call bc;
    struct dreq r;
    char id[37];
    int rc = dreq_parse(input, &r, err);

    if (rc == 0)
        rc = service_info(g, &r, r.env, a, &pc, &si, err);
    if (rc == 0 && si->source_url == NULL)
        rc = err_set(err, ERR_INVALID, "service %s has no source repository: deploy an image",
                     r.service);
    if (rc == 0 && (rc = build_call(g, &r, a, &bc, err)) == 0) {
        bc.url = si->source_url;
        bc.ref = r.git_ref ? r.git_ref : si->source_ref;
        bc.context_path = si->context_path;
        bc.key = slice_from_cstr(jstr(r.j, "id"));
        rc = bld_start_build(g->bld, &bc, id, err);
    }
    if (rc == 0) {
        flow_call_log(call, "==> build %s of %s", id, si->source_url);
        sbuf_puts(output, id);
    }
    dreq_release(&r);
    arena_free(a);
    return rc;
}

/* Waits for the build named in the input's "build", its log copied into this workflow's; the
 * output is its digest, image reference and commit. */
static int build_wait_step(struct flow_call *call, struct slice input, struct sbuf *output,
                           struct err *err)
{
    struct gw *g = flow_call_udata(call);
    struct bld_status st;
    struct dreq r;
    int rc = dreq_parse(input, &r, err);

    if (rc == 0)
        rc = build_wait(g, &r, call, jstr(r.j, "build"), &st, err);
    if (rc == 0 && st.state != BLD_SUCCEEDED)
        rc = err_set(err, st.state == BLD_CANCELLED ? ERR_CANCELLED : ERR_INVALID, "build %s: %s",
                     bld_state_name(st.state), st.error);
    if (rc == 0) {
        struct jw w;

        jw_init(&w, output);
        jw_obj_begin(&w);
        put(&w, "digest", st.digest);
        put(&w, "image_ref", st.image_ref);
        put(&w, "commit", st.commit);
        jw_obj_end(&w);
    }
    dreq_release(&r);
    return rc;
}

/* ---------------------------------------------------------------- step: commit */

/* The tag of "<host>/<repo>:<tag>@<digest>"; "" when it has none. */
static void ref_tag(const char *image_ref, char tag[OCI_TAG_MAX + 1])
{
    struct oci_ref ref;

    tag[0] = '\0';
    if (image_ref != NULL && oci_ref_parse(slice_from_cstr(image_ref), &ref, &(struct err){0}) == 0)
        snprintf(tag, OCI_TAG_MAX + 1, "%s", ref.tag);
}

struct hist_find {
    const char *tag;
    char digest[OCI_DIGEST_SIZE];
};

static bool hist_match(void *arg, const struct pkg_deployment *d)
{
    struct hist_find *h = arg;

    if (d->tag == NULL || strcmp(d->tag, h->tag) != 0 || d->digest == NULL)
        return true;
    snprintf(h->digest, sizeof(h->digest), "%s", d->digest);
    return false;
}

/* The digest recorded for r->tag in the service's history in r->env. */
static int rollback_digest(struct gw *g, const struct dreq *r, struct pkg_call *pc,
                           char digest[OCI_DIGEST_SIZE], struct err *err)
{
    struct hist_find h = {.tag = r->tag};
    int rc = pkg_history(g->pkg, pc, r->env, r->service, 1000, hist_match, &h, err);

    if (rc == 0 && h.digest[0] == '\0')
        rc = err_set(err, ERR_NOTFOUND, "imageTag: %s was never deployed to %s in %s", r->tag,
                     r->service, r->env);
    snprintf(digest, OCI_DIGEST_SIZE, "%s", h.digest);
    return rc;
}

/* The digest of r->image (a reference with or without one): pulled into a scratch layout when
 * only a tag is given. */
static int image_digest(const struct dreq *r, char tag[OCI_TAG_MAX + 1],
                        char digest[OCI_DIGEST_SIZE], struct err *err)
{
    struct oci_ref ref;
    struct oci_client *cl = NULL;
    char dir[] = "/tmp/slipway-resolve-XXXXXX";
    int rc = oci_ref_parse(slice_from_cstr(r->image), &ref, err);

    if (rc < 0)
        return err_wrap(err, "image");
    snprintf(tag, OCI_TAG_MAX + 1, "%s", ref.tag[0] ? ref.tag : "latest");
    if (ref.digest[0]) {
        snprintf(digest, OCI_DIGEST_SIZE, "%s", ref.digest);
        return 0;
    }
    if (mkdtemp(dir) == NULL)
        return err_set(err, ERR_IO, "mkdtemp: %s", strerror(errno));
    rc = oci_client_new(&(struct oci_client_opts){.insecure_loopback = true}, &cl, err);
    if (rc == 0)
        rc = oci_pull(cl, &ref, dir, digest, err);
    oci_client_free(cl);
    if (file_remove_tree(dir, &(struct err){0}) < 0)
        LOG_WARN(&gw_log, "deploy.tmp_not_removed", LF_STR("dir", dir));
    return rc;
}

/* The tag and digest <env> records for r->service now ("" before its first deploy). */
static int env_release(struct gw *g, const struct dreq *r, const char *env,
                       char tag[OCI_TAG_MAX + 1], char digest[OCI_DIGEST_SIZE], struct err *err)
{
    struct arena *a = arena_new(NULL);
    const struct pkg_service_info *si;
    struct pkg_call pc;
    int rc = service_info(g, r, env, a, &pc, &si, err);

    if (rc == 0) {
        snprintf(digest, OCI_DIGEST_SIZE, "%s", si->digest ? si->digest : "");
        if (tag != NULL)
            snprintf(tag, OCI_TAG_MAX + 1, "%s", si->tag ? si->tag : "");
    }
    arena_free(a);
    return rc;
}

/* The digest and tag the deploy records: the build's, the image's, the rollback's. */
static int release_of(struct gw *g, struct dreq *r, struct pkg_call *pc, char tag[OCI_TAG_MAX + 1],
                      char digest[OCI_DIGEST_SIZE], struct err *err)
{
    const json_t *built = json_object_get(r->j, "built");

    switch (r->kind) {
    case GW_DEPLOY_BUILD:
        ref_tag(jstr(built, "image_ref"), tag);
        snprintf(digest, OCI_DIGEST_SIZE, "%s", jstr(built, "digest") ? jstr(built, "digest") : "");
        return 0;
    case GW_DEPLOY_IMAGE:
        return image_digest(r, tag, digest, err);
    case GW_DEPLOY_ROLLBACK:
        snprintf(tag, OCI_TAG_MAX + 1, "%s", r->tag);
        return rollback_digest(g, r, pc, digest, err);
    case GW_DEPLOY_PROMOTE:
        return env_release(g, r, r->from_env, tag, digest, err);
    default:
        return 0;
    }
}

/* Records the release in the repository, unless the environment runs it already (a same-commit
 * redeploy, a rollback to what runs, a promotion of what is there): then nothing is committed
 * and the rollout finds the service as it should be. The output says what was committed and
 * what the environment recorded before, which a failed rollout puts back (revert_step). */
static int commit_step(struct flow_call *call, struct slice input, struct sbuf *output,
                       struct err *err)
{
    struct gw *g = flow_call_udata(call);
    struct arena *a = arena_new(NULL);
    struct pkg_call pc;
    struct dreq r;
    char commit[41] = "", tag[OCI_TAG_MAX + 1] = "", digest[OCI_DIGEST_SIZE] = "";
    char prev_tag[OCI_TAG_MAX + 1] = "", prev[OCI_DIGEST_SIZE] = "";
    int rc = dreq_parse(input, &r, err);

    if (rc == 0)
        rc = dreq_pkg(g, &r, a, &pc, err);
    if (rc == 0 && r.kind != GW_DEPLOY_REDEPLOY)
        rc = release_of(g, &r, &pc, tag, digest, err);
    if (rc == 0 && r.kind != GW_DEPLOY_REDEPLOY)
        rc = env_release(g, &r, r.env, prev_tag, prev, err);
    if (rc == 0 && r.kind != GW_DEPLOY_REDEPLOY && strcmp(prev, digest) != 0) {
        if (r.kind == GW_DEPLOY_PROMOTE)
            rc = pkg_promote(g->pkg, &pc, r.from_env, r.env, r.service, commit, err);
        else
            rc = pkg_deploy(g->pkg, &pc, r.env, r.service, tag, digest,
                            r.kind == GW_DEPLOY_ROLLBACK, commit, err);
    }
    if (rc == 0) {
        struct jw w;

        flow_call_log(call, "==> %s%s", commit[0] ? "committed " : "",
                      commit[0] ? commit : "the environment has this release already");
        jw_init(&w, output);
        jw_obj_begin(&w);
        put(&w, "commit", commit);
        put(&w, "prev_tag", prev_tag);
        put(&w, "prev_digest", prev);
        jw_obj_end(&w);
    }
    dreq_release(&r);
    arena_free(a);
    return rc;
}

/* After a failed rollout: records again the release the environment had before this deploy's
 * commit ("prev_tag", "prev_digest" of the input), so the repository says what runs and a later
 * redeploy (a variable change) does not roll the failed release out again. */
static int revert_step(struct flow_call *call, struct slice input, struct sbuf *output,
                       struct err *err)
{
    struct gw *g = flow_call_udata(call);
    struct arena *a = arena_new(NULL);
    char now[OCI_DIGEST_SIZE] = "";
    struct pkg_call pc;
    struct dreq r;
    int rc = dreq_parse(input, &r, err);
    const char *tag = rc == 0 ? jstr(r.j, "prev_tag") : NULL;
    const char *digest = rc == 0 ? jstr(r.j, "prev_digest") : NULL;

    (void)output;
    if (rc == 0)
        rc = env_release(g, &r, r.env, NULL, now, err);
    if (rc == 0 && strcmp(now, digest) != 0 && (rc = dreq_pkg(g, &r, a, &pc, err)) == 0)
        rc = pkg_deploy(g->pkg, &pc, r.env, r.service, tag, digest, true, NULL, err);
    if (rc == 0)
        flow_call_log(call, "==> the release failed: %s records %s again", r.env, tag);
    dreq_release(&r);
    arena_free(a);
    return rc;
}

/* ---------------------------------------------------------------- step: rollout */

struct rollout {
    struct flow_call *call;
    _Atomic bool cancel, done;
};

static void rollout_line(void *arg, const char *line)
{
    struct rollout *ro = arg;

    flow_call_log(ro->call, "%s", line);
}

/* Turns the engine's cancel token into the deployer's flag. */
static void *rollout_watch(void *arg)
{
    struct rollout *ro = arg;

    while (!atomic_load(&ro->done))
        if (flow_call_wait(ro->call, 100)) {
            atomic_store(&ro->cancel, true);
            break;
        }
    return NULL;
}

/* The deployer's spec of <si> in r->env. */
static int rollout_spec(struct gw *g, const struct dreq *r, const struct pkg_service_info *si,
                        struct arena *a, struct pkg_call *pc, struct dep_spec *spec,
                        struct err *err)
{
    struct oci_ref ref;
    const char **env = NULL;
    size_t nenv = 0;
    char *full;
    int rc;

    if (si->digest == NULL)
        return err_set(err, ERR_CONFLICT, "service %s has no image deployed in %s yet", r->service,
                       r->env);
    full = arena_printf(a, "%s@%s", si->image, si->digest);
    if (full == NULL || (rc = oci_ref_parse(slice_from_cstr(full), &ref, err)) < 0)
        return full == NULL ? err_set(err, ERR_LIMIT, "out of memory") : err_wrap(err, "image");
    rc = pkg_service_env(g->pkg, pc, r->env, r->service, g->ingress_port, a, &env, &nenv, err);
    if (rc < 0)
        return rc;
    const char **hosts = arena_alloc(a, (si->ndomains + 1) * sizeof(*hosts));
    if (hosts == NULL)
        return err_set(err, ERR_LIMIT, "out of memory");
    hosts[0] = si->platform_domain;
    for (size_t i = 0; i < si->ndomains; i++)
        hosts[i + 1] = si->domains[i];
    *spec = (struct dep_spec){
        .registry = adup(a, ref.host),
        .repository = adup(a, ref.repo),
        .digest = si->digest,
        .insecure_loopback = true,
        .port = (uint16_t)si->port,
        .replicas = si->suspended ? 0 : (unsigned)si->replicas,
        .memory_bytes = si->memory_bytes,
        .cpu_millis = si->cpu_millis,
        .env = env,
        .n_env = nenv,
        .start_command = si->custom_start_command,
        .health_path = si->health_path,
        .hosts = hosts,
        .n_hosts = si->platform_domain ? si->ndomains + 1 : 0,
    };
    if (g->registry_host != NULL && strcmp(ref.host, g->registry_host) == 0) {
        struct gw_caller c = dreq_caller(g, r);
        struct slice tok;

        if ((rc = gw_internal_token(&c, a, r->ws, c.role, &tok, err)) < 0)
            return rc;
        spec->pull_token = tok.ptr;
    }
    return 0;
}

static int rollout_run(struct gw *g, const struct dreq *r, struct flow_call *call,
                       struct dep_result *res, struct err *err)
{
    struct arena *a = arena_new(NULL);
    const struct pkg_service_info *si;
    struct pkg_call pc;
    struct dep_spec spec;
    struct rollout ro = {.call = call};
    pthread_t watcher;
    bool watching;
    int rc = service_info(g, r, r->env, a, &pc, &si, err);

    if (rc == 0)
        rc = rollout_spec(g, r, si, a, &pc, &spec, err);
    if (rc == 0) {
        struct dep_key key = {r->ws, r->project, r->env, r->service};
        struct dep_hooks hooks = {.line = rollout_line, .arg = &ro, .cancel = &ro.cancel};

        flow_call_log(call, "==> rolling out %s@%s, %u replica%s", si->image, si->digest,
                      spec.replicas, spec.replicas == 1 ? "" : "s");
        watching = pthread_create(&watcher, NULL, rollout_watch, &ro) == 0;
        rc = dep_rollout(g->dep, &key, &spec, &hooks, res, err);
        atomic_store(&ro.done, true);
        if (watching)
            pthread_join(watcher, NULL);
    }
    arena_free(a);
    return rc;
}

static int rollout_step(struct flow_call *call, struct slice input, struct sbuf *output,
                        struct err *err)
{
    struct gw *g = flow_call_udata(call);
    struct dep_result res = {0};
    struct dreq r;
    int rc = dreq_parse(input, &r, err);

    if (rc == 0 && g->dep == NULL)
        rc = err_set(err, ERR_UNAVAILABLE, "the deployer does not run in this process");
    if (rc == 0)
        rc = rollout_run(g, &r, call, &res, err);
    if (rc == 0) {
        struct jw w;

        flow_call_log(call, "==> %s", res.message);
        jw_init(&w, output);
        jw_obj_begin(&w);
        jw_key(&w, "message");
        jw_str(&w, res.message);
        jw_obj_end(&w);
    }
    dreq_release(&r);
    return rc;
}

/* ---------------------------------------------------------------- the workflow */

static int event(struct flow_ctx *ctx, const char *key, const char *value, struct err *err)
{
    return flow_set_event(ctx, key, slice_from_cstr(value), err);
}

/* Runs the build and adds its result to <r>'s input as "built". */
static int wf_build(struct flow_ctx *ctx, struct dreq *r, struct err *err)
{
    struct slice id = SLICE_NULL, out = SLICE_NULL;
    json_t *built;
    char *in;
    int rc;

    if ((rc = event(ctx, "phase", "BUILD", err)) < 0)
        return rc;
    in = json_dumps(r->j, JSON_COMPACT | JSON_SORT_KEYS);
    rc = flow_step(ctx, "build-start", build_start_step, slice_from_cstr(in), &id, err);
    free(in);
    if (rc == 0)
        rc = flow_set_event(ctx, "build", id, err);
    if (rc < 0)
        return rc;
    json_object_set_new(r->j, "build", json_stringn(id.ptr, id.len));
    in = json_dumps(r->j, JSON_COMPACT | JSON_SORT_KEYS);
    rc = flow_step(ctx, "build-wait", build_wait_step, slice_from_cstr(in), &out, err);
    free(in);
    if (rc < 0)
        return rc;
    built = json_loadb(out.ptr, out.len, 0, NULL);
    if (built == NULL)
        return err_set(err, ERR_INTERNAL, "build step: output is not JSON");
    json_object_set_new(r->j, "built", built);
    return flow_set_event(ctx, "image_ref", slice_from_cstr(jstr(built, "image_ref")), err);
}

/* The rollout's end as events: health and message (the error's when it failed). A failed
 * rollout after a commit puts the previous release back in the repository (<commit>: the
 * commit step's output). */
static int wf_rollout(struct flow_ctx *ctx, json_t *in, struct slice commit, struct err *err)
{
    struct slice out = SLICE_NULL;
    json_t *o = json_loadb(commit.ptr, commit.len, 0, NULL);
    char *text = NULL;
    int rc = event(ctx, "health", "PROGRESSING", err);

    json_object_set(in, "prev_tag", json_object_get(o, "prev_tag"));
    json_object_set(in, "prev_digest", json_object_get(o, "prev_digest"));
    if (rc == 0 && (text = json_dumps(in, JSON_COMPACT | JSON_SORT_KEYS)) == NULL)
        rc = err_set(err, ERR_INTERNAL, "deploy input: cannot encode");
    if (rc == 0)
        rc = flow_step(ctx, "rollout", rollout_step, slice_from_cstr(text), &out, err);
    if (rc < 0 && rc != FLOW_SUSPENDED && rc != ERR_CANCELLED) {
        struct err ignored = {0};
        const char *prev = jstr(o, "prev_digest"), *made = jstr(o, "commit");

        if (event(ctx, "health", "DEGRADED", &ignored) == 0)
            (void)event(ctx, "message", err->msg, &ignored);
        int rc2 = made != NULL && *made && prev != NULL && *prev
                      ? flow_step(ctx, "revert", revert_step, slice_from_cstr(text), &out, &ignored)
                      : 0;

        if (rc2 == FLOW_SUSPENDED)
            rc = rc2; /* the engine stops: the next one puts the release back */
        else if (rc2 < 0)
            LOG_WARN(&gw_log, "deploy.revert_failed", LF_STR("error", ignored.msg));
    } else if (rc == 0) {
        json_t *res = json_loadb(out.ptr, out.len, 0, NULL);

        rc = event(ctx, "message", res ? jstr(res, "message") : "", err);
        json_decref(res);
        if (rc == 0)
            rc = event(ctx, "health", "SYNCED", err);
    }
    free(text);
    json_decref(o);
    return rc;
}

static int deploy_wf(struct flow_ctx *ctx, struct slice input, struct sbuf *result, struct err *err)
{
    struct slice out;
    struct dreq r;
    char *in = NULL;
    int rc = dreq_parse(input, &r, err);

    if (rc == 0)
        json_object_set_new(r.j, "id", json_string(flow_id(ctx)));
    if (rc == 0 && r.kind == GW_DEPLOY_BUILD)
        rc = wf_build(ctx, &r, err);
    if (rc == 0)
        rc = event(ctx, "phase", "DEPLOYING", err);
    if (rc == 0 && (in = json_dumps(r.j, JSON_COMPACT | JSON_SORT_KEYS)) == NULL)
        rc = err_set(err, ERR_INTERNAL, "deploy input: cannot encode");
    if (rc == 0)
        rc = flow_step(ctx, "commit", commit_step, slice_from_cstr(in), &out, err);
    if (rc == 0)
        rc = wf_rollout(ctx, r.j, out, err);
    if (rc == 0)
        sbuf_puts(result, "true");
    free(in);
    dreq_release(&r);
    return rc;
}

int gw_deploy_register(struct gw *g, struct err *err)
{
    int rc = flow_queue_add(g->flow, &(struct flow_queue_def){.name = QUEUE, .per_key = 1}, err);

    if (rc == 0)
        rc = flow_register(g->flow,
                           &(struct flow_wf_def){.name = WF_NAME,
                                                 .fn = deploy_wf,
                                                 .udata = g,
                                                 .queue = QUEUE,
                                                 .deadline_ms = DEADLINE_MS},
                           err);
    return rc;
}

/* ---------------------------------------------------------------- starting */

static void key_prefix(char out[KEY_MAX], const char *ws, const char *project, const char *env,
                       const char *service)
{
    snprintf(out, KEY_MAX, "%s/%s/%s/%s/", ws, project, env, service);
}

/* Refuses a deploy of a service that is not there: ERR_NOTFOUND naming what is missing. */
static int target_check(struct gw_caller *c, const struct gw_deploy_req *r, struct err *err)
{
    struct arena *a = arena_new(NULL);
    struct pkg_service_info *svcs;
    struct pkg_call pc;
    size_t n = 0, i = 0;
    const char *env = r->kind == GW_DEPLOY_PROMOTE ? r->from_env : r->env;
    int rc = gw_pkg_call(c, a, c->workspace, c->role, r->project, &pc, err);

    if (rc == 0 && r->kind == GW_DEPLOY_PROMOTE)
        rc = pkg_env_services(c->g->pkg, &pc, r->env, a, &svcs, &n, err);
    if (rc == 0)
        rc = pkg_env_services(c->g->pkg, &pc, env, a, &svcs, &n, err);
    while (rc == 0 && i < n && strcmp(svcs[i].name, r->service) != 0)
        i++;
    if (rc == 0 && i == n)
        rc = err_set(err, ERR_NOTFOUND, "service %s does not exist in environment %s", r->service,
                     env);
    arena_free(a);
    return rc;
}

int gw_deploy_start(struct gw_caller *c, const struct gw_deploy_req *r, char id[37],
                    struct err *err)
{
    struct sbuf in = SBUF_INIT(64 << 10);
    char key[KEY_MAX + 40], part[KEY_MAX], nonce[37];
    struct jw w;
    int rc;

    if (c->g->flow == NULL || c->g->pkg == NULL)
        return err_set(err, ERR_UNAVAILABLE, "deploys do not run in this process");
    if ((rc = target_check(c, r, err)) < 0)
        return rc;
    jw_init(&w, &in);
    jw_obj_begin(&w);
    put(&w, "kind", kind_names[r->kind]);
    put(&w, "workspace", c->workspace);
    put(&w, "role", gw_role_name(c->role));
    put(&w, "user", c->user.id);
    put(&w, "name", c->user.name);
    put(&w, "email", c->user.email);
    put(&w, "project", r->project);
    put(&w, "env", r->env);
    put(&w, "service", r->service);
    put(&w, "ref", r->git_ref);
    put(&w, "image", r->image);
    put(&w, "tag", r->tag);
    put(&w, "from_env", r->from_env);
    jw_obj_end(&w);
    key_prefix(part, c->workspace, r->project, r->env, r->service);
    id_new(nonce);
    snprintf(key, sizeof(key), "%s%s", part, nonce);
    rc = in.err ? err_set(err, ERR_LIMIT, "deploy input too large")
                : flow_start(c->g->flow, WF_NAME, sbuf_slice(&in),
                             &(struct flow_start_opts){.key = slice_from_cstr(key),
                                                       .partition = slice_from_cstr(part)},
                             id, err);
    sbuf_release(&in);
    return rc < 0 ? rc : 0;
}

/* ---------------------------------------------------------------- reading */

/* The phase of a deploy whose events say it builds: the builder's. */
static const char *build_phase(struct gw *g, struct arena *a, const char *ws, const json_t *in,
                               const char *build_id)
{
    struct gw_caller c = {.g = g};
    struct bld_call bc = {0};
    struct bld_status st;
    struct err err = {0};

    if (g->bld == NULL || build_id == NULL)
        return "CLONING";
    c.user.id = jstr(in, "user");
    c.user.name = jstr(in, "name");
    c.user.email = jstr(in, "email");
    if (c.user.id == NULL || gw_internal_token(&c, a, ws, GW_ROLE_USER, &bc.token, &err) < 0 ||
        bld_build_status(g->bld, &bc, build_id, &st, &err) < 0)
        return "CLONING";
    switch (st.state) {
    case BLD_QUEUED:
    case BLD_CLONING:
        return "CLONING";
    case BLD_BUILDING:
        return "BUILDING";
    default:
        return "PUSHING";
    }
}

static const char *phase_of(struct gw *g, struct arena *a, const char *ws, const json_t *wf)
{
    const char *status = jstr(wf, "status"), *phase;
    const json_t *ev = json_object_get(wf, "events");

    if (strcmp(status, "SUCCEEDED") == 0 || strcmp(status, "FAILED") == 0 ||
        strcmp(status, "CANCELLED") == 0)
        return status;
    phase = jstr(ev, "phase");
    if (phase == NULL)
        return "QUEUED";
    if (strcmp(phase, "BUILD") == 0)
        return build_phase(g, a, ws, json_object_get(wf, "input"), jstr(ev, "build"));
    return phase;
}

static int64_t ms_of(const char *rfc3339)
{
    uint64_t ms;

    return rfc3339 && parse_time_ms(slice_from_cstr(rfc3339), &ms) == 0 ? (int64_t)ms : 0;
}

/* Fills <out> from workflow JSON <wf> (flow_show_json). */
static void run_fill(struct gw *g, struct arena *a, const char *ws, const json_t *wf,
                     struct gw_deploy_run *out)
{
    const json_t *ev = json_object_get(wf, "events"), *in = json_object_get(wf, "input");
    const char *status = jstr(wf, "status");
    bool final = strcmp(status, "SUCCEEDED") == 0 || strcmp(status, "FAILED") == 0 ||
                 strcmp(status, "CANCELLED") == 0;

    memset(out, 0, sizeof(*out));
    out->id = adup(a, jstr(wf, "id"));
    out->phase = adup(a, phase_of(g, a, ws, wf));
    out->build_id = adup(a, jstr(ev, "build"));
    out->image_ref = adup(a, jstr(ev, "image_ref"));
    out->digest = NULL;
    if (out->image_ref != NULL) {
        const char *at = strrchr(out->image_ref, '@');
        out->digest = at ? at + 1 : NULL;
    }
    out->error = adup(a, jstr(json_object_get(wf, "error"), "message"));
    out->started_ms = ms_of(jstr(wf, "created"));
    out->finished_ms = final ? ms_of(jstr(wf, "updated")) : 0;
    out->health = adup(a, jstr(ev, "health"));
    out->message = adup(a, jstr(ev, "message"));
    out->project = adup(a, jstr(in, "project"));
    out->env = adup(a, jstr(in, "env"));
    out->service = adup(a, jstr(in, "service"));
}

int gw_deploy_get(struct gw *g, struct arena *a, const char *ws, const char *id,
                  struct gw_deploy_run *out, struct err *err)
{
    struct sbuf buf = SBUF_INIT(SHOW_MAX);
    struct jw w;
    json_t *wf = NULL;
    const char *name, *wsin;
    int rc;

    jw_init(&w, &buf);
    rc = flow_show_json(g->store, slice_from_cstr(id), &w, err);
    if (rc == ERR_INVALID)
        rc = err_set(err, ERR_NOTFOUND, "deploy %s does not exist", id);
    if (rc == 0 && (wf = json_loadb(buf.buf, buf.len, 0, NULL)) == NULL)
        rc = err_set(err, ERR_INTERNAL, "deploy %s: cannot read it", id);
    name = wf ? jstr(wf, "name") : NULL;
    wsin = wf ? jstr(json_object_get(wf, "input"), "workspace") : NULL;
    if (rc == 0 &&
        (name == NULL || strcmp(name, WF_NAME) != 0 || wsin == NULL || strcmp(wsin, ws) != 0))
        rc = err_set(err, ERR_NOTFOUND, "deploy %s does not exist", id);
    if (rc == 0)
        run_fill(g, a, ws, wf, out);
    json_decref(wf);
    sbuf_release(&buf);
    return rc;
}

int gw_deploy_active(struct gw *g, struct arena *a, const char *ws, const char *project,
                     const char *env, const char *service, struct gw_deploy_run *out, bool *found,
                     struct err *err)
{
    struct sbuf buf = SBUF_INIT(SHOW_MAX);
    char prefix[KEY_MAX];
    struct jw w;
    json_t *list = NULL, *it;
    size_t i;
    int rc;

    *found = false;
    key_prefix(prefix, ws, project, env, service);
    jw_init(&w, &buf);
    rc = flow_list_json(
        g->store,
        &(struct flow_filter){
            .name = WF_NAME, .status = -1, .key = slice_from_cstr(prefix), .limit = 20},
        &w, err);
    if (rc == 0 && (list = json_loadb(buf.buf, buf.len, 0, NULL)) == NULL)
        rc = err_set(err, ERR_INTERNAL, "deploys: cannot read the list");
    json_array_foreach(list, i, it)
    {
        const char *st = jstr(it, "status");

        if (rc == 0 && strcmp(st, "SUCCEEDED") != 0 && strcmp(st, "FAILED") != 0 &&
            strcmp(st, "CANCELLED") != 0) {
            rc = gw_deploy_get(g, a, ws, jstr(it, "id"), out, err);
            *found = rc == 0;
            break;
        }
    }
    json_decref(list);
    sbuf_release(&buf);
    return rc;
}
