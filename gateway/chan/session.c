/*
 * Session channels: the callbacks of every client session channel, and
 * the mirroring of its requests to the backend channel when it has one.
 *
 * A request the client waits for (pty-req, env, shell, exec, subsystem)
 * is answered by the callback's return value, so the backend is asked
 * synchronously: its session is switched to blocking (with the
 * backend_connect_timeout deadline) for that one request. This polls only
 * the backend session's own event, so only its callbacks (which merely
 * record) can run meanwhile; the client session is not re-entered.
 */
#include "core/err.h"
#include "core/strutil.h"
#include "core/log.h"
#include "gateway/conn/conn.h"
#include "gateway/audit/writer.h"
#include "gateway/chan/agent.h"
#include "gateway/chan/pair.h"
#include "gateway/chan/pair_cb.h"
#include "gateway/chan/session.h"
#include "gateway/conn/target_state.h"
#include "gateway/conn/policy.h"
#include "gateway/chan/local.h"
#include "gateway/conn/upstream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EVENT_COMMAND_MAX 2048

/* What a shell / exec / subsystem request needs from the grant. A
 * transfer is an exec request whose command is a stock file-transfer tool
 * (gw_policy_transfer_command): it needs exec, then transfer or sftp. */
enum req_kind { REQ_SHELL, REQ_EXEC, REQ_SFTP, REQ_SUBSYSTEM, REQ_TRANSFER };

static const struct req_info {
    const char *name;
    unsigned allow; /* any of these bits; 0: never granted */
} req_infos[] = {
    [REQ_SHELL] = {"shell", STORE_ALLOW_SHELL},
    [REQ_EXEC] = {"exec", STORE_ALLOW_EXEC},
    [REQ_SFTP] = {"sftp", STORE_ALLOW_SFTP},
    [REQ_SUBSYSTEM] = {"subsystem", 0},
    [REQ_TRANSFER] = {"transfer", STORE_ALLOW_TRANSFER | STORE_ALLOW_SFTP},
};

/* ---- mirroring -------------------------------------------------------- */

/* One request the client waits for, answered by the backend. */
static int ask_backend(struct gw_chan *ch, enum req_kind k, const char *arg)
{
    int rc;

    gw_upstream_block(ch->up, true);
    switch (k) {
    case REQ_SHELL:
        rc = ssh_channel_request_shell(ch->bch);
        break;
    case REQ_EXEC:
        rc = ssh_channel_request_exec(ch->bch, arg);
        break;
    default:
        rc = ssh_channel_request_subsystem(ch->bch, arg);
        break;
    }
    gw_upstream_block(ch->up, false);
    if (rc != SSH_OK) {
        gw_log_info("channel %u: backend %s refused %s: %s", ch->id,
                    ch->up->host.name, req_infos[k].name,
                    ssh_get_error(ch->up->session));
    }
    return rc == SSH_OK ? GW_OK : GW_ERR_IO;
}

static int ask_pty(struct gw_chan *ch)
{
    int rc;

    gw_upstream_block(ch->up, true);
    rc = ssh_channel_request_pty_size(ch->bch, ch->term, ch->cols, ch->rows);
    gw_upstream_block(ch->up, false);
    return rc == SSH_OK ? GW_OK : GW_ERR_IO;
}

/* The client chose the name: quoted and cut for a log line. */
static void env_shown(const char *name, char *out, size_t outlen)
{
    gw_sanitize(name != NULL ? name : "", out, outlen);
}

static int ask_env(struct gw_chan *ch, const char *name, const char *value)
{
    char shown[64];
    int rc;

    gw_upstream_block(ch->up, true);
    rc = ssh_channel_request_env(ch->bch, name, value);
    gw_upstream_block(ch->up, false);
    if (rc != SSH_OK) {
        env_shown(name, shown, sizeof(shown));
        gw_log_verbose("channel %u: backend refused environment variable "
                       "\"%s\"",
                       ch->id, shown);
    }
    return rc == SSH_OK ? GW_OK : GW_ERR_IO;
}

/* The client is told why on stderr (before the refusal, so it shows the
 * line), the refusal is recorded. A refused transfer names its tool and
 * records the command, which says what was to be moved. */
