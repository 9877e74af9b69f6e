/*
 * Agent forwarding (ssh -A) in a terminated session, under the grant's
 * "agent" kind. libssh answers the client's auth-agent-req@openssh.com
 * with success whenever the channel has channel_auth_agent_req_function,
 * so chan_session.c sets it only where the grant allows; here the request
 * is passed on to the backend channel. When something on the backend then
 * uses the agent, the backend opens an auth-agent@openssh.com channel to
 * us; we accept it and open one to the client (finished by the pump, never
 * blocking in this callback), and the pair is relayed like any other.
 */
#include "core/log.h"
#include "gateway/conn/conn.h"
#include "gateway/chan/agent.h"
#include "gateway/chan/pair.h"
#include "gateway/chan/pair_cb.h"
#include "gateway/conn/upstream.h"

void gw_agent_on_request(ssh_session session, ssh_channel channel,
                         void *userdata)
{
    struct gw_chan *ch = userdata;

    (void)session;
    (void)channel;
    if (ch->bch == NULL || ch->up == NULL) {
        return;
    }
    if (ssh_channel_request_auth_agent(ch->bch) != SSH_OK) {
        gw_log_info("channel %u: could not ask %s for agent forwarding", ch->id,
                    ch->up->host.name);
        return;
    }
    gw_log_verbose("channel %u: agent forwarding to %s", ch->id,
                   ch->up->host.name);
    ch->up->agent = true;
}

ssh_channel gw_agent_on_open(ssh_session session, void *userdata)
{
    struct gw_upstream *up = userdata;
    struct gw_conn *c = up->conn;
    struct gw_chan *ch = NULL;

    if (!up->agent || (up->allow & STORE_ALLOW_AGENT) == 0 || c->closing) {
        gw_log_info("refused an agent channel from %s", up->host.name);
        return NULL;
    }
    ch = gw_chan_alloc(c, GW_KIND_AGENT);
    if (ch == NULL) {
        return NULL;
    }
    ch->bch = ssh_channel_new(session);
    ch->channel = ssh_channel_new(c->session);
    if (ch->bch == NULL || ch->channel == NULL) {
        ssh_channel_free(ch->bch);
        ssh_channel_free(ch->channel);
        gw_chan_unalloc(ch);
        return NULL;
    }
    ch->up = up;
    up->refs++;
    gw_pair_back_callbacks(ch);
    gw_pair_front_callbacks(ch);
    ssh_set_channel_callbacks(ch->channel, &ch->cb);
    ch->state = GW_CHAN_OPENING;
    return ch->bch; /* libssh confirms it to the backend */
}

const struct gw_chan_ops gw_agent_chan_ops = {
    .name = "agent",
    .pump = gw_pair_pump_backend,
    .backend_lost = gw_pair_backend_lost,
    .release = NULL,
};
