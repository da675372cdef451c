/*
 * oci internals shared by its files.
 */
#ifndef SLIPWAY_OCI_INT_H
#define SLIPWAY_OCI_INT_H

#include "oci/oci.h"

/* ================================================================ images (layer.c, image.c) */

/* The blob store under an image layout (layer.c): <store>/blobs/sha256/<hex>, temporary
 * files in <store>/blobs. */
#define OCI_PATH_CAP 4096

/* Creates <store>/blobs/sha256 as needed. */
int oci_store_init(const char *store, struct err *err) APP_MUST_CHECK;
/* "<store>/blobs/sha256/<hex>"; ERR_INVALID for a bad digest or a path past OCI_PATH_CAP. */
int oci_blob_path(const char *store, const char *digest, char out[OCI_PATH_CAP],
                  struct err *err) APP_MUST_CHECK;
/* "sha256:<hex>" of the finished <md> (an EVP SHA-256 context) into <out>. */
struct evp_md_ctx_st;
int oci_digest_final(struct evp_md_ctx_st *md, char out[OCI_DIGEST_SIZE],
                     struct err *err) APP_MUST_CHECK;
/* Moves the fsynced file <tmp> to the blob <digest> of <store> unless that blob exists
 * (then <tmp> is removed: same name, same bytes), and fsyncs the directory. */
int oci_blob_publish(const char *store, const char *tmp, const char *digest,
                     struct err *err) APP_MUST_CHECK;
/* Stores <len> bytes as a blob of <store>; <digest_out> gets its digest. */
int oci_blob_put(const char *store, const void *data, size_t len, char digest_out[OCI_DIGEST_SIZE],
                 struct err *err) APP_MUST_CHECK;
/* Hashes the blob <digest> of <store> and checks its size is <size>: ERR_NOTFOUND when it
 * is missing, ERR_INVALID when its size or content differs. */
int oci_blob_verify(const char *store, const char *digest, uint64_t size,
                    struct err *err) APP_MUST_CHECK;
/* Makes the blob <digest> of <from> also a blob of <to>: a hard link, or a copy when the
 * two are on different file systems. Nothing to do when <to> has it. */
int oci_blob_link(const char *from, const char *to, const char *digest,
                  struct err *err) APP_MUST_CHECK;

/* ================================================================ registry client (client.c) */

#define OCI_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define OCI_MT_DOCKER_LIST     "application/vnd.docker.distribution.manifest.list.v2+json"
#define OCI_MANIFEST_MAX       ((size_t)4 << 20)

/* Whether <media_type> is an OCI index or a Docker manifest list. */
bool oci_media_is_index(struct slice media_type);

/* A WWW-Authenticate challenge: "Bearer realm=…,service=…,scope=…" or "Basic realm=…".
 * Fields the header lacks are "". */
struct oci_challenge {
    char scheme[16]; /* "bearer" or "basic", lower-cased */
    char realm[1024];
    char service[256];
    char scope[1024];
};
/* ERR_INVALID when <hdr> is not a challenge or a field does not fit. */
int oci_challenge_parse(struct slice hdr, struct oci_challenge *out,
                        struct err *err) APP_MUST_CHECK;

/* The URL an upload's Location names, in <a>: absolute as it is, "/v2/…" on <origin>
 * ("http://host:port"), with "digest=<digest>" added to its query when <digest> is set.
 * NULL when <a> is spent. */
char *oci_location_url(struct arena *a, const char *origin, struct slice location,
                       const char *digest);

/* From the parsed index or manifest list <index>, the linux/amd64 manifest's digest and
 * media type (slices into <index>). ERR_NOTFOUND naming the platforms it holds. */
int oci_platform_pick(const json_t *index, struct slice *digest, struct slice *media_type,
                      struct err *err) APP_MUST_CHECK;

#endif
