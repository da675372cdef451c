/*
 * `slipway flow`: workflows from the command line. With a server (--server URL or
 * SLIPWAY_SERVER, and a token) every subcommand is a request to /api/flows; without one, ls,
 * show and log read the data directory's gateway store directly, in read-only transactions,
 * and build the same JSON the API answers with, so the printing below serves both.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "cli-client.h"
#include "cli-flow.h"
#include "flow/flow.h"
#include "http/http.h"
#include "store/store.h"

#define LIMIT_MAX     1000 /* the API's largest page */
#define LOG_PAGE      1000
#define BODY_MAX      (64u << 20)
#define FOLLOW_WAIT_S 25  /* the API waits at most 30 s */
#define SHOWN_MAX     300 /* bytes of an input, output or result printed before cutting */
#define CFG_ARGS_MAX  64

const char cli_flow_usage[] =
    "Usage: slipway flow ls [--name N] [--status S] [--key PREFIX] [--since T]\n"
    "                       [--until T] [--limit N] [--before ID] [--json]\n"
    "       slipway flow show ID [--json]\n"
    "       slipway flow log ID [--from N] [-f] [--json]\n"
    "       slipway flow cancel ID\n"
    "       slipway flow retry ID\n"
    "\n"
    "The platform's workflows, for platform operators.\n"
    "\n"
    "  ls      newest first: ID, NAME, STATUS, CREATED (UTC) and TIME (how long an\n"
    "          ended workflow took, how old an unfinished one is). --status is\n"
    "          PENDING, RUNNING, WAITING, SUCCEEDED, FAILED or CANCELLED; --key is a\n"
    "          prefix of the idempotency key; --since and --until take RFC 3339\n"
    "          (2026-01-05T10:00:00Z) or Unix milliseconds; --limit is 1..1000\n"
    "          (default 100); --before ID gives the page after the one ending at ID\n"
    "  show    one workflow: its fields, its steps (status, attempts, timings,\n"
    "          errors), events and children\n"
    "  log     its log from line --from (default 0); -f follows it to the end\n"
    "  cancel  cancels it and its unfinished children (needs a server)\n"
    "  retry   runs a FAILED or CANCELLED one again from its failed step (needs a\n"
    "          server)\n"
    "\n"
    "Where the workflows are:\n"
    "  --server URL     a running slipway (or SLIPWAY_SERVER), e.g.\n"
    "                   http://127.0.0.1:8080\n"
    "  --token T        a platform operator's personal access token (slp_...) or\n"
    "                   access token (or SLIPWAY_TOKEN)\n"
    "  --data-dir DIR   without a server: read DIR's gateway store directly,\n"
    "                   read-only (ls, show, log); --config FILE, --store URL and\n"
    "                   --set KEY=VALUE as for serve\n"
    "\n"
    "--json prints the API's JSON. Exit status: 0 done, 1 refused (the message says\n"
    "why), 2 a usage error.\n";

enum sub { S_LS = 1, S_SHOW = 2, S_LOG = 4, S_CANCEL = 8, S_RETRY = 16, S_ALL = 31 };

struct opts {
    enum sub sub;
    const char *name_of_sub;
    const char *id;
    const char *server, *token;
    const char *name, *status, *key, *since, *until, *before, *limit, *from;
    bool json, follow;
    int ncfg;
    char *cfg[CFG_ARGS_MAX]; /* configuration flags, for the data directory's store */
    /* checked and converted */
    int status_v;
    uint64_t since_ms, until_ms, limit_v, from_v;
};

/* Where the JSON comes from: a server, or the store of a data directory. */
struct source {
    const struct opts *o;
    struct store *store; /* NULL: the server */
};

static const struct {
    const char *name;
    unsigned subs;
    size_t off;
} value_flags[] = {
    {"--server", S_ALL, offsetof(struct opts, server)},
    {"--token", S_ALL, offsetof(struct opts, token)},
    {"--name", S_LS, offsetof(struct opts, name)},
    {"--status", S_LS, offsetof(struct opts, status)},
    {"--key", S_LS, offsetof(struct opts, key)},
    {"--since", S_LS, offsetof(struct opts, since)},
    {"--until", S_LS, offsetof(struct opts, until)},
    {"--before", S_LS, offsetof(struct opts, before)},
    {"--limit", S_LS, offsetof(struct opts, limit)},
    {"--from", S_LOG, offsetof(struct opts, from)},
};
static const char *const cfg_flags[] = {"--config", "--data-dir", "--store", "--set"};

