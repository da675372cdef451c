/*
 * pkg render: Kubernetes manifests of one environment from its values (see pkg-int.h).
 *
 * Each manifest is first built as a jansson object (json_pack keeps the keys in the order they
 * are packed, which is the order they are written), then written as block YAML. Manifests are
 * collected by file path and written sorted, so the output is a pure function of the values.
 */
#include <ctype.h>
#include <jansson.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/base.h"
#include "pkg/pkg-int.h"

#define GATEWAY_NAME "slipway"
#define GATEWAY_NS   "slipway-system"
#define RUN_AS_UID   10001
#define FILE_MAX     (4u << 20)

struct render {
    const json_t *base, *env;
    const struct pkg_render_ctx *c;
    char ns[64];
    json_t *docs;    /* path under manifests/ -> manifest */
    json_t *config;  /* ConfigMap data: "<service>.<VAR>" -> literal */
    json_t *secrets; /* SealedSecret encryptedData: "<service>.<VAR>" -> "enc:v1:…" */
    char config_name[80], secret_name[80];
    struct err *err;
};

/* ------------------------------------------------------------------ helpers */

static const char *str_at(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key)); /* NULL when absent or not a string */
}

static int64_t int_at(const json_t *obj, const char *key, int64_t dflt)
{
    const json_t *v = json_object_get(obj, key);

    return json_is_integer(v) ? (int64_t)json_integer_value(v) : dflt;
}

/* Files that json_pack could not build: only a bad format (our bug) or no memory. */
static int built(struct render *r, json_t *doc, const char *file)
{
    if (doc == NULL)
        return err_set(r->err, ERR_INTERNAL, "render: cannot build %s", file);
    if (json_object_set_new(r->docs, file, doc) != 0)
        return err_set(r->err, ERR_INTERNAL, "render: cannot keep %s", file);
    return 0;
}

static json_t *labels(const struct render *r, const char *name)
{
    return json_pack("{s:s, s:s, s:s}", "app.kubernetes.io/name", name, "app.kubernetes.io/part-of",
                     r->c->project_slug, "app.kubernetes.io/managed-by", "slipway");
}

static json_t *selector(const struct render *r, const char *name)
{
    return json_pack("{s:s, s:s}", "app.kubernetes.io/name", name, "app.kubernetes.io/part-of",
                     r->c->project_slug);
}

static json_t *metadata(const struct render *r, const char *name)
{
    return json_pack("{s:s, s:o}", "name", name, "labels", labels(r, name));
}

static char *file_name(const char *kind, const char *name, char *buf, size_t size)
{
    snprintf(buf, size, "%s-%s.yaml", kind, name);
    return buf;
}

/* ------------------------------------------------------------------ variables */

static json_t *key_ref(const char *ref_kind, const char *name, const char *key)
{
    return json_pack("{s:{s:s, s:s}}", ref_kind, "name", name, "key", key);
}

/* The value of a {service: <name>, field: …} reference, as the caller's pods reach it. */
static int service_ref(struct render *r, const char *var, const json_t *v, char *out, size_t size)
{
    const char *svc = str_at(v, "service"), *field = str_at(v, "field");

    if (json_object_get(json_object_get(r->base, "services"), svc) == NULL)
        return err_set(r->err, ERR_INVALID, "%s: service %s does not exist", var, svc);
    if (strcmp(field, "host") == 0)
        snprintf(out, size, "%s", svc);
    else if (strcmp(field, "port") == 0)
        snprintf(out, size, "80");
    else
        snprintf(out, size, "http://%s:80", svc);
    return 0;
}

/* One "env" entry of a container for variable <name> of service <svc>, whose form is <v>
 * (<where> names it in errors). Literals go to the ConfigMap and secrets to the
 * SealedSecret, both under "<svc>.<name>"; <h> hashes what the pods see, so that a change
 * rolls them. */
