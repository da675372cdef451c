/* Tests of secret values (src/pkg/secret.c): sealing, opening, keys on disk, the mask. */
#include "../test.h"

#include <jansson.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "pkg/pkg-int.h"

#define WS    "01890a5d-ac96-774b-bcce-b302099a8057"
#define PROJ  "01890a5d-ac96-7a4b-8cce-b302099a8058"
#define PROJ2 "01890a5d-ac96-7a4b-8cce-b302099a8059"

static const unsigned char key1[PKG_SECRET_KEY_BYTES] = "0123456789abcdef0123456789abcdef";
static const unsigned char key2[PKG_SECRET_KEY_BYTES] = "fedcba9876543210fedcba9876543210";

/* Seals <plain> under key1 into a heap string the caller frees. */
static char *seal(struct slice plain)
{
    struct sbuf out = SBUF_INIT(1 << 20);
    struct err err = {0};

    OK(pkg_secret_seal(key1, plain, &out, &err));
    return sbuf_take(&out, NULL);
}

/* pkg_secret_open(<key>, <sealed>) with its error code; nothing appended on error. */
static int open_rc(const unsigned char *key, const char *sealed, struct err *err)
{
    struct sbuf plain = SBUF_INIT(1 << 20);
    int rc = pkg_secret_open(key, slice_from_cstr(sealed), &plain, err);

    if (rc != 0)
        CHECK_UINT_EQ(plain.len, 0);
    pkg_secret_wipe(&plain);
    return rc;
}

static void round_trip(struct slice plain)
{
    struct sbuf back = SBUF_INIT(1 << 20);
    struct err err = {0};
    char *sealed = seal(plain);

    CHECK(strncmp(sealed, "enc:v1:", 7) == 0);
    OK(pkg_secret_open(key1, slice_from_cstr(sealed), &back, &err));
    CHECK_MEM_EQ(back.buf, back.len, plain.ptr, plain.len);
    pkg_secret_wipe(&back);
    free(sealed);
}

TEST(secret_round_trips_empty_text_binary_and_64k)
{
    unsigned char bin[256], *big = malloc(PKG_SECRET_MAX);

    for (size_t i = 0; i < sizeof(bin); i++)
        bin[i] = (unsigned char)i; /* NUL, control bytes, invalid UTF-8 */
    for (size_t i = 0; i < PKG_SECRET_MAX; i++)
        big[i] = (unsigned char)(i * 7 + 3);
    round_trip(SLICE(""));
    round_trip(SLICE("postgres://user:p@ss@db:5432/app"));
    round_trip((struct slice){(const char *)bin, sizeof(bin)});
    round_trip((struct slice){(const char *)big, PKG_SECRET_MAX});
    free(big);
}

