/*
 * The glue between a host row in the store and a backend connection: load
 * the credential the gateway holds for the host, and write down what a
 * connection attempt taught us (the pin on first use, a mismatch, a
 * failure) as store changes and audit events. Shared by sshgated and
 * sshgate-admin ("host check", "host trust").
 */
#ifndef SSHGATE_BACKEND_HOSTRECORD_H
#define SSHGATE_BACKEND_HOSTRECORD_H

#include "backend/client.h"
#include "store/hosts.h"

struct store;

/* The daemon's settings for reaching backends (docs/configuration.md);
 * sshgate-admin has none (a NULL pointer): only the hosts' own proxies. */
struct gw_backend_net {
    const char *proxy;  /* backend_proxy; NULL or "" for none */
    const char *bypass; /* backend_proxy_bypass */
    long max_jump_depth;
};

/*
 * Choose the route to host h: through its jump hosts when it has one
 * (host add --via: each hop's row, credential and pin loaded, hops[0]
 * with its own proxy route; at most net's max_jump_depth of them, else
 * GW_ERR_DENIED), else its own via_proxy ("direct": none), else net's
 * backend_proxy unless h's address is in backend_proxy_bypass, else
 * none. Loads the proxy's stored password. GW_OK, or the store's status;
 * an unparsable stored URL is GW_ERR_INVALID, a jump host without a
 * default login GW_ERR_DENIED. timeout_s: each hop's, as for a host.
 */
int gw_backend_route_load(struct store *st, const struct store_host *h,
                          const struct gw_backend_net *net, long timeout_s,
                          struct gw_backend_route *out);

void gw_backend_route_clear(struct gw_backend_route *route);

/* What gw_backend_prepare loaded; secrets, wiped by the clear call. */
struct gw_backend_creds {
    ssh_key identity;
    char *password;
    struct gw_backend_route route;
};

/*
 * Fill spec to reach host h as login within timeout_s, with the credential
 * of the host's auth method (the gateway's backend key, a stored key or a
 * stored password) and its route (gw_backend_route_load) loaded into
 * creds. spec borrows from h and creds: keep
 * both alive while spec is used. GW_OK, GW_ERR_NOTFOUND (no backend key:
 * run init; no stored secret), GW_ERR_INVALID (unreadable stored key).
 */
int gw_backend_prepare(struct store *st, const struct store_host *h,
                       const struct gw_backend_net *net, const char *login,
                       long timeout_s, struct gw_backend_creds *creds,
                       struct gw_backend_spec *spec);

void gw_backend_creds_clear(struct gw_backend_creds *creds);

/*
 * Record the outcome of gw_backend_connect for host h:
 *  - success on first use: pin the presented key ("host.pin" event);
 *  - success against a fingerprint-only pin: store the whole key;
 *  - host key mismatch: a "host.mismatch" event;
 *  - any other failure: a "backend.failure" event.
 * user and client describe who caused the attempt (may be NULL).
 * Returns the store status; the connection outcome is not changed by it.
 */
int gw_backend_record(struct store *st, const struct store_host *h,
                      const struct gw_backend_result *res, const char *user,
                      const char *client);

/* The same for every jump host of the route that was tried (its pin on
 * first use, its mismatch or failure). */
int gw_backend_record_route(struct store *st,
                            const struct gw_backend_route *route,
                            const char *user, const char *client);

#endif
