/* sbuf: bounded growth, sticky errors, take/consume/reserve/commit. */
#include <pthread.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/base.h"
#include "../test.h"

TEST(sbuf_init_is_empty_and_never_null)
{
    struct sbuf a = SBUF_INIT(10);
    struct sbuf b;

    sbuf_init(&b, 20);
    CHECK(a.buf != NULL);
    CHECK_STR_EQ(a.buf, "");
    CHECK_UINT_EQ(a.len, 0);
    CHECK_INT_EQ(a.err, 0);
    CHECK_STR_EQ(b.buf, "");
    CHECK_UINT_EQ(b.max, 20);
    sbuf_release(&a);
    sbuf_release(&b);
    CHECK_STR_EQ(a.buf, "");
}

TEST(sbuf_appends)
{
    struct sbuf b = SBUF_INIT(1 << 16);

    sbuf_puts(&b, "ab");
    sbuf_putc(&b, 'c');
    sbuf_put(&b, "d\0e", 3);
    sbuf_put_slice(&b, SLICE("fg"));
    sbuf_put(&b, NULL, 0);
    sbuf_printf(&b, "%d%s", 12, "x");
    CHECK_INT_EQ(b.err, 0);
    CHECK_UINT_EQ(b.len, 11);
    CHECK_MEM_EQ(b.buf, b.len, "abcd\0efg12x", 11);
    CHECK_INT_EQ(b.buf[b.len], '\0');
    sbuf_release(&b);
}

TEST(sbuf_put_i64_prints_as_printf)
{
    static const int64_t vals[] = {0, 7, -1, 10, -10, 1234567890, INT64_MAX, INT64_MIN};
    struct sbuf b = SBUF_INIT(1 << 16), want = SBUF_INIT(1 << 16);

    for (size_t i = 0; i < ARRAY_LEN(vals); i++) {
        sbuf_reset(&b);
        sbuf_reset(&want);
        sbuf_put_i64(&b, vals[i]);
        sbuf_printf(&want, "%" PRId64, vals[i]);
        CHECK_STR_EQ(b.buf, want.buf);
    }
    sbuf_reset(&b);
    sbuf_put_u64(&b, UINT64_MAX);
    CHECK_STR_EQ(b.buf, "18446744073709551615");
    sbuf_release(&b);
    sbuf_release(&want);
}

TEST(sbuf_keeps_first_error)
{
    struct sbuf b = SBUF_INIT(4);

    sbuf_puts(&b, "abc");
    sbuf_puts(&b, "de"); /* would pass the 4-byte max */
    CHECK_INT_EQ(b.err, ERR_LIMIT);
    CHECK_STR_EQ(b.buf, "abc"); /* data before the failure is intact */
    CHECK_UINT_EQ(b.len, 3);
    sbuf_putc(&b, 'x'); /* would fit, but the error is sticky */
    sbuf_printf(&b, "%s", "");
    sbuf_put(&b, "y", 1);
    CHECK(sbuf_reserve(&b, 1) == NULL);
    CHECK_STR_EQ(b.buf, "abc");
    CHECK_UINT_EQ(b.len, 3);
    CHECK_INT_EQ(b.err, ERR_LIMIT);
    sbuf_release(&b);
}

TEST(sbuf_fills_exactly_to_max)
{
    struct sbuf b = SBUF_INIT(5);

    sbuf_puts(&b, "12");
    sbuf_puts(&b, "345");
    CHECK_INT_EQ(b.err, 0);
    CHECK_STR_EQ(b.buf, "12345");
    sbuf_put(&b, "", 0); /* nothing to add: not an error */
    CHECK_INT_EQ(b.err, 0);
    sbuf_putc(&b, '6');
    CHECK_INT_EQ(b.err, ERR_LIMIT);
    CHECK_STR_EQ(b.buf, "12345");
    sbuf_release(&b);
}

