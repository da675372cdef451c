/* Tests for src/auth/key.c and es256.c: key pairs, PEM, JWK, the keyring, signature forms. */
#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>

#include "../test.h"
#include "base/base.h"
#include "auth/auth.h"
#include "auth/auth-int.h"

static struct auth_key *new_key(void)
{
    struct auth_key *k = NULL;
    struct err err = {0};

    CHECK_INT_EQ(auth_key_generate(&k, &err), 0);
    return k;
}

TEST(kid_is_11_base64url_chars_and_keys_differ)
{
    struct auth_key *a = new_key(), *b = new_key();
    unsigned char raw[16];
    size_t n = 0;

    CHECK_UINT_EQ(strlen(auth_key_kid(a)), AUTH_KID_LEN);
    CHECK_INT_EQ(auth_b64url_decode(slice_from_cstr(auth_key_kid(a)), raw, sizeof(raw), &n), 0);
    CHECK_UINT_EQ(n, 8);
    CHECK(strcmp(auth_key_kid(a), auth_key_kid(b)) != 0);
    auth_key_free(a);
    auth_key_free(b);
}

TEST(pem_round_trip_keeps_the_key)
{
    struct auth_key *k = new_key(), *back = NULL;
    struct sbuf pem = SBUF_INIT(8192);
    unsigned char sig[AUTH_ES256_SIG_LEN];
    struct err err = {0};

    CHECK_INT_EQ(auth_key_to_pem(k, &pem, &err), 0);
    CHECK_CONTAINS(pem.buf, "-----BEGIN PRIVATE KEY-----");
    CHECK_INT_EQ(auth_key_from_pem(sbuf_slice(&pem), &back, &err), 0);
    CHECK_STR_EQ(auth_key_kid(back), auth_key_kid(k));
    /* the loaded private key signs what the original verifies, and back */
    CHECK_INT_EQ(auth_key_sign(back, "msg", 3, sig, &err), 0);
    CHECK(auth_key_verify(k, "msg", 3, sig));
    CHECK(!auth_key_verify(k, "msh", 3, sig));
    CHECK_INT_EQ(auth_key_sign(k, "msg", 3, sig, &err), 0);
    CHECK(auth_key_verify(back, "msg", 3, sig));
    auth_key_free(back);
    auth_key_free(k);
    sbuf_release(&pem);
}

TEST(pem_that_is_not_a_p256_private_key_is_refused)
{
    EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    struct auth_key *k = new_key(), *out = (struct auth_key *)&out;
    BIO *bio = BIO_new(BIO_s_mem());
    struct err err = {0};
    char *data = NULL;
    long len;

    CHECK(p384 != NULL && PEM_write_bio_PrivateKey(bio, p384, NULL, NULL, 0, NULL, NULL) == 1);
    len = BIO_get_mem_data(bio, &data);
    CHECK_INT_EQ(auth_key_from_pem((struct slice){data, (size_t)len}, &out, &err), ERR_INVALID);
    CHECK_STR_EQ(err.msg, "key: not an EC key on P-256");
    CHECK(out == NULL);
    BIO_reset(bio);
    CHECK(PEM_write_bio_PUBKEY(bio, auth_key_pkey(k)) == 1); /* public only */
    len = BIO_get_mem_data(bio, &data);
    CHECK_INT_EQ(auth_key_from_pem((struct slice){data, (size_t)len}, &out, &err), ERR_INVALID);
    CHECK_INT_EQ(auth_key_from_pem(SLICE("not a pem"), &out, &err), ERR_INVALID);
    CHECK(ERR_peek_error() == 0); /* nothing left on the thread's OpenSSL error queue */
    CHECK_INT_EQ(auth_key_from_pem(SLICE(""), &out, &err), ERR_INVALID);
    BIO_free(bio);
    EVP_PKEY_free(p384);
    auth_key_free(k);
}

