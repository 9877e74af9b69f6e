/*
 * The algorithm names libssh 0.10 (Debian 12's OpenSSL build) knows, per
 * kind, and which of them are weak. libssh itself silently drops names it
 * does not know from a list, so sshgated checks the configured lists first
 * and reports typos as configuration errors.
 */
#ifndef SSHGATE_GATEWAY_FRONT_ALGOS_H
#define SSHGATE_GATEWAY_FRONT_ALGOS_H

enum gw_algo_kind {
    GW_ALGO_KEX,
    GW_ALGO_CIPHER,
    GW_ALGO_MAC,
    GW_ALGO_HOSTKEY,
    GW_ALGO_PUBKEY,
};

/* Called for each weak algorithm in a list, with the reason. */
typedef void (*gw_algo_warn_fn)(void *ud, const char *name, const char *why);

/*
 * Check a comma-separated list. GW_OK, or GW_ERR_INVALID naming the first
 * unknown (or unsupported) algorithm. Weak ones are passed to warn (which
 * may be NULL) but accepted: an operator may need them for old clients.
 */
int gw_algos_check(enum gw_algo_kind kind, const char *list,
                   gw_algo_warn_fn warn, void *ud);

/*
 * gw_config_check_fn for sshgated: the algorithm list settings (kex,
 * ciphers, macs, hostkey_algorithms, pubkey_accepted_algorithms) must name
 * algorithms libssh implements; weak ones are logged as warnings. Other
 * keys pass.
 */
int gw_algos_config_check(const char *key, const char *value);

#endif
