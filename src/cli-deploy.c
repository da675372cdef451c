/*
 * `slipway deploy` and `slipway logs` (cli-deploy.h). A deploy is followed two ways at once:
 * its phase by polling deployStatus every 500 ms (simple, and it survives a lost stream), its
 * log on the deployLogs subscription; the subscription's tick is where the polling happens,
 * so one thread does both.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "cli-auth.h"
#include "cli-client.h"
#include "cli-deploy.h"
#include "cli-out.h"

const char cli_deploy_usage[] =
    "Usage: slipway deploy PROJECT SERVICE [--env ENV] [--ref REF] [--json]\n"
    "                      [--server URL] [--token T] [--workspace W]\n"
    "\n"
    "Builds SERVICE of PROJECT from its repository and rolls it out in ENV, showing the\n"
    "phases as they change (QUEUED, CLONING, BUILDING, PUSHING, DEPLOYING) and the deploy's\n"
    "log as it is written, until it ends. Ctrl-C offers to cancel the deploy (the previous\n"
    "release keeps serving); without a terminal it cancels at once. A second Ctrl-C quits at\n"
    "once and leaves the deploy running.\n"
    "\n"
    "  --env ENV        the environment (default development)\n"
    "  --ref REF        a branch, tag or commit (default: the service's own, else the\n"
    "                   repository's default branch)\n"
    "  --json           one JSON object per line on standard output: {\"phase\",\"elapsed\"},\n"
    "                   {\"log\"}, and last {\"deploy\": the final DeployRun}\n"
    "  --server URL     a running slipway (or SLIPWAY_SERVER), e.g. http://127.0.0.1:8080\n"
    "  --token T        an API token (slp_...) or access token (or SLIPWAY_TOKEN)\n"
    "  --workspace W    the project's workspace (or SLIPWAY_WORKSPACE; default: your\n"
    "                   personal workspace)\n"
    "\n"
    "Exit status: 0 SUCCEEDED, 1 FAILED or refused (the message says why), 2 CANCELLED or a\n"
    "usage error.\n";

const char cli_logs_usage[] =
    "Usage: slipway logs PROJECT SERVICE [--env ENV] [--tail N] [-f]\n"
    "                    [--server URL] [--token T] [--workspace W]\n"
    "\n"
    "Prints the output of SERVICE's replicas in ENV, one line each:\n"
    "  <timestamp> [<replica>] <line>\n"
    "\n"
    "  --env ENV        the environment (default development)\n"
    "  --tail N         how many earlier lines to show first, 0..10000 (default 100)\n"
    "  -f, --follow     keep printing new lines until Ctrl-C\n"
    "  --server URL, --token T, --workspace W   as for `slipway deploy`\n"
    "\n"
    "Without -f it stops once the earlier lines are shown. The server does not say where\n"
    "they end, so it stops when no line came for 1 second: a line written in that second\n"
    "may show too, and a slow server may cut the backlog short (use -f then).\n"
    "\n"
    "Exit status: 0, 1 refused or failed (the message says why), 2 a usage error.\n";

/* ---------------------------------------------------------------- arguments */

struct args {
    const char *cmd; /* "deploy" or "logs" */
    struct cli_server s;
    const char *project, *service, *env, *ref, *tail;
    bool json, follow;
};

static int usage(const char *cmd, const char *fmt, ...) APP_PRINTF(2, 3);
static int usage(const char *cmd, const char *fmt, ...)
{
    struct cli_cmd c = {.name = cmd};
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return cli_usage(&c, "%s", msg);
}

static const char **value_slot(struct args *a, const char *opt)
{
    bool deploy = strcmp(a->cmd, "deploy") == 0;

    return strcmp(opt, "--server") == 0            ? &a->s.url
           : strcmp(opt, "--token") == 0           ? &a->s.token
           : strcmp(opt, "--workspace") == 0       ? &a->s.workspace
           : strcmp(opt, "--env") == 0             ? &a->env
           : deploy && strcmp(opt, "--ref") == 0   ? &a->ref
           : !deploy && strcmp(opt, "--tail") == 0 ? &a->tail
                                                   : NULL;
}

static bool *flag_slot(struct args *a, const char *opt)
{
    if (strcmp(a->cmd, "deploy") == 0)
        return strcmp(opt, "--json") == 0 ? &a->json : NULL;
    return strcmp(opt, "-f") == 0 || strcmp(opt, "--follow") == 0 ? &a->follow : NULL;
}

