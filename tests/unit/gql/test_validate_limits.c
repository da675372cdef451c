/* Operation limits (gql_check_limits): aliases, field depth and cost, fragments expanded
 * where they are spread; and documents built to make validation slow. */
#include "test_validate.h"

#include "gql/validate.h"

/* Validates <text> (which must be valid) and checks the limits of its first operation. */
static int limits(const char *text, const struct gql_limits *lim, struct gql_error **errs,
                  struct arena *a)
{
    struct gql_doc *doc;
    struct gql_error *verrs;
    struct err err = {0};
    const struct gql_def *op;

    OK(gql_parse(a, slice_from_cstr(text), NULL, &doc, NULL, &err));
    CHECK_UINT_EQ(gql_validate(vt_schema(), doc, a, &verrs), 0);
    for (op = doc->defs; op->kind != GQL_DEF_OPERATION; op = op->next)
        ;
    *errs = NULL;
    return gql_check_limits(vt_schema(), doc, op, lim, a, errs);
}

/* <text> is over <lim>, with the one error saying <msg>; or within it. */
#define EXPECT_LIMIT(text, lim, msg)                                                               \
    do {                                                                                           \
        struct arena *ar_ = arena_new(NULL);                                                       \
        struct gql_error *e_;                                                                      \
        CHECK_INT_EQ(limits((text), (lim), &e_, ar_), ERR_LIMIT);                                  \
        CHECK(e_ != NULL && e_->next == NULL);                                                     \
        CHECK_CONTAINS(e_->message, (msg));                                                        \
        CHECK_STR_EQ(e_->code, "QUERY_TOO_COMPLEX");                                               \
        arena_free(ar_);                                                                           \
    } while (0)
#define EXPECT_WITHIN(text, lim)                                                                   \
    do {                                                                                           \
        struct arena *ar_ = arena_new(NULL);                                                       \
        struct gql_error *e_;                                                                      \
        CHECK_INT_EQ(limits((text), (lim), &e_, ar_), 0);                                          \
        CHECK(e_ == NULL);                                                                         \
        arena_free(ar_);                                                                           \
    } while (0)

TEST(validate_limits_aliases)
{
    struct gql_limits lim = {.max_aliases = 3};
    struct sbuf b = SBUF_INIT(1 << 20);

    EXPECT_WITHIN("{ dog { a: name b: name c: nickname } }", &lim);
    EXPECT_LIMIT("{ dog { a: name b: name c: nickname } d: dog { name } }", &lim,
                 "query has 4 aliases; the limit is 3 (max_aliases)");
    /* counted at every place a fragment is spread */
    EXPECT_WITHIN("{ dog { ...F } } fragment F on Dog { a: name b: name }", &lim);
    EXPECT_LIMIT("{ dog { ...F ...F } } fragment F on Dog { a: name b: name }", &lim,
                 "has 4 aliases");
    EXPECT_LIMIT("{ dog { ... on Dog { ...F } } human { pets { ...F } } } "
                 "fragment F on Pet { a: name b: name }",
                 &lim, "has 4 aliases");
    /* the default: 100 */
    sbuf_puts(&b, "{ dog {");
    for (int i = 0; i < 130; i++)
        sbuf_printf(&b, " a%d: name", i);
    sbuf_puts(&b, " } }");
    EXPECT_LIMIT(b.buf, NULL, "query has 130 aliases; the limit is 100 (max_aliases)");
    sbuf_release(&b);
}

TEST(validate_limits_depth)
{
    struct gql_limits lim = {.max_field_depth = 3};

    EXPECT_WITHIN("{ dog { owner { name } } }", &lim);
    EXPECT_LIMIT("{ dog { owner { pets { name } } } }", &lim,
                 "query nests fields 4 deep; the limit is 3 (max_field_depth)");
    /* inline fragments add no depth; fragments add theirs where they are spread */
    EXPECT_WITHIN("{ dog { ... on Dog { ... { owner { name } } } } }", &lim);
    EXPECT_WITHIN("{ dog { ...F } } fragment F on Dog { owner { name } }", &lim);
    EXPECT_LIMIT("{ dog { owner { pets { ...F } } } } fragment F on Pet { name }", &lim,
                 "nests fields 4 deep");
    EXPECT_LIMIT("query Q { human { ...H } } fragment H on Human { pets { ...P } }\n"
                 "fragment P on Pet { ... on Dog { owner { name } } }",
                 &lim, "4 deep");
    EXPECT_LIMIT("mutation M { mutateDog { owner { pets { name } } } }", &lim,
                 "mutation nests fields 4 deep");
}

