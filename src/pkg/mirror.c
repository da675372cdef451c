/*
 * pkg mirror: an optional push mirror per project. After every commit the project's main is
 * pushed, forced, to a remote URL; a failed push is retried with exponential backoff; the
 * state of each mirror (pending, attempts, last error, last commit pushed) is kept in the
 * packager's database, so pushes owed before a crash are made after the restart.
 *
 * A mirror is "pending" while gen (bumped by every commit and by setting the URL) is ahead of
 * pushed_gen (the gen a push started from). One thread pushes, oldest due first. The URL may
 * carry credentials (https://user:token@host/repo.git): it is stored sealed under the
 * project's key (pkg_secret_seal) and shown without its password.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkg/pkg-int.h"
#include "store/store.h"

#define URL_MAX      2048
#define BATCH        16
#define IDLE_WAIT_MS 60000
#define ERROR_SHOWN  480

static const struct log_ctx mirror_log = {.svc = "packager"};

static const struct store_migration migrations[] = {
    {1, "mirrors",
     "CREATE TABLE pkg_mirrors ("
     " workspace_id TEXT NOT NULL, project_id TEXT NOT NULL,"
     " url_sealed TEXT NOT NULL, url_shown TEXT NOT NULL,"
     " gen BIGINT NOT NULL DEFAULT 1, pushed_gen BIGINT NOT NULL DEFAULT 0,"
     " attempts BIGINT NOT NULL DEFAULT 0, next_at BIGINT NOT NULL DEFAULT 0,"
     " last_push_at BIGINT, pushed_commit TEXT, last_error TEXT,"
     " PRIMARY KEY (workspace_id, project_id))",
     NULL, NULL},
};

struct pkg_mirror {
    struct store *s; /* borrowed */
    char *root;
    int64_t base_ms, max_ms;
    pthread_t thread;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop, kicked; /* guarded by mu */
};

/* ---------------------------------------------------------------- URLs */

static int url_check(const char *url, struct err *err)
{
    static const char *const schemes[] = {"https://", "http://", "ssh://", "file:///"};
    size_t n = strlen(url);
    bool scheme = false;

    for (size_t i = 0; i < ARRAY_LEN(schemes); i++)
        scheme = scheme || strncmp(url, schemes[i], strlen(schemes[i])) == 0;
    if (!scheme)
        return err_set(err, ERR_INVALID,
                       "url: must start with https://, http://, ssh:// or "
                       "file:///");
    if (n > URL_MAX)
        return err_set(err, ERR_INVALID, "url: at most %d bytes", URL_MAX);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)url[i] <= 0x20 || url[i] == 0x7F)
            return err_set(err, ERR_INVALID, "url: must not hold spaces or control characters");
    return 0;
}

static int hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)(c | 0x20);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Percent-decodes <s> (n bytes) into <out> (NUL-terminated, at most n + 1 bytes). */
static void pct_decode(const char *s, size_t n, char *out)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
            out[o++] = (char)(hex(s[i + 1]) * 16 + hex(s[i + 2]));
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
}

/* Splits "scheme://user:pass@rest" into "scheme://rest", user and pass (decoded); buffers of
 * strlen(url) + 1 bytes each. No userinfo: user and pass empty. */
static void url_split(const char *url, char *bare, char *user, char *pass)
{
    const char *auth = strstr(url, "://"), *at, *colon, *slash;

    user[0] = pass[0] = '\0';
    memcpy(bare, url, strlen(url) + 1);
    if (auth == NULL)
        return;
    auth += 3;
    slash = strchr(auth, '/');
    at = memchr(auth, '@', slash ? (size_t)(slash - auth) : strlen(auth));
    if (at == NULL)
        return;
    colon = memchr(auth, ':', (size_t)(at - auth));
    pct_decode(auth, (size_t)((colon ? colon : at) - auth), user);
    if (colon != NULL)
        pct_decode(colon + 1, (size_t)(at - colon - 1), pass);
    snprintf(bare, strlen(url) + 1, "%.*s%s", (int)(auth - url), url, at + 1);
}

/* ---------------------------------------------------------------- set-up */

