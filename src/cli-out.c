/*
 * The client commands' shared arguments, output and errors (cli-out.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <termios.h>
#include <unistd.h>

#include "base/base.h"
#include "cli-out.h"

#define TABLE_WIDTH 80
#define COLUMN_GAP  2
#define COLUMN_MIN  4
#define MAXZ(a, b)  ((a) > (b) ? (a) : (b))
#define MINZ(a, b)  ((a) < (b) ? (a) : (b))

/* ---------------------------------------------------------------- arguments */

int cli_usage(const struct cli_cmd *c, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "slipway %s: ", c->name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n(slipway help %s)\n", c->help ? c->help : c->name);
    return 2;
}

static const struct cli_opt *find_opt(const struct cli_opt *opts, const char *arg)
{
    for (; opts != NULL && opts->name != NULL; opts++)
        if (strcmp(opts->name, arg) == 0 || (opts->alias && strcmp(opts->alias, arg) == 0))
            return opts;
    return NULL;
}

int cli_cmd_parse(struct cli_cmd *c, const struct cli_opt *opts, int argc, char **argv)
{
    const struct cli_opt common[] = {{"--server", NULL, &c->s.url, NULL},
                                     {"--token", NULL, &c->s.token, NULL},
                                     {"--workspace", NULL, &c->s.workspace, NULL},
                                     {"--json", NULL, NULL, &c->json},
                                     {NULL, NULL, NULL, NULL}};
    bool options = true;

    for (int i = 0; i < argc; i++) {
        const struct cli_opt *o = options ? find_opt(opts, argv[i]) : NULL;

        if (options && o == NULL)
            o = find_opt(common, argv[i]);
        if (o != NULL && o->flag != NULL) {
            *o->flag = true;
        } else if (o != NULL) {
            if (i + 1 == argc)
                return cli_usage(c, "%s needs a value", argv[i]);
            *o->value = argv[++i];
        } else if (options && strcmp(argv[i], "--") == 0) {
            options = false;
        } else if (options && argv[i][0] == '-' && argv[i][1] != '\0') {
            return cli_usage(c, "unknown option %s", argv[i]);
        } else if (c->npos == CLI_POS_MAX) {
            return cli_usage(c, "too many arguments");
        } else {
            c->pos[c->npos++] = argv[i];
        }
    }
    return 0;
}

int cli_check_slug(const struct cli_cmd *c, const char *what, const char *value)
{
    if (value != NULL && slug_valid(slice_from_cstr(value)))
        return 0;
    return cli_usage(c, "%s \"%s\": must match ^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", what,
                     value ? value : "");
}

/* ---------------------------------------------------------------- errors */

/* What to do about <err>, after the message itself. */
static const char *hint(const struct err *err)
{
    switch (err->code) {
    case ERR_NOTFOUND:
        return "check PROJECT, SERVICE and --env (and --workspace when the project is not "
               "in the active workspace: slipway whoami)";
    case ERR_UNAUTHENTICATED:
        return "the token may have expired or been revoked: run slipway login (or check "
               "--token / SLIPWAY_TOKEN)";
    case ERR_FORBIDDEN:
        return "check --token and --workspace (slipway whoami): you need to be a member of "
               "the workspace";
    case ERR_UNAVAILABLE:
    case ERR_TIMEOUT:
        return "is slipway running there? check --server (or SLIPWAY_SERVER, or slipway login "
               "URL)";
    case ERR_CONFLICT:
        return "it exists already, or something else is in the way: see the message";
    default:
        return NULL;
    }
}

int cli_fail(const struct cli_cmd *c, const struct err *err)
{
    const char *h = hint(err);

    fprintf(stderr, "slipway %s: ", c->name);
    cli_styled(stderr, CLI_RED, err->msg);
    fputc('\n', stderr);
    if (h != NULL)
        fprintf(stderr, "  (%s)\n", h);
    return 1;
}

/* ---------------------------------------------------------------- colour and JSON */

bool cli_color(FILE *f)
{
    const char *no = getenv("NO_COLOR");

    return (no == NULL || no[0] == '\0') && isatty(fileno(f));
}

void cli_styled(FILE *f, enum cli_style style, const char *text)
{
    static const char *const codes[] = {"1", "32", "31", "2"};

    if (cli_color(f))
        fprintf(f, "\033[%sm%s\033[0m", codes[style], text);
    else
        fputs(text, f);
}

