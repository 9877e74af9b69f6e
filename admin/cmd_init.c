/*
 * init: create the database and the gateway's own keys. Idempotent: a key
 * purpose that already has keys gets no new ones, so running init again
 * (say from a container entrypoint) never replaces a host key that users'
 * known_hosts files have pinned.
 */
#include "admin/internal.h"

#include "admin/output.h"
#include "store/db.h"
#include "store/gwkeys.h"
#include "store/open.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const struct {
    const char *purpose;
    enum gw_keykind kind;
} init_keys[] = {
    {STORE_GWKEY_HOST, GW_KEY_ED25519},
    {STORE_GWKEY_HOST, GW_KEY_ECDSA_P256},
    {STORE_GWKEY_HOST, GW_KEY_RSA_3072},
    {STORE_GWKEY_BACKEND, GW_KEY_ED25519},
};
#define INIT_KEYS_N (sizeof(init_keys) / sizeof(init_keys[0]))

/* One directory of the path: fine if it exists (a file in the way makes
 * store_open fail with a clear "Not a directory"), else created. errno
 * tells why on failure. */
static int ensure_dir(const char *dir)
{
    struct stat sb;

    if (stat(dir, &sb) == 0) {
        return GW_OK;
    }
    if (errno != ENOENT) {
        return GW_ERR_IO;
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        return GW_ERR_IO;
    }
    return GW_OK;
}

/* Create the missing directories above path, like mkdir -p; mode 0700
 * because the database holds private keys. */
static int make_parent_dirs(const char *path)
{
    char *copy = strdup(path);
    char *slash = NULL;
    int rc = GW_OK;

    if (copy == NULL) {
        return GW_ERR_NOMEM;
    }
    for (char *p = copy + 1; (slash = strchr(p, '/')) != NULL; p = slash + 1) {
        *slash = '\0';
        rc = ensure_dir(copy);
        if (rc != GW_OK) {
            rc = gw_err_set(rc, "cannot create database %s: %s: %s", path, copy,
                            strerror(errno));
            break;
        }
        *slash = '/';
    }
    free(copy);
    return rc;
}

/* Which purposes have no key yet. */
static int missing_purposes(struct admin_ctx *ctx, bool *need_host,
                            bool *need_backend)
{
    struct store_gwkey *keys = NULL;
    size_t n = 0;
    int rc;

    rc = store_gwkey_list(ctx->st, NULL, &keys, &n);
    if (rc != GW_OK) {
        return rc;
    }
    *need_host = true;
    *need_backend = true;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(keys[i].purpose, STORE_GWKEY_HOST) == 0) {
            *need_host = false;
        } else if (strcmp(keys[i].purpose, STORE_GWKEY_BACKEND) == 0) {
            *need_backend = false;
        }
    }
    store_gwkey_list_free(keys, n);
    return GW_OK;
}

/* Generate one key, store it, and describe it in created[]. */
static int create_key(struct admin_ctx *ctx, const char *purpose,
                      enum gw_keykind kind, json_t *created)
{
    struct gw_keypair kp;
    int rc;

    rc = gw_keypair_generate(kind, &kp);
    if (rc != GW_OK) {
        return rc;
    }
    rc = store_gwkey_add(ctx->st, purpose, &kp, NULL);
    if (rc == GW_OK) {
        rc = out_json_append(
            created, json_pack("{s:s, s:s, s:s}", "purpose", purpose, "type",
                               kp.pub.type, "fingerprint", kp.pub.fingerprint));
    }
    gw_keypair_clear(&kp);
    return rc;
}

static int create_keys(struct admin_ctx *ctx, json_t *created)
{
    bool need_host = false;
    bool need_backend = false;
    int rc;

    rc = missing_purposes(ctx, &need_host, &need_backend);
    for (size_t i = 0; i < INIT_KEYS_N && rc == GW_OK; i++) {
        bool host = strcmp(init_keys[i].purpose, STORE_GWKEY_HOST) == 0;
        if (host ? need_host : need_backend) {
            rc = create_key(ctx, init_keys[i].purpose, init_keys[i].kind,
                            created);
        }
    }
    return rc;
}

