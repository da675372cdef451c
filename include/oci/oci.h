/*
 * oci: OCI images and registries (issue 7). Writes images as the OCI image specification
 * lays them out (reproducible layers, config, manifest, an image layout on disk), and moves
 * them to and from any registry that speaks the OCI distribution specification: slipway's
 * own (src/reg) and standard ones. The builder pushes with it; the deployer pulls with it.
 *
 * Every call blocks on the disk or the network: workers only.
 */
#ifndef SLIPWAY_OCI_H
#define SLIPWAY_OCI_H

#include "base/base.h"

/* ================================================================ images (layer.c, image.c) */

/* Media types this module writes and reads. */
#define OCI_MT_LAYER_TAR  "application/vnd.oci.image.layer.v1.tar"
#define OCI_MT_LAYER_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define OCI_MT_LAYER_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"
#define OCI_MT_CONFIG     "application/vnd.oci.image.config.v1+json"
#define OCI_MT_MANIFEST   "application/vnd.oci.image.manifest.v1+json"
#define OCI_MT_INDEX      "application/vnd.oci.image.index.v1+json"
/* Annotations: the tag in index.json, and where an image's source came from. */
#define OCI_ANN_REF_NAME "org.opencontainers.image.ref.name"
#define OCI_ANN_SOURCE   "org.opencontainers.image.source"
#define OCI_ANN_REVISION "org.opencontainers.image.revision"

/* "sha256:" + 64 lower-case hex digits + NUL. */
#define OCI_DIGEST_SIZE 72
/* Default compression levels: measured by tests/tools/oci-layer-bench.c (docs/images.md). */
#define OCI_GZIP_LEVEL_DEFAULT 1
#define OCI_ZSTD_LEVEL_DEFAULT 3

enum oci_compression { OCI_COMP_GZIP, OCI_COMP_ZSTD, OCI_COMP_NONE };

/* How a layer's tar is made. Zero-initialised is the common case: gzip at the default
 * level, entries at the layer's root, owned by 0:0, every mtime the epoch. */
struct oci_layer_opts {
    enum oci_compression compression;
    int level;          /* 0 = OCI_GZIP_LEVEL_DEFAULT / OCI_ZSTD_LEVEL_DEFAULT */
    const char *prefix; /* where the tree goes inside the layer, e.g. "app/"; NULL = root */
    uint32_t uid, gid;  /* recorded for every entry taken from the host (no user names) */
    int64_t mtime;      /* seconds since the epoch recorded for every entry; >= 0 */
    bool keep_setid;    /* keep setuid, setgid and sticky bits (dropped by default) */
};

/* A blob as the image specification describes it. */
struct oci_descriptor {
    char media_type[64];
    char digest[OCI_DIGEST_SIZE];
    uint64_t size;
};

/* A layer: its blob (compressed) and the digest of its uncompressed tar. */
struct oci_layer {
    struct oci_descriptor blob;
    char diff_id[OCI_DIGEST_SIZE];
};

/* One entry of a layer assembled from several places: <host_path> (a file, a symlink or a
 * directory, taken recursively) appears at <path> inside the layer, e.g. {"etc/app.json",
 * "/tmp/x/config.json"}. */
struct oci_layer_entry {
    const char *path;
    const char *host_path;
};

/* Writes the tree under <src_dir> as a reproducible layer into <store>/blobs/sha256/<hex>
 * (<store> is an image layout directory or any directory used as one: created as needed).
 * Entries are sorted bytewise, with <opts>' owner and mtime and no user names; regular files,
 * directories and symlinks (stored as symlinks, never followed) are kept, hard links become
 * separate files, sockets, fifos and devices are skipped. The tar is hashed and compressed
 * as it is written to a temporary file in <store>/blobs, fsynced and renamed into place; a
 * blob already there is kept. Fills *out. ERR_NOTFOUND when <src_dir> is missing, ERR_INVALID
 * on bad options, ERR_CONFLICT when a file changes size while read, ERR_IO from the disk.
 * Blocks: workers only. */
int oci_layer_from_dir(const char *src_dir, const struct oci_layer_opts *opts, const char *store,
                       struct oci_layer *out, struct err *err) APP_MUST_CHECK;
/* The same for <n> entries from anywhere on the host (opts->prefix goes before each path).
 * Directories that entries imply but do not name are recorded as 0:0, 0755, so that a layer
 * adding etc/app.json does not change who owns /etc. ERR_INVALID for an empty path, one with
 * a ".." or "." component, or a path given twice. */
