/* Slices: comparisons, trim, split, and the one number parser. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/base.h"
#include "../test.h"

#define CHECK_SLICE(s, lit) CHECK_MEM_EQ((s).ptr, (s).len, (lit), sizeof(lit) - 1)

TEST(slice_from_cstr_and_null)
{
    struct slice s = slice_from_cstr("abc");
    struct slice n = slice_from_cstr(NULL);

    CHECK_SLICE(s, "abc");
    CHECK(n.ptr == NULL);
    CHECK_UINT_EQ(n.len, 0);
    CHECK_UINT_EQ(SLICE("").len, 0);
    CHECK_UINT_EQ(SLICE("a\0b").len, 3);
}

TEST(slice_eq_variants)
{
    CHECK(slice_eq(SLICE("abc"), SLICE("abc")));
    CHECK(!slice_eq(SLICE("abc"), SLICE("abd")));
    CHECK(!slice_eq(SLICE("abc"), SLICE("ab")));
    CHECK(slice_eq(SLICE_NULL, SLICE("")));
    CHECK(slice_eq(SLICE_NULL, SLICE_NULL));
    CHECK(slice_eq(SLICE("a\0b"), SLICE("a\0b")));
    CHECK(!slice_eq(SLICE("a\0b"), SLICE("a\0c")));
    CHECK(slice_eq_cstr(SLICE("x"), "x"));
    CHECK(slice_eq_cstr(SLICE_NULL, NULL));
    CHECK(slice_eq_cstr(SLICE_NULL, ""));
    CHECK(!slice_eq_cstr(SLICE("x"), NULL));
    CHECK(!slice_eq_cstr(SLICE("a\0b"), "a"));
}

TEST(slice_case_eq_is_ascii_only)
{
    CHECK(slice_case_eq_cstr(SLICE("Content-Type"), "content-type"));
    CHECK(slice_case_eq_cstr(SLICE("ABC"), "abc"));
    CHECK(slice_case_eq_cstr(SLICE(""), ""));
    CHECK(!slice_case_eq_cstr(SLICE("abc"), "abcd"));
    CHECK(!slice_case_eq_cstr(SLICE("abc"), "abd"));
    CHECK(!slice_case_eq_cstr(SLICE("["), "{")); /* '[' + 32 == '{': not a letter */
    CHECK(!slice_case_eq_cstr(SLICE("\xc3\x89"), "\xc3\xa9"));
}

TEST(slice_starts_with_cases)
{
    CHECK(slice_starts_with(SLICE("abcdef"), SLICE("abc")));
    CHECK(slice_starts_with(SLICE("abc"), SLICE("abc")));
    CHECK(slice_starts_with(SLICE("abc"), SLICE("")));
    CHECK(slice_starts_with(SLICE_NULL, SLICE_NULL));
    CHECK(!slice_starts_with(SLICE("ab"), SLICE("abc")));
    CHECK(!slice_starts_with(SLICE("abd"), SLICE("abc")));
}

TEST(slice_trim_spaces_and_tabs_only)
{
    CHECK_SLICE(slice_trim(SLICE("  a b \t")), "a b");
    CHECK_SLICE(slice_trim(SLICE("\t\tx")), "x");
    CHECK_SLICE(slice_trim(SLICE("x  ")), "x");
    CHECK_SLICE(slice_trim(SLICE("   ")), "");
    CHECK_SLICE(slice_trim(SLICE("")), "");
    CHECK_SLICE(slice_trim(SLICE("\nx\r")), "\nx\r");
    CHECK_UINT_EQ(slice_trim(SLICE_NULL).len, 0);
}

TEST(slice_split_walks_fields)
{
    struct slice s = SLICE("a,bc,,d");
    struct slice head;

    CHECK(slice_split(&s, ',', &head));
    CHECK_SLICE(head, "a");
    CHECK_SLICE(s, "bc,,d");
    CHECK(slice_split(&s, ',', &head));
    CHECK_SLICE(head, "bc");
    CHECK(slice_split(&s, ',', &head));
    CHECK_SLICE(head, "");
    CHECK_SLICE(s, "d");
    CHECK(!slice_split(&s, ',', &head));
    CHECK_SLICE(head, "d");
    CHECK_UINT_EQ(s.len, 0);
    CHECK(!slice_split(&s, ',', &head));
    CHECK_UINT_EQ(head.len, 0);
    CHECK_UINT_EQ(s.len, 0);
}

TEST(slice_split_separator_at_ends)
{
    struct slice s = SLICE(",x,");
    struct slice head;

    CHECK(slice_split(&s, ',', &head));
    CHECK_SLICE(head, "");
    CHECK_SLICE(s, "x,");
    CHECK(slice_split(&s, ',', &head));
    CHECK_SLICE(head, "x");
    CHECK_SLICE(s, "");
    CHECK(!slice_split(&s, ',', &head));
    CHECK_SLICE(head, "");
}

TEST(slice_split_without_separator_gives_all_to_head)
{
    struct slice s = SLICE("key=value");
    struct slice head;

    CHECK(!slice_split(&s, ':', &head));
    CHECK_SLICE(head, "key=value");
    CHECK_UINT_EQ(s.len, 0);

    s = SLICE("key=va=lue");
    CHECK(slice_split(&s, '=', &head));
    CHECK_SLICE(head, "key");
    CHECK_SLICE(s, "va=lue");

    s = SLICE_NULL;
    CHECK(!slice_split(&s, '=', &head));
    CHECK_UINT_EQ(head.len, 0);
    CHECK_UINT_EQ(s.len, 0);
}

