/* Named settings kept in the database (gateway-wide state, not config). */
#ifndef SSHGATE_STORE_SETTINGS_H
#define SSHGATE_STORE_SETTINGS_H

struct store;

/* *value is malloc'd. GW_OK or GW_ERR_NOTFOUND. */
int store_setting_get(struct store *st, const char *name, char **value);

/* Insert or replace. */
int store_setting_set(struct store *st, const char *name, const char *value);

#endif
