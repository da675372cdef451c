/* Validation (spec §5): helpers, and the rules on definitions, operations, fields and
 * fragments. Values, arguments, directives and variables are in test_validate_values.c,
 * field merging in test_validate_overlap.c, limits and hostile documents in
 * test_validate_limits.c. */
#include <stdio.h>
#include <time.h>

#include "test_validate.h"

#include "gql/validate.h"

/* ---------------------------------------------------------------- helpers */

/* The examples of spec §5 plus the types graphql-js's tests add for arguments and merging. */
static const char sdl[] =
    "type Query { dog: Dog human: Human pet: Pet catOrDog: CatOrDog dogOrHuman: DogOrHuman\n"
    "  humanOrAlien: HumanOrAlien arguments: Arguments complicatedArgs: ComplicatedArgs\n"
    "  someBox: SomeBox connection: Connection sentient: Sentient\n"
    "  booleanList(booleanListArg: [Boolean]!): Boolean field(arg: String): String }\n"
    "type Mutation { mutateDog: Dog }\n"
    "type Subscription { newMessage: Message disallowedSecondRootField: Boolean }\n"
    "type Message { body: String sender: String }\n"
    "enum DogCommand { SIT DOWN HEEL }\n"
    "enum CatCommand { JUMP }\n"
    "interface Sentient { name: String! }\n"
    "interface Pet { name: String! }\n"
    "type Dog implements Pet { name: String! nickname: String barkVolume: Int\n"
    "  doesKnowCommand(dogCommand: DogCommand!): Boolean!\n"
    "  isHouseTrained(atOtherHomes: Boolean): Boolean! owner: Human }\n"
    "type Alien implements Sentient { name: String! homePlanet: String }\n"
    "type Human implements Sentient { name: String! pets: [Pet!] }\n"
    "type Cat implements Pet { name: String! nickname: String\n"
    "  doesKnowCommand(catCommand: CatCommand!): Boolean! meowVolume: Int }\n"
    "union CatOrDog = Cat | Dog\n"
    "union DogOrHuman = Dog | Human\n"
    "union HumanOrAlien = Human | Alien\n"
    "type Arguments { multipleRequirements(x: Int!, y: Int!): Int!\n"
    "  booleanArgField(booleanArg: Boolean): Boolean floatArgField(floatArg: Float): Float\n"
    "  intArgField(intArg: Int): Int nonNullBooleanArgField(nonNullBooleanArg: Boolean!): "
    "Boolean!\n"
    "  booleanListArgField(booleanListArg: [Boolean]!): [Boolean]\n"
    "  optionalNonNullBooleanArgField(optionalBooleanArg: Boolean! = false): Boolean! }\n"
    "enum FurColor { BROWN BLACK TAN SPOTTED NO_FUR UNKNOWN }\n"
    "input ComplexInput { requiredField: Boolean! nonNullField: Boolean! = false intField: Int\n"
    "  stringField: String booleanField: Boolean stringListField: [String] }\n"
    "type ComplicatedArgs { intArgField(intArg: Int): String\n"
    "  nonNullIntArgField(nonNullIntArg: Int!): String stringArgField(stringArg: String): String\n"
    "  booleanArgField(booleanArg: Boolean): String enumArgField(enumArg: FurColor): String\n"
    "  floatArgField(floatArg: Float): String idArgField(idArg: ID): String\n"
    "  stringListArgField(stringListArg: [String]): String\n"
    "  stringListNonNullArgField(stringListNonNullArg: [String!]): String\n"
    "  complexArgField(complexArg: ComplexInput): String\n"
    "  multipleReqs(req1: Int!, req2: Int!): String nonNullFieldWithDefault(arg: Int! = 0): "
    "String\n"
    "  multipleOpts(opt1: Int = 0, opt2: Int = 0): String timeArgField(t: Time): String }\n"
    "scalar Time\n"
    "interface SomeBox { deepBox: SomeBox unrelatedField: String }\n"
    "type StringBox implements SomeBox { scalar: String deepBox: StringBox unrelatedField: String\n"
    "  listStringBox: [StringBox] stringBox: StringBox intBox: IntBox }\n"
    "type IntBox implements SomeBox { scalar: Int deepBox: IntBox unrelatedField: String\n"
    "  listStringBox: [StringBox] stringBox: StringBox intBox: IntBox }\n"
    "interface NonNullStringBox1 { scalar: String! }\n"
    "type NonNullStringBox1Impl implements SomeBox & NonNullStringBox1 { scalar: String!\n"
    "  unrelatedField: String deepBox: SomeBox }\n"
    "type Connection { edges: [Edge] }\n"
    "type Edge { node: Node }\n"
    "type Node { id: ID name: String }\n"
    "directive @onQuery on QUERY\n"
    "directive @onField on FIELD\n"
    "directive @onVariable on VARIABLE_DEFINITION\n"
    "directive @repeatable(n: Int) repeatable on FIELD | FRAGMENT_SPREAD | INLINE_FRAGMENT\n"
    "directive @withArgs(req: Int!, opt: String) on FIELD | FRAGMENT_DEFINITION\n";

