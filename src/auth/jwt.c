/* JWT (RFC 7519) in JWS compact form (RFC 7515), ES256 only: access and internal tokens. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/auth.h"
#include "auth/auth-int.h"

#define HEADER_MAX  1024 /* decoded header bytes */
#define PAYLOAD_MAX ((AUTH_TOKEN_MAX_BYTES / 4) * 3)
#define KID_MAX     64
#define SKEW_MAX    300
#define TIME_MAX    (INT64_C(1) << 40) /* seconds: far beyond any real date, far from overflow */

struct jwt_parts {
    struct slice header, payload, sig, signed_part;
};

struct sign_arg {
    const struct auth_claims *c;
    struct sbuf *out;
};

struct verify_arg {
    struct slice signed_part;
    unsigned char sig[AUTH_ES256_SIG_LEN];
};

static int unauth(struct err *err, const char *msg)
{
    return err_set(err, ERR_UNAUTHENTICATED, "%s", msg);
}

/* ------------------------------------------------------------ signing */

static void put_claim(struct jw *w, const char *name, const char *v)
{
    if (v[0] == '\0')
        return;
    jw_key(w, name);
    jw_str(w, v);
}

static void payload_json(const struct auth_claims *c, struct sbuf *out)
{
    struct jw w;

    jw_init(&w, out);
    jw_obj_begin(&w);
    put_claim(&w, "iss", c->iss);
    put_claim(&w, "sub", c->sub);
    put_claim(&w, "aud", c->aud);
    jw_key(&w, "iat");
    jw_int(&w, c->iat);
    if (c->nbf != 0) {
        jw_key(&w, "nbf");
        jw_int(&w, c->nbf);
    }
    jw_key(&w, "exp");
    jw_int(&w, c->exp);
    put_claim(&w, "ws", c->ws);
    put_claim(&w, "sid", c->sid);
    put_claim(&w, "role", c->role);
    put_claim(&w, "name", c->name);
    put_claim(&w, "email", c->email);
    jw_obj_end(&w);
}

/* Runs under the keyring's read lock with the current key. */
static int sign_with(const struct auth_key *k, void *argp, struct err *err)
{
    struct sign_arg *arg = argp;
    struct sbuf json = SBUF_INIT(AUTH_TOKEN_MAX_BYTES), tok = SBUF_INIT(AUTH_TOKEN_MAX_BYTES);
    unsigned char sig[AUTH_ES256_SIG_LEN];
    int rc;

    sbuf_printf(&json, "{\"alg\":\"ES256\",\"typ\":\"JWT\",\"kid\":\"%s\"}", auth_key_kid(k));
    auth_b64url_encode(json.buf, json.len, &tok);
    sbuf_putc(&tok, '.');
    sbuf_reset(&json);
    payload_json(arg->c, &json);
    auth_b64url_encode(json.buf, json.len, &tok);
    if (json.err != 0 || tok.err != 0) {
        rc = err_set(err, ERR_LIMIT, "token: over %d bytes", AUTH_TOKEN_MAX_BYTES);
        goto done;
    }
    rc = auth_key_sign(k, tok.buf, tok.len, sig, err);
    if (rc < 0)
        goto done;
    sbuf_putc(&tok, '.');
    auth_b64url_encode(sig, sizeof(sig), &tok);
    sbuf_put_slice(arg->out, sbuf_slice(&tok));
    if (tok.err != 0 || arg->out->err != 0)
        rc = err_set(err, ERR_LIMIT, "token: does not fit the buffer");
done:
    sbuf_release(&json);
    sbuf_release(&tok);
    return rc;
}

static int check_claim_str(const char *v, const char *name, bool required, struct err *err)
{
    size_t n = strnlen(v, AUTH_CLAIM_MAX);

    if (n == AUTH_CLAIM_MAX)
        return err_set(err, ERR_INVALID, "claims.%s: not NUL-terminated", name);
    if (required && n == 0)
        return err_set(err, ERR_INVALID, "claims.%s: required", name);
    return 0;
}

