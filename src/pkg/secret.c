/* Secret values of variables: sealed with libsodium's secretbox under a per-project key. */
#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>

#include "base/base.h"
#include "pkg/pkg-int.h"

#define PREFIX      "enc:v1:"
#define PREFIX_LEN  (sizeof(PREFIX) - 1)
#define B64_VARIANT sodium_base64_VARIANT_ORIGINAL
/* The longest sealed text: prefix, nonce, ':', MAC and the largest plaintext in base64 (each
 * ENCODED_LEN counts a NUL: the first stands for the ':', the second is one byte of slack). */
#define SEALED_MAX                                                                                 \
    (PREFIX_LEN + sodium_base64_ENCODED_LEN(crypto_secretbox_NONCEBYTES, B64_VARIANT) +            \
     sodium_base64_ENCODED_LEN(crypto_secretbox_MACBYTES + PKG_SECRET_MAX, B64_VARIANT))
#define MASK "\xe2\x80\xa2\xe2\x80\xa2\xe2\x80\xa2\xe2\x80\xa2" /* four U+2022 bullets */

_Static_assert(PKG_SECRET_KEY_BYTES == crypto_secretbox_KEYBYTES, "secretbox key size");

static pthread_once_t sodium_once = PTHREAD_ONCE_INIT;
static int sodium_rc = -1;

static void sodium_setup(void)
{
    sodium_rc = sodium_init(); /* 1 when someone else initialised it first: fine too */
}

static int sodium_ready(struct err *err)
{
    pthread_once(&sodium_once, sodium_setup);
    if (sodium_rc < 0)
        return err_set(err, ERR_INTERNAL, "libsodium could not be initialised");
    return 0;
}

/* ---------------------------------------------------------------- keys */

static int key_path(const char *root, struct slice ws, struct slice proj, struct sbuf *path,
                    struct err *err)
{
    struct stat st;
    int rc = pkg_project_path(root, "keys", ws, proj, ".key", path, err);

    if (rc < 0)
        return rc;
    if (stat(root, &st) != 0 || !S_ISDIR(st.st_mode)) /* the data directory is not made here */
        return err_set(err, ERR_NOTFOUND, "root: %s is not a directory", root);
    return pkg_mkdir_parents(path->buf, err);
}

int pkg_secret_key(const char *root, struct slice ws, struct slice proj,
                   unsigned char key[PKG_SECRET_KEY_BYTES], struct err *err)
{
    struct sbuf path = SBUF_INIT(4096);
    int rc = key_path(root, ws, proj, &path, err);

    if (rc == 0)
        rc = file_secret_load(path.buf, key, PKG_SECRET_KEY_BYTES, err);
    if (rc != 0)
        sodium_memzero(key, PKG_SECRET_KEY_BYTES); /* no half-read key for a careless caller */
    sbuf_release(&path);
    return rc;
}

/* ---------------------------------------------------------------- seal */

/* Appends the base64 text of <bin> to <out>. */
static void put_b64(struct sbuf *out, const unsigned char *bin, size_t len)
{
    size_t n = sodium_base64_ENCODED_LEN(len, B64_VARIANT); /* counts the NUL */
    char *p = sbuf_reserve(out, n);

    if (p == NULL)
        return;
    sodium_bin2base64(p, n, bin, len, B64_VARIANT);
    sbuf_commit(out, n - 1);
}

int pkg_secret_seal(const unsigned char key[PKG_SECRET_KEY_BYTES], struct slice plain,
                    struct sbuf *out, struct err *err)
{
    unsigned char nonce[crypto_secretbox_NONCEBYTES];
    struct sbuf box = SBUF_INIT(crypto_secretbox_MACBYTES + PKG_SECRET_MAX);
    size_t start = out->len;
    unsigned char *c;
    int rc = sodium_ready(err);

    if (rc != 0)
        return rc;
    if (plain.len > PKG_SECRET_MAX)
        return err_set(err, ERR_LIMIT, "secret value is over %u bytes", PKG_SECRET_MAX);
    c = (unsigned char *)sbuf_reserve(&box, crypto_secretbox_MACBYTES + plain.len);
    if (c == NULL)
        return err_set(err, ERR_INTERNAL, "secretbox buffer");
    /* A random 192-bit nonce per value: no counter to keep, and a collision is out of reach
     * for any number of values one project will ever hold. */
    randombytes_buf(nonce, sizeof(nonce));
    crypto_secretbox_easy(c, (const unsigned char *)plain.ptr, plain.len, nonce, key);

