/*
 * reg: the built-in OCI registry (the OCI distribution specification, docs/registry.md).
 *
 * Content-addressed storage under one directory (blobs verified by SHA-256 while they
 * stream, written to a temporary file, fsynced and renamed), repositories named
 * "<workspace-id>/<name>[/...]" whose blobs, manifests and tags are links into that storage,
 * the /v2/ HTTP routes with bearer-token authentication (a JWT signed with the gateway's
 * keyring, granting pull/push per repository), and garbage collection.
 *
 * Threads: the routes parse and authorize on the request's loop and do every disk operation
 * on the worker pool. reg_gc() may run on any thread at the same time as requests.
 */
#ifndef SLIPWAY_REG_H
#define SLIPWAY_REG_H

#include "auth/auth.h"
#include "base/base.h"
#include "http/http.h"

struct reg_cfg {
    int64_t max_blob_bytes;   /* largest blob (or upload chunk total) accepted */
    int64_t upload_expiry_ms; /* an upload session untouched this long is removed by GC */
    int64_t gc_grace_ms;      /* an unreferenced blob younger than this is kept (pushes) */
    int64_t gc_interval_ms;   /* 0: no background GC (call reg_gc() yourself) */
    int64_t token_ttl_s;      /* lifetime of the tokens /v2/token issues */
};
/* The registry.* keys (bounds, defaults, docs) filling <target>. */
struct cfg_section reg_cfg_section(struct reg_cfg *target);

struct reg;
/* Opens (creating when needed) the registry stored under <root>. <cfg> NULL: the defaults.
 * Starts the background GC thread when cfg->gc_interval_ms > 0. On success *out belongs to
 * the caller (reg_free()). ERR_IO when <root> cannot be made or written. */
int reg_new(const char *root, const struct reg_cfg *cfg, struct reg **out,
            struct err *err) APP_MUST_CHECK;
/* After the HTTP server has stopped. NULL is fine. */
void reg_free(struct reg *r);

/* ---------------------------------------------------------------- access */

/* What a credential may do: the workspaces its user belongs to; <push> when the role there
 * allows pushing (USER or ADMIN). */
struct reg_member {
    const char *workspace;
    bool push;
};
struct reg_principal {
    const char *user_id;
    const struct reg_member *members;
    size_t nmembers;
};
/* Blocking (called on a worker): checks <secret> (an API token "slp_…" or an access JWT)
 * and fills <out> in <a>. ERR_UNAUTHENTICATED when it does not check out. */
typedef int reg_login_fn(void *arg, struct arena *a, struct slice secret, struct reg_principal *out,
                         struct err *err);

struct reg_auth {
    struct auth_keyring *ring; /* signs and verifies registry tokens; borrowed */
    const char *issuer;        /* the public URL: realm "<issuer>/v2/token", token iss */
    reg_login_fn *login;       /* how /v2/token learns who is asking */
    void *login_arg;
    struct pool *workers; /* disk work and logins */
};

/* Adds /v2/ (the distribution API) and /v2/token to <router>. <r> and <auth>'s pointers must
 * outlive the server (<auth> itself is copied). */
int reg_routes_add(struct reg *r, struct http_router *router, const struct reg_auth *auth,
                   struct err *err) APP_MUST_CHECK;

/* ---------------------------------------------------------------- garbage collection */

struct reg_gc_stats {
    uint64_t blobs_kept, blobs_removed, bytes_removed;
    uint64_t uploads_removed, links_removed;
};
/* Blocking. Marks every blob a manifest of any repository references (the manifest itself,
 * its config and layers, an index's child manifests), removes the unmarked blobs older than
 * <grace_ms> (negative: cfg->gc_grace_ms), the links to blobs that are gone, and the upload
 * sessions untouched for cfg->upload_expiry_ms. Requests wait while it runs. */
int reg_gc(struct reg *r, int64_t grace_ms, struct reg_gc_stats *out,
           struct err *err) APP_MUST_CHECK;

#endif
