/*
 * libFuzzer harness for validation (spec §5) and the operation limits. The input is parsed
 * (type-system definitions allowed, for 5.1.1) with small limits and validated against a fixed
 * schema (built once) that gives every rule something to find, and against the schema the
 * gateway serves: objects, interfaces, unions, enums,
 * input objects with required and defaulted fields, list and non-null arguments, custom and
 * repeatable directives, and all three root types. Beyond "no crash, no leak, no hang" it checks
 * that:
 *   - gql_validate() returns the length of its list (at most the cap and its notice), and
 *     each error has a message, the validation code and places with a line and column;
 *   - validating again, in a fresh arena, finds the very same messages at the same places;
 *   - the printed form of the document (same AST, other places) finds as many errors;
 *   - a valid document's operations pass the limits or fail them with exactly one error
 *     (QUERY_TOO_COMPLEX) that names a limit.
 * The last byte of the input sometimes picks a small arena budget, so that running out of
 * memory is exercised at every place: then at least one error must still be reported.
 */
#include <stdio.h>
#include <stdlib.h>

#include "base/base.h"
#include "gateway/gateway.h"
#include "gql/gql-int.h"
#include "gql/validate.h"

#define ARENA_BUDGET (4u << 20)
#define PRINT_MAX    (1u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char sdl[] =
    "type Query { dog: Dog human: Human pet: Pet catOrDog: CatOrDog dogOrHuman: DogOrHuman\n"
    "  humanOrAlien: HumanOrAlien args: Args box: SomeBox list(l: [Boolean]!): Boolean\n"
    "  field(arg: String = \"x\"): String }\n"
    "type Mutation { mutateDog(name: String!): Dog }\n"
    "type Subscription { newMessage: Message second: Boolean }\n"
    "type Message { body: String sender: String }\n"
    "enum DogCommand { SIT DOWN HEEL }\n"
    "interface Sentient { name: String! }\n"
    "interface Pet { name: String! }\n"
    "type Dog implements Pet { name: String! nickname: String barkVolume: Int\n"
    "  doesKnowCommand(dogCommand: DogCommand!): Boolean! owner: Human\n"
    "  isHouseTrained(atOtherHomes: Boolean): Boolean! }\n"
    "type Alien implements Sentient { name: String! homePlanet: String }\n"
    "type Human implements Sentient { name: String! pets: [Pet!] }\n"
    "type Cat implements Pet { name: String! nickname: String meowVolume: Int }\n"
    "union CatOrDog = Cat | Dog\n"
    "union DogOrHuman = Dog | Human\n"
    "union HumanOrAlien = Human | Alien\n"
    "scalar Time\n"
    "input In { req: Boolean! def: Int! = 1 opt: Int s: [String!] nested: In t: Time }\n"
    "type Args { multi(x: Int!, y: Int!): Int! b(v: Boolean): Boolean f(v: Float): Float\n"
    "  i(v: Int): Int id(v: ID): ID nn(v: Boolean!): Boolean! withDefault(v: Int! = 0): Int\n"
    "  in(v: In): String e(v: DogCommand): String s(v: [String]): String }\n"
    "interface SomeBox { deepBox: SomeBox unrelated: String }\n"
    "type StringBox implements SomeBox { scalar: String deepBox: StringBox unrelated: String\n"
    "  list: [StringBox] }\n"
    "type IntBox implements SomeBox { scalar: Int deepBox: IntBox unrelated: String\n"
    "  list: [StringBox] }\n"
    "directive @onQuery on QUERY\n"
    "directive @onField on FIELD\n"
    "directive @onVar on VARIABLE_DEFINITION\n"
    "directive @rep(n: Int) repeatable on FIELD | FRAGMENT_SPREAD | INLINE_FRAGMENT\n"
    "directive @req(r: Int!) on FIELD | FRAGMENT_DEFINITION\n";

static struct gql_schema *schema;
static struct gql_schema *real; /* the gateway's, as it serves it */

static void setup(void)
{
    struct gql_source src = {"fuzz.graphql", SLICE(sdl)};
    struct err err = {0};

    if (gql_schema_build(&schema, &src, 1, &err) != 0) {
        fprintf(stderr, "fuzz schema: %s\n", err.msg);
        abort();
    }
    if (gw_graphql_schema(&real, &err) != 0) {
        fprintf(stderr, "gateway schema: %s\n", err.msg);
        abort();
    }
}

