/* pkg index: the packager's rows in its own database, derived from the repositories
 * (pkg-int.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pkg/pkg-int.h"
#include "store/store.h"

#define IX_BUDGET    ((size_t)256 << 20) /* one sync's scratch: a rebuild walks every commit */
#define LABEL_MAX    63
#define SUFFIX_TRIES 1000

struct pkg_index {
    struct store *store; /* borrowed */
    char *root;
    char *wd; /* workload domain; NULL: no platform domains */
};

static const struct log_ctx ix_log = {.svc = "packager"};

/* ---------------------------------------------------------------- schema */

/* Every table is keyed by (workspace_id, project_id): a project id is unique only within its
 * workspace. deployments.seq orders commits of one second: it grows with the commit order of a
 * project. domains.pending is 1 from a custom domain's claim until a sync finds it at HEAD.
 * The *_hash columns hold a BLAKE2b of the values files the rows were made from, so a sync
 * reads again only the environments a commit changed. */
static const char tables_sql[] =
    "CREATE TABLE projects ("
    " workspace_id TEXT NOT NULL, project_id TEXT NOT NULL, name TEXT NOT NULL,"
    " display_name TEXT NOT NULL, created BIGINT NOT NULL, head TEXT NOT NULL,"
    " base_hash TEXT NOT NULL DEFAULT '', meta_hash TEXT NOT NULL DEFAULT '',"
    " PRIMARY KEY (workspace_id, project_id));"
    "CREATE INDEX projects_ws ON projects (workspace_id, created);"
    "CREATE TABLE environments ("
    " workspace_id TEXT NOT NULL, project_id TEXT NOT NULL, env TEXT NOT NULL,"
    " values_hash TEXT NOT NULL, PRIMARY KEY (workspace_id, project_id, env));"
    "CREATE TABLE deployments ("
    " workspace_id TEXT NOT NULL, project_id TEXT NOT NULL, seq BIGINT NOT NULL,"
    " env TEXT NOT NULL, service TEXT NOT NULL, commit_oid TEXT NOT NULL, kind INTEGER NOT NULL,"
    " tag TEXT NOT NULL, digest TEXT NOT NULL, author_name TEXT NOT NULL,"
    " author_email TEXT NOT NULL, committed_at BIGINT NOT NULL, message TEXT NOT NULL,"
    " PRIMARY KEY (workspace_id, project_id, seq));"
    "CREATE INDEX deployments_svc ON deployments"
    " (workspace_id, project_id, env, service, committed_at, seq);"
    "CREATE TABLE images ("
    " workspace_id TEXT NOT NULL, project_id TEXT NOT NULL, env TEXT NOT NULL,"
    " service TEXT NOT NULL, tag TEXT NOT NULL, digest TEXT NOT NULL,"
    " PRIMARY KEY (workspace_id, project_id, env, service));"
    "CREATE TABLE domains ("
    " hostname TEXT PRIMARY KEY, workspace_id TEXT NOT NULL, project_id TEXT NOT NULL,"
    " env TEXT NOT NULL, service TEXT NOT NULL,"
    " kind TEXT NOT NULL CHECK (kind IN ('PLATFORM', 'CUSTOM')),"
    " pending INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX domains_project ON domains (workspace_id, project_id, env, service)";

static const struct store_migration migrations[] = {
    {.version = 1, .name = "packager index", .sql = tables_sql},
};

int pkg_index_open(struct store *s, const char *root, const char *workload_domain,
                   struct pkg_index **out, struct err *err)
{
    struct pkg_index *ix;
    int rc = store_migrate_set(s, "packager", migrations, ARRAY_LEN(migrations), err);

    *out = NULL;
    if (rc < 0)
        return err_wrap(err, "packager index");
    ix = xcalloc(1, sizeof(*ix));
    ix->store = s;
    ix->root = xstrdup(root);
    ix->wd = workload_domain != NULL && workload_domain[0] ? xstrdup(workload_domain) : NULL;
    *out = ix;
    return 0;
}

void pkg_index_free(struct pkg_index *ix)
{
    if (ix == NULL)
        return;
    free(ix->root);
    free(ix->wd);
    free(ix);
}

/* ---------------------------------------------------------------- small helpers */

#define ARGS(...)                                                                                  \
    (const struct store_val[]){__VA_ARGS__}, ARRAY_LEN(((struct store_val[]){__VA_ARGS__}))

/* The key of a project's rows, as two arguments. */
#define KEY(p) SV_CSTR((p)->workspace_id), SV_CSTR((p)->project_id)

static int oom(struct err *err)
{
    return err_set(err, ERR_LIMIT, "packager index: more than %zu MiB", IX_BUDGET >> 20);
}

static struct arena *ix_arena(void)
{
    return arena_new(&(struct arena_opts){.chunk = 64 << 10, .budget = IX_BUDGET});
}

/* A TEXT cell as a NUL-terminated copy in <a> ("" for NULL; NULL when the budget is spent). */
static char *cell_str(struct arena *a, const struct store_rows *r, size_t row, size_t col)
{
    const struct store_val *v = store_cell(r, row, col);

    if (v->type != STORE_T_TEXT && v->type != STORE_T_BLOB)
        return arena_strndup(a, "", 0);
    return arena_strndup(a, v->s.ptr != NULL ? v->s.ptr : "", v->s.len);
}

/* An integer cell; PostgreSQL may give an aggregate as TEXT. */
static int64_t cell_int(const struct store_rows *r, size_t row, size_t col)
{
    const struct store_val *v = store_cell(r, row, col);
    uint64_t u = 0;

    if (v->type == STORE_T_INT)
        return v->i;
    if (v->type == STORE_T_TEXT && slice_to_u64(v->s, &u) == 0)
        return (int64_t)u;
    return 0;
}

static const char *jstr(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);

    return json_is_string(v) ? json_string_value(v) : "";
}

/* ---------------------------------------------------------------- sync: the walk */

#define HASH_BYTES 16
#define HASH_HEX   (2 * HASH_BYTES)

struct commit_rec {
    char oid[PKG_OID_HEX + 1];
    char *name, *email, *message;
    int64_t time;
};

/* An environment at HEAD. Its values are parsed only when its rows are written again. */
struct env_rec {
    char *name;
    struct slice text;
    char hash[HASH_HEX + 1];
    bool changed; /* its values differ from those its rows were made from */
    json_t *vals;
};

struct sync {
    struct pkg_index *ix;
    const struct pkg_project *p;
    struct arena *a;
    struct pkg_repo *repo;
    struct store_tx *tx;
    char head[PKG_OID_HEX + 1];
    /* the rows as they were: */
    bool have_row;
    char *row_head, *row_name, *row_display, *row_base, *row_meta;
    int64_t row_created;
    json_t *row_envs; /* env → the values hash its rows were made from */
    /* the commits after row_head, newest first; <full> when row_head was not among them */
    struct commit_rec *v;
    size_t n, cap;
    bool full, oom;
    /* HEAD: */
    struct env_rec *envs;
    size_t nenvs;
    json_t *base; /* parsed when a platform domain may have to change */
    bool base_changed;
    char base_hash[HASH_HEX + 1], meta_hash[HASH_HEX + 1];
    const char *name, *display;
};

