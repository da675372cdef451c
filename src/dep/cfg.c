/*
 * The deployer.* configuration keys.
 */
#include <stdlib.h>

#include "dep/dep-int.h"

static const struct cfg_key dep_keys[] = {
    CFG_INT("deployer.port_min", struct dep_cfg, port_min, 20000, 1024, 65535, 0,
            "Lowest host port given to a replica as PORT."),
    CFG_INT("deployer.port_max", struct dep_cfg, port_max, 29999, 1024, 65535, 0,
            "Highest host port given to a replica as PORT."),
    CFG_DURATION("deployer.ready_timeout", struct dep_cfg, ready_timeout_ms, 60000, 100, 3600000,
                 CFG_RELOAD, "A new replica must answer HTTP below 500 within this."),
    CFG_DURATION("deployer.drain", struct dep_cfg, drain_ms, 2000, 0, 600000, CFG_RELOAD,
                 "How long old replicas keep serving after the routes switched to the new ones."),
    CFG_DURATION("deployer.stop_grace", struct dep_cfg, stop_grace_ms, 10000, 0, 600000, CFG_RELOAD,
                 "After SIGTERM, how long a replica may take before SIGKILL."),
    CFG_DURATION("deployer.backoff_max", struct dep_cfg, backoff_max_ms, 60000, 1000, 3600000,
                 CFG_RELOAD, "Crash restarts wait 1 s, doubling each time up to this."),
    CFG_SIZE("deployer.log_max_bytes", struct dep_cfg, log_max_bytes, 8 << 20, 4096, 1 << 30, 0,
             "One replica log file is rotated past this size (3 rotated files are kept)."),
    CFG_DURATION("deployer.usage_interval", struct dep_cfg, usage_interval_ms, 60000, 100, 3600000,
                 CFG_RELOAD,
                 "How often each replica's CPU and memory use is recorded for billing."),
};

struct cfg_section dep_cfg_section(struct dep_cfg *target)
{
    return (struct cfg_section){"deployer", dep_keys, ARRAY_LEN(dep_keys), target};
}

void dep_cfg_defaults(struct dep_cfg *c)
{
    for (size_t i = 0; i < ARRAY_LEN(dep_keys); i++)
        *(int64_t *)(void *)((char *)c + dep_keys[i].offset) = dep_keys[i].def_int;
}

const char *dep_health_name(enum dep_health h)
{
    switch (h) {
    case DEP_SYNCED:
        return "SYNCED";
    case DEP_PROGRESSING:
        return "PROGRESSING";
    case DEP_DEGRADED:
        return "DEGRADED";
    case DEP_UNKNOWN:
        break;
    }
    return "UNKNOWN";
}
