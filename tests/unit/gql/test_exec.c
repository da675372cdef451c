#include <jansson.h>

#include "../test.h"
#include "base/base.h"
#include "gql/gql.h"

static const char sdl[] = "schema { query: Query mutation: Mutation }\n"
                          "\"A pet.\" interface Pet { name: String! }\n"
                          "type Dog implements Pet { name: String! barks: Boolean nick: String }\n"
                          "type Cat implements Pet { name: String! lives: Int }\n"
                          "union Animal = Dog | Cat\n"
                          "enum Color { RED GREEN BLUE @deprecated(reason: \"gone\") }\n"
                          "input Filter { color: Color = RED, limit: Int! tags: [String!] }\n"
                          "type Query {\n"
                          "  hello: String\n"
                          "  count: Int\n"
                          "  big: Int\n"
                          "  ratio: Float\n"
                          "  pets: [Pet!]!\n"
                          "  animals: [Animal]\n"
                          "  must: String!\n"
                          "  nested: Query\n"
                          "  strict: [Int!]\n"
                          "  color: Color\n"
                          "  echo(s: String, n: Int = 7, f: Filter, c: Color): String\n"
                          "}\n"
                          "type Mutation { add(n: Int!): Int }\n";

static const char data[] =
    "{\"hello\":\"world\",\"count\":3,\"big\":4000000000,\"ratio\":1.5,"
    "\"pets\":[{\"__typename\":\"Dog\",\"name\":\"Rex\",\"barks\":true},"
    "{\"__typename\":\"Cat\",\"name\":\"Tom\",\"lives\":9}],"
    "\"animals\":[{\"__typename\":\"Cat\",\"name\":\"Kit\",\"lives\":1},{\"__typename\":\"Nope\"}],"
    "\"must\":null,\"nested\":{\"hello\":\"inner\",\"must\":null},\"strict\":[1,null,3],"
    "\"color\":\"GREEN\"}";

struct fixture {
    struct gql_schema *s;
    json_t *root;
};

static int echo(struct gql_rctx *rc, const struct gql_val *parent, struct gql_val *out,
                struct err *err)
{
    struct sbuf b = SBUF_INIT(1024);
    const char *names[] = {"s", "n", "f", "c"};

    (void)parent;
    for (size_t i = 0; i < ARRAY_LEN(names); i++) {
        const struct gql_val *v = gql_arg(rc, names[i]);

        sbuf_printf(&b, "%s%s=", i ? " " : "", names[i]);
        if (v == NULL)
            sbuf_puts(&b, "-");
        else if (v->kind == GQL_V_STRING || v->kind == GQL_V_ENUM)
            sbuf_put_slice(&b, v->s);
        else if (v->kind == GQL_V_INT)
            sbuf_printf(&b, "%lld", (long long)v->i);
        else if (v->kind == GQL_V_NULL)
            sbuf_puts(&b, "null");
        else if (v->kind == GQL_V_OBJECT) {
            const struct gql_val *c = gql_val_field(v, "color"), *l = gql_val_field(v, "limit");
            const struct gql_val *t = gql_val_field(v, "tags");

            sbuf_printf(&b, "{" SLICE_FMT ",%lld,%zu}", SLICE_ARG(c->s), (long long)l->i,
                        t ? t->list.n : 99);
        }
    }
    *out = GQL_STRING(slice_dup(gql_rctx_arena(rc), sbuf_slice(&b)));
    sbuf_release(&b);
    return out->s.ptr ? 0 : err_set(err, ERR_LIMIT, "oom");
}

static int add(struct gql_rctx *rc, const struct gql_val *parent, struct gql_val *out,
               struct err *err)
{
    const struct gql_val *n = gql_arg(rc, "n");

    (void)parent;
    if (n->i < 0)
        return err_set(err, ERR_INVALID, "n must not be negative");
    *out = GQL_INT(n->i + 1);
    return 0;
}

static void fixture_open(struct fixture *f)
{
    struct err err = {0};
    struct gql_source src = {"test.graphql", SLICE(sdl)};

    OK(gql_schema_build(&f->s, &src, 1, &err));
    OK(gql_schema_bind(f->s, "Query", "echo", &(struct gql_binding){.resolve = echo}, &err));
    OK(gql_schema_bind(f->s, "Mutation", "add", &(struct gql_binding){.resolve = add}, &err));
    f->root = json_loads(data, 0, NULL);
    CHECK(f->root != NULL);
}

