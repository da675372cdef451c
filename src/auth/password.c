/* Passwords: argon2id PHC strings through libargon2. */
#include <argon2.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdint.h>
#include <string.h>

#include "auth/auth.h"
#include "auth/auth-int.h"

/* Bounds on parameters read back from a stored hash, so a corrupt or hostile row cannot make
 * one login allocate gigabytes or spin for minutes. */
#define PHC_MAX_M_KIB (1u << 20) /* 1 GiB */
#define PHC_MAX_T     16u
#define PHC_MAX_P     16u
#define PHC_MAX_LEN   (AUTH_PHC_MAX * 2)

/* A hash of "slipway dummy password" at today's parameters: auth_password_dummy_verify()
 * checks candidates against it, doing the work a real verification does. */
const char auth_dummy_phc[] = "$argon2id$v=19$m=19456,t=2,p=1$c2xpcHdheS1kdW1teS1zYQ"
                              "$QsOhG4IXJdXS74GY1v9ULmCvrnYrKa4p+8ouqR3iTg4";

struct phc_params {
    uint32_t version, m, t, p;
};

static int check_password(struct slice password, struct err *err)
{
    if (password.len == 0)
        return err_set(err, ERR_INVALID, "password: must not be empty");
    if (password.len > AUTH_PASSWORD_MAX)
        return err_set(err, ERR_INVALID, "password: longer than %d bytes", AUTH_PASSWORD_MAX);
    return 0;
}

int auth_password_hash(struct slice password, char out[AUTH_PHC_MAX], struct err *err)
{
    unsigned char salt[AUTH_ARGON2_SALT];
    int rc = check_password(password, err);

    out[0] = '\0';
    if (rc < 0)
        return rc;
    if (RAND_bytes(salt, sizeof(salt)) != 1)
        return err_set(err, ERR_INTERNAL, "password: no random bytes for the salt");
    rc = argon2id_hash_encoded(AUTH_ARGON2_T, AUTH_ARGON2_M_KIB, AUTH_ARGON2_P, password.ptr,
                               password.len, salt, sizeof(salt), AUTH_ARGON2_HASHLEN, out,
                               AUTH_PHC_MAX);
    if (rc != ARGON2_OK) {
        out[0] = '\0';
        return err_set(err, ERR_INTERNAL, "password: argon2id failed: %s",
                       argon2_error_message(rc));
    }
    return 0;
}

/* Reads the decimal after "<name>=" at *s, advancing *s past it. */
static bool phc_number(struct slice *s, const char *name, uint32_t max, uint32_t *out)
{
    size_t n = strlen(name);
    uint64_t v = 0;
    size_t i = n + 1;

    if (s->len <= n + 1 || memcmp(s->ptr, name, n) != 0 || s->ptr[n] != '=')
        return false;
    while (i < s->len && s->ptr[i] >= '0' && s->ptr[i] <= '9' && v <= max)
        v = v * 10 + (uint64_t)(s->ptr[i++] - '0');
    if (i == n + 1 || v > max || v == 0)
        return false;
    *out = (uint32_t)v;
    s->ptr += i;
    s->len -= i;
    return true;
}

static bool phc_skip(struct slice *s, const char *lit)
{
    size_t n = strlen(lit);

    if (s->len < n || memcmp(s->ptr, lit, n) != 0)
        return false;
    s->ptr += n;
    s->len -= n;
    return true;
}

/* "$argon2id$v=19$m=…,t=…,p=…$" and the rest (salt, hash) left to libargon2. */
static bool phc_parse(const char *phc, struct phc_params *pp)
{
    struct slice s = {phc, strnlen(phc, PHC_MAX_LEN + 1)};

    if (s.len > PHC_MAX_LEN)
        return false;
    return phc_skip(&s, "$argon2id$") && phc_number(&s, "v", 0x13, &pp->version) &&
           pp->version == ARGON2_VERSION_13 && phc_skip(&s, "$") &&
           phc_number(&s, "m", PHC_MAX_M_KIB, &pp->m) && phc_skip(&s, ",") &&
           phc_number(&s, "t", PHC_MAX_T, &pp->t) && phc_skip(&s, ",") &&
           phc_number(&s, "p", PHC_MAX_P, &pp->p) && phc_skip(&s, "$");
}

int auth_password_verify(struct slice password, const char *phc, bool *needs_upgrade,
                         struct err *err)
{
    struct phc_params pp;
    int rc = check_password(password, err);

    if (needs_upgrade != NULL)
        *needs_upgrade = false;
    if (rc < 0)
        return rc;
    if (phc == NULL || !phc_parse(phc, &pp))
        return err_set(err, ERR_INVALID, "hash: not an argon2id PHC string with sane parameters");
    /* argon2id_verify compares the hashes in constant time (argon2_compare). */
    rc = argon2id_verify(phc, password.ptr, password.len);
    if (rc == ARGON2_VERIFY_MISMATCH)
        return err_set(err, ERR_UNAUTHENTICATED, "wrong password");
    if (rc == ARGON2_MEMORY_ALLOCATION_ERROR)
        return err_set(err, ERR_INTERNAL, "password: argon2id failed: %s",
                       argon2_error_message(rc));
    if (rc != ARGON2_OK)
        return err_set(err, ERR_INVALID, "hash: %s", argon2_error_message(rc));
    if (needs_upgrade != NULL)
        *needs_upgrade = pp.m < AUTH_ARGON2_M_KIB || pp.t < AUTH_ARGON2_T || pp.p < AUTH_ARGON2_P;
    return 0;
}

void auth_password_dummy_verify(struct slice password)
{
    static const char fallback[] = "slipway dummy password";

    if (password.len == 0 || password.len > AUTH_PASSWORD_MAX)
        password = SLICE(fallback); /* still do the work: the caller's time must not tell */
    (void)argon2id_verify(auth_dummy_phc, password.ptr, password.len);
}
