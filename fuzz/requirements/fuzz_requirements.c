/*
 * libFuzzer harness for requirements.txt (src/bld/parse.c). Beyond "no crash, no leak": the checks
 * of fuzz/bld-check.h.
 */
#include "../bld-check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct err err = {0};
    size_t count = 0;

    fuzz_input = (struct slice){(const char *)data, size};
    ASSERT(bld_requirements_parse(fuzz_input, seen, &count, &err) ==
           0); /* it skips what it cannot read */
    ASSERT(count <= size);
    return 0;
}
