/* Arenas: alignment, budget exhaustion (NULL, never abort), cleanups in reverse order. */
#include <stdalign.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/base.h"
#include "../test.h"

TEST(arena_alloc_is_aligned_and_distinct)
{
    struct arena *a = arena_new(&(struct arena_opts){.chunk = 256});
    unsigned char *prev[64];

    for (size_t i = 0; i < ARRAY_LEN(prev); i++) {
        size_t n = 1 + (i * 37) % 200; /* some small, some over half a chunk */
        unsigned char *p = arena_alloc(a, n);

        CHECK(p != NULL);
        CHECK_UINT_EQ((uintptr_t)p % alignof(max_align_t), 0);
        memset(p, (int)i, n);
        prev[i] = p;
    }
    /* Nothing written later overwrote an earlier block. */
    for (size_t i = 0; i < ARRAY_LEN(prev); i++) {
        size_t n = 1 + (i * 37) % 200;

        for (size_t k = 0; k < n; k++)
            CHECK_INT_EQ(prev[i][k], (unsigned char)i);
    }
    arena_free(a);
}

TEST(arena_new_with_null_opts_is_unlimited)
{
    struct arena *a = arena_new(NULL);
    void *p = arena_alloc(a, 1 << 20);

    CHECK(p != NULL);
    memset(p, 0xab, 1 << 20);
    CHECK_UINT_EQ(arena_used(a), 1 << 20);
    arena_free(a);
    arena_free(NULL);
}

TEST(arena_budget_exhaustion_returns_null)
{
    struct arena *a = arena_new(&(struct arena_opts){.chunk = 128, .budget = 1024});
    size_t got = 0;

    while (arena_alloc(a, 16) != NULL) {
        got++;
        CHECK(got <= 64);
    }
    CHECK_UINT_EQ(got, 64);
    CHECK_UINT_EQ(arena_used(a), 1024);
    CHECK(arena_alloc(a, 1) == NULL);
    CHECK(arena_zalloc(a, 1) == NULL);
    CHECK(arena_strndup(a, "x", 1) == NULL);
    CHECK(arena_printf(a, "%d", 1) == NULL);
    CHECK(slice_dup(a, SLICE("x")).ptr == NULL);
    CHECK_UINT_EQ(arena_used(a), 1024);
    arena_free(a);
}

TEST(arena_budget_exact_fit_and_rounding)
{
    struct arena *a = arena_new(&(struct arena_opts){.budget = 100});

    /* 100 rounds up to 112 bytes, past the budget; 96 fits; then nothing does. */
    CHECK(arena_alloc(a, 100) == NULL);
    CHECK_UINT_EQ(arena_used(a), 0);
    CHECK(arena_alloc(a, 96) != NULL);
    CHECK_UINT_EQ(arena_used(a), 96);
    CHECK(arena_alloc(a, 1) == NULL);
    arena_free(a);
}

TEST(arena_big_request_over_budget_leaves_room_for_small)
{
    struct arena *a = arena_new(&(struct arena_opts){.budget = 4096});

    CHECK(arena_alloc(a, 1 << 20) == NULL);
    CHECK(arena_alloc(a, 4096 + 1) == NULL);
    CHECK(arena_alloc(a, 4000) != NULL);
    arena_free(a);
}

TEST(arena_huge_sizes_return_null_without_budget)
{
    struct arena *a = arena_new(NULL);

    CHECK(arena_alloc(a, SIZE_MAX) == NULL);
    CHECK(arena_alloc(a, SIZE_MAX - 15) == NULL);
    CHECK(arena_alloc(a, SIZE_MAX - 20) == NULL); /* rounding fits, the chunk header does not */
    CHECK(arena_strndup(a, "", SIZE_MAX - 40) == NULL);
    CHECK_UINT_EQ(arena_used(a), 0);
    CHECK(arena_alloc(a, 8) != NULL);
    arena_free(a);
}

TEST(arena_zalloc_zeroes)
{
    struct arena *a = arena_new(&(struct arena_opts){.chunk = 64});

    for (int round = 0; round < 4; round++) {
        unsigned char *p = arena_zalloc(a, 100);

        CHECK(p != NULL);
        for (size_t i = 0; i < 100; i++)
            CHECK_INT_EQ(p[i], 0);
        memset(p, 0xff, 100);
    }
    arena_free(a);
}

TEST(arena_strndup_printf_and_slice_dup)
{
    struct arena *a = arena_new(NULL);
    char *s = arena_strndup(a, "hello world", 5);
    char *e = arena_strndup(a, NULL, 0);
    char *f = arena_printf(a, "%s-%d-%05.1f", "x", 42, 3.25);
    struct slice d = slice_dup(a, (struct slice){"ab\0cd", 5});
    struct slice z = slice_dup(a, SLICE_NULL);

    CHECK_STR_EQ(s, "hello");
    CHECK_STR_EQ(e, "");
    CHECK_STR_EQ(f, "x-42-003.2");
    CHECK_UINT_EQ(d.len, 5);
    CHECK_MEM_EQ(d.ptr, d.len, "ab\0cd", 5);
    CHECK_INT_EQ(d.ptr[5], '\0');
    CHECK(z.ptr != NULL);
    CHECK_UINT_EQ(z.len, 0);
    CHECK_INT_EQ(z.ptr[0], '\0');
    arena_free(a);
}

