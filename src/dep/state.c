/*
 * The deployer's records: one JSON file per service holding its spec (env values included, so
 * 0600 like runc's config.json), the spec's hash, the generation that runs and its replicas,
 * and while a rollout starts a new generation, that generation's replica ids ("pending"), so
 * a deployer started after a kill -9 knows what to stop.
 */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>

#include "dep/dep-int.h"

#define RECORD_MAX (4u << 20)

void dep_sha256_hex(const void *data, size_t len, char out[DEP_HASH_HEX + 1])
{
    unsigned char md[32];
    unsigned n = 0;

    ASSERT(EVP_Digest(data, len, md, &n, EVP_sha256(), NULL) == 1 && n == 32);
    for (unsigned i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

void dep_replica_id(const struct dep_svc *s, uint64_t gen, unsigned num, char out[RT_ID_MAX + 1])
{
    snprintf(out, RT_ID_MAX + 1, "%s-g%" PRIu64 "-r%u", s->key_hex, gen, num);
}

int dep_record_path(const struct dep *d, const struct dep_svc *s, char *out, size_t max,
                    struct err *err)
{
    int n = snprintf(out, max, "%s/services/%s/%s/%s/%s.json", d->dir, s->ws, s->project, s->env,
                     s->service);

    if (n < 0 || (size_t)n >= max)
        return err_set(err, ERR_INVALID, "data_dir: path too long");
    return 0;
}

static void strs_json(struct jw *w, const char *key, const char *const *v, size_t n)
{
    jw_key(w, key);
    jw_arr_begin(w);
    for (size_t i = 0; i < n; i++)
        jw_str(w, v[i]);
    jw_arr_end(w);
}

static void opt_str(struct jw *w, const char *key, const char *v)
{
    jw_key(w, key);
    if (v != NULL)
        jw_str(w, v);
    else
        jw_null(w);
}

void dep_spec_json(struct jw *w, const struct dep_spec *spec, const char *layout)
{
    jw_obj_begin(w);
    opt_str(w, "registry", spec->registry);
    opt_str(w, "repository", spec->repository);
    opt_str(w, "layout_dir", layout);
    opt_str(w, "digest", spec->digest);
    jw_key(w, "insecure_loopback");
    jw_bool(w, spec->insecure_loopback);
    jw_key(w, "port");
    jw_uint(w, spec->port);
    jw_key(w, "replicas");
    jw_uint(w, spec->replicas);
    jw_key(w, "memory_bytes");
    jw_uint(w, spec->memory_bytes);
    jw_key(w, "cpu_millis");
    jw_uint(w, spec->cpu_millis);
    strs_json(w, "env", spec->env, spec->n_env);
    opt_str(w, "start_command", spec->start_command);
    opt_str(w, "health_path", spec->health_path);
    strs_json(w, "hosts", spec->hosts, spec->n_hosts);
    jw_obj_end(w);
}

static const char *get_opt_str(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* The strings of the array <key> of <o> into a new array (*n of them). */
static int strs_read(json_t *o, const char *key, const char *const **out, size_t *n,
                     struct err *err)
{
    json_t *a = json_object_get(o, key), *v;
    const char **list;
    size_t i;

    if (!json_is_array(a))
        return err_set(err, ERR_INVALID, "record: spec.%s is not an array", key);
    list = xcalloc(json_array_size(a) + 1, sizeof(*list));
    json_array_foreach(a, i, v)
    {
        if ((list[i] = json_string_value(v)) == NULL) {
            free(list);
            return err_set(err, ERR_INVALID, "record: spec.%s[%zu] is not a string", key, i);
        }
    }
    *out = list;
    *n = json_array_size(a);
    return 0;
}

int dep_spec_read(json_t *o, struct dep_spec *out, struct err *err)
{
    int64_t port, replicas, mem, cpu;
    bool insecure = false;
    int rc;

    memset(out, 0, sizeof(*out));
    if ((rc = json_get_int(o, "port", true, 0, 65535, &port, err)) < 0 ||
        (rc = json_get_int(o, "replicas", true, 0, DEP_REPLICAS_MAX, &replicas, err)) < 0 ||
        (rc = json_get_int(o, "memory_bytes", true, 0, INT64_MAX, &mem, err)) < 0 ||
        (rc = json_get_int(o, "cpu_millis", true, 0, INT64_MAX, &cpu, err)) < 0 ||
        (rc = json_get_bool(o, "insecure_loopback", false, &insecure, err)) < 0)
        return err_wrap(err, "record: spec");
    out->registry = get_opt_str(o, "registry");
    out->repository = get_opt_str(o, "repository");
    out->layout_dir = get_opt_str(o, "layout_dir");
    out->digest = get_opt_str(o, "digest");
    out->start_command = get_opt_str(o, "start_command");
    out->health_path = get_opt_str(o, "health_path");
    out->insecure_loopback = insecure;
    out->port = (uint16_t)port;
    out->replicas = (unsigned)replicas;
    out->memory_bytes = (uint64_t)mem;
    out->cpu_millis = (uint64_t)cpu;
    if (out->layout_dir == NULL || out->digest == NULL)
        return err_set(err, ERR_INVALID, "record: spec without layout_dir or digest");
    if ((rc = strs_read(o, "env", &out->env, &out->n_env, err)) < 0)
        return rc;
    if ((rc = strs_read(o, "hosts", &out->hosts, &out->n_hosts, err)) < 0) {
        dep_spec_clear(out);
        return rc;
    }
    return 0;
}

void dep_spec_clear(struct dep_spec *spec)
{
    free((void *)spec->env);
    free((void *)spec->hosts);
    memset(spec, 0, sizeof(*spec));
}

static void replicas_json(struct jw *w, const struct dep_replica *r, unsigned n)
{
    jw_key(w, "replicas");
    jw_arr_begin(w);
    for (unsigned i = 0; i < n; i++) {
        jw_obj_begin(w);
        jw_key(w, "id");
        jw_str(w, r[i].id);
        jw_key(w, "number");
        jw_uint(w, r[i].num);
        jw_key(w, "host_port");
        jw_uint(w, r[i].host_port);
        jw_key(w, "app_port");
        jw_uint(w, r[i].app_port);
        jw_obj_end(w);
    }
    jw_arr_end(w);
}

int dep_record_write(struct dep *d, struct dep_svc *s, uint64_t pending_gen,
                     const struct dep_replica *pending, unsigned n_pending, struct err *err)
{
    struct sbuf b = SBUF_INIT(RECORD_MAX);
    char path[DEP_PATH_MAX];
    struct jw w;
    int rc;

    if ((rc = dep_record_path(d, s, path, sizeof(path), err)) < 0)
        return rc;
    jw_init(&w, &b);
    jw_obj_begin(&w);
    jw_key(&w, "workspace");
    jw_str(&w, s->ws);
    jw_key(&w, "project");
    jw_str(&w, s->project);
    jw_key(&w, "env");
    jw_str(&w, s->env);
    jw_key(&w, "service");
    jw_str(&w, s->service);
    jw_key(&w, "spec_hash");
    jw_str(&w, s->spec_hash);
    jw_key(&w, "generation");
    jw_uint(&w, s->gen);
    jw_key(&w, "spec");
    dep_spec_json(&w, &s->spec, s->spec.layout_dir);
    replicas_json(&w, s->rep, s->n_rep);
    if (n_pending > 0) {
        jw_key(&w, "pending");
        jw_obj_begin(&w);
        jw_key(&w, "generation");
        jw_uint(&w, pending_gen);
        replicas_json(&w, pending, n_pending);
        jw_obj_end(&w);
    }
    jw_obj_end(&w);
    sbuf_putc(&b, '\n');
    if (b.err != 0) {
        sbuf_release(&b);
        return err_set(err, ERR_LIMIT, "%s: record over %u bytes", path, RECORD_MAX);
    }
    *strrchr(path, '/') = '\0';
    rc = file_mkdirs(path, 0700, -1, err);
    path[strlen(path)] = '/';
    if (rc == 0)
        rc = file_write_atomic(path, b.buf, b.len, 0600, err);
    sbuf_release(&b);
    return rc;
}

struct dep_svc *dep_svc_new(const char *ws, const char *project, const char *env,
                            const char *service)
{
    struct dep_svc *s = xcalloc(1, sizeof(*s));

    pthread_mutex_init(&s->roll, NULL);
    pthread_mutex_init(&s->lock, NULL);
    snprintf(s->ws, sizeof(s->ws), "%s", ws);
    snprintf(s->project, sizeof(s->project), "%s", project);
    snprintf(s->env, sizeof(s->env), "%s", env);
    snprintf(s->service, sizeof(s->service), "%s", service);
    snprintf(s->label, sizeof(s->label), "%s/%s/%s/%s", ws, project, env, service);
    char hex[DEP_HASH_HEX + 1];
    dep_sha256_hex(s->label, strlen(s->label), hex);
    snprintf(s->key_hex, sizeof(s->key_hex), "%.*s", DEP_KEY_HEX, hex);
    return s;
}

void dep_svc_free(struct dep_svc *s)
{
    if (s == NULL)
        return;
    dep_spec_clear(&s->spec);
    if (s->spec_json != NULL)
        json_decref(s->spec_json);
    pthread_mutex_destroy(&s->roll);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

struct dep_svc *dep_svc_get(struct dep *d, const struct dep_key *key, bool create)
{
    struct dep_svc *s;

    pthread_mutex_lock(&d->lock);
    for (s = d->svcs; s != NULL; s = s->next)
        if (strcmp(s->ws, key->workspace) == 0 && strcmp(s->project, key->project) == 0 &&
            strcmp(s->env, key->env) == 0 && strcmp(s->service, key->service) == 0)
            break;
    if (s == NULL && create) {
        s = dep_svc_new(key->workspace, key->project, key->env, key->service);
        s->next = d->svcs;
        d->svcs = s;
    }
    pthread_mutex_unlock(&d->lock);
    return s;
}

/* Reads the "replicas" array of <o> into <out> (*n of them). */
static int replicas_read(json_t *o, struct dep_replica *out, unsigned *n, struct err *err)
{
    json_t *a = json_object_get(o, "replicas"), *v;
    size_t i;

    *n = 0;
    if (!json_is_array(a) || json_array_size(a) > DEP_REPLICAS_MAX)
        return err_set(err, ERR_INVALID, "record: bad replicas");
    json_array_foreach(a, i, v)
    {
        struct dep_replica *r = &out[i];
        const char *id = json_string_value(json_object_get(v, "id"));
        int64_t num, hp, ap;
        memset(r, 0, sizeof(*r));
        if (id == NULL || !slug_valid(slice_from_cstr(id)) ||
            json_get_int(v, "number", true, 1, DEP_REPLICAS_MAX, &num, err) < 0 ||
            json_get_int(v, "host_port", true, 0, 65535, &hp, err) < 0 ||
            json_get_int(v, "app_port", true, 0, 65535, &ap, err) < 0)
            return err_set(err, ERR_INVALID, "record: bad replica %zu", i);
        snprintf(r->id, sizeof(r->id), "%s", id);
        r->num = (unsigned)num;
        r->host_port = (uint16_t)hp;
        r->app_port = ap != 0 ? (uint16_t)ap : (uint16_t)hp;
    }
    *n = (unsigned)json_array_size(a);
    return 0;
}

/* Fills <s> from the record <doc>; the pending replicas go to <pend>. */
static int record_parse(json_t *doc, struct dep_svc *s, struct dep_replica *pend, unsigned *n_pend,
                        struct err *err)
{
    const char *hash = json_string_value(json_object_get(doc, "spec_hash"));
    json_t *spec = json_object_get(doc, "spec"), *p = json_object_get(doc, "pending");
    int64_t gen, pgen = 0;
    int rc;

    *n_pend = 0;
    if (hash == NULL || strlen(hash) != DEP_HASH_HEX || !json_is_object(spec))
        return err_set(err, ERR_INVALID, "record: no spec_hash or spec");
    if ((rc = json_get_int(doc, "generation", true, 0, INT64_MAX, &gen, err)) < 0 ||
        (rc = replicas_read(doc, s->rep, &s->n_rep, err)) < 0)
        return rc;
    if (json_is_object(p) &&
        ((rc = json_get_int(p, "generation", true, 0, INT64_MAX, &pgen, err)) < 0 ||
         (rc = replicas_read(p, pend, n_pend, err)) < 0))
        return rc;
    if ((rc = dep_spec_read(spec, &s->spec, err)) < 0)
        return rc;
    s->spec_json = json_incref(spec);
    snprintf(s->spec_hash, sizeof(s->spec_hash), "%s", hash);
    s->gen = (uint64_t)gen;
    s->next_gen = (uint64_t)(pgen > gen ? pgen : gen) + 1;
    s->recorded = true;
    return 0;
}

/* Loads the record at <path> named by the four slugs. */
static int record_load(struct dep *d, const char *path, const char *const names[4],
                       char (*stop)[RT_ID_MAX + 1], size_t max, size_t *n_stop, struct err *err)
{
    struct sbuf b = SBUF_INIT(RECORD_MAX);
    struct dep_replica pend[DEP_REPLICAS_MAX];
    struct dep_svc *s;
    json_t *doc = NULL;
    unsigned n_pend = 0;
    int rc = file_read(path, &b, err);

    if (rc == 0)
        rc = json_read_object(sbuf_slice(&b), RECORD_MAX, 16, &doc, err);
    sbuf_release(&b);
    if (rc < 0)
        return err_wrap(err, "%s", path);
    s = dep_svc_new(names[0], names[1], names[2], names[3]);
    if ((rc = record_parse(doc, s, pend, &n_pend, err)) < 0) {
        json_decref(doc);
        dep_svc_free(s);
        return err_wrap(err, "%s", path);
    }
    json_decref(doc);
    for (unsigned i = 0; i < n_pend && *n_stop < max; i++)
        memcpy(stop[(*n_stop)++], pend[i].id, sizeof(pend[i].id));
    if (n_pend > 0 && (rc = dep_record_write(d, s, 0, NULL, 0, err)) < 0) {
        dep_svc_free(s);
        return rc;
    }
    s->next = d->svcs;
    d->svcs = s;
    return 0;
}

/* The slug entries of directory <dir> (with <suffix> cut when given) into <cb>. */
struct walk {
    struct dep *d;
    char (*stop)[RT_ID_MAX + 1];
    size_t max, *n_stop;
    const char *names[4];
};

static int walk_dir(struct walk *w, const char *dir, int depth, struct err *err)
{
    DIR *dh = opendir(dir);
    struct dirent *e;
    int rc = 0;

    if (dh == NULL)
        return errno == ENOENT ? 0 : err_set(err, ERR_IO, "%s: %s", dir, strerror(errno));
    while (rc == 0 && (e = readdir(dh)) != NULL) {
        char name[SLUG_MAX + 8], path[DEP_PATH_MAX];
        size_t len = strlen(e->d_name);
        snprintf(name, sizeof(name), "%.*s", SLUG_MAX + 6, e->d_name);
        if (depth == 3) {
            if (len < 6 || strcmp(e->d_name + len - 5, ".json") != 0)
                continue;
            name[len - 5] = '\0';
        }
        if (!slug_valid(slice_from_cstr(name)))
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        char *keep = xstrdup(name);
        w->names[depth] = keep;
        if (depth == 3)
            rc = record_load(w->d, path, w->names, w->stop, w->max, w->n_stop, err);
        else
            rc = walk_dir(w, path, depth + 1, err);
        free(keep);
    }
    closedir(dh);
    return rc;
}

int dep_records_load(struct dep *d, char (*stop)[RT_ID_MAX + 1], size_t max, size_t *n_stop,
                     struct err *err)
{
    struct walk w = {.d = d, .stop = stop, .max = max, .n_stop = n_stop};
    char dir[DEP_PATH_MAX];

    *n_stop = 0;
    snprintf(dir, sizeof(dir), "%s/services", d->dir);
    return walk_dir(&w, dir, 0, err);
}