static void fixture_close(struct fixture *f)
{
    json_decref(f->root);
    gql_schema_free(f->s);
}

/* Runs <query> with <vars> (JSON text or NULL) and checks the response is <want>. */
static void run(struct fixture *f, const char *query, const char *vars, const char *want)
{
    struct arena *a = arena_new(NULL);
    struct sbuf out = SBUF_INIT(1 << 20);
    struct gql_doc_ref *d = NULL;
    struct gql_error *errs = NULL;
    json_t *v = vars ? json_loads(vars, 0, NULL) : NULL;
    struct gql_val root = GQL_JSON(f->root);

    if (gql_prepare(f->s, slice_from_cstr(query), NULL, a, &d, &errs) != 0) {
        struct jw w;

        jw_init(&w, &out);
        jw_arr_begin(&w);
        gql_errors_write(&w, errs);
        jw_arr_end(&w);
    } else {
        struct gql_exec x = {.schema = f->s, .doc = d, .variables = v, .root = &root, .a = a};
        int rc = gql_execute(&x, &out);

        CHECK(rc == 0 || rc == ERR_INVALID);
    }
    CHECK_STR_EQ(out.buf, want);
    gql_doc_ref_put(d);
    json_decref(v);
    sbuf_release(&out);
    arena_free(a);
}

TEST(exec_scalars_and_aliases)
{
    struct fixture f;

    fixture_open(&f);
    run(&f, "{ hello a: count ratio color __typename }", NULL,
        "{\"data\":{\"hello\":\"world\",\"a\":3,\"ratio\":1.5,\"color\":\"GREEN\","
        "\"__typename\":\"Query\"}}");
    run(&f, "{ big }", NULL,
        "{\"data\":{\"big\":null},\"errors\":[{\"message\":\"Int cannot represent 4000000000\","
        "\"locations\":[{\"line\":1,\"column\":3}],\"path\":[\"big\"],"
        "\"extensions\":{\"code\":\"INTERNAL\"}}]}");
    fixture_close(&f);
}

TEST(exec_null_propagation)
{
    struct fixture f;

    fixture_open(&f);
    run(&f, "{ hello must }", NULL,
        "{\"data\":null,\"errors\":[{\"message\":\"field \\\"must\\\" cannot be null, but its "
        "resolver gave null\",\"locations\":[{\"line\":1,\"column\":9}],\"path\":[\"must\"],"
        "\"extensions\":{\"code\":\"INTERNAL\"}}]}");
    run(&f, "{ nested { hello must } count }", NULL,
        "{\"data\":{\"nested\":null,\"count\":3},\"errors\":[{\"message\":\"field \\\"must\\\" "
        "cannot be null, but its resolver gave null\",\"locations\":[{\"line\":1,\"column\":"
        "18}],\"path\":[\"nested\",\"must\"],\"extensions\":{\"code\":\"INTERNAL\"}}]}");
    run(&f, "{ strict }", NULL,
        "{\"data\":{\"strict\":null},\"errors\":[{\"message\":\"field \\\"strict\\\" cannot be "
        "null, but its resolver gave null\",\"locations\":[{\"line\":1,\"column\":3}],\"path\":"
        "[\"strict\",1],\"extensions\":{\"code\":\"INTERNAL\"}}]}");
    fixture_close(&f);
}

TEST(exec_abstract_types)
{
    struct fixture f;

    fixture_open(&f);
    run(&f, "{ pets { name ... on Dog { barks } ...C } } fragment C on Cat { lives }", NULL,
        "{\"data\":{\"pets\":[{\"name\":\"Rex\",\"barks\":true},{\"name\":\"Tom\",\"lives\":9}]"
        "}}");
    run(&f, "{ animals { __typename ... on Cat { lives } } }", NULL,
        "{\"data\":{\"animals\":[{\"__typename\":\"Cat\",\"lives\":1},null]},\"errors\":[{"
        "\"message\":\"could not tell which object type of \\\"Animal\\\" the value of field "
        "\\\"animals\\\" is\",\"locations\":[{\"line\":1,\"column\":3}],\"path\":[\"animals\",1],"
        "\"extensions\":{\"code\":\"INTERNAL\"}}]}");
    fixture_close(&f);
}