static void text_hash(struct slice text, char out[HASH_HEX + 1])
{
    unsigned char h[HASH_BYTES];

    crypto_generichash(h, sizeof(h), (const unsigned char *)text.ptr, text.len, NULL, 0);
    sodium_bin2hex(out, HASH_HEX + 1, h, sizeof(h));
}

static bool walk_collect(void *arg, const struct pkg_log_entry *e)
{
    struct sync *s = arg;
    struct commit_rec c = {.time = e->time};

    if (s->row_head != NULL && strcmp(e->oid, s->row_head) == 0) {
        s->full = false;
        return false;
    }
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 16;
        s->v = xrealloc(s->v, s->cap * sizeof(*s->v));
    }
    memcpy(c.oid, e->oid, sizeof(c.oid));
    c.name = arena_strndup(s->a, e->author_name, strlen(e->author_name));
    c.email = arena_strndup(s->a, e->author_email, strlen(e->author_email));
    c.message = arena_strndup(s->a, e->message, strlen(e->message));
    if (c.name == NULL || c.email == NULL || c.message == NULL) {
        s->oom = true;
        return false;
    }
    s->v[s->n++] = c;
    return true;
}

/* The rows as the index has them (in the sync's transaction): the project's, and the values
 * hash of each of its environments. */
static int sync_row(struct sync *s, struct err *err)
{
    struct store_rows *r = NULL;
    int rc = store_query(s->tx, s->a,
                         "SELECT head, name, display_name, created, base_hash, meta_hash"
                         " FROM projects WHERE workspace_id = ? AND project_id = ?",
                         ARGS(KEY(s->p)), &r, err);

    if (rc < 0 || r->nrows == 0)
        return rc;
    s->have_row = true;
    s->row_head = cell_str(s->a, r, 0, 0);
    s->row_name = cell_str(s->a, r, 0, 1);
    s->row_display = cell_str(s->a, r, 0, 2);
    s->row_created = cell_int(r, 0, 3);
    s->row_base = cell_str(s->a, r, 0, 4);
    s->row_meta = cell_str(s->a, r, 0, 5);
    if (!s->row_head || !s->row_name || !s->row_display || !s->row_base || !s->row_meta)
        return oom(err);
    rc = store_query(s->tx, s->a,
                     "SELECT env, values_hash FROM environments"
                     " WHERE workspace_id = ? AND project_id = ?",
                     ARGS(KEY(s->p)), &r, err);
    for (size_t i = 0; rc == 0 && i < r->nrows; i++) {
        char *env = cell_str(s->a, r, i, 0), *hash = cell_str(s->a, r, i, 1);

        if (env == NULL || hash == NULL)
            return oom(err);
        json_object_set_new(s->row_envs, env, json_string(hash));
    }
    return rc;
}

static bool env_collect(void *arg, const char *name, enum pkg_entry_kind kind)
{
    json_t *names = arg;

    if (kind == PKG_ENTRY_DIR && pkg_name_ok(name, strlen(name)))
        json_array_append_new(names, json_string(name));
    return true;
}

static struct env_rec *env_find(struct sync *s, const char *name, size_t len)
{
    for (size_t i = 0; i < s->nenvs; i++)
        if (strlen(s->envs[i].name) == len && memcmp(s->envs[i].name, name, len) == 0)
            return &s->envs[i];
    return NULL;
}

/* HEAD's environments: their values' text and hash, and whether their rows are stale. A
 * directory without values is no environment. */
static int head_envs(struct sync *s, struct err *err)
{
    json_t *names = json_array(), *v;
    size_t i;
    int rc = pkg_repo_list(s->repo, s->head, "environments", env_collect, names, err);

    if (rc == ERR_NOTFOUND)
        rc = 0;
    s->envs = arena_alloc(s->a, (json_array_size(names) + 1) * sizeof(*s->envs));
    if (rc == 0 && s->envs == NULL)
        rc = oom(err);
    json_array_foreach(names, i, v)
    {
        struct env_rec *e = &s->envs[s->nenvs];
        const char *name = json_string_value(v);
        char *path = arena_printf(s->a, "environments/%s/values.yaml", name);

        if (rc < 0)
            break;
        *e = (struct env_rec){.name = arena_strndup(s->a, name, strlen(name))};
        rc = path != NULL && e->name != NULL
                 ? pkg_repo_read(s->repo, s->head, path, s->a, &e->text, err)
                 : oom(err);
        if (rc == ERR_NOTFOUND) {
            rc = 0;
            continue;
        }
        if (rc < 0)
            break;
        text_hash(e->text, e->hash);
        e->changed = s->full || !json_is_string(json_object_get(s->row_envs, e->name)) ||
                     strcmp(json_string_value(json_object_get(s->row_envs, e->name)), e->hash);
        s->nenvs++;
    }
    json_decref(names);
    return rc;
}

/* slipway.yaml's names, parsed only when the file changed: the name is the platform domains'
 * label (slipway.yaml's, else the caller's, else what the row had). */
static int head_meta(struct sync *s, struct err *err)
{
    struct slice text = {"", 0};
    json_t *meta = NULL;
    int rc = pkg_repo_read(s->repo, s->head, "slipway.yaml", s->a, &text, err);

    if (rc == ERR_NOTFOUND)
        rc = 0; /* a repository without metadata keeps what the row says */
    if (rc < 0)
        return rc;
    text_hash(text, s->meta_hash);
    if (s->full || strcmp(s->row_meta != NULL ? s->row_meta : "", s->meta_hash) != 0)
        if (text.len > 0 && pkg_yaml_json(text, &meta, err) < 0)
            meta = NULL; /* unreadable by hand: the names stay what they were */
    s->name = jstr(meta, "name")[0]                   ? jstr(meta, "name")
              : s->p->slug != NULL                    ? s->p->slug
              : s->row_name != NULL && s->row_name[0] ? s->row_name
                                                      : "";
    s->display = jstr(meta, "displayName")[0] ? jstr(meta, "displayName")
                 : s->row_display != NULL     ? s->row_display
                                              : "";
    s->name = arena_strndup(s->a, s->name, strlen(s->name));
    s->display = arena_strndup(s->a, s->display, strlen(s->display));
    json_decref(meta);
    return s->name == NULL || s->display == NULL ? oom(err) : 0;
}

/* What HEAD holds, read as far as the rows to write need it: the environments whose values
 * changed are parsed, all of them when base/values.yaml changed (its services make the
 * platform domains of every environment). */
