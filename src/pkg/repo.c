/*
 * pkg repo: bare git repositories through libgit2. See repo.h for the contract.
 *
 * A commit is built in an in-memory index (the parent's tree plus the changes), written as
 * objects (each one to a temporary file, fsynced, renamed: a killed writer leaves at most an
 * unreferenced temporary), and only then published by moving refs/heads/main with a
 * compare-and-swap. So a reader or a crash sees either the old commit or the new one.
 *
 * The ref update runs under flock() on <repo>/slipway.lock. libgit2 has its own lock file
 * (refs/heads/main.lock) and would already make a racing writer fail, but a writer killed
 * while holding it leaves the file behind and every later commit would fail with "locked"
 * forever. The kernel drops a flock with its holder, so whoever holds ours knows that a
 * refs/heads/main.lock it finds belongs to a dead process and may remove it.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <git2.h>
#include <git2/sys/commit_graph.h>

#include "base/base.h"
#include "pkg/pkg-int.h"

#define MAIN_REF      "refs/heads/main"
#define PATH_MAX_LEN  1024
#define REV_MAX_LEN   255
#define COMMITTER     "slipway"
#define COMMITTER_EML "slipway@localhost"

struct pkg_repo {
    git_repository *git;
    char *path; /* the git directory, ending in '/' */
    int lock_fd;
};

/* ---------------------------------------------------------------- libgit2 set-up */

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;

/* libgit2 is initialised once and never shut down: its reference count would otherwise make
 * every open/close pair redo the global set-up (TLS, hash back-end). Durability is a
 * process-wide libgit2 option, so it is set here, before any repository is touched: with it,
 * loose objects, packs, refs and the directories holding them are fsynced on write. */
static void lib_setup(void)
{
    ASSERT(git_libgit2_init() > 0);
    ASSERT(git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 1) == 0);
    /* Objects we write are checked to exist and hash right; costs little, catches bugs. */
    ASSERT(git_libgit2_opts(GIT_OPT_ENABLE_STRICT_OBJECT_CREATION, 1) == 0);
}

static void lib_enter(void)
{
    pthread_once(&lib_once, lib_setup);
}

/* Maps the libgit2 status <gitrc> to an ERR_* and records "<what>: <libgit2's message>". */
static int git_fail(struct err *err, int gitrc, const char *what)
{
    const git_error *e = git_error_last();
    const char *msg = e != NULL && e->message != NULL ? e->message : "unknown error";
    int code;

    switch (gitrc) {
    case GIT_ENOTFOUND:
        code = ERR_NOTFOUND;
        break;
    case GIT_EEXISTS:
    case GIT_EMODIFIED:
    case GIT_ELOCKED:
        code = ERR_CONFLICT;
        break;
    case GIT_EINVALIDSPEC:
    case GIT_EINVALID:
    case GIT_EAMBIGUOUS:
        code = ERR_INVALID;
        break;
    default:
        code = ERR_IO;
    }
    return err_set(err, code, "%s: %s", what, msg);
}

/* ---------------------------------------------------------------- input checks */

static bool bad_byte(unsigned char c)
{
    return c < 0x20 || c == 0x7f || c == '\\';
}

/* One segment of a path inside the repository. ".git" in any case is refused because git
 * itself treats such a directory as repository metadata on checkout. */
static bool segment_ok(const char *s, size_t n)
{
    if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
        return false;
    if (n == 4 && s[0] == '.' && (s[1] | 0x20) == 'g' && (s[2] | 0x20) == 'i' &&
        (s[3] | 0x20) == 't')
        return false;
    return true;
}

/* <path> names a file or directory under the top of the tree (see struct pkg_change). */
static int path_check(const char *what, const char *path, struct err *err)
{
    size_t len, start = 0;

    if (path == NULL || path[0] == '\0')
        return err_set(err, ERR_INVALID, "%s: the path is empty", what);
    len = strlen(path);
    if (len > PATH_MAX_LEN)
        return err_set(err, ERR_INVALID, "%s: the path is longer than %d bytes", what,
                       PATH_MAX_LEN);
    if (path[0] == '/')
        return err_set(err, ERR_INVALID, "%s: the path must be relative", what);
    for (size_t i = 0; i <= len; i++) {
        if (i < len && bad_byte((unsigned char)path[i]))
            return err_set(err, ERR_INVALID, "%s: the path holds a control byte or backslash",
                           what);
        if (i < len && path[i] != '/')
            continue;
        if (!segment_ok(path + start, i - start))
            return err_set(err, ERR_INVALID,
                           "%s: the path has an empty, \".\", \"..\" or \".git\" segment", what);
        start = i + 1;
    }
    return 0;
}