static void deny_request(struct gw_chan *ch, enum req_kind k, const char *arg,
                         enum gw_transfer tool, const char *reason)
{
    char line[256];
    char shown[64];
    char what[EVENT_COMMAND_MAX + 64];

    gw_sanitize(arg != NULL ? arg : "", shown, sizeof(shown));
    what[0] = '\0';
    if (k == REQ_SUBSYSTEM) {
        snprintf(line, sizeof(line),
                 "sshgate: subsystem %s on %s is not allowed", shown,
                 ch->up->host.name);
        snprintf(what, sizeof(what), " subsystem=%s", shown);
    } else if (k == REQ_TRANSFER) {
        size_t used;
        snprintf(line, sizeof(line),
                 "sshgate: file transfer (%s) on %s is not allowed by your "
                 "grant",
                 gw_transfer_name(tool), ch->up->host.name);
        /* The command as session.start records it, in place (the worker's
         * stack is small). */
        used = (size_t)snprintf(what, sizeof(what), " tool=%s command=\"",
                                gw_transfer_name(tool));
        gw_sanitize(arg != NULL ? arg : "", what + used, EVENT_COMMAND_MAX);
        used += strlen(what + used);
        snprintf(what + used, sizeof(what) - used, "\"");
    } else {
        snprintf(line, sizeof(line),
                 "sshgate: %s on %s is not allowed by your grant",
                 req_infos[k].name, ch->up->host.name);
    }
    /* Answered as a failed command, not a refused request: OpenSSH quits
     * on a refused request before it prints what came just before it, so
     * the reason would reach the user only now and then. The line goes to
     * stderr and the exit status is 255, as for OpenSSH's own failures. */
    gw_local_fail(ch, line);
    gw_log_info("channel %u: %s refused on %s: %s", ch->id, req_infos[k].name,
                ch->up->host.name, reason);
    gw_conn_event(ch->conn, "channel.denied", ch->conn->user,
                  "kind=%s host=%s login=%s%s reason=\"%s\"", req_infos[k].name,
                  ch->up->host.name, ch->up->login, what, reason);
}

/* Start a shell / exec / subsystem on the backend if the grant allows. */
static int start_request(struct gw_chan *ch, enum req_kind k, const char *arg)
{
    char shown[EVENT_COMMAND_MAX];

    if (ch->state != GW_CHAN_OPEN) {
        return 1;
    }
    if ((ch->up->allow & req_infos[k].allow) == 0) {
        deny_request(ch, k, arg, GW_TRANSFER_NONE,
                     req_infos[k].allow == 0 ? "subsystem not supported"
                                             : "not granted");
        return 0; /* accepted: the reason and exit status 255 follow */
    }
    /* An exec grant is for commands, not for scp -O / rsync / sftp-server
     * moving files past the sftp audit: those need transfer or sftp. */
    if (k == REQ_EXEC && (ch->up->allow & req_infos[REQ_TRANSFER].allow) == 0) {
        enum gw_transfer tool = gw_policy_transfer_command(arg);
        if (tool != GW_TRANSFER_NONE) {
            deny_request(ch, REQ_TRANSFER, arg, tool, "not granted");
            return 0;
        }
    }
    if (ask_backend(ch, k, arg) != GW_OK) {
        return 1;
    }
    if (arg != NULL) {
        ch->command = strdup(arg);
    }
    gw_sanitize(arg != NULL ? arg : "", shown, sizeof(shown));
    if (k == REQ_EXEC) {
        gw_pair_start(ch, "exec", "command=\"%s\"", shown);
    } else if (k == REQ_SHELL) {
        gw_pair_start(ch, "shell", "%s", "");
    } else {
        gw_pair_start(ch, req_infos[k].name, "subsystem=%s", shown);
    }
    return 0;
}

/* ---- callbacks -------------------------------------------------------- */

static int on_pty(ssh_session s, ssh_channel channel, const char *term,
                  int cols, int rows, int pxwidth, int pxheight, void *userdata)
{
    struct gw_chan *ch = userdata;

    (void)s;
    (void)channel;
    (void)pxwidth;
    (void)pxheight;
    if (ch->state != GW_CHAN_OPEN || ch->pty) {
        return 1;
    }
    snprintf(ch->term, sizeof(ch->term), "%s", term != NULL ? term : "");
    ch->cols = cols;
    ch->rows = rows;
    if (ch->bch != NULL && ask_pty(ch) != GW_OK) {
        return 1;
    }
    ch->pty = true;
    return 0;
}