int pkg_mirror_open(struct store *s, const char *root, const struct pkg_mirror_opts *o,
                    struct pkg_mirror **out, struct err *err)
{
    struct pkg_mirror *m;
    int rc = store_migrate_set(s, "pkg_mirror", migrations, ARRAY_LEN(migrations), err);

    *out = NULL;
    if (rc < 0)
        return rc;
    m = xcalloc(1, sizeof(*m));
    m->s = s;
    m->root = xstrdup(root);
    m->base_ms = o && o->base_ms > 0 ? o->base_ms : 1000;
    m->max_ms = o && o->max_ms > 0 ? o->max_ms : 300000;
    pthread_mutex_init(&m->mu, NULL);
    cond_init_mono(&m->cv);
    *out = m;
    return 0;
}

/* ---------------------------------------------------------------- changes */

int pkg_mirror_set(struct pkg_mirror *m, const struct pkg_project *p, const char *url,
                   struct err *err)
{
    unsigned char key[PKG_SECRET_KEY_BYTES];
    struct sbuf sealed = SBUF_INIT(8192), shown = SBUF_INIT(URL_MAX + 16);
    int rc;

    if (url == NULL)
        return store_exec1(
            m->s, "DELETE FROM pkg_mirrors WHERE workspace_id = ? AND project_id = ?",
            (struct store_val[]){SV_CSTR(p->workspace_id), SV_CSTR(p->project_id)}, 2, NULL, err);
    if ((rc = url_check(url, err)) < 0)
        return rc;
    rc = pkg_secret_key(m->root, slice_from_cstr(p->workspace_id), slice_from_cstr(p->project_id),
                        key, err);
    if (rc == 0)
        rc = pkg_secret_seal(key, slice_from_cstr(url), &sealed, err);
    explicit_bzero(key, sizeof(key));
    store_url_redact(url, &shown);
    if (rc == 0 && shown.err != 0)
        rc = err_set(err, ERR_LIMIT, "url: too long");
    if (rc == 0) {
        struct store_val v[] = {SV_CSTR(p->workspace_id), SV_CSTR(p->project_id),
                                SV_TEXT(((struct slice){sealed.buf, sealed.len})),
                                SV_TEXT(((struct slice){shown.buf, shown.len}))};

        /* A new URL is pushed at once whatever the old one owed. */
        rc = store_exec1(m->s,
                         "INSERT INTO pkg_mirrors (workspace_id, project_id, url_sealed, url_shown)"
                         " VALUES (?, ?, ?, ?) ON CONFLICT (workspace_id, project_id) DO UPDATE"
                         " SET url_sealed = excluded.url_sealed, url_shown = excluded.url_shown,"
                         " gen = pkg_mirrors.gen + 1, attempts = 0, next_at = 0,"
                         " last_error = NULL",
                         v, ARRAY_LEN(v), NULL, err);
    }
    pkg_secret_wipe(&sealed);
    sbuf_release(&shown);
    if (rc == 0)
        pkg_mirror_kick(m, NULL);
    return rc;
}

void pkg_mirror_kick(struct pkg_mirror *m, const struct pkg_project *p)
{
    struct err err = {0};
    int64_t changes = 1;

    if (m == NULL)
        return;
    if (p != NULL &&
        store_exec1(
            m->s, "UPDATE pkg_mirrors SET gen = gen + 1 WHERE workspace_id = ? AND project_id = ?",
            (struct store_val[]){SV_CSTR(p->workspace_id), SV_CSTR(p->project_id)}, 2, &changes,
            &err) < 0)
        LOG_WARN(&mirror_log, "pkg.mirror.kick_failed", LF_STR("project", p->project_id),
                 LF_STR("error", err.msg));
    if (changes == 0)
        return;
    pthread_mutex_lock(&m->mu);
    m->kicked = true;
    pthread_cond_signal(&m->cv);
    pthread_mutex_unlock(&m->mu);
}

/* ---------------------------------------------------------------- the pusher */

struct due {
    const char *ws, *pid;
    struct slice sealed;
    int64_t gen, attempts;
};

