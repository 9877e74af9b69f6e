#include "gateway/conn/policy.h"

#include "core/err.h"

#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PATTERN_MAX 128

bool gw_env_allowed(const char *patterns, const char *name)
{
    const char *p = patterns;

    if (p == NULL || name == NULL || name[0] == '\0') {
        return false;
    }
    while (*p != '\0') {
        char pat[PATTERN_MAX];
        size_t len = strcspn(p, ",");
        if (len > 0 && len < sizeof(pat)) {
            memcpy(pat, p, len);
            pat[len] = '\0';
            if (fnmatch(pat, name, 0) == 0) {
                return true;
            }
        }
        p += len;
        if (*p == ',') {
            p++;
        }
    }
    return false;
}

/* ---- file-transfer commands ------------------------------------------ */

/* How deep "sh -c 'sh -c ...'" is followed: the stock tools never nest. */
#define TRANSFER_DEPTH_MAX 4

const char *gw_transfer_name(enum gw_transfer t)
{
    switch (t) {
    case GW_TRANSFER_SCP:
        return "scp";
    case GW_TRANSFER_RSYNC:
        return "rsync";
    case GW_TRANSFER_SFTP:
        return "sftp";
    case GW_TRANSFER_UNKNOWN:
        return "unknown";
    default:
        return "";
    }
}

/* A shell-like lexer: words without their quotes, and the unquoted
 * characters that end a simple command as tokens of their own. */
struct lexer {
    const char *p;
    char *word; /* as long as the command: a word never grows unquoted */
};

enum token { TOK_END, TOK_WORD, TOK_SEP };

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

static bool is_sep(char c)
{
    return c == ';' || c == '&' || c == '|' || c == '(' || c == ')' ||
           c == '\n';
}

static enum token next_token(struct lexer *lx)
{
    size_t n = 0;

    while (is_blank(*lx->p) || (lx->p[0] == '\\' && lx->p[1] == '\n')) {
        lx->p += is_blank(*lx->p) ? 1 : 2;
    }
    if (*lx->p == '#') { /* a comment runs to the end of the line */
        lx->p += strcspn(lx->p, "\n");
    }
    if (*lx->p == '\0') {
        return TOK_END;
    }
    if (is_sep(*lx->p)) {
        lx->p++;
        return TOK_SEP;
    }
    while (*lx->p != '\0' && !is_blank(*lx->p) && !is_sep(*lx->p)) {
        char c = *lx->p++;
        if (c == '\'') {
            while (*lx->p != '\0' && *lx->p != '\'') {
                lx->word[n++] = *lx->p++;
            }
            lx->p += *lx->p == '\'' ? 1 : 0;
        } else if (c == '"') {
            while (*lx->p != '\0' && *lx->p != '"') {
                if (lx->p[0] == '\\' && lx->p[1] != '\0' &&
                    strchr("\"\\$`\n", lx->p[1]) != NULL) {
                    lx->p++;
                }
                lx->word[n++] = *lx->p++;
            }
            lx->p += *lx->p == '"' ? 1 : 0;
        } else if (c == '\\' && *lx->p == '\n') {
            lx->p++; /* a line continuation joins the word */
        } else if (c == '\\' && *lx->p != '\0') {
            lx->word[n++] = *lx->p++;
        } else {
            lx->word[n++] = c;
        }
    }
    lx->word[n] = '\0';
    return TOK_WORD;
}

static const char *base_name(const char *word)
{
    const char *slash = strrchr(word, '/');

    return slash != NULL ? slash + 1 : word;
}

static bool in_list(const char *word, const char *const *list)
{
    for (size_t i = 0; list[i] != NULL; i++) {
        if (strcmp(word, list[i]) == 0) {
            return true;
        }
    }
    return false;
}

/* NAME=VALUE before a command sets its environment. */
static bool is_assignment(const char *word)
{
    size_t len = strspn(word, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstu"
                              "vwxyz0123456789_");

    return len > 0 && (word[0] < '0' || word[0] > '9') && word[len] == '=';
}

/* Where the classifier is within one simple command. */
enum cmd_state {
    ST_FIRST,   /* the command word is still to come */
    ST_WRAPPER, /* after env, sudo, ...: options, then the command */
    ST_SCP,     /* after scp: looking for -t / -f */
    ST_RSYNC,   /* after rsync: looking for --server */
    ST_SHELL,   /* after sh: looking for -c */
    ST_SCRIPT,  /* after sh -c: the script is next */
    ST_OTHER,   /* anything else: nothing to see until the next command */
};

static const char *const keywords[] = {"if", "then",  "else",  "elif",
                                       "do", "while", "until", "!",
                                       "{",  "time",  NULL};
static const char *const wrappers[] = {"env",    "exec",   "command", "nice",
                                       "nohup",  "sudo",   "doas",    "ionice",
                                       "stdbuf", "setsid", NULL};
static const char *const shells[] = {"sh",  "bash", "dash", "zsh",
                                     "ksh", "mksh", "ash",  NULL};

static enum gw_transfer classify(const char *cmd, int depth);

