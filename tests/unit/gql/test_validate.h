/* Helpers shared by the validation tests (test_validate*.c): the schema of the spec's examples
 * (§5) and checks of what gql_validate() reports. */
#ifndef SLIPWAY_TEST_VALIDATE_H
#define SLIPWAY_TEST_VALIDATE_H

#include "../test.h"
#include "base/base.h"
#include "gql/gql.h"

/* The example schema, built once per test process (each test runs in its own). */
const struct gql_schema *vt_schema(void);

/* One validation: the parse (any definitions allowed) and the errors live in <a>. */
struct vt {
    struct arena *a;
    struct gql_doc *doc;
    struct gql_error *errs;
    size_t n;
};
void vt_run(struct vt *t, const char *text);
void vt_done(struct vt *t);
/* The <i>th error (document order), failing the test when there is none. */
const struct gql_error *vt_error(const char *file, int line, const struct vt *t, size_t i);

/* <text> has <n> errors; unless <msg> is NULL, the first one says <msg> and its first place
 * is <l>:<c>. */
void vt_expect(const char *file, int line, const char *text, size_t n, const char *msg, uint32_t l,
               uint32_t c);
/* Error <e> says <msg> (NULL: anything) and its place number <k> is <l>:<c>. */
void vt_check(const char *file, int line, const struct gql_error *e, const char *msg, size_t k,
              uint32_t l, uint32_t c);

#define EXPECT(text, n, msg, l, c) vt_expect(__FILE__, __LINE__, (text), (n), (msg), (l), (c))
#define VALID(text)                vt_expect(__FILE__, __LINE__, (text), 0, NULL, 0, 0)
#define ERROR_AT(t, i)             vt_error(__FILE__, __LINE__, (t), (i))
#define CHECK_ERR(e, msg, k, l, c) vt_check(__FILE__, __LINE__, (e), (msg), (k), (l), (c))

#endif
