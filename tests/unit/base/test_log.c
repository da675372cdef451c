/* Logging: the JSON line format, secrets, the writer thread, its queue and drop count. */
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/base.h"
#include "../test.h"

#define TS_2026 1767607200123ull /* 2026-01-05T10:00:00.123Z */

static json_t *parse_line(const char *p, size_t n)
{
    json_error_t jerr;
    json_t *v = json_loadb(p, n, 0, &jerr);

    if (v == NULL)
        test_fail(__FILE__, __LINE__, "not JSON (%s at column %d): %.*s", jerr.text, jerr.column,
                  n < 300 ? (int)n : 300, p);
    if (!json_is_object(v))
        test_fail(__FILE__, __LINE__, "not an object: %.*s", n < 300 ? (int)n : 300, p);
    return v;
}

static const char *str_of(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

TEST(log_format_fields_parse_back)
{
    struct sbuf b = SBUF_INIT(4096);
    struct log_ctx ctx = {.svc = "builder", .req = "r-7f3a", .job = "j-91c2"};
    json_t *v;

    log_format(&b, TS_2026, &ctx, LOG_INFO, "build.started",
               (const struct log_field[]){
                   LF_STR("image", "web:1.2"), LF_INT("attempt", 2), LF_INT("neg", INT64_MIN),
                   LF_UINT("u", 42), LF_DBL("ratio", 0.25), LF_BOOL("ok", true),
                   LF_BOOL("bad", false), LF_SLICE("sl", SLICE("a\"b\nc")), LF_END_});
    CHECK_INT_EQ(b.err, 0);
    CHECK(strchr(b.buf, '\n') == NULL);
    CHECK(strncmp(b.buf, "{\"ts\":\"2026-01-05T10:00:00.123Z\",\"lvl\":\"info\",", 45) == 0);
    v = parse_line(b.buf, b.len);
    CHECK_STR_EQ(str_of(v, "ts"), "2026-01-05T10:00:00.123Z");
    CHECK_STR_EQ(str_of(v, "lvl"), "info");
    CHECK_STR_EQ(str_of(v, "svc"), "builder");
    CHECK_STR_EQ(str_of(v, "ev"), "build.started");
    CHECK_STR_EQ(str_of(v, "req"), "r-7f3a");
    CHECK_STR_EQ(str_of(v, "job"), "j-91c2");
    CHECK_STR_EQ(str_of(v, "image"), "web:1.2");
    CHECK_INT_EQ(json_integer_value(json_object_get(v, "attempt")), 2);
    CHECK_INT_EQ(json_integer_value(json_object_get(v, "neg")), INT64_MIN);
    CHECK_INT_EQ(json_integer_value(json_object_get(v, "u")), 42);
    CHECK(json_number_value(json_object_get(v, "ratio")) == 0.25);
    CHECK(json_is_true(json_object_get(v, "ok")));
    CHECK(json_is_false(json_object_get(v, "bad")));
    CHECK_STR_EQ(str_of(v, "sl"), "a\"b\nc");
    CHECK_UINT_EQ(json_object_size(v), 14);
    json_decref(v);
    sbuf_release(&b);
}

TEST(log_format_uint_max_text)
{
    struct sbuf b = SBUF_INIT(4096);

    log_format(&b, 0, NULL, LOG_DEBUG, "e",
               (const struct log_field[]){LF_UINT("u", UINT64_MAX), LF_END_});
    CHECK_STR_EQ(b.buf, "{\"ts\":\"1970-01-01T00:00:00.000Z\",\"lvl\":\"debug\",\"ev\":\"e\","
                        "\"u\":18446744073709551615}");
    sbuf_release(&b);
}

TEST(log_format_secret_prints_stars_only)
{
    static const char secret[] = "sk_live_abcdef123456";
    struct sbuf b = SBUF_INIT(4096);
    struct log_ctx ctx = {.svc = "cashier"};
    json_t *v;

    (void)secret;
    log_format(
        &b, TS_2026, &ctx, LOG_WARN, "card.charged",
        (const struct log_field[]){LF_SECRET("token", secret), LF_STR("user", "u1"), LF_END_});
    CHECK(strstr(b.buf, secret) == NULL);
    CHECK(strstr(b.buf, "sk_live") == NULL);
    CHECK_CONTAINS(b.buf, "\"token\":\"***\"");
    v = parse_line(b.buf, b.len);
    CHECK_STR_EQ(str_of(v, "token"), "***");
    CHECK_STR_EQ(str_of(v, "user"), "u1");
    CHECK_STR_EQ(str_of(v, "lvl"), "warn");
    json_decref(v);
    sbuf_release(&b);
}

TEST(log_format_secret_with_value_set_by_hand_still_hidden)
{
    struct sbuf b = SBUF_INIT(4096);
    struct log_field f[2] = {{"key", LF_T_SECRET, {.s = SLICE("hunter2")}}, LF_END_};

    log_format(&b, 0, NULL, LOG_ERROR, "x", f);
    CHECK(strstr(b.buf, "hunter2") == NULL);
    CHECK_CONTAINS(b.buf, "\"key\":\"***\"");
    sbuf_release(&b);
}

TEST(log_format_without_ctx_ev_or_fields)
{
    struct sbuf b = SBUF_INIT(4096);
    struct log_ctx ctx = {.svc = "gw"};
    json_t *v;

    log_format(&b, TS_2026, NULL, LOG_ERROR, "boom", NULL);
    v = parse_line(b.buf, b.len);
    CHECK_UINT_EQ(json_object_size(v), 3);
    CHECK_STR_EQ(str_of(v, "lvl"), "error");
    json_decref(v);

    sbuf_reset(&b);
    log_format(&b, TS_2026, &ctx, LOG_INFO, NULL, (const struct log_field[]){LF_END_});
    v = parse_line(b.buf, b.len);
    CHECK_UINT_EQ(json_object_size(v), 3); /* ts, lvl, svc: no req/job/ev */
    CHECK_STR_EQ(str_of(v, "svc"), "gw");
    CHECK(json_object_get(v, "req") == NULL);
    json_decref(v);
    sbuf_release(&b);
}

TEST(log_format_escapes_hostile_strings)
{
    struct sbuf b = SBUF_INIT(4096);
    struct log_ctx ctx = {.svc = "s\"vc", .req = "r\n1"};
    json_t *v;

    log_format(
        &b, TS_2026, &ctx, LOG_INFO, "e\"v",
        (const struct log_field[]){LF_STR("k\"ey", "v\x01\xff\n"), LF_STR("nul", NULL), LF_END_});
    CHECK(strchr(b.buf, '\n') == NULL);
    v = parse_line(b.buf, b.len);
    CHECK_STR_EQ(str_of(v, "svc"), "s\"vc");
    CHECK_STR_EQ(str_of(v, "req"), "r\n1");
    CHECK_STR_EQ(str_of(v, "ev"), "e\"v");
    CHECK_STR_EQ(str_of(v, "k\"ey"), "v\x01\xef\xbf\xbd\n");
    CHECK_STR_EQ(str_of(v, "nul"), "");
    json_decref(v);
    sbuf_release(&b);
}

TEST(log_format_non_finite_doubles_stay_json)
{
    struct sbuf b = SBUF_INIT(4096);
    json_t *v;

    log_format(&b, 0, NULL, LOG_INFO, "e",
               (const struct log_field[]){LF_DBL("nan", NAN), LF_DBL("inf", INFINITY),
                                          LF_DBL("ninf", -INFINITY), LF_DBL("x", 1.5), LF_END_});
    v = parse_line(b.buf, b.len);
    CHECK(json_is_null(json_object_get(v, "nan")));
    CHECK(json_is_null(json_object_get(v, "inf")));
    CHECK(json_is_null(json_object_get(v, "ninf")));
    CHECK(json_number_value(json_object_get(v, "x")) == 1.5);
    json_decref(v);
    sbuf_release(&b);
}

TEST(log_format_every_level)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};

    for (int lvl = LOG_DEBUG; lvl <= LOG_ERROR; lvl++) {
        struct sbuf b = SBUF_INIT(4096);
        json_t *v;

        log_format(&b, 0, NULL, (enum log_level)lvl, "e", NULL);
        v = parse_line(b.buf, b.len);
        CHECK_STR_EQ(str_of(v, "lvl"), names[lvl]);
        json_decref(v);
        sbuf_release(&b);
    }
}

