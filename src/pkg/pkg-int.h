/* pkg: the packager's internals, shared by its files and its tests. */
#ifndef SLIPWAY_PKG_INT_H
#define SLIPWAY_PKG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "pkg/pkg.h"

/* ---------------------------------------------------------------- repo.c */

/*
 * pkg repo: the packager's storage layer, one bare git repository per project (libgit2).
 *
 * A repository lives at <root>/repos/<workspace-id>/<project-id>.git; both ids are slipway ids,
 * so no name can lead outside its workspace. Every commit moves refs/heads/main by
 * compare-and-swap: two writers (threads or processes) may race, the loser gets ERR_CONFLICT
 * and sees nothing of its attempt (objects are content-addressed and written atomically; the
 * ref moves by rename under a lock). Writes are fsynced (objects, refs, their directories):
 * GIT_OPT_ENABLE_FSYNC_GITDIR is set process-wide the first time this module touches libgit2
 * (lib_setup() in repo.c, run once through pthread_once by pkg_repo_init/open), and the
 * repository's config asks the git CLI for the same.
 *
 * A struct pkg_repo belongs to one thread at a time (libgit2 repository objects are not
 * thread-safe); threads that write the same repository each open their own. All calls block
 * on disk: run them on a worker (pool_run), never on a loop.
 *
 * Private to the pkg module until the lead merges it into include/pkg/pkg.h.
 */

#define PKG_OID_HEX 40
/* An <expected_head> saying "refs/heads/main must not exist yet" (the first commit). */
#define PKG_OID_NONE "0000000000000000000000000000000000000000"

struct pkg_repo;

/* <root>/<dir>/<workspace-id>/<project-id><ext>: where a project's files of one kind live
 * (repositories, keys). Both ids must be slugs (slug_valid: one path component, no dots or
 * slashes), so no name can reach another workspace's files; ERR_INVALID names the id and the
 * rule. */
int pkg_project_path(const char *root, const char *dir, struct slice workspace_id,
                     struct slice project_id, const char *ext, struct sbuf *out,
                     struct err *err) APP_MUST_CHECK;
/* mkdir -p for the directories above <path> (not <path> itself), new ones 0700. */
int pkg_mkdir_parents(const char *path, struct err *err) APP_MUST_CHECK;
/* Writes "<root>/repos/<workspace_id>/<project_id>.git" into <out> (replacing what it held).
 * ERR_INVALID naming the id when either is not a slug; ERR_LIMIT when <out> is too small. */
int pkg_repo_path(const char *root, struct slice workspace_id, struct slice project_id,
                  struct sbuf *out, struct err *err) APP_MUST_CHECK;

/* Creates the bare repository at <path> (parent directories 0700) with HEAD pointing at
 * refs/heads/main and the durability settings in its config; no commit. Succeeds without change
 * when a repository is there already. ERR_IO when the disk refuses. */
int pkg_repo_init(const char *path, struct err *err) APP_MUST_CHECK;

/* Opens the repository at <path>: *out is the caller's (pkg_repo_close()). ERR_NOTFOUND when
 * there is none. */
int pkg_repo_open(const char *path, struct pkg_repo **out, struct err *err) APP_MUST_CHECK;
void pkg_repo_close(struct pkg_repo *r); /* NULL is fine */

/* Writes refs/heads/main's commit into <oid> (40 hex + NUL). ERR_NOTFOUND before the first
 * commit. */
int pkg_repo_head(struct pkg_repo *r, char oid[PKG_OID_HEX + 1], struct err *err) APP_MUST_CHECK;

enum pkg_change_op {
    PKG_PUT,    /* the file at <path> gets <data> (created, or replaced) */
    PKG_DELETE, /* the file at <path> goes; a directory goes with everything under it */
};

/* <path> is relative, '/'-separated, without empty, "." or ".." segments, no ".git" segment
 * (in any case), no backslash or control byte, at most 1,024 bytes. */
struct pkg_change {
    enum pkg_change_op op;
    const char *path;
    struct slice data; /* PKG_PUT only */
};

struct pkg_author {
    const char *name;  /* non-empty, no '<', '>' or line break */
    const char *email; /* likewise */
};

enum pkg_commit_flags {
    /* A commit whose tree equals its parent's is ERR_CONFLICT "nothing to commit" unless this
     * is set: a write that changes nothing is usually a caller's mistake (a retried request),
     * and an empty commit would show up in every history as noise. */
    PKG_COMMIT_ALLOW_EMPTY = 1u << 0,
};

struct pkg_commit_req {
    const struct pkg_change *changes;
    size_t nchanges; /* applied in order: a later change to the same path wins */
    struct pkg_author author;
    const char *message; /* non-empty; a final newline is added when missing */
    /* NULL: build on refs/heads/main as it is when the call starts (and still fail with
     * ERR_CONFLICT if it moves before the ref update). 40 hex: only if main is at that commit.
     * PKG_OID_NONE: only if main does not exist yet. */
    const char *expected_head;
    unsigned flags; /* enum pkg_commit_flags */
};

/* Builds the tree of refs/heads/main plus <req>'s changes, writes the blobs, trees and the
 * commit (author <req->author>, committer "slipway <slipway@localhost>") and moves
 * refs/heads/main to it with a reflog entry, only if main is still where it was expected.
 * On success <oid_out> gets the new commit's 40 hex + NUL.
 * ERR_INVALID: a bad path, author or message, a put where a file would become a directory
 * (or the reverse). ERR_NOTFOUND: a delete of a path that is not there. ERR_CONFLICT: main
 * moved (retry from a fresh read), or nothing to commit. ERR_IO: the disk refused. */
int pkg_repo_commit(struct pkg_repo *r, const struct pkg_commit_req *req,
                    char oid_out[PKG_OID_HEX + 1], struct err *err) APP_MUST_CHECK;

/* The bytes of the file <path> at <rev> (NULL = HEAD; an oid, a prefix of one, a ref name),
 * copied into <a> with a NUL after them. ERR_NOTFOUND when the revision or the file does not
 * exist (or is a directory); ERR_LIMIT when <a>'s budget is spent. */