static bool ident_ok(const char *s)
{
    if (s == NULL || s[0] == '\0' || strlen(s) > 256)
        return false;
    for (; *s != '\0'; s++)
        if (*s == '<' || *s == '>' || *s == '\n' || *s == '\r')
            return false;
    return true;
}

static bool hex40(const char *s)
{
    size_t i;

    for (i = 0; s[i] != '\0'; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return i == PKG_OID_HEX;
}

static int rev_check(const char *rev, struct err *err)
{
    size_t n = strlen(rev);

    if (n == 0 || n > REV_MAX_LEN)
        return err_set(err, ERR_INVALID, "rev: must have 1 to %d characters", REV_MAX_LEN);
    for (size_t i = 0; i < n; i++)
        if (bad_byte((unsigned char)rev[i]) || rev[i] == ' ')
            return err_set(err, ERR_INVALID, "rev: holds a space or control byte");
    return 0;
}

/* ---------------------------------------------------------------- paths and init */

int pkg_project_path(const char *root, const char *dir, struct slice workspace_id,
                     struct slice project_id, const char *ext, struct sbuf *out, struct err *err)
{
    if (root == NULL || root[0] == '\0')
        return err_set(err, ERR_INVALID, "root: the data directory is empty");
    if (!slug_valid(workspace_id))
        return err_set(err, ERR_INVALID,
                       "workspace_id: must match ^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$");
    if (!slug_valid(project_id))
        return err_set(err, ERR_INVALID,
                       "project_id: must match ^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$");
    sbuf_reset(out);
    sbuf_printf(out, "%s/%s/" SLICE_FMT "/" SLICE_FMT "%s", root, dir, SLICE_ARG(workspace_id),
                SLICE_ARG(project_id), ext);
    if (out->err != 0)
        return err_set(err, out->err, "%s path too long", dir);
    return 0;
}

int pkg_repo_path(const char *root, struct slice workspace_id, struct slice project_id,
                  struct sbuf *out, struct err *err)
{
    return pkg_project_path(root, "repos", workspace_id, project_id, ".git", out, err);
}

int pkg_mkdir_parents(const char *path, struct err *err)
{
    char *p = xstrdup(path), *slash = strrchr(p, '/');
    int rc = 0;

    if (slash != NULL && slash != p) {
        *slash = '\0';
        rc = file_mkdirs(p, 0700, -1, err);
    }
    free(p);
    return rc;
}

/* The settings the git CLI (http-backend, a user after eject) needs to write durably and to
 * keep a reflog in a bare repository, where it is off by default. libgit2 reads
 * logAllRefUpdates too; its fsync comes from the process-wide option. core.fsync (git 2.36
 * on; "committed" = objects and refs) supersedes core.fsyncObjectFiles, which git 2.39
 * answers with a deprecation warning on every command, so the old key is not written. */
static int config_set(git_repository *git, struct err *err)
{
    static const char *const keys[][2] = {
        {"core.fsync", "committed"},
        {"core.fsyncMethod", "fsync"},
        {"core.logAllRefUpdates", "true"},
        {"core.commitGraph", "true"},
    };
    git_config *cfg = NULL;
    int grc = git_repository_config(&cfg, git);

    for (size_t i = 0; grc == 0 && i < ARRAY_LEN(keys); i++)
        grc = git_config_set_string(cfg, keys[i][0], keys[i][1]);
    git_config_free(cfg);
    return grc < 0 ? git_fail(err, grc, "repository config") : 0;
}

int pkg_repo_init(const char *path, struct err *err)
{
    git_repository_init_options opts = GIT_REPOSITORY_INIT_OPTIONS_INIT;
    git_repository *git = NULL;
    int rc, grc;

    lib_enter();
    if (path == NULL || path[0] != '/')
        return err_set(err, ERR_INVALID, "path: must be absolute");
    if (git_repository_open_bare(&git, path) == 0) {
        rc = config_set(git, err); /* brings repositories of older versions up to date */
        git_repository_free(git);
        return rc;
    }
    rc = pkg_mkdir_parents(path, err);
    if (rc < 0)
        return rc;
    opts.flags = GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_MKDIR;
    opts.initial_head = "main";
    grc = git_repository_init_ext(&git, path, &opts);
    if (grc < 0)
        return git_fail(err, grc, "git init");
    rc = config_set(git, err);
    git_repository_free(git);
    if (rc == 0 && chmod(path, 0700) != 0)
        rc = err_set(err, err_from_errno(errno), "chmod %s: %s", path, strerror(errno));
    return rc;
}

int pkg_repo_open(const char *path, struct pkg_repo **out, struct err *err)
{
    struct pkg_repo *r;
    git_repository *git = NULL;
    char *lock;
    int grc, fd;

    lib_enter();
    *out = NULL;
    grc = git_repository_open_bare(&git, path);
    if (grc < 0)
        return git_fail(err, grc == GIT_ENOTFOUND ? GIT_ENOTFOUND : grc, "open repository");
    r = xcalloc(1, sizeof(*r));
    r->git = git;
    r->lock_fd = -1;
    /* Who the reflog says moved the ref: not the user's config, which does not apply here. */
    if (git_repository_set_ident(git, COMMITTER, COMMITTER_EML) < 0) {
        pkg_repo_close(r);
        return git_fail(err, GIT_ERROR, "set identity");
    }
    r->path = xstrdup(git_repository_path(git));
    lock = xmalloc(strlen(r->path) + 16);
    memcpy(lock, r->path, strlen(r->path));
    memcpy(lock + strlen(r->path), "slipway.lock", sizeof("slipway.lock"));
    fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    free(lock);
    if (fd < 0) {
        int e = errno;

        pkg_repo_close(r);
        return err_set(err, err_from_errno(e), "open slipway.lock: %s", strerror(e));
    }
    r->lock_fd = fd;
    *out = r;
    return 0;
}

void pkg_repo_close(struct pkg_repo *r)
{
    if (r == NULL)
        return;
    if (r->lock_fd >= 0)
        close(r->lock_fd);
    git_repository_free(r->git);
    free(r->path);
    free(r);
}

int pkg_repo_head(struct pkg_repo *r, char oid[PKG_OID_HEX + 1], struct err *err)
{
    git_oid id;
    int grc = git_reference_name_to_id(&id, r->git, MAIN_REF);

    if (grc < 0)
        return git_fail(err, grc, "refs/heads/main");
    git_oid_tostr(oid, PKG_OID_HEX + 1, &id);
    return 0;
}

/* ---------------------------------------------------------------- the writer's lock */

/* Taken with the flock. The flock already serializes every writer, threads included (each
 * handle has its own open file description); the mutex adds nothing to that but makes the
 * order visible to TSan. It matters because libgit2 stamps the reflog entry through mktime(),
 * whose time-zone set-up glibc guards with a lock TSan cannot see. */
static pthread_mutex_t ref_mutex = PTHREAD_MUTEX_INITIALIZER;

static int lock_take(struct pkg_repo *r, struct err *err)
{
    pthread_mutex_lock(&ref_mutex);
    while (flock(r->lock_fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            int e = errno;

            pthread_mutex_unlock(&ref_mutex);
            return err_set(err, ERR_IO, "flock slipway.lock: %s", strerror(e));
        }
    }
    return 0;
}

static void lock_drop(struct pkg_repo *r)
{
    (void)flock(r->lock_fd, LOCK_UN);
    pthread_mutex_unlock(&ref_mutex);
}

/* Holding our lock: removes <rel>.lock left by a writer that died (see the top comment). */
static void stale_lock_remove(struct pkg_repo *r, const char *rel)
{
    struct sbuf p = SBUF_INIT(8192);

    sbuf_printf(&p, "%s%s.lock", r->path, rel);
    if (p.err == 0)
        (void)unlink(p.buf);
    sbuf_release(&p);
}

/* ---------------------------------------------------------------- commit */

/* Everything a commit holds while it is built; released in one place. */
struct build {
    git_index *index;
    git_commit *parent;
    git_tree *tree;
    git_signature *author, *committer;
    git_oid parent_id, tree_id, commit_id;
    bool have_parent;
};

static void build_release(struct build *b)
{
    git_index_free(b->index);
    git_commit_free(b->parent);
    git_tree_free(b->tree);
    git_signature_free(b->author);
    git_signature_free(b->committer);
}

static int req_check(const struct pkg_commit_req *req, struct err *err)
{
    int rc;

    if (!ident_ok(req->author.name))
        return err_set(err, ERR_INVALID,
                       "author.name: must be 1-256 characters without <, > or "
                       "a line break");
    if (!ident_ok(req->author.email))
        return err_set(err, ERR_INVALID,
                       "author.email: must be 1-256 characters without <, > "
                       "or a line break");
    if (req->message == NULL || req->message[0] == '\0')
        return err_set(err, ERR_INVALID, "message: is empty");
    if (req->expected_head != NULL && !hex40(req->expected_head))
        return err_set(err, ERR_INVALID, "expected_head: must be 40 lower-case hex digits");
    if (req->nchanges > 0 && req->changes == NULL)
        return err_set(err, ERR_INVALID, "changes: NULL with a count");
    for (size_t i = 0; i < req->nchanges; i++) {
        const struct pkg_change *c = &req->changes[i];

        if (c->op != PKG_PUT && c->op != PKG_DELETE)
            return err_set(err, ERR_INVALID, "changes[%zu]: unknown operation", i);
        if (c->op == PKG_PUT && c->data.len > 0 && c->data.ptr == NULL)
            return err_set(err, ERR_INVALID, "changes[%zu]: data is NULL", i);
        rc = path_check("change", c->path, err);
        if (rc < 0)
            return err_wrap(err, "changes[%zu]", i);
    }
    return 0;
}

/* Reads refs/heads/main into the build: its commit and tree, and the index to change. */
static int build_start(struct pkg_repo *r, const struct pkg_commit_req *req, struct build *b,
                       struct err *err)
{
    int grc = git_reference_name_to_id(&b->parent_id, r->git, MAIN_REF);

    if (grc < 0 && grc != GIT_ENOTFOUND)
        return git_fail(err, grc, "refs/heads/main");
    b->have_parent = grc == 0;
    if (req->expected_head != NULL) {
        char cur[PKG_OID_HEX + 1] = PKG_OID_NONE;

        if (b->have_parent)
            git_oid_tostr(cur, sizeof(cur), &b->parent_id);
        if (strcmp(cur, req->expected_head) != 0)
            return err_set(err, ERR_CONFLICT, "refs/heads/main is at %.12s, not at %.12s", cur,
                           req->expected_head);
    }
    grc = git_index_new(&b->index);
    if (grc == 0 && b->have_parent) {
        grc = git_commit_lookup(&b->parent, r->git, &b->parent_id);
        if (grc == 0)
            grc = git_commit_tree(&b->tree, b->parent);
        if (grc == 0)
            grc = git_index_read_tree(b->index, b->tree);
    }
    return grc < 0 ? git_fail(err, grc, "read the current tree") : 0;
}

/* True when <path> is a directory in <index>: some entry starts with "<path>/". */
static bool index_has_dir(git_index *index, const char *path)
{
    struct sbuf p = SBUF_INIT(PATH_MAX_LEN + 2);
    size_t pos;
    bool found;

    sbuf_printf(&p, "%s/", path);
    found = git_index_find_prefix(&pos, index, p.buf) == 0;
    sbuf_release(&p);
    return found;
}

/* A put must not turn a file into a directory or a directory into a file: the index would
 * quietly drop the other side. */
static int put_collision_check(git_index *index, const char *path, struct err *err)
{
    char *p = xstrdup(path);
    int rc = 0;

    for (char *s = strchr(p, '/'); s != NULL && rc == 0; s = strchr(s + 1, '/')) {
        *s = '\0';
        if (git_index_get_bypath(index, p, 0) != NULL)
            rc = err_set(err, ERR_INVALID, "%s: \"%s\" is a file, not a directory", path, p);
        *s = '/';
    }
    if (rc == 0 && index_has_dir(index, path))
        rc = err_set(err, ERR_INVALID, "%s: is a directory", path);
    free(p);
    return rc;
}

static int change_put(struct pkg_repo *r, struct build *b, const struct pkg_change *c,
                      struct err *err)
{
    git_index_entry e = {0};
    int rc = put_collision_check(b->index, c->path, err);
    int grc;

    if (rc < 0)
        return rc;
    grc =
        git_blob_create_from_buffer(&e.id, r->git, c->data.len > 0 ? c->data.ptr : "", c->data.len);
    if (grc < 0)
        return git_fail(err, grc, "write blob");
    e.mode = GIT_FILEMODE_BLOB;
    e.path = c->path;
    e.file_size = (uint32_t)c->data.len;
    grc = git_index_add(b->index, &e);
    if (grc < 0)
        return git_fail(err, GIT_EINVALID, c->path); /* libgit2 refused the path */
    return 0;
}

static int change_delete(struct build *b, const struct pkg_change *c, struct err *err)
{
    int grc;

    if (git_index_get_bypath(b->index, c->path, 0) != NULL)
        grc = git_index_remove(b->index, c->path, 0);
    else if (index_has_dir(b->index, c->path))
        grc = git_index_remove_directory(b->index, c->path, 0);
    else
        return err_set(err, ERR_NOTFOUND, "%s: not in the tree", c->path);
    return grc < 0 ? git_fail(err, grc, c->path) : 0;
}

/* Applies the changes and writes the new tree and the commit object (not yet the ref). */
static int build_commit(struct pkg_repo *r, const struct pkg_commit_req *req, struct build *b,
                        struct err *err)
{
    struct sbuf msg = SBUF_INIT(1 << 20);
    git_tree *tree = NULL;
    const git_commit *parents[1];
    git_time_t now = (git_time_t)(time_wall_ms() / 1000);
    int rc = 0, grc;

    for (size_t i = 0; i < req->nchanges && rc == 0; i++) {
        const struct pkg_change *c = &req->changes[i];

        rc = c->op == PKG_PUT ? change_put(r, b, c, err) : change_delete(b, c, err);
    }
    if (rc < 0)
        return rc;
    grc = git_index_write_tree_to(&b->tree_id, b->index, r->git);
    if (grc < 0)
        return git_fail(err, grc, "write tree");
    if (b->have_parent && git_oid_equal(&b->tree_id, git_tree_id(b->tree)) &&
        !(req->flags & PKG_COMMIT_ALLOW_EMPTY))
        return err_set(err, ERR_CONFLICT, "nothing to commit: the tree is unchanged");
    /* Times are recorded in UTC: the server's zone says nothing about the user, and
     * git_signature_now() would consult it through tzset() (also a TSan false positive). */
    grc = git_signature_new(&b->author, req->author.name, req->author.email, now, 0);
    if (grc == 0)
        grc = git_signature_new(&b->committer, COMMITTER, COMMITTER_EML, now, 0);
    if (grc == 0)
        grc = git_tree_lookup(&tree, r->git, &b->tree_id);
    if (grc < 0)
        return git_fail(err, grc, "prepare commit");
    sbuf_puts(&msg, req->message);
    if (msg.len > 0 && msg.buf[msg.len - 1] != '\n')
        sbuf_putc(&msg, '\n');
    if (msg.err != 0) {
        rc = err_set(err, ERR_INVALID, "message: longer than 1 MiB");
    } else {
        parents[0] = b->parent;
        grc = git_commit_create(&b->commit_id, r->git, NULL, b->author, b->committer, NULL, msg.buf,
                                tree, b->have_parent ? 1 : 0, parents);
        if (grc < 0)
            rc = git_fail(err, grc, "write commit");
    }
    git_tree_free(tree);
    sbuf_release(&msg);
    return rc;
}

/* The reflog line git writes for a commit: "commit: <first line of the message>". */
static void reflog_message(struct sbuf *out, const char *message, bool first)
{
    const char *nl = strchr(message, '\n');
    size_t n = nl != NULL ? (size_t)(nl - message) : strlen(message);

    sbuf_printf(out, "commit%s: %.*s", first ? " (initial)" : "", (int)n, message);
}

/* Moves refs/heads/main from the build's parent (or from nothing) to the new commit. */
static int ref_publish(struct pkg_repo *r, const struct pkg_commit_req *req, struct build *b,
                       struct err *err)
{
    struct sbuf log = SBUF_INIT(4096);
    git_reference *ref = NULL;
    int rc, grc;

    reflog_message(&log, req->message, !b->have_parent);
    rc = lock_take(r, err);
    if (rc < 0)
        goto out;
    stale_lock_remove(r, MAIN_REF);
    if (b->have_parent)
        grc = git_reference_create_matching(&ref, r->git, MAIN_REF, &b->commit_id, 1, &b->parent_id,
                                            log.buf);
    else
        grc = git_reference_create(&ref, r->git, MAIN_REF, &b->commit_id, 0, log.buf);
    lock_drop(r);
    git_reference_free(ref);
    if (grc == GIT_EMODIFIED || grc == GIT_EEXISTS || grc == GIT_ENOTFOUND || grc == GIT_ELOCKED)
        rc = err_set(err, ERR_CONFLICT, "refs/heads/main moved while committing");
    else if (grc < 0)
        rc = git_fail(err, grc, "update refs/heads/main");
out:
    sbuf_release(&log);
    return rc;
}

int pkg_repo_commit(struct pkg_repo *r, const struct pkg_commit_req *req,
                    char oid_out[PKG_OID_HEX + 1], struct err *err)
{
    struct build b = {0};
    int rc = req_check(req, err);

    if (rc < 0)
        return rc;
    rc = build_start(r, req, &b, err);
    if (rc == 0)
        rc = build_commit(r, req, &b, err);
    if (rc == 0)
        rc = ref_publish(r, req, &b, err);
    if (rc == 0)
        git_oid_tostr(oid_out, PKG_OID_HEX + 1, &b.commit_id);
    build_release(&b);
    return rc;
}

/* ---------------------------------------------------------------- read, list */

/* The tree of <rev> (NULL = refs/heads/main): *out is the caller's (git_tree_free). */
static int rev_tree(struct pkg_repo *r, const char *rev, git_tree **out, struct err *err)
{
    git_object *obj = NULL, *peeled = NULL;
    int rc, grc;

    if (rev != NULL) {
        rc = rev_check(rev, err);
        if (rc < 0)
            return rc;
    }
    grc = git_revparse_single(&obj, r->git, rev != NULL ? rev : MAIN_REF);
    if (grc == 0)
        grc = git_object_peel(&peeled, obj, GIT_OBJECT_TREE);
    git_object_free(obj);
    if (grc == GIT_ENOTFOUND || grc == GIT_EINVALIDSPEC || grc == GIT_EPEEL)
        return err_set(err, ERR_NOTFOUND, "revision %s not found", rev != NULL ? rev : "HEAD");
    if (grc < 0)
        return git_fail(err, grc, "resolve revision");
    *out = (git_tree *)peeled;
    return 0;
}

int pkg_repo_read(struct pkg_repo *r, const char *rev, const char *path, struct arena *a,
                  struct slice *out, struct err *err)
{
    git_tree *tree = NULL;
    git_tree_entry *entry = NULL;
    git_blob *blob = NULL;
    char *buf;
    size_t n;
    int rc = path_check("path", path, err);

    if (rc == 0)
        rc = rev_tree(r, rev, &tree, err);
    if (rc < 0)
        return rc;
    if (git_tree_entry_bypath(&entry, tree, path) != 0 ||
        git_tree_entry_type(entry) != GIT_OBJECT_BLOB) {
        rc = err_set(err, ERR_NOTFOUND, "%s: no such file", path);
        goto out;
    }
    if (git_blob_lookup(&blob, r->git, git_tree_entry_id(entry)) != 0) {
        rc = git_fail(err, GIT_ERROR, path);
        goto out;
    }
    n = (size_t)git_blob_rawsize(blob);
    buf = arena_alloc(a, n + 1);
    if (buf == NULL) {
        rc = err_set(err, ERR_LIMIT, "%s: %zu bytes do not fit the budget", path, n);
        goto out;
    }
    memcpy(buf, git_blob_rawcontent(blob), n);
    buf[n] = '\0';
    *out = (struct slice){buf, n};
out:
    git_blob_free(blob);
    git_tree_entry_free(entry);
    git_tree_free(tree);
    return rc;
}

int pkg_repo_list(struct pkg_repo *r, const char *rev, const char *dir, pkg_repo_list_fn *fn,
                  void *arg, struct err *err)
{
    git_tree *top = NULL, *tree = NULL;
    git_tree_entry *entry = NULL;
    struct sbuf d = SBUF_INIT(PATH_MAX_LEN + 1);
    bool at_top;
    int rc;

    sbuf_puts(&d, dir != NULL ? dir : "");
    while (d.len > 0 && d.buf[d.len - 1] == '/')
        d.buf[--d.len] = '\0'; /* "environments/" names the directory */
    at_top = d.len == 0 && d.err == 0;
    if (d.err != 0)
        rc = err_set(err, ERR_INVALID, "dir: the path is longer than %d bytes", PATH_MAX_LEN);
    else
        rc = at_top ? 0 : path_check("dir", d.buf, err);
    if (rc == 0)
        rc = rev_tree(r, rev, &top, err);
    if (rc < 0)
        goto out;
    if (at_top) {
        tree = top;
        top = NULL;
    } else if (git_tree_entry_bypath(&entry, top, d.buf) != 0 ||
               git_tree_entry_type(entry) != GIT_OBJECT_TREE ||
               git_tree_lookup(&tree, r->git, git_tree_entry_id(entry)) != 0) {
        rc = err_set(err, ERR_NOTFOUND, "%s: no such directory", d.buf);
        goto out;
    }
    for (size_t i = 0; i < git_tree_entrycount(tree); i++) {
        const git_tree_entry *e = git_tree_entry_byindex(tree, i);
        git_object_t t = git_tree_entry_type(e);

        if (t != GIT_OBJECT_TREE && t != GIT_OBJECT_BLOB)
            continue; /* a submodule link: never written by slipway */
        if (!fn(arg, git_tree_entry_name(e), t == GIT_OBJECT_TREE ? PKG_ENTRY_DIR : PKG_ENTRY_FILE))
            break;
    }
out:
    git_tree_entry_free(entry);
    git_tree_free(tree);
    git_tree_free(top);
    sbuf_release(&d);
    return rc;
}

/* ---------------------------------------------------------------- log */

/* Walk state: the id of the prefix in the last parent looked at, so a linear history reads
 * each tree once, not twice. */
struct log_walk {
    struct pkg_repo *r;
    const char *prefix;
    git_oid last_parent, last_parent_entry;
    bool have_last;
};

/* The id of <prefix> in commit <c>'s tree; zero when it is absent. */
static int prefix_id(const git_commit *c, const char *prefix, git_oid *out)
{
    git_tree *tree = NULL;
    git_tree_entry *e = NULL;
    int grc = git_commit_tree(&tree, c);

    memset(out, 0, sizeof(*out));
    if (grc < 0)
        return grc;
    grc = git_tree_entry_bypath(&e, tree, prefix);
    if (grc == 0)
        git_oid_cpy(out, git_tree_entry_id(e));
    git_tree_entry_free(e);
    git_tree_free(tree);
    return grc == GIT_ENOTFOUND ? 0 : grc;
}

/* Whether <c> changed something under the walk's prefix, compared with its first parent. */
static int touches_prefix(struct log_walk *w, const git_commit *c, bool *out)
{
    git_oid mine, theirs;
    git_commit *parent = NULL;
    int grc;

    if (w->have_last && git_oid_equal(&w->last_parent, git_commit_id(c)))
        mine = w->last_parent_entry;
    else if ((grc = prefix_id(c, w->prefix, &mine)) < 0)
        return grc;
    memset(&theirs, 0, sizeof(theirs));
    w->have_last = false;
    if (git_commit_parentcount(c) > 0) {
        grc = git_commit_parent(&parent, c, 0);
        if (grc == 0)
            grc = prefix_id(parent, w->prefix, &theirs);
        if (grc == 0) {
            git_oid_cpy(&w->last_parent, git_commit_id(parent));
            w->last_parent_entry = theirs;
            w->have_last = true;
        }
        git_commit_free(parent);
        if (grc < 0)
            return grc;
    }
    *out = !git_oid_equal(&mine, &theirs);
    return 0;
}

static bool log_emit(const git_commit *c, struct sbuf *msg, pkg_repo_log_fn *fn, void *arg)
{
    const git_signature *a = git_commit_author(c);
    struct pkg_log_entry e = {0};

    sbuf_reset(msg);
    sbuf_puts(msg, git_commit_message(c));
    while (msg->len > 0 && msg->buf[msg->len - 1] == '\n')
        msg->buf[--msg->len] = '\0';
    git_oid_tostr(e.oid, sizeof(e.oid), git_commit_id(c));
    e.author_name = a->name;
    e.author_email = a->email;
    e.time = (int64_t)a->when.time;
    e.tz_offset_min = a->when.offset;
    e.message = msg->buf;
    return fn(arg, &e);
}

int pkg_repo_log(struct pkg_repo *r, const char *path_prefix, size_t limit, pkg_repo_log_fn *fn,
                 void *arg, struct err *err)
{
    struct log_walk w = {.r = r};
    struct sbuf msg = SBUF_INIT(1 << 20);
    struct sbuf prefix = SBUF_INIT(PATH_MAX_LEN + 1);
    git_revwalk *walk = NULL;
    git_oid id;
    size_t n = 0;
    int rc = 0, grc;

    if (path_prefix != NULL && path_prefix[0] != '\0') {
        sbuf_puts(&prefix, path_prefix);
        while (prefix.len > 1 && prefix.buf[prefix.len - 1] == '/')
            prefix.buf[--prefix.len] = '\0'; /* "environments/prod/" names the directory */
        rc = prefix.err != 0
                 ? err_set(err, ERR_INVALID, "path_prefix: longer than %d bytes", PATH_MAX_LEN)
                 : path_check("path_prefix", prefix.buf, err);
        if (rc < 0)
            goto out;
        w.prefix = prefix.buf;
    }
    grc = git_reference_name_to_id(&id, r->git, MAIN_REF);
    if (grc == GIT_ENOTFOUND)
        goto out; /* no commit yet: an empty history */
    if (grc == 0)
        grc = git_revwalk_new(&walk, r->git);
    if (grc == 0)
        grc = git_revwalk_sorting(walk, GIT_SORT_NONE); /* linear: child first */
    if (grc == 0)
        grc = git_revwalk_push(walk, &id);
    while (grc == 0 && (limit == 0 || n < limit) && (grc = git_revwalk_next(&id, walk)) == 0) {
        git_commit *c = NULL;
        bool show = true, more = true;

        grc = git_commit_lookup(&c, r->git, &id);
        if (grc == 0 && w.prefix != NULL)
            grc = touches_prefix(&w, c, &show);
        if (grc == 0 && show) {
            more = log_emit(c, &msg, fn, arg);
            n++;
        }
        git_commit_free(c);
        if (!more)
            break;
    }
    if (grc < 0 && grc != GIT_ITEROVER)
        rc = git_fail(err, grc, "walk history");
out:
    git_revwalk_free(walk);
    sbuf_release(&msg);
    sbuf_release(&prefix);
    return rc;
}

/* ---------------------------------------------------------------- commit-graph */

int pkg_repo_graph_write(struct pkg_repo *r, struct err *err)
{
    git_commit_graph_writer_options opts = GIT_COMMIT_GRAPH_WRITER_OPTIONS_INIT;
    git_commit_graph_writer *w = NULL;
    git_revwalk *walk = NULL;
    git_oid head;
    struct sbuf dir = SBUF_INIT(8192);
    int rc, grc;

    sbuf_printf(&dir, "%sobjects/info", r->path);
    if (dir.err != 0) {
        sbuf_release(&dir);
        return err_set(err, ERR_LIMIT, "repository path too long");
    }
    rc = lock_take(r, err); /* one graph writer at a time, and stale locks can go */
    if (rc < 0)
        goto out;
    stale_lock_remove(r, "objects/info/commit-graph");
    grc = git_reference_name_to_id(&head, r->git, MAIN_REF);
    if (grc == 0)
        grc = git_commit_graph_writer_new(&w, dir.buf);
    if (grc == 0)
        grc = git_revwalk_new(&walk, r->git);
    if (grc == 0)
        grc = git_revwalk_push(walk, &head);
    if (grc == 0)
        grc = git_commit_graph_writer_add_revwalk(w, walk);
    if (grc == 0)
        grc = git_commit_graph_writer_commit(w, &opts);
    lock_drop(r);
    if (grc == GIT_ENOTFOUND)
        grc = 0; /* no commit yet: nothing to index */
    if (grc < 0)
        rc = git_fail(err, grc, "write commit-graph");
out:
    git_revwalk_free(walk);
    git_commit_graph_writer_free(w);
    sbuf_release(&dir);
    return rc;
}

/* ---------------------------------------------------------------- pushing (mirrors) */

struct push_ctx {
    const char *user, *pass;
    bool cred_given;
    char rejected[256]; /* the remote's reason for refusing main, "" when it took it */
};

/* Offers the user name and password once; asked again means they were refused. */
static int push_credentials(git_credential **out, const char *url, const char *url_user,
                            unsigned int allowed, void *payload)
{
    struct push_ctx *c = payload;

    (void)url;
    (void)url_user;
    if (c->user == NULL || c->cred_given || !(allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT))
        return GIT_PASSTHROUGH;
    c->cred_given = true;
    return git_credential_userpass_plaintext_new(out, c->user, c->pass ? c->pass : "");
}

static int push_update(const char *refname, const char *status, void *payload)
{
    struct push_ctx *c = payload;

    if (status != NULL)
        snprintf(c->rejected, sizeof(c->rejected), "%s: %s", refname, status);
    return 0;
}

int pkg_repo_push(struct pkg_repo *r, const char *url, const char *user, const char *pass,
                  char oid[PKG_OID_HEX + 1], struct err *err)
{
    static char spec[] = "+" MAIN_REF ":" MAIN_REF;
    char *specs[] = {spec};
    git_strarray refs = {specs, 1};
    git_push_options opts = GIT_PUSH_OPTIONS_INIT;
    git_remote_create_options copts = GIT_REMOTE_CREATE_OPTIONS_INIT;
    struct push_ctx c = {.user = user, .pass = pass};
    git_remote *remote = NULL;
    int grc, rc = pkg_repo_head(r, oid, err); /* what main is as the push starts */

    if (rc < 0)
        return rc;
    opts.callbacks.credentials = push_credentials;
    opts.callbacks.push_update_reference = push_update;
    opts.callbacks.payload = &c;
    /* No url.*.insteadOf rewriting: the URL is pushed to as given (and libgit2 1.5 leaks the
     * regular expressions of that lookup). */
    copts.repository = r->git;
    copts.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF | GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
    grc = git_remote_create_with_opts(&remote, url, &copts);
    if (grc == 0)
        grc = git_remote_push(remote, &refs, &opts);
    if (grc < 0)
        rc = git_fail(err, grc, "push");
    else if (c.rejected[0] != '\0')
        rc = err_set(err, ERR_CONFLICT, "push refused: %s", c.rejected);
    git_remote_free(remote);
    return rc;
}
