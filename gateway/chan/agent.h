/*
 * Agent forwarding (ssh -A) in a terminated session (chan/agent.c).
 */
#ifndef SSHGATE_GATEWAY_CHAN_AGENT_H
#define SSHGATE_GATEWAY_CHAN_AGENT_H

#include "gateway/chan/chan.h"

#include <libssh/libssh.h>

extern const struct gw_chan_ops gw_agent_chan_ops;

/* auth-agent-req on a relayed session channel (a channel callback). */
void gw_agent_on_request(ssh_session session, ssh_channel channel,
                         void *userdata);

/* The backend's auth-agent@openssh.com channel opens (a session
 * callback of the backend session). */
ssh_channel gw_agent_on_open(ssh_session session, void *userdata);

#endif
