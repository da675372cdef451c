/* pkg read: what an environment wants, merged from its two values files (pkg-int.h). */
#include <inttypes.h>
#include <jansson.h>
#include <sodium.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "pkg/pkg-int.h"

#define READ_BUDGET ((size_t)64 << 20) /* one read's scratch: the values files and their JSON */
#define SECRET_MASK "********"
#define BASE_VALUES "base/values.yaml"

/* ---------------------------------------------------------------- quantities */

struct unit {
    enum pkg_quantity kind;
    const char *suffix;
    uint64_t scale; /* of one whole unit, in millicores or bytes */
    bool fraction;  /* whether the schema allows a decimal point */
};

static const struct unit units[] = {
    {PKG_QTY_CPU, "", 1000, true},
    {PKG_QTY_CPU, "m", 1, true},
    {PKG_QTY_MEMORY, "Ki", 1ull << 10, false},
    {PKG_QTY_MEMORY, "Mi", 1ull << 20, false},
    {PKG_QTY_MEMORY, "Gi", 1ull << 30, false},
};

static int qty_bad(enum pkg_quantity kind, struct err *err)
{
    return err_set(err, ERR_INVALID,
                   kind == PKG_QTY_CPU ? "not a CPU amount (\"2\", \"0.5\", \"500m\")"
                                       : "not a memory amount (\"512Ki\", \"512Mi\", \"1Gi\")");
}

/* Digits from *s into *v (false past 2^64); *s moves past them, *ndigits counts them. */
static bool digits(const char **s, uint64_t *v, size_t *ndigits)
{
    for (*v = 0, *ndigits = 0; **s >= '0' && **s <= '9'; (*s)++, (*ndigits)++) {
        if (*v > (UINT64_MAX - 9) / 10)
            return false;
        *v = *v * 10 + (uint64_t)(**s - '0');
    }
    return true;
}

int pkg_quantity_parse(const char *s, enum pkg_quantity kind, uint64_t *out, struct err *err)
{
    uint64_t whole, frac = 0, den = 1, part;
    const struct unit *u = NULL;
    bool more = false; /* a non-zero digit past the ninth of the fraction */
    size_t nw, nf = 0;

    if (s == NULL || !digits(&s, &whole, &nw) || nw == 0)
        return qty_bad(kind, err);
    if (*s == '.') {
        for (s++; *s >= '0' && *s <= '9'; s++, nf++) {
            if (nf < 9) {
                frac = frac * 10 + (uint64_t)(*s - '0');
                den *= 10;
            } else if (*s != '0') {
                more = true;
            }
        }
        if (nf == 0)
            return qty_bad(kind, err);
    }
    for (size_t i = 0; i < ARRAY_LEN(units); i++)
        if (units[i].kind == kind && strcmp(s, units[i].suffix) == 0)
            u = &units[i];
    if (u == NULL || (nf > 0 && !u->fraction) || whole > UINT64_MAX / u->scale)
        return qty_bad(kind, err);
    /* The fraction in the unit's scale, rounded up as Kubernetes rounds CPU to 1m: scale is at
     * most 1000 where a fraction is allowed, so frac * scale < 10^12. */
    part = (frac * u->scale + den - 1) / den;
    if (more && frac * u->scale % den == 0)
        part++;
    *out = whole * u->scale;
    if (*out > UINT64_MAX - part)
        return qty_bad(kind, err);
    *out += part;
    return 0;
}

/* ---------------------------------------------------------------- one commit's values */

int pkg_values_at(struct pkg_repo *r, const char *rev, const char *path, struct arena *a,
                  json_t **out, struct err *err)
{
    struct slice text;
    int rc = pkg_repo_read(r, rev, path, a, &text, err);

    *out = NULL;
    if (rc == 0)
        rc = pkg_yaml_json(text, out, err);
    return rc == 0 || rc == ERR_NOTFOUND ? rc : err_wrap(err, "%s", path);
}

