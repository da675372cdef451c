/*
 * The client's login (cli-auth.h). What is stored is a personal access token, never the
 * short-lived access token of a password login: the login makes one ("cli@<hostname>") and
 * ends its own session. The file is "key = value" lines (server, token, workspace), mode 0600
 * in a 0700 directory, replaced whole on every change.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/base.h"
#include "cli-auth.h"
#include "cli-client.h"
#include "cli-out.h"

#define DEFAULT_SERVER "http://localhost:8080"
#define CONFIG_MAX     (64u << 10)

const char cli_login_usage[] =
    "Usage: slipway login [URL] [--token slp_...] [--email E [--password-stdin]]\n"
    "\n"
    "Logs in to the slipway at URL (default http://localhost:8080) and keeps the login in\n"
    "$XDG_CONFIG_HOME/slipway/config (else ~/.config/slipway/config, mode 0600), where every\n"
    "other command finds it. With an email and a password (asked for when not given; the\n"
    "password is not shown as it is typed) it makes a personal access token named\n"
    "cli@<hostname> and keeps that; with --token it checks and keeps the token given.\n"
    "\n"
    "  --token T          a personal access token made in the dashboard or by the API\n"
    "  --email E          the account's email address\n"
    "  --password-stdin   read the password from standard input (for scripts)\n"
    "\n"
    "--server, --token and --workspace on any command (or SLIPWAY_SERVER, SLIPWAY_TOKEN,\n"
    "SLIPWAY_WORKSPACE) take precedence over what is stored.\n"
    "\n"
    "Exit status: 0 logged in, 1 refused or failed, 2 a usage error.\n";

const char cli_logout_usage[] =
    "Usage: slipway logout\n"
    "\n"
    "Revokes the stored personal access token on its server and removes it from the\n"
    "configuration file (the server's URL stays, for the next login).\n";

const char cli_whoami_usage[] =
    "Usage: slipway whoami [--json]\n"
    "\n"
    "Prints the user logged in, the server, the active workspace and the role held there.\n";

const char cli_workspace_usage[] =
    "Usage: slipway workspace use W\n"
    "       slipway workspace list [--json]\n"
    "\n"
    "use W   makes W the active workspace of every later command (sent as\n"
    "        X-Slipway-Workspace); you must be a member of it. --workspace W or\n"
    "        SLIPWAY_WORKSPACE override it for one command.\n"
    "list    the workspaces you belong to.\n";

/* ---------------------------------------------------------------- the stored login */

struct stored {
    char path[4096];
    char server[2048], token[1024], workspace[128];
};

static struct stored stored; /* one process, one configuration file */

static int config_path(char *out, size_t cap, struct err *err)
{
    const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
    int n;

    if (xdg != NULL && xdg[0] == '/')
        n = snprintf(out, cap, "%s/slipway/config", xdg);
    else if (home != NULL && home[0] != '\0')
        n = snprintf(out, cap, "%s/.config/slipway/config", home);
    else
        return err_set(err, ERR_INVALID, "neither XDG_CONFIG_HOME nor HOME is set");
    return n > 0 && (size_t)n < cap ? 0 : err_set(err, ERR_LIMIT, "configuration path too long");
}

static void set_field(struct slice key, struct slice value)
{
    struct {
        const char *key;
        char *slot;
        size_t cap;
    } const fields[] = {{"server", stored.server, sizeof(stored.server)},
                        {"token", stored.token, sizeof(stored.token)},
                        {"workspace", stored.workspace, sizeof(stored.workspace)}};

    for (size_t i = 0; i < ARRAY_LEN(fields); i++)
        if (slice_eq_cstr(key, fields[i].key) && value.len < fields[i].cap)
            snprintf(fields[i].slot, fields[i].cap, "%.*s", (int)value.len, value.ptr);
}