const struct gql_schema *vt_schema(void)
{
    static struct gql_schema *s;
    struct gql_source src = {"validate.graphql", SLICE(sdl)};
    struct err err = {0};

    if (s == NULL)
        OK(gql_schema_build(&s, &src, 1, &err));
    return s;
}

void vt_run(struct vt *t, const char *text)
{
    struct gql_error_loc where;
    struct err err = {0};

    *t = (struct vt){.a = arena_new(&(struct arena_opts){.chunk = 64 << 10})};
    OK(gql_parse(t->a, slice_from_cstr(text), NULL, &t->doc, &where, &err));
    t->n = gql_validate(vt_schema(), t->doc, t->a, &t->errs);
}

void vt_done(struct vt *t)
{
    arena_free(t->a);
    t->a = NULL;
}

static void dump(const struct vt *t)
{
    for (const struct gql_error *e = t->errs; e; e = e->next) {
        fprintf(stderr, "#   %s", e->message);
        for (size_t i = 0; i < e->nlocations; i++)
            fprintf(stderr, " %s%" PRIu32 ":%" PRIu32, i ? "" : "@ ", e->locations[i].line,
                    e->locations[i].column);
        fprintf(stderr, " [%s]\n", e->code ? e->code : "no code");
    }
}

const struct gql_error *vt_error(const char *file, int line, const struct vt *t, size_t i)
{
    const struct gql_error *e = t->errs;

    for (size_t k = 0; e && k < i; k++)
        e = e->next;
    if (e == NULL) {
        dump(t);
        test_fail(file, line, "no error number %zu (of %zu)", i, t->n);
    }
    return e;
}

void vt_check(const char *file, int line, const struct gql_error *e, const char *msg, size_t k,
              uint32_t l, uint32_t c)
{
    if (msg != NULL && strstr(e->message, msg) == NULL)
        test_fail(file, line, "\"%s\" does not contain \"%s\"", e->message, msg);
    if (e->code == NULL || strcmp(e->code, "GRAPHQL_VALIDATION_FAILED") != 0)
        test_fail(file, line, "\"%s\" has code %s", e->message, e->code ? e->code : "NULL");
    if (k >= e->nlocations)
        test_fail(file, line, "\"%s\" has %zu places, not %zu", e->message, e->nlocations, k + 1);
    if (e->locations[k].line != l || e->locations[k].column != c)
        test_fail(file, line, "\"%s\" place %zu is %" PRIu32 ":%" PRIu32 ", expected %u:%u",
                  e->message, k, e->locations[k].line, e->locations[k].column, l, c);
}

void vt_expect(const char *file, int line, const char *text, size_t n, const char *msg, uint32_t l,
               uint32_t c)
{
    struct vt t;
    size_t count = 0;

    vt_run(&t, text);
    for (const struct gql_error *e = t.errs; e; e = e->next)
        count++;
    if (t.n != n || count != n) {
        dump(&t);
        test_fail(file, line, "%zu errors (%zu listed), expected %zu, for: %s", t.n, count, n,
                  text);
    }
    if (msg != NULL)
        vt_check(file, line, t.errs, msg, 0, l, c);
    vt_done(&t);
}

/* ---------------------------------------------------------------- 5.1.1 */