static int usage(const char *fmt, ...) APP_PRINTF(1, 2);
static int usage(const char *fmt, ...)
{
    va_list ap;

    fputs("slipway flow: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs(" (see 'slipway help flow')\n", stderr);
    return 2;
}

static int refused(const struct opts *o, const struct err *err)
{
    fprintf(stderr, "slipway flow %s: %s\n", o->name_of_sub, err->msg);
    return 1;
}

/* ---------------------------------------------------------------- times */

static bool time_arg(const char *s, uint64_t *out)
{
    return parse_time_ms(slice_from_cstr(s), out) == 0;
}

/* "850ms", "42s", "5m03s", "2h05m", "3d04h": at most 6 characters below 100 days. */
static void duration(uint64_t ms, char out[24])
{
    uint64_t s = ms / 1000;

    if (ms < 1000)
        snprintf(out, 24, "%" PRIu64 "ms", ms);
    else if (s < 60)
        snprintf(out, 24, "%" PRIu64 "s", s);
    else if (s < 3600)
        snprintf(out, 24, "%" PRIu64 "m%02" PRIu64 "s", s / 60, s % 60);
    else if (s < 86400)
        snprintf(out, 24, "%" PRIu64 "h%02" PRIu64 "m", s / 3600, s % 3600 / 60);
    else
        snprintf(out, 24, "%" PRIu64 "d%02" PRIu64 "h", s / 86400, s % 86400 / 3600);
}

/* ---------------------------------------------------------------- arguments */

/* "--name=value" or "--name value": the value (advancing *i), NULL when argv[*i] is not
 * <name>; *missing when it is, without a value. */
static const char *value_of(int argc, char **argv, int *i, const char *name, bool *missing)
{
    size_t n = strlen(name);

    if (strncmp(argv[*i], name, n) != 0)
        return NULL;
    if (argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (argv[*i][n] != '\0')
        return NULL;
    if (*i + 1 >= argc) {
        *missing = true;
        return NULL;
    }
    return argv[++*i];
}

/* A configuration flag: kept, as it was given, for the store's configuration. */
static int take_cfg_flag(struct opts *o, int argc, char **argv, int *i, bool *taken)
{
    int start = *i;
    bool missing = false;

    for (size_t k = 0; k < ARRAY_LEN(cfg_flags) && !*taken; k++)
        *taken = value_of(argc, argv, i, cfg_flags[k], &missing) != NULL;
    if (missing)
        return usage("%s needs a value", argv[*i]);
    if (*taken && o->ncfg + (*i - start) + 1 > CFG_ARGS_MAX)
        return usage("too many configuration flags");
    for (int k = start; *taken && k <= *i; k++)
        o->cfg[o->ncfg++] = argv[k];
    return 0;
}

static int take_value_flag(struct opts *o, int argc, char **argv, int *i, bool *taken)
{
    bool missing = false;

    for (size_t k = 0; k < ARRAY_LEN(value_flags); k++) {
        const char *v = value_of(argc, argv, i, value_flags[k].name, &missing);

        if (missing)
            return usage("%s needs a value", argv[*i]);
        if (v == NULL)
            continue;
        if (!(value_flags[k].subs & o->sub))
            return usage("%s is not an option of flow %s", value_flags[k].name, o->name_of_sub);
        *(const char **)((char *)o + value_flags[k].off) = v;
        *taken = true;
        return 0;
    }
    return 0;
}

static int parse_args(struct opts *o, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool taken = false;
        int rc;

        if ((rc = take_value_flag(o, argc, argv, &i, &taken)) != 0 ||
            (!taken && (rc = take_cfg_flag(o, argc, argv, &i, &taken)) != 0))
            return rc;
        if (taken)
            continue;
        if (strcmp(a, "--json") == 0)
            o->json = true;
        else if ((strcmp(a, "-f") == 0 || strcmp(a, "--follow") == 0) && o->sub == S_LOG)
            o->follow = true;
        else if (a[0] == '-' && a[1] != '\0')
            return usage("unknown option \"%s\" for flow %s", a, o->name_of_sub);
        else if (o->id == NULL && o->sub != S_LS)
            o->id = a;
        else
            return usage("unexpected argument \"%s\"", a);
    }
    return 0;
}

static int check_filters(struct opts *o)
{
    enum flow_status st;

    o->status_v = -1;
    if (o->status != NULL && !flow_status_parse(slice_from_cstr(o->status), &st))
        return usage("--status: must be PENDING, RUNNING, WAITING, SUCCEEDED, FAILED or "
                     "CANCELLED");
    if (o->status != NULL)
        o->status_v = (int)st;
    if (o->since != NULL && !time_arg(o->since, &o->since_ms))
        return usage("--since: must be an RFC 3339 date-time with a zone or Unix milliseconds");
    if (o->until != NULL && !time_arg(o->until, &o->until_ms))
        return usage("--until: must be an RFC 3339 date-time with a zone or Unix milliseconds");
    o->limit_v = 100;
    if (o->limit != NULL && (slice_to_u64(slice_from_cstr(o->limit), &o->limit_v) < 0 ||
                             o->limit_v < 1 || o->limit_v > LIMIT_MAX))
        return usage("--limit: must be a whole number from 1 to %d", LIMIT_MAX);
    if (o->before != NULL && !id_valid(slice_from_cstr(o->before)))
        return usage("--before: not a workflow id");
    if (o->from != NULL &&
        (slice_to_u64(slice_from_cstr(o->from), &o->from_v) < 0 || o->from_v > INT64_MAX))
        return usage("--from: must be a line number");
    return 0;
}

/* Where to look: --server, else the data directory when one is named, else SLIPWAY_SERVER,
 * else the default data directory. */
static int check_target(struct opts *o)
{
    const char *env = getenv("SLIPWAY_SERVER");

    if (o->server != NULL && o->ncfg > 0)
        return usage("--server talks to a server; --data-dir, --store, --config and --set read "
                     "a data directory: give one or the other");
    if (o->server == NULL && o->ncfg == 0 && env != NULL && env[0] != '\0')
        o->server = env;
    if (o->server != NULL && o->token == NULL)
        o->token = getenv("SLIPWAY_TOKEN");
    if (o->server != NULL && (o->token == NULL || o->token[0] == '\0'))
        return usage("a server needs a token: --token T or SLIPWAY_TOKEN");
    if (o->server == NULL && (o->sub == S_CANCEL || o->sub == S_RETRY))
        return usage("flow %s needs a running server: pass --server URL", o->name_of_sub);
    return 0;
}

static int parse(struct opts *o, int argc, char **argv)
{
    static const struct {
        const char *name;
        enum sub sub;
    } subs[] = {{"ls", S_LS},   {"list", S_LS},       {"show", S_SHOW},
                {"log", S_LOG}, {"cancel", S_CANCEL}, {"retry", S_RETRY}};
    int rc;

    for (size_t i = 0; argc > 0 && i < ARRAY_LEN(subs); i++)
        if (strcmp(argv[0], subs[i].name) == 0) {
            o->sub = subs[i].sub;
            o->name_of_sub = subs[i].name;
        }
    if (argc == 0)
        return usage("expected a subcommand: ls, show, log, cancel or retry");
    if (o->sub == 0)
        return usage("unknown subcommand \"%s\"", argv[0]);
    if ((rc = parse_args(o, argc, argv)) != 0 || (rc = check_filters(o)) != 0)
        return rc;
    if (o->sub != S_LS && o->id == NULL)
        return usage("flow %s needs a workflow ID", o->name_of_sub);
    if (o->id != NULL && !id_valid(slice_from_cstr(o->id)))
        return usage("\"%s\" is not a workflow id", o->id);
    return check_target(o);
}

/* ---------------------------------------------------------------- the server */

static void url_put(struct sbuf *b, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~')
            sbuf_putc(b, (char)c);
        else
            sbuf_printf(b, "%%%02X", c);
    }
}

