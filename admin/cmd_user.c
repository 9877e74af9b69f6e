/*
 * user add | list | show | del | disable | enable | unlock | passwd.
 * Passwords arrive on stdin only (never in argv, where ps and shell history
 * would see them), are hashed with scrypt at once and wiped.
 */
#include "admin/internal.h"

#include "admin/output.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/passwd.h"
#include "core/strutil.h"
#include "store/conn_kills.h"
#include "store/db.h"
#include "store/grants.h"
#include "store/keys.h"
#include "store/settings.h"
#include "store/users.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *role_name(const struct store_user *u)
{
    return u->is_admin ? "admin" : "user";
}

/*
 * What a user's lock locks: the lockout_scope sshgated last recorded in the
 * settings (it enforces its own, see store/users.h). A database no daemon
 * has recorded it in yet has the default, password.
 */
static int lockout_scope(struct admin_ctx *ctx, enum gw_lockout_scope *scope)
{
    char *text = NULL;
    int rc = store_setting_get(ctx->st, STORE_LOCKOUT_SCOPE_SETTING, &text);

    *scope = GW_LOCKOUT_PASSWORD;
    if (rc == GW_OK && gw_lockout_scope_parse(text, scope) != GW_OK) {
        *scope = GW_LOCKOUT_PASSWORD; /* a value of a newer version */
    }
    free(text);
    return rc == GW_ERR_NOTFOUND ? GW_OK : rc;
}

static const char *status_name(const struct store_user *u,
                               enum gw_lockout_scope scope)
{
    if (u->disabled) {
        return "disabled";
    }
    if (!store_user_is_locked(u)) {
        return "active";
    }
    return scope == GW_LOCKOUT_USER ? "locked" : "password locked";
}

/* locked_until is only an end of a lock while it is in the future (in the
 * past it is when the failures being counted began). */
static const char *lock_end(const struct store_user *u)
{
    return store_user_is_locked(u) ? u->locked_until : "";
}

static json_t *user_json(const struct store_user *u,
                         enum gw_lockout_scope scope)
{
    bool locked = store_user_is_locked(u);

    return json_pack(
        "{s:s, s:s, s:b, s:b, s:o, s:o, s:i, s:b, s:i, s:s, s:s, s:I}", "name",
        u->name, "role", role_name(u), "disabled", u->disabled, "locked",
        locked, "lock_scope",
        out_jstr_opt(locked ? gw_lockout_scope_name(scope) : ""),
        "locked_until", out_jstr_opt(lock_end(u)), "failed_logins",
        u->failed_logins, "has_password", u->has_password, "key_count",
        u->key_count, "created_at", u->created_at, "updated_at", u->updated_at,
        "rate_limit", (json_int_t)u->rate_limit);
}

/* Read the password line and hash it; the clear text lives only here. */
static int read_hashed_password(struct admin_ctx *ctx, char **hash)
{
    char *password = NULL;
    int rc;

    rc = admin_read_password(ctx, &password);
    if (rc != GW_OK) {
        return rc;
    }
    rc = gw_password_hash(password, hash);
    gw_free_secret_str(password);
    return rc;
}

/* Everything user add needs from outside, gathered before any write. */
static int user_add_inputs(struct admin_ctx *ctx, char **hash,
                           struct admin_keyset *set)
{
    const char *keysrc = admin_opt(ctx, "--key");
    bool password = admin_flag(ctx, "--password-stdin");
    int rc = GW_OK;

    if (password && keysrc != NULL && strcmp(keysrc, "-") == 0) {
        return admin_usage_error("--password-stdin and --key - cannot both "
                                 "read stdin");
    }
    if (password) {
        rc = read_hashed_password(ctx, hash);
    }
    if (rc == GW_OK && keysrc != NULL) {
        rc = admin_keys_read(ctx, keysrc, set);
    }
    return rc;
}

static int print_user_added(struct admin_ctx *ctx, const char *name,
                            bool is_admin, bool password,
                            const struct admin_keyset *set)
{
    json_t *keys = json_array();
    int rc = keys != NULL ? GW_OK : GW_ERR_NOMEM;

    for (size_t i = 0; i < set->n && rc == GW_OK; i++) {
        const struct gw_pubkey *k = &set->keys[i];
        rc = out_json_append(keys, json_pack("{s:s, s:s, s:o}", "type", k->type,
                                             "fingerprint", k->fingerprint,
                                             "comment", out_jstr(k->comment)));
    }
    if (rc == GW_OK && ctx->json) {
        rc = out_json_ok(ctx->out,
                         json_pack("{s:s, s:s, s:b, s:O}", "user", name, "role",
                                   is_admin ? "admin" : "user", "has_password",
                                   password, "keys", keys));
    } else if (rc == GW_OK) {
        fprintf(ctx->out, "added user '%s' (%s, %s, %zu key%s)\n", name,
                is_admin ? "admin" : "user",
                password ? "password" : "no password", set->n,
                set->n == 1 ? "" : "s");
        for (size_t i = 0; i < set->n; i++) {
            fprintf(ctx->out, "  key %s (%s)\n", set->keys[i].fingerprint,
                    set->keys[i].type);
        }
    }
    json_decref(keys);
    return rc;
}

