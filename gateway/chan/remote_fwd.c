/*
 * Remote forwarding (ssh -R) in a terminated session, under the grant's
 * "remote-forward" kind: the client's tcpip-forward global request becomes
 * the same request on the backend session (so the backend listens), and
 * every forwarded-tcpip channel the backend then opens is paired with one
 * the gateway opens to the client.
 *
 * The client's request arrives in the message callback (no
 * global_request_function is set: that would stop libssh answering
 * keepalives by itself), and is answered there, after a blocking round
 * trip to the backend. The backend's channel opens arrive in the backend
 * session's message callback: accepted at once (the pair is created),
 * while our open towards the client is finished by the pump.
 */
#include "core/err.h"
#include "core/strutil.h"
#include "core/log.h"
#include "gateway/conn/conn.h"
#include "gateway/audit/writer.h"
#include "gateway/chan/pair.h"
#include "gateway/chan/pair_cb.h"
#include "gateway/chan/remote_fwd.h"
#include "gateway/conn/policy.h"
#include "gateway/conn/upstream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int deny_rfwd(struct gw_conn *c, const char *listen, const char *reason)
{
    gw_log_info("tcpip-forward %s refused: %s", listen, reason);
    gw_conn_event(c, "channel.denied", c->user,
                  "kind=tcpip-forward%s%s listen=%s reason=\"%s\"",
                  c->primary != NULL ? " host=" : "",
                  c->primary != NULL ? c->primary->host.name : "", listen,
                  reason);
    return 1;
}

static struct gw_rfwd *find_rfwd(struct gw_upstream *up, const char *address,
                                 int port)
{
    for (size_t i = 0; i < up->nrfwd; i++) {
        if (strcmp(up->rfwd[i].address, address) == 0 &&
            (up->rfwd[i].port == port || up->rfwd[i].bound == port)) {
            return &up->rfwd[i];
        }
    }
    return NULL;
}

static int listen_forward(struct gw_conn *c, ssh_message msg,
                          const char *address, int port, const char *shown)
{
    struct gw_upstream *up = c->primary;
    struct gw_rfwd *f = NULL;
    int bound = 0;
    int rc;

    if (up->nrfwd == GW_RFWD_MAX) {
        return deny_rfwd(c, shown, "too many remote forwardings");
    }
    gw_upstream_block(up, true);
    rc = ssh_channel_listen_forward(up->session, address, port, &bound);
    gw_upstream_block(up, false);
    if (rc != SSH_OK) {
        return deny_rfwd(c, shown, "the backend refused");
    }
    f = &up->rfwd[up->nrfwd];
    f->address = strdup(address);
    if (f->address == NULL) {
        return deny_rfwd(c, shown, "out of memory");
    }
    f->port = port;
    f->bound = port != 0 ? port : bound;
    up->nrfwd++;
    (void)ssh_message_global_request_reply_success(msg, (uint16_t)f->bound);
    gw_log_info("tcpip-forward: %s listens on %s port %d", up->host.name, shown,
                f->bound);
    gw_conn_event(c, "forward.open", c->user,
                  "kind=tcpip-forward host=%s login=%s listen=%s bound=%d",
                  up->host.name, up->login, shown, f->bound);
    return 0;
}

static int cancel_forward(struct gw_conn *c, ssh_message msg,
                          const char *address, int port)
{
    struct gw_upstream *up = c->primary;
    struct gw_rfwd *f = up != NULL ? find_rfwd(up, address, port) : NULL;
    size_t i;

    if (f == NULL) {
        return 1;
    }
    gw_upstream_block(up, true);
    (void)ssh_channel_cancel_forward(up->session, f->address, f->port);
    gw_upstream_block(up, false);
    free(f->address);
    i = (size_t)(f - up->rfwd);
    memmove(&up->rfwd[i], &up->rfwd[i + 1],
            (up->nrfwd - i - 1) * sizeof(up->rfwd[0]));
    up->nrfwd--;
    (void)ssh_message_global_request_reply_success(msg, 0);
    return 0;
}

