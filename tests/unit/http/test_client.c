/*
 * http_client_do against a tiny real HTTP/1.1 server run by the test itself: a thread on
 * 127.0.0.1 (port 0) that reads one request per connection (head, then Content-Length bytes)
 * and writes a canned answer chosen by the path. The server records the last request so tests
 * can check what went over the wire. Every wait it does is bounded by a stop pipe and a 10 s
 * poll, so a broken client fails the test instead of hanging it.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "../test.h"

#include "http/http.h"

#define SRV_WAIT_MS 10000
#define BIG_BODY    100000

struct srv {
    int lfd;
    int stop[2];
    int port;
    pthread_t thread;
    /* Written by the server thread, read by the test only after srv_stop() joined it. */
    int nreq;
    char head[16384];
    size_t head_len;
    char body[4096];
    size_t body_len;
};

/* ---------------------------------------------------------------- the server */

/* Waits until <fd> is readable (false on stop, timeout or error). fd -1 waits for stop only. */
static bool srv_wait(struct srv *s, int fd)
{
    struct pollfd p[2] = {{s->stop[0], POLLIN, 0}, {fd, POLLIN, 0}};

    if (poll(p, 2, SRV_WAIT_MS) <= 0 || p[0].revents != 0)
        return false;
    return p[1].revents != 0;
}

static void send_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    ssize_t n;

    while (len > 0) {
        n = send(fd, p, len, MSG_NOSIGNAL);
        if (n <= 0)
            return; /* the client went away (e.g. it stopped at its size limit) */
        p += n;
        len -= (size_t)n;
    }
}

static size_t content_length(const char *head)
{
    const char *p = strcasestr(head, "\r\nContent-Length:");

    return p != NULL ? (size_t)strtoul(p + 17, NULL, 10) : 0;
}

/* Reads the head into s->head (NUL-terminated) and the body (up to sizeof(s->body)). */
static bool read_request(struct srv *s, int fd)
{
    size_t len = 0, want;
    char *end = NULL;
    ssize_t n;

    while (end == NULL) {
        if (len == sizeof(s->head) - 1 || !srv_wait(s, fd))
            return false;
        n = recv(fd, s->head + len, sizeof(s->head) - 1 - len, 0);
        if (n <= 0)
            return false;
        len += (size_t)n;
        end = memmem(s->head, len, "\r\n\r\n", 4);
    }
    s->head_len = (size_t)(end + 4 - s->head);
    s->body_len = len - s->head_len;
    if (s->body_len > sizeof(s->body))
        s->body_len = sizeof(s->body);
    memcpy(s->body, end + 4, s->body_len);
    s->head[s->head_len] = '\0';
    want = content_length(s->head);
    while (s->body_len < want && s->body_len < sizeof(s->body) && srv_wait(s, fd)) {
        n = recv(fd, s->body + s->body_len, sizeof(s->body) - s->body_len, 0);
        if (n <= 0)
            return false;
        s->body_len += (size_t)n;
    }
    return true;
}

static const struct {
    const char *path;
    const char *response;
} canned[] = {
    {"/hello", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Custom:   spaced value \t\r\n"
               "X-Empty:\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"},
    {"/missing", "HTTP/1.1 404 Not Found\r\nContent-Length: 13\r\n\r\nno such thing"},
    {"/head", "HTTP/1.1 200 OK\r\nX-Head: yes\r\nContent-Length: 1234\r\n\r\n"},
    {"/redirect", "HTTP/1.1 302 Found\r\nLocation: /hello\r\nContent-Length: 5\r\n\r\nmoved"},
    {"/interim", "HTTP/1.1 100 Continue\r\nX-Interim: 100\r\n\r\n"
                 "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\nX-Interim: 103\r\n\r\n"
                 "HTTP/1.1 200 OK\r\nX-Final: yes\r\nContent-Length: 2\r\n\r\nok"},
};