TEST(log_level_parse_and_enabled)
{
    bool ok = false;

    CHECK_INT_EQ(log_level_parse("debug", &ok), LOG_DEBUG);
    CHECK(ok);
    CHECK_INT_EQ(log_level_parse("info", &ok), LOG_INFO);
    CHECK_INT_EQ(log_level_parse("warn", &ok), LOG_WARN);
    CHECK_INT_EQ(log_level_parse("error", &ok), LOG_ERROR);
    CHECK(ok);
    log_level_parse("INFO", &ok);
    CHECK(!ok);
    log_level_parse("", &ok);
    CHECK(!ok);
    log_level_parse("warning", &ok);
    CHECK(!ok);

    log_set_level(LOG_WARN);
    CHECK(!log_enabled(LOG_DEBUG));
    CHECK(!log_enabled(LOG_INFO));
    CHECK(log_enabled(LOG_WARN));
    CHECK(log_enabled(LOG_ERROR));
    log_set_level(LOG_DEBUG);
    CHECK(log_enabled(LOG_DEBUG));
}

/* ------------------------------------------------------------ the writer */

/* Reads everything from <fd> until EOF into a growing buffer. */
struct drain {
    int fd;
    struct sbuf out;
};

static void *drain_main(void *arg)
{
    struct drain *d = arg;

    for (;;) {
        char *p = sbuf_reserve(&d->out, 65536);
        ssize_t n;

        if (p == NULL)
            break;
        n = read(d->fd, p, 65536);
        if (n <= 0)
            break;
        sbuf_commit(&d->out, (size_t)n);
    }
    return NULL;
}

