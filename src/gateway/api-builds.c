/*
 * gateway API: detectServices (schema/builds.graphql). The builder clones the repository at the
 * ref, describes its apps and removes the clone (bld_detect_services); it is called with an
 * internal token naming the caller, like the packager.
 */
#include <stdlib.h>

#include "base/base.h"
#include "bld/bld.h"
#include "gateway/gw-int.h"
#include "gql/gql.h"

#define URL_MAX 2048
#define REF_MAX 255

struct detected_v {
    const char *name, *language, *framework, *start, *context;
    int64_t port;
};

static int detected_list(struct gql_rctx *rc, const struct bld_service *v, size_t n,
                         struct gql_val *out, struct err *err)
{
    struct detected_v *d = arena_zalloc(gql_rctx_arena(rc), n * sizeof(*d));

    if (d == NULL)
        return err_set(err, ERR_LIMIT, "detectServices: out of request memory");
    for (size_t i = 0; i < n; i++)
        d[i] = (struct detected_v){v[i].name,      v[i].language,     v[i].framework,
                                   v[i].start_cmd, v[i].context_path, v[i].port};
    return gw_api_ptr_list(rc, d, n, sizeof(*d), "DetectedService", out, err);
}

static int detect_services(struct gql_rctx *rc, const struct gql_val *parent, struct gql_val *out,
                           struct err *err)
{
    struct gw_caller *c = gw_api_caller(rc);
    struct arena *a = gql_rctx_arena(rc);
    struct bld_service *svcs = NULL;
    struct bld_call call = {0};
    struct slice repo, ref;
    size_t n = 0;
    int rc_;

    (void)parent;
    if (c->g->bld == NULL)
        return err_set(err, ERR_UNAVAILABLE, "the builder does not run in this process");
    if ((rc_ = gw_api_text(rc, NULL, "repository", "repository", URL_MAX, false, &repo, err)) < 0 ||
        (rc_ = gw_api_text(rc, NULL, "gitRef", "gitRef", REF_MAX, true, &ref, err)) < 0 ||
        (rc_ = gw_internal_token(c, a, c->workspace, c->role, &call.token, err)) < 0)
        return rc_;
    call.url = arena_strndup(a, repo.ptr, repo.len);
    call.ref = ref.ptr ? arena_strndup(a, ref.ptr, ref.len) : NULL;
    if (call.url == NULL || (ref.ptr != NULL && call.ref == NULL))
        return err_set(err, ERR_LIMIT, "detectServices: out of request memory");
    rc_ = bld_detect_services(c->g->bld, &call, a, &svcs, &n, err);
    if (rc_ == ERR_UNAVAILABLE) /* the source cannot be fetched: what the user gave is wrong */
        err->code = rc_ = ERR_INVALID;
    if (rc_ == ERR_INVALID) /* name the argument */
        err_wrap(err, "repository");
    return rc_ < 0 ? rc_ : detected_list(rc, svcs, n, out, err);
}

#define DET_F(f, k, m)                                                                             \
    {                                                                                              \
        "DetectedService", (f), (k), offsetof(struct detected_v, m), NULL, NULL, 0, NULL           \
    }

const struct gw_field_bind gw_api_builds_binds[] = {
    {"Query", "detectServices", GW_F_FN, 0, detect_services, NULL, GQL_BLOCKING, NULL},
    DET_F("name", GW_F_STR, name),
    DET_F("language", GW_F_STR, language),
    DET_F("framework", GW_F_STR, framework),
    DET_F("startCommand", GW_F_STR, start),
    DET_F("suggestedPort", GW_F_INT, port),
    DET_F("contextPath", GW_F_STR, context),
};
const size_t gw_api_builds_nbinds = ARRAY_LEN(gw_api_builds_binds);