int admin_user_add(struct admin_ctx *ctx)
{
    const char *name = admin_arg(ctx, 0);
    bool is_admin = admin_flag(ctx, "--admin");
    struct admin_keyset set = {NULL, 0};
    char *hash = NULL;
    int64_t rate = 0;
    int rc;

    /* The name first: no point reading a password for a bad name. */
    rc = gw_name_check("user name", name, GW_DEFAULT_SEPARATOR);
    if (rc == GW_OK) {
        rc = admin_rate_limit_opt(ctx, &rate);
    }
    if (rc != GW_OK) {
        goto out;
    }
    rc = user_add_inputs(ctx, &hash, &set);
    if (rc != GW_OK) {
        goto out;
    }
    rc = admin_begin(ctx);
    if (rc != GW_OK) {
        goto out;
    }
    rc = store_user_add(ctx->st, name, is_admin, hash, GW_DEFAULT_SEPARATOR,
                        NULL);
    if (rc == GW_OK && rate > 0) {
        rc = store_user_set_rate_limit(ctx->st, name, rate);
    }
    if (rc != GW_OK) {
        goto out;
    }
    rc = admin_event(ctx, "admin.user.add", name,
                     "role=%s password=%s keys=%zu rate_limit=%lld",
                     is_admin ? "admin" : "user", hash != NULL ? "yes" : "no",
                     set.n, (long long)rate);
    if (rc != GW_OK) {
        goto out;
    }
    rc = admin_keys_store(ctx, name, &set);
    if (rc != GW_OK) {
        goto out;
    }
    rc = print_user_added(ctx, name, is_admin, hash != NULL, &set);
out:
    gw_free_secret_str(hash);
    admin_keyset_clear(&set);
    return rc;
}

int admin_user_list(struct admin_ctx *ctx)
{
    static const char *const hdr[] = {"NAME",     "ROLE", "STATUS",
                                      "PASSWORD", "KEYS", "CREATED"};
    struct store_user *users = NULL;
    struct out_table *t = NULL;
    json_t *doc = NULL;
    size_t n = 0;
    char keys[16];
    enum gw_lockout_scope scope;
    int rc;

    rc = lockout_scope(ctx, &scope);
    if (rc == GW_OK) {
        rc = store_user_list(ctx->st, &users, &n);
    }
    if (rc != GW_OK) {
        goto out;
    }
    doc = json_array();
    rc = doc != NULL ? out_table_new(hdr, 6, &t) : GW_ERR_NOMEM;
    for (size_t i = 0; i < n && rc == GW_OK; i++) {
        const struct store_user *u = &users[i];
        snprintf(keys, sizeof(keys), "%d", u->key_count);
        rc = ctx->json ? out_json_append(doc, user_json(u, scope))
                       : out_table_row(t, u->name, role_name(u),
                                       status_name(u, scope),
                                       u->has_password ? "yes" : "no", keys,
                                       u->created_at);
    }
    if (rc == GW_OK && ctx->json) {
        rc = out_json(ctx->out, doc);
    } else if (rc == GW_OK) {
        out_table_print(t, ctx->out, "");
    }
out:
    out_table_free(t);
    json_decref(doc);
    free(users);
    return rc;
}

struct user_details {
    struct store_user user;
    enum gw_lockout_scope scope;
    struct store_user_key *keys;
    size_t nkeys;
    struct store_grant *grants;
    size_t ngrants;
};

static int user_details_load(struct admin_ctx *ctx, const char *name,
                             struct user_details *d)
{
    int rc;

    memset(d, 0, sizeof(*d));
    rc = store_user_get(ctx->st, name, &d->user);
    if (rc == GW_OK) {
        rc = lockout_scope(ctx, &d->scope);
    }
    if (rc == GW_OK) {
        rc = store_key_list(ctx->st, name, &d->keys, &d->nkeys);
    }
    if (rc == GW_OK) {
        rc = store_grant_list(ctx->st, name, false, &d->grants, &d->ngrants);
    }
    return rc;
}

static void user_details_clear(struct user_details *d)
{
    store_key_list_free(d->keys, d->nkeys);
    free(d->grants);
    memset(d, 0, sizeof(*d));
}

