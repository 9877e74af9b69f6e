#include "gateway/conn/dispatch.h"

#include "core/err.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "gateway/conn/conn.h"
#include "gateway/conn/policy.h"
#include "gateway/conn/upstream.h"

#include <stdio.h>
#include <string.h>

#define BREAK_MS 1000 /* what OpenSSH's ~B asks for */

static void target_failed(struct gw_conn *c, const char *message)
{
    c->tstate = GW_TARGET_FAILED;
    c->target_failed_ms = gw_now_ms();
    snprintf(c->target_error, sizeof(c->target_error), "%s", message);
}

void gw_target_prepare(struct gw_conn *c)
{
    struct store_host host;
    struct store_grant grant;
    struct gw_denial why;
    char msg[GW_DENIAL_MAX];
    struct store *st;
    int rc;

    if (c->tstate != GW_TARGET_PENDING) {
        return;
    }
    st = gw_daemon_store_get(c->daemon);
    if (st == NULL) {
        target_failed(c, "sshgate: service unavailable, try again later");
        return;
    }
    rc = gw_resolve_target(st, c->user, &c->target, c->cfg->target_separator,
                           &host, &grant, &why);
    gw_daemon_store_put(c->daemon, st);
    if (rc == GW_ERR_DENIED) {
        gw_log_info("access to %s denied: %s", c->target.host, why.reason);
        gw_conn_event(c, "access.denied", c->user, "host=%s login=%s reason=%s",
                      c->target.host,
                      c->target.login[0] != '\0' ? c->target.login : "-",
                      why.reason);
        target_failed(c, why.message);
        return;
    }
    if (rc != GW_OK) {
        gw_log_error("cannot check access to %s: %s", c->target.host,
                     gw_err_msg());
        target_failed(c, "sshgate: cannot check your access now, try again "
                         "later");
        return;
    }
    rc = gw_upstream_open(c, &host, &grant, &c->primary, msg, sizeof(msg));
    store_host_clear(&host);
    if (rc != GW_OK) {
        c->primary = NULL;
        target_failed(c, msg);
        return;
    }
    c->primary->primary = true;
    c->tstate = GW_TARGET_UP;
}

/* RFC 4335 break. libssh 0.10 hands unknown channel requests over without
 * their name or data; the only one OpenSSH's client sends is "break"
 * (~B), so that is what an unknown request on a relayed session is taken
 * for, with OpenSSH's length. */
static int on_unknown_request(struct gw_conn *c, ssh_message msg)
{
    struct gw_chan *ch =
        gw_chan_of(c, ssh_message_channel_request_channel(msg));

    if (ch != NULL && ch->kind == GW_KIND_SESSION && ch->bch != NULL &&
        ch->state == GW_CHAN_RELAY) {
        gw_log_verbose("channel %u: forwarding a break", ch->id);
        (void)ssh_channel_request_send_break(ch->bch, BREAK_MS);
    }
    return 1;
}

static const struct {
    int type;
    int subtype;
    int (*handle)(struct gw_conn *c, ssh_message msg);
} handlers[] = {
    {SSH_REQUEST_CHANNEL_OPEN, SSH_CHANNEL_DIRECT_TCPIP, gw_tcpip_open},
    {SSH_REQUEST_GLOBAL, SSH_GLOBAL_REQUEST_TCPIP_FORWARD, gw_rfwd_request},
    {SSH_REQUEST_GLOBAL, SSH_GLOBAL_REQUEST_CANCEL_TCPIP_FORWARD,
     gw_rfwd_request},
    {SSH_REQUEST_CHANNEL, SSH_CHANNEL_REQUEST_UNKNOWN, on_unknown_request},
};

int gw_forward_on_message(struct gw_conn *c, ssh_message msg)
{
    int type = ssh_message_type(msg);
    int subtype = ssh_message_subtype(msg);

    for (size_t i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++) {
        if (handlers[i].type == type && handlers[i].subtype == subtype) {
            return c->closing ? 1 : handlers[i].handle(c, msg);
        }
    }
    if (type != SSH_REQUEST_SERVICE) {
        /* x11, forwarded-tcpip, streamlocal, ...: refused */
        gw_log_verbose("refused request type %d/%d", type, subtype);
    }
    return 1; /* the default reply accepts "ssh-userauth" */
}