int pkg_repo_read(struct pkg_repo *r, const char *rev, const char *path, struct arena *a,
                  struct slice *out, struct err *err) APP_MUST_CHECK;

enum pkg_entry_kind { PKG_ENTRY_FILE, PKG_ENTRY_DIR };
/* <name> is valid during the call only. Returns false to stop the listing. */
typedef bool pkg_repo_list_fn(void *arg, const char *name, enum pkg_entry_kind kind);

/* Calls <fn> for each entry of directory <dir> (NULL or "" = the top) at <rev> (NULL = HEAD),
 * in git's order (by name). ERR_NOTFOUND when <rev> or <dir> does not exist or is a file. */
int pkg_repo_list(struct pkg_repo *r, const char *rev, const char *dir, pkg_repo_list_fn *fn,
                  void *arg, struct err *err) APP_MUST_CHECK;

struct pkg_log_entry {
    char oid[PKG_OID_HEX + 1];
    const char *author_name; /* these strings are valid during the callback only */
    const char *author_email;
    int64_t time;        /* author time, Unix seconds */
    int tz_offset_min;   /* the author's zone, minutes east of UTC */
    const char *message; /* whole message, without the final newline */
};
typedef bool pkg_repo_log_fn(void *arg, const struct pkg_log_entry *e); /* false: stop */

/* Calls <fn> for up to <limit> commits reachable from refs/heads/main (0 = no limit), newest
 * first. With <path_prefix> (a file or a directory; NULL or "" = all), only commits whose tree
 * differs from their first parent's under that path. No commit yet: no call and 0.
 * Uses the commit-graph file (pkg_repo_graph_write()) when there is one. */
int pkg_repo_log(struct pkg_repo *r, const char *path_prefix, size_t limit, pkg_repo_log_fn *fn,
                 void *arg, struct err *err) APP_MUST_CHECK;

/* Rewrites objects/info/commit-graph for every commit reachable from refs/heads/main, so that
 * history walks need not parse commit objects for parents and dates. Run it off the write
 * path (every few hundred commits: see the figures in the report); the old graph stays valid
 * for the commits it covers, so a stale one costs speed, never correctness. */
int pkg_repo_graph_write(struct pkg_repo *r, struct err *err) APP_MUST_CHECK;

/* Pushes main to <url> (https://, ssh://, file:// or a path; without credentials in it),
 * forced: the remote becomes an exact copy. <user> (may be NULL) and <pass> answer an HTTP
 * authentication request once. <oid> gets the commit pushed. ERR_CONFLICT when the remote
 * refuses the update, the network and authentication errors of libgit2 otherwise. Reads only:
 * no lock is needed against writers. */
int pkg_repo_push(struct pkg_repo *r, const char *url, const char *user, const char *pass,
                  char oid[PKG_OID_HEX + 1], struct err *err) APP_MUST_CHECK;

/* ---------------------------------------------------------------- yaml.c */

/*
 * pkg yaml: values documents (base/values.yaml, environments/<env>/values.yaml) that humans
 * edit by hand and slipway edits after them. A human's comments, key order, quoting, blank
 * lines and indentation must survive slipway's writes, so a document is kept as its source
 * text: libfyaml's event parser checks it and gives every node its byte span, and each edit
 * splices new text into the old at those spans, then parses the result again. Untouched
 * bytes are never regenerated, so an unedited document emits byte-for-byte as it was read.
 *
 * Why not libfyaml's emitter: 0.7.12 with FYPCF_PARSE_COMMENTS + FYECF_OUTPUT_COMMENTS keeps
 * only end-of-line comments (with their spacing squeezed to one blank); it drops comments at
 * the top of the file, comments on their own line above a key or between sequence items,
 * blank lines, and a comment after the last node (which it glues onto a literal block's last
 * line: "world# end"); it reindents "key:\n  - item" sequences and breaks flow sequences
 * over several lines. Splicing keeps all of those.
 *
 * Values documents need a small subset of YAML, and the rest is refused at parse time:
 * anchors, aliases (the "billion laughs" expansion) and tags; more than one document; keys
 * that are not scalars or are empty; duplicate keys (compared by their text). Scalars resolve by
 * the YAML 1.2 core schema: plain null/~/"" are null, true/false (any of three casings) are
 * booleans, decimal/0o/0x digits are integers, decimal with '.' or exponent are floats (.inf and
 * .nan parse but have no JSON form); "yes", "no", "on", "off" are strings. Quoted and block scalars
 * are always strings.
 *
 * Paths name a node from the root: keys separated by '.', sequence items by "[N]":
 *   "services.api.port"   "services.api.env[2].value"   "items[0][1]"
 * A key holding '.', '[', ']', '"' or '\\' is written in double quotes
 * with '\\' escaping '"' and '\\': services."a.b".port. The empty path "" is the root.
 * Paths are at most 1000 bytes and 32 segments.
 *
 * Edits and their text:
 *   - a scalar replacing a scalar takes exactly its place; a comment after it stays;
 *   - a new key goes after the mapping's last entry (after that entry's end-of-line comment),
 *     at the column of the mapping's first key; a new sequence item likewise after the last;
 *   - a non-empty mapping/sequence from JSON is written in block style, 2-space indent, keys
 *     in the JSON object's order; inside a flow collection it is written in flow style;
 *   - strings are plain when that reads back as the same string, else double-quoted
 *     (numbers, booleans, null, yes/no/on/off, ": ", " #", leading indicators, spaces at
 *     either end, control characters);
 *   - deleting a block entry removes its lines (the lines of comments above it stay);
 *     deleting the last entry leaves "{}" or "[]".
 * What is not kept: a comment inside a value that is replaced (a block scalar's header
 * comment, comments between the entries of a replaced mapping); a flow collection that gains
 * or loses an entry is rewritten from its JSON form (block style when its parent is block:
 * "m: {a: 1}" plus b gives "m:\n  a: 1\n  b: 2"), losing comments inside it; the blank
 * lines a block scalar with keep/strip chomping swallows, when that scalar is replaced.
 *
 * A document is owned by one thread at a time; nothing is shared between documents.
 */

struct pkg_yaml;
struct pkg_yaml_node;