static void query_put(struct sbuf *b, const char *name, const char *value)
{
    if (value == NULL)
        return;
    if (b->len > 0 && b->buf[b->len - 1] != '?')
        sbuf_putc(b, '&');
    sbuf_printf(b, "%s=", name);
    url_put(b, value);
}

/* <method> <path> (with its query) on the server; the JSON answer into <out>. */
static int remote(const struct opts *o, const char *method, const struct sbuf *path,
                  uint64_t timeout_ms, struct sbuf *out, struct err *err)
{
    const struct cli_server s = {.url = o->server, .token = o->token};

    if (path->err)
        return err_set(err, ERR_INVALID, "URL too long");
    return cli_request(&s, method, path->buf, "application/json", timeout_ms, BODY_MAX, out, err);
}

static void path_of(struct sbuf *b, const char *id, const char *tail)
{
    sbuf_puts(b, "/api/flows");
    if (id != NULL) {
        sbuf_putc(b, '/');
        url_put(b, id);
    }
    sbuf_puts(b, tail);
}

/* ---------------------------------------------------------------- the data directory */

/* {"workflows":[…],"next":…} as the API builds it. */
static int local_list(const struct opts *o, struct store *s, struct sbuf *out, struct err *err)
{
    struct flow_filter f = {.name = o->name,
                            .status = o->status_v,
                            .key = slice_from_cstr(o->key),
                            .since_ms = o->since_ms,
                            .until_ms = o->until_ms,
                            .limit = (size_t)o->limit_v,
                            .before = slice_from_cstr(o->before)};
    const char *last = NULL;
    json_t *arr = NULL;
    struct jw w;
    size_t start;
    int rc;

    jw_init(&w, out);
    jw_obj_begin(&w);
    jw_key(&w, "workflows");
    start = out->len;
    if ((rc = flow_list_json(s, &f, &w, err)) < 0)
        return rc;
    arr = json_loadb(out->buf + start, out->len - start, 0, NULL);
    if (json_array_size(arr) == o->limit_v)
        last = json_string_value(json_object_get(json_array_get(arr, o->limit_v - 1), "id"));
    jw_key(&w, "next");
    if (last != NULL)
        jw_str(&w, last);
    else
        jw_null(&w);
    jw_obj_end(&w);
    json_decref(arr);
    return 0;
}

