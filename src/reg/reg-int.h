/*
 * Private to the reg module and its tests: the parsers of names, references, digests and
 * ranges (names.c), the storage (store.c), tokens (token.c) and the HTTP side (http.c).
 */
#ifndef SLIPWAY_REG_INT_H
#define SLIPWAY_REG_INT_H

#include <openssl/evp.h>

#include "reg/reg.h"

#define REG_NAME_MAX     255 /* bytes of a repository name */
#define REG_TAG_MAX      128 /* bytes of a tag */
#define REG_HEX_LEN      64  /* SHA-256 as hex */
#define REG_DIGEST_LEN   71  /* "sha256:" and the hex */
#define REG_MANIFEST_MAX (4u << 20)
#define REG_AUDIENCE     "slipway-registry"

/* ---------------------------------------------------------------- names.c */

/* The spec's name grammar, [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)* per component, at least two
 * components ("<workspace-id>/<name>"), at most REG_NAME_MAX bytes. ERR_INVALID saying why. */
int reg_name_check(struct slice name, struct err *err) APP_MUST_CHECK;
/* The workspace of a checked name: its first component. */
struct slice reg_name_workspace(struct slice name);
/* [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127} */
bool reg_tag_valid(struct slice tag);
/* "sha256:<64 lower-case hex>" into <hex> (65 bytes with the NUL). ERR_INVALID, or
 * ERR_CONFLICT ("unsupported algorithm") for another algorithm of the right shape. */
int reg_digest_parse(struct slice s, char hex[REG_HEX_LEN + 1], struct err *err) APP_MUST_CHECK;
/* A PATCH's Content-Range "<start>-<end>" (inclusive; "bytes " or "bytes=" before it is
 * accepted). ERR_INVALID unless start <= end. */
int reg_content_range_parse(struct slice s, uint64_t *start, uint64_t *end,
                            struct err *err) APP_MUST_CHECK;
/* A GET's Range "bytes=<a>-<b>", "bytes=<a>-" or "bytes=-<n>" against a blob of <size>
 * bytes: *off and *len of the part to send. ERR_INVALID for a malformed header (ignore it),
 * ERR_LIMIT when it cannot be satisfied (416). */
int reg_range_parse(struct slice s, uint64_t size, uint64_t *off, uint64_t *len,
                    struct err *err) APP_MUST_CHECK;

/* What a /v2/<rest> path asks for. */
enum reg_op {
    REG_OP_BASE,       /* /v2/ */
    REG_OP_BLOB,       /* <name>/blobs/<digest> */
    REG_OP_UPLOAD_NEW, /* <name>/blobs/uploads/ */
    REG_OP_UPLOAD,     /* <name>/blobs/uploads/<id> */
    REG_OP_MANIFEST,   /* <name>/manifests/<reference> */
    REG_OP_TAGS,       /* <name>/tags/list */
};
struct reg_path {
    enum reg_op op;
    struct slice name; /* unchecked */
    struct slice ref;  /* digest, upload id or reference; unchecked */
};
/* Splits <rest> (the part after "/v2/", segments decoded, joined by '/'). ERR_NOTFOUND when
 * it is none of the above. */
int reg_path_parse(struct slice rest, struct reg_path *out) APP_MUST_CHECK;

/* ---------------------------------------------------------------- store.c */

struct reg {
    char *root;
    struct reg_cfg cfg;
    pthread_rwlock_t gc_lock; /* requests read, GC writes */
    pthread_t gc_thread;
    bool gc_running;
    pthread_mutex_t stop_lock;
    pthread_cond_t stop_cond;
    bool stopping;
    struct reg_auth auth; /* set by reg_routes_add */
};

/* A file being written by an upload: its descriptor, the bytes so far and, while every
 * byte of it went through here in order, the running SHA-256. */
struct reg_writer {
    int fd;
    uint64_t offset;
    EVP_MD_CTX *md; /* NULL: the digest is computed from the file at the end */
};

/* Test hook: called at named points of a write ("blob.before_rename"); a non-zero answer
 * makes the write fail there with ERR_IO, as a crash at that point would leave things. */
extern int (*reg_fail_point)(const char *where);

/* Blobs. <repo> is a checked name. */
int reg_blob_open(struct reg *r, struct slice repo, const char *hex, int *fd, uint64_t *size,
                  struct err *err) APP_MUST_CHECK;
int reg_blob_unlink(struct reg *r, struct slice repo, const char *hex,
                    struct err *err) APP_MUST_CHECK;
/* Links an existing blob of <from> into <repo> (a mount). ERR_NOTFOUND when <from> has none. */
int reg_blob_mount(struct reg *r, struct slice repo, struct slice from, const char *hex,
                   struct err *err) APP_MUST_CHECK;

