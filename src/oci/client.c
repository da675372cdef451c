/*
 * The registry client: pushes an OCI image layout to a registry and pulls one back, after the
 * OCI distribution specification, with libcurl used directly so blobs stream between the
 * disk and the socket (CURLOPT_READFUNCTION from a file region, the write callback into a
 * temporary file hashed as it grows) and one handle keeps its connections between requests.
 *
 * Authentication: every request goes out with what the client already holds for its scope
 * (a cached bearer token, Basic once the registry asked for it, or the caller's token); a 401
 * is answered once by following its challenge: Bearer gets a token from the realm (with Basic
 * credentials when there are some) and caches it per scope, Basic sends the credentials.
 * Passwords and tokens live only in headers built here: messages name the registry,
 * repository, request and HTTP status, never a credential or a query string.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "oci-int.h"

#define CONNECT_TIMEOUT_MS 10000L
#define TIMEOUT_MS         600000L
#define CHUNK_BYTES        ((uint64_t)64 << 20)
#define ERR_BODY_MAX       ((size_t)16 << 10)
#define HEADERS_MAX        ((size_t)64 << 10)
#define TOKENS_MAX         16
#define LAYOUT_FILE        "{\"imageLayoutVersion\":\"1.0.0\"}"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc; /* written once under curl_once */

static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct token {
    char *scope;  /* the scopes asked for, space-separated: the cache key */
    char *header; /* "Authorization: Bearer …" */
};

struct oci_client {
    CURL *h;
    char *username, *password;
    char *static_auth; /* "Authorization: Bearer <opts.token>", or NULL */
    char *basic_auth;  /* "Authorization: Basic …" once a registry asked for Basic */
    bool insecure_loopback;
    long timeout_ms;
    uint64_t chunk_bytes;
    struct token tokens[TOKENS_MAX];
    size_t ntokens, next_evict;
};

/* ---------------------------------------------------------------- small helpers */

static void secret_free(char *s)
{
    if (s != NULL) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

static char *base64(const char *in)
{
    size_t n = strlen(in);
    char *out = xmalloc(4 * ((n + 2) / 3) + 1);

    EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)in, (int)n);
    return out;
}

static void hex_of(const unsigned char *md, char out[65])
{
    static const char digits[] = "0123456789abcdef";

    for (int i = 0; i < 32; i++) {
        out[2 * i] = digits[md[i] >> 4];
        out[2 * i + 1] = digits[md[i] & 15];
    }
    out[64] = '\0';
}

static void digest_of(struct slice data, char out[OCI_DIGEST_SIZE])
{
    unsigned char md[32];

    EVP_Digest(data.ptr, data.len, md, NULL, EVP_sha256(), NULL);
    memcpy(out, "sha256:", 7);
    hex_of(md, out + 7);
}

bool oci_media_is_index(struct slice mt)
{
    return slice_eq_cstr(mt, OCI_MT_INDEX) || slice_eq_cstr(mt, OCI_MT_DOCKER_LIST);
}

static bool is_loopback(const char *host)
{
    static const char *const names[] = {"127.0.0.1", "localhost", "[::1]"};

    for (size_t i = 0; i < ARRAY_LEN(names); i++) {
        size_t n = strlen(names[i]);

        if (strncmp(host, names[i], n) == 0 &&
            (host[n] == '\0' || host[n] == ':' || host[n] == '/'))
            return true;
    }
    return false;
}

/* ---------------------------------------------------------------- challenges and URLs */

/* Reads one auth-param value (quoted or a token) at *p into <out>. */
static int param_value(const char **p, const char *end, char *out, size_t cap)
{
    size_t n = 0;
    bool quoted = *p < end && **p == '"';

    if (quoted)
        (*p)++;
    while (*p < end && (quoted ? **p != '"' : (**p != ',' && **p != ' '))) {
        if (quoted && **p == '\\' && *p + 1 < end)
            (*p)++;
        if (n + 1 >= cap)
            return ERR_LIMIT;
        out[n++] = *(*p)++;
    }
    if (quoted) {
        if (*p >= end)
            return ERR_INVALID;
        (*p)++;
    }
    out[n] = '\0';
    return 0;
}

int oci_challenge_parse(struct slice hdr, struct oci_challenge *out, struct err *err)
{
    const char *p = hdr.ptr, *end = hdr.ptr + hdr.len;
    size_t n = 0;

    memset(out, 0, sizeof(*out));
    while (p < end && *p == ' ')
        p++;
    /* A scheme is a token; letters cover every one registries use. */
    while (p < end && ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')) &&
           n + 1 < sizeof(out->scheme))
        out->scheme[n++] = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p), p++;
    if (n == 0 || (p < end && *p != ' '))
        return err_set(err, ERR_INVALID, "WWW-Authenticate: no scheme");
    while (p < end) {
        const char *key;
        size_t klen;
        char *dst = NULL, skip[1024];
        size_t cap = sizeof(skip);

        while (p < end && (*p == ' ' || *p == ','))
            p++;
        key = p;
        while (p < end && *p != '=' && *p != ' ' && *p != ',')
            p++;
        klen = (size_t)(p - key);
        if (p >= end || *p != '=')
            return klen == 0 ? 0
                             : err_set(err, ERR_INVALID, "WWW-Authenticate: expected key=value");
        p++;
        if (klen == 5 && strncasecmp(key, "realm", 5) == 0)
            dst = out->realm, cap = sizeof(out->realm);
        else if (klen == 7 && strncasecmp(key, "service", 7) == 0)
            dst = out->service, cap = sizeof(out->service);
        else if (klen == 5 && strncasecmp(key, "scope", 5) == 0)
            dst = out->scope, cap = sizeof(out->scope);
        if (param_value(&p, end, dst != NULL ? dst : skip, cap) < 0)
            return err_set(err, ERR_INVALID,
                           "WWW-Authenticate: a value is unterminated or too long");
    }
    return 0;
}

char *oci_location_url(struct arena *a, const char *origin, struct slice loc, const char *digest)
{
    const char *join = memchr(loc.ptr, '?', loc.len) != NULL ? "&" : "?";
    const char *pre = origin, *slash = "";

    if (slice_starts_with(loc, SLICE("http://")) || slice_starts_with(loc, SLICE("https://")))
        pre = "";
    else if (loc.len == 0 || loc.ptr[0] != '/')
        slash = "/";
    if (digest == NULL)
        return arena_printf(a, "%s%s" SLICE_FMT, pre, slash, SLICE_ARG(loc));
    /* ':' escaped as every client does; both spellings are accepted by registries. */
    return arena_printf(a, "%s%s" SLICE_FMT "%sdigest=sha256%%3A%s", pre, slash, SLICE_ARG(loc),
                        join, digest + 7);
}

