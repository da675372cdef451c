/*
 * Whole builds (src/bld/build.c) with the real parts: each example app is committed to a git
 * repository, built, unpacked layer by layer into a root filesystem and run once in the sandbox,
 * where busybox's wget (bound in at /probe) asks it for GET / on $PORT.
 *
 * Needs root, runc, and the network to Debian's archive and to the npm registry on a cold base
 * cache. The base cache is shared between runs (it holds only Debian packages and the rootfs
 * made from them): $SLIPWAY_TEST_BASE_CACHE, else /var/cache/slipway-test/base. A cold cache
 * takes minutes: run with SLIPWAY_TEST_TIMEOUT=900.
 */
#include "../test.h"

#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/base.h"
#include "bld/bld-int.h"

#include "build_test.h"

static void build_and_run(const char *example, const char *want)
{
    char url[512], work[512], cache[512];
    struct bld_build_result res;
    struct log l = {SBUF_INIT(4 << 20)};
    struct err err = {0};

    if (!can_build())
        return;
    repo_make(example, example, url, sizeof(url));
    repo_commit(example);
    struct bld_build_req req = req_for(url, example, work, cache, sizeof(work));
    OK(build(&req, &res, &l, &err));
    CHECK(!res.cache_hit);
    fprintf(stderr, "# %s: built in %" PRIu64 " ms\n", example, res.total_ms);
    image_answers(&res, want);
    sbuf_release(&l.text);
}

TEST(build_python_runs)
{
    build_and_run("python", "hello from python");
}

TEST(build_static_runs)
{
    build_and_run("static", "hello from static");
}

TEST(build_procfile_runs)
{
    build_and_run("procfile", "");
}

TEST(build_go_runs)
{
    build_and_run("go", "hello from go");
}

/* Built with node (npm ci, vite build), served by the static runtime with an SPA fallback. */
TEST(build_node_vite_spa_runs)
{
    build_and_run("node-vite-spa", "<title>node-vite-spa</title>");
}

/* node-express: the image runs; the same commit again is a cache hit at once with the same
 * digest; a change to the source alone reuses the dependency layer. */
TEST(build_node_express_caches)
{
    char url[512], work[512], cache[512];
    struct bld_build_result r1, r2, r3;
    struct log l = {SBUF_INIT(4 << 20)};
    struct arena *a = arena_new(NULL);
    struct oci_image *i1, *i3;
    struct err err = {0};

    if (!can_build())
        return;
    repo_make("node-express", "ne", url, sizeof(url));
    repo_commit("ne");
    struct bld_build_req req = req_for(url, "ne", work, cache, sizeof(work));
    OK(build(&req, &r1, &l, &err));
    CHECK(!r1.cache_hit && !r1.deps_hit);
    CHECK_CONTAINS(l.text.buf, "==> npm ci");
    image_answers(&r1, "hello from node-express");

    OK(build(&req, &r2, &l, &err));
    CHECK(r2.cache_hit);
    CHECK_STR_EQ(r2.digest, r1.digest);
    CHECK(r2.total_ms <= 1000);
    fprintf(stderr, "# same commit: %" PRIu64 " ms\n", r2.total_ms);

    put("ne", "server.js",
        "const express = require('express');\nconst app = express();\n"
        "app.get('/', (req, res) => res.send('changed\\n'));\n"
        "app.listen(Number(process.env.PORT || 8080));\n");
    repo_commit("ne");
    OK(build(&req, &r3, &l, &err));
    CHECK(!r3.cache_hit && r3.deps_hit);
    CHECK(strstr(l.text.buf, "==> npm ci") == NULL);
    CHECK(strcmp(r3.digest, r1.digest) != 0);
    OK(oci_layout_read(a, r1.layout_dir, r1.tag, OCI_READ_TRUST_LAYERS, &i1, &err));
    OK(oci_layout_read(a, r3.layout_dir, r3.tag, OCI_READ_TRUST_LAYERS, &i3, &err));
    CHECK_INT_EQ(i1->n_layers, 3);
    CHECK_INT_EQ(i3->n_layers, 3);
    CHECK_STR_EQ(i1->layers[0].diff_id, i3->layers[0].diff_id);
    CHECK_STR_EQ(i1->layers[1].diff_id, i3->layers[1].diff_id);
    CHECK(strcmp(i1->layers[2].diff_id, i3->layers[2].diff_id) != 0);
    CHECK_STR_EQ(i3->config.user, "10001:10001");
    CHECK_STR_EQ(i3->config.workdir, "/app");
    CHECK_INT_EQ(i3->config.port, 8080);
    fprintf(stderr, "# source-only change: %" PRIu64 " ms\n", r3.total_ms);
    image_answers(&r3, "changed");
    arena_free(a);
    sbuf_release(&l.text);
}