/* A project's base and one environment's values at the commit main was at. */
struct view {
    const struct pkg_project *p;
    const char *env;
    struct arena *scratch;
    json_t *base, *envj;
    const char *name; /* the project's label in platform domains; "" when unknown */
    struct arena *a;  /* the caller's: results */
    struct err *err;
};

static int oom(struct err *err)
{
    return err_set(err, ERR_LIMIT, "read: arena budget spent");
}

/* The project's name as render.c got it (the call's slug), else slipway.yaml's. */
static int view_name(struct view *v, struct pkg_repo *r, const char *head, struct err *err)
{
    json_t *meta = NULL;
    const char *name = v->p->slug;
    int rc = 0;

    if (name == NULL || name[0] == '\0') {
        rc = pkg_values_at(r, head, "slipway.yaml", v->scratch, &meta, err);
        if (rc == ERR_NOTFOUND || rc == ERR_INVALID) /* a hand edit: no platform default */
            rc = 0;
        name = json_string_value(json_object_get(meta, "name"));
    }
    v->name = arena_strndup(v->scratch, name ? name : "", name ? strlen(name) : 0);
    json_decref(meta);
    return rc < 0 ? rc : v->name == NULL ? oom(err) : 0;
}

static int view_read(struct view *v, struct pkg_repo *r, struct err *err)
{
    char head[PKG_OID_HEX + 1];
    char *path = arena_printf(v->scratch, "environments/%s/values.yaml", v->env);
    int rc = path != NULL ? pkg_repo_head(r, head, err) : oom(err);

    if (rc == ERR_NOTFOUND)
        return err_set(err, ERR_NOTFOUND, "project %s has no commit", v->p->project_id);
    if (rc == 0)
        rc = pkg_values_at(r, head, BASE_VALUES, v->scratch, &v->base, err);
    if (rc == 0) {
        rc = pkg_values_at(r, head, path, v->scratch, &v->envj, err);
        if (rc == ERR_NOTFOUND)
            rc = err_set(err, ERR_NOTFOUND, "environment %s not found", v->env);
    }
    return rc < 0 ? rc : view_name(v, r, head, err);
}

static int view_open(struct view *v, const struct pkg_project *p, const char *env, struct arena *a,
                     struct err *err)
{
    struct sbuf path = SBUF_INIT(4096);
    struct pkg_repo *r = NULL;
    int rc;

    *v = (struct view){.p = p, .env = env, .a = a, .err = err};
    if (a == NULL)
        return err_set(err, ERR_INVALID, "read: an arena is needed for the result");
    if (!pkg_name_ok(env, env ? strlen(env) : 0))
        return err_set(err, ERR_INVALID, "env: must match ^[a-z][a-z0-9-]{0,30}$");
    v->scratch = arena_new(&(struct arena_opts){.chunk = 64 << 10, .budget = READ_BUDGET});
    rc = pkg_repo_path(p->root, slice_from_cstr(p->workspace_id), slice_from_cstr(p->project_id),
                       &path, err);
    if (rc == 0)
        rc = pkg_repo_open(path.buf, &r, err);
    if (rc == ERR_NOTFOUND)
        rc = err_set(err, ERR_NOTFOUND, "project %s not found", p->project_id);
    if (rc == 0)
        rc = view_read(v, r, err);
    pkg_repo_close(r);
    sbuf_release(&path);
    return rc;
}

static void view_close(struct view *v)
{
    json_decref(v->base);
    json_decref(v->envj);
    arena_free(v->scratch);
}

static const json_t *base_svc(const struct view *v, const char *name)
{
    return json_object_get(json_object_get(v->base, "services"), name);
}

static const json_t *env_svc(const struct view *v, const char *name)
{
    return json_object_get(json_object_get(v->envj, "services"), name);
}

/* ---------------------------------------------------------------- helpers */

static const char *str_at(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key)); /* NULL when absent or not a string */
}

