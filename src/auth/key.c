/* ES256 signing keys (OpenSSL 3 EVP) and the keyring that rotates them. */
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "auth/auth-int.h"

#define COORD_LEN 32

struct auth_key {
    EVP_PKEY *pkey; /* read-only once made: OpenSSL allows concurrent use */
    char kid[AUTH_KID_LEN + 1];
    unsigned char x[COORD_LEN], y[COORD_LEN];
};

struct ring_slot {
    struct auth_key *key;
    bool retired;
    int64_t not_after; /* when retired: last second it verifies */
};

struct auth_keyring {
    pthread_rwlock_t lock;
    struct ring_slot slots[AUTH_KEYRING_MAX]; /* guarded by lock */
    size_t n;                                 /* guarded by lock */
    struct auth_key *current;                 /* guarded by lock */
    _Atomic uint64_t gen;                     /* bumped by every change, under the lock */
};

/* ------------------------------------------------------------ keys */

static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha256_md;

static void sha256_fetch(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA2-256", NULL);
    ASSERT(sha256_md != NULL);
}

const EVP_MD *auth_sha256(void)
{
    pthread_once(&sha256_once, sha256_fetch);
    return sha256_md;
}

static bool is_p256(EVP_PKEY *pkey)
{
    char group[64];
    size_t len = 0;

    return EVP_PKEY_is_a(pkey, "EC") &&
           EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                          &len) == 1 &&
           strcmp(group, SN_X9_62_prime256v1) == 0;
}

static bool coord(EVP_PKEY *pkey, const char *name, unsigned char out[COORD_LEN])
{
    BIGNUM *bn = NULL;
    bool ok = EVP_PKEY_get_bn_param(pkey, name, &bn) == 1 &&
              BN_bn2binpad(bn, out, COORD_LEN) == COORD_LEN;

    BN_free(bn);
    return ok;
}

/* kid = base64url(SHA-256(SubjectPublicKeyInfo DER)[0..8]). */
static bool make_kid(EVP_PKEY *pkey, char kid[AUTH_KID_LEN + 1])
{
    unsigned char *der = NULL, md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    int len = i2d_PUBKEY(pkey, &der);
    struct sbuf b = SBUF_INIT(AUTH_KID_LEN);
    bool ok = len > 0 && EVP_Digest(der, (size_t)len, md, &mdlen, auth_sha256(), NULL) == 1;

    OPENSSL_free(der);
    if (ok)
        auth_b64url_encode(md, 8, &b);
    ok = ok && b.err == 0 && b.len == AUTH_KID_LEN;
    if (ok)
        memcpy(kid, b.buf, AUTH_KID_LEN + 1);
    sbuf_release(&b);
    return ok;
}

/* Takes <pkey> into a new key; frees it on failure. */
static int key_wrap(EVP_PKEY *pkey, struct auth_key **out, struct err *err)
{
    struct auth_key *k;

    if (!is_p256(pkey)) {
        EVP_PKEY_free(pkey);
        return err_set(err, ERR_INVALID, "key: not an EC key on P-256");
    }
    k = xcalloc(1, sizeof(*k));
    k->pkey = pkey;
    if (!coord(pkey, OSSL_PKEY_PARAM_EC_PUB_X, k->x) ||
        !coord(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, k->y) || !make_kid(pkey, k->kid)) {
        auth_key_free(k);
        return err_set(err, ERR_INTERNAL, "key: cannot read the public key");
    }
    *out = k;
    return 0;
}

int auth_key_generate(struct auth_key **out, struct err *err)
{
    EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");

    *out = NULL;
    if (pkey == NULL)
        return err_set(err, ERR_INTERNAL, "key: P-256 key generation failed");
    return key_wrap(pkey, out, err);
}

/* Stored keys are never encrypted: refuse to prompt on the terminal for a passphrase. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

int auth_key_from_pem(struct slice pem, struct auth_key **out, struct err *err)
{
    BIO *bio;
    EVP_PKEY *pkey;

    *out = NULL;
    if (pem.len == 0 || pem.len > 16384)
        return err_set(err, ERR_INVALID, "key: PEM is empty or over 16 KiB");
    bio = BIO_new_mem_buf(pem.ptr, (int)pem.len);
    if (bio == NULL)
        return err_set(err, ERR_INTERNAL, "key: no memory");
    pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
    BIO_free(bio);
    if (pkey == NULL) {
        ERR_clear_error(); /* leave no stale error for this thread's next TLS call */
        return err_set(err, ERR_INVALID, "key: not an unencrypted PEM private key");
    }
    return key_wrap(pkey, out, err);
}