static int sync_head_state(struct sync *s, struct err *err)
{
    struct slice text = {"", 0};
    bool any = false;
    int rc = head_envs(s, err);

    if (rc == 0)
        rc = pkg_repo_read(s->repo, s->head, "base/values.yaml", s->a, &text, err);
    if (rc == ERR_NOTFOUND)
        rc = 0;
    if (rc == 0) {
        text_hash(text, s->base_hash);
        s->base_changed = s->full || strcmp(s->row_base ? s->row_base : "", s->base_hash) != 0;
    }
    for (size_t i = 0; rc == 0 && i < s->nenvs; i++) {
        struct env_rec *e = &s->envs[i];

        e->changed |= s->base_changed;
        if (e->changed)
            rc = pkg_yaml_json(e->text, &e->vals, err);
        any |= e->changed;
    }
    if (rc == 0 && any && text.len > 0)
        rc = pkg_yaml_json(text, &s->base, err);
    if (rc == 0)
        rc = head_meta(s, err);
    return rc;
}

/* ---------------------------------------------------------------- sync: the rows */

/* "<verb>(<env>): <service> …" of a deploy, rollback or promote, as ops.c writes them. */
static bool deploy_parse(const char *msg, enum pkg_deploy_kind *kind, struct slice *env,
                         struct slice *svc)
{
    static const struct {
        const char *verb;
        enum pkg_deploy_kind kind;
    } verbs[] = {{"deploy(", PKG_DEPLOY}, {"rollback(", PKG_ROLLBACK}, {"promote(", PKG_PROMOTE}};

    for (size_t i = 0; i < ARRAY_LEN(verbs); i++) {
        size_t vl = strlen(verbs[i].verb);
        const char *e, *sv, *end;

        if (strncmp(msg, verbs[i].verb, vl) != 0)
            continue;
        e = msg + vl;
        sv = strstr(e, "): ");
        if (sv == NULL || !pkg_name_ok(e, (size_t)(sv - e)))
            return false;
        sv += 3;
        end = strchr(sv, ' ');
        if (end == NULL || !pkg_name_ok(sv, (size_t)(end - sv)))
            return false;
        *kind = verbs[i].kind;
        *env = (struct slice){e, (size_t)(sv - 3 - e)};
        *svc = (struct slice){sv, (size_t)(end - sv)};
        return true;
    }
    return false;
}

/* The image of <svc> in <env> at commit <oid> ("" when missing), read the way pkg_op_history
 * reads it, so both tell the same story. At HEAD the values parsed already serve. */
static void image_at(struct sync *s, const char *oid, struct slice env, struct slice svc,
                     const char **tag, const char **dig)
{
    struct err ignored = {0};
    struct env_rec *at_head = strcmp(oid, s->head) == 0 ? env_find(s, env.ptr, env.len) : NULL;
    char *path = arena_printf(s->a, "environments/" SLICE_FMT "/values.yaml", SLICE_ARG(env));
    char *name = arena_strndup(s->a, svc.ptr, svc.len);
    json_t *vals = NULL, *img;

    *tag = *dig = "";
    if (at_head != NULL && at_head->vals != NULL)
        vals = json_incref(at_head->vals);
    else if (path == NULL || pkg_values_at(s->repo, oid, path, s->a, &vals, &ignored) < 0)
        return;
    img = json_object_get(json_object_get(json_object_get(vals, "services"), name), "image");
    if (name != NULL && json_is_string(json_object_get(img, "tag")) &&
        json_is_string(json_object_get(img, "digest"))) {
        *tag = arena_printf(s->a, "%s", jstr(img, "tag"));
        *dig = arena_printf(s->a, "%s", jstr(img, "digest"));
        if (*tag == NULL || *dig == NULL)
            *tag = *dig = "";
    }
    json_decref(vals);
}

/* Inserts the deployments among the walked commits, oldest first, numbered after <seq0>. */
static int rows_deployments(struct sync *s, int64_t seq0, struct err *err)
{
    int64_t seq = seq0;
    int rc = 0;

    for (size_t i = s->n; rc == 0 && i-- > 0;) {
        const struct commit_rec *c = &s->v[i];
        enum pkg_deploy_kind kind;
        struct slice env, svc;
        const char *tag, *dig;

        if (!deploy_parse(c->message, &kind, &env, &svc))
            continue;
        image_at(s, c->oid, env, svc, &tag, &dig);
        rc = store_exec(s->tx,
                        "INSERT INTO deployments (workspace_id, project_id, seq, env, service,"
                        " commit_oid, kind, tag, digest, author_name, author_email, committed_at,"
                        " message) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        ARGS(KEY(s->p), SV_INT(++seq), SV_TEXT(env), SV_TEXT(svc), SV_CSTR(c->oid),
                             SV_INT(kind), SV_CSTR(tag), SV_CSTR(dig), SV_CSTR(c->name),
                             SV_CSTR(c->email), SV_INT(c->time), SV_CSTR(c->message)),
                        NULL, err);
    }
    return rc;
}

/* Environments whose directory went: their rows go, settled domains with them. */
static int rows_envs_gone(struct sync *s, struct err *err)
{
    static const char *const sql[] = {
        "DELETE FROM environments WHERE workspace_id = ? AND project_id = ? AND env = ?",
        "DELETE FROM images WHERE workspace_id = ? AND project_id = ? AND env = ?",
        "DELETE FROM domains WHERE workspace_id = ? AND project_id = ? AND env = ?"
        " AND pending = 0",
    };
    const char *env;
    json_t *hash;
    int rc = 0;

    json_object_foreach(s->row_envs, env, hash)
    {
        (void)hash;
        if (env_find(s, env, strlen(env)) != NULL)
            continue;
        for (size_t i = 0; rc == 0 && i < ARRAY_LEN(sql); i++)
            rc = store_exec(s->tx, sql[i], ARGS(KEY(s->p), SV_CSTR(env)), NULL, err);
    }
    return rc;
}

/* The environment's row and its images as its values say. */
static int rows_env_images(struct sync *s, const struct env_rec *e, struct err *err)
{
    const char *svc;
    json_t *sv;
    int rc = store_exec(s->tx,
                        "INSERT INTO environments (workspace_id, project_id, env, values_hash)"
                        " VALUES (?, ?, ?, ?) ON CONFLICT (workspace_id, project_id, env)"
                        " DO UPDATE SET values_hash = excluded.values_hash",
                        ARGS(KEY(s->p), SV_CSTR(e->name), SV_CSTR(e->hash)), NULL, err);

    if (rc == 0)
        rc = store_exec(s->tx,
                        "DELETE FROM images WHERE workspace_id = ? AND project_id = ? AND env = ?",
                        ARGS(KEY(s->p), SV_CSTR(e->name)), NULL, err);
    json_object_foreach(json_object_get(e->vals, "services"), svc, sv)
    {
        json_t *img = json_object_get(sv, "image");

        if (rc < 0 || !json_is_string(json_object_get(img, "digest")))
            continue;
        rc = store_exec(s->tx,
                        "INSERT INTO images (workspace_id, project_id, env, service, tag, digest)"
                        " VALUES (?, ?, ?, ?, ?, ?)",
                        ARGS(KEY(s->p), SV_CSTR(e->name), SV_CSTR(svc), SV_CSTR(jstr(img, "tag")),
                             SV_CSTR(jstr(img, "digest"))),
                        NULL, err);
    }
    return rc;
}