TEST(validate_executable_definitions)
{
    VALID("query Q { dog { name } }");
    VALID("{ dog { ...F } } fragment F on Dog { name }");
    EXPECT("{ dog { name } }\ntype Cow { name: String }", 1, "\"Cow\" definition is not executable",
           2, 1);
    EXPECT("{ dog { name } }\nextend type Dog { color: String }", 1, "\"Dog\" definition", 2, 1);
    EXPECT("schema { query: Query }\n{ dog { name } }", 1, "schema definition is not executable", 1,
           1);
    EXPECT("scalar S directive @d on FIELD { dog { name } }", 2, "\"S\"", 1, 1);
}

/* ---------------------------------------------------------------- 5.2 */

TEST(validate_operation_names)
{
    struct vt t;

    VALID("query A { dog { name } } query B { dog { name } }");
    VALID("query A { dog { name } } fragment A on Dog { name } query B { dog { ...A } }");
    vt_run(&t, "query A { dog { name } }\nquery A { human { name } }");
    CHECK_UINT_EQ(t.n, 1);
    CHECK_ERR(ERROR_AT(&t, 0), "operation name \"A\" is used more than once", 0, 1, 7);
    CHECK_ERR(ERROR_AT(&t, 0), NULL, 1, 2, 7);
    vt_done(&t);
    EXPECT("query A { dog { name } }\nmutation A { mutateDog { name } }", 1, "\"A\"", 1, 7);
    EXPECT("query A { dog { name } } query A { dog { name } } subscription A { newMessage "
           "{ body } }",
           2, "operation name \"A\" is used", 1, 7);
}

TEST(validate_lone_anonymous_operation)
{
    VALID("{ dog { name } }");
    VALID("query { dog { name } }");
    EXPECT("{ dog { name } }\nquery Q { dog { name } }", 1, "anonymous operation must be the only",
           1, 1);
    EXPECT("{ dog { name } }\n{ human { name } }", 2, "anonymous operation", 1, 1);
    EXPECT("query Q { dog { name } }\n  mutation { mutateDog { name } }", 1, "anonymous", 2, 3);
}

TEST(validate_subscription_single_root_field)
{
    struct vt t;

    VALID("subscription S { newMessage { body sender } }");
    VALID("subscription S { ...F } fragment F on Subscription { newMessage { body } }");
    VALID("subscription S { newMessage { body } newMessage { sender } }");
    VALID("subscription S { newMessage { body } disallowedSecondRootField @skip(if: true) }");
    VALID("subscription S { ... on Subscription { newMessage { body } } }");
    VALID("query Q { __typename dog { name } }");
    vt_run(&t, "subscription S {\n  newMessage { body }\n  disallowedSecondRootField\n}");
    CHECK_UINT_EQ(t.n, 1);
    CHECK_ERR(ERROR_AT(&t, 0), "Subscription \"S\" must select only one top level field", 0, 3, 3);
    vt_done(&t);
    vt_run(&t, "subscription S { ...F }\nfragment F on Subscription {\n  newMessage { body }\n"
               "  other: newMessage { body }\n  disallowedSecondRootField }");
    CHECK_UINT_EQ(t.n, 1);
    CHECK_ERR(ERROR_AT(&t, 0), "only one top level field", 0, 4, 3);
    CHECK_ERR(ERROR_AT(&t, 0), NULL, 1, 5, 3);
    vt_done(&t);
    EXPECT("subscription { newMessage { body } b: newMessage { body } }", 1,
           "Anonymous subscription must select only one", 1, 36);
    EXPECT("subscription S { __typename }", 1, "must not select an introspection top level field",
           1, 18);
    EXPECT("subscription S { newMessage { body } __typename }", 2, "only one top level field", 1,
           38);
    /* with @include(if: $var) the field may run: the rule keeps it */
    EXPECT("subscription S($b: Boolean!) { newMessage { body } "
           "disallowedSecondRootField @include(if: $b) }",
           1, "only one top level field", 1, 52);
}

/* ---------------------------------------------------------------- 5.3.1, 5.3.3 */

