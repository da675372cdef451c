#include <time.h>

#include "../test.h"
#include "base/base.h"
#include "gql/gql.h"

/* ------------------------------------------------------------ structural equality */

/* Locations and the block flag of strings aside, whether two ASTs are the same. */
static bool value_eq(const struct gql_value *a, const struct gql_value *b);

static bool args_eq(const struct gql_argument *a, const struct gql_argument *b)
{
    for (; a && b; a = a->next, b = b->next)
        if (!slice_eq(a->name, b->name) || !value_eq(a->value, b->value))
            return false;
    return a == b;
}

static bool value_eq(const struct gql_value *a, const struct gql_value *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    if (a->kind != b->kind || !slice_eq(a->str, b->str) || a->boolean != b->boolean ||
        !args_eq(a->fields, b->fields))
        return false;
    const struct gql_value *x = a->items, *y = b->items;
    for (; x && y; x = x->next, y = y->next)
        if (!value_eq(x, y))
            return false;
    return x == y;
}

static bool dirs_eq(const struct gql_directive *a, const struct gql_directive *b)
{
    for (; a && b; a = a->next, b = b->next)
        if (!slice_eq(a->name, b->name) || !args_eq(a->args, b->args))
            return false;
    return a == b;
}

static bool type_eq(const struct gql_type *a, const struct gql_type *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return a->kind == b->kind && slice_eq(a->name, b->name) && type_eq(a->of_type, b->of_type);
}

static bool sels_eq(const struct gql_selection *a, const struct gql_selection *b)
{
    for (; a && b; a = a->next, b = b->next)
        if (a->kind != b->kind || !slice_eq(a->alias, b->alias) || !slice_eq(a->name, b->name) ||
            !slice_eq(a->type_cond, b->type_cond) || !args_eq(a->args, b->args) ||
            !dirs_eq(a->directives, b->directives) || !sels_eq(a->selections, b->selections))
            return false;
    return a == b;
}

static bool vars_eq(const struct gql_var_def *a, const struct gql_var_def *b)
{
    for (; a && b; a = a->next, b = b->next)
        if (!slice_eq(a->name, b->name) || !type_eq(a->type, b->type) ||
            !value_eq(a->default_value, b->default_value) || !dirs_eq(a->directives, b->directives))
            return false;
    return a == b;
}

static bool inputs_eq(const struct gql_input_value *a, const struct gql_input_value *b)
{
    for (; a && b; a = a->next, b = b->next)
        if (!value_eq(a->description, b->description) || !slice_eq(a->name, b->name) ||
            !type_eq(a->type, b->type) || !value_eq(a->default_value, b->default_value) ||
            !dirs_eq(a->directives, b->directives))
            return false;
    return a == b;
}

static bool fields_eq(const struct gql_field_def *a, const struct gql_field_def *b)
{
    for (; a && b; a = a->next, b = b->next)
        if (!value_eq(a->description, b->description) || !slice_eq(a->name, b->name) ||
            !inputs_eq(a->args, b->args) || !type_eq(a->type, b->type) ||
            !dirs_eq(a->directives, b->directives))
            return false;
    return a == b;
}

static bool names_eq(const struct gql_name *a, const struct gql_name *b)
{
    for (; a && b; a = a->next, b = b->next)
        if (!value_eq(a->description, b->description) || !slice_eq(a->name, b->name) ||
            !dirs_eq(a->directives, b->directives))
            return false;
    return a == b;
}

static bool roots_eq(const struct gql_root_op *a, const struct gql_root_op *b)
{
    for (; a && b; a = a->next, b = b->next)
        if (a->op != b->op || !slice_eq(a->type, b->type))
            return false;
    return a == b;
}

static bool def_eq(const struct gql_def *a, const struct gql_def *b)
{
    return a->kind == b->kind && a->extend == b->extend &&
           value_eq(a->description, b->description) && slice_eq(a->name, b->name) &&
           dirs_eq(a->directives, b->directives) && a->op == b->op &&
           vars_eq(a->var_defs, b->var_defs) && sels_eq(a->selections, b->selections) &&
           slice_eq(a->type_cond, b->type_cond) && roots_eq(a->root_ops, b->root_ops) &&
           names_eq(a->names, b->names) && fields_eq(a->fields, b->fields) &&
           inputs_eq(a->input, b->input) && a->repeatable == b->repeatable;
}

static bool doc_eq(const struct gql_doc *a, const struct gql_doc *b)
{
    const struct gql_def *x = a->defs, *y = b->defs;

    if (a->ndefs != b->ndefs)
        return false;
    for (; x && y; x = x->next, y = y->next)
        if (!def_eq(x, y))
            return false;
    return x == y;
}

