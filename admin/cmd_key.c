/*
 * key add | list | del: users' SSH public keys, given as OpenSSH public key
 * lines (the contents of id_ed25519.pub or an authorized_keys file without
 * options). Lines are validated and fingerprinted by core/sshkey (libssh
 * pki); one bad line rejects the whole input so that nothing half-added is
 * left behind.
 */
#include "admin/internal.h"

#include "admin/output.h"
#include "core/strutil.h"
#include "store/db.h"
#include "store/hosts.h"
#include "store/keys.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void admin_keyset_clear(struct admin_keyset *set)
{
    for (size_t i = 0; i < set->n; i++) {
        gw_pubkey_clear(&set->keys[i]);
    }
    free(set->keys);
    set->keys = NULL;
    set->n = 0;
}

/* Why line is not acceptable, checked before parsing: a private key must
 * not be echoed back in an error message. */
static int precheck_line(const char *line)
{
    if (strstr(line, "PRIVATE KEY") != NULL) {
        return gw_err_set(GW_ERR_INVALID,
                          "this is a private key; give the public key "
                          "(the .pub file)");
    }
    return GW_OK;
}

/* Parse one non-blank line into the set; a key given twice is refused
 * here, where the line can be named. */
static int add_line(struct admin_keyset *set, const char *line)
{
    struct gw_pubkey key;
    struct gw_pubkey *grown = NULL;
    int rc;

    rc = precheck_line(line);
    if (rc != GW_OK) {
        return rc;
    }
    rc = gw_pubkey_parse_line(line, &key);
    if (rc != GW_OK) {
        return rc;
    }
    for (size_t i = 0; i < set->n; i++) {
        if (strcmp(set->keys[i].fingerprint, key.fingerprint) == 0) {
            gw_pubkey_clear(&key);
            return gw_err_set(GW_ERR_INVALID, "key %s is given twice",
                              set->keys[i].fingerprint);
        }
    }
    grown = realloc(set->keys, (set->n + 1) * sizeof(*grown));
    if (grown == NULL) {
        gw_pubkey_clear(&key);
        return GW_ERR_NOMEM;
    }
    set->keys = grown;
    set->keys[set->n++] = key;
    return GW_OK;
}

/* Read every line of f into set; *lineno ends on the last line read (the
 * bad one on failure). */
static int read_lines(FILE *f, struct admin_keyset *set, size_t *lineno)
{
    char *line = NULL;
    size_t cap = 0;
    int rc = GW_OK;

    while (rc == GW_OK && getline(&line, &cap, f) >= 0) {
        char *text = gw_trim(line);
        (*lineno)++;
        if (text[0] != '\0' && text[0] != '#') {
            rc = add_line(set, text);
        }
    }
    if (rc == GW_OK && ferror(f)) {
        rc = gw_err_set(GW_ERR_IO, "read error: %s", strerror(errno));
    }
    free(line);
    return rc;
}

/* Name the source and the line in the message of a failed read. */
static int read_error(int rc, const char *label, size_t lineno)
{
    char why[256];

    /* Copy first: gw_err_set formats into the buffer gw_err_msg reads. */
    snprintf(why, sizeof(why), "%s", gw_err_msg());
    if (rc == GW_ERR_INVALID) {
        return gw_err_set(rc, "%s line %zu: %s", label, lineno, why);
    }
    if (rc == GW_ERR_IO) {
        return gw_err_set(rc, "%s: %s", label, why);
    }
    return rc;
}

int admin_keys_read(struct admin_ctx *ctx, const char *source,
                    struct admin_keyset *set)
{
    bool from_in = strcmp(source, "-") == 0;
    const char *label = from_in ? "stdin" : source;
    size_t lineno = 0;
    FILE *f = ctx->in;
    int rc;

    memset(set, 0, sizeof(*set));
    if (!from_in) {
        f = fopen(source, "r");
    }
    if (f == NULL) {
        rc = gw_err_set(GW_ERR_IO, "cannot read key file %s: %s", source,
                        strerror(errno));
        goto out;
    }
    rc = read_lines(f, set, &lineno);
    if (rc != GW_OK) {
        rc = read_error(rc, label, lineno);
    } else if (set->n == 0) {
        rc = gw_err_set(GW_ERR_INVALID, "%s: no public key found", label);
    }
out:
    if (f != NULL && !from_in) {
        fclose(f);
    }
    if (rc != GW_OK) {
        admin_keyset_clear(set);
    }
    return rc;
}

