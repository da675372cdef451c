/*
 * gateway GraphQL, the pure parts both transports share (src/gateway/graphql.c and the Time
 * scalar of api.c): media types, reading requests, variables, and the introspection-only test
 * that lets a request in without a credential.
 */
#include <jansson.h>
#include <stdlib.h>

#include "../test.h"
#include "base/base.h"
#include "gateway/gw-int.h"

TEST(accept_prefers_the_graphql_media_type_and_defaults_to_json)
{
    CHECK_INT_EQ(gw_gql_accept(SLICE_NULL), GW_MEDIA_JSON);
    CHECK_INT_EQ(gw_gql_accept(SLICE("  ")), GW_MEDIA_JSON);
    CHECK_INT_EQ(gw_gql_accept(SLICE("application/json")), GW_MEDIA_JSON);
    CHECK_INT_EQ(gw_gql_accept(SLICE("*/*")), GW_MEDIA_JSON);
    CHECK_INT_EQ(gw_gql_accept(SLICE("application/*;q=0.5")), GW_MEDIA_JSON);
    CHECK_INT_EQ(gw_gql_accept(SLICE("application/graphql-response+json")), GW_MEDIA_GRAPHQL_JSON);
    CHECK_INT_EQ(gw_gql_accept(SLICE("application/json, Application/GraphQL-Response+JSON;q=1")),
                 GW_MEDIA_GRAPHQL_JSON);
    CHECK_INT_EQ(gw_gql_accept(SLICE("application/graphql-response+json, application/json, "
                                     "multipart/mixed")),
                 GW_MEDIA_GRAPHQL_JSON);
    CHECK_INT_EQ(gw_gql_accept(SLICE("text/html")), GW_MEDIA_NONE);
    /* q=0 refuses a type */
    CHECK_INT_EQ(gw_gql_accept(SLICE("application/graphql-response+json;q=0, application/json")),
                 GW_MEDIA_JSON);
    CHECK_INT_EQ(gw_gql_accept(SLICE("application/json; q=0.000")), GW_MEDIA_NONE);
    CHECK_INT_EQ(gw_gql_accept(SLICE("application/json;q=0.01")), GW_MEDIA_JSON);
}

TEST(content_type_must_be_json_with_any_parameters)
{
    CHECK(gw_gql_content_is_json(SLICE("application/json")));
    CHECK(gw_gql_content_is_json(SLICE("application/json; charset=utf-8")));
    CHECK(gw_gql_content_is_json(SLICE("APPLICATION/JSON")));
    CHECK(!gw_gql_content_is_json(SLICE_NULL));
    CHECK(!gw_gql_content_is_json(SLICE("text/plain")));
    CHECK(!gw_gql_content_is_json(SLICE("application/jsonx")));
    CHECK(!gw_gql_content_is_json(SLICE("application/graphql")));
}

TEST(time_accepts_rfc3339_date_times_only)
{
    CHECK(gw_time_valid(SLICE("2026-01-05T10:00:00Z")));
    CHECK(gw_time_valid(SLICE("2026-01-05T10:00:00.123Z")));
    CHECK(gw_time_valid(SLICE("2026-01-05t10:00:00.1z")));
    CHECK(gw_time_valid(SLICE("2026-01-05T10:00:00+02:00")));
    CHECK(gw_time_valid(SLICE("2026-01-05T10:00:00.5-07:30")));
    CHECK(!gw_time_valid(SLICE("2026-01-05")));
    CHECK(!gw_time_valid(SLICE("2026-01-05T10:00:00")));
    CHECK(!gw_time_valid(SLICE("2026-01-05 10:00:00Z")));
    CHECK(!gw_time_valid(SLICE("2026-01-05T10:00:00.Z")));
    CHECK(!gw_time_valid(SLICE("2026-01-05T10:00:00Zjunk")));
    CHECK(!gw_time_valid(SLICE("2026-01-05T10:00:00+0200")));
    CHECK(!gw_time_valid(SLICE("yesterday")));
    CHECK(!gw_time_valid(SLICE_NULL));
}

TEST(time_values_are_written_in_utc_with_milliseconds)
{
    struct arena *a = arena_new(NULL);

    CHECK_STR_EQ(gw_api_time(a, 1767607200123LL), "2026-01-05T10:00:00.123Z");
    CHECK_STR_EQ(gw_api_time(a, 0), "1970-01-01T00:00:00.000Z");
    arena_free(a);
}

static bool open_doc(const char *text, const char *op)
{
    struct arena *a = arena_new(NULL);
    bool r = gw_gql_introspection_only(a, slice_from_cstr(text), slice_from_cstr(op), NULL);

    arena_free(a);
    return r;
}

