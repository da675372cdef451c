/*
 * Image references (src/oci/ref.c): what the distribution grammar accepts, the defaults we
 * keep (tag "latest") and those we refuse (no registry host).
 */
#include "../test.h"

#include "base/base.h"
#include "oci/oci-int.h"

static int parse(const char *s, struct oci_ref *r, struct err *err)
{
    return oci_ref_parse(slice_from_cstr(s), r, err);
}

#define HEX "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

TEST(ref_host_repo_tag)
{
    struct oci_ref r;
    struct err err = {0};

    OK(parse("127.0.0.1:5000/acme/app:v1.2-rc_3", &r, &err));
    CHECK_STR_EQ(r.host, "127.0.0.1:5000");
    CHECK_STR_EQ(r.repo, "acme/app");
    CHECK_STR_EQ(r.tag, "v1.2-rc_3");
    CHECK_STR_EQ(r.digest, "");
    CHECK_STR_EQ(oci_ref_reference(&r), "v1.2-rc_3");
}

TEST(ref_defaults_to_latest_and_keeps_digests)
{
    struct oci_ref r;
    struct err err = {0};

    OK(parse("registry.example/a/b/c", &r, &err));
    CHECK_STR_EQ(r.tag, "latest");
    OK(parse("localhost/app@sha256:" HEX, &r, &err));
    CHECK_STR_EQ(r.host, "localhost");
    CHECK_STR_EQ(r.tag, "");
    CHECK_STR_EQ(r.digest, "sha256:" HEX);
    CHECK_STR_EQ(oci_ref_reference(&r), "sha256:" HEX);
    OK(parse("[::1]:8080/x__y.z--w/app:t@sha256:" HEX, &r, &err));
    CHECK_STR_EQ(r.host, "[::1]:8080");
    CHECK_STR_EQ(r.repo, "x__y.z--w/app");
    CHECK_STR_EQ(r.tag, "t");
    CHECK_STR_EQ(r.digest, "sha256:" HEX);
}

TEST(ref_refuses_what_the_grammar_does)
{
    static const char *const bad[] = {
        "",
        "app:v1",                      /* no registry */
        "acme/app",                    /* "acme" is not a host */
        "127.0.0.1:5000/",             /* no repository */
        "127.0.0.1:5000/Acme/app",     /* upper case */
        "127.0.0.1:5000/acme//app",    /* empty component */
        "127.0.0.1:5000/acme/app/",    /* trailing slash */
        "127.0.0.1:5000/acme/-app",    /* separator first */
        "127.0.0.1:5000/acme/app_",    /* separator last */
        "127.0.0.1:5000/a___b",        /* three underscores */
        "127.0.0.1:5000/app:.tag",     /* tag starts with '.' */
        "127.0.0.1:5000/app:",         /* empty tag */
        "127.0.0.1:99999/app",         /* port out of range */
        "127.0.0.1:/app",              /* empty port */
        "-bad.host/app",               /* label starts with '-' */
        "host./app",                   /* empty label */
        "[::1/app",                    /* unclosed IPv6 */
        "host.example/app@sha256:abc", /* short digest */
        "host.example/app@sha512:" HEX,
        "host.example/app@sha256:" HEX "0",
        "host.example/app@SHA256:" HEX,
    };
    struct oci_ref r;
    struct err err = {0};

    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        if (parse(bad[i], &r, &err) != ERR_INVALID)
            test_fail(__FILE__, __LINE__, "accepted \"%s\"", bad[i]);
        CHECK_CONTAINS(err.msg, "image reference");
    }
    CHECK(parse("app:v1", &r, &err) < 0);
    CHECK_CONTAINS(err.msg, "must start with the registry");
}

TEST(ref_lengths)
{
    char buf[600];
    struct oci_ref r;
    struct err err = {0};
    int n = snprintf(buf, sizeof(buf), "h.example/");

    memset(buf + n, 'a', OCI_REPO_MAX);
    buf[n + OCI_REPO_MAX] = '\0';
    OK(parse(buf, &r, &err));
    CHECK_INT_EQ(strlen(r.repo), OCI_REPO_MAX);
    buf[n + OCI_REPO_MAX] = 'a';
    buf[n + OCI_REPO_MAX + 1] = '\0';
    CHECK(parse(buf, &r, &err) == ERR_INVALID);
    n = snprintf(buf, sizeof(buf), "h.example/a:");
    memset(buf + n, 't', OCI_TAG_MAX + 1);
    buf[n + OCI_TAG_MAX + 1] = '\0';
    CHECK(parse(buf, &r, &err) == ERR_INVALID);
    buf[n + OCI_TAG_MAX] = '\0';
    OK(parse(buf, &r, &err));
}

TEST(digest_valid)
{
    CHECK(oci_digest_valid(SLICE("sha256:" HEX)));
    CHECK(!oci_digest_valid(SLICE("sha256:" HEX "a")));
    CHECK(!oci_digest_valid(
        SLICE("sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef")));
    CHECK(!oci_digest_valid(SLICE("sha512:" HEX)));
    CHECK(!oci_digest_valid(SLICE("")));
}