int admin_keys_store(struct admin_ctx *ctx, const char *user,
                     const struct admin_keyset *set)
{
    int rc = GW_OK;

    for (size_t i = 0; i < set->n && rc == GW_OK; i++) {
        const struct gw_pubkey *k = &set->keys[i];
        rc = store_key_add(ctx->st, user, k, NULL);
        if (rc == GW_OK) {
            rc = admin_event(ctx, "admin.key.add", user, "type=%s key=%s",
                             k->type, k->fingerprint);
        }
    }
    return rc;
}

static json_t *pubkey_json(const struct gw_pubkey *k)
{
    return json_pack("{s:s, s:s, s:o}", "type", k->type, "fingerprint",
                     k->fingerprint, "comment", out_jstr(k->comment));
}

static int print_added(struct admin_ctx *ctx, const char *user,
                       const struct admin_keyset *set)
{
    json_t *keys = json_array();
    int rc = keys != NULL ? GW_OK : GW_ERR_NOMEM;

    for (size_t i = 0; i < set->n && rc == GW_OK; i++) {
        const struct gw_pubkey *k = &set->keys[i];
        if (ctx->json) {
            rc = out_json_append(keys, pubkey_json(k));
            continue;
        }
        fprintf(ctx->out, "added key %s (%s", k->fingerprint, k->type);
        if (k->comment[0] != '\0') {
            fputs(", ", ctx->out);
            out_text(ctx->out, k->comment);
        }
        fprintf(ctx->out, ") to user '%s'\n", user);
    }
    if (rc == GW_OK && ctx->json) {
        rc = out_json_ok(ctx->out,
                         json_pack("{s:s, s:O}", "user", user, "added", keys));
    }
    json_decref(keys);
    return rc;
}

int admin_key_add(struct admin_ctx *ctx)
{
    struct admin_keyset set = {NULL, 0};
    const char *user = admin_arg(ctx, 0);
    int rc;

    rc = admin_keys_read(ctx, admin_arg(ctx, 1), &set);
    if (rc != GW_OK) {
        goto out;
    }
    rc = admin_begin(ctx);
    if (rc != GW_OK) {
        goto out;
    }
    rc = admin_keys_store(ctx, user, &set);
    if (rc != GW_OK) {
        goto out;
    }
    rc = print_added(ctx, user, &set);
out:
    admin_keyset_clear(&set);
    return rc;
}

static json_t *key_json(const struct store_user_key *k)
{
    return json_pack("{s:s, s:s, s:s, s:o, s:s}", "user", k->user, "type",
                     k->type, "fingerprint", k->fingerprint, "comment",
                     out_jstr(k->comment), "created_at", k->created_at);
}

int admin_key_list(struct admin_ctx *ctx)
{
    static const char *const hdr[] = {"USER", "TYPE", "FINGERPRINT", "COMMENT",
                                      "ADDED"};
    struct store_user_key *keys = NULL;
    struct out_table *t = NULL;
    json_t *doc = NULL;
    size_t n = 0;
    int rc;

    rc = store_key_list(ctx->st, admin_arg(ctx, 0), &keys, &n);
    if (rc != GW_OK) {
        goto out;
    }
    doc = json_array();
    rc = doc != NULL ? out_table_new(hdr, 5, &t) : GW_ERR_NOMEM;
    for (size_t i = 0; i < n && rc == GW_OK; i++) {
        rc = ctx->json ? out_json_append(doc, key_json(&keys[i]))
                       : out_table_row(t, keys[i].user, keys[i].type,
                                       keys[i].fingerprint, keys[i].comment,
                                       keys[i].created_at);
    }
    if (rc == GW_OK && ctx->json) {
        rc = out_json(ctx->out, doc);
    } else if (rc == GW_OK) {
        out_table_print(t, ctx->out, "");
    }
out:
    out_table_free(t);
    json_decref(doc);
    store_key_list_free(keys, n);
    return rc;
}

int admin_key_del(struct admin_ctx *ctx)
{
    const char *user = admin_arg(ctx, 0);
    const char *fp = admin_arg(ctx, 1);
    int rc;

    rc = store_fingerprint_check(fp);
    if (rc != GW_OK) {
        goto out;
    }
    rc = admin_begin(ctx);
    if (rc != GW_OK) {
        goto out;
    }
    rc = store_key_delete(ctx->st, user, fp);
    if (rc != GW_OK) {
        goto out;
    }
    rc = admin_event(ctx, "admin.key.del", user, "key=%s", fp);
    if (rc != GW_OK) {
        goto out;
    }
    if (ctx->json) {
        rc = out_json_ok(ctx->out,
                         json_pack("{s:s, s:s}", "user", user, "deleted", fp));
    } else {
        fprintf(ctx->out, "deleted key %s of user '%s'\n", fp, user);
    }
out:
    return rc;
}
