/*
 * The decisions forwarding needs, kept free of SSH so that they are unit
 * tested directly: which grant a terminated session uses, whether a
 * direct-tcpip destination may be reached, which environment variables
 * pass, whether an exec command is a file transfer. The store-backed
 * resolution of a login name's target is here too
 * (it only reads grants and hosts).
 */
#ifndef SSHGATE_GATEWAY_CONN_POLICY_H
#define SSHGATE_GATEWAY_CONN_POLICY_H

#include "gateway/conn/target.h"
#include "store/grants.h"
#include "store/hosts.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;

#define GW_DENIAL_MAX 256

/* Why something was refused: a stable reason code for events and one line
 * for the user (no trailing newline). */
struct gw_denial {
    const char *reason;
    char message[GW_DENIAL_MAX];
};

/* Does name match one of the comma-separated fnmatch patterns? An empty
 * list matches nothing. */
bool gw_env_allowed(const char *patterns, const char *name);

/*
 * Choose the grant a terminated session to host uses. grants are all of
 * user's grants, expired ones included (store_grant_list(..., false)).
 * With login ("alice+root@web1") the unexpired grant for that login;
 * without, the only unexpired grant on host, else the one whose login is
 * the host's default_login. GW_OK with *out pointing into grants, or
 * GW_ERR_DENIED with why filled in (reasons: no-grant, expired,
 * login-not-granted, ambiguous-login). sep is target_separator, for the
 * hint in the ambiguous case.
 */
int gw_pick_grant(const struct store_grant *grants, size_t n, const char *user,
                  const char *host, const char *login,
                  const char *default_login, char sep,
                  const struct store_grant **out, struct gw_denial *why);

/* How a direct-tcpip destination was allowed. */
enum gw_forward_how {
    GW_FORWARD_JUMP = 1, /* a granted host's SSH port (ProxyJump, -W) */
    GW_FORWARD_PORT = 2, /* another port, under a "forward" grant */
};

/*
 * May a user with these unexpired grants open a direct-tcpip channel
 * without a target (the gateway connects itself) to dest:port? dest must
 * be a granted host's name (case-insensitive) or its address, literally:
 * no name resolution, so no DNS trick can widen it. The host's SSH port is
 * open to any grant on it; any other port needs the forward kind. GW_OK
 * with *out (the grant, whose address to connect to) and *how, or
 * GW_ERR_DENIED with why (reasons: not-a-granted-host, port-not-granted).
 */
int gw_forward_check(const struct store_grant *grants, size_t n,
                     const char *dest, uint16_t port,
                     const struct store_grant **out, enum gw_forward_how *how,
                     struct gw_denial *why);

/* The stock file-transfer tools an exec request can start. */
enum gw_transfer {
    GW_TRANSFER_NONE = 0,
    GW_TRANSFER_SCP,   /* scp -t / scp -f: the legacy scp protocol */
    GW_TRANSFER_RSYNC, /* rsync --server */
    GW_TRANSFER_SFTP,  /* sftp-server or internal-sftp run as a command */
    /* Not examined (out of memory): counted as a transfer, since one may
     * be in it. */
    GW_TRANSFER_UNKNOWN,
};

/* "scp", "rsync", "sftp", "unknown"; "" for GW_TRANSFER_NONE. */
const char *gw_transfer_name(enum gw_transfer t);

/*
 * Is this exec command the server side of a stock file-transfer tool? The
 * command is split into words as a POSIX shell would (quotes, backslashes,
 * comments), cut into simple commands at unquoted ; & | ( ) and newlines,
 * and each simple command is looked at after leading NAME=VALUE
 * assignments, keywords (if, then, !, time, ...) and wrappers (env, exec,
 * command, nice, nohup, sudo, doas, ionice, stdbuf, setsid, with their
 * options). A transfer is: a first word whose basename is scp with a -t or
 * -f flag before "--"; rsync with --server anywhere after it; sftp-server
 * or internal-sftp. The script of "sh -c SCRIPT" (bash, dash, ...) is
 * looked into the same way.
 *
 * This stops the stock clients (scp -O, rsync -e ssh, sftp -s PATH),
 * which send these commands; it cannot see through variables, command
 * substitution, eval or a script on the backend, and any command can move
 * data (cat > file). An exec grant means "any command".
 */
enum gw_transfer gw_policy_transfer_command(const char *cmd);

/*
 * Resolve a login name's target for user: read user's grants and the host,
 * pick the grant. GW_OK with *host (clear it with store_host_clear) and
 * *grant filled; GW_ERR_DENIED with why; another GW_ERR_* when the store
 * failed (gw_err_msg says why).
 */
int gw_resolve_target(struct store *st, const char *user,
                      const struct gw_target *target, char sep,
                      struct store_host *host, struct store_grant *grant,
                      struct gw_denial *why);

#endif