/* Fills <a> from argv and the environment; 0, or the usage error's exit status. */
static int parse_args(struct args *a, int argc, char **argv)
{
    const char **slot;
    bool *flag;

    for (int i = 0; i < argc; i++) {
        if ((slot = value_slot(a, argv[i])) != NULL) {
            if (i + 1 == argc)
                return usage(a->cmd, "%s needs a value", argv[i]);
            *slot = argv[++i];
        } else if ((flag = flag_slot(a, argv[i])) != NULL) {
            *flag = true;
        } else if (argv[i][0] == '-') {
            return usage(a->cmd, "unknown option %s", argv[i]);
        } else if (a->project == NULL) {
            a->project = argv[i];
        } else if (a->service == NULL) {
            a->service = argv[i];
        } else {
            return usage(a->cmd, "one PROJECT and one SERVICE only (\"%s\" is one too many)",
                         argv[i]);
        }
    }
    if (a->env == NULL)
        a->env = "development";
    if (a->project == NULL || a->service == NULL)
        return usage(a->cmd, "needs PROJECT and SERVICE, e.g. slipway %s shop web", a->cmd);
    const char *names[3][2] = {{"PROJECT", a->project}, {"SERVICE", a->service}, {"--env", a->env}};
    for (size_t i = 0; i < 3; i++)
        if (!slug_valid(slice_from_cstr(names[i][1])))
            return usage(a->cmd, "%s \"%s\": must match ^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$",
                         names[i][0], names[i][1]);
    uint64_t tail = 0;
    if (a->tail != NULL && (slice_to_u64(slice_from_cstr(a->tail), &tail) < 0 || tail > 10000))
        return usage(a->cmd, "--tail \"%s\": a number of lines, 0..10000", a->tail);
    struct cli_cmd c = {.name = a->cmd, .s = a->s};
    int rc = cli_auth_connect(&c); /* the flags, then the environment, then the stored login */
    a->s = c.s;
    return rc;
}

static int report(const struct args *a, const struct err *err)
{
    return cli_fail(&(struct cli_cmd){.name = a->cmd}, err);
}

/* ---------------------------------------------------------------- Ctrl-C */

static volatile sig_atomic_t interrupts;

static void on_sigint(int sig)
{
    static const char msg[] = "\nslipway: quitting (the deploy goes on; see the dashboard)\n";

    (void)sig;
    if (++interrupts >= 2) {
        if (write(2, msg, sizeof(msg) - 1) < 0) { /* nothing more to do */
        }
        _exit(130);
    }
}

static void catch_sigint(void)
{
    struct sigaction sa = {.sa_handler = on_sigint}; /* no SA_RESTART: waits end early */

    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
}

/* ---------------------------------------------------------------- deploy */

#define POLL_MS 500

static const char run_fields[] = "id phase error imageRef rolloutMessage";

struct follow {
    const struct cli_server *s;
    const char *id;
    bool json;
    bool tty;
    uint64_t t0, last_poll;
    char phase[16];
    struct sbuf shown; /* the phase line: "QUEUED 0.0s, CLONING 0.4s" */
    json_t *run;       /* the last DeployRun polled */
    bool cancel_sent, stream_lost;
    struct err err; /* why polling failed, when it did */
};

static bool terminal_phase(const char *p)
{
    return strcmp(p, "SUCCEEDED") == 0 || strcmp(p, "FAILED") == 0 || strcmp(p, "CANCELLED") == 0;
}

static void clear_line(struct follow *f)
{
    if (f->tty && f->shown.len > 0)
        fputs("\r\033[K", stderr);
}

static void redraw(struct follow *f)
{
    if (f->tty && f->shown.len > 0) {
        fprintf(stderr, "%s", f->shown.buf);
        fflush(stderr);
    }
}

/* A new phase: the updating line on a terminal, else a line of its own. */
static void show_phase(struct follow *f, const char *phase)
{
    double elapsed = (double)(time_mono_ms() - f->t0) / 1000.0;

    snprintf(f->phase, sizeof(f->phase), "%s", phase);
    if (f->json) {
        json_t *o = json_pack("{s:s, s:f}", "phase", phase, "elapsed", elapsed);
        json_dumpf(o, stdout, JSON_COMPACT);
        putchar('\n');
        fflush(stdout);
        json_decref(o);
        return;
    }
    clear_line(f);
    sbuf_printf(&f->shown, "%s%s %.1fs", f->shown.len ? ", " : "", phase, elapsed);
    if (f->tty)
        redraw(f);
    else
        fprintf(stderr, "%s %.1fs\n", phase, elapsed);
}

static void show_log(struct follow *f, const char *line)
{
    if (f->json) {
        json_t *o = json_pack("{s:s}", "log", line);
        json_dumpf(o, stdout, JSON_COMPACT);
        putchar('\n');
        fflush(stdout);
        json_decref(o);
        return;
    }
    clear_line(f);
    printf("%s\n", line);
    fflush(stdout);
    redraw(f);
}