/* A python app: main.py, and <requirements>, <slipway_json> when not NULL. */
static void python_repo(const char *name, const char *requirements, const char *slipway_json,
                        char *url, size_t max)
{
    repo_make(NULL, name, url, max);
    put(name, "main.py", "print('hi')\n");
    put(name, "requirements.txt", requirements);
    if (slipway_json != NULL)
        put(name, "slipway.json", slipway_json);
    repo_commit(name);
}

/* Builds a python app made of <requirements> and <slipway_json> with <pids> and <memory> as
 * limits (0: the usual ones), which must fail with <code> and <msg>; <l> gets the log. */
static void expect_failure(const char *name, const char *requirements, const char *slipway_json,
                           uint32_t pids, uint64_t memory, int code, const char *msg, struct log *l)
{
    char url[512], work[512], cache[512];
    struct bld_build_result res;
    struct err err = {0};

    python_repo(name, requirements, slipway_json, url, sizeof(url));
    struct bld_build_req req = req_for(url, name, work, cache, sizeof(work));
    req.pids_max = pids ? pids : req.pids_max;
    req.memory_bytes = memory ? memory : req.memory_bytes;
    sbuf_reset(&l->text);
    CHECK_INT_EQ(bld_build(&req, &(struct bld_build_hooks){.line = on_line, .arg = l}, &res, &err),
                 code);
    CHECK_STR_EQ(err.msg, msg);
}

TEST(build_failing_install_names_the_step_and_logs_its_output)
{
    struct log l = {SBUF_INIT(4 << 20)};

    if (!can_build())
        return;
    expect_failure("pip", "# one package\nslipway-no-such-package==1.0\n", NULL, 0, 0, ERR_INVALID,
                   "pip install -r requirements.txt failed (exit 1)", &l);
    CHECK_CONTAINS(l.text.buf, "==> pip install -r requirements.txt");
    CHECK_CONTAINS(l.text.buf, "ERROR");
    sbuf_release(&l.text);
}

TEST(build_fork_bomb_and_memory_hog_end_with_the_sandbox_errors)
{
    struct log l = {SBUF_INIT(4 << 20)};

    if (!can_build())
        return;
    expect_failure("bomb", "# nothing\n",
                   "{\"buildCommand\": \"b() { b | b & }; b; sleep 3; exit 1\"}\n", 64, 0,
                   ERR_LIMIT, "build started too many processes (limit 64)", &l);
    expect_failure("hog", "# nothing\n",
                   "{\"buildCommand\": \"python3 -c \\\"b = b'x' * (400 << 20)\\\"\"}\n", 0,
                   128ull << 20, ERR_LIMIT, "build needed more than 128 MiB", &l);
    sbuf_release(&l.text);
}

TEST(build_never_logs_a_password)
{
    char work[512], cache[512];
    struct bld_build_result res;
    struct log l = {SBUF_INIT(1 << 20)};
    struct err err = {0};
    struct bld_build_req req =
        req_for("https://user:s3cr3t-pw@127.0.0.1:1/x.git", "pw", work, cache, sizeof(work));

    CHECK(bld_build(&req, &(struct bld_build_hooks){.line = on_line, .arg = &l}, &res, &err) < 0);
    CHECK(strstr(err.msg, "s3cr3t") == NULL);
    CHECK(strstr(l.text.buf, "s3cr3t") == NULL);
    CHECK_CONTAINS(l.text.buf, "user:***@");
    sbuf_release(&l.text);
}

TEST(build_plans_a_dockerfile_for_buildah_and_refuses_bad_requests)
{
    struct bld_service s = {.context_path = ".", .provider = "dockerfile", .language = ""};
    struct bld_plan p;
    struct bld_build_result res;
    struct arena *a = arena_new(NULL);
    struct err err = {0};

    OK(bld_build_plan(a, "/nonexistent", &s, &p, &err));
    arena_free(a);
    CHECK_STR_EQ(p.runtime, "dockerfile"); /* src/bld/dockerfile.c; its tests: test_dockerfile.c */
    CHECK_INT_EQ(bld_build(&(struct bld_build_req){.url = "file:///x"}, NULL, &res, &err),
                 ERR_INVALID);
}
