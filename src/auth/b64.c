/* base64url (RFC 4648 §5, strict, no padding), base62 and CRC-32 for the opaque tokens. */
#include <stdint.h>
#include <string.h>

#include "auth/auth.h"
#include "auth/auth-int.h"

static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void auth_b64url_encode(const void *data, size_t len, struct sbuf *out)
{
    const unsigned char *p = data;
    size_t full = len / 3 * 3;
    char *dst = sbuf_reserve(out, full / 3 * 4 + (len > full ? len - full + 1 : 0));
    size_t n = 0;

    if (dst == NULL)
        return;
    for (size_t i = 0; i < full; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];

        dst[n++] = b64url_alphabet[v >> 18];
        dst[n++] = b64url_alphabet[(v >> 12) & 63];
        dst[n++] = b64url_alphabet[(v >> 6) & 63];
        dst[n++] = b64url_alphabet[v & 63];
    }
    if (len - full == 1) {
        dst[n++] = b64url_alphabet[p[full] >> 2];
        dst[n++] = b64url_alphabet[(p[full] & 3) << 4];
    } else if (len - full == 2) {
        uint32_t v = (uint32_t)p[full] << 8 | p[full + 1];

        dst[n++] = b64url_alphabet[v >> 10];
        dst[n++] = b64url_alphabet[(v >> 4) & 63];
        dst[n++] = b64url_alphabet[(v & 15) << 2];
    }
    sbuf_commit(out, n);
}

/* The 6-bit value of base64url digit <c>, or -1. */
static int b64url_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

int auth_b64url_decode(struct slice in, unsigned char *out, size_t cap, size_t *out_len)
{
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t n = 0;

    *out_len = 0;
    if (in.len % 4 == 1)
        return ERR_INVALID; /* 6 bits cannot end a byte */
    if ((in.len / 4) * 3 + (in.len % 4 ? in.len % 4 - 1 : 0) > cap)
        return ERR_LIMIT;
    for (size_t i = 0; i < in.len; i++) {
        int v = b64url_value((unsigned char)in.ptr[i]);

        if (v < 0)
            return ERR_INVALID;
        acc = (acc << 6 | (uint32_t)v) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (unsigned char)(acc >> bits);
        }
    }
    if ((acc & ((1u << bits) - 1)) != 0)
        return ERR_INVALID; /* non-canonical: the leftover bits must be zero */
    *out_len = n;
    return 0;
}

uint32_t auth_crc32(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint32_t crc = 0xffffffffu;

    for (size_t i = 0; i < len; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1)));
    }
    return ~crc;
}

void auth_base62(uint64_t v, char *out, size_t n)
{
    static const char digits[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

    out[n] = '\0';
    while (n > 0) {
        out[--n] = digits[v % 62];
        v /= 62;
    }
}
