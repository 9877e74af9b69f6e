/* Grants: which user may reach which host, as which login, doing what. */
#ifndef SSHGATE_STORE_GRANTS_H
#define SSHGATE_STORE_GRANTS_H

#include "core/strutil.h"
#include "core/timeutil.h"
#include "store/hosts.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;

/* Channel kinds a grant allows (bit set). */
enum store_allow {
    STORE_ALLOW_SHELL = 1u << 0,          /* interactive shell */
    STORE_ALLOW_EXEC = 1u << 1,           /* remote command */
    STORE_ALLOW_SFTP = 1u << 2,           /* sftp subsystem */
    STORE_ALLOW_FORWARD = 1u << 3,        /* -L / -W / -J (direct-tcpip) */
    STORE_ALLOW_REMOTE_FORWARD = 1u << 4, /* -R (tcpip-forward) */
    STORE_ALLOW_AGENT = 1u << 5,          /* -A (agent forwarding) */
    /* scp -O, rsync, sftp-server as exec commands (needs exec too; sftp
     * allows them as well: it moves files anyway). Stored by name like
     * every kind, so no schema change. */
    STORE_ALLOW_TRANSFER = 1u << 6,
};
#define STORE_ALLOW_DEFAULT \
    (STORE_ALLOW_SHELL | STORE_ALLOW_EXEC | STORE_ALLOW_SFTP)
#define STORE_ALLOW_ALL      0x7fu
#define STORE_ALLOW_TEXT_MAX 64

/* "shell,exec,sftp" -> bits. "all" means every kind. GW_ERR_INVALID for an
 * unknown or empty name. */
int store_allow_parse(const char *text, unsigned *allow);
/* bits -> "shell,exec,sftp" in a canonical order. */
void store_allow_format(unsigned allow, char out[STORE_ALLOW_TEXT_MAX]);

struct store_grant {
    int64_t id;
    char user[GW_NAME_MAX + 1];
    char host[GW_NAME_MAX + 1];
    char login[GW_NAME_MAX + 1];
    unsigned allow;
    char expires_at[GW_TIME_LEN]; /* "" when it never expires */
    char created_at[GW_TIME_LEN];
    /* The granted host, for callers that list where a user may go. */
    char address[STORE_ADDRESS_MAX + 1];
    uint16_t port;
    int64_t rate_limit; /* bytes/s each way over its channels; 0: none */
};

/*
 * Grant user access to host as login (NULL/"": the host's default login).
 * expires_at is canonical ISO time or NULL. GW_OK, GW_ERR_NOTFOUND (unknown
 * user or host), GW_ERR_INVALID (no login given and host has none; bad
 * login), GW_ERR_EXISTS.
 */
int store_grant_add(struct store *st, const char *user, const char *host,
                    const char *login, unsigned allow, const char *expires_at,
                    char sep, int64_t *id);

/* Set the rate limit of the grant of user on host for login (bytes per
 * second each way; 0 removes it). GW_OK, GW_ERR_NOTFOUND, GW_ERR_INVALID. */
int store_grant_set_rate_limit(struct store *st, const char *user,
                               const char *host, const char *login,
                               int64_t rate);

/* Grants of one user (NULL: everyone's), by user, host, login. When
 * active_only, expired grants are left out. */
int store_grant_list(struct store *st, const char *user, bool active_only,
                     struct store_grant **grants, size_t *n);

/* Delete the grant of user on host for login, or for every login when
 * login is NULL. GW_OK, GW_ERR_NOTFOUND. */
int store_grant_delete(struct store *st, const char *user, const char *host,
                       const char *login);

/* The unexpired grant of user on host for login. GW_OK or GW_ERR_NOTFOUND. */
int store_grant_find(struct store *st, const char *user, const char *host,
                     const char *login, struct store_grant *out);

/* True when expires_at is set and not in the future. */
bool store_grant_expired(const struct store_grant *grant);

#endif