static void respond_echo(struct srv *s, int fd)
{
    char head[128];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                     "Content-Length: %zu\r\n\r\n",
                     s->body_len);

    send_all(fd, head, (size_t)n);
    send_all(fd, s->body, s->body_len);
}

/* A body (or a header) far larger than the limits the tests set: byte i is 'a' + i % 26. */
static void respond_big(int fd, bool in_header)
{
    static const char body_head[] = "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n";
    static const char hdr_head[] = "HTTP/1.1 200 OK\r\nX-Big: ";
    static const char hdr_tail[] = "\r\nContent-Length: 2\r\n\r\nok";
    char *big = malloc(BIG_BODY);

    for (size_t i = 0; i < BIG_BODY; i++)
        big[i] = (char)('a' + i % 26);
    send_all(fd, in_header ? hdr_head : body_head,
             in_header ? sizeof(hdr_head) - 1 : sizeof(body_head) - 1);
    send_all(fd, big, in_header ? 70000 : BIG_BODY);
    if (in_header)
        send_all(fd, hdr_tail, sizeof(hdr_tail) - 1);
    free(big);
}

static bool path_is(const char *path, size_t len, const char *want)
{
    return strlen(want) == len && strncmp(path, want, len) == 0;
}

/* Answers by the request path (without its query string). */
static void respond(struct srv *s, int fd)
{
    const char *path = strchr(s->head, ' ');
    size_t len;

    if (path == NULL)
        return;
    path++;
    len = strcspn(path, " ?");
    for (size_t i = 0; i < sizeof(canned) / sizeof(canned[0]); i++)
        if (path_is(path, len, canned[i].path)) {
            send_all(fd, canned[i].response, strlen(canned[i].response));
            return;
        }
    if (path_is(path, len, "/echo"))
        respond_echo(s, fd);
    else if (path_is(path, len, "/big"))
        respond_big(fd, false);
    else if (path_is(path, len, "/bighead"))
        respond_big(fd, true);
    else if (path_is(path, len, "/hang"))
        (void)srv_wait(s, -1); /* never answers; returns when the test stops the server */
}

static void *srv_main(void *arg)
{
    struct timeval tv = {5, 0};
    struct srv *s = arg;
    int fd;

    while (srv_wait(s, s->lfd)) {
        fd = accept(s->lfd, NULL, NULL);
        if (fd < 0)
            break;
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        if (read_request(s, fd)) {
            s->nreq++;
            respond(s, fd);
        }
        close(fd);
    }
    return NULL;
}

static void srv_start(struct srv *s)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);

    memset(s, 0, sizeof(*s));
    s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(s->lfd >= 0);
    CHECK(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)) == 0);
    CHECK(listen(s->lfd, 8) == 0);
    CHECK(getsockname(s->lfd, (struct sockaddr *)&a, &alen) == 0);
    s->port = ntohs(a.sin_port);
    CHECK(pipe(s->stop) == 0);
    CHECK(pthread_create(&s->thread, NULL, srv_main, s) == 0);
}

static void srv_stop(struct srv *s)
{
    CHECK(write(s->stop[1], "x", 1) == 1);
    CHECK(pthread_join(s->thread, NULL) == 0);
    close(s->lfd);
    close(s->stop[0]);
    close(s->stop[1]);
}

static const char *srv_url(const struct srv *s, const char *path)
{
    static char url[128];

    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", s->port, path);
    return url;
}

static bool has_header(struct slice v, const char *want)
{
    return v.ptr != NULL && slice_eq_cstr(v, want);
}

/* ---------------------------------------------------------------- tests */

