/* ES256 signatures: SHA-256 + ECDSA P-256, JOSE raw R||S on the wire, DER inside OpenSSL. */
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <string.h>

#include "auth/auth.h"
#include "auth/auth-int.h"

#define HALF    (AUTH_ES256_SIG_LEN / 2)
#define DER_MAX 80 /* SEQUENCE of two INTEGERs of up to 33 bytes */

size_t auth_sig_raw_to_der(const unsigned char raw[AUTH_ES256_SIG_LEN], unsigned char *der,
                           size_t cap)
{
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(raw, HALF, NULL), *s = BN_bin2bn(raw + HALF, HALF, NULL);
    unsigned char *p = der;
    int len = 0;

    if (sig == NULL || r == NULL || s == NULL || ECDSA_SIG_set0(sig, r, s) != 1) {
        BN_free(r);
        BN_free(s);
        ECDSA_SIG_free(sig);
        return 0;
    }
    if (i2d_ECDSA_SIG(sig, NULL) <= (int)cap)
        len = i2d_ECDSA_SIG(sig, &p);
    ECDSA_SIG_free(sig); /* frees r and s */
    return len > 0 ? (size_t)len : 0;
}

bool auth_sig_der_to_raw(const unsigned char *der, size_t len,
                         unsigned char raw[AUTH_ES256_SIG_LEN])
{
    const unsigned char *p = der;
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)len);
    const BIGNUM *r, *s;
    bool ok;

    if (sig == NULL) {
        ERR_clear_error();
        return false;
    }
    ECDSA_SIG_get0(sig, &r, &s);
    ok = p == der + len && BN_bn2binpad(r, raw, HALF) == HALF &&
         BN_bn2binpad(s, raw + HALF, HALF) == HALF;
    ECDSA_SIG_free(sig);
    return ok;
}

int auth_key_sign(const struct auth_key *k, const void *data, size_t len,
                  unsigned char sig[AUTH_ES256_SIG_LEN], struct err *err)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char der[DER_MAX];
    size_t der_len = sizeof(der);
    bool ok =
        md != NULL &&
        EVP_DigestSignInit_ex(md, NULL, "SHA2-256", NULL, NULL, auth_key_pkey(k), NULL) == 1 &&
        EVP_DigestSign(md, der, &der_len, data, len) == 1 && auth_sig_der_to_raw(der, der_len, sig);

    EVP_MD_CTX_free(md);
    if (!ok) {
        ERR_clear_error();
        return err_set(err, ERR_INTERNAL, "token: ES256 signing failed");
    }
    return 0;
}

bool auth_key_verify(const struct auth_key *k, const void *data, size_t len,
                     const unsigned char sig[AUTH_ES256_SIG_LEN])
{
    unsigned char der[DER_MAX], md[EVP_MAX_MD_SIZE];
    unsigned md_len = 0;
    size_t der_len = auth_sig_raw_to_der(sig, der, sizeof(der));
    EVP_PKEY_CTX *ctx;
    bool ok;

    if (der_len == 0 || EVP_Digest(data, len, md, &md_len, auth_sha256(), NULL) != 1)
        return false;
    ctx = EVP_PKEY_CTX_new_from_pkey(NULL, auth_key_pkey(k), NULL);
    ok = ctx != NULL && EVP_PKEY_verify_init(ctx) == 1 &&
         EVP_PKEY_verify(ctx, der, der_len, md, md_len) == 1;
    EVP_PKEY_CTX_free(ctx);
    if (!ok) /* attackers choose when this fails: leave no stale error for the next TLS call */
        ERR_clear_error();
    return ok;
}