TEST(sbuf_printf_exactly_at_max)
{
    struct sbuf b = SBUF_INIT(5);
    struct sbuf c = SBUF_INIT(10);

    sbuf_printf(&b, "%d", 12345);
    CHECK_INT_EQ(b.err, 0);
    CHECK_STR_EQ(b.buf, "12345");
    CHECK_UINT_EQ(b.len, 5);

    /* Already allocated and partly filled: the printf fits exactly in the room left. */
    sbuf_puts(&c, "abc");
    sbuf_printf(&c, "%s", "defghij");
    CHECK_INT_EQ(c.err, 0);
    CHECK_STR_EQ(c.buf, "abcdefghij");
    sbuf_release(&b);
    sbuf_release(&c);
}

TEST(sbuf_printf_past_max_keeps_data)
{
    struct sbuf b = SBUF_INIT(5);
    struct sbuf c = SBUF_INIT(10);

    sbuf_printf(&b, "%s", "123456");
    CHECK_INT_EQ(b.err, ERR_LIMIT);
    CHECK_STR_EQ(b.buf, "");
    CHECK_UINT_EQ(b.len, 0);

    /* The first vsnprintf writes a truncated copy into the buffer: it must be undone. */
    sbuf_puts(&c, "abc");
    sbuf_printf(&c, "%s", "defghijk");
    CHECK_INT_EQ(c.err, ERR_LIMIT);
    CHECK_STR_EQ(c.buf, "abc");
    CHECK_UINT_EQ(c.len, 3);
    sbuf_printf(&c, "%s", "d");
    CHECK_STR_EQ(c.buf, "abc");
    sbuf_release(&b);
    sbuf_release(&c);
}

TEST(sbuf_printf_grows)
{
    struct sbuf b = SBUF_INIT(1 << 20);
    char want[2001], num[16];

    for (int i = 0; i < 200; i++)
        sbuf_printf(&b, "%010d", i);
    CHECK_INT_EQ(b.err, 0);
    CHECK_UINT_EQ(b.len, 2000);
    for (int i = 0; i < 200; i++)
        memcpy(want + 10 * i, num, (size_t)snprintf(num, sizeof(num), "%010d", i) + 1);
    CHECK_STR_EQ(b.buf, want);
    sbuf_reset(&b);
    sbuf_printf(&b, "%05000d", 1); /* one write bigger than what is allocated */
    CHECK_UINT_EQ(b.len, 5000);
    CHECK_UINT_EQ(strlen(b.buf), 5000);
    CHECK_INT_EQ(b.buf[4999], '1');
    sbuf_release(&b);
}

TEST(sbuf_printf_empty_on_fresh_buffer)
{
    struct sbuf b = SBUF_INIT(8);

    sbuf_printf(&b, "%s", "");
    CHECK_INT_EQ(b.err, 0);
    CHECK_UINT_EQ(b.len, 0);
    CHECK_STR_EQ(b.buf, "");
    sbuf_release(&b);
}

static void vwrap(struct sbuf *b, const char *fmt, ...) APP_PRINTF(2, 3);
static void vwrap(struct sbuf *b, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    sbuf_vprintf(b, fmt, ap);
    va_end(ap);
}

TEST(sbuf_vprintf_reuses_the_list_when_growing)
{
    struct sbuf b = SBUF_INIT(4096);

    vwrap(&b, "%s=%d;", "key", 1);
    vwrap(&b, "%0300d|%s", 5, "tail"); /* needs the second pass with the same arguments */
    CHECK_INT_EQ(b.err, 0);
    CHECK_UINT_EQ(b.len, 6 + 300 + 5);
    CHECK(memcmp(b.buf, "key=1;", 6) == 0);
    CHECK_STR_EQ(b.buf + 306, "|tail");
    sbuf_release(&b);
}

TEST(sbuf_reset_clears_error_and_keeps_memory)
{
    struct sbuf b = SBUF_INIT(4);
    char *mem;

    sbuf_puts(&b, "abcd");
    mem = b.buf;
    sbuf_putc(&b, 'e');
    CHECK_INT_EQ(b.err, ERR_LIMIT);
    sbuf_reset(&b);
    CHECK_INT_EQ(b.err, 0);
    CHECK_UINT_EQ(b.len, 0);
    CHECK_STR_EQ(b.buf, "");
    CHECK(b.buf == mem);
    sbuf_puts(&b, "wxyz");
    CHECK_STR_EQ(b.buf, "wxyz");
    sbuf_release(&b);

    sbuf_reset(&b); /* never allocated */
    CHECK_STR_EQ(b.buf, "");
    sbuf_release(&b);
}