TEST(arena_printf_long_output)
{
    struct arena *a = arena_new(&(struct arena_opts){.chunk = 128});
    char *p = arena_printf(a, "%0500d", 7);

    CHECK(p != NULL);
    CHECK_UINT_EQ(strlen(p), 500);
    CHECK_INT_EQ(p[499], '7');
    CHECK_INT_EQ(p[0], '0');
    arena_free(a);
}

static int order[16];
static int norder;

struct cleanup_arg {
    int id;
    const char *text; /* lives in the arena: must still be readable in the cleanup */
};

static void record(void *arg)
{
    struct cleanup_arg *c = arg;

    CHECK(norder < (int)ARRAY_LEN(order));
    CHECK_STR_EQ(c->text, "still here");
    order[norder++] = c->id;
}

TEST(arena_on_free_runs_last_first_before_memory_goes)
{
    struct arena *a = arena_new(&(struct arena_opts){.chunk = 64});

    for (int i = 0; i < 5; i++) {
        struct cleanup_arg *c = arena_alloc(a, sizeof(*c));

        CHECK(c != NULL);
        c->id = i;
        c->text = arena_strndup(a, "still here", 10);
        CHECK(c->text != NULL);
        CHECK_INT_EQ(arena_on_free(a, record, c), 0);
    }
    CHECK_INT_EQ(norder, 0);
    arena_free(a);
    CHECK_INT_EQ(norder, 5);
    for (int i = 0; i < 5; i++)
        CHECK_INT_EQ(order[i], 4 - i);
}

static void count_call(void *arg)
{
    (*(int *)arg)++;
}

TEST(arena_on_free_out_of_budget_is_limit_and_never_runs)
{
    struct arena *a = arena_new(&(struct arena_opts){.budget = 64});
    static int calls;

    CHECK(arena_alloc(a, 64) != NULL);
    CHECK_INT_EQ(arena_on_free(a, count_call, &calls), ERR_LIMIT);
    arena_free(a);
    CHECK_INT_EQ(calls, 0);
}

TEST(arena_on_free_fills_budget_then_fails)
{
    struct arena *a = arena_new(&(struct arena_opts){.budget = 256});
    static int calls;
    int ok = 0;

    while (arena_on_free(a, count_call, &calls) == 0) {
        ok++;
        CHECK(ok <= 256);
    }
    CHECK(ok > 0);
    arena_free(a);
    CHECK_INT_EQ(calls, ok);
}

TEST(arena_zero_size_alloc)
{
    struct arena *a = arena_new(&(struct arena_opts){.budget = 32});
    void *p = arena_alloc(a, 0);
    void *q;

    CHECK(p != NULL);
    CHECK_UINT_EQ(arena_used(a), 0);
    q = arena_alloc(a, 32);
    CHECK(q != NULL);
    memset(q, 1, 32);
    arena_free(a);
}

TEST(arena_many_chunks_until_budget)
{
    struct arena *a = arena_new(&(struct arena_opts){.chunk = 1000, .budget = 1 << 20});
    size_t n = 0;
    void *p;

    while ((p = arena_alloc(a, 64)) != NULL) {
        memset(p, 0x5a, 64);
        n++;
    }
    CHECK_UINT_EQ(n, (1 << 20) / 64);
    CHECK_UINT_EQ(arena_used(a), 1 << 20);
    arena_free(a);
}

static void count_cleanup(void *arg)
{
    ++*(int *)arg;
}

TEST(arena_reset_runs_cleanups_and_starts_over_within_budget)
{
    struct arena *a = arena_new(&(struct arena_opts){.chunk = 256, .budget = 1024});
    int runs = 0;
    char *p;

    CHECK(arena_on_free(a, count_cleanup, &runs) == 0);
    CHECK(arena_alloc(a, 900) != NULL); /* a big block of its own, near the budget */
    CHECK(arena_alloc(a, 200) == NULL); /* over budget */
    arena_reset(a);
    CHECK_INT_EQ(runs, 1);
    CHECK_UINT_EQ(arena_used(a), 0);
    for (int i = 0; i < 8; i++) { /* the whole budget is there again, chunk after chunk */
        p = arena_alloc(a, 100);
        CHECK(p != NULL);
        memset(p, 'x', 100);
    }
    arena_reset(a);
    arena_reset(a); /* twice in a row is fine */
    CHECK_INT_EQ(runs, 1);
    CHECK(arena_alloc(a, 64) != NULL);
    arena_free(a);
}
