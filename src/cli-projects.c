/*
 * `slipway projects`, `project`, `env`, `service`, `deploys`, `rollback`, `promote`, `vars`,
 * `scale`, `domains`, `open` and `completion` (cli-projects.h): each is one or two GraphQL
 * operations (the schema/ files) on the server of the stored login, printed as a table that
 * fits 80 columns or, with --json, as the API's own JSON.
 */
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/base.h"
#include "cli-auth.h"
#include "cli-client.h"
#include "cli-deploy.h"
#include "cli-out.h"
#include "cli-projects.h"

extern char **environ;

#define MASK        "********" /* how the API shows a secret (api-vars.c) */
#define DEFAULT_ENV "development"
#define OPTS_END                                                                                   \
    {                                                                                              \
        NULL, NULL, NULL, NULL                                                                     \
    }
#define COMMON_OPTIONS "  --server URL, --token T, --workspace W   override the stored login\n"

/* ---------------------------------------------------------------- help texts */

static const char usage_projects[] =
    "Usage: slipway projects [--json]\n"
    "       slipway project create NAME [--id ID]\n"
    "       slipway project delete PROJECT [--yes]\n"
    "\n"
    "projects lists the active workspace's projects with their environments; project create\n"
    "makes one (with an environment named development), project delete removes one with its\n"
    "environments, services and domains (asked first unless --yes).\n" COMMON_OPTIONS;

static const char usage_env[] =
    "Usage: slipway env create PROJECT NAME [--from ENV]\n"
    "       slipway env delete PROJECT NAME [--yes]\n"
    "\n"
    "create makes an environment, empty or copied from ENV (its configuration and\n"
    "variables; custom domains and images are not copied). delete removes one (asked first\n"
    "unless --yes).\n" COMMON_OPTIONS;

static const char usage_service[] =
    "Usage: slipway service add PROJECT --repo URL [--ref R] [--env ENV] [--name N]\n"
    "                           [--context PATH] [--port N] [--yes] [--json]\n"
    "       slipway service add PROJECT --image IMG --name N [--port N] [--env ENV] [--yes]\n"
    "       slipway service remove PROJECT SERVICE [--yes]\n"
    "\n"
    "add looks at the repository (a git URL: https://, ssh:// or file://), shows the app it\n"
    "found and asks \"Add service <name> (<framework>, port N)? [y/N]\" unless --yes, then adds\n"
    "it and follows its first deploy in ENV (default development) like slipway deploy: the\n"
    "exit status is the deploy's. A repository with several apps needs --context PATH (or\n"
    "--name of one of them). With --image it runs that image instead of building.\n"
    "remove takes the service out of every environment of the project (asked first unless\n"
    "--yes).\n" COMMON_OPTIONS;

static const char usage_deploys[] =
    "Usage: slipway deploys PROJECT SERVICE [--env ENV] [--json]\n"
    "\n"
    "The service's deploys, rollbacks and promotions in ENV (default development), newest\n"
    "first: time, image tag, author, commit message; * marks what runs.\n" COMMON_OPTIONS;

static const char usage_rollback[] =
    "Usage: slipway rollback PROJECT SERVICE TAG [--env ENV]\n"
    "\n"
    "Rolls out the image of an earlier deploy again (TAG as slipway deploys shows it),\n"
    "without building.\n" COMMON_OPTIONS;

static const char usage_promote[] =
    "Usage: slipway promote PROJECT SERVICE --from ENV --to ENV [--json]\n"
    "\n"
    "Rolls out what runs in --from in --to: the same image digest, without "
    "building.\n" COMMON_OPTIONS;

static const char usage_vars[] =
    "Usage: slipway vars list PROJECT [SERVICE] [--env ENV] [--json]\n"
    "       slipway vars set PROJECT [SERVICE] KEY=VALUE... [--secret] [--env ENV]\n"
    "       slipway vars set PROJECT [SERVICE] --secret KEY   (value from standard input)\n"
    "       slipway vars unset PROJECT [SERVICE] KEY... [--env ENV]\n"
    "\n"
    "Without SERVICE: the environment's shared variables; with it, the service's own. The\n"
    "word after PROJECT is SERVICE when it is a service name and more words follow. Secrets\n"
    "show as ******** and are never printed; set --secret KEY without \"=\" reads the value\n"
    "from standard input without echo. A change redeploys the services concerned with the\n"
    "same image.\n" COMMON_OPTIONS;

static const char usage_scale[] =
    "Usage: slipway scale PROJECT SERVICE N [--env ENV]\n"
    "\n"
    "Runs N replicas (1..20) of SERVICE in ENV (default development).\n" COMMON_OPTIONS;

static const char usage_domains[] =
    "Usage: slipway domains PROJECT SERVICE [--env ENV] [--json]\n"
    "       slipway domains PROJECT SERVICE add HOST [--env ENV]\n"
    "       slipway domains PROJECT SERVICE remove HOST [--env ENV]\n"
    "\n"
    "Lists SERVICE's domains (its platform domain, then custom ones) with their DNS and TLS\n"
    "status, adds a custom domain (and says where to point its DNS) or removes "
    "one.\n" COMMON_OPTIONS;

static const char usage_open[] =
    "Usage: slipway open PROJECT SERVICE [--env ENV] [--ingress-url URL] [--json]\n"
    "\n"
    "Prints SERVICE's URL, its platform domain on the scheme and port of the server's\n"
    "ingress (platformConfig.ingressUrl, such as http://localhost:8000), and opens it in a\n"
    "browser (xdg-open) when there is a display. When the server runs no ingress it prints\n"
    "the hostname, says so and exits 1. --ingress-url URL (such as\n"
    "https://apps.example.com:443) gives the scheme and port to use instead, e.g. for a\n"
    "proxy in front of the ingress.\n" COMMON_OPTIONS;

static const char usage_completion[] =
    "Usage: slipway completion bash|zsh\n"
    "\n"
    "Prints the shell completion script, e.g.\n"
    "  source <(slipway completion bash)         in ~/.bashrc\n"
    "  slipway completion zsh > ~/.zfunc/_slipway   with ~/.zfunc in $fpath\n";

/* ---------------------------------------------------------------- shared steps */

/* A GraphQL operation, taking <vars>; 0, or 1 once the failure is printed. */
static int call(struct cli_cmd *c, const char *query, json_t *vars, json_t **data)
{
    struct err err = {0};
    int rc = cli_graphql(&c->s, query, vars, data, &err);

    json_decref(vars);
    return rc < 0 ? cli_fail(c, &err) : 0;
}

