/*
 * What every `slipway` client command shares besides the HTTP client: its arguments (the
 * common --server/--token/--workspace/--json and its own options), its output (tables that fit
 * 80 columns, JSON for scripts, colour only on a terminal without NO_COLOR) and its errors
 * (the message, then what to do next; exit status 1, or 2 for a usage error).
 */
#ifndef SLIPWAY_CLI_OUT_H
#define SLIPWAY_CLI_OUT_H

#include <jansson.h>
#include <stdio.h>

#include "base/base.h"
#include "cli-client.h"

#define CLI_POS_MAX 16

/* One of a command's own options: a value (--env ENV) or a flag (--yes). */
struct cli_opt {
    const char *name;  /* "--env" */
    const char *alias; /* "-e", or NULL */
    const char **value;
    bool *flag;
};

/* A command being run: filled by cli_cmd_parse(). */
struct cli_cmd {
    const char *name; /* "vars set": messages say "slipway vars set: …" */
    const char *help; /* the help topic: "vars" */
    struct cli_server s;
    bool json;
    const char *pos[CLI_POS_MAX]; /* the positional arguments, in order */
    size_t npos;
};

/* Fills <c> from argv: <opts> (ending with a {NULL}), then --server, --token, --workspace and
 * --json, then positional arguments ("--" ends the options). 0, or 2 after a usage message. */
int cli_cmd_parse(struct cli_cmd *c, const struct cli_opt *opts, int argc, char **argv);

/* Prints "slipway <cmd>: <message>" and where the help is; returns 2 (the usage exit status). */
int cli_usage(const struct cli_cmd *c, const char *fmt, ...) APP_PRINTF(2, 3);

/* Prints <err> and, on a line below, what to do about it; returns 1. */
int cli_fail(const struct cli_cmd *c, const struct err *err);

/* A name the API takes (project, environment, service): 0, or 2 after a usage message saying
 * which argument is wrong. */
int cli_check_slug(const struct cli_cmd *c, const char *what, const char *value);

/* Whether <f> gets colours: a terminal, and NO_COLOR unset or empty. */
bool cli_color(FILE *f);
/* <text> in bold (or green, red, dim) on <f> when cli_color(f), else as it is. */
enum cli_style { CLI_BOLD, CLI_GREEN, CLI_RED, CLI_DIM };
void cli_styled(FILE *f, enum cli_style style, const char *text);

/* <v> as indented JSON on standard output, one document. */
void cli_json_print(const json_t *v);

/* A table for people: a header row, then rows of cells, printed so that it fits 80 columns
 * (the widest columns are cut, a cut cell ends with "…"). Cells are copied. */
struct cli_table {
    size_t ncols, nrows, cap;
    char **cells; /* row-major; row 0 is the header */
};
void cli_table_init(struct cli_table *t, size_t ncols, const char *const *header);
void cli_table_add(struct cli_table *t, const char *const *row); /* NULL cells print "-" */
void cli_table_print(struct cli_table *t, FILE *f);
void cli_table_release(struct cli_table *t);

/* Asks <question> [y/N] on the terminal; true for y or yes. False, without asking, when
 * standard input is not a terminal. */
bool cli_confirm(const char *question);

/* Reads one line (without its end) into <out> from standard input; with <secret> on a
 * terminal, without echo (prompt on standard error first when not NULL). */
int cli_read_line(const char *prompt, bool secret, struct sbuf *out,
                  struct err *err) APP_MUST_CHECK;

#endif
