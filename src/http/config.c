/* The http.* configuration keys. */
#include "http-int.h"

#define MS_DAY (86400ll * 1000)

static const struct cfg_key http_keys[] = {
    CFG_STR("http.bind", struct http_cfg, bind, "127.0.0.1", 0,
            "Address to listen on (IPv4 or IPv6); 0.0.0.0 for every interface."),
    CFG_INT("http.port", struct http_cfg, port, 8080, 0, 65535, 0,
            "TCP port for the API and health endpoints; 0 picks a free one."),
    CFG_INT("http.loops", struct http_cfg, loops, 0, 0, 64, 0,
            "Event-loop threads serving HTTP; 0 means one per CPU core."),
    CFG_INT("http.max_connections", struct http_cfg, max_connections, 4096, 1, 1000000, 0,
            "Open client connections at most; more are refused."),
    CFG_SIZE("http.max_url_bytes", struct http_cfg, max_url_bytes, 8 << 10, 256, 1 << 20, 0,
             "Longest request target (path and query); longer gets 414."),
    CFG_SIZE("http.max_header_bytes", struct http_cfg, max_header_bytes, 8 << 10, 1024, 1 << 20, 0,
             "Request headers together at most; more gets 431."),
    CFG_SIZE("http.max_body_bytes", struct http_cfg, max_body_bytes, 1 << 20, 0, 1ll << 32, 0,
             "Request body at most, unless a route sets its own; more gets 413."),
    CFG_DURATION("http.header_timeout", struct http_cfg, header_timeout_ms, 10000, 100, MS_DAY, 0,
                 "Time a new connection has to send a request's headers; then 408."),
    CFG_DURATION("http.idle_timeout", struct http_cfg, idle_timeout_ms, 30000, 100, MS_DAY, 0,
                 "A keep-alive connection with no new request for this long is closed."),
    CFG_DURATION("http.shutdown_grace", struct http_cfg, shutdown_grace_ms, 10000, 0, MS_DAY, 0,
                 "After SIGTERM, how long in-flight requests may take to finish."),
    CFG_STR("http.cors_origin", struct http_cfg, cors_origin, "", 0,
            "Origin allowed to call the API from a browser (the dashboard's dev server), "
            "e.g. http://localhost:5173; empty allows none."),
    CFG_BOOL("http.access_log", struct http_cfg, access_log, 1, 0,
             "Log one line per request (method, path without query, status, time)."),
};

struct cfg_section http_cfg_section(struct http_cfg *target)
{
    return (struct cfg_section){"http", http_keys, ARRAY_LEN(http_keys), target};
}
