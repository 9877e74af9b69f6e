/*
 * keys show: the gateway's own public keys. Host keys are what users'
 * known_hosts will hold; the backend identity key is what operators paste
 * into the backends' authorized_keys, so it is printed as a whole OpenSSH
 * line. Private parts never leave the store here.
 */
#include "admin/internal.h"

#include "admin/output.h"
#include "store/db.h"
#include "store/gwkeys.h"

#include <stdlib.h>
#include <string.h>

#define BACKEND_KEY_COMMENT "sshgate-backend"

static bool is_backend(const struct store_gwkey *k)
{
    return strcmp(k->purpose, STORE_GWKEY_BACKEND) == 0;
}

static json_t *gwkey_json(const struct store_gwkey *k)
{
    json_t *line = NULL;

    if (is_backend(k)) {
        line = json_pack("s+++", k->type, " ", k->public_b64,
                         " " BACKEND_KEY_COMMENT);
    } else {
        line = json_pack("s++", k->type, " ", k->public_b64);
    }
    return json_pack("{s:s, s:s, s:o, s:s}", "type", k->type, "fingerprint",
                     k->fingerprint, "public_key", line, "created_at",
                     k->created_at);
}

static int keys_json(struct admin_ctx *ctx, const struct store_gwkey *keys,
                     size_t n)
{
    json_t *doc = json_pack("{s:[], s:[]}", "host_keys", "backend_keys");
    int rc = doc != NULL ? GW_OK : GW_ERR_NOMEM;

    for (size_t i = 0; i < n && rc == GW_OK; i++) {
        json_t *arr = json_object_get(doc, is_backend(&keys[i]) ? "backend_keys"
                                                                : "host_keys");
        rc = out_json_append(arr, gwkey_json(&keys[i]));
    }
    if (rc == GW_OK) {
        rc = out_json(ctx->out, doc);
    }
    json_decref(doc);
    return rc;
}

static int keys_text(struct admin_ctx *ctx, const struct store_gwkey *keys,
                     size_t n)
{
    static const char *const hdr[] = {"PURPOSE", "TYPE", "FINGERPRINT",
                                      "CREATED"};
    struct out_table *t = NULL;
    int rc;

    rc = out_table_new(hdr, 4, &t);
    for (size_t i = 0; i < n && rc == GW_OK; i++) {
        rc = out_table_row(t, keys[i].purpose, keys[i].type,
                           keys[i].fingerprint, keys[i].created_at);
    }
    if (rc == GW_OK) {
        out_table_print(t, ctx->out, "");
    }
    out_table_free(t);
    for (size_t i = 0; i < n && rc == GW_OK; i++) {
        if (is_backend(&keys[i])) {
            fputs("\nbackend identity key, for the backends' "
                  "authorized_keys:\n",
                  ctx->out);
            fprintf(ctx->out, "%s %s %s\n", keys[i].type, keys[i].public_b64,
                    BACKEND_KEY_COMMENT);
        }
    }
    return rc;
}

int admin_keys_show(struct admin_ctx *ctx)
{
    struct store_gwkey *keys = NULL;
    size_t n = 0;
    int rc;

    rc = store_gwkey_list(ctx->st, NULL, &keys, &n);
    if (rc != GW_OK) {
        goto out;
    }
    if (n == 0 && !ctx->json) {
        fprintf(ctx->out, "no gateway keys yet: run '%s init'\n", ADMIN_PROG);
        goto out;
    }
    rc = ctx->json ? keys_json(ctx, keys, n) : keys_text(ctx, keys, n);
out:
    store_gwkey_list_free(keys, n);
    return rc;
}