static int jwt_sign(struct auth_keyring *r, const struct auth_claims *c, struct sbuf *out,
                    struct err *err)
{
    struct sign_arg arg = {c, out};
    int rc = check_claim_str(c->iss, "iss", true, err);
    if (rc == 0)
        rc = check_claim_str(c->sub, "sub", true, err);
    if (rc == 0)
        rc = check_claim_str(c->aud, "aud", true, err);
    if (rc == 0)
        rc = check_claim_str(c->ws, "ws", false, err);
    if (rc == 0)
        rc = check_claim_str(c->sid, "sid", false, err);
    if (rc == 0)
        rc = check_claim_str(c->role, "role", false, err);
    if (rc == 0)
        rc = check_claim_str(c->name, "name", false, err);
    if (rc == 0)
        rc = check_claim_str(c->email, "email", false, err);
    if (rc < 0)
        return rc;
    if (c->iat < 0 || c->exp <= c->iat || c->exp > TIME_MAX)
        return err_set(err, ERR_INVALID, "claims.exp: must follow iat");
    return auth_keyring_with_current(r, sign_with, &arg, err);
}

int auth_access_sign(struct auth_keyring *r, const struct auth_claims *c, int64_t now, int64_t ttl,
                     struct sbuf *out, struct err *err)
{
    struct auth_claims t = *c;

    if (strncmp(c->aud, AUTH_INTERNAL_AUD, AUTH_CLAIM_MAX) == 0)
        return err_set(err, ERR_INVALID, "claims.aud: reserved for internal tokens");
    t.iat = now;
    t.nbf = 0;
    t.exp = now + (ttl > 0 && ttl < TIME_MAX ? ttl : AUTH_ACCESS_TTL);
    return jwt_sign(r, &t, out, err);
}

int auth_internal_sign(struct auth_keyring *r, const struct auth_claims *c, int64_t now,
                       struct sbuf *out, struct err *err)
{
    struct auth_claims t = *c;
    int rc = check_claim_str(c->ws, "ws", true, err);

    if (rc == 0)
        rc = check_claim_str(c->role, "role", true, err);
    if (rc < 0)
        return rc;
    memcpy(t.aud, AUTH_INTERNAL_AUD, sizeof(AUTH_INTERNAL_AUD));
    t.iat = now;
    t.nbf = 0;
    t.exp = now + AUTH_INTERNAL_TTL;
    return jwt_sign(r, &t, out, err);
}

/* ------------------------------------------------------------ verification: structure */

/* Exactly three parts: header.payload.signature. */
static int split(struct slice token, struct jwt_parts *p, struct err *err)
{
    const char *d1 = memchr(token.ptr, '.', token.len), *d2;

    if (d1 == NULL)
        return unauth(err, "token is malformed");
    d2 = memchr(d1 + 1, '.', token.len - (size_t)(d1 + 1 - token.ptr));
    if (d2 == NULL || memchr(d2 + 1, '.', token.len - (size_t)(d2 + 1 - token.ptr)) != NULL)
        return unauth(err, "token is malformed");
    p->header = (struct slice){token.ptr, (size_t)(d1 - token.ptr)};
    p->payload = (struct slice){d1 + 1, (size_t)(d2 - d1 - 1)};
    p->sig = (struct slice){d2 + 1, token.len - (size_t)(d2 + 1 - token.ptr)};
    p->signed_part = (struct slice){token.ptr, (size_t)(d2 - token.ptr)};
    if (p->header.len == 0 || p->payload.len == 0)
        return unauth(err, "token is malformed");
    return 0;
}

/* Decodes one base64url part into <buf> and parses it as a JSON object into *out. */
static int decode_json(struct slice part, const char *what, unsigned char *buf, size_t cap,
                       json_t **out, struct err *err)
{
    json_error_t jerr;
    size_t len = 0;
    int rc = auth_b64url_decode(part, buf, cap, &len);

    *out = NULL;
    if (rc == ERR_LIMIT)
        return err_set(err, ERR_UNAUTHENTICATED, "token %s is too large", what);
    if (rc < 0)
        return err_set(err, ERR_UNAUTHENTICATED, "token %s is not base64url", what);
    *out = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (*out == NULL && json_error_code(&jerr) == json_error_duplicate_key)
        return err_set(err, ERR_UNAUTHENTICATED, "token %s has a duplicate key", what);
    if (*out == NULL)
        return err_set(err, ERR_UNAUTHENTICATED, "token %s is not JSON", what);
    if (!json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        return err_set(err, ERR_UNAUTHENTICATED, "token %s is not a JSON object", what);
    }
    return 0;
}