static json_t *env_entry(struct render *r, const char *svc, const char *name, const json_t *v,
                         const char *where, crypto_generichash_state *h)
{
    char key[200], lit[300];
    const char *text = NULL;

    snprintf(key, sizeof(key), "%s.%s", svc, name);
    if (json_is_string(v)) {
        text = json_string_value(v);
    } else if (str_at(v, "secret") != NULL) {
        json_object_set(r->secrets, key, json_object_get(v, "secret"));
        if (h)
            crypto_generichash_update(h, (const unsigned char *)str_at(v, "secret"),
                                      strlen(str_at(v, "secret")) + 1);
        return json_pack("{s:s, s:o}", "name", name, "valueFrom",
                         key_ref("secretKeyRef", r->secret_name, key));
    } else if (str_at(v, "shared") != NULL) {
        const char *sh = str_at(v, "shared");
        const json_t *sv = json_object_get(json_object_get(r->env, "sharedVariables"), sh);

        if (sv == NULL || str_at(sv, "shared") != NULL) {
            err_set(r->err, ERR_INVALID, "%s: shared variable %s %s", where, sh,
                    sv == NULL ? "does not exist" : "refers to another shared variable");
            return NULL;
        }
        return env_entry(r, svc, name, sv, where, h);
    } else if (str_at(v, "database") != NULL) {
        const char *db = str_at(v, "database");
        char secret[64];

        if (json_object_get(json_object_get(r->base, "databases"), db) == NULL) {
            err_set(r->err, ERR_INVALID, "%s: database %s does not exist", where, db);
            return NULL;
        }
        snprintf(secret, sizeof(secret), "%s-credentials", db);
        return json_pack("{s:s, s:o}", "name", name, "valueFrom",
                         key_ref("secretKeyRef", secret, str_at(v, "field")));
    } else {
        if (service_ref(r, where, v, lit, sizeof(lit)) < 0)
            return NULL;
        text = lit;
    }
    json_object_set_new(r->config, key, json_string(text));
    if (h) {
        crypto_generichash_update(h, (const unsigned char *)key, strlen(key) + 1);
        crypto_generichash_update(h, (const unsigned char *)text, strlen(text) + 1);
    }
    return json_pack("{s:s, s:o}", "name", name, "valueFrom",
                     key_ref("configMapKeyRef", r->config_name, key));
}

/* The container's env list for service <svc>; *hash_hex gets a short digest of its values. */
static json_t *env_list(struct render *r, const char *svc, const json_t *esvc, char hash_hex[17])
{
    json_t *list = json_array(), *v, *e;
    const char *name;
    crypto_generichash_state h;
    unsigned char d[8];
    char where[200];

    crypto_generichash_init(&h, NULL, 0, sizeof(d));
    json_object_foreach(json_object_get(esvc, "variables"), name, v)
    {
        snprintf(where, sizeof(where), "services.%s.variables.%s", svc, name);
        e = env_entry(r, svc, name, v, where, &h);
        if (e == NULL) {
            json_decref(list);
            return NULL;
        }
        json_array_append_new(list, e);
    }
    crypto_generichash_final(&h, d, sizeof(d));
    sodium_bin2hex(hash_hex, 17, d, sizeof(d));
    return list;
}

/* ------------------------------------------------------------------ one service */

struct svc {
    const char *name;
    const json_t *b, *e; /* base and environment entries */
    const char *image;   /* "<repository>@<digest>" */
    int64_t port;
    bool suspended;
    const json_t *autoscaling; /* NULL when not set or suspended */
    int64_t replicas;
};

/* The tiers' amounts. Reads parse these same strings (pkg_quantity_parse), so the numbers
 * they report are what the manifests ask for. */
static const struct {
    const char *tier, *cpu, *memory;
} tiers[] = {{"small", "250m", "256Mi"}, {"medium", "500m", "512Mi"}, {"large", "1", "1Gi"}};

void pkg_resources_pick(const json_t *esvc, const json_t *env_res, struct pkg_resources *out)
{
    const json_t *res = json_object_get(esvc, "resources");
    const char *tier = str_at(res, "tier");

    *out = (struct pkg_resources){
        .tier = tiers[0].tier, .cpu = tiers[0].cpu, .memory = tiers[0].memory};
    if (res == NULL && json_is_object(env_res)) {
        /* The environment's default, for services that set none of their own. */
        snprintf(out->buf[0], sizeof(out->buf[0]), "%" PRId64 "m",
                 int_at(env_res, "cpuMillicores", 250));
        snprintf(out->buf[1], sizeof(out->buf[1]), "%" PRId64 "Mi",
                 int_at(env_res, "memoryMB", 256));
        out->tier = str_at(env_res, "tier") ? str_at(env_res, "tier") : "custom";
        out->cpu = out->buf[0];
        out->memory = out->buf[1];
        return;
    }
    for (size_t i = 0; i < ARRAY_LEN(tiers); i++)
        if (tier != NULL && strcmp(tier, tiers[i].tier) == 0)
            *out = (struct pkg_resources){
                .tier = tiers[i].tier, .cpu = tiers[i].cpu, .memory = tiers[i].memory};
    if (tier != NULL && strcmp(tier, "custom") == 0)
        *out = (struct pkg_resources){
            .tier = "custom", .cpu = str_at(res, "cpu"), .memory = str_at(res, "memory")};
}

