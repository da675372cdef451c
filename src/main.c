/*
 * The slipway binary: command-line parsing and the wiring of modules. No logic of its own
 * beyond deciding what to start and in which order to stop it.
 */
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "bld/bld.h"
#include "cli-deploy.h"
#include "cli-eject.h"
#include "cli-flow.h"
#include "cli-projects.h"
#include "dep/dep.h"
#include "flow/flow.h"
#include "gateway/gateway.h"
#include "http/http.h"
#include "ingress/ingress.h"
#include "obs/obs.h"
#include "reg/reg.h"
#include "rt/rt.h"
#include "pkg/pkg.h"
#include "store/store.h"

#ifndef SLIPWAY_VERSION
#define SLIPWAY_VERSION "0.0.0"
#endif
#ifndef SLIPWAY_COMMIT
#define SLIPWAY_COMMIT "unknown"
#endif

extern char **environ;

struct core_cfg {
    char *data_dir;
    char *store;
    char *log_level;
    int64_t workers;
};

static const struct cfg_key core_keys[] = {
    CFG_STR("core.data_dir", struct core_cfg, data_dir, "./data", 0,
            "Directory holding slipway's state (databases, repositories, images)."),
    CFG_SECRET("core.store", struct core_cfg, store, 0,
               "Where services keep their state: empty or \"sqlite\" for one SQLite file per "
               "service in core.data_dir, or an administrator's postgres:// URL for one "
               "database and role per service, created on first start."),
    CFG_STR("log.level", struct core_cfg, log_level, "info", 0,
            "Least severe level logged: debug, info, warn or error."),
    CFG_INT("core.workers", struct core_cfg, workers, 4, 1, 256, 0,
            "Worker threads for blocking work (readiness checks; storage and git as they arrive)."),
};

/* The services one process can run. Each one adds its routes; more arrive with their modules. */
struct service {
    const char *name;
    const char *about;
};
static const struct service services[] = {
    {"gateway", "API, identity, dashboard, health and metrics endpoints"},
    {"packager", "GitOps repositories: desired state, history, promotion, eject"},
    {"builder", "builds images from source as durable workflows"},
    {"deployer", "runs apps on this machine: rollouts, restarts, routes, logs"},
};

struct app {
    struct cfg *cfg;
    struct core_cfg core;
    struct http_cfg http;
    struct gw_cfg gw;
    struct flow_cfg flow;
    struct pkg_cfg pkg;
    struct bld_cfg bld;
    struct dep_cfg dep;
    struct ingress_cfg ingress;
    struct reg_cfg reg;
    const char *config_path;
    bool admin; /* `admin create`: --email and --name are known flags */
    const char *admin_email, *admin_name;
    const char *services_arg;
    bool selected[ARRAY_LEN(services)];
};

static const char usage_main[] =
    "slipway: a self-hosted application platform\n"
    "\n"
    "Usage: slipway <command> [options]\n"
    "\n"
    "Commands:\n"
    "  serve           run slipway (every service in one process unless --services says)\n"
    "  config show     print the effective configuration and where each value came from\n"
    "  config check    validate the configuration and exit (0 when valid)\n"
    "  config keys     describe every configuration key\n"
    "  admin create    create a user with a one-time password (--email E [--name N])\n"
    "  flow            workflows: ls, show, log, cancel, retry (platform operators)\n"
    "  eject PROJECT   download a project's eject archive (runs without slipway)\n"
    "  deploy PROJECT SERVICE   build and roll out a service, following it to the end\n"
    "  logs PROJECT SERVICE     a service's output (-f to follow)\n"
    "  down            stop the apps and the ingress a stopped or killed slipway left running\n"
    "\n"
    "Client commands (against a running slipway; slipway login first):\n"
    "  login [URL]     log in and keep a personal access token; logout, whoami\n"
    "  workspace use W make W the active workspace (workspace list: yours)\n"
    "  projects        list projects; project create NAME | delete PROJECT\n"
    "  env             env create PROJECT NAME [--from ENV] | delete PROJECT NAME\n"
    "  service         service add PROJECT --repo URL | remove PROJECT SERVICE\n"
    "  deploys PROJECT SERVICE  deploy history; rollback ... TAG; promote --from --to\n"
    "  vars            vars list | set | unset: environment and service variables\n"
    "  scale PROJECT SERVICE N  replicas; domains PROJECT SERVICE [add|remove HOST]\n"
    "  open PROJECT SERVICE     print (and open) the app's URL\n"
    "  completion bash|zsh      print the shell completion script\n"
    "  version         print the version and source commit\n"
    "  help [command]  show help for a command\n"
    "\n"
    "Run 'slipway help serve' for the options.\n";