TEST(slice_split_on_nul_byte)
{
    struct slice s = SLICE("a\0b");
    struct slice head;

    CHECK(slice_split(&s, '\0', &head));
    CHECK_SLICE(head, "a");
    CHECK_SLICE(s, "b");
}

static int to_u64(const char *s, uint64_t *v)
{
    return slice_to_u64(slice_from_cstr(s), v);
}

TEST(slice_to_u64_accepts_digits)
{
    uint64_t v = 1;

    CHECK_INT_EQ(to_u64("0", &v), 0);
    CHECK_UINT_EQ(v, 0);
    CHECK_INT_EQ(to_u64("42", &v), 0);
    CHECK_UINT_EQ(v, 42);
    CHECK_INT_EQ(to_u64("007", &v), 0);
    CHECK_UINT_EQ(v, 7);
    CHECK_INT_EQ(to_u64("18446744073709551615", &v), 0);
    CHECK_UINT_EQ(v, UINT64_MAX);
    CHECK_INT_EQ(to_u64("0000000000000000000000000018446744073709551615", &v), 0);
    CHECK_UINT_EQ(v, UINT64_MAX);
    CHECK_INT_EQ(to_u64("18446744073709551610", &v), 0);
    CHECK_UINT_EQ(v, UINT64_MAX - 5);
}

TEST(slice_to_u64_overflow_is_limit)
{
    uint64_t v = 3;

    CHECK_INT_EQ(to_u64("18446744073709551616", &v), ERR_LIMIT); /* UINT64_MAX + 1 */
    CHECK_INT_EQ(to_u64("18446744073709551620", &v), ERR_LIMIT);
    CHECK_INT_EQ(to_u64("18446744073709551625", &v), ERR_LIMIT);
    CHECK_INT_EQ(to_u64("99999999999999999999", &v), ERR_LIMIT);
    CHECK_INT_EQ(to_u64("184467440737095516150", &v), ERR_LIMIT);
    CHECK_INT_EQ(to_u64("1844674407370955161500000000000", &v), ERR_LIMIT);
    CHECK_UINT_EQ(v, 3); /* untouched on error */
}

TEST(slice_to_u64_rejects_everything_else)
{
    static const char *const bad[] = {
        "",    "-1",  "+1", " 1",  "1 ",  "1a",    "a1",    "0x10",
        "1.0", "1e3", "١",  "\t7", "7\n", "1_000", "1,000", "-0",
    };
    uint64_t v = 3;

    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        if (to_u64(bad[i], &v) != ERR_INVALID)
            test_fail(__FILE__, __LINE__, "\"%s\" not rejected as invalid", bad[i]);
    }
    CHECK_INT_EQ(slice_to_u64(SLICE_NULL, &v), ERR_INVALID);
    CHECK_INT_EQ(slice_to_u64(SLICE("1\0"), &v), ERR_INVALID);
    CHECK_UINT_EQ(v, 3);
}

TEST(slice_to_u64_invalid_wins_over_overflow)
{
    uint64_t v = 3;

    /* Not digits only, so invalid whatever the magnitude. */
    CHECK_INT_EQ(to_u64("99999999999999999999x", &v), ERR_INVALID);
    CHECK_INT_EQ(to_u64("18446744073709551616 ", &v), ERR_INVALID);
    CHECK_INT_EQ(to_u64("184467440737095516165", &v), ERR_LIMIT);
    CHECK_UINT_EQ(v, 3);
}

TEST(slice_to_u64_respects_length)
{
    const char digits[] = "12345";
    uint64_t v = 0;

    CHECK_INT_EQ(slice_to_u64((struct slice){digits, 3}, &v), 0);
    CHECK_UINT_EQ(v, 123);
}

TEST(slice_percent_decode_paths_and_queries)
{
    struct arena *a = arena_new(&(struct arena_opts){.budget = 128});
    struct slice out;

    CHECK_INT_EQ(slice_percent_decode(a, SLICE("a%2Fb%20c+d"), false, &out), 0);
    CHECK_STR_EQ(out.ptr, "a/b c+d");
    CHECK_INT_EQ(slice_percent_decode(a, SLICE("a+b%2b"), true, &out), 0);
    CHECK_STR_EQ(out.ptr, "a b+");
    CHECK_INT_EQ(slice_percent_decode(a, SLICE("x%00y"), false, &out), 0);
    CHECK_UINT_EQ(out.len, 3); /* NUL kept: callers decide */
    CHECK_INT_EQ(slice_percent_decode(a, SLICE("%"), false, &out), ERR_INVALID);
    CHECK_INT_EQ(slice_percent_decode(a, SLICE("%4"), false, &out), ERR_INVALID);
    CHECK_INT_EQ(slice_percent_decode(a, SLICE("%zz"), false, &out), ERR_INVALID);
    CHECK_INT_EQ(slice_percent_decode(a,
                                      SLICE("0123456789012345678901234567890123456789"
                                            "0123456789012345678901234567890123456789"),
                                      false, &out),
                 ERR_LIMIT);
    arena_free(a);
}