static char *read_file(const char *path, size_t *len)
{
    struct drain d = {.fd = open(path, O_RDONLY), .out = SBUF_INIT(64 << 20)};

    CHECK(d.fd >= 0);
    drain_main(&d);
    close(d.fd);
    CHECK_INT_EQ(d.out.err, 0);
    return sbuf_take(&d.out, len);
}

/* Calls fn(line, len, arg) for each line of <text>; returns how many there were. */
static size_t each_line(const char *text, size_t len, void (*fn)(json_t *v, void *arg), void *arg)
{
    struct slice s = {text, len}, line;
    size_t n = 0;

    while (s.len > 0) {
        json_t *v;

        CHECK(slice_split(&s, '\n', &line)); /* every line ends in a newline */
        v = parse_line(line.ptr, line.len);
        if (fn)
            fn(v, arg);
        json_decref(v);
        n++;
    }
    return n;
}

static void check_seq(json_t *v, void *arg)
{
    int64_t *next = arg;

    CHECK_STR_EQ(str_of(v, "ev"), "tick");
    CHECK_INT_EQ(json_integer_value(json_object_get(v, "seq")), *next);
    (*next)++;
}

TEST(log_stop_flushes_every_queued_line)
{
    char path[512];
    struct log_ctx ctx = {.svc = "test"};
    int64_t next = 0;
    size_t len;
    char *text;
    int fd;

    snprintf(path, sizeof(path), "%s/log", test_tmpdir());
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0);
    log_start(fd, LOG_INFO, 100000);
    for (int i = 0; i < 5000; i++)
        LOG_INFO(&ctx, "tick", LF_INT("seq", i));
    LOG_DEBUG(&ctx, "hidden", LF_INT("seq", -1)); /* below the level */
    log_stop();
    close(fd);
    CHECK_UINT_EQ(log_dropped(), 0);

    text = read_file(path, &len);
    CHECK_UINT_EQ(each_line(text, len, check_seq, &next), 5000);
    CHECK_INT_EQ(next, 5000);
    free(text);
}

TEST(log_writes_synchronously_when_not_started)
{
    char path[512];
    struct log_ctx ctx = {.svc = "test"};
    int64_t next = 0;
    size_t len;
    char *text;
    int fd;

    snprintf(path, sizeof(path), "%s/log", test_tmpdir());
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0);
    log_start(fd, LOG_INFO, 10);
    log_stop();
    /* After log_stop() lines go straight to the same fd, in order, none dropped. */
    for (int i = 0; i < 100; i++)
        LOG_INFO(&ctx, "tick", LF_INT("seq", i));
    text = read_file(path, &len);
    CHECK_UINT_EQ(each_line(text, len, check_seq, &next), 100);
    free(text);
    close(fd);
}

