/*
 * Dockerfile builds (src/bld/dockerfile.c): the check of the images a Dockerfile names, and
 * whole builds with buildah of examples/dockerfile and of Dockerfiles that must fail.
 *
 * The builds need root, runc, buildah and the base cache of test_build.c ($SLIPWAY_TEST_BASE_CACHE,
 * else /var/cache/slipway-test/base); a cold one takes minutes: SLIPWAY_TEST_TIMEOUT=900.
 */
#include "../test.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/base.h"
#include "bld/bld-int.h"

#include "build_test.h"

static int bases(const char *text, struct bld_dockerfile_base *b, size_t *n, struct err *err)
{
    return bld_dockerfile_bases(slice_from_cstr(text), b, n, err);
}

TEST(dockerfile_bases_are_local_or_stages)
{
    struct bld_dockerfile_base b[BLD_DOCKERFILE_BASES_MAX];
    struct err err = {0};
    size_t n;

    OK(bases("# syntax comment\nFROM scratch\nCOPY x /x\n", b, &n, &err));
    CHECK_INT_EQ(n, 0);
    OK(bases("FROM --platform=linux/amd64 slipway/go-build AS build\n"
             "RUN go build \\\n"
             "# a comment inside a continued line\n"
             "  -o /out/app .\n"
             "from localhost/slipway/go:latest\n"
             "COPY --from=build /out/app /app\n"
             "COPY --from=0 --chown=10001 /out/app /app2\n"
             "FROM build AS again\n"
             "FROM slipway/go\n",
             b, &n, &err));
    CHECK_INT_EQ(n, 2);
    CHECK_STR_EQ(b[0].runtime, "go");
    CHECK(b[0].build);
    CHECK_STR_EQ(b[1].runtime, "go");
    CHECK(!b[1].build);
}

TEST(dockerfile_other_images_fail_clearly)
{
    struct bld_dockerfile_base b[BLD_DOCKERFILE_BASES_MAX];
    struct err err = {0};
    size_t n;

    CHECK_INT_EQ(bases("FROM slipway/python\n\nFROM nginx:1.25 AS web\n", b, &n, &err),
                 ERR_INVALID);
    CHECK_CONTAINS(err.msg, "Dockerfile line 3: FROM nginx:1.25: no external registry is "
                            "reachable from this builder");
    CHECK_CONTAINS(err.msg, "slipway/{node,python,go,static}");
    CHECK_INT_EQ(bases("FROM slipway/python\nCOPY --from=busybox /bin/sh /sh\n", b, &n, &err),
                 ERR_INVALID);
    CHECK_CONTAINS(err.msg, "line 2: COPY --from busybox");
    CHECK_INT_EQ(bases("ARG BASE=slipway/python\nFROM ${BASE}\n", b, &n, &err), ERR_INVALID);
    CHECK_CONTAINS(err.msg, "not a variable");
    CHECK_INT_EQ(bases("FROM slipway/ruby\n", b, &n, &err), ERR_INVALID);
    CHECK_INT_EQ(bases("FROM\n", b, &n, &err), ERR_INVALID);
}

static bool can_buildah(void)
{
    if (!can_build())
        return false;
    if (access("/usr/bin/buildah", X_OK) != 0) {
        printf("# skip: Dockerfile builds need buildah\n");
        return false;
    }
    return true;
}

/* examples/dockerfile builds, its image answers, and the same commit again is a cache hit. */
TEST(dockerfile_example_builds_and_runs)
{
    char url[512], work[512], cache[512];
    struct bld_build_result r1, r2;
    struct log l = {SBUF_INIT(4 << 20)};
    struct arena *a = arena_new(NULL);
    struct oci_image *img;
    struct err err = {0};

    if (!can_buildah())
        return;
    repo_make("dockerfile", "df", url, sizeof(url));
    repo_commit("df");
    struct bld_build_req req = req_for(url, "df", work, cache, sizeof(work));
    OK(build(&req, &r1, &l, &err));
    CHECK_CONTAINS(l.text.buf, "==> buildah build");
    CHECK_CONTAINS(l.text.buf, "STEP 4/10: RUN python3");
    fprintf(stderr, "# dockerfile: built in %" PRIu64 " ms\n", r1.total_ms);
    OK(oci_layout_read(a, r1.layout_dir, r1.tag, 0, &img, &err));
    CHECK_STR_EQ(img->config.user, "10001:10001");
    CHECK_INT_EQ(img->config.port, 8080);
    image_answers(&r1, "hello from dockerfile");

    OK(build(&req, &r2, &l, &err));
    CHECK(r2.cache_hit);
    CHECK_STR_EQ(r2.digest, r1.digest);
    arena_free(a);
    sbuf_release(&l.text);
}