/* Limits checked on parse and again after every edit. 0 picks the default. */
struct pkg_yaml_limits {
    size_t max_bytes;   /* default 1 MiB */
    unsigned max_depth; /* nesting of mappings and sequences; default 32, at most 60 */
};

enum pkg_yaml_type {
    PKG_YAML_NULL,
    PKG_YAML_BOOL,
    PKG_YAML_INT,
    PKG_YAML_FLOAT,
    PKG_YAML_STRING,
    PKG_YAML_MAP,
    PKG_YAML_SEQ,
};

/* Parses <text> (copied; the caller keeps it). On success *out is a new document the caller
 * frees with pkg_yaml_free(); an empty text (or only comments) is a document without a root.
 * ERR_INVALID with "line L, column C: what" (1-based) for bad YAML or a refused feature, or
 * naming the limit ("document is over 1048576 bytes", "nested deeper than 32 levels"). */
int pkg_yaml_parse(struct slice text, const struct pkg_yaml_limits *lim, struct pkg_yaml **out,
                   struct err *err) APP_MUST_CHECK;
void pkg_yaml_free(struct pkg_yaml *doc);

/* Appends the document's text to <out>: byte-for-byte what was parsed, with the edits since
 * spliced in. ERR_LIMIT when <out> is full (its sticky error). */
int pkg_yaml_emit(const struct pkg_yaml *doc, struct sbuf *out, struct err *err) APP_MUST_CHECK;

/* ------------------------------------------------------------------ reading */

/* The node at <path>. Borrowed: valid until the next edit of <doc> or pkg_yaml_free().
 * ERR_NOTFOUND when a key or index along the way does not exist (an empty document has no
 * root), ERR_INVALID for a malformed path or a key step into a sequence and so on. */
int pkg_yaml_get(const struct pkg_yaml *doc, const char *path, const struct pkg_yaml_node **out,
                 struct err *err) APP_MUST_CHECK;
/* Typed getters: ERR_NOTFOUND as above, ERR_INVALID ("services.api.port is a string, not an
 * integer") when the node has another type. get_str takes any scalar and gives its text
 * (borrowed like the node, NUL-terminated). */
int pkg_yaml_get_str(const struct pkg_yaml *doc, const char *path, struct slice *out,
                     struct err *err) APP_MUST_CHECK;
int pkg_yaml_get_int(const struct pkg_yaml *doc, const char *path, int64_t *out,
                     struct err *err) APP_MUST_CHECK;
int pkg_yaml_get_bool(const struct pkg_yaml *doc, const char *path, bool *out,
                      struct err *err) APP_MUST_CHECK;
/* Whether <path> exists and has that type (false when it does not exist). */
bool pkg_yaml_is_null(const struct pkg_yaml *doc, const char *path);
bool pkg_yaml_is_map(const struct pkg_yaml *doc, const char *path);
bool pkg_yaml_is_seq(const struct pkg_yaml *doc, const char *path);

enum pkg_yaml_type pkg_yaml_node_type(const struct pkg_yaml_node *n);
/* A scalar's text (NUL-terminated); {NULL, 0} for a mapping or sequence. */
struct slice pkg_yaml_node_scalar(const struct pkg_yaml_node *n);
/* Entries of a mapping or items of a sequence; 0 for a scalar. */
size_t pkg_yaml_node_len(const struct pkg_yaml_node *n);
/* The <i>th key of a mapping, in document order ({NULL, 0} past the end or for a sequence). */
struct slice pkg_yaml_node_key(const struct pkg_yaml_node *n, size_t i);
/* The <i>th value of a mapping or item of a sequence; NULL past the end. */
const struct pkg_yaml_node *pkg_yaml_node_at(const struct pkg_yaml_node *n, size_t i);
/* 1-based line of the node's first byte, for error messages. */
int pkg_yaml_node_line(const struct pkg_yaml_node *n);

/* The document (or the node at <path>) as JSON for schema validation: a new reference the
 * caller json_decref()s. ERR_INVALID for a value JSON cannot hold (.inf, .nan, an integer
 * past 64 bits), naming its line. An empty document gives JSON null. */
int pkg_yaml_to_json(const struct pkg_yaml *doc, json_t **out, struct err *err) APP_MUST_CHECK;
/* pkg_yaml_parse() of <text> (no source name), then pkg_yaml_to_json(): *out is the caller's. */
int pkg_yaml_json(struct slice text, json_t **out, struct err *err) APP_MUST_CHECK;
int pkg_yaml_node_to_json(const struct pkg_yaml_node *n, json_t **out,
                          struct err *err) APP_MUST_CHECK;

/* ------------------------------------------------------------------ writing */

/* Set the value at <path>, creating missing mappings along the way (a missing key may be
 * added to a mapping, a missing item only at index == length, which appends). An existing
 * value of any type is replaced. ERR_CONFLICT when a step would go through a scalar
 * ("services.api is a string") and also when the spliced text would not read back as the
 * value set (a corner of hand-written YAML, e.g. a block scalar indented less than its key:
 * the user is told to edit that part by hand), ERR_NOTFOUND for an index past the end,
 * ERR_INVALID for a bad path or when the new text breaks a limit. On any error the document is
 * unchanged. */
int pkg_yaml_set_str(struct pkg_yaml *doc, const char *path, struct slice value,
                     struct err *err) APP_MUST_CHECK;
int pkg_yaml_set_int(struct pkg_yaml *doc, const char *path, int64_t value,
                     struct err *err) APP_MUST_CHECK;
int pkg_yaml_set_bool(struct pkg_yaml *doc, const char *path, bool value,
                      struct err *err) APP_MUST_CHECK;
int pkg_yaml_set_null(struct pkg_yaml *doc, const char *path, struct err *err) APP_MUST_CHECK;
/* Any JSON value (object → mapping, array → sequence, real → float). Strings must be valid
 * UTF-8 (jansson's are). <value> is borrowed. */
int pkg_yaml_set_json(struct pkg_yaml *doc, const char *path, const json_t *value,
                      struct err *err) APP_MUST_CHECK;
/* Removes a mapping key (with its value) or a sequence item. ERR_NOTFOUND when absent,
 * ERR_INVALID for the root. */