/* Upload sessions. <id> is 36 chars and a NUL. */
int reg_upload_new(struct reg *r, struct slice repo, char id[37], struct err *err) APP_MUST_CHECK;
/* Opens session <id> of <repo> for appending (ERR_NOTFOUND when there is none, for that
 * repository). <hash>: keep a running digest (only right when the file is empty). */
int reg_upload_open(struct reg *r, struct slice repo, struct slice id, bool hash,
                    struct reg_writer *w, struct err *err) APP_MUST_CHECK;
int reg_writer_write(struct reg_writer *w, struct slice data, struct err *err) APP_MUST_CHECK;
void reg_writer_close(struct reg_writer *w);
/* Bytes in session <id> so far. */
int reg_upload_size(struct reg *r, struct slice repo, struct slice id, uint64_t *size,
                    struct err *err) APP_MUST_CHECK;
/* Ends session <id>: checks that its bytes have digest <hex> (ERR_INVALID otherwise; the
 * session is removed either way), makes them the blob (fsync, rename) and links it into
 * <repo>. <w> (may be NULL) is the session's open writer, whose running digest is used when
 * it has one; it is closed. */
int reg_upload_finish(struct reg *r, struct slice repo, struct slice id, const char *hex,
                      struct reg_writer *w, struct err *err) APP_MUST_CHECK;
int reg_upload_cancel(struct reg *r, struct slice repo, struct slice id,
                      struct err *err) APP_MUST_CHECK;

/* Manifests. */
#define REG_MT_OCI_MANIFEST    "application/vnd.oci.image.manifest.v1+json"
#define REG_MT_OCI_INDEX       "application/vnd.oci.image.index.v1+json"
#define REG_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define REG_MT_DOCKER_LIST     "application/vnd.docker.distribution.manifest.list.v2+json"
/* Stores <body> as a manifest of <repo> under <ref> (a tag or its digest), of <media_type>
 * (NULL or "": the document's mediaType). Fills <hex> with its digest. ERR_INVALID (not a
 * manifest), ERR_NOTFOUND (a blob or child manifest it references is not in <repo>: the
 * message names it), ERR_CONFLICT (<ref> is a digest the body does not have). */
int reg_manifest_put(struct reg *r, struct slice repo, struct slice ref, const char *media_type,
                     struct slice body, char hex[REG_HEX_LEN + 1], struct err *err) APP_MUST_CHECK;
/* Reads manifest <ref> of <repo> into <body> (which the caller releases), its media type
 * into <mt> and digest into <hex>. ERR_NOTFOUND. */
int reg_manifest_get(struct reg *r, struct slice repo, struct slice ref, struct sbuf *body,
                     char mt[128], char hex[REG_HEX_LEN + 1], struct err *err) APP_MUST_CHECK;
/* A digest: unlinks the manifest and every tag pointing to it; a tag: removes the tag. */
int reg_manifest_delete(struct reg *r, struct slice repo, struct slice ref,
                        struct err *err) APP_MUST_CHECK;
/* The tags of <repo> after <last> (ptr NULL: from the first), sorted, at most <n>, as a JSON
 * array into <out>; *more says whether others follow. ERR_NOTFOUND for an unknown repo. */
int reg_tags_list(struct reg *r, struct slice repo, struct slice last, size_t n, struct sbuf *out,
                  char *last_out, size_t last_cap, bool *more, struct err *err) APP_MUST_CHECK;

/* ---------------------------------------------------------------- token.c */

#define REG_PULL 1u
#define REG_PUSH 2u
/* "repository:<name>:<actions>" into its name and action bits (pull, push, delete and "*";
 * unknown actions are ignored). ERR_INVALID for anything else. */
int reg_scope_parse(struct slice scope, struct slice *name, unsigned *actions,
                    struct err *err) APP_MUST_CHECK;
/* The actions a verified registry token's grant list (the "role" claim: "<name>:<actions>"
 * separated by spaces) allows on <name>. */
unsigned reg_grants_for(struct slice grants, struct slice name);
/* Loop: the actions the request's bearer token allows on <name> (a registry token, or an
 * internal service token: its role in its workspace). 0 with *allowed, or
 * ERR_UNAUTHENTICATED when there is no valid token. */
int reg_authorize(struct reg *r, struct http_req *req, struct slice name, unsigned *allowed);
/* 401 UNAUTHORIZED with the Bearer challenge (and scope for <name> when ptr is set). */
void reg_challenge(struct reg *r, struct http_req *req, struct slice name, unsigned actions);
/* {"errors":[{"code":<code>,"message":<msg>}]} with <status>. */
void reg_respond_error(struct http_req *req, int status, const char *code, const char *msg);
/* GET /v2/token. */
void reg_token_handler(void *arg, struct http_req *req);

#endif
