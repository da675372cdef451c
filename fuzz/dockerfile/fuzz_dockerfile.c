/*
 * libFuzzer harness for a Dockerfile's EXPOSE and for DNS labels (src/bld/parse.c). Beyond
 * "no crash, no leak": the checks of fuzz/bld-check.h, a port in range and a valid label.
 */
#include "../bld-check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct err err = {0};
    char label[64];
    int port = -1, rc;

    fuzz_input = (struct slice){(const char *)data, size};
    rc = bld_dockerfile_port(fuzz_input, &port, &err);
    if (rc < 0)
        failed(rc, &err);
    else
        ASSERT(port >= 0 && port <= 65535);
    bld_dns_label(fuzz_input, label); /* names come from package files: any bytes */
    ASSERT(strlen(label) > 0 && strlen(label) <= 63 && label[0] != '-');
    return 0;
}