TEST(validate_fields_on_correct_type)
{
    VALID("{ dog { name nickname __typename barkVolume } }");
    VALID("{ pet { name __typename } catOrDog { __typename ... on Dog { name } } }");
    VALID("{ __schema { queryType { name } } __type(name: \"Dog\") { name } }");
    VALID("fragment F on Pet { ... on Dog { barkVolume } } { pet { ...F } }");
    EXPECT("{ dog { meowVolume } }", 1, "Type \"Dog\" has no field \"meowVolume\"", 1, 9);
    EXPECT("{ dog {\n    kawVolume: meowVolume } }", 1, "\"meowVolume\"", 2, 5);
    EXPECT("{ dog { nam } }", 1, "has no field \"nam\". Did you mean \"name\"?", 1, 9);
    EXPECT("{ dog { nicknam barkVolum } }", 2, "Did you mean \"nickname\"?", 1, 9);
    EXPECT("{ dog { xyzzy } }", 1, "has no field \"xyzzy\".", 1, 9);
    EXPECT("{ catOrDog { name } }", 1, "Union \"CatOrDog\" has no field \"name\"", 1, 14);
    EXPECT("{ pet { nickname } }", 1, "Type \"Pet\" has no field \"nickname\"", 1, 9);
    /* below an unknown field nothing more is reported */
    EXPECT("{ dog { unknown { whatever { deeper } } } }", 1, "\"unknown\"", 1, 9);
    EXPECT("{ dog { __schema { queryType { name } } } }", 1,
           "Type \"Dog\" has no field \"__schema\"", 1, 9);
    EXPECT("mutation { mutateDog { name } } query Q { mutateDog { name } }", 2, NULL, 0, 0);
}

TEST(validate_leaf_field_selections)
{
    VALID("{ dog { barkVolume name } }");
    VALID("{ human { pets { name } } }");
    EXPECT("{ dog { barkVolume { sinceWhen } } }", 1,
           "\"barkVolume\" must not have a selection: its type \"Int\"", 1, 20);
    EXPECT("{ human }", 1, "\"human\" of type \"Human\" must have a selection", 1, 3);
    EXPECT("{ dog }", 1, "must have a selection", 1, 3);
    EXPECT("{ human { pets } }", 1, "\"pets\" of type \"[Pet!]\"", 1, 11);
    EXPECT("{ catOrDog }", 1, "\"CatOrDog\"", 1, 3);
    EXPECT("{ dog { doesKnowCommand(dogCommand: SIT) { x } } }", 1, "\"Boolean!\"", 1, 42);
    EXPECT("{ __typename { x } }", 1, "\"String!\" has no subfields", 1, 14);
}

TEST(validate_operation_root_type)
{
    struct gql_schema *s;
    struct gql_source src = {"q.graphql", SLICE("type Query { a: Int }")};
    struct arena *a = arena_new(NULL);
    struct gql_doc *doc;
    struct gql_error *errs;
    struct err err = {0};

    OK(gql_schema_build(&s, &src, 1, &err));
    OK(gql_parse(a, SLICE("mutation M { a }"), NULL, &doc, NULL, &err));
    CHECK_UINT_EQ(gql_validate(s, doc, a, &errs), 1);
    CHECK_CONTAINS(errs->message, "no mutation root type");
    arena_reset(a);
    OK(gql_parse(a, SLICE("subscription { a }"), NULL, &doc, NULL, &err));
    CHECK_UINT_EQ(gql_validate(s, doc, a, &errs), 1);
    CHECK_CONTAINS(errs->message, "no subscription root type");
    arena_free(a);
    gql_schema_free(s);
}

/* ---------------------------------------------------------------- 5.5 fragments */

TEST(validate_fragment_name_uniqueness)
{
    struct vt t;

    VALID("{ dog { ...A ...B } } fragment A on Dog { name } fragment B on Dog { nickname }");
    vt_run(&t, "{ dog { ...A } }\nfragment A on Dog { name }\nfragment A on Dog { nickname }");
    CHECK_UINT_EQ(t.n, 1);
    CHECK_ERR(ERROR_AT(&t, 0), "fragment name \"A\" is used more than once", 0, 2, 10);
    CHECK_ERR(ERROR_AT(&t, 0), NULL, 1, 3, 10);
    vt_done(&t);
    /* as in graphql-js, a spread leads to the last definition of the name: G is used */
    EXPECT("{ dog { ...F } } fragment F on Dog { name } fragment F on Dog { ...G }\n"
           "fragment G on Dog { name }",
           1, "fragment name \"F\" is used more than once", 1, 27);
}

