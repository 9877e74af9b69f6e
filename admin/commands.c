/*
 * The command table: every "noun verb" the CLI knows, with its handler, its
 * usage line, its argument counts and its options. The dispatcher (cli.c)
 * parses and checks arguments from this table, so a handler only runs with
 * a well-formed command line.
 */
#include "admin/internal.h"

#include <stdio.h>
#include <string.h>

static const struct admin_optspec user_add_opts[] = {
    {"--admin", false, false}, {"--password-stdin", false, false},
    {"--key", true, false},    {"--rate-limit", true, false},
    {NULL, false, false},
};

static const struct admin_optspec user_set_opts[] = {
    {"--rate-limit", true, true},
    {NULL, false, false},
};

static const struct admin_optspec user_passwd_opts[] = {
    {"--password-stdin", false, true},
    {NULL, false, false},
};

static const struct admin_optspec host_add_opts[] = {
    {"--address", true, true},
    {"--port", true, false},
    {"--login", true, false},
    {"--fingerprint", true, false},
    {"--key-file", true, false},
    {"--password-stdin", false, false},
    {"--via", true, false},
    {"--via-proxy", true, false},
    {"--proxy-password-stdin", false, false},
    {NULL, false, false},
};

static const struct admin_optspec host_set_opts[] = {
    {"--via", true, false},
    {"--via-proxy", true, false},
    {"--proxy-password-stdin", false, false},
    {NULL, false, false},
};

static const struct admin_optspec db_copy_opts[] = {
    {"--from", true, false},
    {"--to", true, true},
    {NULL, false, false},
};

static const struct admin_optspec host_check_opts[] = {
    {"--login", true, false},
    {"--timeout", true, false},
    {NULL, false, false},
};

static const struct admin_optspec host_trust_opts[] = {
    {"--timeout", true, false},
    {NULL, false, false},
};

static const struct admin_optspec grant_add_opts[] = {
    {"--login", true, false},   {"--allow", true, false},
    {"--expires", true, false}, {"--rate-limit", true, false},
    {NULL, false, false},
};

static const struct admin_optspec grant_set_opts[] = {
    {"--login", true, false},
    {"--rate-limit", true, true},
    {NULL, false, false},
};

static const struct admin_optspec grant_del_opts[] = {
    {"--login", true, false},
    {NULL, false, false},
};

static const struct admin_optspec audit_list_opts[] = {
    {"--since", true, false}, {"--kind", true, false}, {"--user", true, false},
    {"--limit", true, false}, {NULL, false, false},
};

static const struct admin_optspec audit_verify_opts[] = {
    {"--head", true, false},
    {NULL, false, false},
};

static const struct admin_optspec health_opts[] = {
    {"--address", true, false},
    {"--timeout", true, false},
    {NULL, false, false},
};

static const struct admin_optspec session_list_opts[] = {
    {"--active", false, false}, {"--user", true, false},
    {"--host", true, false},    {"--since", true, false},
    {"--limit", true, false},   {NULL, false, false},
};

static const struct admin_optspec session_kill_opts[] = {
    {"--conn", true, false},
    {NULL, false, false},
};

static const struct admin_optspec session_replay_opts[] = {
    {"--speed", true, false},
    {NULL, false, false},
};

static const struct admin_optspec session_watch_opts[] = {
    {"--speed", true, false},
    {"--from-start", false, false},
    {NULL, false, false},
};

