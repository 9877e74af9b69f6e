#include "gateway/chan/builtin.h"

#include "core/err.h"
#include "core/net.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COMMAND_SHOWN_MAX 64

/* ---- the host list ---------------------------------------------------- */

static struct gw_host_entry *find_host(struct gw_host_list *list,
                                       const char *name)
{
    for (size_t i = 0; i < list->n; i++) {
        if (strcmp(list->items[i].name, name) == 0) {
            return &list->items[i];
        }
    }
    return NULL;
}

/* Add login to e's comma list (silently stops when the field is full). */
static void add_login(struct gw_host_entry *e, const char *login)
{
    size_t used = strlen(e->logins);
    size_t need = strlen(login) + (used > 0 ? 1 : 0);

    if (used + need >= sizeof(e->logins)) {
        return;
    }
    snprintf(e->logins + used, sizeof(e->logins) - used, "%s%s",
             used > 0 ? "," : "", login);
}

int gw_hosts_from_grants(const struct store_grant *grants, size_t n,
                         struct gw_host_list *out)
{
    struct gw_host_list list = {NULL, 0};

    memset(out, 0, sizeof(*out));
    if (n == 0) {
        return GW_OK;
    }
    list.items = calloc(n, sizeof(*list.items));
    if (list.items == NULL) {
        return GW_ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        struct gw_host_entry *e = find_host(&list, grants[i].host);
        if (e == NULL) {
            e = &list.items[list.n++];
            snprintf(e->name, sizeof(e->name), "%s", grants[i].host);
            snprintf(e->address, sizeof(e->address), "%s", grants[i].address);
            e->port = grants[i].port;
        }
        add_login(e, grants[i].login);
    }
    *out = list;
    return GW_OK;
}

void gw_host_list_free(struct gw_host_list *list)
{
    free(list->items);
    list->items = NULL;
    list->n = 0;
}

/* Widths of the name and address columns (at least their headers). */
static void column_widths(const struct gw_host_list *list, int *name_w,
                          int *addr_w)
{
    char addr[STORE_ADDRESS_MAX + 16];

    *name_w = 4; /* "HOST" */
    *addr_w = 7; /* "ADDRESS" */
    for (size_t i = 0; i < list->n; i++) {
        gw_net_hostport(list->items[i].address, list->items[i].port, addr,
                        sizeof(addr));
        if ((int)strlen(list->items[i].name) > *name_w) {
            *name_w = (int)strlen(list->items[i].name);
        }
        if ((int)strlen(addr) > *addr_w) {
            *addr_w = (int)strlen(addr);
        }
    }
}

/* The host table; with numbered, each row starts with its menu number. */
static int format_table(const struct gw_host_list *list, const char *eol,
                        bool numbered, struct gw_buf *out)
{
    char addr[STORE_ADDRESS_MAX + 16];
    int name_w = 0;
    int addr_w = 0;
    int rc;

    column_widths(list, &name_w, &addr_w);
    rc =
        gw_buf_appendf(out, "%s%-*s  %-*s  LOGINS%s", numbered ? "    #  " : "",
                       name_w, "HOST", addr_w, "ADDRESS", eol);
    for (size_t i = 0; rc == GW_OK && i < list->n; i++) {
        const struct gw_host_entry *e = &list->items[i];
        gw_net_hostport(e->address, e->port, addr, sizeof(addr));
        if (numbered) {
            rc = gw_buf_appendf(out, "  %3zu  ", i + 1);
        }
        if (rc == GW_OK) {
            rc = gw_buf_appendf(out, "%-*s  %-*s  %s%s", name_w, e->name,
                                addr_w, addr, e->logins, eol);
        }
    }
    return rc;
}

int gw_hosts_format(const struct gw_host_list *list, const char *eol,
                    struct gw_buf *out)
{
    return format_table(list, eol, false, out);
}

/* ---- commands --------------------------------------------------------- */

static int cmd_hosts(const struct gw_builtin_ctx *ctx, int *status)
{
    struct gw_host_list hosts = {NULL, 0};
    int rc = ctx->load_hosts(ctx->ud, &hosts);

    if (rc != GW_OK) {
        *status = 1;
        return gw_buf_appendf(ctx->err, "sshgate: cannot list hosts now%s",
                              ctx->eol);
    }
    rc = gw_hosts_format(&hosts, ctx->eol, ctx->out);
    *status = rc == GW_OK ? 0 : 1;
    gw_host_list_free(&hosts);
    return rc;
}

static int cmd_help(const struct gw_builtin_ctx *ctx, int *status);