TEST(secret_seal_matches_schema_shape_and_uses_fresh_nonces)
{
    char *a = seal(SLICE("hunter2")), *b = seal(SLICE("hunter2"));
    const char *nonce = a + 7, *colon = strchr(nonce, ':');

    CHECK(strcmp(a, b) != 0);
    CHECK(colon != NULL && colon - nonce == 32); /* 24 bytes in base64 */
    CHECK(strchr(colon + 1, ':') == NULL);
    CHECK_UINT_EQ(strlen(colon + 1), 32); /* 16-byte MAC + 7 bytes = 23 → 32 chars */
    CHECK_UINT_EQ(
        strspn(nonce, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=:"),
        strlen(nonce));
    free(a);
    free(b);
}

/* The rule schema/values-env.schema.json gives a secret's text (its "variable" definition). */
TEST(secret_sealed_text_passes_the_values_schema_rule)
{
    json_t *rule = json_pack("{s:s, s:s}", "type", "string", "pattern",
                             "^enc:v1:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$");
    struct err err = {0};
    char *empty = seal(SLICE("")), *bin = seal(SLICE("\0\n\xff"));
    json_t *v1 = json_string(empty), *v2 = json_string(bin);

    OK(pkg_jschema_check(rule, v1, &err));
    OK(pkg_jschema_check(rule, v2, &err));
    json_decref(v1);
    json_decref(v2);
    json_decref(rule);
    free(empty);
    free(bin);
}

TEST(secret_seal_refuses_over_64k)
{
    struct sbuf out = SBUF_INIT(1 << 20);
    struct err err = {0};
    char *big = calloc(1, PKG_SECRET_MAX + 1);

    CHECK_INT_EQ(pkg_secret_seal(key1, (struct slice){big, PKG_SECRET_MAX + 1}, &out, &err),
                 ERR_LIMIT);
    CHECK_CONTAINS(err.msg, "65536");
    CHECK_UINT_EQ(out.len, 0);
    free(big);
    sbuf_release(&out);
}

TEST(secret_seal_into_a_full_buffer_leaves_it_as_it_was)
{
    struct sbuf out = SBUF_INIT(40);
    struct err err = {0};

    sbuf_puts(&out, "kept:");
    CHECK_INT_EQ(pkg_secret_seal(key1, SLICE("value"), &out, &err), ERR_LIMIT);
    CHECK_STR_EQ(out.buf, "kept:");
    sbuf_release(&out);
}

TEST(secret_open_appends_and_refuses_a_full_buffer)
{
    struct sbuf plain = SBUF_INIT(8);
    struct err err = {0};
    char *sealed = seal(SLICE("abcd"));

    sbuf_puts(&plain, ">");
    OK(pkg_secret_open(key1, slice_from_cstr(sealed), &plain, &err));
    CHECK_STR_EQ(plain.buf, ">abcd");
    CHECK_INT_EQ(pkg_secret_open(key1, slice_from_cstr(sealed), &plain, &err), ERR_LIMIT);
    CHECK_STR_EQ(plain.buf, ">abcd");
    pkg_secret_wipe(&plain);
    CHECK_UINT_EQ(plain.len, 0);
    free(sealed);
}

TEST(secret_wrong_key_is_forbidden)
{
    struct err err = {0};
    char *sealed = seal(SLICE("s3cret"));

    CHECK_INT_EQ(open_rc(key2, sealed, &err), ERR_FORBIDDEN);
    CHECK_CONTAINS(err.msg, "key");
    free(sealed);
}

/* Flips one base64 character at <pos> to another valid one that keeps the encoding canonical
 * (the top bits of a character are never padding bits). */
static void flip(char *s, size_t pos)
{
    s[pos] = s[pos] == 'A' ? 'Q' : 'A';
}

TEST(secret_tampering_is_forbidden_or_invalid)
{
    struct err err = {0};
    char *sealed = seal(SLICE("a value worth stealing"));
    size_t nonce = 7, cipher = 7 + 33, len = strlen(sealed);
    char *t;

    for (size_t pos = nonce; pos < len; pos++) {
        if (pos == cipher - 1 || sealed[pos] == '=')
            continue;
        t = xstrdup(sealed);
        flip(t, pos);
        CHECK_INT_EQ(open_rc(key1, t, &err), ERR_FORBIDDEN);
        free(t);
    }
    /* the prefix is not part of the box: any change makes it something else */
    t = xstrdup(sealed);
    t[5] = '2'; /* enc:v2: */
    CHECK_INT_EQ(open_rc(key1, t, &err), ERR_INVALID);
    CHECK_CONTAINS(err.msg, "not an encrypted value");
    t[5] = '1';
    t[0] = 'E';
    CHECK_INT_EQ(open_rc(key1, t, &err), ERR_INVALID);
    free(t);
    /* a shorter ciphertext (the last 4 characters dropped) no longer authenticates */
    t = xstrdup(sealed);
    t[len - 4] = '\0';
    CHECK_INT_EQ(open_rc(key1, t, &err), ERR_FORBIDDEN);
    free(t);
    free(sealed);
}

TEST(secret_swapped_nonce_is_forbidden)
{
    struct err err = {0};
    char *a = seal(SLICE("same")), *b = seal(SLICE("same"));

    memcpy(a + 7, b + 7, 32); /* b's nonce with a's box */
    CHECK_INT_EQ(open_rc(key1, a, &err), ERR_FORBIDDEN);
    free(a);
    free(b);
}

TEST(secret_malformed_values_are_invalid)
{
    /* a valid nonce (24 bytes) and ciphertext (16 bytes: the MAC of "") in base64 */
    static const char *const bad[] = {
        "",
        "enc",
        "enc:v1",
        "enc:v1:",
        "enc:v1::",
        "ENC:V1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA:AAAAAAAAAAAAAAAAAAAAAA==",
        "enc:v0:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA:AAAAAAAAAAAAAAAAAAAAAA==",
        " enc:v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA:AAAAAAAAAAAAAAAAAAAAAA==",
        "enc:v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",                           /* no ciphertext */
        "enc:v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA:",                          /* empty one */
        "enc:v1::AAAAAAAAAAAAAAAAAAAAAA==",                                  /* empty nonce */
        "enc:v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA:AAAAAAAAAAAAAAAAAAAAAA==:", /* a third part */
        "enc:v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA:AAAAAAAAAAAAAAAAAAAAAA==\n",
        "enc:v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA:AAAAAAAAAAAA AAAAAAAAAA==",
        "enc:v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==:AAAAAAAAAAAAAAAAAAAAAA==",     /* 22-byte nonce */
        "enc:v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA:AAAAAAAAAAAAAAAAAAAAAA==", /* 27 */
        "enc:v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA:AAAAAAAAAAAAAAAAAAAAAA==",    /* 33 chars */
        "enc:v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA*:AAAAAAAAAAAAAAAAAAAAAA==",     /* not base64 */
        "enc:v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA:AAAAAAAAAAAAAAAAAAAAAA",       /* no padding */
        "enc:v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA:AAAAAAAAAAAAAAAAAAAAAB==",     /* non-canonical */
        "enc:v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA:AAAAAAAAAAAAAAAAAAAAA===",     /* 3 '=' */
        "enc:v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA:AAAAAAAAAAAAAAAAAAAA=AA=",     /* '=' inside */
        "enc:v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA:AAAAAAAAAAAAAAAAAAAA",         /* 15 bytes < MAC */
        "enc:v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA:AAAA",
        "enc:v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA:-_AAAAAAAAAAAAAAAAAAAAA=", /* URL-safe alphabet */
    };
    struct err err = {0};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = open_rc(key1, bad[i], &err);

        if (rc != ERR_INVALID)
            test_fail(__FILE__, __LINE__, "\"%s\" gave %d, expected ERR_INVALID", bad[i], rc);
        CHECK_CONTAINS(err.msg, "not an encrypted value");
    }
}

