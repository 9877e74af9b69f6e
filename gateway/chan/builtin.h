/*
 * What a user gets when she logs in without a target: built-in commands
 * (`ssh alice@gw hosts`) and, on a terminal, a small menu of her hosts.
 * Pure text in, text out (no SSH here), so it is unit-tested directly;
 * gateway/chan/local.c moves the bytes.
 */
#ifndef SSHGATE_GATEWAY_CHAN_BUILTIN_H
#define SSHGATE_GATEWAY_CHAN_BUILTIN_H

#include "core/buf.h"
#include "core/strutil.h"
#include "store/grants.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GW_LOGINS_MAX 256

/* One granted host with every login granted on it. */
struct gw_host_entry {
    char name[GW_NAME_MAX + 1];
    char address[STORE_ADDRESS_MAX + 1];
    uint16_t port;
    char logins[GW_LOGINS_MAX]; /* "root,deploy" */
};

struct gw_host_list {
    struct gw_host_entry *items;
    size_t n;
};

/* Group grants (ordered by host, as store_grant_list returns them) into
 * one entry per host. GW_OK or GW_ERR_NOMEM. */
int gw_hosts_from_grants(const struct store_grant *grants, size_t n,
                         struct gw_host_list *out);
void gw_host_list_free(struct gw_host_list *list);

/* The `hosts` table: a header, then "NAME ADDRESS:PORT LOGINS" lines,
 * columns aligned, each line ended by eol ("\n", or "\r\n" on a pty). */
int gw_hosts_format(const struct gw_host_list *list, const char *eol,
                    struct gw_buf *out);

/* Everything a built-in command may use. */
struct gw_builtin_ctx {
    const char *user;
    char separator; /* target_separator, for help texts */
    const char *eol;
    struct gw_buf *out;
    struct gw_buf *err;
    /* Fetch the user's granted hosts (fresh from the store). */
    int (*load_hosts)(void *ud, struct gw_host_list *out);
    void *ud;
};

/*
 * Run command (an exec request's text) and set *exit_status: 0 on success,
 * 1 for an unknown command or a failure (with a message on err).
 * GW_OK, or GW_ERR_NOMEM when the output could not be built.
 */
int gw_builtin_run(const struct gw_builtin_ctx *ctx, const char *command,
                   int *exit_status);

/* The interactive menu's state (one per pty shell). */
struct gw_menu {
    struct gw_host_list hosts;
    char line[128];
    size_t len;
    int esc;      /* inside an escape sequence (arrow keys): 0, 1 or 2 */
    bool last_cr; /* the previous byte was CR (CR LF is one Enter) */
    bool done;    /* the user quit */
    /* A host was chosen ("2", "web1" or "root@web1"): the caller connects,
     * then either hands the channel over or calls gw_menu_resume. Input
     * after the choice is not consumed. */
    bool chosen;
    char chosen_host[GW_NAME_MAX + 1];
    char chosen_login[GW_NAME_MAX + 1]; /* "" when not typed */
};

/* Load the hosts and print the menu and the first prompt. */
int gw_menu_start(struct gw_menu *menu, const struct gw_builtin_ctx *ctx);

/* Feed typed bytes: echo them, act on complete lines. Sets menu->done on
 * q, quit, exit, Ctrl-D on an empty line, or when there is nothing to
 * choose from; menu->chosen when a line names a host (bytes after that
 * line are left unread: the caller reads only while !chosen). */
int gw_menu_input(struct gw_menu *menu, const struct gw_builtin_ctx *ctx,
                  const char *data, size_t len);

/* Back to the prompt after a choice that did not connect: print message
 * (one line, may be NULL) and the prompt again. */
int gw_menu_resume(struct gw_menu *menu, const struct gw_builtin_ctx *ctx,
                   const char *message);

void gw_menu_free(struct gw_menu *menu);

#endif
