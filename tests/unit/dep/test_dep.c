/*
 * The deployer against the real runtime (runc), with a busybox image made here as
 * tests/unit/rt/test_rt.c makes its own. Every test skips when runc cannot run (not root, no
 * runc). No ingress: routes are checked through the deployer's state; the ingress has its own
 * tests and the integration tests drive both.
 */
#include "../test.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "dep/dep-int.h"
#include "../container_test.h"
#include "oci/oci.h"

#define HTTPD "exec httpd -f -p $PORT -h /www"

struct fx {
    char layout[512], data[512];
    char digest[OCI_DIGEST_SIZE];
    struct dep_cfg cfg;
    struct store *store;
    struct dep *d;
};
static struct fx *the_fx; /* stopped at exit, also when a CHECK fails */

/* One layer: busybox with a few applets, /etc/passwd naming the app user, /www/index.html. */
static void image_make(struct fx *f, const char *tmp)
{
    static const char *const applets[] = {"sh", "httpd", "echo", "sleep", "seq", "cat"};
    struct oci_layer_opts lo = {.keep_setid = true};
    struct oci_layer l;
    struct err err = {0};
    char path[700];

    sh("mkdir -p %s/l1/bin %s/l1/etc %s/l1/www %s/l1/tmp && chmod 1777 %s/l1/tmp && "
       "cp /bin/busybox %s/l1/bin/busybox && echo index > %s/l1/www/index.html && "
       "printf 'root:x:0:0::/:/bin/sh\\napp:x:10001:10001::/tmp:/bin/sh\\n' > %s/l1/etc/passwd",
       tmp, tmp, tmp, tmp, tmp, tmp, tmp, tmp);
    for (size_t i = 0; i < ARRAY_LEN(applets); i++) {
        snprintf(path, sizeof(path), "%s/l1/bin/%s", tmp, applets[i]);
        CHECK(symlink("busybox", path) == 0);
    }
    snprintf(f->layout, sizeof(f->layout), "%s/img", tmp);
    snprintf(path, sizeof(path), "%s/l1", tmp);
    OK(oci_layer_from_dir(path, &lo, f->layout, &l, &err));
    static const char *const cmd[] = {"/bin/sh", "-c", HTTPD};
    struct oci_image_spec s = {.config = {.user = "app", .cmd = cmd, .n_cmd = 3},
                               .layers = &l,
                               .n_layers = 1,
                               .tag = "v1"};
    OK(oci_image_write(f->layout, &s, f->digest, &err));
}

/* Stops every container of the fixture's runtime, whatever state the test left. */
static void cleanup(void)
{
    struct fx *f = the_fx;
    struct arena *a;
    struct rt *rt = NULL;
    struct rt_info *list;
    size_t n = 0;
    char root[700];

    if (f == NULL)
        return;
    the_fx = NULL;
    dep_free(f->d);
    store_close(f->store);
    snprintf(root, sizeof(root), "%s/deployer/rt", f->data);
    a = arena_new(NULL);
    if (rt_new(&(struct rt_opts){.root = root}, &rt, NULL) == 0 &&
        rt_adopt(rt, a, &list, &n, NULL) == 0)
        for (size_t i = 0; i < n; i++)
            if (rt_stop(rt, list[i].id, 0, NULL) < 0)
                continue;
    rt_free(rt);
    arena_free(a);
    free(f);
}

static struct fx *fx_new(void)
{
    static bool registered;
    const char *tmp = test_tmpdir();
    struct fx *f = xcalloc(1, sizeof(*f));
    struct err err = {0};

    image_make(f, tmp);
    snprintf(f->data, sizeof(f->data), "%s/data", tmp);
    dep_cfg_defaults(&f->cfg);
    f->cfg.port_min = 30000 + (getpid() * 37) % 20000;
    f->cfg.port_max = f->cfg.port_min + 300;
    f->cfg.ready_timeout_ms = 10000;
    f->cfg.drain_ms = 100;
    f->cfg.stop_grace_ms = 500;
    f->cfg.backoff_max_ms = 1000;
    f->cfg.usage_interval_ms = 200;
    the_fx = f;
    if (!registered)
        registered = atexit(cleanup) == 0;
    char url[600];
    snprintf(url, sizeof(url), "sqlite:%s/deployer.db", tmp);
    OK(store_open(&(struct store_opts){.url = url, .service = "deployer"}, &f->store, &err));
    OK(dep_new(&(struct dep_deps){.data_dir = f->data, .cfg = &f->cfg, .store = f->store}, &f->d,
               &err));
    return f;
}

