/* The values schemas (schema/values-*.schema.json) against example values files, and the
 * messages a wrong setting gets: the document's key and the rule. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "../test.h"
#include "base/base.h"
#include "pkg/pkg-int.h"

/* A file of the source tree, found from this test's own path (tests may run anywhere). */
static char *source_file(const char *rel, size_t *len)
{
    char path[4096];
    const char *here = __FILE__, *cut = strstr(here, "tests/unit/pkg/");
    FILE *f;
    char *buf;
    long n;

    snprintf(path, sizeof(path), "%.*s%s", cut ? (int)(cut - here) : 0, here, rel);
    f = fopen(path, "rb");
    if (f == NULL)
        test_fail(__FILE__, __LINE__, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = xmalloc((size_t)n + 1);
    CHECK(fread(buf, 1, (size_t)n, f) == (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static json_t *schema(const char *name)
{
    char rel[128];
    size_t len;
    char *text;
    json_error_t je;
    json_t *s;

    snprintf(rel, sizeof(rel), "schema/%s.schema.json", name);
    text = source_file(rel, &len);
    s = json_loadb(text, len, 0, &je);
    if (s == NULL)
        test_fail(__FILE__, __LINE__, "%s: %s", rel, je.text);
    free(text);
    return s;
}

static struct pkg_yaml *example(const char *name)
{
    char rel[128];
    size_t len;
    char *text;
    struct pkg_yaml *doc;
    struct err err = {0};

    snprintf(rel, sizeof(rel), "tests/unit/pkg/values/%s.values.yaml", name);
    text = source_file(rel, &len);
    OK(pkg_yaml_parse((struct slice){text, len}, NULL, &doc, &err));
    free(text);
    return doc;
}

/* Checks <doc> against <s>: 0, or the message. */
static int validate(json_t *s, struct pkg_yaml *doc, struct err *err)
{
    json_t *j = NULL;
    int rc = pkg_yaml_to_json(doc, &j, err);

    if (rc == 0)
        rc = pkg_jschema_check(s, j, err);
    json_decref(j);
    return rc;
}

TEST(values_examples_match_their_schemas)
{
    json_t *base = schema("values-base"), *env = schema("values-env");
    struct pkg_yaml *b = example("base"), *p = example("production");
    struct err err = {0};

    OK(validate(base, b, &err));
    OK(validate(env, p, &err));
    /* Each schema refuses the other file. */
    CHECK_INT_EQ(validate(base, p, &err), ERR_INVALID);
    CHECK_INT_EQ(validate(env, b, &err), ERR_INVALID);
    pkg_yaml_free(b);
    pkg_yaml_free(p);
    json_decref(base);
    json_decref(env);
}

struct bad_edit {
    const char *file, *path, *json, *message;
};

static const struct bad_edit bad[] = {
    {"base", "services.api.port", "0", "services.api.port: must be at least 1"},
    {"base", "services.api.port", "\"8080\"", "services.api.port: must be an integer"},
    {"base", "services.Api", "{\"image\": \"r/x\", \"port\": 1}",
     "services.Api: must match ^[a-z][a-z0-9-]{0,30}$"},
    {"base", "services.api.healthCheckPath", "\"healthz\"",
     "services.api.healthCheckPath: must match ^/"},
    {"base", "services.api.colour", "\"red\"",
     "services.api.colour: is not a known key (known: image, port, source, framework, "
     "startCommand, customStartCommand, healthCheckPath, replicas)"},
    {"base", "databases.main.engine", "\"mysql\"",
     "databases.main.engine: must be one of \"postgres\", \"redis\""},
    {"base", "cron.nightly-report.command", "\"\"",
     "cron.nightly-report.command: must be at least 1 characters long"},
    {"production", "services.api.image.digest", "\"sha256:abc\"",
     "services.api.image.digest: must match ^sha256:[a-f0-9]{64}$"},
    {"production", "services.api.domains[0]", "\"Not A Domain\"",
     "services.api.domains[0]: must match ^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$"},
    {"production", "services.api.variables.BAD-NAME", "\"x\"",
     "services.api.variables.BAD-NAME: must match ^[A-Za-z_][A-Za-z0-9_]{0,127}$"},
    {"production", "services.api.variables.STRIPE_KEY", "{\"secret\": \"plain text\"}",
     "services.api.variables.STRIPE_KEY: matches none of its 5 allowed forms"},
    {"production", "services.api.variables.X", "5",
     "services.api.variables.X: matches none of its 5 allowed forms"},
    {"production", "services.api.resources.tier", "\"huge\"",
     "services.api.resources.tier: must be one of \"small\", \"medium\", \"large\", \"custom\""},
    {"production", "services.api.autoscaling.min", "0",
     "services.api.autoscaling.min: must be at least 1"},
    {"production", "schemaVersion", "2", "schemaVersion: must be exactly its value"},
};

TEST(values_wrong_settings_name_the_key_and_the_rule)
{
    json_t *base = schema("values-base"), *env = schema("values-env");
    struct err err = {0};

    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        struct pkg_yaml *doc = example(bad[i].file);
        json_t *v = json_loads(bad[i].json, JSON_DECODE_ANY, NULL);

        CHECK(v != NULL);
        OK(pkg_yaml_set_json(doc, bad[i].path, v, &err));
        CHECK_INT_EQ(validate(strcmp(bad[i].file, "base") == 0 ? base : env, doc, &err),
                     ERR_INVALID);
        if (strcmp(err.msg, bad[i].message) != 0)
            test_fail(__FILE__, __LINE__, "%s = %s: \"%s\", expected \"%s\"", bad[i].path,
                      bad[i].json, err.msg, bad[i].message);
        json_decref(v);
        pkg_yaml_free(doc);
    }
    json_decref(base);
    json_decref(env);
}