int auth_key_to_pem(const struct auth_key *k, struct sbuf *out, struct err *err)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL;
    long len;
    int rc = 0;

    if (bio == NULL)
        return err_set(err, ERR_INTERNAL, "key: no memory");
    if (PEM_write_bio_PrivateKey(bio, k->pkey, NULL, NULL, 0, NULL, NULL) != 1) {
        rc = err_set(err, ERR_INTERNAL, "key: cannot write PEM");
        goto done;
    }
    len = BIO_get_mem_data(bio, &data);
    sbuf_put(out, data, (size_t)len);
    if (out->err != 0)
        rc = err_set(err, out->err, "key: PEM does not fit the buffer");
done:
    BIO_free(bio);
    return rc;
}

const char *auth_key_kid(const struct auth_key *k)
{
    return k->kid;
}

static void jw_b64url(struct jw *w, const unsigned char *p, size_t n)
{
    struct sbuf b = SBUF_INIT(64);

    auth_b64url_encode(p, n, &b);
    jw_slice(w, sbuf_slice(&b));
    sbuf_release(&b);
}

void auth_key_jwk(const struct auth_key *k, struct jw *w)
{
    jw_obj_begin(w);
    jw_key(w, "kty");
    jw_str(w, "EC");
    jw_key(w, "crv");
    jw_str(w, "P-256");
    jw_key(w, "x");
    jw_b64url(w, k->x, COORD_LEN);
    jw_key(w, "y");
    jw_b64url(w, k->y, COORD_LEN);
    jw_key(w, "use");
    jw_str(w, "sig");
    jw_key(w, "alg");
    jw_str(w, "ES256");
    jw_key(w, "kid");
    jw_str(w, k->kid);
    jw_obj_end(w);
}

void auth_key_free(struct auth_key *k)
{
    if (k == NULL)
        return;
    EVP_PKEY_free(k->pkey);
    free(k);
}

EVP_PKEY *auth_key_pkey(const struct auth_key *k)
{
    return k->pkey;
}

/* ------------------------------------------------------------ keyring */

struct auth_keyring *auth_keyring_new(void)
{
    struct auth_keyring *r = xcalloc(1, sizeof(*r));

    ASSERT(pthread_rwlock_init(&r->lock, NULL) == 0);
    return r;
}

void auth_keyring_free(struct auth_keyring *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n; i++)
        auth_key_free(r->slots[i].key);
    pthread_rwlock_destroy(&r->lock);
    free(r);
}

/* The slot of <kid>, or NULL. Lock held. */
static struct ring_slot *ring_find(struct auth_keyring *r, struct slice kid)
{
    for (size_t i = 0; i < r->n; i++)
        if (slice_eq_cstr(kid, r->slots[i].key->kid))
            return &r->slots[i];
    return NULL;
}

static bool slot_valid(const struct ring_slot *s, int64_t now)
{
    return !s->retired || now <= s->not_after;
}

int auth_keyring_add(struct auth_keyring *r, struct auth_key *k, struct err *err)
{
    int rc = 0;

    pthread_rwlock_wrlock(&r->lock);
    if (ring_find(r, slice_from_cstr(k->kid)) != NULL)
        rc = err_set(err, ERR_CONFLICT, "keyring: key %s is there already", k->kid);
    else if (r->n == AUTH_KEYRING_MAX)
        rc = err_set(err, ERR_LIMIT, "keyring: holds %d keys already", AUTH_KEYRING_MAX);
    else {
        r->slots[r->n++] = (struct ring_slot){.key = k};
        if (r->current == NULL)
            r->current = k;
        atomic_fetch_add(&r->gen, 1);
    }
    pthread_rwlock_unlock(&r->lock);
    return rc;
}

