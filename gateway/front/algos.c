#include "gateway/front/algos.h"

#include "core/err.h"
#include "core/log.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define NAME_MAX_LEN 64

struct algo {
    const char *name;
    const char *weak; /* why it is weak, or NULL */
};

#define SHA1 "uses SHA-1"

static const struct algo kex[] = {
    {"curve25519-sha256", NULL},
    {"curve25519-sha256@libssh.org", NULL},
    {"ecdh-sha2-nistp256", NULL},
    {"ecdh-sha2-nistp384", NULL},
    {"ecdh-sha2-nistp521", NULL},
    {"diffie-hellman-group18-sha512", NULL},
    {"diffie-hellman-group16-sha512", NULL},
    {"diffie-hellman-group-exchange-sha256", NULL},
    {"diffie-hellman-group14-sha256", NULL},
    {"diffie-hellman-group-exchange-sha1", SHA1},
    {"diffie-hellman-group14-sha1", SHA1},
    {"diffie-hellman-group1-sha1", "uses SHA-1 and a 1024-bit group"},
    {NULL, NULL},
};

static const struct algo ciphers[] = {
    {"chacha20-poly1305@openssh.com", NULL},
    {"aes256-gcm@openssh.com", NULL},
    {"aes128-gcm@openssh.com", NULL},
    {"aes256-ctr", NULL},
    {"aes192-ctr", NULL},
    {"aes128-ctr", NULL},
    {"aes256-cbc", "is a CBC mode cipher"},
    {"aes192-cbc", "is a CBC mode cipher"},
    {"aes128-cbc", "is a CBC mode cipher"},
    {"3des-cbc", "is 3DES in CBC mode"},
    {NULL, NULL},
};

static const struct algo macs[] = {
    {"hmac-sha2-256-etm@openssh.com", NULL},
    {"hmac-sha2-512-etm@openssh.com", NULL},
    {"hmac-sha2-256", "is encrypt-and-MAC, not encrypt-then-MAC"},
    {"hmac-sha2-512", "is encrypt-and-MAC, not encrypt-then-MAC"},
    {"hmac-sha1-etm@openssh.com", SHA1},
    {"hmac-sha1", SHA1},
    {NULL, NULL},
};

/* Host key and user key signature algorithms. */
static const struct algo keys[] = {
    {"ssh-ed25519", NULL},
    {"ecdsa-sha2-nistp256", NULL},
    {"ecdsa-sha2-nistp384", NULL},
    {"ecdsa-sha2-nistp521", NULL},
    {"sk-ssh-ed25519@openssh.com", NULL},
    {"sk-ecdsa-sha2-nistp256@openssh.com", NULL},
    {"rsa-sha2-512", NULL},
    {"rsa-sha2-256", NULL},
    {"ssh-rsa", "signs with SHA-1"},
    {NULL, NULL},
};

static const struct algo *table_of(enum gw_algo_kind kind)
{
    switch (kind) {
    case GW_ALGO_KEX:
        return kex;
    case GW_ALGO_CIPHER:
        return ciphers;
    case GW_ALGO_MAC:
        return macs;
    case GW_ALGO_HOSTKEY:
    case GW_ALGO_PUBKEY:
        return keys;
    }
    return kex;
}

static const struct algo *lookup(const struct algo *table, const char *name)
{
    for (; table->name != NULL; table++) {
        if (strcmp(table->name, name) == 0) {
            return table;
        }
    }
    return NULL;
}

int gw_algos_check(enum gw_algo_kind kind, const char *list,
                   gw_algo_warn_fn warn, void *ud)
{
    const struct algo *table = table_of(kind);
    char name[NAME_MAX_LEN];
    const char *p = list;

    for (;;) {
        size_t len = strcspn(p, ",");
        const struct algo *a = NULL;
        if (len == 0 || len >= sizeof(name)) {
            return gw_err_set(GW_ERR_INVALID, "bad algorithm list '%s'", list);
        }
        memcpy(name, p, len);
        name[len] = '\0';
        a = lookup(table, name);
        if (a == NULL) {
            return gw_err_set(GW_ERR_INVALID, "'%s' is not supported here%s",
                              name,
                              strstr(name, "-cert-") != NULL
                                  ? " (certificates are not supported)"
                                  : "");
        }
        if (a->weak != NULL && warn != NULL) {
            warn(ud, name, a->weak);
        }
        if (p[len] == '\0') {
            return GW_OK;
        }
        p += len + 1;
    }
}

static void warn_weak(void *ud, const char *name, const char *why)
{
    gw_log_warn("%s: %s %s; allowed because the configuration lists it",
                (const char *)ud, name, why);
}

int gw_algos_config_check(const char *key, const char *value)
{
    static const struct {
        const char *key;
        enum gw_algo_kind kind;
    } lists[] = {
        {"kex", GW_ALGO_KEX},
        {"ciphers", GW_ALGO_CIPHER},
        {"macs", GW_ALGO_MAC},
        {"hostkey_algorithms", GW_ALGO_HOSTKEY},
        {"pubkey_accepted_algorithms", GW_ALGO_PUBKEY},
    };

    for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
        if (strcmp(lists[i].key, key) == 0) {
            return gw_algos_check(lists[i].kind, value, warn_weak,
                                  (void *)(uintptr_t)lists[i].key);
        }
    }
    return GW_OK;
}
