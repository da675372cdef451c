/*
 * Checks shared by the fuzz harnesses of the builder's parsers (fuzz/procfile, requirements,
 * pyproject, gomod, nvmrc, dockerfile): every slice a parser hands back lies inside its input,
 * and a failure carries its code and a message.
 */
#ifndef SLIPWAY_FUZZ_BLD_CHECK_H
#define SLIPWAY_FUZZ_BLD_CHECK_H

#include <stdint.h>

#include "base/base.h"
#include "bld/bld-int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct slice fuzz_input;

static inline void inside(struct slice s)
{
    if (s.len == 0)
        return;
    ASSERT(s.ptr >= fuzz_input.ptr && s.ptr + s.len <= fuzz_input.ptr + fuzz_input.len);
}

static inline void failed(int rc, const struct err *err)
{
    ASSERT(rc < 0 && err->code == rc && err->msg[0] != '\0');
}

/* A bld_name_fn counting the names in *arg. */
static inline void seen(void *arg, struct slice name, struct slice value)
{
    size_t *count = arg;

    inside(name);
    inside(value);
    ++*count;
}

#endif