static const struct dep_key key = {"acme", "shop", "production", "web"};

static struct dep_spec spec_of(const struct fx *f, unsigned replicas, const char *cmd)
{
    static const char *const env[] = {"GREETING=hello"};
    static const char *const hosts[] = {"web-production-shop.localhost"};

    return (struct dep_spec){.layout_dir = f->layout,
                             .digest = f->digest,
                             .port = 8080,
                             .replicas = replicas,
                             .memory_bytes = 64u << 20,
                             .env = env,
                             .n_env = 1,
                             .start_command = cmd,
                             .health_path = "/index.html",
                             .hosts = hosts,
                             .n_hosts = 1};
}

/* The service's replicas now (a copy). */
static unsigned replicas_of(struct fx *f, struct dep_replica *out)
{
    struct dep_svc *s = dep_svc_get(f->d, &key, false);
    unsigned n;

    CHECK(s != NULL);
    pthread_mutex_lock(&s->lock);
    n = s->n_rep;
    memcpy(out, s->rep, n * sizeof(*out));
    pthread_mutex_unlock(&s->lock);
    return n;
}

static int get(uint16_t port)
{
    return dep_http_status(port, "/index.html", 2000);
}

static bool gone(struct fx *f, const char *id)
{
    struct rt_state st;

    return rt_state(f->d->rt, id, &st, NULL) == ERR_NOTFOUND;
}

TEST(dep_rolls_out_two_replicas)
{
    struct dep_replica r[DEP_REPLICAS_MAX];
    struct dep_result res;
    struct dep_status st;
    struct err err = {0};

    if (!can_run())
        return;
    struct fx *f = fx_new();
    struct dep_spec s = spec_of(f, 2, HTTPD);
    OK(dep_rollout(f->d, &key, &s, NULL, &res, &err));
    CHECK_STR_EQ(res.message, "2 replicas ready");
    CHECK(!res.unchanged);
    OK(dep_status(f->d, &key, &st, &err));
    CHECK_STR_EQ(dep_health_name(st.health), "SYNCED");
    CHECK_UINT_EQ(st.ready, 2);
    CHECK_UINT_EQ(st.replicas, 2);
    CHECK_STR_EQ(st.digest, f->digest);
    CHECK_UINT_EQ(replicas_of(f, r), 2);
    CHECK(r[0].host_port != r[1].host_port);
    CHECK_INT_EQ(get(r[0].app_port), 200);
    CHECK_INT_EQ(get(r[1].app_port), 200);

    /* The record: 0600, naming both replicas, no secret in a world-readable place. */
    char path[1024];
    struct stat sb;
    snprintf(path, sizeof(path), "%s/deployer/services/acme/shop/production/web.json", f->data);
    CHECK(stat(path, &sb) == 0);
    CHECK_UINT_EQ(sb.st_mode & 0777, 0600);

    /* The same spec again: nothing restarts. */
    OK(dep_rollout(f->d, &key, &s, NULL, &res, &err));
    CHECK(res.unchanged);

    /* The usage ledger gets samples (every 200 ms here). */
    struct arena *a = arena_new(NULL);
    struct store_rows *rows = NULL;
    usleep(700 * 1000);
    OK(store_read1(f->store, a,
                   "SELECT COUNT(*), MIN(memory_bytes) FROM dep_usage WHERE service = 'web'"
                   " AND project = 'shop' AND replica = ?",
                   &SV_CSTR(r[0].id), 1, &rows, &err));
    CHECK(store_cell(rows, 0, 0)->i >= 1);
    CHECK(store_cell(rows, 0, 1)->i > 0);
    arena_free(a);

    struct sbuf m = SBUF_INIT(1 << 20);
    dep_metrics_render(f->d, &m);
    CHECK_CONTAINS(m.buf, "slipway_replica_cpu_seconds_total{workspace=\"acme\",project=\"shop\","
                          "env=\"production\",service=\"web\",replica=\"1\"} ");
    CHECK_CONTAINS(m.buf, "slipway_replica_memory_bytes{");
    CHECK_CONTAINS(m.buf, "slipway_replicas_ready{workspace=\"acme\",project=\"shop\","
                          "env=\"production\",service=\"web\"} 2\n");
    CHECK_CONTAINS(m.buf, "slipway_replica_restarts_total{");
    sbuf_release(&m);

    OK(dep_remove(f->d, &key, &err));
    CHECK(gone(f, r[0].id) && gone(f, r[1].id));
    CHECK(access(path, F_OK) != 0);
    OK(dep_status(f->d, &key, &st, &err));
    CHECK_INT_EQ(st.health, DEP_UNKNOWN);
}

