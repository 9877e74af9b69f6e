#include "gateway/daemon/ending.h"

#include <stddef.h>

struct ending_texts {
    const char *text;  /* for the client, the log and conn.close */
    const char *row;   /* for the sessions row; NULL: the same as text */
    const char *label; /* for /metrics: short, stable, no spaces */
};

/* Indexed by enum gw_ending; the order of the enum is the order here. */
static const struct ending_texts ending_table[] = {
    [GW_END_NONE] = {"closed", NULL, "closed"},
    [GW_END_CLIENT_GONE] = {"client disconnected", "client closed",
                            "client_gone"},
    [GW_END_KEX_CLIENT_GONE] = {"client disconnected during key exchange", NULL,
                                "kex_client_gone"},
    [GW_END_KEX_FAILED] = {"key exchange failed", NULL, "kex_failed"},
    [GW_END_GRACE] = {"Login grace time exceeded", NULL, "login_grace_time"},
    [GW_END_AUTH_FAILURES] = {"Too many authentication failures", NULL,
                              "max_auth_attempts"},
    [GW_END_AUTH_UNANSWERED] = {"Authentication failed", NULL,
                                "auth_unanswered"},
    [GW_END_KEEPALIVE] = {"Timeout, client not responding", NULL, "keepalive"},
    [GW_END_IDLE] = {"Idle timeout", "idle timeout", "idle_timeout"},
    [GW_END_SHUTDOWN] = {"gateway shutting down", "shutdown", "shutdown"},
    [GW_END_INTERNAL] = {"internal error", NULL, "internal"},
    [GW_END_UNAVAILABLE] = {"service unavailable, try again later", NULL,
                            "unavailable"},
    [GW_END_TARGET] = {"target failed", NULL, "target_failed"},
    [GW_END_KILLED] = {"killed by admin", NULL, "killed"},
    [GW_END_CHANNEL_IO] = {"channel i/o error", NULL, "channel_io"},
    [GW_END_DEST_FAILED] = {"destination connection failed", NULL,
                            "dest_failed"},
    [GW_END_BACKEND_LOST] = {"backend connection lost", NULL, "backend_lost"},
    [GW_END_AUDIT_DOWN] = {"sshgate: audit store unavailable, refusing new "
                           "sessions",
                           "audit store unavailable", "audit_failure"},
    [GW_END_VERSION] = {"no version line within version_timeout", NULL,
                        "version_timeout"},
    [GW_END_REVOKED] = {"access revoked", NULL, "revoked"},
};

/* GW_END_COUNT (ending.h) must follow the enum's last value. */
_Static_assert(sizeof(ending_table) / sizeof(ending_table[0]) == GW_END_COUNT,
               "GW_END_COUNT is not one past the last enum gw_ending");

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

const char *gw_ending_label(enum gw_ending ending)
{
    size_t i = (size_t)ending;

    if (i >= sizeof(ending_table) / sizeof(ending_table[0])) {
        return "closed";
    }
    return ending_table[i].label;
}
