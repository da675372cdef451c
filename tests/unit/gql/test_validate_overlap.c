/* Validation (spec 5.3.2): fields with the same response name can merge, and documents built
 * to make the search blow up stay fast. */
#include "test_validate.h"

#include "gql/validate.h"

TEST(validate_overlap_valid)
{
    VALID("{ dog { name nickname name } }");
    VALID("{ dog { otherName: name otherName: name } }");
    VALID("{ dog { doesKnowCommand(dogCommand: SIT) doesKnowCommand(dogCommand: SIT) } }");
    VALID("query Q($v: DogCommand!) { dog { doesKnowCommand(dogCommand: $v) "
          "doesKnowCommand(dogCommand: $v) } }");
    VALID("{ pet { ... on Dog { volume: barkVolume } ... on Cat { volume: meowVolume } } }");
    VALID("{ pet { ... on Dog { doesKnowCommand(dogCommand: SIT) } ... on Cat { "
          "doesKnowCommand(catCommand: JUMP) } } }");
    VALID("{ dog { name @include(if: true) name @skip(if: false) } }");
    VALID("{ arguments { multipleRequirements(x: 1, y: 2) multipleRequirements(y: 2, x: 1) } }");
    VALID("{ complicatedArgs { complexArgField(complexArg: {requiredField: true, intField: 1}) "
          "complexArgField(complexArg: {intField: 1, requiredField: true}) } }");
    VALID("{ dog { ...A ...B owner { name } } } fragment A on Dog { name owner { name } } "
          "fragment B on Dog { name owner { pets { name } } }");
    VALID("{ connection { edges { node { id } } } connection { edges { node { name } } } }");
    /* as graphql-js: a meta field has no definition to compare types with */
    VALID("{ pet { ... on Dog { x: __typename } ... on Cat { x: meowVolume } } }");
}

TEST(validate_overlap_names_and_arguments)
{
    struct vt t;

    vt_run(&t, "{ dog {\n  name: nickname\n  name } }");
    CHECK_UINT_EQ(t.n, 1);
    CHECK_ERR(ERROR_AT(&t, 0),
              "Fields \"name\" conflict because \"nickname\" and \"name\" are different fields", 0,
              2, 3);
    CHECK_ERR(ERROR_AT(&t, 0), NULL, 1, 3, 3);
    vt_done(&t);
    EXPECT("{ dog { doesKnowCommand(dogCommand: SIT) doesKnowCommand(dogCommand: HEEL) } }", 1,
           "\"doesKnowCommand\" conflict because they are given different arguments", 1, 9);
    EXPECT("{ dog { isHouseTrained isHouseTrained(atOtherHomes: true) } }", 1,
           "different arguments", 1, 9);
    EXPECT("query Q($v: DogCommand!) { dog { doesKnowCommand(dogCommand: SIT) "
           "doesKnowCommand(dogCommand: $v) } }",
           1, "different arguments", 1, 34);
    /* interfaces may share objects: not exclusive */
    EXPECT("{ pet { ... on Pet { x: name } ... on Dog { x: nickname } } }", 1, "\"x\"", 1, 22);
    /* each pair is a finding */
    EXPECT("{ dog { a: name a: name a: nickname } }", 2, "\"name\" and \"nickname\"", 1, 9);
    /* found from the inline fragment's set and from the enclosing one: reported once */
    EXPECT("{ dog { ... on Dog { x: name x: nickname } } }", 1, "\"x\"", 1, 22);
}

TEST(validate_overlap_types)
{
    struct vt t;

    EXPECT("{ pet { ... on Dog { someValue: nickname } ... on Cat { someValue: meowVolume } } }", 1,
           "they return the conflicting types \"String\" and \"Int\"", 1, 22);
    EXPECT("{ someBox { ... on NonNullStringBox1Impl { scalar } ... on StringBox { scalar } } }", 1,
           "\"String!\" and \"String\"", 1, 44);
    EXPECT("{ someBox { ... on StringBox { box: listStringBox { scalar } } ... on IntBox { box: "
           "stringBox { scalar } } } }",
           1, "\"[StringBox]\" and \"StringBox\"", 1, 32);
    vt_run(&t, "{ someBox {\n  ... on IntBox { deepBox { scalar } }\n"
               "  ... on StringBox { deepBox { scalar } } } }");
    CHECK_UINT_EQ(t.n, 1);
    CHECK_ERR(ERROR_AT(&t, 0),
              "Fields \"deepBox\" conflict because subfields \"scalar\" conflict because they "
              "return the conflicting types \"Int\" and \"String\"",
              0, 2, 19);
    CHECK_ERR(ERROR_AT(&t, 0), NULL, 1, 2, 29);
    CHECK_ERR(ERROR_AT(&t, 0), NULL, 2, 3, 22);
    CHECK_ERR(ERROR_AT(&t, 0), NULL, 3, 3, 32);
    vt_done(&t);
}