TEST(dep_new_release_replaces_the_old_and_scales)
{
    struct dep_replica old[DEP_REPLICAS_MAX], now[DEP_REPLICAS_MAX];
    struct dep_result res;
    struct err err = {0};

    if (!can_run())
        return;
    struct fx *f = fx_new();
    struct dep_spec s = spec_of(f, 3, HTTPD);
    OK(dep_rollout(f->d, &key, &s, NULL, &res, &err));
    CHECK_UINT_EQ(replicas_of(f, old), 3);

    static const char *const env2[] = {"GREETING=bonjour"};
    s.env = env2;
    s.replicas = 1;
    OK(dep_rollout(f->d, &key, &s, NULL, &res, &err));
    CHECK_STR_EQ(res.message, "1 replica ready");
    CHECK_UINT_EQ(replicas_of(f, now), 1);
    CHECK(strcmp(now[0].id, old[0].id) != 0);
    CHECK_INT_EQ(get(now[0].app_port), 200);
    for (unsigned i = 0; i < 3; i++)
        CHECK(gone(f, old[i].id));

    /* Suspended: nothing runs, status says so. */
    s.replicas = 0;
    OK(dep_rollout(f->d, &key, &s, NULL, &res, &err));
    CHECK_STR_EQ(res.message, "suspended");
    CHECK(gone(f, now[0].id));
    OK(dep_remove(f->d, &key, &err));
}

TEST(dep_failed_release_keeps_the_old_one_serving)
{
    struct dep_replica old[DEP_REPLICAS_MAX], now[DEP_REPLICAS_MAX];
    struct dep_result res;
    struct dep_status st;
    struct err err = {0};

    if (!can_run())
        return;
    struct fx *f = fx_new();
    struct dep_spec s = spec_of(f, 1, HTTPD);
    OK(dep_rollout(f->d, &key, &s, NULL, &res, &err));
    CHECK_UINT_EQ(replicas_of(f, old), 1);

    struct dep_spec bad = spec_of(f, 2, "echo boom; exit 1");
    CHECK_INT_EQ(dep_rollout(f->d, &key, &bad, NULL, &res, &err), ERR_UNAVAILABLE);
    CHECK_CONTAINS(err.msg, "boom");
    CHECK_CONTAINS(err.msg, "exited with 1");
    CHECK_CONTAINS(res.message, "boom");
    CHECK_UINT_EQ(replicas_of(f, now), 1);
    CHECK_STR_EQ(now[0].id, old[0].id);
    CHECK_INT_EQ(get(old[0].app_port), 200);
    OK(dep_status(f->d, &key, &st, &err));
    CHECK_INT_EQ(st.health, DEP_SYNCED);

    /* Cancelled before it starts anything: the old one again. */
    _Atomic bool cancel = true;
    struct dep_spec other = spec_of(f, 1, "sleep 1; " HTTPD);
    CHECK_INT_EQ(
        dep_rollout(f->d, &key, &other, &(struct dep_hooks){.cancel = &cancel}, &res, &err),
        ERR_CANCELLED);
    CHECK_INT_EQ(get(old[0].app_port), 200);
    OK(dep_remove(f->d, &key, &err));
}

TEST(dep_supervisor_restarts_a_crashed_replica)
{
    struct dep_replica r[DEP_REPLICAS_MAX];
    struct rt_state st0, st1;
    struct dep_result res;
    struct err err = {0};

    if (!can_run())
        return;
    struct fx *f = fx_new();
    struct dep_spec s = spec_of(f, 1, HTTPD);
    OK(dep_rollout(f->d, &key, &s, NULL, &res, &err));
    CHECK_UINT_EQ(replicas_of(f, r), 1);
    OK(rt_state(f->d->rt, r[0].id, &st0, &err));
    CHECK(kill(st0.pid, SIGKILL) == 0);
    bool back = false;
    for (int i = 0; i < 600 && !back; i++) {
        usleep(100 * 1000);
        replicas_of(f, r);
        back = r[0].restarts == 1 && r[0].ready;
    }
    CHECK(back);
    OK(rt_state(f->d->rt, r[0].id, &st1, &err));
    CHECK(st1.pid != st0.pid);
    CHECK_INT_EQ(get(r[0].app_port), 200);
    CHECK_CONTAINS(r[0].last_crash, "exit 137");
    OK(dep_remove(f->d, &key, &err));
}

