#include "gateway/session.h"

#include "core/err.h"
#include "core/log.h"
#include "gateway/conn.h"
#include "store/grants.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OUTPUT_MAX  (4u * 1024 * 1024) /* per channel and stream */
#define WRITE_CHUNK 32768u
#define NO_FORWARDING \
    "sshgate: forwarding to hosts is not available in this version"

static const char *eol_of(const struct gw_chan *ch)
{
    return ch->pty ? "\r\n" : "\n";
}

/* ---- callbacks: record, never act ------------------------------------- */

static int on_pty(ssh_session s, ssh_channel channel, const char *term,
                  int width, int height, int pxwidth, int pxheight,
                  void *userdata)
{
    struct gw_chan *ch = userdata;

    (void)s;
    (void)channel;
    (void)term;
    (void)width;
    (void)height;
    (void)pxwidth;
    (void)pxheight;
    if (ch->state != GW_CHAN_OPEN || ch->pty) {
        return 1;
    }
    ch->pty = true;
    return 0;
}

static int on_window_change(ssh_session s, ssh_channel channel, int width,
                            int height, int pxwidth, int pxheight,
                            void *userdata)
{
    (void)s;
    (void)channel;
    (void)width;
    (void)height;
    (void)pxwidth;
    (void)pxheight;
    (void)userdata;
    return 0;
}

static int on_shell(ssh_session s, ssh_channel channel, void *userdata)
{
    struct gw_chan *ch = userdata;

    (void)s;
    (void)channel;
    if (ch->state != GW_CHAN_OPEN) {
        return 1;
    }
    ch->state = GW_CHAN_SHELL;
    gw_conn_activity(ch->conn);
    return 0;
}

static int on_exec(ssh_session s, ssh_channel channel, const char *command,
                   void *userdata)
{
    struct gw_chan *ch = userdata;

    (void)s;
    (void)channel;
    if (ch->state != GW_CHAN_OPEN || strlen(command) > GW_COMMAND_MAX) {
        return 1;
    }
    ch->command = strdup(command);
    if (ch->command == NULL) {
        return 1;
    }
    ch->state = GW_CHAN_EXEC;
    gw_conn_activity(ch->conn);
    return 0;
}

/* sftp and other subsystems need a backend: refused, with a line on
 * stderr saying why (sent before the refusal, so the client shows it). */
static int on_subsystem(ssh_session s, ssh_channel channel,
                        const char *subsystem, void *userdata)
{
    struct gw_chan *ch = userdata;
    char line[160];
    int n;

    (void)s;
    gw_log_info("refused subsystem '%.40s': no target host", subsystem);
    n = snprintf(line, sizeof(line),
                 "sshgate: the %.40s subsystem needs a target host "
                 "(user%chost@gateway)\n",
                 subsystem, ch->conn->cfg->target_separator);
    if (n > 0 && (size_t)n < sizeof(line) &&
        ssh_channel_window_size(channel) >= (uint32_t)n) {
        (void)ssh_channel_write_stderr(channel, line, (uint32_t)n);
    }
    return 1;
}

static void on_eof(ssh_session s, ssh_channel channel, void *userdata)
{
    struct gw_chan *ch = userdata;

    (void)s;
    (void)channel;
    ch->peer_eof = true;
}

static void on_close(ssh_session s, ssh_channel channel, void *userdata)
{
    struct gw_chan *ch = userdata;

    (void)s;
    (void)channel;
    ch->peer_closed = true;
}

static void attach_callbacks(struct gw_chan *ch)
{
    struct ssh_channel_callbacks_struct *cb = &ch->cb;

    memset(cb, 0, sizeof(*cb));
    ssh_callbacks_init(cb);
    cb->userdata = ch;
    cb->channel_pty_request_function = on_pty;
    cb->channel_pty_window_change_function = on_window_change;
    cb->channel_shell_request_function = on_shell;
    cb->channel_exec_request_function = on_exec;
    cb->channel_subsystem_request_function = on_subsystem;
    cb->channel_eof_function = on_eof;
    cb->channel_close_function = on_close;
    /* x11 and auth-agent stay unset: libssh would say yes to them. */
    ssh_set_channel_callbacks(ch->channel, cb);
}