TEST(validate_overlap_fragments)
{
    struct vt t;

    vt_run(&t, "{ dog { ...A ...B } }\nfragment A on Dog { x: name }\n"
               "fragment B on Dog { x: nickname }");
    CHECK_UINT_EQ(t.n, 1);
    CHECK_ERR(ERROR_AT(&t, 0), "\"x\" conflict", 0, 2, 21);
    CHECK_ERR(ERROR_AT(&t, 0), NULL, 1, 3, 21);
    vt_done(&t);
    EXPECT("{ dog { x: name ...A } } fragment A on Dog { x: nickname }", 1, "\"x\"", 1, 9);
    EXPECT("{ dog { ...A ...A x: nickname } } fragment A on Dog { x: name }", 1, "\"x\"", 1, 19);
    /* a fragment's own conflict once, however often it is spread */
    EXPECT("{ dog { ...A } human { pets { ...A } } pet { ...A } }\n"
           "fragment A on Pet { x: name ... on Dog { x: nickname } }",
           1, "\"x\"", 2, 21);
    /* through fragments spread by fragments, and in nested selections */
    EXPECT("{ dog { ...A ...B } } fragment A on Dog { ...C } fragment B on Dog { ...D }\n"
           "fragment C on Dog { owner { n: name } } fragment D on Dog { owner { n: __typename } }",
           1, "subfields \"n\" conflict", 2, 21);
    EXPECT("{ dog { owner { ...C } owner { ...D } } } fragment C on Human { n: name }\n"
           "fragment D on Human { n: __typename }",
           1, "\"owner\" conflict because subfields \"n\"", 1, 9);
    /* the same pair of fragments spread by two operations: one finding */
    EXPECT("query P { dog { ...A ...B } } query Q { dog { ...B ...A } }\n"
           "fragment A on Dog { x: name } fragment B on Dog { x: nickname }",
           1, "\"x\"", 2, 21);
    /* cycles are reported by their rule; the merging search still ends */
    EXPECT("{ dog { ...A ...B } } fragment A on Dog { x: name ...B } fragment B on Dog { "
           "x: nickname ...A }",
           2, NULL, 0, 0);
}

/* ---------------------------------------------------------------- hostile documents */

static void run_built(struct vt *t, struct sbuf *b)
{
    CHECK(b->err == 0);
    vt_run(t, b->buf);
}

TEST(validate_overlap_many_same_fields)
{
    struct sbuf b = SBUF_INIT(4 << 20);
    struct vt t;

    sbuf_puts(&b, "{ dog {");
    for (int i = 0; i < 5000; i++)
        sbuf_puts(&b, " name");
    sbuf_puts(&b, " } }");
    run_built(&t, &b);
    CHECK_UINT_EQ(t.n, 0);
    vt_done(&t);
    /* one odd field among them: a finding with each of the others, as graphql-js reports
     * (the list fills up); identical fields are compared as one kind */
    sbuf_reset(&b);
    sbuf_puts(&b, "{ dog {");
    for (int i = 0; i < 5000; i++)
        sbuf_puts(&b, i == 2500 ? " a: nickname" : " a: name");
    sbuf_puts(&b, " } }");
    run_built(&t, &b);
    CHECK_UINT_EQ(t.n, GQL_V_MAX_ERRORS + 1);
    vt_done(&t);
    /* nested, identical sub-selections */
    sbuf_reset(&b);
    sbuf_puts(&b, "{");
    for (int i = 0; i < 3000; i++)
        sbuf_puts(&b, " dog { owner { name pets { name } } name }");
    sbuf_puts(&b, " }");
    run_built(&t, &b);
    CHECK_UINT_EQ(t.n, 0);
    vt_done(&t);
    /* all different: the list of errors fills and validation stops */
    sbuf_reset(&b);
    sbuf_puts(&b, "{ complicatedArgs {");
    for (int i = 0; i < 5000; i++)
        sbuf_printf(&b, " f: intArgField(intArg: %d)", i);
    sbuf_puts(&b, " } }");
    run_built(&t, &b);
    CHECK_UINT_EQ(t.n, GQL_V_MAX_ERRORS + 1);
    vt_done(&t);
    sbuf_release(&b);
}

