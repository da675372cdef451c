/* Borrowed byte views. */
#include <stdio.h>

#include "base/base.h"

struct slice slice_from_cstr(const char *s)
{
    return s ? (struct slice){s, strlen(s)} : SLICE_NULL;
}

bool slice_eq(struct slice a, struct slice b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

bool slice_eq_cstr(struct slice a, const char *b)
{
    return slice_eq(a, slice_from_cstr(b));
}

static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

bool slice_case_eq_cstr(struct slice a, const char *b)
{
    size_t n = strlen(b);

    if (a.len != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (lower(a.ptr[i]) != lower(b[i]))
            return false;
    return true;
}

bool slice_starts_with(struct slice s, struct slice prefix)
{
    return s.len >= prefix.len && (prefix.len == 0 || memcmp(s.ptr, prefix.ptr, prefix.len) == 0);
}

struct slice slice_trim(struct slice s)
{
    while (s.len > 0 && (s.ptr[0] == ' ' || s.ptr[0] == '\t'))
        s.ptr++, s.len--;
    while (s.len > 0 && (s.ptr[s.len - 1] == ' ' || s.ptr[s.len - 1] == '\t'))
        s.len--;
    return s;
}

bool slice_split(struct slice *s, char sep, struct slice *head)
{
    const char *p = s->len ? memchr(s->ptr, sep, s->len) : NULL;

    if (p == NULL) {
        *head = *s;
        *s = (struct slice){s->ptr ? s->ptr + s->len : NULL, 0};
        return false;
    }
    *head = (struct slice){s->ptr, (size_t)(p - s->ptr)};
    s->len -= head->len + 1;
    s->ptr = p + 1;
    return true;
}

int slice_to_u64(struct slice s, uint64_t *out)
{
    uint64_t v = 0;
    int rc = 0;

    if (s.len == 0)
        return ERR_INVALID;
    for (size_t i = 0; i < s.len; i++) {
        unsigned d = (unsigned char)s.ptr[i] - '0';

        if (d > 9)
            return ERR_INVALID; /* even past max: a non-digit makes it invalid, not big */
        if (v > (UINT64_MAX - d) / 10)
            rc = ERR_LIMIT;
        else
            v = v * 10 + d;
    }
    if (rc == 0)
        *out = v;
    return rc;
}

int slice_hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

const char *slice_echo(char *out, size_t max, struct slice v)
{
    size_t n = v.len;

    if (n > max) {
        n = max;
        while (n > 0 && ((unsigned char)v.ptr[n] & 0xC0) == 0x80) /* keep UTF-8 whole */
            n--;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)v.ptr[i];

        out[i] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
    }
    memcpy(out + n, n < v.len ? "..." : "", n < v.len ? 4 : 1);
    return out;
}
