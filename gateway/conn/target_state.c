#include "gateway/conn/target_state.h"

#include "core/err.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "gateway/conn/conn.h"
#include "gateway/conn/policy.h"
#include "gateway/conn/upstream.h"

#include <stdio.h>

/* A target that failed: how long the connection may have no channel
 * before it is disconnected with the reason (ssh -N, an idle
 * ControlMaster); a session channel gets the reason on stderr. */
#define TARGET_FAIL_LINGER_MS 3000

static void mark_target_failed(struct gw_conn *c, const char *message)
{
    c->tstate = GW_TARGET_FAILED;
    c->target_failed_ms = gw_now_ms();
    snprintf(c->target_error, sizeof(c->target_error), "%s", message);
}

void gw_target_begin(struct gw_conn *c)
{
    if (c->target_ok && gw_target_has_host(&c->target)) {
        c->tstate = GW_TARGET_PENDING;
    }
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
        mark_target_failed(c, "sshgate: service unavailable, try again later");
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
        mark_target_failed(c, why.message);
        return;
    }
    if (rc != GW_OK) {
        gw_log_error("cannot check access to %s: %s", c->target.host,
                     gw_err_msg());
        mark_target_failed(c, "sshgate: cannot check your access now, try "
                              "again later");
        return;
    }
    rc = gw_upstream_open(c, &host, &grant, &c->primary, msg, sizeof(msg));
    store_host_clear(&host);
    if (rc != GW_OK) {
        c->primary = NULL;
        mark_target_failed(c, msg);
        return;
    }
    c->primary->primary = true;
    c->tstate = GW_TARGET_UP;
}

void gw_target_lost(struct gw_conn *c, const struct gw_upstream *up)
{
    char line[GW_DENIAL_MAX];

    if (up != c->primary) {
        return;
    }
    snprintf(line, sizeof(line), "sshgate: connection to %s lost",
             up->host.name);
    mark_target_failed(c, line);
}

void gw_target_check_end(struct gw_conn *c, int64_t now_ms)
{
    if (c->tstate != GW_TARGET_FAILED) {
        return;
    }
    if (gw_chan_count(c) > 0) {
        c->target_failed_ms = now_ms;
    } else if (now_ms - c->target_failed_ms >= TARGET_FAIL_LINGER_MS) {
        gw_conn_close(c, GW_END_TARGET);
    }
}

const char *gw_target_failure(const struct gw_conn *c)
{
    if (c->tstate != GW_TARGET_FAILED && c->tstate != GW_TARGET_PENDING) {
        return NULL;
    }
    return c->target_error[0] != '\0'
               ? c->target_error
               : "sshgate: the target host is not available";
}