TEST(secret_malformed_with_nul_and_too_long_are_invalid)
{
    struct sbuf plain = SBUF_INIT(1 << 20), big = SBUF_INIT(1 << 20);
    struct err err = {0};
    char *sealed = seal(SLICE("x"));
    size_t len = strlen(sealed);

    sealed[10] = '\0'; /* a NUL inside the nonce */
    CHECK_INT_EQ(pkg_secret_open(key1, (struct slice){sealed, len}, &plain, &err), ERR_INVALID);
    /* past the longest a sealed 64 KiB can be, even if well-formed base64 */
    sbuf_puts(&big, "enc:v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA:");
    for (size_t i = 0; i < (PKG_SECRET_MAX + 16) / 3 + 4; i++)
        sbuf_puts(&big, "AAAA");
    CHECK_INT_EQ(pkg_secret_open(key1, sbuf_slice(&big), &plain, &err), ERR_INVALID);
    CHECK_CONTAINS(err.msg, "too long");
    CHECK_UINT_EQ(plain.len, 0);
    sbuf_release(&big);
    sbuf_release(&plain);
    free(sealed);
}

/* Exactly the longest ciphertext a 64 KiB value gives: well-formed, so only the MAC fails. */
TEST(secret_longest_well_formed_value_reaches_the_mac_check)
{
    struct sbuf big = SBUF_INIT(1 << 20);
    struct err err = {0};

    /* 16 + 65536 = 65552 = 3 * 21850 + 2 bytes: 21850 groups of 4, then "AAA=" */
    sbuf_puts(&big, "enc:v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA:");
    for (size_t i = 0; i < 21850; i++)
        sbuf_puts(&big, "AAAA");
    sbuf_puts(&big, "AAA=");
    CHECK_INT_EQ(open_rc(key1, big.buf, &err), ERR_FORBIDDEN);
    /* "AAAA" instead: one byte more, past the limit */
    big.buf[big.len - 1] = 'A';
    CHECK_INT_EQ(open_rc(key1, big.buf, &err), ERR_INVALID);
    CHECK_CONTAINS(err.msg, "bad ciphertext");
    sbuf_release(&big);
}

