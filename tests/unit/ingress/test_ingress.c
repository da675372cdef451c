/* The ingress with real nginx: a slipway that dies leaves nginx serving, and the next
 * ingress_new() adopts it without a moment without a listener. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../test.h"
#include "base/base.h"
#include "ingress/ingress.h"

static int free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    CHECK(fd >= 0);
    CHECK(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    CHECK(getsockname(fd, (struct sockaddr *)&sa, &len) == 0);
    close(fd);
    return ntohs(sa.sin_port);
}

static void nap_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* The status code of GET / with Host: <host> on 127.0.0.1:<port>, 0 when nothing answered. */
static int get(int port, const char *host)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct timeval tv = {.tv_sec = 5};
    char req[256], buf[64] = {0};
    size_t got = 0;
    ssize_t n;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), status = 0;

    if (fd < 0)
        return 0;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    snprintf(req, sizeof(req), "GET / HTTP/1.0\r\nHost: %s\r\n\r\n", host);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        write(fd, req, strlen(req)) == (ssize_t)strlen(req))
        while (got < sizeof(buf) - 1 && (n = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0)
            got += (size_t)n;
    close(fd);
    if (strncmp(buf, "HTTP/1.", 7) == 0 && got > 9) /* python answers 1.0, nginx 1.1 */
        status = (int)strtol(buf + 9, NULL, 10);
    return status;
}

