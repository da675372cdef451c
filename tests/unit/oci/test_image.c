/*
 * Images in an OCI layout: written canonically (same inputs, same digest), read back with
 * every blob verified, accepted by skopeo (inspect and copy, which check digests), built
 * FROM another layout, retagged, and refused when a blob is corrupt.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../test.h"

#include "base/base.h"
#include "oci/oci-int.h"
#include "test_oci.h"

/* A small app tree and its layer in <store>. */
static void app_layer(const char *store, const char *text, enum oci_compression c,
                      struct oci_layer *l)
{
    char dir[512];
    struct err err = {0};
    struct oci_layer_opts o = {.compression = c, .prefix = "app/", .uid = 10001, .gid = 10001};

    snprintf(dir, sizeof(dir), "%s/src-%s", test_tmpdir(), text);
    CHECK(sh_status("mkdir -p %s && printf '%s' > %s/server.js", dir, text, dir) == 0);
    OK(oci_layer_from_dir(dir, &o, store, l, &err));
}

static const char *const env[] = {"NODE_ENV=production", "PORT=8080"};
static const char *const cmd[] = {"node", "server.js"};
static const struct oci_kv labels[] = {{"org.opencontainers.image.source", "https://x/y.git"}};
static const struct oci_kv ann[] = {{OCI_ANN_SOURCE, "https://x/y.git"},
                                    {OCI_ANN_REVISION, "0123456789abcdef"}};

static struct oci_image_spec app_spec(const struct oci_layer *l, size_t n, const char *tag)
{
    return (struct oci_image_spec){
        .config = {.user = "10001",
                   .env = env,
                   .n_env = 2,
                   .cmd = cmd,
                   .n_cmd = 2,
                   .workdir = "/app",
                   .port = 8080,
                   .labels = labels,
                   .n_labels = 1},
        .layers = l,
        .n_layers = n,
        .annotations = ann,
        .n_annotations = 2,
        .tag = tag,
    };
}

TEST(write_then_read_back)
{
    char layout[512], d1[OCI_DIGEST_SIZE], d2[OCI_DIGEST_SIZE];
    struct arena *a = arena_new(NULL);
    struct oci_layer l;
    struct oci_image *img;
    struct err err = {0};

    snprintf(layout, sizeof(layout), "%s/img", test_tmpdir());
    app_layer(layout, "v1", OCI_COMP_GZIP, &l);
    struct oci_image_spec s = app_spec(&l, 1, "v1");
    OK(oci_image_write(layout, &s, d1, &err));
    OK(oci_image_write(layout, &s, d2, &err));
    CHECK_STR_EQ(d1, d2); /* canonical JSON: same inputs, same digest */

    OK(oci_layout_read(a, layout, "v1", 0, &img, &err));
    CHECK_STR_EQ(img->manifest.digest, d1);
    CHECK_UINT_EQ(img->n_layers, 1);
    CHECK_STR_EQ(img->layers[0].blob.digest, l.blob.digest);
    CHECK_STR_EQ(img->layers[0].diff_id, l.diff_id);
    CHECK_STR_EQ(img->config.arch, "amd64");
    CHECK_STR_EQ(img->config.os, "linux");
    CHECK_STR_EQ(img->config.user, "10001");
    CHECK_STR_EQ(img->config.workdir, "/app");
    CHECK_UINT_EQ(img->config.port, 8080);
    CHECK_UINT_EQ(img->config.n_env, 2);
    CHECK_STR_EQ(img->config.env[1], "PORT=8080");
    CHECK_UINT_EQ(img->config.n_cmd, 2);
    CHECK_STR_EQ(img->config.cmd[0], "node");
    CHECK_UINT_EQ(img->config.n_labels, 1);
    CHECK_UINT_EQ(img->n_annotations, 2);
    CHECK_UINT_EQ(img->n_history, 1);
    CHECK_STR_EQ(img->created, "1970-01-01T00:00:00.000Z");

    /* By digest too. */
    OK(oci_layout_read(a, layout, d1, 0, &img, &err));
    CHECK_INT_EQ(oci_layout_read(a, layout, "nope", 0, &img, &err), ERR_NOTFOUND);
    arena_free(a);

    /* The JSON is compact with sorted keys. */
    char *idx = run("cat %s/index.json; echo; cat %s/oci-layout", layout, layout);
    CHECK_CONTAINS(idx, "{\"manifests\":[{\"annotations\":{\"org.opencontainers.image.ref.name\":"
                        "\"v1\"},\"digest\":\"");
    CHECK_CONTAINS(idx, "{\"imageLayoutVersion\":\"1.0.0\"}");
    free(idx);
}

