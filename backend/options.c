#include "backend/options.h"

#include "core/err.h"

int gw_ssh_client_configure(ssh_session s,
                            const struct gw_ssh_client_opts *opts)
{
    bool no = false;
    int yes = 1;
    long timeout = opts->timeout_s;
    unsigned int port = opts->port;
    int fd = opts->fd;

    /* PROCESS_CONFIG off: otherwise ssh_connect reads ~/.ssh/config and
     * /etc/ssh/ssh_config, ProxyCommand included. */
    if (ssh_options_set(s, SSH_OPTIONS_PROCESS_CONFIG, &no) != SSH_OK ||
        ssh_options_set(s, SSH_OPTIONS_HOST, opts->host) != SSH_OK ||
        ssh_options_set(s, SSH_OPTIONS_PORT, &port) != SSH_OK ||
        (fd >= 0 && ssh_options_set(s, SSH_OPTIONS_FD, &fd) != SSH_OK) ||
        (opts->ssh_dir != NULL &&
         ssh_options_set(s, SSH_OPTIONS_SSH_DIR, opts->ssh_dir) != SSH_OK) ||
        ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &timeout) != SSH_OK ||
        (opts->nodelay &&
         ssh_options_set(s, SSH_OPTIONS_NODELAY, &yes) != SSH_OK) ||
        ssh_options_set(s, SSH_OPTIONS_KNOWNHOSTS, "/dev/null") != SSH_OK ||
        ssh_options_set(s, SSH_OPTIONS_GLOBAL_KNOWNHOSTS, "/dev/null") !=
            SSH_OK ||
        (opts->hostkeys != NULL &&
         ssh_options_set(s, SSH_OPTIONS_HOSTKEYS, opts->hostkeys) != SSH_OK)) {
        return GW_ERR;
    }
    /* Last: SSH_OPTIONS_HOST would replace it if host had a "user@". */
    if (ssh_options_set(s, SSH_OPTIONS_USER, opts->user) != SSH_OK) {
        return GW_ERR_INVALID;
    }
    return GW_OK;
}
