/*
 * Moving bytes between the two ends of a relayed channel: channel to
 * channel (a client channel and a backend channel) and channel to TCP
 * socket (direct-tcpip the gateway connects itself). Called by the
 * connection loop after each poll, never from a libssh callback.
 *
 * Flow control: a read takes at most what the destination can take now
 * (its SSH window, or what a socket accepts), so data we cannot pass on
 * stays in libssh's channel buffer, whose window libssh only reopens as
 * the buffer drains. A slow reader thus slows its own writer and nothing
 * else. Every call also has a byte budget, so that one bulk channel cannot
 * starve the others of the same connection.
 *
 * Why not ssh_connector: in libssh 0.10.6 a channel-to-channel connector
 * stalls after a few MB (it waits for a write-wontblock event that a
 * WINDOW_ADJUST never raises), forwards no EOF and has no error handling.
 *
 * The amount buffered in a libssh channel is tracked by the channel's data
 * callback (struct gw_end.avail), so that reads never find an empty
 * buffer: ssh_channel_read on an empty buffer would poll the session from
 * inside the relay.
 */
#ifndef SSHGATE_GATEWAY_CHAN_RELAY_H
#define SSHGATE_GATEWAY_CHAN_RELAY_H

#include <libssh/libssh.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The receive window we keep open on one channel (channel_window). libssh
 * 0.10.6 tops a window up to 1,280,000 bytes, and only once it fell below
 * half of that: at 50 ms round trip that caps a stream near 12 MB/s. Its
 * ssh_channel_read_timeout(count) however grows the window to count minus
 * what is buffered when count exceeds both together; the relay uses that
 * to top the window up to size whenever it drains the whole buffer and
 * has read size / 8 since the last top-up (WINDOW_ADJUST packets stay
 * rare). size bytes come out of the connection's channel_window_budget
 * (gw_win_reserve); 0: libssh's own window.
 */
struct gw_win {
    uint32_t size;
    uint32_t used;  /* bytes read since the last top-up */
    bool topped;    /* at least one top-up sent */
    bool no_budget; /* the budget had no room: libssh's own window */
};

/* One side of a pair, as its callbacks saw it. */
struct gw_end {
    uint32_t avail[2]; /* bytes buffered by libssh: [0] data, [1] stderr */
    struct gw_win win; /* the receive window of its data stream */
    bool eof_rcvd;
    bool close_rcvd;
    bool eof_sent;
    bool close_sent;
};

/* How the backend's command ended. */
struct gw_exit_info {
    bool have_status;
    int status;
    bool have_signal;
    char signal[32];
    bool core;
    char message[128];
    bool sent; /* forwarded to the client */
};

/* Bytes read from a channel that a socket did not take yet. */
struct gw_pend {
    char *data; /* allocated on first use */
    size_t off;
    size_t len;
    size_t cap;
};

/* The socket end of a gateway-opened direct-tcpip relay. */
struct gw_sock {
    int fd;
    bool rd_eof;  /* the destination sent FIN */
    bool wr_shut; /* we sent FIN */
    bool failed;
    short revents; /* from the connection's poll */
};

/*
 * Bytes already read that the destination did not take: a socket that
 * accepted only part, or a channel whose session is in a key re-exchange
 * (libssh 0.10's non-blocking ssh_channel_write then takes nothing and
 * returns 0). At most one read's worth per direction, allocated only while
 * needed; nothing more is read in that direction until it is written.
 */
struct gw_relay {
    struct gw_end front; /* the client's channel */
    struct gw_end back;  /* the backend channel (unused for sockets) */
    struct gw_exit_info exit;
    struct gw_sock sock;
    struct gw_pend pend_up;      /* towards the backend or socket */
    struct gw_pend pend_down[2]; /* towards the client: data, stderr */
    uint64_t up;                 /* client to backend */
    uint64_t down;               /* backend to client */
};

/* Scratch space for one read, shared by all pairs of a connection. tap,
 * when set (a per-call copy), sees every chunk gw_relay_chan reads, in
 * order, before it goes out: the SFTP audit's view of the stream. */
struct gw_scratch {
    char *buf;
    size_t len;
    void (*tap)(void *userdata, const char *data, size_t len);
    void *tap_userdata;
};

/*
 * Move up to budget bytes of one stream (is_stderr) from src, which holds
 * *avail buffered bytes, to dst (stderr goes out as stderr), after what
 * pend holds from an earlier round. Counts what was read into *moved.
 * win, when not NULL, is src's receive window to keep open (struct
 * gw_win). GW_OK when nothing more can move now, GW_AGAIN when the budget
 * ran out first, GW_ERR_IO when a channel failed.
 */
int gw_relay_chan(ssh_channel src, uint32_t *avail, struct gw_win *win,
                  ssh_channel dst, bool is_stderr, struct gw_pend *pend,
                  const struct gw_scratch *s, size_t budget, uint64_t *moved);

/* Read and drop what src buffered on one stream (a stream nobody can
 * take, such as stderr from a client). */
int gw_relay_discard(ssh_channel src, uint32_t *avail, bool is_stderr,
                     const struct gw_scratch *s);

/*
 * Socket to channel: read at most dst's window (and budget) from the
 * socket and write it, after what pend holds. Sets sk->rd_eof at end of
 * stream, sk->failed on a socket error. GW_OK, GW_AGAIN (budget used up),
 * GW_ERR_IO (channel).
 */
int gw_relay_sock_to_chan(struct gw_sock *sk, ssh_channel dst,
                          struct gw_pend *pend, const struct gw_scratch *s,
                          size_t budget, uint64_t *moved);

/*
 * Channel to socket: flush what pend holds, then read from src only while
 * the socket takes everything; a partial write keeps the rest in pend and
 * stops reading; win as for gw_relay_chan. GW_OK, GW_AGAIN (budget used
 * up), GW_ERR_IO (channel or socket; sk->failed for the socket).
 */
int gw_relay_chan_to_sock(ssh_channel src, uint32_t *avail, struct gw_win *win,
                          struct gw_sock *sk, struct gw_pend *pend,
                          const struct gw_scratch *s, size_t budget,
                          uint64_t *moved);

/* Take size bytes for w out of *left (a connection's budget), once: true
 * when w holds them (then use w), false for libssh's own window. */
bool gw_win_reserve(struct gw_win *w, int64_t *left, int64_t size);

/* Give w's bytes back to *left (the channel is gone). */
void gw_win_release(struct gw_win *w, int64_t *left);

/* Keep len bytes for later (the buffer holds at most cap bytes; the
 * caller never offers more). GW_OK or GW_ERR_NOMEM. */
int gw_pend_keep(struct gw_pend *p, const char *data, size_t len, size_t cap);

/* Write what is kept to fd. GW_OK when all went out (the buffer is
 * released), GW_AGAIN when some is left (wait for POLLOUT), GW_ERR_IO on a
 * socket error. */
int gw_pend_flush(struct gw_pend *p, int fd);

/* The same towards a channel, within its window. GW_OK when all went out,
 * GW_AGAIN when some is left, GW_ERR_IO. */
int gw_pend_flush_chan(struct gw_pend *p, ssh_channel dst, bool is_stderr);

bool gw_pend_empty(const struct gw_pend *p);
void gw_pend_free(struct gw_pend *p);

#endif
