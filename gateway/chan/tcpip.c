/*
 * direct-tcpip channels (docs/forwarding.md):
 *
 *  - without a target ("alice@gw" as ProxyJump, or ssh -W): the gateway
 *    connects to the destination itself and relays the socket, so the
 *    encryption stays end to end between the client and the backend. Only
 *    a granted host's SSH port, or a port covered by a "forward" grant of
 *    that host, is allowed: the gateway is never an open proxy. The TCP
 *    connect, name resolution included, is a bounded blocking wait
 *    (backend_connect_timeout) inside the message callback, because
 *    libssh 0.10 needs the answer to a channel open before the callback
 *    returns; it stalls this connection only.
 *
 *  - inside a terminated session ("alice+web1" with ssh -L): the backend
 *    opens the connection (ssh_channel_open_forward on its session, so the
 *    destination is reached from web1), under the grant's "forward" kind.
 *
 * A refusal is libssh's default OPEN_FAILURE ("administratively
 * prohibited"): libssh 0.10 has no way to add a description to it. The
 * reason is in the log and the "forward.denied" event.
 */
#include "backend/client.h"
#include "backend/hostrecord.h"
#include "core/err.h"
#include "core/strutil.h"
#include "core/log.h"
#include "core/net.h"
#include "core/timeutil.h"
#include "gateway/conn/conn.h"
#include "gateway/audit/writer.h"
#include "gateway/chan/pair.h"
#include "gateway/chan/pair_cb.h"
#include "gateway/chan/tcpip.h"
#include "gateway/conn/policy.h"
#include "gateway/conn/upstream.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A direct-tcpip request, copied out of the message. */
struct tcpip_req {
    char dest[STORE_ADDRESS_MAX + 3];
    uint16_t dport;
    char orig[64];
    uint16_t oport;
    char shown[STORE_ADDRESS_MAX + 16]; /* "dest:port", sanitized */
};

static void copy_request(ssh_message msg, struct tcpip_req *r)
{
    const char *dest = ssh_message_channel_request_open_destination(msg);
    const char *orig = ssh_message_channel_request_open_originator(msg);
    char clean[STORE_ADDRESS_MAX + 8];

    snprintf(r->dest, sizeof(r->dest), "%s", dest != NULL ? dest : "");
    snprintf(r->orig, sizeof(r->orig), "%s", orig != NULL ? orig : "");
    r->dport = (uint16_t)ssh_message_channel_request_open_destination_port(msg);
    r->oport = (uint16_t)ssh_message_channel_request_open_originator_port(msg);
    gw_sanitize(r->dest, clean, sizeof(clean));
    snprintf(r->shown, sizeof(r->shown), "%s:%u", clean, (unsigned)r->dport);
}

static int refuse_forward(struct gw_conn *c, const struct tcpip_req *r,
                          const char *reason)
{
    gw_log_info("direct-tcpip to %s refused: %s", r->shown, reason);
    gw_conn_event(c, "forward.denied", c->user, "dest=%s reason=\"%s\"",
                  r->shown, reason);
    return 1;
}

/* ---- the gateway's own TCP connection ---------------------------------- */

/* The socket to the granted host's address:port, the host's own way:
 * directly, through its outbound proxy, or through its jump hosts, whose
 * last one connects to the port (backend/hostrecord.h). */