TEST(skopeo_inspects_and_copies_what_we_write)
{
    char layout[512], digest[OCI_DIGEST_SIZE];
    struct oci_layer l[2];
    struct err err = {0};

    snprintf(layout, sizeof(layout), "%s/img", test_tmpdir());
    app_layer(layout, "gz", OCI_COMP_GZIP, &l[0]);
    app_layer(layout, "zs", OCI_COMP_ZSTD, &l[1]);
    struct oci_image_spec s = app_spec(l, 2, "v1");
    OK(oci_image_write(layout, &s, digest, &err));

    char *out = run("skopeo inspect oci:%s:v1", layout);
    CHECK_CONTAINS(out, digest);
    CHECK_CONTAINS(out, "\"Architecture\": \"amd64\"");
    CHECK_CONTAINS(out, l[0].blob.digest);
    CHECK_CONTAINS(out, l[1].blob.digest);
    free(out);
    out = run("skopeo inspect --config oci:%s:v1", layout);
    CHECK_CONTAINS(out, "\"User\": \"10001\"");
    CHECK_CONTAINS(out, "\"8080/tcp\": {}");
    CHECK_CONTAINS(out, "\"WorkingDir\": \"/app\"");
    CHECK_CONTAINS(out, l[1].diff_id);
    free(out);
    /* Copying reads every blob and checks it against its digest. */
    CHECK(sh_status("skopeo copy -q oci:%s:v1 dir:%s/copy >/dev/null", layout, test_tmpdir()) == 0);
    CHECK(sh_status("skopeo copy -q oci:%s:v1 oci:%s/again:v1 >/dev/null", layout, test_tmpdir()) ==
          0);
    out = run("ls %s/copy | wc -l", test_tmpdir());
    CHECK_STR_EQ(out, "5\n"); /* manifest, config, two layers, version */
    free(out);
}

TEST(image_from_a_base_layout)
{
    char base[512], app[512], bd[OCI_DIGEST_SIZE], ad[OCI_DIGEST_SIZE];
    static const char *const base_env[] = {"PATH=/usr/bin:/bin", "PORT=1"};
    static const char *const app_env[] = {"PORT=8080", "X=1"};
    struct arena *a = arena_new(NULL);
    struct oci_layer bl, al;
    struct oci_image *b, *img;
    struct err err = {0};

    snprintf(base, sizeof(base), "%s/base", test_tmpdir());
    snprintf(app, sizeof(app), "%s/app", test_tmpdir());
    app_layer(base, "runtime", OCI_COMP_GZIP, &bl);
    struct oci_image_spec bs = {
        .config = {.user = "10001",
                   .env = base_env,
                   .n_env = 2,
                   .workdir = "/srv",
                   .cmd = cmd,
                   .n_cmd = 2},
        .layers = &bl,
        .n_layers = 1,
        .created_by = (const char *const[]){"debian packages"},
        .tag = "node-20",
    };
    OK(oci_image_write(base, &bs, bd, &err));
    OK(oci_layout_read(a, base, "node-20", 0, &b, &err));

    /* The app's layer is written to a separate cache, then the image into its own layout. */
    char cache[512];
    snprintf(cache, sizeof(cache), "%s/cache", test_tmpdir());
    app_layer(cache, "app", OCI_COMP_GZIP, &al);
    struct oci_image_spec as = {
        .config = {.env = app_env, .n_env = 2},
        .base = b,
        .layers = &al,
        .n_layers = 1,
        .layer_store = cache,
        .tag = "v1",
    };
    OK(oci_image_write(app, &as, ad, &err));
    OK(oci_layout_read(a, app, "v1", 0, &img, &err));
    CHECK_UINT_EQ(img->n_layers, 2);
    CHECK_STR_EQ(img->layers[0].blob.digest, bl.blob.digest);
    CHECK_STR_EQ(img->layers[1].blob.digest, al.blob.digest);
    CHECK_STR_EQ(img->config.user, "10001");
    CHECK_STR_EQ(img->config.workdir, "/srv");
    CHECK_UINT_EQ(img->config.n_env, 3);
    CHECK_STR_EQ(img->config.env[0], "PATH=/usr/bin:/bin");
    CHECK_STR_EQ(img->config.env[1], "PORT=8080");
    CHECK_STR_EQ(img->config.env[2], "X=1");
    CHECK_UINT_EQ(img->config.n_cmd, 2); /* kept: the app set no entrypoint or cmd */
    CHECK_UINT_EQ(img->n_history, 2);
    CHECK_STR_EQ(img->history[0].created_by, "debian packages");
    CHECK(sh_status("skopeo copy -q oci:%s:v1 dir:%s/copy >/dev/null", app, test_tmpdir()) == 0);
    arena_free(a);
}