int pkg_yaml_delete(struct pkg_yaml *doc, const char *path, struct err *err) APP_MUST_CHECK;
/* <v> as YAML text ending in a newline, written as edits write values: a mapping or sequence
 * in block style with a 2-space indent, strings quoted only where they would not read back as
 * the same strings. For files slipway writes whole (rendered manifests). */
void pkg_yaml_write_json(struct sbuf *out, const json_t *v);

/* ---------------------------------------------------------------- jschema.c */

/* pkg: JSON Schema validation of values documents (the subset the schema files use). */

/*
 * Checks <doc> against <schema>, a JSON Schema (draft 2020-12) using only these keywords:
 * type (a name or a list), enum, const, properties, required, additionalProperties (false or
 * a schema), propertyNames, items, minItems, maxItems, minLength, maxLength, pattern (POSIX
 * extended, anchored only where the pattern says so, as in JSON Schema), minimum, maximum,
 * oneOf, anyOf, $ref to "#/$defs/<name>", $defs, and the annotations title, description,
 * default, $schema, $id, $comment. A schema using anything else is ERR_INTERNAL (a bug in our
 * schema, not in the document).
 *
 * 0, or ERR_INVALID with the first failure as "<key>: <rule>", the key written as a path of
 * the document: services.api.port, services.api.env[2], or "(document)" for the top.
 */
int pkg_jschema_check(const json_t *schema, const json_t *doc, struct err *err) APP_MUST_CHECK;

/* ---------------------------------------------------------------- render.c */

/*
 * pkg render: the plain Kubernetes manifests of one environment, from its two values files.
 * What is rendered, per service of environments/<env>/values.yaml that has an image:
 * Deployment, Service, HTTPRoute, NetworkPolicy, and when it applies a HorizontalPodAutoscaler
 * and a PodDisruptionBudget; per base cron entry a CronJob; a ConfigMap of the literal
 * variables and a SealedSecret-style placeholder of the encrypted ones; a Namespace; and
 * kustomization.yaml listing them. The output depends on nothing but the inputs: same values,
 * same bytes (golden files hold it).
 */

struct pkg_render_ctx {
    const char *project_id;      /* slipway id, as an annotation */
    const char *project_slug;    /* DNS label: part-of label, names, platform domains */
    const char *env;             /* environment name, a DNS label */
    const char *workspace_slug;  /* DNS label; the namespace is <workspace>-<project>-<env> */
    const char *workload_domain; /* "apps.example.com" */
};

/* One rendered file: <path> relative to the repository's top
 * ("environments/production/manifests/deployment-api.yaml"), <data> its bytes. */
struct pkg_file_out {
    const char *path;
    struct slice data;
};

/* Renders environment ctx->env from <base> and <env> (both schema-valid JSON of the values
 * files). On success *files (sorted by path) and every byte they point to live in <a>.
 * ERR_INVALID for a bad ctx field, a service in <env> that base does not have, a variable
 * naming a shared variable, database or service that does not exist, a namespace over 63
 * bytes; ERR_LIMIT when <a>'s budget is spent. */
int pkg_render_env(const json_t *base, const json_t *env, const struct pkg_render_ctx *ctx,
                   struct pkg_file_out **files, size_t *nfiles, struct arena *a,
                   struct err *err) APP_MUST_CHECK;

/* A service's requests (its limits too), as Kubernetes quantities. */
struct pkg_resources {
    const char *tier;         /* small, medium, large, custom, or the environment's (ECO, …) */
    const char *cpu, *memory; /* "250m", "1", "256Mi", …; NULL when a custom tier leaves one out */
    char buf[2][24];          /* what cpu and memory point to when they are the environment's */
};
/* The resources of a service whose entry in the environment's values is <esvc> (may be NULL):
 * its resources.tier's (custom: its cpu and memory), else, when it has no resources key, the
 * environment's `resources` <env_res> (NULL: none) as "<cpuMillicores>m"/"<memoryMB>Mi",
 * else the small tier. The strings are borrowed from <esvc>, <env_res>, *out or static. The
 * manifests and the reads both take them from here. */
void pkg_resources_pick(const json_t *esvc, const json_t *env_res, struct pkg_resources *out);

/* "<svc>-<env>-<project>.<wd>" into <out>: the platform domain of a service whose values name
 * none (services.<svc>.platformDomain). ERR_INVALID when it would pass PKG_HOST_MAX bytes. */
int pkg_platform_default(const char *svc, const char *env, const char *project, const char *wd,
                         char out[PKG_HOST_MAX + 1], struct err *err) APP_MUST_CHECK;

/* ---------------------------------------------------------------- read.c */

/*
 * pkg read: what an environment wants, base/values.yaml and environments/<env>/values.yaml
 * merged by render.c's rules (include/pkg/pkg.h, "reading what is desired"). Reads only, like
 * pkg_op_env_list and pkg_op_history: no lock; both files come from the one commit main is at
 * when the call starts, so a write meanwhile is seen whole or not at all. Blocks on disk: a
 * worker's call. Thread-safe.
 */

enum pkg_quantity { PKG_QTY_CPU, PKG_QTY_MEMORY };
/* Parses a resources amount as the env schema allows it: CPU "2", "0.5", "500m", "1.5m" into
 * millicores (a fraction of a millicore rounds up); memory "512Ki", "512Mi", "1Gi" into
 * bytes. ERR_INVALID saying which forms are allowed (the caller names the key), also past
 * 2^64. Nothing else ("300M", "1e3", "") is taken: the schema refuses those too. */
int pkg_quantity_parse(const char *s, enum pkg_quantity kind, uint64_t *out,
                       struct err *err) APP_MUST_CHECK;

/* The values file <path> at <rev> of <r> as JSON (*out the caller's). ERR_NOTFOUND when the
 * file is not there, ERR_INVALID when it is not YAML a values file may hold. */
int pkg_values_at(struct pkg_repo *r, const char *rev, const char *path, struct arena *a,
                  json_t **out, struct err *err) APP_MUST_CHECK;

struct pkg_project; /* ops.c, below */

