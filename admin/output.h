/*
 * Output of sshgate-admin: aligned tables and "label: value" lines for
 * people, one JSON document for scripts.
 *
 * Text that came from the database or from a client (key comments, event
 * details) is printed with control characters replaced by '?', so a stored
 * value cannot move the operator's cursor or forge output lines.
 */
#ifndef SSHGATE_ADMIN_OUTPUT_H
#define SSHGATE_ADMIN_OUTPUT_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

#define OUT_COLS_MAX 8

struct out_table;

/* A table with ncols (<= OUT_COLS_MAX) columns titled by headers, which
 * must outlive the table. GW_OK or GW_ERR_NOMEM. */
int out_table_new(const char *const *headers, size_t ncols,
                  struct out_table **out);

/* Append a row of ncols cells (copied); NULL or "" shows as "-". */
int out_table_add(struct out_table *t, const char *const *cells);

/* The same with the ncols cells as arguments (all const char *). */
int out_table_row(struct out_table *t, ...);

/* Print the header and the rows, columns padded to the widest cell, every
 * line prefixed with indent. */
void out_table_print(const struct out_table *t, FILE *f, const char *indent);

void out_table_free(struct out_table *t);

/* "label:" padded to a fixed width, then value ("-" for NULL or ""). */
void out_field(FILE *f, const char *label, const char *value);

/* Write s with control characters replaced by '?'. */
void out_text(FILE *f, const char *s);

/* The same for multi-line text: newlines are kept. */
void out_block(FILE *f, const char *s);

/* A JSON string (new reference). NULL gives null; bytes that are not
 * valid UTF-8 become '?'. NULL only when out of memory. */
json_t *out_jstr(const char *s);
/* The same, but "" also gives null (for optional values). */
json_t *out_jstr_opt(const char *s);

/* Set obj[key] = value, stealing value. GW_OK or GW_ERR_NOMEM (also when
 * value is NULL, i.e. its construction failed). */
int out_json_set(json_t *obj, const char *key, json_t *value);
/* Append value to arr, stealing it. GW_OK or GW_ERR_NOMEM. */
int out_json_append(json_t *arr, json_t *value);

/* Print {"ok": true, <fields>}: the JSON answer of a change. Steals
 * fields; NULL fields (failed construction) gives GW_ERR_NOMEM. */
int out_json_ok(FILE *f, json_t *fields);

/* Print doc (borrowed) indented by 2, keys in insertion order, and a
 * final newline. GW_OK or GW_ERR_IO. */
int out_json(FILE *f, const json_t *doc);

#endif
