/*
 * `slipway login`, `logout`, `whoami` and `workspace`: the credentials the client commands
 * use, kept in $XDG_CONFIG_HOME/slipway/config (else ~/.config/slipway/config).
 */
#ifndef SLIPWAY_CLI_AUTH_H
#define SLIPWAY_CLI_AUTH_H

#include "cli-out.h"

/* Completes c->s after the flags: SLIPWAY_SERVER, SLIPWAY_TOKEN and SLIPWAY_WORKSPACE, then the
 * stored login (its token and workspace only for its own server). 0, or 2 after saying how to
 * log in when there is no server or no token. */
int cli_auth_connect(struct cli_cmd *c);

int cli_login_main(int argc, char **argv);
int cli_logout_main(int argc, char **argv);
int cli_whoami_main(int argc, char **argv);
int cli_workspace_main(int argc, char **argv);

extern const char cli_login_usage[];
extern const char cli_logout_usage[];
extern const char cli_whoami_usage[];
extern const char cli_workspace_usage[];

#endif
