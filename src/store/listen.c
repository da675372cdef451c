/*
 * store: LISTEN/NOTIFY on PostgreSQL. A listener is one libpq connection of its own, outside
 * the pool. Connecting, sending LISTEN and reading notifications are the steps of a small
 * state machine that store_listener_wait() advances between poll()s on the connection's socket
 * and an eventfd that store_listener_wake() writes: so no wait outlasts its timeout, not even
 * while the server restarts, and a wake ends one from any thread. A connection lost is made
 * again by the next steps; the wait that sees it listening again returns 1, as notifications
 * sent meanwhile are gone.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "store/store-int.h"

#define PAYLOAD_MAX    7999 /* PostgreSQL refuses 8000 bytes and more */
#define CONNECT_MIN_MS 2000 /* a connection attempt may take this long at least */
#define STEP_AGAIN     2    /* a step made progress: take the next one without waiting */

enum listen_state {
    LS_DOWN,       /* no connection: the next step starts one */
    LS_CONNECTING, /* PQconnectPoll() goes on */
    LS_LISTENING,  /* connected, LISTEN sent, its result not read yet */
    LS_READY,      /* listening */
};

struct store_listener {
    char *url, *service; /* the store's, copied */
    char channel[64];    /* checked: ^[a-z][a-z0-9_]{0,62}$ */
    char listen_sql[80]; /* LISTEN "<channel>" (quoted: a channel may be a keyword) */
    uint64_t connect_ms; /* how long a connection attempt may take */
    int wakefd;          /* an eventfd: non-zero after store_listener_wake() */
    PGconn *pg;          /* NULL in LS_DOWN */
    enum listen_state state;
    short events;          /* what the state waits for on the socket: POLLIN or POLLOUT */
    bool sock_ready;       /* poll() saw <events> (or an error) on the socket since the last step */
    bool lost;             /* not listening since a connection was lost: the next LISTEN's
                              success is reported as 1 */
    uint64_t connect_end;  /* time_mono_ms() when the attempt in progress has failed */
    struct err listen_err; /* the LISTEN's error, while its result is read to the end */
};

static const struct log_ctx listen_log = {.svc = "store"};

/* ---------------------------------------------------------------- arguments */

static int channel_check(const char *fn, const char *channel, struct err *err)
{
    if (channel == NULL || !store_service_valid(channel))
        return err_set(err, ERR_INVALID, "%s: channel \"%.64s\" must match ^[a-z][a-z0-9_]{0,62}$",
                       fn, channel ? channel : "(null)");
    return 0;
}

/* The length of the UTF-8 sequence at <p> (<left> bytes there), or 0 when it is not one
 * PostgreSQL takes: a NUL, an overlong form, a surrogate, past U+10FFFF or cut short. */
