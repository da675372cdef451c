/*
 * auth: the identity cryptography of slipway. Pure functions and one shared object (the
 * keyring); no storage, no HTTP, no clock (callers pass <now> as Unix seconds so tests and
 * replays are deterministic).
 *
 *   password   argon2id PHC strings (libargon2), constant-time verification, upgrade hint,
 *              a dummy verification for unknown users so logins take the same time
 *   key        ES256 (P-256) signing keys: generate, PEM (private, for storage), JWK (public)
 *   keyring    the keys of a deployment: one current key signs, older ones verify until the
 *              time they were retired for; publishes the JWKS
 *   access     JWT access tokens (RFC 7519, JWS compact form, ES256 only)
 *   internal   short-lived JWTs for service-to-service calls (aud "slipway-internal")
 *   opaque     refresh tokens and personal access tokens ("slp_…"), stored as SHA-256 hashes
 *
 * Errors: ERR_INVALID for bad arguments (the message names the field), ERR_UNAUTHENTICATED
 * when a credential does not check out (the message says why, never the credential itself),
 * ERR_INTERNAL when OpenSSL or libargon2 fail (no memory, no entropy).
 * Thread-safety: everything is safe to call from any thread; the keyring has its own lock.
 */
#ifndef SLIPWAY_AUTH_H
#define SLIPWAY_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

/* ---------------------------------------------------------------- passwords */

#define AUTH_PASSWORD_MAX   1024  /* bytes; longer passwords are refused (ERR_INVALID) */
#define AUTH_ARGON2_M_KIB   19456 /* 19 MiB: OWASP's minimum for argon2id */
#define AUTH_ARGON2_T       2
#define AUTH_ARGON2_P       1
#define AUTH_ARGON2_SALT    16
#define AUTH_ARGON2_HASHLEN 32
#define AUTH_PHC_MAX        128 /* "$argon2id$v=19$m=19456,t=2,p=1$<22>$<43>" and a NUL */

/* Hashes <password> (1..AUTH_PASSWORD_MAX bytes, any bytes) with argon2id at the current
 * parameters and a fresh random salt; writes the PHC string into <out>. Costs ~19 MiB and tens
 * of milliseconds: call it on the worker pool, never on a loop. 0, ERR_INVALID ("password: …")
 * or ERR_INTERNAL. */
int auth_password_hash(struct slice password, char out[AUTH_PHC_MAX],
                       struct err *err) APP_MUST_CHECK;

/* Checks <password> against the PHC string <phc> (as made by auth_password_hash) in constant
 * time. Returns 0 when it matches, ERR_UNAUTHENTICATED ("wrong password") when it does not,
 * ERR_INVALID for a password out of bounds ("password: …") or a <phc> that is not an argon2id
 * string with sane parameters ("hash: …"), ERR_INTERNAL on failure. On a match, *needs_upgrade
 * (may be NULL) says whether <phc> uses weaker parameters than today's: rehash and store. */
int auth_password_verify(struct slice password, const char *phc, bool *needs_upgrade,
                         struct err *err) APP_MUST_CHECK;

/* Costs what a real auth_password_verify() costs (same parameters, same work) and matches
 * nothing: call it when the user does not exist, so the response time does not tell. */
void auth_password_dummy_verify(struct slice password);

/* ---------------------------------------------------------------- signing keys */

#define AUTH_KID_LEN 11 /* base64url of the first 8 bytes of SHA-256(public key DER) */

/* An ES256 key pair. Immutable once made, so one key may be used from many threads. */
struct auth_key;

/* A new P-256 key pair in *out (free with auth_key_free()). 0 or ERR_INTERNAL. */
int auth_key_generate(struct auth_key **out, struct err *err) APP_MUST_CHECK;
/* Loads a private key from PEM (PKCS#8 or SEC1 "EC PRIVATE KEY"); it must be on P-256.
 * 0 (*out owned by the caller) or ERR_INVALID ("key: …"). */
int auth_key_from_pem(struct slice pem, struct auth_key **out, struct err *err) APP_MUST_CHECK;
/* Appends the private key as unencrypted PKCS#8 PEM to <out>: a secret, store it as one.
 * 0, ERR_LIMIT (<out> full) or ERR_INTERNAL. */
int auth_key_to_pem(const struct auth_key *k, struct sbuf *out, struct err *err) APP_MUST_CHECK;
/* The key id, AUTH_KID_LEN chars and a NUL, valid while <k> lives. */
const char *auth_key_kid(const struct auth_key *k);
/* Writes the public JWK {"kty":"EC","crv":"P-256","x","y","use":"sig","alg":"ES256","kid"}
 * as the next value of <w> (errors stay in the sbuf under <w>). */
void auth_key_jwk(const struct auth_key *k, struct jw *w);
void auth_key_free(struct auth_key *k);

/* ---------------------------------------------------------------- keyring */

