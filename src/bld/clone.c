/*
 * bld clone: fetches a repository with libgit2 and checks out exactly the ref asked for.
 *
 * The clone is an init, a fetch and a checkout rather than git_clone(): git_clone() checks out
 * the remote's default branch, and a build of "v2" must never quietly become a build of main.
 * A branch or tag name is fetched alone (one ref, not the whole history of every branch);
 * a commit id can be anywhere, so for one every branch and tag is fetched. libgit2 1.5
 * (Debian 12) has no shallow fetch; when a newer one does, this is where depth 1 goes.
 *
 * The checkout cannot write outside dest_dir: libgit2 refuses tree entries named "..", ".git"
 * or holding a '/', and writes a symbolic link as a link, never through one.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <git2.h>

#include "base/base.h"
#include "bld/bld-int.h"

#define CLONE_MAX_BYTES (2ull << 30)
#define URL_MAX         2048
#define REF_MAX         255

struct clone {
    const char *url;
    char *user, *pass; /* from the URL's user-info, for https; NULL when absent */
    int auth_tries;
    bool too_big;
};

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;

/* libgit2 counts its initialisations; one that is never undone keeps its global set-up alive
 * for the whole process (the packager does the same in src/pkg/repo.c). */
static void lib_setup(void)
{
    ASSERT(git_libgit2_init() > 0);
}

/* ---------------------------------------------------------------- input checks */

static bool bad_byte(unsigned char c)
{
    return c <= 0x20 || c == 0x7f;
}

static int url_check(const char *url, struct err *err)
{
    size_t n = strlen(url);

    if (n == 0 || n > URL_MAX)
        return err_set(err, ERR_INVALID, "url: must have 1 to %d characters", URL_MAX);
    if (url[0] == '-')
        return err_set(err, ERR_INVALID, "url: must not start with '-'");
    for (size_t i = 0; i < n; i++)
        if (bad_byte((unsigned char)url[i]))
            return err_set(err, ERR_INVALID, "url: holds a space or control byte");
    return 0;
}

/* The rules of git check-ref-format that matter here: nothing revparse would read as syntax. */
static int ref_check(const char *ref, struct err *err)
{
    size_t n = strlen(ref);

    if (n == 0 || n > REF_MAX)
        return err_set(err, ERR_INVALID, "ref: must have 1 to %d characters", REF_MAX);
    if (ref[0] == '-' || ref[0] == '/' || ref[n - 1] == '/' || ref[n - 1] == '.' ||
        strstr(ref, "..") != NULL || strstr(ref, "@{") != NULL || strstr(ref, "//") != NULL)
        return err_set(err, ERR_INVALID, "ref: \"%.*s\" is not a valid branch, tag or commit", 64,
                       ref);
    for (size_t i = 0; i < n; i++)
        if (bad_byte((unsigned char)ref[i]) || strchr("~^:?*[\\", ref[i]) != NULL)
            return err_set(err, ERR_INVALID, "ref: \"%.*s\" is not a valid branch, tag or commit",
                           64, ref);
    return 0;
}

static bool is_hex(const char *s, size_t min)
{
    size_t n = 0;

    while (s[n] != '\0' && slice_hex_digit(s[n]) >= 0)
        n++;
    return s[n] == '\0' && n >= min && n <= BLD_OID_HEX;
}

/* <dir> does not exist, or is an empty directory. */
static int dest_check(const char *dir, struct err *err)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    bool empty = true;

    if (d == NULL && errno == ENOENT)
        return 0;
    if (d == NULL)
        return err_set(err, ERR_INVALID, "dest_dir: %s: %s", dir, strerror(errno));
    while (empty && (e = readdir(d)) != NULL)
        empty = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0;
    closedir(d);
    if (!empty)
        return err_set(err, ERR_INVALID, "dest_dir: %s is not empty", dir);
    return 0;
}

/* ---------------------------------------------------------------- errors */

/* Replaces each occurrence of <secret> in err->msg by "***". */
static void scrub(struct err *err, const char *secret)
{
    struct sbuf b = SBUF_INIT(sizeof(err->msg) - 1);
    size_t n = secret != NULL ? strlen(secret) : 0;
    const char *p = err->msg, *hit;

    if (n == 0 || strstr(p, secret) == NULL)
        return;
    while ((hit = strstr(p, secret)) != NULL) {
        sbuf_put(&b, p, (size_t)(hit - p));
        sbuf_puts(&b, "***");
        p = hit + n;
    }
    sbuf_puts(&b, p);
    memcpy(err->msg, b.buf, b.len + 1);
    sbuf_release(&b);
}

static int git_fail(struct clone *c, struct err *err, int code, const char *what)
{
    const git_error *e = git_error_last();
    struct sbuf url = SBUF_INIT(URL_MAX + 8);

    bld_url_redact(c->url, &url);
    err_set(err, code, "%s %s: %s", what, url.buf,
            e != NULL && e->message != NULL ? e->message : "unknown error");
    sbuf_release(&url);
    scrub(err, c->pass);
    return code;
}

