/*
 * Helpers of the whole-build tests (test_build.c, test_dockerfile.c): example apps committed to
 * git repositories, builds with their log kept, and images unpacked and run once in the sandbox,
 * where busybox's wget (bound in at /probe) asks them for GET / on $PORT.
 * Include after "../test.h", "base/base.h" and "bld/bld-int.h".
 */
#ifndef SLIPWAY_TEST_BUILD_TEST_H
#define SLIPWAY_TEST_BUILD_TEST_H

#define HOST_CA "/etc/ssl/certs/ca-certificates.crt"

/* The build's log, kept for checks. */
struct log {
    struct sbuf text;
};

static inline void on_line(void *arg, struct slice line)
{
    struct log *l = arg;

    sbuf_put_slice(&l->text, line);
    sbuf_putc(&l->text, '\n');
}

static inline bool can_build(void)
{
    if (geteuid() != 0 || access("/usr/sbin/runc", X_OK) != 0) {
        printf("# skip: builds need root and runc\n");
        return false;
    }
    return true;
}

static inline void sh(const char *fmt, ...) APP_PRINTF(1, 2);
static inline void sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    if (system(cmd) != 0)
        test_fail(__FILE__, __LINE__, "command failed: %s", cmd);
}

static inline const char *base_cache(void)
{
    const char *d = getenv("SLIPWAY_TEST_BASE_CACHE");

    return d && *d ? d : "/var/cache/slipway-test/base";
}

/* A git repository at <tmp>/repo-<name> holding examples/<name> (or nothing when NULL). */
static inline void repo_make(const char *example, const char *name, char *url, size_t max)
{
    const char *tmp = test_tmpdir();

    sh("mkdir -p %s/repo-%s", tmp, name);
    if (example != NULL)
        sh("cp -r examples/%s/. %s/repo-%s/", example, tmp, name);
    snprintf(url, max, "file://%s/repo-%s", tmp, name);
}

static inline void repo_commit(const char *name)
{
    sh("cd %s/repo-%s && (test -d .git || git init -q -b main) && git add -A && "
       "git -c user.name=t -c user.email=t@example.com commit -qm c",
       test_tmpdir(), name);
}

static inline void put(const char *name, const char *file, const char *text)
{
    char path[1024];
    FILE *f;

    snprintf(path, sizeof(path), "%s/repo-%s/%s", test_tmpdir(), name, file);
    f = fopen(path, "w");
    CHECK(f != NULL);
    fputs(text, f);
    fclose(f);
}

/* A request for <url> with the project's cache <tmp>/cache-<name>. */
static inline struct bld_build_req req_for(const char *url, const char *name, char *work,
                                           char *cache, size_t max)
{
    snprintf(work, max, "%s/work-%s", test_tmpdir(), name);
    snprintf(cache, max, "%s/cache-%s", test_tmpdir(), name);
    return (struct bld_build_req){.url = url,
                                  .ref = "main",
                                  .work_dir = work,
                                  .cache_dir = cache,
                                  .base_cache = base_cache(),
                                  .ca_bundle = access(HOST_CA, R_OK) == 0 ? HOST_CA : NULL,
                                  .memory_bytes = 1ull << 30,
                                  .pids_max = 512,
                                  .wall_ms = 600000};
}

static inline int build(const struct bld_build_req *req, struct bld_build_result *res,
                        struct log *l, struct err *err)
{
    struct bld_build_hooks h = {.line = on_line, .arg = l};
    int rc;

    sbuf_reset(&l->text);
    rc = bld_build(req, &h, res, err);
    if (rc < 0)
        fprintf(stderr, "# build log:\n%s# error: %s\n", l->text.buf, err->msg);
    return rc;
}

/* Unpacks the layers of <tag> in <layout> in order into <root> (our images have no whiteouts). */
static inline void image_unpack(const char *layout, const char *tag, const char *root,
                                struct oci_image **img, struct arena *a)
{
    struct err err = {0};

    OK(oci_layout_read(a, layout, tag, 0, img, &err));
    sh("mkdir -p %s", root);
    for (size_t i = 0; i < (*img)->n_layers; i++)
        sh("tar --numeric-owner -xpf %s/blobs/sha256/%s -C %s", layout,
           (*img)->layers[i].blob.digest + 7, root);
}

static inline void probe_line(void *arg, enum bld_stream stream, struct slice line)
{
    (void)stream;
    on_line(arg, line);
}

/* Runs the image's command in the sandbox and asks it for GET /: its answer must hold <want>. */
static inline void image_answers(const struct bld_build_result *res, const char *want)
{
    static const char script[] =
        "/bin/sh -c \"$START\" & i=0; while [ $i -lt 150 ]; do "
        "/probe/busybox wget -q -O- http://127.0.0.1:$PORT/ && exit 0; "
        "/probe/busybox sleep 0.2; i=$((i+1)); done; echo no answer; exit 1";
    struct arena *a = arena_new(NULL);
    struct oci_image *img;
    char root[512], probe[512], start[2048];
    const char *env[8], *argv[] = {"/bin/sh", "-c", script, NULL};
    struct log out = {SBUF_INIT(1 << 20)};
    struct bld_mount m;
    struct bld_sandbox_result sr;
    struct err err = {0};
    size_t n = 0;

    snprintf(root, sizeof(root), "%s/root-%.12s", test_tmpdir(), res->digest + 7);
    snprintf(probe, sizeof(probe), "%s/probe", test_tmpdir());
    sh("mkdir -p %s && cp /bin/busybox %s/", probe, probe);
    image_unpack(res->layout_dir, res->tag, root, &img, a);
    CHECK_INT_EQ(img->config.n_cmd, 3);
    snprintf(start, sizeof(start), "START=%s", img->config.cmd[2]);
    env[n++] = start;
    for (size_t i = 0; i < img->config.n_env && n < 7; i++)
        env[n++] = img->config.env[i];
    env[n] = NULL;
    m = (struct bld_mount){.host_path = probe, .path = "/probe"};
    OK(bld_sandbox_run(
        &(struct bld_sandbox_spec){.rootfs = root,
                                   .argv = argv,
                                   .env = env,
                                   .cwd = img->config.workdir,
                                   .mounts = &m,
                                   .n_mounts = 1,
                                   .network = BLD_NET_NONE, /* loopback is all the probe needs */
                                   .memory_bytes = 512ull << 20,
                                   .pids_max = 256,
                                   .wall_ms = 60000},
        probe_line, &out, NULL, &sr, &err));
    if (sr.exit_code != 0)
        test_fail(__FILE__, __LINE__, "%s did not answer GET / (exit %d): %s", res->tag,
                  sr.exit_code, out.text.buf);
    CHECK_CONTAINS(out.text.buf, want);
    sbuf_release(&out.text);
    arena_free(a);
}

#endif
