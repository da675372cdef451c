/* rt config: the config.json both the runtime and the builder's sandbox give runc, and the
 * message read back from runc's log. Needs neither root nor runc. */
#include "../test.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/base.h"
#include "rt/rt-int.h"

static json_t *render(const struct rt_config *c)
{
    struct sbuf b = SBUF_INIT(256 << 10);
    json_t *j;

    rt_config_render(c, &b);
    CHECK_INT_EQ(b.err, 0);
    j = json_loadb(b.buf, b.len, 0, NULL);
    CHECK(j != NULL);
    sbuf_release(&b);
    return j;
}

/* The string at <path> ("a.0.b": keys and array indexes), NULL when there is none. */
static const char *path_str(json_t *j, const char *path)
{
    char key[64];

    while (j != NULL && *path != '\0') {
        size_t n = strcspn(path, ".");
        snprintf(key, sizeof(key), "%.*s", (int)n, path);
        j = key[0] >= '0' && key[0] <= '9' ? json_array_get(j, strtoul(key, NULL, 10))
                                           : json_object_get(j, key);
        path += n + (path[n] == '.');
    }
    return json_string_value(j);
}

/* An app's container as rt_start() asks for it, without limits. */
static struct rt_config app_config(void)
{
    static const char *const argv[] = {"/bin/app"};

    return (struct rt_config){.rootfs = "/r",
                              .hostname = "web",
                              .argv = argv,
                              .argc = 1,
                              .cwd = "/",
                              .nofile = 1024,
                              .tmp_bytes = 1 << 20,
                              .cgroups_path = "cg"};
}

TEST(rt_config_app_has_no_pid_or_net_namespace_and_no_limits_unless_asked)
{
    struct rt_config c = app_config();
    json_t *j = render(&c), *lx = json_object_get(j, "linux");

    CHECK_INT_EQ(json_array_size(json_object_get(lx, "namespaces")), 3);
    CHECK_STR_EQ(path_str(lx, "namespaces.0.type"), "ipc");
    CHECK(json_object_get(json_object_get(lx, "resources"), "memory") == NULL);
    CHECK(json_object_get(json_object_get(j, "process"), "oomScoreAdj") == NULL);
    CHECK_INT_EQ(json_array_size(json_object_get(json_object_get(j, "process"), "rlimits")), 1);
    CHECK_STR_EQ(path_str(j, "mounts.5.options.3"), "size=1024k");
    CHECK_INT_EQ(json_array_size(json_object_get(j, "mounts")), 6);
    json_decref(j);
}

TEST(rt_config_sandbox_gets_its_namespaces_binds_and_limits)
{
    static const struct rt_bind binds[] = {{"/host/ws", "/workspace", true},
                                           {"/host/resolv", "/etc/resolv.conf", false}};
    struct rt_config c = app_config();

    c.no_core = true, c.oom_score_adj = 1000;
    c.binds = binds, c.n_binds = 2;
    c.memory_bytes = 1 << 30, c.cpu_quota_us = 50000, c.pids_max = 64;
    c.pid_ns = true, c.net_ns = true, c.netns_path = "/proc/7/ns/net";
    json_t *j = render(&c), *lx = json_object_get(j, "linux");

    CHECK_STR_EQ(path_str(lx, "namespaces.0.type"), "pid");
    CHECK_STR_EQ(path_str(lx, "namespaces.4.type"), "network");
    CHECK_STR_EQ(path_str(lx, "namespaces.4.path"), "/proc/7/ns/net");
    CHECK_STR_EQ(path_str(j, "process.rlimits.1.type"), "RLIMIT_CORE");
    CHECK_INT_EQ(json_integer_value(json_object_get(json_object_get(j, "process"), "oomScoreAdj")),
                 1000);
    CHECK_STR_EQ(path_str(j, "mounts.6.source"), "/host/ws");
    CHECK_STR_EQ(path_str(j, "mounts.6.options.3"), "rw");
    CHECK_STR_EQ(path_str(j, "mounts.7.destination"), "/etc/resolv.conf");
    CHECK_STR_EQ(path_str(j, "mounts.7.options.3"), "ro");
    CHECK_INT_EQ(json_integer_value(json_object_get(
                     json_object_get(json_object_get(lx, "resources"), "cpu"), "period")),
                 100000);
    CHECK_INT_EQ(json_integer_value(json_object_get(
                     json_object_get(json_object_get(lx, "resources"), "pids"), "limit")),
                 64);
    json_decref(j);
}

TEST(rt_runc_log_msg_is_the_last_message)
{
    const char *dir = test_tmpdir();
    char path[600], msg[160];
    FILE *f;

    rt_runc_log_msg(dir, msg, sizeof(msg));
    CHECK_STR_EQ(msg, "see runc's log");
    snprintf(path, sizeof(path), "%s/runc.log", dir);
    CHECK((f = fopen(path, "w")) != NULL);
    fputs("{\"level\":\"info\",\"msg\":\"first\"}\n{\"level\":\"error\",\"msg\":\"exec: no such "
          "file\",\"time\":\"x\"}\n",
          f);
    fclose(f);
    rt_runc_log_msg(dir, msg, sizeof(msg));
    CHECK_STR_EQ(msg, "exec: no such file");
}
