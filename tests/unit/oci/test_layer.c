/*
 * Reproducible layers: the same tree gives the same digests whatever the walk order and
 * mtimes; symlinks stay symlinks; special files are skipped; `tar -tv` shows sorted entries
 * with the fixed mtime and owner; zstd layers; entries gathered from several places.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <utime.h>

#include "../test.h"

#include "base/base.h"
#include "oci/oci-int.h"
#include "test_oci.h"

static void put_file(const char *dir, const char *name, const char *text, unsigned mode)
{
    char path[1024];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "w");
    CHECK(f != NULL);
    fputs(text, f);
    fclose(f);
    CHECK(chmod(path, mode) == 0);
}

#define sh(...) CHECK(sh_status(__VA_ARGS__) == 0)

/* The same tree, made in the given order, with every mtime set to <mtime>. */
static void make_tree(const char *dir, bool reverse, long mtime)
{
    static const char *names[] = {"b.txt", "a.txt", "sub/z.js", "sub/y.js", "Zed", "a-b"};

    sh("mkdir -p %s/sub", dir);
    for (size_t k = 0; k < ARRAY_LEN(names); k++) {
        size_t i = reverse ? ARRAY_LEN(names) - 1 - k : k;

        put_file(dir, names[i], names[i], 0644);
    }
    put_file(dir, "run.sh", "#!/bin/sh\necho hi\n", 0755);
    sh("ln -s sub/z.js %s/link", dir);
    sh("find %s -exec touch -h -d @%ld {} +", dir, mtime);
}

static void layer_of(const char *dir, enum oci_compression c, const char *store,
                     struct oci_layer *l)
{
    struct err err = {0};
    struct oci_layer_opts o = {.compression = c};

    OK(oci_layer_from_dir(dir, &o, store, l, &err));
}

TEST(same_tree_same_digest_whatever_order_and_mtime)
{
    char a[512], b[512], store[512];
    struct oci_layer la, lb;

    snprintf(a, sizeof(a), "%s/a", test_tmpdir());
    snprintf(b, sizeof(b), "%s/b", test_tmpdir());
    snprintf(store, sizeof(store), "%s/store", test_tmpdir());
    make_tree(a, false, 1000000);
    make_tree(b, true, 1700000000);
    for (int c = OCI_COMP_GZIP; c <= OCI_COMP_NONE; c++) {
        layer_of(a, c, store, &la);
        layer_of(b, c, store, &lb);
        CHECK_STR_EQ(la.blob.digest, lb.blob.digest);
        CHECK_STR_EQ(la.diff_id, lb.diff_id);
        CHECK_UINT_EQ(la.blob.size, lb.blob.size);
    }
    /* Uncompressed: the blob is the tar, so both digests agree. */
    CHECK_STR_EQ(la.blob.digest, la.diff_id);
    CHECK_STR_EQ(la.blob.media_type, OCI_MT_LAYER_TAR);

    /* A changed byte changes the layer. */
    put_file(b, "a.txt", "A.txt", 0644);
    layer_of(b, OCI_COMP_NONE, store, &lb);
    CHECK(strcmp(la.diff_id, lb.diff_id) != 0);
}

TEST(blob_is_stored_under_its_digest_and_verifies)
{
    char dir[512], path[OCI_PATH_CAP];
    struct oci_layer l;
    struct err err = {0};
    struct stat st;

    snprintf(dir, sizeof(dir), "%s/t", test_tmpdir());
    make_tree(dir, false, 5);
    layer_of(dir, OCI_COMP_GZIP, test_tmpdir(), &l);
    CHECK_STR_EQ(l.blob.media_type, OCI_MT_LAYER_GZIP);
    OK(oci_blob_path(test_tmpdir(), l.blob.digest, path, &err));
    CHECK(stat(path, &st) == 0);
    CHECK_UINT_EQ((uint64_t)st.st_size, l.blob.size);
    OK(oci_blob_verify(test_tmpdir(), l.blob.digest, l.blob.size, &err));
    /* sha256sum agrees with the name. */
    char *sum = run("sha256sum %s | cut -c1-64", path);
    CHECK(strncmp(sum, l.blob.digest + 7, 64) == 0);
    free(sum);
    /* The uncompressed tar hashes to the diff_id. */
    sum = run("gzip -dc %s | sha256sum | cut -c1-64", path);
    CHECK(strncmp(sum, l.diff_id + 7, 64) == 0);
    free(sum);
    /* No temporary file is left behind. */
    sum = run("ls -A %s/blobs | tr '\\n' ' '", test_tmpdir());
    CHECK_STR_EQ(sum, "sha256 ");
    free(sum);
}

