/* Tests for src/auth/vcache.c: a hit answers like a full verification, and every reason a
 * full verification would refuse a token also ends a cached answer. */
#include <stdio.h>
#include <stdlib.h>

#include "../test.h"
#include "base/base.h"
#include "auth/auth.h"

#define NOW  INT64_C(1767225600)
#define ISS  "https://slipway.example"
#define AUD  "slipway"
#define SKEW 30

static struct auth_keyring *ring_with_key(const char **kid)
{
    struct auth_keyring *r = auth_keyring_new();
    struct auth_key *k = NULL;
    struct err err = {0};

    CHECK_INT_EQ(auth_key_generate(&k, &err), 0);
    if (kid)
        *kid = auth_key_kid(k);
    CHECK_INT_EQ(auth_keyring_add(r, k, &err), 0);
    return r;
}

static void sign(struct auth_keyring *r, struct sbuf *out)
{
    struct auth_claims c = {.iss = ISS, .sub = "u-1", .aud = AUD, .ws = "w-7", .sid = "s-3"};
    struct err err = {0};

    CHECK_INT_EQ(auth_access_sign(r, &c, NOW, 0, out, &err), 0);
}

static int verify_at(struct auth_vcache *c, struct auth_keyring *r, const char *tok, int64_t now,
                     const char *aud, struct auth_claims *out)
{
    struct auth_verify_opts o = {.iss = ISS, .aud = aud, .now = now, .skew = SKEW};
    struct err err = {0};

    return auth_access_verify_cached(c, r, slice_from_cstr(tok), &o, out, &err);
}

/* The number in "u-<n>". */
static int atoi_sub(const char *sub)
{
    uint64_t v = 0;

    CHECK(strncmp(sub, "u-", 2) == 0 && slice_to_u64(slice_from_cstr(sub + 2), &v) == 0);
    return (int)v;
}

static uint64_t hits(const struct auth_vcache *c)
{
    uint64_t h, m;

    auth_vcache_stats(c, &h, &m);
    return h;
}

TEST(vcache_second_verification_is_a_hit_with_the_same_claims)
{
    struct auth_keyring *r = ring_with_key(NULL);
    struct auth_vcache *c = auth_vcache_new(64);
    struct sbuf tok = SBUF_INIT(8192);
    struct auth_claims a, b;

    sign(r, &tok);
    CHECK_INT_EQ(verify_at(c, r, tok.buf, NOW, AUD, &a), 0);
    CHECK_UINT_EQ(hits(c), 0);
    CHECK_INT_EQ(verify_at(c, r, tok.buf, NOW + 10, AUD, &b), 0);
    CHECK_UINT_EQ(hits(c), 1);
    CHECK(memcmp(&a, &b, sizeof(a)) == 0);
    CHECK_STR_EQ(b.sub, "u-1");
    sbuf_release(&tok);
    auth_vcache_free(c);
    auth_keyring_free(r);
}

TEST(vcache_expired_token_is_refused_even_after_a_hit)
{
    struct auth_keyring *r = ring_with_key(NULL);
    struct auth_vcache *c = auth_vcache_new(64);
    struct sbuf tok = SBUF_INIT(8192);
    struct auth_claims a;

    sign(r, &tok);
    CHECK_INT_EQ(verify_at(c, r, tok.buf, NOW, AUD, &a), 0);
    CHECK_INT_EQ(verify_at(c, r, tok.buf, NOW + AUTH_ACCESS_TTL + SKEW + 1, AUD, &a),
                 ERR_UNAUTHENTICATED);
    sbuf_release(&tok);
    auth_vcache_free(c);
    auth_keyring_free(r);
}

TEST(vcache_wrong_audience_is_not_answered_from_the_cache)
{
    struct auth_keyring *r = ring_with_key(NULL);
    struct auth_vcache *c = auth_vcache_new(64);
    struct sbuf tok = SBUF_INIT(8192);
    struct auth_claims a;

    sign(r, &tok);
    CHECK_INT_EQ(verify_at(c, r, tok.buf, NOW, AUD, &a), 0);
    CHECK_INT_EQ(verify_at(c, r, tok.buf, NOW, "other", &a), ERR_UNAUTHENTICATED);
    sbuf_release(&tok);
    auth_vcache_free(c);
    auth_keyring_free(r);
}