/* ---------------------------------------------------------------- one request */

struct req {
    const char *method;
    const char *host, *repo; /* for messages */
    const char *scope;       /* what the request needs, space-separated scopes */
    const char *url;
    const char *accept, *ctype, *crange;
    struct slice body; /* an in-memory body, or: */
    int in_fd;         /* -1, or the body is in_len bytes of in_fd at in_off */
    uint64_t in_off, in_len, in_pos;
    int out_fd; /* -1, or a 2xx body goes to this file, hashed into out_md */
    EVP_MD_CTX *out_md;
    uint64_t out_len;
    bool out_failed;
    size_t body_max; /* what res->body keeps; more is an error only with body_strict */
    bool body_strict, body_over;
    bool follow; /* blob downloads may be redirected to storage */
};

struct res {
    long status;
    struct sbuf headers;
    struct sbuf body;
};

static void res_release(struct res *r)
{
    sbuf_release(&r->headers);
    sbuf_release(&r->body);
}

static struct slice res_header(const struct res *r, const char *name)
{
    struct slice rest = sbuf_slice(&r->headers), line, key;

    while (rest.len > 0) {
        slice_split(&rest, '\n', &line);
        if (line.len > 0 && line.ptr[line.len - 1] == '\r')
            line.len--;
        if (slice_split(&line, ':', &key) && slice_case_eq_cstr(key, name))
            return slice_trim(line);
    }
    return SLICE_NULL;
}

struct call {
    CURL *h;
    struct req *req;
    struct res *res;
};

static size_t on_read(char *buf, size_t size, size_t n, void *arg)
{
    struct req *q = arg;
    uint64_t left = q->in_len - q->in_pos;
    size_t want = size * n < left ? size * n : (size_t)left;
    ssize_t got;

    if (want == 0)
        return 0;
    got = pread(q->in_fd, buf, want, (off_t)(q->in_off + q->in_pos));
    if (got <= 0)
        return CURL_READFUNC_ABORT; /* a file that shrank under us */
    q->in_pos += (uint64_t)got;
    return (size_t)got;
}

static size_t on_write(char *data, size_t size, size_t n, void *arg)
{
    struct call *c = arg;
    struct req *q = c->req;
    struct sbuf *b = &c->res->body;
    long status = 0;
    size_t room;

    n *= size;
    curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &status);
    if (q->out_fd >= 0 && status >= 200 && status < 300) {
        if (file_write_all(q->out_fd, data, n) != 0) {
            q->out_failed = true;
            return 0;
        }
        EVP_DigestUpdate(q->out_md, data, n);
        q->out_len += n;
        return n;
    }
    room = b->max - b->len;
    if (n > room) {
        sbuf_put(b, data, room);
        q->body_over = true;
        return q->body_strict ? 0 : n; /* error bodies are cut, not fatal */
    }
    sbuf_put(b, data, n);
    return n;
}

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
    struct sbuf *h = &((struct call *)arg)->res->headers;

    n *= size;
    if (n >= 5 && memcmp(data, "HTTP/", 5) == 0)
        sbuf_reset(h); /* a new response: 1xx, a redirect */
    if (n > h->max - h->len)
        return 0;
    sbuf_put(h, data, n);
    return n;
}

#define SET(h, cc, opt, val)                                                                       \
    do {                                                                                           \
        if ((cc) == CURLE_OK)                                                                      \
            (cc) = curl_easy_setopt((h), (opt), (val));                                            \
    } while (0)

static CURLcode set_method(CURL *h, const struct req *q)
{
    CURLcode cc = CURLE_OK;

    if (strcmp(q->method, "HEAD") == 0) {
        SET(h, cc, CURLOPT_NOBODY, 1L);
    } else if (strcmp(q->method, "GET") == 0) {
        SET(h, cc, CURLOPT_HTTPGET, 1L);
    } else if (q->in_fd >= 0) {
        SET(h, cc, CURLOPT_UPLOAD, 1L);
        SET(h, cc, CURLOPT_CUSTOMREQUEST, q->method);
        SET(h, cc, CURLOPT_INFILESIZE_LARGE, (curl_off_t)q->in_len);
        SET(h, cc, CURLOPT_READFUNCTION, on_read);
        SET(h, cc, CURLOPT_READDATA, (void *)q);
    } else {
        SET(h, cc, CURLOPT_CUSTOMREQUEST, q->method);
        SET(h, cc, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->body.len);
        SET(h, cc, CURLOPT_POSTFIELDS, q->body.ptr != NULL ? q->body.ptr : "");
    }
    return cc;
}