static int on_window_change(ssh_session s, ssh_channel channel, int cols,
                            int rows, int pxwidth, int pxheight, void *userdata)
{
    struct gw_chan *ch = userdata;

    (void)s;
    (void)channel;
    (void)pxwidth;
    (void)pxheight;
    ch->cols = cols;
    ch->rows = rows;
    if (ch->bch != NULL && ch->pty) {
        (void)ssh_channel_change_pty_size(ch->bch, cols, rows);
    }
    gw_session_row_resize(&ch->row, cols, rows); /* formats only */
    return 0;
}

/* Kept for a channel that is not connected yet (the menu's). */
static int save_env(struct gw_chan *ch, const char *name, const char *value)
{
    struct gw_env_var *e = &ch->env[ch->nenv];

    if (ch->nenv == GW_ENV_SAVED_MAX || strlen(value) > GW_COMMAND_MAX) {
        return 1;
    }
    e->name = strdup(name);
    e->value = strdup(value);
    if (e->name == NULL || e->value == NULL) {
        free(e->name);
        free(e->value);
        return 1;
    }
    ch->nenv++;
    return 0;
}

static int on_env(ssh_session s, ssh_channel channel, const char *name,
                  const char *value, void *userdata)
{
    struct gw_chan *ch = userdata;
    char shown[64];

    (void)s;
    (void)channel;
    if (ch->state != GW_CHAN_OPEN ||
        !gw_env_allowed(ch->conn->cfg->env_allow, name)) {
        /* Named, so that an operator can tell which env_allow lacks. */
        env_shown(name, shown, sizeof(shown));
        gw_log_verbose("channel %u: environment variable \"%s\" refused: %s",
                       ch->id, shown,
                       ch->state != GW_CHAN_OPEN ? "sent after shell or exec"
                                                 : "not in env_allow");
        return 1;
    }
    if (ch->bch == NULL) {
        return ch->conn->tstate == GW_TARGET_NONE ? save_env(ch, name, value)
                                                  : 1;
    }
    return ask_env(ch, name, value) == GW_OK ? 0 : 1;
}

static int on_shell(ssh_session s, ssh_channel channel, void *userdata)
{
    struct gw_chan *ch = userdata;

    (void)s;
    (void)channel;
    if (ch->bch == NULL) {
        return gw_local_shell(ch);
    }
    return start_request(ch, REQ_SHELL, NULL);
}

static int on_exec(ssh_session s, ssh_channel channel, const char *command,
                   void *userdata)
{
    struct gw_chan *ch = userdata;

    (void)s;
    (void)channel;
    if (ch->bch == NULL) {
        return gw_local_exec(ch, command);
    }
    return start_request(ch, REQ_EXEC, command);
}

static int on_subsystem(ssh_session s, ssh_channel channel,
                        const char *subsystem, void *userdata)
{
    struct gw_chan *ch = userdata;

    (void)s;
    (void)channel;
    if (ch->bch == NULL) {
        return gw_local_subsystem(ch, subsystem);
    }
    return start_request(
        ch, strcmp(subsystem, "sftp") == 0 ? REQ_SFTP : REQ_SUBSYSTEM,
        subsystem);
}

static void on_signal(ssh_session s, ssh_channel channel, const char *signal,
                      void *userdata)
{
    struct gw_chan *ch = userdata;

    (void)s;
    (void)channel;
    if (ch->bch != NULL && ch->state == GW_CHAN_RELAY) {
        (void)ssh_channel_request_send_signal(ch->bch, signal);
    }
}

static void attach_callbacks(struct gw_chan *ch)
{
    struct ssh_channel_callbacks_struct *cb = &ch->cb;
    struct gw_upstream *up = ch->conn->primary;

    gw_pair_front_callbacks(ch);
    cb->channel_pty_request_function = on_pty;
    cb->channel_pty_window_change_function = on_window_change;
    cb->channel_env_request_function = on_env;
    cb->channel_shell_request_function = on_shell;
    cb->channel_exec_request_function = on_exec;
    cb->channel_subsystem_request_function = on_subsystem;
    cb->channel_signal_function = on_signal;
    /* libssh answers auth-agent-req with success whenever this is set:
     * only where the grant allows agent forwarding. x11 stays unset. */
    if (ch->bch != NULL && up != NULL && ch->up == up &&
        (up->allow & STORE_ALLOW_AGENT) != 0) {
        cb->channel_auth_agent_req_function = gw_agent_on_request;
    }
    ssh_set_channel_callbacks(ch->channel, cb);
}

