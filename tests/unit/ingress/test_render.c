/* Rendering nginx configuration: validation, escaping and the generated text. */
#include "../test.h"
#include "base/base.h"
#include "ingress/ingress-int.h"

static const struct ingress_params params = {
    .run_dir = "/data/ingress",
    .bind = "127.0.0.1",
    .port = 8000,
    .workers = 1,
    .api_upstream = "127.0.0.1:8080",
    .api_hosts = {"localhost", "127.0.0.1"},
    .napi_hosts = 2,
};

static bool has(const struct sbuf *b, const char *needle)
{
    return strstr(b->buf, needle) != NULL;
}

TEST(host_names_are_lower_case_dns_names)
{
    static const char *const good[] = {"localhost", "web-production-shop.localhost", "a.b.c",
                                       "127.0.0.1", "x1-2.example.com"};
    static const char *const bad[] = {"",         "Web.localhost", "a..b",          ".a",  "a.",
                                      "-a.b",     "a-.b",          "a b",           "a;b", "a{b",
                                      "a\"b",     "a$b",           "*.example.com", "a_b", "a\nb",
                                      "é.example"};
    char long_label[80];

    for (size_t i = 0; i < ARRAY_LEN(good); i++)
        CHECK(ingress_host_valid(slice_from_cstr(good[i])));
    for (size_t i = 0; i < ARRAY_LEN(bad); i++)
        CHECK(!ingress_host_valid(slice_from_cstr(bad[i])));
    memset(long_label, 'a', 64);
    long_label[64] = '\0';
    CHECK(!ingress_host_valid(slice_from_cstr(long_label)));
    long_label[63] = '\0';
    CHECK(ingress_host_valid(slice_from_cstr(long_label)));
}

TEST(upstreams_are_ipv4_and_port)
{
    CHECK(ingress_upstream_valid(SLICE("127.0.0.1:8080")));
    CHECK(ingress_upstream_valid(SLICE("10.0.0.2:1")));
    CHECK(!ingress_upstream_valid(SLICE("127.0.0.1")));
    CHECK(!ingress_upstream_valid(SLICE("127.0.0.1:0")));
    CHECK(!ingress_upstream_valid(SLICE("127.0.0.1:65536")));
    CHECK(!ingress_upstream_valid(SLICE("127.0.0.1:080")));
    CHECK(!ingress_upstream_valid(SLICE("localhost:80")));
    CHECK(!ingress_upstream_valid(SLICE("127.0.0.1:80;")));
    CHECK(!ingress_upstream_valid(SLICE("127.0.0.1:80 backup")));
    CHECK(!ingress_upstream_valid(SLICE("unix:/tmp/x:80")));
}

TEST(paths_must_be_plain)
{
    CHECK(ingress_path_ok("/var/lib/slipway/ingress"));
    CHECK(!ingress_path_ok("relative/dir"));
    CHECK(!ingress_path_ok("/tmp/a b"));
    CHECK(!ingress_path_ok("/tmp/a;b"));
    CHECK(!ingress_path_ok("/tmp/$x"));
}

TEST(escaping_leaves_no_nginx_or_html_syntax)
{
    struct sbuf b = SBUF_INIT(4096);

    ingress_html_escape(&b, SLICE("crash: \"$host\" \\ <b>&{x};\n'ok' é\xff"), 1000);
    CHECK_STR_EQ(b.buf, "crash: &#34;&#36;host&#34; &#92; &#60;b&#62;&#38;&#123;x&#125;&#59; "
                        "&#39;ok&#39; &#233;&#65533;");
    sbuf_reset(&b);
    ingress_html_escape(&b, SLICE("abcdef"), 3);
    CHECK_STR_EQ(b.buf, "abc...");
    sbuf_release(&b);
}

TEST(main_conf_keeps_to_the_run_dir)
{
    struct sbuf b = SBUF_INIT(1 << 16);

    ingress_render_main(&b, &params, "/data/ingress/routes.conf");
    CHECK(has(&b, "daemon off;\n"));
    CHECK(has(&b, "worker_processes 1;\n"));
    CHECK(has(&b, "pid /data/ingress/nginx.pid;\n"));
    CHECK(has(&b, "error_log /data/ingress/error.log warn;\n"));
    CHECK(has(&b, "client_body_temp_path /data/ingress/tmp/body;\n"));
    CHECK(has(&b, "proxy_next_upstream error timeout;\n"));
    CHECK(has(&b, "include /data/ingress/routes.conf;\n"));
    CHECK(!has(&b, "/etc/nginx"));
    CHECK(!has(&b, "user "));
    sbuf_release(&b);
}

