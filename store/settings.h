/* Named settings kept in the database (gateway-wide state, not config). */
#ifndef SSHGATE_STORE_SETTINGS_H
#define SSHGATE_STORE_SETTINGS_H

#include <stdint.h>

struct store;

/* *value is malloc'd. GW_OK or GW_ERR_NOTFOUND. */
int store_setting_get(struct store *st, const char *name, char **value);

/* Insert or replace. */
int store_setting_set(struct store *st, const char *name, const char *value);

/*
 * The access generation: a counter in the settings row of this name that
 * every change to users, keys or grants bumps in its own transaction, so
 * that the daemon learns with one cheap read that the access of open
 * connections must be checked again (docs/architecture.md).
 */
#define STORE_ACCESS_GENERATION_SETTING "access.generation"

/* The current generation; 0 while nothing was ever bumped. */
int store_access_generation(struct store *st, int64_t *gen);

/* Add one to it (inside the caller's transaction, if any). */
int store_access_bump(struct store *st);

#endif
