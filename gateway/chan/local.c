#include "gateway/chan/local.h"

#include "core/err.h"
#include "core/strutil.h"
#include "core/log.h"
#include "gateway/conn/conn.h"
#include "gateway/audit/writer.h"
#include "gateway/chan/session.h"
#include "gateway/conn/target_state.h"
#include "gateway/conn/policy.h"
#include "gateway/conn/upstream.h"
#include "store/grants.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OUTPUT_MAX  (4u * 1024 * 1024) /* per channel and stream */
#define WRITE_CHUNK 32768u
#define EXIT_FAILED 255 /* what OpenSSH's ssh exits with on its own errors */

static const char *eol_of(const struct gw_chan *ch)
{
    return ch->pty ? "\r\n" : "\n";
}

static void prepare_output(struct gw_chan *ch)
{
    if (ch->out.max == 0) {
        gw_buf_init(&ch->out, OUTPUT_MAX);
        gw_buf_init(&ch->err, OUTPUT_MAX);
    }
}

static void finish_with_status(struct gw_chan *ch, int status)
{
    ch->exit_status = status;
    ch->state = GW_CHAN_FINISHING;
}

void gw_local_fail(struct gw_chan *ch, const char *msg)
{
    prepare_output(ch);
    if (msg != NULL) {
        (void)gw_buf_appendf(&ch->err, "%s%s", msg, eol_of(ch));
    } else if (ch->up != NULL) {
        (void)gw_buf_appendf(&ch->err, "sshgate: connection to %s lost%s",
                             ch->up->host.name, eol_of(ch));
    }
    finish_with_status(ch, EXIT_FAILED);
}

/* A target was named but cannot be served, or the audit store holds new
 * channels off (audit_failure = refuse): say why. */
static bool show_target_failure(struct gw_chan *ch)
{
    const char *line =
        ch->audit_refused ? GW_AUDIT_REFUSAL : gw_target_failure(ch->conn);

    if (line == NULL) {
        return false;
    }
    gw_local_fail(ch, line);
    return true;
}

/* ---- requests (from chan/session.c's callbacks) ----------------------- */

int gw_local_shell(struct gw_chan *ch)
{
    if (ch->state != GW_CHAN_OPEN) {
        return 1;
    }
    prepare_output(ch);
    if (!show_target_failure(ch)) {
        ch->state = GW_CHAN_SHELL;
    }
    gw_conn_activity(ch->conn);
    return 0;
}