TEST(client_get_reads_status_body_and_headers)
{
    struct http_client_res res;
    struct err err = {0};
    struct srv s;

    srv_start(&s);
    CHECK_INT_EQ(
        http_client_do(&(struct http_client_req){.url = srv_url(&s, "/hello")}, &res, &err), 0);
    srv_stop(&s);
    CHECK_INT_EQ(res.status, 200);
    CHECK_MEM_EQ(res.body.buf, res.body.len, "hello", 5);
    CHECK(has_header(http_client_res_header(&res, "content-type"), "text/plain"));
    CHECK(has_header(http_client_res_header(&res, "X-CUSTOM"), "spaced value"));
    CHECK(http_client_res_header(&res, "X-Empty").ptr != NULL);
    CHECK_UINT_EQ(http_client_res_header(&res, "X-Empty").len, 0);
    CHECK(http_client_res_header(&res, "X-Absent").ptr == NULL);
    CHECK(http_client_res_header(&res, "HTTP/1.1 200 OK").ptr == NULL);
    CHECK(strncmp(res.headers.buf, "HTTP/1.1 200 OK\r\n", 17) == 0);
    CHECK_CONTAINS(s.head, "GET /hello HTTP/1.1\r\n");
    CHECK_CONTAINS(s.head, "User-Agent: slipway/");
    http_client_res_release(&res);
}

TEST(client_post_sends_binary_body_whole)
{
    char body[300];
    struct http_client_res res;
    struct err err = {0};
    struct srv s;

    for (size_t i = 0; i < sizeof(body); i++)
        body[i] = (char)(i % 7 == 0 ? 0 : i); /* NUL bytes inside, all byte values */
    srv_start(&s);
    CHECK_INT_EQ(http_client_do(&(struct http_client_req){.method = "POST",
                                                          .url = srv_url(&s, "/echo"),
                                                          .body = {body, sizeof(body)}},
                                &res, &err),
                 0);
    srv_stop(&s);
    CHECK_INT_EQ(res.status, 200);
    CHECK_MEM_EQ(s.body, s.body_len, body, sizeof(body));
    CHECK_MEM_EQ(res.body.buf, res.body.len, body, sizeof(body));
    CHECK_CONTAINS(s.head, "POST /echo HTTP/1.1\r\n");
    CHECK_CONTAINS(s.head, "Content-Length: 300\r\n");
    CHECK(strcasestr(s.head, "Content-Type") == NULL); /* no implicit form type */
    http_client_res_release(&res);
}

TEST(client_sends_request_headers_and_rejects_injection)
{
    const char *const good[] = {"X-Req: one", "Content-Type: application/json", "Accept:", NULL};
    const char *const bad[] = {"X-Ok: 1", "X-Bad: a\r\nX-Injected: b", NULL};
    struct http_client_res res;
    struct err err = {0};
    struct srv s;

    srv_start(&s);
    CHECK_INT_EQ(http_client_do(&(struct http_client_req){.method = "PUT",
                                                          .url = srv_url(&s, "/echo"),
                                                          .headers = good,
                                                          .body = SLICE("{}")},
                                &res, &err),
                 0);
    http_client_res_release(&res);
    CHECK_INT_EQ(
        http_client_do(&(struct http_client_req){.url = srv_url(&s, "/hello"), .headers = bad},
                       &res, &err),
        ERR_INVALID);
    http_client_res_release(&res);
    srv_stop(&s);
    CHECK_CONTAINS(err.msg, "headers[1]");
    CHECK_INT_EQ(s.nreq, 1); /* the injected request never left */
    CHECK_CONTAINS(s.head, "PUT /echo HTTP/1.1\r\n");
    CHECK_CONTAINS(s.head, "\r\nX-Req: one\r\n");
    CHECK_CONTAINS(s.head, "\r\nContent-Type: application/json\r\n");
    CHECK(strstr(s.head, "Accept:") == NULL);
    CHECK_MEM_EQ(s.body, s.body_len, "{}", 2);
}

TEST(client_head_reads_headers_only)
{
    struct http_client_res res;
    struct err err = {0};
    struct srv s;

    srv_start(&s);
    CHECK_INT_EQ(
        http_client_do(&(struct http_client_req){.method = "HEAD", .url = srv_url(&s, "/head")},
                       &res, &err),
        0);
    srv_stop(&s);
    CHECK_CONTAINS(s.head, "HEAD /head HTTP/1.1\r\n");
    CHECK_INT_EQ(res.status, 200);
    CHECK_UINT_EQ(res.body.len, 0);
    CHECK(has_header(http_client_res_header(&res, "X-Head"), "yes"));
    CHECK(has_header(http_client_res_header(&res, "Content-Length"), "1234"));
    http_client_res_release(&res);
}