TEST(validate_overlap_fragment_bomb)
{
    struct sbuf b = SBUF_INIT(4 << 20);
    struct vt t;

    /* F199 expands to 2^199 fields; each fragment pair is looked at once */
    sbuf_puts(&b, "{ dog { ...F199 name } }\nfragment F0 on Dog { name }\n");
    for (int i = 1; i < 200; i++)
        sbuf_printf(&b, "fragment F%d on Dog { ...F%d ...F%d owner { name } }\n", i, i - 1, i - 1);
    run_built(&t, &b);
    CHECK_UINT_EQ(t.n, 0);
    vt_done(&t);
    /* the same with a conflict at the bottom */
    sbuf_reset(&b);
    sbuf_puts(&b, "{ dog { ...F199 name: nickname } }\nfragment F0 on Dog { name }\n");
    for (int i = 1; i < 200; i++)
        sbuf_printf(&b, "fragment F%d on Dog { ...F%d ...F%d }\n", i, i - 1, i - 1);
    run_built(&t, &b);
    CHECK_UINT_EQ(t.n, 1);
    vt_done(&t);
    sbuf_release(&b);
}

/* Two chains of fragments nested through fields, compared level by level. */
static void chains(struct sbuf *b, int n)
{
    sbuf_reset(b);
    sbuf_printf(b, "{ someBox { ...A%d ...B%d } }\n", n, n);
    sbuf_puts(b, "fragment A0 on SomeBox { unrelatedField }\n");
    sbuf_puts(b, "fragment B0 on SomeBox { unrelatedField: __typename }\n");
    for (int i = 1; i <= n; i++)
        sbuf_printf(b,
                    "fragment A%d on SomeBox { deepBox { ...A%d } }\n"
                    "fragment B%d on SomeBox { deepBox { ...B%d } }\n",
                    i, i - 1, i, i - 1);
}

TEST(validate_overlap_deep_chains)
{
    struct sbuf b = SBUF_INIT(4 << 20);
    struct vt t;

    chains(&b, 40);
    run_built(&t, &b);
    CHECK_UINT_EQ(t.n, 1);
    CHECK_CONTAINS(ERROR_AT(&t, 0)->message, "\"deepBox\" conflict because subfields \"deepBox\"");
    CHECK_UINT_EQ(ERROR_AT(&t, 0)->nlocations, 82);
    vt_done(&t);
    /* past the depth the search can follow: refused, not a crash */
    chains(&b, 3000);
    run_built(&t, &b);
    CHECK_UINT_EQ(t.n, 1);
    CHECK_CONTAINS(ERROR_AT(&t, 0)->message, "nested more than");
    vt_done(&t);
    /* a long chain of fragments, each with a field: linear */
    sbuf_reset(&b);
    sbuf_puts(&b, "{ dog { ...F3000 } }\nfragment F0 on Dog { name }\n");
    for (int i = 1; i <= 3000; i++)
        sbuf_printf(&b, "fragment F%d on Dog { name ...F%d }\n", i, i - 1);
    run_built(&t, &b);
    CHECK_UINT_EQ(t.n, 0);
    vt_done(&t);
    sbuf_release(&b);
}

TEST(validate_overlap_work_is_bounded)
{
    struct sbuf b = SBUF_INIT(4 << 20);
    struct vt t;

    /* 4000 different fragments side by side: every pair would be compared */
    sbuf_puts(&b, "{ dog {");
    for (int i = 0; i < 4000; i++)
        sbuf_printf(&b, " ...F%d", i);
    sbuf_puts(&b, " } }\n");
    for (int i = 0; i < 4000; i++)
        sbuf_printf(&b, "fragment F%d on Dog { a%d: name }\n", i, i);
    run_built(&t, &b);
    CHECK_UINT_EQ(t.n, 1);
    CHECK_CONTAINS(ERROR_AT(&t, 0)->message, "within the work allowed");
    vt_done(&t);
    /* the same fragments, all alike: nothing to compare */
    sbuf_reset(&b);
    sbuf_puts(&b, "{ dog {");
    for (int i = 0; i < 4000; i++)
        sbuf_printf(&b, " ...F%d", i);
    sbuf_puts(&b, " } }\n");
    for (int i = 0; i < 4000; i++)
        sbuf_printf(&b, "fragment F%d on Dog { name }\n", i);
    run_built(&t, &b);
    CHECK_UINT_EQ(t.n, 0);
    vt_done(&t);
    sbuf_release(&b);
}
