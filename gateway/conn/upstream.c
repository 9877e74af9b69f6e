#include "gateway/conn/upstream.h"

#include "core/err.h"
#include "core/log.h"
#include "core/net.h"
#include "core/strutil.h"
#include "core/timeutil.h"
#include "backend/client.h"
#include "backend/hostrecord.h"
#include "gateway/conn/conn.h"
#include "gateway/chan/agent.h"
#include "gateway/chan/remote_fwd.h"
#include "gateway/daemon/metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int free_slot(struct gw_conn *c)
{
    for (int i = 0; i < GW_UPSTREAM_MAX; i++) {
        if (c->ups[i] == NULL) {
            return i;
        }
    }
    return -1;
}

/* A backend that vanishes without a FIN (power loss, a firewall dropping
 * the flow) is noticed by TCP keepalive, with the client-side keepalive
 * settings. */
static void set_keepalive(struct gw_conn *c, int fd)
{
    int idle =
        (int)(c->cfg->keepalive_interval > 0 ? c->cfg->keepalive_interval : 15);
    int count = (int)c->cfg->keepalive_count_max;

    (void)gw_net_set_keepalive(fd, idle, idle, count);
}

/* Connect and record; the caller owns *out (a blocking session). */
static int connect_backend(struct gw_conn *c, const struct store_host *h,
                           const char *login, ssh_session *out, char *msg,
                           size_t msglen)
{
    struct gw_backend_creds creds;
    struct gw_backend_spec spec;
    struct gw_backend_result res;
    struct store *st;
    int64_t t0_ms;
    int rc;

    const struct gw_backend_net net = {c->cfg->backend_proxy,
                                       c->cfg->backend_proxy_bypass,
                                       c->cfg->max_jump_depth};

    memset(&res, 0, sizeof(res));
    st = gw_daemon_store_get(c->daemon);
    rc = st != NULL ? gw_backend_prepare(st, h, &net, login,
                                         c->cfg->backend_connect_timeout,
                                         &creds, &spec)
                    : gw_err_set(GW_ERR_DB, "no database");
    gw_daemon_store_put(c->daemon, st);
    if (rc != GW_OK) {
        char address[GW_HOSTPORT_MAX];
        char why[256];

        gw_sanitize(gw_err_msg(), why, sizeof(why));
        gw_log_error("backend %s: cannot load the credential or route: %s",
                     h->name, why);
        /* The keys of every backend.failure (backend/hostrecord.c). */
        gw_net_hostport(h->address, h->port, address, sizeof(address));
        gw_conn_event(c, "backend.failure", c->user,
                      "host=%s address=%s reason=%s message=\"%s\"", h->name,
                      address, rc == GW_ERR_DENIED ? "route" : "credential",
                      why);
        if (rc == GW_ERR_DENIED) { /* its jump hosts: nothing secret */
            snprintf(msg, msglen, "sshgate: backend %s: %s", h->name, why);
        } else {
            snprintf(msg, msglen,
                     "sshgate: backend %s: the gateway has no usable "
                     "credential for it",
                     h->name);
        }
        return rc;
    }
    t0_ms = gw_now_ms();
    rc = gw_backend_connect(&spec, out, &res);
    gw_metrics_backend_connect(gw_now_ms() - t0_ms,
                               rc == GW_OK ? 0 : (unsigned)res.failure);
    /* A slow backend must not hold a database handle: a fresh one. */
    st = gw_daemon_store_get(c->daemon);
    if (st == NULL ||
        gw_backend_record_route(st, &creds.route, c->user, c->peer_text) !=
            GW_OK ||
        gw_backend_record(st, h, &res, c->user, c->peer_text) != GW_OK) {
        gw_log_error("cannot record the backend outcome: %s", gw_err_msg());
    }
    gw_daemon_store_put(c->daemon, st);
    gw_backend_creds_clear(&creds);
    if (rc != GW_OK) {
        gw_log_info("backend %s as %s: %s (%s)", h->name, login, res.message,
                    gw_backend_failure_name(res.failure));
        snprintf(msg, msglen, "sshgate: %s", res.message);
    } else if (res.first_use) {
        gw_log_info("backend %s: host key %s pinned on first use", h->name,
                    res.host_key.fingerprint);
    }
    gw_backend_result_clear(&res);
    return rc;
}

/* Set a connected session up for the relay: non-blocking, own event,
 * callbacks for what the backend opens towards us. */
