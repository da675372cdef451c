/*
 * Runs one build with bld_build() (src/bld/build.c) and prints what came of it: the build's log
 * on stderr, the result on stdout as "name=value" lines. bench/build.sh and the tests use it.
 *
 *   bld-build --url URL [--ref REF] | --checkout DIR
 *             --work DIR --cache DIR --base-cache DIR [--context PATH] [--layout DIR]
 *             [--tag TAG] [--dest HOST/REPO:TAG [--user NAME] [--insecure]]
 *             [--ca-bundle FILE] [--memory MIB] [--pids N] [--timeout SECONDS] [--zstd |
 * --uncompressed] [--quiet]
 *
 * The registry password (or token, with --user "") comes from OCI_PASSWORD, never from argv.
 * Exit status: 0 built, 1 the build failed (its error on stderr), 2 bad usage.
 */
#include <stdio.h>
#include <stdlib.h>

#include "base/base.h"
#include "bld/bld.h"

static const char *const phases[] = {"cloning", "building", "pushing"};

static void on_phase(void *arg, enum bld_phase p)
{
    if (!*(bool *)arg)
        fprintf(stderr, "[%s]\n", phases[p]);
}

static void on_line(void *arg, struct slice line)
{
    if (!*(bool *)arg)
        fprintf(stderr, "%.*s\n", SLICE_ARG(line));
}

static int usage(const char *why)
{
    fprintf(stderr, "bld-build: %s (see the comment at the top of tests/tools/bld-build.c)\n", why);
    return 2;
}

/* A number option: <v> in decimal, times <unit>. */
static bool num(const char *v, uint64_t unit, uint64_t *out)
{
    uint64_t n;

    if (slice_to_u64(slice_from_cstr(v), &n) < 0)
        return false;
    *out = n * unit;
    return true;
}

int main(int argc, char **argv)
{
    struct bld_build_req req = {0};
    struct oci_client_opts reg = {0};
    struct bld_build_result res;
    struct err err = {0};
    bool quiet = false, ok = true;
    uint64_t pids = 0;
    struct bld_build_hooks hooks = {.phase = on_phase, .line = on_line, .arg = &quiet};

    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        const char **dst = strcmp(o, "--url") == 0          ? &req.url
                           : strcmp(o, "--ref") == 0        ? &req.ref
                           : strcmp(o, "--checkout") == 0   ? &req.checkout_dir
                           : strcmp(o, "--context") == 0    ? &req.context_path
                           : strcmp(o, "--work") == 0       ? &req.work_dir
                           : strcmp(o, "--cache") == 0      ? &req.cache_dir
                           : strcmp(o, "--base-cache") == 0 ? &req.base_cache
                           : strcmp(o, "--layout") == 0     ? &req.layout_dir
                           : strcmp(o, "--tag") == 0        ? &req.tag
                           : strcmp(o, "--dest") == 0       ? &req.dest
                           : strcmp(o, "--ca-bundle") == 0  ? &req.ca_bundle
                           : strcmp(o, "--user") == 0       ? &reg.username
                                                            : NULL;
        if (dst != NULL) {
            if (v == NULL)
                return usage("an option needs a value");
            *dst = v;
            i++;
        } else if (strcmp(o, "--memory") == 0 && v) {
            ok = ok && num(argv[++i], 1u << 20, &req.memory_bytes);
        } else if (strcmp(o, "--pids") == 0 && v) {
            ok = ok && num(argv[++i], 1, &pids);
        } else if (strcmp(o, "--timeout") == 0 && v) {
            ok = ok && num(argv[++i], 1000, &req.wall_ms);
        } else if (strcmp(o, "--zstd") == 0) {
            req.compression = OCI_COMP_ZSTD;
        } else if (strcmp(o, "--uncompressed") == 0) {
            req.compression = OCI_COMP_NONE;
        } else if (strcmp(o, "--insecure") == 0) {
            reg.insecure_loopback = true;
        } else if (strcmp(o, "--quiet") == 0) {
            quiet = true;
        } else {
            return usage("unknown option or missing value");
        }
    }
    if (!ok || pids > UINT32_MAX)
        return usage("a number is wrong");
    req.pids_max = (uint32_t)pids;
    if (reg.username != NULL) {
        reg.password = getenv("OCI_PASSWORD");
        if (*reg.username == '\0') {
            reg.token = reg.password;
            reg.username = reg.password = NULL;
        }
    }
    if (req.dest != NULL)
        req.registry = &reg;
    if (bld_build(&req, &hooks, &res, &err) < 0) {
        fprintf(stderr, "bld-build: %s: %s\n", err_name(err.code), err.msg);
        return 1;
    }
    printf("commit=%s\ndigest=%s\nlayout=%s\ntag=%s\ncache_hit=%d\ndeps_hit=%d\npushed=%d\n"
           "clone_ms=%" PRIu64 "\nbuild_ms=%" PRIu64 "\npush_ms=%" PRIu64 "\ntotal_ms=%" PRIu64
           "\n",
           res.commit, res.digest, res.layout_dir, res.tag, res.cache_hit, res.deps_hit, res.pushed,
           res.clone_ms, res.build_ms, res.push_ms, res.total_ms);
    return 0;
}