TEST(client_other_method_without_body_sends_no_length)
{
    struct http_client_res res;
    struct err err = {0};
    struct srv s;

    srv_start(&s);
    CHECK_INT_EQ(
        http_client_do(&(struct http_client_req){.method = "DELETE", .url = srv_url(&s, "/hello")},
                       &res, &err),
        0);
    srv_stop(&s);
    CHECK_INT_EQ(res.status, 200);
    CHECK_CONTAINS(s.head, "DELETE /hello HTTP/1.1\r\n");
    CHECK(strcasestr(s.head, "Content-Length") == NULL);
    CHECK(strcasestr(s.head, "Content-Type") == NULL);
    http_client_res_release(&res);
}

TEST(client_404_is_a_status_not_an_error)
{
    struct http_client_res res;
    struct err err = {0};
    struct srv s;

    srv_start(&s);
    CHECK_INT_EQ(
        http_client_do(&(struct http_client_req){.url = srv_url(&s, "/missing")}, &res, &err), 0);
    srv_stop(&s);
    CHECK_INT_EQ(res.status, 404);
    CHECK_STR_EQ(res.body.buf, "no such thing");
    http_client_res_release(&res);
}

TEST(client_body_over_limit_keeps_first_bytes)
{
    struct http_client_res res;
    struct err err = {0};
    char want[1000];
    struct srv s;

    for (size_t i = 0; i < sizeof(want); i++)
        want[i] = (char)('a' + i % 26);
    srv_start(&s);
    CHECK_INT_EQ(http_client_do(&(struct http_client_req){.url = srv_url(&s, "/big"),
                                                          .max_response_bytes = sizeof(want)},
                                &res, &err),
                 ERR_LIMIT);
    srv_stop(&s);
    CHECK_INT_EQ(err.code, ERR_LIMIT);
    CHECK_CONTAINS(err.msg, "response body over 1000 bytes");
    CHECK_INT_EQ(res.status, 200);
    CHECK_MEM_EQ(res.body.buf, res.body.len, want, sizeof(want));
    http_client_res_release(&res);
}

TEST(client_body_limit_is_inclusive)
{
    struct http_client_res res;
    struct err err = {0};
    struct srv s;

    srv_start(&s);
    CHECK_INT_EQ(http_client_do(&(struct http_client_req){.url = srv_url(&s, "/hello"),
                                                          .max_response_bytes = 5},
                                &res, &err),
                 0);
    CHECK_STR_EQ(res.body.buf, "hello");
    http_client_res_release(&res);
    CHECK_INT_EQ(http_client_do(&(struct http_client_req){.url = srv_url(&s, "/hello"),
                                                          .max_response_bytes = 4},
                                &res, &err),
                 ERR_LIMIT);
    CHECK_STR_EQ(res.body.buf, "hell");
    http_client_res_release(&res);
    srv_stop(&s);
}

TEST(client_headers_over_limit)
{
    struct http_client_res res;
    struct err err = {0};
    struct srv s;

    srv_start(&s);
    CHECK_INT_EQ(
        http_client_do(&(struct http_client_req){.url = srv_url(&s, "/bighead")}, &res, &err),
        ERR_LIMIT);
    srv_stop(&s);
    CHECK_CONTAINS(err.msg, "response headers over 65536 bytes");
    http_client_res_release(&res);
}

