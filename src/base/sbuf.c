/* Bounded, owned buffers with sticky errors. */
#include <stdio.h>
#include <stdlib.h>

#include "base/base.h"

char sbuf_empty[1];

void sbuf_init(struct sbuf *b, size_t max)
{
    *b = SBUF_INIT(max);
}

void sbuf_release(struct sbuf *b)
{
    if (b->cap)
        free(b->buf);
    *b = SBUF_INIT(b->max);
}

void sbuf_reset(struct sbuf *b)
{
    b->len = 0;
    b->err = 0;
    if (b->cap) /* sbuf_empty is shared by every thread: never write to it */
        b->buf[0] = '\0';
}

/* Grows so that <n> more bytes and the NUL fit. */
static bool grow(struct sbuf *b, size_t n)
{
    size_t max = b->max < SIZE_MAX ? b->max : SIZE_MAX - 1; /* max + 1 must not wrap */
    size_t want, cap;

    if (b->err)
        return false;
    if (n > max - b->len) {
        b->err = ERR_LIMIT;
        return false;
    }
    want = b->len + n + 1;
    if (want <= b->cap)
        return true;
    cap = b->cap ? b->cap : 64;
    while (cap < want)
        cap = cap * 2 < cap ? want : cap * 2;
    if (cap > max + 1)
        cap = max + 1;
    b->buf = b->cap ? xrealloc(b->buf, cap) : memcpy(xmalloc(cap), "", 1);
    b->cap = cap;
    return true;
}

char *sbuf_reserve(struct sbuf *b, size_t n)
{
    return grow(b, n) ? b->buf + b->len : NULL;
}

void sbuf_commit(struct sbuf *b, size_t n)
{
    ASSERT(b->cap > 0 ? b->len + n < b->cap : n == 0);
    b->len += n;
    if (b->cap)
        b->buf[b->len] = '\0';
}

void sbuf_put(struct sbuf *b, const void *p, size_t n)
{
    /* room already (and no error, and under max): the common case skips grow() */
    if (n == 0)
        return;
    if ((n >= b->cap - b->len || b->err != 0 || n > b->max - b->len) && !grow(b, n))
        return;
    memcpy(b->buf + b->len, p, n);
    b->len += n;
    b->buf[b->len] = '\0';
}

void sbuf_puts(struct sbuf *b, const char *s)
{
    sbuf_put(b, s, strlen(s));
}

void sbuf_putc(struct sbuf *b, char c)
{
    sbuf_put(b, &c, 1);
}

void sbuf_put_slice(struct sbuf *b, struct slice s)
{
    sbuf_put(b, s.ptr, s.len);
}

void sbuf_vprintf(struct sbuf *b, const char *fmt, va_list ap)
{
    va_list copy;
    int n;

    if (b->err)
        return;
    va_copy(copy, ap);
    n = vsnprintf(b->cap ? b->buf + b->len : NULL, b->cap ? b->cap - b->len : 0, fmt, copy);
    va_end(copy);
    if (n < 0) {
        b->err = ERR_INVALID;
        return;
    }
    if (b->cap && (size_t)n < b->cap - b->len) {
        b->len += (size_t)n;
        return;
    }
    if (!grow(b, (size_t)n)) {
        if (b->cap)
            b->buf[b->len] = '\0'; /* undo the partial write */
        return;
    }
    vsnprintf(b->buf + b->len, b->cap - b->len, fmt, ap);
    b->len += (size_t)n;
}

void sbuf_put_u64(struct sbuf *b, uint64_t v)
{
    char buf[20], *p = buf + sizeof(buf);

    do
        *--p = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    sbuf_put(b, p, (size_t)(buf + sizeof(buf) - p));
}

void sbuf_put_i64(struct sbuf *b, int64_t v)
{
    if (v < 0) {
        sbuf_putc(b, '-');
        sbuf_put_u64(b, 0 - (uint64_t)v);
        return;
    }
    sbuf_put_u64(b, (uint64_t)v);
}

void sbuf_printf(struct sbuf *b, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    sbuf_vprintf(b, fmt, ap);
    va_end(ap);
}

void sbuf_consume(struct sbuf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
    } else {
        memmove(b->buf, b->buf + n, b->len - n);
        b->len -= n;
    }
    if (b->cap)
        b->buf[b->len] = '\0';
}

char *sbuf_take(struct sbuf *b, size_t *len)
{
    char *p = b->cap ? b->buf : xstrdup("");

    if (len)
        *len = b->len;
    *b = SBUF_INIT(b->max);
    return p;
}
