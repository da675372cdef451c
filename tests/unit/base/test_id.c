/* ids: UUIDv7 format, validity, creation order and uniqueness. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/base.h"
#include "../test.h"

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static void check_format(const char *id)
{
    CHECK_UINT_EQ(strlen(id), 36);
    for (size_t i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23)
            CHECK_INT_EQ(id[i], '-');
        else if (!is_hex(id[i]))
            test_fail(__FILE__, __LINE__, "%s: not lower-case hex at %zu", id, i);
    }
    CHECK_INT_EQ(id[14], '7');             /* version */
    CHECK(strchr("89ab", id[19]) != NULL); /* variant 10xx */
    CHECK(id_valid(slice_from_cstr(id)));
}

static uint64_t id_ms(const char *id)
{
    uint64_t ms = 0;

    for (size_t i = 0; i < 13; i++) {
        if (id[i] == '-')
            continue;
        ms = ms << 4 | (uint64_t)(id[i] <= '9' ? id[i] - '0' : id[i] - 'a' + 10);
    }
    return ms;
}

TEST(id_new_format)
{
    char id[37];

    memset(id, 'Z', sizeof(id));
    id_new(id);
    CHECK_INT_EQ(id[36], '\0');
    check_format(id);
}

TEST(id_new_carries_the_wall_clock)
{
    uint64_t before = time_wall_ms();
    char id[37];
    uint64_t after;

    id_new(id); /* the first id of this process: nothing borrowed from the future yet */
    after = time_wall_ms();
    CHECK(id_ms(id) >= before);
    CHECK(id_ms(id) <= after);
}

#define MANY 10000

TEST(id_new_strictly_increasing_in_a_tight_loop)
{
    static char ids[MANY][37];
    uint64_t start = time_wall_ms(), end;

    for (size_t i = 0; i < MANY; i++)
        id_new(ids[i]);
    end = time_wall_ms();
    for (size_t i = 0; i < MANY; i++) {
        check_format(ids[i]);
        if (i > 0 && strcmp(ids[i - 1], ids[i]) >= 0)
            test_fail(__FILE__, __LINE__, "id %zu: %s does not sort after %s", i, ids[i],
                      ids[i - 1]);
    }
    /* Ids may run ahead of the clock by a millisecond per 4,096 ids, never more. */
    CHECK(id_ms(ids[0]) >= start);
    CHECK(id_ms(ids[MANY - 1]) <= end + MANY / 2048 + 1);
}

static int cmp_ids(const void *a, const void *b)
{
    return strcmp(a, b);
}

struct maker {
    char (*ids)[37];
    size_t n;
};

static void *maker_main(void *arg)
{
    struct maker *m = arg;

    for (size_t i = 0; i < m->n; i++)
        id_new(m->ids[i]);
    return NULL;
}

TEST(id_new_unique_across_threads)
{
    enum { THREADS = 4, EACH = 5000 };
    static char ids[THREADS * EACH][37];
    struct maker m[THREADS];
    pthread_t t[THREADS];

    for (size_t i = 0; i < THREADS; i++) {
        m[i] = (struct maker){ids + i * EACH, EACH};
        CHECK_INT_EQ(pthread_create(&t[i], NULL, maker_main, &m[i]), 0);
    }
    for (size_t i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    for (size_t i = 0; i < THREADS; i++)
        for (size_t k = 1; k < EACH; k++)
            CHECK(strcmp(ids[i * EACH + k - 1], ids[i * EACH + k]) < 0); /* per thread */
    qsort(ids, THREADS * EACH, sizeof(ids[0]), cmp_ids);
    for (size_t i = 1; i < THREADS * EACH; i++)
        if (strcmp(ids[i - 1], ids[i]) == 0)
            test_fail(__FILE__, __LINE__, "duplicate id %s", ids[i]);
}

TEST(id_valid_accepts_uuidv7)
{
    CHECK(id_valid(SLICE("01890a5d-ac96-774b-bcce-b302099a8057")));
    CHECK(id_valid(SLICE("00000000-0000-7000-8000-000000000000")));
    CHECK(id_valid(SLICE("ffffffff-ffff-7fff-bfff-ffffffffffff")));
}

TEST(id_valid_rejects_the_rest)
{
    static const char *const bad[] = {
        "",
        "01890a5d-ac96-774b-bcce-b302099a805",   /* short */
        "01890a5d-ac96-774b-bcce-b302099a80577", /* long */
        "01890A5D-AC96-774B-BCCE-B302099A8057",  /* upper case */
        "01890a5d-ac96-474b-bcce-b302099a8057",  /* version 4 */
        "01890a5d-ac96-774b-0cce-b302099a8057",  /* variant 0xxx */
        "01890a5d-ac96-774b-ccce-b302099a8057",  /* variant 110x */
        "01890a5d-ac96-774b-fcce-b302099a8057",  /* variant 111x */
        "01890a5dxac96-774b-bcce-b302099a8057",  /* dash */
        "01890a5d-ac96-774b-bcce-b302099a805g",  /* not hex */
        "01890a5d-ac96-774b-bcce-b302099a80-7",  /* dash in the wrong place */
        "{1890a5d-ac96-774b-bcce-b302099a8057",
        "01890a5d0ac96-774b-bcce-b302099a8057",
    };

    for (size_t i = 0; i < ARRAY_LEN(bad); i++)
        if (id_valid(slice_from_cstr(bad[i])))
            test_fail(__FILE__, __LINE__, "\"%s\" accepted", bad[i]);
    CHECK(!id_valid(SLICE_NULL));
    CHECK(!id_valid((struct slice){"01890a5d-ac96-774b-bcce-b302099a8057", 35}));
}

TEST(id_new_differs_in_a_forked_child)
{
    char parent[37], child[37] = "";
    int fds[2];
    pid_t pid;

    id_new(parent); /* seeds this thread's generator before the fork */
    CHECK(pipe(fds) == 0);
    pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        id_new(child);
        (void)!write(fds[1], child, 37);
        _exit(0);
    }
    id_new(parent);
    CHECK(read(fds[0], child, 37) == 37);
    waitpid(pid, NULL, 0);
    close(fds[0]);
    close(fds[1]);
    /* same millisecond or not, the random tails must differ */
    CHECK(memcmp(parent + 24, child + 24, 12) != 0);
}
