#include "store/keys.h"

#include "store/internal.h"
#include "store/users.h"

#include <stdlib.h>
#include <string.h>

#define KEY_COLUMNS                                                    \
    "k.id, u.name, k.key_type, k.key_blob, k.fingerprint, k.comment, " \
    "k.created_at"

static int read_key(struct st_stmt *stmt, struct store_user_key *k)
{
    memset(k, 0, sizeof(*k));
    k->id = st_col_int64(stmt, 0);
    st_col_copy(stmt, 1, k->user, sizeof(k->user));
    st_col_copy(stmt, 2, k->type, sizeof(k->type));
    k->blob_b64 = st_col_dup(stmt, 3);
    st_col_copy(stmt, 4, k->fingerprint, sizeof(k->fingerprint));
    k->comment = st_col_dup(stmt, 5);
    st_col_copy(stmt, 6, k->created_at, sizeof(k->created_at));
    if (k->blob_b64 == NULL || k->comment == NULL) {
        store_key_clear(k);
        return GW_ERR_NOMEM;
    }
    return GW_OK;
}

void store_key_clear(struct store_user_key *key)
{
    free(key->blob_b64);
    free(key->comment);
    memset(key, 0, sizeof(*key));
}

void store_key_list_free(struct store_user_key *keys, size_t n)
{
    if (keys == NULL) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        store_key_clear(&keys[i]);
    }
    free(keys);
}

static int user_id(struct store *st, const char *user, int64_t *id)
{
    struct store_user u;
    int rc = store_user_get(st, user, &u);

    if (rc == GW_OK) {
        *id = u.id;
    }
    return rc;
}

int store_key_add(struct store *st, const char *user,
                  const struct gw_pubkey *key, int64_t *id)
{
    struct st_stmt *stmt = NULL;
    char now[GW_TIME_LEN];
    int64_t uid = 0;
    int rc;

    rc = user_id(st, user, &uid);
    if (rc != GW_OK) {
        return rc;
    }
    gw_time_now_iso(now);
    rc = st_prepare(st,
                    "INSERT INTO user_keys (user_id, key_type, key_blob, "
                    "fingerprint, comment, created_at) "
                    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    &stmt);
    if (rc != GW_OK) {
        return rc;
    }
    st_bind_int64(stmt, 1, uid);
    st_bind_text(stmt, 2, key->type);
    st_bind_text(stmt, 3, key->blob_b64);
    st_bind_text(stmt, 4, key->fingerprint);
    st_bind_text(stmt, 5, key->comment != NULL ? key->comment : "");
    st_bind_text(stmt, 6, now);
    rc = st_insert(st, stmt, "adding key", id);
    if (rc == GW_ERR_EXISTS) {
        rc = gw_err_set(GW_ERR_EXISTS, "user '%s' already has key %s", user,
                        key->fingerprint);
    }
    return rc;
}

static int read_key_row(struct st_stmt *stmt, void *elem)
{
    return read_key(stmt, elem);
}

static void clear_key_row(void *elem)
{
    store_key_clear(elem);
}

int store_key_list(struct store *st, const char *user,
                   struct store_user_key **keys, size_t *n)
{
    static const struct st_rows rows = {sizeof(struct store_user_key),
                                        read_key_row, clear_key_row,
                                        "listing keys"};
    struct st_stmt *stmt = NULL;
    int64_t uid = 0;
    int rc;

    if (user != NULL) {
        rc = user_id(st, user, &uid);
        if (rc != GW_OK) {
            return rc;
        }
    }
    rc = st_prepare(st,
                    "SELECT " KEY_COLUMNS " FROM user_keys k JOIN users u ON "
                    "u.id = k.user_id WHERE k.user_id = ?1 OR ?1 IS NULL "
                    "ORDER BY u.name, k.id",
                    &stmt);
    if (rc != GW_OK) {
        return rc;
    }
    if (user != NULL) {
        st_bind_int64(stmt, 1, uid);
    }
    return st_collect(st, stmt, &rows, keys, n);
}

int store_key_get(struct store *st, const char *user, const char *fingerprint,
                  struct store_user_key *out)
{
    int rc =
        st_get_one(st,
                   "SELECT " KEY_COLUMNS " FROM user_keys k JOIN users u ON "
                   "u.id = k.user_id WHERE u.name = ?1 AND k.fingerprint = ?2",
                   ST_PARAMS(ST_TEXT(user), ST_TEXT(fingerprint)), read_key_row,
                   out, "reading key");

    if (rc == GW_ERR_NOTFOUND) {
        rc = gw_err_set(GW_ERR_NOTFOUND, "user '%s' has no key %s", user,
                        fingerprint);
    }
    return rc;
}

int store_key_delete(struct store *st, const char *user,
                     const char *fingerprint)
{
    struct st_stmt *stmt = NULL;
    int64_t uid = 0;
    int rc;

    rc = user_id(st, user, &uid);
    if (rc != GW_OK) {
        return rc;
    }
    rc = st_prepare(st,
                    "DELETE FROM user_keys WHERE user_id = ?1 AND "
                    "fingerprint = ?2",
                    &stmt);
    if (rc != GW_OK) {
        return rc;
    }
    st_bind_int64(stmt, 1, uid);
    st_bind_text(stmt, 2, fingerprint);
    rc = st_step(stmt);
    if (rc != ST_DONE) {
        rc = st_fail(st, rc, "deleting key");
    } else if (st_changes(st) == 0) {
        rc = gw_err_set(GW_ERR_NOTFOUND, "user '%s' has no key %s", user,
                        fingerprint);
    } else {
        rc = GW_OK;
    }
    st_done(st, stmt);
    return rc;
}