static int attach(struct gw_upstream *up)
{
    ssh_set_blocking(up->session, 0);
    up->event = ssh_event_new();
    if (up->event == NULL ||
        ssh_event_add_session(up->event, up->session) != SSH_OK) {
        return GW_ERR_NOMEM;
    }
    memset(&up->cb, 0, sizeof(up->cb));
    ssh_callbacks_init(&up->cb);
    up->cb.userdata = up;
    up->cb.channel_open_request_auth_agent_function = gw_agent_on_open;
    ssh_set_callbacks(up->session, &up->cb);
    /* forwarded-tcpip opens (-R); everything else gets the default
     * refusal instead of piling up in libssh's message queue. */
    ssh_set_message_callback(up->session, gw_rfwd_on_backend_message, up);
    return GW_OK;
}

static int copy_host(struct store_host *dst, const struct store_host *src)
{
    *dst = *src;
    dst->hostkey_b64 = NULL;
    if (src->hostkey_b64 != NULL) {
        dst->hostkey_b64 = strdup(src->hostkey_b64);
        if (dst->hostkey_b64 == NULL) {
            return GW_ERR_NOMEM;
        }
    }
    return GW_OK;
}

int gw_upstream_open(struct gw_conn *c, const struct store_host *h,
                     const struct store_grant *g, struct gw_upstream **out,
                     char *msg, size_t msglen)
{
    struct gw_upstream *up = NULL;
    ssh_session s = NULL;
    int slot = free_slot(c);
    int rc;

    if (slot < 0) {
        snprintf(msg, msglen, "sshgate: too many backend connections");
        return GW_ERR_DENIED;
    }
    rc = connect_backend(c, h, g->login, &s, msg, msglen);
    if (rc != GW_OK) {
        return rc;
    }
    up = calloc(1, sizeof(*up));
    rc = up == NULL ? GW_ERR_NOMEM : copy_host(&up->host, h);
    if (rc == GW_OK) {
        up->conn = c;
        up->session = s;
        s = NULL; /* transferred */
        snprintf(up->login, sizeof(up->login), "%s", g->login);
        up->allow = g->allow;
        up->grant_id = g->id;
        up->rate_limit = g->rate_limit;
        set_keepalive(c, ssh_get_fd(up->session));
        rc = attach(up);
    }
    if (rc != GW_OK) {
        gw_log_error("backend %s: out of memory", h->name);
        snprintf(msg, msglen, "sshgate: internal error");
        gw_backend_close(s);
        if (up != NULL) {
            c->ups[slot] = up;
            gw_upstream_close(up);
        }
        return rc;
    }
    c->ups[slot] = up;
    gw_log_info("connected to backend %s (%s port %u) as %s", h->name,
                h->address, (unsigned)h->port, up->login);
    *out = up;
    return GW_OK;
}

void gw_upstream_block(struct gw_upstream *up, bool on)
{
    ssh_set_blocking(up->session, on ? 1 : 0);
}

bool gw_upstream_dead(struct gw_upstream *up)
{
    int status;

    if (up->gone) {
        return true;
    }
    status = ssh_get_status(up->session);
    if ((status & (SSH_CLOSED | SSH_CLOSED_ERROR)) != 0 ||
        !ssh_is_connected(up->session)) {
        up->gone = true;
    }
    return up->gone;
}

struct gw_rfwd *gw_upstream_rfwd(struct gw_upstream *up, int bound)
{
    for (size_t i = 0; i < up->nrfwd; i++) {
        if (up->rfwd[i].bound == bound) {
            return &up->rfwd[i];
        }
    }
    return NULL;
}

void gw_upstream_close(struct gw_upstream *up)
{
    struct gw_conn *c = up->conn;

    for (size_t i = 0; i < GW_UPSTREAM_MAX; i++) {
        if (c->ups[i] == up) {
            c->ups[i] = NULL;
        }
    }
    if (c->primary == up) {
        c->primary = NULL;
    }
    if (up->event != NULL) {
        if (up->session != NULL) {
            ssh_event_remove_session(up->event, up->session);
        }
        ssh_event_free(up->event);
    }
    gw_backend_close(up->session);
    for (size_t i = 0; i < up->nrfwd; i++) {
        free(up->rfwd[i].address);
    }
    gw_log_verbose("backend %s: disconnected", up->host.name);
    store_host_clear(&up->host);
    free(up);
}

void gw_upstream_reap(struct gw_conn *c)
{
    for (size_t i = 0; i < GW_UPSTREAM_MAX; i++) {
        struct gw_upstream *up = c->ups[i];
        if (up != NULL && up->refs <= 0 && !up->primary) {
            gw_upstream_close(up);
        }
    }
}