static size_t utf8_seq(const unsigned char *p, size_t left)
{
    uint32_t cp, min;
    size_t n;

    if (p[0] < 0x80)
        return p[0] != 0;
    if (p[0] >= 0xC2 && p[0] <= 0xDF) {
        n = 2;
        cp = p[0] & 0x1Fu;
        min = 0x80;
    } else if ((p[0] & 0xF0) == 0xE0) {
        n = 3;
        cp = p[0] & 0x0Fu;
        min = 0x800;
    } else if (p[0] >= 0xF0 && p[0] <= 0xF4) {
        n = 4;
        cp = p[0] & 0x07u;
        min = 0x10000;
    } else {
        return 0;
    }
    if (left < n)
        return 0;
    for (size_t k = 1; k < n; k++) {
        if ((p[k] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (p[k] & 0x3Fu);
    }
    return cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) ? 0 : n;
}

static bool utf8_valid(struct slice s)
{
    size_t i = 0, n;

    while (i < s.len) {
        n = utf8_seq((const unsigned char *)s.ptr + i, s.len - i);
        if (n == 0)
            return false;
        i += n;
    }
    return true;
}

static int payload_check(struct slice payload, struct err *err)
{
    if (payload.len > PAYLOAD_MAX)
        return err_set(err, ERR_INVALID, "store_notify: payload is %zu bytes, at most %d",
                       payload.len, PAYLOAD_MAX);
    if (payload.len > 0 && memchr(payload.ptr, '\0', payload.len) != NULL)
        return err_set(err, ERR_INVALID, "store_notify: payload holds a NUL");
    if (!utf8_valid(payload))
        return err_set(err, ERR_INVALID, "store_notify: payload is not UTF-8");
    return 0;
}

/* ---------------------------------------------------------------- the connection's steps */

/* Closes the connection; what comes next is a new one, which must LISTEN again. */
static void conn_close(struct store_listener *l)
{
    PQfinish(l->pg);
    l->pg = NULL;
    l->state = LS_DOWN;
    l->sock_ready = false;
    l->lost = true;
}

/* ERR_UNAVAILABLE "<what>: <libpq's message>", with the connection closed. */
static int conn_fail(struct store_listener *l, const char *what, struct err *err)
{
    int rc = store_pg_error(err, ERR_UNAVAILABLE, what, PQerrorMessage(l->pg), l->url);

    conn_close(l);
    return rc;
}

/* The connection broke while it was up: say so once, and start over at once. */
static int conn_lost(struct store_listener *l)
{
    struct err why = {0};

    (void)store_pg_error(&why, ERR_UNAVAILABLE, "postgres", PQerrorMessage(l->pg), l->url);
    if (!l->lost)
        LOG_WARN(&listen_log, "store.listen_lost", LF_STR("service", l->service),
                 LF_STR("channel", l->channel), LF_STR("error", why.msg));
    conn_close(l);
    return STEP_AGAIN;
}

static int step_down(struct store_listener *l, struct err *err)
{
    int rc = store_pg_start(l->url, l->service, &l->pg, err);

    if (rc < 0)
        return rc;
    l->state = LS_CONNECTING;
    l->events = POLLOUT; /* libpq: wait to write before the first PQconnectPoll() */
    l->sock_ready = false;
    l->connect_end = time_mono_ms() + l->connect_ms;
    if (PQstatus(l->pg) == CONNECTION_BAD)
        return conn_fail(l, "postgres: cannot connect", err);
    return 0;
}

static int step_connecting(struct store_listener *l, struct err *err)
{
    if (time_mono_ms() >= l->connect_end) {
        conn_close(l);
        return err_set(err, ERR_UNAVAILABLE,
                       "postgres: cannot connect: no answer within %" PRIu64 " ms", l->connect_ms);
    }
    if (!l->sock_ready)
        return 0;
    l->sock_ready = false;
    switch (PQconnectPoll(l->pg)) {
    case PGRES_POLLING_READING:
        l->events = POLLIN;
        return 0;
    case PGRES_POLLING_WRITING:
        l->events = POLLOUT;
        return 0;
    case PGRES_POLLING_OK:
        break;
    default:
        return conn_fail(l, "postgres: cannot connect", err);
    }
    /* Blocking mode, but a statement this short goes out at once on a new connection. */
    if (!PQsendQuery(l->pg, l->listen_sql))
        return conn_fail(l, "postgres: LISTEN", err);
    memset(&l->listen_err, 0, sizeof(l->listen_err));
    l->state = LS_LISTENING;
    l->events = POLLIN;
    return 0;
}

/* Reads LISTEN's results as far as they have come, without blocking: PQgetResult() only
 * while PQisBusy() says it would not wait. */
static int step_listening(struct store_listener *l, struct err *err)
{
    PGresult *res;

    if (!PQconsumeInput(l->pg))
        return conn_lost(l);
    while (!PQisBusy(l->pg)) {
        res = PQgetResult(l->pg);
        if (res == NULL)
            break;
        if (PQresultStatus(res) != PGRES_COMMAND_OK && l->listen_err.code == 0)
            (void)store_pg_error(&l->listen_err, ERR_UNAVAILABLE, "postgres: LISTEN",
                                 PQresultErrorMessage(res), l->url);
        PQclear(res);
    }
    if (PQisBusy(l->pg))
        return 0;
    if (l->listen_err.code != 0) {
        conn_close(l);
        if (err != NULL)
            *err = l->listen_err;
        return l->listen_err.code;
    }
    l->state = LS_READY;
    l->events = POLLIN;
    return STEP_AGAIN;
}

/* Consumes every notification received; the payload of the first goes to <payload>. */
static int drain(struct store_listener *l, struct sbuf *payload)
{
    PGnotify *n;
    int count = 0;

    while ((n = PQnotifies(l->pg)) != NULL) {
        if (count++ == 0 && payload != NULL)
            sbuf_puts(payload, n->extra);
        PQfreemem(n);
    }
    return count;
}

static int step_ready(struct store_listener *l, struct sbuf *payload)
{
    int count;

    l->sock_ready = false;
    if (!PQconsumeInput(l->pg))
        return conn_lost(l);
    count = drain(l, payload);
    if (l->lost) {
        l->lost = false;
        LOG_INFO(&listen_log, "store.listen_resumed", LF_STR("service", l->service),
                 LF_STR("channel", l->channel));
        return 1;
    }
    return count > 0;
}

/* One step: 1 (notified or listening again), 0 (wait for the socket), STEP_AGAIN or an
 * error. */
static int step(struct store_listener *l, struct sbuf *payload, struct err *err)
{
    switch (l->state) {
    case LS_DOWN:
        return step_down(l, err);
    case LS_CONNECTING:
        return step_connecting(l, err);
    case LS_LISTENING:
        return step_listening(l, err);
    case LS_READY:
        return step_ready(l, payload);
    }
    return err_set(err, ERR_INTERNAL, "store: listener in state %d", (int)l->state);
}

/* poll()s the socket (for what the state waits for) and the wake-up eventfd, at most <ms>. */
static int block(struct store_listener *l, uint64_t ms, struct err *err)
{
    struct pollfd fds[2] = {{.fd = l->wakefd, .events = POLLIN}, {.fd = -1}};
    uint64_t now = time_mono_ms();
    uint64_t left = l->connect_end > now ? l->connect_end - now : 0;

    if (l->state == LS_CONNECTING && left < ms)
        ms = left; /* to fail the attempt on time */
    if (l->pg != NULL && PQsocket(l->pg) >= 0)
        fds[1] = (struct pollfd){.fd = PQsocket(l->pg), .events = l->events};
    if (poll(fds, 2, ms > INT_MAX ? INT_MAX : (int)ms) < 0 && errno != EINTR)
        return err_set(err, err_from_errno(errno), "store: poll: %s", strerror(errno));
    if (fds[1].revents != 0)
        l->sock_ready = true;
    return 0;
}

/* Whether a wake-up was asked for since the last call (which it consumes). */
static bool wake_take(struct store_listener *l)
{
    uint64_t n;

    return read(l->wakefd, &n, sizeof(n)) == (ssize_t)sizeof(n);
}

/* ---------------------------------------------------------------- public */

/* Connects and LISTENs, waiting at most connect_ms for both. */
static int listen_first(struct store_listener *l, struct err *err)
{
    uint64_t now, end = time_mono_ms() + l->connect_ms;
    int rc;

    while (l->state != LS_READY) {
        rc = step(l, NULL, err);
        if (rc < 0)
            return rc;
        if (rc == STEP_AGAIN)
            continue;
        now = time_mono_ms();
        if (now >= end)
            return err_set(err, ERR_UNAVAILABLE, "postgres: no answer within %" PRIu64 " ms",
                           l->connect_ms);
        rc = block(l, end - now, err);
        if (rc < 0)
            return rc;
    }
    l->lost = false;
    return 0;
}

int store_listen(struct store *s, const char *channel, struct store_listener **out, struct err *err)
{
    const struct store_opts *o = store_opts_of(s);
    struct store_listener *l;
    int rc;

    *out = NULL;
    rc = channel_check("store_listen", channel, err);
    if (rc < 0)
        return rc;
    if (store_kind(s) != STORE_POSTGRES)
        return err_set(err, ERR_INVALID, "store_listen: LISTEN needs PostgreSQL");
    l = xcalloc(1, sizeof(*l));
    l->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (l->wakefd < 0) {
        rc = err_set(err, err_from_errno(errno), "store_listen: eventfd: %s", strerror(errno));
        free(l);
        return rc;
    }
    l->url = xstrdup(o->url);
    l->service = xstrdup(o->service ? o->service : "");
    snprintf(l->channel, sizeof(l->channel), "%s", channel);
    snprintf(l->listen_sql, sizeof(l->listen_sql), "LISTEN \"%s\"", channel);
    l->connect_ms = o->busy_timeout_ms > CONNECT_MIN_MS ? o->busy_timeout_ms : CONNECT_MIN_MS;
    rc = listen_first(l, err);
    if (rc < 0) {
        store_listener_close(l);
        return err_wrap(err, "store_listen %s", channel);
    }
    *out = l;
    return 0;
}

int store_listener_wait(struct store_listener *l, uint64_t timeout_ms, struct sbuf *payload,
                        struct err *err)
{
    uint64_t now = time_mono_ms();
    uint64_t end = timeout_ms > UINT64_MAX - now ? UINT64_MAX : now + timeout_ms;
    int rc;

    if (payload != NULL)
        sbuf_reset(payload);
    for (;;) {
        if (wake_take(l))
            return 0;
        rc = step(l, payload, err);
        if (rc == STEP_AGAIN)
            continue;
        if (rc != 0)
            return rc;
        now = time_mono_ms();
        if (now >= end)
            return 0;
        rc = block(l, end - now, err);
        if (rc < 0)
            return rc;
    }
}

void store_listener_wake(struct store_listener *l)
{
    uint64_t one = 1;

    /* Fails only when the counter is full, which is as awake as it gets. */
    if (write(l->wakefd, &one, sizeof(one)) < 0)
        return;
}

void store_listener_close(struct store_listener *l)
{
    if (l == NULL)
        return;
    PQfinish(l->pg);
    if (l->wakefd >= 0)
        close(l->wakefd);
    free(l->url);
    free(l->service);
    free(l);
}

int store_notify(struct store_tx *tx, const char *channel, struct slice payload, struct err *err)
{
    int rc = channel_check("store_notify", channel, err);

    if (rc == 0)
        rc = payload_check(payload, err);
    if (rc < 0 || store_kind(store_tx_store(tx)) != STORE_POSTGRES)
        return rc;
    if (payload.len == 0)
        payload = SLICE(""); /* no NULL pointer for the backend's memchr() */
    return store_exec(tx, "SELECT pg_notify(?, ?)",
                      (struct store_val[]){SV_CSTR(channel), SV_TEXT(payload)}, 2, NULL, err);
}