TEST(log_restart_after_stop)
{
    char path[512];
    struct log_ctx ctx = {.svc = "test"};
    int64_t next = 0;
    size_t len;
    char *text;
    int fd;

    snprintf(path, sizeof(path), "%s/log", test_tmpdir());
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0);
    for (int round = 0; round < 3; round++) {
        log_start(fd, LOG_INFO, 1000);
        for (int i = 0; i < 100; i++)
            LOG_INFO(&ctx, "tick", LF_INT("seq", round * 100 + i));
        log_stop();
    }
    close(fd);
    text = read_file(path, &len);
    CHECK_UINT_EQ(each_line(text, len, check_seq, &next), 300);
    free(text);
}

struct drop_tally {
    uint64_t reported; /* sum of the log_dropped fields */
    size_t ticks;
    int64_t last_seq;
};

static void tally(json_t *v, void *arg)
{
    struct drop_tally *t = arg;
    json_t *d = json_object_get(v, "log_dropped");
    int64_t seq = json_integer_value(json_object_get(v, "seq"));

    if (d != NULL) {
        CHECK(json_is_integer(d));
        CHECK(json_integer_value(d) > 0);
        t->reported += (uint64_t)json_integer_value(d);
    }
    CHECK(seq > t->last_seq); /* what is kept stays in order */
    t->last_seq = seq;
    t->ticks++;
}

TEST(log_full_queue_counts_and_reports_drops)
{
    struct log_ctx ctx = {.svc = "test"};
    struct drop_tally t = {.last_seq = -1};
    struct drain d = {.out = SBUF_INIT(256 << 20)};
    const int lines = 20000;
    pthread_t reader;
    int fds[2];

    CHECK_INT_EQ(pipe(fds), 0);
    (void)fcntl(fds[1], F_SETPIPE_SZ, 4096); /* fill it sooner; the default works too */
    log_start(fds[1], LOG_INFO, 16);
    /* Nobody reads the pipe yet: the writer blocks on it, the queue fills, lines drop. */
    for (int i = 0; i < lines; i++)
        LOG_INFO(&ctx, "tick", LF_INT("seq", i), LF_STR("pad", "0123456789abcdef0123456789"));
    CHECK(log_dropped() > 0);

    d.fd = fds[0];
    CHECK_INT_EQ(pthread_create(&reader, NULL, drain_main, &d), 0);
    log_stop(); /* the writer drains into the pipe the reader now empties */
    LOG_INFO(&ctx, "tick", LF_INT("seq", lines)); /* written at once, carries the count */
    close(fds[1]);
    pthread_join(reader, NULL);
    close(fds[0]);

    CHECK_INT_EQ(d.out.err, 0);
    each_line(d.out.buf, d.out.len, tally, &t);
    CHECK_INT_EQ(t.last_seq, lines);
    CHECK_UINT_EQ(t.ticks + log_dropped(), (size_t)lines + 1);
    /* Every dropped line is reported exactly once, in lines that were written. */
    CHECK_UINT_EQ(t.reported, log_dropped());
    sbuf_release(&d.out);
}

TEST(log_overlong_line_is_truncated_not_lost)
{
    struct log_ctx ctx = {.svc = "test"};
    char path[512];
    char *big = malloc(64 << 10);
    size_t len;
    char *text;
    json_t *v;
    int fd;

    CHECK(big != NULL);
    memset(big, 'x', (64 << 10) - 1);
    big[(64 << 10) - 1] = '\0';
    snprintf(path, sizeof(path), "%s/log", test_tmpdir());
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0);
    log_start(fd, LOG_INFO, 10);
    LOG_WARN(&ctx, "big", LF_STR("blob", big));
    log_stop();
    close(fd);
    free(big);

    text = read_file(path, &len);
    CHECK(len < (16u << 10) + 2);
    CHECK(len > 0 && text[len - 1] == '\n');
    v = parse_line(text, len - 1);
    CHECK_STR_EQ(str_of(v, "ev"), "big");
    CHECK(json_is_true(json_object_get(v, "truncated")));
    CHECK(json_object_get(v, "blob") == NULL);
    json_decref(v);
    free(text);
}