static CURLcode setup(struct oci_client *c, struct call *call, struct curl_slist *hdrs,
                      char *errbuf)
{
    CURL *h = c->h;
    CURLcode cc = CURLE_OK;

    curl_easy_reset(h); /* options only: connections and DNS stay cached */
    SET(h, cc, CURLOPT_ERRORBUFFER, errbuf);
    SET(h, cc, CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
    SET(h, cc, CURLOPT_PROTOCOLS_STR, "http,https");
    SET(h, cc, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
    SET(h, cc, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    SET(h, cc, CURLOPT_URL, call->req->url);
    /* Custom Authorization headers are not sent to another host after a redirect. */
    SET(h, cc, CURLOPT_FOLLOWLOCATION, call->req->follow ? 1L : 0L);
    SET(h, cc, CURLOPT_MAXREDIRS, 5L);
    SET(h, cc, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
    SET(h, cc, CURLOPT_TIMEOUT_MS, c->timeout_ms);
    SET(h, cc, CURLOPT_USERAGENT, "slipway/" SLIPWAY_VERSION);
    SET(h, cc, CURLOPT_HTTPHEADER, hdrs);
    SET(h, cc, CURLOPT_WRITEFUNCTION, on_write);
    SET(h, cc, CURLOPT_WRITEDATA, (void *)call);
    SET(h, cc, CURLOPT_HEADERFUNCTION, on_header);
    SET(h, cc, CURLOPT_HEADERDATA, (void *)call);
    if (cc == CURLE_OK)
        cc = set_method(h, call->req);
    return cc;
}

#undef SET

static struct curl_slist *add(struct curl_slist *l, bool *oom, const char *line)
{
    struct curl_slist *n;

    if (*oom || line == NULL)
        return l;
    n = curl_slist_append(l, line);
    if (n == NULL)
        *oom = true;
    return n != NULL ? n : l;
}

static struct curl_slist *headers_for(const struct req *q, const char *auth, char *scratch,
                                      size_t cap, bool *oom)
{
    struct curl_slist *l = NULL;

    *oom = false;
    l = add(l, oom, auth);
    l = add(l, oom, "Expect:"); /* no 100-continue round trip before a body */
    if (q->accept != NULL) {
        snprintf(scratch, cap, "Accept: %s", q->accept);
        l = add(l, oom, scratch);
    }
    if (q->ctype != NULL) {
        snprintf(scratch, cap, "Content-Type: %s", q->ctype);
        l = add(l, oom, scratch);
    } else if (strcmp(q->method, "GET") != 0 && strcmp(q->method, "HEAD") != 0) {
        l = add(l, oom, "Content-Type:");
    }
    if (q->crange != NULL) {
        snprintf(scratch, cap, "Content-Range: %s", q->crange);
        l = add(l, oom, scratch);
    }
    return l;
}

/* The registry and the request, for messages: "registry H: repository R: PUT manifest". */
static int fail_net(const struct req *q, CURLcode cc, struct err *err)
{
    int code = cc == CURLE_OPERATION_TIMEDOUT                                    ? ERR_TIMEOUT
               : cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST ? ERR_UNAVAILABLE
                                                                                 : ERR_IO;
    const char *why = curl_easy_strerror(cc); /* never the URL: it may hold a session state */

    if (q->out_failed)
        why = "cannot write the blob to disk";
    return err_set(err, code, "registry %s: repository %s: %s: %s", q->host, q->repo, q->method,
                   why);
}

/* Sends <q> once with <auth> (a header line or NULL). */
static int perform(struct oci_client *c, struct req *q, const char *auth, struct res *res,
                   struct err *err)
{
    char errbuf[CURL_ERROR_SIZE] = "", scratch[1024];
    struct call call = {c->h, q, res};
    struct curl_slist *hdrs;
    bool oom;
    CURLcode cc;

    res_release(res);
    *res = (struct res){0, SBUF_INIT(HEADERS_MAX),
                        SBUF_INIT(q->body_max ? q->body_max : ERR_BODY_MAX)};
    q->in_pos = 0;
    q->body_over = q->out_failed = false;
    if (q->out_fd >= 0) { /* a retry starts the file over */
        q->out_len = 0;
        if (ftruncate(q->out_fd, 0) != 0 || lseek(q->out_fd, 0, SEEK_SET) != 0 ||
            EVP_DigestInit_ex(q->out_md, EVP_sha256(), NULL) != 1)
            return err_set(err, ERR_IO, "cannot rewind a download: %s", strerror(errno));
    }
    hdrs = headers_for(q, auth, scratch, sizeof(scratch), &oom);
    if (oom) {
        curl_slist_free_all(hdrs);
        return err_set(err, ERR_INTERNAL, "out of memory building headers");
    }
    cc = setup(c, &call, hdrs, errbuf);
    if (cc == CURLE_OK)
        cc = curl_easy_perform(c->h);
    curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &res->status);
    curl_slist_free_all(hdrs);
    if (cc == CURLE_WRITE_ERROR && q->body_over)
        return err_set(err, ERR_LIMIT, "registry %s: repository %s: answer over %zu bytes", q->host,
                       q->repo, res->body.max);
    if (cc != CURLE_OK)
        return fail_net(q, cc, err);
    return 0;
}

/* ---------------------------------------------------------------- tokens */

static const char *token_cached(struct oci_client *c, const char *scope)
{
    for (size_t i = 0; i < c->ntokens; i++)
        if (strcmp(c->tokens[i].scope, scope) == 0)
            return c->tokens[i].header;
    return NULL;
}

static const char *token_store(struct oci_client *c, const char *scope, struct slice token)
{
    struct token *t;
    size_t i;

    for (i = 0; i < c->ntokens && strcmp(c->tokens[i].scope, scope) != 0; i++)
        ;
    if (i == c->ntokens && c->ntokens < TOKENS_MAX)
        c->ntokens++;
    else if (i == c->ntokens) /* full: the oldest goes */
        i = c->next_evict++ % TOKENS_MAX;
    t = &c->tokens[i];
    free(t->scope);
    secret_free(t->header);
    t->scope = xstrdup(scope);
    t->header = xmalloc(token.len + 32);
    snprintf(t->header, token.len + 32, "Authorization: Bearer " SLICE_FMT, SLICE_ARG(token));
    return t->header;
}

/* "<realm>?service=…&scope=…&scope=…": our scopes, plus the challenge's when it names
 * another one. */
static char *token_url(struct oci_client *c, struct arena *a, const struct oci_challenge *ch,
                       const char *scopes)
{
    struct sbuf u = SBUF_INIT(8192);
    char *esc, *out;
    const char *p = scopes;

    sbuf_puts(&u, ch->realm);
    sbuf_putc(&u, strchr(ch->realm, '?') != NULL ? '&' : '?');
    esc = curl_easy_escape(c->h, ch->service, 0);
    sbuf_printf(&u, "service=%s", esc != NULL ? esc : "");
    curl_free(esc);
    while (*p != '\0') {
        size_t n = strcspn(p, " ");
        char *one = arena_strndup(a, p, n);

        esc = one != NULL ? curl_easy_escape(c->h, one, 0) : NULL;
        sbuf_printf(&u, "&scope=%s", esc != NULL ? esc : "");
        curl_free(esc);
        p += n + (p[n] == ' ');
    }
    if (ch->scope[0] != '\0' && strstr(scopes, ch->scope) == NULL) {
        esc = curl_easy_escape(c->h, ch->scope, 0);
        sbuf_printf(&u, "&scope=%s", esc != NULL ? esc : "");
        curl_free(esc);
    }
    out = u.err == 0 ? arena_strndup(a, u.buf, u.len) : NULL;
    sbuf_release(&u);
    return out;
}

/* Credentials go only over https, or plain http to this machine when the caller allows it. */
static bool realm_safe(const struct oci_client *c, const char *realm)
{
    if (strncmp(realm, "https://", 8) == 0)
        return true;
    return c->insecure_loopback && strncmp(realm, "http://", 7) == 0 && is_loopback(realm + 7);
}

static int token_fetch(struct oci_client *c, struct arena *a, const struct req *q,
                       const struct oci_challenge *ch, const char **header, struct err *err)
{
    struct req t = {.method = "GET",
                    .host = q->host,
                    .repo = q->repo,
                    .scope = "",
                    .in_fd = -1,
                    .out_fd = -1,
                    .body_max = 64 << 10,
                    .body_strict = true};
    struct res res = {0, SBUF_INIT(0), SBUF_INIT(0)};
    json_t *obj = NULL;
    struct slice tok = SLICE_NULL;
    const char *auth = c->static_auth;
    char *basic = NULL;
    int rc;

    if (!realm_safe(c, ch->realm))
        return err_set(err, ERR_FORBIDDEN,
                       "registry %s: the token realm is neither https nor this machine", q->host);
    t.url = token_url(c, a, ch, q->scope);
    if (t.url == NULL)
        return err_set(err, ERR_LIMIT, "registry %s: token request too long", q->host);
    if (c->password != NULL) {
        char *pair = arena_printf(a, "%s:%s", c->username != NULL ? c->username : "", c->password);
        char *b64 = pair != NULL ? base64(pair) : NULL;

        basic = b64 != NULL ? arena_printf(a, "Authorization: Basic %s", b64) : NULL;
        if (pair != NULL)
            explicit_bzero(pair, strlen(pair));
        secret_free(b64);
        auth = basic;
    }
    rc = perform(c, &t, auth, &res, err);
    if (basic != NULL)
        explicit_bzero(basic, strlen(basic));
    if (rc < 0)
        goto out;
    if (res.status == 401 || res.status == 403) {
        rc = err_set(err, ERR_UNAUTHENTICATED,
                     "registry %s: the token service refused the credentials%s%s (HTTP %ld)",
                     q->host, c->username != NULL ? " of user " : "",
                     c->username != NULL ? c->username : "", res.status);
        goto out;
    }
    if (res.status != 200) {
        rc = err_set(err, ERR_UNAVAILABLE, "registry %s: token service answered HTTP %ld", q->host,
                     res.status);
        goto out;
    }
    rc = json_read_object(sbuf_slice(&res.body), res.body.max, 8, &obj, err);
    if (rc == 0 && (rc = json_get_str(obj, "token", false, &tok, err)) == 0 && tok.len == 0)
        rc = json_get_str(obj, "access_token", false, &tok, err);
    if (rc == 0 && tok.len == 0)
        rc = err_set(err, ERR_INVALID,
                     "registry %s: token answer has neither token nor "
                     "access_token",
                     q->host);
    if (rc == 0)
        *header = token_store(c, q->scope, tok);
    else
        err_wrap(err, "registry %s: token answer", q->host);
out:
    json_decref(obj);
    res_release(&res);
    return rc;
}

/* ---------------------------------------------------------------- authenticated requests */

static const char *basic_header(struct oci_client *c)
{
    char *pair, *b64;
    size_t n;

    if (c->basic_auth != NULL || c->password == NULL)
        return c->basic_auth;
    n = strlen(c->password) + (c->username != NULL ? strlen(c->username) : 0) + 2;
    pair = xmalloc(n);
    snprintf(pair, n, "%s:%s", c->username != NULL ? c->username : "", c->password);
    b64 = base64(pair);
    secret_free(pair);
    n = strlen(b64) + 32;
    c->basic_auth = xmalloc(n);
    snprintf(c->basic_auth, n, "Authorization: Basic %s", b64);
    secret_free(b64);
    return c->basic_auth;
}

static const char *auth_for(struct oci_client *c, const char *scope)
{
    const char *t = token_cached(c, scope);

    if (t != NULL)
        return t;
    return c->basic_auth != NULL ? c->basic_auth : c->static_auth;
}

/* Sends <q>, answering one 401 by its challenge. A 401 after that is ERR_UNAUTHENTICATED. */
static int send_req(struct oci_client *c, struct arena *a, struct req *q, struct res *res,
                    struct err *err)
{
    const char *auth = auth_for(c, q->scope);
    struct oci_challenge ch;
    int rc;

    rc = perform(c, q, auth, res, err);
    if (rc < 0 || res->status != 401)
        return rc;
    rc = oci_challenge_parse(res_header(res, "WWW-Authenticate"), &ch, err);
    if (rc < 0)
        return err_wrap(err, "registry %s: repository %s: %s answered 401", q->host, q->repo,
                        q->method);
    if (strcmp(ch.scheme, "bearer") == 0) {
        rc = token_fetch(c, a, q, &ch, &auth, err);
        if (rc < 0)
            return rc;
    } else if (strcmp(ch.scheme, "basic") == 0 && c->password != NULL && c->basic_auth == NULL) {
        auth = basic_header(c);
    } else {
        goto refused;
    }
    rc = perform(c, q, auth, res, err);
    if (rc < 0 || res->status != 401)
        return rc;
refused:
    return err_set(err, ERR_UNAUTHENTICATED, "registry %s: repository %s: %s: %s (HTTP 401)",
                   q->host, q->repo, q->method,
                   c->password != NULL || c->static_auth != NULL ? "the credentials were refused"
                                                                 : "credentials are needed");
}

/* "HTTP <status>", and the registry's first error code and message when it sent one. */
static int fail_status(const struct req *q, const char *what, const struct res *res, int code,
                       struct err *err)
{
    json_t *obj = json_loadb(res->body.buf, res->body.len, 0, NULL);
    json_t *e0 = json_array_get(json_object_get(obj, "errors"), 0);
    const char *ec = json_string_value(json_object_get(e0, "code"));
    const char *em = json_string_value(json_object_get(e0, "message"));

    if (code == 0)
        code = res->status == 404   ? ERR_NOTFOUND
               : res->status == 403 ? ERR_FORBIDDEN
               : res->status == 401 ? ERR_UNAUTHENTICATED
               : res->status >= 500 ? ERR_UNAVAILABLE
                                    : ERR_INVALID;
    err_set(err, code, "registry %s: repository %s: %s: HTTP %ld%s%s%s%.80s", q->host, q->repo,
            what, res->status, ec != NULL ? " " : "", ec != NULL ? ec : "", em != NULL ? ": " : "",
            em != NULL ? em : "");
    json_decref(obj);
    return code;
}

/* ---------------------------------------------------------------- client lifecycle */

int oci_client_new(const struct oci_client_opts *opts, struct oci_client **out, struct err *err)
{
    struct oci_client *c;

    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK)
        return err_set(err, ERR_INTERNAL, "curl_global_init: %s", curl_easy_strerror(curl_init_rc));
    c = xcalloc(1, sizeof(*c));
    c->h = curl_easy_init();
    if (c->h == NULL) {
        free(c);
        return err_set(err, ERR_INTERNAL, "curl_easy_init failed");
    }
    c->username = opts->username != NULL ? xstrdup(opts->username) : NULL;
    c->password = opts->password != NULL ? xstrdup(opts->password) : NULL;
    if (opts->token != NULL) {
        size_t n = strlen(opts->token) + 32;

        c->static_auth = xmalloc(n);
        snprintf(c->static_auth, n, "Authorization: Bearer %s", opts->token);
    }
    c->insecure_loopback = opts->insecure_loopback;
    c->timeout_ms = opts->timeout_ms == 0                   ? TIMEOUT_MS
                    : opts->timeout_ms > (uint64_t)LONG_MAX ? LONG_MAX
                                                            : (long)opts->timeout_ms;
    c->chunk_bytes = opts->chunk_bytes != 0 ? opts->chunk_bytes : CHUNK_BYTES;
    *out = c;
    return 0;
}

void oci_client_free(struct oci_client *c)
{
    if (c == NULL)
        return;
    curl_easy_cleanup(c->h);
    for (size_t i = 0; i < c->ntokens; i++) {
        free(c->tokens[i].scope);
        secret_free(c->tokens[i].header);
    }
    free(c->username);
    secret_free(c->password);
    secret_free(c->static_auth);
    secret_free(c->basic_auth);
    free(c);
}

/* ---------------------------------------------------------------- an operation */

/* What push and pull share: the registry, repository, scope and the paths. */
struct op {
    struct oci_client *c;
    struct arena *a;
    const char *host, *repo, *scope, *origin, *layout;
    const char *mount_from;
    struct oci_push_stats *stats;
};

static int op_init(struct op *o, struct oci_client *c, const struct oci_ref *r, const char *layout,
                   const char *scope, struct err *err)
{
    const char *scheme = c->insecure_loopback && is_loopback(r->host) ? "http" : "https";

    *o =
        (struct op){c,       arena_new(&(struct arena_opts){.chunk = 16 << 10, .budget = 64 << 20}),
                    r->host, r->repo,
                    scope,   NULL,
                    layout,  NULL,
                    NULL};
    o->origin = arena_printf(o->a, "%s://%s", scheme, r->host);
    if (o->origin == NULL)
        return err_set(err, ERR_LIMIT, "out of memory");
    return 0;
}

static struct req op_req(const struct op *o, const char *method, const char *url)
{
    return (struct req){.method = method,
                        .host = o->host,
                        .repo = o->repo,
                        .scope = o->scope,
                        .url = url,
                        .in_fd = -1,
                        .out_fd = -1};
}

static char *blob_path(const struct op *o, const char *digest)
{
    return arena_printf(o->a, "%s/blobs/sha256/%s", o->layout, digest + 7);
}

/* Reads the whole of a small file (a manifest, index.json) into *out in <o>'s arena. */
static int read_small(const struct op *o, const char *path, size_t max, struct slice *out,
                      struct err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    char *buf = NULL;
    ssize_t n = -1;

    if (fd < 0)
        return err_set(err, err_from_errno(errno), "%s: %s", path, strerror(errno));
    if (fstat(fd, &st) == 0 && (size_t)st.st_size <= max &&
        (buf = arena_alloc(o->a, (size_t)st.st_size + 1)) != NULL)
        n = read(fd, buf, (size_t)st.st_size);
    close(fd);
    if (n != (ssize_t)st.st_size)
        return err_set(err, ERR_IO, "%s: cannot read it whole (over %zu bytes?)", path, max);
    buf[n] = '\0';
    *out = (struct slice){buf, (size_t)n};
    return 0;
}

static const char *str_field(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));

    return s != NULL ? s : "";
}