/* Reads the file into <stored>; a missing file is an empty login. */
static int load(struct err *err)
{
    struct sbuf text = SBUF_INIT(CONFIG_MAX);
    struct slice rest, line;
    int rc;

    if (stored.path[0] != '\0')
        return 0;
    if ((rc = config_path(stored.path, sizeof(stored.path), err)) < 0)
        return rc;
    rc = file_read(stored.path, &text, err);
    if (rc == ERR_NOTFOUND)
        rc = 0;
    rest = sbuf_slice(&text);
    while (rc == 0 && rest.len > 0) {
        const char *nl = memchr(rest.ptr, '\n', rest.len);
        size_t n = nl ? (size_t)(nl - rest.ptr) : rest.len;
        line = slice_trim((struct slice){rest.ptr, n});
        rest = nl ? (struct slice){nl + 1, rest.len - n - 1} : (struct slice){rest.ptr + n, 0};
        const char *eq = memchr(line.ptr, '=', line.len);
        if (line.len == 0 || line.ptr[0] == '#' || eq == NULL)
            continue;
        set_field(slice_trim((struct slice){line.ptr, (size_t)(eq - line.ptr)}),
                  slice_trim((struct slice){eq + 1, line.len - (size_t)(eq - line.ptr) - 1}));
    }
    explicit_bzero(text.buf, text.len);
    sbuf_release(&text);
    return rc;
}

/* Writes <stored> back, whole or not at all. */
static int save(struct err *err)
{
    struct sbuf text = SBUF_INIT(CONFIG_MAX);
    char dir[4096];
    int rc;

    snprintf(dir, sizeof(dir), "%s", stored.path);
    *strrchr(dir, '/') = '\0';
    sbuf_puts(&text, "# slipway's login (slipway login / logout / workspace use)\n");
    if (stored.server[0] != '\0')
        sbuf_printf(&text, "server = %s\n", stored.server);
    if (stored.token[0] != '\0')
        sbuf_printf(&text, "token = %s\n", stored.token);
    if (stored.workspace[0] != '\0')
        sbuf_printf(&text, "workspace = %s\n", stored.workspace);
    rc = file_mkdirs(dir, 0700, -1, err);
    if (rc == 0)
        rc = file_write_atomic(stored.path, text.buf, text.len, 0600, err);
    explicit_bzero(text.buf, text.len);
    sbuf_release(&text);
    return rc;
}

static bool same_server(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);

    while (na > 0 && a[na - 1] == '/')
        na--;
    while (nb > 0 && b[nb - 1] == '/')
        nb--;
    return na == nb && memcmp(a, b, na) == 0;
}

int cli_auth_connect(struct cli_cmd *c)
{
    struct err err = {0};

    cli_server_from_env(&c->s);
    if (load(&err) < 0)
        fprintf(stderr, "slipway %s: ignoring the stored login: %s\n", c->name, err.msg);
    if (c->s.url == NULL && stored.server[0] != '\0')
        c->s.url = stored.server;
    /* The stored token goes only to the server it was made by. */
    if (c->s.url != NULL && same_server(c->s.url, stored.server)) {
        if (c->s.token == NULL && stored.token[0] != '\0')
            c->s.token = stored.token;
        if (c->s.workspace == NULL && stored.workspace[0] != '\0')
            c->s.workspace = stored.workspace;
    }
    if (c->s.url == NULL || c->s.url[0] == '\0' || c->s.token == NULL || c->s.token[0] == '\0')
        return cli_usage(c, "needs a server and a token: not logged in; run slipway login [URL], "
                            "or give --server URL --token T (or SLIPWAY_SERVER and "
                            "SLIPWAY_TOKEN)");
    return 0;
}

/* ---------------------------------------------------------------- login */

struct login {
    struct cli_cmd c;
    const char *email;
    bool password_stdin;
};

/* me: the user's email, checking the credential. */
static int check_token(const struct cli_server *s, char *email, size_t cap, struct err *err)
{
    json_t *data = NULL;
    int rc = cli_graphql(s, "{ me { email } }", NULL, &data, err);

    if (rc == 0)
        snprintf(email, cap, "%s",
                 json_string_value(json_object_get(json_object_get(data, "me"), "email")) ?: "?");
    json_decref(data);
    return rc;
}

/* POST /auth/login: the session's access and refresh tokens (the caller free()s them). */
static int password_login(const struct login *l, const char *email, const char *password,
                          char **access, char **refresh, struct err *err)
{
    struct cli_server anon = {.url = l->c.s.url};
    json_t *body =
        json_pack("{s:s, s:s, s:b}", "email", email, "password", password, "returnRefreshToken", 1);
    json_t *ans = NULL;
    int rc = cli_post_json(&anon, "/auth/login", body, &ans, err);
    const char *a = json_string_value(json_object_get(ans, "accessToken"));
    const char *r = json_string_value(json_object_get(ans, "refreshToken"));

    json_decref(body);
    if (rc == 0 && a == NULL)
        rc = err_set(err, ERR_UNAVAILABLE, "/auth/login answered without an access token");
    if (rc == 0) {
        *access = strdup(a);
        *refresh = r ? strdup(r) : NULL;
    }
    json_decref(ans);
    return rc;
}