static int dial_granted(struct gw_conn *c, const struct store_grant *g,
                        uint16_t port, int *fd, struct gw_backend_result *res)
{
    const struct gw_backend_net net = {c->cfg->backend_proxy,
                                       c->cfg->backend_proxy_bypass,
                                       c->cfg->max_jump_depth};
    struct gw_backend_route route;
    struct store_host h;
    struct store *st = gw_daemon_store_get(c->daemon);
    int rc = st != NULL ? store_host_get(st, g->host, &h) : GW_ERR_DB;

    memset(&route, 0, sizeof(route));
    memset(res, 0, sizeof(*res));
    if (rc == GW_OK) {
        rc = gw_backend_route_load(st, &h, &net,
                                   c->cfg->backend_connect_timeout, &route);
        store_host_clear(&h);
    }
    gw_daemon_store_put(c->daemon, st);
    if (rc != GW_OK) {
        res->failure = GW_BACKEND_PROXY;
        snprintf(res->message, sizeof(res->message),
                 "backend %s: cannot read its route: %s", g->host,
                 gw_err_msg());
        return rc;
    }
    rc = gw_backend_dial(&route, g->host, g->address, port,
                         c->cfg->backend_connect_timeout, fd, res);
    if (route.chain != NULL) {
        /* The jump hosts' pins and failures. */
        st = gw_daemon_store_get(c->daemon);
        if (st == NULL || gw_backend_record_route(st, &route, c->user,
                                                  c->peer_text) != GW_OK) {
            gw_log_error("cannot record the jump hosts' outcome: %s",
                         gw_err_msg());
        }
        gw_daemon_store_put(c->daemon, st);
    }
    gw_backend_route_clear(&route);
    return rc;
}

/* Accept the client's channel and attach the relay's callbacks. */
static int accept_channel(struct gw_chan *ch, ssh_message msg)
{
    ch->channel = ssh_message_channel_request_open_reply_accept(msg);
    if (ch->channel == NULL) {
        return GW_ERR_IO;
    }
    gw_pair_front_callbacks(ch);
    ssh_set_channel_callbacks(ch->channel, &ch->cb);
    return GW_OK;
}

/* The policy for -J / -W: may this user reach dest:port at all? */
static int check_destination(struct gw_conn *c, const struct tcpip_req *r,
                             struct store_grant *grant,
                             enum gw_forward_how *how)
{
    struct store_grant *grants = NULL;
    const struct store_grant *g = NULL;
    struct gw_denial why;
    struct store *st;
    size_t n = 0;
    int rc;

    st = gw_daemon_store_get(c->daemon);
    rc = st != NULL ? store_grant_list(st, c->user, true, &grants, &n)
                    : GW_ERR_DB;
    gw_daemon_store_put(c->daemon, st);
    if (rc != GW_OK) {
        gw_log_error("cannot list grants: %s", gw_err_msg());
        return refuse_forward(c, r, "grants unreadable");
    }
    rc = gw_forward_check(grants, n, r->dest, r->dport, &g, how, &why);
    if (rc == GW_OK) {
        *grant = *g;
    }
    free(grants);
    return rc == GW_OK ? 0 : refuse_forward(c, r, why.reason);
}

static int open_direct(struct gw_conn *c, ssh_message msg,
                       const struct tcpip_req *r)
{
    struct store_grant g;
    enum gw_forward_how how = GW_FORWARD_JUMP;
    struct gw_chan *ch = NULL;
    struct gw_backend_result res;
    int fd = -1;

    if (check_destination(c, r, &g, &how) != 0) {
        return 1;
    }
    ch = gw_chan_alloc(c, GW_KIND_SOCKET);
    if (ch == NULL) {
        return refuse_forward(c, r, "too many channels");
    }
    /* Name resolution included: the address may be a name. */
    if (dial_granted(c, &g, r->dport, &fd, &res) != GW_OK) {
        char address[GW_HOSTPORT_MAX];
        char message[sizeof(res.message) + 16];

        gw_log_info("direct-tcpip to %s: %s", r->shown, res.message);
        /* The keys of every backend.failure (backend/hostrecord.c), then
         * what the client asked for. */
        gw_net_hostport(g.address, r->dport, address, sizeof(address));
        gw_sanitize(res.message, message, sizeof(message));
        gw_conn_event(c, "backend.failure", c->user,
                      "host=%s address=%s reason=%s message=\"%s\" dest=%s "
                      "via=direct-tcpip",
                      g.host, address, gw_backend_failure_name(res.failure),
                      message, r->shown);
        gw_chan_unalloc(ch);
        return 1;
    }
    ch->relay.sock.fd = fd;
    ch->dest = strdup(g.host); /* for the events; NULL leaves it out */
    if (accept_channel(ch, msg) != GW_OK) {
        close(fd);
        ch->relay.sock.fd = -1;
        gw_chan_unalloc(ch);
        return 0; /* libssh could not even answer */
    }
    ch->command = strdup(r->shown); /* the sessions row; NULL leaves it out */
    ch->rl.grant_id = g.id;
    ch->rl.grant_rate = g.rate_limit;
    gw_pair_start(ch, "direct-tcpip", "dest=%s via=gateway%s", r->shown,
                  how == GW_FORWARD_JUMP ? " jump=yes" : "");
    return 0;
}