/* ---- opening ---------------------------------------------------------- */

int gw_session_backend_open(struct gw_chan *ch, struct gw_upstream *up)
{
    ssh_channel bch = ssh_channel_new(up->session);
    int rc;

    if (bch == NULL) {
        return GW_ERR_NOMEM;
    }
    gw_upstream_block(up, true);
    rc = ssh_channel_open_session(bch);
    gw_upstream_block(up, false);
    if (rc != SSH_OK) {
        gw_log_info("backend %s refused a session channel: %s", up->host.name,
                    ssh_get_error(up->session));
        ssh_channel_free(bch);
        return GW_ERR_IO;
    }
    ch->bch = bch;
    ch->up = up;
    up->refs++;
    gw_pair_back_callbacks(ch);
    return GW_OK;
}

/*
 * A new session channel. With a connected target its backend channel is
 * opened first, so that the backend's refusal (MaxSessions) becomes ours.
 * The target is normally connected by the loop right after
 * authentication, before the client can open a channel; should an open
 * still find it pending, it is connected here (a blocking wait of at most
 * backend_connect_timeout inside this callback, on sessions of this
 * connection only).
 */
ssh_channel gw_session_open(ssh_session session, void *userdata)
{
    struct gw_conn *c = userdata;
    struct gw_chan *ch = NULL;

    if (c->tstate == GW_TARGET_PENDING) {
        gw_target_prepare(c);
    }
    ch = gw_chan_alloc(c, GW_KIND_SESSION);
    if (ch == NULL) {
        return NULL;
    }
    ch->channel = ssh_channel_new(session);
    /* audit_failure = refuse: the channel opens (libssh 0.10 cannot say
     * why it refuses one), and its request is answered with the reason. */
    ch->audit_refused = !gw_audit_accepting(c->daemon->audit);
    if (ch->channel == NULL ||
        (c->tstate == GW_TARGET_UP && !ch->audit_refused &&
         gw_session_backend_open(ch, c->primary) != GW_OK)) {
        ssh_channel_free(ch->channel);
        gw_chan_unalloc(ch);
        return NULL;
    }
    ch->state = GW_CHAN_OPEN;
    attach_callbacks(ch);
    gw_conn_activity(c);
    return ch->channel;
}

/* ---- the menu connects ------------------------------------------------ */

static struct gw_upstream *find_upstream(struct gw_conn *c, const char *host,
                                         const char *login)
{
    for (size_t i = 0; i < GW_UPSTREAM_MAX; i++) {
        struct gw_upstream *up = c->ups[i];
        if (up != NULL && !up->gone && strcmp(up->host.name, host) == 0 &&
            strcmp(up->login, login) == 0) {
            return up;
        }
    }
    return NULL;
}

/* The grant for the chosen host, which must allow a shell. */
static int menu_grant(struct gw_chan *ch, struct store_host *host,
                      struct store_grant *grant, char *msg, size_t msglen)
{
    struct gw_conn *c = ch->conn;
    struct gw_target t;
    struct gw_denial why;
    struct store *st;
    int rc;

    memset(&t, 0, sizeof(t));
    snprintf(t.user, sizeof(t.user), "%s", c->user);
    snprintf(t.host, sizeof(t.host), "%s", ch->menu.chosen_host);
    snprintf(t.login, sizeof(t.login), "%s", ch->menu.chosen_login);
    st = gw_daemon_store_get(c->daemon);
    rc = st != NULL
             ? gw_resolve_target(st, c->user, &t, c->cfg->target_separator,
                                 host, grant, &why)
             : gw_err_set(GW_ERR_DB, "no database");
    gw_daemon_store_put(c->daemon, st);
    if (rc == GW_ERR_DENIED) {
        snprintf(msg, msglen, "%s", why.message);
        gw_conn_event(c, "access.denied", c->user,
                      "host=%s login=%s reason=%s via=menu", t.host,
                      t.login[0] != '\0' ? t.login : "-", why.reason);
        return rc;
    }
    if (rc != GW_OK) {
        gw_log_error("cannot check access to %s: %s", t.host, gw_err_msg());
        snprintf(msg, msglen, "sshgate: cannot check your access now");
        return rc;
    }
    if ((grant->allow & STORE_ALLOW_SHELL) == 0) {
        snprintf(msg, msglen,
                 "sshgate: shell on %s is not allowed by your "
                 "grant",
                 host->name);
        gw_conn_event(c, "channel.denied", c->user,
                      "kind=shell host=%s login=%s reason=\"not granted\"",
                      host->name, grant->login);
        store_host_clear(host);
        return GW_ERR_DENIED;
    }
    return GW_OK;
}