static json_t *resources(const json_t *esvc, const json_t *env_res)
{
    struct pkg_resources res;
    json_t *amount = json_object();

    pkg_resources_pick(esvc, env_res, &res);
    if (res.cpu)
        json_object_set_new(amount, "cpu", json_string(res.cpu));
    if (res.memory)
        json_object_set_new(amount, "memory", json_string(res.memory));
    return json_pack("{s:O, s:o}", "requests", amount, "limits", amount);
}

static json_t *probe(const struct svc *s, int64_t delay, int64_t period)
{
    const char *path = str_at(s->b, "healthCheckPath");
    json_t *p = path ? json_pack("{s:{s:s, s:s}}", "httpGet", "path", path, "port", "http")
                     : json_pack("{s:{s:s}}", "tcpSocket", "port", "http");

    json_object_set_new(p, "initialDelaySeconds", json_integer(delay));
    json_object_set_new(p, "periodSeconds", json_integer(period));
    json_object_set_new(p, "failureThreshold", json_integer(3));
    return p;
}

static json_t *security(void)
{
    return json_pack("{s:b, s:b, s:b, s:{s:[s]}}", "runAsNonRoot", 1, "allowPrivilegeEscalation", 0,
                     "readOnlyRootFilesystem", 1, "capabilities", "drop", "ALL");
}

static json_t *pod_security(void)
{
    return json_pack("{s:b, s:i, s:i, s:i, s:{s:s}}", "runAsNonRoot", 1, "runAsUser", RUN_AS_UID,
                     "runAsGroup", RUN_AS_UID, "fsGroup", RUN_AS_UID, "seccompProfile", "type",
                     "RuntimeDefault");
}

/* The start command set for this environment, else for every environment, else the image's. */
static const char *start_command(const struct svc *s)
{
    const char *cmd = str_at(s->e, "customStartCommand");

    return cmd ? cmd : str_at(s->b, "customStartCommand");
}

static json_t *shell(const char *cmd)
{
    return json_pack("[s, s, s]", "/bin/sh", "-c", cmd);
}

/* A container of <s>'s image with <env>, the hardened security context and a writable /tmp. */
static json_t *container(const struct svc *s, const char *name, json_t *env, const char *cmd)
{
    json_t *c = json_pack("{s:s, s:s}", "name", name, "image", s->image);

    if (cmd)
        json_object_set_new(c, "command", shell(cmd));
    if (json_array_size(env) > 0)
        json_object_set(c, "env", env);
    json_decref(env);
    json_object_set_new(c, "securityContext", security());
    json_object_set_new(c, "volumeMounts",
                        json_pack("[{s:s, s:s}]", "name", "tmp", "mountPath", "/tmp"));
    return c;
}

static json_t *pod_spec(json_t *c, const char *restart)
{
    json_t *spec = json_object();

    if (restart)
        json_object_set_new(spec, "restartPolicy", json_string(restart));
    json_object_set_new(spec, "automountServiceAccountToken", json_false());
    json_object_set_new(spec, "securityContext", pod_security());
    json_object_set_new(spec, "containers", json_pack("[o]", c));
    json_object_set_new(spec, "volumes", json_pack("[{s:s, s:{}}]", "name", "tmp", "emptyDir"));
    return spec;
}