/* ---------------------------------------------------------------- push */

static int blob_exists(struct op *o, const char *digest, bool *yes, struct err *err)
{
    struct req q =
        op_req(o, "HEAD", arena_printf(o->a, "%s/v2/%s/blobs/%s", o->origin, o->repo, digest));
    struct res res = {0, SBUF_INIT(0), SBUF_INIT(0)};
    int rc = send_req(o->c, o->a, &q, &res, err);

    if (rc == 0 && res.status != 200 && res.status != 404)
        rc = fail_status(&q, "HEAD blob", &res, 0, err);
    *yes = res.status == 200;
    res_release(&res);
    return rc;
}

/* POST an upload (or a mount): *location is the session, or NULL when the mount made it. */
static int upload_start(struct op *o, const char *digest, char **location, struct err *err)
{
    char *url = o->mount_from != NULL
                    ? arena_printf(o->a, "%s/v2/%s/blobs/uploads/?mount=sha256%%3A%s&from=%s",
                                   o->origin, o->repo, digest + 7, o->mount_from)
                    : arena_printf(o->a, "%s/v2/%s/blobs/uploads/", o->origin, o->repo);
    struct req q = op_req(o, "POST", url);
    struct res res = {0, SBUF_INIT(0), SBUF_INIT(0)};
    struct slice loc;
    int rc = send_req(o->c, o->a, &q, &res, err);

    *location = NULL;
    if (rc == 0 && res.status == 201 && o->mount_from != NULL) {
        o->stats->blobs_mounted++;
    } else if (rc == 0 && res.status == 202) {
        loc = res_header(&res, "Location");
        *location = loc.len > 0 ? oci_location_url(o->a, o->origin, loc, NULL) : NULL;
        if (*location == NULL)
            rc = err_set(err, ERR_INVALID, "registry %s: repository %s: upload without Location",
                         o->host, o->repo);
    } else if (rc == 0) {
        rc = fail_status(&q, "POST upload", &res, 0, err);
    }
    res_release(&res);
    return rc;
}