/* pkg_env_services(), pkg_shared_variables(), pkg_service_env() of project <p>. */
int pkg_op_env_services(const struct pkg_project *p, const char *env, struct arena *a,
                        struct pkg_service_info **out, size_t *n, struct err *err) APP_MUST_CHECK;
int pkg_op_shared_variables(const struct pkg_project *p, const char *env, struct arena *a,
                            struct pkg_var **out, size_t *n, struct err *err) APP_MUST_CHECK;
int pkg_op_service_env(const struct pkg_project *p, const char *env, const char *service,
                       int ingress_port, struct arena *a, const char ***out, size_t *n,
                       struct err *err) APP_MUST_CHECK;
/* pkg_env_resources_get(): the environment's `resources` (out->set false when it has none). */
int pkg_op_env_resources_get(const struct pkg_project *p, const char *env, struct arena *a,
                             struct pkg_env_resources *out, struct err *err) APP_MUST_CHECK;
/* <r> as the values' `resources` object (*out a new reference), after checking it:
 * ERR_INVALID naming the field and its range ("cpuMillicores: must be 100..32000"). */
int pkg_env_resources_json(const struct pkg_env_resources *r, json_t **out,
                           struct err *err) APP_MUST_CHECK;

/* ---------------------------------------------------------------- secret.c */

/*
 * pkg secret: secret values of variables. In a values file a secret is
 *   {"secret": "enc:v1:<nonce>:<ciphertext>"}
 * where <nonce> is 24 random bytes and <ciphertext> is libsodium's crypto_secretbox_easy()
 * output (16-byte MAC, then the encrypted bytes), both in padded standard base64
 * (sodium_base64_VARIANT_ORIGINAL: A-Z a-z 0-9 + / =). A value is sealed under its project's
 * key, so a value copied into another project's repository does not open there.
 *
 * Keys live outside every repository, in <root>/keys/<workspace-id>/<project-id>.key: 32 random
 * bytes, mode 0600, created on first use and written atomically (file_secret_load()); the
 * directories are created 0700. Losing the key loses the project's secrets; an eject copies
 * none of them (the repository holds ciphertext only).
 *
 * Plaintext is at most PKG_SECRET_MAX bytes and may hold any bytes. Plaintext buffers the
 * caller fills with pkg_secret_open() should be released with pkg_secret_wipe(); start them
 * empty, since an sbuf that grows frees its old memory unwiped.
 * Every call here is thread-safe (libsodium is initialised once, through pthread_once).
 */

#define PKG_SECRET_KEY_BYTES 32
#define PKG_SECRET_MAX       65536u /* bytes of plaintext */
#define PKG_SECRET_MASK_MIN  12     /* shortest plaintext whose mask shows its last 2 bytes */

/* Loads the key of project <proj> in workspace <ws> into <key>, creating it when missing.
 * <root> is the data directory and must exist. ERR_INVALID naming the id when either is not a
 * slipway id; ERR_INVALID when the key file does not hold exactly 32 bytes, ERR_FORBIDDEN when
 * its group or others may read it (both are left alone for a human to look at); ERR_IO and so
 * on from the disk. On error <key> is zeroed. Blocks on disk: a worker's call. */
int pkg_secret_key(const char *root, struct slice ws, struct slice proj,
                   unsigned char key[PKG_SECRET_KEY_BYTES], struct err *err) APP_MUST_CHECK;

/* Appends "enc:v1:<nonce>:<ciphertext>" for <plain> sealed under <key> to <out>, with a fresh
 * random nonce (sealing the same value twice gives two different texts). ERR_LIMIT when <plain>
 * is over PKG_SECRET_MAX bytes, or <out> is full (then <out> holds what it held before and
 * keeps its sticky error). */
int pkg_secret_seal(const unsigned char key[PKG_SECRET_KEY_BYTES], struct slice plain,
                    struct sbuf *out, struct err *err) APP_MUST_CHECK;

/* Appends the plaintext of <sealed> to <plain>. ERR_INVALID "not an encrypted value (…)" when
 * <sealed> is not of the form above (prefix, two ':'-separated canonical base64 parts, a
 * 24-byte nonce, a ciphertext of 16 to 16 + PKG_SECRET_MAX bytes); ERR_FORBIDDEN when it is,
 * but does not open with <key>: sealed with another key, or altered; ERR_LIMIT when <plain> is
 * full. On error nothing is appended. */
int pkg_secret_open(const unsigned char key[PKG_SECRET_KEY_BYTES], struct slice sealed,
                    struct sbuf *plain, struct err *err) APP_MUST_CHECK;

/* Appends what reads show of a secret whose plaintext is <plain>: "••••" (four U+2022), then
 * its last 2 bytes only when <plain> is at least PKG_SECRET_MASK_MIN bytes long and both are
 * printable ASCII other than space (so a short secret shows nothing of itself, and the mask
 * is always valid UTF-8). Never more: the length is not shown either. */
void pkg_secret_mask(struct slice plain, struct sbuf *out);

/* Zeroes all of <b>'s memory (its capacity, not only its length), then releases it. */
void pkg_secret_wipe(struct sbuf *b);

/* ---------------------------------------------------------------- eject.c */

/*
 * pkg eject: a project handed over whole, to run without slipway (docs/gitops.md, "Eject").
 * The archive is a tar.gz whose every entry sits under <project-slug>/:
 *   repository.bundle  git bundle (v2) of refs/heads/main with every object reachable from it:
 *                      `git clone repository.bundle` gives the whole history, main checked out;
 *   repository/        the tree at that commit as plain files;
 *   argocd/<env>.yaml  an argoproj.io/v1alpha1 Application per environment, repoURL set to
 *                      PKG_EJECT_REPO_PLACEHOLDER, path environments/<env>, automated sync;
 *   build.sh           rebuilds every service that has a source (docker or buildah);
 *   README.md          what is there and how to run it elsewhere.
 * The same commit always gives the same bytes: entries sorted by path, every mtime the
 * commit's time, uid/gid 0 without user names, gzip without a timestamp.
 */

/* The archive, and everything held in memory to make it, stays under PKG_EJECT_MAX bytes
 * (include/pkg/pkg.h). */
