#include "gateway/front/hostkeys.h"

#include "core/crypto.h"
#include "core/err.h"
#include "core/log.h"
#include "core/sshkey.h"
#include "store/gwkeys.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* The bind options for the algorithm lists of the config. */
static const struct {
    enum ssh_bind_options_e opt;
    size_t offset;
    const char *key;
} algo_opts[] = {
    {SSH_BIND_OPTIONS_KEY_EXCHANGE, offsetof(struct gw_config, kex), "kex"},
    {SSH_BIND_OPTIONS_CIPHERS_C_S, offsetof(struct gw_config, ciphers),
     "ciphers"},
    {SSH_BIND_OPTIONS_CIPHERS_S_C, offsetof(struct gw_config, ciphers),
     "ciphers"},
    {SSH_BIND_OPTIONS_HMAC_C_S, offsetof(struct gw_config, macs), "macs"},
    {SSH_BIND_OPTIONS_HMAC_S_C, offsetof(struct gw_config, macs), "macs"},
    {SSH_BIND_OPTIONS_HOSTKEY_ALGORITHMS,
     offsetof(struct gw_config, hostkey_algorithms), "hostkey_algorithms"},
    {SSH_BIND_OPTIONS_PUBKEY_ACCEPTED_KEY_TYPES,
     offsetof(struct gw_config, pubkey_accepted_algorithms),
     "pubkey_accepted_algorithms"},
};

/* Which slot of the bind a key occupies (libssh keeps one per family). */
static int key_family(ssh_key key)
{
    switch (ssh_key_type(key)) {
    case SSH_KEYTYPE_ED25519:
        return 0;
    case SSH_KEYTYPE_ECDSA_P256:
    case SSH_KEYTYPE_ECDSA_P384:
    case SSH_KEYTYPE_ECDSA_P521:
        return 1;
    case SSH_KEYTYPE_RSA:
        return 2;
    default:
        return -1;
    }
}

/* The signature algorithm names a host key of this type can serve. */
static const char *key_algos(ssh_key key)
{
    switch (ssh_key_type(key)) {
    case SSH_KEYTYPE_ED25519:
        return "ssh-ed25519";
    case SSH_KEYTYPE_RSA:
        return "rsa-sha2-512,rsa-sha2-256,ssh-rsa";
    default:
        return ssh_key_type_to_char(ssh_key_type(key));
    }
}

/* Does any name of the comma list `have` appear in the comma list
 * `wanted`? */
static bool lists_meet(const char *have, const char *wanted)
{
    const char *p = have;

    for (;;) {
        size_t len = strcspn(p, ",");
        const char *w = wanted;
        for (;;) {
            size_t wlen = strcspn(w, ",");
            if (wlen == len && strncmp(w, p, len) == 0) {
                return true;
            }
            if (w[wlen] == '\0') {
                break;
            }
            w += wlen + 1;
        }
        if (p[len] == '\0') {
            return false;
        }
        p += len + 1;
    }
}

/* Import one stored host key into the bind (which then owns it). */
static int import_key(ssh_bind bind, struct store *st,
                      const struct store_gwkey *k, bool used[3],
                      const char *hostkey_algos, bool *usable)
{
    char *text = NULL;
    ssh_key key = NULL;
    int family;
    int rc;

    rc = store_gwkey_private(st, k->id, &text);
    if (rc != GW_OK) {
        return rc;
    }
    rc = gw_privkey_import(text, &key);
    gw_free_secret_str(text);
    if (rc != GW_OK) {
        return gw_err_set(rc, "host key %s: %s", k->fingerprint, gw_err_msg());
    }
    family = key_family(key);
    if (family < 0 || used[family]) {
        /* libssh serves one key per family; the oldest one stays. */
        gw_log_info("not serving host key %s %s (one key per type)", k->type,
                    k->fingerprint);
        ssh_key_free(key);
        return GW_OK;
    }
    *usable = *usable || lists_meet(key_algos(key), hostkey_algos);
    if (ssh_bind_options_set(bind, SSH_BIND_OPTIONS_IMPORT_KEY, key) != 0) {
        rc = gw_err_set(GW_ERR_INVALID, "host key %s: %s", k->fingerprint,
                        ssh_get_error(bind));
        ssh_key_free(key); /* not taken on failure */
        return rc;
    }
    used[family] = true;
    gw_log_verbose("host key %s %s", k->type, k->fingerprint);
    return GW_OK;
}

static int load_keys(ssh_bind bind, struct store *st, const char *algos)
{
    struct store_gwkey *keys = NULL;
    bool used[3] = {false, false, false};
    bool usable = false;
    size_t n = 0;
    int rc;

    rc = store_gwkey_list(st, STORE_GWKEY_HOST, &keys, &n);
    if (rc != GW_OK) {
        return rc;
    }
    if (n == 0) {
        rc = gw_err_set(GW_ERR_NOTFOUND,
                        "no host keys in DB; run sshgate-admin init");
        goto out;
    }
    for (size_t i = 0; i < n && rc == GW_OK; i++) {
        rc = import_key(bind, st, &keys[i], used, algos, &usable);
    }
    if (rc == GW_OK && !usable) {
        rc = gw_err_set(GW_ERR_INVALID,
                        "hostkey_algorithms: none of the host keys in the "
                        "DB can be used with '%s'",
                        algos);
    }
out:
    store_gwkey_list_free(keys, n);
    return rc;
}

static int set_option(ssh_bind bind, enum ssh_bind_options_e opt,
                      const void *value, const char *what)
{
    if (ssh_bind_options_set(bind, opt, value) != 0) {
        return gw_err_set(GW_ERR_INVALID, "%s: %s", what, ssh_get_error(bind));
    }
    return GW_OK;
}

static int set_algorithms(ssh_bind bind, const struct gw_config *cfg)
{
    int rc = GW_OK;

    for (size_t i = 0;
         i < sizeof(algo_opts) / sizeof(algo_opts[0]) && rc == GW_OK; i++) {
        const char *const *list =
            (const char *const *)(const void *)((const char *)cfg +
                                                algo_opts[i].offset);
        rc = set_option(bind, algo_opts[i].opt, *list, algo_opts[i].key);
    }
    return rc;
}

int gw_bind_build(const struct gw_config *cfg, struct store *st, ssh_bind *out)
{
    ssh_bind bind = ssh_bind_new();
    bool process_config = false;
    int rsa_min = GW_RSA_MIN_BITS;
    int rc;

    if (bind == NULL) {
        return GW_ERR_NOMEM;
    }
    rc = set_option(bind, SSH_BIND_OPTIONS_PROCESS_CONFIG, &process_config,
                    "process_config");
    if (rc == GW_OK) {
        rc = set_option(bind, SSH_BIND_OPTIONS_RSA_MIN_SIZE, &rsa_min,
                        "rsa_min_size");
    }
    if (rc == GW_OK) {
        rc = load_keys(bind, st, cfg->hostkey_algorithms);
    }
    if (rc == GW_OK) {
        rc = set_algorithms(bind, cfg);
    }
    if (rc == GW_OK) {
        rc = set_option(bind, SSH_BIND_OPTIONS_BANNER, cfg->server_version,
                        "server_version");
    }
    if (rc != GW_OK) {
        ssh_bind_free(bind);
        return rc;
    }
    *out = bind;
    return GW_OK;
}