TEST(tar_listing_is_sorted_with_fixed_mtime_and_owner)
{
    char dir[512], path[OCI_PATH_CAP];
    struct oci_layer l;
    struct err err = {0};
    struct oci_layer_opts o = {.prefix = "app/", .uid = 10001, .gid = 10001, .mtime = 86400};

    snprintf(dir, sizeof(dir), "%s/t", test_tmpdir());
    make_tree(dir, true, 1234567);
    CHECK(chmod(dir, 0750) == 0);
    OK(oci_layer_from_dir(dir, &o, test_tmpdir(), &l, &err));
    OK(oci_blob_path(test_tmpdir(), l.blob.digest, path, &err));

    char *names = run("tar -tzf %s | tr '\\n' ' '", path);
    CHECK_STR_EQ(names, "app/ app/Zed app/a-b app/a.txt app/b.txt app/link app/run.sh app/sub/ "
                        "app/sub/y.js app/sub/z.js ");
    free(names);
    char *lines = run("TZ=UTC tar --numeric-owner -tvzf %s | tr -s ' '", path);
    CHECK_CONTAINS(lines, "drwxr-x--- 10001/10001 0 1970-01-02 00:00 app/\n");
    CHECK_CONTAINS(lines, "-rwxr-xr-x 10001/10001 18 1970-01-02 00:00 app/run.sh\n");
    CHECK_CONTAINS(lines, "lrwxrwxrwx 10001/10001 0 1970-01-02 00:00 app/link -> sub/z.js\n");
    free(lines);
    /* No user or group names are recorded, whatever the host calls those ids. */
    lines = run("TZ=UTC tar -tvzf %s | awk '{print $2}' | sort -u", path);
    CHECK_STR_EQ(lines, "10001/10001\n");
    free(lines);
}

TEST(symlink_pointing_outside_is_stored_as_a_symlink)
{
    char dir[512], path[OCI_PATH_CAP];
    struct oci_layer l;
    struct err err = {0};

    snprintf(dir, sizeof(dir), "%s/t", test_tmpdir());
    sh("mkdir -p %s/d && ln -s /etc/passwd %s/d/pw && ln -s /etc %s/d/etc", dir, dir, dir);
    layer_of(dir, OCI_COMP_GZIP, test_tmpdir(), &l);
    OK(oci_blob_path(test_tmpdir(), l.blob.digest, path, &err));
    char *lines = run("tar -tvzf %s", path);
    CHECK_CONTAINS(lines, "d/pw -> /etc/passwd");
    CHECK_CONTAINS(lines, "d/etc -> /etc");
    CHECK(strstr(lines, "d/etc/") == NULL); /* never followed */
    CHECK(strstr(lines, "root:") == NULL);
    free(lines);
    lines = run("tar -xOzf %s 2>/dev/null | wc -c", path);
    CHECK_STR_EQ(lines, "0\n"); /* no file content at all */
    free(lines);
}

TEST(special_files_are_skipped_and_hard_links_become_files)
{
    char dir[512], sock_path[600], path[OCI_PATH_CAP];
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct oci_layer l;
    struct err err = {0};
    int s;

    snprintf(dir, sizeof(dir), "%s/t", test_tmpdir());
    sh("mkdir -p %s && mkfifo %s/fifo && echo data > %s/f && ln %s/f %s/g", dir, dir, dir, dir,
       dir);
    snprintf(sock_path, sizeof(sock_path), "%s/sock", dir);
    if (strlen(sock_path) < sizeof(sa.sun_path)) {
        memcpy(sa.sun_path, sock_path, strlen(sock_path) + 1);
        s = socket(AF_UNIX, SOCK_STREAM, 0);
        CHECK(s >= 0 && bind(s, (struct sockaddr *)&sa, sizeof(sa)) == 0);
        close(s);
    }
    layer_of(dir, OCI_COMP_GZIP, test_tmpdir(), &l);
    OK(oci_blob_path(test_tmpdir(), l.blob.digest, path, &err));
    char *lines =
        run("tar -tvzf %s | cut -c1 | tr -d '\\n'; tar -tzf %s | tr '\\n' ' '", path, path);
    CHECK_STR_EQ(lines, "--f g ");
    free(lines);
}

