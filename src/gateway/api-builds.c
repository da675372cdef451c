/*
 * gateway API: detectServices (schema/builds.graphql). Clones the repository at the ref into a
 * scratch directory under <data_dir>/tmp, asks the builder's detection what apps it holds,
 * and removes the clone. A file:// source inside slipway's own data directory is refused: it
 * would reach the packager's repositories of every workspace.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "bld/bld.h"
#include "gateway/gw-int.h"
#include "gql/gql.h"

#define URL_MAX 2048
#define REF_MAX 255

static const struct log_ctx detect_log = {.svc = "gateway"};

struct detected_v {
    const char *name, *language, *framework, *start, *context;
    int64_t port;
};

/* ERR_FORBIDDEN when <url> names a local path (file:// or a plain path) inside <data_dir>. */
static int source_allowed(const char *data_dir, const char *url, struct err *err)
{
    char real_data[PATH_MAX], real_src[PATH_MAX];
    const char *path = strncmp(url, "file://", 7) == 0 ? url + 7 : url[0] == '/' ? url : NULL;
    size_t n;

    if (path == NULL || data_dir == NULL || realpath(data_dir, real_data) == NULL ||
        realpath(path, real_src) == NULL)
        return 0; /* not local, or not there: the clone says what is wrong */
    n = strlen(real_data);
    if (strncmp(real_src, real_data, n) == 0 && (real_src[n] == '/' || real_src[n] == '\0'))
        return err_set(err, ERR_FORBIDDEN,
                       "repository: slipway's own data directory cannot be a source");
    return 0;
}

/* A new empty directory for one clone: <data_dir>/tmp/detect-XXXXXX (or under $TMPDIR). */
static int scratch_dir(const struct gw *g, char out[PATH_MAX], struct err *err)
{
    const char *tmp = getenv("TMPDIR");

    if (g->data_dir != NULL) {
        snprintf(out, PATH_MAX, "%s/tmp", g->data_dir);
        if (mkdir(out, 0700) != 0 && errno != EEXIST)
            return err_set(err, ERR_IO, "%s: %s", out, strerror(errno));
        snprintf(out, PATH_MAX, "%s/tmp/detect-XXXXXX", g->data_dir);
    } else {
        snprintf(out, PATH_MAX, "%s/slipway-detect-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    }
    if (mkdtemp(out) == NULL)
        return err_set(err, ERR_IO, "scratch directory: %s", strerror(errno));
    return 0;
}

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
    char dir[PATH_MAX], src[PATH_MAX + 8], commit[BLD_OID_HEX + 1];
    struct bld_service *svcs = NULL;
    struct slice repo, ref;
    char *url, *gitref = NULL;
    size_t n = 0;
    int rc_;

    (void)parent;
    if ((rc_ = gw_api_text(rc, NULL, "repository", "repository", URL_MAX, false, &repo, err)) < 0 ||
        (rc_ = gw_api_text(rc, NULL, "gitRef", "gitRef", REF_MAX, true, &ref, err)) < 0)
        return rc_;
    url = arena_strndup(a, repo.ptr, repo.len);
    if (ref.ptr != NULL)
        gitref = arena_strndup(a, ref.ptr, ref.len);
    if (url == NULL || (ref.ptr != NULL && gitref == NULL))
        return err_set(err, ERR_LIMIT, "detectServices: out of request memory");
    if ((rc_ = source_allowed(c->g->data_dir, url, err)) < 0 ||
        (rc_ = scratch_dir(c->g, dir, err)) < 0)
        return rc_;
    snprintf(src, sizeof(src), "%s/src", dir);
    rc_ = bld_clone(url, gitref, src, commit, err);
    if (rc_ == 0)
        rc_ = bld_detect(src, a, &svcs, &n, err);
    if (file_remove_tree(dir, &(struct err){0}) < 0)
        LOG_WARN(&detect_log, "gateway.detect_cleanup_failed", LF_STR("dir", dir));
    if (rc_ == ERR_UNAVAILABLE || rc_ == ERR_NOTFOUND) /* what the user gave is wrong */
        err->code = rc_ = rc_ == ERR_UNAVAILABLE ? ERR_INVALID : ERR_NOTFOUND;
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
