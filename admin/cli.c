/*
 * The dispatcher: global options, command lookup, argument checking against
 * the command table, the database, the transaction of a change, and the
 * mapping from status codes to exit codes and the one line on stderr.
 */
#include "admin/internal.h"

#include "admin/output.h"
#include "core/crypto.h"
#include "store/db.h"
#include "store/events.h"
#include "store/open.h"
#include "store/settings.h"

#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#define EVENT_DETAIL_MAX 1024
#define PWBUF_LEN        4096

static bool is_help(const char *arg)
{
    return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0 ||
           strcmp(arg, "help") == 0;
}

/* "by=alice(uid 1000)": who made a change, for its audit event. sudo runs
 * commands as root, so the invoking user is added when sudo says who. */
static void set_actor(struct admin_ctx *ctx)
{
    char buf[PWBUF_LEN];
    struct passwd pw;
    struct passwd *found = NULL;
    uid_t uid = getuid();
    const char *sudo_user = getenv("SUDO_USER");
    const char *name = "?";

    if (getpwuid_r(uid, &pw, buf, sizeof(buf), &found) == 0 && found != NULL) {
        name = found->pw_name;
    }
    snprintf(ctx->actor, sizeof(ctx->actor), "%s(uid %lu)%s%.64s", name,
             (unsigned long)uid,
             sudo_user != NULL && uid == 0 ? " sudo_user=" : "",
             sudo_user != NULL && uid == 0 ? sudo_user : "");
}

int admin_usage_error(const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return gw_err_set(ADMIN_ERR_USAGE, "%s", msg);
}

/* arg is "--name" or "--name=value"; *value gets the part after '='. */
static bool match_option(const char *arg, const char *name, const char **value)
{
    size_t len = strlen(name);

    if (strncmp(arg, name, len) != 0) {
        return false;
    }
    if (arg[len] == '\0') {
        *value = NULL;
        return true;
    }
    if (arg[len] == '=') {
        *value = arg + len + 1;
        return true;
    }
    return false;
}

/* Store option value; take it from the next argument when not "--x=v". */
static int take_value(const char *name, bool has_value, const char *inline_v,
                      int argc, char **argv, int *i, const char **slot)
{
    if (*slot != NULL) {
        return admin_usage_error("option %s given twice", name);
    }
    if (!has_value) {
        if (inline_v != NULL) {
            return admin_usage_error("option %s takes no value", name);
        }
        *slot = "";
        return GW_OK;
    }
    if (inline_v == NULL) {
        if (*i + 1 >= argc) {
            return admin_usage_error("option %s needs a value", name);
        }
        inline_v = argv[++(*i)];
    }
    *slot = inline_v;
    return GW_OK;
}

/* --db, --json, --help anywhere. GW_ERR_NOTFOUND when arg is none of
 * them. */
static int take_global(struct admin_ctx *ctx, int argc, char **argv, int *i)
{
    const char *arg = argv[*i];
    const char *v = NULL;

    if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
        ctx->help = true;
        return GW_OK;
    }
    if (match_option(arg, "--db", &v)) {
        return take_value("--db", true, v, argc, argv, i, &ctx->db_path);
    }
    if (match_option(arg, "--json", &v)) {
        if (v != NULL) {
            return admin_usage_error("option --json takes no value");
        }
        ctx->json = true; /* twice is harmless */
        return GW_OK;
    }
    return GW_ERR_NOTFOUND;
}

static int take_cmd_option(struct admin_ctx *ctx, int argc, char **argv, int *i)
{
    const struct admin_optspec *opts = ctx->cmd->opts;
    const char *v = NULL;

    for (size_t k = 0; opts != NULL && opts[k].name != NULL; k++) {
        if (match_option(argv[*i], opts[k].name, &v)) {
            return take_value(opts[k].name, opts[k].has_value, v, argc, argv, i,
                              &ctx->optval[k]);
        }
    }
    return admin_usage_error("unknown option '%s'", argv[*i]);
}