/* deployStatus now; a new phase is shown. */
static int poll_status(struct follow *f)
{
    char query[160];
    json_t *data = NULL, *vars = json_pack("{s:s}", "id", f->id);
    int rc;

    snprintf(query, sizeof(query), "query($id: ID!) { deployStatus(id: $id) { %s } }", run_fields);
    rc = cli_graphql(f->s, query, vars, &data, &f->err);
    json_decref(vars);
    f->last_poll = time_mono_ms();
    if (rc < 0)
        return rc;
    json_t *run = json_object_get(data, "deployStatus");
    const char *phase = json_string_value(json_object_get(run, "phase"));
    if (phase == NULL) {
        json_decref(data);
        return err_set(&f->err, ERR_NOTFOUND, "deploy %s is gone", f->id);
    }
    json_decref(f->run);
    f->run = json_incref(run);
    if (strcmp(phase, f->phase) != 0)
        show_phase(f, phase);
    json_decref(data);
    return 0;
}

/* The first Ctrl-C: cancelDeploy, once. */
static void cancel_once(struct follow *f)
{
    json_t *data = NULL, *vars = json_pack("{s:s}", "id", f->id);
    struct err err = {0};

    f->cancel_sent = true;
    clear_line(f);
    if (cli_graphql(f->s, "mutation($id: ID!) { cancelDeploy(id: $id) { id phase } }", vars, &data,
                    &err) < 0)
        fprintf(stderr, "slipway deploy: could not cancel: %s\n", err.msg);
    else
        fprintf(stderr, "slipway deploy: cancelling deploy %s (Ctrl-C again to quit at once)\n",
                f->id);
    redraw(f);
    json_decref(data);
    json_decref(vars);
}

/* Between log lines: Ctrl-C, and the phase every POLL_MS. 1 once the deploy ended. */
static int tick(void *arg)
{
    struct follow *f = arg;

    if (interrupts > 0 && !f->cancel_sent) {
        char q[128];

        clear_line(f);
        snprintf(q, sizeof(q), "\nCancel deploy %s? The previous release keeps serving.", f->id);
        if (!isatty(0) || cli_confirm(q))
            cancel_once(f);
        else
            interrupts = 0, redraw(f); /* follow on */
    }
    if (time_mono_ms() - f->last_poll < POLL_MS)
        return 0;
    if (poll_status(f) < 0)
        return 2;
    return terminal_phase(f->phase) ? 1 : 0;
}

static int on_log(void *arg, json_t *data)
{
    struct follow *f = arg;
    const char *line = json_string_value(json_object_get(data, "deployLogs"));

    if (line != NULL)
        show_log(f, line);
    return tick(arg);
}

/* Polls alone until the deploy ends (the log stream is gone). */
static int poll_until_done(struct follow *f)
{
    while (!terminal_phase(f->phase)) {
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
        int rc = tick(f);
        if (rc == 2)
            return -1;
    }
    return 0;
}

static int follow_deploy(struct follow *f)
{
    json_t *vars = json_pack("{s:s}", "id", f->id);
    struct err err = {0};
    int rc;

    rc = cli_subscribe(f->s, "subscription($id: ID!) { deployLogs(id: $id) }", vars,
                       &(struct cli_sub){on_log, tick, f, 100}, &err);
    json_decref(vars);
    if (rc == 2)
        return -1; /* polling failed: f->err says why */
    if (rc < 0) {
        clear_line(f);
        fprintf(stderr, "slipway deploy: the log stream failed (%s); following the phase only\n",
                err.msg);
        redraw(f);
    }
    /* The stream ends with the deploy; the final phase may still be a poll away. */
    if (poll_until_done(f) < 0)
        return -1;
    return 0;
}

static int finish(struct follow *f)
{
    const char *error = json_string_value(json_object_get(f->run, "error"));

    clear_line(f);
    if (f->tty && !f->json)
        fprintf(stderr, "%s\n", f->shown.buf);
    if (f->json) {
        json_t *o = json_pack("{s:O}", "deploy", f->run);
        json_dumpf(o, stdout, JSON_COMPACT);
        putchar('\n');
        json_decref(o);
    } else if (strcmp(f->phase, "SUCCEEDED") == 0) {
        const char *img = json_string_value(json_object_get(f->run, "imageRef"));
        fprintf(stderr, "slipway deploy: SUCCEEDED%s%s\n", img ? ": " : "", img ? img : "");
    } else {
        fprintf(stderr, "slipway deploy: %s%s%s\n", f->phase, error ? ": " : "",
                error ? error : "");
    }
    return strcmp(f->phase, "SUCCEEDED") == 0 ? 0 : strcmp(f->phase, "FAILED") == 0 ? 1 : 2;
}