/* The event detail: "created host:ssh-ed25519:SHA256:... ..." */
static int record_event(struct admin_ctx *ctx, const json_t *created)
{
    char detail[768];
    size_t used = 0;
    size_t i;
    json_t *k = NULL;

    detail[0] = '\0';
    json_array_foreach(created, i, k)
    {
        int n = snprintf(detail + used, sizeof(detail) - used, " %s:%s:%s",
                         json_string_value(json_object_get(k, "purpose")),
                         json_string_value(json_object_get(k, "type")),
                         json_string_value(json_object_get(k, "fingerprint")));
        if (n < 0 || (size_t)n >= sizeof(detail) - used) {
            break;
        }
        used += (size_t)n;
    }
    return admin_event(ctx, "admin.init", NULL, "db=%s created=%zu%s",
                       ctx->db_path, json_array_size(created), detail);
}

static int print_result(struct admin_ctx *ctx, json_t *created, int schema)
{
    struct out_table *t = NULL;
    static const char *const hdr[] = {"PURPOSE", "TYPE", "FINGERPRINT"};
    size_t i;
    json_t *k = NULL;
    int rc = GW_OK;

    if (json_array_size(created) == 0) {
        fprintf(ctx->out, "already initialized: %s (schema %d)\n", ctx->db_path,
                schema);
        return GW_OK;
    }
    fprintf(ctx->out, "initialized %s (schema %d)\n", ctx->db_path, schema);
    rc = out_table_new(hdr, 3, &t);
    json_array_foreach(created, i, k)
    {
        if (rc == GW_OK) {
            rc = out_table_row(
                t, json_string_value(json_object_get(k, "purpose")),
                json_string_value(json_object_get(k, "type")),
                json_string_value(json_object_get(k, "fingerprint")));
        }
    }
    if (rc == GW_OK) {
        out_table_print(t, ctx->out, "");
    }
    out_table_free(t);
    return rc;
}

static int print_json(struct admin_ctx *ctx, json_t *created, int schema)
{
    json_t *doc = NULL;
    int rc;

    doc = json_pack("{s:b, s:s, s:i, s:b, s:O}", "ok", 1, "db", ctx->db_path,
                    "schema", schema, "already_initialized",
                    json_array_size(created) == 0, "created", created);
    if (doc == NULL) {
        return GW_ERR_NOMEM;
    }
    rc = out_json(ctx->out, doc);
    json_decref(doc);
    return rc;
}

int admin_init(struct admin_ctx *ctx)
{
    json_t *created = json_array();
    int schema = 0;
    int rc;

    if (created == NULL) {
        return GW_ERR_NOMEM;
    }
    /* A file's directories; a server's URI names no directory. */
    rc = store_is_server(ctx->db_path) ? GW_OK : make_parent_dirs(ctx->db_path);
    if (rc != GW_OK) {
        goto out;
    }
    /* Opening creates the file (mode 0600) and the schema. */
    rc = store_open(ctx->db_path, STORE_OPEN_CREATE, &ctx->st);
    if (rc == GW_OK) {
        ctx->db_path = store_name(ctx->st); /* without a password */
    }
    if (rc != GW_OK) {
        goto out;
    }
    rc = store_schema_version(ctx->st, &schema);
    if (rc != GW_OK) {
        goto out;
    }
    rc = admin_begin(ctx);
    if (rc != GW_OK) {
        goto out;
    }
    rc = create_keys(ctx, created);
    if (rc != GW_OK) {
        goto out;
    }
    if (json_array_size(created) == 0) {
        admin_rollback(ctx); /* nothing changed, nothing to record */
    } else {
        rc = record_event(ctx, created);
        if (rc != GW_OK) {
            goto out;
        }
    }
    rc = ctx->json ? print_json(ctx, created, schema)
                   : print_result(ctx, created, schema);
out:
    json_decref(created);
    return rc;
}