#define AUTH_KEYRING_MAX 16

/* A set of keys: one current key signs; every key that is not retired, or retired for a time
 * that has not passed, verifies. Rotation with overlap: add the new key, make it current,
 * retire the old one with not_after = now + the longest token lifetime.
 * Thread-safety: any thread may call anything; verification and signing share a read lock
 * (no contention between them), changes take the write lock. */
struct auth_keyring;

struct auth_keyring *auth_keyring_new(void);
/* Frees the ring and its keys. No other thread may be using it. */
void auth_keyring_free(struct auth_keyring *r);
/* Moves <k> into the ring (on success the ring owns it; on failure the caller still does).
 * The first key added becomes current. ERR_CONFLICT when its kid is there already, ERR_LIMIT
 * past AUTH_KEYRING_MAX keys. */
int auth_keyring_add(struct auth_keyring *r, struct auth_key *k, struct err *err) APP_MUST_CHECK;
/* Signs with the key <kid> from now on. ERR_NOTFOUND, or ERR_CONFLICT when it is retired. */
int auth_keyring_set_current(struct auth_keyring *r, const char *kid,
                             struct err *err) APP_MUST_CHECK;
/* Keeps <kid> for verification until <not_after> (Unix seconds, inclusive), then no more.
 * ERR_NOTFOUND, or ERR_CONFLICT for the current key (make another current first). */
int auth_keyring_retire(struct auth_keyring *r, const char *kid, int64_t not_after,
                        struct err *err) APP_MUST_CHECK;
/* Frees the keys retired for a time before <now>; returns how many went. */
size_t auth_keyring_prune(struct auth_keyring *r, int64_t now);
/* A number that changes whenever the ring does (a key added, made current, retired or
 * pruned): what a cache of verified tokens compares against. */
uint64_t auth_keyring_gen(struct auth_keyring *r);
/* The earliest not_after of the retired keys still valid at <now>, or INT64_MAX: how long a
 * verification done at <now> may be trusted without asking the ring again. */
int64_t auth_keyring_horizon(struct auth_keyring *r, int64_t now);
/* Appends {"keys":[…]} with the public JWK of every key still valid at <now>. The sbuf's
 * sticky error reports a full buffer. */
void auth_keyring_jwks(struct auth_keyring *r, int64_t now, struct sbuf *out);

/* ---------------------------------------------------------------- JWT access tokens */

#define AUTH_TOKEN_MAX_BYTES 8192 /* longer tokens are refused before any parsing */
#define AUTH_ACCESS_TTL      900  /* seconds: 15 minutes */
#define AUTH_INTERNAL_TTL    60
#define AUTH_INTERNAL_AUD    "slipway-internal"
#define AUTH_CLAIM_MAX       128 /* bytes per string claim, with the NUL */

/* The claims slipway puts in its tokens. Plain data: a verified token is copied in, nothing
 * points into the token. Empty strings are absent claims. */
struct auth_claims {
    char iss[AUTH_CLAIM_MAX];   /* issuer: the public URL of this slipway */
    char sub[AUTH_CLAIM_MAX];   /* subject: user id (required) */
    char aud[AUTH_CLAIM_MAX];   /* audience */
    char ws[AUTH_CLAIM_MAX];    /* workspace id */
    char sid[AUTH_CLAIM_MAX];   /* session id (revocation goes through the session) */
    char role[AUTH_CLAIM_MAX];  /* role in <ws>: internal tokens */
    char name[AUTH_CLAIM_MAX];  /* the user's display name: internal tokens (commit authors) */
    char email[AUTH_CLAIM_MAX]; /* the user's email: internal tokens */
    int64_t iat, nbf, exp;      /* Unix seconds; nbf 0 = absent */
};

/* What a verifier expects. <skew> is the clock difference tolerated, in seconds (30 is
 * usual); it widens exp, nbf and iat, never more than 300. */
struct auth_verify_opts {
    const char *iss; /* required issuer */
    const char *aud; /* required audience */
    int64_t now;     /* Unix seconds */
    int64_t skew;
};

/* Signs an access token with the ring's current key: the claims of <c> with iat = <now>,
 * exp = <now> + <ttl> (AUTH_ACCESS_TTL when <ttl> <= 0), nbf omitted. Appends the compact
 * token to <out>. ERR_INVALID ("claims.sub: …"), ERR_NOTFOUND (no current key), ERR_LIMIT
 * (<out> full) or ERR_INTERNAL. */
int auth_access_sign(struct auth_keyring *r, const struct auth_claims *c, int64_t now, int64_t ttl,
                     struct sbuf *out, struct err *err) APP_MUST_CHECK;