static int deployment(struct render *r, const struct svc *s)
{
    char hash[17], file[96];
    json_t *env = env_list(r, s->name, s->e, hash), *c, *spec, *doc;

    if (env == NULL)
        return -1;
    c = container(s, s->name, env, start_command(s));
    json_object_set_new(c, "ports",
                        json_pack("[{s:s, s:I, s:s}]", "name", "http", "containerPort",
                                  (json_int_t)s->port, "protocol", "TCP"));
    json_object_set_new(c, "resources", resources(s->e, json_object_get(r->env, "resources")));
    json_object_set_new(c, "readinessProbe", probe(s, 5, 10));
    json_object_set_new(c, "livenessProbe", probe(s, 15, 20));
    spec = json_object();
    if (s->autoscaling == NULL)
        json_object_set_new(spec, "replicas", json_integer(s->replicas));
    json_object_set_new(spec, "revisionHistoryLimit", json_integer(5));
    json_object_set_new(spec, "selector", json_pack("{s:o}", "matchLabels", selector(r, s->name)));
    json_object_set_new(spec, "template",
                        json_pack("{s:{s:o, s:{s:s}}, s:o}", "metadata", "labels",
                                  labels(r, s->name), "annotations", "slipway.dev/config-hash",
                                  hash, "spec", pod_spec(c, NULL)));
    doc = json_pack("{s:s, s:s, s:o, s:o}", "apiVersion", "apps/v1", "kind", "Deployment",
                    "metadata", metadata(r, s->name), "spec", spec);
    if (doc != NULL)
        json_object_set_new(json_object_get(doc, "metadata"), "annotations",
                            json_pack("{s:s, s:s}", "slipway.dev/image-tag",
                                      str_at(json_object_get(s->e, "image"), "tag"),
                                      "slipway.dev/project-id", r->c->project_id));
    return built(r, doc, file_name("deployment", s->name, file, sizeof(file)));
}

static int service(struct render *r, const struct svc *s)
{
    char file[96];
    json_t *doc = json_pack("{s:s, s:s, s:o, s:{s:s, s:o, s:[{s:s, s:i, s:s, s:s}]}}", "apiVersion",
                            "v1", "kind", "Service", "metadata", metadata(r, s->name), "spec",
                            "type", "ClusterIP", "selector", selector(r, s->name), "ports", "name",
                            "http", "port", 80, "targetPort", "http", "protocol", "TCP");

    return built(r, doc, file_name("service", s->name, file, sizeof(file)));
}

int pkg_platform_default(const char *svc, const char *env, const char *project, const char *wd,
                         char out[PKG_HOST_MAX + 1], struct err *err)
{
    int n = snprintf(out, PKG_HOST_MAX + 1, "%s-%s-%s.%s", svc, env, project, wd);

    if (n < 0 || n > PKG_HOST_MAX)
        return err_set(err, ERR_INVALID, "platform domain of %s in %s: over %d bytes", svc, env,
                       PKG_HOST_MAX);
    return 0;
}

/* Every domain of the service: the platform one first, then the custom ones in their order.
 * The platform one is the values' platformDomain when set (the name the index gave, maybe
 * suffixed -2, -3 …), else the computed default. */
static int route(struct render *r, const struct svc *s)
{
    char file[96], platform[PKG_HOST_MAX + 1];
    json_t *hosts, *d, *doc;
    size_t i;

    if (json_is_string(json_object_get(s->e, "platformDomain")))
        snprintf(platform, sizeof(platform), "%s", str_at(s->e, "platformDomain"));
    else if (pkg_platform_default(s->name, r->c->env, r->c->project_slug, r->c->workload_domain,
                                  platform, r->err) < 0)
        return r->err->code;
    hosts = json_pack("[s]", platform);
    json_array_foreach(json_object_get(s->e, "domains"), i, d) json_array_append(hosts, d);
    doc = json_pack("{s:s, s:s, s:o, s:{s:[{s:s, s:s}], s:o, s:[{s:[{s:s, s:i}]}]}}", "apiVersion",
                    "gateway.networking.k8s.io/v1", "kind", "HTTPRoute", "metadata",
                    metadata(r, s->name), "spec", "parentRefs", "name", GATEWAY_NAME, "namespace",
                    GATEWAY_NS, "hostnames", hosts, "rules", "backendRefs", "name", s->name, "port",
                    80);
    return built(r, doc, file_name("httproute", s->name, file, sizeof(file)));
}

