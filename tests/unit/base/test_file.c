/* Tests for src/base/file.c. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../test.h"
#include "base/base.h"

static char *path_in_tmp(const char *name)
{
    static char buf[512];

    snprintf(buf, sizeof(buf), "%s/%s", test_tmpdir(), name);
    return buf;
}

TEST(file_write_atomic_replaces_the_whole_file)
{
    const char *p = path_in_tmp("f");
    struct err err = {0};
    char buf[64] = {0};
    FILE *f;

    CHECK_INT_EQ(file_write_atomic(p, "first version", 13, 0644, &err), 0);
    CHECK_INT_EQ(file_write_atomic(p, "second", 6, 0644, &err), 0);
    f = fopen(p, "r");
    CHECK(f != NULL);
    CHECK_UINT_EQ(fread(buf, 1, sizeof(buf), f), 6);
    fclose(f);
    CHECK_STR_EQ(buf, "second");
    CHECK_INT_EQ(file_write_atomic("/nonexistent-dir/x", "a", 1, 0644, &err), ERR_NOTFOUND);
    CHECK_CONTAINS(err.msg, "/nonexistent-dir/x");
}

TEST(file_secret_load_creates_once_then_reads_the_same_bytes)
{
    const char *p = path_in_tmp("secret.key");
    unsigned char a[32], b[32], zero[32] = {0};
    struct err err = {0};
    struct stat st;

    CHECK_INT_EQ(file_secret_load(p, a, sizeof(a), &err), 0);
    CHECK(memcmp(a, zero, sizeof(a)) != 0);
    CHECK(stat(p, &st) == 0);
    CHECK_INT_EQ(st.st_mode & 0777, 0600);
    CHECK_INT_EQ(file_secret_load(p, b, sizeof(b), &err), 0);
    CHECK(memcmp(a, b, sizeof(a)) == 0);
}

TEST(file_secret_load_refuses_a_readable_or_short_file)
{
    const char *p = path_in_tmp("secret.key");
    unsigned char k[32];
    struct err err = {0};

    CHECK_INT_EQ(file_write_atomic(p, "short", 5, 0600, &err), 0);
    CHECK_INT_EQ(file_secret_load(p, k, sizeof(k), &err), ERR_INVALID);
    CHECK_CONTAINS(err.msg, "32 bytes");
    CHECK(chmod(p, 0644) == 0);
    CHECK_INT_EQ(file_secret_load(p, k, sizeof(k), &err), ERR_FORBIDDEN);
    CHECK_CONTAINS(err.msg, "chmod 600");
}

struct racer {
    const char *path;
    pthread_barrier_t *go;
    unsigned char key[32];
    int rc;
};

static void *racer_main(void *arg)
{
    struct racer *r = arg;
    struct err err = {0};

    pthread_barrier_wait(r->go);
    r->rc = file_secret_load(r->path, r->key, sizeof(r->key), &err);
    return NULL;
}

TEST(file_secret_first_uses_at_once_agree_on_one_key)
{
    char path[4096];
    pthread_barrier_t go;
    struct racer r[8];
    pthread_t th[8];

    for (int round = 0; round < 20; round++) {
        snprintf(path, sizeof(path), "%s/race-%d.key", test_tmpdir(), round);
        pthread_barrier_init(&go, NULL, 8);
        for (int i = 0; i < 8; i++) {
            r[i] = (struct racer){.path = path, .go = &go};
            CHECK(pthread_create(&th[i], NULL, racer_main, &r[i]) == 0);
        }
        for (int i = 0; i < 8; i++)
            pthread_join(th[i], NULL);
        pthread_barrier_destroy(&go);
        for (int i = 0; i < 8; i++) {
            CHECK_INT_EQ(r[i].rc, 0);
            CHECK(memcmp(r[i].key, r[0].key, sizeof(r[0].key)) == 0);
        }
    }
}