static int64_t int_at(const json_t *obj, const char *key, int64_t dflt)
{
    const json_t *v = json_object_get(obj, key);

    return json_is_integer(v) ? (int64_t)json_integer_value(v) : dflt;
}

/* A copy of <s> in the caller's arena; NULL for NULL. Sets v->err on a spent budget. */
static const char *dup(struct view *v, const char *s, bool *oom_seen)
{
    char *c;

    if (s == NULL)
        return NULL;
    c = arena_strndup(v->a, s, strlen(s));
    if (c == NULL)
        *oom_seen = true;
    return c;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The keys of object <obj> sorted by strcmp, borrowed from it, in the scratch arena. */
static int keys_sorted(struct view *v, const json_t *obj, const char ***out, size_t *n)
{
    const char *k, **keys;
    size_t i = 0;
    json_t *val;

    *n = json_object_size(obj);
    keys = arena_alloc(v->scratch, (*n ? *n : 1) * sizeof(*keys));
    if (keys == NULL)
        return oom(v->err);
    json_object_foreach((json_t *)obj, k, val)
    {
        (void)val;
        keys[i++] = k;
    }
    qsort(keys, *n, sizeof(*keys), cmp_str);
    *out = keys;
    return 0;
}

/* The platform domain of <svc> in the view's environment into <out>; "" when it has none (no
 * committed one, and no workload domain or project name to make the default from). */
static int platform_of(struct view *v, const char *svc, char out[PKG_HOST_MAX + 1])
{
    const char *committed = str_at(env_svc(v, svc), "platformDomain");

    out[0] = '\0';
    if (committed != NULL) {
        snprintf(out, PKG_HOST_MAX + 1, "%s", committed);
        return 0;
    }
    if (v->p->workload_domain == NULL || v->p->workload_domain[0] == '\0' || v->name[0] == '\0')
        return 0;
    return pkg_platform_default(svc, v->env, v->name, v->p->workload_domain, out, v->err);
}

/* ---------------------------------------------------------------- variables as stored */

/* <val> (variable <key>, named <where> in errors) as a struct pkg_var in the caller's arena. */
static int var_read(struct view *v, const char *key, const json_t *val, const char *where,
                    struct pkg_var *out)
{
    bool spent = false;

    *out = (struct pkg_var){.key = dup(v, key, &spent)};
    if (json_is_string(val)) {
        out->form = PKG_VAR_LITERAL;
        out->value = dup(v, json_string_value(val), &spent);
    } else if (str_at(val, "secret") != NULL) {
        out->form = PKG_VAR_SECRET;
        out->value = SECRET_MASK; /* static: the ciphertext stays in the repository too */
    } else if (str_at(val, "shared") != NULL) {
        out->form = PKG_VAR_SHARED;
        out->shared = dup(v, str_at(val, "shared"), &spent);
    } else if (str_at(val, "database") != NULL) {
        out->form = PKG_VAR_DATABASE;
        out->database = dup(v, str_at(val, "database"), &spent);
        out->field = dup(v, str_at(val, "field"), &spent);
    } else if (str_at(val, "service") != NULL) {
        out->form = PKG_VAR_SERVICE;
        out->service = dup(v, str_at(val, "service"), &spent);
        out->field = dup(v, str_at(val, "field"), &spent);
    } else {
        return err_set(v->err, ERR_INVALID, "%s: not a variable (docs/gitops.md)", where);
    }
    return spent ? oom(v->err) : 0;
}

/* Every variable of <obj> (<prefix>.<NAME> in errors), in key order, in the caller's arena. */
static int vars_read(struct view *v, const json_t *obj, const char *prefix, struct pkg_var **out,
                     size_t *n)
{
    const char **keys;
    struct pkg_var *vars;
    int rc = keys_sorted(v, obj, &keys, n);

    if (rc < 0)
        return rc;
    vars = arena_zalloc(v->a, (*n ? *n : 1) * sizeof(*vars));
    if (vars == NULL)
        return oom(v->err);
    for (size_t i = 0; i < *n && rc == 0; i++) {
        char *where = arena_printf(v->scratch, "%s.%s", prefix, keys[i]);

        rc = where != NULL ? var_read(v, keys[i], json_object_get(obj, keys[i]), where, &vars[i])
                           : oom(v->err);
    }
    *out = vars;
    return rc;
}

/* ---------------------------------------------------------------- services */

static int svc_resources(struct view *v, const json_t *e, struct pkg_service_info *s,
                         const char *where)
{
    struct pkg_resources res;
    bool spent = false;
    int rc = 0;

    pkg_resources_pick(e, json_object_get(v->envj, "resources"), &res);
    s->tier = dup(v, res.tier, &spent);
    if (res.cpu != NULL)
        rc = pkg_quantity_parse(res.cpu, PKG_QTY_CPU, &s->cpu_millis, v->err);
    if (rc == 0 && res.memory != NULL)
        rc = pkg_quantity_parse(res.memory, PKG_QTY_MEMORY, &s->memory_bytes, v->err);
    if (rc < 0)
        return err_wrap(v->err, "%s.resources", where);
    return spent ? oom(v->err) : 0;
}

static int svc_domains(struct view *v, const char *name, const json_t *e,
                       struct pkg_service_info *s)
{
    const json_t *list = json_object_get(e, "domains");
    char platform[PKG_HOST_MAX + 1];
    const char **d;
    bool spent = false;
    int rc = platform_of(v, name, platform);

    if (rc < 0)
        return rc;
    s->platform_domain = platform[0] ? dup(v, platform, &spent) : NULL;
    d = arena_zalloc(v->a, (json_array_size(list) + 1) * sizeof(*d));
    if (d == NULL)
        return oom(v->err);
    for (size_t i = 0; i < json_array_size(list); i++)
        if (json_is_string(json_array_get(list, i)))
            d[s->ndomains++] = dup(v, json_string_value(json_array_get(list, i)), &spent);
    s->domains = d;
    return spent ? oom(v->err) : 0;
}

/* The fields that come straight from base (b) and the environment (e). */
static int svc_plain(struct view *v, const char *name, const json_t *b, const json_t *e,
                     struct pkg_service_info *s)
{
    const json_t *img = json_object_get(e, "image"), *src = json_object_get(b, "source");
    const json_t *as = json_object_get(e, "autoscaling");
    const char *custom = str_at(e, "customStartCommand");
    bool spent = false;

    s->name = dup(v, name, &spent);
    s->image = dup(v, str_at(b, "image"), &spent);
    s->tag = dup(v, str_at(img, "tag"), &spent);
    s->digest = dup(v, str_at(img, "digest"), &spent);
    s->port = int_at(b, "port", 8080);
    s->framework = dup(v, str_at(b, "framework"), &spent);
    s->start_command = dup(v, str_at(b, "startCommand"), &spent);
    s->custom_start_command = dup(v, custom ? custom : str_at(b, "customStartCommand"), &spent);
    s->health_path = dup(v, str_at(b, "healthCheckPath"), &spent);
    s->source_url = dup(v, str_at(src, "repository"), &spent);
    s->source_ref = dup(v, str_at(src, "ref"), &spent);
    s->context_path = dup(v, str_at(src, "contextPath"), &spent);
    s->replicas = int_at(e, "replicas", int_at(b, "replicas", 1));
    s->suspended = json_is_true(json_object_get(e, "suspended"));
    if (json_is_object(as)) {
        s->autoscale_min = int_at(as, "min", 1);
        s->autoscale_max = int_at(as, "max", 1);
        s->autoscale_cpu = int_at(as, "cpuPercent", 80); /* render.c's default target */
    }
    return spent ? oom(v->err) : 0;
}

static int svc_info(struct view *v, const char *name, struct pkg_service_info *s)
{
    const json_t *b = base_svc(v, name), *e = env_svc(v, name);
    char *where = arena_printf(v->scratch, "services.%s", name);
    int rc = where != NULL ? svc_plain(v, name, b, e, s) : oom(v->err);

    if (rc == 0)
        rc = svc_resources(v, e, s, where);
    if (rc == 0)
        rc = svc_domains(v, name, e, s);
    if (rc == 0) {
        struct pkg_var *vars = NULL;
        char *prefix = arena_printf(v->scratch, "%s.variables", where);

        rc = prefix != NULL
                 ? vars_read(v, json_object_get(e, "variables"), prefix, &vars, &s->nvars)
                 : oom(v->err);
        s->vars = vars;
    }
    return rc;
}

/* Every service of base is one of the environment's, deployed or not; an entry of the
 * environment that base lacks is none (render.c refuses it). */
int pkg_op_env_services(const struct pkg_project *p, const char *env, struct arena *a,
                        struct pkg_service_info **out, size_t *n, struct err *err)
{
    struct pkg_service_info *svcs = NULL;
    const char **names = NULL;
    struct view v;
    int rc = view_open(&v, p, env, a, err);

    *out = NULL;
    *n = 0;
    if (rc == 0)
        rc = keys_sorted(&v, json_object_get(v.base, "services"), &names, n);
    if (rc == 0) {
        svcs = arena_zalloc(a, (*n ? *n : 1) * sizeof(*svcs));
        if (svcs == NULL)
            rc = oom(err);
    }
    for (size_t i = 0; rc == 0 && i < *n; i++)
        rc = svc_info(&v, names[i], &svcs[i]);
    view_close(&v);
    if (rc < 0) {
        *n = 0;
        return rc;
    }
    *out = svcs;
    return 0;
}

int pkg_op_shared_variables(const struct pkg_project *p, const char *env, struct arena *a,
                            struct pkg_var **out, size_t *n, struct err *err)
{
    struct view v;
    int rc = view_open(&v, p, env, a, err);

    *out = NULL;
    *n = 0;
    if (rc == 0)
        rc = vars_read(&v, json_object_get(v.envj, "sharedVariables"), "sharedVariables", out, n);
    view_close(&v);
    if (rc < 0) {
        *out = NULL;
        *n = 0;
    }
    return rc;
}

/* ---------------------------------------------------------------- a container's environment */

struct resolve {
    struct view *v;
    int ingress_port;
    bool have_key;
    unsigned char key[PKG_SECRET_KEY_BYTES];
};

/* "KEY=<value>" in the caller's arena, built without a temporary so a secret's plaintext is
 * copied once, into the result. */
static const char *kv_new(struct view *v, const char *key, struct slice value)
{
    size_t kl = strlen(key);
    char *s = arena_alloc(v->a, kl + 1 + value.len + 1);

    if (s == NULL)
        return NULL;
    memcpy(s, key, kl);
    s[kl] = '=';
    if (value.len > 0)
        memcpy(s + kl + 1, value.ptr, value.len);
    s[kl + 1 + value.len] = '\0';
    return s;
}

static int secret_open(struct resolve *rs, const char *key, const char *sealed, const char *where,
                       const char **out)
{
    const struct pkg_project *p = rs->v->p;
    struct sbuf plain = SBUF_INIT(PKG_SECRET_MAX + 1);
    struct err *err = rs->v->err;
    int rc = 0;

    if (!rs->have_key)
        rc = pkg_secret_key(p->root, slice_from_cstr(p->workspace_id),
                            slice_from_cstr(p->project_id), rs->key, err);
    rs->have_key = rc == 0;
    if (rc == 0)
        rc = pkg_secret_open(rs->key, slice_from_cstr(sealed), &plain, err);
    if (rc == 0 && memchr(plain.buf, '\0', plain.len) != NULL)
        rc = err_set(err, ERR_INVALID, "holds a NUL byte, which no environment variable can");
    if (rc == 0 && (*out = kv_new(rs->v, key, sbuf_slice(&plain))) == NULL)
        rc = oom(err);
    pkg_secret_wipe(&plain);
    return rc < 0 ? err_wrap(err, "%s", where) : 0;
}

static int service_value(struct resolve *rs, const char *key, const json_t *val, const char *where,
                         const char **out)
{
    const char *svc = str_at(val, "service"), *field = str_at(val, "field");
    char host[PKG_HOST_MAX + 1], text[PKG_HOST_MAX + 40];
    struct view *v = rs->v;
    int rc;

    if (base_svc(v, svc) == NULL)
        return err_set(v->err, ERR_INVALID, "%s: service %s does not exist", where, svc);
    if (rs->ingress_port == 0)
        return err_set(v->err, ERR_INVALID,
                       "%s: services reach each other through the ingress, which does not run",
                       where);
    rc = platform_of(v, svc, host);
    if (rc < 0)
        return err_wrap(v->err, "%s", where);
    if (host[0] == '\0' && strcmp(field ? field : "", "port") != 0)
        return err_set(v->err, ERR_INVALID, "%s: service %s has no platform domain", where, svc);
    if (field != NULL && strcmp(field, "host") == 0)
        snprintf(text, sizeof(text), "%s", host);
    else if (field != NULL && strcmp(field, "port") == 0)
        snprintf(text, sizeof(text), "%d", rs->ingress_port);
    else if (field != NULL && strcmp(field, "internalUrl") == 0)
        snprintf(text, sizeof(text), "http://%s:%d", host, rs->ingress_port);
    else
        return err_set(v->err, ERR_INVALID, "%s: field must be host, port or internalUrl", where);
    *out = kv_new(v, key, slice_from_cstr(text));
    return *out != NULL ? 0 : oom(v->err);
}

/* "KEY=value" of variable <key> whose stored form is <val>; <shared_ok> false once a shared
 * reference was followed (a shared variable may not refer to another, as in render.c). */
static int resolve_one(struct resolve *rs, const char *key, const json_t *val, const char *where,
                       bool shared_ok, const char **out)
{
    struct view *v = rs->v;
    const char *name;

    if (json_is_string(val)) {
        *out = kv_new(v, key, (struct slice){json_string_value(val), json_string_length(val)});
        return *out != NULL ? 0 : oom(v->err);
    }
    if (str_at(val, "secret") != NULL)
        return secret_open(rs, key, str_at(val, "secret"), where, out);
    if ((name = str_at(val, "shared")) != NULL) {
        const json_t *sv = json_object_get(json_object_get(v->envj, "sharedVariables"), name);

        if (sv == NULL || !shared_ok)
            return err_set(v->err, ERR_INVALID, "%s: shared variable %s %s", where, name,
                           sv == NULL ? "does not exist" : "refers to another shared variable");
        return resolve_one(rs, key, sv, where, false, out);
    }
    if (str_at(val, "database") != NULL)
        return err_set(v->err, ERR_INVALID, "%s: databases are not available yet", where);
    if (str_at(val, "service") != NULL)
        return service_value(rs, key, val, where, out);
    return err_set(v->err, ERR_INVALID, "%s: not a variable (docs/gitops.md)", where);
}

static int env_build(struct resolve *rs, const char *service, const char ***out, size_t *n)
{
    struct view *v = rs->v;
    const json_t *vars = json_object_get(env_svc(v, service), "variables");
    const char **keys, **kv;
    int rc = keys_sorted(v, vars, &keys, n);

    if (rc < 0)
        return rc;
    kv = arena_zalloc(v->a, (*n + 1) * sizeof(*kv));
    if (kv == NULL)
        return oom(v->err);
    for (size_t i = 0; i < *n && rc == 0; i++) {
        char *where = arena_printf(v->scratch, "services.%s.variables.%s", service, keys[i]);

        rc = where != NULL
                 ? resolve_one(rs, keys[i], json_object_get(vars, keys[i]), where, true, &kv[i])
                 : oom(v->err);
    }
    /* A failed call hands out nothing: the secrets opened so far do not linger in <a>. */
    for (size_t i = 0; rc < 0 && i < *n && kv[i] != NULL; i++)
        sodium_memzero((char *)kv[i], strlen(kv[i]));
    *out = kv;
    return rc;
}

int pkg_op_service_env(const struct pkg_project *p, const char *env, const char *service,
                       int ingress_port, struct arena *a, const char ***out, size_t *n,
                       struct err *err)
{
    struct view v;
    struct resolve rs = {.v = &v, .ingress_port = ingress_port};
    int rc = view_open(&v, p, env, a, err);

    *out = NULL;
    *n = 0;
    if (rc == 0 && !pkg_name_ok(service, service ? strlen(service) : 0))
        rc = err_set(err, ERR_INVALID, "service: must match ^[a-z][a-z0-9-]{0,30}$");
    if (rc == 0 && base_svc(&v, service) == NULL)
        rc = err_set(err, ERR_NOTFOUND, "service %s not found", service);
    if (rc == 0 && (ingress_port < 0 || ingress_port > 65535))
        rc = err_set(err, ERR_INVALID, "ingress port %d: must be 0-65535", ingress_port);
    if (rc == 0)
        rc = env_build(&rs, service, out, n);
    sodium_memzero(rs.key, sizeof(rs.key));
    view_close(&v);
    if (rc < 0) {
        *out = NULL;
        *n = 0;
    }
    return rc;
}

/* ---------------------------------------------------------------- environment resources */

int pkg_env_resources_json(const struct pkg_env_resources *r, json_t **out, struct err *err)
{
    static const struct {
        const char *field;
        int64_t min, max;
        size_t off;
    } ranges[] = {
        {"cpuMillicores", 100, 32000, offsetof(struct pkg_env_resources, cpu_millis)},
        {"memoryMB", 128, 65536, offsetof(struct pkg_env_resources, memory_mb)},
        {"diskMB", 0, 102400, offsetof(struct pkg_env_resources, disk_mb)},
    };

    *out = NULL;
    if (r->tier == NULL || (strcmp(r->tier, "ECO") != 0 && strcmp(r->tier, "PRODUCTION") != 0))
        return err_set(err, ERR_INVALID, "tier: must be ECO or PRODUCTION");
    for (size_t i = 0; i < ARRAY_LEN(ranges); i++) {
        int64_t v;

        memcpy(&v, (const char *)r + ranges[i].off, sizeof(v));
        if (v < ranges[i].min || v > ranges[i].max)
            return err_set(err, ERR_INVALID, "%s: must be %" PRId64 "..%" PRId64, ranges[i].field,
                           ranges[i].min, ranges[i].max);
    }
    *out = json_pack("{s:s, s:I, s:I, s:I}", "tier", r->tier, "cpuMillicores",
                     (json_int_t)r->cpu_millis, "memoryMB", (json_int_t)r->memory_mb, "diskMB",
                     (json_int_t)r->disk_mb);
    return *out != NULL ? 0 : err_set(err, ERR_INTERNAL, "resources: cannot build the object");
}

int pkg_op_env_resources_get(const struct pkg_project *p, const char *env, struct arena *a,
                             struct pkg_env_resources *out, struct err *err)
{
    const json_t *res;
    bool spent = false;
    struct view v;
    int rc = view_open(&v, p, env, a, err);

    *out = (struct pkg_env_resources){0};
    res = rc == 0 ? json_object_get(v.envj, "resources") : NULL;
    if (json_is_object(res)) {
        *out = (struct pkg_env_resources){.set = true,
                                          .tier = dup(&v, str_at(res, "tier"), &spent),
                                          .cpu_millis = int_at(res, "cpuMillicores", 0),
                                          .memory_mb = int_at(res, "memoryMB", 0),
                                          .disk_mb = int_at(res, "diskMB", 0)};
        if (spent)
            rc = oom(err);
    }
    view_close(&v);
    return rc;
}
