/* Backend hosts the gateway forwards to, with their pinned host keys. */
#ifndef SSHGATE_STORE_HOSTS_H
#define SSHGATE_STORE_HOSTS_H

#include "core/proxy_url.h"
#include "core/sshkey_types.h"
#include "core/strutil.h"
#include "core/timeutil.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;

#define STORE_ADDRESS_MAX 253

/* How the gateway authenticates to the backend. */
#define STORE_AUTH_GATEWAY_KEY "gateway-key" /* the gateway's identity key */
#define STORE_AUTH_STORED_KEY  "stored-key"  /* a per-host private key */
#define STORE_AUTH_PASSWORD    "password"    /* a per-host password */

struct store_host {
    int64_t id;
    char name[GW_NAME_MAX + 1];
    char address[STORE_ADDRESS_MAX + 1];
    uint16_t port;
    char login[GW_NAME_MAX + 1]; /* default backend login, "" if none */
    /* Host key pin: fingerprint alone (from --fingerprint) or the whole key
     * once seen. All empty/NULL when not pinned yet (trust on first use). */
    char hostkey_type[GW_KEYTYPE_MAX];
    char *hostkey_b64;
    char hostkey_fingerprint[GW_FINGERPRINT_MAX];
    char auth_method[16];
    bool has_secret;
    char proxy[GW_NAME_MAX + 1]; /* name of a jump host, "" if none */
    char created_at[GW_TIME_LEN];
    char updated_at[GW_TIME_LEN];
    /* Outbound proxy: a URL (core/proxy_url.h, canonical form),
     * STORE_PROXY_DIRECT (never the global backend_proxy), or "" (the
     * global backend_proxy, if any). Its password is apart. */
    char via_proxy[GW_PROXY_URL_MAX];
    bool has_proxy_secret;
};

/* A host's via_proxy that means: connect directly, whatever
 * backend_proxy says. */
#define STORE_PROXY_DIRECT "direct"

/* The longest chain of jump hosts the store accepts (the daemon's
 * max_jump_depth may be lower). */
#define STORE_JUMP_MAX 8

/* What "host add" needs; strings may be NULL or "" where optional. */
struct store_host_spec {
    const char *name;
    const char *address;
    uint16_t port; /* 0 means 22 */
    const char *login;
    const char *fingerprint;      /* "SHA256:..." pin, optional */
    const char *auth_method;      /* NULL means STORE_AUTH_GATEWAY_KEY */
    const char *auth_secret;      /* private key text or password, optional */
    const char *proxy;            /* jump host name, optional */
    const char *via_proxy;        /* proxy URL or "direct", optional */
    const char *via_proxy_secret; /* its password, optional */
};

/* Check a via_proxy value: a proxy URL (written back canonical into out)
 * or STORE_PROXY_DIRECT. */
int store_via_proxy_check(const char *text, char out[GW_PROXY_URL_MAX]);

/* Check an address: 1..253 bytes of host name or IP literal characters. */
int store_host_address_check(const char *address);

/* Check a "SHA256:<43 base64 chars>" fingerprint. */
int store_fingerprint_check(const char *fingerprint);

/*
 * Add a host. GW_OK, GW_ERR_INVALID (bad name, address, login, fingerprint),
 * GW_ERR_EXISTS, GW_ERR_NOTFOUND (unknown proxy), GW_ERR_DB.
 */
int store_host_add(struct store *st, const struct store_host_spec *spec,
                   char sep, int64_t *id);

int store_host_get(struct store *st, const char *name, struct store_host *out);
void store_host_clear(struct store_host *host);

/* All hosts ordered by name. */
int store_host_list(struct store *st, struct store_host **hosts, size_t *n);
void store_host_list_free(struct store_host *hosts, size_t n);

/* Delete a host and its grants. GW_ERR_NOTFOUND, or GW_ERR_DENIED while
 * another host uses it as its proxy. */
int store_host_delete(struct store *st, const char *name);

/* Pin the full host key (TOFU or "host trust"). */
int store_host_pin(struct store *st, const char *name,
                   const struct gw_pubkey *key);

/*
 * Change how host name is reached: via (a jump host's name, or NULL/""
 * for none) when set_via; via_proxy (a URL, STORE_PROXY_DIRECT, or
 * NULL/"" for the global default) with its password (NULL: none) when
 * set_proxy. A jump host that would close a loop (web1 via web2 via web1)
 * or make the chain longer than STORE_JUMP_MAX is refused with
 * GW_ERR_INVALID; an unknown host, GW_ERR_NOTFOUND.
 */
struct store_host_route {
    bool set_via;
    const char *via;
    bool set_proxy;
    const char *via_proxy;
    const char *via_proxy_secret;
};
int store_host_set_route(struct store *st, const char *name,
                         const struct store_host_route *route);

/* The password of the host's proxy; malloc'd, wipe with
 * gw_free_secret_str. GW_ERR_NOTFOUND when there is none. */
int store_host_proxy_secret(struct store *st, const char *name, char **secret);

/* The stored backend secret (private key text or password); malloc'd,
 * wipe with gw_free_secret_str. GW_ERR_NOTFOUND when there is none. */
int store_host_secret(struct store *st, const char *name, char **secret);

#endif