/* ------------------------------------------------------------ helpers */

static struct gql_doc *parse_ok(struct arena *a, const char *src)
{
    struct gql_doc *doc = NULL;
    struct err err = {0};

    OK(gql_parse(a, slice_from_cstr(src), NULL, &doc, NULL, &err));
    CHECK(doc != NULL);
    return doc;
}

/* Parses <src>, checks that it prints as <want> (when not NULL) and that the printed form
 * parses to the same AST and prints the same again. */
static void round_trip(const char *src, const char *want)
{
    struct arena *a = arena_new(NULL);
    struct sbuf p1 = SBUF_INIT(1 << 20), p2 = SBUF_INIT(1 << 20);
    struct gql_doc *d1 = parse_ok(a, src), *d2;

    gql_print(d1, &p1);
    CHECK_INT_EQ(p1.err, 0);
    if (want != NULL)
        CHECK_STR_EQ(p1.buf, want);
    d2 = parse_ok(a, p1.buf);
    if (!doc_eq(d1, d2))
        test_fail(__FILE__, __LINE__, "\"%s\" printed as \"%s\" parses differently", src, p1.buf);
    gql_print(d2, &p2);
    CHECK_STR_EQ(p2.buf, p1.buf);
    sbuf_release(&p1);
    sbuf_release(&p2);
    arena_free(a);
}

static void parse_fails(const char *src, int code, const char *msg, uint32_t line, uint32_t col)
{
    struct arena *a = arena_new(NULL);
    struct gql_doc *doc = (struct gql_doc *)1;
    struct gql_error_loc where = {99, 99};
    struct err err = {0};
    int rc = gql_parse(a, slice_from_cstr(src), NULL, &doc, &where, &err);

    if (rc != code)
        test_fail(__FILE__, __LINE__, "\"%s\": rc %d (%s), expected %d", src, rc, err.msg, code);
    CHECK_STR_EQ(err.msg, msg);
    CHECK(doc == NULL);
    if (where.line != line || where.column != col)
        test_fail(__FILE__, __LINE__, "\"%s\": where %u:%u, expected %u:%u", src, where.line,
                  where.column, line, col);
    arena_free(a);
}

/* ------------------------------------------------------------ documents */

static const char kitchen_sink[] =
    "query queryName($foo: ComplexType, $site: Site = MOBILE) @onQuery {\n"
    "  whoever123is: node(id: [123, 456]) {\n"
    "    id ,\n"
    "    ... on User @onInlineFragment {\n"
    "      field2 {\n"
    "        id ,\n"
    "        alias: field1(first: 10, after: $foo,) @include(if: $foo) {\n"
    "          id,\n"
    "          ...frag @onFragmentSpread\n"
    "        }\n"
    "      }\n"
    "    }\n"
    "    ... @skip(unless: $foo) {\n"
    "      id\n"
    "    }\n"
    "    ... {\n"
    "      id\n"
    "    }\n"
    "  }\n"
    "}\n"
    "\n"
    "mutation likeStory @onMutation {\n"
    "  like(story: 123) @onField {\n"
    "    story {\n"
    "      id @onField\n"
    "    }\n"
    "  }\n"
    "}\n"
    "\n"
    "subscription StoryLikeSubscription(\n"
    "  $input: StoryLikeSubscribeInput @onVariableDefinition\n"
    ")\n"
    "  @onSubscription {\n"
    "  storyLikeSubscribe(input: $input) {\n"
    "    story {\n"
    "      likers {\n"
    "        count\n"
    "      }\n"
    "    }\n"
    "  }\n"
    "}\n"
    "\n"
    "fragment frag on Friend @onFragmentDefinition {\n"
    "  foo(\n"
    "    size: $size\n"
    "    bar: $b\n"
    "    obj: {key: \"value\", block: \"\"\"\n"
    "      block string uses \\\"\"\"\n"
    "    \"\"\"}\n"
    "  )\n"
    "}\n"
    "\n"
    "{\n"
    "  unnamed(truthy: true, falsy: false, nullish: null),\n"
    "  query\n"
    "}\n"
    "\n"
    "query { __typename }\n";

