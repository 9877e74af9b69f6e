#include "gateway/daemon/ending.h"

#include <stddef.h>

struct ending_texts {
    const char *text; /* for the client, the log and conn.close */
    const char *row;  /* for the sessions row; NULL: the same as text */
};

/* Indexed by enum gw_ending; the order of the enum is the order here. */
static const struct ending_texts ending_table[] = {
    [GW_END_NONE] = {"closed", NULL},
    [GW_END_CLIENT_GONE] = {"client disconnected", "client closed"},
    [GW_END_KEX_CLIENT_GONE] = {"client disconnected during key exchange",
                                NULL},
    [GW_END_KEX_FAILED] = {"key exchange failed", NULL},
    [GW_END_GRACE] = {"Login grace time exceeded", NULL},
    [GW_END_AUTH_FAILURES] = {"Too many authentication failures", NULL},
    [GW_END_AUTH_UNANSWERED] = {"Authentication failed", NULL},
    [GW_END_KEEPALIVE] = {"Timeout, client not responding", NULL},
    [GW_END_IDLE] = {"Idle timeout", "idle timeout"},
    [GW_END_SHUTDOWN] = {"gateway shutting down", "shutdown"},
    [GW_END_INTERNAL] = {"internal error", NULL},
    [GW_END_UNAVAILABLE] = {"service unavailable, try again later", NULL},
    [GW_END_TARGET] = {"target failed", NULL},
    [GW_END_KILLED] = {"killed by admin", NULL},
    [GW_END_CHANNEL_IO] = {"channel i/o error", NULL},
    [GW_END_DEST_FAILED] = {"destination connection failed", NULL},
    [GW_END_BACKEND_LOST] = {"backend connection lost", NULL},
    [GW_END_AUDIT_DOWN] = {"sshgate: audit store unavailable, refusing new "
                           "sessions",
                           "audit store unavailable"},
    [GW_END_VERSION] = {"no version line within version_timeout", NULL},
    [GW_END_REVOKED] = {"access revoked", NULL},
};

const char *gw_ending_text(enum gw_ending ending)
{
    size_t i = (size_t)ending;

    if (i >= sizeof(ending_table) / sizeof(ending_table[0])) {
        return "closed";
    }
    return ending_table[i].text;
}

const char *gw_ending_row_reason(enum gw_ending ending, char closer,
                                 const char *detail)
{
    size_t i = (size_t)ending;

    if (ending == GW_END_NONE) {
        return closer == 'b' ? "backend closed" : "client closed";
    }
    if (ending == GW_END_TARGET && detail != NULL && detail[0] != '\0') {
        return detail;
    }
    if (i >= sizeof(ending_table) / sizeof(ending_table[0])) {
        return "closed";
    }
    return ending_table[i].row != NULL ? ending_table[i].row
                                       : ending_table[i].text;
}
