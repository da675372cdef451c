/*
 * The distribution API under /v2/. One route takes every /v2/<rest> request: the path is
 * parsed and the token checked on the loop, the body (if any) streams to a worker (blob
 * bytes straight into the upload's file, manifests into memory), then the storage work runs
 * on a worker and the answer is sent from the loop. Error bodies and status codes are the
 * specification's ({"errors":[{"code":"BLOB_UNKNOWN",…}]}).
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "reg-int.h"

#define MAX_HDRS    8
#define HDR_VAL_CAP 640
#define TAGS_MAX_N  1000

struct op {
    struct reg *r;
    struct http_req *req;
    struct reg_path p;
    unsigned method;
    struct slice digest_q; /* ?digest= */
    char hex[REG_HEX_LEN + 1];
    struct reg_writer w; /* uploads: the session's file */
    bool opened;
    bool range_checked; /* PATCH: its Content-Range was compared with the session's end */
    char upload_id[37];
    struct sbuf body; /* manifest PUT */
    const char *ctype;
    /* the answer, filled on the worker */
    int status;
    const char *code; /* an error: the spec's code and the message */
    char msg[200];
    const char *hdr_name[MAX_HDRS];
    char hdr_val[MAX_HDRS][HDR_VAL_CAP];
    size_t nhdrs;
    struct sbuf out;
    char mt[128];
    int fd;
    uint64_t off, len;
};

static int op_fail(struct op *o, int status, const char *code, const char *msg)
{
    o->status = status;
    o->code = code;
    snprintf(o->msg, sizeof(o->msg), "%s", msg);
    return -1;
}

APP_PRINTF(3, 4) static void op_hdr(struct op *o, const char *name, const char *fmt, ...)
{
    va_list ap;

    if (NEVER(o->nhdrs == MAX_HDRS))
        return;
    o->hdr_name[o->nhdrs] = name;
    va_start(ap, fmt);
    vsnprintf(o->hdr_val[o->nhdrs++], HDR_VAL_CAP, fmt, ap);
    va_end(ap);
}

static void close_op(void *arg)
{
    struct op *o = arg;

    reg_writer_close(&o->w);
    sbuf_release(&o->body);
    sbuf_release(&o->out);
    if (o->fd >= 0)
        close(o->fd);
    o->fd = -1;
}

/* ---------------------------------------------------------------- answering */

static void op_respond(struct op *o)
{
    struct http_req *req = o->req;
    int fd = o->fd;

    for (size_t i = 0; i < o->nhdrs; i++)
        (void)!http_add_header(req, o->hdr_name[i], o->hdr_val[i]);
    if (o->code != NULL) {
        reg_respond_error(req, o->status, o->code, o->msg);
    } else if (fd >= 0) {
        o->fd = -1; /* the server's now */
        http_respond_fd(req, o->status, o->ctype, fd, o->off, o->len);
    } else if (o->out.len > 0) {
        http_respond_sbuf(req, o->status, o->ctype, &o->out);
    } else {
        http_respond(req, o->status, o->ctype, SLICE_NULL);
    }
}

/* ---------------------------------------------------------------- blobs */

static void blob_get(struct op *o)
{
    struct err err = {0};
    uint64_t size;
    struct slice range = http_req_header(o->req, "Range");
    int rc;

    if (reg_digest_parse(o->p.ref, o->hex, &err) < 0) {
        op_fail(o, 400, "DIGEST_INVALID", err.msg);
        return;
    }
    if (reg_blob_open(o->r, o->p.name, o->hex, &o->fd, &size, &err) < 0) {
        op_fail(o, 404, "BLOB_UNKNOWN", "blob unknown to the repository");
        return;
    }
    o->status = 200;
    o->ctype = "application/octet-stream";
    o->off = 0;
    o->len = size;
    op_hdr(o, "Docker-Content-Digest", "sha256:%s", o->hex);
    op_hdr(o, "Accept-Ranges", "bytes");
    op_hdr(o, "ETag", "\"sha256:%s\"", o->hex);
    op_hdr(o, "Cache-Control", "max-age=31536000");
    if (range.ptr == NULL || o->method != HTTP_GET)
        return;
    rc = reg_range_parse(range, size, &o->off, &o->len, &err);
    if (rc == ERR_LIMIT) {
        close(o->fd);
        o->fd = -1;
        op_hdr(o, "Content-Range", "bytes */%" PRIu64, size);
        op_fail(o, 416, "BLOB_UNKNOWN", err.msg);
    } else if (rc == 0) {
        o->status = 206;
        op_hdr(o, "Content-Range", "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, o->off,
               o->off + o->len - 1, size);
    } else {
        o->off = 0; /* a malformed Range is ignored: the whole blob */
    }
}