TEST(dep_crash_loop_degrades)
{
    struct dep_result res;
    struct dep_status st = {0};
    struct err err = {0};

    if (!can_run())
        return;
    struct fx *f = fx_new();
    struct dep_spec s =
        spec_of(f, 1, "httpd -f -p $PORT -h /www & sleep 1; echo going down; exit 3");
    OK(dep_rollout(f->d, &key, &s, NULL, &res, &err));
    /* Three crashes take about 10 s (1 s up, backoff 1 s, 2 s, 4 s); up to 2 min on a loaded
     * machine under TSan. */
    for (int i = 0; i < 1200 && st.health != DEP_DEGRADED; i++) {
        usleep(100 * 1000);
        OK(dep_status(f->d, &key, &st, &err));
    }
    CHECK_STR_EQ(dep_health_name(st.health), "DEGRADED");
    CHECK_CONTAINS(st.message, "replica 1 crashed 3 times: exit 3: going down");
    OK(dep_remove(f->d, &key, &err));
}

TEST(dep_adopts_after_restart_and_stops_pending)
{
    struct dep_replica r[DEP_REPLICAS_MAX], after[DEP_REPLICAS_MAX];
    struct rt_state st0, st1;
    struct dep_result res;
    struct err err = {0};

    if (!can_run())
        return;
    struct fx *f = fx_new();
    struct dep_spec s = spec_of(f, 2, HTTPD);
    OK(dep_rollout(f->d, &key, &s, NULL, &res, &err));
    CHECK_UINT_EQ(replicas_of(f, r), 2);
    OK(rt_state(f->d->rt, r[0].id, &st0, &err));

    /* A rollout killed after starting its replicas: they run, the record names them pending. */
    atomic_store(&dep_test_abandon, true);
    struct dep_spec s2 = spec_of(f, 1, "echo v2; " HTTPD);
    CHECK_INT_EQ(dep_rollout(f->d, &key, &s2, NULL, &res, &err), ERR_INTERNAL);
    atomic_store(&dep_test_abandon, false);
    char pending[RT_ID_MAX + 1];
    snprintf(pending, sizeof(pending), "%.*s-g2-r1", DEP_KEY_HEX, r[0].id);
    CHECK(!gone(f, pending));

    dep_free(f->d);
    f->d = NULL;
    OK(dep_new(&(struct dep_deps){.data_dir = f->data, .cfg = &f->cfg}, &f->d, &err));
    CHECK(gone(f, pending));
    CHECK_UINT_EQ(replicas_of(f, after), 2);
    CHECK_STR_EQ(after[0].id, r[0].id);
    CHECK(after[0].ready && after[1].ready);
    OK(rt_state(f->d->rt, r[0].id, &st1, &err));
    CHECK_INT_EQ(st1.pid, st0.pid);
    CHECK_INT_EQ(get(after[1].app_port), 200);

    /* The interrupted release goes out again, on a fresh generation. */
    OK(dep_rollout(f->d, &key, &s2, NULL, &res, &err));
    CHECK_UINT_EQ(replicas_of(f, after), 1);
    CHECK_CONTAINS(after[0].id, "-g3-r1");
    OK(dep_remove(f->d, &key, &err));
}

TEST(dep_finds_the_port_the_app_listens_on)
{
    struct dep_replica r[DEP_REPLICAS_MAX];
    struct dep_result res;
    struct err err = {0};
    char cmd[128];

    if (!can_run())
        return;
    struct fx *f = fx_new();
    uint16_t fixed = (uint16_t)(f->cfg.port_max + 50);
    snprintf(cmd, sizeof(cmd), "exec httpd -f -p %u -h /www", fixed);
    struct dep_spec s = spec_of(f, 1, cmd);
    OK(dep_rollout(f->d, &key, &s, NULL, &res, &err));
    char want[128];
    snprintf(want, sizeof(want), "the app listens on %u, not ", fixed);
    CHECK_CONTAINS(res.message, want);
    CHECK_UINT_EQ(replicas_of(f, r), 1);
    CHECK_UINT_EQ(r[0].app_port, fixed);

    /* Two replicas of it clash on the host network: the error says so. */
    s.replicas = 2;
    static const char *const env2[] = {"GREETING=again"};
    s.env = env2;
    CHECK_INT_EQ(dep_rollout(f->d, &key, &s, NULL, &res, &err), ERR_UNAVAILABLE);
    CHECK_CONTAINS(res.message, "ignores PORT");
    OK(dep_remove(f->d, &key, &err));
}

