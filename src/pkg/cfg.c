/*
 * The packager.* configuration keys (slipway config keys lists them).
 */
#include "pkg/pkg-int.h"

static const struct cfg_key pkg_keys[] = {
    CFG_STR("packager.workload_domain", struct pkg_cfg, workload_domain, "localhost", 0,
            "Domain under which every service gets its platform domain "
            "<service>-<environment>-<project>.<domain>; the default, localhost, resolves "
            "without any DNS set-up."),
};

struct cfg_section pkg_cfg_section(struct pkg_cfg *target)
{
    return (struct cfg_section){"packager", pkg_keys, ARRAY_LEN(pkg_keys), target};
}
