/*
 * The registry object: configuration, its directory, and the background GC thread.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "reg-int.h"

static const struct log_ctx reg_log = {.svc = "registry"};

static const struct cfg_key reg_cfg_keys[] = {
    CFG_SIZE("registry.max_blob_bytes", struct reg_cfg, max_blob_bytes, 16LL << 30, 1 << 20,
             1LL << 40, 0, "Largest blob a push may upload (all chunks of one upload together)."),
    CFG_DURATION("registry.upload_expiry", struct reg_cfg, upload_expiry_ms, 24LL * 3600000, 0,
                 30LL * 86400000, 0,
                 "An upload session untouched for this long is removed by garbage collection."),
    CFG_DURATION("registry.gc_grace", struct reg_cfg, gc_grace_ms, 3600000, 0, 30LL * 86400000, 0,
                 "Age below which garbage collection keeps a blob no manifest references (a "
                 "push uploads its blobs before its manifest)."),
    CFG_DURATION("registry.gc_interval", struct reg_cfg, gc_interval_ms, 3600000, 0,
                 30LL * 86400000, 0, "How often garbage collection runs; 0 turns it off."),
    CFG_INT("registry.token_ttl", struct reg_cfg, token_ttl_s, 300, 30, 3600, 0,
            "Lifetime in seconds of the tokens /v2/token issues."),
};

struct cfg_section reg_cfg_section(struct reg_cfg *target)
{
    return (struct cfg_section){"registry", reg_cfg_keys, ARRAY_LEN(reg_cfg_keys), target};
}

static void cfg_defaults(struct reg_cfg *out)
{
    struct cfg *c = cfg_new();

    cfg_add(c, &(struct cfg_section){"registry", reg_cfg_keys, ARRAY_LEN(reg_cfg_keys), out});
    cfg_free(c); /* reg_cfg holds no strings */
}

static void *gc_main(void *arg)
{
    struct reg *r = arg;
    struct reg_gc_stats st;
    struct err err = {0};

    pthread_mutex_lock(&r->stop_lock);
    while (!r->stopping) {
        uint64_t at = time_mono_ns() + (uint64_t)r->cfg.gc_interval_ms * 1000000u;

        while (!r->stopping && cond_wait_until(&r->stop_cond, &r->stop_lock, at) == 0)
            ;
        if (r->stopping)
            break;
        pthread_mutex_unlock(&r->stop_lock);
        if (reg_gc(r, -1, &st, &err) < 0)
            LOG_ERROR(&reg_log, "registry.gc_failed", LF_STR("error", err.msg));
        else
            LOG_INFO(&reg_log, "registry.gc", LF_UINT("blobs_removed", st.blobs_removed),
                     LF_UINT("bytes_removed", st.bytes_removed),
                     LF_UINT("blobs_kept", st.blobs_kept),
                     LF_UINT("uploads_removed", st.uploads_removed),
                     LF_UINT("links_removed", st.links_removed));
        pthread_mutex_lock(&r->stop_lock);
    }
    pthread_mutex_unlock(&r->stop_lock);
    return NULL;
}

int reg_new(const char *root, const struct reg_cfg *cfg, struct reg **out, struct err *err)
{
    static const char *const subdirs[] = {"", "/blobs", "/blobs/sha256", "/uploads", "/repos"};
    struct reg *r;
    char path[4096];

    if (strlen(root) > 3000)
        return err_set(err, ERR_INVALID, "registry root: path too long");
    for (size_t i = 0; i < ARRAY_LEN(subdirs); i++) {
        snprintf(path, sizeof(path), "%s%s", root, subdirs[i]);
        if (mkdir(path, 0750) != 0 && errno != EEXIST)
            return err_set(err, ERR_IO, "registry: cannot create %s: %s", path, strerror(errno));
    }
    r = xcalloc(1, sizeof(*r));
    r->root = xstrdup(root);
    if (cfg != NULL)
        r->cfg = *cfg;
    else
        cfg_defaults(&r->cfg);
    pthread_rwlock_init(&r->gc_lock, NULL);
    pthread_mutex_init(&r->stop_lock, NULL);
    cond_init_mono(&r->stop_cond);
    if (r->cfg.gc_interval_ms > 0)
        r->gc_running = pthread_create(&r->gc_thread, NULL, gc_main, r) == 0;
    *out = r;
    return 0;
}

void reg_free(struct reg *r)
{
    if (r == NULL)
        return;
    pthread_mutex_lock(&r->stop_lock);
    r->stopping = true;
    pthread_cond_signal(&r->stop_cond);
    pthread_mutex_unlock(&r->stop_lock);
    if (r->gc_running)
        pthread_join(r->gc_thread, NULL);
    pthread_rwlock_destroy(&r->gc_lock);
    pthread_mutex_destroy(&r->stop_lock);
    pthread_cond_destroy(&r->stop_cond);
    free(r->root);
    free(r);
}
