/* Base root filesystems from Debian packages (src/bld/baseimg.c). The rootfs tests download
 * from Debian's archive into a fresh cache and run the result with chroot, so they need root. */
#include "../test.h"

#include <stdarg.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "bld/bld-int.h"

static double now_s(void)
{
    return (double)time_mono_ns() / 1e9;
}

/* The first line <cmd> prints, without its '\n'; the test fails when it exits non-zero. */
static void first_line(const char *cmd, char *out, size_t max)
{
    FILE *p = popen(cmd, "r");
    size_t n;

    CHECK(p != NULL);
    out[0] = '\0';
    if (fgets(out, (int)max, p) == NULL)
        out[0] = '\0';
    n = strlen(out);
    if (n > 0 && out[n - 1] == '\n')
        out[n - 1] = '\0';
    if (pclose(p) != 0)
        test_fail(__FILE__, __LINE__, "command failed: %s (printed \"%s\")", cmd, out);
}

/* The command that the format makes prints <want> as its first line. */
static void expect_line(const char *want, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void expect_line(const char *want, const char *fmt, ...)
{
    char cmd[2048], line[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    first_line(cmd, line, sizeof(line));
    CHECK_STR_EQ(line, want);
}

static bool has_pkg(const struct bld_base_pkg *p, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(p[i].name, name) == 0)
            return true;
    return false;
}

static void cache_path(char *out, size_t max)
{
    snprintf(out, max, "%s/cache", test_tmpdir());
}

TEST(base_names_per_runtime)
{
    const char *names[32];
    const char *extra[] = {"netbase", NULL}, *bad[] = {"x;rm -rf /", NULL};
    size_t n;
    struct err err = {0};

    OK(bld_base_names(&(struct bld_base_spec){.runtime = "python"}, names, 32, &n, &err));
    CHECK_INT_EQ(n, 4);
    CHECK_STR_EQ(names[0], "ca-certificates");
    CHECK_STR_EQ(names[3], "python3");
    OK(bld_base_names(&(struct bld_base_spec){.runtime = "python", .build = true, .extra = extra},
                      names, 32, &n, &err));
    CHECK_INT_EQ(n, 8);
    CHECK_STR_EQ(names[4], "python3-pip");
    CHECK_STR_EQ(names[5], "python3-venv");
    CHECK_STR_EQ(names[6], "coreutils");
    CHECK_STR_EQ(names[7], "netbase");
    OK(bld_base_names(&(struct bld_base_spec){.runtime = "static"}, names, 32, &n, &err));
    CHECK_STR_EQ(names[3], "nginx");

    CHECK_INT_EQ(bld_base_names(&(struct bld_base_spec){.runtime = "ruby"}, names, 32, &n, &err),
                 ERR_INVALID);
    CHECK_CONTAINS(err.msg, "node, python, go or static");
    CHECK_INT_EQ(
        bld_base_names(&(struct bld_base_spec){.runtime = "go", .extra = bad}, names, 32, &n, &err),
        ERR_INVALID);
    CHECK_CONTAINS(err.msg, "not a Debian package name");
}

TEST(base_key_follows_versions)
{
    struct bld_base_pkg a[] = {{"libc6", "2.36-9", "amd64"}, {"python3", "3.11.2-1", "amd64"}};
    struct bld_base_pkg b[] = {{"libc6", "2.36-9", "amd64"}, {"python3", "3.11.2-2", "amd64"}};
    char k1[BLD_BASE_KEY_HEX + 1], k2[BLD_BASE_KEY_HEX + 1], k3[BLD_BASE_KEY_HEX + 1];

    bld_base_key(a, 2, k1);
    bld_base_key(a, 2, k2);
    CHECK_STR_EQ(k1, k2);
    CHECK_INT_EQ(strlen(k1), BLD_BASE_KEY_HEX);
    bld_base_key(b, 2, k3);
    CHECK(strcmp(k1, k3) != 0);
    bld_base_key(a, 1, k3);
    CHECK(strcmp(k1, k3) != 0);
}

/* Resolution only: the build images' closures hold their toolchains, and the closure is the
 * full one even though the host has python3 installed (the private status file is empty). */
TEST(base_resolve_build_images)
{
    struct arena *a = arena_new(NULL);
    struct bld_base_pkg *p;
    size_t n;
    char cache[512];
    struct err err = {0};

    cache_path(cache, sizeof(cache));
    OK(bld_base_resolve(&(struct bld_base_spec){.runtime = "python", .build = true}, cache, a, &p,
                        &n, &err));
    CHECK(has_pkg(p, n, "python3-venv"));
    CHECK(has_pkg(p, n, "python3-pip"));
    CHECK(has_pkg(p, n, "libc6"));
    CHECK(has_pkg(p, n, "libpython3.11-stdlib"));
    for (size_t i = 1; i < n; i++)
        CHECK(strcmp(p[i - 1].name, p[i].name) < 0);
    OK(bld_base_resolve(&(struct bld_base_spec){.runtime = "node", .build = true}, cache, a, &p, &n,
                        &err));
    CHECK(has_pkg(p, n, "npm"));
    CHECK(has_pkg(p, n, "nodejs"));
    OK(bld_base_resolve(&(struct bld_base_spec){.runtime = "go", .build = true}, cache, a, &p, &n,
                        &err));
    CHECK(has_pkg(p, n, "golang-go"));
    CHECK(!has_pkg(p, n, "nodejs"));
    arena_free(a);
}

TEST(base_python_rootfs)
{
    const struct bld_base_spec spec = {.runtime = "python"};
    const char *extra[] = {"netbase", NULL};
    char cache[512], key[BLD_BASE_KEY_HEX + 1], key2[BLD_BASE_KEY_HEX + 1], cmd[1024], line[256];
    char *path = NULL, *path2 = NULL;
    struct bld_base_pkg *p;
    struct arena *a = arena_new(NULL);
    struct stat st;
    size_t n;
    double t0, t1, t2;
    struct err err = {0};

    cache_path(cache, sizeof(cache));
    t0 = now_s();
    OK(bld_base_rootfs(&spec, cache, &path, key, &err));
    t1 = now_s();
    CHECK_CONTAINS(path, key);

    expect_line("1",
                "chroot --userspec=10001:10001 '%s' /usr/bin/python3 -c 'import ssl, json; "
                "ssl.create_default_context(); print(1)'",
                path);
    expect_line("app",
                "chroot '%s' /bin/sh -c 'exec python3 -c \"import pwd; "
                "print(pwd.getpwuid(10001).pw_name)\"'",
                path);

    snprintf(cmd, sizeof(cmd), "%s/etc/ssl/certs/ca-certificates.crt", path);
    CHECK(stat(cmd, &st) == 0 && st.st_size > 100000);
    snprintf(cmd, sizeof(cmd), "%s/tmp", path);
    CHECK(stat(cmd, &st) == 0 && (st.st_mode & 07777) == 01777);
    snprintf(cmd, sizeof(cmd), "%s/bin", path);
    CHECK(lstat(cmd, &st) == 0 && S_ISLNK(st.st_mode));
    snprintf(cmd, sizeof(cmd), "%s/home/app", path);
    CHECK(stat(cmd, &st) == 0 && st.st_uid == 10001);
    expect_line("0", "find '%s' -xdev -perm /6000 ! -type l | wc -l", path);
    snprintf(cmd, sizeof(cmd), "du -sm '%s' | cut -f1", path);
    first_line(cmd, line, sizeof(line));
    fprintf(stderr, "# python rootfs: %s MiB, cold %.1f s\n", line, t1 - t0);

    /* A second call finds the same rootfs without building. */
    OK(bld_base_rootfs(&spec, cache, &path2, key2, &err));
    t2 = now_s();
    CHECK_STR_EQ(key2, key);
    CHECK_STR_EQ(path2, path);
    fprintf(stderr, "# python rootfs: warm %.2f s\n", t2 - t1);

    /* Another package set is another key. */
    OK(bld_base_resolve(&(struct bld_base_spec){.runtime = "python", .extra = extra}, cache, a, &p,
                        &n, &err));
    CHECK(has_pkg(p, n, "netbase"));
    bld_base_key(p, n, key2);
    CHECK(strcmp(key2, key) != 0);

    free(path);
    free(path2);
    arena_free(a);
}

TEST(base_node_rootfs)
{
    char cache[512], key[BLD_BASE_KEY_HEX + 1], cmd[1024], line[256];
    char *path = NULL;
    double t0;
    struct err err = {0};

    cache_path(cache, sizeof(cache));
    t0 = now_s();
    OK(bld_base_rootfs(&(struct bld_base_spec){.runtime = "node"}, cache, &path, key, &err));
    expect_line("1", "chroot --userspec=10001:10001 '%s' /usr/bin/node -e 'console.log(1)'", path);
    snprintf(cmd, sizeof(cmd), "du -sm '%s' | cut -f1", path);
    first_line(cmd, line, sizeof(line));
    fprintf(stderr, "# node rootfs: %s MiB, cold %.1f s\n", line, now_s() - t0);
    free(path);
}

TEST(base_unknown_package_is_unavailable)
{
    const char *extra[] = {"no-such-package-slipway", NULL};
    char cache[512], key[BLD_BASE_KEY_HEX + 1];
    char *path = NULL;
    struct err err = {0};

    cache_path(cache, sizeof(cache));
    CHECK_INT_EQ(bld_base_rootfs(&(struct bld_base_spec){.runtime = "go", .extra = extra}, cache,
                                 &path, key, &err),
                 ERR_UNAVAILABLE);
    CHECK_CONTAINS(err.msg, "no-such-package-slipway");
    CHECK(path == NULL);
}

/* nginx as the app user serves files and answers any other path with index.html (status 200),
 * in a network namespace of its own so that port 8080 is free whatever else runs here. */
TEST(base_static_rootfs_spa_fallback)
{
    char cache[512], key[BLD_BASE_KEY_HEX + 1], cmd[2048], line[256];
    char *path = NULL;
    struct err err = {0};

    cache_path(cache, sizeof(cache));
    OK(bld_base_rootfs(&(struct bld_base_spec){.runtime = "static"}, cache, &path, key, &err));
    snprintf(
        cmd, sizeof(cmd),
        "echo spa-home > '%s/srv/www/index.html' && echo 'listen 8080;' > '%s/tmp/listen.conf'",
        path, path);
    first_line(cmd, line, sizeof(line));
    expect_line("spa-home",
                "unshare -n sh -c 'ip link set lo up; "
                "chroot --userspec=10001:10001 %s /usr/sbin/nginx -e stderr -g \"daemon off;\" & "
                "for i in 1 2 3 4 5 6 7 8 9 10; do "
                "  curl -sf http://127.0.0.1:8080/deep/link && break; sleep 0.2; done; "
                "kill $!'",
                path);
    snprintf(cmd, sizeof(cmd), "du -sm '%s' | cut -f1", path);
    first_line(cmd, line, sizeof(line));
    fprintf(stderr, "# static rootfs: %s MiB\n", line);
    free(path);
}