/* createApiToken "cli@<hostname>" with the session; its secret into stored.token. */
static int make_token(const char *url, const char *access, struct err *err)
{
    struct cli_server s = {.url = url, .token = access};
    char host[256] = "unknown", name[300];
    json_t *data = NULL, *vars;
    int rc;

    gethostname(host, sizeof(host) - 1);
    snprintf(name, sizeof(name), "cli@%s", host);
    vars = json_pack("{s:s}", "n", name);
    rc = cli_graphql(&s, "mutation($n: String!) { createApiToken(name: $n) { id secret } }", vars,
                     &data, err);
    const char *secret =
        json_string_value(json_object_get(json_object_get(data, "createApiToken"), "secret"));
    if (rc == 0 && (secret == NULL || strlen(secret) >= sizeof(stored.token)))
        rc = err_set(err, ERR_UNAVAILABLE, "createApiToken answered without a usable secret");
    if (rc == 0)
        snprintf(stored.token, sizeof(stored.token), "%s", secret);
    json_decref(data);
    json_decref(vars);
    return rc;
}

/* POST /auth/logout: the password login's session is not needed any more. */
static void end_session(const char *url, const char *refresh)
{
    struct cli_server anon = {.url = url};
    json_t *body = json_pack("{s:s}", "refreshToken", refresh), *ans = NULL;
    struct err ignored = {0};

    if (cli_post_json(&anon, "/auth/logout", body, &ans, &ignored) == 0)
        json_decref(ans);
    json_decref(body);
}

static int login_with_password(struct login *l, char *email_out, size_t cap, struct err *err)
{
    struct sbuf email = SBUF_INIT(512), password = SBUF_INIT(4096);
    char *access = NULL, *refresh = NULL;
    int rc = 0;

    if (l->email != NULL)
        sbuf_puts(&email, l->email);
    else
        rc = cli_read_line("Email: ", false, &email, err);
    if (rc == 0)
        rc = cli_read_line("Password: ", true, &password, err);
    if (rc == 0)
        rc = password_login(l, email.buf, password.buf, &access, &refresh, err);
    if (rc == 0)
        rc = make_token(l->c.s.url, access, err);
    if (refresh != NULL)
        end_session(l->c.s.url, refresh);
    if (rc == 0)
        snprintf(email_out, cap, "%s", email.buf);
    explicit_bzero(password.buf, password.len);
    if (access != NULL)
        explicit_bzero(access, strlen(access));
    if (refresh != NULL)
        explicit_bzero(refresh, strlen(refresh));
    free(access);
    free(refresh);
    sbuf_release(&email);
    sbuf_release(&password);
    return rc;
}

int cli_login_main(int argc, char **argv)
{
    struct login l = {.c = {.name = "login"}};
    const struct cli_opt opts[] = {{"--email", NULL, &l.email, NULL},
                                   {"--password-stdin", NULL, NULL, &l.password_stdin},
                                   {NULL, NULL, NULL, NULL}};
    struct err err = {0};
    char email[512];
    int rc;

    if ((rc = cli_cmd_parse(&l.c, opts, argc, argv)) != 0)
        return rc;
    if (l.c.npos > 1)
        return cli_usage(&l.c, "one URL only");
    if (l.c.npos == 1)
        l.c.s.url = l.c.pos[0];
    cli_server_from_env(&l.c.s);
    if (load(&err) < 0)
        return cli_fail(&l.c, &err);
    if (l.c.s.url == NULL)
        l.c.s.url = stored.server[0] ? stored.server : DEFAULT_SERVER;
    if (strncmp(l.c.s.url, "http://", 7) != 0 && strncmp(l.c.s.url, "https://", 8) != 0)
        return cli_usage(&l.c, "URL \"%s\": must start with http:// or https://", l.c.s.url);
    if (l.c.s.token == NULL && !l.password_stdin && !isatty(0))
        return cli_usage(&l.c, "standard input is not a terminal: give --token T, or --email E "
                               "--password-stdin");
    snprintf(stored.server, sizeof(stored.server), "%s", l.c.s.url);
    if (l.c.s.token != NULL) {
        rc = check_token(&l.c.s, email, sizeof(email), &err);
        if (rc == 0 && strlen(l.c.s.token) < sizeof(stored.token))
            snprintf(stored.token, sizeof(stored.token), "%s", l.c.s.token);
    } else {
        rc = login_with_password(&l, email, sizeof(email), &err);
    }
    stored.workspace[0] = '\0'; /* a new login starts in its personal workspace */
    if (rc == 0)
        rc = save(&err);
    if (rc < 0)
        return cli_fail(&l.c, &err);
    fprintf(stderr, "Logged in to %s as %s (login kept in %s)\n", stored.server, email,
            stored.path);
    return 0;
}

