/* Cloning exactly the ref asked for (src/bld/clone.c), from a repository the test makes with the
 * git command: main (the default branch), a branch "feature", a tag "v1". */
#include "../test.h"

#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "bld/bld-int.h"

struct origin {
    char dir[256];
    char main_oid[41], feature_oid[41], tag_oid[41];
};

static void sh(const char *cmd)
{
    if (system(cmd) != 0)
        test_fail(__FILE__, __LINE__, "command failed: %s", cmd);
}

static void rev(const char *dir, const char *ref, char out[41])
{
    char cmd[512];
    FILE *p;

    snprintf(cmd, sizeof(cmd), "git -C '%s' rev-parse '%s^{commit}'", dir, ref);
    p = popen(cmd, "r");
    CHECK(p != NULL);
    CHECK(fgets(out, 41, p) != NULL);
    pclose(p);
}

static void make_origin(struct origin *o)
{
    char cmd[2048];

    snprintf(o->dir, sizeof(o->dir), "%s/origin", test_tmpdir());
    snprintf(cmd, sizeof(cmd),
             "set -e; export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.com "
             "GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@example.com; "
             "git init -q -b main '%s'; cd '%s'; "
             "echo one > which.txt; git add .; git commit -qm one; git tag -a v1 -m v1; "
             "git checkout -qb feature; echo feature > which.txt; git commit -qam feature; "
             "git checkout -q main; echo two > which.txt; git commit -qam two",
             o->dir, o->dir);
    sh(cmd);
    rev(o->dir, "main", o->main_oid);
    rev(o->dir, "feature", o->feature_oid);
    rev(o->dir, "v1", o->tag_oid);
}

static char *dest(const char *name)
{
    static char path[300];

    snprintf(path, sizeof(path), "%s/%s", test_tmpdir(), name);
    return path;
}

static void check_file(const char *dir, const char *want)
{
    char path[400], buf[64] = {0};
    FILE *f;

    snprintf(path, sizeof(path), "%s/which.txt", dir);
    f = fopen(path, "r");
    CHECK(f != NULL);
    CHECK(fgets(buf, sizeof(buf), f) != NULL);
    fclose(f);
    CHECK_STR_EQ(buf, want);
}

TEST(clone_checks_out_exactly_the_ref)
{
    struct origin o;
    struct err err = {0};
    char oid[41], url[300];

    make_origin(&o);
    OK(bld_clone(o.dir, "feature", dest("a"), oid, &err)); /* a local path */
    CHECK_STR_EQ(oid, o.feature_oid);
    check_file(dest("a"), "feature\n");

    snprintf(url, sizeof(url), "file://%s", o.dir);
    OK(bld_clone(url, "v1", dest("b"), oid, &err));
    CHECK_STR_EQ(oid, o.tag_oid); /* the annotated tag's commit */
    check_file(dest("b"), "one\n");

    OK(bld_clone(url, "refs/heads/main", dest("c"), oid, &err));
    CHECK_STR_EQ(oid, o.main_oid);
    check_file(dest("c"), "two\n");
}

TEST(clone_without_a_ref_takes_the_default_branch)
{
    struct origin o;
    struct err err = {0};
    char oid[41], cmd[1024];

    make_origin(&o);
    OK(bld_clone(o.dir, NULL, dest("d"), oid, &err));
    CHECK_STR_EQ(oid, o.main_oid);
    check_file(dest("d"), "two\n");
    /* the default is what HEAD names, not a branch called main */
    snprintf(cmd, sizeof(cmd), "git -C '%s' symbolic-ref HEAD refs/heads/feature", o.dir);
    sh(cmd);
    OK(bld_clone(o.dir, NULL, dest("e"), oid, &err));
    CHECK_STR_EQ(oid, o.feature_oid);
}

TEST(clone_by_full_and_short_sha)
{
    struct origin o;
    struct err err = {0};
    char oid[41], prefix[9];

    make_origin(&o);
    OK(bld_clone(o.dir, o.feature_oid, dest("full"), oid, &err));
    CHECK_STR_EQ(oid, o.feature_oid);
    check_file(dest("full"), "feature\n");
    memcpy(prefix, o.tag_oid, 8);
    prefix[8] = '\0';
    OK(bld_clone(o.dir, prefix, dest("short"), oid, &err));
    CHECK_STR_EQ(oid, o.tag_oid);
    check_file(dest("short"), "one\n");
}

TEST(clone_unknown_ref_names_it)
{
    struct origin o;
    struct err err = {0};
    char oid[41];

    make_origin(&o);
    CHECK_INT_EQ(bld_clone(o.dir, "no-such-branch", dest("x"), oid, &err), ERR_NOTFOUND);
    CHECK_CONTAINS(err.msg, "ref \"no-such-branch\" is not a branch, tag or commit");
    CHECK_INT_EQ(bld_clone(o.dir, "deadbeef", dest("y"), oid, &err), ERR_NOTFOUND);
    CHECK_CONTAINS(err.msg, "deadbeef");
    CHECK_INT_EQ(bld_clone(o.dir, "main~1", dest("z"), oid, &err), ERR_INVALID);
    CHECK_INT_EQ(bld_clone(o.dir, "../x", dest("z"), oid, &err), ERR_INVALID);
}

TEST(clone_unreachable_url_hides_the_password)
{
    struct err err = {0};
    char oid[41];

    CHECK_INT_EQ(
        bld_clone("http://alice:s3cret@127.0.0.1:1/repo.git", "main", dest("u"), oid, &err),
        ERR_UNAVAILABLE);
    CHECK_CONTAINS(err.msg, "http://alice:***@127.0.0.1:1/repo.git");
    CHECK(strstr(err.msg, "s3cret") == NULL);
    CHECK_INT_EQ(bld_clone("/nonexistent/repo", "main", dest("v"), oid, &err), ERR_UNAVAILABLE);
    CHECK_CONTAINS(err.msg, "/nonexistent/repo");
}

TEST(clone_refuses_a_full_destination)
{
    struct origin o;
    struct err err = {0};
    char oid[41];

    make_origin(&o);
    CHECK_INT_EQ(bld_clone(o.dir, "main", o.dir, oid, &err), ERR_INVALID);
    CHECK_CONTAINS(err.msg, "is not empty");
}

TEST(url_redaction)
{
    struct sbuf b = SBUF_INIT(256);

    bld_url_redact("https://u:p%40ss@host/x?y=@", &b);
    CHECK_STR_EQ(b.buf, "https://u:***@host/x?y=@");
    sbuf_reset(&b);
    bld_url_redact("ssh://git@host/x", &b);
    CHECK_STR_EQ(b.buf, "ssh://git@host/x");
    sbuf_reset(&b);
    bld_url_redact("git@host:x.git", &b);
    CHECK_STR_EQ(b.buf, "git@host:x.git");
    sbuf_release(&b);
}