/* Opens the sealed URL and pushes main there. */
static int push_one(struct pkg_mirror *m, const struct due *d, char oid[PKG_OID_HEX + 1],
                    struct err *err)
{
    unsigned char key[PKG_SECRET_KEY_BYTES];
    struct sbuf url = SBUF_INIT(URL_MAX + 1), path = SBUF_INIT(4096);
    struct pkg_repo *r = NULL;
    char *bare = NULL, *user = NULL, *pass = NULL;
    int rc = pkg_secret_key(m->root, slice_from_cstr(d->ws), slice_from_cstr(d->pid), key, err);

    if (rc == 0)
        rc = pkg_secret_open(key, d->sealed, &url, err);
    explicit_bzero(key, sizeof(key));
    if (rc == 0)
        rc = pkg_repo_path(m->root, slice_from_cstr(d->ws), slice_from_cstr(d->pid), &path, err);
    if (rc == 0)
        rc = pkg_repo_open(path.buf, &r, err);
    if (rc == 0) {
        bare = xmalloc(url.len + 1);
        user = xmalloc(url.len + 1);
        pass = xmalloc(url.len + 1);
        url_split(url.buf, bare, user, pass);
        rc = pkg_repo_push(r, bare, user[0] ? user : NULL, pass, oid, err);
        explicit_bzero(pass, url.len + 1);
    }
    pkg_repo_close(r);
    pkg_secret_wipe(&url);
    sbuf_release(&path);
    free(bare);
    free(user);
    free(pass);
    return rc;
}

static int64_t backoff_ms(const struct pkg_mirror *m, int64_t attempts)
{
    int64_t d = m->base_ms;

    for (int64_t i = 1; i < attempts && d < m->max_ms; i++)
        d *= 2;
    return d < m->max_ms ? d : m->max_ms;
}

/* Records how a push of <d> ended. The password never reaches the message: libgit2's errors
 * name the URL it was given, which has none. */
static void push_record(struct pkg_mirror *m, const struct due *d, int rc, const char *oid,
                        const struct err *perr)
{
    int64_t now = (int64_t)time_wall_ms();
    struct err err = {0};
    int wrc;

    if (rc == 0) {
        struct store_val v[] = {SV_INT(d->gen), SV_INT(now), SV_CSTR(oid), SV_CSTR(d->ws),
                                SV_CSTR(d->pid)};

        wrc = store_exec1(m->s,
                          "UPDATE pkg_mirrors SET pushed_gen = ?, attempts = 0, next_at = 0,"
                          " last_push_at = ?, pushed_commit = ?, last_error = NULL"
                          " WHERE workspace_id = ? AND project_id = ?",
                          v, ARRAY_LEN(v), NULL, &err);
        LOG_INFO(&mirror_log, "pkg.mirror.pushed", LF_STR("project", d->pid),
                 LF_STR("commit", oid));
    } else {
        char msg[ERROR_SHOWN + 1];
        struct store_val v[] = {SV_INT(now + backoff_ms(m, d->attempts + 1)), SV_CSTR(msg),
                                SV_CSTR(d->ws), SV_CSTR(d->pid)};

        snprintf(msg, sizeof(msg), "%s", perr->msg);
        wrc = store_exec1(m->s,
                          "UPDATE pkg_mirrors SET attempts = attempts + 1, next_at = ?,"
                          " last_error = ? WHERE workspace_id = ? AND project_id = ?",
                          v, ARRAY_LEN(v), NULL, &err);
        LOG_WARN(&mirror_log, "pkg.mirror.failed", LF_STR("project", d->pid), LF_STR("error", msg),
                 LF_INT("attempts", d->attempts + 1));
    }
    if (wrc < 0)
        LOG_ERROR(&mirror_log, "pkg.mirror.record_failed", LF_STR("project", d->pid),
                  LF_STR("error", err.msg));
}