/* The list's length, checking each error's form. */
static size_t check_list(const struct gql_error *errs, const char *code)
{
    size_t n = 0;

    for (const struct gql_error *e = errs; e; e = e->next, n++) {
        ASSERT(e->message != NULL && e->message[0] != 0);
        ASSERT(e->code != NULL && strcmp(e->code, code) == 0);
        for (size_t i = 0; i < e->nlocations; i++)
            ASSERT(e->locations[i].line >= 1 && e->locations[i].column >= 1);
    }
    return n;
}

static bool same_errors(const struct gql_error *a, const struct gql_error *b)
{
    for (; a && b; a = a->next, b = b->next) {
        if (strcmp(a->message, b->message) != 0 || a->nlocations != b->nlocations)
            return false;
        for (size_t i = 0; i < a->nlocations; i++)
            if (a->locations[i].line != b->locations[i].line ||
                a->locations[i].column != b->locations[i].column)
                return false;
    }
    return a == b;
}

/* The printed document validates to as many errors (places differ, findings do not). */
static void check_printed(const struct gql_doc *doc, size_t n)
{
    struct arena *a = arena_new(&(struct arena_opts){.chunk = 64 << 10});
    struct sbuf p = SBUF_INIT(PRINT_MAX);
    struct gql_limits lim = {.max_bytes = PRINT_MAX, .max_tokens = 1u << 20, .max_depth = 64};
    struct gql_doc *again;
    struct gql_error *errs;
    struct err err = {0};

    gql_print(doc, &p);
    if (p.err == 0 && gql_parse(a, sbuf_slice(&p), &lim, &again, NULL, &err) == 0)
        ASSERT(gql_validate(schema, again, a, &errs) == n);
    sbuf_release(&p);
    arena_free(a);
}

static void check_limits(const struct gql_doc *doc, unsigned pick)
{
    struct arena *a = arena_new(&(struct arena_opts){.chunk = 16 << 10});
    struct gql_limits lim = {
        .max_aliases = pick % 5, .max_field_depth = pick % 7, .max_cost = pick % 11};

    for (const struct gql_def *d = doc->defs; d; d = d->next) {
        struct gql_error *errs = NULL;
        int rc;

        if (d->kind != GQL_DEF_OPERATION)
            continue;
        rc = gql_check_limits(schema, doc, d, &lim, a, &errs);
        ASSERT(rc == 0 || rc == ERR_LIMIT);
        ASSERT(check_list(errs, "QUERY_TOO_COMPLEX") == (rc == 0 ? 0u : 1u));
        ASSERT(rc == 0 || strstr(errs->message, "(max_") != NULL);
    }
    arena_free(a);
}

/* The same document against the schema slipway serves, with room for every error. */
static void check_real(const struct gql_doc *doc)
{
    struct arena *a = arena_new(&(struct arena_opts){.chunk = 16 << 10, .budget = ARENA_BUDGET});
    struct gql_error *errs;
    size_t n = gql_validate(real, doc, a, &errs);

    ASSERT(check_list(errs, "GRAPHQL_VALIDATION_FAILED") == n);
    arena_free(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned pick = size ? data[size - 1] : 0;
    /* now and then a small budget for validation, so that memory runs out everywhere */
    size_t budget = pick % 8 == 7 ? (size_t)(pick + 1) * 512 : ARENA_BUDGET;
    struct arena *pa = arena_new(&(struct arena_opts){.chunk = 16 << 10, .budget = ARENA_BUDGET});
    struct arena *a = arena_new(&(struct arena_opts){.chunk = 16 << 10, .budget = budget});
    struct arena *b = arena_new(&(struct arena_opts){.chunk = 16 << 10, .budget = budget});
    struct gql_limits lim = {.max_tokens = 4000, .max_depth = 24};
    struct gql_doc *doc = NULL;
    struct gql_error *errs, *again;
    struct err err = {0};
    size_t n;

    if (schema == NULL)
        setup();
    if (gql_parse(pa, (struct slice){(const char *)data, size}, &lim, &doc, NULL, &err) == 0) {
        n = gql_validate(schema, doc, a, &errs);
        ASSERT(n <= GQL_V_MAX_ERRORS + 1);
        ASSERT(check_list(errs, "GRAPHQL_VALIDATION_FAILED") == n);
        ASSERT(gql_validate(schema, doc, b, &again) == n && same_errors(errs, again));
        check_real(doc);
        if (budget == ARENA_BUDGET) {
            check_printed(doc, n);
            if (n == 0)
                check_limits(doc, pick);
        }
    }
    arena_free(b);
    arena_free(a);
    arena_free(pa);
    return 0;
}