int gw_rfwd_request(struct gw_conn *c, ssh_message msg)
{
    const char *address = ssh_message_global_request_address(msg);
    int port = ssh_message_global_request_port(msg);
    struct gw_upstream *up = c->primary;
    char clean[STORE_ADDRESS_MAX + 8];
    char shown[STORE_ADDRESS_MAX + 16];

    address = address != NULL ? address : "";
    gw_sanitize(address, clean, sizeof(clean));
    snprintf(shown, sizeof(shown), "%s:%d", clean, port);
    if (ssh_message_subtype(msg) == SSH_GLOBAL_REQUEST_CANCEL_TCPIP_FORWARD) {
        return cancel_forward(c, msg, address, port);
    }
    if (!gw_audit_accepting(c->daemon->audit)) {
        return deny_rfwd(c, shown, "audit store unavailable");
    }
    if (c->tstate != GW_TARGET_UP || up == NULL || up->gone) {
        return deny_rfwd(c, shown,
                         c->tstate == GW_TARGET_NONE ? "needs a target host"
                                                     : "target not connected");
    }
    if ((up->allow & STORE_ALLOW_REMOTE_FORWARD) == 0) {
        return deny_rfwd(c, shown, "remote-forward not granted");
    }
    return listen_forward(c, msg, address, port, shown);
}

/* The backend opens a forwarded-tcpip channel for one of our listeners. */
static int backend_forwarded(struct gw_upstream *up, ssh_message msg)
{
    struct gw_conn *c = up->conn;
    int port = ssh_message_channel_request_open_destination_port(msg);
    const char *dest = ssh_message_channel_request_open_destination(msg);
    const char *orig = ssh_message_channel_request_open_originator(msg);
    struct gw_chan *ch = NULL;

    if (gw_upstream_rfwd(up, port) == NULL) {
        return 1;
    }
    ch = gw_chan_alloc(c, GW_KIND_FORWARDED);
    if (ch == NULL) {
        return 1;
    }
    ch->dest = strdup(dest != NULL ? dest : "");
    ch->orig = strdup(orig != NULL ? orig : "");
    ch->dport = (uint16_t)port;
    ch->oport = (uint16_t)ssh_message_channel_request_open_originator_port(msg);
    ch->channel = ssh_channel_new(c->session);
    if (ch->dest == NULL || ch->orig == NULL || ch->channel == NULL) {
        ssh_channel_free(ch->channel);
        gw_chan_unalloc(ch);
        return 1;
    }
    ch->bch = ssh_message_channel_request_open_reply_accept(msg);
    if (ch->bch == NULL) {
        ssh_channel_free(ch->channel);
        gw_chan_unalloc(ch);
        return 0;
    }
    ch->up = up;
    up->refs++;
    gw_pair_back_callbacks(ch);
    gw_pair_front_callbacks(ch);
    ssh_set_channel_callbacks(ch->channel, &ch->cb);
    ch->state = GW_CHAN_OPENING;
    return 0;
}

int gw_rfwd_on_backend_message(ssh_session session, ssh_message msg,
                               void *userdata)
{
    struct gw_upstream *up = userdata;

    (void)session;
    if (ssh_message_type(msg) == SSH_REQUEST_CHANNEL_OPEN &&
        ssh_message_subtype(msg) == SSH_CHANNEL_FORWARDED_TCPIP &&
        !up->conn->closing) {
        return backend_forwarded(up, msg);
    }
    return 1;
}

/* Opened by the backend: our open towards the client first, then a
 * pair like any other. */
const struct gw_chan_ops gw_forwarded_chan_ops = {
    .name = "forwarded-tcpip",
    .pump = gw_pair_pump_backend,
    .backend_lost = gw_pair_backend_lost,
    .release = NULL,
};