/* The status of workflow <id> (ERR_NOTFOUND when there is none). */
static int local_status(struct store *s, struct slice id, enum flow_status *st, struct err *err)
{
    struct sbuf b = SBUF_INIT(BODY_MAX);
    struct jw w;
    json_t *v = NULL;
    int rc;

    jw_init(&w, &b);
    rc = flow_show_json(s, id, &w, err);
    if (rc == 0)
        v = json_loadb(b.buf, b.len, 0, NULL);
    if (rc == 0 &&
        !flow_status_parse(slice_from_cstr(json_string_value(json_object_get(v, "status"))), st))
        rc = err_set(err, ERR_INTERNAL, "workflow %.*s: no status", SLICE_ARG(id));
    json_decref(v);
    sbuf_release(&b);
    return rc;
}

/* {"lines":[…],"skipped","next","ended"} as the API builds it. The status is read before the
 * lines: the engine writes a workflow's last lines before its final status. */
static int local_log(struct store *s, struct slice id, uint64_t from, struct sbuf *out,
                     struct err *err)
{
    struct arena *a = arena_new(&(struct arena_opts){.budget = 24u << 20});
    struct flow_log_line *lines = NULL;
    enum flow_status st;
    uint64_t skipped = 0;
    size_t n = 0;
    char ts[32];
    struct jw w;
    int rc = local_status(s, id, &st, err);

    if (rc == 0)
        rc = flow_log_read(s, a, id, from, LOG_PAGE, &lines, &n, &skipped, err);
    if (rc == 0) {
        jw_init(&w, out);
        jw_obj_begin(&w);
        jw_key(&w, "lines");
        jw_arr_begin(&w);
        for (size_t i = 0; i < n; i++) {
            time_rfc3339_ms(lines[i].ts_ms, ts);
            jw_obj_begin(&w);
            jw_key(&w, "n");
            jw_uint(&w, lines[i].n);
            jw_key(&w, "ts");
            jw_str(&w, ts);
            jw_key(&w, "text");
            jw_slice(&w, lines[i].text);
            jw_obj_end(&w);
        }
        jw_arr_end(&w);
        jw_key(&w, "skipped");
        jw_uint(&w, skipped);
        jw_key(&w, "next");
        jw_uint(&w, n > 0 ? lines[n - 1].n + 1 : from + skipped);
        jw_key(&w, "ended");
        jw_bool(&w, st >= FLOW_SUCCEEDED && n < LOG_PAGE);
        jw_obj_end(&w);
    }
    arena_free(a);
    return rc;
}

/* ---------------------------------------------------------------- fetching */