/* python3's http.server on <port> (200 for GET /), answering once this returns. */
static pid_t start_upstream(int port)
{
    char p[16];
    pid_t pid;

    snprintf(p, sizeof(p), "%d", port);
    pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(null, 2);
        execl("/usr/bin/python3", "python3", "-m", "http.server", p, "--bind", "127.0.0.1",
              "--directory", test_tmpdir(), (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 500 && get(port, "up") != 200; i++)
        nap_ms(10);
    CHECK_INT_EQ(get(port, "up"), 200);
    return pid;
}

/* Whether <pid> runs (a zombie does not: the adopted master is nobody's child here). */
static bool running(int pid)
{
    char path[64], buf[512];
    FILE *f;
    bool yes = false;

    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    if ((f = fopen(path, "r")) == NULL)
        return false;
    if (fgets(buf, sizeof(buf), f) != NULL) {
        const char *p = strrchr(buf, ')');
        yes = p != NULL && p[1] == ' ' && p[2] != 'Z';
    }
    fclose(f);
    return yes;
}

struct load {
    int port;
    atomic_bool stop;
    atomic_int ok, failed;
};

static void *client_loop(void *arg)
{
    struct load *l = arg;

    while (!atomic_load(&l->stop)) {
        if (get(l->port, "app.localhost") == 200)
            atomic_fetch_add(&l->ok, 1);
        else
            atomic_fetch_add(&l->failed, 1);
    }
    return NULL;
}

struct setup {
    struct ingress_cfg cfg;
    struct ingress_deps deps;
    char run[256], up[32];
};

static void setup_init(struct setup *s, int port, int up_port)
{
    snprintf(s->run, sizeof(s->run), "%s/run", test_tmpdir());
    snprintf(s->up, sizeof(s->up), "127.0.0.1:%d", up_port);
    s->cfg = (struct ingress_cfg){.enabled = true,
                                  .bind = "127.0.0.1",
                                  .port = port,
                                  .nginx = "/usr/sbin/nginx",
                                  .api_hosts = "localhost",
                                  .workers = 1,
                                  .stop_grace_ms = 3000};
    s->deps = (struct ingress_deps){.run_dir = s->run, .api_upstream = "127.0.0.1:9"};
}

/* A slipway that starts the ingress, applies app.localhost and is then SIGKILLed: returns
 * the nginx master it left behind. */
static int crashed_slipway(struct setup *s)
{
    const char *ups[1] = {s->up};
    struct ingress_route r = {"app.localhost", "w/p/e/app", NULL, ups, 1, false};
    int fds[2], pid_master = 0, st;
    pid_t child;

    CHECK(pipe(fds) == 0);
    child = fork();
    CHECK(child >= 0);
    if (child == 0) {
        struct ingress *ig;
        struct err err = {0};
        close(fds[0]);
        if (ingress_new(&s->cfg, &s->deps, &ig, &err) < 0 || ingress_apply(ig, &r, 1, &err) < 0)
            _exit(1);
        int pid = ingress_nginx_pid(ig);
        if (write(fds[1], &pid, sizeof(pid)) != sizeof(pid))
            _exit(1);
        for (;;)
            pause(); /* until killed: ingress_free() never runs */
    }
    close(fds[1]);
    CHECK_INT_EQ(read(fds[0], &pid_master, sizeof(pid_master)), (int)sizeof(pid_master));
    close(fds[0]);
    kill(child, SIGKILL);
    CHECK(waitpid(child, &st, 0) == child);
    return pid_master;
}

TEST(killed_slipway_leaves_nginx_serving_and_the_next_one_adopts_it)
{
    struct setup s;
    struct load l = {0};
    struct ingress *ig = NULL;
    struct err err = {0};
    int port = free_port(), up_port = free_port(), master;
    pid_t up = start_upstream(up_port);
    pthread_t th;

    setup_init(&s, port, up_port);
    l.port = port;
    master = crashed_slipway(&s);
    CHECK(master > 0);
    CHECK(running(master));
    CHECK_INT_EQ(get(port, "app.localhost"), 200); /* nobody supervises it, it still serves */

    CHECK(pthread_create(&th, NULL, client_loop, &l) == 0);
    nap_ms(200);
    OK(ingress_new(&s.cfg, &s.deps, &ig, &err));
    CHECK_INT_EQ(ingress_nginx_pid(ig), master); /* adopted, not replaced */
    CHECK_INT_EQ(get(port, "app.localhost"), 200);
    /* Routes still change on the adopted master. */
    const char *ups[1] = {s.up};
    struct ingress_route r[2] = {{"app.localhost", "w/p/e/app", NULL, ups, 1, false},
                                 {"z.localhost", "w/p/e/z", NULL, ups, 1, false}};
    OK(ingress_apply(ig, r, 2, &err));
    CHECK_INT_EQ(get(port, "z.localhost"), 200);
    nap_ms(200);
    atomic_store(&l.stop, true);
    pthread_join(th, NULL);
    CHECK_INT_EQ(atomic_load(&l.failed), 0);
    CHECK(atomic_load(&l.ok) > 10);
    CHECK_UINT_EQ(ingress_restarts(ig), 0);

    /* A clean stop ends the adopted master too. */
    ingress_free(ig);
    CHECK(!running(master));
    CHECK_INT_EQ(get(port, "app.localhost"), 0);

    /* With no nginx left, a new start serves the routes last applied from its first moment. */
    OK(ingress_new(&s.cfg, &s.deps, &ig, &err));
    CHECK(ingress_nginx_pid(ig) != master);
    CHECK_INT_EQ(get(port, "z.localhost"), 200);
    CHECK_INT_EQ(get(port, "app.localhost"), 200);
    ingress_free(ig);
    kill(up, SIGKILL);
    waitpid(up, NULL, 0);
}

TEST(adopted_master_that_dies_is_restarted)
{
    struct setup s;
    struct ingress *ig = NULL;
    struct err err = {0};
    int port = free_port(), up_port = free_port(), master;
    pid_t up = start_upstream(up_port);

    setup_init(&s, port, up_port);
    master = crashed_slipway(&s);
    OK(ingress_new(&s.cfg, &s.deps, &ig, &err));
    CHECK_INT_EQ(ingress_nginx_pid(ig), master);
    kill(master, SIGKILL);
    for (int i = 0; i < 500 && (ingress_nginx_pid(ig) == master || ingress_nginx_pid(ig) == 0 ||
                                get(port, "app.localhost") != 200);
         i++)
        nap_ms(20);
    CHECK(ingress_nginx_pid(ig) != master);
    CHECK_INT_EQ(get(port, "app.localhost"), 200);
    CHECK_UINT_EQ(ingress_restarts(ig), 1);
    ingress_free(ig);
    kill(up, SIGKILL);
    waitpid(up, NULL, 0);
}