static int autoscaler(struct render *r, const struct svc *s)
{
    char file[96];
    json_t *doc;

    if (s->autoscaling == NULL)
        return 0;
    doc = json_pack("{s:s, s:s, s:o, s:{s:{s:s, s:s, s:s}, s:I, s:I, s:[{s:s, s:{s:s, s:{s:s, "
                    "s:I}}}]}}",
                    "apiVersion", "autoscaling/v2", "kind", "HorizontalPodAutoscaler", "metadata",
                    metadata(r, s->name), "spec", "scaleTargetRef", "apiVersion", "apps/v1", "kind",
                    "Deployment", "name", s->name, "minReplicas",
                    (json_int_t)int_at(s->autoscaling, "min", 1), "maxReplicas",
                    (json_int_t)int_at(s->autoscaling, "max", 1), "metrics", "type", "Resource",
                    "resource", "name", "cpu", "target", "type", "Utilization",
                    "averageUtilization", (json_int_t)int_at(s->autoscaling, "cpuPercent", 80));
    return built(r, doc, file_name("hpa", s->name, file, sizeof(file)));
}

/* Only where two pods may run: with one, minAvailable 1 would block every node drain. */
static int disruption_budget(struct render *r, const struct svc *s)
{
    char file[96];
    int64_t least = s->autoscaling ? int_at(s->autoscaling, "min", 1) : s->replicas;
    json_t *doc;

    if (least < 2)
        return 0;
    doc = json_pack("{s:s, s:s, s:o, s:{s:i, s:{s:o}}}", "apiVersion", "policy/v1", "kind",
                    "PodDisruptionBudget", "metadata", metadata(r, s->name), "spec", "minAvailable",
                    1, "selector", "matchLabels", selector(r, s->name));
    return built(r, doc, file_name("pdb", s->name, file, sizeof(file)));
}

/* Ingress to the service's pods only from the gateway's namespace and the project's pods. */
static int network_policy(struct render *r, const struct svc *s)
{
    char file[96];
    json_t *doc =
        json_pack("{s:s, s:s, s:o, s:{s:{s:o}, s:[s], s:[{s:[{s:{s:{s:s}}}, {s:{s:{s:s}}}], "
                  "s:[{s:s, s:I}]}]}}",
                  "apiVersion", "networking.k8s.io/v1", "kind", "NetworkPolicy", "metadata",
                  metadata(r, s->name), "spec", "podSelector", "matchLabels", selector(r, s->name),
                  "policyTypes", "Ingress", "ingress", "from", "namespaceSelector", "matchLabels",
                  "kubernetes.io/metadata.name", GATEWAY_NS, "podSelector", "matchLabels",
                  "app.kubernetes.io/part-of", r->c->project_slug, "ports", "protocol", "TCP",
                  "port", (json_int_t)s->port);

    return built(r, doc, file_name("networkpolicy", s->name, file, sizeof(file)));
}

/* Fills <s> for service <name>: 1, or 0 when it has no image yet (nothing to run). */
static int svc_load(struct render *r, const char *name, const json_t *e, struct svc *s,
                    struct arena *a)
{
    const json_t *img = json_object_get(e, "image");

    memset(s, 0, sizeof(*s));
    s->name = name;
    s->e = e;
    s->b = json_object_get(json_object_get(r->base, "services"), name);
    if (s->b == NULL)
        return err_set(r->err, ERR_INVALID, "services.%s: not in base/values.yaml", name);
    if (img == NULL)
        return 0;
    s->image = arena_printf(a, "%s@%s", str_at(s->b, "image"), str_at(img, "digest"));
    if (s->image == NULL)
        return err_set(r->err, ERR_LIMIT, "render: arena budget spent");
    s->port = int_at(s->b, "port", 8080);
    s->suspended = json_is_true(json_object_get(e, "suspended"));
    s->replicas = s->suspended ? 0 : int_at(e, "replicas", int_at(s->b, "replicas", 1));
    s->autoscaling = s->suspended ? NULL : json_object_get(e, "autoscaling");
    return 1;
}

static int render_service(struct render *r, const char *name, const json_t *e, struct arena *a)
{
    struct svc s;
    int rc = svc_load(r, name, e, &s, a);

    if (rc <= 0)
        return rc;
    if (deployment(r, &s) < 0 || service(r, &s) < 0 || route(r, &s) < 0 || autoscaler(r, &s) < 0 ||
        disruption_budget(r, &s) < 0 || network_policy(r, &s) < 0)
        return r->err->code;
    return 0;
}

/* ------------------------------------------------------------------ project-wide */