/* Custom domains of the environment: its settled rows become what its values say; pending
 * claims stay. A name the values give that another project holds (a hand edit) stays with its
 * holder. */
static int rows_env_custom(struct sync *s, const struct env_rec *e, struct err *err)
{
    const char *svc;
    json_t *sv, *d;
    size_t i;
    int rc = store_exec(s->tx,
                        "DELETE FROM domains WHERE workspace_id = ? AND project_id = ? AND env = ?"
                        " AND kind = 'CUSTOM' AND pending = 0",
                        ARGS(KEY(s->p), SV_CSTR(e->name)), NULL, err);

    json_object_foreach(json_object_get(e->vals, "services"), svc, sv)
    {
        json_array_foreach(json_object_get(sv, "domains"), i, d)
        {
            struct store_val k[] = {SV_CSTR(json_string_value(d)), KEY(s->p), SV_CSTR(e->name),
                                    SV_CSTR(svc)};

            if (rc < 0 || !json_is_string(d))
                continue;
            rc = store_exec(s->tx,
                            "INSERT INTO domains (hostname, workspace_id, project_id, env,"
                            " service, kind, pending) VALUES (?, ?, ?, ?, ?, 'CUSTOM', 0)"
                            " ON CONFLICT (hostname) DO NOTHING",
                            k, ARRAY_LEN(k), NULL, err);
            if (rc == 0)
                rc = store_exec(s->tx,
                                "UPDATE domains SET pending = 0 WHERE hostname = ?"
                                " AND workspace_id = ? AND project_id = ? AND env = ?"
                                " AND service = ?",
                                k, ARRAY_LEN(k), NULL, err);
        }
    }
    return rc;
}

/* The first label of a platform domain with suffix number <n> (1: none), at most 63 bytes. */
static void platform_label(const char *svc, const char *env, const char *name, unsigned n,
                           char out[LABEL_MAX + 1])
{
    char suffix[16] = "";
    size_t keep;

    if (n > 1)
        snprintf(suffix, sizeof(suffix), "-%u", n);
    snprintf(out, LABEL_MAX + 1, "%s-%s-%s", svc, env, name);
    keep = strlen(out);
    if (keep > LABEL_MAX - strlen(suffix))
        keep = LABEL_MAX - strlen(suffix);
    while (keep > 0 && out[keep - 1] == '-') /* a label may not end in '-' */
        keep--;
    snprintf(out + keep, LABEL_MAX + 1 - keep, "%s", suffix);
}

/* Claims the platform domain of (<p>, <env>, <svc>) in <tx> into <out>: the first free name of
 * "<svc>-<env>-<name>", "…-2", … . A UNIQUE insert decides, so two claimers cannot both win. */
static int platform_claim(struct pkg_index *ix, struct store_tx *tx, struct arena *a,
                          const struct pkg_project *p, const char *name, const char *env,
                          const char *svc, char out[PKG_HOST_MAX + 1], struct err *err)
{
    char label[LABEL_MAX + 1];

    for (unsigned n = 1; n <= SUFFIX_TRIES; n++) {
        struct store_rows *r = NULL;
        int64_t changes = 0;
        int rc;

        platform_label(svc, env, name, n, label);
        if ((size_t)snprintf(out, PKG_HOST_MAX + 1, "%s.%s", label, ix->wd) > PKG_HOST_MAX)
            return err_set(err, ERR_INVALID, "platform domain %s.%s: over %d bytes", label, ix->wd,
                           PKG_HOST_MAX);
        rc = store_exec(tx,
                        "INSERT INTO domains (hostname, workspace_id, project_id, env, service,"
                        " kind, pending) VALUES (?, ?, ?, ?, ?, 'PLATFORM', 0)"
                        " ON CONFLICT (hostname) DO NOTHING",
                        ARGS(SV_CSTR(out), KEY(p), SV_CSTR(env), SV_CSTR(svc)), &changes, err);
        if (rc < 0 || changes == 1)
            return rc;
        rc = store_query(tx, a,
                         "SELECT 1 FROM domains WHERE hostname = ? AND workspace_id = ?"
                         " AND project_id = ? AND env = ? AND service = ?",
                         ARGS(SV_CSTR(out), KEY(p), SV_CSTR(env), SV_CSTR(svc)), &r, err);
        if (rc < 0 || r->nrows == 1)
            return rc;
    }
    return err_set(err, ERR_CONFLICT, "platform domain %s: %d names taken", label, SUFFIX_TRIES);
}

/* The platform domain of one (environment, service) of HEAD: the values' platformDomain when
 * they name one (the row follows it), else the row it has, else a new claim. */
static int platform_pair(struct sync *s, const struct env_rec *e, const char *svc, struct err *err)
{
    const char *want = json_string_value(json_object_get(
        json_object_get(json_object_get(e->vals, "services"), svc), "platformDomain"));
    struct store_rows *r = NULL;
    char host[PKG_HOST_MAX + 1];
    int64_t changes = 0;
    int rc = store_query(s->tx, s->a,
                         "SELECT hostname FROM domains WHERE workspace_id = ? AND project_id = ?"
                         " AND env = ? AND service = ? AND kind = 'PLATFORM'",
                         ARGS(KEY(s->p), SV_CSTR(e->name), SV_CSTR(svc)), &r, err);

    if (rc < 0)
        return rc;
    if (want == NULL)
        return r->nrows > 0
                   ? 0
                   : platform_claim(s->ix, s->tx, s->a, s->p, s->name, e->name, svc, host, err);
    if (r->nrows > 0 && slice_eq_cstr(store_cell(r, 0, 0)->s, want))
        return store_exec(s->tx, "UPDATE domains SET pending = 0 WHERE hostname = ?",
                          ARGS(SV_CSTR(want)), NULL, err);
    if (r->nrows > 0)
        rc = store_exec(s->tx,
                        "DELETE FROM domains WHERE workspace_id = ? AND project_id = ? AND env = ?"
                        " AND service = ? AND kind = 'PLATFORM'",
                        ARGS(KEY(s->p), SV_CSTR(e->name), SV_CSTR(svc)), NULL, err);
    if (rc == 0)
        rc = store_exec(s->tx,
                        "INSERT INTO domains (hostname, workspace_id, project_id, env, service,"
                        " kind, pending) VALUES (?, ?, ?, ?, ?, 'PLATFORM', 0)"
                        " ON CONFLICT (hostname) DO NOTHING",
                        ARGS(SV_CSTR(want), KEY(s->p), SV_CSTR(e->name), SV_CSTR(svc)), &changes,
                        err);
    if (rc == 0 && changes == 0) /* a hand edit named a host another holds: it stays theirs */
        LOG_WARN(&ix_log, "pkg.index.platform_domain_taken", LF_STR("domain", want),
                 LF_STR("project", s->p->project_id), LF_STR("env", e->name));
    return rc;
}

