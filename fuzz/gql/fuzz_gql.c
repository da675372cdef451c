/*
 * libFuzzer harness for the GraphQL lexer, parser and printer. Beyond "no crash, no leak, no
 * unbounded recursion" it checks that:
 *   - a refusal is ERR_INVALID or ERR_LIMIT with no document, and an ERR_INVALID message starts
 *     with the "line:column: " that the error location holds;
 *   - a document that parses prints to a form that parses again (in an arena with room for the
 *     longer escapes), with as many definitions, and prints to the very same bytes;
 *   - the executable and schema entry points accept no more than gql_parse() does.
 */
#include <stdio.h>
#include <stdlib.h>

#include "base/base.h"
#include "gql/gql.h"

#define ARENA_BUDGET (1u << 20)
#define PRINT_MAX    (8u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_refusal(int rc, const struct gql_doc *doc, const struct gql_error_loc *where,
                          const struct err *err)
{
    char prefix[32];

    ASSERT(rc == ERR_INVALID || rc == ERR_LIMIT);
    ASSERT(err->code == rc);
    ASSERT(doc == NULL);
    if (rc == ERR_INVALID) {
        ASSERT(where->line >= 1 && where->column >= 1);
        snprintf(prefix, sizeof(prefix), "%" PRIu32 ":%" PRIu32 ": ", where->line, where->column);
        ASSERT(strncmp(err->msg, prefix, strlen(prefix)) == 0);
    }
}

static void check_round_trip(const struct gql_doc *doc)
{
    struct arena *a = arena_new(&(struct arena_opts){.chunk = 4096, .budget = 8 * ARENA_BUDGET});
    struct sbuf p1 = SBUF_INIT(PRINT_MAX), p2 = SBUF_INIT(PRINT_MAX);
    struct gql_limits lim = {.max_bytes = PRINT_MAX};
    struct gql_error_loc where;
    struct gql_doc *again = NULL;
    struct err err = {0};
    int rc;

    gql_print(doc, &p1);
    ASSERT(p1.err == 0);
    rc = gql_parse(a, sbuf_slice(&p1), &lim, &again, &where, &err);
    if (rc != 0)
        fprintf(stderr, "printed form does not parse: %s\n%s\n", err.msg, p1.buf);
    ASSERT(rc == 0);
    /* a leading "|" or "&" and the "query" of the first definition may go; "query" may come
     * to the others */
    ASSERT(again->ndefs == doc->ndefs && again->ntokens <= doc->ntokens + doc->ndefs);
    gql_print(again, &p2);
    ASSERT(p2.err == 0);
    if (p1.len != p2.len || memcmp(p1.buf, p2.buf, p1.len) != 0)
        fprintf(stderr, "printed forms differ:\n%s\n%s\n", p1.buf, p2.buf);
    ASSERT(p1.len == p2.len && memcmp(p1.buf, p2.buf, p1.len) == 0);
    sbuf_release(&p1);
    sbuf_release(&p2);
    arena_free(a);
}

/* The narrower entry points: never accept what gql_parse() refuses. */
static void check_entry_points(struct slice in, const struct gql_limits *lim, bool parsed)
{
    struct arena *a = arena_new(&(struct arena_opts){.chunk = 4096, .budget = ARENA_BUDGET});
    struct gql_error_loc where;
    struct gql_doc *doc = NULL;
    struct err err = {0};
    int rc = gql_parse_executable(a, in, lim, &doc, &where, &err);

    if (rc != 0)
        check_refusal(rc, doc, &where, &err);
    ASSERT(rc != 0 || parsed);
    arena_reset(a);
    doc = NULL;
    rc = gql_parse_schema(a, in, lim, &doc, &where, &err);
    if (rc != 0)
        check_refusal(rc, doc, &where, &err);
    ASSERT(rc != 0 || parsed);
    arena_free(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct arena *a = arena_new(&(struct arena_opts){.chunk = 4096, .budget = ARENA_BUDGET});
    struct slice in = {(const char *)data, size};
    /* the last byte picks small limits now and then, so they are crossed at every place */
    unsigned pick = size ? data[size - 1] : 0;
    struct gql_limits lim = {0};
    struct gql_error_loc where = {0, 0};
    struct gql_doc *doc = NULL;
    struct err err = {0};
    int rc;

    if (pick % 4 == 0) {
        lim.max_depth = 1 + pick % 7;
        lim.max_tokens = 1 + pick * 3;
    }
    rc = gql_parse(a, in, &lim, &doc, &where, &err);
    if (rc != 0)
        check_refusal(rc, doc, &where, &err);
    else
        check_round_trip(doc);
    check_entry_points(in, &lim, rc == 0);
    arena_free(a);
    return 0;
}