static const char usage_serve[] =
    "Usage: slipway serve [options]\n"
    "       slipway config show|check|keys [options]\n"
    "\n"
    "Options:\n"
    "  --config FILE      read configuration from FILE ('key = value' lines, # comments)\n"
    "  --data-dir DIR     where slipway keeps its state (core.data_dir, default ./data)\n"
    "  --store URL        \"sqlite\" (default: a file per service in the data directory) or\n"
    "                     an administrator's postgres:// URL (a database per service)\n"
    "  --services=A,B     run only these services (default: all); known: gateway,\n"
    "                     packager, builder, deployer\n"
    "  --bind ADDR        address to listen on (http.bind, default 127.0.0.1)\n"
    "  --port N           port to listen on (http.port, default 8080; 0 picks one)\n"
    "  --log-level L      debug, info, warn or error (log.level)\n"
    "  --set KEY=VALUE    set any configuration key (see 'slipway config keys')\n"
    "\n"
    "Precedence: defaults < --config file < SLIPWAY_<KEY> environment variables < flags.\n"
    "SIGTERM or SIGINT stops accepting, lets requests finish for http.shutdown_grace, exits 0.\n";

static const char usage_admin[] =
    "Usage: slipway admin create --email E [--name N] [options]\n"
    "\n"
    "Creates the user E (name N, default: the part of E before '@') with a random password,\n"
    "printed once on standard output, in the gateway's store.\n"
    "\n"
    "Options:\n"
    "  --email E          the new user's email (required)\n"
    "  --name N           the new user's display name\n"
    "  --config FILE      read configuration from FILE, as for serve\n"
    "  --data-dir DIR     where slipway keeps its state (core.data_dir, default ./data)\n"
    "  --store URL        \"sqlite\" (default) or an administrator's postgres:// URL\n"
    "  --set KEY=VALUE    set any configuration key\n";

static const char usage_down[] =
    "Usage: slipway down [--data-dir DIR] [options]\n"
    "\n"
    "Apps keep running when slipway stops or is killed, and so does the ingress when slipway is\n"
    "killed. This stops them: every app container of the data directory (SIGTERM, SIGKILL after\n"
    "deployer.stop_grace) and the ingress's nginx. Their records stay: the next 'slipway serve'\n"
    "starts the apps again. Run it only while no slipway serves that data directory.\n"
    "Options as for serve (--data-dir, --config, --set).\n";

static const char usage_version[] = "Usage: slipway version\n\nPrints the version and commit.\n";

static int fail(const char *what, const struct err *err)
{
    fprintf(stderr, "slipway: %s%s%s\n", what, err ? ": " : "", err ? err->msg : "");
    return 2;
}

static int select_services(struct app *app, struct err *err)
{
    struct slice rest = slice_from_cstr(app->services_arg), name;

    if (app->services_arg == NULL || strcmp(app->services_arg, "all") == 0) {
        for (size_t i = 0; i < ARRAY_LEN(services); i++)
            app->selected[i] = true;
        return 0;
    }
    do {
        size_t i;

        slice_split(&rest, ',', &name);
        for (i = 0; i < ARRAY_LEN(services); i++)
            if (slice_eq_cstr(slice_trim(name), services[i].name))
                break;
        if (i == ARRAY_LEN(services))
            return err_set(err, ERR_INVALID,
                           "--services: unknown service \"" SLICE_FMT "\" (known: gateway)",
                           SLICE_ARG(name));
        app->selected[i] = true;
    } while (rest.len > 0);
    return 0;
}

/* Flags that set a configuration key directly. */
static const struct {
    const char *flag, *key;
} flag_keys[] = {
    {"--data-dir", "core.data_dir"}, {"--store", "core.store"},    {"--bind", "http.bind"},
    {"--port", "http.port"},         {"--log-level", "log.level"},
};