/* PATCH [off, off+len) of <fd> to *location, which moves on to the answer's Location. */
static int upload_chunk(struct op *o, int fd, uint64_t off, uint64_t len, char **location,
                        struct err *err)
{
    struct req q = op_req(o, "PATCH", *location);
    struct res res = {0, SBUF_INIT(0), SBUF_INIT(0)};
    struct slice loc;
    int rc;

    q.in_fd = fd, q.in_off = off, q.in_len = len;
    q.ctype = "application/octet-stream";
    q.crange = arena_printf(o->a, "%" PRIu64 "-%" PRIu64, off, off + len - 1);
    rc = send_req(o->c, o->a, &q, &res, err);
    if (rc == 0 && res.status != 202)
        rc = fail_status(&q, "PATCH blob chunk", &res, 0, err);
    loc = res_header(&res, "Location");
    if (rc == 0 && loc.len > 0)
        *location = oci_location_url(o->a, o->origin, loc, NULL);
    res_release(&res);
    return rc;
}

/* PUT …?digest= with the rest of the blob (all of it for a monolithic upload). */
static int upload_finish(struct op *o, const char *location, const char *digest, int fd,
                         uint64_t off, uint64_t len, struct err *err)
{
    struct req q =
        op_req(o, "PUT", oci_location_url(o->a, o->origin, slice_from_cstr(location), digest));
    struct res res = {0, SBUF_INIT(0), SBUF_INIT(0)};
    int rc;

    if (len > 0)
        q.in_fd = fd, q.in_off = off, q.in_len = len;
    q.ctype = "application/octet-stream";
    rc = send_req(o->c, o->a, &q, &res, err);
    if (rc == 0 && res.status != 201 && res.status != 204)
        rc = fail_status(&q, "PUT blob", &res, 0, err);
    res_release(&res);
    return rc;
}

