/*
 * gateway API: services of an environment, their domains, scaling and resources
 * (schema/services.graphql). What is wanted is the packager's (the project's repository, read
 * and written with an internal token naming the caller); what runs is the deployer's
 * (dep_status). A change that alters what a running service should run redeploys it with the
 * same image (gw_deploy_start). Variables are in api-vars.c.
 */
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "base/base.h"
#include "bld/bld.h"
#include "dep/dep.h"
#include "gateway/gw-int.h"
#include "gql/gql.h"
#include "pkg/pkg.h"

#define REF_MAX     255
#define URL_MAX     2048
#define CMD_MAX     4096
#define IMAGE_MAX   255
#define HISTORY_MAX 100
#define DNS_WAIT_MS 2000
#define SVC_RULE    "^[a-z][a-z0-9-]{0,30}$"

static const struct log_ctx svc_log = {.svc = "gateway"};

/* ---------------------------------------------------------------- arguments */

const char *gw_svc_dup(struct arena *a, const char *s)
{
    return s ? arena_strndup(a, s, strlen(s)) : NULL;
}

int gw_svc_call(struct gql_rctx *rc, struct gw_caller *c, const char *project, struct pkg_call *out,
                struct err *err)
{
    return gw_pkg_call(c, gql_rctx_arena(rc), c->workspace, c->role, project, out, err);
}

/* values-base's rule for service names (a DNS label short enough for derived names). */
static bool service_name_valid(struct slice s)
{
    if (s.len == 0 || s.len > 31 || s.ptr[0] < 'a' || s.ptr[0] > 'z')
        return false;
    for (size_t i = 1; i < s.len; i++)
        if (!((s.ptr[i] >= 'a' && s.ptr[i] <= 'z') || (s.ptr[i] >= '0' && s.ptr[i] <= '9') ||
              s.ptr[i] == '-'))
            return false;
    return true;
}

static int service_arg(struct gql_rctx *rc, const struct gql_val *in, const char *name,
                       const char *label, bool optional, const char **out, struct err *err)
{
    struct slice s;
    int rc_ = gw_api_text(rc, in, name, label, 31, optional, &s, err);

    *out = NULL;
    if (rc_ == ERR_INVALID && strstr(err->msg, "bytes") != NULL)
        return err_set(err, ERR_INVALID, "%s must match " SVC_RULE, label);
    if (rc_ < 0 || s.ptr == NULL)
        return rc_;
    if (!service_name_valid(s))
        return err_set(err, ERR_INVALID, "%s must match " SVC_RULE, label);
    if ((*out = arena_strndup(gql_rctx_arena(rc), s.ptr, s.len)) == NULL)
        return err_set(err, ERR_LIMIT, "%s: out of request memory", label);
    return 0;
}

/* "input.<name>" when the arguments are in an input object, else "<name>". */
static const char *label_of(struct gql_rctx *rc, const struct gql_val *in, const char *name)
{
    const char *l = in ? arena_printf(gql_rctx_arena(rc), "input.%s", name) : NULL;

    return l ? l : name;
}

int gw_svc_target_args(struct gql_rctx *rc, const struct gql_val *in, bool want_service,
                       struct gw_svc_target *t, struct err *err)
{
    int rc_;

    *t = (struct gw_svc_target){0};
    if ((rc_ = gw_api_slug_arg(rc, in, "projectId", label_of(rc, in, "projectId"), false,
                               &t->project, err)) < 0 ||
        (rc_ = gw_api_slug_arg(rc, in, "environment", label_of(rc, in, "environment"), false,
                               &t->env, err)) < 0)
        return rc_;
    if (!want_service)
        return 0;
    return service_arg(rc, in, "service", label_of(rc, in, "service"), false, &t->service, err);
}

/* ---------------------------------------------------------------- reading services */

int gw_svc_env_found(int rc_, const struct gw_caller *c, const struct gw_svc_target *t,
                     struct err *err)
{
    if (rc_ == ERR_NOTFOUND)
        return err_set(err, ERR_NOTFOUND, "no environment %s in project %s of workspace %s", t->env,
                       t->project, c->workspace);
    return rc_;
}

int gw_svc_list(struct gql_rctx *rc, struct gw_caller *c, const struct gw_svc_target *t,
                struct pkg_service_info **out, size_t *n, struct err *err)
{
    struct pkg_call call;
    int rc_;

    if ((rc_ = gw_svc_call(rc, c, t->project, &call, err)) < 0)
        return rc_;
    rc_ = pkg_env_services(c->g->pkg, &call, t->env, gql_rctx_arena(rc), out, n, err);
    return gw_svc_env_found(rc_, c, t, err);
}

int gw_svc_find(struct gql_rctx *rc, struct gw_caller *c, const struct gw_svc_target *t,
                const struct pkg_service_info **out, struct err *err)
{
    struct pkg_service_info *v;
    size_t n;
    int rc_ = gw_svc_list(rc, c, t, &v, &n, err);

    for (size_t i = 0; rc_ == 0 && i < n; i++)
        if (strcmp(v[i].name, t->service) == 0) {
            *out = &v[i];
            return 0;
        }
    return rc_ < 0 ? rc_
                   : err_set(err, ERR_NOTFOUND, "service: no service %s in %s/%s", t->service,
                             t->project, t->env);
}

/* Starts a redeploy of a service that runs something, so a change of what it should run
 * takes effect. The change is committed already, so a deploy that cannot start is logged
 * rather than failing the mutation: the next deploy applies it. */
void gw_svc_redeploy(struct gw_caller *c, const struct gw_svc_target *t,
                     const struct pkg_service_info *si)
{
    struct gw_deploy_req r = {
        .kind = GW_DEPLOY_REDEPLOY, .project = t->project, .env = t->env, .service = si->name};
    struct err err = {0};
    char id[37];

    if (si->digest == NULL)
        return;
    if (gw_deploy_start(c, &r, id, &err) < 0)
        LOG_WARN(&svc_log, "gateway.redeploy_not_started", LF_STR("project", t->project),
                 LF_STR("env", t->env), LF_STR("service", si->name), LF_STR("error", err.msg));
}

/* ---------------------------------------------------------------- ServiceInstance */

struct svc_v {
    const char *id, *name, *env, *image, *tag, *framework, *source_url, *context, *start,
        *custom_start, *sync, *message;
    int64_t port, replicas;
    bool ready;
    const char *project;
    const struct pkg_service_info *info;
    const struct gw_deploy_run *initial;
};

/* What runs compared with what is wanted; fills v->ready and v->message. */
static const char *sync_of(struct gw *g, struct arena *a, const char *ws, const char *project,
                           const char *env, const struct pkg_service_info *si, struct svc_v *v)
{
    struct dep_key key = {ws, project, env, si->name};
    struct dep_status st;
    struct err err = {0};

    if (g->dep == NULL || dep_status(g->dep, &key, &st, &err) < 0)
        return "UNKNOWN";
    v->ready = st.ready > 0;
    if (st.health == DEP_DEGRADED)
        v->message = gw_svc_dup(a, st.message);
    if (st.health == DEP_UNKNOWN)
        return si->digest ? "OUT_OF_SYNC" : "UNKNOWN";
    if (st.health == DEP_SYNCED && si->digest && strcmp(st.digest, si->digest) != 0)
        return "OUT_OF_SYNC";
    return dep_health_name(st.health);
}

