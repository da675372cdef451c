/*
 * `slipway eject PROJECT`: a project's eject archive from a running slipway, to a file.
 */
#ifndef SLIPWAY_CLI_EJECT_H
#define SLIPWAY_CLI_EJECT_H

/* Runs `slipway eject <argv…>`. Returns the exit status: 0, 1 refused or failed, 2 usage. */
int cli_eject_main(int argc, char **argv);

/* The text of `slipway help eject`. */
extern const char cli_eject_usage[];

#endif
