/*
 * The libssh options of every SSH client session sshgate opens: backend
 * sessions (backend/client.c, for sshgated and "host check" / "host
 * trust") and the probe of "sshgate-admin health" against the daemon
 * itself. One place, so that none of them reads ssh_config, a known_hosts
 * file or ~/.ssh behind our back.
 */
#ifndef SSHGATE_BACKEND_OPTIONS_H
#define SSHGATE_BACKEND_OPTIONS_H

#include <libssh/libssh.h>
#include <stdbool.h>

/* What differs between the sessions. Strings are borrowed. */
struct gw_ssh_client_opts {
    const char *host; /* a name or an address, never "user@host" */
    unsigned int port;
    const char *user;
    long timeout_s; /* every blocking libssh call, ssh_connect included */
    /* A socket we connected ourselves (libssh leaves it open), or -1 to
     * let ssh_connect connect. */
    int fd;
    bool nodelay; /* only matters when libssh connects */
    /* Home of libssh's user files, or NULL for its default (~/.ssh,
     * looked up at ssh_connect). */
    const char *ssh_dir;
    /* Host key algorithms to offer, or NULL for libssh's default. */
    const char *hostkeys;
};

/*
 * Set up s: no configuration files, no known_hosts (the caller verifies
 * the host key itself), then opts. The user is set last, on its own:
 * GW_ERR_INVALID when libssh refuses it (Debian's libssh refuses names
 * with shell metacharacters), GW_ERR when it refuses anything else. Either
 * way ssh_get_error(s) has libssh's reason and no gw_err message is set:
 * the caller words the failure for its context.
 */
int gw_ssh_client_configure(ssh_session s,
                            const struct gw_ssh_client_opts *opts);

#endif