static int svc_fill(struct gql_rctx *rc, struct gw_caller *c, const char *project, const char *env,
                    const struct pkg_service_info *si, struct svc_v *v, struct err *err)
{
    struct arena *a = gql_rctx_arena(rc);

    *v = (struct svc_v){.name = si->name,
                        .env = gw_svc_dup(a, env),
                        .project = gw_svc_dup(a, project),
                        .tag = si->tag,
                        .framework = si->framework,
                        .source_url = si->source_url,
                        .context = si->context_path,
                        .start = si->start_command,
                        .custom_start = si->custom_start_command,
                        .port = si->port,
                        .replicas = si->suspended ? 0 : si->replicas,
                        .info = si};
    v->id = arena_printf(a, "%s/%s/%s", project, env, si->name);
    if (si->digest != NULL)
        v->image = arena_printf(a, "%s@%s", si->image, si->digest);
    v->sync = sync_of(c->g, a, c->workspace, project, env, si, v);
    if (v->id == NULL || v->env == NULL || v->project == NULL ||
        (si->digest != NULL && v->image == NULL))
        return err_set(err, ERR_LIMIT, "service: out of request memory");
    return 0;
}

static int service_value(struct gql_rctx *rc, struct gw_caller *c, const struct gw_svc_target *t,
                         const struct pkg_service_info *si, const struct gw_deploy_run *initial,
                         struct gql_val *out, struct err *err)
{
    struct svc_v v;
    int rc_ = svc_fill(rc, c, t->project, t->env, si, &v, err);

    v.initial = initial;
    return rc_ < 0 ? rc_ : gw_api_ptr(rc, &v, sizeof(v), "ServiceInstance", out, err);
}

int gw_api_service_value(struct gql_rctx *rc, struct gw_caller *c, const char *project,
                         const char *env, const char *service, struct gql_val *out, struct err *err)
{
    struct gw_svc_target t = {project, env, service};
    const struct pkg_service_info *si;
    int rc_ = gw_svc_find(rc, c, &t, &si, err);

    return rc_ < 0 ? rc_ : service_value(rc, c, &t, si, NULL, out, err);
}

/* ---------------------------------------------------------------- Environment */

/* The environment a resolver's parent is: "<project>/<env>" split. */
static int env_target(struct gql_rctx *rc, const struct gql_val *parent, struct gw_svc_target *t,
                      struct err *err)
{
    const struct gw_env_v *e = parent->ptr.p;
    const char *slash = strchr(e->id, '/');

    if (slash == NULL)
        return err_set(err, ERR_INTERNAL, "environment id %s has no project", e->id);
    t->project = arena_strndup(gql_rctx_arena(rc), e->id, (size_t)(slash - e->id));
    t->env = e->name;
    t->service = NULL;
    return t->project ? 0 : err_set(err, ERR_LIMIT, "environment: out of request memory");
}

/* The services of the parent environment as ServiceInstance values in *out (n of them). */
static int env_service_values(struct gql_rctx *rc, const struct gql_val *parent, struct svc_v **out,
                              size_t *n, struct err *err)
{
    struct gw_caller *c = gw_api_caller(rc);
    struct pkg_service_info *si;
    struct gw_svc_target t;
    int rc_;

    if ((rc_ = env_target(rc, parent, &t, err)) < 0 ||
        (rc_ = gw_svc_list(rc, c, &t, &si, n, err)) < 0)
        return rc_;
    if (*n > 0 && (*out = arena_zalloc(gql_rctx_arena(rc), *n * sizeof(**out))) == NULL)
        return err_set(err, ERR_LIMIT, "services: out of request memory");
    for (size_t i = 0; i < *n; i++)
        if ((rc_ = svc_fill(rc, c, t.project, t.env, &si[i], &(*out)[i], err)) < 0)
            return rc_;
    return 0;
}

static int env_services(struct gql_rctx *rc, const struct gql_val *parent, struct gql_val *out,
                        struct err *err)
{
    struct svc_v *v = NULL;
    size_t n = 0;
    int rc_ = env_service_values(rc, parent, &v, &n, err);

    return rc_ < 0 ? rc_ : gw_api_ptr_list(rc, v, n, sizeof(*v), "ServiceInstance", out, err);
}

/* SyncStatus values from the best to the worst. */
static int sync_rank(const char *s)
{
    static const char *const order[] = {"SYNCED", "UNKNOWN", "PROGRESSING", "OUT_OF_SYNC",
                                        "DEGRADED"};

    for (size_t i = 0; i < ARRAY_LEN(order); i++)
        if (strcmp(s, order[i]) == 0)
            return (int)i;
    return 1;
}

static int env_sync(struct gql_rctx *rc, const struct gql_val *parent, struct gql_val *out,
                    struct err *err)
{
    const char *worst = "SYNCED";
    struct svc_v *v = NULL;
    size_t n = 0;
    int rc_ = env_service_values(rc, parent, &v, &n, err);

    for (size_t i = 0; rc_ == 0 && i < n; i++)
        if (sync_rank(v[i].sync) > sync_rank(worst))
            worst = v[i].sync;
    *out = GQL_ENUM(slice_from_cstr(worst));
    return rc_;
}

static int env_ephemeral(struct gql_rctx *rc, const struct gql_val *parent, struct gql_val *out,
                         struct err *err)
{
    (void)rc, (void)parent, (void)err;
    /* No operation makes an ephemeral environment yet (pkg_env_create drops a copied
     * ephemeral key), so none is: this turns true once preview environments exist. */
    *out = GQL_BOOL(false);
    return 0;
}

static int resources_get(struct gql_rctx *rc, struct gw_caller *c, const struct gw_svc_target *t,
                         struct pkg_env_resources *out, struct err *err)
{
    struct pkg_call call;
    int rc_;

    if ((rc_ = gw_svc_call(rc, c, t->project, &call, err)) < 0)
        return rc_;
    rc_ = pkg_env_resources_get(c->g->pkg, &call, t->env, gql_rctx_arena(rc), out, err);
    return gw_svc_env_found(rc_, c, t, err);
}

static int env_tier(struct gql_rctx *rc, const struct gql_val *parent, struct gql_val *out,
                    struct err *err)
{
    struct pkg_env_resources r;
    struct gw_svc_target t;
    int rc_;

    if ((rc_ = env_target(rc, parent, &t, err)) < 0 ||
        (rc_ = resources_get(rc, gw_api_caller(rc), &t, &r, err)) < 0)
        return rc_;
    *out = r.set && r.tier ? GQL_STRING(slice_from_cstr(r.tier)) : GQL_NULL;
    return 0;
}

/* ---------------------------------------------------------------- scaling, resources */

struct scaling_v {
    int64_t replicas;
    bool enabled;
    int64_t min, max, cpu; /* 0: null */
};

struct resources_v {
    const char *tier;
    int64_t cpu, memory_mb;
};

static void scaling_fill(const struct pkg_service_info *si, struct scaling_v *v)
{
    *v = (struct scaling_v){.replicas = si->replicas,
                            .enabled = si->autoscale_max > 0,
                            .min = si->autoscale_min,
                            .max = si->autoscale_max,
                            .cpu = si->autoscale_cpu};
}

static int svc_scaling(struct gql_rctx *rc, const struct gql_val *parent, struct gql_val *out,
                       struct err *err)
{
    const struct svc_v *s = parent->ptr.p;
    struct scaling_v v;

    scaling_fill(s->info, &v);
    return gw_api_ptr(rc, &v, sizeof(v), "ScalingConfig", out, err);
}

