/* Group commit: concurrent callers share transactions, callers of a kind written in one
 * statement commit beside the others, and one caller's failure is its own. */
#include <pthread.h>
#include <stdio.h>

#include "../test.h"
#include "base/base.h"
#include "flow/flow-int.h"
#include "../dbtest.h"

#define CALLERS 32
#define ROUNDS  20
#define BAD     6 /* the caller whose rows break a rule (NOT NULL) */

struct caller {
    struct flow_commit *c;
    pthread_barrier_t *go;
    enum store_kind kind;
    bool mixed; /* even callers use the bulk kind, odd ones flow_commit_run */
    int n;
    int rc;
    struct err err;
};

static struct store_val caller_val(const struct caller *k)
{
    return k->n == BAD ? SV_NULL : SV_INT(k->n);
}

static int insert_row(struct store_tx *tx, void *arg, struct err *err)
{
    return store_exec(tx, "INSERT INTO gc (n, bulk) VALUES (?, 0)",
                      (struct store_val[]){caller_val(arg)}, 1, NULL, err);
}

/* The bulk kind: every caller's number in one INSERT … SELECT FROM unnest on PostgreSQL, a
 * row each on SQLite. The bad caller's NULL fails the statement it is in. */
static int insert_many(struct store_tx *tx, void *const *args, size_t n, struct err *err)
{
    const struct caller *first = args[0];
    struct sbuf arr = SBUF_INIT(1u << 20);
    int rc = 0;

    if (first->kind == STORE_SQLITE) {
        for (size_t i = 0; rc == 0 && i < n; i++)
            rc = store_exec(tx, "INSERT INTO gc (n, bulk) VALUES (?, 1)",
                            (struct store_val[]){caller_val(args[i])}, 1, NULL, err);
        return rc;
    }
    sbuf_putc(&arr, '{');
    for (size_t i = 0; i < n; i++) {
        const struct caller *k = args[i];

        sbuf_puts(&arr, i ? "," : "");
        if (k->n == BAD)
            sbuf_puts(&arr, "NULL");
        else
            sbuf_printf(&arr, "%d", k->n);
    }
    sbuf_putc(&arr, '}');
    rc =
        store_exec(tx, "INSERT INTO gc (n, bulk) SELECT x, 1 FROM unnest(CAST(? AS BIGINT[])) x",
                   (struct store_val[]){SV_TEXT(((struct slice){arr.buf, arr.len}))}, 1, NULL, err);
    sbuf_release(&arr);
    return rc;
}

static bool many_one_statement(void *const *args, size_t n)
{
    (void)args, (void)n;
    return true;
}

static const struct flow_bulk many_kind = {insert_many, many_one_statement};

static void *caller_main(void *arg)
{
    struct caller *k = arg;

    pthread_barrier_wait(k->go);
    for (int i = 0; i < ROUNDS; i++) {
        k->rc = k->mixed && k->n % 2 == 0 ? flow_commit_bulk(k->c, &many_kind, k, &k->err)
                                          : flow_commit_run(k->c, insert_row, k, &k->err);
        if (k->n == BAD ? k->rc != ERR_CONFLICT : k->rc != 0)
            break;
    }
    return NULL;
}

/* Every good caller's rows, each exactly once, written as its kind. */
static void check_rows(struct store *s, bool mixed)
{
    struct arena *a = arena_new(NULL);
    struct err err = {0};
    struct store_rows *r;

    OK(store_query1(s, a, "SELECT n, COUNT(*), MIN(bulk), MAX(bulk) FROM gc GROUP BY n ORDER BY n",
                    NULL, 0, &r, &err));
    CHECK_INT_EQ(r->nrows, CALLERS - 1);
    for (size_t i = 0; i < r->nrows; i++) {
        int64_t n = store_cell(r, i, 0)->i, bulk = mixed && n % 2 == 0;

        CHECK(n != BAD);
        CHECK_INT_EQ(store_cell(r, i, 1)->i, ROUNDS);
        CHECK_INT_EQ(store_cell(r, i, 2)->i, bulk);
        CHECK_INT_EQ(store_cell(r, i, 3)->i, bulk);
    }
    arena_free(a);
}

static void t_group(enum store_kind kind, bool mixed)
{
    struct caller k[CALLERS];
    pthread_t th[CALLERS];
    pthread_barrier_t go;
    struct err err = {0};
    uint64_t batches, items;
    char url[1024];
    struct store *s;
    struct flow_commit *c;

    dbtest_url(kind, mixed ? "gm" : "gc", url, sizeof(url));
    s = dbtest_open(url, "gc", 4, 30000);
    OK(store_exec1(s, "CREATE TABLE gc (n BIGINT NOT NULL, bulk BIGINT NOT NULL)", NULL, 0, NULL,
                   &err));
    c = flow_commit_new(s);
    pthread_barrier_init(&go, NULL, CALLERS);
    for (int i = 0; i < CALLERS; i++) {
        k[i] = (struct caller){.c = c, .go = &go, .kind = kind, .mixed = mixed, .n = i};
        CHECK(pthread_create(&th[i], NULL, caller_main, &k[i]) == 0);
    }
    for (int i = 0; i < CALLERS; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < CALLERS; i++)
        if (i == BAD)
            CHECK_INT_EQ(k[i].rc, ERR_CONFLICT);
        else if (k[i].rc != 0)
            test_fail(__FILE__, __LINE__, "caller %d: %s", i, k[i].err.msg);
    check_rows(s, mixed);
    flow_commit_stats(c, &batches, &items, NULL);
    CHECK_UINT_EQ(items, CALLERS * ROUNDS);
    /* Callers queued while a commit ran share the next one. */
    CHECK(batches < items / 2);
    fprintf(stderr, "# %s%s: %" PRIu64 " callers in %" PRIu64 " commits\n",
            kind == STORE_SQLITE ? "sqlite" : "postgres", mixed ? ", two kinds" : "", items,
            batches);
    flow_commit_free(c);
    pthread_barrier_destroy(&go);
    store_close(s);
}

TEST(flow_group_commit_shares_transactions)
{
    t_group(STORE_SQLITE, false);
    if (dbtest_pg_url() != NULL)
        t_group(STORE_POSTGRES, false);
}

TEST(flow_group_commit_mixes_kinds_and_isolates_a_failing_bulk_caller)
{
    t_group(STORE_SQLITE, true);
    if (dbtest_pg_url() != NULL)
        t_group(STORE_POSTGRES, true);
}
