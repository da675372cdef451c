/*
 * Images in an OCI image layout: the config and manifest documents, index.json and
 * oci-layout, written so that the same inputs give the same digests (jansson with sorted
 * keys, compact), and read back with every blob checked against the digest that names it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "oci/oci-int.h"

#define DOC_MAX   (4u << 20) /* manifests, configs and index.json: as registries allow */
#define DOC_DEPTH 32

/* ---------------------------------------------------------------- small helpers */

static json_t *str_array(const char *const *v, size_t n)
{
    json_t *arr = json_array();

    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_string(v[i]));
    return arr;
}

static json_t *descriptor_json(const struct oci_descriptor *d)
{
    return json_pack("{s:s, s:s, s:I}", "mediaType", d->media_type, "digest", d->digest, "size",
                     (json_int_t)d->size);
}

static void created_str(int64_t secs, char out[32])
{
    time_rfc3339_ms((uint64_t)(secs > 0 ? secs : 0) * 1000, out);
}

/* Serialises <doc> canonically and stores it as a blob; fills <d>. Takes <doc>. */
static int put_doc(const char *store, json_t *doc, const char *media_type, struct oci_descriptor *d,
                   struct err *err)
{
    char *text = doc ? json_dumps(doc, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
    int rc;

    json_decref(doc);
    if (text == NULL)
        return err_set(err, ERR_INVALID, "cannot encode %s (bad UTF-8 in a value?)", media_type);
    snprintf(d->media_type, sizeof(d->media_type), "%s", media_type);
    d->size = strlen(text);
    rc = oci_blob_put(store, text, d->size, d->digest, err);
    free(text);
    return rc;
}

/* Writes <doc> (taken) canonically to <path>, atomically. */
static int write_json_file(const char *path, json_t *doc, struct err *err)
{
    char *text = doc ? json_dumps(doc, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
    int rc;

    json_decref(doc);
    if (text == NULL)
        return err_set(err, ERR_INVALID, "%s: cannot encode", path);
    rc = file_write_atomic(path, text, strlen(text), 0644, err);
    free(text);
    return rc;
}

/* ---------------------------------------------------------------- config */

/* The value of "NAME=value" <var> replaces a variable of the same name in <env>. */
static void env_set(json_t *env, const char *var)
{
    const char *eq = strchr(var, '=');
    size_t klen = eq ? (size_t)(eq - var) : strlen(var);
    size_t i;
    json_t *v;

    json_array_foreach(env, i, v)
    {
        const char *s = json_string_value(v);

        if (s && strncmp(s, var, klen) == 0 && (s[klen] == '=' || s[klen] == '\0')) {
            json_array_set_new(env, i, json_string(var));
            return;
        }
    }
    json_array_append_new(env, json_string(var));
}

static const char *pick(const char *mine, const char *base, const char *def)
{
    return mine ? mine : base ? base : def;
}

/* The runtime config: <c>'s settings over <b>'s (the base image's, or NULL). */
static json_t *runtime_json(const struct oci_image_config *c, const struct oci_image_config *b)
{
    json_t *rt = json_object(), *env = json_array(), *labels = json_object();
    bool own_cmd = c->n_entrypoint > 0 || c->n_cmd > 0;
    const struct oci_image_config *ec = own_cmd || !b ? c : b;
    const char *user = pick(c->user, b ? b->user : NULL, NULL);
    const char *wd = pick(c->workdir, b ? b->workdir : NULL, NULL);
    uint16_t port = c->port ? c->port : b ? b->port : 0;

    for (size_t i = 0; b && i < b->n_env; i++)
        env_set(env, b->env[i]);
    for (size_t i = 0; i < c->n_env; i++)
        env_set(env, c->env[i]);
    for (size_t i = 0; b && i < b->n_labels; i++)
        json_object_set_new(labels, b->labels[i].key, json_string(b->labels[i].value));
    for (size_t i = 0; i < c->n_labels; i++)
        json_object_set_new(labels, c->labels[i].key, json_string(c->labels[i].value));
    if (user)
        json_object_set_new(rt, "User", json_string(user));
    if (wd)
        json_object_set_new(rt, "WorkingDir", json_string(wd));
    if (json_array_size(env))
        json_object_set(rt, "Env", env);
    if (ec->n_entrypoint)
        json_object_set_new(rt, "Entrypoint", str_array(ec->entrypoint, ec->n_entrypoint));
    if (ec->n_cmd)
        json_object_set_new(rt, "Cmd", str_array(ec->cmd, ec->n_cmd));
    if (json_object_size(labels))
        json_object_set(rt, "Labels", labels);
    if (port) {
        char key[16];

        snprintf(key, sizeof(key), "%u/tcp", (unsigned)port);
        json_object_set_new(rt, "ExposedPorts", json_pack("{s:{}}", key));
    }
    json_decref(env);
    json_decref(labels);
    return rt;
}

static json_t *history_json(const struct oci_image_spec *s, const char *created)
{
    json_t *h = json_array();

    for (size_t i = 0; s->base && i < s->base->n_history; i++) {
        const struct oci_history *bh = &s->base->history[i];
        json_t *e = json_object();

        if (bh->created)
            json_object_set_new(e, "created", json_string(bh->created));
        if (bh->created_by)
            json_object_set_new(e, "created_by", json_string(bh->created_by));
        if (bh->comment)
            json_object_set_new(e, "comment", json_string(bh->comment));
        if (bh->empty_layer)
            json_object_set_new(e, "empty_layer", json_true());
        json_array_append_new(h, e);
    }
    for (size_t i = 0; i < s->n_layers; i++) {
        json_t *e = json_pack("{s:s}", "created", created);

        if (s->created_by && s->created_by[i])
            json_object_set_new(e, "created_by", json_string(s->created_by[i]));
        json_array_append_new(h, e);
    }
    return h;
}

static json_t *config_json(const struct oci_image_spec *s)
{
    const struct oci_image_config *b = s->base ? &s->base->config : NULL;
    json_t *diff_ids = json_array();
    char created[32];

    created_str(s->created, created);
    for (size_t i = 0; s->base && i < s->base->n_layers; i++)
        json_array_append_new(diff_ids, json_string(s->base->layers[i].diff_id));
    for (size_t i = 0; i < s->n_layers; i++)
        json_array_append_new(diff_ids, json_string(s->layers[i].diff_id));
    return json_pack("{s:s, s:s, s:s, s:o, s:{s:s, s:o}, s:o}", "architecture",
                     pick(s->config.arch, b ? b->arch : NULL, "amd64"), "os",
                     pick(s->config.os, b ? b->os : NULL, "linux"), "created", created, "config",
                     runtime_json(&s->config, b), "rootfs", "type", "layers", "diff_ids", diff_ids,
                     "history", history_json(s, created));
}

/* ---------------------------------------------------------------- manifest and index */

static bool blob_has_size(const char *store, const char *digest, uint64_t size)
{
    char path[OCI_PATH_CAP];
    struct stat st;

    return oci_blob_path(store, digest, path, NULL) == 0 && stat(path, &st) == 0 &&
           (uint64_t)st.st_size == size;
}

/* Makes sure a layer's blob is in <layout>, bringing it from <from> when it is not. */
static int ensure_blob(const char *layout, const char *from, const struct oci_descriptor *d,
                       struct err *err)
{
    int rc;

    if (!oci_digest_valid(slice_from_cstr(d->digest)))
        return err_set(err, ERR_INVALID, "layer digest %.80s is not sha256", d->digest);
    if (from && strcmp(from, layout) != 0 && (rc = oci_blob_link(from, layout, d->digest, err)) < 0)
        return rc;
    if (!blob_has_size(layout, d->digest, d->size))
        return err_set(err, ERR_NOTFOUND, "layer %s (%" PRIu64 " bytes) is not in %s", d->digest,
                       d->size, layout);
    return 0;
}

static json_t *manifest_json(const struct oci_image_spec *s, const struct oci_descriptor *cfg)
{
    json_t *layers = json_array(), *m;

    for (size_t i = 0; s->base && i < s->base->n_layers; i++)
        json_array_append_new(layers, descriptor_json(&s->base->layers[i].blob));
    for (size_t i = 0; i < s->n_layers; i++)
        json_array_append_new(layers, descriptor_json(&s->layers[i].blob));
    m = json_pack("{s:i, s:s, s:o, s:o}", "schemaVersion", 2, "mediaType", OCI_MT_MANIFEST,
                  "config", descriptor_json(cfg), "layers", layers);
    if (m && s->n_annotations) {
        json_t *ann = json_object();

        for (size_t i = 0; i < s->n_annotations; i++)
            json_object_set_new(ann, s->annotations[i].key, json_string(s->annotations[i].value));
        json_object_set_new(m, "annotations", ann);
    }
    return m;
}

static int read_small(const char *path, size_t max, struct sbuf *out, struct err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n;

    if (fd < 0)
        return err_set(err, errno == ENOENT ? ERR_NOTFOUND : err_from_errno(errno), "%s: %s", path,
                       strerror(errno));
    sbuf_init(out, max);
    do {
        char *p = sbuf_reserve(out, 64 << 10);

        n = p ? read(fd, p, 64 << 10) : 0;
        if (n > 0)
            sbuf_commit(out, (size_t)n);
    } while (n > 0 || (n < 0 && errno == EINTR));
    close(fd);
    if (out->err != 0)
        return err_set(err, ERR_INVALID, "%s is larger than %zu bytes", path, max);
    if (n < 0)
        return err_set(err, ERR_IO, "%s: %s", path, strerror(errno));
    return 0;
}

static const char *ref_name(json_t *desc)
{
    return json_string_value(
        json_object_get(json_object_get(desc, "annotations"), OCI_ANN_REF_NAME));
}

/* Sorts index entries by tag, then digest: the same set of images, the same index.json. */
static int index_cmp(const void *x, const void *y)
{
    json_t *a = *(json_t *const *)x, *b = *(json_t *const *)y;
    const char *ra = ref_name(a), *rb = ref_name(b);
    int c = strcmp(ra ? ra : "", rb ? rb : "");

    return c ? c
             : strcmp(json_string_value(json_object_get(a, "digest")) ?: "",
                      json_string_value(json_object_get(b, "digest")) ?: "");
}

/* The manifests of <layout>'s index.json minus any entry <tag> (or <digest>, untagged)
 * names, plus the new one. */
static int index_update(const char *layout, const struct oci_descriptor *m, const char *tag,
                        struct err *err)
{
    char path[OCI_PATH_CAP];
    struct sbuf old = SBUF_INIT(DOC_MAX);
    json_t *doc = NULL, *list = json_array(), *d, *entry;
    size_t i, n;
    int rc;

    snprintf(path, sizeof(path), "%s/index.json", layout);
    rc = read_small(path, DOC_MAX, &old, err);
    if (rc == 0)
        rc = json_read_object(sbuf_slice(&old), DOC_MAX, DOC_DEPTH, &doc, err);
    else if (rc == ERR_NOTFOUND)
        rc = 0;
    sbuf_release(&old);
    if (rc < 0)
        goto out;
    json_array_foreach(json_object_get(doc, "manifests"), i, d)
    {
        const char *r = ref_name(d), *dg = json_string_value(json_object_get(d, "digest"));

        if (tag ? (r && strcmp(r, tag) == 0) : (!r && dg && strcmp(dg, m->digest) == 0))
            continue;
        json_array_append(list, d);
    }
    entry = descriptor_json(m);
    if (tag)
        json_object_set_new(entry, "annotations", json_pack("{s:s}", OCI_ANN_REF_NAME, tag));
    json_array_append_new(list, entry);
    n = json_array_size(list);
    {
        json_t **v = calloc(n, sizeof(*v));

        if (v == NULL) {
            rc = err_set(err, ERR_LIMIT, "out of memory");
            goto out;
        }
        for (i = 0; i < n; i++)
            v[i] = json_incref(json_array_get(list, i));
        qsort(v, n, sizeof(*v), index_cmp);
        json_array_clear(list);
        for (i = 0; i < n; i++)
            json_array_append_new(list, v[i]);
        free(v);
    }
    rc = write_json_file(path,
                         json_pack("{s:i, s:s, s:O}", "schemaVersion", 2, "mediaType", OCI_MT_INDEX,
                                   "manifests", list),
                         err);
out:
    json_decref(doc);
    json_decref(list);
    return rc;
}

static int layout_init(const char *layout, struct err *err)
{
    char path[OCI_PATH_CAP];
    int rc = oci_store_init(layout, err);

    if (rc < 0)
        return rc;
    snprintf(path, sizeof(path), "%s/oci-layout", layout);
    if (access(path, F_OK) == 0)
        return 0;
    return write_json_file(path, json_pack("{s:s}", "imageLayoutVersion", "1.0.0"), err);
}

int oci_image_write(const char *layout_dir, const struct oci_image_spec *spec,
                    char digest_out[OCI_DIGEST_SIZE], struct err *err)
{
    struct oci_descriptor cfg, man;
    int rc = layout_init(layout_dir, err);

    for (size_t i = 0; rc == 0 && spec->base && i < spec->base->n_layers; i++)
        rc = ensure_blob(layout_dir, spec->base->layout_dir, &spec->base->layers[i].blob, err);
    for (size_t i = 0; rc == 0 && i < spec->n_layers; i++)
        rc = ensure_blob(layout_dir, spec->layer_store, &spec->layers[i].blob, err);
    if (rc == 0)
        rc = put_doc(layout_dir, config_json(spec), OCI_MT_CONFIG, &cfg, err);
    if (rc == 0)
        rc = put_doc(layout_dir, manifest_json(spec, &cfg), OCI_MT_MANIFEST, &man, err);
    if (rc == 0)
        rc = index_update(layout_dir, &man, spec->tag, err);
    if (rc == 0)
        memcpy(digest_out, man.digest, OCI_DIGEST_SIZE);
    return rc;
}

/* ---------------------------------------------------------------- reading */

struct rd {
    struct arena *a;
    const char *layout;
    struct err *err;
};

static const char *dup_str(struct rd *r, json_t *v)
{
    const char *s = json_string_value(v);

    return s ? arena_strndup(r->a, s, json_string_length(v)) : NULL;
}

/* A descriptor object: media type, valid digest, size. */
static int parse_desc(json_t *j, const char *what, struct oci_descriptor *d, struct err *err)
{
    const char *mt = json_string_value(json_object_get(j, "mediaType"));
    const char *dg = json_string_value(json_object_get(j, "digest"));
    json_t *size = json_object_get(j, "size");

    if (!mt || !dg || !json_is_integer(size) || json_integer_value(size) < 0 ||
        strlen(mt) >= sizeof(d->media_type) || !oci_digest_valid(slice_from_cstr(dg)))
        return err_set(err, ERR_INVALID, "%s: bad descriptor", what);
    snprintf(d->media_type, sizeof(d->media_type), "%s", mt);
    snprintf(d->digest, sizeof(d->digest), "%s", dg);
    d->size = (uint64_t)json_integer_value(size);
    return 0;
}

/* Reads the document blob <d>, checks its size and digest, and parses it. */
static int read_doc(struct rd *r, const struct oci_descriptor *d, json_t **out)
{
    char path[OCI_PATH_CAP], got[OCI_DIGEST_SIZE];
    struct sbuf b = SBUF_INIT(DOC_MAX);
    EVP_MD_CTX *md = NULL;
    int rc = oci_blob_path(r->layout, d->digest, path, r->err);

    if (rc == 0)
        rc = read_small(path, DOC_MAX, &b, r->err);
    if (rc == 0 && b.len != d->size)
        rc = err_set(r->err, ERR_INVALID, "blob %s has %zu bytes, expected %" PRIu64, d->digest,
                     b.len, d->size);
    if (rc == 0 &&
        ((md = EVP_MD_CTX_new()) == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
         EVP_DigestUpdate(md, b.buf, b.len) != 1))
        rc = err_set(r->err, ERR_INTERNAL, "sha256: cannot start");
    if (rc == 0 && (rc = oci_digest_final(md, got, r->err)) == 0 && strcmp(got, d->digest) != 0)
        rc = err_set(r->err, ERR_INVALID, "blob %s is corrupt: its bytes have %s", d->digest, got);
    if (rc == 0)
        rc = json_read_object(sbuf_slice(&b), DOC_MAX, DOC_DEPTH, out, r->err);
    EVP_MD_CTX_free(md);
    sbuf_release(&b);
    return rc;
}

static int find_in_index(struct rd *r, const char *ref, struct oci_descriptor *out)
{
    char path[OCI_PATH_CAP];
    struct sbuf b = SBUF_INIT(DOC_MAX);
    json_t *idx = NULL, *d;
    bool by_digest = strncmp(ref, "sha256:", 7) == 0;
    size_t i;
    int rc;

    snprintf(path, sizeof(path), "%s/oci-layout", r->layout);
    if (access(path, F_OK) != 0)
        return err_set(r->err, ERR_NOTFOUND, "%s is not an OCI image layout", r->layout);
    snprintf(path, sizeof(path), "%s/index.json", r->layout);
    rc = read_small(path, DOC_MAX, &b, r->err);
    if (rc == 0)
        rc = json_read_object(sbuf_slice(&b), DOC_MAX, DOC_DEPTH, &idx, r->err);
    sbuf_release(&b);
    if (rc < 0)
        return rc;
    rc = err_set(r->err, ERR_NOTFOUND, "%s has no image %.100s", r->layout, ref);
    json_array_foreach(json_object_get(idx, "manifests"), i, d)
    {
        const char *name =
            by_digest ? json_string_value(json_object_get(d, "digest")) : ref_name(d);

        if (name && strcmp(name, ref) == 0) {
            rc = parse_desc(d, "index.json", out, r->err);
            if (rc == 0 && strcmp(out->media_type, OCI_MT_MANIFEST) != 0)
                rc = err_set(r->err, ERR_INVALID, "%s is a %s, not an image manifest", ref,
                             out->media_type);
            break;
        }
    }
    json_decref(idx);
    return rc;
}

/* An array of strings into the arena; absent is empty. */
static int parse_strs(struct rd *r, json_t *arr, const char *const **out, size_t *n)
{
    const char **v;
    size_t i;
    json_t *e;

    *n = json_array_size(arr);
    *out = NULL;
    if (*n == 0)
        return 0;
    if ((v = arena_zalloc(r->a, *n * sizeof(*v))) == NULL)
        return err_set(r->err, ERR_LIMIT, "out of memory");
    json_array_foreach(arr, i, e)
    {
        if ((v[i] = dup_str(r, e)) == NULL)
            return err_set(r->err, ERR_INVALID, "config: a list holds a non-string");
    }
    *out = v;
    return 0;
}

static int parse_kvs(struct rd *r, json_t *obj, struct oci_kv **out, size_t *n)
{
    const char *k;
    json_t *v;
    size_t i = 0;

    *n = json_object_size(obj);
    *out = NULL;
    if (*n == 0)
        return 0;
    if ((*out = arena_zalloc(r->a, *n * sizeof(**out))) == NULL)
        return err_set(r->err, ERR_LIMIT, "out of memory");
    json_object_foreach(obj, k, v)
    {
        (*out)[i].key = arena_strndup(r->a, k, strlen(k));
        (*out)[i].value = dup_str(r, v);
        if ((*out)[i].key == NULL || (*out)[i].value == NULL)
            return err_set(r->err, ERR_INVALID, "%s: not a string", k);
        i++;
    }
    return 0;
}

static int parse_runtime(struct rd *r, json_t *rt, struct oci_image_config *c)
{
    struct oci_kv *labels;
    const char *port;
    json_t *v;
    int rc;

    c->user = dup_str(r, json_object_get(rt, "User"));
    c->workdir = dup_str(r, json_object_get(rt, "WorkingDir"));
    json_object_foreach(json_object_get(rt, "ExposedPorts"), port, v)
    {
        unsigned p = 0;

        if (sscanf(port, "%5u", &p) == 1 && p > 0 && p < 65536) {
            c->port = (uint16_t)p;
            break;
        }
    }
    if ((rc = parse_strs(r, json_object_get(rt, "Env"), &c->env, &c->n_env)) < 0 ||
        (rc = parse_strs(r, json_object_get(rt, "Entrypoint"), &c->entrypoint, &c->n_entrypoint)) <
            0 ||
        (rc = parse_strs(r, json_object_get(rt, "Cmd"), &c->cmd, &c->n_cmd)) < 0 ||
        (rc = parse_kvs(r, json_object_get(rt, "Labels"), &labels, &c->n_labels)) < 0)
        return rc;
    c->labels = labels;
    return 0;
}

static int parse_history(struct rd *r, json_t *arr, struct oci_image *img)
{
    size_t i;
    json_t *e;

    img->n_history = json_array_size(arr);
    if (img->n_history == 0)
        return 0;
    img->history = arena_zalloc(r->a, img->n_history * sizeof(*img->history));
    if (img->history == NULL)
        return err_set(r->err, ERR_LIMIT, "out of memory");
    json_array_foreach(arr, i, e)
    {
        img->history[i] = (struct oci_history){
            .created = dup_str(r, json_object_get(e, "created")),
            .created_by = dup_str(r, json_object_get(e, "created_by")),
            .comment = dup_str(r, json_object_get(e, "comment")),
            .empty_layer = json_is_true(json_object_get(e, "empty_layer")),
        };
    }
    return 0;
}

static int parse_config(struct rd *r, json_t *cfg, struct oci_image *img)
{
    json_t *ids = json_object_get(json_object_get(cfg, "rootfs"), "diff_ids");
    int rc;

    if (json_array_size(ids) != img->n_layers)
        return err_set(r->err, ERR_INVALID, "config has %zu diff_ids for %zu layers",
                       json_array_size(ids), img->n_layers);
    for (size_t i = 0; i < img->n_layers; i++) {
        const char *id = json_string_value(json_array_get(ids, i));

        if (!id || !oci_digest_valid(slice_from_cstr(id)))
            return err_set(r->err, ERR_INVALID, "config: diff_id %zu is not a sha256 digest", i);
        memcpy(img->layers[i].diff_id, id, OCI_DIGEST_SIZE);
    }
    img->config.arch = dup_str(r, json_object_get(cfg, "architecture"));
    img->config.os = dup_str(r, json_object_get(cfg, "os"));
    img->created = dup_str(r, json_object_get(cfg, "created"));
    if ((rc = parse_runtime(r, json_object_get(cfg, "config"), &img->config)) < 0)
        return rc;
    return parse_history(r, json_object_get(cfg, "history"), img);
}

static int parse_manifest(struct rd *r, json_t *m, struct oci_image *img)
{
    json_t *layers = json_object_get(m, "layers"), *l;
    const char *mt = json_string_value(json_object_get(m, "mediaType"));
    size_t i;
    int rc;

    if (mt && strcmp(mt, OCI_MT_MANIFEST) != 0)
        return err_set(r->err, ERR_INVALID, "manifest has media type %.80s", mt);
    if ((rc = parse_desc(json_object_get(m, "config"), "manifest config", &img->config_blob,
                         r->err)) < 0)
        return rc;
    img->n_layers = json_array_size(layers);
    if (img->n_layers > 0 &&
        (img->layers = arena_zalloc(r->a, img->n_layers * sizeof(*img->layers))) == NULL)
        return err_set(r->err, ERR_LIMIT, "out of memory");
    json_array_foreach(layers, i, l)
    {
        if ((rc = parse_desc(l, "manifest layer", &img->layers[i].blob, r->err)) < 0)
            return rc;
    }
    return parse_kvs(r, json_object_get(m, "annotations"), &img->annotations, &img->n_annotations);
}

static int check_layers(struct rd *r, const struct oci_image *img, unsigned flags)
{
    for (size_t i = 0; i < img->n_layers; i++) {
        const struct oci_descriptor *d = &img->layers[i].blob;
        int rc;

        if (!(flags & OCI_READ_TRUST_LAYERS)) {
            if ((rc = oci_blob_verify(r->layout, d->digest, d->size, r->err)) < 0)
                return rc;
        } else if (!blob_has_size(r->layout, d->digest, d->size)) {
            return err_set(r->err, ERR_INVALID, "layer %s is missing or has the wrong size",
                           d->digest);
        }
    }
    return 0;
}

int oci_layout_read(struct arena *a, const char *layout_dir, const char *ref, unsigned flags,
                    struct oci_image **out, struct err *err)
{
    struct rd r = {a, layout_dir, err};
    struct oci_image *img = arena_zalloc(a, sizeof(*img));
    json_t *man = NULL, *cfg = NULL;
    int rc;

    if (img == NULL || (img->layout_dir = arena_strndup(a, layout_dir, strlen(layout_dir))) == NULL)
        return err_set(err, ERR_LIMIT, "out of memory");
    rc = find_in_index(&r, ref, &img->manifest);
    if (rc == 0)
        rc = read_doc(&r, &img->manifest, &man);
    if (rc == 0)
        rc = parse_manifest(&r, man, img);
    if (rc == 0)
        rc = read_doc(&r, &img->config_blob, &cfg);
    if (rc == 0)
        rc = parse_config(&r, cfg, img);
    if (rc == 0)
        rc = check_layers(&r, img, flags);
    json_decref(man);
    json_decref(cfg);
    if (rc == 0)
        *out = img;
    return rc;
}
