/*
 * The callbacks of a relayed pair's two channels (chan/pair_cb.c): they
 * record what libssh reports, chan/pair.c acts on it.
 */
#ifndef SSHGATE_GATEWAY_CHAN_PAIR_CB_H
#define SSHGATE_GATEWAY_CHAN_PAIR_CB_H

#include "gateway/chan/chan.h"

/* Attach the relay's data / EOF / close callbacks to the client's channel
 * (session channels add their request callbacks to the same struct). */
void gw_pair_front_callbacks(struct gw_chan *ch);

/* Attach the backend channel's callbacks (data, EOF, close, exit status,
 * exit signal). */
void gw_pair_back_callbacks(struct gw_chan *ch);

#endif