ssh_channel gw_session_open(ssh_session session, void *userdata)
{
    struct gw_conn *c = userdata;
    struct gw_chan *ch = NULL;

    for (int i = 0; i < GW_CONN_MAX_CHANNELS && ch == NULL; i++) {
        if (c->chans[i].state == GW_CHAN_FREE) {
            ch = &c->chans[i];
        }
    }
    if (ch == NULL || c->closing) {
        gw_log_verbose("refused a session channel: %s",
                       ch == NULL ? "too many channels" : "closing");
        return NULL;
    }
    memset(ch, 0, sizeof(*ch));
    ch->channel = ssh_channel_new(session);
    if (ch->channel == NULL) {
        return NULL;
    }
    ch->conn = c;
    gw_buf_init(&ch->out, OUTPUT_MAX);
    gw_buf_init(&ch->err, OUTPUT_MAX);
    ch->state = GW_CHAN_OPEN;
    attach_callbacks(ch);
    gw_conn_activity(c);
    return ch->channel;
}

/* ---- the work --------------------------------------------------------- */

static int load_hosts(void *ud, struct gw_host_list *out)
{
    struct gw_conn *c = ud;
    struct store_grant *grants = NULL;
    size_t n = 0;
    int rc;

    if (c->st == NULL) {
        return GW_ERR_DB;
    }
    rc = store_grant_list(c->st, c->user, true, &grants, &n);
    if (rc != GW_OK) {
        gw_log_error("cannot list grants: %s", gw_err_msg());
        return rc;
    }
    rc = gw_hosts_from_grants(grants, n, out);
    free(grants);
    return rc;
}

static void make_ctx(struct gw_chan *ch, struct gw_builtin_ctx *ctx)
{
    struct gw_conn *c = ch->conn;

    ctx->user = c->user;
    ctx->separator = c->cfg->target_separator;
    ctx->eol = eol_of(ch);
    ctx->out = &ch->out;
    ctx->err = &ch->err;
    ctx->load_hosts = load_hosts;
    ctx->ud = c;
}

static void finish(struct gw_chan *ch, int status)
{
    ch->exit_status = status;
    ch->state = GW_CHAN_FINISHING;
}

/* A target was named ("alice+web1"), but there is no relay yet. */
static void no_forwarding(struct gw_chan *ch)
{
    gw_log_info("refused forwarding to %s: not available in this version",
                ch->conn->target.host);
    (void)gw_buf_appendf(&ch->err, "%s%s", NO_FORWARDING, eol_of(ch));
    finish(ch, 1);
}

static void run_exec(struct gw_chan *ch)
{
    struct gw_builtin_ctx ctx;
    int status = 1;

    if (gw_target_has_host(&ch->conn->target)) {
        no_forwarding(ch);
        return;
    }
    make_ctx(ch, &ctx);
    if (gw_builtin_run(&ctx, ch->command, &status) != GW_OK) {
        gw_buf_reset(&ch->out);
        (void)gw_buf_appendf(&ch->err, "sshgate: %s%s", gw_err_msg(), ctx.eol);
        status = 1;
    }
    gw_log_info("command '%.80s' exited with %d", ch->command, status);
    finish(ch, status);
}

static void run_shell(struct gw_chan *ch)
{
    struct gw_builtin_ctx ctx;
    int status = 1;

    if (gw_target_has_host(&ch->conn->target)) {
        no_forwarding(ch);
        return;
    }
    make_ctx(ch, &ctx);
    if (!ch->pty) {
        /* No terminal to draw a menu on: print the list instead. */
        (void)gw_builtin_run(&ctx, "hosts", &status);
        finish(ch, status);
        return;
    }
    ch->menu_started = true;
    (void)gw_menu_start(&ch->menu, &ctx);
    if (ch->menu.done) {
        finish(ch, 0);
        return;
    }
    ch->state = GW_CHAN_MENU;
}

static void run_menu(struct gw_chan *ch)
{
    struct gw_builtin_ctx ctx;
    char buf[512];
    int n;

    make_ctx(ch, &ctx);
    /* Read input only while earlier output drains: a client that stops
     * reading cannot make us buffer without bound. */
    while (ch->out.len < WRITE_CHUNK) {
        n = ssh_channel_read_nonblocking(ch->channel, buf, sizeof(buf), 0);
        if (n == SSH_ERROR) {
            finish(ch, 1);
            return;
        }
        if (n <= 0) {
            break;
        }
        gw_conn_activity(ch->conn);
        if (gw_menu_input(&ch->menu, &ctx, buf, (size_t)n) != GW_OK ||
            ch->menu.done) {
            finish(ch, 0);
            return;
        }
    }
    if (ch->peer_eof) {
        finish(ch, 0);
    }
}