    sbuf_puts(out, PREFIX);
    put_b64(out, nonce, sizeof(nonce));
    sbuf_putc(out, ':');
    put_b64(out, c, crypto_secretbox_MACBYTES + plain.len);
    sbuf_release(&box);
    if (out->err != 0) {
        rc = err_set(err, out->err, "sealed value does not fit");
        if (out->len > start) { /* only when the sticky error came after our first byte */
            out->len = start;
            out->buf[start] = '\0';
        }
    }
    return rc;
}

/* ---------------------------------------------------------------- open */

/* Decodes the whole of <b64>, canonical padded base64, into at most <cap> bytes of <bin>. */
static bool get_b64(struct slice b64, unsigned char *bin, size_t cap, size_t *len)
{
    if (b64.len == 0 || b64.len % 4 != 0)
        return false;
    return sodium_base642bin(bin, cap, b64.ptr, b64.len, NULL, len, NULL, B64_VARIANT) == 0;
}

static int not_sealed(struct err *err, const char *why)
{
    return err_set(err, ERR_INVALID, "not an encrypted value (%s)", why);
}

int pkg_secret_open(const unsigned char key[PKG_SECRET_KEY_BYTES], struct slice sealed,
                    struct sbuf *plain, struct err *err)
{
    unsigned char nonce[crypto_secretbox_NONCEBYTES];
    struct sbuf box = SBUF_INIT(crypto_secretbox_MACBYTES + PKG_SECRET_MAX + 2);
    struct slice rest = sealed, nonce_b64;
    size_t nonce_len, clen;
    unsigned char *c;
    char *m;
    int rc = sodium_ready(err);

    if (rc != 0)
        return rc;
    if (!slice_starts_with(sealed, SLICE(PREFIX)))
        return not_sealed(err, "no \"" PREFIX "\" prefix");
    if (sealed.len > SEALED_MAX)
        return not_sealed(err, "too long");
    rest.ptr += PREFIX_LEN;
    rest.len -= PREFIX_LEN;
    if (!slice_split(&rest, ':', &nonce_b64) || memchr(rest.ptr, ':', rest.len) != NULL)
        return not_sealed(err, "want enc:v1:<nonce>:<ciphertext>");
    if (!get_b64(nonce_b64, nonce, sizeof(nonce), &nonce_len) || nonce_len != sizeof(nonce))
        return not_sealed(err, "bad nonce");
    /* rest.len / 4 * 3 is at most MAC + MAX + 2 bytes: SEALED_MAX bounds it */
    c = (unsigned char *)sbuf_reserve(&box, rest.len / 4 * 3);
    if (c == NULL)
        return not_sealed(err, "too long");
    if (!get_b64(rest, c, rest.len / 4 * 3, &clen) || clen < crypto_secretbox_MACBYTES ||
        clen > crypto_secretbox_MACBYTES + PKG_SECRET_MAX) {
        sbuf_release(&box);
        return not_sealed(err, "bad ciphertext");
    }
    m = sbuf_reserve(plain, clen - crypto_secretbox_MACBYTES);
    if (m == NULL)
        rc = err_set(err, plain->err, "secret value does not fit");
    else if (crypto_secretbox_open_easy((unsigned char *)m, c, clen, nonce, key) != 0)
        rc = err_set(err, ERR_FORBIDDEN,
                     "encrypted value does not open with this project's key (another "
                     "project's, or altered)");
    else
        sbuf_commit(plain, clen - crypto_secretbox_MACBYTES);
    sbuf_release(&box);
    return rc;
}

/* ---------------------------------------------------------------- mask */

static bool shown_byte(char c)
{
    return c > ' ' && c < 0x7f;
}

void pkg_secret_mask(struct slice plain, struct sbuf *out)
{
    sbuf_puts(out, MASK);
    if (plain.len >= PKG_SECRET_MASK_MIN && shown_byte(plain.ptr[plain.len - 2]) &&
        shown_byte(plain.ptr[plain.len - 1]))
        sbuf_put(out, plain.ptr + plain.len - 2, 2);
}

void pkg_secret_wipe(struct sbuf *b)
{
    if (b->cap != 0)
        sodium_memzero(b->buf, b->cap);
    sbuf_release(b);
}
