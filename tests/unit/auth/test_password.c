/* Tests for src/auth/password.c: argon2id PHC strings, bounds, upgrade hint, dummy verify. */
#include <argon2.h>
#include <stdio.h>
#include <stdlib.h>

#include "../test.h"
#include "base/base.h"
#include "auth/auth.h"
#include "auth/auth-int.h"

TEST(password_round_trip)
{
    char phc[AUTH_PHC_MAX];
    bool upgrade = true;
    struct err err = {0};

    CHECK_INT_EQ(auth_password_hash(SLICE("correct horse battery staple"), phc, &err), 0);
    CHECK_INT_EQ(auth_password_verify(SLICE("correct horse battery staple"), phc, &upgrade, &err),
                 0);
    CHECK(!upgrade);
}

TEST(wrong_password_is_unauthenticated)
{
    char phc[AUTH_PHC_MAX];
    struct err err = {0};

    CHECK_INT_EQ(auth_password_hash(SLICE("hunter2"), phc, &err), 0);
    CHECK_INT_EQ(auth_password_verify(SLICE("hunter3"), phc, NULL, &err), ERR_UNAUTHENTICATED);
    CHECK_STR_EQ(err.msg, "wrong password");
    CHECK_INT_EQ(auth_password_verify(SLICE("hunter"), phc, NULL, &err), ERR_UNAUTHENTICATED);
}

TEST(phc_string_has_current_parameters_and_fresh_salt)
{
    char a[AUTH_PHC_MAX], b[AUTH_PHC_MAX];
    unsigned m = 0, t = 0, p = 0;
    struct err err = {0};

    CHECK_INT_EQ(auth_password_hash(SLICE("same"), a, &err), 0);
    CHECK_INT_EQ(auth_password_hash(SLICE("same"), b, &err), 0);
    CHECK(strncmp(a, "$argon2id$v=19$", 15) == 0);
    CHECK_INT_EQ(sscanf(a, "$argon2id$v=19$m=%u,t=%u,p=%u$", &m, &t, &p), 3);
    CHECK(m >= 19456 && t >= 2 && p >= 1);
    CHECK(strcmp(a, b) != 0); /* random salt */
    /* salt: 16 bytes = 22 base64 chars; hash: 32 bytes = 43 */
    CHECK_UINT_EQ(strlen(strrchr(a, '$') + 1), 43);
}

TEST(password_bounds_name_the_field)
{
    char phc[AUTH_PHC_MAX], *big = xmalloc(AUTH_PASSWORD_MAX + 1);
    struct err err = {0};

    memset(big, 'a', AUTH_PASSWORD_MAX + 1);
    CHECK_INT_EQ(auth_password_hash(SLICE(""), phc, &err), ERR_INVALID);
    CHECK(strncmp(err.msg, "password:", 9) == 0);
    CHECK_INT_EQ(auth_password_hash((struct slice){big, AUTH_PASSWORD_MAX + 1}, phc, &err),
                 ERR_INVALID);
    CHECK(strncmp(err.msg, "password:", 9) == 0);
    CHECK_INT_EQ(auth_password_verify((struct slice){big, AUTH_PASSWORD_MAX + 1}, auth_dummy_phc,
                                      NULL, &err),
                 ERR_INVALID);
    CHECK_INT_EQ(auth_password_verify(SLICE(""), auth_dummy_phc, NULL, &err), ERR_INVALID);
    /* exactly 1 KiB is fine */
    CHECK_INT_EQ(auth_password_hash((struct slice){big, AUTH_PASSWORD_MAX}, phc, &err), 0);
    CHECK_INT_EQ(auth_password_verify((struct slice){big, AUTH_PASSWORD_MAX}, phc, NULL, &err), 0);
    free(big);
}

TEST(weaker_hash_verifies_and_asks_for_upgrade)
{
    char phc[AUTH_PHC_MAX];
    bool upgrade = false;
    struct err err = {0};

    CHECK_INT_EQ(
        argon2id_hash_encoded(1, 8192, 1, "pw", 2, "0123456789abcdef", 16, 32, phc, sizeof(phc)),
        ARGON2_OK);
    CHECK_INT_EQ(auth_password_verify(SLICE("pw"), phc, &upgrade, &err), 0);
    CHECK(upgrade);
    upgrade = true;
    CHECK_INT_EQ(auth_password_verify(SLICE("px"), phc, &upgrade, &err), ERR_UNAUTHENTICATED);
    CHECK(!upgrade); /* no hint on a mismatch */
}

TEST(malformed_or_hostile_hashes_are_invalid)
{
    static const char *const bad[] = {
        "",
        "plaintext",
        "$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaA",
        "$argon2id$v=16$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaA",
        "$argon2id$v=19$m=4194304,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaA", /* 4 GiB */
        "$argon2id$v=19$m=19456,t=1000,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaA",
        "$argon2id$v=19$m=19456,t=2,p=1$!!!$aGFzaA",
        "$argon2id$v=19$m=19456,t=2,p=1",
    };
    struct err err = {0};

    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        CHECK_INT_EQ(auth_password_verify(SLICE("pw"), bad[i], NULL, &err), ERR_INVALID);
        CHECK(strncmp(err.msg, "hash:", 5) == 0);
    }
    CHECK_INT_EQ(auth_password_verify(SLICE("pw"), NULL, NULL, &err), ERR_INVALID);
}

TEST(dummy_verify_costs_a_real_verification)
{
    unsigned m = 0, t = 0, p = 0;
    struct err err = {0};
    bool upgrade = true;

    /* Same cost means same parameters as today's hashes... */
    CHECK_INT_EQ(sscanf(auth_dummy_phc, "$argon2id$v=19$m=%u,t=%u,p=%u$", &m, &t, &p), 3);
    CHECK_UINT_EQ(m, AUTH_ARGON2_M_KIB);
    CHECK_UINT_EQ(t, AUTH_ARGON2_T);
    CHECK_UINT_EQ(p, AUTH_ARGON2_P);
    /* ...and a hash argon2 accepts, so the work is really done (not an early parse error). */
    CHECK_INT_EQ(
        auth_password_verify(SLICE("slipway dummy password"), auth_dummy_phc, &upgrade, &err), 0);
    CHECK(!upgrade);
    auth_password_dummy_verify(SLICE("anything"));
    auth_password_dummy_verify(SLICE(""));
}