static const struct admin_cmd commands[] = {
    {"init", NULL, admin_init, "", 0, 0, NULL, ADMIN_CMD_OWN_DB},
    {"user", "add", admin_user_add,
     "NAME [--admin] [--password-stdin] [--key FILE|-] [--rate-limit R]", 1, 1,
     user_add_opts, 0},
    {"user", "set", admin_user_set, "NAME --rate-limit R", 1, 1, user_set_opts,
     0},
    {"user", "list", admin_user_list, "", 0, 0, NULL, 0},
    {"user", "show", admin_user_show, "NAME", 1, 1, NULL, 0},
    {"user", "del", admin_user_del, "NAME", 1, 1, NULL, 0},
    {"user", "disable", admin_user_disable, "NAME", 1, 1, NULL, 0},
    {"user", "enable", admin_user_enable, "NAME", 1, 1, NULL, 0},
    {"user", "unlock", admin_user_unlock, "NAME", 1, 1, NULL, 0},
    {"user", "kick", admin_user_kick, "NAME", 1, 1, NULL, 0},
    {"user", "passwd", admin_user_passwd, "NAME --password-stdin", 1, 1,
     user_passwd_opts, 0},
    {"key", "add", admin_key_add, "USER FILE|-", 2, 2, NULL, 0},
    {"key", "list", admin_key_list, "[USER]", 0, 1, NULL, 0},
    {"key", "del", admin_key_del, "USER FINGERPRINT", 2, 2, NULL, 0},
    {"host", "add", admin_host_add,
     "NAME --address ADDR [--port N] [--login USER] "
     "[--fingerprint SHA256:...] [--key-file FILE | --password-stdin] "
     "[--via HOST] [--via-proxy URL [--proxy-password-stdin]]",
     1, 1, host_add_opts, 0},
    {"host", "set", admin_host_set,
     "NAME [--via HOST|none] [--via-proxy URL|direct|none "
     "[--proxy-password-stdin]]",
     1, 1, host_set_opts, 0},
    {"host", "list", admin_host_list, "", 0, 0, NULL, 0},
    {"host", "show", admin_host_show, "NAME", 1, 1, NULL, 0},
    {"host", "del", admin_host_del, "NAME", 1, 1, NULL, 0},
    {"host", "check", admin_host_check, "NAME [--login L] [--timeout S]", 1, 1,
     host_check_opts, 0},
    {"host", "trust", admin_host_trust, "NAME [--timeout S]", 1, 1,
     host_trust_opts, 0},
    {"grant", "add", admin_grant_add,
     "USER HOST [--login L] [--allow KINDS] [--expires T] [--rate-limit R]", 2,
     2, grant_add_opts, 0},
    {"grant", "set", admin_grant_set, "USER HOST [--login L] --rate-limit R", 2,
     2, grant_set_opts, 0},
    {"grant", "list", admin_grant_list, "[USER]", 0, 1, NULL, 0},
    {"grant", "del", admin_grant_del, "USER HOST [--login L]", 2, 2,
     grant_del_opts, 0},
    {"keys", "show", admin_keys_show, "", 0, 0, NULL, 0},
    {"audit", "list", admin_audit_list,
     "[--since T] [--kind K] [--user U] [--limit N]", 0, 0, audit_list_opts, 0},
    {"audit", "verify", admin_audit_verify, "[--head ID:HASH]", 0, 0,
     audit_verify_opts, 0},
    {"audit", "head", admin_audit_head, "", 0, 0, NULL, 0},
    {"session", "list", admin_session_list,
     "[--active] [--user U] [--host H] [--since T] [--limit N]", 0, 0,
     session_list_opts, 0},
    {"session", "show", admin_session_show, "ID", 1, 1, NULL, 0},
    {"session", "replay", admin_session_replay, "ID [--speed X]", 1, 1,
     session_replay_opts, ADMIN_CMD_STREAM},
    {"session", "watch", admin_session_watch, "ID [--speed X] [--from-start]",
     1, 1, session_watch_opts, ADMIN_CMD_STREAM},
    {"session", "export", admin_session_export, "ID", 1, 1, NULL,
     ADMIN_CMD_STREAM},
    {"session", "kill", admin_session_kill, "ID | --conn UID", 0, 1,
     session_kill_opts, 0},
    {"db", "backup", admin_db_backup, "FILE", 1, 1, NULL, 0},
    {"db", "check", admin_db_check, "", 0, 0, NULL, 0},
    {"db", "copy", admin_db_copy, "[--from PATH|URI] --to PATH|URI", 0, 0,
     db_copy_opts, ADMIN_CMD_OWN_DB},
    {"node", "list", admin_node_list, "", 0, 0, NULL, 0},
    {"health", NULL, admin_health, "[--address HOST:PORT] [--timeout S]", 0, 0,
     health_opts, 0},
};

#define COMMANDS_N (sizeof(commands) / sizeof(commands[0]))

const struct admin_cmd *admin_cmd_find(const char *noun, const char *verb)
{
    for (size_t i = 0; i < COMMANDS_N; i++) {
        const struct admin_cmd *c = &commands[i];
        if (strcmp(c->noun, noun) != 0) {
            continue;
        }
        if (c->verb == NULL || (verb != NULL && strcmp(c->verb, verb) == 0)) {
            return c;
        }
    }
    return NULL;
}

void admin_cmd_arg_name(const struct admin_cmd *cmd, size_t k, char *buf,
                        size_t len)
{
    const char *p = cmd->usage;
    bool after_option = false;

    /* Positional names are the words of the usage line that are neither
     * options, option values nor [optional]: "USER HOST [--login L]". */
    snprintf(buf, len, "argument");
    while (*p != '\0') {
        size_t n = strcspn(p, " ");
        bool positional =
            p[0] != '[' && p[0] != '-' && p[n - 1] != ']' && !after_option;
        after_option = p[0] == '-';
        if (positional && k-- == 0) {
            snprintf(buf, len, "%.*s", (int)n, p);
            return;
        }
        p += n + strspn(p + n, " ");
    }
}

bool admin_noun_known(const char *noun)
{
    for (size_t i = 0; i < COMMANDS_N; i++) {
        if (strcmp(commands[i].noun, noun) == 0) {
            return true;
        }
    }
    return false;
}

/* "user add NAME [--admin] ..." without a trailing blank for bare verbs. */
static void print_synopsis(FILE *f, const struct admin_cmd *cmd)
{
    fputs(cmd->noun, f);
    if (cmd->verb != NULL) {
        fprintf(f, " %s", cmd->verb);
    }
    if (cmd->usage[0] != '\0') {
        fprintf(f, " %s", cmd->usage);
    }
    fputc('\n', f);
}

void admin_usage_cmd(FILE *f, const struct admin_cmd *cmd)
{
    fputs("usage: " ADMIN_PROG " [--db PATH] [--json] ", f);
    print_synopsis(f, cmd);
}

void admin_usage_noun(FILE *f, const char *noun)
{
    for (size_t i = 0; i < COMMANDS_N; i++) {
        if (strcmp(commands[i].noun, noun) == 0) {
            admin_usage_cmd(f, &commands[i]);
        }
    }
}

void admin_usage_all(FILE *f)
{
    fputs("usage: " ADMIN_PROG " [--db PATH] [--json] NOUN VERB [ARGS]\n"
          "\n"
          "commands:\n",
          f);
    for (size_t i = 0; i < COMMANDS_N; i++) {
        fputs("  ", f);
        print_synopsis(f, &commands[i]);
    }
    fputs("\n"
          "options (before the noun or after the verb):\n"
          "  --db PATH   database file (default: $SSHGATE_DB if set, "
          "else " SSHGATE_DEFAULT_DB ")\n"
          "  --json      print one JSON document instead of tables\n"
          "  --help      print this help; NOUN --help or NOUN VERB --help "
          "for one command\n"
          "  --version   print the version\n"
          "\n"
          "exit status: 0 success, 1 error (one line on stderr, nothing "
          "changed), 2 usage error\n",
          f);
}
