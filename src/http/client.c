/*
 * The HTTP client: one blocking request per call on its own libcurl easy handle, for worker
 * threads. Everything is bounded: a connect timeout and a timeout for the whole exchange, a cap
 * on the response body and on its header block. Only http and https; a redirect is returned
 * to the caller, never followed. Error messages name the URL without its userinfo, query or
 * fragment, so credentials and tokens never reach a log.
 *
 * Contract details http.h leaves open, as implemented here:
 *   - *res is output only: http_client_do() overwrites it first, so release it after every
 *     call, successful or not (the body received so far is kept on failure).
 *   - res->headers holds the raw lines (status line included) of the final response block
 *     only: each status line starts a block, so 1xx and proxy CONNECT blocks are dropped.
 *     Chunked trailers, when sent, follow that block.
 *   - http_client_res_header() returns the first matching header; the slice points into
 *     res->headers and is valid until http_client_res_release().
 *   - A request carries a body when it has one or its method is POST, PUT or PATCH
 *     (Content-Length: 0). libcurl's implicit form Content-Type is not sent: a caller wanting
 *     a Content-Type names it in <headers>. HEAD with a body is ERR_INVALID.
 *   - Header lines follow libcurl: "Name:" removes a header libcurl would add, "Name;" sends
 *     it empty. CR or LF in a line is ERR_INVALID (no header injection).
 */
#include <ctype.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include <curl/curl.h>

#include "http/http.h"

#ifndef SLIPWAY_VERSION
#define SLIPWAY_VERSION "0.0.0"
#endif

#define CONNECT_TIMEOUT_MS 5000L
#define TIMEOUT_MS         30000L
#define MAX_BODY           ((size_t)8 << 20)
#define MAX_HEADERS        ((size_t)64 << 10)

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc; /* written once under curl_once */

static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* One call's state, reached from libcurl's callbacks. */
struct call {
    struct http_client_res *res;
    bool body_over;    /* the body would have passed res->body.max */
    bool headers_over; /* the final header block would have passed MAX_HEADERS */
};

/* ---------------------------------------------------------------- callbacks */

/* Keeps what fits under the limit; past it, a short count makes libcurl stop the transfer
 * with CURLE_WRITE_ERROR. */
static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    struct call *c = arg;
    struct sbuf *b = &c->res->body;
    size_t room = b->max - b->len;

    n *= size; /* size is always 1 */
    if (n > room) {
        sbuf_put(b, data, room);
        c->body_over = true;
        return 0;
    }
    sbuf_put(b, data, n);
    return n;
}

/* libcurl hands over one whole header line per call, CRLF included. */
static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
    struct call *c = arg;
    struct sbuf *h = &c->res->headers;

    n *= size;
    /* A status line starts a new block: 1xx and CONNECT blocks are dropped. */
    if (n >= 5 && memcmp(data, "HTTP/", 5) == 0)
        sbuf_reset(h);
    if (n > h->max - h->len) {
        c->headers_over = true;
        return 0;
    }
    sbuf_put(h, data, n);
    return n;
}

/* ---------------------------------------------------------------- URLs in messages */

/* A URL cut into what may be shown (scheme, host[:port] and path) and what may carry
 * credentials (userinfo, query and fragment). */
struct url_view {
    struct slice scheme;   /* "https://", or empty */
    struct slice userinfo; /* before the last '@' of the authority, without it */
    struct slice hostpath;
    struct slice rest; /* "?query#fragment" */
};

static struct url_view url_view(const char *url)
{
    struct url_view v = {SLICE_NULL, SLICE_NULL, SLICE_NULL, SLICE_NULL};
    const char *p = url, *sep = strstr(url, "://"), *auth_end, *at;

    if (sep != NULL && (size_t)(sep - url) < strcspn(url, "/?#")) {
        p = sep + 3;
        v.scheme = (struct slice){url, (size_t)(p - url)};
    }
    auth_end = p + strcspn(p, "/?#");
    at = memrchr(p, '@', (size_t)(auth_end - p));
    if (at != NULL) {
        v.userinfo = (struct slice){p, (size_t)(at - p)};
        p = at + 1;
    }
    v.hostpath = (struct slice){p, strcspn(p, "?#")};
    v.rest = slice_from_cstr(p + v.hostpath.len);
    return v;
}

/* Whether <text> contains any piece of <secret> between the delimiters of userinfo and query
 * strings (user, password, parameter names and values). */
static bool mentions(const char *text, struct slice secret)
{
    size_t i = 0, start, tlen = strlen(text);

    while (i < secret.len) {
        start = i;
        while (i < secret.len && strchr(":?#&=;", secret.ptr[i]) == NULL)
            i++;
        if (i > start && memmem(text, tlen, secret.ptr + start, i - start) != NULL)
            return true;
        i++;
    }
    return false;
}

