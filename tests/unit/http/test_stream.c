/*
 * The server's streamed request bodies (http_req_stream) and file responses (http_respond_fd),
 * driven through a real server on 127.0.0.1 with a worker pool and the http client.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "../test.h"

#include "base/base.h"
#include "http/http.h"

#define BODY_BYTES (3u * HTTP_STREAM_CHUNK + 12345u)

/* What one streamed request saw: pieces, bytes, a checksum of them, and an injected failure. */
struct seen {
    size_t pieces, bytes, max_piece;
    uint64_t sum;
    bool fail_second;
};

static int on_chunk(void *arg, struct slice chunk, struct err *err)
{
    struct seen *s = arg;

    s->pieces++;
    s->bytes += chunk.len;
    if (chunk.len > s->max_piece)
        s->max_piece = chunk.len;
    for (size_t i = 0; i < chunk.len; i++)
        s->sum = s->sum * 31 + (unsigned char)chunk.ptr[i];
    if (s->fail_second && s->pieces == 2)
        return err_set(err, ERR_IO, "disk full (test)");
    return 0;
}

static void on_end(void *arg, struct http_req *req, const struct err *err)
{
    struct seen *s = arg;
    char out[160];

    if (err != NULL) {
        http_respond_err(req, err);
        return;
    }
    snprintf(out, sizeof(out), "%zu %zu %zu %" PRIu64, s->pieces, s->bytes, s->max_piece, s->sum);
    http_respond(req, 200, "text/plain", slice_from_cstr(out));
}

static void h_stream(void *arg, struct http_req *req)
{
    struct seen *s = arena_zalloc(req->arena, sizeof(*s));

    (void)arg;
    if (s == NULL || http_req_header(req, "X-Refuse").ptr != NULL) {
        http_respond_error(req, 401, "unauthenticated", "refused before the body");
        return;
    }
    s->fail_second = http_req_header(req, "X-Fail").ptr != NULL;
    http_req_stream(req, on_chunk, on_end, s);
}

static char file_path[64];

static void h_file(void *arg, struct http_req *req)
{
    int fd = open(file_path, O_RDONLY | O_CLOEXEC);

    (void)arg;
    http_respond_fd(req, 200, "application/octet-stream", fd, 3, 5);
}

struct fixture {
    struct pool *pool;
    struct http_router *router;
    struct http_server *srv;
    char url[128];
};

static void fixture_start(struct fixture *f)
{
    struct http_cfg cfg = {.bind = "127.0.0.1",
                           .loops = 1,
                           .max_connections = 64,
                           .max_url_bytes = 4096,
                           .max_header_bytes = 16384,
                           .max_body_bytes = 1 << 20,
                           .header_timeout_ms = 10000,
                           .idle_timeout_ms = 10000,
                           .shutdown_grace_ms = 1000,
                           .cors_origin = ""};
    struct http_route_opts sopts = {.max_body_bytes = 64 << 20, .stream_body = true};
    struct err err = {0};

    f->pool = pool_new("test-workers", 2);
    f->router = http_router_new();
    ASSERT(http_router_add(f->router, HTTP_PUT | HTTP_POST, "/stream", h_stream, NULL, &sopts,
                           &err) == 0);
    ASSERT(http_router_add(f->router, HTTP_GET, "/file", h_file, NULL, NULL, &err) == 0);
    ASSERT(http_server_start(&cfg, f->router, &(struct http_server_deps){NULL, f->pool}, &f->srv,
                             &err) == 0);
    snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%d", http_server_port(f->srv));
}

static void fixture_stop(struct fixture *f)
{
    (void)http_server_drain(f->srv);
    pool_free(f->pool);
    http_server_stop(f->srv);
    http_router_free(f->router);
}

static int put(struct fixture *f, const char *const *headers, struct slice body,
               struct http_client_res *res)
{
    char url[160];
    struct err err = {0};

    snprintf(url, sizeof(url), "%s/stream", f->url);
    return http_client_do(
        &(struct http_client_req){.method = "PUT", .url = url, .headers = headers, .body = body},
        res, &err);
}