/* Pushes every mirror due now; returns when the next one is due (wall ms, 0: none pending). */
static int64_t push_due(struct pkg_mirror *m)
{
    struct arena *a = arena_new(&(struct arena_opts){.chunk = 64 << 10, .budget = 8 << 20});
    struct store_rows *rows = NULL;
    struct err err = {0};
    int64_t now = (int64_t)time_wall_ms(), next = 0;

    if (store_read1(m->s, a,
                    "SELECT workspace_id, project_id, url_sealed, gen, attempts, next_at"
                    " FROM pkg_mirrors WHERE gen > pushed_gen ORDER BY next_at LIMIT 64",
                    NULL, 0, &rows, &err) < 0) {
        LOG_ERROR(&mirror_log, "pkg.mirror.read_failed", LF_STR("error", err.msg));
        arena_free(a);
        return now + m->base_ms;
    }
    for (size_t i = 0, pushed = 0; i < rows->nrows; i++) {
        struct due d = {store_cell(rows, i, 0)->s.ptr, store_cell(rows, i, 1)->s.ptr,
                        store_cell(rows, i, 2)->s, store_cell(rows, i, 3)->i,
                        store_cell(rows, i, 4)->i};
        int64_t at = store_cell(rows, i, 5)->i;
        char oid[PKG_OID_HEX + 1] = "";
        struct err perr = {0};

        if (at > now || pushed == BATCH) {
            next = next == 0 || at < next ? (at > now ? at : now) : next;
            continue;
        }
        push_record(m, &d, push_one(m, &d, oid, &perr), oid, &perr);
        pushed++;
        next = now; /* look again: more may have come while pushing */
    }
    arena_free(a);
    return next;
}

static void *pusher(void *arg)
{
    struct pkg_mirror *m = arg;

    pthread_mutex_lock(&m->mu);
    while (!m->stop) {
        int64_t next, wait_ms;

        m->kicked = false;
        pthread_mutex_unlock(&m->mu);
        next = push_due(m);
        pthread_mutex_lock(&m->mu);
        if (m->stop || m->kicked)
            continue;
        wait_ms = next == 0 ? IDLE_WAIT_MS : next - (int64_t)time_wall_ms();
        if (wait_ms > 0)
            (void)cond_wait_until(&m->cv, &m->mu, time_mono_ns() + (uint64_t)wait_ms * 1000000ull);
    }
    pthread_mutex_unlock(&m->mu);
    return NULL;
}

void pkg_mirror_start(struct pkg_mirror *m)
{
    ASSERT(pthread_create(&m->thread, NULL, pusher, m) == 0);
    m->started = true;
}

void pkg_mirror_free(struct pkg_mirror *m)
{
    if (m == NULL)
        return;
    if (m->started) {
        pthread_mutex_lock(&m->mu);
        m->stop = true;
        pthread_cond_signal(&m->cv);
        pthread_mutex_unlock(&m->mu);
        pthread_join(m->thread, NULL);
    }
    pthread_cond_destroy(&m->cv);
    pthread_mutex_destroy(&m->mu);
    free(m->root);
    free(m);
}

/* ---------------------------------------------------------------- status */

int pkg_mirror_get(struct pkg_mirror *m, const char *ws, const char *pid,
                   struct pkg_mirror_state *out, struct err *err)
{
    struct arena *a = arena_new(&(struct arena_opts){.chunk = 16 << 10, .budget = 1 << 20});
    struct store_rows *r = NULL;
    int rc = store_read1(m->s, a,
                         "SELECT url_shown, CASE WHEN gen > pushed_gen THEN 1 ELSE 0 END, "
                         "attempts, next_at, last_push_at,"
                         " pushed_commit, last_error FROM pkg_mirrors"
                         " WHERE workspace_id = ? AND project_id = ?",
                         (struct store_val[]){SV_CSTR(ws), SV_CSTR(pid)}, 2, &r, err);

    memset(out, 0, sizeof(*out));
    if (rc == 0 && r->nrows == 1) {
        const struct store_val *c = r->vals;

        out->configured = true;
        snprintf(out->url, sizeof(out->url), SLICE_FMT, SLICE_ARG(c[0].s));
        out->pending = c[1].i != 0;
        out->attempts = c[2].i;
        out->next_at_ms = c[3].i;
        out->last_push_ms = c[4].type == STORE_T_INT ? c[4].i : 0;
        if (c[5].type == STORE_T_TEXT)
            snprintf(out->commit, sizeof(out->commit), SLICE_FMT, SLICE_ARG(c[5].s));
        if (c[6].type == STORE_T_TEXT)
            snprintf(out->error, sizeof(out->error), SLICE_FMT, SLICE_ARG(c[6].s));
    }
    arena_free(a);
    return rc;
}