TEST(retagging_replaces_the_index_entry)
{
    char layout[512], d1[OCI_DIGEST_SIZE], d2[OCI_DIGEST_SIZE];
    struct oci_layer l1, l2;
    struct err err = {0};

    snprintf(layout, sizeof(layout), "%s/img", test_tmpdir());
    app_layer(layout, "one", OCI_COMP_GZIP, &l1);
    app_layer(layout, "two", OCI_COMP_GZIP, &l2);
    struct oci_image_spec s1 = app_spec(&l1, 1, "latest"), s2 = app_spec(&l2, 1, "latest");
    OK(oci_image_write(layout, &s1, d1, &err));
    s1.tag = "old";
    OK(oci_image_write(layout, &s1, d1, &err));
    OK(oci_image_write(layout, &s2, d2, &err));
    char *out = run("grep -o 'ref.name\":\"[a-z]*' %s/index.json | tr '\\n' ' '", layout);
    CHECK_STR_EQ(out, "ref.name\":\"latest ref.name\":\"old ");
    free(out);
    out = run("skopeo inspect oci:%s:latest | grep -c %s", layout, d2);
    free(out);
}

TEST(corrupt_or_missing_blobs_are_refused)
{
    char layout[512], digest[OCI_DIGEST_SIZE], path[OCI_PATH_CAP];
    struct arena *a = arena_new(NULL);
    struct oci_layer l;
    struct oci_image *img;
    struct err err = {0};
    FILE *f;

    snprintf(layout, sizeof(layout), "%s/img", test_tmpdir());
    app_layer(layout, "v1", OCI_COMP_GZIP, &l);
    struct oci_image_spec s = app_spec(&l, 1, "v1");
    OK(oci_image_write(layout, &s, digest, &err));

    /* Flip one byte in the layer, keeping its size. */
    OK(oci_blob_path(layout, l.blob.digest, path, &err));
    f = fopen(path, "r+b");
    CHECK(f != NULL);
    fseek(f, 20, SEEK_SET);
    int c = fgetc(f);
    fseek(f, 20, SEEK_SET);
    fputc(c ^ 0xff, f);
    fclose(f);
    CHECK_INT_EQ(oci_layout_read(a, layout, "v1", 0, &img, &err), ERR_INVALID);
    CHECK_CONTAINS(err.msg, "corrupt");
    /* Trusting layers checks only their size. */
    OK(oci_layout_read(a, layout, "v1", OCI_READ_TRUST_LAYERS, &img, &err));
    CHECK(sh_status("skopeo copy -q oci:%s:v1 dir:%s/copy >/dev/null 2>&1", layout,
                    test_tmpdir()) != 0);

    /* A corrupt manifest is refused whatever the flags. */
    OK(oci_blob_path(layout, digest, path, &err));
    CHECK(sh_status("sed -i 's/y.git/z.git/' %s", path) == 0);
    CHECK_INT_EQ(oci_layout_read(a, layout, "v1", OCI_READ_TRUST_LAYERS, &img, &err), ERR_INVALID);

    /* An image whose layer is nowhere is not written. */
    struct oci_layer ghost = l;
    memcpy(ghost.blob.digest + 7, "00000000", 8);
    s.layers = &ghost;
    CHECK_INT_EQ(oci_image_write(layout, &s, digest, &err), ERR_NOTFOUND);
    arena_free(a);
}
