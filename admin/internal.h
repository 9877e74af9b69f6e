/*
 * Private to admin/: the command table, the per-run context every handler
 * receives, and the helpers handlers share.
 *
 * A handler returns GW_OK or a negative GW_ERR_* code with a detail message
 * set through gw_err_set; the dispatcher prints that message as the one
 * line on stderr. ADMIN_ERR_USAGE (outside the GW_* range) asks for the
 * usage line and exit code 2 instead.
 *
 * Writes follow one pattern: admin_begin, the store calls, admin_event,
 * then return. The dispatcher commits when the handler returns GW_OK (and
 * refuses to commit a change that wrote no event) and rolls back
 * otherwise, so a failing command leaves the database as it was.
 * Handlers print to ctx->out, a buffer the dispatcher copies to the real
 * output only when the command succeeds (or sets keep_output, for a check
 * whose report explains the failure), so output is never partial.
 */
#ifndef SSHGATE_ADMIN_INTERNAL_H
#define SSHGATE_ADMIN_INTERNAL_H

#include "admin/admin.h"
#include "core/err.h"
#include "core/proxy_url.h"
#include "core/sshkey.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define ADMIN_PROG "sshgate-admin"

/* Usage error: exit 2 with the usage line. Distinct from every GW_*. */
#define ADMIN_ERR_USAGE (-100)

#define ADMIN_ARGS_MAX  4  /* positional arguments of one command */
#define ADMIN_OPTS_MAX  12 /* options of one command */
#define ADMIN_ACTOR_MAX 160

struct store;
struct admin_ctx;

typedef int (*admin_handler)(struct admin_ctx *ctx);

struct admin_optspec {
    const char *name; /* "--login" */
    bool has_value;   /* "--login L" rather than a flag */
    bool required;
};

enum admin_cmd_flags {
    /* The handler opens (and creates) the database itself: init. */
    ADMIN_CMD_OWN_DB = 1u << 0,
    /* Output goes straight out instead of being held until the command
     * succeeds: replay's timing, exports larger than memory. The handler
     * checks everything it can before its first write. */
    ADMIN_CMD_STREAM = 1u << 1,
};

struct admin_cmd {
    const char *noun;
    const char *verb; /* NULL: the noun alone is the command (init) */
    admin_handler run;
    const char *usage; /* what follows "noun verb" in the usage line */
    size_t min_args;
    size_t max_args;
    const struct admin_optspec *opts; /* ends with a NULL name; or NULL */
    unsigned flags;
};

struct admin_ctx {
    FILE *in;
    FILE *out;
    FILE *err;
    const char *db_path;
    bool json;
    bool help;        /* print usage to out and succeed */
    bool version;     /* print the version to out and succeed */
    const char *noun; /* a known noun, for noun-level usage */
    const struct admin_cmd *cmd;
    const char *args[ADMIN_ARGS_MAX];
    size_t nargs;
    /* Parallel to cmd->opts: the value, "" for a flag given, NULL if not. */
    const char *optval[ADMIN_OPTS_MAX];
    struct store *st;
    bool keep_output; /* print out even though the command fails (a report) */
    bool in_tx;
    int events; /* events written in the open transaction */
    char actor[ADMIN_ACTOR_MAX];
};

/* commands.c: the table and the usage text. */
const struct admin_cmd *admin_cmd_find(const char *noun, const char *verb);
bool admin_noun_known(const char *noun);
/* The name of positional argument k in cmd's usage line ("USER"). */
void admin_cmd_arg_name(const struct admin_cmd *cmd, size_t k, char *buf,
                        size_t len);
void admin_usage_cmd(FILE *f, const struct admin_cmd *cmd);
void admin_usage_noun(FILE *f, const char *noun);
void admin_usage_all(FILE *f);

/* cli.c: helpers for handlers. */

/* Positional argument i (NULL past the end). */
const char *admin_arg(const struct admin_ctx *ctx, size_t i);
/* Value of option name ("--login"), NULL if not given. */
const char *admin_opt(const struct admin_ctx *ctx, const char *name);
/* Whether flag name was given. */
bool admin_flag(const struct admin_ctx *ctx, const char *name);
/* Record a usage error message; returns ADMIN_ERR_USAGE. */
int admin_usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* Open the write transaction of this command. */
int admin_begin(struct admin_ctx *ctx);
/* Commit now (for a handler that must know); the dispatcher otherwise. */
int admin_commit(struct admin_ctx *ctx);
/* End the transaction without changes. */
void admin_rollback(struct admin_ctx *ctx);

/*
 * Append the audit event of this change: kind "admin.<noun>.<verb>", the
 * target user name or NULL, and a printf-style detail that gets the
 * operator prepended ("by=root(uid 0) ..."). Never pass secrets.
 */
