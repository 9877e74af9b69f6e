/*
 * store_open: connect (db.c), then bring the schema up to date
 * (migrations.c). Above both, so that db.c calls nothing in store/ and
 * migrations.c only calls down into db.c.
 */
#include "store/open.h"

#include "store/internal.h"
#include "store/pg.h"

bool store_is_server(const char *target)
{
    return target != NULL && st_pg_is_target(target);
}

int store_open(const char *path, int flags, struct store **out)
{
    struct store *st = NULL;
    int rc = st_connect(path, flags, &st);

    if (rc != GW_OK) {
        return rc;
    }
    rc = st_migrate(st);
    if (rc != GW_OK) {
        store_close(st);
        return rc;
    }
    *out = st;
    return GW_OK;
}