static const char kitchen_sink_printed[] =
    "query queryName($foo:ComplexType$site:Site=MOBILE)@onQuery{whoever123is:node(id:[123 "
    "456]){id...on User@onInlineFragment{field2{id alias:field1(first:10 after:$foo)@include(if:"
    "$foo){id...frag@onFragmentSpread}}}...@skip(unless:$foo){id}...{id}}}mutation "
    "likeStory@onMutation{like(story:123)@onField{story{id@onField}}}subscription "
    "StoryLikeSubscription($input:StoryLikeSubscribeInput@onVariableDefinition)@onSubscription{"
    "storyLikeSubscribe(input:$input){story{likers{count}}}}fragment frag on "
    "Friend@onFragmentDefinition{foo(size:$size bar:$b obj:{key:\"value\"block:\"block string "
    "uses \\\"\\\"\\\"\"})}query{unnamed(truthy:true falsy:false "
    "nullish:null)query}query{__typename}";

static const char schema_kitchen_sink[] =
    "\"\"\"This is a description\nof the `Foo` type.\"\"\"\n"
    "schema @dir { query: QueryType mutation: MutationType subscription: S }\n"
    "extend schema @onSchema\n"
    "extend schema @onSchema { subscription: SubscriptionType }\n"
    "\"Scalar desc\" scalar CustomScalar @onScalar\n"
    "extend scalar CustomScalar @onScalar\n"
    "type Foo implements Bar & Baz & Two {\n"
    "  \"Description of the `one` field.\"\n"
    "  one: Type\n"
    "  \"\"\"This is a description of the `two` field.\"\"\"\n"
    "  two(\n"
    "    \"\"\"This is a description of the `argument` argument.\"\"\"\n"
    "    argument: InputType!\n"
    "  ): Type\n"
    "  three(argument: InputType, other: String): Int\n"
    "  four(argument: String = \"string\"): String\n"
    "  five(argument: [String] = [\"string\", \"string\"]): String\n"
    "  six(argument: InputType = {key: \"value\"}): Type\n"
    "  seven(argument: Int = null): Type\n"
    "}\n"
    "type AnnotatedObject @onObject(arg: \"value\") {\n"
    "  annotatedField(arg: Type = \"default\" @onArgumentDefinition): Type @onField\n"
    "}\n"
    "type UndefinedType\n"
    "extend type Foo implements & Zed { seven(argument: [String]): Type }\n"
    "extend type Foo @onType\n"
    "extend type Foo implements Other\n"
    "interface Bar implements Node { one: Type four(argument: String = \"string\"): String }\n"
    "interface AnnotatedInterface @onInterface { annotatedField(arg: Type @onArg): Type @onF }\n"
    "interface UndefinedInterface\n"
    "extend interface Bar implements Two { two(argument: InputType!): Type }\n"
    "extend interface Bar @onInterface\n"
    "union Feed = | Story | Article | Advert\n"
    "union AnnotatedUnion @onUnion = A | B\n"
    "union UndefinedUnion\n"
    "extend union Feed = Photo | Video\n"
    "extend union Feed @onUnion\n"
    "enum Site { \"desc\" DESKTOP MOBILE @deprecated WEB }\n"
    "enum UndefinedEnum\n"
    "extend enum Site { VR }\n"
    "extend enum Site @onEnum\n"
    "input InputType { key: String! answer: Int = 42 \"d\" list: [[Int!]!] = [[1], []] }\n"
    "input UndefinedInput\n"
    "extend input InputType { other: Float = 1.23e4 @onInputFieldDefinition }\n"
    "extend input InputType @onInputObject\n"
    "\"\"\"\nThis is a description of the `@skip` directive\n\"\"\"\n"
    "directive @skip(\n"
    "  \"\"\"This is a description of the `if` argument\"\"\"\n"
    "  if: Boolean! @onArgumentDefinition\n"
    ") on FIELD | FRAGMENT_SPREAD | INLINE_FRAGMENT\n"
    "directive @include2(if: Boolean!) on\n  | FIELD\n  | FRAGMENT_SPREAD\n"
    "directive @myRepeatableDir(name: String!) repeatable on\n  | OBJECT\n  | INTERFACE\n"
    "directive @all on QUERY | MUTATION | SUBSCRIPTION | FIELD | FRAGMENT_DEFINITION | "
    "FRAGMENT_SPREAD | INLINE_FRAGMENT | VARIABLE_DEFINITION | SCHEMA | SCALAR | OBJECT | "
    "FIELD_DEFINITION | ARGUMENT_DEFINITION | INTERFACE | UNION | ENUM | ENUM_VALUE | "
    "INPUT_OBJECT | INPUT_FIELD_DEFINITION\n";

