/*
 * oci-tool: the registry client (oci_push, oci_pull) from the command line, for the
 * interoperability test and bench/registry.sh.
 *
 *   oci-tool push [opts] LAYOUT_DIR SRC DEST_REF   SRC: a tag or digest of the layout, or "-"
 *   oci-tool pull [opts] SRC_REF LAYOUT_DIR
 *
 *   --user NAME         user name for Basic or the token service
 *   --from REPO         push: try a cross-repository mount from REPO first
 *   --chunk BYTES       push: blobs over BYTES go up in PATCH chunks of that size
 *
 * The password (OCI_PASSWORD) or bearer token (OCI_TOKEN) comes from the environment so it
 * never shows in a process list. Prints the manifest digest on stdout (push also prints its
 * statistics as JSON on stderr); on failure the error message on stderr and exit status 1.
 * Plain http is allowed to 127.0.0.1 and localhost only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "oci/oci.h"

static int usage(void)
{
    fprintf(stderr, "usage: oci-tool push [--user U] [--from REPO] [--chunk BYTES] LAYOUT SRC "
                    "DEST_REF\n       oci-tool pull [--user U] SRC_REF LAYOUT\n");
    return 2;
}

struct args {
    const char *cmd, *user, *from;
    uint64_t chunk;
    const char *pos[3];
    int npos;
};

static int parse_args(int argc, char **argv, struct args *a)
{
    if (argc < 2)
        return -1;
    a->cmd = argv[1];
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--user") == 0 && i + 1 < argc)
            a->user = argv[++i];
        else if (strcmp(argv[i], "--from") == 0 && i + 1 < argc)
            a->from = argv[++i];
        else if (strcmp(argv[i], "--chunk") == 0 && i + 1 < argc) {
            if (slice_to_u64(slice_from_cstr(argv[++i]), &a->chunk) < 0)
                return -1;
        } else if (a->npos < 3)
            a->pos[a->npos++] = argv[i];
        else
            return -1;
    }
    return 0;
}

static int run(struct oci_client *c, const struct args *a, struct err *err)
{
    char digest[OCI_DIGEST_SIZE] = "";
    struct oci_push_stats st;
    struct oci_ref ref;
    int rc;

    if (strcmp(a->cmd, "push") == 0 && a->npos == 3) {
        rc = oci_ref_parse(slice_from_cstr(a->pos[2]), &ref, err);
        if (rc == 0)
            rc = oci_push(c, a->pos[0], strcmp(a->pos[1], "-") == 0 ? NULL : a->pos[1], &ref,
                          a->from, digest, &st, err);
        if (rc == 0)
            fprintf(stderr,
                    "{\"uploaded\":%" PRIu64 ",\"present\":%" PRIu64 ",\"mounted\":%" PRIu64
                    ",\"bytes\":%" PRIu64 ",\"manifests\":%" PRIu64 "}\n",
                    st.blobs_uploaded, st.blobs_present, st.blobs_mounted, st.bytes_uploaded,
                    st.manifests);
    } else if (strcmp(a->cmd, "pull") == 0 && a->npos == 2) {
        rc = oci_ref_parse(slice_from_cstr(a->pos[0]), &ref, err);
        if (rc == 0)
            rc = oci_pull(c, &ref, a->pos[1], digest, err);
    } else {
        return 2;
    }
    if (rc == 0)
        printf("%s\n", digest);
    return rc;
}

int main(int argc, char **argv)
{
    struct args a = {0};
    struct oci_client *c = NULL;
    struct err err = {0};
    int rc;

    if (parse_args(argc, argv, &a) < 0)
        return usage();
    rc = oci_client_new(&(struct oci_client_opts){.username = a.user,
                                                  .password = getenv("OCI_PASSWORD"),
                                                  .token = getenv("OCI_TOKEN"),
                                                  .insecure_loopback = true,
                                                  .chunk_bytes = a.chunk},
                        &c, &err);
    if (rc == 0)
        rc = run(c, &a, &err);
    oci_client_free(c);
    if (rc == 2)
        return usage();
    if (rc < 0) {
        fprintf(stderr, "oci-tool: %s\n", err.msg);
        return 1;
    }
    return 0;
}