/* The command word of a simple command. */
static enum cmd_state command_word(const char *word, enum gw_transfer *hit)
{
    const char *base = base_name(word);

    if (strcmp(base, "scp") == 0) {
        return ST_SCP;
    }
    if (strcmp(base, "rsync") == 0) {
        return ST_RSYNC;
    }
    if (strcmp(base, "sftp-server") == 0 ||
        strcmp(base, "internal-sftp") == 0) {
        *hit = GW_TRANSFER_SFTP;
        return ST_OTHER;
    }
    if (in_list(base, wrappers)) {
        return ST_WRAPPER;
    }
    if (in_list(base, shells)) {
        return ST_SHELL;
    }
    return ST_OTHER;
}

/* A single-dash option word ("-t", "-dt", not "--x") holding letter c. */
static bool short_flag(const char *word, char c)
{
    return word[0] == '-' && word[1] != '-' && strchr(word + 1, c) != NULL;
}

/* One word of a simple command: the next state, *hit on a transfer. */
static enum cmd_state step(enum cmd_state st, const char *word, bool *opt_arg,
                           int depth, enum gw_transfer *hit)
{
    switch (st) {
    case ST_FIRST:
        if (is_assignment(word) || in_list(word, keywords)) {
            return ST_FIRST;
        }
        return command_word(word, hit);
    case ST_WRAPPER:
        /* Options of env, sudo, nice... are skipped, and the word after
         * an option too (sudo -u root, nice -n 5): it may be the option's
         * argument. That can take a command for an argument and let a
         * transfer tool behind it be seen, never the other way round. */
        if (word[0] == '-' || is_assignment(word)) {
            *opt_arg = word[0] == '-' && strchr(word, '=') == NULL;
            return ST_WRAPPER;
        }
        if (*opt_arg && command_word(word, hit) == ST_OTHER &&
            *hit == GW_TRANSFER_NONE) {
            *opt_arg = false;
            return ST_WRAPPER;
        }
        *opt_arg = false;
        return command_word(word, hit);
    case ST_SCP:
        /* scp's server side is "scp [-v -r -p -d] -t|-f [--] PATH". */
        if (strcmp(word, "--") == 0) {
            return ST_OTHER;
        }
        if (short_flag(word, 't') || short_flag(word, 'f')) {
            *hit = GW_TRANSFER_SCP;
        }
        return ST_SCP;
    case ST_RSYNC:
        if (strcmp(word, "--server") == 0) {
            *hit = GW_TRANSFER_RSYNC;
        }
        return ST_RSYNC;
    case ST_SHELL:
        /* "sh -o pipefail -c SCRIPT": -o and +o take an argument. */
        if (short_flag(word, 'c')) {
            return ST_SCRIPT;
        }
        if (word[0] == '-' || word[0] == '+' || *opt_arg) {
            *opt_arg = strcmp(word, "-o") == 0 || strcmp(word, "+o") == 0;
            return ST_SHELL;
        }
        return ST_OTHER;
    case ST_SCRIPT:
        if (word[0] == '-' || word[0] == '+') {
            return ST_SCRIPT;
        }
        if (depth < TRANSFER_DEPTH_MAX) {
            *hit = classify(word, depth + 1);
        }
        return ST_OTHER;
    default:
        return ST_OTHER;
    }
}

static enum gw_transfer classify(const char *cmd, int depth)
{
    struct lexer lx = {cmd, malloc(strlen(cmd) + 1)};
    enum gw_transfer hit = GW_TRANSFER_NONE;
    enum cmd_state st = ST_FIRST;
    bool opt_arg = false;
    enum token tok;

    if (lx.word == NULL) {
        return GW_TRANSFER_UNKNOWN; /* refuse rather than let one through */
    }
    while (hit == GW_TRANSFER_NONE && (tok = next_token(&lx)) != TOK_END) {
        if (tok == TOK_SEP) {
            st = ST_FIRST;
            opt_arg = false;
        } else {
            st = step(st, lx.word, &opt_arg, depth, &hit);
        }
    }
    free(lx.word);
    return hit;
}

enum gw_transfer gw_policy_transfer_command(const char *cmd)
{
    return cmd != NULL ? classify(cmd, 0) : GW_TRANSFER_NONE;
}

static void deny(struct gw_denial *why, const char *reason, const char *fmt,
                 ...) __attribute__((format(printf, 3, 4)));

static void deny(struct gw_denial *why, const char *reason, const char *fmt,
                 ...)
{
    va_list ap;

    why->reason = reason;
    va_start(ap, fmt);
    vsnprintf(why->message, sizeof(why->message), fmt, ap);
    va_end(ap);
}

/* What the grants of one user say about one host. */
struct host_grants {
    const struct store_grant *only;  /* set when exactly one is active */
    const struct store_grant *deflt; /* active, with the default login */
    const struct store_grant *exact; /* active, with the asked login */
    bool exact_expired;              /* the asked login exists, expired */
    size_t active;
    size_t expired;
    char logins[GW_DENIAL_MAX / 2]; /* active logins, "deploy, root" */
};

static void add_login(struct host_grants *hg, const char *login)
{
    size_t used = strlen(hg->logins);

    snprintf(hg->logins + used, sizeof(hg->logins) - used, "%s%s",
             used > 0 ? ", " : "", login);
}