static int user_show_json(struct admin_ctx *ctx, const struct user_details *d)
{
    json_t *doc = user_json(&d->user, d->scope);
    json_t *keys = json_array();
    json_t *grants = NULL;
    int rc = doc != NULL && keys != NULL ? GW_OK : GW_ERR_NOMEM;

    for (size_t i = 0; i < d->nkeys && rc == GW_OK; i++) {
        const struct store_user_key *k = &d->keys[i];
        rc = out_json_append(
            keys, json_pack("{s:s, s:s, s:o, s:s}", "type", k->type,
                            "fingerprint", k->fingerprint, "comment",
                            out_jstr(k->comment), "created_at", k->created_at));
    }
    if (rc == GW_OK) {
        rc = admin_grant_json(d->grants, d->ngrants, &grants);
    }
    if (rc == GW_OK) {
        rc = out_json_set(doc, "keys", json_incref(keys));
    }
    if (rc == GW_OK) {
        rc = out_json_set(doc, "grants", json_incref(grants));
    }
    if (rc == GW_OK) {
        rc = out_json(ctx->out, doc);
    }
    json_decref(grants);
    json_decref(keys);
    json_decref(doc);
    return rc;
}

static int user_show_keys(FILE *f, const struct user_details *d)
{
    static const char *const hdr[] = {"TYPE", "FINGERPRINT", "COMMENT",
                                      "ADDED"};
    struct out_table *t = NULL;
    int rc;

    rc = out_table_new(hdr, 4, &t);
    for (size_t i = 0; i < d->nkeys && rc == GW_OK; i++) {
        const struct store_user_key *k = &d->keys[i];
        rc = out_table_row(t, k->type, k->fingerprint, k->comment,
                           k->created_at);
    }
    if (rc == GW_OK) {
        out_table_print(t, f, "  ");
    }
    out_table_free(t);
    return rc;
}

/* What is locked, and until when, in words. */
static void lock_text(const struct user_details *d, char *buf, size_t len)
{
    if (!store_user_is_locked(&d->user)) {
        snprintf(buf, len, "no");
    } else if (d->scope == GW_LOCKOUT_USER) {
        snprintf(buf, len, "the user (every method) until %s",
                 d->user.locked_until);
    } else {
        snprintf(buf, len, "the password methods until %s (keys still log in)",
                 d->user.locked_until);
    }
}

static int user_show_text(struct admin_ctx *ctx, const struct user_details *d)
{
    const struct store_user *u = &d->user;
    char failures[16];
    char lock[128];
    char rate[32];
    int rc;

    snprintf(failures, sizeof(failures), "%d", u->failed_logins);
    lock_text(d, lock, sizeof(lock));
    out_field(ctx->out, "name", u->name);
    out_field(ctx->out, "role", role_name(u));
    out_field(ctx->out, "status", status_name(u, d->scope));
    out_field(ctx->out, "disabled", u->disabled ? "yes" : "no");
    out_field(ctx->out, "locked", lock);
    out_field(ctx->out, "failed logins", failures);
    out_field(ctx->out, "password", u->has_password ? "yes" : "no");
    admin_rate_text(u->rate_limit, rate, sizeof(rate));
    out_field(ctx->out, "rate limit", rate);
    out_field(ctx->out, "created", u->created_at);
    out_field(ctx->out, "updated", u->updated_at);
    fprintf(ctx->out, "keys (%zu):\n", d->nkeys);
    rc = user_show_keys(ctx->out, d);
    if (rc != GW_OK) {
        return rc;
    }
    fprintf(ctx->out, "grants (%zu):\n", d->ngrants);
    return admin_grant_table(ctx->out, d->grants, d->ngrants, ADMIN_GRANT_HOST,
                             "  ");
}

int admin_user_show(struct admin_ctx *ctx)
{
    struct user_details d;
    int rc;

    rc = user_details_load(ctx, admin_arg(ctx, 0), &d);
    if (rc == GW_OK) {
        rc = ctx->json ? user_show_json(ctx, &d) : user_show_text(ctx, &d);
    }
    user_details_clear(&d);
    return rc;
}

static int user_disable(struct store *st, const char *name)
{
    return store_user_set_disabled(st, name, true);
}

static int user_enable(struct store *st, const char *name)
{
    return store_user_set_disabled(st, name, false);
}

enum user_op { USER_DEL, USER_DISABLE, USER_ENABLE, USER_UNLOCK };

/* The one-name changes: what they call, how they are logged and told. */
static const struct {
    const char *kind;
    int (*apply)(struct store *st, const char *name);
    const char *done;
} user_ops[] = {
    [USER_DEL] = {"admin.user.del", store_user_delete, "deleted"},
    [USER_DISABLE] = {"admin.user.disable", user_disable, "disabled"},
    [USER_ENABLE] = {"admin.user.enable", user_enable, "enabled"},
    [USER_UNLOCK] = {"admin.user.unlock", store_user_unlock, "unlocked"},
};