static int cronjob(struct render *r, const char *name, const json_t *job, struct arena *a)
{
    const char *svc_name = str_at(job, "service");
    const json_t *e = json_object_get(json_object_get(r->env, "services"), svc_name);
    char file[96], hash[17];
    struct svc s;
    json_t *env, *c, *doc;
    int rc;

    if (e == NULL)
        return 0; /* its service does not run in this environment */
    rc = svc_load(r, svc_name, e, &s, a);
    if (rc <= 0)
        return rc;
    env = env_list(r, svc_name, e, hash);
    if (env == NULL)
        return r->err->code;
    c = container(&s, "job", env, str_at(job, "command"));
    doc = json_pack("{s:s, s:s, s:o, s:{s:s, s:s, s:s, s:b, s:{s:{s:i, s:{s:{s:o}, s:o}}}}}",
                    "apiVersion", "batch/v1", "kind", "CronJob", "metadata", metadata(r, name),
                    "spec", "schedule", str_at(job, "schedule"), "timeZone", "Etc/UTC",
                    "concurrencyPolicy", "Forbid", "suspend", s.suspended, "jobTemplate", "spec",
                    "backoffLimit", 1, "template", "metadata", "labels", labels(r, name), "spec",
                    pod_spec(c, "Never"));
    return built(r, doc, file_name("cronjob", name, file, sizeof(file)));
}

static int namespace_doc(struct render *r)
{
    json_t *doc =
        json_pack("{s:s, s:s, s:{s:s, s:{s:s, s:s}}}", "apiVersion", "v1", "kind", "Namespace",
                  "metadata", "name", r->ns, "labels", "app.kubernetes.io/part-of",
                  r->c->project_slug, "app.kubernetes.io/managed-by", "slipway");

    return built(r, doc, "namespace.yaml");
}

static int config_docs(struct render *r)
{
    json_t *doc;
    int rc;

    if (json_object_size(r->config) > 0) {
        doc = json_pack("{s:s, s:s, s:o, s:O}", "apiVersion", "v1", "kind", "ConfigMap", "metadata",
                        metadata(r, r->config_name), "data", r->config);
        if ((rc = built(r, doc, "configmap.yaml")) < 0)
            return rc;
    }
    if (json_object_size(r->secrets) == 0)
        return 0;
    /* A placeholder in SealedSecret's shape: the ciphertexts are slipway's (libsodium, the
     * project's key), not the sealed-secrets controller's; docs/gitops.md says how to reseal. */
    doc =
        json_pack("{s:s, s:s, s:o, s:{s:O, s:{s:o}}}", "apiVersion", "bitnami.com/v1alpha1", "kind",
                  "SealedSecret", "metadata", metadata(r, r->secret_name), "spec", "encryptedData",
                  r->secrets, "template", "metadata", metadata(r, r->secret_name));
    return built(r, doc, "sealedsecret.yaml");
}

/* ------------------------------------------------------------------ output */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int emit_file(struct render *r, const char *path, const json_t *doc, bool kust,
                     struct pkg_file_out *f, struct arena *a)
{
    struct sbuf o = SBUF_INIT(FILE_MAX);
    int rc = 0;

    sbuf_printf(&o,
                "# Rendered by slipway from base/values.yaml and environments/%s/values.yaml.\n"
                "# Edit the values files, not this file: the next render replaces it.\n",
                r->c->env);
    if (!kust)
        sbuf_puts(&o, "---\n");
    pkg_yaml_write_json(&o, doc);
    f->path = kust ? arena_printf(a, "environments/%s/kustomization.yaml", r->c->env)
                   : arena_printf(a, "environments/%s/manifests/%s", r->c->env, path);
    f->data = slice_dup(a, sbuf_slice(&o));
    if (o.err != 0)
        rc = err_set(r->err, ERR_LIMIT, "render: %s is over %u bytes", path, FILE_MAX);
    else if (f->path == NULL || f->data.ptr == NULL)
        rc = err_set(r->err, ERR_LIMIT, "render: arena budget spent");
    sbuf_release(&o);
    return rc;
}

