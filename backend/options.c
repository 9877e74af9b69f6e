#include "backend/options.h"

#include "core/err.h"

#if defined(__aarch64__)
#include <sys/auxv.h>
#endif

/* With AES instructions (x86 AES-NI + PCLMUL, Armv8 AES + PMULL),
 * aes128-gcm costs the gateway far less CPU per byte than libssh's first
 * choice, chacha20-poly1305 (docs/performance.md); the gateway is the
 * client on the backend leg and so picks its cipher. NULL: libssh's
 * order. The backend still decides among these what it allows. */
static const char *preferred_ciphers(void)
{
    static const char aes_first[] =
        "aes128-gcm@openssh.com,aes256-gcm@openssh.com,"
        "chacha20-poly1305@openssh.com,aes256-ctr,aes192-ctr,aes128-ctr";
    bool aes = false;

#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    aes = __builtin_cpu_supports("aes") && __builtin_cpu_supports("pclmul");
#elif defined(__aarch64__) && defined(HWCAP_AES) && defined(HWCAP_PMULL)
    unsigned long caps = getauxval(AT_HWCAP);
    aes = (caps & HWCAP_AES) != 0 && (caps & HWCAP_PMULL) != 0;
#endif
    return aes ? aes_first : NULL;
}

int gw_ssh_client_configure(ssh_session s,
                            const struct gw_ssh_client_opts *opts)
{
    bool no = false;
    int yes = 1;
    long timeout = opts->timeout_s;
    unsigned int port = opts->port;
    int fd = opts->fd;
    const char *ciphers = preferred_ciphers();

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
         ssh_options_set(s, SSH_OPTIONS_HOSTKEYS, opts->hostkeys) != SSH_OK) ||
        (ciphers != NULL &&
         (ssh_options_set(s, SSH_OPTIONS_CIPHERS_C_S, ciphers) != SSH_OK ||
          ssh_options_set(s, SSH_OPTIONS_CIPHERS_S_C, ciphers) != SSH_OK))) {
        return GW_ERR;
    }
    /* Last: SSH_OPTIONS_HOST would replace it if host had a "user@". */
    if (ssh_options_set(s, SSH_OPTIONS_USER, opts->user) != SSH_OK) {
        return GW_ERR_INVALID;
    }
    return GW_OK;
}