static int fetch_list(const struct source *src, struct sbuf *out, struct err *err)
{
    const struct opts *o = src->o;
    struct sbuf p = SBUF_INIT(8192);
    int rc;

    if (src->store != NULL)
        return local_list(o, src->store, out, err);
    path_of(&p, NULL, "?");
    query_put(&p, "name", o->name);
    query_put(&p, "status", o->status);
    query_put(&p, "key", o->key);
    query_put(&p, "since", o->since);
    query_put(&p, "until", o->until);
    query_put(&p, "limit", o->limit);
    query_put(&p, "before", o->before);
    rc = remote(o, "GET", &p, 0, out, err);
    sbuf_release(&p);
    return rc;
}

static int fetch_show(const struct source *src, struct sbuf *out, struct err *err)
{
    struct sbuf p = SBUF_INIT(1024);
    struct jw w;
    int rc;

    if (src->store != NULL) {
        jw_init(&w, out);
        return flow_show_json(src->store, slice_from_cstr(src->o->id), &w, err);
    }
    path_of(&p, src->o->id, "");
    rc = remote(src->o, "GET", &p, 0, out, err);
    sbuf_release(&p);
    return rc;
}

static int fetch_log(const struct source *src, uint64_t from, unsigned wait_s, struct sbuf *out,
                     struct err *err)
{
    struct sbuf p = SBUF_INIT(1024);
    int rc;

    if (src->store != NULL)
        return local_log(src->store, slice_from_cstr(src->o->id), from, out, err);
    path_of(&p, src->o->id, "/log");
    sbuf_printf(&p, "?from=%" PRIu64 "&limit=%d&wait=%u", from, LOG_PAGE, wait_s);
    rc = remote(src->o, "GET", &p, (wait_s + 10) * 1000ull, out, err);
    sbuf_release(&p);
    return rc;
}

/* ---------------------------------------------------------------- printing */

static const char *str_of(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));

    return s != NULL ? s : "";
}

static uint64_t ms_of(const json_t *o, const char *key)
{
    uint64_t ms = 0;

    return parse_time_ms(slice_from_cstr(str_of(o, key)), &ms) == 0 ? ms : 0;
}

static bool final_status(const char *st)
{
    return strcmp(st, "SUCCEEDED") == 0 || strcmp(st, "FAILED") == 0 ||
           strcmp(st, "CANCELLED") == 0;
}

/* How long an ended workflow ran, or how old an unfinished one is. */
static void wf_time(const json_t *wf, char out[24])
{
    uint64_t created = ms_of(wf, "created"), started = ms_of(wf, "started");
    uint64_t updated = ms_of(wf, "updated"), now = time_wall_ms();
    uint64_t from = started ? started : created;

    if (created == 0)
        snprintf(out, 24, "-");
    else if (final_status(str_of(wf, "status")))
        duration(updated > from ? updated - from : 0, out);
    else
        duration(now > created ? now - created : 0, out);
}

static void print_list(const json_t *v)
{
    const json_t *arr = json_object_get(v, "workflows"), *wf;
    const char *next = json_string_value(json_object_get(v, "next"));
    char name[16], created[16], t[24];
    size_t i;

    if (json_array_size(arr) == 0) {
        printf("no workflows\n");
        return;
    }
    printf("%-36s %-13s %-9s %-11s %6s\n", "ID", "NAME", "STATUS", "CREATED", "TIME");
    json_array_foreach(arr, i, wf)
    {
        const char *n = str_of(wf, "name"), *c = str_of(wf, "created");

        if (strlen(n) > 13)
            snprintf(name, sizeof(name), "%.11s..", n);
        else
            snprintf(name, sizeof(name), "%s", n);
        if (strlen(c) >= 16)
            snprintf(created, sizeof(created), "%.5s %.5s", c + 5, c + 11);
        else
            snprintf(created, sizeof(created), "-");
        wf_time(wf, t);
        printf("%-36s %-13s %-9s %-11s %6s\n", str_of(wf, "id"), name, str_of(wf, "status"),
               created, t);
    }
    if (next != NULL)
        fprintf(stderr, "more: slipway flow ls --before %s\n", next);
}

/* <v> (a JSON value) on one line, control bytes as '?', cut after SHOWN_MAX bytes. */
static void print_value(const char *label, const json_t *v)
{
    char buf[SHOWN_MAX + 4];
    char *text;

    if (v == NULL || json_is_null(v))
        return;
    text = json_is_string(v) ? NULL : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    slice_echo(buf, SHOWN_MAX,
               text ? slice_from_cstr(text)
                    : (struct slice){json_string_value(v), json_string_length(v)});
    printf("%s%s\n", label, buf);
    free(text);
}