/* ---------------------------------------------------------------- logout */

/* The id of the stored token, found among apiTokens by its prefix. */
static int token_id(const struct cli_server *s, char *id, size_t cap, struct err *err)
{
    json_t *data = NULL, *t;
    size_t i;
    int rc = cli_graphql(s, "{ apiTokens { id prefix } }", NULL, &data, err);

    id[0] = '\0';
    json_array_foreach(json_object_get(data, "apiTokens"), i, t)
    {
        const char *p = json_string_value(json_object_get(t, "prefix"));
        if (p != NULL && p[0] != '\0' && strncmp(s->token, p, strlen(p)) == 0) {
            snprintf(id, cap, "%s", json_string_value(json_object_get(t, "id")) ?: "");
            break;
        }
    }
    json_decref(data);
    return rc;
}

int cli_logout_main(int argc, char **argv)
{
    struct cli_cmd c = {.name = "logout"};
    struct err err = {0};
    char id[128];
    json_t *data = NULL, *vars;
    int rc;

    if ((rc = cli_cmd_parse(&c, NULL, argc, argv)) != 0)
        return rc;
    if (c.npos > 0)
        return cli_usage(&c, "takes no arguments");
    if (load(&err) < 0)
        return cli_fail(&c, &err);
    if (stored.token[0] == '\0') {
        fprintf(stderr, "slipway logout: not logged in (nothing stored in %s)\n", stored.path);
        return 0;
    }
    struct cli_server s = {.url = stored.server, .token = stored.token};
    rc = token_id(&s, id, sizeof(id), &err);
    if (rc == 0 && id[0] != '\0') {
        vars = json_pack("{s:s}", "id", id);
        rc = cli_graphql(&s, "mutation($id: ID!) { revokeApiToken(id: $id) }", vars, &data, &err);
        json_decref(vars);
        json_decref(data);
    }
    if (rc == ERR_UNAUTHENTICATED)
        rc = 0; /* revoked or expired already: forgetting it is all there is to do */
    if (rc < 0)
        return cli_fail(&c, &err);
    explicit_bzero(stored.token, sizeof(stored.token));
    stored.workspace[0] = '\0';
    if (save(&err) < 0)
        return cli_fail(&c, &err);
    fprintf(stderr, "Logged out of %s (token %s)\n", stored.server,
            id[0] ? "revoked" : "forgotten; the server did not know it");
    return 0;
}

/* ---------------------------------------------------------------- whoami, workspace */

static const char *role_in(json_t *me, const char *ws)
{
    json_t *m;
    size_t i;

    json_array_foreach(json_object_get(me, "workspaces"), i, m)
    {
        const char *id = json_string_value(json_object_get(m, "workspace"));
        if (id != NULL && ws != NULL && strcmp(id, ws) == 0)
            return json_string_value(json_object_get(m, "role"));
    }
    return NULL;
}

