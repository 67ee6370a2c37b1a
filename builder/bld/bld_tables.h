/*
 * typeahead: the weekly-tables source of typeahead-build (--tables DIR; SPEC §5, issue 3 item 7).
 *
 * Reads the week tables written by typeahead-aggregate (docs/TABLES.md) and adds every
 * (display spelling, decayed count) of the last `weeks` weeks into a bld_acc_t, so ranking and
 * display forms are the builder's, shared with --freq:
 *
 *   weight = count * 0.5^(age / half_life),  age = now_week - table_week, in 0 .. weeks-1
 *
 * Tables newer than now (age < 0) and older than the window are not read.
 */
#ifndef TYPEAHEAD_BLD_TABLES_H
#define TYPEAHEAD_BLD_TABLES_H

#include "agg.h"
#include "bld.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  unsigned weeks;        /* window length in weeks, >= 1 */
  double half_life;      /* in weeks, > 0; INFINITY means no decay (a plain sum) */
  const char *now;       /* "YYYY-MM-DD" or "YYYY-Www"; NULL: the newest table's week */
  uint64_t tables;       /* out: tables read */
  uint64_t rows;         /* out: (spelling, count) rows added */
  uint64_t rows_skipped; /* out: spellings whose key is empty or too long */
  agg_week_t now_week;   /* out: the week ages are counted from */
} bld_tables_opts_t;

/* Adds DIR's tables into acc. TA_EEMPTY when DIR holds no table; a bad table, a bad --now or
 * an unreadable DIR give their error code and a one-line reason in diag. */
int bld_read_tables(bld_acc_t *acc, const char *dir, bld_tables_opts_t *opts, bld_diag_t *diag);

#ifdef __cplusplus
}
#endif
#endif /* TYPEAHEAD_BLD_TABLES_H */