int oci_layer_from_entries(const struct oci_layer_entry *entries, size_t n,
                           const struct oci_layer_opts *opts, const char *store,
                           struct oci_layer *out, struct err *err) APP_MUST_CHECK;

struct oci_kv {
    const char *key;
    const char *value;
};

/* The runtime part of an image's configuration. Strings may be NULL (not set). */
struct oci_image_config {
    const char *arch;       /* NULL = "amd64" (or the base image's) */
    const char *os;         /* NULL = "linux" (or the base image's) */
    const char *user;       /* "10001" or "10001:10001" */
    const char *const *env; /* "NAME=value" */
    size_t n_env;
    const char *const *entrypoint;
    size_t n_entrypoint;
    const char *const *cmd;
    size_t n_cmd;
    const char *workdir;
    uint16_t port; /* exposed as "<port>/tcp"; 0 = none */
    const struct oci_kv *labels;
    size_t n_labels;
};

/* One history entry of a read image. */
struct oci_history {
    const char *created;
    const char *created_by;
    const char *comment;
    bool empty_layer;
};

/* An image read back by oci_layout_read(); everything lives in the arena given there. */
struct oci_image {
    const char *layout_dir;
    struct oci_descriptor manifest;
    struct oci_descriptor config_blob;
    struct oci_layer *layers; /* with the diff_ids of the config's rootfs */
    size_t n_layers;
    struct oci_image_config config;
    struct oci_history *history;
    size_t n_history;
    struct oci_kv *annotations; /* the manifest's */
    size_t n_annotations;
    const char *created; /* the config's, or NULL */
};

/* What oci_image_write() assembles. */
struct oci_image_spec {
    struct oci_image_config config;
    /* NULL, or an image from oci_layout_read(): its layers come first (their blobs are
     * linked or copied from its layout), its history is kept, and its arch, os, user and
     * workdir are used when <config> leaves them unset; its env is kept with <config>'s
     * variables replacing those of the same name; its entrypoint and cmd are kept when
     * <config> sets neither; its labels are kept unless <config> sets the same key. */
    const struct oci_image *base;
    const struct oci_layer *layers; /* from oci_layer_from_*() */
    size_t n_layers;
    const char *const *created_by;    /* NULL or one history line per layer */
    const char *layer_store;          /* where <layers>' blobs are; NULL = already in the layout */
    const struct oci_kv *annotations; /* on the manifest, e.g. OCI_ANN_SOURCE/REVISION */
    size_t n_annotations;
    const char *tag; /* recorded in index.json as OCI_ANN_REF_NAME; NULL = untagged */
    int64_t created; /* seconds since the epoch for "created" (config and history) */
};

/* Writes <spec>'s config and manifest as blobs of the image layout <layout_dir> (created as
 * needed, with oci-layout), and points index.json at the manifest under <spec>'s tag
 * (replacing an older entry with that tag; entries kept sorted). JSON is written with sorted
 * keys and no spaces, so the same inputs always give the same digests. <digest_out> gets
 * the manifest's digest. ERR_NOTFOUND when a layer's blob is in neither <layout_dir> nor
 * where <spec> says, ERR_INVALID for bad input, ERR_IO from the disk. Blocks. */
int oci_image_write(const char *layout_dir, const struct oci_image_spec *spec,
                    char digest_out[OCI_DIGEST_SIZE], struct err *err) APP_MUST_CHECK;

/* oci_layout_read() flags: check the layers' sizes but do not hash them (their digests are
 * checked when they are pushed or extracted anyway). */
#define OCI_READ_TRUST_LAYERS 1u

/* Reads the image <ref> (a tag of index.json, or a manifest digest "sha256:…") from the
 * layout <layout_dir> into <a>: manifest, config and layers, each blob checked against the
 * size and digest that names it (layers hashed too unless OCI_READ_TRUST_LAYERS). ERR_NOTFOUND
 * when the layout, the ref or a blob is missing, ERR_INVALID when a blob is corrupt or a
 * document malformed, ERR_LIMIT when <a> is spent. Blocks. */
int oci_layout_read(struct arena *a, const char *layout_dir, const char *ref, unsigned flags,
                    struct oci_image **out, struct err *err) APP_MUST_CHECK;

/* ================================================================ registry client (client.c) */