static void blob_delete(struct op *o)
{
    struct err err = {0};

    if (reg_digest_parse(o->p.ref, o->hex, &err) < 0)
        op_fail(o, 400, "DIGEST_INVALID", err.msg);
    else if (reg_blob_unlink(o->r, o->p.name, o->hex, &err) < 0)
        op_fail(o, 404, "BLOB_UNKNOWN", "blob unknown to the repository");
    else
        o->status = 202;
}

/* ---------------------------------------------------------------- uploads */

static void upload_location(struct op *o, uint64_t size)
{
    op_hdr(o, "Location", "/v2/" SLICE_FMT "/blobs/uploads/%s", SLICE_ARG(o->p.name), o->upload_id);
    op_hdr(o, "Range", "0-%" PRIu64, size > 0 ? size - 1 : 0);
    op_hdr(o, "Docker-Upload-UUID", "%s", o->upload_id);
}

/* The session's writer, opened (and for POST, created) on first use. */
static int writer_get(struct op *o, struct err *err)
{
    int rc;

    if (o->opened)
        return 0;
    if (o->p.op == REG_OP_UPLOAD_NEW) {
        if ((rc = reg_upload_new(o->r, o->p.name, o->upload_id, err)) < 0)
            return rc;
    } else {
        snprintf(o->upload_id, sizeof(o->upload_id), SLICE_FMT, SLICE_ARG(o->p.ref));
    }
    rc = reg_upload_open(o->r, o->p.name, slice_from_cstr(o->upload_id), true, &o->w, err);
    o->opened = rc == 0;
    return rc;
}

/* PATCH: a Content-Range must start where the session ends. */
static int range_check(struct op *o, struct err *err)
{
    struct slice cr = http_req_header(o->req, "Content-Range");
    uint64_t start, end;

    if (o->method != HTTP_PATCH || cr.ptr == NULL || o->range_checked)
        return 0;
    o->range_checked = true;
    if (reg_content_range_parse(cr, &start, &end, err) < 0)
        return ERR_LIMIT;
    if (start != o->w.offset)
        return err_set(err, ERR_LIMIT,
                       "Content-Range starts at %" PRIu64 ", the upload has %" PRIu64 " bytes",
                       start, o->w.offset);
    return 0;
}

static int upload_chunk(void *arg, struct slice chunk, struct err *err)
{
    struct op *o = arg;
    int rc = writer_get(o, err);

    if (rc == 0)
        rc = range_check(o, err);
    return rc < 0 ? rc : reg_writer_write(&o->w, chunk, err);
}

static void upload_fail(struct op *o, int rc, const struct err *err)
{
    if (rc == ERR_NOTFOUND)
        op_fail(o, 404, "BLOB_UPLOAD_UNKNOWN", "upload unknown");
    else if (rc == ERR_INVALID)
        op_fail(o, 400, "DIGEST_INVALID", err->msg);
    else if (rc == ERR_LIMIT) {
        op_hdr(o, "Range", "0-%" PRIu64, o->w.offset > 0 ? o->w.offset - 1 : 0);
        op_fail(o, 416, "BLOB_UPLOAD_INVALID", err->msg);
    } else
        op_fail(o, 500, "UNKNOWN", err->msg);
}

/* POST with ?digest= or PUT: the bytes are all there; make them the blob. */
static void upload_finish(struct op *o)
{
    struct err err = {0};
    int rc;

    if (reg_digest_parse(o->digest_q, o->hex, &err) < 0) {
        op_fail(o, 400, "DIGEST_INVALID", err.msg);
        if (o->opened && o->p.op == REG_OP_UPLOAD_NEW)
            (void)!reg_upload_cancel(o->r, o->p.name, slice_from_cstr(o->upload_id), &err);
        return;
    }
    if ((rc = writer_get(o, &err)) < 0 ||
        (rc = reg_upload_finish(o->r, o->p.name, slice_from_cstr(o->upload_id), o->hex, &o->w,
                                &err)) < 0) {
        upload_fail(o, rc, &err);
        return;
    }
    o->status = 201;
    op_hdr(o, "Location", "/v2/" SLICE_FMT "/blobs/sha256:%s", SLICE_ARG(o->p.name), o->hex);
    op_hdr(o, "Docker-Content-Digest", "sha256:%s", o->hex);
}