static int check_alg(const json_t *h, struct err *err)
{
    const json_t *alg = json_object_get(h, "alg");

    if (!json_is_string(alg))
        return unauth(err, "token has no algorithm");
    if (strcasecmp(json_string_value(alg), "none") == 0)
        return unauth(err, "algorithm none is not accepted");
    if (strcmp(json_string_value(alg), "ES256") != 0)
        return unauth(err, "algorithm is not accepted (only ES256)");
    return 0;
}

/* The header: alg ES256, typ JWT if any, no crit, no embedded keys, and a kid. */
static int check_header(const json_t *h, struct slice *kid, struct err *err)
{
    static const char *const refused[] = {"crit", "jwk", "jku", "x5u", "x5c"};
    const json_t *typ = json_object_get(h, "typ"), *k = json_object_get(h, "kid");
    int rc = check_alg(h, err);

    if (rc < 0)
        return rc;
    if (typ != NULL && !(json_is_string(typ) && strcmp(json_string_value(typ), "JWT") == 0))
        return unauth(err, "token type is not JWT");
    for (size_t i = 0; i < ARRAY_LEN(refused); i++)
        if (json_object_get(h, refused[i]) != NULL)
            return err_set(err, ERR_UNAUTHENTICATED, "token header %s is not accepted", refused[i]);
    if (!json_is_string(k) || json_string_length(k) == 0 || json_string_length(k) > KID_MAX)
        return unauth(err, "token has no valid key id");
    *kid = (struct slice){json_string_value(k), json_string_length(k)};
    return 0;
}

/* Runs under the keyring's read lock with the key the token names. */
static int verify_with(const struct auth_key *k, void *argp, struct err *err)
{
    struct verify_arg *arg = argp;

    if (!auth_key_verify(k, arg->signed_part.ptr, arg->signed_part.len, arg->sig))
        return unauth(err, "bad signature");
    return 0;
}

/* ------------------------------------------------------------ verification: claims */

static int get_str(const json_t *p, const char *name, bool required, char out[AUTH_CLAIM_MAX],
                   struct err *err)
{
    const json_t *v = json_object_get(p, name);

    if (v == NULL && !required)
        return 0;
    if (v == NULL)
        return err_set(err, ERR_UNAUTHENTICATED, "token lacks claim %s", name);
    if (!json_is_string(v))
        return err_set(err, ERR_UNAUTHENTICATED, "token claim %s is not a string", name);
    if (json_string_length(v) >= AUTH_CLAIM_MAX)
        return err_set(err, ERR_UNAUTHENTICATED, "token claim %s is too long", name);
    memcpy(out, json_string_value(v), json_string_length(v) + 1);
    return 0;
}

static int get_time(const json_t *p, const char *name, bool required, int64_t *out, struct err *err)
{
    const json_t *v = json_object_get(p, name);

    if (v == NULL && !required)
        return 0;
    if (v == NULL)
        return err_set(err, ERR_UNAUTHENTICATED, "token lacks claim %s", name);
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > TIME_MAX)
        return err_set(err, ERR_UNAUTHENTICATED, "token claim %s is not a valid time", name);
    *out = json_integer_value(v);
    return 0;
}

static int read_claims(const json_t *p, struct auth_claims *c, struct err *err)
{
    int rc = get_str(p, "iss", true, c->iss, err);

    if (rc == 0)
        rc = get_str(p, "sub", true, c->sub, err);
    if (rc == 0)
        rc = get_str(p, "aud", true, c->aud, err);
    if (rc == 0)
        rc = get_str(p, "ws", false, c->ws, err);
    if (rc == 0)
        rc = get_str(p, "sid", false, c->sid, err);
    if (rc == 0)
        rc = get_str(p, "role", false, c->role, err);
    if (rc == 0)
        rc = get_str(p, "name", false, c->name, err);
    if (rc == 0)
        rc = get_str(p, "email", false, c->email, err);
    if (rc == 0)
        rc = get_time(p, "iat", true, &c->iat, err);
    if (rc == 0)
        rc = get_time(p, "nbf", false, &c->nbf, err);
    if (rc == 0)
        rc = get_time(p, "exp", true, &c->exp, err);
    return rc;
}

