/*
 * gateway: API, identity, sessions, workspaces.
 */
#ifndef SLIPWAY_GATEWAY_H
#define SLIPWAY_GATEWAY_H

#endif
