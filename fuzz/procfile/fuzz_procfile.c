/*
 * libFuzzer harness for Procfile and Staticfile lines (src/bld/parse.c). Beyond "no crash, no
 * leak": every slice it hands back lies inside the input, and a failure carries a code and a
 * message.
 */
#include "../bld-check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct slice name = SLICE_NULL, cmd = SLICE_NULL;
    struct err err = {0};
    size_t count = 0;
    int rc;

    fuzz_input = (struct slice){(const char *)data, size};
    rc = bld_colon_lines_parse(fuzz_input, seen, &count, &err);
    if (rc < 0)
        failed(rc, &err);
    rc = bld_procfile_pick(fuzz_input, &name, &cmd, &err);
    if (rc < 0) {
        failed(rc, &err);
        return 0;
    }
    ASSERT(count > 0 && cmd.len > 0);
    if (name.ptr != NULL && !slice_eq_cstr(name, "web") && !slice_eq_cstr(name, "worker"))
        inside(name);
    inside(cmd);
    return 0;
}