TEST(sbuf_take_hands_over_and_empties)
{
    struct sbuf b = SBUF_INIT(100);
    size_t len = 99;
    char *p;

    sbuf_puts(&b, "hello");
    p = sbuf_take(&b, &len);
    CHECK_STR_EQ(p, "hello");
    CHECK_UINT_EQ(len, 5);
    CHECK_UINT_EQ(b.len, 0);
    CHECK_UINT_EQ(b.max, 100);
    CHECK_STR_EQ(b.buf, "");
    CHECK(b.buf != p);
    free(p);

    /* Reusable afterwards; the taken memory is independent of the new contents. */
    sbuf_puts(&b, "again");
    p = sbuf_take(&b, NULL);
    CHECK_STR_EQ(p, "again");
    free(p);

    /* Empty, never allocated: still a heap string the caller frees. */
    p = sbuf_take(&b, &len);
    CHECK(p != NULL);
    CHECK_STR_EQ(p, "");
    CHECK_UINT_EQ(len, 0);
    free(p);
    sbuf_release(&b);
}

TEST(sbuf_take_clears_error)
{
    struct sbuf b = SBUF_INIT(3);
    size_t len;
    char *p;

    sbuf_puts(&b, "abcd");
    CHECK_INT_EQ(b.err, ERR_LIMIT);
    p = sbuf_take(&b, &len);
    CHECK_UINT_EQ(len, 0);
    free(p);
    CHECK_INT_EQ(b.err, 0);
    sbuf_puts(&b, "abc");
    CHECK_STR_EQ(b.buf, "abc");
    sbuf_release(&b);
}

TEST(sbuf_consume_drops_prefix)
{
    struct sbuf b = SBUF_INIT(100);

    sbuf_puts(&b, "0123456789");
    sbuf_consume(&b, 0);
    CHECK_STR_EQ(b.buf, "0123456789");
    sbuf_consume(&b, 3);
    CHECK_STR_EQ(b.buf, "3456789");
    CHECK_UINT_EQ(b.len, 7);
    sbuf_consume(&b, 6);
    CHECK_STR_EQ(b.buf, "9");
    sbuf_consume(&b, 1);
    CHECK_STR_EQ(b.buf, "");
    CHECK_UINT_EQ(b.len, 0);
    sbuf_puts(&b, "ab");
    sbuf_consume(&b, 1000);
    CHECK_STR_EQ(b.buf, "");
    CHECK_UINT_EQ(b.len, 0);
    sbuf_release(&b);

    sbuf_consume(&b, 5); /* never allocated */
    CHECK_STR_EQ(b.buf, "");
}

TEST(sbuf_consume_frees_room_under_max)
{
    struct sbuf b = SBUF_INIT(4);

    sbuf_puts(&b, "abcd");
    sbuf_consume(&b, 2);
    sbuf_puts(&b, "ef");
    CHECK_INT_EQ(b.err, 0);
    CHECK_STR_EQ(b.buf, "cdef");
    sbuf_release(&b);
}

TEST(sbuf_reserve_and_commit)
{
    struct sbuf b = SBUF_INIT(16);
    char *p;

    sbuf_puts(&b, "ab");
    p = sbuf_reserve(&b, 10);
    CHECK(p != NULL);
    CHECK(p == b.buf + 2);
    memcpy(p, "cdefg", 5);
    sbuf_commit(&b, 5);
    CHECK_STR_EQ(b.buf, "abcdefg");
    CHECK_UINT_EQ(b.len, 7);

    p = sbuf_reserve(&b, 9); /* exactly up to max */
    CHECK(p != NULL);
    memcpy(p, "hijklmnop", 9);
    sbuf_commit(&b, 9);
    CHECK_STR_EQ(b.buf, "abcdefghijklmnop");
    CHECK_INT_EQ(b.err, 0);

    CHECK(sbuf_reserve(&b, 1) == NULL);
    CHECK_INT_EQ(b.err, ERR_LIMIT);
    CHECK_STR_EQ(b.buf, "abcdefghijklmnop");
    sbuf_release(&b);
}