int cli_whoami_main(int argc, char **argv)
{
    struct cli_cmd c = {.name = "whoami"};
    struct err err = {0};
    json_t *data = NULL;
    int rc;

    if ((rc = cli_cmd_parse(&c, NULL, argc, argv)) != 0 || (rc = cli_auth_connect(&c)) != 0)
        return rc;
    if (c.npos > 0)
        return cli_usage(&c, "takes no arguments");
    if (cli_graphql(&c.s,
                    "{ me { name email workspaces { workspace role } } workspace { id name } }",
                    NULL, &data, &err) < 0)
        return cli_fail(&c, &err);
    json_t *me = json_object_get(data, "me"), *ws = json_object_get(data, "workspace");
    const char *ws_id = json_string_value(json_object_get(ws, "id"));
    json_t *out = json_pack(
        "{s:O?, s:O?, s:s, s:O?, s:O?, s:s?}", "user", json_object_get(me, "name"), "email",
        json_object_get(me, "email"), "server", c.s.url, "workspace", json_object_get(ws, "id"),
        "workspaceName", json_object_get(ws, "name"), "role", role_in(me, ws_id));
    if (c.json) {
        cli_json_print(out);
    } else {
        const char *keys[] = {"user", "email", "server", "workspace", "role"};
        for (size_t i = 0; i < ARRAY_LEN(keys); i++)
            printf("%-10s %s\n", keys[i], json_string_value(json_object_get(out, keys[i])) ?: "-");
    }
    json_decref(out);
    json_decref(data);
    return 0;
}

static int workspace_list(struct cli_cmd *c)
{
    struct err err = {0};
    struct cli_table t;
    json_t *data = NULL, *w;
    size_t i;

    if (cli_graphql(&c->s, "{ workspaces { id name personal suspended } workspace { id } }", NULL,
                    &data, &err) < 0)
        return cli_fail(c, &err);
    json_t *list = json_object_get(data, "workspaces");
    const char *active =
        json_string_value(json_object_get(json_object_get(data, "workspace"), "id"));
    if (c->json) {
        cli_json_print(list);
        json_decref(data);
        return 0;
    }
    cli_table_init(&t, 4, (const char *[]){"", "ID", "NAME", "KIND"});
    json_array_foreach(list, i, w)
    {
        const char *id = json_string_value(json_object_get(w, "id"));
        bool personal = json_is_true(json_object_get(w, "personal"));
        bool suspended = json_is_true(json_object_get(w, "suspended"));
        cli_table_add(&t, (const char *[]){id && active && strcmp(id, active) == 0 ? "*" : "", id,
                                           json_string_value(json_object_get(w, "name")),
                                           suspended  ? "suspended"
                                           : personal ? "personal"
                                                      : "team"});
    }
    cli_table_print(&t, stdout);
    cli_table_release(&t);
    json_decref(data);
    return 0;
}

/* workspace use W: checked by asking for it as the active one, then stored. */
static int workspace_use(struct cli_cmd *c, const char *ws)
{
    struct err err = {0};
    json_t *data = NULL;

    c->s.workspace = ws;
    if (cli_graphql(&c->s, "{ workspace { id name } }", NULL, &data, &err) < 0)
        return cli_fail(c, &err);
    json_decref(data);
    if (!same_server(c->s.url, stored.server) || stored.token[0] == '\0') {
        err_set(&err, ERR_INVALID,
                "workspace %s exists, but there is no stored login for %s to keep it with: run "
                "slipway login first (or use --workspace / SLIPWAY_WORKSPACE)",
                ws, c->s.url);
        return cli_fail(c, &err);
    }
    snprintf(stored.workspace, sizeof(stored.workspace), "%s", ws);
    if (save(&err) < 0)
        return cli_fail(c, &err);
    fprintf(stderr, "Active workspace: %s\n", ws);
    return 0;
}

int cli_workspace_main(int argc, char **argv)
{
    struct cli_cmd c = {.name = "workspace"};
    int rc;

    if ((rc = cli_cmd_parse(&c, NULL, argc, argv)) != 0)
        return rc;
    if (c.npos == 0)
        return cli_usage(&c, "needs a subcommand: use W, or list");
    if (strcmp(c.pos[0], "use") == 0) {
        c.name = "workspace use";
        c.help = "workspace";
        if (c.npos != 2)
            return cli_usage(&c, "needs one workspace id, e.g. slipway workspace use acme");
        if ((rc = cli_check_slug(&c, "W", c.pos[1])) != 0 || (rc = cli_auth_connect(&c)) != 0)
            return rc;
        return workspace_use(&c, c.pos[1]);
    }
    if (strcmp(c.pos[0], "list") == 0 || strcmp(c.pos[0], "ls") == 0) {
        c.name = "workspace list";
        c.help = "workspace";
        if ((rc = cli_auth_connect(&c)) != 0)
            return rc;
        return workspace_list(&c);
    }
    return cli_usage(&c, "unknown subcommand \"%s\": use W, or list", c.pos[0]);
}