static int user_op(struct admin_ctx *ctx, enum user_op op)
{
    const char *name = admin_arg(ctx, 0);
    struct store_user u;
    int rc;

    rc = admin_begin(ctx);
    if (rc != GW_OK) {
        goto out;
    }
    /* Read first: the event keeps what a deletion took with it. */
    rc = store_user_get(ctx->st, name, &u);
    if (rc != GW_OK) {
        goto out;
    }
    rc = user_ops[op].apply(ctx->st, name);
    if (rc != GW_OK) {
        goto out;
    }
    rc = admin_event(ctx, user_ops[op].kind, name, "role=%s keys=%d",
                     role_name(&u), u.key_count);
    if (rc != GW_OK) {
        goto out;
    }
    if (ctx->json) {
        rc = out_json_ok(ctx->out, json_pack("{s:s, s:s}", "user", name, "done",
                                             user_ops[op].done));
    } else {
        fprintf(ctx->out, "%s user '%s'\n", user_ops[op].done, name);
    }
out:
    return rc;
}

int admin_user_del(struct admin_ctx *ctx)
{
    return user_op(ctx, USER_DEL);
}

int admin_user_disable(struct admin_ctx *ctx)
{
    return user_op(ctx, USER_DISABLE);
}

int admin_user_enable(struct admin_ctx *ctx)
{
    return user_op(ctx, USER_ENABLE);
}

int admin_user_unlock(struct admin_ctx *ctx)
{
    return user_op(ctx, USER_UNLOCK);
}

int admin_user_passwd(struct admin_ctx *ctx)
{
    const char *name = admin_arg(ctx, 0);
    char *hash = NULL;
    int rc;

    rc = read_hashed_password(ctx, &hash);
    if (rc != GW_OK) {
        goto out;
    }
    rc = admin_begin(ctx);
    if (rc != GW_OK) {
        goto out;
    }
    rc = store_user_set_password(ctx->st, name, hash);
    if (rc != GW_OK) {
        goto out;
    }
    rc = admin_event(ctx, "admin.user.passwd", name, "password=changed");
    if (rc != GW_OK) {
        goto out;
    }
    if (ctx->json) {
        rc = out_json_ok(ctx->out, json_pack("{s:s, s:s}", "user", name, "done",
                                             "password changed"));
    } else {
        fprintf(ctx->out, "changed the password of user '%s'\n", name);
    }
out:
    gw_free_secret_str(hash);
    return rc;
}

/* "user kick NAME": the daemon of this node ends every connection of the
 * user (about every 500 ms it polls, like session kills); disabling her
 * is what keeps her out afterwards. */
int admin_user_kick(struct admin_ctx *ctx)
{
    const char *name = admin_arg(ctx, 0);
    char node[STORE_NODE_MAX];
    int rc;

    if (gethostname(node, sizeof(node) - 1) != 0 || node[0] == '\0') {
        snprintf(node, sizeof(node), "%s", "localhost");
    }
    node[sizeof(node) - 1] = '\0';
    rc = admin_begin(ctx);
    if (rc == GW_OK) {
        rc = store_user_kick_request(ctx->st, node, name, ctx->actor);
    }
    if (rc == GW_OK) {
        rc = admin_event(ctx, "admin.user.kick", name, "node=%s", node);
    }
    if (rc != GW_OK) {
        return rc;
    }
    if (ctx->json) {
        return out_json_ok(ctx->out,
                           json_pack("{s:s, s:s}", "user", name, "node", node));
    }
    fprintf(ctx->out,
            "asked the gateway on %s to end the connections of '%s'\n", node,
            name);
    return GW_OK;
}

/* "user set NAME --rate-limit R": her channels together move at most R
 * bytes per second each way (new channels; 0 or off removes it). */
int admin_user_set(struct admin_ctx *ctx)
{
    const char *name = admin_arg(ctx, 0);
    char rate_text[32];
    int64_t rate = 0;
    int rc;

    rc = admin_rate_limit_opt(ctx, &rate);
    if (rc == GW_OK) {
        rc = admin_begin(ctx);
    }
    if (rc == GW_OK) {
        rc = store_user_set_rate_limit(ctx->st, name, rate);
    }
    if (rc == GW_OK) {
        rc = admin_event(ctx, "admin.user.set", name, "rate_limit=%lld",
                         (long long)rate);
    }
    if (rc != GW_OK) {
        return rc;
    }
    if (ctx->json) {
        return out_json_ok(ctx->out, json_pack("{s:s, s:I}", "user", name,
                                               "rate_limit", (json_int_t)rate));
    }
    admin_rate_text(rate, rate_text, sizeof(rate_text));
    fprintf(ctx->out, "set the rate limit of user '%s' to %s\n", name,
            rate_text);
    return GW_OK;
}