static int check_claims(const struct auth_claims *c, const struct auth_verify_opts *o,
                        struct err *err)
{
    if (o->now > c->exp + o->skew)
        return unauth(err, "token expired");
    if (c->nbf > o->now + o->skew)
        return unauth(err, "token not yet valid");
    if (c->iat > o->now + o->skew)
        return unauth(err, "token issued in the future");
    if (c->exp < c->iat)
        return unauth(err, "token expires before it was issued");
    if (strcmp(c->iss, o->iss) != 0)
        return unauth(err, "wrong issuer");
    if (strcmp(c->aud, o->aud) != 0)
        return unauth(err, "wrong audience");
    return 0;
}

/* ------------------------------------------------------------ verification */

static int verify_sig(struct auth_keyring *r, const struct jwt_parts *p, struct slice kid,
                      int64_t now, struct err *err)
{
    struct verify_arg arg = {.signed_part = p->signed_part};
    size_t len = 0;

    if (auth_b64url_decode(p->sig, arg.sig, sizeof(arg.sig), &len) != 0 || len != sizeof(arg.sig))
        return unauth(err, "bad signature");
    return auth_keyring_with_kid(r, kid, now, verify_with, &arg, err);
}

static int jwt_verify(struct auth_keyring *r, struct slice token, const struct auth_verify_opts *o,
                      struct auth_claims *out, struct err *err)
{
    unsigned char hbuf[HEADER_MAX], *pbuf = NULL;
    json_t *header = NULL, *payload = NULL;
    struct jwt_parts p;
    struct slice kid;
    int rc;

    if (token.len == 0)
        return unauth(err, "token is empty");
    if (token.len > AUTH_TOKEN_MAX_BYTES)
        return unauth(err, "token is too long");
    rc = split(token, &p, err);
    if (rc == 0)
        rc = decode_json(p.header, "header", hbuf, sizeof(hbuf), &header, err);
    if (rc == 0)
        rc = check_header(header, &kid, err);
    if (rc == 0)
        rc = verify_sig(r, &p, kid, o->now, err);
    if (rc == 0) {
        pbuf = xmalloc(PAYLOAD_MAX);
        rc = decode_json(p.payload, "payload", pbuf, PAYLOAD_MAX, &payload, err);
    }
    if (rc == 0)
        rc = read_claims(payload, out, err);
    if (rc == 0)
        rc = check_claims(out, o, err);
    json_decref(header);
    json_decref(payload);
    free(pbuf);
    return rc;
}

static int check_opts(const struct auth_verify_opts *o, struct err *err)
{
    if (o->iss == NULL || o->iss[0] == '\0')
        return err_set(err, ERR_INVALID, "opts.iss: required");
    if (o->aud == NULL || o->aud[0] == '\0')
        return err_set(err, ERR_INVALID, "opts.aud: required");
    if (o->skew < 0 || o->skew > SKEW_MAX)
        return err_set(err, ERR_INVALID, "opts.skew: must be 0..%d seconds", SKEW_MAX);
    if (o->now < 0 || o->now > TIME_MAX)
        return err_set(err, ERR_INVALID, "opts.now: out of range");
    return 0;
}

int auth_access_verify(struct auth_keyring *r, struct slice token,
                       const struct auth_verify_opts *opts, struct auth_claims *out,
                       struct err *err)
{
    int rc = check_opts(opts, err);

    memset(out, 0, sizeof(*out));
    if (rc < 0)
        return rc;
    if (strcmp(opts->aud, AUTH_INTERNAL_AUD) == 0)
        return err_set(err, ERR_INVALID, "opts.aud: reserved for internal tokens");
    rc = jwt_verify(r, token, opts, out, err);
    if (rc < 0)
        memset(out, 0, sizeof(*out));
    return rc;
}

int auth_internal_verify(struct auth_keyring *r, struct slice token, const char *iss, int64_t now,
                         int64_t skew, struct auth_claims *out, struct err *err)
{
    struct auth_verify_opts o = {.iss = iss, .aud = AUTH_INTERNAL_AUD, .now = now, .skew = skew};
    int rc = check_opts(&o, err);

    memset(out, 0, sizeof(*out));
    if (rc == 0)
        rc = jwt_verify(r, token, &o, out, err);
    if (rc == 0 && out->exp - out->iat > AUTH_INTERNAL_TTL)
        rc = unauth(err, "internal token lives too long");
    if (rc == 0 && (out->ws[0] == '\0' || out->role[0] == '\0'))
        rc = unauth(err, "internal token lacks ws or role");
    if (rc < 0)
        memset(out, 0, sizeof(*out));
    return rc;
}
