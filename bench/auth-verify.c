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

static int bench_verify(double secs)
{
    struct auth_keyring *r = auth_keyring_new();
    struct auth_claims c = {.iss = ISS, .sub = "u-1", .aud = "slipway", .ws = "w-7"}, out;
    struct auth_verify_opts o = {.iss = ISS, .aud = "slipway", .now = NOW, .skew = 30};
    struct sbuf tok = SBUF_INIT(8192);
    struct auth_key *k = NULL;
    struct err err = {0};
    uint64_t n = 0, start, elapsed;

    if (auth_key_generate(&k, &err) != 0 || auth_keyring_add(r, k, &err) != 0 ||
        auth_access_sign(r, &c, NOW, 0, &tok, &err) != 0) {
        fprintf(stderr, "auth-verify: %s\n", err.msg);
        return 1;
    }
    start = time_mono_ns();
    do {
        for (int i = 0; i < 256; i++, n++)
            if (auth_access_verify(r, sbuf_slice(&tok), &o, &out, &err) != 0) {
                fprintf(stderr, "auth-verify: %s\n", err.msg);
                return 1;
            }
        elapsed = time_mono_ns() - start;
    } while ((double)elapsed < secs * 1e9);
    printf("auth-verify: %.0f verifications/s on one core\n", (double)n / ((double)elapsed / 1e9));
    sbuf_release(&tok);
    auth_keyring_free(r);
    return 0;
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
    if (bench_verify(seconds_arg(argc, argv, 1, 2)) != 0)
        return 1;
    return bench_login(seconds_arg(argc, argv, 2, 3));
}
