#include "gateway/conn/authtap.h"

#include "gateway/conn/conn.h"
#include "gateway/daemon/sshlog.h"

#include <stdio.h>
#include <string.h>

/* What libssh 0.10.6 writes on the way (src/packet.c ssh_packet_process,
 * src/messages.c ssh_packet_userauth_request, src/error.c for the texts
 * given to ssh_set_error). tests/integration/test_auth_crafted.py fails
 * when a libssh update changes them. */
#define L_DISPATCH    "Dispatching handler for packet type "
#define L_REQUEST     "Auth request for service ssh-connection, method "
#define L_FOR_USER    " for user '"
#define L_BAD_SIG     "Received an invalid signature from peer"
#define L_NO_SIG      "Invalid signature packet from peer"
#define L_NO_DIGEST   "Failed to get digest"
#define L_ALGORITHM   "Public key from client ("
#define L_KEY_SIZE    "is not allowed by RSA_MIN_SIZE"
#define L_GSSAPI      "gssapi: "
#define T_USERAUTH    50 /* SSH2_MSG_USERAUTH_REQUEST */
#define T_INFO_ANSWER 61 /* SSH2_MSG_USERAUTH_INFO_RESPONSE */

static const char *const methods[] = {
    "none", "password", "publickey", "keyboard-interactive", "hostbased",
};

static bool starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* "Auth request for service ssh-connection, method M for user 'U'": the
 * method (one of ours, else "unknown") and the user. Only requests for
 * ssh-connection can be dropped; any other service reaches the callback. */
static void parse_request(struct gw_authtap_drop *d, const char *line)
{
    const char *m = line + strlen(L_REQUEST);
    const char *u = strstr(m, L_FOR_USER);
    size_t ulen;

    if (u == NULL) {
        return;
    }
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        if ((size_t)(u - m) == strlen(methods[i]) &&
            strncmp(m, methods[i], strlen(methods[i])) == 0) {
            d->method = methods[i];
        }
    }
    u += strlen(L_FOR_USER);
    ulen = strlen(u);
    if (ulen > 0 && u[ulen - 1] == '\'') {
        ulen--;
    }
    snprintf(d->user, sizeof(d->user), "%.*s", (int)ulen, u);
}

/* A line libssh wrote while parsing the open request. Each reason comes
 * from a path that ends in the drop; the first one found stands. */
static void read_line(struct gw_authtap *t, const char *line)
{
    const char *reason = NULL;

    if (starts(line, L_REQUEST)) {
        parse_request(&t->cur, line);
    } else if (starts(line, L_ALGORITHM)) {
        reason = "disallowed algorithm";
    } else if (strstr(line, L_KEY_SIZE) != NULL) {
        reason = "key too small";
    } else if (strcmp(line, L_NO_SIG) == 0) {
        reason = "malformed signature";
    } else if (strcmp(line, L_BAD_SIG) == 0 || strcmp(line, L_NO_DIGEST) == 0) {
        reason = "bad signature";
    } else if (starts(line, L_GSSAPI)) {
        t->answered = true; /* gssapi-with-mic: libssh replies itself */
    }
    if (reason != NULL && t->cur.reason == NULL) {
        t->cur.reason = reason;
    }
}

static void add_drop(struct gw_authtap *t, const struct gw_authtap_drop *d)
{
    struct gw_authtap_drop copy = *d;

    if (copy.reason == NULL) {
        /* nothing said why: the packet itself did not parse */
        copy.reason = strcmp(copy.method, "publickey") == 0
                          ? "malformed key"
                          : "malformed request";
    }
    if (t->ndrops < GW_AUTHTAP_MAX) {
        t->drops[t->ndrops++] = copy;
    } else {
        /* a burst beyond what a round holds: each still counts, the
         * last one's details stand for the rest */
        t->more++;
        t->last = copy;
    }
}

/* The open request is over: libssh went on to the next packet, or the
 * round ended. */
static void close_request(struct gw_authtap *t)
{
    if (!t->open) {
        return;
    }
    t->open = false;
    if (t->answered) {
        return;
    }
    if (!t->open_queued) {
        if (!t->delivered) {
            add_drop(t, &t->cur);
        }
        return;
    }
    t->parsed++;
    if (t->nqueued < GW_AUTHTAP_MAX) {
        t->queued[t->nqueued++] = t->cur;
    }
}

static void on_line(void *data, int priority, const char *function,
                    const char *line)
{
    struct gw_authtap *t = data;
    unsigned type;

    (void)priority;
    if (strcmp(function, "ssh_packet_process") == 0) {
        if (sscanf(line, L_DISPATCH "%u", &type) != 1 ||
            (type != T_USERAUTH && type != T_INFO_ANSWER)) {
            return;
        }
        close_request(t);
        t->open = true;
        t->open_queued = !t->callbacks;
        t->delivered = false;
        t->answered = false;
        t->cur = (struct gw_authtap_drop){
            .method = type == T_USERAUTH ? "unknown" : "keyboard-interactive",
        };
        return;
    }
    if (t->open) {
        read_line(t, line);
    }
}

void gw_authtap_start(struct gw_conn *c)
{
    memset(&c->tap, 0, sizeof(c->tap));
    c->tap.on = true;
    gw_sshlog_set_tap(on_line, &c->tap);
}

void gw_authtap_callbacks(struct gw_conn *c)
{
    c->tap.callbacks = true;
}

void gw_authtap_message(struct gw_conn *c, bool queued)
{
    if (queued) {
        c->tap.taken++;
    } else if (c->tap.open && !c->tap.open_queued) {
        c->tap.delivered = true;
    }
}

/* Queue mode: the requests parsed but never taken were dropped. Those
 * with a reason certainly were; the rest, newest first. */
static void settle_queued(struct gw_authtap *t)
{
    unsigned missing = t->parsed > t->taken ? t->parsed - t->taken : 0;
    struct gw_authtap_drop unknown = {.method = "unknown"};

    for (unsigned i = 0; i < t->nqueued && missing > 0; i++) {
        if (t->queued[i].reason != NULL) {
            add_drop(t, &t->queued[i]);
            t->queued[i].method = NULL;
            missing--;
        }
    }
    for (unsigned i = t->nqueued; i > 0 && missing > 0; i--) {
        if (t->queued[i - 1].method != NULL) {
            add_drop(t, &t->queued[i - 1]);
            missing--;
        }
    }
    for (; missing > 0; missing--) {
        add_drop(t, &unknown); /* beyond the details kept */
    }
    t->parsed = t->taken = t->nqueued = 0;
}

void gw_authtap_settle(struct gw_conn *c)
{
    if (!c->tap.on) {
        return;
    }
    close_request(&c->tap);
    settle_queued(&c->tap);
}

bool gw_authtap_take(struct gw_conn *c, struct gw_authtap_drop *out)
{
    struct gw_authtap *t = &c->tap;

    if (t->ndrops > 0) {
        *out = t->drops[0];
        t->ndrops--;
        memmove(&t->drops[0], &t->drops[1], t->ndrops * sizeof(t->drops[0]));
        return true;
    }
    if (t->more > 0) {
        t->more--;
        *out = t->last;
        return true;
    }
    return false;
}

void gw_authtap_stop(struct gw_conn *c)
{
    if (c->tap.on) {
        c->tap.on = false;
        gw_sshlog_set_tap(NULL, NULL);
    }
}