/* Platform domains: one per environment and base service. Rows of services base no longer
 * has go (when base changed); the changed environments' pairs are settled. */
static int rows_platform(struct sync *s, struct err *err)
{
    json_t *svcs = json_object_get(s->base, "services"), *sv;
    struct store_rows *r = NULL;
    const char *svc;
    int rc = 0;

    if (s->ix->wd == NULL || s->name[0] == '\0')
        return 0;
    if (s->base_changed)
        rc = store_query(s->tx, s->a,
                         "SELECT hostname, service FROM domains WHERE workspace_id = ?"
                         " AND project_id = ? AND kind = 'PLATFORM'",
                         ARGS(KEY(s->p)), &r, err);
    for (size_t i = 0; rc == 0 && r != NULL && i < r->nrows; i++) {
        char *h = cell_str(s->a, r, i, 0), *v = cell_str(s->a, r, i, 1);

        if (h == NULL || v == NULL)
            return oom(err);
        if (json_object_get(svcs, v) == NULL)
            rc = store_exec(s->tx, "DELETE FROM domains WHERE hostname = ?", ARGS(SV_CSTR(h)), NULL,
                            err);
    }
    for (size_t i = 0; rc == 0 && i < s->nenvs; i++) {
        if (!s->envs[i].changed)
            continue;
        json_object_foreach(svcs, svc, sv)
        {
            if (rc == 0)
                rc = platform_pair(s, &s->envs[i], svc, err);
        }
    }
    return rc;
}

/* Moves the project's row to HEAD: compare-and-swap on the head read before the walk, so a
 * sync that lost a race to another writes nothing. 1 when it lost. */
static int rows_project(struct sync *s, struct err *err)
{
    int64_t created = s->full && s->n > 0 ? s->v[s->n - 1].time : s->row_created;
    int64_t changes = 0;
    int rc;

    if (s->have_row)
        rc = store_exec(s->tx,
                        "UPDATE projects SET head = ?, name = ?, display_name = ?, created = ?,"
                        " base_hash = ?, meta_hash = ? WHERE workspace_id = ? AND project_id = ?"
                        " AND head = ?",
                        ARGS(SV_CSTR(s->head), SV_CSTR(s->name), SV_CSTR(s->display),
                             SV_INT(created), SV_CSTR(s->base_hash), SV_CSTR(s->meta_hash),
                             KEY(s->p), SV_CSTR(s->row_head)),
                        &changes, err);
    else
        rc = store_exec(s->tx,
                        "INSERT INTO projects (workspace_id, project_id, name, display_name,"
                        " created, head, base_hash, meta_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                        " ON CONFLICT (workspace_id, project_id) DO NOTHING",
                        ARGS(KEY(s->p), SV_CSTR(s->name), SV_CSTR(s->display), SV_INT(created),
                             SV_CSTR(s->head), SV_CSTR(s->base_hash), SV_CSTR(s->meta_hash)),
                        &changes, err);
    return rc < 0 ? rc : changes == 1 ? 0 : 1;
}

static int sync_write(struct sync *s, struct err *err)
{
    struct store_rows *r = NULL;
    int64_t seq0 = 0;
    int rc = rows_project(s, err);

    if (rc != 0)
        return rc;
    if (s->full)
        rc = store_exec(s->tx, "DELETE FROM deployments WHERE workspace_id = ? AND project_id = ?",
                        ARGS(KEY(s->p)), NULL, err);
    else
        rc = store_query(s->tx, s->a,
                         "SELECT CAST(COALESCE(MAX(seq), 0) AS BIGINT) FROM deployments"
                         " WHERE workspace_id = ? AND project_id = ?",
                         ARGS(KEY(s->p)), &r, err);
    if (rc == 0 && r != NULL && r->nrows == 1)
        seq0 = cell_int(r, 0, 0);
    if (rc == 0)
        rc = rows_deployments(s, seq0, err);
    if (rc == 0)
        rc = rows_envs_gone(s, err);
    for (size_t i = 0; rc == 0 && i < s->nenvs; i++) {
        if (!s->envs[i].changed)
            continue;
        rc = rows_env_images(s, &s->envs[i], err);
        if (rc == 0)
            rc = rows_env_custom(s, &s->envs[i], err);
    }
    if (rc == 0)
        rc = rows_platform(s, err);
    return rc;
}

/* Opens the repository and reads HEAD: 1 when there is nothing to index (no commit yet). */
static int sync_open(struct sync *s, struct err *err)
{
    struct sbuf path = SBUF_INIT(4096);
    int rc = pkg_repo_path(s->p->root, slice_from_cstr(s->p->workspace_id),
                           slice_from_cstr(s->p->project_id), &path, err);

    if (rc == 0)
        rc = pkg_repo_open(path.buf, &s->repo, err);
    if (rc == 0) {
        rc = pkg_repo_head(s->repo, s->head, err);
        if (rc == ERR_NOTFOUND)
            rc = 1;
    }
    sbuf_release(&path);
    return rc;
}

/* One store transaction: the rows are read, compared with HEAD and written in it, and only
 * what the new commits changed is read from git (the commits after the indexed head, the
 * environments whose values changed). */
static int sync_run(struct sync *s, struct err *err)
{
    int rc = sync_open(s, err);

    if (rc == 0)
        rc = store_begin(s->ix->store, &s->tx, err);
    if (rc != 0)
        return rc;
    rc = sync_row(s, err);
    if (rc == 0 && s->row_head != NULL && strcmp(s->row_head, s->head) == 0)
        rc = 1;
    /* Only the commits after the indexed head; all of them when it is not an ancestor of HEAD
     * (no row, or a history rewritten by hand). */
    s->full = true;
    if (rc == 0)
        rc = pkg_repo_log(s->repo, NULL, 0, walk_collect, s, err);
    if (rc == 0 && s->oom)
        rc = oom(err);
    if (rc == 0)
        rc = sync_head_state(s, err);
    if (rc == 0)
        rc = sync_write(s, err);
    if (rc == 0)
        return store_commit(s->tx, err);
    store_rollback(s->tx);
    return rc == 1 ? 0 : rc;
}

int pkg_index_sync(struct pkg_index *ix, const struct pkg_project *p, struct err *err)
{
    struct sync s = {.ix = ix, .p = p, .a = ix_arena(), .row_envs = json_object()};
    int rc = sync_run(&s, err);

    pkg_repo_close(s.repo);
    for (size_t i = 0; i < s.nenvs; i++)
        json_decref(s.envs[i].vals);
    json_decref(s.row_envs);
    json_decref(s.base);
    free(s.v);
    arena_free(s.a);
    return rc == 1 ? 0 : rc;
}

/* ---------------------------------------------------------------- rebuild */