/* ---------------------------------------------------------------- keys */

static int key_for(const char *ws, const char *proj, unsigned char key[32], struct err *err)
{
    return pkg_secret_key(test_tmpdir(), slice_from_cstr(ws), slice_from_cstr(proj), key, err);
}

static void key_file(char *path, size_t n, const char *proj)
{
    snprintf(path, n, "%s/keys/" WS "/%s.key", test_tmpdir(), proj);
}

TEST(secret_key_is_created_0600_and_loaded_again_the_same)
{
    unsigned char a[32], b[32], c[32], zero[32] = {0};
    char path[512];
    struct stat st;
    struct err err = {0};

    OK(key_for(WS, PROJ, a, &err));
    CHECK(memcmp(a, zero, 32) != 0);
    key_file(path, sizeof(path), PROJ);
    CHECK(stat(path, &st) == 0);
    CHECK_INT_EQ(st.st_mode & 0777, 0600);
    CHECK_INT_EQ(st.st_size, 32);
    snprintf(path, sizeof(path), "%s/keys/" WS, test_tmpdir());
    CHECK(stat(path, &st) == 0);
    CHECK_INT_EQ(st.st_mode & 0777, 0700);
    OK(key_for(WS, PROJ, b, &err));
    CHECK_MEM_EQ(a, 32, b, 32);
    OK(key_for(WS, PROJ2, c, &err)); /* another project, another key */
    CHECK(memcmp(a, c, 32) != 0);
}

TEST(secret_sealed_under_one_project_does_not_open_in_another)
{
    unsigned char a[32], c[32];
    struct sbuf out = SBUF_INIT(1024), back = SBUF_INIT(1024);
    struct err err = {0};

    OK(key_for(WS, PROJ, a, &err));
    OK(key_for(WS, PROJ2, c, &err));
    OK(pkg_secret_seal(a, SLICE("db-password"), &out, &err));
    CHECK_INT_EQ(pkg_secret_open(c, sbuf_slice(&out), &back, &err), ERR_FORBIDDEN);
    OK(pkg_secret_open(a, sbuf_slice(&out), &back, &err));
    CHECK_STR_EQ(back.buf, "db-password");
    sbuf_release(&out);
    pkg_secret_wipe(&back);
}

TEST(secret_key_paths_take_only_slugs)
{
    static const char *const bad[] = {
        "",     "..",
        "../x", "01890a5d-ac96-774b-bcce-b302099a8057/..",
        ".ws",  "01890A5D-AC96-774B-BCCE-B302099A8057",
        "-ws",  "01890a5d/ac96-774b-bcce-b302099a80577",
    };
    unsigned char key[32];
    struct err err = {0};
    char path[512];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(key, 0xff, sizeof(key));
        CHECK_INT_EQ(key_for(bad[i], PROJ, key, &err), ERR_INVALID);
        CHECK_CONTAINS(err.msg, "workspace_id");
        CHECK_INT_EQ(key_for(WS, bad[i], key, &err), ERR_INVALID);
        CHECK_CONTAINS(err.msg, "project_id");
        CHECK(key[0] == 0 && key[31] == 0); /* zeroed on error */
    }
    CHECK_INT_EQ(pkg_secret_key("", SLICE(WS), SLICE(PROJ), key, &err), ERR_INVALID);
    CHECK_INT_EQ(pkg_secret_key(NULL, SLICE(WS), SLICE(PROJ), key, &err), ERR_INVALID);
    snprintf(path, sizeof(path), "%s/keys", test_tmpdir());
    CHECK(access(path, F_OK) != 0); /* nothing was created for a refused id */
}

