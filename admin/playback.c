#include "admin/playback.h"

#include "core/err.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double mono_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool stopped(const volatile sig_atomic_t *stop)
{
    return stop != NULL && *stop != 0;
}

void admin_player_init(struct admin_player *p, FILE *out, double speed)
{
    memset(p, 0, sizeof(*p));
    p->out = out;
    p->speed = speed;
    p->anchored = true;
    p->anchor_t = 0.0;
    p->anchor_wall = mono_now();
}

void admin_player_unanchor(struct admin_player *p)
{
    p->anchored = false;
}

void admin_player_sleep(double seconds, volatile sig_atomic_t *stop)
{
    struct timespec ts;

    if (!(seconds > 0)) {
        return;
    }
    ts.tv_sec = (time_t)seconds;
    ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
    /* A signal that sets *stop interrupts the sleep (EINTR); any other
     * goes back to sleep for the rest. */
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !stopped(stop)) {
    }
}

/* Wait until the event at time t is due, as the anchor says. */
static void wait_for_event(struct admin_player *p, double t)
{
    double now = mono_now();
    double due;

    if (p->no_wait || !p->anchored) {
        p->anchored = true;
        p->anchor_t = t;
        p->anchor_wall = now;
        return;
    }
    due = p->anchor_wall + (t - p->anchor_t) / p->speed;
    if (due - now > ADMIN_PLAY_IDLE_MAX_S) {
        due = now + ADMIN_PLAY_IDLE_MAX_S; /* a long pause is cut short */
    }
    admin_player_sleep(due - now, p->stop);
    /* Late (a slow terminal, a watcher's poll), the event plays now and
     * the next one is timed from here: lateness does not add up. */
    p->anchor_t = t;
    p->anchor_wall = due > now ? due : now;
}

/* One event line "[t, "o", "text"]": wait, then write its text. */
static int play_line(struct admin_player *p, const char *line, size_t len)
{
    json_error_t error;
    json_t *ev = json_loadb(line, len, JSON_ALLOW_NUL, &error);
    const char *code = json_string_value(json_array_get(ev, 1));
    json_t *text = json_array_get(ev, 2);
    double t = json_number_value(json_array_get(ev, 0));
    int rc = GW_OK;

    if (ev == NULL || code == NULL || !json_is_string(text) || !isfinite(t)) {
        json_decref(ev);
        return GW_OK; /* a damaged line is skipped, the play goes on */
    }
    wait_for_event(p, t);
    if (strcmp(code, "o") == 0 && !stopped(p->stop)) {
        size_t n = json_string_length(text);
        if (fwrite(json_string_value(text), 1, n, p->out) != n ||
            fflush(p->out) != 0) {
            p->write_errno = errno;
            rc = gw_err_set(GW_ERR_IO, "cannot write the output: %s",
                            strerror(p->write_errno));
        }
    }
    json_decref(ev);
    return rc;
}

int admin_player_chunk(struct admin_player *p, const char *data, size_t len)
{
    const char *end = data + len;
    int rc = GW_OK;

    /* The recorder stores whole lines in every chunk. */
    while (data < end && rc == GW_OK && !stopped(p->stop)) {
        const char *nl = memchr(data, '\n', (size_t)(end - data));
        const char *line_end = nl != NULL ? nl : end;
        rc = play_line(p, data, (size_t)(line_end - data));
        data = line_end + 1;
    }
    return rc;
}

int admin_player_speed(const char *text, double *speed)
{
    char *end = NULL;
    double v;

    *speed = 1.0;
    if (text == NULL) {
        return GW_OK;
    }
    v = strtod(text, &end);
    if (end == text || *end != '\0' || !(v >= 0.01) || v > 1000) {
        return gw_err_set(GW_ERR_INVALID,
                          "--speed must be a number from 0.01 to 1000, "
                          "not '%s'",
                          text);
    }
    *speed = v;
    return GW_OK;
}