struct disk {
    json_t *seen; /* "<workspace>/<project>" of every repository on disk → true */
    int failed;
};

static void rebuild_one(struct pkg_index *ix, const char *ws, const char *pid, struct disk *d)
{
    struct pkg_project p = {.root = ix->root, .workspace_id = ws, .project_id = pid};
    char key[2 * 256 + 2]; /* two slugs of at most 63 bytes, but a d_name may have 255 */
    struct err err = {0};

    snprintf(key, sizeof(key), "%.255s/%.255s", ws, pid);
    json_object_set_new(d->seen, key, json_true());
    if (pkg_index_sync(ix, &p, &err) < 0) {
        d->failed++;
        LOG_WARN(&ix_log, "pkg.index.sync_failed", LF_STR("workspace", ws), LF_STR("project", pid),
                 LF_STR("error", err.msg));
    }
}

/* Syncs every project repository of workspace directory <sub>: "<slug>.git" entries. */
static void rebuild_ws(struct pkg_index *ix, const char *sub, const char *ws, struct disk *d)
{
    DIR *dir = opendir(sub);
    struct dirent *f;

    while (dir != NULL && (f = readdir(dir)) != NULL) {
        size_t n = strlen(f->d_name);
        char pid[LABEL_MAX + 1];

        if (n <= 4 || n - 4 > LABEL_MAX || strcmp(f->d_name + n - 4, ".git") != 0)
            continue;
        snprintf(pid, sizeof(pid), "%.*s", (int)(n - 4), f->d_name);
        if (slug_valid(slice_from_cstr(pid)))
            rebuild_one(ix, ws, pid, d);
    }
    if (dir != NULL)
        closedir(dir);
}

/* Syncs every <root>/repos/<workspace-id>/<project-id>.git (both slugs). */
static int rebuild_disk(struct pkg_index *ix, struct disk *d, struct err *err)
{
    char dir[4096], sub[4096 + 256];
    struct dirent *e;
    DIR *top;

    snprintf(dir, sizeof(dir), "%s/repos", ix->root);
    top = opendir(dir);
    if (top == NULL)
        return errno == ENOENT ? 0 : err_set(err, ERR_IO, "%s: %s", dir, strerror(errno));
    while ((e = readdir(top)) != NULL) {
        if (!slug_valid(slice_from_cstr(e->d_name)))
            continue;
        snprintf(sub, sizeof(sub), "%s/%s", dir, e->d_name);
        rebuild_ws(ix, sub, e->d_name, d);
    }
    closedir(top);
    return 0;
}

/* Forgets the rows of projects whose repository is gone (a delete cut short by a crash). */
static int rebuild_orphans(struct pkg_index *ix, const struct disk *d, struct err *err)
{
    struct arena *a = ix_arena();
    struct store_rows *r = NULL;
    int rc = store_read1(ix->store, a, "SELECT workspace_id, project_id FROM projects", NULL, 0, &r,
                         err);

    for (size_t i = 0; rc == 0 && i < r->nrows; i++) {
        char *ws = cell_str(a, r, i, 0), *pid = cell_str(a, r, i, 1);
        char *key = ws && pid ? arena_printf(a, "%s/%s", ws, pid) : NULL;

        if (key == NULL)
            rc = oom(err);
        else if (json_object_get(d->seen, key) == NULL)
            rc = pkg_index_forget(ix, ws, pid, err);
    }
    arena_free(a);
    return rc;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return (flag == FTW_DP ? rmdir(path) : unlink(path)) == 0 || errno == ENOENT ? 0 : -1;
}

/* rm -rf <path>; 0 when it is gone (or never was). */
static int remove_tree(const char *path, struct err *err)
{
    if (nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0 && errno != ENOENT)
        return err_set(err, err_from_errno(errno), "remove %s: %s", path, strerror(errno));
    return 0;
}

int pkg_index_rebuild(struct pkg_index *ix, struct err *err)
{
    struct disk d = {.seen = json_object()};
    char trash[4096];
    int rc;

    /* No call runs yet, so a pending claim is one whose commit never finished. */
    rc = store_exec1(ix->store, "DELETE FROM domains WHERE pending = 1", NULL, 0, NULL, err);
    if (rc == 0)
        rc = rebuild_disk(ix, &d, err);
    if (rc == 0)
        rc = rebuild_orphans(ix, &d, err);
    snprintf(trash, sizeof(trash), "%s/trash", ix->root);
    if (rc == 0)
        rc = remove_tree(trash, err);
    if (rc == 0 && d.failed > 0)
        LOG_WARN(&ix_log, "pkg.index.rebuild_partial", LF_INT("failed", d.failed));
    json_decref(d.seen);
    return rc;
}

/* ---------------------------------------------------------------- reads */

/* ERR_NOTFOUND unless project <pid> is of workspace <ws> (and environment <env>, when not
 * NULL, is one of it). */
static int visible(struct store_tx *tx, struct arena *a, const char *ws, const char *pid,
                   const char *env, struct err *err)
{
    struct store_rows *r = NULL;
    int rc = store_query(tx, a, "SELECT 1 FROM projects WHERE workspace_id = ? AND project_id = ?",
                         ARGS(SV_CSTR(ws), SV_CSTR(pid)), &r, err);

    if (rc == 0 && r->nrows == 0)
        return err_set(err, ERR_NOTFOUND, "project %s not found", pid);
    if (rc == 0 && env != NULL)
        rc = store_query(tx, a,
                         "SELECT 1 FROM environments WHERE workspace_id = ? AND project_id = ?"
                         " AND env = ?",
                         ARGS(SV_CSTR(ws), SV_CSTR(pid), SV_CSTR(env)), &r, err);
    if (rc == 0 && env != NULL && r->nrows == 0)
        return err_set(err, ERR_NOTFOUND, "environment %s not found", env);
    return rc;
}

static int history_rows(struct store_tx *tx, struct arena *a, const char *ws, const char *pid,
                        const char *env, const char *service, size_t limit, struct store_rows **cur,
                        struct store_rows **rows, struct err *err)
{
    static const char sql[] =
        "SELECT kind, tag, digest, commit_oid, author_name, author_email, committed_at, message"
        " FROM deployments WHERE workspace_id = ? AND project_id = ? AND env = ? AND service = ?"
        " ORDER BY committed_at DESC, seq DESC";
    struct store_val k[] = {SV_CSTR(ws), SV_CSTR(pid), SV_CSTR(env), SV_CSTR(service),
                            SV_INT(limit)};
    char *limited = arena_printf(a, "%s LIMIT ?", sql);
    int rc = visible(tx, a, ws, pid, env, err);

    if (rc == 0)
        rc = store_query(tx, a,
                         "SELECT digest FROM images WHERE workspace_id = ? AND project_id = ?"
                         " AND env = ? AND service = ?",
                         k, 4, cur, err);
    if (rc == 0)
        rc = limited != NULL
                 ? store_query(tx, a, limit > 0 ? limited : sql, k, limit > 0 ? 5 : 4, rows, err)
                 : oom(err);
    return rc;
}

