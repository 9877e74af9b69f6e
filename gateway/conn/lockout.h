/*
 * The lockouts of front authentication (docs/configuration.md, "Lockouts").
 * Two counters watch failed logins: the source address's, in memory
 * (gateway/daemon/limits.c) and, in a cluster (the database on a server),
 * in the store too (store/sources.c), so that the nodes count one source
 * together; and the user's, in the store (store/users.c).
 * The source comes first: a failure counts toward the user only while its
 * address was not locked yet, and the defaults lock an address out
 * (source_lockout_threshold) before it can reach lockout_threshold, so
 * that nobody can lock a user from one address. What a user's lock refuses
 * is lockout_scope: only the password methods, or every method.
 */
#ifndef SSHGATE_GATEWAY_CONN_LOCKOUT_H
#define SSHGATE_GATEWAY_CONN_LOCKOUT_H

#include "core/config.h"
#include "gateway/daemon/limits.h"

#include <stdbool.h>

struct gw_conn;
struct store_user;

/* Whether a lock of the user in force refuses a login with a method:
 * every method under lockout_scope = user, only password and
 * keyboard-interactive (password_method) under password. */
bool gw_lockout_refuses(enum gw_lockout_scope scope, bool password_method);

/* Whether a successful login with a method ends the user's window of
 * failures: any method under user (as before lockout_scope existed), only
 * a password method under password. */
bool gw_lockout_success_resets(enum gw_lockout_scope scope,
                               bool password_method);

/* Whether a failure that counts toward the user does, given what counting
 * it toward its source found: not when the source was locked already. */
bool gw_lockout_counts_user(enum gw_source_count source);

/* Is c's source locked out for failures (under the prefixes in force
 * now)? In this node's memory, or in a cluster in the database; a
 * database error is logged and counts as not locked. */
bool gw_lockout_source_locked(struct gw_conn *c);

/* The reason a refused login with the right credential records. */
const char *gw_lockout_reason(enum gw_lockout_scope scope);

/*
 * Count a failed attempt of c: toward its source address when
 * counts_source, then toward user (NULL: no such user) when counts_user
 * (a password was wrong) and the source allows it. Writes
 * auth.source_locked and auth.locked when a lock begins.
 */
void gw_lockout_failure(struct gw_conn *c, const struct store_user *user,
                        bool counts_user, bool counts_source);

/* A successful login of user with a method: end her window of failures
 * when gw_lockout_success_resets says so. */
void gw_lockout_success(struct gw_conn *c, const struct store_user *user,
                        bool password_method);

#endif
