/*
 * The registry's parsers and storage: names and digests, uploads (digest mismatch, two
 * sessions of the same blob at once, a crash between write and rename), manifests and GC.
 */
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../test.h"

#include "base/base.h"
#include "reg/reg-int.h"

static struct reg *reg_open(char dir[64])
{
    struct reg *r;
    struct err err = {0};
    struct reg_cfg cfg = {.max_blob_bytes = 1 << 30, .upload_expiry_ms = 0, .gc_grace_ms = 0};

    snprintf(dir, 64, "/tmp/slipway-reg-XXXXXX");
    ASSERT(mkdtemp(dir) != NULL);
    ASSERT(reg_new(dir, &cfg, &r, &err) == 0);
    return r;
}

static void rm_rf(const char *dir)
{
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ASSERT(system(cmd) == 0);
}

static void hex_of(struct slice data, char hex[65])
{
    unsigned char md[32];

    EVP_Digest(data.ptr, data.len, md, NULL, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

/* Uploads <data> to <repo> in one session; returns the finish's status. */
static int push_blob(struct reg *r, const char *repo, struct slice data, const char *hex)
{
    struct reg_writer w;
    struct err err = {0};
    char id[37];
    int rc = reg_upload_new(r, slice_from_cstr(repo), id, &err);

    if (rc == 0)
        rc = reg_upload_open(r, slice_from_cstr(repo), slice_from_cstr(id), true, &w, &err);
    if (rc == 0 && (rc = reg_writer_write(&w, data, &err)) < 0)
        reg_writer_close(&w);
    if (rc == 0)
        rc = reg_upload_finish(r, slice_from_cstr(repo), slice_from_cstr(id), hex, &w, &err);
    return rc;
}

static bool blob_readable(struct reg *r, const char *repo, const char *hex)
{
    struct err err = {0};
    uint64_t size;
    int fd;

    if (reg_blob_open(r, slice_from_cstr(repo), hex, &fd, &size, &err) < 0)
        return false;
    close(fd);
    return true;
}

static size_t count_entries(const char *dir)
{
    char cmd[160];
    FILE *p;
    size_t n = 0;

    snprintf(cmd, sizeof(cmd), "find '%s' -type f | wc -l", dir);
    p = popen(cmd, "r");
    ASSERT(p != NULL && fscanf(p, "%zu", &n) == 1);
    pclose(p);
    return n;
}

TEST(names_follow_the_spec_grammar)
{
    struct err err = {0};
    char hex[65];
    uint64_t a, b;

    CHECK(reg_name_check(SLICE("acme/app"), &err) == 0);
    CHECK(reg_name_check(SLICE("acme/web/api_v2.x--y__z"), &err) == 0);
    CHECK(reg_name_check(SLICE("app"), &err) == ERR_INVALID); /* no workspace */
    CHECK(reg_name_check(SLICE("Acme/app"), &err) == ERR_INVALID);
    CHECK(reg_name_check(SLICE("acme//app"), &err) == ERR_INVALID);
    CHECK(reg_name_check(SLICE("acme/app/"), &err) == ERR_INVALID);
    CHECK(reg_name_check(SLICE("acme/-app"), &err) == ERR_INVALID);
    CHECK(reg_name_check(SLICE("acme/app."), &err) == ERR_INVALID);
    CHECK(reg_name_check(SLICE("acme/a___b"), &err) == ERR_INVALID);
    CHECK(reg_name_check(SLICE("acme/_blobs"), &err) == ERR_INVALID);
    CHECK(reg_tag_valid(SLICE("v1.0-rc_1")));
    CHECK(!reg_tag_valid(SLICE(".hidden")));
    CHECK(!reg_tag_valid(SLICE("a/b")));
    CHECK(
        reg_digest_parse(SLICE("sha256:"
                               "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
                         hex, &err) == 0);
    CHECK(reg_digest_parse(SLICE("sha256:E3B0"), hex, &err) == ERR_INVALID);
    CHECK(reg_digest_parse(SLICE("sha512:abcd"), hex, &err) == ERR_CONFLICT);
    CHECK(reg_digest_parse(SLICE("../etc"), hex, &err) == ERR_INVALID);
    CHECK(reg_content_range_parse(SLICE("0-99"), &a, &b, &err) == 0 && a == 0 && b == 99);
    CHECK(reg_content_range_parse(SLICE("bytes 5-9"), &a, &b, &err) == 0 && a == 5);
    CHECK(reg_content_range_parse(SLICE("9-5"), &a, &b, &err) == ERR_INVALID);
    CHECK(reg_content_range_parse(SLICE("5-"), &a, &b, &err) == ERR_INVALID);
    CHECK(reg_range_parse(SLICE("bytes=10-19"), 100, &a, &b, &err) == 0 && a == 10 && b == 10);
    CHECK(reg_range_parse(SLICE("bytes=90-"), 100, &a, &b, &err) == 0 && b == 10);
    CHECK(reg_range_parse(SLICE("bytes=-5"), 100, &a, &b, &err) == 0 && a == 95);
    CHECK(reg_range_parse(SLICE("bytes=100-"), 100, &a, &b, &err) == ERR_LIMIT);
}

TEST(paths_split_into_name_and_operation)
{
    struct reg_path p;

    CHECK(reg_path_parse(SLICE(""), &p) == 0 && p.op == REG_OP_BASE);
    CHECK(reg_path_parse(SLICE("ws/a/b/manifests/v1"), &p) == 0 && p.op == REG_OP_MANIFEST);
    CHECK(slice_eq_cstr(p.name, "ws/a/b") && slice_eq_cstr(p.ref, "v1"));
    CHECK(reg_path_parse(SLICE("ws/a/blobs/uploads"), &p) == 0 && p.op == REG_OP_UPLOAD_NEW);
    CHECK(reg_path_parse(SLICE("ws/a/blobs/uploads/x"), &p) == 0 && p.op == REG_OP_UPLOAD);
    CHECK(slice_eq_cstr(p.name, "ws/a") && slice_eq_cstr(p.ref, "x"));
    CHECK(reg_path_parse(SLICE("ws/blobs/blobs/sha256:1"), &p) == 0 && p.op == REG_OP_BLOB);
    CHECK(slice_eq_cstr(p.name, "ws/blobs"));
    CHECK(reg_path_parse(SLICE("ws/a/tags/list"), &p) == 0 && p.op == REG_OP_TAGS);
    CHECK(reg_path_parse(SLICE("ws/a/other/x"), &p) == ERR_NOTFOUND);
    CHECK(reg_path_parse(SLICE("manifests/v1"), &p) == ERR_NOTFOUND);
}

TEST(scopes_and_grants)
{
    struct err err = {0};
    struct slice name;
    unsigned a;

    CHECK(reg_scope_parse(SLICE("repository:ws/app:pull,push"), &name, &a, &err) == 0);
    CHECK(slice_eq_cstr(name, "ws/app") && a == (REG_PULL | REG_PUSH));
    CHECK(reg_scope_parse(SLICE("registry:catalog:*"), &name, &a, &err) == ERR_INVALID);
    CHECK(reg_grants_for(SLICE("ws/app:pull ws/b:pull,push"), SLICE("ws/b")) ==
          (REG_PULL | REG_PUSH));
    CHECK(reg_grants_for(SLICE("ws/app:pull"), SLICE("ws/ap")) == 0);
    CHECK(reg_grants_for(SLICE("ws/app:pull"), SLICE("other/app")) == 0);
}

TEST(upload_with_a_wrong_digest_is_refused_and_leaves_nothing)
{
    char dir[64], hex[65], up[96];
    struct reg *r = reg_open(dir);

    hex_of(SLICE("other bytes"), hex);
    CHECK_INT_EQ(push_blob(r, "ws/app", SLICE("some bytes"), hex), ERR_INVALID);
    CHECK(!blob_readable(r, "ws/app", hex));
    snprintf(up, sizeof(up), "%s/uploads", dir);
    CHECK_UINT_EQ(count_entries(up), 0);
    hex_of(SLICE("some bytes"), hex);
    CHECK_INT_EQ(push_blob(r, "ws/app", SLICE("some bytes"), hex), 0);
    CHECK(blob_readable(r, "ws/app", hex));
    CHECK(!blob_readable(r, "ws/other", hex)); /* linked only where it was pushed */
    reg_free(r);
    rm_rf(dir);
}

struct pusher {
    struct reg *r;
    const char *repo;
    char *data;
    size_t len;
    const char *hex;
    int rc;
};

static void *push_thread(void *arg)
{
    struct pusher *p = arg;

    p->rc = push_blob(p->r, p->repo, (struct slice){p->data, p->len}, p->hex);
    return NULL;
}

TEST(concurrent_uploads_of_the_same_blob_both_succeed)
{
    char dir[64], hex[65];
    struct reg *r = reg_open(dir);
    size_t len = 3 << 20;
    char *data = xmalloc(len);
    struct pusher p[4];
    pthread_t t[4];

    for (size_t i = 0; i < len; i++)
        data[i] = (char)(i * 13);
    hex_of((struct slice){data, len}, hex);
    for (int i = 0; i < 4; i++) {
        p[i] = (struct pusher){r, i % 2 ? "ws/a" : "ws/b", data, len, hex, -1};
        CHECK(pthread_create(&t[i], NULL, push_thread, &p[i]) == 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        CHECK_INT_EQ(p[i].rc, 0);
    }
    CHECK(blob_readable(r, "ws/a", hex) && blob_readable(r, "ws/b", hex));
    free(data);
    reg_free(r);
    rm_rf(dir);
}

static int fail_before_rename(const char *where)
{
    return strcmp(where, "blob.before_rename") == 0;
}

TEST(a_crash_between_write_and_rename_leaves_no_blob_and_gc_cleans_up)
{
    char dir[64], hex[65], blobs[96];
    struct reg *r = reg_open(dir);
    struct reg_gc_stats st;
    struct err err = {0};

    hex_of(SLICE("layer"), hex);
    reg_fail_point = fail_before_rename;
    CHECK_INT_EQ(push_blob(r, "ws/app", SLICE("layer"), hex), ERR_IO);
    reg_fail_point = NULL;
    CHECK(!blob_readable(r, "ws/app", hex));
    snprintf(blobs, sizeof(blobs), "%s/blobs", dir);
    CHECK_UINT_EQ(count_entries(blobs), 0);
    OK(reg_gc(r, 0, &st, &err)); /* upload_expiry 0: the leftover session goes */
    CHECK_UINT_EQ(st.uploads_removed, 1);
    CHECK_INT_EQ(push_blob(r, "ws/app", SLICE("layer"), hex), 0); /* a retry works */
    CHECK(blob_readable(r, "ws/app", hex));
    reg_free(r);
    rm_rf(dir);
}

TEST(manifests_need_their_blobs_and_gc_keeps_what_they_reference)
{
    char dir[64], cfg_hex[65], layer_hex[65], stray_hex[65], mhex[65], man[512], mt[128];
    struct reg *r = reg_open(dir);
    struct reg_gc_stats st;
    struct err err = {0};
    struct sbuf body;

    hex_of(SLICE("{}"), cfg_hex);
    hex_of(SLICE("layer"), layer_hex);
    hex_of(SLICE("stray"), stray_hex);
    snprintf(man, sizeof(man),
             "{\"schemaVersion\":2,\"mediaType\":\"" REG_MT_OCI_MANIFEST "\","
             "\"config\":{\"mediaType\":\"c\",\"digest\":\"sha256:%s\",\"size\":2},"
             "\"layers\":[{\"mediaType\":\"l\",\"digest\":\"sha256:%s\",\"size\":5}]}",
             cfg_hex, layer_hex);
    OK(push_blob(r, "ws/app", SLICE("{}"), cfg_hex));
    CHECK_INT_EQ(
        reg_manifest_put(r, SLICE("ws/app"), SLICE("v1"), NULL, slice_from_cstr(man), mhex, &err),
        ERR_NOTFOUND); /* the layer is missing */
    OK(push_blob(r, "ws/app", SLICE("layer"), layer_hex));
    OK(push_blob(r, "ws/app", SLICE("stray"), stray_hex));
    OK(reg_manifest_put(r, SLICE("ws/app"), SLICE("v1"), NULL, slice_from_cstr(man), mhex, &err));
    CHECK_INT_EQ(
        reg_manifest_put(r, SLICE("ws/app"),
                         SLICE("sha256:"
                               "0000000000000000000000000000000000000000000000000000000000000000"),
                         NULL, slice_from_cstr(man), mhex, &err),
        ERR_CONFLICT);
    OK(reg_manifest_get(r, SLICE("ws/app"), SLICE("v1"), &body, mt, mhex, &err));
    CHECK_STR_EQ(mt, REG_MT_OCI_MANIFEST);
    CHECK_STR_EQ(body.buf, man);
    sbuf_release(&body);
    OK(reg_gc(r, 0, &st, &err));
    CHECK_UINT_EQ(st.blobs_removed, 1); /* the stray blob only */
    CHECK(blob_readable(r, "ws/app", layer_hex) && !blob_readable(r, "ws/app", stray_hex));
    OK(reg_manifest_delete(r, SLICE("ws/app"), SLICE("v1"), &err)); /* the tag */
    CHECK_INT_EQ(reg_manifest_get(r, SLICE("ws/app"), SLICE("v1"), &body, mt, mhex, &err),
                 ERR_NOTFOUND);
    OK(reg_gc(r, 3600000, &st, &err)); /* the manifest is still linked by digest: kept */
    CHECK_UINT_EQ(st.blobs_removed, 0);
    {
        char ref[80];

        snprintf(ref, sizeof(ref), "sha256:%s", mhex);
        OK(reg_manifest_delete(r, SLICE("ws/app"), slice_from_cstr(ref), &err));
    }
    OK(reg_gc(r, 3600000, &st, &err)); /* unreferenced but young: kept */
    CHECK_UINT_EQ(st.blobs_removed, 0);
    OK(reg_gc(r, 0, &st, &err));
    CHECK_UINT_EQ(st.blobs_removed, 3);
    CHECK(st.links_removed >= 2);
    reg_free(r);
    rm_rf(dir);
}