TEST(client_silent_server_times_out)
{
    struct http_client_res res;
    struct err err = {0};
    struct srv s;
    int rc;

    srv_start(&s);
    rc = http_client_do(
        &(struct http_client_req){.url = srv_url(&s, "/hang?token=abc"), .timeout_ms = 300}, &res,
        &err);
    srv_stop(&s);
    CHECK_INT_EQ(rc, ERR_TIMEOUT);
    CHECK_INT_EQ(err.code, ERR_TIMEOUT);
    CHECK_INT_EQ(s.nreq, 1); /* it did connect and ask */
    CHECK_INT_EQ(res.status, 0);
    CHECK_CONTAINS(err.msg, "/hang");
    CHECK(strstr(err.msg, "token") == NULL);
    http_client_res_release(&res);
}

/* A socket bound but not listening answers a connect with RST. */
TEST(client_closed_port_is_unavailable)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    struct http_client_res res;
    struct err err = {0};
    char url[64];
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    CHECK(fd >= 0);
    CHECK(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
    CHECK(getsockname(fd, (struct sockaddr *)&a, &alen) == 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", ntohs(a.sin_port));
    CHECK_INT_EQ(http_client_do(&(struct http_client_req){.url = url}, &res, &err),
                 ERR_UNAVAILABLE);
    close(fd);
    CHECK_INT_EQ(res.status, 0);
    CHECK_CONTAINS(err.msg, url);
    http_client_res_release(&res);
}

TEST(client_bad_urls_are_invalid)
{
    static const char *const urls[] = {
        "http://127.0.0.1:99999/x", /* port out of range */
        "http://[::1/x",            /* unclosed IPv6 literal */
        "ftp://127.0.0.1/x",        /* not http or https */
        "file:///etc/passwd",
        "127.0.0.1:1/x", /* no scheme: not guessed */
        "",
    };
    struct http_client_res res;
    struct err err;

    for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
        err = (struct err){0};
        if (http_client_do(&(struct http_client_req){.url = urls[i]}, &res, &err) != ERR_INVALID)
            test_fail(__FILE__, __LINE__, "%s: %d %s", urls[i], err.code, err.msg);
        http_client_res_release(&res);
    }
}

TEST(client_bad_method_is_invalid)
{
    struct http_client_res res;
    struct err err = {0};

    CHECK_INT_EQ(http_client_do(&(struct http_client_req){.method = "GET /x HTTP/1.0\r\n",
                                                          .url = "http://127.0.0.1:1/"},
                                &res, &err),
                 ERR_INVALID);
    http_client_res_release(&res);
    CHECK_INT_EQ(http_client_do(&(struct http_client_req){.method = "HEAD",
                                                          .url = "http://127.0.0.1:1/",
                                                          .body = SLICE("x")},
                                &res, &err),
                 ERR_INVALID);
    http_client_res_release(&res);
}

TEST(client_redirect_is_not_followed)
{
    struct http_client_res res;
    struct err err = {0};
    struct srv s;

    srv_start(&s);
    CHECK_INT_EQ(
        http_client_do(&(struct http_client_req){.url = srv_url(&s, "/redirect")}, &res, &err), 0);
    srv_stop(&s);
    CHECK_INT_EQ(s.nreq, 1);
    CHECK_INT_EQ(res.status, 302);
    CHECK(has_header(http_client_res_header(&res, "Location"), "/hello"));
    CHECK_STR_EQ(res.body.buf, "moved");
    http_client_res_release(&res);
}

TEST(client_keeps_only_the_final_header_block)
{
    struct http_client_res res;
    struct err err = {0};
    struct srv s;

    srv_start(&s);
    CHECK_INT_EQ(
        http_client_do(&(struct http_client_req){.url = srv_url(&s, "/interim")}, &res, &err), 0);
    srv_stop(&s);
    CHECK_INT_EQ(res.status, 200);
    CHECK_STR_EQ(res.body.buf, "ok");
    CHECK(has_header(http_client_res_header(&res, "X-Final"), "yes"));
    CHECK(http_client_res_header(&res, "X-Interim").ptr == NULL);
    CHECK(http_client_res_header(&res, "Link").ptr == NULL);
    CHECK(strncmp(res.headers.buf, "HTTP/1.1 200 OK\r\n", 17) == 0);
    http_client_res_release(&res);
}

