/*
 * libFuzzer harness for go.mod (src/bld/parse.c). Beyond "no crash, no leak": the checks of
 * fuzz/bld-check.h.
 */
#include "../bld-check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct bld_gomod out;
    struct err err = {0};
    size_t count = 0;
    int rc;

    fuzz_input = (struct slice){(const char *)data, size};
    rc = bld_gomod_parse(fuzz_input, &out, seen, &count, &err);
    if (rc < 0) {
        ASSERT(rc == ERR_INVALID);
        failed(rc, &err);
        return 0;
    }
    ASSERT(out.module.len > 0);
    inside(out.module);
    inside(out.go_version);
    inside(out.toolchain);
    return 0;
}