TEST(setuid_bits_are_dropped_unless_asked)
{
    char dir[512], path[OCI_PATH_CAP];
    struct oci_layer l;
    struct err err = {0};
    struct oci_layer_opts keep = {.keep_setid = true};

    snprintf(dir, sizeof(dir), "%s/t", test_tmpdir());
    sh("mkdir -p %s", dir);
    put_file(dir, "su", "x", 04755);
    layer_of(dir, OCI_COMP_GZIP, test_tmpdir(), &l);
    OK(oci_blob_path(test_tmpdir(), l.blob.digest, path, &err));
    char *lines = run("tar -tvzf %s | cut -c1-10", path);
    CHECK_STR_EQ(lines, "-rwxr-xr-x\n");
    free(lines);
    OK(oci_layer_from_dir(dir, &keep, test_tmpdir(), &l, &err));
    OK(oci_blob_path(test_tmpdir(), l.blob.digest, path, &err));
    lines = run("tar -tvzf %s | cut -c1-10", path);
    CHECK_STR_EQ(lines, "-rwsr-xr-x\n");
    free(lines);
}

TEST(zstd_layer_has_the_zstd_media_type)
{
    char dir[512], path[OCI_PATH_CAP];
    unsigned char magic[4] = {0};
    struct oci_layer l;
    struct err err = {0};
    FILE *f;

    snprintf(dir, sizeof(dir), "%s/t", test_tmpdir());
    make_tree(dir, false, 1);
    layer_of(dir, OCI_COMP_ZSTD, test_tmpdir(), &l);
    CHECK_STR_EQ(l.blob.media_type, OCI_MT_LAYER_ZSTD);
    OK(oci_blob_path(test_tmpdir(), l.blob.digest, path, &err));
    f = fopen(path, "rb");
    CHECK(f != NULL && fread(magic, 1, 4, f) == 4);
    fclose(f);
    CHECK(magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd);
    OK(oci_blob_verify(test_tmpdir(), l.blob.digest, l.blob.size, &err));
}

TEST(long_names_and_link_targets_use_pax_records)
{
    char dir[512], path[OCI_PATH_CAP], name[300];
    struct oci_layer l;
    struct err err = {0};

    snprintf(dir, sizeof(dir), "%s/t", test_tmpdir());
    memset(name, 'n', 150);
    name[150] = '\0';
    sh("mkdir -p %s/%s && echo x > %s/%s/%s && ln -s %s/%s %s/L", dir, name, dir, name, name, name,
       name, dir);
    layer_of(dir, OCI_COMP_GZIP, test_tmpdir(), &l);
    OK(oci_blob_path(test_tmpdir(), l.blob.digest, path, &err));
    char *list = run("tar -tvzf %s", path);
    CHECK_CONTAINS(list, name);
    CHECK_CONTAINS(list, "L -> nnnnnnnnnn");
    free(list);
    sh("mkdir -p %s/x && tar -xzf %s -C %s/x && cmp %s/%s/%s %s/x/%s/%s", test_tmpdir(), path,
       test_tmpdir(), dir, name, name, test_tmpdir(), name, name);
}

