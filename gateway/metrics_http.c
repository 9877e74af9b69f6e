#include "gateway/metrics_http.h"

#include "core/err.h"
#include "core/log.h"
#include "gateway/audit/writer.h"
#include "gateway/daemon/metrics.h"

#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define LISTEN_BACKLOG 16
#define TEXT_FORMAT    "text/plain; version=0.0.4; charset=utf-8"

struct gw_metrics_http {
    int fd; /* ours until MHD takes it */
    char name[GW_ADDR_TEXT_MAX];
    struct MHD_Daemon *mhd;
    struct gw_daemon *daemon;
};

int gw_metrics_http_open(const struct gw_addr *addr,
                         struct gw_metrics_http **out)
{
    struct gw_metrics_http *h = calloc(1, sizeof(*h));
    struct sockaddr_storage ss;
    socklen_t len = 0;
    int one = 1;

    if (h == NULL) {
        return GW_ERR_NOMEM;
    }
    gw_addr_format(addr, h->name);
    gw_addr_to_sockaddr(addr, &ss, &len);
    h->fd = socket(addr->family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (h->fd < 0 ||
        setsockopt(h->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        (addr->family == AF_INET6 &&
         setsockopt(h->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) !=
             0) ||
        bind(h->fd, (struct sockaddr *)&ss, len) != 0 ||
        listen(h->fd, LISTEN_BACKLOG) != 0) {
        int rc = gw_err_set(GW_ERR_IO, "cannot listen for metrics on %s: %s",
                            h->name, strerror(errno));
        gw_metrics_http_free(h);
        return rc;
    }
    *out = h;
    return GW_OK;
}

/* The state /readyz answers and sshgate_ready shows, with the audit
 * writer's snapshot. */
static void gauges(struct gw_daemon *d, struct gw_metrics_gauges *g)
{
    struct gw_audit_status st;

    memset(g, 0, sizeof(*g));
    memset(&st, 0, sizeof(st));
    gw_audit_status(d->audit, &st);
    g->audit_degraded = st.degraded;
    g->audit_queue_bytes = st.queued_bytes;
    g->audit_spool_bytes = st.spool_bytes;
    g->audit_lost = st.lost;
    g->ready = gw_daemon_phase(d) == GW_PHASE_RUNNING &&
               gw_metrics_listener_up() && !st.degraded;
}

/* Queue a response of len bytes from text, which it takes (malloc'd) or
 * copies (static). */
static enum MHD_Result send_text(struct MHD_Connection *conn, unsigned status,
                                 char *text, size_t len,
                                 enum MHD_ResponseMemoryMode mode,
                                 const char *type)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, text, mode);
    enum MHD_Result ret;

    if (r == NULL) {
        if (mode == MHD_RESPMEM_MUST_FREE) {
            free(text);
        }
        return MHD_NO;
    }
    (void)MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    (void)MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED) {
        (void)MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    }
    ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_static(struct MHD_Connection *conn, unsigned status,
                                   const char *text)
{
    return send_text(conn, status, (char *)(uintptr_t)text, strlen(text),
                     MHD_RESPMEM_PERSISTENT, "text/plain; charset=utf-8");
}

static enum MHD_Result send_metrics(struct gw_metrics_http *h,
                                    struct MHD_Connection *conn)
{
    struct gw_metrics_gauges g;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    int rc;

    if (f == NULL) {
        return send_static(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
                           "out of memory\n");
    }
    gauges(h->daemon, &g);
    rc = gw_metrics_render(f, &g);
    if (fclose(f) != 0 || rc != GW_OK) {
        free(buf);
        return send_static(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
                           "cannot render the metrics\n");
    }
    return send_text(conn, MHD_HTTP_OK, buf, len, MHD_RESPMEM_MUST_FREE,
                     TEXT_FORMAT);
}

static enum MHD_Result send_ready(struct gw_metrics_http *h,
                                  struct MHD_Connection *conn)
{
    struct gw_metrics_gauges g;

    gauges(h->daemon, &g);
    if (g.ready) {
        return send_static(conn, MHD_HTTP_OK, "ready\n");
    }
    if (gw_daemon_phase(h->daemon) != GW_PHASE_RUNNING) {
        return send_static(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                           "not ready: shutting down\n");
    }
    if (!gw_metrics_listener_up()) {
        return send_static(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                           "not ready: the SSH listener is not running\n");
    }
    return send_static(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                       "not ready: the audit store takes no writes\n");
}

/* MHD's access handler: one call per request (no body is ever read). */
static enum MHD_Result answer(void *cls, struct MHD_Connection *conn,
                              const char *url, const char *method,
                              const char *version, const char *upload_data,
                              size_t *upload_data_size, void **req_cls)
{
    struct gw_metrics_http *h = cls;
    bool known = strcmp(url, "/metrics") == 0 || strcmp(url, "/healthz") == 0 ||
                 strcmp(url, "/readyz") == 0;

    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    (void)req_cls;
    if (!known) {
        return send_static(conn, MHD_HTTP_NOT_FOUND, "not found\n");
    }
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
        strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
        return send_static(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
                           "method not allowed\n");
    }
    if (strcmp(url, "/metrics") == 0) {
        return send_metrics(h, conn);
    }
    if (strcmp(url, "/readyz") == 0) {
        return send_ready(h, conn);
    }
    return send_static(conn, MHD_HTTP_OK, "ok\n");
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];
    size_t n;

    (void)cls;
    vsnprintf(line, sizeof(line), fmt, ap);
    n = strlen(line);
    while (n > 0 && line[n - 1] == '\n') {
        line[--n] = '\0';
    }
    gw_log_warn("metrics: %s", line);
}

int gw_metrics_http_start(struct gw_metrics_http *h, struct gw_daemon *d)
{
    h->daemon = d;
    h->mhd = MHD_start_daemon(
        MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL, answer,
        h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_LISTEN_SOCKET,
        h->fd, MHD_OPTION_CONNECTION_LIMIT, (unsigned)GW_METRICS_HTTP_CONN_MAX,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)GW_METRICS_HTTP_TIMEOUT_S,
        MHD_OPTION_END);
    if (h->mhd == NULL) {
        return gw_err_set(GW_ERR, "cannot start the metrics thread on %s",
                          h->name);
    }
    h->fd = -1; /* MHD's now: it closes it when it stops */
    gw_log_info("metrics on http://%s/metrics", h->name);
    return GW_OK;
}

void gw_metrics_http_free(struct gw_metrics_http *h)
{
    if (h == NULL) {
        return;
    }
    if (h->mhd != NULL) {
        MHD_stop_daemon(h->mhd);
        gw_log_info("stopped serving metrics on %s", h->name);
    }
    if (h->fd >= 0) {
        close(h->fd);
    }
    free(h);
}