int admin_event(struct admin_ctx *ctx, const char *kind, const char *user,
                const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/*
 * Read one password line from ctx->in, trailing newline stripped.
 * *password is malloc'd; wipe it with gw_free_secret_str.
 * GW_OK, GW_ERR_INVALID ("password must not be empty"), GW_ERR_IO.
 */
int admin_read_password(struct admin_ctx *ctx, char **password);

/* cmd_key.c: public key lines from a file or "-" (ctx->in). */
struct admin_keyset {
    struct gw_pubkey *keys;
    size_t n;
};

/*
 * Read and validate every key line of source, skipping blank and '#'
 * lines. Any bad line fails the whole read with GW_ERR_INVALID naming the
 * line; so does input without keys.
 */
int admin_keys_read(struct admin_ctx *ctx, const char *source,
                    struct admin_keyset *set);
/* Add the keys to user, with one admin.key.add event each (in the open
 * transaction). */
int admin_keys_store(struct admin_ctx *ctx, const char *user,
                     const struct admin_keyset *set);
void admin_keyset_clear(struct admin_keyset *set);

/* cmd_grant.c: grants as table rows and JSON, shared by user/host show. */
struct store_grant;
enum admin_grant_cols {
    ADMIN_GRANT_USER = 1u << 0,
    ADMIN_GRANT_HOST = 1u << 1,
};
int admin_grant_table(FILE *f, const struct store_grant *grants, size_t n,
                      unsigned cols, const char *indent);
int admin_grant_json(const struct store_grant *grants, size_t n, json_t **out);

/* cmd_session.c: the session id that is positional argument 0. */
int admin_session_id_arg(struct admin_ctx *ctx, int64_t *id);
/* cmd_host_set.c: --via-proxy URL (checked, canonical into url, or ""
 * for none or "none") and --proxy-password-stdin (read into *password,
 * wiped by the caller), for host add and host set; backend_password: the
 * command reads --password-stdin too. */
int admin_host_proxy_opts(struct admin_ctx *ctx, bool backend_password,
                          char url[GW_PROXY_URL_MAX], char **password);
/* "via=... via_proxy=... proxy_password=stored|none" (never the password). */
void admin_host_route_text(const char *via, const char *url, bool password,
                           char *out, size_t outlen);

/* The handlers, one file per noun. */
int admin_init(struct admin_ctx *ctx);
int admin_user_add(struct admin_ctx *ctx);
int admin_user_list(struct admin_ctx *ctx);
int admin_user_show(struct admin_ctx *ctx);
int admin_user_del(struct admin_ctx *ctx);
int admin_user_disable(struct admin_ctx *ctx);
int admin_user_enable(struct admin_ctx *ctx);
int admin_user_unlock(struct admin_ctx *ctx);
int admin_user_kick(struct admin_ctx *ctx);
int admin_user_set(struct admin_ctx *ctx);
int admin_user_passwd(struct admin_ctx *ctx);
int admin_key_add(struct admin_ctx *ctx);
int admin_key_list(struct admin_ctx *ctx);
int admin_key_del(struct admin_ctx *ctx);
int admin_host_add(struct admin_ctx *ctx);
int admin_host_list(struct admin_ctx *ctx);
int admin_host_show(struct admin_ctx *ctx);
int admin_host_del(struct admin_ctx *ctx);
int admin_host_set(struct admin_ctx *ctx);
int admin_host_check(struct admin_ctx *ctx);
int admin_host_trust(struct admin_ctx *ctx);
int admin_grant_add(struct admin_ctx *ctx);
int admin_grant_set(struct admin_ctx *ctx);
/* --rate-limit's value (a size, bytes per second; 0 or "off": none), or
 * 0 without the option. GW_OK or GW_ERR_INVALID (usage). */
int admin_rate_limit_opt(struct admin_ctx *ctx, int64_t *rate);
/* "10M/s" style text of a rate ("off" for 0). */
void admin_rate_text(int64_t rate, char *out, size_t len);
int admin_grant_list(struct admin_ctx *ctx);
int admin_grant_del(struct admin_ctx *ctx);
int admin_keys_show(struct admin_ctx *ctx);
int admin_db_backup(struct admin_ctx *ctx);
int admin_db_check(struct admin_ctx *ctx);
int admin_db_copy(struct admin_ctx *ctx);
int admin_node_list(struct admin_ctx *ctx);
int admin_audit_list(struct admin_ctx *ctx);
int admin_session_list(struct admin_ctx *ctx);
int admin_session_show(struct admin_ctx *ctx);
int admin_session_replay(struct admin_ctx *ctx);
int admin_session_export(struct admin_ctx *ctx);
int admin_session_kill(struct admin_ctx *ctx);
int admin_session_watch(struct admin_ctx *ctx);
int admin_audit_verify(struct admin_ctx *ctx);
int admin_audit_head(struct admin_ctx *ctx);
int admin_health(struct admin_ctx *ctx);

#endif
