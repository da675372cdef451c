/* Error codes, the one place they map to HTTP statuses and GraphQL codes. */
#include <errno.h>
#include <stdio.h>

#include "base/base.h"

static const struct {
    const char *name;
    int http;
    const char *gql;
} codes[] = {
    [0] = {"ok", 200, "OK"},
    [-ERR_INVALID] = {"invalid", 400, "BAD_USER_INPUT"},
    [-ERR_NOTFOUND] = {"not_found", 404, "NOT_FOUND"},
    [-ERR_CONFLICT] = {"conflict", 409, "CONFLICT"},
    [-ERR_LIMIT] = {"limit", 429, "LIMIT_EXCEEDED"},
    [-ERR_UNAVAILABLE] = {"unavailable", 503, "UNAVAILABLE"},
    [-ERR_TIMEOUT] = {"timeout", 504, "TIMEOUT"},
    [-ERR_IO] = {"io", 500, "INTERNAL"},
    [-ERR_INTERNAL] = {"internal", 500, "INTERNAL"},
    [-ERR_UNAUTHENTICATED] = {"unauthenticated", 401, "UNAUTHENTICATED"},
    [-ERR_FORBIDDEN] = {"forbidden", 403, "FORBIDDEN"},
    [-ERR_CANCELLED] = {"cancelled", 409, "CANCELLED"},
};

static int index_of(int code)
{
    return (code > 0 || code < ERR_CODE_MIN) ? -ERR_INTERNAL : -code;
}

int err_setv(struct err *e, int code, const char *fmt, va_list ap)
{
    if (e != NULL) {
        e->code = code;
        vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    }
    return code;
}

int err_set(struct err *e, int code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    err_setv(e, code, fmt, ap);
    va_end(ap);
    return code;
}

int err_wrap(struct err *e, const char *fmt, ...)
{
    char old[sizeof(e->msg)];
    struct sbuf b = SBUF_INIT(sizeof(e->msg) - 1);
    va_list ap;

    if (e == NULL)
        return ERR_INTERNAL;
    memcpy(old, e->msg, sizeof(old));
    va_start(ap, fmt);
    sbuf_vprintf(&b, fmt, ap);
    va_end(ap);
    sbuf_puts(&b, ": ");
    sbuf_put(&b, old, strnlen(old, b.max - b.len)); /* cut the old text, never drop it */
    if (b.err == 0 || b.len > 0) {
        memcpy(e->msg, b.buf, b.len);
        e->msg[b.len] = '\0';
    }
    sbuf_release(&b);
    return e->code;
}

const char *err_name(int code)
{
    return codes[index_of(code)].name;
}

int err_http_status(int code)
{
    return codes[index_of(code)].http;
}

const char *err_gql_code(int code)
{
    return codes[index_of(code)].gql;
}

int err_from_errno(int errnum)
{
    switch (errnum) {
    case 0:
        return 0;
    case ENOENT:
        return ERR_NOTFOUND;
    case EEXIST:
    case EBUSY:
        return ERR_CONFLICT;
    case EINVAL:
    case ENAMETOOLONG:
        return ERR_INVALID;
    case ENOMEM:
    case EMFILE:
    case ENFILE:
    case E2BIG:
        return ERR_LIMIT;
    case ETIMEDOUT:
        return ERR_TIMEOUT;
    case ECONNREFUSED:
    case EHOSTUNREACH:
    case ENETUNREACH:
    case EAGAIN:
        return ERR_UNAVAILABLE;
    case EACCES:
    case EPERM:
        return ERR_FORBIDDEN;
    default:
        return ERR_IO;
    }
}
