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