/* mutation deploy: the new run's id into <id>. */
static int start_deploy(const struct args *a, char *id, size_t cap, struct err *err)
{
    json_t *input = json_pack("{s:s, s:s, s:s}", "projectId", a->project, "service", a->service,
                              "environment", a->env);
    json_t *vars, *data = NULL;
    int rc;

    if (a->ref != NULL)
        json_object_set_new(input, "gitRef", json_string(a->ref));
    vars = json_pack("{s:o}", "i", input);
    rc = cli_graphql(&a->s, "mutation($i: DeployInput!) { deploy(input: $i) { id phase } }", vars,
                     &data, err);
    json_decref(vars);
    if (rc == 0) {
        const char *v = json_string_value(json_object_get(json_object_get(data, "deploy"), "id"));
        if (v == NULL || strlen(v) >= cap)
            rc = err_set(err, ERR_UNAVAILABLE, "the server answered deploy without an id");
        else
            snprintf(id, cap, "%s", v);
    }
    json_decref(data);
    return rc;
}

int cli_deploy_follow(const struct cli_server *s, const char *id, bool json)
{
    struct follow f = {.s = s, .id = id, .json = json, .shown = SBUF_INIT(4096)};
    int rc;

    catch_sigint();
    f.tty = isatty(2) && !json;
    f.t0 = time_mono_ms();
    if (poll_status(&f) < 0 || follow_deploy(&f) < 0) {
        clear_line(&f);
        rc = cli_fail(&(struct cli_cmd){.name = "deploy"}, &f.err);
    } else {
        rc = finish(&f);
    }
    json_decref(f.run);
    sbuf_release(&f.shown);
    return rc;
}

int cli_deploy_main(int argc, char **argv)
{
    struct args a = {.cmd = "deploy"};
    struct err err = {0};
    char id[128];
    int rc;

    if ((rc = parse_args(&a, argc, argv)) != 0)
        return rc;
    if (start_deploy(&a, id, sizeof(id), &err) < 0)
        return report(&a, &err);
    if (!a.json)
        fprintf(stderr, "slipway deploy: deploying %s/%s in %s (deploy %s)\n", a.project, a.service,
                a.env, id);
    return cli_deploy_follow(&a.s, id, a.json);
}

/* ---------------------------------------------------------------- logs */

#define BACKLOG_QUIET_MS 1000

struct tailer {
    const struct args *a;
    uint64_t last; /* when the last line came (or the stream opened); 0 before */
};

static int on_entry(void *arg, json_t *data)
{
    struct tailer *t = arg;
    json_t *e = json_object_get(data, "serviceLogs");
    const char *ts = json_string_value(json_object_get(e, "timestamp"));
    const char *rep = json_string_value(json_object_get(e, "replica"));
    const char *line = json_string_value(json_object_get(e, "line"));

    printf("%s [%s] %s\n", ts ? ts : "-", rep ? rep : "?", line ? line : "");
    fflush(stdout);
    t->last = time_mono_ms();
    return interrupts > 0 ? 1 : 0;
}

static int quiet(void *arg)
{
    struct tailer *t = arg;

    if (interrupts > 0)
        return 1;
    if (t->last == 0) /* the first tick: the stream is open, the second starts now */
        t->last = time_mono_ms();
    return !t->a->follow && time_mono_ms() - t->last >= BACKLOG_QUIET_MS ? 1 : 0;
}

int cli_logs_main(int argc, char **argv)
{
    struct args a = {.cmd = "logs"};
    struct tailer t = {.a = &a};
    struct err err = {0};
    json_t *vars;
    int rc;

    if ((rc = parse_args(&a, argc, argv)) != 0)
        return rc;
    vars = json_pack("{s:s, s:s, s:s, s:I}", "p", a.project, "s", a.service, "e", a.env, "n",
                     (json_int_t)(a.tail ? strtoll(a.tail, NULL, 10) : 100));
    catch_sigint();
    rc = cli_subscribe(&a.s,
                       "subscription($p: ID!, $s: String!, $e: String!, $n: Int) {\n"
                       "  serviceLogs(projectId: $p, service: $s, environment: $e, tailLines: "
                       "$n) { timestamp replica line }\n}",
                       vars, &(struct cli_sub){on_entry, quiet, &t, 100}, &err);
    json_decref(vars);
    return rc < 0 ? report(&a, &err) : 0;
}