TEST(layer_from_entries_adds_root_owned_parents)
{
    char app[512], cfg[512], path[OCI_PATH_CAP];
    struct oci_layer l, l2;
    struct err err = {0};
    struct oci_layer_opts o = {.uid = 10001, .gid = 10001};

    snprintf(app, sizeof(app), "%s/app", test_tmpdir());
    snprintf(cfg, sizeof(cfg), "%s/conf.json", test_tmpdir());
    make_tree(app, false, 7);
    put_file(test_tmpdir(), "conf.json", "{}", 0600);
    struct oci_layer_entry e[] = {{"/etc/slipway/app.json", cfg}, {"app", app}};
    OK(oci_layer_from_entries(e, 2, &o, test_tmpdir(), &l, &err));
    OK(oci_blob_path(test_tmpdir(), l.blob.digest, path, &err));
    char *lines = run("tar --numeric-owner -tvzf %s | awk '{print $1, $2, $6}'", path);
    CHECK_CONTAINS(lines, "drwxr-xr-x 10001/10001 app/\n");
    CHECK_CONTAINS(lines, "drwxr-xr-x 0/0 etc/\n");
    CHECK_CONTAINS(lines, "drwxr-xr-x 0/0 etc/slipway/\n");
    CHECK_CONTAINS(lines, "-rw------- 10001/10001 etc/slipway/app.json\n");
    CHECK(strncmp(lines, "drwxr-xr-x 10001/10001 app/\n", 28) == 0); /* sorted */
    free(lines);

    /* The order of the entries does not matter. */
    struct oci_layer_entry r[] = {{"app", app}, {"etc/slipway/app.json", cfg}};
    OK(oci_layer_from_entries(r, 2, &o, test_tmpdir(), &l2, &err));
    CHECK_STR_EQ(l.blob.digest, l2.blob.digest);
}

TEST(bad_entries_are_refused)
{
    struct oci_layer l;
    struct err err = {0};
    struct oci_layer_opts o = {0}, bad_level = {.level = 42};
    struct oci_layer_entry up[] = {{"a/../../etc/passwd", "/etc/hostname"}};
    struct oci_layer_entry twice[] = {{"x", "/etc/hostname"}, {"/x", "/etc/hostname"}};
    struct oci_layer_entry empty[] = {{"/", "/etc/hostname"}};

    CHECK_INT_EQ(oci_layer_from_entries(up, 1, &o, test_tmpdir(), &l, &err), ERR_INVALID);
    CHECK_CONTAINS(err.msg, "\"..\"");
    CHECK_INT_EQ(oci_layer_from_entries(twice, 2, &o, test_tmpdir(), &l, &err), ERR_INVALID);
    CHECK_CONTAINS(err.msg, "twice");
    CHECK_INT_EQ(oci_layer_from_entries(empty, 1, &o, test_tmpdir(), &l, &err), ERR_INVALID);
    CHECK_INT_EQ(oci_layer_from_dir("/nonexistent/dir", &o, test_tmpdir(), &l, &err), ERR_NOTFOUND);
    CHECK_INT_EQ(oci_layer_from_dir(test_tmpdir(), &bad_level, test_tmpdir(), &l, &err),
                 ERR_INVALID);
    char *left = run("ls -A %s/blobs 2>/dev/null | grep -c tmp || true", test_tmpdir());
    CHECK_STR_EQ(left, "0\n");
    free(left);
}

TEST(random_pieces_are_stored_and_the_gzip_stream_stays_valid)
{
    char dir[512], path[OCI_PATH_CAP];
    struct oci_layer l, l2;
    struct err err = {0};

    snprintf(dir, sizeof(dir), "%s/t", test_tmpdir());
    sh("mkdir -p %s && head -c 700000 /dev/urandom > %s/r.bin && seq 1 200000 > %s/s.txt", dir, dir,
       dir);
    layer_of(dir, OCI_COMP_GZIP, test_tmpdir(), &l);
    OK(oci_blob_path(test_tmpdir(), l.blob.digest, path, &err));
    char *sum = run("gzip -t %s && gzip -dc %s | sha256sum | cut -c1-64", path, path);
    CHECK(strncmp(sum, l.diff_id + 7, 64) == 0);
    free(sum);
    /* Stored pieces cost a few bytes, and the text still compresses. */
    CHECK(l.blob.size < 700000 + 1288895 / 2);
    layer_of(dir, OCI_COMP_GZIP, test_tmpdir(), &l2);
    CHECK_STR_EQ(l.blob.digest, l2.blob.digest);
}