static char *make_body(uint64_t *sum)
{
    char *b = xmalloc(BODY_BYTES);

    *sum = 0;
    for (size_t i = 0; i < BODY_BYTES; i++) {
        b[i] = (char)(i * 7 + i / 4096);
        *sum = *sum * 31 + (unsigned char)b[i];
    }
    return b;
}

TEST(stream_delivers_the_body_in_bounded_pieces_in_order)
{
    struct fixture f;
    struct http_client_res res = {0};
    uint64_t sum;
    char *body = make_body(&sum);
    char want[160];

    fixture_start(&f);
    CHECK_INT_EQ(put(&f, NULL, (struct slice){body, BODY_BYTES}, &res), 0);
    CHECK_INT_EQ(res.status, 200);
    snprintf(want, sizeof(want), "4 %u %u %" PRIu64, BODY_BYTES, HTTP_STREAM_CHUNK, sum);
    CHECK_STR_EQ(res.body.buf, want);
    http_client_res_release(&res);
    /* an empty body: no piece, end still runs */
    CHECK_INT_EQ(put(&f, NULL, SLICE(""), &res), 0);
    CHECK_INT_EQ(res.status, 200);
    CHECK_STR_EQ(res.body.buf, "0 0 0 0");
    http_client_res_release(&res);
    fixture_stop(&f);
    free(body);
}

TEST(stream_failure_of_a_piece_reaches_end_and_the_rest_is_dropped)
{
    struct fixture f;
    struct http_client_res res = {0};
    uint64_t sum;
    char *body = make_body(&sum);
    const char *hdrs[] = {"X-Fail: 1", NULL};

    fixture_start(&f);
    CHECK_INT_EQ(put(&f, hdrs, (struct slice){body, BODY_BYTES}, &res), 0);
    CHECK_INT_EQ(res.status, 500); /* ERR_IO */
    CHECK(strstr(res.body.buf, "disk full") != NULL);
    http_client_res_release(&res);
    fixture_stop(&f);
    free(body);
}

TEST(stream_refused_at_the_head_answers_without_reading)
{
    struct fixture f;
    struct http_client_res res = {0};
    uint64_t sum;
    char *body = make_body(&sum);
    const char *hdrs[] = {"X-Refuse: 1", NULL};

    fixture_start(&f);
    CHECK_INT_EQ(put(&f, hdrs, (struct slice){body, BODY_BYTES}, &res), 0);
    CHECK_INT_EQ(res.status, 401);
    http_client_res_release(&res);
    /* the server still serves */
    CHECK_INT_EQ(put(&f, NULL, SLICE("abc"), &res), 0);
    CHECK_INT_EQ(res.status, 200);
    http_client_res_release(&res);
    fixture_stop(&f);
    free(body);
}

TEST(respond_fd_sends_the_range_and_head_gets_only_the_length)
{
    struct fixture f;
    struct http_client_res res = {0};
    struct err err = {0};
    char url[160];
    int fd;

    snprintf(file_path, sizeof(file_path), "/tmp/slipway-test-fd-%d", (int)getpid());
    fd = open(file_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0);
    CHECK_INT_EQ(write(fd, "0123456789", 10), 10);
    close(fd);
    fixture_start(&f);
    snprintf(url, sizeof(url), "%s/file", f.url);
    CHECK_INT_EQ(http_client_do(&(struct http_client_req){.url = url}, &res, &err), 0);
    CHECK_INT_EQ(res.status, 200);
    CHECK_STR_EQ(res.body.buf, "34567");
    http_client_res_release(&res);
    CHECK_INT_EQ(
        http_client_do(&(struct http_client_req){.method = "HEAD", .url = url}, &res, &err), 0);
    CHECK_INT_EQ(res.status, 200);
    CHECK_UINT_EQ(res.body.len, 0);
    CHECK(slice_eq_cstr(http_client_res_header(&res, "Content-Length"), "5"));
    http_client_res_release(&res);
    fixture_stop(&f);
    unlink(file_path);
}