TEST(exec_arguments_and_variables)
{
    struct fixture f;

    fixture_open(&f);
    run(&f, "{ echo }", NULL, "{\"data\":{\"echo\":\"s=- n=7 f=- c=-\"}}");
    run(&f, "{ echo(s: \"x\", n: null, c: BLUE, f: {limit: 2, tags: \"a\"}) }", NULL,
        "{\"data\":{\"echo\":\"s=x n=null f={RED,2,1} c=BLUE\"}}");
    run(&f, "query Q($s: String, $f: Filter) { echo(s: $s, f: $f) }",
        "{\"s\":\"v\",\"f\":{\"limit\":5,\"color\":\"GREEN\",\"tags\":[\"a\",\"b\"]}}",
        "{\"data\":{\"echo\":\"s=v n=7 f={GREEN,5,2} c=-\"}}");
    run(&f, "query Q($n: Int) { echo(n: $n) }", "{}", "{\"data\":{\"echo\":\"s=- n=7 f=- c=-\"}}");
    run(&f, "query Q($n: Int) { echo(n: $n) }", "{\"n\":null}",
        "{\"data\":{\"echo\":\"s=- n=null f=- c=-\"}}");
    run(&f, "query Q($f: Filter!) { echo(f: $f) }", "{\"f\":{\"limit\":\"x\"}}",
        "{\"errors\":[{\"message\":\"variable \\\"$f\\\" got an invalid value at \\\"limit\\\": "
        "Int cannot represent \\\"x\\\"\",\"locations\":[{\"line\":1,\"column\":9}],"
        "\"extensions\":{\"code\":\"BAD_USER_INPUT\"}}]}");
    run(&f, "query Q($f: Filter!) { echo(f: $f) }", NULL,
        "{\"errors\":[{\"message\":\"variable \\\"$f\\\" of required type \\\"Filter!\\\" was not "
        "provided\",\"locations\":[{\"line\":1,\"column\":9}],\"extensions\":{\"code\":"
        "\"BAD_USER_INPUT\"}}]}");
    run(&f, "query Q($yes: Boolean!) { hello @skip(if: $yes) count @include(if: $yes) }",
        "{\"yes\":true}", "{\"data\":{\"count\":3}}");
    fixture_close(&f);
}

TEST(exec_mutation_and_resolver_errors)
{
    struct fixture f;

    fixture_open(&f);
    run(&f, "mutation { a: add(n: 1) b: add(n: -1) c: add(n: 2) }", NULL,
        "{\"data\":{\"a\":2,\"b\":null,\"c\":3},\"errors\":[{\"message\":\"n must not be "
        "negative\",\"locations\":[{\"line\":1,\"column\":25}],\"path\":[\"b\"],\"extensions\":"
        "{\"code\":\"BAD_USER_INPUT\"}}]}");
    run(&f, "query A { hello } query B { count }", NULL,
        "{\"errors\":[{\"message\":\"the document has several operations: operationName must "
        "say which to run\",\"extensions\":{\"code\":\"BAD_USER_INPUT\"}}]}");
    fixture_close(&f);
}

TEST(exec_introspection)
{
    struct fixture f;

    fixture_open(&f);
    run(&f, "{ __type(name: \"Color\") { kind name enumValues { name } } }", NULL,
        "{\"data\":{\"__type\":{\"kind\":\"ENUM\",\"name\":\"Color\",\"enumValues\":[{\"name\":"
        "\"RED\"},{\"name\":\"GREEN\"}]}}}");
    run(&f,
        "{ __type(name: \"Filter\") { inputFields { name defaultValue type { kind ofType { "
        "name } } } } }",
        NULL,
        "{\"data\":{\"__type\":{\"inputFields\":[{\"name\":\"color\",\"defaultValue\":\"RED\","
        "\"type\":{\"kind\":\"ENUM\",\"ofType\":null}},{\"name\":\"limit\",\"defaultValue\":null,"
        "\"type\":{\"kind\":\"NON_NULL\",\"ofType\":{\"name\":\"Int\"}}},{\"name\":\"tags\","
        "\"defaultValue\":null,\"type\":{\"kind\":\"LIST\",\"ofType\":{\"name\":null}}}]}}}");
    run(&f, "{ __schema { queryType { name } types { name } } }", NULL,
        "{\"data\":{\"__schema\":{\"queryType\":{\"name\":\"Query\"},\"types\":[{\"name\":\"Pet\"},"
        "{\"name\":\"String\"},{\"name\":\"Dog\"},{\"name\":\"Boolean\"},{\"name\":\"Cat\"},{"
        "\"name\":\"Int\"},{\"name\":\"Animal\"},{\"name\":\"Color\"},{\"name\":\"Filter\"},{"
        "\"name\":\"Query\"},{\"name\":\"Float\"},{\"name\":\"Mutation\"},{\"name\":\"__Schema\"},"
        "{\"name\":\"__Type\"},{\"name\":\"__TypeKind\"},{\"name\":\"__Field\"},{\"name\":"
        "\"__InputValue\"},{\"name\":\"__EnumValue\"},{\"name\":\"__Directive\"},{\"name\":"
        "\"__DirectiveLocation\"}]}}}");
    fixture_close(&f);
}