/* An image reference as the distribution specification writes it, always naming the
 * registry: "host[:port]/repo[:tag][@sha256:<hex>]" (ref.c, fuzzed: fuzz/ociref). */
#define OCI_HOST_MAX 255
#define OCI_REPO_MAX 255
#define OCI_TAG_MAX  128
struct oci_ref {
    char host[OCI_HOST_MAX + 1];  /* "registry.example:5000", "127.0.0.1:8080", "[::1]:80" */
    char repo[OCI_REPO_MAX + 1];  /* "acme/app": lower-case components joined by '/' */
    char tag[OCI_TAG_MAX + 1];    /* "" when the reference has none */
    char digest[OCI_DIGEST_SIZE]; /* "" when the reference has none */
};
/* Parses <s> into <out>. The first component is the registry host: it must hold a '.' or
 * a ':' or be "localhost" (no implied default registry). Neither tag nor digest: the tag is
 * "latest". ERR_INVALID naming the part that is wrong. */
int oci_ref_parse(struct slice s, struct oci_ref *out, struct err *err) APP_MUST_CHECK;
/* The reference a manifest request names: the digest when there is one, else the tag. */
const char *oci_ref_reference(const struct oci_ref *r);
/* Whether <s> is "sha256:" and 64 lower-case hex digits (safe to put in a path). */
bool oci_digest_valid(struct slice s);
/* One component of a repository name, as the distribution specification has it:
 * [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)* */
bool oci_name_component_valid(struct slice c);

struct oci_client;
struct oci_client_opts {
    const char *username;   /* with <password>: Basic, or the token endpoint's Basic login */
    const char *password;   /* never in a message or a log line */
    const char *token;      /* instead of a password: a bearer token sent as it is */
    bool insecure_loopback; /* plain http to 127.0.0.1, ::1 and localhost (tests, benches) */
    uint64_t timeout_ms;    /* per request, 0 = 10 minutes; connecting: 10 s */
    uint64_t chunk_bytes;   /* blobs larger than this go up in PATCH chunks of this size;
                               0 = 64 MiB */
};
/* A registry client: one libcurl handle (connections are reused between requests) and the
 * bearer tokens it got, cached per scope. Copies what it keeps of <opts>. Blocking, and one
 * thread at a time. *out belongs to the caller (oci_client_free()). */
int oci_client_new(const struct oci_client_opts *opts, struct oci_client **out,
                   struct err *err) APP_MUST_CHECK;
void oci_client_free(struct oci_client *c); /* NULL is fine */

struct oci_push_stats {
    uint64_t blobs_uploaded, blobs_present, blobs_mounted, bytes_uploaded, manifests;
};
/* Pushes the image that <src> (a tag in the layout's index.json annotations
 * "org.opencontainers.image.ref.name", or a manifest digest; NULL when the index holds one
 * image) names in the OCI image layout <layout_dir> to <dest>: blobs the repository lacks,
 * by cross-repository mount from <mount_from> (a repository on the same registry; NULL: no
 * mount) or by upload, then the manifest under dest's tag (or digest); an index's child
 * manifests go first, by digest. <digest_out> (may be NULL) gets the pushed manifest's
 * digest; <stats> (may be NULL) what happened. Errors name the registry, repository and
 * HTTP status: ERR_UNAUTHENTICATED (credentials refused), ERR_NOTFOUND (<src> not in the
 * layout), ERR_INVALID (a layout or manifest that does not parse), ERR_IO, ERR_UNAVAILABLE. */
int oci_push(struct oci_client *c, const char *layout_dir, const char *src,
             const struct oci_ref *dest, const char *mount_from, char digest_out[OCI_DIGEST_SIZE],
             struct oci_push_stats *stats, struct err *err) APP_MUST_CHECK;
/* Pulls <src> into the OCI image layout <layout_dir> (created when needed, blobs already
 * there kept): the manifest (OCI or Docker v2 schema 2; from an index or manifest list, the
 * linux/amd64 image), then its config and layers, each streamed to a temporary file and
 * renamed into blobs/sha256/ only once its size and digest are verified, and last
 * index.json naming the manifest with src's tag. <digest_out> (may be NULL) gets the
 * manifest's digest. Errors as oci_push(); a digest mismatch is ERR_INVALID. */
int oci_pull(struct oci_client *c, const struct oci_ref *src, const char *layout_dir,
             char digest_out[OCI_DIGEST_SIZE], struct err *err) APP_MUST_CHECK;

#endif