TEST(validate_limits_cost)
{
    struct gql_limits lim = {.max_cost = 6};
    struct sbuf b = SBUF_INIT(1 << 20);

    EXPECT_WITHIN("{ dog { name nickname __typename owner { name } } }", &lim);
    EXPECT_LIMIT("{ dog { name nickname __typename owner { name } } __typename }", &lim,
                 "query costs 7 (fields, each counted where it runs); the limit is 6 (max_cost)");
    /* a fragment spread twice counts twice */
    EXPECT_WITHIN("{ dog { ...F } } fragment F on Dog { name nickname }", &lim);
    lim.max_cost = 4;
    EXPECT_LIMIT("{ dog { ...F ...F } } fragment F on Dog { name nickname }", &lim, "costs 5");
    /* the default: 20000 */
    sbuf_puts(&b, "{ dog { ...F } } fragment F on Dog {");
    for (int i = 0; i < 20000; i++)
        sbuf_puts(&b, " name");
    sbuf_puts(&b, " }");
    EXPECT_LIMIT(b.buf, NULL, "query costs 20001");
    sbuf_release(&b);
}

TEST(validate_limits_fragment_bomb)
{
    struct sbuf b = SBUF_INIT(1 << 20);
    struct arena *a = arena_new(NULL);
    struct gql_error *errs;

    /* F30 runs 2^30 fields: measured in the size of the document */
    sbuf_puts(&b, "{ dog { ...F30 } }\nfragment F0 on Dog { name }\n");
    for (int i = 1; i <= 30; i++)
        sbuf_printf(&b, "fragment F%d on Dog { ...F%d ...F%d }\n", i, i - 1, i - 1);
    CHECK_INT_EQ(limits(b.buf, NULL, &errs, a), ERR_LIMIT);
    CHECK_CONTAINS(errs->message, "query costs 1073741825 ");
    arena_reset(a);
    /* past 2^64: the sums stay at their top */
    for (int aliased = 0; aliased < 2; aliased++) {
        sbuf_reset(&b);
        sbuf_printf(&b, "{ dog { ...F70 } }\nfragment F0 on Dog { %sname }\n",
                    aliased ? "a: " : "");
        for (int i = 1; i <= 70; i++)
            sbuf_printf(&b, "fragment F%d on Dog { ...F%d ...F%d }\n", i, i - 1, i - 1);
        CHECK_INT_EQ(limits(b.buf, NULL, &errs, a), ERR_LIMIT);
        CHECK_CONTAINS(errs->message, aliased ? "has 18446744073709551615 aliases"
                                              : "costs at least 18446744073709551615");
        arena_reset(a);
    }
    arena_free(a);
    sbuf_release(&b);
}

TEST(validate_limits_long_chain)
{
    struct sbuf b = SBUF_INIT(1 << 20);
    struct arena *a = arena_new(NULL);
    struct gql_error *errs;

    /* 5000 fragments in a chain: no recursion over the chain */
    sbuf_puts(&b, "{ dog { ...F5000 } }\nfragment F0 on Dog { name }\n");
    for (int i = 1; i <= 5000; i++)
        sbuf_printf(&b, "fragment F%d on Dog { ...F%d }\n", i, i - 1);
    CHECK_INT_EQ(limits(b.buf, NULL, &errs, a), 0);
    arena_reset(a);
    /* ... and nested through fields, 3000 deep */
    sbuf_reset(&b);
    sbuf_puts(&b, "{ dog { ...F3000 } }\nfragment F0 on Dog { name }\n");
    for (int i = 1; i <= 3000; i++)
        sbuf_printf(&b, "fragment F%d on Dog { owner { pets { ... on Dog { ...F%d } } } }\n", i,
                    i - 1);
    CHECK_INT_EQ(limits(b.buf, NULL, &errs, a), ERR_LIMIT);
    CHECK_CONTAINS(errs->message, "nests fields 6002 deep");
    arena_free(a);
    sbuf_release(&b);
}

TEST(validate_limits_operation_chosen)
{
    struct arena *a = arena_new(NULL);
    struct gql_limits lim = {.max_cost = 2};
    struct gql_doc *doc;
    struct gql_error *errs = NULL, *v;
    struct err err = {0};

    OK(gql_parse(a, SLICE("query Big { dog { name nickname } } query Small { dog { name } }"), NULL,
                 &doc, NULL, &err));
    CHECK_UINT_EQ(gql_validate(vt_schema(), doc, a, &v), 0);
    CHECK_INT_EQ(gql_check_limits(vt_schema(), doc, doc->defs, &lim, a, &errs), ERR_LIMIT);
    CHECK_INT_EQ(gql_check_limits(vt_schema(), doc, doc->defs->next, &lim, a, &errs), 0);
    CHECK(errs != NULL && errs->next == NULL); /* the first call's error, appended */
    CHECK_UINT_EQ(errs->nlocations, 1);
    CHECK_UINT_EQ(errs->locations[0].column, 1);
    arena_free(a);
}