TEST(validate_fragment_type_exists)
{
    VALID("{ dog { ...F ... on Dog { name } ... { name } ... @include(if: true) { name } } }\n"
          "fragment F on Dog { name }");
    EXPECT("{ dog { ...F } }\nfragment F on NotInSchema { name }", 1,
           "Unknown type \"NotInSchema\"", 2, 15);
    EXPECT("{ dog { ... on NotInSchema { name } } }", 1, "Unknown type \"NotInSchema\"", 1, 16);
}

TEST(validate_fragments_on_composite_types)
{
    VALID("{ dog { ...F } } fragment F on Dog { name }");
    VALID("{ pet { ...F } } fragment F on Pet { name }");
    VALID("{ catOrDog { ...F } } fragment F on CatOrDog { __typename }");
    EXPECT("{ dog { ...F } }\nfragment F on Boolean { x }", 1,
           "Fragment \"F\" has type condition \"Boolean\", which is not", 2, 15);
    EXPECT("{ dog { ... on FurColor { x } } }", 1, "type condition \"FurColor\", which is not", 1,
           16);
    EXPECT("{ dog { ...F } } fragment F on ComplexInput { x }", 1, "\"ComplexInput\"", 1, 32);
}

TEST(validate_fragments_must_be_used)
{
    VALID("{ dog { ...A } } fragment A on Dog { ...B } fragment B on Dog { name }");
    EXPECT("{ dog { name } }\nfragment F on Dog { name }", 1, "Fragment \"F\" is never used", 2, 1);
    /* spread only by an unused fragment: unused too */
    EXPECT("{ dog { name } } fragment A on Dog { ...B } fragment B on Dog { name }", 2,
           "Fragment \"A\" is never used", 1, 18);
    /* a fragment that only an unknown operation type uses is still used */
    VALID("query A { dog { ...F } } query B { dog { name } } fragment F on Dog { name }");
}

TEST(validate_fragment_spread_target_defined)
{
    VALID("{ dog { ...F } } fragment F on Dog { name }");
    EXPECT("{ dog { ...undefinedFragment } }", 1, "Unknown fragment \"undefinedFragment\"", 1, 12);
    EXPECT("{ dog { ...F ...G } } fragment F on Dog { ...H }", 2, "Unknown fragment \"G\"", 1, 17);
}

TEST(validate_fragment_cycles)
{
    struct vt t;

    VALID("{ dog { ...A ...B } } fragment A on Dog { ...B } fragment B on Dog { name }");
    vt_run(&t, "{ dog { ...A } }\nfragment A on Dog { ...B }\nfragment B on Dog { ...A }");
    CHECK_UINT_EQ(t.n, 1);
    CHECK_ERR(ERROR_AT(&t, 0), "Cannot spread fragment \"A\" within itself via \"B\"", 0, 2, 21);
    CHECK_ERR(ERROR_AT(&t, 0), NULL, 1, 3, 21);
    vt_done(&t);
    EXPECT("{ dog { ...A } } fragment A on Dog { name ...A }", 1,
           "Cannot spread fragment \"A\" within itself:", 1, 43);
    EXPECT("{ dog { ...A } }\nfragment A on Dog { owner { pets { ... on Dog { ...A } } } }", 1,
           "within itself", 2, 49);
    /* two cycles through A */
    EXPECT("{ dog { ...A } } fragment A on Dog { ...B ...C } fragment B on Dog { ...A }\n"
           "fragment C on Dog { ...A }",
           2, "via \"B\"", 1, 38);
}