/* Global options before the noun; *i ends on the noun. */
static int parse_global(struct admin_ctx *ctx, int argc, char **argv, int *i)
{
    int rc;

    for (; *i < argc && argv[*i][0] == '-' && argv[*i][1] != '\0'; (*i)++) {
        if (strcmp(argv[*i], "--version") == 0) {
            ctx->help = true;
            ctx->version = true;
            return GW_OK;
        }
        rc = take_global(ctx, argc, argv, i);
        if (rc == GW_ERR_NOTFOUND) {
            return admin_usage_error("unknown option '%s'", argv[*i]);
        }
        if (rc != GW_OK) {
            return rc;
        }
    }
    return GW_OK;
}

/* "help [NOUN]": usage of everything or of one noun. */
static int help_command(struct admin_ctx *ctx, int argc, char **argv, int i)
{
    ctx->help = true;
    if (i < argc && admin_noun_known(argv[i])) {
        ctx->noun = argv[i];
    }
    return GW_OK;
}

/* Resolve "noun [verb]" into ctx->cmd; *i ends after them. */
static int find_command(struct admin_ctx *ctx, int argc, char **argv, int *i)
{
    const char *noun = NULL;

    if (ctx->help) {
        return GW_OK;
    }
    if (*i >= argc) {
        return admin_usage_error("no command given");
    }
    noun = argv[(*i)++];
    if (strcmp(noun, "help") == 0) {
        return help_command(ctx, argc, argv, *i);
    }
    if (!admin_noun_known(noun)) {
        return admin_usage_error("unknown command '%s'", noun);
    }
    ctx->noun = noun;
    ctx->cmd = admin_cmd_find(noun, NULL);
    if (ctx->cmd != NULL) {
        return GW_OK;
    }
    if (*i >= argc) {
        return admin_usage_error("'%s' needs a verb", noun);
    }
    if (is_help(argv[*i])) {
        ctx->help = true;
        return GW_OK;
    }
    ctx->cmd = admin_cmd_find(noun, argv[*i]);
    if (ctx->cmd == NULL) {
        return admin_usage_error("unknown command '%s %s'", noun, argv[*i]);
    }
    (*i)++;
    return GW_OK;
}

static int check_complete(const struct admin_ctx *ctx)
{
    const struct admin_optspec *opts = ctx->cmd->opts;
    char name[32];

    if (ctx->nargs < ctx->cmd->min_args) {
        admin_cmd_arg_name(ctx->cmd, ctx->nargs, name, sizeof(name));
        return admin_usage_error("missing %s", name);
    }
    for (size_t k = 0; opts != NULL && opts[k].name != NULL; k++) {
        if (opts[k].required && ctx->optval[k] == NULL) {
            return admin_usage_error("missing option %s", opts[k].name);
        }
    }
    return GW_OK;
}

/* Positional arguments and options after the verb. */
static int parse_args(struct admin_ctx *ctx, int argc, char **argv, int i)
{
    bool options_done = false;
    int rc = GW_OK;

    for (; i < argc && !ctx->help && rc == GW_OK; i++) {
        const char *arg = argv[i];
        if (!options_done && strcmp(arg, "--") == 0) {
            options_done = true;
        } else if (!options_done && arg[0] == '-' && arg[1] != '\0') {
            rc = take_global(ctx, argc, argv, &i);
            if (rc == GW_ERR_NOTFOUND) {
                rc = take_cmd_option(ctx, argc, argv, &i);
            }
        } else if (ctx->nargs == ctx->cmd->max_args) {
            rc = admin_usage_error("unexpected argument '%s'", arg);
        } else {
            ctx->args[ctx->nargs++] = arg;
        }
    }
    if (rc != GW_OK || ctx->help) {
        return rc;
    }
    return check_complete(ctx);
}

const char *admin_arg(const struct admin_ctx *ctx, size_t i)
{
    return i < ctx->nargs ? ctx->args[i] : NULL;
}

const char *admin_opt(const struct admin_ctx *ctx, const char *name)
{
    const struct admin_optspec *opts = ctx->cmd->opts;

    for (size_t k = 0; opts != NULL && opts[k].name != NULL; k++) {
        if (strcmp(opts[k].name, name) == 0) {
            return ctx->optval[k];
        }
    }
    return NULL;
}