/* -L inside "alice+web1": the backend connects, from web1. */
static int open_via_backend(struct gw_conn *c, ssh_message msg,
                            const struct tcpip_req *r)
{
    struct gw_upstream *up = c->primary;
    struct gw_chan *ch = NULL;
    int rc;

    if (c->tstate != GW_TARGET_UP || up == NULL || up->gone) {
        return refuse_forward(c, r, "target not connected");
    }
    if ((up->allow & STORE_ALLOW_FORWARD) == 0) {
        gw_conn_event(c, "channel.denied", c->user,
                      "kind=direct-tcpip host=%s login=%s dest=%s "
                      "reason=\"not granted\"",
                      up->host.name, up->login, r->shown);
        return refuse_forward(c, r, "forward not granted");
    }
    ch = gw_chan_alloc(c, GW_KIND_DIRECT);
    if (ch == NULL) {
        return refuse_forward(c, r, "too many channels");
    }
    ch->bch = ssh_channel_new(up->session);
    gw_upstream_block(up, true);
    rc = ch->bch != NULL ? ssh_channel_open_forward(ch->bch, r->dest, r->dport,
                                                    r->orig, r->oport)
                         : SSH_ERROR;
    gw_upstream_block(up, false);
    if (rc != SSH_OK) {
        ssh_channel_free(ch->bch);
        gw_chan_unalloc(ch);
        return refuse_forward(c, r, "the backend refused");
    }
    ch->up = up;
    up->refs++;
    gw_pair_back_callbacks(ch);
    if (accept_channel(ch, msg) != GW_OK) {
        ch->relay.front.close_sent = true;
        ch->relay.front.close_rcvd = true;
        ch->state = GW_CHAN_RELAY; /* reaped with its backend channel */
        return 0;
    }
    ch->command = strdup(r->shown); /* the sessions row; NULL leaves it out */
    gw_pair_start(ch, "direct-tcpip", "dest=%s via=backend", r->shown);
    return 0;
}

int gw_tcpip_open(struct gw_conn *c, ssh_message msg)
{
    struct tcpip_req r;

    copy_request(msg, &r);
    if (!gw_audit_accepting(c->daemon->audit)) {
        return refuse_forward(c, &r, "audit store unavailable");
    }
    if (c->tstate == GW_TARGET_NONE) {
        return open_direct(c, msg, &r);
    }
    return open_via_backend(c, msg, &r);
}

/* -L through the target's backend: a pair from its open on. */
const struct gw_chan_ops gw_direct_chan_ops = {
    .name = "direct-tcpip",
    .pump = gw_pair_pump_backend,
    .backend_lost = gw_pair_backend_lost,
    .release = NULL,
};

/* -J / -W: the client's channel joined to the gateway's own socket. */
static bool pump_socket_pair(struct gw_chan *ch)
{
    return ch->state == GW_CHAN_RELAY && gw_pair_pump_socket(ch);
}

const struct gw_chan_ops gw_socket_chan_ops = {
    .name = "direct-tcpip (socket)",
    .pump = pump_socket_pair,
    .backend_lost = NULL,
    .release = NULL,
};
