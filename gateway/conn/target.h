/*
 * The login name a client sends selects the gateway user and, optionally,
 * the backend target (DESIGN.md "Connection life" 3):
 *   alice            user alice, no target
 *   alice+web1       user alice, host web1, the grant's login
 *   alice+root@web1  user alice, host web1, backend login root
 * The separator is target_separator ('+' by default). Only the user part
 * matters for front authentication.
 */
#ifndef SSHGATE_GATEWAY_CONN_TARGET_H
#define SSHGATE_GATEWAY_CONN_TARGET_H

#include "core/strutil.h"

#include <stdbool.h>

struct gw_target {
    char user[GW_NAME_MAX + 1];
    char host[GW_NAME_MAX + 1];  /* "" when no target was given */
    char login[GW_NAME_MAX + 1]; /* "" when no backend login was given */
};

/*
 * Split name using separator sep. Every part must pass gw_name_check.
 * GW_OK, or GW_ERR_INVALID with a detail message (*out is cleared).
 */
int gw_target_parse(const char *name, char sep, struct gw_target *out);

/* Was a target host given? */
bool gw_target_has_host(const struct gw_target *target);

#endif
