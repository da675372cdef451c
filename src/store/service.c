/* Which database a service gets: its own SQLite file, or its own PostgreSQL database and
 * role, provisioned on first use. */
#include <openssl/evp.h>
#include <stdio.h>

#include "store-int.h"

bool store_service_valid(const char *name)
{
    size_t n = strlen(name);

    if (n == 0 || n > 63 || name[0] < 'a' || name[0] > 'z')
        return false;
    for (size_t i = 1; i < n; i++) {
        char c = name[i];

        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return false;
    }
    return true;
}

/* The service's PostgreSQL password: hex of HMAC-SHA256(secret, "store:" service). */
static int derive_password(const unsigned char *secret, size_t secret_len, const char *service,
                           char out[65], struct err *err)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char mac[32];
    char msg[80];
    size_t maclen = 0;

    snprintf(msg, sizeof(msg), "store:%s", service);
    if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, secret, secret_len,
                  (const unsigned char *)msg, strlen(msg), mac, sizeof(mac), &maclen) == NULL ||
        maclen != sizeof(mac))
        return err_set(err, ERR_INTERNAL, "store: cannot derive the %s password", service);
    for (size_t i = 0; i < sizeof(mac); i++) {
        out[2 * i] = hex[mac[i] >> 4];
        out[2 * i + 1] = hex[mac[i] & 15];
    }
    out[64] = '\0';
    return 0;
}

static int open_postgres(const char *admin_url, const char *service, const unsigned char *secret,
                         size_t secret_len, struct store **out, struct err *err)
{
    struct sbuf url = SBUF_INIT(4096);
    char password[65];
    int rc = derive_password(secret, secret_len, service, password, err);

    if (rc == 0)
        rc = store_pg_provision(admin_url, service, password, &url, err);
    if (rc == 0)
        rc = store_open(&(struct store_opts){.url = url.buf, .service = service}, out, err);
    sbuf_release(&url);
    return rc;
}

int store_open_service(const char *base, const char *data_dir, const char *service,
                       const unsigned char *secret, size_t secret_len, struct store **out,
                       struct err *err)
{
    struct sbuf url = SBUF_INIT(4096);
    int rc;

    if (!store_service_valid(service))
        return err_set(err, ERR_INVALID, "service: must match ^[a-z][a-z0-9_]{0,62}$");
    if (strncmp(base, "postgres://", 11) == 0 || strncmp(base, "postgresql://", 13) == 0)
        return open_postgres(base, service, secret, secret_len, out, err);
    if (base[0] != '\0' && strcmp(base, "sqlite") != 0)
        return err_set(err, ERR_INVALID,
                       "core.store: must be \"sqlite\" or a postgres:// URL of an administrator");
    sbuf_printf(&url, "sqlite:%s/%s.db", data_dir, service);
    rc = url.err ? err_set(err, ERR_INVALID, "core.data_dir: path too long")
                 : store_open(&(struct store_opts){.url = url.buf, .service = service}, out, err);
    sbuf_release(&url);
    return rc;
}

int store_ping(struct store *s, struct err *err)
{
    struct arena *a = arena_new(&(struct arena_opts){.budget = 64u << 10});
    struct store_rows *rows = NULL;
    int rc = store_query1(s, a, "SELECT 1", NULL, 0, &rows, err);

    arena_free(a);
    return rc;
}