TEST(sbuf_reserve_commit_less_and_zero)
{
    struct sbuf b = SBUF_INIT(100);
    char *p = sbuf_reserve(&b, 50);

    CHECK(p != NULL);
    p[0] = 'x';
    sbuf_commit(&b, 1);
    CHECK_STR_EQ(b.buf, "x");
    sbuf_commit(&b, 0);
    CHECK_STR_EQ(b.buf, "x");
    CHECK_UINT_EQ(b.len, 1);
    sbuf_release(&b);

    sbuf_commit(&b, 0); /* on a never-allocated buffer */
    CHECK_UINT_EQ(b.len, 0);
    CHECK_STR_EQ(b.buf, "");
}

TEST(sbuf_reserve_past_max_on_fresh_buffer)
{
    struct sbuf b = SBUF_INIT(8);

    CHECK(sbuf_reserve(&b, 9) == NULL);
    CHECK_INT_EQ(b.err, ERR_LIMIT);
    CHECK_STR_EQ(b.buf, "");
    sbuf_release(&b);
}

TEST(sbuf_max_zero_accepts_nothing)
{
    struct sbuf b = SBUF_INIT(0);

    sbuf_put(&b, "", 0);
    CHECK_INT_EQ(b.err, 0);
    sbuf_putc(&b, 'a');
    CHECK_INT_EQ(b.err, ERR_LIMIT);
    CHECK_STR_EQ(b.buf, "");
    sbuf_release(&b);
}

TEST(sbuf_max_size_max_means_unbounded)
{
    struct sbuf b = SBUF_INIT(SIZE_MAX);

    sbuf_puts(&b, "hello");
    for (int i = 0; i < 100; i++)
        sbuf_printf(&b, "%d", i % 10);
    CHECK_INT_EQ(b.err, 0);
    CHECK_UINT_EQ(b.len, 105);
    CHECK(memcmp(b.buf, "hello0123", 9) == 0);
    sbuf_release(&b);
}

TEST(sbuf_large_growth)
{
    struct sbuf b = SBUF_INIT(1 << 20);
    char block[1000];

    memset(block, 'z', sizeof(block));
    for (int i = 0; i < 1048; i++)
        sbuf_put(&b, block, sizeof(block));
    CHECK_INT_EQ(b.err, 0);
    CHECK_UINT_EQ(b.len, 1048000);
    sbuf_put(&b, block, sizeof(block)); /* 1,049,000 > 1,048,576 */
    CHECK_INT_EQ(b.err, ERR_LIMIT);
    CHECK_UINT_EQ(b.len, 1048000);
    sbuf_put(&b, block, 576);
    CHECK_UINT_EQ(b.len, 1048000); /* sticky, even though it would fit */
    CHECK_INT_EQ(b.buf[b.len], '\0');
    CHECK(b.cap <= b.max + 1);
    sbuf_release(&b);
}

TEST(sbuf_slice_views_contents)
{
    struct sbuf b = SBUF_INIT(32);
    struct slice s;

    sbuf_puts(&b, "view");
    s = sbuf_slice(&b);
    CHECK(slice_eq_cstr(s, "view"));
    sbuf_release(&b);
}

static void *reset_fresh_buffers(void *arg)
{
    (void)arg;
    for (int i = 0; i < 10000; i++) {
        struct sbuf b = SBUF_INIT(16);

        sbuf_reset(&b);
        sbuf_commit(&b, 0);
        sbuf_consume(&b, 1);
        CHECK_STR_EQ(b.buf, "");
        sbuf_release(&b);
    }
    return NULL;
}

/* Buffers that were never written share sbuf_empty: resetting them on several threads at once
 * must not write to it (a data race under TSan). */
TEST(sbuf_fresh_buffers_on_many_threads)
{
    pthread_t t[4];

    for (size_t i = 0; i < ARRAY_LEN(t); i++)
        CHECK_INT_EQ(pthread_create(&t[i], NULL, reset_fresh_buffers, NULL), 0);
    for (size_t i = 0; i < ARRAY_LEN(t); i++)
        pthread_join(t[i], NULL);
    CHECK_INT_EQ(sbuf_empty[0], '\0');
}