/* ---------------------------------------------------------------- callbacks */

static int credentials(git_credential **out, const char *url, const char *user_from_url,
                       unsigned int allowed, void *payload)
{
    struct clone *c = payload;

    (void)url;
    if (c->auth_tries++ > 0) {
        git_error_set_str(GIT_ERROR_NET, "authentication failed");
        return GIT_EAUTH;
    }
    if (allowed & GIT_CREDENTIAL_SSH_KEY)
        return git_credential_ssh_key_from_agent(out,
                                                 user_from_url != NULL ? user_from_url : "git");
    if ((allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) && c->user != NULL)
        return git_credential_userpass_plaintext_new(out, c->user, c->pass ? c->pass : "");
    return GIT_PASSTHROUGH;
}

static int transfer(const git_indexer_progress *st, void *payload)
{
    struct clone *c = payload;

    if (st->received_bytes <= CLONE_MAX_BYTES)
        return 0;
    c->too_big = true;
    return -1;
}

/* The user and password of scheme://user:password@host/…, percent-decoded. */
static void url_userinfo(struct clone *c)
{
    const char *host = strstr(c->url, "://"), *at = NULL, *colon;
    struct arena *a;
    struct slice u, p;

    if (host == NULL)
        return;
    host += 3;
    for (const char *s = host; *s != '\0' && *s != '/'; s++)
        if (*s == '@')
            at = s;
    if (at == NULL)
        return;
    colon = memchr(host, ':', (size_t)(at - host));
    a = arena_new(NULL);
    if (slice_percent_decode(a, (struct slice){host, (size_t)((colon ? colon : at) - host)}, false,
                             &u) == 0)
        c->user = xstrndup(u.ptr, u.len);
    if (colon != NULL &&
        slice_percent_decode(a, (struct slice){colon + 1, (size_t)(at - colon - 1)}, false, &p) ==
            0)
        c->pass = xstrndup(p.ptr, p.len);
    arena_free(a);
}

/* ---------------------------------------------------------------- fetch and resolve */

static int fetch(git_repository *repo, struct clone *c, const char *ref, struct err *err)
{
    char heads[2 * REF_MAX + 64], tags[2 * REF_MAX + 64];
    char *specs[2] = {heads, tags};
    git_strarray refspecs = {specs, 2};
    git_fetch_options opts = GIT_FETCH_OPTIONS_INIT;
    git_remote_create_options ropts = GIT_REMOTE_CREATE_OPTIONS_INIT;
    git_remote *remote = NULL;
    const char *name = ref;
    int rc;

    if (strncmp(ref, "refs/heads/", 11) == 0 || strncmp(ref, "refs/tags/", 10) == 0)
        name = strchr(ref + 5, '/') + 1;
    if (is_hex(ref, 4)) { /* a commit may sit on any branch */
        snprintf(heads, sizeof(heads), "+refs/heads/*:refs/remotes/origin/*");
        snprintf(tags, sizeof(tags), "+refs/tags/*:refs/tags/*");
    } else {
        snprintf(heads, sizeof(heads), "+refs/heads/%s:refs/remotes/origin/%s", name, name);
        snprintf(tags, sizeof(tags), "+refs/tags/%s:refs/tags/%s", name, name);
    }
    opts.callbacks.credentials = credentials;
    opts.callbacks.transfer_progress = transfer;
    opts.callbacks.payload = c;
    opts.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
    /* No url.*.insteadOf rewriting: the server's git config must not redirect a user's URL
     * (and libgit2 1.5 leaks a regex match for each config entry it checks there). */
    ropts.repository = repo;
    ropts.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF | GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
    rc = git_remote_create_with_opts(&remote, c->url, &ropts);
    if (rc == 0)
        rc = git_remote_fetch(remote, &refspecs, &opts, NULL);
    if (rc < 0 && c->too_big)
        rc = err_set(err, ERR_LIMIT, "repository is larger than %llu MiB",
                     (unsigned long long)(CLONE_MAX_BYTES >> 20));
    else if (rc < 0)
        rc = git_fail(c, err, ERR_UNAVAILABLE, "cannot fetch");
    git_remote_free(remote);
    return rc;
}

/* The remote's default branch (what its HEAD names), as "refs/heads/<name>" in <out>. */
static int default_branch(git_repository *repo, struct clone *c, char out[REF_MAX + 1],
                          struct err *err)
{
    git_remote_create_options ropts = GIT_REMOTE_CREATE_OPTIONS_INIT;
    git_remote_callbacks cb = GIT_REMOTE_CALLBACKS_INIT;
    git_remote *remote = NULL;
    git_buf name = {0};
    int rc;