/* ScalingConfig.autoscaling: the same struct, read by AutoscalingConfig's fields. */
static int scaling_autoscaling(struct gql_rctx *rc, const struct gql_val *parent,
                               struct gql_val *out, struct err *err)
{
    (void)rc, (void)err;
    *out = GQL_PTR(parent->ptr.p, "AutoscalingConfig");
    return 0;
}

/* An Int member that is null when 0 (udata: its offset). */
static int int_or_null(struct gql_rctx *rc, const struct gql_val *parent, struct gql_val *out,
                       struct err *err)
{
    const size_t *off = gql_rctx_udata(rc);
    int64_t v;

    (void)err;
    memcpy(&v, (const char *)parent->ptr.p + *off, sizeof(v));
    *out = v != 0 ? GQL_INT(v) : GQL_NULL;
    return 0;
}

static int svc_resources(struct gql_rctx *rc, const struct gql_val *parent, struct gql_val *out,
                         struct err *err)
{
    const struct svc_v *s = parent->ptr.p;
    struct resources_v v = {s->info->tier ? s->info->tier : "small", (int64_t)s->info->cpu_millis,
                            (int64_t)(s->info->memory_bytes >> 20)};

    return gw_api_ptr(rc, &v, sizeof(v), "ServiceResources", out, err);
}

static int svc_initial(struct gql_rctx *rc, const struct gql_val *parent, struct gql_val *out,
                       struct err *err)
{
    const struct svc_v *s = parent->ptr.p;

    (void)rc, (void)err;
    *out = s->initial ? GQL_PTR((void *)s->initial, "DeployRun") : GQL_NULL;
    return 0;
}

/* ---------------------------------------------------------------- deployments */

struct deploy_v {
    const char *id, *tag, *digest, *message, *author;
    const char *source_message, *source_url; /* not known yet: null */
    bool active;
    int64_t ms;
};

struct deploys {
    struct arena *a;
    struct deploy_v *v;
    size_t n;
    bool oom;
};

static bool deploy_add(void *arg, const struct pkg_deployment *d)
{
    struct deploys *ds = arg;
    struct deploy_v *v = &ds->v[ds->n];

    *v =
        (struct deploy_v){.id = gw_svc_dup(ds->a, d->commit),
                          .tag = gw_svc_dup(ds->a, d->tag),
                          .digest = gw_svc_dup(ds->a, d->digest),
                          .message = gw_svc_dup(ds->a, d->message),
                          .author = arena_printf(ds->a, "%s <%s>", d->author_name, d->author_email),
                          .active = d->active,
                          .ms = d->time * 1000};
    if (v->id == NULL || v->message == NULL || v->author == NULL)
        return !(ds->oom = true);
    return ++ds->n < HISTORY_MAX;
}

static int svc_deployments(struct gql_rctx *rc, const struct gql_val *parent, struct gql_val *out,
                           struct err *err)
{
    const struct svc_v *s = parent->ptr.p;
    struct gw_caller *c = gw_api_caller(rc);
    struct deploys ds = {.a = gql_rctx_arena(rc)};
    struct pkg_call call;
    int rc_;

    if ((ds.v = arena_alloc(ds.a, HISTORY_MAX * sizeof(*ds.v))) == NULL)
        return err_set(err, ERR_LIMIT, "deployments: out of request memory");
    if ((rc_ = gw_svc_call(rc, c, s->project, &call, err)) < 0 ||
        (rc_ = pkg_history(c->g->pkg, &call, s->env, s->name, HISTORY_MAX, deploy_add, &ds, err)) <
            0)
        return rc_;
    if (ds.oom)
        return err_set(err, ERR_LIMIT, "deployments: out of request memory");
    return gw_api_ptr_list(rc, ds.v, ds.n, sizeof(*ds.v), "Deployment", out, err);
}

/* ---------------------------------------------------------------- DNS */

static const char *workload_domain(const struct gw *g)
{
    return g->workload_domain ? g->workload_domain : "localhost";
}

/* One lookup that may outlive its asker: whoever of the asker and the resolver's notification
 * lets go of it last frees it, so a lookup that takes longer than the asker waits is safe. */
struct dns_req {
    struct gaicb cb;
    struct addrinfo hints;
    atomic_int refs;
    char name[PKG_HOST_MAX + 1];
};

static void dns_unref(struct dns_req *r)
{
    if (atomic_fetch_sub(&r->refs, 1) != 1)
        return;
    if (r->cb.ar_result != NULL)
        freeaddrinfo(r->cb.ar_result);
    free(r);
}

static void dns_notified(union sigval v)
{
    dns_unref(v.sival_ptr);
}

/* Waits for <r> until DNS_WAIT_MS have passed; returns gai_error() then. */
static int dns_wait(struct dns_req *r)
{
    const struct gaicb *list[1] = {&r->cb};
    uint64_t end = time_mono_ms() + DNS_WAIT_MS;
    int e;

    while ((e = gai_error(&r->cb)) == EAI_INPROGRESS) {
        uint64_t now = time_mono_ms();
        struct timespec ts;

        if (now >= end)
            break;
        ts = (struct timespec){(time_t)((end - now) / 1000), (long)((end - now) % 1000) * 1000000};
        (void)gai_suspend(list, 1, &ts);
    }
    return e;
}

struct dns_v {
    const char *hostname, *status, *message;
    const struct gql_val *addresses;
    size_t naddresses;
};

/* Whether <addr> is one of this machine's addresses (or the configured one). */
static bool addr_here(const struct sockaddr *sa, const struct ifaddrs *ifs, const char *text)
{
    if (strcmp(text, "127.0.0.1") == 0 || strncmp(text, "127.", 4) == 0 || strcmp(text, "::1") == 0)
        return true;
    for (const struct ifaddrs *i = ifs; i != NULL; i = i->ifa_next) {
        char buf[INET6_ADDRSTRLEN];
        const void *p;

        if (i->ifa_addr == NULL || i->ifa_addr->sa_family != sa->sa_family)
            continue;
        p = sa->sa_family == AF_INET
                ? (const void *)&((const struct sockaddr_in *)(const void *)i->ifa_addr)->sin_addr
                : (const void *)&((const struct sockaddr_in6 *)(const void *)i->ifa_addr)
                      ->sin6_addr;
        if (inet_ntop(sa->sa_family, p, buf, sizeof(buf)) && strcmp(buf, text) == 0)
            return true;
    }
    return false;
}

/* Sorts the answer of <res> into <out>: VALID when every address is here or its canonical
 * name is the domain target, MISCONFIGURED otherwise. */
static int dns_judge(struct arena *a, const struct gw *g, const struct addrinfo *res,
                     struct dns_v *out, struct err *err)
{
    struct gql_val *items = arena_zalloc(a, 16 * sizeof(*items));
    struct ifaddrs *ifs = NULL;
    bool all_here = true;
    size_t n = 0;

