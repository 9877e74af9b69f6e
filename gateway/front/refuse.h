/*
 * Refusing a connection politely without spending a thread or any crypto.
 *
 * RFC 4253 lets either side send binary packets right after its
 * identification line; until the first key exchange completes they are
 * unencrypted and unauthenticated ("none" cipher and MAC). So the listener
 * can answer a connection it will not serve with its version line followed
 * by a plain SSH_MSG_DISCONNECT carrying a reason code and a human-readable
 * description, which OpenSSH prints as
 *   "Received disconnect from ADDR port N:12: too many connections".
 */
#ifndef SSHGATE_GATEWAY_FRONT_REFUSE_H
#define SSHGATE_GATEWAY_FRONT_REFUSE_H

#include <stddef.h>
#include <stdint.h>

/* RFC 4253 11.1 reason codes used here. */
#define GW_DISCONNECT_HOST_NOT_ALLOWED     1
#define GW_DISCONNECT_PROTOCOL_ERROR       2
#define GW_DISCONNECT_BY_APPLICATION       11
#define GW_DISCONNECT_TOO_MANY_CONNECTIONS 12

/* Room for the version line and a disconnect with a short reason. */
#define GW_REFUSAL_MAX 512

/*
 * Write "SSH-2.0-<version>\r\n" followed by an unencrypted
 * SSH_MSG_DISCONNECT(reason, text) into out. GW_OK with *len set, or
 * GW_ERR_INVALID when it does not fit.
 */
int gw_refusal_build(const char *version, uint32_t reason, const char *text,
                     uint8_t out[GW_REFUSAL_MAX], size_t *len);

#endif
