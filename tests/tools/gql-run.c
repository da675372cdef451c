/*
 * gql-run: runs GraphQL requests against a schema with no resolvers bound, so every field is
 * the default resolver's (the member of that name of a JSON object, abstract types by their
 * "__typename" member). The differential suite (tests/gql/differential.py) feeds it the same
 * requests as graphql-js (tests/gql/js-run.mjs) and compares the answers.
 *
 *   gql-run SCHEMA.graphql < requests.jsonl
 *
 * Each input line is one request:
 *   {"data": <root value>, "query": "…", "variables": {…}, "operationName": "…"}
 * and gets one output line: {"errors":[…]} when the document does not parse or validate,
 * else the response gql_execute() writes. A line that is not such a request stops the run
 * (exit 2): the suite writes them, so it is a bug there, not a case.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/base.h"
#include "gql/gql.h"

enum {
    MAX_RESPONSE = 64 << 20, /* the full introspection of a big schema is well under this */
    ARENA_BUDGET = 256 << 20,
};

/* The whole of <path> into a malloc'ed buffer (NUL-terminated); NULL with errno on failure. */
static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    struct sbuf b = SBUF_INIT(16 << 20);
    char chunk[8192];
    size_t n;

    if (f == NULL)
        return NULL;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        sbuf_put(&b, chunk, n);
    if (ferror(f) || b.err != 0) {
        fclose(f);
        sbuf_release(&b);
        return NULL;
    }
    fclose(f);
    return sbuf_take(&b, len);
}

static void write_errors(struct sbuf *out, const struct gql_error *errs)
{
    struct jw w;

    jw_init(&w, out);
    jw_obj_begin(&w);
    jw_key(&w, "errors");
    jw_arr_begin(&w);
    gql_errors_write(&w, errs);
    jw_arr_end(&w);
    jw_obj_end(&w);
}

/* Optional string member <name> of <req>; <absent> when it is absent or null. */
static int opt_string(const json_t *req, const char *name, struct slice absent, struct slice *out)
{
    const json_t *v = json_object_get(req, name);

    *out = absent;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return -1;
    *out = (struct slice){json_string_value(v), json_string_length(v)};
    return 0;
}

/* Answers one request line into <out>. Returns -1 when the line is not a request. */
static int run_one(const struct gql_schema *s, const json_t *req, struct sbuf *out)
{
    struct arena *a;
    struct gql_doc_ref *doc = NULL;
    struct gql_error *errs = NULL;
    struct gql_val root;
    struct slice query, op_name;
    const json_t *data = json_object_get(req, "data");
    const json_t *vars = json_object_get(req, "variables");
    int rc;

    if (opt_string(req, "query", SLICE(""), &query) < 0 ||
        opt_string(req, "operationName", SLICE_NULL, &op_name) < 0)
        return -1;
    if (vars != NULL && json_is_null(vars))
        vars = NULL;
    if (vars != NULL && !json_is_object(vars))
        return -1;

    a = arena_new(&(struct arena_opts){.chunk = 64 << 10, .budget = ARENA_BUDGET});
    if (gql_prepare(s, query, NULL, a, &doc, &errs) != 0) {
        write_errors(out, errs);
        arena_free(a);
        return 0;
    }
    root = GQL_JSON(data);
    rc = gql_execute(&(struct gql_exec){.schema = s,
                                        .doc = doc,
                                        .operation_name = op_name,
                                        .variables = vars,
                                        .root = data != NULL ? &root : NULL,
                                        .a = a},
                     out);
    if (rc == ERR_LIMIT)
        fprintf(stderr, "gql-run: response incomplete (out of memory or over %d bytes)\n",
                MAX_RESPONSE);
    gql_doc_ref_put(doc);
    arena_free(a);
    return 0;
}

static int load_schema(const char *path, struct gql_schema **s)
{
    struct err err = {0};
    size_t len = 0;
    char *text = read_file(path, &len);
    int rc;

    if (text == NULL) {
        perror(path);
        return -1;
    }
    rc = gql_schema_build(s, &(struct gql_source){path, {text, len}}, 1, &err);
    free(text);
    if (rc != 0) {
        fprintf(stderr, "gql-run: %s\n", err.msg);
        return -1;
    }
    return 0;
}

/* Reads request lines from stdin until EOF; 0, or 2 on a line that is not a request. */
static int run_lines(const struct gql_schema *s)
{
    struct sbuf out = SBUF_INIT(MAX_RESPONSE);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    unsigned lineno = 0;
    int rc = 0;

    while (rc == 0 && (n = getline(&line, &cap, stdin)) >= 0) {
        json_error_t jerr;
        json_t *req;

        lineno++;
        if (n == 0 || line[0] == '\n')
            continue;
        req = json_loadb(line, (size_t)n, JSON_ALLOW_NUL, &jerr);
        sbuf_reset(&out);
        if (req == NULL || !json_is_object(req) || run_one(s, req, &out) < 0) {
            fprintf(stderr, "gql-run: stdin line %u is not a request\n", lineno);
            rc = 2;
        } else {
            sbuf_putc(&out, '\n');
            fwrite(out.buf, 1, out.len, stdout);
            fflush(stdout);
        }
        json_decref(req);
    }
    free(line);
    sbuf_release(&out);
    return rc;
}

int main(int argc, char **argv)
{
    struct gql_schema *s = NULL;
    int rc;

    if (argc != 2) {
        fprintf(stderr, "usage: gql-run SCHEMA.graphql < requests.jsonl\n");
        return 2;
    }
    if (load_schema(argv[1], &s) < 0)
        return 1;
    rc = run_lines(s);
    gql_schema_free(s);
    return rc;
}