static int upload(struct op *o, const char *digest, int fd, uint64_t size, struct err *err)
{
    uint64_t chunk = o->c->chunk_bytes, off = 0;
    char *location;
    int rc = upload_start(o, digest, &location, err);

    if (rc < 0 || location == NULL)
        return rc;
    while (rc == 0 && size > chunk && size - off > chunk) {
        rc = upload_chunk(o, fd, off, chunk, &location, err);
        off += chunk;
    }
    if (rc == 0)
        rc = upload_finish(o, location, digest, fd, off, size - off, err);
    if (rc == 0) {
        o->stats->blobs_uploaded++;
        o->stats->bytes_uploaded += size;
    }
    return rc;
}

static int push_blob(struct op *o, const json_t *desc, struct err *err)
{
    const char *digest = str_field(desc, "digest");
    char *path;
    struct stat st;
    bool present;
    int fd, rc;

    if (!oci_digest_valid(slice_from_cstr(digest)))
        return err_set(err, ERR_INVALID, "layout %s: a descriptor's digest is not sha256",
                       o->layout);
    rc = blob_exists(o, digest, &present, err);
    if (rc < 0 || present) {
        o->stats->blobs_present += present;
        return rc;
    }
    path = blob_path(o, digest);
    fd = path != NULL ? open(path, O_RDONLY | O_CLOEXEC) : -1;
    if (fd < 0)
        return err_set(err, ERR_NOTFOUND, "layout %s: blob %s is missing", o->layout, digest);
    if (fstat(fd, &st) != 0 || st.st_size != json_integer_value(json_object_get(desc, "size")))
        rc = err_set(err, ERR_INVALID, "layout %s: blob %s has not the size its descriptor says",
                     o->layout, digest);
    else
        rc = upload(o, digest, fd, (uint64_t)st.st_size, err);
    close(fd);
    return rc;
}

static int put_manifest(struct op *o, const char *reference, const char *media_type,
                        struct slice body, struct err *err)
{
    struct req q = op_req(
        o, "PUT", arena_printf(o->a, "%s/v2/%s/manifests/%s", o->origin, o->repo, reference));
    struct res res = {0, SBUF_INIT(0), SBUF_INIT(0)};
    int rc;

    q.body = body;
    q.ctype = media_type;
    rc = send_req(o->c, o->a, &q, &res, err);
    if (rc == 0 && res.status != 201)
        rc = fail_status(&q, "PUT manifest", &res, 0, err);
    o->stats->manifests += rc == 0;
    res_release(&res);
    return rc;
}

static int push_manifest(struct op *o, const json_t *desc, const char *reference, int depth,
                         struct err *err);

static int push_children(struct op *o, const json_t *m, int depth, struct err *err)
{
    const json_t *list = json_object_get(m, "manifests"), *child;
    size_t i;
    int rc = 0;

    json_array_foreach(list, i, child)
    {
        rc = push_manifest(o, child, str_field(child, "digest"), depth + 1, err);
        if (rc < 0)
            break;
    }
    return rc;
}

static int push_blobs(struct op *o, const json_t *m, struct err *err)
{
    const json_t *layers = json_object_get(m, "layers"), *l;
    size_t i;
    int rc = push_blob(o, json_object_get(m, "config"), err);

    json_array_foreach(layers, i, l)
    {
        if (rc < 0)
            break;
        rc = push_blob(o, l, err);
    }
    return rc;
}

/* Pushes the manifest <desc> names (its blobs or children first) under <reference>. */
static int push_manifest(struct op *o, const json_t *desc, const char *reference, int depth,
                         struct err *err)
{
    const char *digest = str_field(desc, "digest");
    char got[OCI_DIGEST_SIZE];
    struct slice body, mt;
    json_t *m;
    int rc;

    if (depth > 2 || !oci_digest_valid(slice_from_cstr(digest)))
        return err_set(err, ERR_INVALID, "layout %s: bad manifest descriptor", o->layout);
    rc = read_small(o, blob_path(o, digest), OCI_MANIFEST_MAX, &body, err);
    if (rc < 0)
        return rc;
    digest_of(body, got);
    if (strcmp(got, digest) != 0)
        return err_set(err, ERR_INVALID, "layout %s: manifest %s does not match its digest",
                       o->layout, digest);
    m = json_loadb(body.ptr, body.len, 0, NULL);
    if (!json_is_object(m)) {
        json_decref(m);
        return err_set(err, ERR_INVALID, "layout %s: manifest %s is not a JSON object", o->layout,
                       digest);
    }
    mt = slice_from_cstr(str_field(desc, "mediaType"));
    if (mt.len == 0)
        mt = slice_from_cstr(str_field(m, "mediaType"));
    if (mt.len == 0)
        mt = SLICE(OCI_MT_MANIFEST);
    rc = oci_media_is_index(mt) ? push_children(o, m, depth, err) : push_blobs(o, m, err);
    json_decref(m);
    if (rc == 0)
        rc = put_manifest(o, reference, mt.ptr, body, err);
    return rc;
}

/* The descriptor in index.json that <src> names (a ref.name annotation or a digest). */
static const json_t *layout_find(const json_t *index, const char *src)
{
    const json_t *list = json_object_get(index, "manifests"), *d;
    size_t i;

    if (src == NULL)
        return json_array_size(list) == 1 ? json_array_get(list, 0) : NULL;
    json_array_foreach(list, i, d)
    {
        if (strcmp(str_field(d, "digest"), src) == 0 ||
            strcmp(str_field(json_object_get(d, "annotations"), OCI_ANN_REF_NAME), src) == 0)
            return d;
    }
    return NULL;
}

int oci_push(struct oci_client *c, const char *layout_dir, const char *src,
             const struct oci_ref *dest, const char *mount_from, char digest_out[OCI_DIGEST_SIZE],
             struct oci_push_stats *stats, struct err *err)
{
    struct oci_push_stats local = {0};
    struct slice text;
    json_t *index = NULL;
    const json_t *desc;
    struct op o;
    int rc;

