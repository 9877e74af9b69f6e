#include "admin/output.h"

#include "core/err.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define FIELD_WIDTH 16 /* "locked until:" and friends line up */

struct out_table {
    const char *const *headers;
    size_t ncols;
    char **cells; /* nrows * ncols, row by row */
    size_t nrows;
    size_t cap; /* rows */
    size_t width[OUT_COLS_MAX];
};

static bool is_control(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

/* Columns a terminal uses for s: UTF-8 continuation bytes take none. */
static size_t display_width(const char *s)
{
    size_t w = 0;

    for (; *s != '\0'; s++) {
        if (((unsigned char)*s & 0xc0) != 0x80) {
            w++;
        }
    }
    return w;
}

static const char *or_dash(const char *s)
{
    return s != NULL && s[0] != '\0' ? s : "-";
}

int out_table_new(const char *const *headers, size_t ncols,
                  struct out_table **out)
{
    struct out_table *t = NULL;

    if (ncols == 0 || ncols > OUT_COLS_MAX) {
        return gw_err_set(GW_ERR_INVALID, "bad table width %zu", ncols);
    }
    t = calloc(1, sizeof(*t));
    if (t == NULL) {
        return GW_ERR_NOMEM;
    }
    t->headers = headers;
    t->ncols = ncols;
    for (size_t c = 0; c < ncols; c++) {
        t->width[c] = display_width(headers[c]);
    }
    *out = t;
    return GW_OK;
}

static int grow_rows(struct out_table *t)
{
    char **grown = NULL;
    size_t ncap;

    if (t->nrows < t->cap) {
        return GW_OK;
    }
    ncap = t->cap == 0 ? 16 : t->cap * 2;
    grown = realloc(t->cells, ncap * t->ncols * sizeof(*grown));
    if (grown == NULL) {
        return GW_ERR_NOMEM;
    }
    t->cells = grown;
    t->cap = ncap;
    return GW_OK;
}

int out_table_add(struct out_table *t, const char *const *cells)
{
    char **row = NULL;
    int rc;

    rc = grow_rows(t);
    if (rc != GW_OK) {
        return rc;
    }
    row = &t->cells[t->nrows * t->ncols];
    for (size_t c = 0; c < t->ncols; c++) {
        row[c] = strdup(or_dash(cells[c]));
        if (row[c] == NULL) {
            for (size_t k = 0; k < c; k++) {
                free(row[k]);
            }
            return GW_ERR_NOMEM;
        }
        if (display_width(row[c]) > t->width[c]) {
            t->width[c] = display_width(row[c]);
        }
    }
    t->nrows++;
    return GW_OK;
}

int out_table_row(struct out_table *t, ...)
{
    const char *cells[OUT_COLS_MAX];
    va_list ap;

    va_start(ap, t);
    for (size_t c = 0; c < t->ncols; c++) {
        cells[c] = va_arg(ap, const char *);
    }
    va_end(ap);
    return out_table_add(t, cells);
}

static void print_line(const struct out_table *t, FILE *f, const char *indent,
                       const char *const *cells)
{
    fputs(indent, f);
    for (size_t c = 0; c < t->ncols; c++) {
        out_text(f, cells[c]);
        /* No padding after the last column: no trailing blanks. */
        if (c + 1 < t->ncols) {
            size_t pad = t->width[c] - display_width(cells[c]) + 2;
            fprintf(f, "%*s", (int)pad, "");
        }
    }
    fputc('\n', f);
}

void out_table_print(const struct out_table *t, FILE *f, const char *indent)
{
    print_line(t, f, indent, t->headers);
    for (size_t r = 0; r < t->nrows; r++) {
        const char *const *row = (const char *const *)&t->cells[r * t->ncols];
        print_line(t, f, indent, row);
    }
}

void out_table_free(struct out_table *t)
{
    if (t == NULL) {
        return;
    }
    for (size_t i = 0; i < t->nrows * t->ncols; i++) {
        free(t->cells[i]);
    }
    free(t->cells);
    free(t);
}

void out_text(FILE *f, const char *s)
{
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        fputc(is_control(c) ? '?' : c, f);
    }
}

void out_block(FILE *f, const char *s)
{
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        fputc(is_control(c) && c != '\n' ? '?' : c, f);
    }
}

void out_field(FILE *f, const char *label, const char *value)
{
    fprintf(f, "%s:%*s", label, (int)(FIELD_WIDTH - strlen(label)), "");
    out_text(f, or_dash(value));
    fputc('\n', f);
}

json_t *out_jstr(const char *s)
{
    json_t *str = NULL;
    char *copy = NULL;

    if (s == NULL) {
        return json_null();
    }
    str = json_string(s);
    if (str != NULL) {
        return str;
    }
    /* Not UTF-8 (json_string refuses it): keep the ASCII, mark the rest. */
    copy = strdup(s);
    if (copy == NULL) {
        return NULL;
    }
    for (char *p = copy; *p != '\0'; p++) {
        if ((unsigned char)*p >= 0x80) {
            *p = '?';
        }
    }
    str = json_string(copy);
    free(copy);
    return str;
}

json_t *out_jstr_opt(const char *s)
{
    return out_jstr(s != NULL && s[0] != '\0' ? s : NULL);
}

int out_json_set(json_t *obj, const char *key, json_t *value)
{
    if (value == NULL) {
        return GW_ERR_NOMEM;
    }
    return json_object_set_new(obj, key, value) == 0 ? GW_OK : GW_ERR_NOMEM;
}

int out_json_append(json_t *arr, json_t *value)
{
    if (value == NULL) {
        return GW_ERR_NOMEM;
    }
    return json_array_append_new(arr, value) == 0 ? GW_OK : GW_ERR_NOMEM;
}

int out_json(FILE *f, const json_t *doc)
{
    if (json_dumpf(doc, f, JSON_INDENT(2)) != 0 || fputc('\n', f) == EOF) {
        return gw_err_set(GW_ERR_IO, "cannot write output");
    }
    return GW_OK;
}

int out_json_ok(FILE *f, json_t *fields)
{
    json_t *doc = NULL;
    int rc = GW_ERR_NOMEM;

    if (fields == NULL) {
        return GW_ERR_NOMEM;
    }
    doc = json_pack("{s:b}", "ok", 1);
    if (doc != NULL && json_object_update(doc, fields) == 0) {
        rc = out_json(f, doc);
    }
    json_decref(doc);
    json_decref(fields);
    return rc;
}