static const char *const valid_docs[] = {
    "{a}",
    "query { a }",
    "query Q { a }",
    "mutation { a }",
    "subscription S($x: Int = -0) { a(x: $x) }",
    "{ a: b(c: 1, d: -1.5e3, e: \"s\", f: true, g: null, h: ENUM, i: [1, [2, [3]]], "
    "j: {k: {l: [{m: $v}]}}, n: [], o: {}) }",
    "query ($a: [Int!]! = [1, 2], $b: In = {x: [\"\"]} @d(x: 1)) @q { f @a @b(c: $a) }",
    "{ ... on T { a } ...F ... @skip(if: true) { b } ... { c } }",
    "fragment F on T @d { a ...G }",
    "{ on: on(on: on) fragment query: query }",
    "{ a(s: \"\\u0000\\u001f\\\\\\\"\\b\\f\\n\\r\\t/\xc3\xa9\\u{1F600}\") }",
    "{ a(s: [\"\", \"\", \"x\"], t: \"\"\"  indented\n    block\n  \"\"\") }",
    "\"\"\"d\"\"\" scalar S \"\" type T { \"\" f: S } \"x\" enum E { \"\" A }",
    "type Query { a: String } { a }",
    "union U = A union V = B",
    "directive @d(a: [[Int]] = [[1]]) repeatable on FIELD",
    "{ a(x: 1, y: -2) b(z: [1 -2 3.5 -4e-5]) }",
    kitchen_sink,
    schema_kitchen_sink,
};

TEST(parser_round_trips_every_valid_document)
{
    for (size_t i = 0; i < ARRAY_LEN(valid_docs); i++)
        round_trip(valid_docs[i], NULL);
}

TEST(parser_prints_kitchen_sink_canonically)
{
    round_trip(kitchen_sink, kitchen_sink_printed);
    round_trip("{ a(s: [\"\", \"\", \"x\"]) b: c }", "{a(s:[\"\" \"\" \"x\"])b:c}");
    round_trip("query { a } query Q { b }", "{a}query Q{b}");
    /* after a definition that may take a body, the shorthand would change the meaning */
    round_trip("extend schema @d query { query: Q }", "extend schema@d query{query:Q}");
    round_trip("type T query { a: b }", "type T query{a:b}");
    round_trip("{ a } { b }", "{a}query{b}");
    round_trip("{ a(x: 1, y: -2, z: [A -1]) }", "{a(x:1 y:-2 z:[A -1])}");
    round_trip("{a(s:\"\"\"\n  x\n   \"y\"\n\"\"\")}", "{a(s:\"x\\n \\\"y\\\"\")}");
}

TEST(parser_prints_schema_canonically)
{
    round_trip(schema_kitchen_sink, NULL);
    round_trip("\"d\" schema @a { query: Q mutation: M }", "\"d\"schema@a{query:Q mutation:M}");
    round_trip("extend schema @a extend scalar S @b", "extend schema@a extend scalar S@b");
    round_trip("type T implements & A & B @d { f(a: Int = 1 @x, \"b\" b: [T!]!): T! @y }",
               "type T implements A&B@d{f(a:Int=1@x\"b\"b:[T!]!):T!@y}");
    round_trip("interface I implements J { f: I }", "interface I implements J{f:I}");
    round_trip("union U @d = | A | B", "union U@d=A|B");
    round_trip("enum E { A @d \"\"\"b\"\"\" B }", "enum E{A@d\"b\"B}");
    round_trip("input I { a: Int = 1, b: [I] }", "input I{a:Int=1 b:[I]}");
    round_trip("\"x\" directive @d(a: Int) repeatable on | FIELD | QUERY",
               "\"x\"directive@d(a:Int)repeatable on FIELD|QUERY");
    round_trip("extend type T implements I extend interface I @d extend union U = C "
               "extend enum E { C } extend input I { c: Int }",
               "extend type T implements I extend interface I@d extend union U=C extend enum "
               "E{C}extend input I{c:Int}");
}

