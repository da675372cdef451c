/* JSON Schema subset: each keyword, the key named in the message, and schema bugs told apart. */
#include <jansson.h>

#include "../test.h"
#include "base/base.h"
#include "pkg/pkg-int.h"

static const char schema_text[] =
    "{\"$schema\": \"https://json-schema.org/draft/2020-12/schema\","
    " \"type\": \"object\", \"additionalProperties\": false, \"required\": [\"services\"],"
    " \"properties\": {"
    "  \"services\": {\"type\": \"object\","
    "   \"propertyNames\": {\"pattern\": \"^[a-z][a-z0-9-]{0,30}$\"},"
    "   \"additionalProperties\": {\"$ref\": \"#/$defs/service\"}},"
    "  \"tier\": {\"enum\": [\"hobby\", \"pro\"]},"
    "  \"version\": {\"const\": 1}},"
    " \"$defs\": {"
    "  \"service\": {\"type\": \"object\", \"additionalProperties\": false, \"required\": "
    "[\"port\"],"
    "   \"properties\": {"
    "    \"port\": {\"type\": \"integer\", \"minimum\": 1, \"maximum\": 65535},"
    "    \"image\": {\"type\": \"string\", \"minLength\": 1, \"maxLength\": 8},"
    "    \"replicas\": {\"type\": [\"integer\", \"null\"]},"
    "    \"domains\": {\"type\": \"array\", \"maxItems\": 2, \"items\": {\"type\": \"string\"}},"
    "    \"env\": {\"type\": \"object\", \"additionalProperties\": {\"$ref\": \"#/$defs/var\"}}}},"
    "  \"var\": {\"oneOf\": ["
    "   {\"type\": \"string\"},"
    "   {\"type\": \"object\", \"additionalProperties\": false, \"required\": [\"secret\"],"
    "    \"properties\": {\"secret\": {\"type\": \"string\", \"minLength\": 1}}},"
    "   {\"type\": \"object\", \"additionalProperties\": false, \"required\": [\"ref\"],"
    "    \"properties\": {\"ref\": {\"type\": \"string\", \"pattern\": \"^shared\\\\.\"}}}]}}}";

static json_t *load(const char *text)
{
    json_error_t je;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &je);

    if (v == NULL)
        test_fail(__FILE__, __LINE__, "bad JSON in the test: %s: %s", je.text, text);
    return v;
}

/* Checks <doc> against the schema: 0 when <want> is NULL, else ERR_INVALID with <want>. */
static void expect(const char *doc, const char *want)
{
    json_t *s = load(schema_text), *d = load(doc);
    struct err err = {0};
    int rc = pkg_jschema_check(s, d, &err);

    if (want == NULL && rc != 0)
        test_fail(__FILE__, __LINE__, "%s: %d %s", doc, rc, err.msg);
    if (want != NULL && (rc != ERR_INVALID || strcmp(err.msg, want) != 0))
        test_fail(__FILE__, __LINE__, "%s: got %d \"%s\", expected \"%s\"", doc, rc, err.msg, want);
    json_decref(s);
    json_decref(d);
}

TEST(jschema_accepts_valid_documents)
{
    expect("{\"services\": {}}", NULL);
    expect("{\"services\": {\"api\": {\"port\": 8080, \"image\": \"web\", \"replicas\": null,"
           " \"domains\": [\"a\"], \"env\": {\"A\": \"1\", \"B\": {\"secret\": \"x\"},"
           " \"C\": {\"ref\": \"shared.DB\"}}}}, \"tier\": \"pro\", \"version\": 1}",
           NULL);
    expect("{\"services\": {\"api\": {\"port\": 8080.0}}}", NULL); /* an integral number */
}

TEST(jschema_names_the_failing_key)
{
    expect("[]", "(document): must be an object");
    expect("{}", "services: is required");
    expect("{\"services\": {}, \"extra\": 1}",
           "extra: is not a known key (known: services, tier, version)");
    expect("{\"services\": {\"api\": {}}}", "services.api.port: is required");
    expect("{\"services\": {\"api\": {\"port\": \"80\"}}}",
           "services.api.port: must be an integer");
    expect("{\"services\": {\"api\": {\"port\": 0}}}", "services.api.port: must be at least 1");
    expect("{\"services\": {\"api\": {\"port\": 70000}}}",
           "services.api.port: must be at most 65535");
    expect("{\"services\": {\"api\": {\"port\": 1.5}}}", "services.api.port: must be an integer");
    expect("{\"services\": {\"api\": {\"port\": 1, \"image\": \"\"}}}",
           "services.api.image: must be at least 1 characters long");
    expect("{\"services\": {\"api\": {\"port\": 1, \"image\": \"ééééééééé\"}}}",
           "services.api.image: must be at most 8 characters long");
    expect("{\"services\": {\"api\": {\"port\": 1, \"replicas\": \"2\"}}}",
           "services.api.replicas: must be an integer or null");
    expect("{\"services\": {\"api\": {\"port\": 1, \"domains\": [\"a\", 2]}}}",
           "services.api.domains[1]: must be a string");
    expect("{\"services\": {\"api\": {\"port\": 1, \"domains\": [\"a\", \"b\", \"c\"]}}}",
           "services.api.domains: must have at most 2 items");
    expect("{\"services\": {\"Api\": {\"port\": 1}}}",
           "services.Api: must match ^[a-z][a-z0-9-]{0,30}$");
    expect("{\"services\": {\"a.b\": {\"port\": 1}}}",
           "services.\"a.b\": must match ^[a-z][a-z0-9-]{0,30}$");
    expect("{\"services\": {}, \"tier\": \"free\"}", "tier: must be one of \"hobby\", \"pro\"");
    expect("{\"services\": {}, \"version\": 2}", "version: must be exactly its value");
}

TEST(jschema_one_of_tells_the_form_that_fits_the_type)
{
    /* Only the string form takes a number: its message. */
    expect("{\"services\": {\"api\": {\"port\": 1, \"env\": {\"A\": 5}}}}",
           "services.api.env.A: matches none of its 3 allowed forms");
    expect("{\"services\": {\"api\": {\"port\": 1, \"env\": {\"A\": {\"secret\": \"\"}}}}}",
           "services.api.env.A: matches none of its 3 allowed forms");
    expect("{\"services\": {\"api\": {\"port\": 1, \"env\": {\"A\": {\"ref\": \"x\"}}}}}",
           "services.api.env.A: matches none of its 3 allowed forms");
}

TEST(jschema_tells_schema_bugs_apart)
{
    static const char *const bad[] = {
        "{\"type\": \"object\", \"patternProperties\": {}}",
        "{\"$ref\": \"#/definitions/x\"}",
        "{\"$ref\": \"#/$defs/missing\"}",
        "{\"type\": 5}",
        "{\"pattern\": \"(\", \"type\": \"string\"}",
        "{\"$defs\": {\"a\": {\"$ref\": \"#/$defs/a\"}}, \"$ref\": \"#/$defs/a\"}",
        "{\"oneOf\": []}",
    };
    struct err err = {0};

    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        json_t *s = load(bad[i]), *d = load("\"x\"");

        CHECK_INT_EQ(pkg_jschema_check(s, d, &err), ERR_INTERNAL);
        CHECK_CONTAINS(err.msg, "schema at");
        json_decref(s);
        json_decref(d);
    }
}