int auth_keyring_set_current(struct auth_keyring *r, const char *kid, struct err *err)
{
    struct ring_slot *s;
    int rc = 0;

    pthread_rwlock_wrlock(&r->lock);
    s = ring_find(r, slice_from_cstr(kid));
    if (s == NULL)
        rc = err_set(err, ERR_NOTFOUND, "keyring: no key %s", kid);
    else if (s->retired)
        rc = err_set(err, ERR_CONFLICT, "keyring: key %s is retired", kid);
    else {
        r->current = s->key;
        atomic_fetch_add(&r->gen, 1);
    }
    pthread_rwlock_unlock(&r->lock);
    return rc;
}

int auth_keyring_retire(struct auth_keyring *r, const char *kid, int64_t not_after, struct err *err)
{
    struct ring_slot *s;
    int rc = 0;

    pthread_rwlock_wrlock(&r->lock);
    s = ring_find(r, slice_from_cstr(kid));
    if (s == NULL)
        rc = err_set(err, ERR_NOTFOUND, "keyring: no key %s", kid);
    else if (s->key == r->current)
        rc = err_set(err, ERR_CONFLICT, "keyring: key %s is current; make another current first",
                     kid);
    else {
        s->retired = true;
        s->not_after = not_after;
        atomic_fetch_add(&r->gen, 1);
    }
    pthread_rwlock_unlock(&r->lock);
    return rc;
}

size_t auth_keyring_prune(struct auth_keyring *r, int64_t now)
{
    size_t kept = 0, gone;

    pthread_rwlock_wrlock(&r->lock);
    for (size_t i = 0; i < r->n; i++) {
        if (slot_valid(&r->slots[i], now))
            r->slots[kept++] = r->slots[i];
        else
            auth_key_free(r->slots[i].key);
    }
    gone = r->n - kept;
    r->n = kept;
    if (gone > 0)
        atomic_fetch_add(&r->gen, 1);
    pthread_rwlock_unlock(&r->lock);
    return gone;
}

uint64_t auth_keyring_gen(struct auth_keyring *r)
{
    return atomic_load(&r->gen);
}

int64_t auth_keyring_horizon(struct auth_keyring *r, int64_t now)
{
    int64_t h = INT64_MAX;

    pthread_rwlock_rdlock(&r->lock);
    for (size_t i = 0; i < r->n; i++)
        if (r->slots[i].retired && r->slots[i].not_after >= now && r->slots[i].not_after < h)
            h = r->slots[i].not_after;
    pthread_rwlock_unlock(&r->lock);
    return h;
}

void auth_keyring_jwks(struct auth_keyring *r, int64_t now, struct sbuf *out)
{
    struct jw w;

    jw_init(&w, out);
    jw_obj_begin(&w);
    jw_key(&w, "keys");
    jw_arr_begin(&w);
    pthread_rwlock_rdlock(&r->lock);
    for (size_t i = 0; i < r->n; i++)
        if (slot_valid(&r->slots[i], now))
            auth_key_jwk(r->slots[i].key, &w);
    pthread_rwlock_unlock(&r->lock);
    jw_arr_end(&w);
    jw_obj_end(&w);
}

int auth_keyring_with_current(struct auth_keyring *r, auth_key_use_fn *fn, void *arg,
                              struct err *err)
{
    int rc;

    pthread_rwlock_rdlock(&r->lock);
    if (r->current == NULL)
        rc = err_set(err, ERR_NOTFOUND, "keyring: no current signing key");
    else
        rc = fn(r->current, arg, err);
    pthread_rwlock_unlock(&r->lock);
    return rc;
}

int auth_keyring_with_kid(struct auth_keyring *r, struct slice kid, int64_t now,
                          auth_key_use_fn *fn, void *arg, struct err *err)
{
    struct ring_slot *s;
    int rc;

    pthread_rwlock_rdlock(&r->lock);
    s = ring_find(r, kid);
    if (s == NULL)
        rc = err_set(err, ERR_UNAUTHENTICATED, "unknown key id");
    else if (!slot_valid(s, now))
        rc = err_set(err, ERR_UNAUTHENTICATED, "signing key retired");
    else
        rc = fn(s->key, arg, err);
    pthread_rwlock_unlock(&r->lock);
    return rc;
}