TEST(vcache_retired_key_ends_cached_answers_at_its_time)
{
    const char *old_kid;
    struct auth_keyring *r = ring_with_key(&old_kid);
    struct auth_vcache *c = auth_vcache_new(64);
    struct sbuf tok = SBUF_INIT(8192);
    struct auth_key *k2 = NULL;
    struct auth_claims a;
    struct err err = {0};
    char kid[AUTH_KID_LEN + 1];

    sign(r, &tok);
    snprintf(kid, sizeof(kid), "%s", old_kid);
    CHECK_INT_EQ(verify_at(c, r, tok.buf, NOW, AUD, &a), 0);
    CHECK_INT_EQ(auth_key_generate(&k2, &err), 0);
    CHECK_INT_EQ(auth_keyring_add(r, k2, &err), 0);
    CHECK_INT_EQ(auth_keyring_set_current(r, auth_key_kid(k2), &err), 0);
    CHECK_INT_EQ(auth_keyring_retire(r, kid, NOW + 60, &err), 0);
    CHECK_INT_EQ(verify_at(c, r, tok.buf, NOW + 1, AUD, &a), 0); /* ring changed: full check */
    CHECK_UINT_EQ(hits(c), 0);
    CHECK_INT_EQ(verify_at(c, r, tok.buf, NOW + 2, AUD, &a), 0); /* cached again */
    CHECK_UINT_EQ(hits(c), 1);
    CHECK_INT_EQ(verify_at(c, r, tok.buf, NOW + 61, AUD, &a), ERR_UNAUTHENTICATED);
    sbuf_release(&tok);
    auth_vcache_free(c);
    auth_keyring_free(r);
}

TEST(vcache_never_caches_a_refusal)
{
    struct auth_keyring *r = ring_with_key(NULL);
    struct auth_vcache *c = auth_vcache_new(64);
    struct sbuf tok = SBUF_INIT(8192);
    struct auth_claims a;

    sign(r, &tok);
    tok.buf[tok.len - 3] ^= 1; /* a different signature */
    CHECK_INT_EQ(verify_at(c, r, tok.buf, NOW, AUD, &a), ERR_UNAUTHENTICATED);
    CHECK_INT_EQ(verify_at(c, r, tok.buf, NOW, AUD, &a), ERR_UNAUTHENTICATED);
    CHECK_UINT_EQ(hits(c), 0);
    sbuf_release(&tok);
    auth_vcache_free(c);
    auth_keyring_free(r);
}

TEST(vcache_many_tokens_are_all_kept_when_they_fit)
{
    struct auth_keyring *r = ring_with_key(NULL);
    struct auth_vcache *c = auth_vcache_new(1024);
    static struct sbuf toks[200];
    struct auth_claims a;
    struct err err = {0};

    for (int i = 0; i < 200; i++) {
        struct auth_claims cl = {.iss = ISS, .aud = AUD};

        snprintf(cl.sub, sizeof(cl.sub), "u-%d", i);
        toks[i] = SBUF_INIT(8192);
        CHECK_INT_EQ(auth_access_sign(r, &cl, NOW, 0, &toks[i], &err), 0);
        CHECK_INT_EQ(verify_at(c, r, toks[i].buf, NOW, AUD, &a), 0);
    }
    for (int i = 0; i < 200; i++) {
        CHECK_INT_EQ(verify_at(c, r, toks[i].buf, NOW, AUD, &a), 0);
        CHECK_INT_EQ(atoi_sub(a.sub), i);
    }
    /* 200 tokens in 256 sets of 4: a set overflowing is very unlikely, so nearly all hit */
    CHECK(hits(c) >= 195);
    for (int i = 0; i < 200; i++)
        sbuf_release(&toks[i]);
    auth_vcache_free(c);
    auth_keyring_free(r);
}