/* POST ?mount=&from=: 201 when <from> has the blob (the caller may pull it, checked on the
 * loop); otherwise an ordinary session, as the specification asks. */
static bool upload_mount(struct op *o)
{
    struct slice from = http_req_query(o->req, "from"), mount = http_req_query(o->req, "mount");
    struct err err = {0};

    if (from.ptr == NULL || mount.ptr == NULL || reg_digest_parse(mount, o->hex, &err) < 0 ||
        reg_blob_mount(o->r, o->p.name, from, o->hex, &err) < 0)
        return false;
    o->status = 201;
    op_hdr(o, "Location", "/v2/" SLICE_FMT "/blobs/sha256:%s", SLICE_ARG(o->p.name), o->hex);
    op_hdr(o, "Docker-Content-Digest", "sha256:%s", o->hex);
    return true;
}

static void upload_post(struct op *o, bool may_mount)
{
    struct err err = {0};
    int rc;

    if (o->digest_q.ptr != NULL) {
        upload_finish(o);
        return;
    }
    if (may_mount && upload_mount(o))
        return;
    if ((rc = writer_get(o, &err)) < 0) {
        upload_fail(o, rc, &err);
        return;
    }
    o->status = 202;
    upload_location(o, o->w.offset);
}

static void upload_session(struct op *o)
{
    struct err err = {0};
    uint64_t size;
    int rc;

    snprintf(o->upload_id, sizeof(o->upload_id), SLICE_FMT,
             (int)(o->p.ref.len < 36 ? o->p.ref.len : 36), o->p.ref.ptr);
    switch (o->method) {
    case HTTP_GET:
    case HTTP_HEAD:
        if ((rc = reg_upload_size(o->r, o->p.name, o->p.ref, &size, &err)) < 0)
            return upload_fail(o, rc, &err);
        o->status = 204;
        upload_location(o, size);
        return;
    case HTTP_PATCH:
        if ((rc = writer_get(o, &err)) < 0 || (rc = range_check(o, &err)) < 0)
            return upload_fail(o, rc, &err);
        o->status = 202;
        upload_location(o, o->w.offset);
        return;
    case HTTP_PUT:
        upload_finish(o);
        return;
    case HTTP_DELETE:
        if ((rc = reg_upload_cancel(o->r, o->p.name, o->p.ref, &err)) < 0)
            return upload_fail(o, rc, &err);
        o->status = 204;
        return;
    default:
        op_fail(o, 405, "UNSUPPORTED", "method not allowed here");
    }
}

/* ---------------------------------------------------------------- manifests and tags */

static void manifest_op(struct op *o)
{
    struct err err = {0};
    int rc;

    if (o->method == HTTP_PUT) {
        rc = reg_manifest_put(o->r, o->p.name, o->p.ref, o->ctype, sbuf_slice(&o->body), o->hex,
                              &err);
        if (rc == ERR_NOTFOUND)
            op_fail(o, 404, "MANIFEST_BLOB_UNKNOWN", err.msg);
        else if (rc == ERR_CONFLICT)
            op_fail(o, 400, "DIGEST_INVALID", err.msg);
        else if (rc == ERR_INVALID)
            op_fail(o, 400, "MANIFEST_INVALID", err.msg);
        else if (rc < 0)
            op_fail(o, 500, "UNKNOWN", err.msg);
        if (rc < 0)
            return;
        o->status = 201;
        o->ctype = NULL;
        op_hdr(o, "Location", "/v2/" SLICE_FMT "/manifests/sha256:%s", SLICE_ARG(o->p.name),
               o->hex);
        op_hdr(o, "Docker-Content-Digest", "sha256:%s", o->hex);
        return;
    }
    if (o->method == HTTP_DELETE) {
        if (reg_manifest_delete(o->r, o->p.name, o->p.ref, &err) < 0)
            op_fail(o, 404, "MANIFEST_UNKNOWN", "manifest unknown");
        else
            o->status = 202;
        return;
    }
    if (reg_manifest_get(o->r, o->p.name, o->p.ref, &o->out, o->mt, o->hex, &err) < 0) {
        op_fail(o, 404, "MANIFEST_UNKNOWN", "manifest unknown");
        return;
    }
    o->status = 200;
    o->ctype = o->mt;
    op_hdr(o, "Docker-Content-Digest", "sha256:%s", o->hex);
    op_hdr(o, "ETag", "\"sha256:%s\"", o->hex);
}

