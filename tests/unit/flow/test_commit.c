/* Group commit: concurrent callers share transactions, and one caller's failure is its own. */
#include <pthread.h>
#include <stdio.h>

#include "../test.h"
#include "base/base.h"
#include "flow/flow-int.h"
#include "../dbtest.h"

#define CALLERS 32

struct caller {
    struct flow_commit *c;
    pthread_barrier_t *go;
    int n;
    int rc;
    struct err err;
};

static int insert_row(struct store_tx *tx, void *arg, struct err *err)
{
    struct caller *k = arg;

    /* Caller 7 breaks a rule: its own call fails, nobody else's. */
    return store_exec(tx, "INSERT INTO gc (n) VALUES (?)",
                      (struct store_val[]){k->n == 7 ? SV_NULL : SV_INT(k->n)}, 1, NULL, err);
}

static void *caller_main(void *arg)
{
    struct caller *k = arg;

    pthread_barrier_wait(k->go);
    for (int i = 0; i < 20; i++) {
        k->rc = flow_commit_run(k->c, insert_row, k, &k->err);
        if (k->n == 7 ? k->rc != ERR_CONFLICT : k->rc != 0)
            break;
    }
    return NULL;
}

static void t_group(enum store_kind kind)
{
    struct caller k[CALLERS];
    pthread_t th[CALLERS];
    pthread_barrier_t go;
    struct err err = {0};
    struct arena *a = arena_new(NULL);
    struct store_rows *r;
    uint64_t batches, items;
    char url[1024];
    struct store *s;
    struct flow_commit *c;

    dbtest_url(kind, "gc", url, sizeof(url));
    s = dbtest_open(url, "gc", 4, 30000);
    OK(store_exec1(s, "CREATE TABLE gc (n BIGINT NOT NULL)", NULL, 0, NULL, &err));
    c = flow_commit_new(s);
    pthread_barrier_init(&go, NULL, CALLERS);
    for (int i = 0; i < CALLERS; i++) {
        k[i] = (struct caller){.c = c, .go = &go, .n = i};
        CHECK(pthread_create(&th[i], NULL, caller_main, &k[i]) == 0);
    }
    for (int i = 0; i < CALLERS; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < CALLERS; i++)
        if (i == 7)
            CHECK_INT_EQ(k[i].rc, ERR_CONFLICT);
        else if (k[i].rc != 0)
            test_fail(__FILE__, __LINE__, "caller %d: %s", i, k[i].err.msg);
    OK(store_query1(s, a, "SELECT COUNT(*) FROM gc", NULL, 0, &r, &err));
    CHECK_INT_EQ(store_cell(r, 0, 0)->i, (CALLERS - 1) * 20);
    flow_commit_stats(c, &batches, &items, NULL);
    CHECK_UINT_EQ(items, CALLERS * 20);
    /* Callers queued while a commit ran share the next one. */
    CHECK(batches < items / 2);
    fprintf(stderr, "# %s: %" PRIu64 " callers in %" PRIu64 " commits\n",
            kind == STORE_SQLITE ? "sqlite" : "postgres", items, batches);
    flow_commit_free(c);
    pthread_barrier_destroy(&go);
    arena_free(a);
    store_close(s);
}

TEST(flow_group_commit_shares_transactions)
{
    t_group(STORE_SQLITE);
    if (dbtest_pg_url() != NULL)
        t_group(STORE_POSTGRES);
}
