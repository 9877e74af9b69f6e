/*
 * A relayed pair: the client's channel joined to a backend channel
 * (sessions, -L through the backend, -R, -A) or to a TCP socket the
 * gateway opened itself (-J, -W). The kinds' ops (struct gw_chan_ops)
 * call these to run their pairs; the callbacks only record what libssh
 * reports, the pump functions act on it.
 */
#ifndef SSHGATE_GATEWAY_CHAN_PAIR_H
#define SSHGATE_GATEWAY_CHAN_PAIR_H

#include "gateway/chan/chan.h"
#include "gateway/daemon/ending.h"

#include <stdbool.h>

/* Start relaying: the pair joins the pump. detail (key=value pairs) goes
 * into the session.start event of its row. */
void gw_pair_start(struct gw_chan *ch, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* One pump round of a pair joined to a backend channel, or to a socket.
 * True when it has more to move right away. */
bool gw_pair_pump_channels(struct gw_chan *ch);
bool gw_pair_pump_socket(struct gw_chan *ch);

/* A backend-initiated pair (-R, -A) in GW_CHAN_OPENING: finish our open
 * towards the client, or give up when the backend did. */
void gw_pair_pump_opening(struct gw_chan *ch);

/* The poll events a socket relay waits for now (0: none). */
short gw_pair_sock_events(const struct gw_chan *ch);

/* A pair failed under us (or an admin killed it): end both sides without
 * more data, with ending as the reason. */
void gw_pair_break(struct gw_chan *ch, enum gw_ending ending);

/* Whether the client's channel still takes data (no EOF, no close). */
bool gw_pair_client_open(const struct gw_chan *ch);

/* The pair is done: log it and complete its audit row. */
void gw_pair_announce_close(struct gw_chan *ch);

/* For the kinds that are nothing but a pair joined to a backend channel
 * (-L through a backend, -R, -A): their ops' pump (opening, then
 * relaying) and backend_lost (an open to the client still under way gives
 * up). */
bool gw_pair_pump_backend(struct gw_chan *ch);
void gw_pair_backend_lost(struct gw_chan *ch);

#endif