/* What the ArgoCD Applications name as their repository, for the user to replace. */
#define PKG_EJECT_REPO_PLACEHOLDER "https://git.example.invalid/REPLACE-WITH-YOUR-REPOSITORY.git"

struct pkg_project; /* ops.c, below */

/* Appends the tar.gz of project <p> (root, ids, slugs; display_name titles the README) at
 * refs/heads/main, read once, to <out>. Reads only: no lock, and writes may run meanwhile (the
 * archive shows the commit main was at when the call began). ERR_NOTFOUND for an unknown
 * project or one without a commit; ERR_INVALID for a bad id or slug; ERR_LIMIT when the
 * archive would pass PKG_EJECT_MAX or <out>'s own max. On error <out> may hold part of an
 * archive: release it. Blocks on disk and CPU (compression): a worker's call. Thread-safe. */
int pkg_op_eject(const struct pkg_project *p, struct sbuf *out, struct err *err) APP_MUST_CHECK;

/* ---------------------------------------------------------------- ops.c */

/*
 * pkg ops: the packager's operations on a project's repository, in process. Each one is a
 * transaction: it reads what it needs at refs/heads/main, edits the values files with pkg_yaml
 * (a human's comments survive), checks both values files against their schemas, renders the
 * manifests of every environment it touched with pkg_render_env (replacing that environment's
 * manifests/ wholly, so a file no longer rendered goes), and makes one commit authored by the
 * acting user, compare-and-swap on the head it read. Nothing is committed when any step fails.
 *
 * Writes to one project are serialized by a mutex of the struct pkg_ops (one per repository
 * path, created on first use and kept until pkg_ops_free()); a write from elsewhere (another
 * process) that moves main in between makes the op fail with ERR_CONFLICT, to be retried.
 * Every call blocks on disk: a worker's call (pool_run), never a loop's. Thread-safe.
 *
 * Errors: ERR_INVALID for a bad name or a value the schema refuses (the message names the file
 * and the key: "environments/production/values.yaml: services.api.image.digest: ..."),
 * ERR_NOTFOUND for an unknown project, service or environment, ERR_CONFLICT for one that
 * exists already (or main moved), ERR_IO from the disk.
 */

/* Service and environment names: DNS labels of at most 31 bytes, as the schemas say
 * (^[a-z][a-z0-9-]{0,30}$). Checked before they are spliced into a path of the repository or
 * of a values document. <s> may be NULL. */
bool pkg_name_ok(const char *s, size_t n);

/* Names the project an op works on. Borrowed for the call. */
struct pkg_project {
    const char *root;         /* data directory: repos/ and keys/ live under it */
    const char *workspace_id; /* slipway ids */
    const char *project_id;
    const char *workspace_slug;  /* DNS labels, for the namespace and names */
    const char *slug;            /* the project's */
    const char *display_name;    /* slipway.yaml; the init commit's message */
    const char *workload_domain; /* platform domains: <service>-<env>-<slug>.<domain> */
};

struct pkg_ops_cfg {
    /* Directory holding values-base.schema.json and values-env.schema.json; NULL: the ones
     * compiled in (pkg_schema_files). */
    const char *schema_dir;
};
/* The .schema.json files of schema/, compiled in by scripts/embed (the Makefile's
 * $(B)/gen/pkg-schema.c). */
extern const struct embedded_file pkg_schema_files[];
extern const size_t pkg_schema_nfiles;

struct pkg_ops;

/* Loads the schemas. *out is the caller's (pkg_ops_free()). ERR_IO/ERR_INVALID naming the
 * schema file that cannot be read or parsed. */
int pkg_ops_new(const struct pkg_ops_cfg *cfg, struct pkg_ops **out,
                struct err *err) APP_MUST_CHECK;
/* No op may be running. NULL is fine. */
void pkg_ops_free(struct pkg_ops *ops);

/* What a write made. */
struct pkg_op_res {
    char commit[PKG_OID_HEX + 1];
    /* pkg_op_set_variables() unsetting shared keys: the references to them it removed too,
     * as "<service>.<NAME>", in the caller's arena. */
    const char *const *removed_refs;
    size_t nremoved;
};

/* Creates the repository with slipway.yaml, base/values.yaml (no service) and README.md;
 * message "init: <display name>". ERR_CONFLICT when it has a commit already. <res> may be
 * NULL here and below. */
int pkg_op_init(struct pkg_ops *ops, const struct pkg_project *p, const struct pkg_author *user,
                struct pkg_op_res *res, struct err *err) APP_MUST_CHECK;

/* Adds services.<name> to base/values.yaml with <svc> (an object of the base schema's service:
 * image, port, …) and re-renders every environment; "config(base): add service <name>".
 * ERR_CONFLICT when it exists. */
int pkg_op_add_service(struct pkg_ops *ops, const struct pkg_project *p,
                       const struct pkg_author *user, const char *name, const json_t *svc,
                       struct pkg_op_res *res, struct err *err) APP_MUST_CHECK;
/* Removes the service from base and from every environment, re-rendering them;
 * "config(base): remove service <name>". ERR_NOTFOUND when absent; ERR_CONFLICT when a cron
 * entry runs on it. */
int pkg_op_remove_service(struct pkg_ops *ops, const struct pkg_project *p,
                          const struct pkg_author *user, const char *name, struct pkg_op_res *res,
                          struct err *err) APP_MUST_CHECK;

/* Creates environments/<env>/values.yaml and its manifests: empty, or cloned from <from_env>
 * (variables and configuration copied with their comments; custom domains, images and the
 * ephemeral expiry dropped, so a new environment runs nothing until a deploy or a promote).
 * "env(create): <env>" or "env(create): <env> from <from_env>". */
int pkg_op_env_create(struct pkg_ops *ops, const struct pkg_project *p,
                      const struct pkg_author *user, const char *env, const char *from_env,
                      struct pkg_op_res *res, struct err *err) APP_MUST_CHECK;
/* Calls <fn> with the name of every environment at main, in name order (reads only).
 * ERR_NOTFOUND when the project has no repository or no commit. */
int pkg_op_env_list(const struct pkg_project *p, pkg_name_fn *fn, void *arg,
                    struct err *err) APP_MUST_CHECK;
