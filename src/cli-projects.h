/*
 * The client commands on projects, environments, services, deploys, variables, scaling and
 * domains (cli-projects.c), and the table of every client command main.c dispatches to.
 */
#ifndef SLIPWAY_CLI_PROJECTS_H
#define SLIPWAY_CLI_PROJECTS_H

#include "base/base.h"

/* A `slipway <name> …` command run against a slipway server. */
struct cli_command {
    const char *name;
    int (*main)(int argc, char **argv); /* argv after the command's name */
    const char *usage;                  /* `slipway help <name>` */
};

/* The client command called <name>, or NULL. */
const struct cli_command *cli_command_find(const char *name);

/* scripts/completion/slipway.bash and slipway.zsh, compiled in (scripts/embed). */
extern const struct embedded_file cli_completion_files[];
extern const size_t cli_completion_nfiles;

#endif
