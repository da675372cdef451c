/*
 * auth-verify: how fast one core verifies ES256 access tokens and runs argon2id logins.
 *
 *   make MODE=release B=build/release MODULES="base auth" build/release/libslipway.a
 *   cc -std=c17 -D_GNU_SOURCE -O2 -Iinclude -Isrc bench/auth-verify.c build/release/libslipway.a \
 *      -ljansson -lcrypto -largon2 -lpthread -lm -o build/release/auth-verify
 *   build/release/auth-verify [verify_seconds [login_seconds]]     (defaults 2 and 3)
 *
 * Prints "auth-verify: N verifications/s on one core" (one token signed once, verified in a
 * loop: base64url, JSON, key lookup under the read lock, ECDSA P-256, claims) and
 * "auth-verify: M logins/s (argon2id m=19456 KiB, t=2, p=1)" (auth_password_hash followed by
 * auth_password_verify, as at sign-up; a login is one verify, so M is a lower bound).
 */
#include <stdio.h>
#include <stdlib.h>

#include "base/base.h"
#include "auth/auth.h"

#define NOW INT64_C(1767225600)
#define ISS "https://slipway.example"

static double seconds_arg(int argc, char **argv, int i, double def)
{
    uint64_t v = 0;

    if (argc <= i || slice_to_u64(slice_from_cstr(argv[i]), &v) != 0 || v == 0 || v > 600)
        return def;
    return (double)v;
}

#define NTOKENS 1000 /* distinct tokens the loop cycles through, as from many clients */

/* Signs NTOKENS tokens (one per user) into <toks>. */
static int sign_tokens(struct auth_keyring *r, struct sbuf *toks, struct err *err)
{
    struct auth_key *k = NULL;

    if (auth_key_generate(&k, err) != 0 || auth_keyring_add(r, k, err) != 0)
        return -1;
    for (int i = 0; i < NTOKENS; i++) {
        struct auth_claims c = {.iss = ISS, .aud = "slipway", .ws = "w-7"};

        snprintf(c.sub, sizeof(c.sub), "u-%d", i);
        toks[i] = SBUF_INIT(8192);
        if (auth_access_sign(r, &c, NOW, 0, &toks[i], err) != 0)
            return -1;
    }
    return 0;
}

/* Verifies the tokens round-robin for <secs>; through <cache> when it is not NULL. */
static int bench_verify(double secs, bool cached)
{
    static struct sbuf toks[NTOKENS];
    struct auth_keyring *r = auth_keyring_new();
    struct auth_vcache *cache = cached ? auth_vcache_new(4 * NTOKENS) : NULL;
    struct auth_verify_opts o = {.iss = ISS, .aud = "slipway", .now = NOW, .skew = 30};
    struct auth_claims out;
    struct err err = {0};
    uint64_t n = 0, start, elapsed;
    int rc = 0;

    if (sign_tokens(r, toks, &err) != 0) {
        fprintf(stderr, "auth-verify: %s\n", err.msg);
        return 1;
    }
    start = time_mono_ns();
    do {
        for (int i = 0; i < 256 && rc == 0; i++, n++) {
            struct slice t = sbuf_slice(&toks[n % NTOKENS]);

            rc = cached ? auth_access_verify_cached(cache, r, t, &o, &out, &err)
                        : auth_access_verify(r, t, &o, &out, &err);
        }
        elapsed = time_mono_ns() - start;
    } while (rc == 0 && (double)elapsed < secs * 1e9);
    if (rc != 0)
        fprintf(stderr, "auth-verify: %s\n", err.msg);
    else if (cached)
        printf("auth-verify: %.0f verifications/s on one core with the per-thread cache "
               "(%d tokens cycled, each signature checked once)\n",
               (double)n / ((double)elapsed / 1e9), NTOKENS);
    else
        printf("auth-verify: %.0f full verifications/s on one core (signature every time)\n",
               (double)n / ((double)elapsed / 1e9));
    for (int i = 0; i < NTOKENS; i++)
        sbuf_release(&toks[i]);
    auth_vcache_free(cache);
    auth_keyring_free(r);
    return rc != 0;
}

static int bench_login(double secs)
{
    uint64_t n = 0, start = time_mono_ns(), elapsed;
    char phc[AUTH_PHC_MAX];
    struct err err = {0};

    do {
        if (auth_password_hash(SLICE("correct horse battery staple"), phc, &err) != 0 ||
            auth_password_verify(SLICE("correct horse battery staple"), phc, NULL, &err) != 0) {
            fprintf(stderr, "auth-verify: %s\n", err.msg);
            return 1;
        }
        n++;
        elapsed = time_mono_ns() - start;
    } while ((double)elapsed < secs * 1e9);
    printf("auth-verify: %.1f logins/s (argon2id m=%d KiB, t=%d, p=%d)\n",
           (double)n / ((double)elapsed / 1e9), AUTH_ARGON2_M_KIB, AUTH_ARGON2_T, AUTH_ARGON2_P);
    return 0;
}

int main(int argc, char **argv)
{
    if (bench_verify(seconds_arg(argc, argv, 1, 2), false) != 0 ||
        bench_verify(seconds_arg(argc, argv, 1, 2), true) != 0)
        return 1;
    return bench_login(seconds_arg(argc, argv, 2, 3));
}