static void print_field(const char *label, const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));

    if (s != NULL)
        printf("%-10s%s\n", label, s);
}

static void print_error(const char *label, const json_t *e)
{
    char buf[SHOWN_MAX + 4];

    if (!json_is_object(e))
        return;
    slice_echo(buf, SHOWN_MAX, slice_from_cstr(str_of(e, "message")));
    printf("%s%s: %s\n", label, str_of(e, "code"), buf);
}

static void print_took(const char *label, uint64_t from, uint64_t to)
{
    char d[24];

    if (from == 0 || to == 0)
        return;
    duration(to > from ? to - from : 0, d);
    printf("%s%s", label, d);
}

static void print_step(const json_t *st)
{
    const json_t *fa = json_object_get(st, "failed_attempts"), *a;
    int64_t attempts = json_integer_value(json_object_get(st, "attempts"));
    char n[32];
    size_t i;

    snprintf(n, sizeof(n), "%" PRId64 " attempt%s", attempts, attempts == 1 ? "" : "s");
    printf("  %-3" PRId64 " %-20s %-8s %-11s started %s",
           (int64_t)json_integer_value(json_object_get(st, "seq")), str_of(st, "name"),
           str_of(st, "status"), n, str_of(st, "started"));
    print_took(", took ", ms_of(st, "started"), ms_of(st, "ended"));
    printf("\n");
    if (json_is_string(json_object_get(st, "wake")))
        printf("        wakes at %s\n", str_of(st, "wake"));
    print_error("        error: ", json_object_get(st, "error"));
    json_array_foreach(fa, i, a)
    {
        printf("        attempt %" PRId64 " failed",
               (int64_t)json_integer_value(json_object_get(a, "attempt")));
        print_took(" after ", ms_of(a, "started"), ms_of(a, "ended"));
        print_error(": ", a);
    }
    print_value("        output: ", json_object_get(st, "output"));
}

static void print_show(const json_t *wf)
{
    const json_t *steps = json_object_get(wf, "steps"), *children, *ch, *ev;
    const char *k;
    size_t i;
    char t[24];

    print_field("id", wf, "id");
    print_field("name", wf, "name");
    print_field("status", wf, "status");
    print_error("error     ", json_object_get(wf, "error"));
    print_field("key", wf, "key");
    print_field("queue", wf, "queue");
    print_field("partition", wf, "partition");
    print_field("parent", wf, "parent");
    print_field("created", wf, "created");
    print_field("started", wf, "started");
    print_field("updated", wf, "updated");
    wf_time(wf, t);
    printf("%-10s%s\n", final_status(str_of(wf, "status")) ? "took" : "age", t);
    printf("%-10s%" PRId64 "\n", "runs", (int64_t)json_integer_value(json_object_get(wf, "runs")));
    print_value("input     ", json_object_get(wf, "input"));
    print_value("result    ", json_object_get(wf, "result"));
    printf("steps%s\n", json_array_size(steps) ? ":" : ": none");
    json_array_foreach(steps, i, ch)
    {
        print_step(ch);
    }
    if (json_object_size(json_object_get(wf, "events")) > 0)
        printf("events:\n");
    json_object_foreach(json_object_get(wf, "events"), k, ev)
    {
        printf("  %s = ", k);
        print_value("", ev);
    }
    children = json_object_get(wf, "children");
    if (json_array_size(children) > 0)
        printf("children:\n");
    json_array_foreach(children, i, ch)
    {
        printf("  %-36s %-20s %s\n", str_of(ch, "id"), str_of(ch, "name"), str_of(ch, "status"));
    }
}

/* ---------------------------------------------------------------- commands */

/* Parses <b> as JSON for printing; 1 (with a message) when it is not. */
static json_t *parsed(const struct opts *o, const struct sbuf *b)
{
    json_t *v = json_loadb(b->buf, b->len, 0, NULL);

    if (v == NULL)
        fprintf(stderr, "slipway flow %s: the answer is not JSON\n", o->name_of_sub);
    return v;
}

