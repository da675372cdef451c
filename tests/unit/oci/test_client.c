/*
 * The registry client's pure parts (src/oci/client.c): WWW-Authenticate challenges, upload
 * Location URLs, the platform picked from an index, and the errors of a client that cannot
 * reach anything. The push and pull themselves run against real registries (slipway's and
 * docker-registry) in tests/integration/test_registry_interop.py.
 */
#include <jansson.h>
#include <stdio.h>

#include "../test.h"

#include "base/base.h"
#include "oci/oci-int.h"

TEST(challenge_bearer)
{
    struct oci_challenge ch;
    struct err err = {0};

    OK(oci_challenge_parse(SLICE("Bearer realm=\"http://127.0.0.1:8080/v2/token\","
                                 "service=\"slipway\",scope=\"repository:ws/app:pull,push\""),
                           &ch, &err));
    CHECK_STR_EQ(ch.scheme, "bearer");
    CHECK_STR_EQ(ch.realm, "http://127.0.0.1:8080/v2/token");
    CHECK_STR_EQ(ch.service, "slipway");
    CHECK_STR_EQ(ch.scope, "repository:ws/app:pull,push");
}

TEST(challenge_basic_and_odd_spacing)
{
    struct oci_challenge ch;
    struct err err = {0};

    OK(oci_challenge_parse(SLICE("Basic realm=\"basic-realm\""), &ch, &err));
    CHECK_STR_EQ(ch.scheme, "basic");
    CHECK_STR_EQ(ch.realm, "basic-realm");
    CHECK_STR_EQ(ch.scope, "");
    OK(oci_challenge_parse(SLICE("BEARER  realm=\"a\\\"b\", error=\"insufficient_scope\","
                                 "service=svc"),
                           &ch, &err));
    CHECK_STR_EQ(ch.scheme, "bearer");
    CHECK_STR_EQ(ch.realm, "a\"b");
    CHECK_STR_EQ(ch.service, "svc");
}

TEST(challenge_refuses_garbage)
{
    struct oci_challenge ch;
    struct err err = {0};
    char big[1200];

    CHECK(oci_challenge_parse(SLICE(""), &ch, &err) == ERR_INVALID);
    CHECK(oci_challenge_parse(SLICE("Bearer realm=\"unterminated"), &ch, &err) == ERR_INVALID);
    CHECK(oci_challenge_parse(SLICE("Bearer realm"), &ch, &err) == ERR_INVALID);
    memset(big, 'x', sizeof(big));
    memcpy(big, "Bearer realm=\"", 14);
    big[sizeof(big) - 2] = '"';
    big[sizeof(big) - 1] = '\0';
    CHECK(oci_challenge_parse(slice_from_cstr(big), &ch, &err) == ERR_INVALID);
}

#define HEX "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

TEST(location_urls)
{
    struct arena *a = arena_new(NULL);

    CHECK_STR_EQ(
        oci_location_url(a, "http://h:1", SLICE("/v2/r/blobs/uploads/u?_state=x"), "sha256:" HEX),
        "http://h:1/v2/r/blobs/uploads/u?_state=x&digest=sha256%3A" HEX);
    CHECK_STR_EQ(oci_location_url(a, "http://h:1", SLICE("https://o.example/up/1"), "sha256:" HEX),
                 "https://o.example/up/1?digest=sha256%3A" HEX);
    CHECK_STR_EQ(oci_location_url(a, "http://h:1", SLICE("v2/x"), NULL), "http://h:1/v2/x");
    arena_free(a);
}

TEST(platform_pick)
{
    json_t *idx = json_loads("{\"manifests\":[{\"digest\":\"sha256:a\",\"mediaType\":\"m1\","
                             "\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\"}},"
                             "{\"digest\":\"sha256:b\",\"mediaType\":\"m2\","
                             "\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}}]}",
                             0, NULL);
    json_t *arm = json_loads("{\"manifests\":[{\"digest\":\"sha256:a\","
                             "\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\"}}]}",
                             0, NULL);
    struct slice d, mt;
    struct err err = {0};

    OK(oci_platform_pick(idx, &d, &mt, &err));
    CHECK(slice_eq_cstr(d, "sha256:b"));
    CHECK(slice_eq_cstr(mt, "m2"));
    CHECK(oci_platform_pick(arm, &d, &mt, &err) == ERR_NOTFOUND);
    CHECK_CONTAINS(err.msg, "linux/arm64");
    json_decref(idx);
    json_decref(arm);
}

TEST(media_types)
{
    CHECK(oci_media_is_index(SLICE(OCI_MT_INDEX)));
    CHECK(oci_media_is_index(SLICE(OCI_MT_DOCKER_LIST)));
    CHECK(!oci_media_is_index(SLICE(OCI_MT_MANIFEST)));
}

/* Nothing listens on the port: the error names the registry and repository, not the secret. */
TEST(unreachable_registry_error_names_it)
{
    struct oci_client *c;
    struct oci_ref r;
    struct err err = {0};
    char dir[600];

    OK(oci_client_new(&(struct oci_client_opts){.username = "u",
                                                .password = "hunter2-secret",
                                                .insecure_loopback = true,
                                                .timeout_ms = 5000},
                      &c, &err));
    OK(oci_ref_parse(SLICE("127.0.0.1:1/acme/app:v1"), &r, &err));
    snprintf(dir, sizeof(dir), "%s/out", test_tmpdir());
    CHECK(oci_pull(c, &r, dir, NULL, &err) == ERR_UNAVAILABLE);
    CHECK_CONTAINS(err.msg, "registry 127.0.0.1:1");
    CHECK_CONTAINS(err.msg, "repository acme/app");
    CHECK(strstr(err.msg, "hunter2") == NULL);
    CHECK(oci_push(c, dir, "nope", &r, NULL, NULL, NULL, &err) == ERR_NOTFOUND);
    CHECK_CONTAINS(err.msg, "index.json");
    oci_client_free(c);
}
