#include "gateway/front/admission.h"

#include "core/err.h"
#include "core/pool.h"
#include "gateway/audit/writer.h"
#include "gateway/daemon/limits.h"
#include "gateway/front/refuse.h"

static const struct gw_refusal refused_blocked = {
    GW_DISCONNECT_HOST_NOT_ALLOWED, "not allowed to connect",
    "blocked_clients"};
static const struct gw_refusal refused_not_allowed = {
    GW_DISCONNECT_HOST_NOT_ALLOWED, "not allowed to connect",
    "allowed_clients"};
static const struct gw_refusal refused_full = {
    GW_DISCONNECT_TOO_MANY_CONNECTIONS, "too many connections",
    "max_connections"};
static const struct gw_refusal refused_audit = {
    GW_DISCONNECT_BY_APPLICATION, GW_AUDIT_REFUSAL, "audit_failure"};
const struct gw_refusal gw_refused_busy = {GW_DISCONNECT_TOO_MANY_CONNECTIONS,
                                           "server busy, try again later",
                                           "no_worker"};
const struct gw_refusal gw_refused_untrusted_proxy = {
    GW_DISCONNECT_HOST_NOT_ALLOWED, "not allowed to connect", "proxy_trusted"};
const struct gw_refusal gw_refused_proxy_header = {GW_DISCONNECT_PROTOCOL_ERROR,
                                                   "bad PROXY protocol header",
                                                   "proxy_protocol"};

static struct gw_refusal limits_refusal(enum gw_admit verdict)
{
    /* Indexed by enum gw_admit: the setting that refused, for the log. */
    static const char *const reasons[] = {
        "",
        "max_unauth_connections",
        "max_unauth_per_source",
        "source_locked",
        "source_table_full",
        "max_startups",
        "source_penalty",
    };
    struct gw_refusal r;

    r.code = verdict == GW_ADMIT_SOURCE_LOCKED || verdict == GW_ADMIT_PENALTY
                 ? GW_DISCONNECT_BY_APPLICATION
                 : GW_DISCONNECT_TOO_MANY_CONNECTIONS;
    r.text = gw_admit_reason(verdict);
    r.reason = reasons[verdict];
    return r;
}

int gw_admission_check(struct gw_daemon *d, const struct gw_config *cfg,
                       const struct gw_addr *peer, int64_t now_ms,
                       struct gw_addr *source, struct gw_refusal *why)
{
    struct gw_limits_policy pol = gw_daemon_policy(cfg);
    enum gw_admit verdict;

    if (gw_cidr_list_match(&cfg->blocked_clients, peer)) {
        *why = refused_blocked;
        return GW_ERR_DENIED;
    }
    if (cfg->allowed_clients.n > 0 &&
        !gw_cidr_list_match(&cfg->allowed_clients, peer)) {
        *why = refused_not_allowed;
        return GW_ERR_DENIED;
    }
    if (!gw_pool_has_room(d->pool)) {
        *why = refused_full;
        return GW_ERR_DENIED;
    }
    if (!gw_audit_accepting(d->audit)) {
        *why = refused_audit; /* audit_failure = refuse */
        return GW_ERR_DENIED;
    }
    verdict = gw_limits_admit(d->limits, peer, &pol, now_ms, source);
    if (verdict != GW_ADMIT_OK) {
        *why = limits_refusal(verdict);
        return GW_ERR_DENIED;
    }
    return GW_OK;
}