/* "--name=value" or "--name value"; advances *i past what it used. */
static const char *flag_value(int argc, char **argv, int *i, const char *name)
{
    size_t n = strlen(name);

    if (strncmp(argv[*i], name, n) != 0)
        return NULL;
    if (argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (argv[*i][n] == '\0' && *i + 1 < argc)
        return argv[++*i];
    return NULL;
}

static int set_pair(struct app *app, const char *pair, struct err *err)
{
    const char *eq = strchr(pair, '=');
    char key[128];

    if (eq == NULL || (size_t)(eq - pair) >= sizeof(key))
        return err_set(err, ERR_INVALID, "--set: expected KEY=VALUE, got \"%s\"", pair);
    memcpy(key, pair, (size_t)(eq - pair));
    key[eq - pair] = '\0';
    return cfg_set(app->cfg, key, eq + 1, CFG_SRC_FLAG, err);
}

static int parse_one_flag(struct app *app, int argc, char **argv, int *i, struct err *err)
{
    const char *v;

    if ((v = flag_value(argc, argv, i, "--config")) != NULL) {
        app->config_path = v;
        return 0;
    }
    if ((v = flag_value(argc, argv, i, "--services")) != NULL) {
        app->services_arg = v;
        return 0;
    }
    if ((v = flag_value(argc, argv, i, "--set")) != NULL)
        return set_pair(app, v, err);
    if (app->admin && (v = flag_value(argc, argv, i, "--email")) != NULL) {
        app->admin_email = v;
        return 0;
    }
    if (app->admin && (v = flag_value(argc, argv, i, "--name")) != NULL) {
        app->admin_name = v;
        return 0;
    }
    for (size_t k = 0; k < ARRAY_LEN(flag_keys); k++)
        if ((v = flag_value(argc, argv, i, flag_keys[k].flag)) != NULL)
            return cfg_set(app->cfg, flag_keys[k].key, v, CFG_SRC_FLAG, err);
    return err_set(err, ERR_INVALID, "unknown option \"%s\" (see 'slipway help %s')", argv[*i],
                   app->admin ? "admin" : "serve");
}

/* Builds the configuration from defaults, file, environment and flags. */
static int configure(struct app *app, int argc, char **argv, struct err *err)
{
    struct cfg_section http_sec = http_cfg_section(&app->http);
    struct cfg_section gw_sec = gw_cfg_section(&app->gw);
    struct cfg_section flow_sec = flow_cfg_section(&app->flow);
    struct cfg_section pkg_sec = pkg_cfg_section(&app->pkg);
    struct cfg_section bld_sec = bld_cfg_section(&app->bld);
    struct cfg_section ingress_sec = ingress_cfg_section(&app->ingress);
    struct cfg_section dep_sec = dep_cfg_section(&app->dep);
    struct cfg_section reg_sec = reg_cfg_section(&app->reg);

    app->cfg = cfg_new();
    cfg_add(app->cfg, &(struct cfg_section){"core", core_keys, ARRAY_LEN(core_keys), &app->core});
    cfg_add(app->cfg, &http_sec);
    cfg_add(app->cfg, &gw_sec);
    cfg_add(app->cfg, &flow_sec);
    cfg_add(app->cfg, &pkg_sec);
    cfg_add(app->cfg, &bld_sec);
    cfg_add(app->cfg, &ingress_sec);
    cfg_add(app->cfg, &dep_sec);
    cfg_add(app->cfg, &reg_sec);
    for (int i = 0; i < argc; i++)
        if (parse_one_flag(app, argc, argv, &i, err) < 0)
            return err->code;
    if (app->config_path && cfg_load_file(app->cfg, app->config_path, err) < 0)
        return err->code;
    if (cfg_load_env(app->cfg, environ, err) < 0)
        return err->code;
    if (select_services(app, err) < 0)
        return err->code;
    return 0;
}

static int cmd_config(struct app *app, const char *sub)
{
    struct sbuf out = SBUF_INIT(1u << 20);
    bool ok;

    log_level_parse(app->core.log_level, &ok);
    if (!ok) {
        fprintf(stderr, "slipway: log.level: must be debug, info, warn or error\n");
        return 2;
    }
    if (strcmp(sub, "check") == 0) {
        printf("configuration is valid\n");
        return 0;
    }
    if (strcmp(sub, "show") == 0)
        cfg_show(app->cfg, &out);
    else if (strcmp(sub, "keys") == 0)
        cfg_doc(app->cfg, &out);
    else
        return fail("config: expected show, check or keys", NULL);
    fwrite(out.buf, 1, out.len, stdout);
    sbuf_release(&out);
    return 0;
}

/* Everything a running server holds, released in reverse order. */
struct running {
    struct store *gw_store;
    struct flow *flow; /* the gateway's workflows, on its store */
    struct gw *gw;
    struct reg *reg; /* the built-in registry, under <data dir>/registry */
    struct store *pkg_store;
    struct pkg *pkg;
    struct store *bld_store;
    struct bld_svc *bld;
    struct ingress *ingress; /* nginx in front of slipway and the apps */
    struct store *dep_store;
    struct dep *dep;
    struct metrics *metrics;
    struct pool *workers;
    struct obs *obs;
    struct http_router *router;
    struct http_server *http;
};

static bool service_selected(const struct app *app, const char *name)
{
    for (size_t i = 0; i < ARRAY_LEN(services); i++)
        if (strcmp(services[i].name, name) == 0)
            return app->selected[i];
    return false;
}

static int store_check(void *store, struct err *err)
{
    return store_ping(store, err);
}

/* Opens the database of <service> when it is selected, and checks it in /readyz. */
static int open_store(struct app *app, struct running *run, const char *service,
                      const unsigned char *secret, struct store **out, struct err *err)
{
    char check[64];

    if (!service_selected(app, service))
        return 0;
    if (store_open_service(app->core.store, app->core.data_dir, service, secret, 32, out, err) < 0)
        return err->code;
    snprintf(check, sizeof(check), "store.%s", service);
    obs_check_add(run->obs, check, store_check, *out);
    return 0;
}

/* Opens the databases of the selected services, each its own (DESIGN.md §2). */
static int open_stores(struct app *app, struct running *run, struct err *err)
{
    unsigned char secret[32];
    char path[4096];

    snprintf(path, sizeof(path), "%s/secret.key", app->core.data_dir);
    if (file_secret_load(path, secret, sizeof(secret), err) < 0 ||
        open_store(app, run, "gateway", secret, &run->gw_store, err) < 0 ||
        open_store(app, run, "packager", secret, &run->pkg_store, err) < 0 ||
        open_store(app, run, "builder", secret, &run->bld_store, err) < 0 ||
        open_store(app, run, "deployer", secret, &run->dep_store, err) < 0)
        return err->code;
    return 0;
}

/* The workflow engine on the gateway's store (DESIGN.md §3: the gateway starts deploys). */
static int new_flow(struct app *app, struct running *run, struct err *err)
{
    struct flow_opts opts;

    if (flow_migrate(run->gw_store, err) < 0)
        return err->code;
    flow_opts_from_cfg(&opts, &app->flow, run->gw_store, "gateway");
    run->flow = flow_new(&opts);
    return 0;
}

/* The gateway on its store: keys, its workflows registered (a bad flow.* setting stops the
 * start before anything is created), then the first-run administrator (printed on stdout
 * only). The engine starts last (start_engine), once the deployer is there for the deploys it
 * resumes. */
static int start_gateway(struct app *app, struct running *run, struct err *err)
{
    char issuer[512], path[4096];

    if (run->gw_store == NULL)
        return 0;
    if (new_flow(app, run, err) < 0)
        return err->code;
    if (app->http.port == 0)
        snprintf(issuer, sizeof(issuer), "http://127.0.0.1");
    else
        snprintf(issuer, sizeof(issuer), "http://%s:%" PRId64, app->http.bind, app->http.port);
    snprintf(path, sizeof(path), "%s/registry", app->core.data_dir);
    if (reg_new(path, &app->reg, &run->reg, err) < 0)
        return err->code;
    if (gw_new(
            &(struct gw_deps){run->gw_store, run->workers, issuer, &app->gw, run->flow, run->reg},
            &run->gw, err) < 0 ||
        gw_first_run(run->gw, stdout, err) < 0)
        return err->code;
    return 0;
}

/* The packager verifies the gateway's internal tokens with the gateway's keyring, so for now
 * it runs in the gateway's process; the gateway calls it in process. */
static int start_packager(struct app *app, struct running *run, struct err *err)
{
    char dir[4096];

    if (run->pkg_store == NULL)
        return 0;
    if (run->gw == NULL)
        return err_set(err, ERR_INVALID,
                       "--services: packager runs in the gateway's process for now; select both");
    snprintf(dir, sizeof(dir), "%s/packager", app->core.data_dir);
    if (pkg_new(&(struct pkg_deps){.data_dir = dir,
                                   .store = run->pkg_store,
                                   .keys = gw_keyring(run->gw),
                                   .issuer = gw_issuer(run->gw),
                                   .workload_domain = app->pkg.workload_domain},
                &run->pkg, err) < 0)
        return err->code;
    gw_set_pkg(run->gw, run->pkg);
    return 0;
}

/* The builder, like the packager, verifies the gateway's internal tokens in process. It pushes
 * to the built-in registry once the HTTP port is known (registry_to_builder). */
static int start_builder(struct app *app, struct running *run, struct err *err)
{
    if (run->bld_store == NULL)
        return 0;
    if (run->gw == NULL)
        return err_set(err, ERR_INVALID,
                       "--services: builder runs in the gateway's process for now; select both");
    if (bld_svc_new(&(struct bld_svc_deps){.store = run->bld_store,
                                           .keys = gw_keyring(run->gw),
                                           .issuer = gw_issuer(run->gw),
                                           .data_dir = app->core.data_dir,
                                           .cfg = &app->bld},
                    &run->bld, err) < 0)
        return err->code;
    gw_set_bld(run->gw, run->bld);
    return 0;
}

/* nginx in front (docs/ingress.md): slipway itself at the API hosts of ingress.port; the
 * apps' routes come with the deployer. Its run directory must be an absolute path. */
static int start_ingress(struct app *app, struct running *run, struct err *err)
{
    char data[PATH_MAX], dir[PATH_MAX + 16], upstream[64];

    if (!app->ingress.enabled || run->gw == NULL)
        return 0;
    if (realpath(app->core.data_dir, data) == NULL)
        return err_set(err, err_from_errno(errno), "core.data_dir: %s", strerror(errno));
    snprintf(dir, sizeof(dir), "%s/ingress", data);
    snprintf(upstream, sizeof(upstream), "127.0.0.1:%d", http_server_port(run->http));
    if (ingress_new(&app->ingress, &(struct ingress_deps){.run_dir = dir, .api_upstream = upstream},
                    &run->ingress, err) < 0)
        return err->code;
    return 0;
}

/* The deployer (docs/deploy.md) runs apps behind the ingress; the gateway's deploys roll out
 * with it and pull from this process's registry. */
static int start_deployer(struct app *app, struct running *run, struct err *err)
{
    char host[64], exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

    if (run->dep_store == NULL)
        return 0;
    if (run->gw == NULL)
        return err_set(err, ERR_INVALID,
                       "--services: deployer runs in the gateway's process for now; select both");
    if (n <= 0 || (size_t)n >= sizeof(exe) - 1)
        return err_set(err, ERR_IO, "/proc/self/exe: %s", n < 0 ? strerror(errno) : "too long");
    exe[n] = '\0'; /* the apps' log relays run this binary again ("__rt-relay") */
    if (dep_new(&(struct dep_deps){.data_dir = app->core.data_dir,
                                   .store = run->dep_store,
                                   .ingress = run->ingress,
                                   .cfg = &app->dep,
                                   .relay_exe = exe},
                &run->dep, err) < 0)
        return err->code;
    metrics_on_render(run->metrics, (metrics_text_fn *)dep_metrics_render, run->dep);
    snprintf(host, sizeof(host), "127.0.0.1:%d", http_server_port(run->http));
    gw_set_dep(run->gw, &(struct gw_dep_deps){.dep = run->dep,
                                              .registry_host = host,
                                              .ingress_port = run->ingress && app->ingress.enabled
                                                                  ? (int)app->ingress.port
                                                                  : 0,
                                              .workload_domain = app->pkg.workload_domain});
    return 0;
}

/* Builds push to the registry of this process, signed with internal tokens. */
static void registry_to_builder(struct running *run)
{
    char host[64];

    if (run->bld == NULL || run->reg == NULL)
        return;
    snprintf(host, sizeof(host), "127.0.0.1:%d", http_server_port(run->http));
    bld_svc_set_registry(
        run->bld,
        &(struct bld_registry){.host = host, .insecure_loopback = true, .internal_token = true});
}

static int start(struct app *app, struct running *run, struct err *err)
{
    run->metrics = metrics_new();
    metrics_add_process(run->metrics);
    obs_build_info(run->metrics, SLIPWAY_VERSION, SLIPWAY_COMMIT);
    run->workers = pool_new("workers", (unsigned)app->core.workers);
    run->obs = obs_new(run->metrics, run->workers);
    obs_check_add(run->obs, "data_dir", obs_check_dir_writable, app->core.data_dir);
    if (open_stores(app, run, err) < 0 || start_gateway(app, run, err) < 0 ||
        start_packager(app, run, err) < 0 || start_builder(app, run, err) < 0)
        return err->code;
    run->router = http_router_new();
    if (obs_routes_add(run->obs, run->router, err) < 0 ||
        (run->gw && gw_routes_add(run->gw, run->router, err) < 0))
        return err->code;
    if (http_server_start(&app->http, run->router,
                          &(struct http_server_deps){run->metrics, run->workers}, &run->http,
                          err) < 0)
        return err->code;
    registry_to_builder(run);
    if (start_ingress(app, run, err) < 0 || start_deployer(app, run, err) < 0)
        return err->code;
    return run->flow ? flow_start_engine(run->flow, err) : 0;
}

static void stop(struct running *run)
{
    if (run->http)
        http_server_drain(run->http);
    pool_free(run->workers); /* finishes queued work; completions reach the live loops */
    if (run->http)
        http_server_stop(run->http);
    /* Running deploys stop at their next step and resume at the next start; they use the
     * gateway, the packager, the deployer and the ingress, which go after them. */
    flow_free(run->flow);
    dep_free(run->dep); /* the apps keep running */
    ingress_free(run->ingress);
    gw_free(run->gw); /* after the loops, whose token caches go with their threads */
    reg_free(run->reg);
    pkg_free(run->pkg);
    bld_svc_free(run->bld);
    obs_free(run->obs);
    http_router_free(run->router);
    metrics_free(run->metrics);
    if (run->gw_store)
        store_close(run->gw_store);
    if (run->pkg_store)
        store_close(run->pkg_store);
    if (run->bld_store)
        store_close(run->bld_store);
    if (run->dep_store)
        store_close(run->dep_store);
}

static int ensure_dir(const char *dir, struct err *err)
{
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return err_set(err, err_from_errno(errno), "core.data_dir: cannot create %s: %s", dir,
                       strerror(errno));
    if (access(dir, W_OK) != 0)
        return err_set(err, ERR_FORBIDDEN, "core.data_dir: %s is not writable", dir);
    return 0;
}

/* Blocks SIGTERM/SIGINT/SIGHUP in every thread (threads inherit the mask), so that only the
 * main thread's sigwait sees them. */
static void block_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* Periodic upkeep, from the main thread between signals: services' own maintenance. */
static void maintain(struct running *run, const struct log_ctx *lc)
{
    struct err err = {0};

    if (run->gw && gw_maintain(run->gw, &err) < 0)
        LOG_ERROR(lc, "slipway.maintenance_failed", LF_STR("error", err.msg));
}

/* How often freed memory is handed back to the system: builds, pulls and rollouts use tens of
 * megabytes for a while, and glibc keeps what they freed in its arenas otherwise. */
#define TRIM_MS 5000

/* Waits for SIGTERM or SIGINT, running maintain() every <every_ms> meanwhile. */
static void wait_for_stop(const sigset_t *set, struct running *run, int64_t every_ms,
                          const struct log_ctx *lc)
{
    int64_t tick = every_ms < TRIM_MS ? every_ms : TRIM_MS;
    struct timespec ts = {.tv_sec = tick / 1000, .tv_nsec = (tick % 1000) * 1000000};
    uint64_t next = time_mono_ms() + (uint64_t)every_ms;
    int sig = 0;

    for (;;) {
        sig = sigtimedwait(set, NULL, &ts);
        if (sig < 0 && errno == EAGAIN) {
            malloc_trim(0);
            if (time_mono_ms() >= next) {
                maintain(run, lc);
                next = time_mono_ms() + (uint64_t)every_ms;
            }
        }
        if (sig < 0)
            continue;
        if (sig != SIGHUP)
            break;
        LOG_INFO(lc, "slipway.sighup_ignored", LF_STR("why", "configuration reload comes later"));
    }
    LOG_INFO(lc, "slipway.stopping", LF_STR("signal", sig == SIGINT ? "SIGINT" : "SIGTERM"));
}

/* core.data_dir as an absolute path from here on: runc bundles, the apps' log relays and nginx
 * are given paths under it, and they do not run in slipway's working directory. */
static int absolute_data_dir(struct app *app, struct err *err)
{
    char abs[PATH_MAX];

    if (realpath(app->core.data_dir, abs) == NULL)
        return err_set(err, err_from_errno(errno), "core.data_dir: %s: %s", app->core.data_dir,
                       strerror(errno));
    free(app->core.data_dir); /* the cfg set frees what the field holds at the end */
    app->core.data_dir = xstrdup(abs);
    return 0;
}

static int cmd_serve(struct app *app)
{
    struct log_ctx lc = {.svc = "slipway"};
    struct running run = {0};
    struct err err = {0};
    enum log_level lvl;
    sigset_t set;
    bool ok;

    lvl = log_level_parse(app->core.log_level, &ok);
    if (!ok)
        return fail("log.level: must be debug, info, warn or error", NULL);
    if (ensure_dir(app->core.data_dir, &err) < 0 || absolute_data_dir(app, &err) < 0)
        return fail("cannot start", &err);
    /* Two malloc arenas rather than eight per core: slipway's threads mostly wait, and each
     * arena keeps freed memory of its own (the idle footprint, bench/deploy.sh). */
    mallopt(M_ARENA_MAX, 2);
    block_signals(&set);
    log_start(2, lvl, 8192);
    if (start(app, &run, &err) < 0) {
        LOG_ERROR(&lc, "slipway.start_failed", LF_STR("error", err.msg));
        stop(&run);
        log_stop();
        return fail("cannot start", &err);
    }
    LOG_INFO(&lc, "slipway.started", LF_STR("version", SLIPWAY_VERSION),
             LF_STR("bind", app->http.bind), LF_INT("port", http_server_port(run.http)),
             LF_STR("data_dir", app->core.data_dir),
             LF_STR("services", app->services_arg ? app->services_arg : "all"),
             LF_STR("ingress", run.ingress ? ingress_api_url(run.ingress) : ""));
    printf("slipway %s is serving on http://%s:%d (data in %s); Ctrl-C stops it\n", SLIPWAY_VERSION,
           app->http.bind, http_server_port(run.http), app->core.data_dir);
    if (run.ingress != NULL)
        printf("the dashboard, the API and the apps are also at %s (nginx)\n",
               ingress_api_url(run.ingress));
    fflush(stdout);
    wait_for_stop(&set, &run, app->gw.maintenance_ms, &lc);
    stop(&run);
    LOG_INFO(&lc, "slipway.stopped");
    log_stop();
    return 0;
}

/* `flow` without a server: the gateway's store as serve opens it, from configuration flags;
 * only one that exists (the CLI reads, it creates nothing; PostgreSQL's secret is needed). */
static int flow_store_open(int argc, char **argv, struct store **out, struct err *err)
{
    struct app app = {0};
    unsigned char secret[32] = {0};
    char path[4096];
    bool sqlite;
    int rc = configure(&app, argc, argv, err);

    if (rc == 0) {
        sqlite = app.core.store == NULL || app.core.store[0] == '\0' ||
                 strcmp(app.core.store, "sqlite") == 0;
        snprintf(path, sizeof(path), "%s/%s", app.core.data_dir,
                 sqlite ? "gateway.db" : "secret.key");
        if (access(path, R_OK) != 0)
            rc = err_set(err, ERR_NOTFOUND, "%s: %s (is --data-dir right?)", path, strerror(errno));
        else if (!sqlite)
            rc = file_secret_load(path, secret, sizeof(secret), err);
    }
    if (rc == 0)
        rc = store_open_service(app.core.store, app.core.data_dir, "gateway", secret,
                                sizeof(secret), out, err);
    cfg_free(app.cfg);
    return rc;
}

/* `admin create`: the gateway's store, one user, its password on stdout. */
static int cmd_admin(struct app *app, const char *sub)
{
    struct store *s = NULL;
    struct err err = {0};
    unsigned char secret[32];
    char path[4096];

    if (strcmp(sub, "create") != 0)
        return fail("admin: expected create", NULL);
    if (app->admin_email == NULL)
        return fail("admin create: --email is required", NULL);
    if (ensure_dir(app->core.data_dir, &err) < 0)
        return fail("admin create", &err);
    snprintf(path, sizeof(path), "%s/secret.key", app->core.data_dir);
    if (file_secret_load(path, secret, sizeof(secret), &err) < 0 ||
        store_open_service(app->core.store, app->core.data_dir, "gateway", secret, sizeof(secret),
                           &s, &err) < 0 ||
        gw_admin_create(s, app->admin_email, app->admin_name, stdout, &err) < 0) {
        if (s)
            store_close(s);
        return fail("admin create", &err);
    }
    store_close(s);
    return 0;
}

/* `down`: what a slipway that is not running left running on its data directory. */
static int cmd_down(struct app *app)
{
    char data[PATH_MAX], dir[PATH_MAX + 16];
    struct err err = {0};
    size_t n = 0;

    if (realpath(app->core.data_dir, data) == NULL) {
        err_set(&err, err_from_errno(errno), "%s: %s", app->core.data_dir, strerror(errno));
        return fail("down", &err);
    }
    if (dep_stop_all(data, NULL, (uint64_t)app->dep.stop_grace_ms, &n, &err) < 0)
        return fail("down", &err);
    snprintf(dir, sizeof(dir), "%s/ingress", data);
    printf("stopped %zu app container%s%s\n", n, n == 1 ? "" : "s",
           ingress_stop_left(dir, (uint64_t)app->ingress.stop_grace_ms) ? " and the ingress" : "");
    return 0;
}

static int cmd_help(const char *topic)
{
    if (topic == NULL)
        fputs(usage_main, stdout);
    else if (strcmp(topic, "serve") == 0 || strcmp(topic, "config") == 0)
        fputs(usage_serve, stdout);
    else if (strcmp(topic, "admin") == 0)
        fputs(usage_admin, stdout);
    else if (strcmp(topic, "flow") == 0)
        fputs(cli_flow_usage, stdout);
    else if (strcmp(topic, "eject") == 0)
        fputs(cli_eject_usage, stdout);
    else if (strcmp(topic, "deploy") == 0)
        fputs(cli_deploy_usage, stdout);
    else if (strcmp(topic, "logs") == 0)
        fputs(cli_logs_usage, stdout);
    else if (strcmp(topic, "down") == 0)
        fputs(usage_down, stdout);
    else if (strcmp(topic, "version") == 0)
        fputs(usage_version, stdout);
    else if (strcmp(topic, "help") == 0)
        fputs("Usage: slipway help [command]\n", stdout);
    else if (cli_command_find(topic) != NULL)
        fputs(cli_command_find(topic)->usage, stdout);
    else {
        fprintf(stderr,
                "slipway: no help for \"%s\"; commands: serve, config, admin, flow, eject, deploy, "
                "logs, down, version, help, and the client commands slipway help lists\n",
                topic);
        return 2;
    }
    return 0;
}

static bool wants_help(int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return true;
    return false;
}

/* serve, config <sub> or admin <sub>: all configure first. */
static int run_command(const char *cmd, const char *sub, int argc, char **argv)
{
    struct app app = {.admin = strcmp(cmd, "admin") == 0};
    struct err err = {0};
    int rc;

    if (configure(&app, argc, argv, &err) < 0) {
        cfg_free(app.cfg);
        return fail("configuration", &err);
    }
    if (strcmp(cmd, "serve") == 0)
        rc = cmd_serve(&app);
    else if (strcmp(cmd, "down") == 0)
        rc = cmd_down(&app);
    else if (app.admin)
        rc = cmd_admin(&app, sub);
    else
        rc = cmd_config(&app, sub);
    cfg_free(app.cfg);
    return rc;
}

int main(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : "help";

    if (strcmp(cmd, "__rt-relay") == 0) /* an app's log relay (src/rt/relay.c), not a command */
        rt_relay_exec_main(argc - 2, argv + 2);

    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0)
        return cmd_help(argc > 2 && strcmp(cmd, "help") == 0 ? argv[2] : NULL);
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("slipway %s (commit %s)\n", SLIPWAY_VERSION, SLIPWAY_COMMIT);
        return 0;
    }
    if (wants_help(argc - 2, argv + 2))
        return cmd_help(cmd);
    if (strcmp(cmd, "serve") == 0 || strcmp(cmd, "down") == 0)
        return run_command(cmd, NULL, argc - 2, argv + 2);
    if (strcmp(cmd, "flow") == 0)
        return cli_flow_main(argc - 2, argv + 2, flow_store_open);
    if (strcmp(cmd, "eject") == 0)
        return cli_eject_main(argc - 2, argv + 2);
    if (strcmp(cmd, "deploy") == 0)
        return cli_deploy_main(argc - 2, argv + 2);
    if (strcmp(cmd, "logs") == 0)
        return cli_logs_main(argc - 2, argv + 2);
    if (cli_command_find(cmd) != NULL)
        return cli_command_find(cmd)->main(argc - 2, argv + 2);
    if ((strcmp(cmd, "config") == 0 || strcmp(cmd, "admin") == 0) && argc > 2)
        return run_command(cmd, argv[2], argc - 3, argv + 3);
    fprintf(stderr, "slipway: unknown command \"%s\"\n\n%s", cmd, usage_main);
    return 2;
}