TEST(parser_builds_the_ast_of_a_query)
{
    struct arena *a = arena_new(NULL);
    struct gql_doc *d = parse_ok(a, "query Q($id: ID! = \"x\") {\n  me: user(id: $id) {\n"
                                    "    ...F @skip(if: false)\n  }\n}\n"
                                    "fragment F on User { name }");
    const struct gql_def *op = d->defs, *frag = op->next;
    const struct gql_selection *f = op->selections;

    CHECK_UINT_EQ(d->ndefs, 2);
    CHECK_INT_EQ(op->kind, GQL_DEF_OPERATION);
    CHECK_INT_EQ(op->op, GQL_OP_QUERY);
    CHECK_STR_EQ(op->name.ptr, "Q");
    CHECK_STR_EQ(op->var_defs->name.ptr, "id");
    CHECK_INT_EQ(op->var_defs->type->kind, GQL_TYPE_NON_NULL);
    CHECK_STR_EQ(op->var_defs->type->of_type->name.ptr, "ID");
    CHECK_INT_EQ(op->var_defs->default_value->kind, GQL_VALUE_STRING);
    CHECK_STR_EQ(f->alias.ptr, "me");
    CHECK_STR_EQ(f->name.ptr, "user");
    CHECK_UINT_EQ(f->loc.line, 2);
    CHECK_UINT_EQ(f->loc.column, 3);
    CHECK_STR_EQ(f->args->name.ptr, "id");
    CHECK_INT_EQ(f->args->value->kind, GQL_VALUE_VARIABLE);
    CHECK_STR_EQ(f->args->value->str.ptr, "id");
    CHECK_INT_EQ(f->selections->kind, GQL_SEL_SPREAD);
    CHECK_STR_EQ(f->selections->name.ptr, "F");
    CHECK_UINT_EQ(f->selections->loc.line, 3);
    CHECK_UINT_EQ(f->selections->loc.column, 5);
    CHECK_STR_EQ(f->selections->directives->name.ptr, "skip");
    CHECK_INT_EQ(f->selections->directives->args->value->kind, GQL_VALUE_BOOLEAN);
    CHECK(!f->selections->directives->args->value->boolean);
    CHECK_INT_EQ(frag->kind, GQL_DEF_FRAGMENT);
    CHECK_STR_EQ(frag->type_cond.ptr, "User");
    CHECK_UINT_EQ(frag->loc.line, 6);
    CHECK_UINT_EQ(frag->loc.column, 1);
    CHECK(frag->next == NULL);
    arena_free(a);
}

TEST(parser_builds_the_ast_of_values)
{
    struct arena *a = arena_new(NULL);
    struct gql_doc *d = parse_ok(a, "{ f(a: [1, -0.5, \"s\", E, null, {k: [true]}]) }");
    const struct gql_value *v = d->defs->selections->args->value, *i = v->items;
    static const enum gql_value_kind kinds[] = {GQL_VALUE_INT,  GQL_VALUE_FLOAT, GQL_VALUE_STRING,
                                                GQL_VALUE_ENUM, GQL_VALUE_NULL,  GQL_VALUE_OBJECT};

    CHECK_INT_EQ(v->kind, GQL_VALUE_LIST);
    for (size_t k = 0; k < ARRAY_LEN(kinds); k++, i = i->next) {
        CHECK(i != NULL);
        CHECK_INT_EQ(i->kind, kinds[k]);
    }
    CHECK(i == NULL);
    CHECK_STR_EQ(v->items->next->str.ptr, "-0.5");
    CHECK_STR_EQ(v->items->next->next->next->str.ptr, "E");
    i = v->items->next->next->next->next->next;
    CHECK_STR_EQ(i->fields->name.ptr, "k");
    CHECK_INT_EQ(i->fields->value->items->kind, GQL_VALUE_BOOLEAN);
    CHECK(i->fields->value->items->boolean);
    arena_free(a);
}

TEST(parser_builds_the_ast_of_sdl)
{
    struct arena *a = arena_new(NULL);
    struct gql_doc *d = parse_ok(a, schema_kitchen_sink);
    const struct gql_def *def = d->defs;
    size_t n = 0, extensions = 0, directives = 0;

    CHECK_INT_EQ(def->kind, GQL_DEF_SCHEMA);
    CHECK_STR_EQ(def->description->str.ptr, "This is a description\nof the `Foo` type.");
    CHECK(def->description->block);
    CHECK_INT_EQ(def->root_ops->next->next->op, GQL_OP_SUBSCRIPTION);
    CHECK_STR_EQ(def->root_ops->next->next->type.ptr, "S");
    for (; def != NULL; def = def->next, n++) {
        extensions += def->extend;
        if (def->kind == GQL_DEF_DIRECTIVE) {
            directives++;
            if (slice_eq_cstr(def->name, "myRepeatableDir"))
                CHECK(def->repeatable && slice_eq_cstr(def->names->next->name, "INTERFACE"));
            if (slice_eq_cstr(def->name, "all")) {
                size_t locs = 0;
                for (const struct gql_name *l = def->names; l; l = l->next)
                    locs++;
                CHECK_UINT_EQ(locs, 19);
                CHECK_STR_EQ(def->names->name.ptr, "QUERY");
            }
        }
        if (def->kind == GQL_DEF_OBJECT && slice_eq_cstr(def->name, "Foo") && !def->extend) {
            CHECK_STR_EQ(def->names->next->next->name.ptr, "Two");
            CHECK_STR_EQ(def->fields->next->args->description->str.ptr,
                         "This is a description of the `argument` argument.");
        }
    }
    CHECK_UINT_EQ(n, d->ndefs);
    CHECK_UINT_EQ(n, 33);
    CHECK_UINT_EQ(extensions, 14);
    CHECK_UINT_EQ(directives, 4);
    arena_free(a);
}