bool admin_flag(const struct admin_ctx *ctx, const char *name)
{
    return admin_opt(ctx, name) != NULL;
}

int admin_begin(struct admin_ctx *ctx)
{
    int rc = store_begin(ctx->st);

    if (rc == GW_OK) {
        ctx->in_tx = true;
        ctx->events = 0;
    }
    return rc;
}

int admin_commit(struct admin_ctx *ctx)
{
    int rc = GW_OK;

    if (!ctx->in_tx) {
        return GW_OK;
    }
    /* The audit trail is the point of a bastion: no silent changes. */
    if (ctx->events == 0) {
        rc = gw_err_set(GW_ERR, "internal error: change without an audit "
                                "event; nothing written");
    }
    /* Every change bumps the access generation in its own transaction:
     * the daemon reads it every 500 ms and has its open connections check
     * their user, key and grants again (docs/architecture.md). One place
     * for every command, so that no change to users, keys or grants can
     * forget it; a change to anything else costs only a spare check. */
    if (rc == GW_OK) {
        rc = store_access_bump(ctx->st);
    }
    if (rc == GW_OK) {
        rc = store_commit(ctx->st);
    }
    if (rc != GW_OK) {
        store_rollback(ctx->st);
    }
    ctx->in_tx = false;
    return rc;
}

void admin_rollback(struct admin_ctx *ctx)
{
    if (ctx->in_tx) {
        store_rollback(ctx->st);
        ctx->in_tx = false;
    }
}

int admin_event(struct admin_ctx *ctx, const char *kind, const char *user,
                const char *fmt, ...)
{
    char detail[EVENT_DETAIL_MAX];
    char full[EVENT_DETAIL_MAX + ADMIN_ACTOR_MAX + 8];
    va_list ap;
    int rc;

    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    snprintf(full, sizeof(full), "by=%s%s%s", ctx->actor,
             detail[0] != '\0' ? " " : "", detail);
    rc = store_event_add(ctx->st, kind, user, NULL, full);
    if (rc == GW_OK) {
        ctx->events++;
    }
    return rc;
}

/* A password typed on a terminal: prompt on err and switch echo off.
 * False (nothing changed) when in is not a terminal. */
static bool echo_off(struct admin_ctx *ctx, struct termios *saved)
{
    int fd = fileno(ctx->in);
    struct termios quiet;

    if (fd < 0 || !isatty(fd) || tcgetattr(fd, saved) != 0) {
        return false;
    }
    quiet = *saved;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    if (tcsetattr(fd, TCSAFLUSH, &quiet) != 0) {
        return false;
    }
    fputs("password: ", ctx->err);
    fflush(ctx->err);
    return true;
}

static void echo_restore(struct admin_ctx *ctx, const struct termios *saved)
{
    (void)tcsetattr(fileno(ctx->in), TCSAFLUSH, saved);
    fputc('\n', ctx->err);
}

int admin_read_password(struct admin_ctx *ctx, char **password)
{
    struct termios saved;
    bool quiet;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int rc = GW_OK;

    quiet = echo_off(ctx, &saved);
    len = getline(&line, &cap, ctx->in);
    if (quiet) {
        echo_restore(ctx, &saved);
    }
    if (len < 0 && ferror(ctx->in)) {
        rc = gw_err_set(GW_ERR_IO, "cannot read the password from stdin");
        goto out;
    }
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) {
        line[--len] = '\0';
    }
    if (len <= 0) {
        rc = gw_err_set(GW_ERR_INVALID, "password must not be empty");
        goto out;
    }
    *password = line;
    line = NULL; /* transferred */
out:
    if (line != NULL) {
        gw_free_secret(line, cap);
    }
    return rc;
}

static const char *resolve_db_path(const struct admin_ctx *ctx)
{
    const char *env = getenv("SSHGATE_DB");

    if (ctx->db_path != NULL) {
        return ctx->db_path;
    }
    if (env != NULL && env[0] != '\0') {
        return env;
    }
    return SSHGATE_DEFAULT_DB;
}