static const struct builtin_cmd {
    const char *name;
    const char *help;
    int (*run)(const struct gw_builtin_ctx *ctx, int *status);
} commands[] = {
    {"hosts", "list the hosts you may connect to", cmd_hosts},
    {"help", "show this help", cmd_help},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static int cmd_help(const struct gw_builtin_ctx *ctx, int *status)
{
    const char *e = ctx->eol;
    char s = ctx->separator;
    int rc = gw_buf_appendf(ctx->out, "sshgate commands:%s", e);

    for (size_t i = 0; rc == GW_OK && i < NCOMMANDS; i++) {
        rc = gw_buf_appendf(ctx->out, "  %-8s %s%s", commands[i].name,
                            commands[i].help, e);
    }
    if (rc == GW_OK) {
        rc = gw_buf_appendf(ctx->out,
                            "Without a command, a terminal session shows a "
                            "menu of your hosts.%s"
                            "Reach a host as %s%cHOST@gateway or "
                            "%s%cLOGIN@HOST@gateway.%s",
                            e, ctx->user, s, ctx->user, s, e);
    }
    *status = 0;
    return rc;
}

/* Copy text for an error message: control characters become '?', long
 * text is cut. */
static void shown(const char *text, char out[COMMAND_SHOWN_MAX + 4])
{
    size_t i = 0;

    for (; text[i] != '\0' && i < COMMAND_SHOWN_MAX; i++) {
        unsigned char c = (unsigned char)text[i];
        out[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    strcpy(out + i, text[i] != '\0' ? "..." : "");
}

int gw_builtin_run(const struct gw_builtin_ctx *ctx, const char *command,
                   int *exit_status)
{
    char what[COMMAND_SHOWN_MAX + 4];
    size_t len = strlen(command);
    const char *start = command;

    /* Ignore surrounding blanks: "ssh gw ' hosts '" means hosts. */
    while (*start == ' ' || *start == '\t') {
        start++;
    }
    while (len > (size_t)(start - command) &&
           (command[len - 1] == ' ' || command[len - 1] == '\t' ||
            command[len - 1] == '\n' || command[len - 1] == '\r')) {
        len--;
    }
    len -= (size_t)(start - command);
    for (size_t i = 0; i < NCOMMANDS; i++) {
        if (strlen(commands[i].name) == len &&
            strncmp(commands[i].name, start, len) == 0) {
            return commands[i].run(ctx, exit_status);
        }
    }
    shown(command, what);
    *exit_status = 1;
    return gw_buf_appendf(ctx->err,
                          "sshgate: unknown command '%s' (try "
                          "'help')%s",
                          what, ctx->eol);
}

/* ---- the menu --------------------------------------------------------- */

#define KEY_CTRL_C 0x03
#define KEY_CTRL_D 0x04
#define KEY_BS     0x08
#define KEY_CTRL_U 0x15
#define KEY_ESC    0x1b
#define KEY_DEL    0x7f

static int menu_prompt(const struct gw_builtin_ctx *ctx)
{
    return gw_buf_puts(ctx->out,
                       "Choose a host by number or name (q to quit): ");
}

static int menu_list(const struct gw_menu *menu,
                     const struct gw_builtin_ctx *ctx)
{
    int rc = gw_buf_appendf(ctx->out, "sshgate: hosts for %s%s", ctx->user,
                            ctx->eol);

    if (rc == GW_OK) {
        rc = format_table(&menu->hosts, ctx->eol, true, ctx->out);
    }
    return rc;
}

int gw_menu_start(struct gw_menu *menu, const struct gw_builtin_ctx *ctx)
{
    int rc;

    memset(menu, 0, sizeof(*menu));
    rc = ctx->load_hosts(ctx->ud, &menu->hosts);
    if (rc != GW_OK) {
        menu->done = true;
        return gw_buf_appendf(ctx->err, "sshgate: cannot list hosts now%s",
                              ctx->eol);
    }
    if (menu->hosts.n == 0) {
        menu->done = true;
        return gw_buf_appendf(ctx->out,
                              "sshgate: no hosts are granted to "
                              "%s%s",
                              ctx->user, ctx->eol);
    }
    rc = menu_list(menu, ctx);
    if (rc == GW_OK) {
        rc = menu_prompt(ctx);
    }
    return rc;
}

/* The host chosen by a line: its number in the list or its name. */
static const struct gw_host_entry *menu_choice(const struct gw_menu *menu,
                                               const char *line)
{
    long n = 0;

    if (gw_long_parse(line, 1, (long)menu->hosts.n, &n) == GW_OK) {
        return &menu->hosts.items[n - 1];
    }
    for (size_t i = 0; i < menu->hosts.n; i++) {
        if (strcmp(menu->hosts.items[i].name, line) == 0) {
            return &menu->hosts.items[i];
        }
    }
    return NULL;
}

/* "LOGIN@HOST" or "HOST" (a number or a name): remember the choice. */
static int menu_pick(struct gw_menu *menu, const struct gw_builtin_ctx *ctx,
                     const char *line)
{
    const char *at = strchr(line, '@');
    const char *host = at != NULL ? at + 1 : line;
    const struct gw_host_entry *e = menu_choice(menu, host);
    size_t login_len = at != NULL ? (size_t)(at - line) : 0;

    if (e == NULL || login_len >= sizeof(menu->chosen_login) ||
        (at != NULL && login_len == 0)) {
        return gw_buf_appendf(ctx->out, "sshgate: no host '%s' in your list%s",
                              line, ctx->eol);
    }
    memcpy(menu->chosen_login, line, login_len);
    menu->chosen_login[login_len] = '\0';
    snprintf(menu->chosen_host, sizeof(menu->chosen_host), "%s", e->name);
    menu->chosen = true;
    return GW_OK;
}

static int menu_line(struct gw_menu *menu, const struct gw_builtin_ctx *ctx)
{
    char *line = gw_trim(menu->line);
    int rc = GW_OK;

    if (strcmp(line, "q") == 0 || strcmp(line, "quit") == 0 ||
        strcmp(line, "exit") == 0) {
        menu->done = true;
        return gw_buf_appendf(ctx->out, "bye%s", ctx->eol);
    }
    if (line[0] != '\0') {
        rc = menu_pick(menu, ctx, line);
    }
    menu->len = 0;
    menu->line[0] = '\0';
    if (rc == GW_OK && !menu->chosen) {
        rc = menu_prompt(ctx);
    }
    return rc;
}

int gw_menu_resume(struct gw_menu *menu, const struct gw_builtin_ctx *ctx,
                   const char *message)
{
    int rc = GW_OK;

    menu->chosen = false;
    menu->chosen_host[0] = '\0';
    menu->chosen_login[0] = '\0';
    if (message != NULL && message[0] != '\0') {
        rc = gw_buf_appendf(ctx->out, "%s%s", message, ctx->eol);
    }
    return rc == GW_OK ? menu_prompt(ctx) : rc;
}

/* Swallow escape sequences (arrow keys and the like). True if c was part
 * of one. */
static bool menu_escape(struct gw_menu *menu, unsigned char c)
{
    if (menu->esc == 1) {
        menu->esc = (c == '[' || c == 'O') ? 2 : 0;
        return true;
    }
    if (menu->esc == 2) {
        menu->esc = (c >= 0x40 && c <= 0x7e) ? 0 : 2;
        return true;
    }
    if (c == KEY_ESC) {
        menu->esc = 1;
        return true;
    }
    return false;
}

/* Act on one control key. */
static int menu_control(struct gw_menu *menu, const struct gw_builtin_ctx *ctx,
                        unsigned char c)
{
    switch (c) {
    case '\r':
    case '\n':
        menu->line[menu->len] = '\0';
        if (gw_buf_puts(ctx->out, ctx->eol) != GW_OK) {
            return GW_ERR_NOMEM;
        }
        return menu_line(menu, ctx);
    case KEY_DEL:
    case KEY_BS:
        if (menu->len == 0) {
            return GW_OK;
        }
        menu->len--;
        return gw_buf_puts(ctx->out, "\b \b");
    case KEY_CTRL_C:
    case KEY_CTRL_U:
        menu->len = 0;
        menu->line[0] = '\0';
        return gw_buf_appendf(ctx->out, "^C%s", ctx->eol) == GW_OK
                   ? menu_prompt(ctx)
                   : GW_ERR_NOMEM;
    case KEY_CTRL_D:
        if (menu->len == 0) {
            menu->done = true;
            return gw_buf_appendf(ctx->out, "%sbye%s", ctx->eol, ctx->eol);
        }
        return GW_OK;
    default:
        return GW_OK;
    }
}

static int menu_byte(struct gw_menu *menu, const struct gw_builtin_ctx *ctx,
                     unsigned char c)
{
    bool after_cr = menu->last_cr;

    menu->last_cr = c == '\r';
    if (menu_escape(menu, c)) {
        return GW_OK;
    }
    if (c == '\n' && after_cr) {
        return GW_OK;
    }
    if (c >= 0x20 && c < 0x7f) {
        if (menu->len + 1 >= sizeof(menu->line)) {
            return GW_OK;
        }
        menu->line[menu->len++] = (char)c;
        return gw_buf_append(ctx->out, &c, 1);
    }
    return menu_control(menu, ctx, c);
}

int gw_menu_input(struct gw_menu *menu, const struct gw_builtin_ctx *ctx,
                  const char *data, size_t len)
{
    int rc = GW_OK;

    for (size_t i = 0; i < len && rc == GW_OK && !menu->done && !menu->chosen;
         i++) {
        rc = menu_byte(menu, ctx, (unsigned char)data[i]);
    }
    return rc;
}

void gw_menu_free(struct gw_menu *menu)
{
    gw_host_list_free(&menu->hosts);
}