    rc = op_init(&o, c, dest, layout_dir, NULL, err);
    if (rc < 0)
        goto out;
    o.scope = mount_from != NULL ? arena_printf(o.a, "repository:%s:pull,push repository:%s:pull",
                                                dest->repo, mount_from)
                                 : arena_printf(o.a, "repository:%s:pull,push", dest->repo);
    o.mount_from = mount_from;
    o.stats = stats != NULL ? stats : &local;
    *o.stats = (struct oci_push_stats){0};
    rc = read_small(&o, arena_printf(o.a, "%s/index.json", layout_dir), OCI_MANIFEST_MAX, &text,
                    err);
    if (rc < 0)
        goto out;
    index = json_loadb(text.ptr, text.len, 0, NULL);
    desc = layout_find(index, src);
    if (desc == NULL) {
        rc = err_set(err, ERR_NOTFOUND, "layout %s: no image %s in index.json", layout_dir,
                     src != NULL ? src : "(it holds several: name one)");
        goto out;
    }
    rc = push_manifest(&o, desc, oci_ref_reference(dest), 0, err);
    if (rc == 0 && digest_out != NULL)
        snprintf(digest_out, OCI_DIGEST_SIZE, "%s", str_field(desc, "digest"));
out:
    json_decref(index);
    arena_free(o.a);
    return rc;
}

/* ---------------------------------------------------------------- pull */

int oci_platform_pick(const json_t *index, struct slice *digest, struct slice *media_type,
                      struct err *err)
{
    const json_t *list = json_object_get(index, "manifests"), *d, *p;
    struct sbuf seen = SBUF_INIT(150);
    size_t i;

    json_array_foreach(list, i, d)
    {
        p = json_object_get(d, "platform");
        if (strcmp(str_field(p, "os"), "linux") == 0 &&
            strcmp(str_field(p, "architecture"), "amd64") == 0) {
            *digest = slice_from_cstr(str_field(d, "digest"));
            *media_type = slice_from_cstr(str_field(d, "mediaType"));
            sbuf_release(&seen);
            return 0;
        }
        sbuf_printf(&seen, "%s%s/%s", i > 0 ? ", " : "", str_field(p, "os"),
                    str_field(p, "architecture"));
    }
    err_set(err, ERR_NOTFOUND, "index has no linux/amd64 image (it has: %s)",
            seen.len > 0 ? seen.buf : "none");
    sbuf_release(&seen);
    return ERR_NOTFOUND;
}

/* GETs the manifest <reference>, verified against <want> (a digest, or NULL with a tag). */
static int get_manifest(struct op *o, const char *reference, const char *want, struct sbuf *body,
                        char **media_type, char digest[OCI_DIGEST_SIZE], struct err *err)
{
    struct req q = op_req(
        o, "GET", arena_printf(o->a, "%s/v2/%s/manifests/%s", o->origin, o->repo, reference));
    struct res res = {0, SBUF_INIT(0), SBUF_INIT(0)};
    struct slice ct;
    int rc;

    q.accept =
        OCI_MT_MANIFEST ", " OCI_MT_INDEX ", " OCI_MT_DOCKER_MANIFEST ", " OCI_MT_DOCKER_LIST;
    q.body_max = OCI_MANIFEST_MAX, q.body_strict = true;
    rc = send_req(o->c, o->a, &q, &res, err);
    if (rc == 0 && res.status != 200)
        rc = fail_status(&q, arena_printf(o->a, "GET manifest %s", reference), &res, 0, err);
    if (rc < 0)
        goto out;
    digest_of(sbuf_slice(&res.body), digest);
    if (want != NULL && strcmp(digest, want) != 0) {
        rc = err_set(err, ERR_INVALID, "registry %s: repository %s: manifest %s has digest %s",
                     o->host, o->repo, want, digest);
        goto out;
    }
    ct = res_header(&res, "Content-Type");
    if (ct.len > 0 && memchr(ct.ptr, ';', ct.len) != NULL)
        ct.len = (size_t)((const char *)memchr(ct.ptr, ';', ct.len) - ct.ptr);
    *media_type = arena_strndup(o->a, ct.len > 0 ? ct.ptr : "", ct.len);
    if (*media_type == NULL)
        rc = err_set(err, ERR_LIMIT, "out of memory");
    sbuf_release(body);
    *body = res.body;
    res.body = SBUF_INIT(0);
out:
    res_release(&res);
    return rc;
}

/* Streams blob <digest> of <size> bytes into <tmp>, checked before it becomes <path>. */
static int fetch_blob(struct op *o, const char *digest, int64_t size, const char *tmp,
                      const char *path, struct err *err)
{
    struct req q =
        op_req(o, "GET", arena_printf(o->a, "%s/v2/%s/blobs/%s", o->origin, o->repo, digest));
    struct res res = {0, SBUF_INIT(0), SBUF_INIT(0)};
    unsigned char md[32];
    char hex[65];
    int rc;

    q.follow = true;
    q.out_md = EVP_MD_CTX_new();
    q.out_fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (q.out_fd < 0 || q.out_md == NULL) {
        rc = err_set(err, ERR_IO, "%s: %s", tmp, strerror(errno));
        goto out;
    }
    rc = send_req(o->c, o->a, &q, &res, err);
    if (rc == 0 && res.status != 200)
        rc = fail_status(&q, arena_printf(o->a, "GET blob %s", digest), &res, 0, err);
    if (rc < 0)
        goto out;
    EVP_DigestFinal_ex(q.out_md, md, NULL);
    hex_of(md, hex);
    if ((int64_t)q.out_len != size || strcmp(hex, digest + 7) != 0)
        rc = err_set(err, ERR_INVALID,
                     "registry %s: repository %s: blob %s arrived with %" PRIu64
                     " bytes and another digest",
                     o->host, o->repo, digest, q.out_len);
    else if (fsync(q.out_fd) != 0 || rename(tmp, path) != 0)
        rc = err_set(err, ERR_IO, "%s: %s", path, strerror(errno));
out:
    if (q.out_fd >= 0)
        close(q.out_fd);
    if (rc < 0)
        unlink(tmp);
    EVP_MD_CTX_free(q.out_md);
    res_release(&res);
    return rc;
}