static void survey(const struct store_grant *grants, size_t n, const char *host,
                   const char *login, const char *default_login,
                   struct host_grants *hg)
{
    memset(hg, 0, sizeof(*hg));
    for (size_t i = 0; i < n; i++) {
        const struct store_grant *g = &grants[i];
        bool same_login = login != NULL && strcmp(g->login, login) == 0;
        if (strcmp(g->host, host) != 0) {
            continue;
        }
        if (store_grant_expired(g)) {
            hg->expired++;
            hg->exact_expired = hg->exact_expired || same_login;
            continue;
        }
        hg->active++;
        hg->only = hg->active == 1 ? g : NULL;
        add_login(hg, g->login);
        if (same_login) {
            hg->exact = g;
        }
        if (default_login != NULL && strcmp(g->login, default_login) == 0) {
            hg->deflt = g;
        }
    }
}

int gw_pick_grant(const struct store_grant *grants, size_t n, const char *user,
                  const char *host, const char *login,
                  const char *default_login, char sep,
                  const struct store_grant **out, struct gw_denial *why)
{
    struct host_grants hg;
    bool explicit_login = login != NULL && login[0] != '\0';

    survey(grants, n, host, explicit_login ? login : NULL, default_login, &hg);
    *out = explicit_login ? hg.exact : (hg.only != NULL ? hg.only : hg.deflt);
    if (*out != NULL) {
        return GW_OK;
    }
    if (hg.active == 0 && hg.expired > 0) {
        deny(why, "expired", "sshgate: %s's access to %s has expired", user,
             host);
    } else if (hg.active == 0) {
        deny(why, "no-grant", "sshgate: %s may not connect to %s", user, host);
    } else if (explicit_login && hg.exact_expired) {
        deny(why, "expired", "sshgate: %s's access to %s as %s has expired",
             user, host, login);
    } else if (explicit_login) {
        deny(why, "login-not-granted", "sshgate: %s may not log in to %s as %s",
             user, host, login);
    } else {
        deny(why, "ambiguous-login",
             "sshgate: several logins granted on %s (%s); use %s%cLOGIN@%s",
             host, hg.logins, user, sep, host);
    }
    return GW_ERR_DENIED;
}

/* Is dest the name (any case) or the address of g's host? IPv6 literals
 * may come with brackets. */
static bool names_host(const struct store_grant *g, const char *dest)
{
    size_t len = strlen(dest);

    if (strcasecmp(g->host, dest) == 0 || strcasecmp(g->address, dest) == 0) {
        return true;
    }
    return len > 2 && dest[0] == '[' && dest[len - 1] == ']' &&
           strlen(g->address) == len - 2 &&
           strncasecmp(g->address, dest + 1, len - 2) == 0;
}

int gw_forward_check(const struct store_grant *grants, size_t n,
                     const char *dest, uint16_t port,
                     const struct store_grant **out, enum gw_forward_how *how,
                     struct gw_denial *why)
{
    const struct store_grant *host_match = NULL;

    *out = NULL;
    for (size_t i = 0; i < n; i++) {
        const struct store_grant *g = &grants[i];
        if (store_grant_expired(g) || !names_host(g, dest)) {
            continue;
        }
        host_match = g;
        if (port == g->port) {
            *out = g;
            *how = GW_FORWARD_JUMP;
            return GW_OK;
        }
        if ((g->allow & STORE_ALLOW_FORWARD) != 0 && *out == NULL) {
            *out = g;
        }
    }
    if (*out != NULL) {
        *how = GW_FORWARD_PORT;
        return GW_OK;
    }
    if (host_match == NULL) {
        deny(why, "not-a-granted-host",
             "sshgate: %s is not a host you may reach", dest);
    } else {
        deny(why, "port-not-granted",
             "sshgate: port %u of %s is not granted (needs a forward grant)",
             (unsigned)port, host_match->host);
    }
    return GW_ERR_DENIED;
}

int gw_resolve_target(struct store *st, const char *user,
                      const struct gw_target *target, char sep,
                      struct store_host *host, struct store_grant *grant,
                      struct gw_denial *why)
{
    struct store_grant *grants = NULL;
    const struct store_grant *pick = NULL;
    size_t n = 0;
    int rc;

    memset(host, 0, sizeof(*host));
    rc = store_host_get(st, target->host, host);
    if (rc == GW_ERR_NOTFOUND) {
        /* Same answer as for a host without a grant: existence of hosts
         * is not disclosed. */
        deny(why, "no-grant", "sshgate: %s may not connect to %s", user,
             target->host);
        return GW_ERR_DENIED;
    }
    if (rc != GW_OK) {
        return rc;
    }
    rc = store_grant_list(st, user, false, &grants, &n);
    if (rc == GW_OK) {
        rc = gw_pick_grant(grants, n, user, target->host, target->login,
                           host->login, sep, &pick, why);
    }
    if (rc == GW_OK) {
        *grant = *pick;
    } else {
        store_host_clear(host);
    }
    free(grants);
    return rc;
}
