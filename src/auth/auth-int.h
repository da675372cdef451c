/* Private to src/auth and its tests. */
#ifndef SLIPWAY_AUTH_INT_H
#define SLIPWAY_AUTH_INT_H

/* No system headers here: base.h (through auth.h) must come after them, so OpenSSL types
 * are named by their struct tags. */
#include "auth/auth.h"

#define AUTH_ES256_SIG_LEN 64 /* raw R || S, each 32 bytes big-endian (RFC 7518 §3.4) */

/* The PHC string auth_password_dummy_verify() checks against (today's parameters). */
extern const char auth_dummy_phc[];

/* IEEE CRC-32 (the zlib one) of <len> bytes. */
uint32_t auth_crc32(const void *data, size_t len);
/* <v> as exactly <n> base62 digits (0-9A-Za-z, most significant first) and a NUL. */
void auth_base62(uint64_t v, char *out, size_t n);

/* SHA-256, fetched once per process. */
const struct evp_md_st *auth_sha256(void);

/* The key's EVP_PKEY, for signing and verification (shared, read-only). */
struct evp_pkey_st *auth_key_pkey(const struct auth_key *k);
/* Signs <len> bytes with <k>: raw R||S into <sig>. 0 or ERR_INTERNAL. */
int auth_key_sign(const struct auth_key *k, const void *data, size_t len,
                  unsigned char sig[AUTH_ES256_SIG_LEN], struct err *err);
/* Whether <sig> (raw R||S) is <k>'s signature of <len> bytes. */
bool auth_key_verify(const struct auth_key *k, const void *data, size_t len,
                     const unsigned char sig[AUTH_ES256_SIG_LEN]);

/* Converts between JOSE raw R||S and DER ECDSA-Sig-Value. The DER form is written into
 * <der> (cap bytes) and its length returned, 0 on failure; raw_from_der returns false when
 * <der> is not a P-256 signature. */
size_t auth_sig_raw_to_der(const unsigned char raw[AUTH_ES256_SIG_LEN], unsigned char *der,
                           size_t cap);
bool auth_sig_der_to_raw(const unsigned char *der, size_t len,
                         unsigned char raw[AUTH_ES256_SIG_LEN]);

/* Keyring internals used by jwt.c. Both take the read lock and release it before returning;
 * <fn> runs while it is held, with the key (NULL when none). */
typedef int auth_key_use_fn(const struct auth_key *k, void *arg, struct err *err);
int auth_keyring_with_current(struct auth_keyring *r, auth_key_use_fn *fn, void *arg,
                              struct err *err);
int auth_keyring_with_kid(struct auth_keyring *r, struct slice kid, int64_t now,
                          auth_key_use_fn *fn, void *arg, struct err *err);

#endif