TEST(schema_build_errors)
{
    static const struct {
        const char *sdl, *msg;
    } cases[] = {
        {"type Query { a: Nope }", "s.graphql:1:17: unknown type \"Nope\""},
        {"type Query { a: Int } type Query { b: Int }",
         "s.graphql:1:23: type \"Query\" is defined twice"},
        {"type Foo { a: Int }", "the schema has no query root type"},
        {"interface I { a: Int } type Query implements I { b: Int }",
         "\"Query\" implements \"I\" but has no field \"a\""},
        {"input I { i: I! } type Query { a(i: I): Int }", "reaches itself through required"},
        {"type Query { a(x: Int = \"s\"): Int }", "default value of \"x\" is not valid"},
        {"type Query { a: Int @nope }", "unknown directive \"@nope\""},
        {"type __Q { a: Int } type Query { a: Int }", "reserved"},
        {"union U = Query type Query { a: U } scalar S extend union U = S",
         "\"S\" is not an object type"},
    };

    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct gql_schema *s = NULL;
        struct err err = {0};
        struct gql_source src = {"s.graphql", slice_from_cstr(cases[i].sdl)};

        CHECK_INT_EQ(gql_schema_build(&s, &src, 1, &err), ERR_INVALID);
        if (strstr(err.msg, cases[i].msg) == NULL)
            test_fail(__FILE__, __LINE__, "case %zu: \"%s\" lacks \"%s\"", i, err.msg,
                      cases[i].msg);
        CHECK(s == NULL);
    }
}

/* ---------------------------------------------------------------- subscriptions and cache */

struct ticker {
    gql_emit_fn *emit;
    void *sink;
    int64_t from;
    bool cancelled;
};

static void ticker_cancel(void *state)
{
    ((struct ticker *)state)->cancelled = true;
}

static int tick_subscribe(struct gql_rctx *rc, gql_emit_fn *emit, void *sink,
                          void (**cancel)(void *state), void **state, struct err *err)
{
    struct ticker *t = gql_rctx_udata(rc);
    const struct gql_val *from = gql_arg(rc, "from");

    if (from->i < 0)
        return err_set(err, ERR_FORBIDDEN, "no negative ticks");
    t->emit = emit;
    t->sink = sink;
    t->from = from->i;
    *cancel = ticker_cancel;
    *state = t;
    return 0;
}

struct sink {
    const struct gql_exec *x;
    struct sbuf out;
};

static void sink_emit(void *arg, const struct gql_val *event)
{
    struct sink *s = arg;

    CHECK_INT_EQ(gql_execute_event(s->x, event, &s->out), 0);
}