int pkg_index_history(struct pkg_index *ix, const char *ws, const char *pid, const char *env,
                      const char *service, size_t limit, pkg_history_fn *fn, void *arg,
                      struct err *err)
{
    struct arena *a = ix_arena();
    struct store_rows *cur = NULL, *rows = NULL;
    struct store_tx *tx = NULL;
    char *digest = NULL;
    bool active_seen = false;
    int rc = pid != NULL && env != NULL && service != NULL
                 ? store_begin_read(ix->store, &tx, err)
                 : err_set(err, ERR_INVALID, "project, env and service are required");

    if (rc == 0) {
        rc = history_rows(tx, a, ws, pid, env, service, limit, &cur, &rows, err);
        store_rollback(tx); /* only read: nothing to keep, and the connection goes back now */
    }
    if (rc == 0 && cur->nrows == 1)
        digest = cell_str(a, cur, 0, 0);
    for (size_t i = 0; rc == 0 && i < rows->nrows; i++) {
        struct pkg_deployment d = {
            .kind = (enum pkg_deploy_kind)cell_int(rows, i, 0),
            .tag = cell_str(a, rows, i, 1),
            .digest = cell_str(a, rows, i, 2),
            .commit = cell_str(a, rows, i, 3),
            .author_name = cell_str(a, rows, i, 4),
            .author_email = cell_str(a, rows, i, 5),
            .time = cell_int(rows, i, 6),
            .message = cell_str(a, rows, i, 7),
        };

        if (!d.tag || !d.digest || !d.commit || !d.author_name || !d.author_email || !d.message) {
            rc = oom(err);
            break;
        }
        if (!active_seen && digest != NULL && d.digest[0] && strcmp(d.digest, digest) == 0)
            d.active = active_seen = true;
        if (!fn(arg, &d))
            break;
    }
    arena_free(a);
    return rc;
}

int pkg_index_projects(struct pkg_index *ix, const char *ws, const char *pid, pkg_project_fn *fn,
                       void *arg, struct err *err)
{
    struct arena *a = ix_arena();
    struct store_rows *r = NULL;
    int rc;

    if (pid == NULL)
        rc = store_read1(ix->store, a,
                         "SELECT project_id, name, display_name, created, head FROM projects"
                         " WHERE workspace_id = ? ORDER BY created, project_id",
                         ARGS(SV_CSTR(ws)), &r, err);
    else
        rc = store_read1(ix->store, a,
                         "SELECT project_id, name, display_name, created, head FROM projects"
                         " WHERE workspace_id = ? AND project_id = ?",
                         ARGS(SV_CSTR(ws), SV_CSTR(pid)), &r, err);
    if (rc == 0 && pid != NULL && r->nrows == 0)
        rc = err_set(err, ERR_NOTFOUND, "project %s not found", pid);
    for (size_t i = 0; rc == 0 && i < r->nrows; i++) {
        struct pkg_project_info pi = {cell_str(a, r, i, 0), cell_str(a, r, i, 1),
                                      cell_str(a, r, i, 2), cell_int(r, i, 3),
                                      cell_str(a, r, i, 4)};

        if (!pi.id || !pi.name || !pi.display_name || !pi.head)
            rc = oom(err);
        else if (fn == NULL || !fn(arg, &pi)) /* no <fn>: only whether it is there */
            break;
    }
    arena_free(a);
    return rc;
}

int pkg_index_forget(struct pkg_index *ix, const char *ws, const char *pid, struct err *err)
{
    static const char *const tables[] = {"deployments", "images", "environments", "domains",
                                         "projects"};
    struct store_tx *tx = NULL;
    int rc = store_begin(ix->store, &tx, err);

    for (size_t i = 0; rc == 0 && i < ARRAY_LEN(tables); i++) {
        char sql[96];

        snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE workspace_id = ? AND project_id = ?",
                 tables[i]);
        rc = store_exec(tx, sql, ARGS(SV_CSTR(ws), SV_CSTR(pid)), NULL, err);
    }
    if (rc == 0)
        return store_commit(tx, err);
    if (tx != NULL)
        store_rollback(tx);
    return rc;
}

/* ---------------------------------------------------------------- domains */

static bool label_ok(const char *s, size_t n)
{
    if (n == 0 || n > LABEL_MAX || s[0] == '-' || s[n - 1] == '-')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return false;
    return true;
}

int pkg_domain_normalize(const char *host, char out[PKG_HOST_MAX + 1], struct err *err)
{
    size_t n = host != NULL ? strlen(host) : 0, start = 0, labels = 0;

    if (n == 0 || n > PKG_HOST_MAX)
        return err_set(err, ERR_INVALID, "domain: must be 1 to %d bytes", PKG_HOST_MAX);
    for (size_t i = 0; i <= n; i++)
        out[i] = host[i] >= 'A' && host[i] <= 'Z' ? (char)(host[i] - 'A' + 'a') : host[i];
    for (size_t i = 0; i <= n; i++) {
        if (i < n && out[i] != '.')
            continue;
        if (!label_ok(out + start, i - start))
            return err_set(err, ERR_INVALID,
                           "domain %.253s: labels are 1 to 63 of a-z 0-9 '-', not starting or "
                           "ending with '-'",
                           out);
        labels++;
        start = i + 1;
    }
    for (size_t i = n; i-- > 0 && out[i] != '.';)
        if (out[i] < 'a' || out[i] > 'z')
            return err_set(err, ERR_INVALID, "domain %.253s: the last label must be letters", out);
    if (labels < 2)
        return err_set(err, ERR_INVALID, "domain %.253s: needs at least two labels", out);
    return 0;
}

/* ERR_CONFLICT saying who holds <host>: the holder's project, environment and service when it
 * is of <ws>, nothing of another workspace's. */
static int held_by(struct pkg_index *ix, const char *ws, const char *host, struct err *err)
{
    struct arena *a = ix_arena();
    struct store_rows *r = NULL;
    int rc = store_read1(ix->store, a,
                         "SELECT workspace_id, project_id, env, service FROM domains"
                         " WHERE hostname = ?",
                         ARGS(SV_CSTR(host)), &r, err);

    if (rc == 0 && r->nrows == 0)
        rc = err_set(err, ERR_CONFLICT, "domain %s was taken meanwhile: try again", host);
    else if (rc == 0 && store_cell(r, 0, 0)->type == STORE_T_TEXT &&
             slice_eq_cstr(store_cell(r, 0, 0)->s, ws))
        rc = err_set(err, ERR_CONFLICT,
                     "domain %s is taken by service " SLICE_FMT " in environment " SLICE_FMT
                     " of project " SLICE_FMT,
                     host, SLICE_ARG(store_cell(r, 0, 3)->s), SLICE_ARG(store_cell(r, 0, 2)->s),
                     SLICE_ARG(store_cell(r, 0, 1)->s));
    else if (rc == 0)
        rc = err_set(err, ERR_CONFLICT, "domain %s is taken by another workspace", host);
    arena_free(a);
    return rc;
}