int gw_local_exec(struct gw_chan *ch, const char *command)
{
    if (ch->state != GW_CHAN_OPEN || strlen(command) > GW_COMMAND_MAX) {
        return 1;
    }
    prepare_output(ch);
    if (show_target_failure(ch)) {
        return 0;
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
int gw_local_subsystem(struct gw_chan *ch, const char *subsystem)
{
    char line[160];
    int n;

    if (ch->state != GW_CHAN_OPEN) {
        return 1;
    }
    prepare_output(ch);
    if (show_target_failure(ch)) {
        return 0;
    }
    gw_log_info("refused subsystem '%.40s': no target host", subsystem);
    n = snprintf(line, sizeof(line),
                 "sshgate: the %.40s subsystem needs a target host "
                 "(user%chost@gateway)\n",
                 subsystem, ch->conn->cfg->target_separator);
    if (n > 0 && (size_t)n < sizeof(line) &&
        ssh_channel_window_size(ch->channel) >= (uint32_t)n) {
        (void)ssh_channel_write_stderr(ch->channel, line, (uint32_t)n);
    }
    return 1;
}

/* ---- the work --------------------------------------------------------- */

static int load_hosts(void *ud, struct gw_host_list *out)
{
    struct gw_conn *c = ud;
    struct store_grant *grants = NULL;
    struct store *st = gw_daemon_store_get(c->daemon);
    size_t n = 0;
    int rc;

    rc = st != NULL ? store_grant_list(st, c->user, true, &grants, &n)
                    : GW_ERR_DB;
    gw_daemon_store_put(c->daemon, st);
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

static void run_exec(struct gw_chan *ch)
{
    struct gw_builtin_ctx ctx;
    char shown[128];
    int status = 1;

    make_ctx(ch, &ctx);
    if (gw_builtin_run(&ctx, ch->command, &status) != GW_OK) {
        gw_buf_reset(&ch->out);
        (void)gw_buf_appendf(&ch->err, "sshgate: %s%s", gw_err_msg(), ctx.eol);
        status = 1;
    }
    gw_sanitize(ch->command, shown, sizeof(shown));
    gw_log_info("command '%s' exited with %d", shown, status);
    finish_with_status(ch, status);
}

static void run_shell(struct gw_chan *ch)
{
    struct gw_builtin_ctx ctx;
    int status = 1;

    make_ctx(ch, &ctx);
    if (!ch->pty) {
        /* No terminal to draw a menu on: print the list instead. */
        (void)gw_builtin_run(&ctx, "hosts", &status);
        finish_with_status(ch, status);
        return;
    }
    ch->menu_started = true;
    (void)gw_menu_start(&ch->menu, &ctx);
    if (ch->menu.done) {
        finish_with_status(ch, 0);
        return;
    }
    ch->state = GW_CHAN_MENU;
}

static void run_menu(struct gw_chan *ch)
{
    uint32_t *avail = &ch->relay.front.avail[0];
    struct gw_builtin_ctx ctx;
    char buf[512];
    int n;

    make_ctx(ch, &ctx);
    /* Read input only while earlier output drains: a client that stops
     * reading cannot make us buffer without bound. Only what the data
     * callback counted is read, and nothing after a choice: that is for
     * the host. */
    while (ch->out.len<WRITE_CHUNK && * avail> 0 && !ch->menu.chosen) {
        n = ssh_channel_read_nonblocking(
            ch->channel, buf, *avail < sizeof(buf) ? *avail : sizeof(buf), 0);
        if (n == SSH_ERROR) {
            finish_with_status(ch, 1);
            return;
        }
        if (n <= 0) {
            *avail = 0;
            break;
        }
        *avail -= (uint32_t)n <= *avail ? (uint32_t)n : *avail;
        gw_conn_activity(ch->conn);
        if (gw_menu_input(&ch->menu, &ctx, buf, (size_t)n) != GW_OK ||
            ch->menu.done) {
            finish_with_status(ch, 0);
            return;
        }
    }
    if (ch->menu.chosen) {
        (void)gw_buf_appendf(&ch->out, "sshgate: connecting to %s...%s",
                             ch->menu.chosen_host, ctx.eol);
        ch->state = GW_CHAN_MENU_CONNECT;
    } else if (ch->relay.front.eof_rcvd && *avail == 0) {
        finish_with_status(ch, 0);
    }
}

/* The menu chose a host: once "connecting" is on the screen, connect. */
static void run_menu_connect(struct gw_chan *ch)
{
    struct gw_builtin_ctx ctx;
    char msg[GW_DENIAL_MAX];

    if (ch->out.len > 0 || ch->err.len > 0) {
        return;
    }
    if (gw_session_menu_connect(ch, msg, sizeof(msg)) == GW_OK) {
        return;
    }
    make_ctx(ch, &ctx);
    (void)gw_menu_resume(&ch->menu, &ctx, msg);
    ch->state = GW_CHAN_MENU;
}

/* Write a buffer within the client's window. GW_OK when it is empty. */
static int flush_output(struct gw_chan *ch, struct gw_buf *b, bool is_stderr)
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

/* Exit status, EOF, close; the slot is reaped after this round. */
static void close_channel(struct gw_chan *ch)
{
    if (!ch->relay.front.close_rcvd) {
        (void)ssh_channel_request_send_exit_status(ch->channel,
                                                   ch->exit_status);
        (void)ssh_channel_send_eof(ch->channel);
    }
    (void)ssh_channel_close(ch->channel);
    ch->state = GW_CHAN_DEAD;
}

static void run_step(struct gw_chan *ch)
{
    switch (ch->state) {
    case GW_CHAN_EXEC:
        run_exec(ch);
        break;
    case GW_CHAN_SHELL:
        run_shell(ch);
        break;
    case GW_CHAN_MENU:
        run_menu(ch);
        break;
    case GW_CHAN_MENU_CONNECT:
        run_menu_connect(ch);
        break;
    default:
        break;
    }
}

void gw_local_pump(struct gw_chan *ch)
{
    int out_rc;
    int err_rc;

    if (ch->relay.front.close_rcvd) {
        (void)ssh_channel_close(ch->channel);
        ch->state = GW_CHAN_DEAD;
        return;
    }
    prepare_output(ch);
    run_step(ch);
    if (ch->state == GW_CHAN_RELAY) {
        return; /* the menu connected it */
    }
    out_rc = flush_output(ch, &ch->out, false);
    err_rc = flush_output(ch, &ch->err, true);
    if (out_rc == GW_ERR_IO || err_rc == GW_ERR_IO) {
        (void)ssh_channel_close(ch->channel);
        ch->state = GW_CHAN_DEAD;
    } else if (ch->state == GW_CHAN_FINISHING && out_rc == GW_OK &&
               err_rc == GW_OK) {
        close_channel(ch);
    }
}

void gw_local_free(struct gw_chan *ch)
{
    if (ch->menu_started) {
        gw_menu_free(&ch->menu);
        ch->menu_started = false;
    }
    gw_buf_free(&ch->out);
    gw_buf_free(&ch->err);
    for (size_t i = 0; i < ch->nenv; i++) {
        free(ch->env[i].name);
        free(ch->env[i].value);
    }
    ch->nenv = 0;
}
