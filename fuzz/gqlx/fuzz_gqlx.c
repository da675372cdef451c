/*
 * libFuzzer harness for execution: a request is a document, then optionally a line "---"
 * and the variables as JSON. It is prepared (parse, validate, limits) against a fixed schema
 * that has every kind of type, then executed on fixed JSON data with the default resolvers and
 * two bound ones. Beyond "no crash, no leak, no hang" it checks that:
 *   - a refusal by gql_prepare() lists at least one error, each with a message;
 *   - execution returns 0 or ERR_INVALID, and the response is one JSON object with "data"
 *     (when 0) or only "errors" (when ERR_INVALID);
 *   - executing the same request again writes the very same bytes.
 */
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "base/base.h"
#include "gql/gql.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char sdl[] =
    "scalar Time\n"
    "interface Node { id: ID! }\n"
    "interface Named implements Node { id: ID! name(upper: Boolean = false): String }\n"
    "type User implements Named & Node { id: ID! name(upper: Boolean = false): String "
    "friends(first: Int = 2, after: ID): [User!] born: Time role: Role }\n"
    "type Team implements Node { id: ID! members: [User]! lead: User! }\n"
    "union Entity = User | Team\n"
    "enum Role { ADMIN USER GUEST @deprecated }\n"
    "input Range { from: Int! to: Int = 10 tags: [String!] nested: Range }\n"
    "type Query { node(id: ID!): Node entities(kinds: [String!], range: Range): [Entity!]!\n"
    "  me: User numbers(range: Range!): [Int] echo(s: String, i: Int, f: Float, b: Boolean, "
    "r: Role, t: Time, l: [[Int!]]): String }\n"
    "type Mutation { rename(id: ID!, name: String!): User }\n"
    "type Subscription { ticks: Int }\n";

static const char root_json[] =
    "{\"node\":{\"__typename\":\"User\",\"id\":\"u1\",\"name\":\"Ann\"},"
    "\"me\":{\"id\":\"u1\",\"name\":\"Ann\",\"born\":\"2020-01-01T00:00:00Z\",\"role\":\"ADMIN\","
    "\"friends\":[{\"id\":\"u2\",\"name\":null,\"role\":\"NOPE\"},{\"id\":null}]},"
    "\"entities\":[{\"__typename\":\"Team\",\"id\":\"t1\",\"members\":[null,{\"id\":\"u3\"}],"
    "\"lead\":null},{\"__typename\":\"User\",\"id\":7,\"name\":12.5},{\"__typename\":\"X\"}],"
    "\"numbers\":[1,2.5,\"3\",true,4000000000,null]}";

static struct gql_schema *schema;
static json_t *root;

/* echo: the arguments back as text, so coercion is exercised end to end. */
static int echo(struct gql_rctx *rc, const struct gql_val *parent, struct gql_val *out,
                struct err *err)
{
    const char *names[] = {"s", "i", "f", "b", "r", "t", "l"};
    size_t given = 0;

    (void)parent;
    for (size_t i = 0; i < ARRAY_LEN(names); i++)
        given += gql_arg(rc, names[i]) != NULL;
    *out = GQL_INT((int64_t)given);
    return given == 7 ? err_set(err, ERR_CONFLICT, "all seven") : 0;
}

static int rename_user(struct gql_rctx *rc, const struct gql_val *parent, struct gql_val *out,
                       struct err *err)
{
    (void)rc, (void)parent, (void)err;
    *out = GQL_JSON(json_object_get(root, "me"));
    return 0;
}

static void setup(void)
{
    struct gql_source src = {"fuzz.graphql", SLICE(sdl)};
    struct err err = {0};

    if (gql_schema_build(&schema, &src, 1, &err) != 0 ||
        gql_schema_bind(schema, "Query", "echo", &(struct gql_binding){.resolve = echo}, &err) ||
        gql_schema_bind(schema, "Mutation", "rename", &(struct gql_binding){.resolve = rename_user},
                        &err)) {
        fprintf(stderr, "fuzz schema: %s\n", err.msg);
        abort();
    }
    root = json_loads(root_json, 0, NULL);
    ASSERT(root != NULL);
}

static int run(struct gql_doc_ref *d, const json_t *vars, struct arena *a, struct sbuf *out)
{
    struct gql_val rv = GQL_JSON(root);
    struct gql_exec x = {.schema = schema, .doc = d, .variables = vars, .root = &rv, .a = a};

    return gql_execute(&x, out);
}

static void check_response(int rc, const struct sbuf *out)
{
    json_t *j = json_loadb(out->buf, out->len, 0, NULL);

    ASSERT(rc == 0 || rc == ERR_INVALID);
    ASSERT(j != NULL && json_is_object(j));
    ASSERT((json_object_get(j, "data") != NULL) == (rc == 0));
    ASSERT(rc == 0 || json_array_size(json_object_get(j, "errors")) >= 1);
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct slice in = {(const char *)data, size}, query = in, vars_text = SLICE_NULL;
    struct arena *a;
    struct gql_doc_ref *d = NULL;
    struct gql_error *errs = NULL;
    struct gql_limits lim = {.max_bytes = 1 << 16, .max_tokens = 4096, .max_depth = 32};
    json_t *vars = NULL;

    if (schema == NULL)
        setup();
    for (size_t i = 0; i + 5 <= size; i++)
        if (memcmp(data + i, "\n---\n", 5) == 0) {
            query = (struct slice){(const char *)data, i};
            vars_text = (struct slice){(const char *)data + i + 5, size - i - 5};
            break;
        }
    if (vars_text.len) {
        vars = json_loadb(vars_text.ptr, vars_text.len, JSON_DECODE_ANY, NULL);
        if (vars != NULL && !json_is_object(vars)) {
            json_decref(vars);
            vars = NULL;
        }
    }
    a = arena_new(&(struct arena_opts){.budget = 16 << 20});
    if (gql_prepare(schema, query, &lim, a, &d, &errs) != 0) {
        ASSERT(d == NULL && errs != NULL);
        for (const struct gql_error *e = errs; e; e = e->next)
            ASSERT(e->message != NULL && e->message[0] != 0);
    } else {
        struct sbuf o1 = SBUF_INIT(4 << 20), o2 = SBUF_INIT(4 << 20);
        int rc1 = run(d, vars, a, &o1), rc2 = run(d, vars, a, &o2);

        if (rc1 != ERR_LIMIT) {
            check_response(rc1, &o1);
            ASSERT(rc1 == rc2 && o1.len == o2.len && memcmp(o1.buf, o2.buf, o1.len) == 0);
        }
        sbuf_release(&o1);
        sbuf_release(&o2);
        gql_doc_ref_put(d);
    }
    json_decref(vars);
    arena_free(a);
    return 0;
}
