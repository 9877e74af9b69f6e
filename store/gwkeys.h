/* The gateway's own keys: server host keys and the backend identity key.
 * Private parts leave the store only through store_gwkey_private. */
#ifndef SSHGATE_STORE_GWKEYS_H
#define SSHGATE_STORE_GWKEYS_H

#include "core/sshkey_types.h"
#include "core/timeutil.h"

#include <stddef.h>
#include <stdint.h>

struct store;

#define STORE_GWKEY_HOST    "host"    /* presented to users' clients */
#define STORE_GWKEY_BACKEND "backend" /* authenticates us to backends */

struct store_gwkey {
    int64_t id;
    char purpose[16];
    char type[GW_KEYTYPE_MAX];
    char *public_b64;
    char fingerprint[GW_FINGERPRINT_MAX];
    char created_at[GW_TIME_LEN];
};

/* Store a generated key pair for purpose. */
int store_gwkey_add(struct store *st, const char *purpose,
                    const struct gw_keypair *kp, int64_t *id);

/* Public parts of the keys for purpose (NULL: all), oldest first. */
int store_gwkey_list(struct store *st, const char *purpose,
                     struct store_gwkey **keys, size_t *n);
void store_gwkey_list_free(struct store_gwkey *keys, size_t n);

/* The private key text of key id; wipe with gw_free_secret_str. */
int store_gwkey_private(struct store *st, int64_t id, char **private_text);

#endif
