/*
 * Opening a database (store/open.c): connect, then run the numbered
 * migrations (PRAGMA user_version); a database whose schema is newer than
 * this binary is refused.
 */
#ifndef SSHGATE_STORE_OPEN_H
#define SSHGATE_STORE_OPEN_H

#include "store/db.h"

#include <stdbool.h>

enum store_open_flags {
    STORE_OPEN_EXISTING = 0, /* fail if the file does not exist */
    STORE_OPEN_CREATE = 1,   /* create the file (mode 0600) if missing */
};

/*
 * Open (and migrate) the database at path. On success *out must be closed
 * with store_close. GW_OK, GW_ERR_NOTFOUND (no such file without CREATE),
 * GW_ERR_IO (cannot open/create), GW_ERR_SCHEMA (newer schema), GW_ERR_DB.
 */
int store_open(const char *path, int flags, struct store **out);

/* Does target name a database server (a PostgreSQL URI or key=value
 * string) rather than a SQLite file? */
bool store_is_server(const char *target);

#endif