/* Writes every manifest, sorted by file name, then kustomization.yaml naming them all. */
static int emit_all(struct render *r, struct pkg_file_out **files, size_t *nfiles, struct arena *a)
{
    size_t n = json_object_size(r->docs), i = 0;
    const char **names = xcalloc(n ? n : 1, sizeof(*names));
    struct pkg_file_out *out = arena_zalloc(a, (n + 1) * sizeof(*out));
    json_t *list = json_array(), *kust, *v;
    const char *k;
    char rel[128];
    int rc = 0;

    if (out == NULL) {
        free(names);
        json_decref(list);
        return err_set(r->err, ERR_LIMIT, "render: arena budget spent");
    }
    json_object_foreach(r->docs, k, v) names[i++] = k;
    qsort(names, n, sizeof(*names), cmp_str);
    for (i = 0; i < n && rc == 0; i++) {
        snprintf(rel, sizeof(rel), "manifests/%s", names[i]);
        json_array_append_new(list, json_string(rel));
        rc = emit_file(r, names[i], json_object_get(r->docs, names[i]), false, &out[i + 1], a);
    }
    kust = json_pack("{s:s, s:s, s:s, s:o}", "apiVersion", "kustomize.config.k8s.io/v1beta1",
                     "kind", "Kustomization", "namespace", r->ns, "resources", list);
    /* "environments/<env>/kustomization.yaml" sorts before ".../manifests/...": it is first */
    if (rc == 0)
        rc = emit_file(r, "kustomization.yaml", kust, true, &out[0], a);
    json_decref(kust);
    free(names);
    if (rc < 0)
        return rc;
    *files = out;
    *nfiles = n + 1;
    return 0;
}

/* ------------------------------------------------------------------ entry */

static int check_ctx(const struct pkg_render_ctx *c, struct err *err)
{
    /* RFC 1123 labels (a leading digit is fine): they make the namespace and the names of
     * the ConfigMap and the Secret, never a Service's name (service names are RFC 1035). */
    if (c->project_slug == NULL || !slug_valid(slice_from_cstr(c->project_slug)))
        return err_set(err, ERR_INVALID, "render: project slug is not a DNS label");
    if (c->env == NULL || !slug_valid(slice_from_cstr(c->env)))
        return err_set(err, ERR_INVALID, "render: environment name is not a DNS label");
    if (c->workspace_slug == NULL || !slug_valid(slice_from_cstr(c->workspace_slug)))
        return err_set(err, ERR_INVALID, "render: workspace slug is not a DNS label");
    if (c->project_id == NULL || c->workload_domain == NULL || c->workload_domain[0] == '\0')
        return err_set(err, ERR_INVALID, "render: project id and workload domain are required");
    return 0;
}

static int render_all(struct render *r, struct arena *a)
{
    const char *k;
    json_t *v;
    int rc;

    json_object_foreach(json_object_get(r->env, "services"), k,
                        v) if ((rc = render_service(r, k, v, a)) < 0) return rc;
    json_object_foreach(json_object_get(r->base, "cron"), k,
                        v) if ((rc = cronjob(r, k, v, a)) < 0) return rc;
    if ((rc = namespace_doc(r)) < 0)
        return rc;
    return config_docs(r);
}

int pkg_render_env(const json_t *base, const json_t *env, const struct pkg_render_ctx *ctx,
                   struct pkg_file_out **files, size_t *nfiles, struct arena *a, struct err *err)
{
    struct render r = {.base = base, .env = env, .c = ctx, .err = err};
    int n, rc;

    if ((rc = check_ctx(ctx, err)) < 0)
        return rc;
    n = snprintf(r.ns, sizeof(r.ns), "%s-%s-%s", ctx->workspace_slug, ctx->project_slug, ctx->env);
    if (n < 0 || n > 63)
        return err_set(err, ERR_INVALID, "render: namespace %s-%s-%s is over 63 bytes",
                       ctx->workspace_slug, ctx->project_slug, ctx->env);
    snprintf(r.config_name, sizeof(r.config_name), "%s-variables", ctx->project_slug);
    snprintf(r.secret_name, sizeof(r.secret_name), "%s-secrets", ctx->project_slug);
    if (sodium_init() < 0)
        return err_set(err, ERR_INTERNAL, "render: libsodium does not start");
    r.docs = json_object();
    r.config = json_object();
    r.secrets = json_object();
    if (r.docs == NULL || r.config == NULL || r.secrets == NULL)
        rc = err_set(err, ERR_INTERNAL, "render: out of memory");
    else
        rc = render_all(&r, a);
    if (rc == 0)
        rc = emit_all(&r, files, nfiles, a);
    json_decref(r.docs);
    json_decref(r.config);
    json_decref(r.secrets);
    return rc;
}