TEST(exec_subscription_events)
{
    static const char sub_sdl[] = "type Query { a: Int } type Subscription { tick(from: Int!): "
                                  "Int! other: Int }";
    struct gql_source src = {"sub.graphql", SLICE(sub_sdl)};
    struct gql_schema *s = NULL;
    struct err err = {0};
    struct ticker t = {0};
    struct arena *a = arena_new(NULL);
    struct gql_doc_ref *d = NULL;
    struct gql_error *errs = NULL;
    struct sbuf out = SBUF_INIT(4096);
    void (*cancel)(void *) = NULL;
    void *state = NULL;
    struct gql_val five = GQL_INT(5);

    OK(gql_schema_build(&s, &src, 1, &err));
    OK(gql_schema_bind(s, "Subscription", "tick",
                       &(struct gql_binding){.subscribe = tick_subscribe, .udata = &t}, &err));
    CHECK_INT_EQ(gql_schema_check_bound(s, &err), ERR_INVALID); /* Query.a, other unbound */
    CHECK_INT_EQ(
        gql_prepare(s, SLICE("subscription S($f: Int!) { n: tick(from: $f) }"), NULL, a, &d, &errs),
        0);
    {
        json_t *vars = json_pack("{s:i}", "f", 3);
        struct gql_exec x = {.schema = s, .doc = d, .variables = vars, .a = a};
        struct sink sk = {.x = &x, .out = SBUF_INIT(4096)};

        CHECK_INT_EQ(gql_subscribe(&x, sink_emit, &sk, &cancel, &state, &out), 0);
        CHECK_INT_EQ(t.from, 3);
        t.emit(t.sink, &five);
        CHECK_STR_EQ(sk.out.buf, "{\"data\":{\"n\":5}}");
        CHECK(cancel == ticker_cancel && state == &t);
        cancel(state);
        CHECK(t.cancelled);
        /* the same document over gql_execute is refused: it needs a stream */
        sbuf_reset(&out);
        CHECK_INT_EQ(gql_execute(&x, &out), ERR_INVALID);
        CHECK_CONTAINS(out.buf, "streaming transport");
        json_decref(vars);
        sbuf_release(&sk.out);
    }
    {
        json_t *vars = json_pack("{s:i}", "f", -1);
        struct gql_exec x = {.schema = s, .doc = d, .variables = vars, .a = a};

        sbuf_reset(&out);
        CHECK_INT_EQ(gql_subscribe(&x, sink_emit, NULL, &cancel, &state, &out), ERR_FORBIDDEN);
        CHECK_CONTAINS(out.buf, "\"no negative ticks\"");
        CHECK_CONTAINS(out.buf, "\"code\":\"FORBIDDEN\"");
        json_decref(vars);
    }
    gql_doc_ref_put(d);
    sbuf_release(&out);
    arena_free(a);
    gql_schema_free(s);
}

static int slow_hello(struct gql_rctx *rc, const struct gql_val *parent, struct gql_val *out,
                      struct err *err)
{
    (void)rc, (void)parent, (void)err;
    *out = GQL_STRING(SLICE("hi"));
    return 0;
}

TEST(doc_operation_blocking_and_cache)
{
    struct fixture f;
    struct arena *a = arena_new(NULL);
    struct gql_doc_ref *d = NULL, *got;
    struct gql_error *errs = NULL;
    struct gql_cache *c = gql_cache_new(2);
    struct err err = {0};
    enum gql_op op;
    bool blocking = true;
    const char *texts[] = {"{ hello }", "query A { count } mutation B { add(n: 1) }",
                           "{ nested { ...F } } fragment F on Query { echo }"};

    fixture_open(&f);
    OK(gql_schema_bind(f.s, "Query", "echo",
                       &(struct gql_binding){.resolve = slow_hello, .flags = GQL_BLOCKING}, &err));
    for (size_t i = 0; i < ARRAY_LEN(texts); i++) {
        CHECK_INT_EQ(gql_prepare(f.s, slice_from_cstr(texts[i]), NULL, a, &d, &errs), 0);
        gql_cache_put(c, f.s, slice_from_cstr(texts[i]), d);
        gql_doc_ref_put(d);
    }
    CHECK(gql_cache_get(c, f.s, slice_from_cstr(texts[0])) == NULL); /* evicted */
    got = gql_cache_get(c, f.s, slice_from_cstr(texts[1]));
    CHECK(got != NULL);
    CHECK_INT_EQ(gql_doc_operation(got, SLICE(""), &op, &blocking, &err), ERR_INVALID);
    OK(gql_doc_operation(got, SLICE("B"), &op, &blocking, &err));
    CHECK(op == GQL_OP_MUTATION && !blocking);
    gql_doc_ref_put(got);
    got = gql_cache_get(c, f.s, slice_from_cstr(texts[2]));
    CHECK(got != NULL);
    OK(gql_doc_operation(got, SLICE_NULL, &op, &blocking, &err));
    CHECK(op == GQL_OP_QUERY && blocking); /* through the fragment */
    gql_doc_ref_put(got);
    gql_cache_free(c);
    arena_free(a);
    fixture_close(&f);
}
