/* Users of the gateway: who may log in, with which credentials. */
#ifndef SSHGATE_STORE_USERS_H
#define SSHGATE_STORE_USERS_H

#include "core/strutil.h"
#include "core/timeutil.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;

/*
 * The lockout in the users row (no column of its own for it: see
 * docs/audit-schema.md, "users"):
 *   failed_logins  failures counted in the current window of lockout_time;
 *                  while locked (and after), the count that locked;
 *   locked_until   NULL: nothing counted;
 *                  in the future: locked until then -- the password methods
 *                  under lockout_scope = password, the whole user under
 *                  lockout_scope = user;
 *                  in the past: when the current window of failures began
 *                  (or when the last lock ended).
 * What a lock locks is the daemon's lockout_scope, which sshgated keeps in
 * the settings row named STORE_LOCKOUT_SCOPE_SETTING.
 */
#define STORE_LOCKOUT_SCOPE_SETTING "lockout_scope"

struct store_user {
    int64_t id;
    char name[GW_NAME_MAX + 1];
    bool is_admin;
    bool disabled;
    bool has_password;
    int failed_logins;
    char locked_until[GW_TIME_LEN]; /* the column as is, "" for NULL */
    int key_count;
    char created_at[GW_TIME_LEN];
    char updated_at[GW_TIME_LEN];
    int64_t rate_limit; /* bytes/s each way over her channels; 0: none */
};

/*
 * Add a user. password_hash may be NULL (key-only user). The name is
 * checked with gw_name_check against sep (the login separator).
 * GW_OK, GW_ERR_INVALID, GW_ERR_EXISTS, GW_ERR_DB.
 */
int store_user_add(struct store *st, const char *name, bool is_admin,
                   const char *password_hash, char sep, int64_t *id);

/* GW_OK or GW_ERR_NOTFOUND ("unknown user 'x'"). */
int store_user_get(struct store *st, const char *name, struct store_user *out);

/* All users ordered by name. Free *users with free(). */
int store_user_list(struct store *st, struct store_user **users, size_t *n);

/* Delete a user with her keys and grants. GW_OK or GW_ERR_NOTFOUND. */
int store_user_delete(struct store *st, const char *name);

int store_user_set_disabled(struct store *st, const char *name, bool disabled);

/* Replace the password hash (NULL removes password login). */
int store_user_set_password(struct store *st, const char *name,
                            const char *password_hash);

/* The stored hash; *hash is malloc'd. GW_ERR_NOTFOUND when the user does
 * not exist or has no password. */
int store_user_password_hash(struct store *st, const char *name, char **hash);

/* Set the user's rate limit (bytes per second each way; 0 removes it).
 * GW_OK, GW_ERR_NOTFOUND, GW_ERR_INVALID (negative). */
int store_user_set_rate_limit(struct store *st, const char *name, int64_t rate);

/* Clear failed-login counter and lock. GW_OK or GW_ERR_NOTFOUND. */
int store_user_unlock(struct store *st, const char *name);

/* The rule a failure is counted under. */
struct store_lockout {
    int threshold;  /* failures within one window that lock */
    int seconds;    /* the length of the window and of the lock */
    int64_t now_ms; /* the wall clock, ms since the epoch */
};

/*
 * Count a failed login under rule: the first failure opens a window of
 * rule->seconds, and the rule->threshold-th failure within it locks the
 * user for rule->seconds; a failure after the window (or after a lock)
 * opens a new one. A user locked already is not counted, so refused
 * attempts cannot extend a lock. *locked tells whether this failure
 * locked her. GW_OK, GW_ERR_NOTFOUND, GW_ERR_DB.
 */
int store_user_record_failure(struct store *st, const char *name,
                              const struct store_lockout *rule, bool *locked);

/* A successful login ends the window of failures; it never ends a lock in
 * force (the caller decides which logins count, gateway/conn/lockout.c). */
int store_user_record_success(struct store *st, const char *name);

/* True when locked_until is set and in the future. */
bool store_user_is_locked(const struct store_user *user);

#endif