static void check_coord(const json_t *jwk, const char *name, const struct auth_key *k,
                        const char *param)
{
    const char *s = json_string_value(json_object_get(jwk, name));
    unsigned char raw[40], want[32];
    BIGNUM *bn = NULL;
    size_t n = 0;

    CHECK(s != NULL);
    CHECK_UINT_EQ(strlen(s), 43);
    CHECK_INT_EQ(auth_b64url_decode(slice_from_cstr(s), raw, sizeof(raw), &n), 0);
    CHECK_UINT_EQ(n, 32);
    CHECK(EVP_PKEY_get_bn_param(auth_key_pkey(k), param, &bn) == 1);
    CHECK_INT_EQ(BN_bn2binpad(bn, want, 32), 32);
    CHECK_MEM_EQ(raw, n, want, 32);
    BN_free(bn);
}

TEST(jwk_has_the_public_fields)
{
    struct auth_key *k = new_key();
    struct sbuf out = SBUF_INIT(4096);
    json_error_t jerr;
    struct jw w;
    json_t *jwk;

    jw_init(&w, &out);
    auth_key_jwk(k, &w);
    jwk = json_loadb(out.buf, out.len, JSON_REJECT_DUPLICATES, &jerr);
    CHECK(jwk != NULL);
    CHECK_STR_EQ(json_string_value(json_object_get(jwk, "kty")), "EC");
    CHECK_STR_EQ(json_string_value(json_object_get(jwk, "crv")), "P-256");
    CHECK_STR_EQ(json_string_value(json_object_get(jwk, "use")), "sig");
    CHECK_STR_EQ(json_string_value(json_object_get(jwk, "alg")), "ES256");
    CHECK_STR_EQ(json_string_value(json_object_get(jwk, "kid")), auth_key_kid(k));
    CHECK(json_object_get(jwk, "d") == NULL); /* never the private part */
    CHECK_UINT_EQ(json_object_size(jwk), 7);
    check_coord(jwk, "x", k, OSSL_PKEY_PARAM_EC_PUB_X);
    check_coord(jwk, "y", k, OSSL_PKEY_PARAM_EC_PUB_Y);
    json_decref(jwk);
    sbuf_release(&out);
    auth_key_free(k);
}

static size_t jwks_count(struct auth_keyring *r, int64_t now, const char *kid, bool *has)
{
    struct sbuf out = SBUF_INIT(16384);
    json_error_t jerr;
    json_t *doc, *keys;
    size_t n;

    auth_keyring_jwks(r, now, &out);
    doc = json_loadb(out.buf, out.len, 0, &jerr);
    CHECK(doc != NULL);
    keys = json_object_get(doc, "keys");
    CHECK(json_is_array(keys));
    n = json_array_size(keys);
    *has = false;
    for (size_t i = 0; i < n; i++)
        if (strcmp(json_string_value(json_object_get(json_array_get(keys, i), "kid")), kid) == 0)
            *has = true;
    json_decref(doc);
    sbuf_release(&out);
    return n;
}

TEST(jwks_lists_keys_until_they_expire)
{
    struct auth_keyring *r = auth_keyring_new();
    struct auth_key *a = new_key(), *b = new_key();
    struct err err = {0};
    bool has;

    CHECK_UINT_EQ(jwks_count(r, 100, "x", &has), 0);
    CHECK_INT_EQ(auth_keyring_add(r, a, &err), 0);
    CHECK_INT_EQ(auth_keyring_add(r, b, &err), 0);
    CHECK_INT_EQ(auth_keyring_set_current(r, auth_key_kid(b), &err), 0);
    CHECK_INT_EQ(auth_keyring_retire(r, auth_key_kid(a), 200, &err), 0);
    CHECK_UINT_EQ(jwks_count(r, 200, auth_key_kid(a), &has), 2);
    CHECK(has);
    CHECK_UINT_EQ(jwks_count(r, 201, auth_key_kid(a), &has), 1);
    CHECK(!has);
    CHECK_UINT_EQ(jwks_count(r, 201, auth_key_kid(b), &has), 1);
    CHECK(has);
    auth_keyring_free(r);
}