TEST(parser_executable_and_schema_entry_points)
{
    struct arena *a = arena_new(NULL);
    struct gql_error_loc where;
    struct gql_doc *doc;
    struct err err = {0};

    OK(gql_parse_executable(a, SLICE("{a} fragment F on T {b}"), NULL, &doc, &where, &err));
    CHECK_INT_EQ(
        gql_parse_executable(a, SLICE("{a}\n  type T { a: Int }"), NULL, &doc, &where, &err),
        ERR_INVALID);
    CHECK_STR_EQ(err.msg, "2:3: type-system definitions are not allowed in an executable document");
    CHECK_INT_EQ(gql_parse_executable(a, SLICE("\"d\" scalar S"), NULL, &doc, &where, &err),
                 ERR_INVALID);
    CHECK_INT_EQ(gql_parse_executable(a, SLICE("extend scalar S @d"), NULL, &doc, &where, &err),
                 ERR_INVALID);
    OK(gql_parse_schema(a, SLICE("scalar S type Q { s: S }"), NULL, &doc, &where, &err));
    CHECK_INT_EQ(gql_parse_schema(a, SLICE("scalar S\nquery { a }"), NULL, &doc, &where, &err),
                 ERR_INVALID);
    CHECK_STR_EQ(err.msg, "2:1: operations and fragments are not allowed in a schema document");
    CHECK_UINT_EQ(where.line, 2);
    CHECK_UINT_EQ(where.column, 1);
    CHECK_INT_EQ(gql_parse_schema(a, SLICE("{ a }"), NULL, &doc, &where, &err), ERR_INVALID);
    arena_free(a);
}

TEST(parser_reports_errors_with_locations)
{
    parse_fails("", ERR_INVALID, "1:1: expected a definition, found <EOF>", 1, 1);
    parse_fails("{\n  a {\n  }\n}", ERR_INVALID, "3:3: expected Name, found \"}\"", 3, 3);
    parse_fails("query {\n  user(\n    }\n", ERR_INVALID, "3:5: expected Name, found \"}\"", 3, 5);
    parse_fails("{ f(a: \"abc", ERR_INVALID, "1:12: unterminated string", 1, 12);
    parse_fails("{ a", ERR_INVALID, "1:4: expected Name, found <EOF>", 1, 4);
    parse_fails("{ a(x) }", ERR_INVALID, "1:6: expected \":\", found \")\"", 1, 6);
    parse_fails("{ a(x: ) }", ERR_INVALID, "1:8: expected a value, found \")\"", 1, 8);
    parse_fails("{ a() }", ERR_INVALID, "1:5: expected Name, found \")\"", 1, 5);
    parse_fails("query Q($a: Int = $b) { a }", ERR_INVALID,
                "1:19: unexpected variable in a constant value", 1, 19);
    parse_fails("query Q() { a }", ERR_INVALID, "1:9: expected \"$\", found \")\"", 1, 9);
    parse_fails("query Q($a) { a }", ERR_INVALID, "1:11: expected \":\", found \")\"", 1, 11);
    parse_fails("query Q($a: [Int) { a }", ERR_INVALID, "1:17: expected \"]\", found \")\"", 1, 17);
    parse_fails("fragment on on T { a }", ERR_INVALID, "1:10: a fragment cannot be named \"on\"", 1,
                10);
    parse_fails("fragment F T { a }", ERR_INVALID, "1:12: expected \"on\", found Name \"T\"", 1,
                12);
    parse_fails("{ ... on { a } }", ERR_INVALID, "1:10: expected Name, found \"{\"", 1, 10);
    parse_fails("{ ...F }\nfoo", ERR_INVALID, "2:1: expected a definition, found Name \"foo\"", 2,
                1);
    parse_fails("{ a(v: [1, 2 }", ERR_INVALID, "1:14: expected a value, found \"}\"", 1, 14);
    parse_fails("{ a(v: {b 1}) }", ERR_INVALID, "1:11: expected \":\", found Int \"1\"", 1, 11);
    parse_fails("{ a(v: 01) }", ERR_INVALID, "1:9: invalid number: leading zero followed by \"1\"",
                1, 9);
    parse_fails("{ a @ }", ERR_INVALID, "1:7: expected Name, found \"}\"", 1, 7);
    parse_fails("query\n\t\xc3\xa9", ERR_INVALID, "2:2: unexpected character U+00E9", 2, 2);
    parse_fails("type T {}", ERR_INVALID, "1:9: expected Name, found \"}\"", 1, 9);
    parse_fails("type T { f(): Int }", ERR_INVALID, "1:12: expected Name, found \")\"", 1, 12);
    parse_fails("type T { f Int }", ERR_INVALID, "1:12: expected \":\", found Name \"Int\"", 1, 12);
    parse_fails("type T implements { f: Int }", ERR_INVALID, "1:19: expected Name, found \"{\"", 1,
                19);
    parse_fails("extend type T", ERR_INVALID,
                "1:14: expected directives or definitions to add, found <EOF>", 1, 14);
    parse_fails("extend schema", ERR_INVALID,
                "1:14: expected directives or definitions to add, found <EOF>", 1, 14);
    parse_fails("schema @d", ERR_INVALID, "1:10: expected \"{\", found <EOF>", 1, 10);
    parse_fails("schema { other: Q }", ERR_INVALID,
                "1:10: expected query, mutation or subscription, found Name \"other\"", 1, 10);
    parse_fails("enum E { A true }", ERR_INVALID,
                "1:12: an enum value cannot be true, false or null", 1, 12);
    parse_fails("directive @d on FIELD | NOWHERE", ERR_INVALID,
                "1:25: unknown directive location \"NOWHERE\"", 1, 25);
    parse_fails("directive @d(a: Int)", ERR_INVALID, "1:21: expected \"on\", found <EOF>", 1, 21);
    parse_fails("extend directive @d on FIELD", ERR_INVALID,
                "1:18: directive definitions cannot be extended", 1, 18);
    parse_fails("\"d\" extend type T @d", ERR_INVALID,
                "1:5: expected a type-system definition, found Name \"extend\"", 1, 5);
    parse_fails("union U = ", ERR_INVALID, "1:11: expected Name, found <EOF>", 1, 11);
    parse_fails("input I { a: Int = $v }", ERR_INVALID,
                "1:20: unexpected variable in a constant value", 1, 20);
}

