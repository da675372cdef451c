/* Tests for src/auth/token.c and b64.c: opaque tokens, PAT checksums, hashes, base64url. */
#include <stdio.h>
#include <stdlib.h>

#include "../test.h"
#include "base/base.h"
#include "auth/auth.h"
#include "auth/auth-int.h"

TEST(refresh_tokens_are_43_base64url_chars_and_differ)
{
    char a[AUTH_TOKEN_BUF], b[AUTH_TOKEN_BUF];
    unsigned char raw[64];
    size_t n = 0;
    struct err err = {0};

    CHECK_INT_EQ(auth_refresh_token_new(a, &err), 0);
    CHECK_INT_EQ(auth_refresh_token_new(b, &err), 0);
    CHECK_UINT_EQ(strlen(a), AUTH_REFRESH_LEN);
    CHECK(strcmp(a, b) != 0);
    CHECK_INT_EQ(auth_b64url_decode(slice_from_cstr(a), raw, sizeof(raw), &n), 0);
    CHECK_UINT_EQ(n, 32);
    CHECK(!auth_token_looks_like_pat(slice_from_cstr(a)));
}

TEST(pat_has_prefix_and_checksum)
{
    char pat[AUTH_TOKEN_BUF];
    struct err err = {0};

    for (int i = 0; i < 50; i++) {
        CHECK_INT_EQ(auth_pat_new(pat, &err), 0);
        CHECK_UINT_EQ(strlen(pat), AUTH_PAT_LEN);
        CHECK(strncmp(pat, "slp_", 4) == 0);
        CHECK(auth_token_looks_like_pat(slice_from_cstr(pat)));
    }
}

TEST(pat_detection_refuses_near_misses)
{
    char pat[AUTH_TOKEN_BUF], bad[AUTH_TOKEN_BUF];
    struct err err = {0};
    size_t len;

    CHECK_INT_EQ(auth_pat_new(pat, &err), 0);
    len = strlen(pat);
    for (size_t i = 0; i < len; i++) { /* any single changed character is caught */
        memcpy(bad, pat, len + 1);
        bad[i] = bad[i] == 'x' ? 'y' : 'x';
        CHECK(!auth_token_looks_like_pat(slice_from_cstr(bad)));
    }
    memcpy(bad, pat, len + 1);
    memcpy(bad, "ghp_", 4);
    CHECK(!auth_token_looks_like_pat(slice_from_cstr(bad)));
    CHECK(!auth_token_looks_like_pat((struct slice){pat, len - 1}));
    CHECK(!auth_token_looks_like_pat(SLICE("slp_")));
    CHECK(!auth_token_looks_like_pat(SLICE_NULL));
}

TEST(crc32_and_base62_known_values)
{
    char out[8];

    CHECK_UINT_EQ(auth_crc32("123456789", 9), 0xcbf43926u);
    CHECK_UINT_EQ(auth_crc32("", 0), 0);
    auth_base62(0, out, 6);
    CHECK_STR_EQ(out, "000000");
    auth_base62(61, out, 6);
    CHECK_STR_EQ(out, "00000z");
    auth_base62(0xffffffffu, out, 6);
    CHECK_STR_EQ(out, "4gfFC3"); /* 4294967295 = 4*62^5 + 42*62^4 + 15*62^3 + 41*62^2 + 12*62 + 3 */
}

TEST(token_hash_is_64_hex_and_stable)
{
    char h1[AUTH_HASH_HEX + 1], h2[AUTH_HASH_HEX + 1], h3[AUTH_HASH_HEX + 1];

    auth_token_hash(SLICE("abc"), h1);
    CHECK_STR_EQ(h1, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    auth_token_hash(SLICE(""), h2);
    CHECK_UINT_EQ(strlen(h2), AUTH_HASH_HEX);
    auth_token_hash(SLICE("slp_a much longer token than the others, to show the length is fixed"),
                    h3);
    CHECK_UINT_EQ(strlen(h3), AUTH_HASH_HEX);
    CHECK(auth_token_hash_eq(h1, h1));
    CHECK(!auth_token_hash_eq(h1, h2));
    CHECK(!auth_token_hash_eq(h1, "ba7816bf"));
    h3[0] = '\0';
    CHECK(!auth_token_hash_eq(h3, h3));
}

TEST(b64url_round_trip_all_lengths)
{
    unsigned char in[40], out[40];

    for (size_t len = 0; len <= sizeof(in); len++) {
        struct sbuf b = SBUF_INIT(128);
        size_t n = 99;

        for (size_t i = 0; i < len; i++)
            in[i] = (unsigned char)(i * 97 + len);
        auth_b64url_encode(in, len, &b);
        CHECK_INT_EQ(b.err, 0);
        CHECK(strchr(b.buf, '=') == NULL && strchr(b.buf, '+') == NULL);
        CHECK_INT_EQ(auth_b64url_decode(sbuf_slice(&b), out, len, &n), 0);
        CHECK_MEM_EQ(out, n, in, len);
        if (len > 0)
            CHECK_INT_EQ(auth_b64url_decode(sbuf_slice(&b), out, len - 1, &n), ERR_LIMIT);
        sbuf_release(&b);
    }
}

TEST(b64url_decode_is_strict)
{
    static const char *const bad[] = {"QQ==", "QQ=", "Q",    "QUJD\n", " QUJD", "QU JD",
                                      "QR",   "QUJ", "QU+D", "QU/D",   "QUJ\0"};
    unsigned char out[16];
    size_t n = 0;

    CHECK_INT_EQ(auth_b64url_decode(SLICE("QQ"), out, sizeof(out), &n), 0);
    CHECK_MEM_EQ(out, n, "A", 1);
    CHECK_INT_EQ(auth_b64url_decode(SLICE("QUJ"), out, sizeof(out), &n), ERR_INVALID); /* bits */
    CHECK_INT_EQ(auth_b64url_decode(SLICE("QUE"), out, sizeof(out), &n), 0);
    CHECK_INT_EQ(auth_b64url_decode(SLICE("-w"), out, sizeof(out), &n), 0);
    CHECK_INT_EQ(out[0], 0xfb);
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        struct slice s = {bad[i], strlen(bad[i])};

        if (i == ARRAY_LEN(bad) - 1)
            s.len = 4; /* with the NUL */
        CHECK_INT_EQ(auth_b64url_decode(s, out, sizeof(out), &n), ERR_INVALID);
    }
}