struct seen {
    char text[8192];
};

static bool on_line(void *arg, const struct dep_log_line *l)
{
    struct seen *s = arg;
    size_t n = strlen(s->text);

    snprintf(s->text + n, sizeof(s->text) - n, "%s %s " SLICE_FMT "\n", l->replica, l->stream,
             SLICE_ARG(l->text));
    return true;
}

TEST(dep_logs_tail_and_follow_a_rollout)
{
    struct dep_log_cursor *c = NULL;
    struct dep_result res;
    struct seen seen = {{0}};
    struct err err = {0};

    if (!can_run())
        return;
    struct fx *f = fx_new();
    struct dep_spec s = spec_of(f, 1, "seq 1 5; echo oops >&2; " HTTPD);
    OK(dep_rollout(f->d, &key, &s, NULL, &res, &err));
    OK(dep_logs_open(f->d, &key, 3, &c, &err));
    OK(dep_logs_read(c, on_line, &seen, &err));
    CHECK_CONTAINS(seen.text, "1 err oops\n");
    CHECK_CONTAINS(seen.text, "1 out 5\n");
    CHECK(strstr(seen.text, "1 out 2\n") == NULL); /* only the last 3 lines */

    seen.text[0] = '\0';
    struct dep_spec s2 = spec_of(f, 1, "echo second release; " HTTPD);
    OK(dep_rollout(f->d, &key, &s2, NULL, &res, &err));
    for (int i = 0; i < 200 && strstr(seen.text, "second release") == NULL; i++) {
        OK(dep_logs_read(c, on_line, &seen, &err));
        usleep(50 * 1000);
    }
    CHECK_CONTAINS(seen.text, "1 out second release\n");
    dep_logs_close(c);

    struct dep_key other = {"acme", "shop", "production", "nothing"};
    CHECK_INT_EQ(dep_logs_open(f->d, &other, 10, &c, &err), ERR_NOTFOUND);
    OK(dep_remove(f->d, &key, &err));
}

struct follow {
    long next; /* the number the next "n<N>" line must carry */
    bool gap;
};

static bool on_counted(void *arg, const struct dep_log_line *l)
{
    struct follow *f = arg;
    long n;

    if (l->text.len > 1 && l->text.ptr[0] == 'n' && sscanf(l->text.ptr + 1, "%ld", &n) == 1) {
        f->gap |= f->next > 0 && n != f->next; /* the first one read may come after a rotation */
        f->next = n + 1;
    }
    return true;
}

/* The relay rotates the file under the cursor many times: no line is lost or repeated. */
TEST(dep_logs_follow_across_rotation)
{
    struct dep_log_cursor *c = NULL;
    struct follow fl = {0};
    unsigned reads_before_end = 0;
    struct dep_result res;
    struct err err = {0};
    char path[1024];

    if (!can_run())
        return;
    struct fx *f = fx_new();
    dep_free(f->d);
    f->cfg.log_max_bytes = 4096;
    OK(dep_new(&(struct dep_deps){.data_dir = f->data, .cfg = &f->cfg}, &f->d, &err));
    struct dep_spec s = spec_of(f, 1,
                                "i=0; while [ $i -lt 1500 ]; do echo n$i padding-padding-padding;"
                                " i=$((i+1)); [ $((i % 100)) = 0 ] && sleep 0.2; done & " HTTPD);
    OK(dep_rollout(f->d, &key, &s, NULL, &res, &err));
    OK(dep_logs_open(f->d, &key, 1u << 20, &c, &err));
    for (int i = 0; i < 500 && fl.next < 1500; i++) {
        OK(dep_logs_read(c, on_counted, &fl, &err));
        reads_before_end += fl.next > 0 && fl.next < 1500;
        usleep(20 * 1000);
    }
    dep_logs_close(c);
    struct dep_replica r[DEP_REPLICAS_MAX];
    CHECK_UINT_EQ(replicas_of(f, r), 1);
    snprintf(path, sizeof(path), "%s/deployer/rt/logs/%s/current.1", f->data, r[0].id);
    CHECK(access(path, F_OK) == 0); /* it did rotate */
    CHECK(!fl.gap);
    CHECK_INT_EQ(fl.next, 1500);
    CHECK(reads_before_end > 20); /* it followed the writer through several rotations */
    OK(dep_remove(f->d, &key, &err));
}