/* ------------------------------------------------------------ limits */

static char *repeat(const char *head, const char *unit, size_t n, const char *tail)
{
    size_t hl = strlen(head), ul = strlen(unit), tl = strlen(tail);
    char *s = malloc(hl + ul * n + tl + 1), *p = s;

    CHECK(s != NULL);
    memcpy(p, head, hl);
    p += hl;
    for (size_t i = 0; i < n; i++, p += ul)
        memcpy(p, unit, ul);
    memcpy(p, tail, tl + 1);
    return s;
}

TEST(parser_limit_max_bytes_rejects_before_any_work)
{
    size_t n = GQL_DEFAULT_MAX_BYTES + 1;
    char *src = malloc(n);
    struct arena *a = arena_new(NULL);
    struct gql_error_loc where = {9, 9};
    struct gql_doc *doc;
    struct err err = {0};

    CHECK(src != NULL);
    memset(src, '{', n); /* would be max_depth if the parser looked at it */
    CHECK_INT_EQ(gql_parse(a, (struct slice){src, n}, NULL, &doc, &where, &err), ERR_LIMIT);
    CHECK_STR_EQ(err.msg, "document is 1048577 bytes, more than 1048576 (max_bytes)");
    CHECK_UINT_EQ(arena_used(a), 0);
    CHECK_UINT_EQ(where.line, 0);
    /* a document of exactly max_bytes parses */
    memset(src, ' ', n);
    memcpy(src, "{a", 2);
    src[n - 2] = '}';
    OK(gql_parse(a, (struct slice){src, n - 1}, NULL, &doc, &where, &err));
    CHECK_INT_EQ(
        gql_parse(a, SLICE("{ abc }"), &(struct gql_limits){.max_bytes = 6}, &doc, NULL, &err),
        ERR_LIMIT);
    free(src);
    arena_free(a);
}