void cli_json_print(const json_t *v)
{
    json_dumpf(v, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    putchar('\n');
    fflush(stdout);
}

/* ---------------------------------------------------------------- tables */

/* Display columns of <s>: its UTF-8 code points. */
static size_t width_of(const char *s)
{
    size_t n = 0;

    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

/* The bytes of <s> that make its first <cols> code points. */
static size_t bytes_of(const char *s, size_t cols)
{
    size_t i = 0;

    for (; s[i] && cols > 0; cols--)
        for (i++; ((unsigned char)s[i] & 0xC0) == 0x80; i++)
            ;
    return i;
}

static char *cell_dup(const char *s)
{
    size_t n = strlen(s);
    char *d = xmalloc(n + 1);

    for (size_t i = 0; i < n; i++) /* one line per row: control characters show as spaces */
        d[i] = (unsigned char)s[i] < 0x20 ? ' ' : s[i];
    d[n] = '\0';
    return d;
}

void cli_table_init(struct cli_table *t, size_t ncols, const char *const *header)
{
    *t = (struct cli_table){.ncols = ncols};
    cli_table_add(t, header);
}

void cli_table_add(struct cli_table *t, const char *const *row)
{
    if (t->nrows == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 8;
        t->cells = xrealloc(t->cells, t->cap * t->ncols * sizeof(*t->cells));
    }
    for (size_t i = 0; i < t->ncols; i++)
        t->cells[t->nrows * t->ncols + i] = cell_dup(row[i] ? row[i] : "-");
    t->nrows++;
}

/* Column widths that fit TABLE_WIDTH: the widest column gives way first. */
static void fit(const struct cli_table *t, size_t *w)
{
    size_t total = 0;

    for (size_t c = 0; c < t->ncols; c++) {
        w[c] = 0;
        for (size_t r = 0; r < t->nrows; r++)
            w[c] = MAXZ(w[c], width_of(t->cells[r * t->ncols + c]));
        total += w[c] + (c ? COLUMN_GAP : 0);
    }
    while (total > TABLE_WIDTH) {
        size_t widest = 0;
        for (size_t c = 1; c < t->ncols; c++)
            if (w[c] > w[widest])
                widest = c;
        if (w[widest] <= COLUMN_MIN)
            break;
        w[widest]--;
        total--;
    }
}

static void print_cell(FILE *f, const char *s, size_t w, bool last, bool head)
{
    size_t n = width_of(s);
    char cut[1024];

    if (n > w) {
        size_t b = MINZ(bytes_of(s, w - 1), sizeof(cut) - 4);
        snprintf(cut, sizeof(cut), "%.*s…", (int)b, s);
        s = cut;
        n = w;
    }
    if (head)
        cli_styled(f, CLI_BOLD, s);
    else
        fputs(s, f);
    if (!last)
        fprintf(f, "%*s", (int)(w - n + COLUMN_GAP), "");
}

void cli_table_print(struct cli_table *t, FILE *f)
{
    size_t *w = xmalloc(t->ncols * sizeof(*w));

    fit(t, w);
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t c = 0; c < t->ncols; c++)
            print_cell(f, t->cells[r * t->ncols + c], w[c], c + 1 == t->ncols, r == 0);
        fputc('\n', f);
    }
    fflush(f);
    free(w);
}

void cli_table_release(struct cli_table *t)
{
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    FREE_AND_NULL(t->cells);
    t->nrows = t->cap = 0;
}

/* ---------------------------------------------------------------- terminal input */

int cli_read_line(const char *prompt, bool secret, struct sbuf *out, struct err *err)
{
    struct termios old, quiet;
    bool tty = isatty(0), hidden = false;
    int ch;

    if (prompt != NULL && tty) {
        fputs(prompt, stderr);
        fflush(stderr);
    }
    if (secret && tty && tcgetattr(0, &old) == 0) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        hidden = tcsetattr(0, TCSAFLUSH, &quiet) == 0;
    }
    while ((ch = getchar()) != EOF && ch != '\n')
        sbuf_putc(out, (char)ch);
    if (hidden) {
        tcsetattr(0, TCSAFLUSH, &old);
        fputc('\n', stderr);
    }
    if (out->len > 0 && out->buf[out->len - 1] == '\r')
        out->buf[--out->len] = '\0';
    if (out->err != 0)
        return err_set(err, ERR_LIMIT, "the line read is too long");
    if (ch == EOF && out->len == 0)
        return err_set(err, ERR_INVALID, "nothing to read on standard input");
    return 0;
}

bool cli_confirm(const char *question)
{
    struct sbuf answer = SBUF_INIT(64);
    struct err err = {0};
    bool yes;

    if (!isatty(0))
        return false;
    fprintf(stderr, "%s [y/N] ", question);
    fflush(stderr);
    yes = cli_read_line(NULL, false, &answer, &err) == 0 &&
          (strcmp(answer.buf, "y") == 0 || strcmp(answer.buf, "yes") == 0 ||
           strcmp(answer.buf, "Y") == 0);
    sbuf_release(&answer);
    return yes;
}