TEST(routes_render_upstreams_pages_and_fixed_servers)
{
    static const char *const ups[] = {"127.0.0.1:5001", "127.0.0.1:5002"};
    const struct ingress_route routes[] = {
        {.host = "web-production-shop.localhost",
         .label = "acme/shop/production/web",
         .upstreams = ups,
         .nupstreams = 2,
         .websocket = true},
        {.host = "api-staging-shop.localhost",
         .label = "acme/shop/staging/api",
         .reason = "the last release crashed on start"},
    };
    struct sbuf b = SBUF_INIT(1 << 20);
    struct err err = {0};

    OK(ingress_render_routes(&b, &params, routes, 2, 7, &err));
    CHECK(has(&b, "listen unix:/data/ingress/status.sock;\n"));
    CHECK(has(&b, "return 200 \"7\";"));
    CHECK(has(&b, "upstream slipway_api {\n    server 127.0.0.1:8080 max_fails=1"));
    CHECK(has(&b, "server_name localhost 127.0.0.1;\n"));
    CHECK(has(&b, "listen 127.0.0.1:8000 default_server;\n    server_name _;"));
    CHECK(has(&b, "return 404 \"<!doctype html>"));
    CHECK(has(&b, "No service answers at $ingress_host."));
    CHECK(has(&b, "upstream route_0 {\n    server 127.0.0.1:5001 max_fails=1 fail_timeout=2s;\n"
                  "    server 127.0.0.1:5002 max_fails=1 fail_timeout=2s;\n    keepalive 8;\n}"));
    CHECK(has(&b, "server_name web-production-shop.localhost;\n    location / {\n"
                  "        proxy_pass http://route_0;\n"));
    CHECK(has(&b, "proxy_set_header Upgrade $http_upgrade;"));
    CHECK(has(&b, "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;"));
    CHECK(has(&b, "error_page 502 504 = @down;"));
    CHECK(has(&b, "server_name api-staging-shop.localhost;\n    location / {\n        types {}"));
    CHECK(has(&b, "return 502 \"<!doctype html>"));
    CHECK(has(&b, "acme/shop/staging/api has no ready replica: the last release crashed on "
                  "start"));
    CHECK(!has(&b, "upstream route_1"));
    sbuf_release(&b);
}

TEST(hostile_labels_and_reasons_are_escaped)
{
    const struct ingress_route r = {.host = "x.localhost",
                                    .label = "a\";} server { listen 1; #",
                                    .reason = "$request_uri\n}\ninclude /etc/passwd;"};
    struct sbuf b = SBUF_INIT(1 << 20);
    struct err err = {0};
    const char *page;

    OK(ingress_render_routes(&b, &params, &r, 1, 1, &err));
    page = strstr(b.buf, "server_name x.localhost;");
    CHECK(page != NULL);
    CHECK(strstr(page, "a&#34;&#59;&#125; server &#123; listen 1&#59; &#35; has no ready "
                       "replica: &#36;request_uri &#125; include /etc/passwd&#59;") != NULL);
    CHECK(strstr(page, "\"$request_uri") == NULL);
    sbuf_release(&b);
}

TEST(bad_routes_are_refused_and_nothing_rendered)
{
    static const char *const bad_up[] = {"127.0.0.1:80; include /etc/passwd"};
    const struct ingress_route cases[][2] = {
        {{.host = "bad host", .label = "l"}},
        {{.host = "X.localhost", .label = "l"}},
        {{.host = "a.localhost;", .label = "l"}},
        {{.host = "localhost", .label = "l"}},
        {{.host = "a.localhost", .label = ""}},
        {{.host = "a.localhost", .label = "l", .upstreams = bad_up, .nupstreams = 1}},
    };
    const struct ingress_route dup[2] = {{.host = "a.localhost", .label = "l"},
                                         {.host = "a.localhost", .label = "m"}};
    struct sbuf b = SBUF_INIT(1 << 20);
    struct err err = {0};

    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        CHECK(ingress_render_routes(&b, &params, cases[i], 1, 1, &err) < 0);
        CHECK_INT_EQ(b.len, 0);
    }
    CHECK_INT_EQ(ingress_render_routes(&b, &params, dup, 2, 1, &err), ERR_CONFLICT);
    CHECK(strstr(err.msg, "routes[1].host a.localhost") != NULL);
    CHECK_INT_EQ(b.len, 0);
    sbuf_release(&b);
}

TEST(regen_keeps_the_routes_and_bumps_the_generation)
{
    const char *ups[1] = {"127.0.0.1:9001"};
    struct ingress_route r = {"app.localhost", "w/p/e/app", NULL, ups, 1, false};
    struct sbuf old = SBUF_INIT(1 << 20), next = SBUF_INIT(1 << 20), again = SBUF_INIT(1 << 20);
    struct ingress_params other = params;
    struct err err = {0};
    uint64_t gen = 0;

    OK(ingress_render_routes(&old, &params, &r, 1, 7, &err));
    OK(ingress_render_regen(&next, &params, sbuf_slice(&old), &gen, &err));
    CHECK_UINT_EQ(gen, 8);
    OK(ingress_render_routes(&again, &params, &r, 1, 8, &err));
    CHECK_STR_EQ(next.buf, again.buf); /* the same as rendering the routes anew */
    /* Not ours: another run directory, a foreign file, an empty one. */
    other.run_dir = "/elsewhere/ingress";
    sbuf_reset(&next);
    CHECK_INT_EQ(ingress_render_regen(&next, &other, sbuf_slice(&old), &gen, &err), ERR_INVALID);
    CHECK_INT_EQ(ingress_render_regen(&next, &params, SLICE("server { }\n"), &gen, &err),
                 ERR_INVALID);
    CHECK_INT_EQ(ingress_render_regen(&next, &params, SLICE(""), &gen, &err), ERR_INVALID);
    CHECK_UINT_EQ(next.len, 0);
    CHECK_UINT_EQ(gen, 8);
    sbuf_release(&old);
    sbuf_release(&next);
    sbuf_release(&again);
}