int pkg_index_domain_claim(struct pkg_index *ix, const struct pkg_project *p, const char *env,
                           const char *service, const char *host, struct err *err)
{
    int64_t changes = 0;
    int rc =
        store_exec1(ix->store,
                    "INSERT INTO domains (hostname, workspace_id, project_id, env, service,"
                    " kind, pending) VALUES (?, ?, ?, ?, ?, 'CUSTOM', 1)"
                    " ON CONFLICT (hostname) DO NOTHING",
                    ARGS(SV_CSTR(host), KEY(p), SV_CSTR(env), SV_CSTR(service)), &changes, err);

    if (rc == 0 && changes != 1)
        rc = held_by(ix, p->workspace_id, host, err);
    return rc;
}

void pkg_index_domain_release(struct pkg_index *ix, const struct pkg_project *p, const char *host)
{
    struct err err = {0};

    if (store_exec1(ix->store,
                    "DELETE FROM domains WHERE hostname = ? AND workspace_id = ?"
                    " AND project_id = ? AND pending = 1",
                    ARGS(SV_CSTR(host), KEY(p)), NULL, &err) < 0)
        /* Harmless but for the name staying taken: the next start drops pending claims. */
        LOG_WARN(&ix_log, "pkg.index.release_failed", LF_STR("domain", host),
                 LF_STR("error", err.msg));
}

static int platform_get(struct pkg_index *ix, struct store_tx *tx, struct arena *a,
                        const struct pkg_project *p, const char *env, const char *service,
                        char out[PKG_HOST_MAX + 1], struct err *err)
{
    struct store_rows *r = NULL;
    const char *name;
    int rc = visible(tx, a, p->workspace_id, p->project_id, env, err);

    if (rc == 0)
        rc = store_query(tx, a,
                         "SELECT hostname FROM domains WHERE workspace_id = ? AND project_id = ?"
                         " AND env = ? AND service = ? AND kind = 'PLATFORM'",
                         ARGS(KEY(p), SV_CSTR(env), SV_CSTR(service)), &r, err);
    if (rc == 0 && r->nrows == 1) {
        snprintf(out, PKG_HOST_MAX + 1, SLICE_FMT, SLICE_ARG(store_cell(r, 0, 0)->s));
        return 0;
    }
    if (rc == 0)
        rc = store_query(tx, a,
                         "SELECT name FROM projects WHERE workspace_id = ? AND project_id = ?",
                         ARGS(KEY(p)), &r, err);
    if (rc < 0)
        return rc;
    name = r->nrows == 1 ? cell_str(a, r, 0, 0) : NULL;
    if (name == NULL || name[0] == '\0')
        return err_set(err, ERR_INVALID, "project %s has no name for its domains", p->project_id);
    return platform_claim(ix, tx, a, p, name, env, service, out, err);
}

int pkg_index_domain_platform(struct pkg_index *ix, const struct pkg_project *p, const char *env,
                              const char *service, char out[PKG_HOST_MAX + 1], struct err *err)
{
    struct arena *a;
    struct store_tx *tx = NULL;
    int rc;

    if (ix->wd == NULL)
        return err_set(err, ERR_INVALID, "packager: no workload domain is configured");
    if (!pkg_name_ok(env, strlen(env)) || !pkg_name_ok(service, strlen(service)))
        return err_set(err, ERR_INVALID, "env, service: must match ^[a-z][a-z0-9-]{0,30}$");
    a = ix_arena();
    rc = store_begin(ix->store, &tx, err);
    if (rc == 0) {
        rc = platform_get(ix, tx, a, p, env, service, out, err);
        if (rc == 0)
            rc = store_commit(tx, err);
        else
            store_rollback(tx);
    }
    arena_free(a);
    return rc;
}

/* ---------------------------------------------------------------- project delete */

static int dir_fsync(const char *path, struct err *err)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0 || fsync(fd) != 0) {
        int e = errno;

        if (fd >= 0)
            close(fd);
        return err_set(err, err_from_errno(e), "fsync %s: %s", path, strerror(e));
    }
    close(fd);
    return 0;
}

static int parent_fsync(const char *path, struct err *err)
{
    char dir[4096];
    char *slash;

    snprintf(dir, sizeof(dir), "%s", path);
    slash = strrchr(dir, '/');
    if (slash == NULL)
        return 0;
    *slash = '\0';
    return dir_fsync(dir, err);
}

struct removal {
    const struct pkg_project *p;
};

/* Under the project's lock: the repository leaves its place by one rename (durable before
 * anything is removed, so a crash leaves either the whole repository or none), then goes. */
static int remove_locked(void *arg, const char *repo_path, struct err *err)
{
    const struct pkg_project *p = ((struct removal *)arg)->p;
    struct sbuf key = SBUF_INIT(4096);
    char trash[4096], dest[4096 + 128];
    struct stat st;
    int rc;

    if (stat(repo_path, &st) != 0)
        return errno == ENOENT
                   ? err_set(err, ERR_NOTFOUND, "project %s not found", p->project_id)
                   : err_set(err, err_from_errno(errno), "%s: %s", repo_path, strerror(errno));
    snprintf(trash, sizeof(trash), "%s/trash", p->root);
    snprintf(dest, sizeof(dest), "%s/%s.%s.%" PRIu64 ".git", trash, p->workspace_id, p->project_id,
             time_wall_ms());
    if (mkdir(trash, 0700) != 0 && errno != EEXIST)
        return err_set(err, err_from_errno(errno), "%s: %s", trash, strerror(errno));
    if (rename(repo_path, dest) != 0)
        return err_set(err, err_from_errno(errno), "move %s to the trash: %s", repo_path,
                       strerror(errno));
    rc = parent_fsync(repo_path, err);
    if (rc == 0)
        rc = dir_fsync(trash, err);
    if (rc == 0)
        rc = remove_tree(dest, err);
    if (rc == 0)
        rc = pkg_project_path(p->root, "keys", slice_from_cstr(p->workspace_id),
                              slice_from_cstr(p->project_id), ".key", &key, err);
    if (rc == 0 && unlink(key.buf) != 0 && errno != ENOENT)
        rc = err_set(err, err_from_errno(errno), "%s: %s", key.buf, strerror(errno));
    if (rc == 0) {
        rc = parent_fsync(key.buf, err);
        if (rc == ERR_NOTFOUND) /* a project that never had a secret has no key directory */
            rc = 0;
    }
    sbuf_release(&key);
    return rc;
}

int pkg_index_project_delete(struct pkg_index *ix, struct pkg_ops *ops, const struct pkg_project *p,
                             struct err *err)
{
    struct removal r = {p};
    int rc = pkg_ops_locked(ops, p, remove_locked, &r, err);

    return rc < 0 ? rc : pkg_index_forget(ix, p->workspace_id, p->project_id, err);
}
