/*
 * libFuzzer harness for the token verifiers and the base64url decoder. Beyond "no crash, no
 * leak" it checks that:
 *   - auth_access_verify()/auth_internal_verify() either accept with the claims they promise
 *     or refuse with ERR_UNAUTHENTICATED, a message, zeroed claims, and never the input echoed;
 *   - auth_b64url_decode() accepts only canonical input: re-encoding gives the same bytes;
 *   - auth_token_looks_like_pat() accepts only AUTH_PAT_LEN inputs starting with the prefix.
 * The keyring is made once from a fixed key (the corpus tokens are signed by it) plus a
 * retired key; time is fixed so the corpus stays valid.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "auth/auth.h"

#define FUZZ_NOW INT64_C(1767225600) /* 2026-01-01T00:00:00Z */
#define FUZZ_ISS "https://slipway.example"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Test key only: signs the seed corpus (fuzz/jwt/corpus). Never used outside this harness. */
static const char fixed_pem[] = "-----BEGIN PRIVATE KEY-----\n"
                                "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg71OC9vX+68MJkaUn\n"
                                "59HBSC8sTq2ivNpkKTSVykRze6uhRANCAATeY+hjIcbOBrov56df+BAUIXiT/rMF\n"
                                "YOVuOTfMZSxFHJtCUFfFwrLn04zYGnRS/yG33dqQgZF0dIoRuwf/KlWd\n"
                                "-----END PRIVATE KEY-----\n";

static struct auth_keyring *ring; /* made once, lives for the process */

static struct auth_keyring *fixed_ring(void)
{
    struct auth_key *k = NULL, *old = NULL;
    struct err err = {0};

    if (ring != NULL)
        return ring;
    ring = auth_keyring_new();
    ASSERT(auth_key_from_pem(SLICE(fixed_pem), &k, &err) == 0);
    ASSERT(auth_keyring_add(ring, k, &err) == 0);
    ASSERT(auth_key_generate(&old, &err) == 0);
    ASSERT(auth_keyring_add(ring, old, &err) == 0);
    ASSERT(auth_keyring_retire(ring, auth_key_kid(old), FUZZ_NOW - 1, &err) == 0);
    return ring;
}

static bool all_zero(const void *p, size_t n)
{
    const unsigned char *b = p;

    for (size_t i = 0; i < n; i++)
        if (b[i] != 0)
            return false;
    return true;
}

static void check_result(int rc, const struct err *err, const struct auth_claims *c,
                         struct slice in)
{
    if (rc == 0) {
        ASSERT(c->sub[0] != '\0' && strcmp(c->iss, FUZZ_ISS) == 0);
        ASSERT(c->exp + 30 >= FUZZ_NOW && c->iat <= FUZZ_NOW + 30);
        return;
    }
    ASSERT(rc == ERR_UNAUTHENTICATED && err->code == rc && err->msg[0] != '\0');
    ASSERT(all_zero(c, sizeof(*c)));
    if (in.len >= 12) /* the token (or a long piece of it) never reaches the message */
        ASSERT(memmem(err->msg, strlen(err->msg), in.ptr, in.len) == NULL);
}

static void fuzz_verify(struct slice in)
{
    struct auth_verify_opts o = {.iss = FUZZ_ISS, .aud = "slipway", .now = FUZZ_NOW, .skew = 30};
    struct auth_claims c;
    struct err err = {0};
    int rc;

    rc = auth_access_verify(fixed_ring(), in, &o, &c, &err);
    check_result(rc, &err, &c, in);
    if (rc == 0)
        ASSERT(strcmp(c.aud, "slipway") == 0);
    err = (struct err){0};
    rc = auth_internal_verify(fixed_ring(), in, FUZZ_ISS, FUZZ_NOW, 30, &c, &err);
    check_result(rc, &err, &c, in);
    if (rc == 0)
        ASSERT(c.ws[0] != '\0' && c.role[0] != '\0' && c.exp - c.iat <= AUTH_INTERNAL_TTL);
}

static void fuzz_b64url(struct slice in)
{
    size_t cap = in.len * 3 / 4, n = 0;
    unsigned char *out = xmalloc(cap + 1);
    struct sbuf back = SBUF_INIT(in.len + 4);
    int rc = auth_b64url_decode(in, out, cap, &n);

    ASSERT(rc == 0 || rc == ERR_INVALID);
    if (rc == 0) {
        ASSERT(n <= cap);
        auth_b64url_encode(out, n, &back);
        ASSERT(back.err == 0 && back.len == in.len && memcmp(back.buf, in.ptr, in.len) == 0);
    }
    if (rc == 0 && n > 0) /* one byte short of room: refused, not overrun */
        ASSERT(auth_b64url_decode(in, out, n - 1, &n) == ERR_LIMIT);
    sbuf_release(&back);
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct slice in = {(const char *)data, size};

    fuzz_verify(in);
    fuzz_b64url(in);
    if (auth_token_looks_like_pat(in))
        ASSERT(size == AUTH_PAT_LEN && memcmp(data, AUTH_PAT_PREFIX, 4) == 0);
    return 0;
}
