/*
 * `slipway flow ls|show|log|cancel|retry`: the workflows of a running server, over its HTTP
 * API (/api/flows, docs/operations-flows.md), or, read-only, of a data directory's gateway
 * store.
 */
#ifndef SLIPWAY_CLI_FLOW_H
#define SLIPWAY_CLI_FLOW_H

#include "base/base.h"
#include "store/store.h"

/* Opens the gateway's store the way `serve` finds it, from configuration flags only
 * (--config, --data-dir, --store, --set) in <argv>; an existing store only, nothing created.
 * On success *out is the caller's (store_close()). main.c provides it: the configuration is
 * built there. */
typedef int cli_flow_open_fn(int argc, char **argv, struct store **out, struct err *err);

/* Runs `slipway flow <argv…>` (argv[0] is the subcommand). Returns the exit status: 0, 1 when
 * the server (or the store) refused, 2 for a usage error. */
int cli_flow_main(int argc, char **argv, cli_flow_open_fn *open_store);

/* The text of `slipway help flow`. */
extern const char cli_flow_usage[];

#endif