struct spam {
    int id;
    int n;
};

static void *spam_main(void *arg)
{
    struct spam *s = arg;
    struct log_ctx ctx = {.svc = "spam"};

    for (int i = 0; i < s->n; i++)
        LOG_INFO(&ctx, "spam", LF_INT("t", s->id), LF_INT("seq", i));
    return NULL;
}

struct per_thread {
    int64_t next[4];
    size_t n;
};

static void check_per_thread(json_t *v, void *arg)
{
    struct per_thread *p = arg;
    int64_t t = json_integer_value(json_object_get(v, "t"));

    CHECK(t >= 0 && t < 4);
    CHECK_INT_EQ(json_integer_value(json_object_get(v, "seq")), p->next[t]);
    p->next[t]++;
    p->n++;
}

TEST(log_many_threads_lines_stay_whole)
{
    struct spam s[4];
    pthread_t th[4];
    struct per_thread p = {{0}, 0};
    char path[512];
    size_t len;
    char *text;
    int fd;

    snprintf(path, sizeof(path), "%s/log", test_tmpdir());
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0);
    log_start(fd, LOG_INFO, 1 << 20);
    for (int i = 0; i < 4; i++) {
        s[i] = (struct spam){i, 2000};
        CHECK_INT_EQ(pthread_create(&th[i], NULL, spam_main, &s[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    log_stop();
    close(fd);
    CHECK_UINT_EQ(log_dropped(), 0);
    text = read_file(path, &len);
    CHECK_UINT_EQ(each_line(text, len, check_per_thread, &p), 8000);
    for (int i = 0; i < 4; i++)
        CHECK_INT_EQ(p.next[i], 2000);
    free(text);
}

/* Writes one line with a "blob" field of <n> bytes and returns what reached the file. */
static char *write_blob_line(const char *ev, size_t n, size_t *len)
{
    struct log_ctx ctx = {.svc = "test"};
    char path[512];
    char *blob = xmalloc(n + 1);
    int fd;

    memset(blob, 'b', n);
    blob[n] = '\0';
    snprintf(path, sizeof(path), "%s/log", test_tmpdir());
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0);
    log_start(fd, LOG_INFO, 10);
    LOG_INFO(&ctx, ev, LF_STR("blob", blob));
    LOG_INFO(&ctx, "next");
    log_stop();
    close(fd);
    free(blob);
    return read_file(path, len);
}

static void check_lines(json_t *v, void *arg)
{
    (void)v;
    (*(int *)arg)++;
}

TEST(log_lines_at_the_length_limit_end_in_newline)
{
    struct log_ctx ctx = {.svc = "test"};
    struct sbuf probe = SBUF_INIT(1 << 20);
    size_t overhead;

    /* The line without the blob, to size the blob so the line lands on 16 KiB exactly. */
    log_format(&probe, time_wall_ms(), &ctx, LOG_INFO, "big",
               (const struct log_field[]){LF_STR("blob", ""), LF_END_});
    overhead = probe.len;
    sbuf_release(&probe);
    for (size_t line = (16u << 10) - 2; line <= (16u << 10) + 1; line++) {
        size_t len;
        int n = 0;
        char *text = write_blob_line("big", line - overhead, &len);

        CHECK(len > 0 && text[len - 1] == '\n');
        CHECK_UINT_EQ(each_line(text, len, check_lines, &n), 2); /* "next" kept apart */
        free(text);
    }
}

TEST(log_overlong_event_name_still_one_json_line)
{
    char *ev = xmalloc(20000);
    size_t len;
    char *text;
    int n = 0;

    memset(ev, 'e', 19999);
    ev[19999] = '\0';
    text = write_blob_line(ev, 10, &len);
    CHECK(len > 0 && text[len - 1] == '\n');
    CHECK(len < (16u << 10) * 2);
    CHECK_UINT_EQ(each_line(text, len, check_lines, &n), 2);
    free(text);
    free(ev);
}