/* ---------------------------------------------------------------- checking the request */

static bool is_token(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s != '\0'; s++)
        if (!isalnum((unsigned char)*s) && strchr("!#$%&'*+-.^_`|~", *s) == NULL)
            return false;
    return true;
}

/* scheme "://" with an RFC 3986 scheme; libcurl would otherwise guess one. */
static bool has_scheme(const char *url)
{
    size_t n = 0;

    if (!isalpha((unsigned char)url[0]))
        return false;
    while (isalnum((unsigned char)url[n]) || url[n] == '+' || url[n] == '-' || url[n] == '.')
        n++;
    return strncmp(url + n, "://", 3) == 0;
}

static bool sends_body(const char *method, struct slice body)
{
    return body.len > 0 || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
           strcmp(method, "PATCH") == 0;
}

static int check_req(const struct http_client_req *req, const char *method, struct err *err)
{
    struct url_view v;

    if (req->url == NULL || req->url[0] == '\0')
        return err_set(err, ERR_INVALID, "url: missing");
    if (!has_scheme(req->url)) {
        v = url_view(req->url);
        return err_set(err, ERR_INVALID, "url " SLICE_FMT ": needs http:// or https://",
                       SLICE_ARG(v.hostpath));
    }
    if (!is_token(method))
        return err_set(err, ERR_INVALID, "method: not an HTTP token");
    if (strcmp(method, "HEAD") == 0 && req->body.len > 0)
        return err_set(err, ERR_INVALID, "body: a HEAD request has none");
    return 0;
}

/* The request headers as a libcurl list; *out is NULL when there are none. */
static int headers_build(const struct http_client_req *req, bool body, struct curl_slist **out,
                         struct err *err)
{
    struct curl_slist *list = NULL, *l;
    bool ctype = false;
    const char *h;

    for (size_t i = 0; req->headers != NULL && req->headers[i] != NULL; i++) {
        h = req->headers[i];
        if (h[strcspn(h, "\r\n")] != '\0') {
            curl_slist_free_all(list);
            return err_set(err, ERR_INVALID, "headers[%zu]: contains CR or LF", i);
        }
        ctype = ctype || strncasecmp(h, "Content-Type:", 13) == 0 ||
                strncasecmp(h, "Content-Type;", 13) == 0;
        l = curl_slist_append(list, h);
        if (l == NULL)
            goto nomem;
        list = l;
    }
    if (body && !ctype) {
        l = curl_slist_append(list, "Content-Type:");
        if (l == NULL)
            goto nomem;
        list = l;
    }
    *out = list;
    return 0;

nomem:
    curl_slist_free_all(list);
    return err_set(err, ERR_INTERNAL, "headers: out of memory");
}

/* ---------------------------------------------------------------- the transfer */

/* Sets <opt> unless an earlier setopt failed; the first failure is kept in <cc>. */
#define SET(h, cc, opt, val)                                                                       \
    do {                                                                                           \
        if ((cc) == CURLE_OK)                                                                      \
            (cc) = curl_easy_setopt((h), (opt), (val));                                            \
    } while (0)

static long ms_or(uint64_t ms, long dflt)
{
    if (ms == 0)
        return dflt;
    return ms > (uint64_t)LONG_MAX ? LONG_MAX : (long)ms;
}

/* GET and HEAD as libcurl knows them; any other method (or a GET with a body) as a custom
 * request whose body has an explicit size, so binary bodies are sent whole. */
static CURLcode set_method(CURL *h, const char *method, struct slice body)
{
    CURLcode cc = CURLE_OK;

    if (strcmp(method, "HEAD") == 0) {
        SET(h, cc, CURLOPT_NOBODY, 1L);
        return cc;
    }
    if (strcmp(method, "GET") == 0 && body.len == 0) {
        SET(h, cc, CURLOPT_HTTPGET, 1L);
        return cc;
    }
    SET(h, cc, CURLOPT_CUSTOMREQUEST, method);
    if (!sends_body(method, body))
        return cc;
    /* Never NULL: libcurl would then read the body from stdin. */
    SET(h, cc, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body.len);
    SET(h, cc, CURLOPT_POSTFIELDS, body.ptr != NULL ? body.ptr : "");
    return cc;
}

static CURLcode setup(CURL *h, const struct http_client_req *req, const char *method,
                      struct call *c, struct curl_slist *hdrs, char *errbuf)
{
    CURLcode cc = CURLE_OK;