static void write_file(const char *path, const void *data, size_t len, mode_t mode)
{
    FILE *f = fopen(path, "wb");

    CHECK(f != NULL);
    CHECK_UINT_EQ(fwrite(data, 1, len, f), len);
    CHECK(fclose(f) == 0);
    CHECK(chmod(path, mode) == 0);
}

TEST(secret_key_file_of_wrong_size_or_mode_is_refused)
{
    unsigned char key[32];
    char path[512];
    struct err err = {0};

    OK(key_for(WS, PROJ, key, &err)); /* creates the directories */
    key_file(path, sizeof(path), PROJ);
    write_file(path, "short", 5, 0600);
    CHECK_INT_EQ(key_for(WS, PROJ, key, &err), ERR_INVALID);
    CHECK_CONTAINS(err.msg, "exactly 32 bytes");
    write_file(path, "0123456789abcdef0123456789abcdef!", 33, 0600);
    CHECK_INT_EQ(key_for(WS, PROJ, key, &err), ERR_INVALID);
    write_file(path, "", 0, 0600);
    CHECK_INT_EQ(key_for(WS, PROJ, key, &err), ERR_INVALID);
    write_file(path, key1, 32, 0640);
    CHECK_INT_EQ(key_for(WS, PROJ, key, &err), ERR_FORBIDDEN);
    CHECK_CONTAINS(err.msg, "must be readable by its owner");
    write_file(path, key1, 32, 0604);
    CHECK_INT_EQ(key_for(WS, PROJ, key, &err), ERR_FORBIDDEN);
    write_file(path, key1, 32, 0400); /* owner-only read is fine */
    OK(key_for(WS, PROJ, key, &err));
    CHECK_MEM_EQ(key, 32, key1, 32);
}

TEST(secret_key_needs_the_data_directory)
{
    unsigned char key[32];
    struct err err = {0};
    char root[512];

    snprintf(root, sizeof(root), "%s/missing", test_tmpdir());
    CHECK_INT_EQ(pkg_secret_key(root, SLICE(WS), SLICE(PROJ), key, &err), ERR_NOTFOUND);
    CHECK_CONTAINS(err.msg, "missing is not a directory");
}

/* ---------------------------------------------------------------- mask */

static void check_mask(const char *plain, const char *want)
{
    struct sbuf out = SBUF_INIT(64);

    pkg_secret_mask(slice_from_cstr(plain), &out);
    CHECK_STR_EQ(out.buf, want);
    sbuf_release(&out);
}

#define DOTS "\xe2\x80\xa2\xe2\x80\xa2\xe2\x80\xa2\xe2\x80\xa2"

TEST(secret_mask_shows_last_two_only_of_long_values)
{
    check_mask("", DOTS);
    check_mask("ab", DOTS);
    check_mask("hunter2", DOTS);
    check_mask("12345678901", DOTS);       /* 11 bytes */
    check_mask("123456789012", DOTS "12"); /* 12 bytes */
    check_mask("sk_live_abcdefghijklmnopqrstuvwxyz", DOTS "yz");
    check_mask("long enough but ends in é", DOTS); /* last 2 bytes are one UTF-8 char */
    check_mask("long enough value x\n", DOTS);     /* a control byte is not shown */
    check_mask("long enough value  ", DOTS);       /* nor a space */
}

TEST(secret_mask_handles_binary)
{
    struct sbuf out = SBUF_INIT(64);
    const char bin[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 'O', 'K'};

    pkg_secret_mask((struct slice){bin, sizeof(bin)}, &out);
    CHECK_STR_EQ(out.buf, DOTS "OK");
    sbuf_release(&out);
}
