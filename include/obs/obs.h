/*
 * obs: what every slipway process serves about itself: /healthz (alive), /readyz (each
 * registered dependency check) and /metrics (Prometheus text).
 */
#ifndef SLIPWAY_OBS_H
#define SLIPWAY_OBS_H

#include "base/base.h"
#include "http/http.h"

/* A dependency check; runs on a worker thread and may block (up to its own timeout).
 * Returns 0 when the dependency works, or an error saying what is wrong. */
typedef int obs_check_fn(void *arg, struct err *err);

struct obs;
/* <m> and <workers> are borrowed and must outlive the obs. */
struct obs *obs_new(struct metrics *m, struct pool *workers);
void obs_free(struct obs *o);
/* Registers a readiness check named <name> (copied). Before obs_routes_add(). */
void obs_check_add(struct obs *o, const char *name, obs_check_fn *fn, void *arg);
/* Adds GET /healthz, /readyz and /metrics to <r>. */
int obs_routes_add(struct obs *o, struct http_router *r, struct err *err) APP_MUST_CHECK;
/* A check that <dir> exists and takes a durable write (create, fsync, remove a probe file). */
int obs_check_dir_writable(void *dir, struct err *err);
/* Adds slipway_build_info{version,commit} = 1 to <m>. */
void obs_build_info(struct metrics *m, const char *version, const char *commit);

#endif