    if (items == NULL)
        return err_set(err, ERR_LIMIT, "checkDnsStatus: out of request memory");
    (void)getifaddrs(&ifs);
    for (const struct addrinfo *ai = res; ai != NULL && n < 16; ai = ai->ai_next) {
        char buf[INET6_ADDRSTRLEN];
        const void *p =
            ai->ai_family == AF_INET
                ? (const void *)&((struct sockaddr_in *)(void *)ai->ai_addr)->sin_addr
                : (const void *)&((struct sockaddr_in6 *)(void *)ai->ai_addr)->sin6_addr;

        if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
            inet_ntop(ai->ai_family, p, buf, sizeof(buf)) == NULL)
            continue;
        all_here = all_here && addr_here(ai->ai_addr, ifs, buf);
        items[n++] = GQL_STRING(slice_dup(a, slice_from_cstr(buf)));
    }
    if (ifs != NULL)
        freeifaddrs(ifs);
    if (res != NULL && res->ai_canonname != NULL &&
        strcasecmp(res->ai_canonname, workload_domain(g)) == 0)
        all_here = true;
    out->addresses = items;
    out->naddresses = n;
    out->status = n > 0 && all_here ? "VALID" : "MISCONFIGURED";
    out->message = n > 0 && all_here ? "it points to this machine"
                                     : "it resolves to addresses that are not this machine's";
    return 0;
}

/* Looks <host> up with a time budget. */
static int dns_check(struct arena *a, const struct gw *g, const char *host, struct dns_v *out,
                     struct err *err)
{
    struct dns_req *r = xcalloc(1, sizeof(*r));
    struct gaicb *list[1] = {&r->cb};
    struct sigevent sev = {.sigev_notify = SIGEV_THREAD,
                           .sigev_notify_function = dns_notified,
                           .sigev_value.sival_ptr = r};
    int e, rc = 0;

    *out = (struct dns_v){.hostname = gw_svc_dup(a, host)};
    snprintf(r->name, sizeof(r->name), "%s", host);
    r->hints = (struct addrinfo){.ai_socktype = SOCK_STREAM, .ai_flags = AI_CANONNAME};
    r->cb = (struct gaicb){.ar_name = r->name, .ar_request = &r->hints};
    atomic_init(&r->refs, 2);
    if (getaddrinfo_a(GAI_NOWAIT, list, 1, &sev) != 0) {
        free(r);
        *out = (struct dns_v){gw_svc_dup(a, host), "ERROR", "the lookup could not start", NULL, 0};
        return 0;
    }
    e = dns_wait(r);
    if (e == 0)
        rc = dns_judge(a, g, r->cb.ar_result, out, err);
    else if (e == EAI_INPROGRESS)
        *out = (struct dns_v){out->hostname, "PENDING", "no answer in time", NULL, 0};
    else if (e == EAI_NONAME || e == EAI_NODATA || e == EAI_AGAIN || e == EAI_FAIL)
        *out = (struct dns_v){out->hostname, "PENDING", "it does not resolve (yet)", NULL, 0};
    else
        *out = (struct dns_v){out->hostname, "ERROR", gw_svc_dup(a, gai_strerror(e)), NULL, 0};
    dns_unref(r);
    return rc;
}

static int dns_value_addresses(struct gql_rctx *rc, const struct gql_val *parent,
                               struct gql_val *out, struct err *err)
{
    const struct dns_v *v = parent->ptr.p;

    (void)rc, (void)err;
    *out = GQL_LIST(v->addresses, v->naddresses);
    return 0;
}

static int api_check_dns(struct gql_rctx *rc, const struct gql_val *parent, struct gql_val *out,
                         struct err *err)
{
    struct gw_caller *c = gw_api_caller(rc);
    struct dns_v v;
    struct slice host;
    char *h;
    int rc_;

    (void)parent;
    if ((rc_ = gw_api_text(rc, NULL, "hostname", "hostname", PKG_HOST_MAX, false, &host, err)) < 0)
        return rc_;
    if ((h = arena_strndup(gql_rctx_arena(rc), host.ptr, host.len)) == NULL)
        return err_set(err, ERR_LIMIT, "hostname: out of request memory");
    if ((rc_ = dns_check(gql_rctx_arena(rc), c->g, h, &v, err)) < 0)
        return rc_;
    return gw_api_ptr(rc, &v, sizeof(v), "DnsCheck", out, err);
}

struct platform_v {
    const char *workload, *target, *ip, *ingress;
};

static int api_platform_config(struct gql_rctx *rc, const struct gql_val *parent,
                               struct gql_val *out, struct err *err)
{
    struct gw_caller *c = gw_api_caller(rc);
    struct platform_v v = {workload_domain(c->g), workload_domain(c->g), "127.0.0.1", NULL};

    if (c->g->ingress_port > 0)
        v.ingress = arena_printf(gql_rctx_arena(rc), "http://localhost:%d", c->g->ingress_port);

    (void)parent;
    return gw_api_ptr(rc, &v, sizeof(v), "PlatformConfig", out, err);
}

/* ---------------------------------------------------------------- domains */

struct domain_v {
    const char *hostname, *type, *tls;
};

static bool under_local(const char *host)
{
    size_t n = strlen(host);

    return strcmp(host, "localhost") == 0 || (n > 10 && strcmp(host + n - 10, ".localhost") == 0);
}

/* Platform domains under a local workload domain are served here by definition; others are
 * looked up when asked. */
static int domain_dns(struct gql_rctx *rc, const struct gql_val *parent, struct gql_val *out,
                      struct err *err)
{
    const struct domain_v *d = parent->ptr.p;
    struct dns_v v;
    int rc_;

    if (strcmp(d->type, "PLATFORM") == 0 && under_local(workload_domain(gw_api_caller(rc)->g))) {
        *out = GQL_ENUM(slice_from_cstr("VALID"));
        return 0;
    }
    if ((rc_ = dns_check(gql_rctx_arena(rc), gw_api_caller(rc)->g, d->hostname, &v, err)) < 0)
        return rc_;
    *out = GQL_ENUM(slice_from_cstr(v.status));
    return 0;
}

static int svc_domains(struct gql_rctx *rc, const struct gql_val *parent, struct gql_val *out,
                       struct err *err)
{
    const struct pkg_service_info *si = ((const struct svc_v *)parent->ptr.p)->info;
    struct domain_v *v = arena_zalloc(gql_rctx_arena(rc), (si->ndomains + 1) * sizeof(*v));
    size_t n = 0;

    if (v == NULL)
        return err_set(err, ERR_LIMIT, "domains: out of request memory");
    if (si->platform_domain != NULL)
        v[n++] = (struct domain_v){si->platform_domain, "PLATFORM", "NONE"};
    for (size_t i = 0; i < si->ndomains; i++)
        v[n++] = (struct domain_v){si->domains[i], "CUSTOM", "NONE"};
    return gw_api_ptr_list(rc, v, n, sizeof(*v), "Domain", out, err);
}

static int domain_value(struct gql_rctx *rc, const char *host, const char *type,
                        struct gql_val *out, struct err *err)
{
    struct domain_v v = {gw_svc_dup(gql_rctx_arena(rc), host), type, "NONE"};

    if (v.hostname == NULL)
        return err_set(err, ERR_LIMIT, "domain: out of request memory");
    return gw_api_ptr(rc, &v, sizeof(v), "Domain", out, err);
}

static int generate_domain(struct gql_rctx *rc, struct gw_caller *c, struct gw_mut *m,
                           struct gql_val *out, struct err *err)
{
    const struct pkg_service_info *si;
    char host[PKG_HOST_MAX + 1];
    struct pkg_call call;
    struct gw_svc_target t;
    int rc_;

    if ((rc_ = gw_svc_target_args(rc, gql_arg(rc, "input"), true, &t, err)) < 0 ||
        (rc_ = gw_api_require_active(c, err)) < 0)
        return rc_;
    m->target = slice_from_cstr(t.project);
    if ((rc_ = gw_svc_find(rc, c, &t, &si, err)) < 0 ||
        (rc_ = gw_svc_call(rc, c, t.project, &call, err)) < 0 ||
        (rc_ = pkg_domain_generate(c->g->pkg, &call, t.env, t.service, host, err)) < 0)
        return rc_;
    m->detail = arena_printf(gql_rctx_arena(rc), "{\"service\":\"%s\",\"hostname\":\"%s\"}",
                             t.service, host);
    return domain_value(rc, host, "PLATFORM", out, err);
}

