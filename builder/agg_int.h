/*
 * typeahead: the aggregator's internals (builder/agg*.c). Not a public interface.
 *
 * Data flow of one run (agg_run.c):
 *
 *   input bytes --agg_input--> lines --agg__parse_line--> (week, display spelling)
 *        --agg__counter_add--> in-memory hash table --(over budget)--> sorted run files
 *        --agg__counter_finish--> one sorted stream of (week, spelling, count)
 *        --merge with DIR's old table of that week--> DIR/.txn.tmp/<week>.msgpack
 *        --rename .txn.tmp to .txn (the commit point)--> roll forward into DIR
 */
#ifndef TYPEAHEAD_AGG_INT_H
#define TYPEAHEAD_AGG_INT_H

#include "agg.h"

#include <stdarg.h>
#include <stdbool.h>

/* 9999-12-31T23:59:59Z */
#define AGG__MAX_UNIX INT64_C(253402300799)

int64_t agg__days_from_civil(int64_t y, int m, int d);
void agg__civil_from_days(int64_t z, int64_t *y, int *m, int *d);

/* printf into err[0..cap) when err is not NULL; returns code (so callers can return it). */
int agg__fail(char *err, size_t cap, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* 64-bit hash of s[0..len) seeded with seed: fast, not cryptographic. */
uint64_t agg__hash(const void *s, size_t len, uint64_t seed);

/* ---- Line parser (agg_parse.c) ------------------------------------------------------------ */

typedef struct agg__dedup agg__dedup_t;

typedef struct {
  agg_format_t format;
  uint64_t sample;
  agg__dedup_t *dedup;         /* AOL only: (AnonID, Query, QueryTime) seen for this AnonID */
  char display[AGG_MAX_QUERY + 1];
} agg__parser_t;

enum { AGG__LINE_EVENT = 0, AGG__LINE_SKIP = 1, AGG__LINE_DUP = 2, AGG__LINE_SAMPLED = 3,
       AGG__LINE_BAD = 4 };

int agg__parser_init(agg__parser_t *p, agg_format_t format, uint64_t sample);
void agg__parser_reset(agg__parser_t *p); /* at the start of each input */
void agg__parser_free(agg__parser_t *p);

/* Parses one line (no newline; a trailing CR is dropped). Returns AGG__LINE_EVENT with *week and
 * the display spelling in p->display[0..*len), AGG__LINE_SKIP (header or blank line),
 * AGG__LINE_DUP, AGG__LINE_SAMPLED, or AGG__LINE_BAD with *reason; or a negative error. */
int agg__parse_line(agg__parser_t *p, const char *line, size_t n, agg_week_t *week,
                    size_t *len, agg_bad_t *reason);

/* ---- Counting with bounded memory (agg_count.c) ------------------------------------------- */

typedef struct agg__counter agg__counter_t;

/* budget: bytes the table may hold before it spills a sorted run into spill_dir. */
int agg__counter_new(uint64_t budget, const char *spill_dir, agg__counter_t **out);
int agg__counter_add(agg__counter_t *c, agg_week_t w, const char *s, size_t len, uint64_t n);
/* The same add in steps, so a caller with a batch can prefetch: hash every pair, prefetch its
 * slot (deep = 0), then its entry (deep = 1), then add them. */
uint64_t agg__counter_hash(const agg__counter_t *c, agg_week_t w, const char *s, size_t len);
void agg__counter_prefetch(const agg__counter_t *c, uint64_t h, int deep);
int agg__counter_add_hashed(agg__counter_t *c, agg_week_t w, const char *s, size_t len,
                            uint64_t n, uint64_t h);
uint64_t agg__counter_spills(const agg__counter_t *c);
/* Ends adding: from now on agg__counter_next yields every (week, spelling) once with its total
 * count, ascending by week then spelling bytes, whether or not runs were spilled. */
int agg__counter_finish(agg__counter_t *c);
int agg__counter_next(agg__counter_t *c, agg_week_t *w, const char **s, size_t *len,
                      uint64_t *count);
void agg__counter_free(agg__counter_t *c);

/* ---- Table writer (agg_table.c) ----------------------------------------------------------- */

typedef struct agg__writer agg__writer_t;

/* Creates path (O_EXCL) and writes the header of week w's table. */
int agg__writer_open(const char *path, agg_week_t w, agg__writer_t **out);
/* Rows must come in strictly ascending byte order; count >= 1. */
int agg__writer_add(agg__writer_t *wr, const char *s, size_t len, uint64_t count);
/* Writes the trailer, fsyncs and closes; frees wr (also on error). */
int agg__writer_close(agg__writer_t *wr);
/* Closes and removes the file; NULL is a no-op. */
void agg__writer_abort(agg__writer_t *wr);

/* Subdirectories of a tables directory. */
#define AGG__TXN ".txn"          /* a committed run being rolled forward */
#define AGG__TXN_TMP ".txn.tmp"  /* the run being written: thrown away if found at start */
#define AGG__WORK ".work"        /* spilled runs and spooled stdin: thrown away at start */
#define AGG__LEDGER "ledger"
#define AGG__LOCK ".lock"

/* fsync a directory by path. */
int agg__fsync_dir(const char *path);

#endif /* TYPEAHEAD_AGG_INT_H */