TEST(validate_fragment_spread_is_possible)
{
    VALID("fragment F on Dog { ... on Dog { barkVolume } } { dog { ...F } }");
    VALID("fragment F on Pet { ... on Dog { barkVolume } } { pet { ...F } }");
    VALID("fragment F on CatOrDog { ... on Cat { meowVolume } } { catOrDog { ...F } }");
    VALID("fragment F on Dog { ... on Pet { name } ... on CatOrDog { __typename } } "
          "{ dog { ...F } }");
    VALID("fragment F on Pet { ... on DogOrHuman { __typename } } { pet { ...F } }");
    VALID("fragment F on DogOrHuman { ... on Pet { name } } { dogOrHuman { ...F } }");
    EXPECT("{ dog { ... on Cat { meowVolume } } }", 1,
           "objects of type \"Dog\" can never be of type \"Cat\"", 1, 9);
    EXPECT("{ dog { ...C } } fragment C on Cat { meowVolume }", 1,
           "Fragment \"C\" cannot be spread here", 1, 9);
    EXPECT("{ human { ... on CatOrDog { __typename } } }", 1, "\"Human\" can never be", 1, 11);
    EXPECT("{ pet { ...S } } fragment S on Sentient { name }", 1,
           "\"Pet\" can never be of type "
           "\"Sentient\"",
           1, 9);
    EXPECT("{ humanOrAlien { ... on CatOrDog { __typename } } }", 1, "\"HumanOrAlien\"", 1, 18);
}

/* ---------------------------------------------------------------- errors as a whole */

TEST(validate_errors_in_document_order)
{
    struct vt t;

    vt_run(&t, "{ dog { a } }\n{ human { b } ...F }\nfragment G on Dog { c }");
    CHECK_UINT_EQ(t.n, 7);
    CHECK_ERR(ERROR_AT(&t, 0), NULL, 0, 1, 1); /* anonymous */
    CHECK_ERR(ERROR_AT(&t, 1), "\"a\"", 0, 1, 9);
    CHECK_ERR(ERROR_AT(&t, 2), "anonymous", 0, 2, 1);
    CHECK_ERR(ERROR_AT(&t, 3), "\"b\"", 0, 2, 11);
    CHECK_ERR(ERROR_AT(&t, 4), "Unknown fragment", 0, 2, 18);
    CHECK_ERR(ERROR_AT(&t, 5), "\"G\" is never used", 0, 3, 1);
    CHECK_ERR(ERROR_AT(&t, 6), "\"c\"", 0, 3, 21);
    vt_done(&t);
}

TEST(validate_stops_after_many_errors)
{
    struct sbuf b = SBUF_INIT(1 << 20);
    struct vt t;
    size_t n = 0;

    sbuf_puts(&b, "{ dog {");
    for (int i = 0; i < 500; i++)
        sbuf_printf(&b, " f%d", i);
    sbuf_puts(&b, " } }");
    vt_run(&t, b.buf);
    for (const struct gql_error *e = t.errs; e; e = e->next)
        n++;
    CHECK_UINT_EQ(t.n, GQL_V_MAX_ERRORS + 1);
    CHECK_UINT_EQ(n, t.n);
    CHECK_CONTAINS(ERROR_AT(&t, GQL_V_MAX_ERRORS)->message, "Too many validation errors");
    CHECK_CONTAINS(ERROR_AT(&t, GQL_V_MAX_ERRORS - 1)->message, "\"f99\"");
    vt_done(&t);
    sbuf_release(&b);
}

TEST(validate_out_of_memory_fails_closed)
{
    struct gql_error_loc where;
    struct err err = {0};
    struct sbuf b = SBUF_INIT(1 << 20);

    sbuf_puts(&b, "query Q($v: Int) { dog { ...F } } fragment F on Dog {");
    for (int i = 0; i < 300; i++)
        sbuf_printf(&b, " a%d: doesKnowCommand(dogCommand: SIT) name", i);
    sbuf_puts(&b, " }");
    /* every budget from nothing up: never a crash, never "valid" without the memory to say */
    for (size_t budget = 1024; budget < (1u << 20); budget += budget / 4) {
        struct arena *pa = arena_new(NULL), *a = arena_new(&(struct arena_opts){.budget = budget});
        struct gql_doc *doc;
        struct gql_error *errs;
        size_t n;

        OK(gql_parse(pa, sbuf_slice(&b), NULL, &doc, &where, &err));
        n = gql_validate(vt_schema(), doc, a, &errs);
        CHECK(n >= 1); /* $v is never used: at least that */
        arena_free(a);
        arena_free(pa);
    }
    sbuf_release(&b);
}