/* The hostname argument, lower-cased (the packager checks the rest of the rules). */
static int host_arg(struct gql_rctx *rc, char **out, struct err *err)
{
    struct slice s;
    int rc_ = gw_api_text(rc, NULL, "hostname", "hostname", PKG_HOST_MAX, false, &s, err);

    if (rc_ < 0)
        return rc_;
    if ((*out = arena_strndup(gql_rctx_arena(rc), s.ptr, s.len)) == NULL)
        return err_set(err, ERR_LIMIT, "hostname: out of request memory");
    for (char *p = *out; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    return 0;
}

/* A custom domain's change: the service's routes change, so it is redeployed. */
static int custom_domain(struct gql_rctx *rc, struct gw_caller *c, struct gw_mut *m, bool add,
                         struct gql_val *out, struct err *err)
{
    const struct pkg_service_info *si;
    struct pkg_call call;
    struct gw_svc_target t;
    char *host;
    int rc_;

    if ((rc_ = gw_svc_target_args(rc, NULL, true, &t, err)) < 0 ||
        (rc_ = host_arg(rc, &host, err)) < 0 || (rc_ = gw_api_require_active(c, err)) < 0)
        return rc_;
    m->target = slice_from_cstr(t.project);
    m->detail = arena_printf(gql_rctx_arena(rc), "{\"service\":\"%s\",\"hostname\":\"%s\"}",
                             t.service, host);
    if ((rc_ = gw_svc_find(rc, c, &t, &si, err)) < 0 ||
        (rc_ = gw_svc_call(rc, c, t.project, &call, err)) < 0)
        return rc_;
    rc_ = add ? pkg_domain_add(c->g->pkg, &call, t.env, t.service, host, NULL, err)
              : pkg_domain_remove(c->g->pkg, &call, t.env, t.service, host, NULL, err);
    if (rc_ == ERR_INVALID)
        err_wrap(err, "hostname");
    if (rc_ < 0)
        return rc_;
    gw_svc_redeploy(c, &t, si);
    if (!add) {
        *out = GQL_BOOL(true);
        return 0;
    }
    return domain_value(rc, host, "CUSTOM", out, err);
}

static int add_custom_domain(struct gql_rctx *rc, struct gw_caller *c, struct gw_mut *m,
                             struct gql_val *out, struct err *err)
{
    return custom_domain(rc, c, m, true, out, err);
}

static int remove_domain(struct gql_rctx *rc, struct gw_caller *c, struct gw_mut *m,
                         struct gql_val *out, struct err *err)
{
    return custom_domain(rc, c, m, false, out, err);
}

/* ---------------------------------------------------------------- adding and removing */

/* What addService was given. */
struct add_in {
    struct gw_svc_target t;
    const char *framework, *start, *repo, *context, *ref, *image, *custom;
    int64_t port;
};

static int opt_text(struct gql_rctx *rc, const struct gql_val *in, const char *name, size_t max,
                    const char **out, struct err *err)
{
    struct slice s;
    int rc_ = gw_api_text(rc, in, name, label_of(rc, in, name), max, true, &s, err);

    *out = NULL;
    if (rc_ < 0 || s.ptr == NULL)
        return rc_;
    if ((*out = arena_strndup(gql_rctx_arena(rc), s.ptr, s.len)) == NULL)
        return err_set(err, ERR_LIMIT, "input.%s: out of request memory", name);
    return 0;
}

static int add_args(struct gql_rctx *rc, const struct gql_val *in, struct add_in *a,
                    struct err *err)
{
    const struct gql_val *port = gql_val_field(in, "port");
    int rc_;

    *a = (struct add_in){0};
    if ((rc_ = gw_svc_target_args(rc, in, false, &a->t, err)) < 0 ||
        (rc_ = service_arg(rc, in, "name", "input.name", true, &a->t.service, err)) < 0 ||
        (rc_ = opt_text(rc, in, "framework", 64, &a->framework, err)) < 0 ||
        (rc_ = opt_text(rc, in, "startCommand", CMD_MAX, &a->start, err)) < 0 ||
        (rc_ = opt_text(rc, in, "repository", URL_MAX, &a->repo, err)) < 0 ||
        (rc_ = opt_text(rc, in, "contextPath", 1024, &a->context, err)) < 0 ||
        (rc_ = opt_text(rc, in, "gitRef", REF_MAX, &a->ref, err)) < 0 ||
        (rc_ = opt_text(rc, in, "image", IMAGE_MAX + 80, &a->image, err)) < 0 ||
        (rc_ = opt_text(rc, in, "customStartCommand", CMD_MAX, &a->custom, err)) < 0)
        return rc_;
    if (port != NULL && port->kind == GQL_V_INT && (port->i < 1 || port->i > 65535))
        return err_set(err, ERR_INVALID, "input.port must be 1..65535");
    a->port = port != NULL && port->kind == GQL_V_INT ? port->i : 0;
    if ((a->repo == NULL) == (a->image == NULL))
        return err_set(err, ERR_INVALID, "input: give either repository or image");
    if (a->image != NULL && a->t.service == NULL)
        return err_set(err, ERR_INVALID, "input.name is required with input.image");
    return 0;
}

/* The detected app addService builds: the one at contextPath, or the only one. */
static int pick_app(struct arena *ar, const struct add_in *a, const struct bld_service *v, size_t n,
                    const struct bld_service **out, struct err *err)
{
    struct sbuf list = SBUF_INIT(512);
    int rc;

    for (size_t i = 0; i < n; i++)
        if ((a->context != NULL && strcmp(v[i].context_path, a->context) == 0) ||
            (a->context == NULL && n == 1)) {
            *out = &v[i];
            return 0;
        }
    for (size_t i = 0; i < n; i++)
        sbuf_printf(&list, "%s%s (%s)", i ? ", " : "", v[i].name, v[i].context_path);
    rc = a->context ? err_set(err, ERR_INVALID, "input.contextPath: no app at %s; found %s",
                              a->context, list.buf)
                    : err_set(err, ERR_INVALID,
                              "input.contextPath is required: the repository holds %zu apps: %s", n,
                              list.buf);
    (void)ar;
    sbuf_release(&list);
    return rc;
}

/* Fills what was not given from what the builder detects in the repository. */
static int add_detect(struct gql_rctx *rc, struct gw_caller *c, struct add_in *a, struct err *err)
{
    struct arena *ar = gql_rctx_arena(rc);
    const struct bld_service *app = NULL;
    struct bld_service *v = NULL;
    struct bld_call call = {.url = a->repo, .ref = a->ref};
    size_t n = 0;
    int rc_;

    if (c->g->bld == NULL) /* nothing to detect with: what was given must do */
        return a->t.service ? 0
                            : err_set(err, ERR_UNAVAILABLE,
                                      "the builder does not run in this process: give input.name");
    if ((rc_ = gw_internal_token(c, ar, c->workspace, c->role, &call.token, err)) < 0)
        return rc_;
    rc_ = bld_detect_services(c->g->bld, &call, ar, &v, &n, err);
    if (rc_ == ERR_UNAVAILABLE || rc_ == ERR_INVALID || rc_ == ERR_NOTFOUND) {
        err->code = rc_ = ERR_INVALID; /* the source the user named is wrong */
        return err_wrap(err, "input.repository");
    }
    if (rc_ < 0 || (rc_ = pick_app(ar, a, v, n, &app, err)) < 0)
        return rc_;
    if (a->t.service == NULL && !service_name_valid(slice_from_cstr(app->name)))
        return err_set(err, ERR_INVALID,
                       "input.name is required: the detected name %s does "
                       "not match " SVC_RULE,
                       app->name);
    a->t.service = a->t.service ? a->t.service : app->name;
    a->port = a->port ? a->port : app->port;
    a->framework = a->framework ? a->framework : (app->framework[0] ? app->framework : NULL);
    a->start = a->start ? a->start : (app->start_cmd[0] ? app->start_cmd : NULL);
    if (a->context == NULL && strcmp(app->context_path, ".") != 0)
        a->context = app->context_path;
    return 0;
}

/* <image> without its digest and tag: the repository the service's releases come from. */
static const char *image_repository(struct arena *ar, const char *image)
{
    size_t n = strcspn(image, "@");
    const char *slash = memrchr(image, '/', n), *colon = memrchr(image, ':', n);

    if (colon != NULL && slash != NULL && colon > slash)
        n = (size_t)(colon - image);
    return arena_strndup(ar, image, n);
}

/* The base values of the new service (schema/values-base.schema.json). */
static json_t *add_values(struct gql_rctx *rc, struct gw_caller *c, const struct add_in *a)
{
    json_t *svc = json_object(), *src;
    const char *image;

    if (a->image != NULL)
        image = image_repository(gql_rctx_arena(rc), a->image);
    else
        image = arena_printf(gql_rctx_arena(rc), "%s/%s/%s/%s", c->g->registry_host, c->workspace,
                             a->t.project, a->t.service);
    if (svc == NULL || image == NULL)
        return json_decref(svc), NULL;
    json_object_set_new(svc, "image", json_string(image));
    json_object_set_new(svc, "port", json_integer(a->port ? a->port : 8080));
    if (a->framework)
        json_object_set_new(svc, "framework", json_string(a->framework));
    if (a->start)
        json_object_set_new(svc, "startCommand", json_string(a->start));
    if (a->custom)
        json_object_set_new(svc, "customStartCommand", json_string(a->custom));
    if (a->repo != NULL && (src = json_object()) != NULL) {
        json_object_set_new(src, "repository", json_string(a->repo));
        if (a->ref) /* absent: the repository's default branch, at every build */
            json_object_set_new(src, "ref", json_string(a->ref));
        if (a->context)
            json_object_set_new(src, "contextPath", json_string(a->context));
        json_object_set_new(svc, "source", src);
    }
    return svc;
}

/* Starts the first deploy; *out gets it as DeployRun shows it. */
static int add_deploy(struct gql_rctx *rc, struct gw_caller *c, const struct add_in *a,
                      struct gw_deploy_run **out, struct err *err)
{
    struct gw_deploy_req r = {.kind = a->image ? GW_DEPLOY_IMAGE : GW_DEPLOY_BUILD,
                              .project = a->t.project,
                              .env = a->t.env,
                              .service = a->t.service,
                              .git_ref = a->ref,
                              .image = a->image};
    char id[37];
    int rc_;

    *out = arena_zalloc(gql_rctx_arena(rc), sizeof(**out));
    if (*out == NULL)
        return err_set(err, ERR_LIMIT, "addService: out of request memory");
    if ((rc_ = gw_deploy_start(c, &r, id, err)) < 0)
        return rc_;
    return gw_deploy_get(c->g, gql_rctx_arena(rc), c->workspace, id, *out, err);
}

static int add_service(struct gql_rctx *rc, struct gw_caller *c, struct gw_mut *m,
                       struct gql_val *out, struct err *err)
{
    const struct pkg_service_info *si;
    struct gw_deploy_run *run = NULL;
    struct pkg_call call;
    struct add_in a;
    json_t *svc;
    int rc_;

    if ((rc_ = add_args(rc, gql_arg(rc, "input"), &a, err)) < 0 ||
        (rc_ = gw_api_require_active(c, err)) < 0)
        return rc_;
    m->target = slice_from_cstr(a.t.project);
    if (a.repo != NULL && c->g->registry_host == NULL)
        return err_set(err, ERR_UNAVAILABLE, "no registry is configured for builds");
    if (a.repo != NULL && (rc_ = add_detect(rc, c, &a, err)) < 0)
        return rc_;
    if ((svc = add_values(rc, c, &a)) == NULL)
        return err_set(err, ERR_LIMIT, "addService: out of memory");
    rc_ = gw_svc_call(rc, c, a.t.project, &call, err);
    if (rc_ == 0)
        rc_ = pkg_service_add(c->g->pkg, &call, a.t.service, svc, NULL, err);
    json_decref(svc);
    if (rc_ == ERR_INVALID && strstr(err->msg, "image") != NULL)
        err_wrap(err, "input.image");
    if (rc_ < 0 || (rc_ = gw_svc_find(rc, c, &a.t, &si, err)) < 0)
        return rc_;
    m->detail = arena_printf(gql_rctx_arena(rc), "{\"service\":\"%s\"}", a.t.service);
    if ((rc_ = add_deploy(rc, c, &a, &run, err)) < 0) {
        LOG_WARN(&svc_log, "gateway.initial_deploy_not_started", LF_STR("project", a.t.project),
                 LF_STR("service", a.t.service), LF_STR("error", err->msg));
        run = NULL; /* the service exists: a deploy can be asked for later */
    }
    return service_value(rc, c, &a.t, si, run, out, err);
}

struct stop_envs {
    struct gw_caller *c;
    const struct gw_svc_target *t;
    struct err *err;
    int rc;
};

static bool stop_in_env(void *arg, const char *env)
{
    struct stop_envs *s = arg;
    struct dep_key key = {s->c->workspace, s->t->project, env, s->t->service};

    s->rc = dep_remove(s->c->g->dep, &key, s->err);
    return s->rc == 0;
}

/* Stops what runs of the removed service in every environment of its project. */
static int remove_running(struct gql_rctx *rc, struct gw_caller *c, const struct gw_svc_target *t,
                          struct err *err)
{
    struct stop_envs s = {c, t, err, 0};
    struct pkg_call call;
    int rc_;

    if ((rc_ = gw_svc_call(rc, c, t->project, &call, err)) < 0 ||
        (rc_ = pkg_env_list(c->g->pkg, &call, stop_in_env, &s, err)) < 0)
        return rc_;
    return s.rc;
}

static int remove_service(struct gql_rctx *rc, struct gw_caller *c, struct gw_mut *m,
                          struct gql_val *out, struct err *err)
{
    const struct pkg_service_info *si;
    struct pkg_call call;
    struct gw_svc_target t;
    int rc_;

    if ((rc_ = gw_svc_target_args(rc, NULL, true, &t, err)) < 0 ||
        (rc_ = gw_api_require_active(c, err)) < 0)
        return rc_;
    m->target = slice_from_cstr(t.project);
    m->detail = arena_printf(gql_rctx_arena(rc), "{\"service\":\"%s\"}", t.service);
    if ((rc_ = gw_svc_find(rc, c, &t, &si, err)) < 0 ||
        (rc_ = gw_svc_call(rc, c, t.project, &call, err)) < 0 ||
        (rc_ = pkg_service_remove(c->g->pkg, &call, t.service, NULL, err)) < 0)
        return rc_;
    if (c->g->dep != NULL && (rc_ = remove_running(rc, c, &t, err)) < 0)
        return rc_;
    *out = GQL_BOOL(true);
    return 0;
}

/* ---------------------------------------------------------------- configuration */

/* pkg_configure(<set>) on the target, then a redeploy of it; <set> is consumed. */
static int configure(struct gql_rctx *rc, struct gw_caller *c, const struct gw_svc_target *t,
                     json_t *set, struct err *err)
{
    const struct pkg_service_info *si;
    struct pkg_call call;
    int rc_;

    if (set == NULL)
        return err_set(err, ERR_LIMIT, "%s: out of memory", gql_rctx_field(rc));
    rc_ = gw_svc_find(rc, c, t, &si, err);
    if (rc_ == 0)
        rc_ = gw_svc_call(rc, c, t->project, &call, err);
    if (rc_ == 0)
        rc_ = pkg_configure(c->g->pkg, &call, t->env, t->service, set, NULL, err);
    json_decref(set);
    if (rc_ == 0)
        gw_svc_redeploy(c, t, si);
    return rc_;
}

static int set_custom_start(struct gql_rctx *rc, struct gw_caller *c, struct gw_mut *m,
                            struct gql_val *out, struct err *err)
{
    struct gw_svc_target t;
    struct slice cmd;
    json_t *set;
    int rc_;

    if ((rc_ = gw_svc_target_args(rc, NULL, true, &t, err)) < 0 ||
        (rc_ = gw_api_text(rc, NULL, "command", "command", CMD_MAX, true, &cmd, err)) < 0 ||
        (rc_ = gw_api_require_active(c, err)) < 0)
        return rc_;
    m->target = slice_from_cstr(t.project);
    m->detail = arena_printf(gql_rctx_arena(rc), "{\"service\":\"%s\"}", t.service);
    set = json_pack("{s:o}", "customStartCommand",
                    cmd.ptr ? json_stringn(cmd.ptr, cmd.len) : json_null());
    if ((rc_ = configure(rc, c, &t, set, err)) < 0)
        return rc_;
    return gw_api_service_value(rc, c, t.project, t.env, t.service, out, err);
}

/* The Int field <name> of <in>; ERR_INVALID naming it unless within lo..hi. *out is <def>
 * when it is absent. */
static int int_in(const struct gql_val *in, const char *name, const char *label, int64_t lo,
                  int64_t hi, int64_t def, int64_t *out, struct err *err)
{
    const struct gql_val *v = in ? gql_val_field(in, name) : NULL;

    *out = def;
    if (v == NULL || v->kind == GQL_V_NULL)
        return 0;
    if (v->kind != GQL_V_INT || v->i < lo || v->i > hi)
        return err_set(err, ERR_INVALID, "%s must be %" PRId64 "..%" PRId64, label, lo, hi);
    *out = v->i;
    return 0;
}

/* The autoscaler of setServiceScaling: null (off) or {min, max, cpuPercent}. */
static int autoscaling_in(const struct gql_val *as, json_t **out, struct err *err)
{
    const struct gql_val *on = as ? gql_val_field(as, "enabled") : NULL;
    int64_t min, max, cpu;
    int rc;

    *out = NULL;
    if (on == NULL || on->kind != GQL_V_BOOL || !on->b) {
        *out = json_null();
        return 0;
    }
    if ((rc = int_in(as, "minReplicas", "input.autoscaling.minReplicas", 1, 20, 1, &min, err)) <
            0 ||
        (rc = int_in(as, "maxReplicas", "input.autoscaling.maxReplicas", min, 20, 20, &max, err)) <
            0 ||
        (rc = int_in(as, "targetCPU", "input.autoscaling.targetCPU", 10, 95, 70, &cpu, err)) < 0)
        return rc;
    *out = json_pack("{s:I,s:I,s:I}", "min", (json_int_t)min, "max", (json_int_t)max, "cpuPercent",
                     (json_int_t)cpu);
    return 0;
}

static int set_scaling(struct gql_rctx *rc, struct gw_caller *c, struct gw_mut *m,
                       struct gql_val *out, struct err *err)
{
    const struct gql_val *in = gql_arg(rc, "input");
    const struct pkg_service_info *si;
    struct scaling_v v;
    struct gw_svc_target t;
    int64_t replicas;
    json_t *as;
    int rc_;

    if ((rc_ = gw_svc_target_args(rc, in, true, &t, err)) < 0 ||
        (rc_ = int_in(in, "replicas", "input.replicas", 1, 20, 1, &replicas, err)) < 0 ||
        (rc_ = autoscaling_in(gql_val_field(in, "autoscaling"), &as, err)) < 0 ||
        (rc_ = gw_api_require_active(c, err)) < 0)
        return rc_;
    m->target = slice_from_cstr(t.project);
    m->detail = arena_printf(gql_rctx_arena(rc), "{\"service\":\"%s\",\"replicas\":%" PRId64 "}",
                             t.service, replicas);
    if ((rc_ = configure(
             rc, c, &t, json_pack("{s:I,s:o}", "replicas", (json_int_t)replicas, "autoscaling", as),
             err)) < 0 ||
        (rc_ = gw_svc_find(rc, c, &t, &si, err)) < 0)
        return rc_;
    scaling_fill(si, &v);
    return gw_api_ptr(rc, &v, sizeof(v), "ScalingConfig", out, err);
}

struct env_res_v {
    const char *tier;
    int64_t cpu, memory, disk; /* 0: null (never set) */
};

static int env_res_value(struct gql_rctx *rc, const struct pkg_env_resources *r,
                         struct gql_val *out, struct err *err)
{
    struct env_res_v v = {0};

    if (r->set)
        v = (struct env_res_v){r->tier, r->cpu_millis, r->memory_mb, r->disk_mb};
    return gw_api_ptr(rc, &v, sizeof(v), "EnvironmentResources", out, err);
}

static int api_env_resources(struct gql_rctx *rc, const struct gql_val *parent, struct gql_val *out,
                             struct err *err)
{
    struct pkg_env_resources r;
    struct gw_svc_target t;
    int rc_;

    (void)parent;
    if ((rc_ = gw_svc_target_args(rc, NULL, false, &t, err)) < 0 ||
        (rc_ = resources_get(rc, gw_api_caller(rc), &t, &r, err)) < 0)
        return rc_;
    return env_res_value(rc, &r, out, err);
}

static int resources_in(const struct gql_val *in, struct pkg_env_resources *r, struct err *err)
{
    const struct gql_val *tier = gql_val_field(in, "tier");
    int rc;

    *r = (struct pkg_env_resources){.set = true};
    if (tier == NULL || tier->kind != GQL_V_ENUM ||
        !(slice_eq_cstr(tier->s, "ECO") || slice_eq_cstr(tier->s, "PRODUCTION")))
        return err_set(err, ERR_INVALID, "input.tier must be ECO or PRODUCTION");
    r->tier = slice_eq_cstr(tier->s, "ECO") ? "ECO" : "PRODUCTION";
    if ((rc = int_in(in, "cpuMillicores", "input.cpuMillicores", 100, 32000, 0, &r->cpu_millis,
                     err)) < 0 ||
        (rc = int_in(in, "memoryMB", "input.memoryMB", 128, 65536, 0, &r->memory_mb, err)) < 0 ||
        (rc = int_in(in, "diskMB", "input.diskMB", 0, 102400, 0, &r->disk_mb, err)) < 0)
        return rc;
    return 0;
}

static int set_env_resources(struct gql_rctx *rc, struct gw_caller *c, struct gw_mut *m,
                             struct gql_val *out, struct err *err)
{
    const struct gql_val *in = gql_arg(rc, "input");
    struct pkg_env_resources r;
    struct pkg_service_info *si;
    struct pkg_call call;
    struct gw_svc_target t;
    size_t n;
    int rc_;

    if ((rc_ = gw_svc_target_args(rc, in, false, &t, err)) < 0 ||
        (rc_ = resources_in(in, &r, err)) < 0 || (rc_ = gw_api_require_active(c, err)) < 0)
        return rc_;
    m->target = slice_from_cstr(t.project);
    m->detail =
        arena_printf(gql_rctx_arena(rc), "{\"environment\":\"%s\",\"tier\":\"%s\"}", t.env, r.tier);
    if ((rc_ = gw_svc_list(rc, c, &t, &si, &n, err)) < 0 ||
        (rc_ = gw_svc_call(rc, c, t.project, &call, err)) < 0 ||
        (rc_ = pkg_env_resources_set(c->g->pkg, &call, t.env, &r, NULL, err)) < 0)
        return rc_;
    for (size_t i = 0; i < n; i++)
        gw_svc_redeploy(c, &t, &si[i]);
    return env_res_value(rc, &r, out, err);
}

/* ---------------------------------------------------------------- bindings */

#define F(t, f, k, s, m)                                                                           \
    {                                                                                              \
        (t), (f), (k), offsetof(struct s, m), NULL, NULL, 0, NULL                                  \
    }
#define FN(t, f, fn)                                                                               \
    {                                                                                              \
        (t), (f), GW_F_FN, 0, (fn), NULL, GQL_BLOCKING, NULL                                       \
    }
#define NULLABLE_INT(t, f, s, m)                                                                   \
    {                                                                                              \
        (t), (f), GW_F_FN, 0, int_or_null, NULL, 0, &(const size_t)                                \
        {                                                                                          \
            offsetof(struct s, m)                                                                  \
        }                                                                                          \
    }
#define SVC_F(f, k, m) F("ServiceInstance", f, k, svc_v, m)

/* clang-format off */
const struct gw_field_bind gw_api_services_binds[] = {
    FN("Query", "checkDnsStatus", api_check_dns),
    FN("Query", "platformConfig", api_platform_config),
    FN("Query", "environmentResources", api_env_resources),
    GW_MUTATION("addService", "service.add", false, add_service),
    GW_MUTATION("removeService", "service.remove", false, remove_service),
    GW_MUTATION("setCustomStartCommand", "service.configure", false, set_custom_start),
    GW_MUTATION("generateDomain", "domain.generate", false, generate_domain),
    GW_MUTATION("addCustomDomain", "domain.add", false, add_custom_domain),
    GW_MUTATION("removeDomain", "domain.remove", false, remove_domain),
    GW_MUTATION("setServiceScaling", "service.scale", false, set_scaling),
    GW_MUTATION("setEnvironmentResources", "environment.resources", false, set_env_resources),
    FN("Environment", "ephemeral", env_ephemeral),
    FN("Environment", "syncStatus", env_sync),
    FN("Environment", "resourceTier", env_tier),
    FN("Environment", "services", env_services),
    SVC_F("id", GW_F_STR, id),
    SVC_F("name", GW_F_STR, name),
    SVC_F("environment", GW_F_STR, env),
    SVC_F("image", GW_F_STR, image),
    SVC_F("port", GW_F_INT, port),
    SVC_F("framework", GW_F_STR, framework),
    SVC_F("sourceUrl", GW_F_STR, source_url),
    SVC_F("contextPath", GW_F_STR, context),
    SVC_F("startCommand", GW_F_STR, start),
    SVC_F("customStartCommand", GW_F_STR, custom_start),
    SVC_F("imageTag", GW_F_STR, tag),
    SVC_F("ready", GW_F_BOOL, ready),
    SVC_F("replicas", GW_F_INT, replicas),
    SVC_F("syncStatus", GW_F_STR, sync),
    SVC_F("statusMessage", GW_F_STR, message),
    FN("ServiceInstance", "scaling", svc_scaling),
    FN("ServiceInstance", "resources", svc_resources),
    FN("ServiceInstance", "domains", svc_domains),
    FN("ServiceInstance", "deployments", svc_deployments),
    FN("ServiceInstance", "initialDeploy", svc_initial),
    F("ScalingConfig", "replicas", GW_F_INT, scaling_v, replicas),
    FN("ScalingConfig", "autoscaling", scaling_autoscaling),
    F("AutoscalingConfig", "enabled", GW_F_BOOL, scaling_v, enabled),
    NULLABLE_INT("AutoscalingConfig", "minReplicas", scaling_v, min),
    NULLABLE_INT("AutoscalingConfig", "maxReplicas", scaling_v, max),
    NULLABLE_INT("AutoscalingConfig", "targetCPU", scaling_v, cpu),
    F("ServiceResources", "tier", GW_F_STR, resources_v, tier),
    F("ServiceResources", "cpuMillicores", GW_F_INT, resources_v, cpu),
    F("ServiceResources", "memoryMB", GW_F_INT, resources_v, memory_mb),
    F("Domain", "hostname", GW_F_STR, domain_v, hostname),
    F("Domain", "type", GW_F_STR, domain_v, type),
    FN("Domain", "dnsStatus", domain_dns),
    F("Domain", "tlsStatus", GW_F_STR, domain_v, tls),
    F("DnsCheck", "hostname", GW_F_STR, dns_v, hostname),
    F("DnsCheck", "status", GW_F_STR, dns_v, status),
    F("DnsCheck", "message", GW_F_STR, dns_v, message),
    FN("DnsCheck", "addresses", dns_value_addresses),
    F("PlatformConfig", "workloadDomain", GW_F_STR, platform_v, workload),
    F("PlatformConfig", "domainTarget", GW_F_STR, platform_v, target),
    F("PlatformConfig", "ipAddress", GW_F_STR, platform_v, ip),
    F("PlatformConfig", "ingressUrl", GW_F_STR, platform_v, ingress),
    F("Deployment", "id", GW_F_STR, deploy_v, id),
    F("Deployment", "imageTag", GW_F_STR, deploy_v, tag),
    F("Deployment", "digest", GW_F_STR, deploy_v, digest),
    F("Deployment", "active", GW_F_BOOL, deploy_v, active),
    F("Deployment", "timestamp", GW_F_TIME, deploy_v, ms),
    F("Deployment", "revision", GW_F_STR, deploy_v, id),
    F("Deployment", "message", GW_F_STR, deploy_v, message),
    F("Deployment", "author", GW_F_STR, deploy_v, author),
    F("Deployment", "sourceCommitMessage", GW_F_STR, deploy_v, source_message),
    F("Deployment", "sourceUrl", GW_F_STR, deploy_v, source_url),
    F("EnvironmentResources", "tier", GW_F_STR, env_res_v, tier),
    NULLABLE_INT("EnvironmentResources", "cpuMillicores", env_res_v, cpu),
    NULLABLE_INT("EnvironmentResources", "memoryMB", env_res_v, memory),
    NULLABLE_INT("EnvironmentResources", "diskMB", env_res_v, disk),
};
/* clang-format on */
const size_t gw_api_services_nbinds = ARRAY_LEN(gw_api_services_binds);