static void tags_op(struct op *o)
{
    struct slice nq = http_req_query(o->req, "n"), last = http_req_query(o->req, "last");
    uint64_t n = TAGS_MAX_N;
    struct sbuf list = SBUF_INIT(1 << 20);
    char last_out[REG_TAG_MAX + 1];
    struct err err = {0};
    struct jw w;
    bool more;

    if (nq.ptr != NULL && (slice_to_u64(nq, &n) < 0 || n > TAGS_MAX_N)) {
        op_fail(o, 400, "PAGINATION_NUMBER_INVALID", "n: 0..1000");
        return;
    }
    if (reg_tags_list(o->r, o->p.name, last, (size_t)n, &list, last_out, sizeof(last_out), &more,
                      &err) < 0) {
        sbuf_release(&list);
        op_fail(o, 404, "NAME_UNKNOWN", "repository name not known to registry");
        return;
    }
    o->out = SBUF_INIT(2 << 20);
    jw_init(&w, &o->out);
    jw_obj_begin(&w);
    jw_key(&w, "name");
    jw_slice(&w, o->p.name);
    jw_key(&w, "tags");
    jw_raw(&w, sbuf_slice(&list));
    jw_obj_end(&w);
    sbuf_release(&list);
    o->status = 200;
    o->ctype = "application/json";
    if (more)
        op_hdr(o, "Link", "</v2/" SLICE_FMT "/tags/list?n=%" PRIu64 "&last=%s>; rel=\"next\"",
               SLICE_ARG(o->p.name), n, last_out);
}

/* ---------------------------------------------------------------- dispatch */

struct run_ctx {
    struct op *o;
    bool may_mount;
};

static void op_work(void *arg)
{
    struct op *o = arg;

    switch (o->p.op) {
    case REG_OP_BLOB:
        if (o->method == HTTP_DELETE)
            blob_delete(o);
        else
            blob_get(o);
        break;
    case REG_OP_UPLOAD_NEW:
        upload_post(o, o->hex[0] == 'm'); /* see v2_handler: 'm' marks a mount it may do */
        break;
    case REG_OP_UPLOAD:
        upload_session(o);
        break;
    case REG_OP_MANIFEST:
        manifest_op(o);
        break;
    case REG_OP_TAGS:
        tags_op(o);
        break;
    case REG_OP_BASE:
        break;
    }
}

static void op_done(void *arg)
{
    op_respond(arg);
}

static int manifest_chunk(void *arg, struct slice chunk, struct err *err)
{
    struct op *o = arg;

    sbuf_put_slice(&o->body, chunk);
    return o->body.err ? err_set(err, ERR_LIMIT, "manifest over %u bytes", REG_MANIFEST_MAX) : 0;
}

static int drop_chunk(void *arg, struct slice chunk, struct err *err)
{
    (void)arg, (void)chunk, (void)err;
    return 0;
}

static void body_end(void *arg, struct http_req *req, const struct err *err)
{
    struct op *o = arg;

    if (err != NULL) {
        if (o->p.op == REG_OP_MANIFEST)
            op_fail(o, err->code == ERR_LIMIT ? 413 : 400, "MANIFEST_INVALID", err->msg);
        else
            upload_fail(o, err->code, err);
        op_respond(o);
        return;
    }
    (void)req;
    pool_run(o->r->auth.workers, op_work, op_done, o);
}

