/*
 * libFuzzer harness for image references (src/oci/ref.c) and WWW-Authenticate challenges
 * (src/oci/client.c). Byte 0 picks the parser, the rest is its text.
 *
 * Beyond "no crash, no leak": an accepted reference has a host, a repository of lower-case
 * components with no empty one, a tag or a digest, each within its size; writing it back as
 * host/repo[:tag][@digest] and parsing that again gives the same fields. A parsed challenge
 * has a lower-case scheme and NUL-terminated fields.
 */
#include <stdio.h>
#include <stdlib.h>

#include "oci/oci-int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(x)                                                                              \
    do {                                                                                           \
        if (!(x)) {                                                                                \
            fprintf(stderr, "%s:%d: FUZZ_CHECK(%s) failed\n", __FILE__, __LINE__, #x);             \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static void check_ref(struct slice s)
{
    struct oci_ref r, again;
    struct err err = {0};
    char text[1024];
    int n;

    if (oci_ref_parse(s, &r, &err) < 0) {
        FUZZ_CHECK(err.msg[0] != '\0');
        return;
    }
    FUZZ_CHECK(r.host[0] != '\0' && strlen(r.host) <= OCI_HOST_MAX);
    FUZZ_CHECK(r.repo[0] != '\0' && strlen(r.repo) <= OCI_REPO_MAX);
    FUZZ_CHECK(r.repo[0] != '/' && r.repo[strlen(r.repo) - 1] != '/' && !strstr(r.repo, "//"));
    for (const char *p = r.repo; *p; p++)
        FUZZ_CHECK((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || strchr("._-/", *p));
    FUZZ_CHECK(r.tag[0] != '\0' || r.digest[0] != '\0');
    FUZZ_CHECK(r.digest[0] == '\0' || oci_digest_valid(slice_from_cstr(r.digest)));
    n = snprintf(text, sizeof(text), "%s/%s%s%s%s%s", r.host, r.repo, r.tag[0] ? ":" : "", r.tag,
                 r.digest[0] ? "@" : "", r.digest);
    FUZZ_CHECK(n > 0 && (size_t)n < sizeof(text));
    FUZZ_CHECK(oci_ref_parse((struct slice){text, (size_t)n}, &again, &err) == 0);
    FUZZ_CHECK(memcmp(&r, &again, sizeof(r)) == 0);
}

static void check_challenge(struct slice s)
{
    struct oci_challenge ch;
    struct err err = {0};

    if (oci_challenge_parse(s, &ch, &err) < 0)
        return;
    FUZZ_CHECK(memchr(ch.scheme, '\0', sizeof(ch.scheme)) != NULL && ch.scheme[0] != '\0');
    for (const char *p = ch.scheme; *p; p++)
        FUZZ_CHECK(!(*p >= 'A' && *p <= 'Z'));
    FUZZ_CHECK(memchr(ch.realm, '\0', sizeof(ch.realm)) != NULL);
    FUZZ_CHECK(memchr(ch.service, '\0', sizeof(ch.service)) != NULL);
    FUZZ_CHECK(memchr(ch.scope, '\0', sizeof(ch.scope)) != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct slice s = {(const char *)data + 1, size ? size - 1 : 0};

    if (size == 0)
        return 0;
    if (data[0] % 2 == 0)
        check_ref(s);
    else
        check_challenge(s);
    return 0;
}