static int pull_blob(struct op *o, const json_t *desc, struct err *err)
{
    const char *digest = str_field(desc, "digest");
    int64_t size = json_integer_value(json_object_get(desc, "size"));
    char *path, *tmp;
    struct stat st;

    if (!oci_digest_valid(slice_from_cstr(digest)) || size < 0)
        return err_set(err, ERR_INVALID, "registry %s: repository %s: a descriptor is not sha256",
                       o->host, o->repo);
    path = blob_path(o, digest);
    tmp = arena_printf(o->a, "%s/blobs/sha256/.%s.%d.part", o->layout, digest + 7, (int)getpid());
    if (path == NULL || tmp == NULL)
        return err_set(err, ERR_LIMIT, "out of memory");
    /* Blobs are named by their digest and only renamed in once checked. */
    if (stat(path, &st) == 0 && st.st_size == size)
        return 0;
    return fetch_blob(o, digest, size, tmp, path, err);
}

static int mkdirs(const struct op *o, struct err *err)
{
    const char *dirs[] = {o->layout, arena_printf(o->a, "%s/blobs", o->layout),
                          arena_printf(o->a, "%s/blobs/sha256", o->layout)};

    for (size_t i = 0; i < ARRAY_LEN(dirs); i++)
        if (dirs[i] == NULL || (mkdir(dirs[i], 0755) != 0 && errno != EEXIST))
            return err_set(err, ERR_IO, "%s: %s", dirs[i] != NULL ? dirs[i] : o->layout,
                           strerror(errno));
    return 0;
}

/* oci-layout, the manifest blob and index.json, last, naming it. */
static int write_layout(struct op *o, const struct oci_ref *src, struct slice manifest,
                        const char *media_type, const char *digest, struct err *err)
{
    struct sbuf idx = SBUF_INIT(64 << 10);
    struct jw w;
    int rc;

    rc = file_write_atomic(arena_printf(o->a, "%s/oci-layout", o->layout), LAYOUT_FILE,
                           strlen(LAYOUT_FILE), 0644, err);
    if (rc == 0)
        rc = file_write_atomic(blob_path(o, digest), manifest.ptr, manifest.len, 0644, err);
    if (rc < 0)
        return rc;
    jw_init(&w, &idx);
    jw_obj_begin(&w);
    jw_key(&w, "schemaVersion"), jw_int(&w, 2);
    jw_key(&w, "manifests"), jw_arr_begin(&w), jw_obj_begin(&w);
    jw_key(&w, "mediaType"), jw_str(&w, media_type);
    jw_key(&w, "digest"), jw_str(&w, digest);
    jw_key(&w, "size"), jw_uint(&w, manifest.len);
    if (src->tag[0] != '\0') {
        jw_key(&w, "annotations"), jw_obj_begin(&w);
        jw_key(&w, OCI_ANN_REF_NAME), jw_str(&w, src->tag);
        jw_obj_end(&w);
    }
    jw_obj_end(&w), jw_arr_end(&w), jw_obj_end(&w);
    rc = idx.err != 0 ? err_set(err, idx.err, "index.json too large")
                      : file_write_atomic(arena_printf(o->a, "%s/index.json", o->layout), idx.buf,
                                          idx.len, 0644, err);
    sbuf_release(&idx);
    return rc;
}

static int pull_image(struct op *o, const struct oci_ref *src, struct slice body,
                      const char *media_type, const char *digest, struct err *err)
{
    json_t *m = json_loadb(body.ptr, body.len, 0, NULL);
    const json_t *layers = json_object_get(m, "layers"), *l;
    size_t i;
    int rc;

    if (!json_is_object(json_object_get(m, "config"))) {
        json_decref(m);
        return err_set(err, ERR_INVALID, "registry %s: repository %s: manifest %s has no config",
                       o->host, o->repo, digest);
    }
    rc = pull_blob(o, json_object_get(m, "config"), err);
    json_array_foreach(layers, i, l)
    {
        if (rc < 0)
            break;
        rc = pull_blob(o, l, err);
    }
    json_decref(m);
    if (rc == 0)
        rc = write_layout(o, src, body, media_type, digest, err);
    return rc;
}

/* The manifest <src> names, and when that is an index, its linux/amd64 image instead. */
static int resolve(struct op *o, const struct oci_ref *src, struct sbuf *body, char **mt,
                   char digest[OCI_DIGEST_SIZE], struct err *err)
{
    struct slice child, child_mt;
    json_t *index;
    char *want;
    int rc;

    rc = get_manifest(o, oci_ref_reference(src), src->digest[0] ? src->digest : NULL, body, mt,
                      digest, err);
    if (rc < 0)
        return rc;
    index = json_loadb(body->buf, body->len, 0, NULL);
    if ((*mt)[0] == '\0') /* no Content-Type: the manifest says what it is */
        *mt = arena_strndup(o->a, str_field(index, "mediaType"),
                            strlen(str_field(index, "mediaType")));
    if (*mt == NULL) {
        json_decref(index);
        return err_set(err, ERR_LIMIT, "out of memory");
    }
    if (!oci_media_is_index(slice_from_cstr(*mt)) && json_object_get(index, "manifests") == NULL) {
        json_decref(index);
        return 0;
    }
    rc = oci_platform_pick(index, &child, &child_mt, err);
    want = rc == 0 ? arena_strndup(o->a, child.ptr, child.len) : NULL;
    json_decref(index);
    if (rc < 0)
        return err_wrap(err, "registry %s: repository %s", o->host, o->repo);
    if (want == NULL || !oci_digest_valid(slice_from_cstr(want)))
        return err_set(err, ERR_INVALID, "registry %s: repository %s: bad index entry", o->host,
                       o->repo);
    return get_manifest(o, want, want, body, mt, digest, err);
}

int oci_pull(struct oci_client *c, const struct oci_ref *src, const char *layout_dir,
             char digest_out[OCI_DIGEST_SIZE], struct err *err)
{
    struct sbuf body = SBUF_INIT(0);
    char digest[OCI_DIGEST_SIZE] = "";
    char *mt = NULL;
    struct op o;
    int rc;

    rc = op_init(&o, c, src, layout_dir, NULL, err);
    if (rc == 0) {
        o.scope = arena_printf(o.a, "repository:%s:pull", src->repo);
        rc = mkdirs(&o, err);
    }
    if (rc == 0)
        rc = resolve(&o, src, &body, &mt, digest, err);
    if (rc == 0 && (mt == NULL || mt[0] == '\0'))
        mt = OCI_MT_MANIFEST;
    if (rc == 0)
        rc = pull_image(&o, src, sbuf_slice(&body), mt, digest, err);
    if (rc == 0 && digest_out != NULL)
        memcpy(digest_out, digest, sizeof(digest));
    sbuf_release(&body);
    arena_free(o.a);
    return rc;
}
