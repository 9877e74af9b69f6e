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

/* What gw_backend_prepare loaded; secrets, wiped by the clear call. */
struct gw_backend_creds {
    ssh_key identity;
    char *password;
};

/*
 * Fill spec to reach host h as login within timeout_s, with the credential
 * of the host's auth method (the gateway's backend key, a stored key or a
 * stored password) loaded into creds. spec borrows from h and creds: keep
 * both alive while spec is used. GW_OK, GW_ERR_NOTFOUND (no backend key:
 * run init; no stored secret), GW_ERR_INVALID (unreadable stored key).
 */
int gw_backend_prepare(struct store *st, const struct store_host *h,
                       const char *login, long timeout_s,
                       struct gw_backend_creds *creds,
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

#endif
