/*
 * The libssh callbacks of a relayed pair (chan/pair.c runs the pair): they
 * only record what libssh reports -- data buffered, EOF, close, the
 * backend's exit status or signal -- for the pump to act on.
 */
#include "gateway/chan/pair_cb.h"

#include <stdio.h>
#include <string.h>

/* ---- callbacks: record, never act ------------------------------------- */

static int on_front_data(ssh_session s, ssh_channel channel, void *data,
                         uint32_t len, int is_stderr, void *userdata)
{
    struct gw_chan *ch = userdata;

    (void)s;
    (void)channel;
    (void)data;
    /* len is everything libssh holds for this stream: leave it there. */
    ch->relay.front.avail[is_stderr ? 1 : 0] = len;
    return 0;
}

static void on_front_eof(ssh_session s, ssh_channel channel, void *userdata)
{
    struct gw_chan *ch = userdata;

    (void)s;
    (void)channel;
    ch->relay.front.eof_rcvd = true;
}

static void on_front_close(ssh_session s, ssh_channel channel, void *userdata)
{
    struct gw_chan *ch = userdata;

    (void)s;
    (void)channel;
    ch->relay.front.close_rcvd = true;
    if (ch->closer == '\0') {
        ch->closer = 'c';
    }
}

void gw_pair_front_callbacks(struct gw_chan *ch)
{
    struct ssh_channel_callbacks_struct *cb = &ch->cb;

    memset(cb, 0, sizeof(*cb));
    ssh_callbacks_init(cb);
    cb->userdata = ch;
    cb->channel_data_function = on_front_data;
    cb->channel_eof_function = on_front_eof;
    cb->channel_close_function = on_front_close;
}

static int on_back_data(ssh_session s, ssh_channel channel, void *data,
                        uint32_t len, int is_stderr, void *userdata)
{
    struct gw_chan *ch = userdata;

    (void)s;
    (void)channel;
    (void)data;
    ch->relay.back.avail[is_stderr ? 1 : 0] = len;
    return 0;
}

static void on_back_eof(ssh_session s, ssh_channel channel, void *userdata)
{
    struct gw_chan *ch = userdata;

    (void)s;
    (void)channel;
    ch->relay.back.eof_rcvd = true;
}

static void on_back_close(ssh_session s, ssh_channel channel, void *userdata)
{
    struct gw_chan *ch = userdata;

    (void)s;
    (void)channel;
    ch->relay.back.close_rcvd = true;
    if (ch->closer == '\0') {
        ch->closer = 'b';
    }
}

static void on_back_exit_status(ssh_session s, ssh_channel channel, int status,
                                void *userdata)
{
    struct gw_chan *ch = userdata;

    (void)s;
    (void)channel;
    ch->relay.exit.have_status = true;
    ch->relay.exit.status = status;
}

static void on_back_exit_signal(ssh_session s, ssh_channel channel,
                                const char *signal, int core,
                                const char *errmsg, const char *lang,
                                void *userdata)
{
    struct gw_exit_info *e = &((struct gw_chan *)userdata)->relay.exit;

    (void)s;
    (void)channel;
    (void)lang;
    e->have_signal = true;
    snprintf(e->signal, sizeof(e->signal), "%s", signal ? signal : "KILL");
    e->core = core != 0;
    snprintf(e->message, sizeof(e->message), "%s", errmsg ? errmsg : "");
}

void gw_pair_back_callbacks(struct gw_chan *ch)
{
    struct ssh_channel_callbacks_struct *cb = &ch->bcb;

    memset(cb, 0, sizeof(*cb));
    ssh_callbacks_init(cb);
    cb->userdata = ch;
    cb->channel_data_function = on_back_data;
    cb->channel_eof_function = on_back_eof;
    cb->channel_close_function = on_back_close;
    cb->channel_exit_status_function = on_back_exit_status;
    cb->channel_exit_signal_function = on_back_exit_signal;
    ssh_set_channel_callbacks(ch->bch, cb);
}
