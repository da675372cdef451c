/*
 * Readiness probes and host ports. A probe is a plain HTTP/1.0 GET over a socket with one
 * deadline for connect, write and read: no client library, and no way for a slow app to hold
 * a rollout or the supervisor longer than the deadline.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dep/dep-int.h"

/* Waits for <events> on <fd> until <deadline_ms> (monotonic). */
static bool wait_fd(int fd, short events, uint64_t deadline_ms)
{
    struct pollfd p = {.fd = fd, .events = events};
    uint64_t now;

    while ((now = time_mono_ms()) < deadline_ms) {
        int n = poll(&p, 1, (int)(deadline_ms - now));
        if (n > 0)
            return true;
        if (n < 0 && errno != EINTR)
            return false;
    }
    return false;
}

static int connect_to(uint16_t port, uint64_t deadline_ms)
{
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), soerr = 0;
    socklen_t len = sizeof(soerr);

    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
        return fd;
    if (errno != EINPROGRESS || !wait_fd(fd, POLLOUT, deadline_ms) ||
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0 || soerr != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int dep_http_status(uint16_t port, const char *path, uint64_t timeout_ms)
{
    uint64_t deadline = time_mono_ms() + timeout_ms;
    char req[1200], buf[64];
    size_t got = 0, len;
    int fd = connect_to(port, deadline), status = -1;

    if (fd < 0)
        return -1;
    snprintf(req, sizeof(req),
             "GET %s HTTP/1.0\r\nHost: 127.0.0.1:%u\r\nUser-Agent: slipway\r\n\r\n", path, port);
    len = strlen(req);
    for (size_t off = 0; off < len;) {
        ssize_t n = send(fd, req + off, len - off, MSG_NOSIGNAL);
        if (n > 0)
            off += (size_t)n;
        else if (n < 0 && errno == EAGAIN && wait_fd(fd, POLLOUT, deadline))
            continue;
        else
            goto done;
    }
    /* The status line is all we need: "HTTP/1.x NNN". */
    while (got < sizeof(buf) - 1) {
        ssize_t n = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
        if (n > 0)
            got += (size_t)n;
        else if (n < 0 && (errno == EAGAIN || errno == EINTR) && wait_fd(fd, POLLIN, deadline))
            continue;
        else
            break;
        buf[got] = '\0';
        if (strchr(buf, '\n') != NULL)
            break;
    }
    buf[got] = '\0';
    if (sscanf(buf, "HTTP/%*d.%*d %d", &status) != 1 || status < 100 || status > 999)
        status = -1;
done:
    close(fd);
    return status;
}

bool dep_port_busy(uint16_t port)
{
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    bool busy;

    if (fd < 0)
        return true;
    /* SO_REUSEADDR: a port whose last connections linger in TIME_WAIT is free to listen on,
     * which is what the app will do. */
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    busy = bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0;
    close(fd);
    return busy;
}

/* Whether any service holds <port> (replicas or a rollout's pending ports). d->lock held. */
static bool port_known(struct dep *d, uint16_t port)
{
    bool used = false;

    for (struct dep_svc *s = d->svcs; s != NULL && !used; s = s->next) {
        pthread_mutex_lock(&s->lock);
        for (unsigned i = 0; i < s->n_rep && !used; i++)
            used = s->rep[i].host_port == port || s->rep[i].app_port == port;
        for (unsigned i = 0; i < s->n_pending_ports && !used; i++)
            used = s->pending_ports[i] == port;
        pthread_mutex_unlock(&s->lock);
    }
    return used;
}

int dep_ports_take(struct dep *d, struct dep_svc *s, unsigned n, uint16_t *out, struct err *err)
{
    uint64_t span = (uint64_t)(d->cfg.port_max - d->cfg.port_min + 1);
    unsigned got = 0;

    pthread_mutex_lock(&d->lock);
    /* A cursor that goes round the range: a port just given up is the last one handed out
     * again, so a client still talking to an old replica never reaches a new app by chance. */
    for (uint64_t tried = 0; tried < span && got < n; tried++) {
        uint16_t p = (uint16_t)(d->cfg.port_min + (d->port_cursor++ % span));
        if (port_known(d, p) || dep_port_busy(p))
            continue;
        pthread_mutex_lock(&s->lock);
        s->pending_ports[s->n_pending_ports++] = p;
        pthread_mutex_unlock(&s->lock);
        out[got++] = p;
    }
    pthread_mutex_unlock(&d->lock);
    if (got < n) {
        dep_ports_release(d, s);
        return err_set(err, ERR_LIMIT, "no free host port in %" PRId64 "..%" PRId64,
                       d->cfg.port_min, d->cfg.port_max);
    }
    return 0;
}

void dep_ports_release(struct dep *d, struct dep_svc *s)
{
    (void)d;
    pthread_mutex_lock(&s->lock);
    s->n_pending_ports = 0;
    pthread_mutex_unlock(&s->lock);
}

bool dep_probe(struct dep *d, const struct dep_spec *spec, struct dep_replica *r, char *note,
               size_t note_max)
{
    const char *path = spec->health_path != NULL ? spec->health_path : "/";
    uint16_t found = 0;
    int st = dep_http_status(r->app_port, path, 1000);

    if (st >= 0)
        return st < 500;
    /* Nothing on the port we expect: the app may listen on its own (a fixed port in its
     * code, or spec->port) instead of $PORT. */
    if (rt_listening_port(d->rt, r->id, spec->port != 0 ? spec->port : r->host_port, &found, NULL) <
            0 ||
        found == r->app_port)
        return false;
    st = dep_http_status(found, path, 1000);
    if (st < 0 || st >= 500)
        return false;
    if (note != NULL)
        snprintf(note, note_max, "the app listens on %u, not %u: using %u", found, r->host_port,
                 found);
    r->app_port = found;
    return true;
}