static int cmd_ls_show(const struct source *src)
{
    struct sbuf b = SBUF_INIT(BODY_MAX);
    struct err err = {0};
    json_t *v;
    int rc = src->o->sub == S_LS ? fetch_list(src, &b, &err) : fetch_show(src, &b, &err);

    if (rc == 0 && b.err)
        rc = err_set(&err, ERR_LIMIT, "answer over %u MiB", BODY_MAX >> 20);
    if (rc < 0) {
        sbuf_release(&b);
        return refused(src->o, &err);
    }
    if (src->o->json) {
        fwrite(b.buf, 1, b.len, stdout);
        if (b.len > 0 && b.buf[b.len - 1] != '\n')
            putchar('\n');
    } else if ((v = parsed(src->o, &b)) != NULL) {
        if (src->o->sub == S_LS)
            print_list(v);
        else
            print_show(v);
        json_decref(v);
    } else {
        rc = 1;
    }
    sbuf_release(&b);
    return rc < 0 ? 1 : rc;
}

/* Prints one page of log; *next and *ended say where it stands. */
static int log_print(const struct opts *o, const struct sbuf *b, uint64_t *next, bool *ended,
                     size_t *n)
{
    json_t *v = parsed(o, b), *line;
    uint64_t skipped;
    size_t i;

    if (v == NULL)
        return 1;
    skipped = (uint64_t)json_integer_value(json_object_get(v, "skipped"));
    *next = (uint64_t)json_integer_value(json_object_get(v, "next"));
    *ended = json_is_true(json_object_get(v, "ended"));
    *n = json_array_size(json_object_get(v, "lines"));
    if (o->json) {
        fwrite(b->buf, 1, b->len, stdout);
        if (b->len > 0 && b->buf[b->len - 1] != '\n')
            putchar('\n');
    } else {
        if (skipped > 0)
            fprintf(stderr, "(%" PRIu64 " older lines were dropped: flow.log_max_bytes)\n",
                    skipped);
        json_array_foreach(json_object_get(v, "lines"), i, line)
        {
            printf("%s %s\n", str_of(line, "ts"), str_of(line, "text"));
        }
    }
    fflush(stdout);
    json_decref(v);
    return 0;
}

static int cmd_log(const struct source *src)
{
    uint64_t next = src->o->from_v, t0;
    struct err err = {0};
    bool ended = false;
    size_t n = 0;
    int rc = 0;

    for (;;) {
        struct sbuf b = SBUF_INIT(BODY_MAX);

        t0 = time_mono_ms();
        rc = fetch_log(src, next, src->o->follow && src->store == NULL ? FOLLOW_WAIT_S : 0, &b,
                       &err);
        rc = rc < 0 ? refused(src->o, &err) : log_print(src->o, &b, &next, &ended, &n);
        sbuf_release(&b);
        if (rc != 0 || ended || (!src->o->follow && n < LOG_PAGE))
            break;
        /* Nothing new this soon: the data directory, or a server whose waiting workers are
         * all taken, answered at once. */
        if (n == 0 && time_mono_ms() - t0 < 1000)
            sleep(1);
    }
    return rc;
}

static int cmd_steer(const struct source *src)
{
    struct sbuf p = SBUF_INIT(1024), b = SBUF_INIT(64u << 10);
    struct err err = {0};
    json_t *v;
    int rc;

    path_of(&p, src->o->id, src->o->sub == S_CANCEL ? "/cancel" : "/retry");
    rc = remote(src->o, "POST", &p, 0, &b, &err);
    sbuf_release(&p);
    if (rc < 0) {
        sbuf_release(&b);
        return refused(src->o, &err);
    }
    if (src->o->json)
        fwrite(b.buf, 1, b.len, stdout);
    else if ((v = parsed(src->o, &b)) != NULL) {
        printf("workflow %s is %s\n", str_of(v, "id"), str_of(v, "status"));
        json_decref(v);
    } else
        rc = 1;
    sbuf_release(&b);
    return rc;
}

int cli_flow_main(int argc, char **argv, cli_flow_open_fn *open_store)
{
    struct opts o = {0};
    struct source src = {&o, NULL};
    struct err err = {0};
    int rc = parse(&o, argc, argv);

    if (rc != 0)
        return rc;
    if (o.server == NULL && open_store(o.ncfg, o.cfg, &src.store, &err) < 0)
        return refused(&o, &err);
    if (o.sub == S_LS || o.sub == S_SHOW)
        rc = cmd_ls_show(&src);
    else if (o.sub == S_LOG)
        rc = cmd_log(&src);
    else
        rc = cmd_steer(&src);
    if (src.store != NULL)
        store_close(src.store);
    return rc;
}
