/* Users' SSH public keys. */
#ifndef SSHGATE_STORE_KEYS_H
#define SSHGATE_STORE_KEYS_H

#include "core/sshkey_types.h"
#include "core/strutil.h"
#include "core/timeutil.h"

#include <stddef.h>
#include <stdint.h>

struct store;

struct store_user_key {
    int64_t id;
    char user[GW_NAME_MAX + 1];
    char type[GW_KEYTYPE_MAX];
    char *blob_b64;
    char fingerprint[GW_FINGERPRINT_MAX];
    char *comment;
    char created_at[GW_TIME_LEN];
};

/*
 * Add a validated key (from gw_pubkey_parse_line) to user.
 * GW_OK, GW_ERR_NOTFOUND (user), GW_ERR_EXISTS (same key twice), GW_ERR_DB.
 */
int store_key_add(struct store *st, const char *user,
                  const struct gw_pubkey *key, int64_t *id);

/* Keys of one user (or of all users when user is NULL), oldest first.
 * GW_ERR_NOTFOUND when the named user does not exist. */
int store_key_list(struct store *st, const char *user,
                   struct store_user_key **keys, size_t *n);
void store_key_list_free(struct store_user_key *keys, size_t n);

/* The key of user with this fingerprint. GW_OK or GW_ERR_NOTFOUND. */
int store_key_get(struct store *st, const char *user, const char *fingerprint,
                  struct store_user_key *out);
void store_key_clear(struct store_user_key *key);

/* GW_OK, or GW_ERR_NOTFOUND for an unknown user or fingerprint. */
int store_key_delete(struct store *st, const char *user,
                     const char *fingerprint);

#endif
