/*
 * `slipway deploy PROJECT SERVICE` and `slipway logs PROJECT SERVICE`: a deploy followed to
 * its end, and a service's output, from a running slipway over its GraphQL API.
 */
#ifndef SLIPWAY_CLI_DEPLOY_H
#define SLIPWAY_CLI_DEPLOY_H

#include "cli-client.h"

/* Runs `slipway deploy <argv…>`. Exit status: 0 SUCCEEDED, 1 FAILED or refused, 2 CANCELLED
 * or a usage error. */
int cli_deploy_main(int argc, char **argv);
/* Follows deploy <id> on <s> to its end as `slipway deploy` does: phases, log (or JSON lines
 * with <json>), Ctrl-C cancels. Returns the exit status: 0 SUCCEEDED, 1 FAILED or refused,
 * 2 CANCELLED. */
int cli_deploy_follow(const struct cli_server *s, const char *id, bool json);
/* Runs `slipway logs <argv…>`. Exit status: 0, 1 refused or failed, 2 a usage error. */
int cli_logs_main(int argc, char **argv);

/* The texts of `slipway help deploy` and `slipway help logs`. */
extern const char cli_deploy_usage[];
extern const char cli_logs_usage[];

#endif
