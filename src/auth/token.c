/* Opaque tokens: refresh tokens and personal access tokens, kept only as SHA-256 hashes. */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <string.h>

#include "auth/auth.h"
#include "auth/auth-int.h"

#define PREFIX_LEN (sizeof(AUTH_PAT_PREFIX) - 1)

/* 32 random bytes as base64url into <out> (AUTH_REFRESH_LEN chars and a NUL). */
static int random_body(char *out, struct err *err)
{
    unsigned char raw[AUTH_OPAQUE_BYTES];
    struct sbuf b = SBUF_INIT(AUTH_REFRESH_LEN);
    int rc = 0;

    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return err_set(err, ERR_INTERNAL, "token: no random bytes");
    auth_b64url_encode(raw, sizeof(raw), &b);
    if (b.err != 0 || b.len != AUTH_REFRESH_LEN)
        rc = err_set(err, ERR_INTERNAL, "token: encoding failed");
    else
        memcpy(out, b.buf, AUTH_REFRESH_LEN + 1);
    sbuf_release(&b);
    OPENSSL_cleanse(raw, sizeof(raw));
    return rc;
}

int auth_refresh_token_new(char out[AUTH_TOKEN_BUF], struct err *err)
{
    out[0] = '\0';
    return random_body(out, err);
}

int auth_pat_new(char out[AUTH_TOKEN_BUF], struct err *err)
{
    char *body = out + PREFIX_LEN;
    int rc;

    out[0] = '\0';
    rc = random_body(body, err);
    if (rc < 0)
        return rc;
    memcpy(out, AUTH_PAT_PREFIX, PREFIX_LEN);
    auth_base62(auth_crc32(body, AUTH_REFRESH_LEN), body + AUTH_REFRESH_LEN, AUTH_PAT_CHECK_LEN);
    return 0;
}

bool auth_token_looks_like_pat(struct slice s)
{
    unsigned char raw[AUTH_OPAQUE_BYTES];
    char check[AUTH_PAT_CHECK_LEN + 1];
    struct slice body;
    size_t len = 0;

    if (s.len != AUTH_PAT_LEN || memcmp(s.ptr, AUTH_PAT_PREFIX, PREFIX_LEN) != 0)
        return false;
    body = (struct slice){s.ptr + PREFIX_LEN, AUTH_REFRESH_LEN};
    if (auth_b64url_decode(body, raw, sizeof(raw), &len) != 0 || len != sizeof(raw))
        return false;
    auth_base62(auth_crc32(body.ptr, body.len), check, AUTH_PAT_CHECK_LEN);
    return memcmp(check, body.ptr + AUTH_REFRESH_LEN, AUTH_PAT_CHECK_LEN) == 0;
}

void auth_token_hash(struct slice token, char out[AUTH_HASH_HEX + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned len = 0;

    ASSERT(EVP_Digest(token.ptr, token.len, md, &len, auth_sha256(), NULL) == 1 &&
           len * 2 == AUTH_HASH_HEX);
    for (unsigned i = 0; i < len; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[AUTH_HASH_HEX] = '\0';
}

bool auth_token_hash_eq(const char *a, const char *b)
{
    if (strnlen(a, AUTH_HASH_HEX + 1) != AUTH_HASH_HEX ||
        strnlen(b, AUTH_HASH_HEX + 1) != AUTH_HASH_HEX)
        return false;
    return CRYPTO_memcmp(a, b, AUTH_HASH_HEX) == 0;
}