TEST(parser_limit_max_depth_stops_deep_documents_early)
{
    struct arena *a = arena_new(NULL);
    char *sel = repeat("", "{a", 10000, "}");
    char *list = repeat("{f(a:", "[", 10000, "]) }");
    char *obj = repeat("{f(a:", "{a:", 10000, "1}) }");
    char *type = repeat("query($v:", "[", 10000, "Int]) {a}");
    char *ok = repeat("", "{a", 128, "}");
    char *ok_closed = repeat(ok, "}", 127, "");
    struct gql_error_loc where;
    struct gql_doc *doc;
    struct err err = {0};

    CHECK_INT_EQ(gql_parse(a, slice_from_cstr(sel), NULL, &doc, &where, &err), ERR_LIMIT);
    CHECK_STR_EQ(err.msg, "1:257: nested deeper than 128 levels (max_depth)");
    CHECK_UINT_EQ(where.column, 257);
    CHECK(arena_used(a) < 64 * 1024); /* it stopped early */
    CHECK_INT_EQ(gql_parse(a, slice_from_cstr(list), NULL, &doc, &where, &err), ERR_LIMIT);
    CHECK_CONTAINS(err.msg, "max_depth");
    CHECK_INT_EQ(gql_parse(a, slice_from_cstr(obj), NULL, &doc, &where, &err), ERR_LIMIT);
    CHECK_CONTAINS(err.msg, "max_depth");
    CHECK_INT_EQ(gql_parse(a, slice_from_cstr(type), NULL, &doc, &where, &err), ERR_LIMIT);
    CHECK_CONTAINS(err.msg, "max_depth");
    OK(gql_parse(a, slice_from_cstr(ok_closed), NULL, &doc, &where, &err));
    CHECK_INT_EQ(gql_parse(a, slice_from_cstr(ok_closed), &(struct gql_limits){.max_depth = 127},
                           &doc, &where, &err),
                 ERR_LIMIT);
    free(sel);
    free(list);
    free(obj);
    free(type);
    free(ok);
    free(ok_closed);
    arena_free(a);
}

TEST(parser_limit_max_tokens)
{
    struct arena *a = arena_new(NULL);
    char *at_limit = repeat("{", "a ", 99998, "}"); /* 100,000 tokens */
    char *over = repeat("{", "a ", 99999, "}");     /* 100,001 tokens */
    struct gql_error_loc where;
    struct gql_doc *doc;
    struct err err = {0};

    OK(gql_parse(a, slice_from_cstr(at_limit), NULL, &doc, &where, &err));
    CHECK_UINT_EQ(doc->ntokens, 100000);
    CHECK_INT_EQ(gql_parse(a, slice_from_cstr(over), NULL, &doc, &where, &err), ERR_LIMIT);
    CHECK_STR_EQ(err.msg, "1:200000: document has more than 100000 tokens (max_tokens)");
    CHECK_UINT_EQ(where.column, 200000);
    CHECK_INT_EQ(
        gql_parse(a, SLICE("{a b}"), &(struct gql_limits){.max_tokens = 3}, &doc, &where, &err),
        ERR_LIMIT);
    CHECK_STR_EQ(err.msg, "1:5: document has more than 3 tokens (max_tokens)");
    free(at_limit);
    free(over);
    arena_free(a);
}

TEST(parser_accepts_ten_thousand_aliases)
{
    struct arena *a = arena_new(NULL);
    struct sbuf src = SBUF_INIT(1 << 20), out = SBUF_INIT(1 << 20);
    struct gql_doc *doc;
    struct err err = {0};
    size_t n = 0;

    sbuf_putc(&src, '{');
    for (int i = 0; i < 10000; i++)
        sbuf_printf(&src, " a%d: f", i);
    sbuf_putc(&src, '}');
    OK(gql_parse(a, sbuf_slice(&src), NULL, &doc, NULL, &err));
    for (const struct gql_selection *s = doc->defs->selections; s != NULL; s = s->next)
        n++;
    CHECK_UINT_EQ(n, 10000);
    CHECK_STR_EQ(doc->defs->selections->next->alias.ptr, "a1");
    gql_print(doc, &out);
    CHECK_INT_EQ(out.err, 0);
    CHECK(strncmp(out.buf, "{a0:f a1:f a2:f", 15) == 0);
    sbuf_release(&src);
    sbuf_release(&out);
    arena_free(a);
}

TEST(parser_arena_budget_is_a_clean_limit)
{
    size_t fails = 0;

    for (size_t budget = 64; budget < 16384; budget *= 2) {
        struct arena *a = arena_new(&(struct arena_opts){.chunk = 1024, .budget = budget});
        struct gql_doc *doc;
        struct err err = {0};
        int rc = gql_parse(a, slice_from_cstr(kitchen_sink), NULL, &doc, NULL, &err);

        if (rc != 0) {
            CHECK_INT_EQ(rc, ERR_LIMIT);
            CHECK_CONTAINS(err.msg, "more memory than allowed");
            CHECK(doc == NULL);
            fails++;
        }
        arena_free(a);
    }
    CHECK(fails > 0);
}

TEST(parser_print_reports_a_full_buffer)
{
    struct arena *a = arena_new(NULL);
    struct sbuf out = SBUF_INIT(16);

    gql_print(parse_ok(a, kitchen_sink), &out);
    CHECK_INT_EQ(out.err, ERR_LIMIT);
    sbuf_release(&out);
    arena_free(a);
}