    cb.credentials = credentials;
    cb.payload = c;
    ropts.repository = repo;
    ropts.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF | GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
    rc = git_remote_create_with_opts(&remote, c->url, &ropts);
    if (rc == 0)
        rc = git_remote_connect(remote, GIT_DIRECTION_FETCH, &cb, NULL, NULL);
    if (rc == 0)
        rc = git_remote_default_branch(&name, remote);
    if (rc == 0 && name.size > REF_MAX)
        rc = err_set(err, ERR_INVALID, "the default branch's name is too long");
    else if (rc == 0)
        snprintf(out, REF_MAX + 1, "%s", name.ptr);
    else
        rc = git_fail(c, err, ERR_UNAVAILABLE, "cannot read the default branch of");
    git_buf_dispose(&name);
    git_remote_free(remote);
    return rc;
}

static int peel_ref(git_repository *repo, const char *name, git_object **out)
{
    git_reference *r = NULL;
    int rc = git_reference_lookup(&r, repo, name);

    if (rc == 0)
        rc = git_reference_peel(out, r, GIT_OBJECT_COMMIT);
    git_reference_free(r);
    return rc;
}

/* The commit <ref> names: a branch, then a tag, then a commit id. */
static int resolve(git_repository *repo, struct clone *c, const char *ref, git_object **out,
                   struct err *err)
{
    char name[REF_MAX + 64];
    git_oid oid;
    int rc = GIT_ENOTFOUND;

    if (strncmp(ref, "refs/heads/", 11) == 0)
        snprintf(name, sizeof(name), "refs/remotes/origin/%s", ref + 11);
    else if (strncmp(ref, "refs/", 5) == 0)
        snprintf(name, sizeof(name), "%s", ref);
    else
        snprintf(name, sizeof(name), "refs/remotes/origin/%s", ref);
    rc = peel_ref(repo, name, out);
    if (rc == GIT_ENOTFOUND && strncmp(ref, "refs/", 5) != 0) {
        snprintf(name, sizeof(name), "refs/tags/%s", ref);
        rc = peel_ref(repo, name, out);
    }
    if (rc == GIT_ENOTFOUND && is_hex(ref, 4) && git_oid_fromstrn(&oid, ref, strlen(ref)) == 0)
        rc = git_object_lookup_prefix(out, repo, &oid, strlen(ref), GIT_OBJECT_COMMIT);
    if (rc == 0)
        return 0;
    if (rc == GIT_EAMBIGUOUS)
        return err_set(err, ERR_INVALID, "ref \"%s\": more than one commit starts so", ref);
    if (rc == GIT_ENOTFOUND || rc == GIT_EINVALIDSPEC) {
        struct sbuf url = SBUF_INIT(URL_MAX + 8);

        bld_url_redact(c->url, &url);
        rc = err_set(err, ERR_NOTFOUND, "ref \"%s\" is not a branch, tag or commit of %s", ref,
                     url.buf);
        sbuf_release(&url);
        return rc;
    }
    return git_fail(c, err, ERR_IO, "cannot resolve the ref of");
}

static int checkout(git_repository *repo, struct clone *c, git_object *commit, struct err *err)
{
    git_checkout_options opts = GIT_CHECKOUT_OPTIONS_INIT;

    opts.checkout_strategy = GIT_CHECKOUT_FORCE;
    if (git_checkout_tree(repo, commit, &opts) < 0 ||
        git_repository_set_head_detached(repo, git_object_id(commit)) < 0)
        return git_fail(c, err, ERR_INVALID, "cannot check out");
    return 0;
}

int bld_clone(const char *url, const char *ref, const char *dest_dir, char commit[BLD_OID_HEX + 1],
              struct err *err)
{
    struct clone c = {url, NULL, NULL, 0, false};
    char head[REF_MAX + 1];
    git_repository *repo = NULL;
    git_object *obj = NULL;
    int rc;

    if ((rc = url_check(url, err)) < 0 || (ref != NULL && (rc = ref_check(ref, err)) < 0) ||
        (rc = dest_check(dest_dir, err)) < 0)
        return rc;
    pthread_once(&lib_once, lib_setup);
    url_userinfo(&c);
    if (git_repository_init(&repo, dest_dir, 0) < 0) {
        rc = git_fail(&c, err, ERR_IO, "cannot create a repository for");
        goto out;
    }
    if (ref == NULL && (rc = default_branch(repo, &c, head, err)) < 0)
        goto out;
    if (ref == NULL)
        ref = head;
    if ((rc = fetch(repo, &c, ref, err)) < 0 || (rc = resolve(repo, &c, ref, &obj, err)) < 0 ||
        (rc = checkout(repo, &c, obj, err)) < 0)
        goto out;
    git_oid_tostr(commit, BLD_OID_HEX + 1, git_object_id(obj));
out:
    git_object_free(obj);
    git_repository_free(repo);
    free(c.user);
    free(c.pass);
    return rc;
}