    SET(h, cc, CURLOPT_ERRORBUFFER, errbuf);
    SET(h, cc, CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85.0 */
    SET(h, cc, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    SET(h, cc, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    SET(h, cc, CURLOPT_URL, req->url);
    SET(h, cc, CURLOPT_FOLLOWLOCATION, 0L);
    SET(h, cc, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
    SET(h, cc, CURLOPT_CONNECTTIMEOUT_MS, ms_or(req->connect_timeout_ms, CONNECT_TIMEOUT_MS));
    SET(h, cc, CURLOPT_TIMEOUT_MS, ms_or(req->timeout_ms, TIMEOUT_MS));
    SET(h, cc, CURLOPT_USERAGENT, "slipway/" SLIPWAY_VERSION);
    SET(h, cc, CURLOPT_HTTPHEADER, hdrs);
    SET(h, cc, CURLOPT_WRITEFUNCTION, on_body);
    SET(h, cc, CURLOPT_WRITEDATA, c);
    SET(h, cc, CURLOPT_HEADERFUNCTION, on_header);
    SET(h, cc, CURLOPT_HEADERDATA, c);
    if (cc == CURLE_OK)
        cc = set_method(h, method, req->body);
    return cc;
}

#undef SET

static int code_for(CURLcode cc, const struct call *c)
{
    switch (cc) {
    case CURLE_OPERATION_TIMEDOUT:
        return ERR_TIMEOUT;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return ERR_UNAVAILABLE;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
        return ERR_INVALID;
    case CURLE_WRITE_ERROR:
        return c->body_over || c->headers_over ? ERR_LIMIT : ERR_IO;
    default:
        return ERR_IO;
    }
}

/* "<method> <url without secrets>: <why>". libcurl's own text is used unless it quotes a
 * piece of the userinfo, query or fragment. */
static int fail(CURLcode cc, const struct call *c, const char *method, const char *url,
                const char *errbuf, struct err *err)
{
    struct url_view v = url_view(url);
    const char *why = errbuf[0] != '\0' ? errbuf : curl_easy_strerror(cc);
    int code = code_for(cc, c);

    if (code == ERR_LIMIT && c->body_over)
        return err_set(err, code, "%s " SLICE_FMT SLICE_FMT ": response body over %zu bytes",
                       method, SLICE_ARG(v.scheme), SLICE_ARG(v.hostpath), c->res->body.max);
    if (code == ERR_LIMIT)
        return err_set(err, code, "%s " SLICE_FMT SLICE_FMT ": response headers over %zu bytes",
                       method, SLICE_ARG(v.scheme), SLICE_ARG(v.hostpath), MAX_HEADERS);
    if (mentions(why, v.userinfo) || mentions(why, v.rest))
        why = curl_easy_strerror(cc);
    return err_set(err, code, "%s " SLICE_FMT SLICE_FMT ": %s", method, SLICE_ARG(v.scheme),
                   SLICE_ARG(v.hostpath), why);
}

static int perform(const struct http_client_req *req, const char *method,
                   struct http_client_res *res, struct curl_slist *hdrs, struct err *err)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    struct call c = {res, false, false};
    long status = 0;
    CURLcode cc;
    CURL *h;

    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK)
        return err_set(err, ERR_INTERNAL, "curl_global_init: %s", curl_easy_strerror(curl_init_rc));
    h = curl_easy_init();
    if (h == NULL)
        return err_set(err, ERR_INTERNAL, "curl_easy_init failed");
    cc = setup(h, req, method, &c, hdrs, errbuf);
    if (cc == CURLE_OK)
        cc = curl_easy_perform(h);
    if (curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK)
        res->status = (int)status;
    curl_easy_cleanup(h);
    return cc == CURLE_OK ? 0 : fail(cc, &c, method, req->url, errbuf, err);
}

int http_client_do(const struct http_client_req *req, struct http_client_res *res, struct err *err)
{
    const char *method = req->method != NULL ? req->method : "GET";
    size_t max = req->max_response_bytes != 0 ? req->max_response_bytes : MAX_BODY;
    struct curl_slist *hdrs = NULL;
    int rc;

    *res = (struct http_client_res){0, SBUF_INIT(max), SBUF_INIT(MAX_HEADERS)};
    rc = check_req(req, method, err);
    if (rc < 0)
        return rc;
    rc = headers_build(req, sends_body(method, req->body), &hdrs, err);
    if (rc < 0)
        return rc;
    rc = perform(req, method, res, hdrs, err);
    curl_slist_free_all(hdrs);
    return rc;
}

void http_client_res_release(struct http_client_res *res)
{
    sbuf_release(&res->body);
    sbuf_release(&res->headers);
    res->status = 0;
}

struct slice http_client_res_header(const struct http_client_res *res, const char *name)
{
    struct slice rest = sbuf_slice(&res->headers), line, key;

    while (rest.len > 0) {
        slice_split(&rest, '\n', &line);
        if (line.len > 0 && line.ptr[line.len - 1] == '\r')
            line.len--;
        if (!slice_split(&line, ':', &key))
            continue; /* the status line or the blank line */
        if (slice_case_eq_cstr(key, name))
            return slice_trim(line);
    }
    return SLICE_NULL;
}
