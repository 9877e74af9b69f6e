#include "gateway/conn/dispatch.h"

#include "core/err.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "gateway/chan/remote_fwd.h"
#include "gateway/chan/session.h"
#include "gateway/chan/tcpip.h"
#include "gateway/conn/access.h"
#include "gateway/conn/auth.h"
#include "gateway/conn/authtap.h"
#include "gateway/conn/conn.h"
#include "gateway/conn/upstream.h"

#include <stdio.h>
#include <string.h>

#define BREAK_MS           1000 /* what OpenSSH's ~B asks for */
#define ROUND_MESSAGES_MAX 32   /* queued messages taken per loop round */

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

/* After authentication: the handler of msg, or the default reply. */
static int dispatch_request(struct gw_conn *c, ssh_message msg)
{
    int type = ssh_message_type(msg);
    int subtype = ssh_message_subtype(msg);

    for (size_t i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++) {
        if (handlers[i].type != type || handlers[i].subtype != subtype) {
            continue;
        }
        /* A new channel or forward is access used anew: refused once
         * it is revoked, even before the main thread notices. */
        if (c->closing ||
            (type != SSH_REQUEST_CHANNEL && !gw_access_current(c))) {
            return 1;
        }
        return handlers[i].handle(c, msg);
    }
    if (type != SSH_REQUEST_SERVICE) {
        /* x11, forwarded-tcpip, streamlocal, ...: refused */
        gw_log_verbose("refused request type %d/%d", type, subtype);
    }
    return 1; /* the default reply accepts "ssh-userauth" */
}

/* A session channel opens only while access stands (see
 * dispatch_request); the refusal is all a callback does, the loop ends
 * the connection. */
static ssh_channel on_session_open(ssh_session session, void *userdata)
{
    struct gw_conn *c = userdata;

    if (!gw_access_current(c)) {
        return NULL;
    }
    return gw_session_open(session, userdata);
}

/* Everything without a server callback lands here: authentication before
 * login, the forwarding requests after it. */
static int route(struct gw_conn *c, ssh_message msg)
{
    if (ssh_message_type(msg) == SSH_REQUEST_AUTH) {
        /* a request libssh dropped before this one is answered first */
        gw_auth_answer_drops(c);
        return gw_auth_on_message(c, msg);
    }
    if (c->authed) {
        /* direct-tcpip, tcpip-forward, break, ... */
        return dispatch_request(c, msg);
    }
    if (ssh_message_type(msg) != SSH_REQUEST_SERVICE) {
        gw_log_verbose("refused request type %d/%d", ssh_message_type(msg),
                       ssh_message_subtype(msg));
    }
    return 1; /* the default reply accepts "ssh-userauth" */
}

static int on_message(ssh_session session, ssh_message msg, void *userdata)
{
    struct gw_conn *c = userdata;

    (void)session;
    if (ssh_message_type(msg) == SSH_REQUEST_AUTH) {
        gw_authtap_message(c, false);
    }
    return route(c, msg);
}

static void install_callbacks(struct gw_conn *c)
{
    struct ssh_server_callbacks_struct *cb = &c->server_cb;

    memset(cb, 0, sizeof(*cb));
    ssh_callbacks_init(cb);
    cb->userdata = c;
    /* No auth_*_function: authentication goes to on_message (reply). */
    cb->channel_open_request_session_function = on_session_open;
    ssh_set_server_callbacks(c->session, cb);
    ssh_set_message_callback(c->session, on_message, c);
    gw_authtap_callbacks(c);
}

/*
 * Only a message libssh hands over can carry a USERAUTH_FAILURE
 * (ssh_message_reply_default), and a callback's message is freed when the
 * callback returns. So the session starts without callbacks: libssh
 * queues what it parses (messages.c ssh_message_queue), the loop takes it
 * here, and the first authentication message stays with the connection
 * as c->auth_reply, the means to answer the requests libssh drops
 * (gateway/conn/authtap.h). Then the callbacks go in.
 */
static void take_queued(struct gw_conn *c, ssh_message msg)
{
    bool keep =
        ssh_message_type(msg) == SSH_REQUEST_AUTH && c->auth_reply == NULL;

    if (ssh_message_type(msg) == SSH_REQUEST_AUTH) {
        gw_authtap_message(c, true);
    }
    if (keep) {
        install_callbacks(c);
    }
    if (route(c, msg) == 1) {
        (void)ssh_message_reply_default(msg);
    }
    if (keep) {
        c->auth_reply = msg;
    } else {
        ssh_message_free(msg);
    }
}

bool gw_dispatch_round(struct gw_conn *c)
{
    ssh_message msg;
    int n = 0;

    if (!c->tap.on) {
        return false;
    }
    if (!c->tap.callbacks) {
        /* non-blocking: NULL once libssh has nothing queued. A client
         * that keeps sending must not keep the loop from its deadlines:
         * the rest waits for the next round, which comes at once. */
        while (!c->closing && (msg = ssh_message_get(c->session)) != NULL) {
            take_queued(c, msg);
            if (++n == ROUND_MESSAGES_MAX) {
                return true;
            }
        }
    }
    gw_authtap_settle(c);
    gw_auth_answer_drops(c);
    if (c->authed || c->closing) {
        gw_dispatch_end(c);
    }
    return false;
}

void gw_dispatch_end(struct gw_conn *c)
{
    gw_authtap_stop(c);
    if (c->auth_reply != NULL) {
        ssh_message_free(c->auth_reply);
        c->auth_reply = NULL;
    }
}

void gw_dispatch_setup(struct gw_conn *c)
{
    /* No callbacks until the first authentication message (take_queued). */
    gw_authtap_start(c);
    gw_auth_advertise(c);
}