TEST(keyring_rules)
{
    struct auth_keyring *r = auth_keyring_new();
    struct auth_key *a = new_key(), *b = new_key(), *keys[AUTH_KEYRING_MAX];
    struct err err = {0};

    CHECK_INT_EQ(auth_keyring_add(r, a, &err), 0);
    CHECK_INT_EQ(auth_keyring_add(r, a, &err), ERR_CONFLICT);                      /* same kid */
    CHECK_INT_EQ(auth_keyring_retire(r, auth_key_kid(a), 10, &err), ERR_CONFLICT); /* current */
    CHECK_INT_EQ(auth_keyring_retire(r, "nope", 10, &err), ERR_NOTFOUND);
    CHECK_INT_EQ(auth_keyring_set_current(r, "nope", &err), ERR_NOTFOUND);
    CHECK_INT_EQ(auth_keyring_add(r, b, &err), 0);
    CHECK_INT_EQ(auth_keyring_retire(r, auth_key_kid(b), 10, &err), 0);
    CHECK_INT_EQ(auth_keyring_set_current(r, auth_key_kid(b), &err), ERR_CONFLICT); /* retired */
    for (size_t i = 2; i < AUTH_KEYRING_MAX; i++)
        CHECK_INT_EQ(auth_keyring_add(r, keys[i] = new_key(), &err), 0);
    keys[0] = new_key();
    CHECK_INT_EQ(auth_keyring_add(r, keys[0], &err), ERR_LIMIT);
    auth_key_free(keys[0]); /* still the caller's */
    CHECK_UINT_EQ(auth_keyring_prune(r, 10), 0);
    CHECK_UINT_EQ(auth_keyring_prune(r, 11), 1);
    auth_keyring_free(r);
}

TEST(signature_forms_convert_both_ways)
{
    struct auth_key *k = new_key();
    unsigned char raw[AUTH_ES256_SIG_LEN], back[AUTH_ES256_SIG_LEN], der[80];
    struct err err = {0};
    size_t n;

    CHECK_INT_EQ(auth_key_sign(k, "abc", 3, raw, &err), 0);
    n = auth_sig_raw_to_der(raw, der, sizeof(der));
    CHECK(n >= 8 && n <= 72);
    CHECK_INT_EQ(der[0], 0x30);
    CHECK(auth_sig_der_to_raw(der, n, back));
    CHECK_MEM_EQ(back, sizeof(back), raw, sizeof(raw));
    CHECK(!auth_sig_der_to_raw(der, n - 1, back));
    CHECK_UINT_EQ(auth_sig_raw_to_der(raw, der, 4), 0); /* no room */
    auth_key_free(k);
}

TEST(encrypted_pem_is_refused_without_prompting)
{
    struct auth_key *k = new_key(), *out = NULL;
    BIO *bio = BIO_new(BIO_s_mem());
    struct err err = {0};
    char *data = NULL;
    long len;

    CHECK(PEM_write_bio_PKCS8PrivateKey(bio, auth_key_pkey(k), EVP_aes_256_cbc(), "pw", 2, NULL,
                                        NULL) == 1);
    len = BIO_get_mem_data(bio, &data);
    CHECK_INT_EQ(auth_key_from_pem((struct slice){data, (size_t)len}, &out, &err), ERR_INVALID);
    CHECK(out == NULL);
    BIO_free(bio);
    auth_key_free(k);
}

TEST(failed_verification_leaves_no_openssl_error)
{
    struct auth_key *k = new_key();
    unsigned char sig[AUTH_ES256_SIG_LEN];
    struct err err = {0};

    CHECK_INT_EQ(auth_key_sign(k, "abc", 3, sig, &err), 0);
    sig[40] ^= 1;
    CHECK(!auth_key_verify(k, "abc", 3, sig));
    memset(sig, 0, sizeof(sig));
    CHECK(!auth_key_verify(k, "abc", 3, sig));
    CHECK(ERR_peek_error() == 0);
    auth_key_free(k);
}