/* pty, saved environment and shell on ch's new backend channel. */
static int menu_start_shell(struct gw_chan *ch)
{
    for (size_t i = 0; i < ch->nenv; i++) {
        (void)ask_env(ch, ch->env[i].name, ch->env[i].value);
    }
    if (ask_pty(ch) != GW_OK || ask_backend(ch, REQ_SHELL, NULL) != GW_OK) {
        return GW_ERR_IO;
    }
    return GW_OK;
}

static void menu_drop_backend(struct gw_chan *ch)
{
    ssh_remove_channel_callbacks(ch->bch, &ch->bcb);
    ssh_channel_free(ch->bch);
    ch->bch = NULL;
    ch->up->refs--;
    ch->up = NULL;
}

int gw_session_menu_connect(struct gw_chan *ch, char *msg, size_t msglen)
{
    struct gw_conn *c = ch->conn;
    struct store_host host;
    struct store_grant grant;
    struct gw_upstream *up = NULL;
    int rc;

    rc = menu_grant(ch, &host, &grant, msg, msglen);
    if (rc != GW_OK) {
        return rc;
    }
    up = find_upstream(c, host.name, grant.login);
    if (up == NULL) {
        rc = gw_upstream_open(c, &host, &grant, &up, msg, msglen);
    }
    store_host_clear(&host);
    if (rc == GW_OK) {
        rc = gw_session_backend_open(ch, up);
        if (rc != GW_OK) {
            snprintf(msg, msglen, "sshgate: %s refused a session",
                     up->host.name);
        }
    }
    if (rc == GW_OK && menu_start_shell(ch) != GW_OK) {
        snprintf(msg, msglen, "sshgate: %s refused the shell", up->host.name);
        menu_drop_backend(ch);
        rc = GW_ERR_IO;
    }
    if (rc != GW_OK) {
        gw_upstream_reap(c);
        return rc;
    }
    gw_menu_free(&ch->menu);
    ch->menu_started = false;
    gw_pair_start(ch, "shell", "%s", "via=menu");
    return GW_OK;
}

/* ---- the kind --------------------------------------------------------- */

/* Relayed once it has a backend channel and a started request; served
 * by chan/local.c before (built-ins, the menu, a failed target). */
static bool pump_session(struct gw_chan *ch)
{
    if (ch->state == GW_CHAN_RELAY) {
        return gw_pair_pump_channels(ch);
    }
    gw_local_pump(ch);
    return false;
}

/* Tell the user of a session whose backend vanished (no exit status). */
static void say_backend_lost(struct gw_chan *ch)
{
    char line[GW_NAME_MAX + 64];
    int n;

    if (!gw_pair_client_open(ch) || ch->relay.exit.have_status ||
        ch->relay.exit.have_signal) {
        return;
    }
    n = snprintf(line, sizeof(line), "sshgate: connection to %s lost\r\n",
                 ch->up->host.name);
    if (n > 0 && (uint32_t)n <= ssh_channel_window_size(ch->channel)) {
        (void)ssh_channel_write_stderr(ch->channel, line, (uint32_t)n);
    }
}

static void session_backend_lost(struct gw_chan *ch)
{
    say_backend_lost(ch);
    if (ch->state != GW_CHAN_RELAY) {
        gw_local_fail(ch, NULL);
    }
}

const struct gw_chan_ops gw_session_chan_ops = {
    .name = "session",
    .pump = pump_session,
    .backend_lost = session_backend_lost,
    .release = gw_local_free,
};