/* Write a buffer within the client's window. GW_OK when it is empty. */
static int flush(struct gw_chan *ch, struct gw_buf *b, bool is_stderr)
{
    while (b->len > 0) {
        uint32_t win = ssh_channel_window_size(ch->channel);
        size_t n = b->len < win ? b->len : win;
        int w;
        if (n > WRITE_CHUNK) {
            n = WRITE_CHUNK;
        }
        if (n == 0) {
            return GW_AGAIN;
        }
        w = is_stderr
                ? ssh_channel_write_stderr(ch->channel, b->data, (uint32_t)n)
                : ssh_channel_write(ch->channel, b->data, (uint32_t)n);
        if (w == SSH_ERROR) {
            return GW_ERR_IO;
        }
        if (w == 0) {
            return GW_AGAIN;
        }
        gw_buf_consume(b, (size_t)w);
        gw_conn_activity(ch->conn);
    }
    return GW_OK;
}

/* Detach and free a channel; the slot becomes free. Callbacks go first:
 * in libssh 0.10 a freed channel still waiting for the peer's close keeps
 * them. */
static void release(struct gw_chan *ch)
{
    if (ch->channel != NULL) {
        ssh_remove_channel_callbacks(ch->channel, &ch->cb);
        ssh_channel_free(ch->channel);
        ch->channel = NULL;
    }
    if (ch->menu_started) {
        gw_menu_free(&ch->menu);
    }
    free(ch->command);
    gw_buf_free(&ch->out);
    gw_buf_free(&ch->err);
    memset(ch, 0, sizeof(*ch));
}

/* Exit status, EOF, close; then free the slot. */
static void close_channel(struct gw_chan *ch)
{
    if (!ch->peer_closed) {
        (void)ssh_channel_request_send_exit_status(ch->channel,
                                                   ch->exit_status);
        (void)ssh_channel_send_eof(ch->channel);
        (void)ssh_channel_close(ch->channel);
    }
    release(ch);
}

static void pump_chan(struct gw_chan *ch)
{
    int out_rc;
    int err_rc;

    if (ch->peer_closed) {
        release(ch);
        return;
    }
    if (ch->state == GW_CHAN_EXEC) {
        run_exec(ch);
    } else if (ch->state == GW_CHAN_SHELL) {
        run_shell(ch);
    } else if (ch->state == GW_CHAN_MENU) {
        run_menu(ch);
    }
    out_rc = flush(ch, &ch->out, false);
    err_rc = flush(ch, &ch->err, true);
    if (out_rc == GW_ERR_IO || err_rc == GW_ERR_IO) {
        release(ch);
    } else if (ch->state == GW_CHAN_FINISHING && out_rc == GW_OK &&
               err_rc == GW_OK) {
        close_channel(ch);
    }
}

void gw_session_pump(struct gw_conn *c)
{
    for (int i = 0; i < GW_CONN_MAX_CHANNELS; i++) {
        if (c->chans[i].state != GW_CHAN_FREE) {
            pump_chan(&c->chans[i]);
        }
    }
}

int gw_session_count(const struct gw_conn *c)
{
    int n = 0;

    for (int i = 0; i < GW_CONN_MAX_CHANNELS; i++) {
        n += c->chans[i].state != GW_CHAN_FREE ? 1 : 0;
    }
    return n;
}

void gw_session_detach_all(struct gw_conn *c)
{
    for (int i = 0; i < GW_CONN_MAX_CHANNELS; i++) {
        struct gw_chan *ch = &c->chans[i];
        if (ch->state == GW_CHAN_FREE) {
            continue;
        }
        if (ch->channel != NULL) {
            /* ssh_disconnect frees the channel itself; closing it here
             * first would make the client quit before it reads the
             * disconnect reason. */
            ssh_remove_channel_callbacks(ch->channel, &ch->cb);
            ch->channel = NULL;
        }
        release(ch);
    }
}
