/*
 * The gateway as an SSH client of a backend host: TCP connect with a
 * deadline that covers name resolution too (core/net.h), host key
 * verification against the pin stored for the host (or trust on first
 * use), and authentication with the credential the gateway holds. Client
 * API of libssh only, so that sshgate-admin ("host check", "host trust")
 * uses exactly the code the daemon uses.
 *
 * Never reads ~/.ssh, /etc/ssh/ssh_config or an agent.
 */
#ifndef SSHGATE_BACKEND_CLIENT_H
#define SSHGATE_BACKEND_CLIENT_H

#include "backend/proxy.h"
#include "core/sshkey.h"
#include "core/strutil.h"

#include <libssh/libssh.h>
#include <stdbool.h>
#include <stdint.h>

/* Why a backend connection failed, for the one line the user sees. */
enum gw_backend_failure {
    GW_BACKEND_OK = 0,
    GW_BACKEND_DNS,              /* the address does not resolve */
    GW_BACKEND_REFUSED,          /* TCP connection refused */
    GW_BACKEND_TIMEOUT,          /* no answer within the connect timeout */
    GW_BACKEND_UNREACHABLE,      /* other network failure */
    GW_BACKEND_PROTOCOL,         /* SSH handshake failed */
    GW_BACKEND_HOSTKEY_MISMATCH, /* host key differs from the pin */
    GW_BACKEND_AUTH,             /* our credential was refused */
    GW_BACKEND_PROXY,            /* the outbound proxy failed or refused */
};

#define GW_BACKEND_FAILURE_COUNT (GW_BACKEND_PROXY + 1)

/* Short stable name ("dns", "refused", ...), for events and tests. */
const char *gw_backend_failure_name(enum gw_backend_failure failure);

struct gw_backend_chain; /* backend/chain.h */

/* How the TCP connection to a host is opened: directly (all empty), through
 * an outbound proxy (with its password, a secret), or through a chain of
 * jump hosts (backend/chain.h; the host's own proxy is then not used). */
struct gw_backend_route {
    bool use_proxy;
    struct gw_proxy proxy; /* proxy.password points at password */
    char *password;
    struct gw_backend_chain *chain; /* NULL: no jump hosts */
};

/* How to reach and log in to one backend. Strings are borrowed. */
struct gw_backend_spec {
    const char *host_name; /* for messages */
    const char *address;
    uint16_t port;
    const char *login;
    long timeout_s; /* connect + handshake + auth, each */
    /* How to open the TCP connection; NULL for directly. */
    const struct gw_backend_route *route;
    /* Pin: the whole key (type + base64), or only its fingerprint, or
     * neither (trust on first use). */
    const char *pin_type;
    const char *pin_b64;
    const char *pin_fingerprint;
    /* Credential: exactly one of identity (a private key object, for the
     * gateway key and stored keys) or password. */
    ssh_key identity;
    const char *password;
    /* Connect and verify the host key, but do not authenticate
     * ("host trust"). */
    bool skip_auth;
};

struct gw_backend_result {
    enum gw_backend_failure failure;
    char message[384]; /* one line, safe to show the user */
    /* The jump host that failed (its own outcome is in the chain, for
     * gw_backend_record_route); "" when the failure is the host's own. */
    char hop[GW_NAME_MAX + 1];
    struct gw_pubkey host_key; /* the key the backend presented, if any */
    bool first_use;            /* no pin existed: caller pins host_key */
};

/*
 * Connect, verify, authenticate. On GW_OK *out is a connected, authenticated
 * blocking session; free it with gw_backend_close. On failure returns a
 * negative GW_ERR_* and fills res (failure + message) either way.
 * res->host_key is filled whenever the handshake got that far; clear it
 * with gw_backend_result_clear.
 */
int gw_backend_connect(const struct gw_backend_spec *spec, ssh_session *out,
                       struct gw_backend_result *res);

/*
 * As gw_backend_connect over fd, a connected socket (or the stream of a
 * jump host's channel) that the session takes: gw_backend_close closes
 * it, and so does a failure.
 */
int gw_backend_connect_fd(const struct gw_backend_spec *spec, int fd,
                          ssh_session *out, struct gw_backend_result *res);

/*
 * The stream to address:port of backend host_name, the route's way
 * (NULL: directly, core/net.h), within timeout_s, name resolution
 * included. GW_OK with *fd_out a connected non-blocking socket (a
 * socketpair's end when through jump hosts); otherwise a negative
 * GW_ERR_* with res->failure and res->message (naming the proxy and its
 * answer when it was the proxy that failed, the jump host when it was
 * one). Also for the sockets of -J / -W.
 */
int gw_backend_dial(const struct gw_backend_route *route, const char *host_name,
                    const char *address, uint16_t port, long timeout_s,
                    int *fd_out, struct gw_backend_result *res);

/* Disconnect, free the session and close the socket we opened. */
void gw_backend_close(ssh_session session);

void gw_backend_result_clear(struct gw_backend_result *res);

#endif