/* Verifies <token> and fills *out (zeroed first; meaningful only on success). Accepts
 * exactly: three base64url parts (no padding, no whitespace), at most AUTH_TOKEN_MAX_BYTES,
 * header and payload JSON objects without duplicate keys, alg "ES256", a kid of a key valid
 * at opts->now, a good signature, exp/nbf/iat consistent with now and skew, iss and aud equal
 * to the expected ones (aud must be a single string). Returns 0, ERR_UNAUTHENTICATED with the
 * reason ("token expired", "unknown key id", "bad signature", …), or ERR_INVALID when
 * <opts> is unusable (an access verifier must not expect AUTH_INTERNAL_AUD). */
int auth_access_verify(struct auth_keyring *r, struct slice token,
                       const struct auth_verify_opts *opts, struct auth_claims *out,
                       struct err *err) APP_MUST_CHECK;

/* A cache of access tokens this thread verified before, so a client that sends the same
 * token on every request pays for the signature check once. Keyed by SHA-256 of the token;
 * direct-mapped, <capacity> entries (rounded up to a power of two). A hit still checks the
 * expected issuer and audience, exp and nbf against opts->now and opts->skew, that the ring
 * has not changed since (auth_keyring_gen) and that no retired key's time has run out
 * (auth_keyring_horizon); anything else is verified in full. Failures are never cached.
 * One cache per thread: it takes no lock. */
struct auth_vcache;
struct auth_vcache *auth_vcache_new(size_t capacity);
void auth_vcache_free(struct auth_vcache *c);
int auth_access_verify_cached(struct auth_vcache *c, struct auth_keyring *r, struct slice token,
                              const struct auth_verify_opts *opts, struct auth_claims *out,
                              struct err *err) APP_MUST_CHECK;
/* Hits and misses so far, for metrics. */
void auth_vcache_stats(const struct auth_vcache *c, uint64_t *hits, uint64_t *misses);

/* Internal service tokens: <c>'s sub (acting user), ws and role, required, plus <iss>; aud
 * is AUTH_INTERNAL_AUD and the lifetime AUTH_INTERNAL_TTL. Same errors as auth_access_sign. */
int auth_internal_sign(struct auth_keyring *r, const struct auth_claims *c, int64_t now,
                       struct sbuf *out, struct err *err) APP_MUST_CHECK;
/* As auth_access_verify with aud AUTH_INTERNAL_AUD; also refuses tokens that live longer
 * than AUTH_INTERNAL_TTL or lack ws or role. */
int auth_internal_verify(struct auth_keyring *r, struct slice token, const char *iss, int64_t now,
                         int64_t skew, struct auth_claims *out, struct err *err) APP_MUST_CHECK;

/* ---------------------------------------------------------------- opaque tokens */

#define AUTH_OPAQUE_BYTES  32
#define AUTH_REFRESH_LEN   43 /* base64url of 32 bytes */
#define AUTH_PAT_PREFIX    "slp_"
#define AUTH_PAT_CHECK_LEN 6 /* base62 of the CRC32 of the body */
#define AUTH_PAT_LEN       (4 + AUTH_REFRESH_LEN + AUTH_PAT_CHECK_LEN)
#define AUTH_TOKEN_BUF     64 /* room for either token and its NUL */
#define AUTH_HASH_HEX      64 /* SHA-256 as lower-case hex */

/* A refresh token: 32 random bytes, base64url (AUTH_REFRESH_LEN chars). 0 or ERR_INTERNAL. */
int auth_refresh_token_new(char out[AUTH_TOKEN_BUF], struct err *err) APP_MUST_CHECK;
/* A personal access token "slp_<43 base64url><6 base62 CRC32>" (AUTH_PAT_LEN chars), which
 * secret scanners can recognise and auth_token_looks_like_pat() can check. 0 or ERR_INTERNAL. */
int auth_pat_new(char out[AUTH_TOKEN_BUF], struct err *err) APP_MUST_CHECK;
/* True when <s> has the PAT shape and its checksum matches: a cheap filter before a lookup
 * (it says nothing about whether the token exists). */
bool auth_token_looks_like_pat(struct slice s);
/* SHA-256 of <token> as AUTH_HASH_HEX lower-case hex chars and a NUL: what the store keeps. */
void auth_token_hash(struct slice token, char out[AUTH_HASH_HEX + 1]);
/* Compares two token hashes in constant time (both must be AUTH_HASH_HEX chars; false if not). */
bool auth_token_hash_eq(const char *a, const char *b);

/* ---------------------------------------------------------------- base64url */

/* Appends base64url without padding (RFC 4648 §5). */
void auth_b64url_encode(const void *data, size_t len, struct sbuf *out);
/* Decodes strict base64url: alphabet A-Z a-z 0-9 - _ only, no padding, no whitespace, unused
 * trailing bits zero. Writes at most <cap> bytes to <out> and their count to *out_len.
 * 0, ERR_INVALID or ERR_LIMIT (more than <cap> bytes). */
int auth_b64url_decode(struct slice in, unsigned char *out, size_t cap,
                       size_t *out_len) APP_MUST_CHECK;

#endif