/* Removes environments/<env> whole; "env(delete): <env>". */
int pkg_op_env_delete(struct pkg_ops *ops, const struct pkg_project *p,
                      const struct pkg_author *user, const char *env, struct pkg_op_res *res,
                      struct err *err) APP_MUST_CHECK;

/* Sets services.<service>.image {tag, digest} in environment <env> and re-renders it;
 * "deploy(<env>): <service> <tag>" or "rollback(<env>): …". <kind> is PKG_DEPLOY or
 * PKG_ROLLBACK. */
int pkg_op_deploy(struct pkg_ops *ops, const struct pkg_project *p, const struct pkg_author *user,
                  const char *env, const char *service, const char *tag, const char *digest,
                  enum pkg_deploy_kind kind, struct pkg_op_res *res,
                  struct err *err) APP_MUST_CHECK;
/* Copies the tag and the digest of <service> from <from_env> to <to_env>;
 * "promote(<to_env>): <service> <tag> from <from_env>". ERR_NOTFOUND when <from_env> runs no
 * image of it. */
int pkg_op_promote(struct pkg_ops *ops, const struct pkg_project *p, const struct pkg_author *user,
                   const char *from_env, const char *to_env, const char *service,
                   struct pkg_op_res *res, struct err *err) APP_MUST_CHECK;

/* Sets variables of <service> (NULL: the environment's shared variables) from <vars>, an
 * object of NAME → value: a string, a reference object ({shared|database|service: …}), or
 * null to unset (unsetting a missing one is no change). With <secret> every value is a
 * string sealed under the project's key, so its plaintext never reaches the repository.
 * Unsetting a shared NAME also removes every {shared: NAME} reference, listed in <res>
 * (in <a>). "config(<env>): set variables for <service>" / "… set shared variables". */
int pkg_op_set_variables(struct pkg_ops *ops, const struct pkg_project *p,
                         const struct pkg_author *user, const char *env, const char *service,
                         const json_t *vars, bool secret, struct arena *a, struct pkg_op_res *res,
                         struct err *err) APP_MUST_CHECK;

/* Sets, in environment <env>, the keys of <service> named in <set> (an object): replicas,
 * autoscaling {min, max, cpuPercent}, resources {tier, cpu, memory}, customStartCommand,
 * suspended; a null value removes the key (back to the default). The schema checks the
 * values. "config(<env>): suspend <service>" / "… resume …" for suspended alone, else
 * "config(<env>): set replicas, resources for <service>". ERR_INVALID naming an unknown key. */
int pkg_op_configure(struct pkg_ops *ops, const struct pkg_project *p,
                     const struct pkg_author *user, const char *env, const char *service,
                     const json_t *set, struct pkg_op_res *res, struct err *err) APP_MUST_CHECK;

/* Sets environment <env>'s `resources` to <r> and re-renders it;
 * "config(<env>): resources <tier> <cpu>m/<memory>Mi". */
int pkg_op_env_resources_set(struct pkg_ops *ops, const struct pkg_project *p,
                             const struct pkg_author *user, const char *env,
                             const struct pkg_env_resources *r, struct pkg_op_res *res,
                             struct err *err) APP_MUST_CHECK;

/* One deployment of a service in an environment. Strings valid during the callback only. */

/* Calls <fn> for up to <limit> (0 = all) deployments of <service> in <env>, newest first: the
 * commits to environments/<env>/values.yaml whose message is a deploy, rollback or promote of
 * that service. ERR_NOTFOUND when the project or the environment does not exist. */
int pkg_op_history(const struct pkg_project *p, const char *env, const char *service, size_t limit,
                   pkg_history_fn *fn, void *arg, struct err *err) APP_MUST_CHECK;

/* ---------------------------------------------------------------- mirror.c */

/*
 * pkg mirror: an optional push mirror per project (docs/gitops.md). After every commit,
 * pkg_mirror_kick() marks the project's mirror pending; one thread pushes main there, forced,
 * retrying a failed push after base_ms, 2 × base_ms, … up to max_ms. The state lives in the
 * packager's database (migration set "pkg_mirror"), so a push owed at a crash is made after
 * the restart. Blocking calls (store, git): workers'. Thread-safe.
 */
struct pkg_mirror;
struct pkg_mirror_opts {
    int64_t base_ms, max_ms; /* 0: 1 s and 5 min */
};
/* Migrates <s> (borrowed). The pusher starts with pkg_mirror_start(). */
int pkg_mirror_open(struct store *s, const char *root, const struct pkg_mirror_opts *o,
                    struct pkg_mirror **out, struct err *err) APP_MUST_CHECK;
void pkg_mirror_start(struct pkg_mirror *m);
void pkg_mirror_free(struct pkg_mirror *m); /* stops the pusher; NULL is fine */
/* Sets project <p>'s mirror to <url> (https://, http://, ssh:// or file:///; credentials in
 * it are sealed under the project's key), pushed at once; NULL removes the mirror. ERR_INVALID
 * naming "url" and the rule. */
int pkg_mirror_set(struct pkg_mirror *m, const struct pkg_project *p, const char *url,
                   struct err *err) APP_MUST_CHECK;
/* A commit was made in <p> (NULL: just wake the pusher). Never fails: a store error is logged
 * and the commit is pushed with the next one. */
void pkg_mirror_kick(struct pkg_mirror *m, const struct pkg_project *p);
int pkg_mirror_get(struct pkg_mirror *m, const char *ws, const char *pid,
                   struct pkg_mirror_state *out, struct err *err) APP_MUST_CHECK;

/* ---------------------------------------------------------------- index.c */