/* Run the handler with ctx->out buffered, so a command that fails after
 * printing part of its output prints none of it. */
static int run_buffered(struct admin_ctx *ctx)
{
    FILE *real_out = ctx->out;
    char *buf = NULL;
    size_t len = 0;
    int rc;

    if (ctx->cmd->flags & ADMIN_CMD_STREAM) {
        rc = ctx->cmd->run(ctx);
        admin_rollback(ctx);
        return rc;
    }
    ctx->out = open_memstream(&buf, &len);
    if (ctx->out == NULL) {
        ctx->out = real_out;
        return GW_ERR_NOMEM;
    }
    rc = ctx->cmd->run(ctx);
    if (rc == GW_OK) {
        rc = admin_commit(ctx);
    }
    admin_rollback(ctx);
    fclose(ctx->out);
    ctx->out = real_out;
    if ((rc == GW_OK || ctx->keep_output) && buf != NULL) {
        fwrite(buf, 1, len, real_out);
    }
    free(buf);
    return rc;
}

static int run_command(struct admin_ctx *ctx)
{
    int rc = GW_OK;

    ctx->db_path = resolve_db_path(ctx);
    set_actor(ctx);
    if (!(ctx->cmd->flags & ADMIN_CMD_OWN_DB)) {
        rc = store_open(ctx->db_path, STORE_OPEN_EXISTING, &ctx->st);
    }
    if (rc == GW_OK && ctx->st != NULL) {
        /* From here on output and events name the database as the store
         * does: a server's URI without its password. */
        ctx->db_path = store_name(ctx->st);
    }
    if (rc == GW_OK) {
        rc = run_buffered(ctx);
    }
    store_close(ctx->st);
    ctx->st = NULL;
    return rc;
}

static void print_help(const struct admin_ctx *ctx)
{
    if (ctx->version) {
        fputs(ADMIN_PROG " " SSHGATE_VERSION "\n", ctx->out);
    } else if (ctx->cmd != NULL) {
        admin_usage_cmd(ctx->out, ctx->cmd);
    } else if (ctx->noun != NULL) {
        admin_usage_noun(ctx->out, ctx->noun);
    } else {
        admin_usage_all(ctx->out);
    }
}

/* Map a status to the exit code, printing the one line (and for usage
 * errors the usage) on err. */
static int finish(const struct admin_ctx *ctx, int rc)
{
    const char *msg = rc == GW_ERR_NOMEM ? gw_strerror(rc) : gw_err_msg();

    if (rc == GW_OK) {
        return ADMIN_EXIT_OK;
    }
    fputs(ADMIN_PROG ": ", ctx->err);
    out_text(ctx->err, msg);
    fputc('\n', ctx->err);
    if (rc != ADMIN_ERR_USAGE) {
        return ADMIN_EXIT_FAIL;
    }
    if (ctx->cmd != NULL) {
        admin_usage_cmd(ctx->err, ctx->cmd);
    } else if (ctx->noun != NULL) {
        admin_usage_noun(ctx->err, ctx->noun);
    } else {
        admin_usage_all(ctx->err);
    }
    return ADMIN_EXIT_USAGE;
}

int admin_main(int argc, char **argv, FILE *in, FILE *out, FILE *err)
{
    struct admin_ctx ctx;
    int i = 1;
    int rc;

    memset(&ctx, 0, sizeof(ctx));
    ctx.in = in;
    ctx.out = out;
    ctx.err = err;
    gw_err_clear();
    rc = parse_global(&ctx, argc, argv, &i);
    if (rc == GW_OK) {
        rc = find_command(&ctx, argc, argv, &i);
    }
    if (rc == GW_OK && ctx.cmd != NULL) {
        rc = parse_args(&ctx, argc, argv, i);
    }
    if (rc == GW_OK && ctx.help) {
        print_help(&ctx);
        return ADMIN_EXIT_OK;
    }
    if (rc == GW_OK) {
        rc = run_command(&ctx);
    }
    return finish(&ctx, rc);
}
