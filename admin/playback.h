/*
 * Playing asciicast v2 event lines on a terminal with their timing: what
 * `session replay` and `session watch` share. A chunk of the recordings
 * table holds whole event lines ("[t, "o", "text"]\n"); the player
 * decodes each, waits until its time and writes the output ("o") events.
 * Input ("i") and resize ("r") events are not shown, as asciinema does.
 */
#ifndef SSHGATE_ADMIN_PLAYBACK_H
#define SSHGATE_ADMIN_PLAYBACK_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Never sit longer than this on one pause (as asciinema -i). */
#define ADMIN_PLAY_IDLE_MAX_S 2.0

struct admin_player {
    FILE *out;
    double speed;
    /* Events are due relative to the one played last: anchor_t (its time
     * in the recording) was played at anchor_wall (monotonic seconds).
     * Time spent elsewhere (a watcher's polls) counts toward the next
     * wait, so a follower never falls further behind than the recorder's
     * own flush delay. Unanchored, the next event plays at once. */
    bool anchored;
    double anchor_t;
    double anchor_wall;
    bool no_wait; /* write events at once (a watcher's context) */
    /* Set (by a signal handler) to stop: waits end early and the player
     * writes nothing more. NULL: never. */
    volatile sig_atomic_t *stop;
    int write_errno; /* of the write that failed (EPIPE: reader gone) */
};

/* A player writing to out at speed (1.0 is real time). The first event
 * plays at its own time from now (a replay from the start); call
 * admin_player_unanchor for one that plays its first event at once. */
void admin_player_init(struct admin_player *p, FILE *out, double speed);
void admin_player_unanchor(struct admin_player *p);

/* Play the event lines of one chunk. A damaged line is skipped. GW_OK,
 * or GW_ERR_IO when out cannot be written (the message says so, and
 * p->write_errno is EPIPE for a reader that went away). */
int admin_player_chunk(struct admin_player *p, const char *data, size_t len);

/* Sleep seconds on the monotonic clock, ending early when *stop is set
 * (stop may be NULL). */
void admin_player_sleep(double seconds, volatile sig_atomic_t *stop);

/* --speed's value: text (NULL for 1.0) as a number from 0.01 to 1000. */
int admin_player_speed(const char *text, double *speed);

#endif