/* Parses, logs in and checks the positional count and names: 0, or the exit status. */
static int start(struct cli_cmd *c, const struct cli_opt *opts, int argc, char **argv,
                 size_t min_pos, size_t max_pos, const char *shape)
{
    int rc;

    if ((rc = cli_cmd_parse(c, opts, argc, argv)) != 0)
        return rc;
    if (c->npos < min_pos || c->npos > max_pos)
        return cli_usage(c, "%s", shape);
    if (c->npos > 0 && (rc = cli_check_slug(c, "PROJECT", c->pos[0])) != 0)
        return rc;
    return cli_auth_connect(c);
}

static const char *str(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static const char svc_fields[] =
    "name environment image port framework sourceUrl imageTag ready replicas syncStatus "
    "domains { hostname type dnsStatus tlsStatus } "
    "deployments { imageTag digest active timestamp revision message author "
    "sourceCommitMessage }";

/* The service <service> of <project> in <env>: *data owns the answer (json_decref()),
 * *svc points into it. 0, or 1 once the failure is printed. */
static int get_service(struct cli_cmd *c, const char *project, const char *env, const char *service,
                       json_t **data, json_t **svc)
{
    char query[1024];
    struct err err = {0};
    json_t *e, *s;
    size_t i, j;

    snprintf(query, sizeof(query),
             "query($p: ID!) { project(id: $p) { environments { name services { %s } } } }",
             svc_fields);
    if (call(c, query, json_pack("{s:s}", "p", project), data) != 0)
        return 1;
    json_t *p = json_object_get(*data, "project");
    if (!json_is_object(p))
        err_set(&err, ERR_NOTFOUND, "no project %s in the active workspace", project);
    else
        err_set(&err, ERR_NOTFOUND, "project %s has no environment %s", project, env);
    json_array_foreach(json_object_get(p, "environments"), i, e)
    {
        if (strcmp(str(e, "name") ?: "", env) != 0)
            continue;
        err_set(&err, ERR_NOTFOUND, "no service %s in %s/%s", service, project, env);
        json_array_foreach(json_object_get(e, "services"), j,
                           s) if (strcmp(str(s, "name") ?: "", service) == 0)
        {
            *svc = s;
            return 0;
        }
    }
    json_decref(*data);
    *data = NULL;
    return cli_fail(c, &err);
}

static json_t *target(const char *project, const char *service, const char *env)
{
    return json_pack("{s:s, s:s, s:s}", "projectId", project, "service", service, "environment",
                     env);
}

/* Asks before a deletion; false (with a message) when not confirmed. */
static bool confirmed(struct cli_cmd *c, bool yes, const char *question)
{
    if (yes)
        return true;
    if (!isatty(0)) {
        fprintf(stderr, "slipway %s: standard input is not a terminal: give --yes to go ahead\n",
                c->name);
        return false;
    }
    if (cli_confirm(question))
        return true;
    fprintf(stderr, "slipway %s: not done\n", c->name);
    return false;
}

/* A mutation's answer: its JSON with --json, else <done> on standard output. */
static int done(struct cli_cmd *c, json_t *data, const char *field, const char *fmt, ...)
    APP_PRINTF(4, 5);
static int done(struct cli_cmd *c, json_t *data, const char *field, const char *fmt, ...)
{
    va_list ap;

    if (c->json) {
        cli_json_print(json_object_get(data, field));
    } else {
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        putchar('\n');
    }
    json_decref(data);
    return 0;
}

/* ---------------------------------------------------------------- projects, environments */

static int projects_main(int argc, char **argv)
{
    struct cli_cmd c = {.name = "projects"};
    struct cli_table t;
    json_t *data = NULL, *p, *e;
    size_t i, j;
    int rc;

    if ((rc = start(&c, NULL, argc, argv, 0, 0, "takes no arguments")) != 0)
        return rc;
    if (call(&c, "{ projects { id name createdAt environments { name } } }", NULL, &data) != 0)
        return 1;
    json_t *list = json_object_get(data, "projects");
    if (c.json) {
        cli_json_print(list);
        json_decref(data);
        return 0;
    }
    cli_table_init(&t, 4, (const char *[]){"ID", "NAME", "ENVIRONMENTS", "CREATED"});
    json_array_foreach(list, i, p)
    {
        struct sbuf envs = SBUF_INIT(4096);
        json_array_foreach(json_object_get(p, "environments"), j, e)
            sbuf_printf(&envs, "%s%s", j ? ", " : "", str(e, "name") ?: "?");
        char created[17];
        snprintf(created, sizeof(created), "%s", str(p, "createdAt") ?: "");
        if (strlen(created) > 10)
            created[10] = ' ';
        cli_table_add(&t, (const char *[]){str(p, "id"), str(p, "name"), envs.buf, created});
        sbuf_release(&envs);
    }
    cli_table_print(&t, stdout);
    cli_table_release(&t);
    json_decref(data);
    return 0;
}

static int project_main(int argc, char **argv)
{
    struct cli_cmd c = {.name = "project", .help = "projects"};
    const char *id = NULL;
    bool yes = false;
    const struct cli_opt opts[] = {
        {"--id", NULL, &id, NULL}, {"--yes", "-y", NULL, &yes}, OPTS_END};
    json_t *data = NULL;
    int rc;

    if ((rc = cli_cmd_parse(&c, opts, argc, argv)) != 0)
        return rc;
    if (c.npos != 2 || (strcmp(c.pos[0], "create") != 0 && strcmp(c.pos[0], "delete") != 0))
        return cli_usage(&c, "project create NAME, or project delete PROJECT");
    if ((rc = cli_check_slug(&c, c.pos[0][0] == 'c' ? "NAME" : "PROJECT", c.pos[1])) != 0 ||
        (id && (rc = cli_check_slug(&c, "--id", id)) != 0) || (rc = cli_auth_connect(&c)) != 0)
        return rc;
    if (strcmp(c.pos[0], "create") == 0) {
        json_t *in = json_pack("{s:s}", "name", c.pos[1]);
        if (id != NULL)
            json_object_set_new(in, "id", json_string(id));
        if (call(&c,
                 "mutation($i: CreateProjectInput!) { createProject(input: $i) "
                 "{ id name createdAt environments { name } } }",
                 json_pack("{s:o}", "i", in), &data) != 0)
            return 1;
        return done(&c, data, "createProject", "Created project %s (environment development)",
                    str(json_object_get(data, "createProject"), "id"));
    }
    char q[200];
    snprintf(q, sizeof(q), "Delete project %s with its environments and services?", c.pos[1]);
    if (!confirmed(&c, yes, q))
        return 1;
    if (call(&c, "mutation($id: ID!) { deleteProject(id: $id) }",
             json_pack("{s:s}", "id", c.pos[1]), &data) != 0)
        return 1;
    return done(&c, data, "deleteProject", "Deleted project %s", c.pos[1]);
}

static int env_main(int argc, char **argv)
{
    struct cli_cmd c = {.name = "env"};
    const char *from = NULL;
    bool yes = false;
    const struct cli_opt opts[] = {
        {"--from", NULL, &from, NULL}, {"--yes", "-y", NULL, &yes}, OPTS_END};
    json_t *data = NULL;
    int rc;

    if ((rc = cli_cmd_parse(&c, opts, argc, argv)) != 0)
        return rc;
    if (c.npos != 3 || (strcmp(c.pos[0], "create") != 0 && strcmp(c.pos[0], "delete") != 0))
        return cli_usage(&c, "env create PROJECT NAME [--from ENV], or env delete PROJECT NAME");
    if ((rc = cli_check_slug(&c, "PROJECT", c.pos[1])) != 0 ||
        (rc = cli_check_slug(&c, "NAME", c.pos[2])) != 0 ||
        (from && (rc = cli_check_slug(&c, "--from", from)) != 0) ||
        (rc = cli_auth_connect(&c)) != 0)
        return rc;
    if (strcmp(c.pos[0], "create") == 0) {
        json_t *in = json_pack("{s:s, s:s}", "projectId", c.pos[1], "name", c.pos[2]);
        if (from != NULL)
            json_object_set_new(in, "fromEnvironment", json_string(from));
        if (call(&c,
                 "mutation($i: CreateEnvironmentInput!) { createEnvironment(input: $i) "
                 "{ id name namespace } }",
                 json_pack("{s:o}", "i", in), &data) != 0)
            return 1;
        return done(&c, data, "createEnvironment", "Created environment %s/%s%s%s", c.pos[1],
                    c.pos[2], from ? " from " : "", from ? from : "");
    }
    char q[200];
    snprintf(q, sizeof(q), "Delete environment %s of %s?", c.pos[2], c.pos[1]);
    if (!confirmed(&c, yes, q))
        return 1;
    if (call(&c,
             "mutation($p: ID!, $e: String!) { deleteEnvironment(projectId: $p, environment: $e) }",
             json_pack("{s:s, s:s}", "p", c.pos[1], "e", c.pos[2]), &data) != 0)
        return 1;
    return done(&c, data, "deleteEnvironment", "Deleted environment %s/%s", c.pos[1], c.pos[2]);
}

/* ---------------------------------------------------------------- services */

struct add {
    struct cli_cmd c;
    const char *repo, *ref, *env, *name, *context, *port, *image;
    bool yes;
};

/* The detected app to add: the only one, or the one --context or --name picks. */
static json_t *pick(struct add *a, json_t *found)
{
    json_t *d;
    size_t i;

    if (json_array_size(found) == 1 && a->context == NULL)
        return json_array_get(found, 0);
    json_array_foreach(found, i, d)
    {
        if (a->context != NULL && strcmp(str(d, "contextPath") ?: "", a->context) == 0)
            return d;
        if (a->context == NULL && a->name != NULL && strcmp(str(d, "name") ?: "", a->name) == 0)
            return d;
    }
    return NULL;
}

static void show_found(json_t *found)
{
    json_t *d;
    size_t i;

    fprintf(stderr, "Found %zu app%s:\n", json_array_size(found),
            json_array_size(found) == 1 ? "" : "s");
    json_array_foreach(found, i, d)
    {
        const char *fw = str(d, "framework"), *lang = str(d, "language"),
                   *cmd = str(d, "startCommand");
        fprintf(stderr, "  %s: %s%s%s, port %lld, in %s%s%s\n", str(d, "name") ?: "?",
                lang && *lang ? lang : "Dockerfile", fw && *fw ? "/" : "", fw ? fw : "",
                (long long)json_integer_value(json_object_get(d, "suggestedPort")),
                str(d, "contextPath") ?: ".", cmd && *cmd ? ", starts with " : "", cmd ? cmd : "");
    }
}

/* detectServices, then the input of addService for the app picked. 0, or an exit status. */
static int detect(struct add *a, json_t *in, char *what, size_t cap)
{
    json_t *data = NULL, *vars = json_pack("{s:s}", "r", a->repo);

    if (a->ref != NULL)
        json_object_set_new(vars, "g", json_string(a->ref));
    fprintf(stderr, "Looking at %s…\n", a->repo);
    if (call(&a->c,
             "query($r: String!, $g: String) { detectServices(repository: $r, gitRef: $g) "
             "{ name language framework startCommand suggestedPort contextPath } }",
             vars, &data) != 0)
        return 1;
    json_t *found = json_object_get(data, "detectServices"), *d;
    show_found(found);
    if ((d = pick(a, found)) == NULL) {
        json_decref(data);
        return cli_usage(&a->c,
                         json_array_size(found) == 0
                             ? "no app found in %s"
                             : "which app of %s? give --context PATH (or --name N)",
                         a->repo);
    }
    const char *ctx = str(d, "contextPath"), *fw = str(d, "framework");
    if (a->name == NULL)
        json_object_set_new(in, "name", json_string(str(d, "name")));
    if (ctx != NULL && strcmp(ctx, ".") != 0)
        json_object_set_new(in, "contextPath", json_string(ctx));
    if (a->port == NULL)
        json_object_set(in, "port", json_object_get(d, "suggestedPort"));
    snprintf(what, cap, "%s", fw && *fw ? fw : str(d, "language") ?: "");
    json_decref(data);
    return 0;
}

/* addService, then its first deploy followed. */
static int add_and_follow(struct add *a, json_t *in)
{
    json_t *data = NULL;

    if (call(&a->c,
             "mutation($i: AddServiceInput!) { addService(input: $i) { name port framework "
             "domains { hostname type } initialDeploy { id phase } } }",
             json_pack("{s:O}", "i", in), &data) != 0)
        return 1;
    json_t *svc = json_object_get(data, "addService");
    const char *id = str(json_object_get(svc, "initialDeploy"), "id");
    if (!a->c.json)
        fprintf(stderr, "Added service %s to %s\n", str(svc, "name") ?: "?", a->c.pos[0]);
    if (id == NULL) {
        if (a->c.json)
            cli_json_print(svc);
        json_decref(data);
        return 0;
    }
    char run[128];
    snprintf(run, sizeof(run), "%s", id);
    json_decref(data);
    return cli_deploy_follow(&a->c.s, run, a->c.json);
}

static int service_add(struct add *a)
{
    json_t *in = json_pack("{s:s, s:s}", "projectId", a->c.pos[0], "environment", a->env);
    char what[128] = "", q[400];
    uint64_t port = 0;
    int rc = 0;

    if ((a->repo == NULL) == (a->image == NULL))
        rc = cli_usage(&a->c, "needs --repo URL (or --image IMG)");
    else if (a->port &&
             (slice_to_u64(slice_from_cstr(a->port), &port) < 0 || port == 0 || port > 65535))
        rc = cli_usage(&a->c, "--port \"%s\": a port number, 1..65535", a->port);
    else if (a->image && a->name == NULL)
        rc = cli_usage(&a->c, "--image needs --name N");
    if (rc != 0)
        goto out;
    if (a->name != NULL)
        json_object_set_new(in, "name", json_string(a->name));
    if (port != 0)
        json_object_set_new(in, "port", json_integer((json_int_t)port));
    if (a->image != NULL) {
        json_object_set_new(in, "image", json_string(a->image));
        snprintf(what, sizeof(what), "image %s", a->image);
    } else {
        json_object_set_new(in, "repository", json_string(a->repo));
        if (a->ref != NULL)
            json_object_set_new(in, "gitRef", json_string(a->ref));
        if ((rc = detect(a, in, what, sizeof(what))) != 0)
            goto out;
    }
    snprintf(q, sizeof(q), "Add service %s (%s, port %lld)?", str(in, "name") ?: "?",
             what[0] ? what : "unknown framework",
             (long long)(json_integer_value(json_object_get(in, "port")) ?: 8080));
    if (!a->yes && !isatty(0)) {
        rc = cli_usage(&a->c, "standard input is not a terminal: give --yes to add it");
        goto out;
    }
    if (!a->yes && !cli_confirm(q)) {
        fprintf(stderr, "slipway service add: not added\n");
        rc = 1;
        goto out;
    }
    rc = add_and_follow(a, in);
out:
    json_decref(in);
    return rc;
}

static int service_remove(struct cli_cmd *c, const char *env, bool yes)
{
    json_t *data = NULL;
    char q[200];
    int rc;

    if ((rc = cli_check_slug(c, "SERVICE", c->pos[1])) != 0)
        return rc;
    snprintf(q, sizeof(q), "Remove service %s from every environment of %s?", c->pos[1], c->pos[0]);
    if (!confirmed(c, yes, q))
        return 1;
    if (call(c,
             "mutation($p: ID!, $e: String!, $s: String!) "
             "{ removeService(projectId: $p, environment: $e, service: $s) }",
             json_pack("{s:s, s:s, s:s}", "p", c->pos[0], "e", env, "s", c->pos[1]), &data) != 0)
        return 1;
    return done(c, data, "removeService", "Removed service %s from %s", c->pos[1], c->pos[0]);
}

static int service_main(int argc, char **argv)
{
    struct add a = {.c = {.name = "service"}, .env = DEFAULT_ENV};
    const struct cli_opt opts[] = {{"--repo", NULL, &a.repo, NULL},
                                   {"--ref", NULL, &a.ref, NULL},
                                   {"--env", "-e", &a.env, NULL},
                                   {"--name", NULL, &a.name, NULL},
                                   {"--context", NULL, &a.context, NULL},
                                   {"--port", NULL, &a.port, NULL},
                                   {"--image", NULL, &a.image, NULL},
                                   {"--yes", "-y", NULL, &a.yes},
                                   OPTS_END};
    bool add;
    int rc;

    if ((rc = cli_cmd_parse(&a.c, opts, argc, argv)) != 0)
        return rc;
    add = a.c.npos > 0 && strcmp(a.c.pos[0], "add") == 0;
    if (a.c.npos == 0 || (!add && strcmp(a.c.pos[0], "remove") != 0))
        return cli_usage(&a.c, "service add PROJECT --repo URL, or service remove PROJECT SERVICE");
    a.c.name = add ? "service add" : "service remove";
    a.c.help = "service";
    memmove(a.c.pos, a.c.pos + 1, --a.c.npos * sizeof(a.c.pos[0]));
    if (a.c.npos != (add ? 1u : 2u))
        return cli_usage(&a.c, add ? "needs one PROJECT" : "needs PROJECT and SERVICE");
    if ((rc = cli_check_slug(&a.c, "PROJECT", a.c.pos[0])) != 0 ||
        (rc = cli_check_slug(&a.c, "--env", a.env)) != 0 ||
        (a.name && (rc = cli_check_slug(&a.c, "--name", a.name)) != 0) ||
        (rc = cli_auth_connect(&a.c)) != 0)
        return rc;
    return add ? service_add(&a) : service_remove(&a.c, a.env, a.yes);
}

/* ---------------------------------------------------------------- deploys */

/* "Name <email>" → "Name". */
static void author_name(const char *author, char *out, size_t cap)
{
    const char *lt = author ? strstr(author, " <") : NULL;

    snprintf(out, cap, "%.*s", lt ? (int)(lt - author) : (int)strlen(author ? author : ""),
             author ? author : "");
}

static void first_line(const char *s, char *out, size_t cap)
{
    snprintf(out, cap, "%.*s", (int)strcspn(s ? s : "", "\n"), s ? s : "");
}

/* PROJECT SERVICE [--env], with the service read: 0 or an exit status. */
static int service_cmd(struct cli_cmd *c, const struct cli_opt *opts, int argc, char **argv,
                       size_t extra, const char *shape, const char **env)
{
    int rc;

    if ((rc = start(c, opts, argc, argv, 2, 2 + extra, shape)) != 0)
        return rc;
    if ((rc = cli_check_slug(c, "SERVICE", c->pos[1])) != 0 ||
        (rc = cli_check_slug(c, "--env", *env)) != 0)
        return rc;
    return 0;
}

static int deploys_main(int argc, char **argv)
{
    struct cli_cmd c = {.name = "deploys"};
    const char *env = DEFAULT_ENV;
    const struct cli_opt opts[] = {{"--env", "-e", &env, NULL}, OPTS_END};
    struct cli_table t;
    json_t *data = NULL, *svc, *d;
    size_t i;
    int rc;

    if ((rc = service_cmd(&c, opts, argc, argv, 0, "needs PROJECT and SERVICE", &env)) != 0)
        return rc;
    if (get_service(&c, c.pos[0], env, c.pos[1], &data, &svc) != 0)
        return 1;
    json_t *list = json_object_get(svc, "deployments");
    if (c.json) {
        cli_json_print(list);
        json_decref(data);
        return 0;
    }
    cli_table_init(&t, 5, (const char *[]){"", "TIME", "TAG", "AUTHOR", "MESSAGE"});
    json_array_foreach(list, i, d)
    {
        char when[17], author[128], msg[256];
        const char *src = str(d, "sourceCommitMessage");
        snprintf(when, sizeof(when), "%s", str(d, "timestamp") ?: "");
        if (strlen(when) > 10)
            when[10] = ' ';
        author_name(str(d, "author"), author, sizeof(author));
        first_line(src && *src ? src : str(d, "message"), msg, sizeof(msg));
        cli_table_add(&t, (const char *[]){json_is_true(json_object_get(d, "active")) ? "*" : "",
                                           when, str(d, "imageTag"), author, msg});
    }
    cli_table_print(&t, stdout);
    cli_table_release(&t);
    json_decref(data);
    return 0;
}

static int rollback_main(int argc, char **argv)
{
    struct cli_cmd c = {.name = "rollback"};
    const char *env = DEFAULT_ENV;
    const struct cli_opt opts[] = {{"--env", "-e", &env, NULL}, OPTS_END};
    json_t *data = NULL, *in;
    int rc;

    if ((rc = service_cmd(&c, opts, argc, argv, 1, "needs PROJECT, SERVICE and TAG", &env)) != 0)
        return rc;
    if (c.npos != 3)
        return cli_usage(&c, "needs PROJECT, SERVICE and TAG (slipway deploys shows the tags)");
    in = target(c.pos[0], c.pos[1], env);
    json_object_set_new(in, "imageTag", json_string(c.pos[2]));
    if (call(&c, "mutation($i: RollbackInput!) { rollback(input: $i) }",
             json_pack("{s:o}", "i", in), &data) != 0)
        return 1;
    return done(&c, data, "rollback", "Rolling %s/%s in %s back to %s (no build)", c.pos[0],
                c.pos[1], env, c.pos[2]);
}

static int promote_main(int argc, char **argv)
{
    struct cli_cmd c = {.name = "promote"};
    const char *from = NULL, *to = NULL;
    const struct cli_opt opts[] = {
        {"--from", NULL, &from, NULL}, {"--to", NULL, &to, NULL}, OPTS_END};
    const char *env = DEFAULT_ENV;
    json_t *data = NULL, *in;
    int rc;

    if ((rc = service_cmd(&c, opts, argc, argv, 0, "needs PROJECT and SERVICE", &env)) != 0)
        return rc;
    if (from == NULL || to == NULL)
        return cli_usage(&c, "needs --from ENV and --to ENV");
    if ((rc = cli_check_slug(&c, "--from", from)) != 0 || (rc = cli_check_slug(&c, "--to", to)))
        return rc;
    in = json_pack("{s:s, s:s, s:s, s:s}", "projectId", c.pos[0], "service", c.pos[1],
                   "fromEnvironment", from, "toEnvironment", to);
    if (call(&c,
             "mutation($i: PromoteInput!) { promote(input: $i) { name environment imageTag "
             "image } }",
             json_pack("{s:o}", "i", in), &data) != 0)
        return 1;
    return done(&c, data, "promote", "Promoting %s/%s from %s to %s (the same image, no build)",
                c.pos[0], c.pos[1], from, to);
}

/* ---------------------------------------------------------------- variables */

struct vars {
    struct cli_cmd c;
    const char *env, *project, *service; /* service NULL: the shared variables */
    const char **words;                  /* KEY=VALUE or KEY */
    size_t nwords;
    bool secret;
};

static bool service_name(const char *s)
{
    return s[0] >= 'a' && s[0] <= 'z' && strchr(s, '=') == NULL && strlen(s) <= 31 &&
           slug_valid(slice_from_cstr(s));
}

/* The current set: serviceVariables or sharedVariables. */
static int vars_read(struct vars *v, json_t **data, json_t **list)
{
    const char *q =
        v->service ? "query($p: ID!, $e: String!, $s: String!) { v: serviceVariables(projectId: "
                     "$p, environment: $e, service: $s) { key value secret fromShared "
                     "databaseRef { database key } serviceRef { service field } } }"
                   : "query($p: ID!, $e: String!) { v: sharedVariables(projectId: $p, "
                     "environment: $e) { key value secret } }";
    json_t *vars = json_pack("{s:s, s:s}", "p", v->project, "e", v->env);

    if (v->service != NULL)
        json_object_set_new(vars, "s", json_string(v->service));
    if (call(&v->c, q, vars, data) != 0)
        return 1;
    *list = json_object_get(*data, "v");
    return 0;
}

static const char *shown_value(json_t *x)
{
    static char ref[300];
    json_t *db = json_object_get(x, "databaseRef"), *sv = json_object_get(x, "serviceRef");

    if (str(x, "fromShared") != NULL)
        snprintf(ref, sizeof(ref), "${shared.%s}", str(x, "fromShared"));
    else if (json_is_object(db))
        snprintf(ref, sizeof(ref), "${database.%s.%s}", str(db, "database") ?: "?",
                 str(db, "key") ?: "?");
    else if (json_is_object(sv))
        snprintf(ref, sizeof(ref), "${service.%s.%s}", str(sv, "service") ?: "?",
                 str(sv, "field") ?: "?");
    else
        return str(x, "value");
    return ref;
}

static int vars_list(struct vars *v)
{
    struct cli_table t;
    json_t *data = NULL, *list, *x;
    size_t i;

    if (vars_read(v, &data, &list) != 0)
        return 1;
    if (v->c.json) {
        cli_json_print(list);
        json_decref(data);
        return 0;
    }
    cli_table_init(&t, 3, (const char *[]){"KEY", "VALUE", "SECRET"});
    json_array_foreach(list, i, x) cli_table_add(
        &t, (const char *[]){str(x, "key"), shown_value(x),
                             json_is_true(json_object_get(x, "secret")) ? "yes" : ""});
    cli_table_print(&t, stdout);
    cli_table_release(&t);
    json_decref(data);
    return 0;
}

/* An item of the set read back, as the input that keeps it (a secret: the mask keeps it). */
static json_t *as_input(json_t *x)
{
    json_t *in = json_pack("{s:O}", "key", json_object_get(x, "key"));
    const char *fields[] = {"fromShared", "databaseRef", "serviceRef"};

    json_object_set(in, "secret", json_object_get(x, "secret"));
    for (size_t i = 0; i < ARRAY_LEN(fields); i++)
        if (!json_is_null(json_object_get(x, fields[i])) && json_object_get(x, fields[i])) {
            json_object_set(in, fields[i], json_object_get(x, fields[i]));
            return in;
        }
    json_object_set(in, "value", json_object_get(x, "value"));
    return in;
}

static ssize_t find_key(json_t *set, const char *key, size_t len)
{
    json_t *x;
    size_t i;

    json_array_foreach(set, i, x)
    {
        const char *k = str(x, "key");
        if (k != NULL && strlen(k) == len && memcmp(k, key, len) == 0)
            return (ssize_t)i;
    }
    return -1;
}

/* Applies one word of set (KEY=VALUE, or KEY with the value from standard input) or unset
 * (KEY) to <set>. 0, or an exit status. */
static int apply(struct vars *v, json_t *set, const char *word, bool unset)
{
    const char *eq = strchr(word, '=');
    size_t klen = eq ? (size_t)(eq - word) : strlen(word);
    ssize_t at = find_key(set, word, klen);
    struct sbuf value = SBUF_INIT(64u << 10);
    struct err err = {0};

    if (unset) {
        if (at < 0)
            return cli_usage(&v->c, "%s is not set in %s%s%s (%s)", word, v->project,
                             v->service ? "/" : "", v->service ? v->service : "", v->env);
        json_array_remove(set, (size_t)at);
        return 0;
    }
    if (klen == 0)
        return cli_usage(&v->c, "\"%s\": KEY=VALUE", word);
    if (eq != NULL) {
        sbuf_puts(&value, eq + 1);
    } else if (!v->secret) {
        return cli_usage(&v->c,
                         "\"%s\": KEY=VALUE (or --secret KEY to read it from standard "
                         "input)",
                         word);
    } else if (cli_read_line("Value (not shown): ", true, &value, &err) < 0) {
        sbuf_release(&value);
        return cli_fail(&v->c, &err);
    }
    json_t *in =
        json_pack("{s:s%, s:s, s:b}", "key", word, klen, "value", value.buf, "secret", v->secret);
    explicit_bzero(value.buf, value.len);
    sbuf_release(&value);
    if (at >= 0)
        json_array_set_new(set, (size_t)at, in);
    else
        json_array_append_new(set, in);
    return 0;
}

static int vars_change(struct vars *v, bool unset)
{
    json_t *data = NULL, *list, *x, *set = json_array(), *out = NULL;
    size_t i;
    int rc = 0;

    if (vars_read(v, &data, &list) != 0) {
        json_decref(set);
        return 1;
    }
    json_array_foreach(list, i, x) json_array_append_new(set, as_input(x));
    json_decref(data);
    for (i = 0; i < v->nwords && rc == 0; i++)
        rc = apply(v, set, v->words[i], unset);
    if (rc != 0) {
        json_decref(set);
        return rc;
    }
    json_t *vars = json_pack("{s:s, s:s, s:o}", "p", v->project, "e", v->env, "v", set);
    if (v->service != NULL)
        json_object_set_new(vars, "s", json_string(v->service));
    if (call(&v->c,
             v->service ? "mutation($p: ID!, $e: String!, $s: String!, $v: "
                          "[ServiceVariableInput!]!) { v: setServiceVariables(projectId: $p, "
                          "environment: $e, service: $s, variables: $v) { key value secret } }"
                        : "mutation($p: ID!, $e: String!, $v: [VariableInput!]!) { v: "
                          "setSharedVariables(projectId: $p, environment: $e, variables: $v) "
                          "{ key value secret } }",
             vars, &out) != 0)
        return 1;
    if (v->c.json) {
        cli_json_print(json_object_get(out, "v"));
    } else {
        printf("%s", unset ? "Unset" : "Set");
        for (i = 0; i < v->nwords; i++) /* the keys only: values may be secrets */
            printf("%s%.*s", i ? ", " : " ", (int)strcspn(v->words[i], "="), v->words[i]);
        printf(" in %s%s%s (%s)%s\n", v->project, v->service ? "/" : "",
               v->service ? v->service : "", v->env, v->secret ? " as secret" : "");
    }
    json_decref(out);
    return 0;
}

static int vars_main(int argc, char **argv)
{
    struct vars v = {.c = {.name = "vars"}, .env = DEFAULT_ENV};
    const struct cli_opt opts[] = {
        {"--env", "-e", &v.env, NULL}, {"--secret", NULL, NULL, &v.secret}, OPTS_END};
    const char *sub;
    int rc;

    if ((rc = cli_cmd_parse(&v.c, opts, argc, argv)) != 0)
        return rc;
    sub = v.c.npos > 0 ? v.c.pos[0] : "";
    if (strcmp(sub, "list") != 0 && strcmp(sub, "set") != 0 && strcmp(sub, "unset") != 0)
        return cli_usage(&v.c, "vars list, vars set or vars unset");
    v.c.name = sub[0] == 'l' ? "vars list" : sub[0] == 's' ? "vars set" : "vars unset";
    v.c.help = "vars";
    if (v.c.npos < 2)
        return cli_usage(&v.c, "needs PROJECT");
    v.project = v.c.pos[1];
    v.words = v.c.pos + 2;
    v.nwords = v.c.npos - 2;
    /* list: the word after PROJECT is SERVICE; set and unset: when more words follow */
    if (v.nwords > (sub[0] == 'l' ? 0u : 1u) && service_name(v.words[0])) {
        v.service = v.words[0];
        v.words++;
        v.nwords--;
    }
    if ((rc = cli_check_slug(&v.c, "PROJECT", v.project)) != 0 ||
        (rc = cli_check_slug(&v.c, "--env", v.env)) != 0)
        return rc;
    if (sub[0] == 'l' && v.nwords > 0)
        return cli_usage(&v.c, "takes PROJECT [SERVICE] only");
    if (sub[0] != 'l' && v.nwords == 0)
        return cli_usage(&v.c, "needs at least one %s", sub[0] == 's' ? "KEY=VALUE" : "KEY");
    if ((rc = cli_auth_connect(&v.c)) != 0)
        return rc;
    return sub[0] == 'l' ? vars_list(&v) : vars_change(&v, sub[0] == 'u');
}

/* ---------------------------------------------------------------- scale, domains, open */

static int scale_main(int argc, char **argv)
{
    struct cli_cmd c = {.name = "scale"};
    const char *env = DEFAULT_ENV;
    const struct cli_opt opts[] = {{"--env", "-e", &env, NULL}, OPTS_END};
    json_t *data = NULL, *in;
    uint64_t n;
    int rc;

    if ((rc = service_cmd(&c, opts, argc, argv, 1, "needs PROJECT, SERVICE and N", &env)) != 0)
        return rc;
    if (c.npos != 3 || slice_to_u64(slice_from_cstr(c.pos[2]), &n) < 0 || n > 1000)
        return cli_usage(&c, "needs PROJECT, SERVICE and N, a number of replicas (1..20)");
    in = target(c.pos[0], c.pos[1], env);
    json_object_set_new(in, "replicas", json_integer((json_int_t)n));
    if (call(&c, "mutation($i: ServiceScalingInput!) { setServiceScaling(input: $i) { replicas } }",
             json_pack("{s:o}", "i", in), &data) != 0)
        return 1;
    return done(&c, data, "setServiceScaling", "%s/%s in %s: %llu replica%s (rolling out)",
                c.pos[0], c.pos[1], env, (unsigned long long)n, n == 1 ? "" : "s");
}

static int domains_list(struct cli_cmd *c, const char *env)
{
    struct cli_table t;
    json_t *data = NULL, *svc, *d;
    size_t i;

    if (get_service(c, c->pos[0], env, c->pos[1], &data, &svc) != 0)
        return 1;
    json_t *list = json_object_get(svc, "domains");
    if (c->json) {
        cli_json_print(list);
        json_decref(data);
        return 0;
    }
    cli_table_init(&t, 4, (const char *[]){"HOSTNAME", "TYPE", "DNS", "TLS"});
    json_array_foreach(list, i, d)
        cli_table_add(&t, (const char *[]){str(d, "hostname"), str(d, "type"), str(d, "dnsStatus"),
                                           str(d, "tlsStatus")});
    cli_table_print(&t, stdout);
    cli_table_release(&t);
    json_decref(data);
    return 0;
}

/* Where a custom domain's DNS should point (platformConfig); nothing when it cannot be read. */
static void dns_advice(struct cli_cmd *c)
{
    struct err err = {0};
    json_t *data = NULL;

    if (cli_graphql(&c->s, "{ platformConfig { domainTarget ipAddress } }", NULL, &data, &err) < 0)
        return;
    json_t *pc = json_object_get(data, "platformConfig");
    fprintf(stderr, "Point its DNS here: a CNAME to %s, or an A record with %s\n",
            str(pc, "domainTarget") ?: "?", str(pc, "ipAddress") ?: "?");
    json_decref(data);
}

static int domains_change(struct cli_cmd *c, const char *env, bool add, const char *host)
{
    json_t *data = NULL, *vars = json_pack("{s:s, s:s, s:s, s:s}", "p", c->pos[0], "e", env, "s",
                                           c->pos[1], "h", host);

    if (!add) {
        if (call(c,
                 "mutation($p: ID!, $e: String!, $s: String!, $h: String!) { removeDomain("
                 "projectId: $p, environment: $e, service: $s, hostname: $h) }",
                 vars, &data) != 0)
            return 1;
        return done(c, data, "removeDomain", "Removed %s from %s/%s", host, c->pos[0], c->pos[1]);
    }
    if (call(c,
             "mutation($p: ID!, $e: String!, $s: String!, $h: String!) { d: addCustomDomain("
             "projectId: $p, environment: $e, service: $s, hostname: $h) { hostname type "
             "dnsStatus tlsStatus } }",
             vars, &data) != 0)
        return 1;
    if (!c->json)
        dns_advice(c);
    return done(c, data, "d", "Added %s to %s/%s (DNS %s)", host, c->pos[0], c->pos[1],
                str(json_object_get(data, "d"), "dnsStatus") ?: "?");
}

static int domains_main(int argc, char **argv)
{
    struct cli_cmd c = {.name = "domains"};
    const char *env = DEFAULT_ENV;
    const struct cli_opt opts[] = {{"--env", "-e", &env, NULL}, OPTS_END};
    int rc;

    if ((rc = service_cmd(&c, opts, argc, argv, 2,
                          "needs PROJECT and SERVICE, then nothing, add HOST or remove HOST",
                          &env)) != 0)
        return rc;
    if (c.npos == 2)
        return domains_list(&c, env);
    if (c.npos != 4 || (strcmp(c.pos[2], "add") != 0 && strcmp(c.pos[2], "remove") != 0))
        return cli_usage(&c, "after PROJECT SERVICE: add HOST or remove HOST");
    return domains_change(&c, env, strcmp(c.pos[2], "add") == 0, c.pos[3]);
}

/* Starts xdg-open <url> and waits for it (it returns once the browser has it). */
static void browse(const char *url)
{
    char *args[] = {"xdg-open", (char *)url, NULL};
    pid_t pid;
    int status;

    if (posix_spawnp(&pid, "xdg-open", NULL, NULL, args, environ) != 0) {
        fprintf(stderr, "slipway open: could not run xdg-open; open the URL yourself\n");
        return;
    }
    waitpid(pid, &status, 0);
}

/* The scheme and port of <url>, http://HOST[:PORT] or https://… (HOST may be [IPv6]): 0, or
 * -1 when it is not one. */
static int ingress_of(const char *url, char *scheme, size_t cap, int *port)
{
    const char *sep = strstr(url, "://"), *host, *colon;
    uint64_t p = 0;

    if (sep == NULL || (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0))
        return -1;
    snprintf(scheme, cap, "%.*s", (int)(sep - url), url);
    *port = url[4] == 's' ? 443 : 80;
    host = sep + 3;
    if (*host == '[' && (host = strchr(host, ']')) == NULL)
        return -1;
    colon = host + strcspn(host, ":/");
    if (*colon == ':') {
        if (slice_to_u64((struct slice){colon + 1, strcspn(colon + 1, "/")}, &p) < 0 || p == 0 ||
            p > 65535)
            return -1;
        *port = (int)p;
    }
    return 0;
}

/* No ingress runs, so <host> leads nowhere: the hostname alone (with --json, {"hostname", "url":
 * null}), and why on standard error. Returns 1. */
static int no_ingress(const struct cli_cmd *c, const char *host)
{
    char msg[320];

    if (c->json) {
        json_t *o = json_pack("{s:s, s:n}", "hostname", host, "url");
        cli_json_print(o);
        json_decref(o);
    } else {
        printf("%s\n", host);
        fflush(stdout);
    }
    snprintf(msg, sizeof(msg), "no ingress runs on this server: nothing answers at %s", host);
    fprintf(stderr, "slipway %s: ", c->name);
    cli_styled(stderr, CLI_RED, msg);
    fprintf(stderr, "\n  (serve with ingress.enabled=true, or give --ingress-url URL of one that "
                    "routes it)\n");
    return 1;
}

/* The scheme and port of the server's ingress (platformConfig.ingressUrl). 0, or 1 once the
 * failure is printed: with no ingress, <host> alone and why (no_ingress()). */
static int server_ingress(struct cli_cmd *c, const char *host, char *scheme, size_t cap, int *port)
{
    json_t *data = NULL;
    struct err err = {0};
    const char *u;
    int rc = 0;

    if (call(c, "{ platformConfig { ingressUrl } }", NULL, &data) != 0)
        return 1;
    u = str(json_object_get(data, "platformConfig"), "ingressUrl");
    if (u == NULL)
        rc = no_ingress(c, host);
    else if (ingress_of(u, scheme, cap, port) < 0) {
        err_set(&err, ERR_INTERNAL, "the server's ingressUrl \"%s\" is not http(s)://HOST[:PORT]",
                u);
        rc = cli_fail(c, &err);
    }
    json_decref(data);
    return rc;
}

/* <scheme>://<host>[:<port>]/ into <out>, leaving out the scheme's own port. */
static void app_url(char *out, size_t cap, const char *scheme, const char *host, int port)
{
    if ((strcmp(scheme, "http") == 0 && port == 80) ||
        (strcmp(scheme, "https") == 0 && port == 443))
        snprintf(out, cap, "%s://%s/", scheme, host);
    else
        snprintf(out, cap, "%s://%s:%d/", scheme, host, port);
}

/* SERVICE's platform domain in *host (pointing into *data, which the caller json_decref()s).
 * 0, or 1 once the failure is printed. */
static int platform_host(struct cli_cmd *c, const char *env, json_t **data, const char **host)
{
    json_t *svc, *d;
    struct err err = {0};
    size_t i;

    *host = NULL;
    if (get_service(c, c->pos[0], env, c->pos[1], data, &svc) != 0)
        return 1;
    json_array_foreach(json_object_get(svc, "domains"), i, d)
    {
        if (strcmp(str(d, "type") ?: "", "PLATFORM") == 0) {
            *host = str(d, "hostname");
            return 0;
        }
    }
    json_decref(*data);
    *data = NULL;
    err_set(&err, ERR_NOTFOUND, "%s/%s has no platform domain in %s yet", c->pos[0], c->pos[1],
            env);
    return cli_fail(c, &err);
}

static int open_main(int argc, char **argv)
{
    struct cli_cmd c = {.name = "open"};
    const char *env = DEFAULT_ENV, *ingress = NULL, *host = NULL;
    const struct cli_opt opts[] = {
        {"--env", "-e", &env, NULL}, {"--ingress-url", NULL, &ingress, NULL}, OPTS_END};
    char scheme[16], url[512];
    json_t *data = NULL;
    int port = 0, rc;

    if ((rc = service_cmd(&c, opts, argc, argv, 0, "needs PROJECT and SERVICE", &env)) != 0)
        return rc;
    if (ingress != NULL && ingress_of(ingress, scheme, sizeof(scheme), &port) < 0)
        return cli_usage(&c, "--ingress-url \"%s\": http://HOST[:PORT] or https://…", ingress);
    if (platform_host(&c, env, &data, &host) != 0)
        return 1;
    if (ingress == NULL)
        rc = server_ingress(&c, host, scheme, sizeof(scheme), &port);
    if (rc == 0)
        app_url(url, sizeof(url), scheme, host, port);
    json_decref(data); /* host points into it */
    if (rc != 0)
        return rc;
    if (c.json) {
        json_t *o = json_pack("{s:s}", "url", url);
        cli_json_print(o);
        json_decref(o);
        return 0;
    }
    printf("%s\n", url);
    fflush(stdout);
    if ((getenv("DISPLAY") && *getenv("DISPLAY")) ||
        (getenv("WAYLAND_DISPLAY") && *getenv("WAYLAND_DISPLAY")))
        browse(url);
    return 0;
}

/* ---------------------------------------------------------------- completion */

static int completion_main(int argc, char **argv)
{
    struct cli_cmd c = {.name = "completion"};
    char want[64];
    int rc;

    if ((rc = cli_cmd_parse(&c, NULL, argc, argv)) != 0)
        return rc;
    if (c.npos != 1 || (strcmp(c.pos[0], "bash") != 0 && strcmp(c.pos[0], "zsh") != 0))
        return cli_usage(&c, "bash or zsh");
    snprintf(want, sizeof(want), "scripts/completion/slipway.%s", c.pos[0]);
    for (size_t i = 0; i < cli_completion_nfiles; i++)
        if (strcmp(cli_completion_files[i].name, want) == 0) {
            fwrite(cli_completion_files[i].text, 1, cli_completion_files[i].len, stdout);
            return 0;
        }
    return cli_usage(&c, "no %s script in this build", c.pos[0]);
}

/* ---------------------------------------------------------------- the command table */

static const struct cli_command commands[] = {
    {"login", cli_login_main, cli_login_usage},
    {"logout", cli_logout_main, cli_logout_usage},
    {"whoami", cli_whoami_main, cli_whoami_usage},
    {"workspace", cli_workspace_main, cli_workspace_usage},
    {"projects", projects_main, usage_projects},
    {"project", project_main, usage_projects},
    {"env", env_main, usage_env},
    {"service", service_main, usage_service},
    {"deploys", deploys_main, usage_deploys},
    {"rollback", rollback_main, usage_rollback},
    {"promote", promote_main, usage_promote},
    {"vars", vars_main, usage_vars},
    {"scale", scale_main, usage_scale},
    {"domains", domains_main, usage_domains},
    {"open", open_main, usage_open},
    {"completion", completion_main, usage_completion},
};

const struct cli_command *cli_command_find(const char *name)
{
    for (size_t i = 0; i < ARRAY_LEN(commands); i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}