/*
 * pkg index: what the packager answers from its database (store_open_service(…, "packager",
 * …)) instead of walking git: projects, deployments, the image each service runs, and the
 * domains of the whole installation. The repositories stay the source of truth; every row is
 * derived from them and pkg_index_sync() can always rebuild it. Every row is keyed by
 * (workspace id, project id): a project id is unique only within its workspace.
 *
 * Sync is idempotent and safe without the project's lock: in one store transaction it reads
 * the indexed head, walks the commits after it, and moves the head by compare-and-swap, so two
 * syncs of one project write its rows once. It reads from git only what changed: the commits
 * after the indexed head, and the values of the environments whose text differs from the one
 * their rows were made from (a hash per file; every environment when base/values.yaml
 * changed). It still runs under the project's lock after every write (pkg_ops_locked), so the
 * rows follow the commits in order.
 *
 * A custom domain is claimed (a pending row, UNIQUE hostname) before the commit that writes
 * it into the values file; a sync keeps pending rows and makes every other domain row of the
 * project equal to what HEAD says. A service's platform domain is the values'
 * services.<svc>.platformDomain when set (the row follows it), else the name claimed for it.
 * Blocking (store, git): a worker's calls. Thread-safe.
 */

struct store;
struct pkg_index;

/* Runs the "packager" migrations on <s> (borrowed; it outlives the index). <root> is the data
 * directory; <workload_domain> (may be NULL: no platform domains) the platform domains' parent. */
int pkg_index_open(struct store *s, const char *root, const char *workload_domain,
                   struct pkg_index **out, struct err *err) APP_MUST_CHECK;
void pkg_index_free(struct pkg_index *ix); /* NULL is fine */

/* Brings <p>'s rows up to its repository's HEAD (the name comes from slipway.yaml's name;
 * without one from p->slug, which may be NULL, or the existing row). A repository without a commit
 * is no project: nothing. ERR_NOTFOUND when there is no repository. */
int pkg_index_sync(struct pkg_index *ix, const struct pkg_project *p,
                   struct err *err) APP_MUST_CHECK;
/* Start-up, before any call: syncs every <root>/repos/<workspace>/<project>.git (both slugs)
 * whose indexed head differs or that has no row, forgets rows of repositories that are gone, drops
 * claims left pending by a crash, and empties <root>/trash. */
int pkg_index_rebuild(struct pkg_index *ix, struct err *err) APP_MUST_CHECK;

/* pkg_history() from the rows: project <pid> of workspace <ws>. ERR_NOTFOUND for an unknown
 * project (or one of another workspace) or environment. */
int pkg_index_history(struct pkg_index *ix, const char *ws, const char *pid, const char *env,
                      const char *service, size_t limit, pkg_history_fn *fn, void *arg,
                      struct err *err) APP_MUST_CHECK;

/* <pid> NULL: every project of <ws>, oldest first; else that one (ERR_NOTFOUND when it is not
 * in <ws>). */
int pkg_index_projects(struct pkg_index *ix, const char *ws, const char *pid, pkg_project_fn *fn,
                       void *arg, struct err *err) APP_MUST_CHECK;
/* Forgets every row of project <pid> of workspace <ws> (its domains too). */
int pkg_index_forget(struct pkg_index *ix, const char *ws, const char *pid,
                     struct err *err) APP_MUST_CHECK;

/* Lower-cases <host> into <out> and checks it is a DNS name of at least two labels (a-z 0-9 -,
 * labels of 1-63 bytes not starting or ending with '-', a last label of letters, at most 253
 * bytes). ERR_INVALID saying which rule. */
int pkg_domain_normalize(const char *host, char out[PKG_HOST_MAX + 1],
                         struct err *err) APP_MUST_CHECK;
/* Claims custom domain <host> for (<p>, <env>, <service>) as a pending row. ERR_CONFLICT naming
 * the holder (the project, environment and service when it is of the same workspace). */
int pkg_index_domain_claim(struct pkg_index *ix, const struct pkg_project *p, const char *env,
                           const char *service, const char *host, struct err *err) APP_MUST_CHECK;
/* Drops the pending claim of <host> by project p (a commit that failed). */
void pkg_index_domain_release(struct pkg_index *ix, const struct pkg_project *p, const char *host);
/* The platform domain of (<p>, <env>, <service>), claimed now when it has none:
 * "<service>-<env>-<name>.<workload domain>", with -2, -3, … on the first label while another
 * holds it. ERR_NOTFOUND for an unknown project or environment, ERR_INVALID when the name
 * would pass 253 bytes or there is no workload domain. */
int pkg_index_domain_platform(struct pkg_index *ix, const struct pkg_project *p, const char *env,
                              const char *service, char out[PKG_HOST_MAX + 1],
                              struct err *err) APP_MUST_CHECK;

/* Removes project <p>: under its lock the repository is renamed into <root>/trash (durably)
 * and removed, then its key file and its rows go. ERR_NOTFOUND when it has no repository. */
int pkg_index_project_delete(struct pkg_index *ix, struct pkg_ops *ops, const struct pkg_project *p,
                             struct err *err) APP_MUST_CHECK;

/* Implemented in ops.c. Runs <fn> holding project <p>'s write lock (the one every op of it
 * takes), with the repository's path; its result is returned. */
typedef int pkg_ops_locked_fn(void *arg, const char *repo_path, struct err *err);
int pkg_ops_locked(struct pkg_ops *ops, const struct pkg_project *p, pkg_ops_locked_fn *fn,
                   void *arg, struct err *err) APP_MUST_CHECK;
/* Implemented in ops.c. Adds custom domain <host> (normalized) to services.<service>.domains of
 * <env>, or removes it; "config(<env>): add domain <host> for <service>" / "… remove …".
 * ERR_CONFLICT when it is there already, ERR_NOTFOUND when it is not (remove). */
int pkg_op_domain(struct pkg_ops *ops, const struct pkg_project *p, const struct pkg_author *user,
                  const char *env, const char *service, const char *host, bool add,
                  struct pkg_op_res *res, struct err *err) APP_MUST_CHECK;

/* Implemented in ops.c. Writes platform domain <host> (the index's name for it) as
 * services.<service>.platformDomain of <env> and re-renders it, so the HTTPRoute serves that
 * name and a rebuild of the index gives it back; "config(<env>): platform domain <host> for
 * <service>". 0 with res->commit "" when the values hold that name already. */
int pkg_op_platform_domain(struct pkg_ops *ops, const struct pkg_project *p,
                           const struct pkg_author *user, const char *env, const char *service,
                           const char *host, struct pkg_op_res *res,
                           struct err *err) APP_MUST_CHECK;

#endif
