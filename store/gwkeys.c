#include "store/gwkeys.h"

#include "store/internal.h"

#include <stdlib.h>
#include <string.h>

int store_gwkey_add(struct store *st, const char *purpose,
                    const struct gw_keypair *kp, int64_t *id)
{
    struct st_stmt *stmt = NULL;
    char now[GW_TIME_LEN];
    int rc;

    gw_time_now_iso(now);
    rc = st_prepare(st,
                    "INSERT INTO gateway_keys (purpose, key_type, "
                    "public_blob, fingerprint, private_key, created_at) "
                    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    &stmt);
    if (rc != GW_OK) {
        return rc;
    }
    st_bind_text(stmt, 1, purpose);
    st_bind_text(stmt, 2, kp->pub.type);
    st_bind_text(stmt, 3, kp->pub.blob_b64);
    st_bind_text(stmt, 4, kp->pub.fingerprint);
    st_bind_text(stmt, 5, kp->private_text);
    st_bind_text(stmt, 6, now);
    rc = st_step(stmt);
    if (rc != ST_DONE) {
        rc = st_fail(st, rc, "storing gateway key");
    } else {
        rc = id != NULL ? st_last_insert_id(st, id) : GW_OK;
    }
    st_done(st, stmt);
    return rc;
}

void store_gwkey_list_free(struct store_gwkey *keys, size_t n)
{
    if (keys == NULL) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        free(keys[i].public_b64);
    }
    free(keys);
}

static int read_gwkey_row(struct st_stmt *stmt, void *elem)
{
    struct store_gwkey *k = elem;

    memset(k, 0, sizeof(*k));
    k->id = st_col_int64(stmt, 0);
    st_col_copy(stmt, 1, k->purpose, sizeof(k->purpose));
    st_col_copy(stmt, 2, k->type, sizeof(k->type));
    k->public_b64 = st_col_dup(stmt, 3);
    st_col_copy(stmt, 4, k->fingerprint, sizeof(k->fingerprint));
    st_col_copy(stmt, 5, k->created_at, sizeof(k->created_at));
    return k->public_b64 != NULL ? GW_OK : GW_ERR_NOMEM;
}

static void clear_gwkey_row(void *elem)
{
    struct store_gwkey *k = elem;

    free(k->public_b64);
}

int store_gwkey_list(struct store *st, const char *purpose,
                     struct store_gwkey **keys, size_t *n)
{
    static const struct st_rows rows = {sizeof(struct store_gwkey),
                                        read_gwkey_row, clear_gwkey_row,
                                        "listing gateway keys"};
    struct st_stmt *stmt = NULL;
    int rc;

    rc = st_prepare(st,
                    "SELECT id, purpose, key_type, public_blob, fingerprint, "
                    "created_at FROM gateway_keys WHERE purpose = ?1 OR "
                    "?1 IS NULL ORDER BY purpose DESC, id",
                    &stmt);
    if (rc != GW_OK) {
        return rc;
    }
    st_bind_text(stmt, 1, purpose);
    return st_collect(st, stmt, &rows, keys, n);
}

int store_gwkey_private(struct store *st, int64_t id, char **private_text)
{
    int rc =
        st_get_one(st, "SELECT private_key FROM gateway_keys WHERE id = ?1",
                   ST_PARAMS(ST_INT64(id)), st_row_text, private_text,
                   "reading gateway key");

    if (rc == GW_ERR_NOTFOUND) {
        rc = gw_err_set(GW_ERR_NOTFOUND, "no gateway key %lld", (long long)id);
    }
    return rc;
}
