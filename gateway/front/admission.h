/*
 * Whether the listener takes a new connection: the allow/block lists, room
 * for a worker, the audit trail, then the admission limits
 * (gateway/daemon/limits.c: per-source penalties and lockouts, early drop,
 * the unauthenticated caps). Kept apart from listener.c, which owns the
 * sockets, so that each stays a size one can read.
 */
#ifndef SSHGATE_GATEWAY_FRONT_ADMISSION_H
#define SSHGATE_GATEWAY_FRONT_ADMISSION_H

#include "core/cidr.h"
#include "core/config.h"
#include "gateway/daemon/daemon.h"

#include <stdint.h>

/* Why a connection is refused: what the client reads (code, text) and
 * what the log and the conn.refused event say (reason). */
struct gw_refusal {
    uint32_t code;
    const char *text;
    const char *reason;
};

/* No worker would take an admitted connection. */
extern const struct gw_refusal gw_refused_busy;
/* proxy_protocol: a peer outside proxy_trusted; no valid header in time. */
extern const struct gw_refusal gw_refused_untrusted_proxy;
extern const struct gw_refusal gw_refused_proxy_header;

/*
 * GW_OK with an unauthenticated slot taken for *source (give it back with
 * gw_limits_release), or GW_ERR_DENIED with *why.
 */
int gw_admission_check(struct gw_daemon *d, const struct gw_config *cfg,
                       const struct gw_addr *peer, int64_t now_ms,
                       struct gw_addr *source, struct gw_refusal *why);

#endif