TEST(introspection_only_documents_are_recognised)
{
    CHECK(open_doc("{ __typename }", ""));
    CHECK(open_doc("query { __schema { types { name fields { name } } } }", ""));
    CHECK(open_doc("{ __type(name: \"User\") { name } }", ""));
    CHECK(open_doc("{ ... on Query { __typename } }", ""));
    CHECK(open_doc("query Q { ...F } fragment F on Query { __schema { queryType { name } } }", ""));
    /* the selected operation decides */
    CHECK(open_doc("query A { me { id } } query B { __typename }", "B"));
    CHECK(!open_doc("query A { me { id } } query B { __typename }", "A"));
    CHECK(!open_doc("query A { me { id } } query B { __typename }", ""));
    CHECK(!open_doc("query A { __typename }", "C"));
    /* anything else needs a credential */
    CHECK(!open_doc("{ __typename me { id } }", ""));
    CHECK(!open_doc("{ ... on Query { me { id } } }", ""));
    CHECK(!open_doc("{ ...F } fragment F on Query { me { id } }", ""));
    CHECK(!open_doc("{ ...Missing }", ""));
    CHECK(!open_doc("{ ...F } fragment F on Query { ...F }", "")); /* a cycle ends */
    CHECK(!open_doc("mutation { __typename }", ""));
    CHECK(!open_doc("subscription { __typename }", ""));
    CHECK(!open_doc("{ __typename", ""));
    CHECK(!open_doc("", ""));
}

static int request_of(const char *json, struct gw_gql_request *out, struct arena *a,
                      struct err *err)
{
    json_t *o = json_loads(json, 0, NULL);
    int rc;

    CHECK(o != NULL);
    rc = gw_gql_request_from_json(o, a, out, err);
    json_decref(o);
    return rc;
}

TEST(request_members_are_read_and_checked)
{
    struct arena *a = arena_new(NULL);
    struct gw_gql_request r;
    struct err err = {0};

    OK(request_of("{\"query\":\"{ me { id } }\",\"operationName\":\"Q\",\"variables\":{\"x\":1},"
                  "\"extensions\":{}}",
                  &r, a, &err));
    CHECK(slice_eq_cstr(r.query, "{ me { id } }")); /* copied: the JSON is gone */
    CHECK(slice_eq_cstr(r.operation_name, "Q"));
    CHECK(json_integer_value(json_object_get(r.variables, "x")) == 1);
    json_decref(r.variables);
    OK(request_of("{\"query\":\"{ a }\",\"operationName\":null,\"variables\":null,"
                  "\"extensions\":null}",
                  &r, a, &err));
    CHECK(r.operation_name.ptr == NULL && r.variables == NULL);
    OK(request_of("{\"query\":\"{ a }\",\"operationName\":\"\"}", &r, a, &err));
    CHECK(r.operation_name.ptr == NULL); /* "" names no operation */

    CHECK_INT_EQ(request_of("{}", &r, a, &err), ERR_INVALID);
    CHECK_CONTAINS(err.msg, "query: required");
    CHECK_INT_EQ(request_of("{\"query\":1}", &r, a, &err), ERR_INVALID);
    CHECK_CONTAINS(err.msg, "query: must be a string");
    CHECK_INT_EQ(request_of("{\"query\":\"{a}\",\"variables\":[1]}", &r, a, &err), ERR_INVALID);
    CHECK_CONTAINS(err.msg, "variables");
    CHECK_INT_EQ(request_of("{\"query\":\"{a}\",\"operationName\":3}", &r, a, &err), ERR_INVALID);
    CHECK_CONTAINS(err.msg, "operationName");
    CHECK_INT_EQ(request_of("{\"query\":\"{a}\",\"extensions\":\"x\"}", &r, a, &err), ERR_INVALID);
    CHECK_CONTAINS(err.msg, "extensions");
    arena_free(a);
}

TEST(get_variables_must_be_an_object_or_null)
{
    struct err err = {0};
    json_t *v = NULL;

    OK(gw_gql_variables_parse(SLICE("{\"a\":[1,2]}"), 1024, &v, &err));
    CHECK(json_is_object(v));
    json_decref(v);
    OK(gw_gql_variables_parse(SLICE_NULL, 1024, &v, &err));
    CHECK(v == NULL);
    OK(gw_gql_variables_parse(SLICE("null"), 1024, &v, &err));
    CHECK(v == NULL);
    CHECK_INT_EQ(gw_gql_variables_parse(SLICE("[1]"), 1024, &v, &err), ERR_INVALID);
    CHECK_STR_EQ(err.msg, "variables: must be a JSON object");
    CHECK_INT_EQ(gw_gql_variables_parse(SLICE("{nope"), 1024, &v, &err), ERR_INVALID);
    CHECK(strncmp(err.msg, "variables: invalid JSON", 23) == 0);
    CHECK_INT_EQ(gw_gql_variables_parse(SLICE("{\"a\":\"0123456789\"}"), 8, &v, &err), ERR_INVALID);
    CHECK_CONTAINS(err.msg, "larger than 8 bytes");
}

TEST(errors_are_written_with_their_code)
{
    struct sbuf b = SBUF_INIT(4096);
    struct arena *a = arena_new(NULL);
    struct jw w;

    jw_init(&w, &b);
    jw_arr_begin(&w);
    gw_gql_error_write(&w, ERR_FORBIDDEN, "no \"way\"");
    jw_arr_end(&w);
    CHECK_STR_EQ(b.buf,
                 "[{\"message\":\"no \\\"way\\\"\",\"extensions\":{\"code\":\"FORBIDDEN\"}}]");
    sbuf_reset(&b);
    gw_gql_errors_response(&b, gw_gql_error(a, "UNAUTHENTICATED", "who are you"));
    CHECK_CONTAINS(b.buf, "{\"errors\":[{\"message\":\"who are you\"");
    CHECK_CONTAINS(b.buf, "\"code\":\"UNAUTHENTICATED\"");
    sbuf_release(&b);
    arena_free(a);
}