static void check_hidden(const char *url, int want)
{
    struct http_client_res res;
    struct err err = {0};
    int rc = http_client_do(&(struct http_client_req){.url = url, .timeout_ms = 300}, &res, &err);

    http_client_res_release(&res);
    if (rc != want)
        test_fail(__FILE__, __LINE__, "%s: %d, expected %d (%s)", url, rc, want, err.msg);
    if (strstr(err.msg, "user") || strstr(err.msg, "pw") || strstr(err.msg, "token") ||
        strstr(err.msg, "abc") || strchr(err.msg, '@') || strchr(err.msg, '?'))
        test_fail(__FILE__, __LINE__, "%s: message shows a secret: %s", url, err.msg);
    CHECK_CONTAINS(err.msg, "127.0.0.1");
}

TEST(client_error_messages_hide_credentials)
{
    char url[128];
    struct srv s;

    check_hidden("http://user:pw@127.0.0.1:1/x?token=abc", ERR_UNAVAILABLE);
    check_hidden("http://user:pw@127.0.0.1:99999/x?token=abc#abc", ERR_INVALID);
    check_hidden("ftp://user:pw@127.0.0.1/x?token=abc", ERR_INVALID);
    srv_start(&s);
    snprintf(url, sizeof(url), "http://user:pw@127.0.0.1:%d/hang?token=abc", s.port);
    check_hidden(url, ERR_TIMEOUT);
    srv_stop(&s);
    CHECK_INT_EQ(s.nreq, 1);
}

/* libcurl's own text says "Failed to connect to 127.0.0.1 port 1 after 0 ms: …": with a
 * password "port" and a query value "after" it would quote them, so its generic text is used. */
TEST(client_error_message_drops_curl_text_quoting_a_secret)
{
    struct http_client_res res;
    struct err err = {0};

    CHECK_INT_EQ(
        http_client_do(&(struct http_client_req){.url = "http://u:port@127.0.0.1:1/x?t=after"},
                       &res, &err),
        ERR_UNAVAILABLE);
    http_client_res_release(&res);
    CHECK_CONTAINS(err.msg, "GET http://127.0.0.1:1/x: ");
    CHECK(strstr(err.msg, "port") == NULL);
    CHECK(strstr(err.msg, "after") == NULL);
}

struct worker {
    const char *url;
    int rc;
    int status;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct http_client_res res;
    struct err err = {0};

    w->rc = http_client_do(&(struct http_client_req){.url = w->url}, &res, &err);
    w->status = res.status;
    http_client_res_release(&res);
    return NULL;
}

/* Worker threads call the client at once; the first calls race to initialise libcurl. */
TEST(client_runs_on_several_threads_at_once)
{
    struct worker w[4];
    const char *url;
    pthread_t t[4];
    struct srv s;

    srv_start(&s);
    url = srv_url(&s, "/hello"); /* one static buffer: fill it before the threads start */
    for (size_t i = 0; i < 4; i++) {
        w[i] = (struct worker){url, -100, 0};
        CHECK(pthread_create(&t[i], NULL, worker_main, &w[i]) == 0);
    }
    for (size_t i = 0; i < 4; i++)
        CHECK(pthread_join(t[i], NULL) == 0);
    srv_stop(&s);
    CHECK_INT_EQ(s.nreq, 4);
    for (size_t i = 0; i < 4; i++) {
        CHECK_INT_EQ(w[i].rc, 0);
        CHECK_INT_EQ(w[i].status, 200);
    }
}

TEST(client_res_header_on_empty_response)
{
    struct http_client_res res;
    struct err err = {0};

    CHECK_INT_EQ(http_client_do(&(struct http_client_req){.url = "nope"}, &res, &err), ERR_INVALID);
    CHECK(http_client_res_header(&res, "Content-Type").ptr == NULL);
    CHECK_INT_EQ(res.status, 0);
    http_client_res_release(&res);
}