/* How a test builds a repository holding only a Dockerfile. */
struct df_run {
    uint64_t wall_ms;                           /* 0: 60 s */
    uint64_t memory_bytes;                      /* 0: req_for()'s */
    void (*line)(void *arg, struct slice line); /* NULL: on_line */
    const _Atomic bool *cancel;
};

/* Builds <dockerfile> as the repository <name>; returns bld_build()'s code. */
static int dockerfile_build(const char *name, const char *dockerfile, const struct df_run *o,
                            struct log *l, struct err *err)
{
    char url[512], work[512], cache[512];
    struct bld_build_result res;

    repo_make(NULL, name, url, sizeof(url));
    put(name, "Dockerfile", dockerfile);
    repo_commit(name);
    struct bld_build_req req = req_for(url, name, work, cache, sizeof(work));
    req.wall_ms = o->wall_ms ? o->wall_ms : 60000;
    req.memory_bytes = o->memory_bytes ? o->memory_bytes : req.memory_bytes;
    sbuf_reset(&l->text);
    return bld_build(&req,
                     &(struct bld_build_hooks){
                         .line = o->line ? o->line : on_line, .arg = l, .cancel = o->cancel},
                     &res, err);
}

TEST(dockerfile_unknown_from_fails_before_building)
{
    struct log l = {SBUF_INIT(1 << 20)};
    struct err err = {0};

    if (!can_buildah())
        return;
    CHECK_INT_EQ(
        dockerfile_build("far", "FROM debian:bookworm\nRUN true\n", &(struct df_run){0}, &l, &err),
        ERR_INVALID);
    CHECK_CONTAINS(err.msg, "FROM debian:bookworm: no external registry is reachable");
    CHECK(strstr(l.text.buf, "buildah build") == NULL);
    sbuf_release(&l.text);
}

/* No process of a killed RUN step may be left. The pattern does not match itself. */
static void no_loop_left(void)
{
    sh("! pgrep -f 'slipway-loop[-]marker' >/dev/null");
}

#define LOOP_DOCKERFILE "FROM slipway/python\nRUN echo slipway-loop-marker; while :; do :; done\n"

TEST(dockerfile_endless_run_is_killed_at_the_wall_clock)
{
    struct log l = {SBUF_INIT(1 << 20)};
    struct err err = {0};
    uint64_t t0 = time_mono_ms(), took;

    if (!can_buildah())
        return;
    CHECK_INT_EQ(
        dockerfile_build("loop", LOOP_DOCKERFILE, &(struct df_run){.wall_ms = 20000}, &l, &err),
        ERR_TIMEOUT);
    took = time_mono_ms() - t0;
    CHECK_STR_EQ(err.msg, "build ran longer than 20 s");
    CHECK_CONTAINS(l.text.buf, "slipway-loop-marker");
    CHECK(took < 26000);
    no_loop_left();
    sbuf_release(&l.text);
}

/* The cancel flag, set by the log hook as soon as the RUN step has started. */
static _Atomic bool cancel_flag;
static uint64_t cancel_at;

static void cancel_on_marker(void *arg, struct slice line)
{
    on_line(arg, line);
    if (slice_eq_cstr(line, "slipway-loop-marker") && !atomic_load(&cancel_flag)) {
        cancel_at = time_mono_ms();
        atomic_store(&cancel_flag, true);
    }
}

TEST(dockerfile_cancel_kills_the_run_step_at_once)
{
    struct log l = {SBUF_INIT(1 << 20)};
    struct err err = {0};

    if (!can_buildah())
        return;
    CHECK_INT_EQ(dockerfile_build(
                     "cancel", LOOP_DOCKERFILE,
                     &(struct df_run){.line = cancel_on_marker, .cancel = &cancel_flag}, &l, &err),
                 ERR_CANCELLED);
    CHECK(cancel_at != 0);
    fprintf(stderr, "# cancelled after %" PRIu64 " ms\n", time_mono_ms() - cancel_at);
    CHECK(time_mono_ms() - cancel_at < 3000);
    no_loop_left();
    sbuf_release(&l.text);
}

/* The cgroup holds buildah and its RUN steps: a step that needs more memory than the build may
 * have ends it with the sandbox's error. */
TEST(dockerfile_memory_hog_ends_with_the_limit_error)
{
    struct log l = {SBUF_INIT(1 << 20)};
    struct err err = {0};

    if (!can_buildah())
        return;
    CHECK_INT_EQ(
        dockerfile_build("hog", "FROM slipway/python\nRUN python3 -c \"b = b'x' * (900 << 20)\"\n",
                         &(struct df_run){.memory_bytes = 384ull << 20}, &l, &err),
        ERR_LIMIT);
    CHECK_STR_EQ(err.msg, "build needed more than 384 MiB");
    sbuf_release(&l.text);
}