static bool method_fits(enum reg_op op, unsigned m)
{
    switch (op) {
    case REG_OP_BASE:
    case REG_OP_TAGS:
        return m & (HTTP_GET | HTTP_HEAD);
    case REG_OP_BLOB:
        return m & (HTTP_GET | HTTP_HEAD | HTTP_DELETE);
    case REG_OP_UPLOAD_NEW:
        return m == HTTP_POST;
    case REG_OP_UPLOAD:
        return m & (HTTP_GET | HTTP_HEAD | HTTP_PATCH | HTTP_PUT | HTTP_DELETE);
    case REG_OP_MANIFEST:
        return m & (HTTP_GET | HTTP_HEAD | HTTP_PUT | HTTP_DELETE);
    }
    return false;
}

/* Whether the caller may mount from ?from=: pull there (checked now, on the loop). */
static bool may_mount(struct reg *r, struct http_req *req)
{
    struct slice from = http_req_query(req, "from");
    unsigned allowed = 0;
    struct err err;

    return from.ptr != NULL && reg_name_check(from, &err) == 0 &&
           reg_authorize(r, req, from, &allowed) == 0 && (allowed & REG_PULL);
}

static void v2_handler(void *arg, struct http_req *req)
{
    struct reg *r = arg;
    struct op *o = arena_zalloc(req->arena, sizeof(*o));
    unsigned need, allowed = 0;
    struct err err = {0};

    (void)!http_add_header(req, "Docker-Distribution-API-Version", "registry/2.0");
    if (o == NULL || arena_on_free(req->arena, close_op, o) < 0) {
        reg_respond_error(req, 500, "UNKNOWN", "out of request memory");
        return;
    }
    o->r = r;
    o->req = req;
    o->fd = -1;
    o->w.fd = -1;
    o->method = req->method;
    o->body = SBUF_INIT(REG_MANIFEST_MAX);
    o->out = SBUF_INIT(0);
    if (reg_path_parse(http_req_param(req, "rest"), &o->p) < 0) {
        reg_respond_error(req, 404, "NAME_UNKNOWN", "no such registry endpoint");
        return;
    }
    if (!method_fits(o->p.op, req->method)) {
        reg_respond_error(req, 405, "UNSUPPORTED", "method not allowed here");
        return;
    }
    need = (req->method & (HTTP_GET | HTTP_HEAD)) ? REG_PULL : REG_PUSH;
    if (o->p.op == REG_OP_BASE) {
        if (reg_authorize(r, req, SLICE_NULL, &allowed) < 0)
            reg_challenge(r, req, SLICE_NULL, 0);
        else
            http_respond(req, 200, "application/json", SLICE("{}"));
        return;
    }
    if (reg_authorize(r, req, o->p.name, &allowed) < 0) {
        reg_challenge(r, req, o->p.name, need);
        return;
    }
    if (reg_name_check(o->p.name, &err) < 0) {
        reg_respond_error(req, 400, "NAME_INVALID", err.msg);
        return;
    }
    if ((allowed & need) != need) { /* the same answer whether the repository exists or not */
        reg_challenge(r, req, o->p.name, need);
        return;
    }
    o->digest_q = http_req_query(req, "digest");
    o->ctype = slice_dup(req->arena, http_req_header(req, "Content-Type")).ptr;
    if (o->p.op == REG_OP_UPLOAD_NEW && may_mount(r, req))
        o->hex[0] = 'm';
    if (o->p.op == REG_OP_MANIFEST && req->method == HTTP_PUT)
        http_req_stream(req, manifest_chunk, body_end, o);
    else if ((o->p.op == REG_OP_UPLOAD && (req->method & (HTTP_PATCH | HTTP_PUT))) ||
             (o->p.op == REG_OP_UPLOAD_NEW && o->digest_q.ptr != NULL))
        http_req_stream(req, upload_chunk, body_end, o);
    else
        http_req_stream(req, drop_chunk, body_end, o);
}

int reg_routes_add(struct reg *r, struct http_router *router, const struct reg_auth *auth,
                   struct err *err)
{
    struct http_route_opts opts = {.max_body_bytes = r->cfg.max_blob_bytes, .stream_body = true};
    unsigned methods = HTTP_GET | HTTP_HEAD | HTTP_POST | HTTP_PUT | HTTP_PATCH | HTTP_DELETE;
    int rc;

    r->auth = *auth;
    rc = http_router_add(router, HTTP_GET, "/v2/token", reg_token_handler, r, NULL, err);
    return rc < 0 ? rc
                  : http_router_add(router, methods, "/v2/{rest...}", v2_handler, r, &opts, err);
}
