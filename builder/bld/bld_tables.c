/*
 * The --tables source of typeahead-build (SPEC §5; declared in bld.h): week tables of
 * typeahead-aggregate (docs/TABLES.md) in, (display spelling, decayed count) pairs out into the
 * accumulator. Tables are streamed (tbl_reader_next), so memory is the accumulator's alone.
 */
#include "bld_int.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

int bld_read_tables(bld_acc_t *acc, const char *dir, bld_tables_opts_t *o, ta_diag_t *diag) {
  ta_diag_init(diag, NULL);
  o->tables = o->rows = o->rows_skipped = 0;
  if (o->weeks < 1 || !(o->half_life > 0)) {
    return ta_diag_set(diag, TA_EINVAL, "--weeks must be >= 1 and --half-life > 0");
  }
  char **paths;
  size_t n;
  int rc = tbl_list(dir, &paths, &n);
  if (rc) {
    return ta_diag_set(diag, rc, "%s: cannot list week tables: %s", dir, ta_strerror(rc));
  }
  if (n == 0) {
    tbl_paths_free(paths, n);
    return ta_diag_set(diag, TA_EEMPTY, "%s: no week tables (run typeahead-aggregate first)", dir);
  }
  tbl_week_t now;
  if (o->now) {
    if (tbl_week_parse(o->now, strlen(o->now), &now) != 0) {
      tbl_paths_free(paths, n);
      return ta_diag_set(diag, TA_EPARSE, "--now '%s' is not YYYY-MM-DD or YYYY-Www", o->now);
    }
  } else {
    /* Names are YYYY-Www.msgpack, so the last path is the newest week. */
    const char *base = strrchr(paths[n - 1], '/');
    base = base ? base + 1 : paths[n - 1];
    if (tbl_week_parse(base, 8, &now) != 0) now = 0;
  }
  o->now_week = now;
  for (size_t i = 0; i < n && rc == 0; i++) {
    const char *base = strrchr(paths[i], '/');
    base = base ? base + 1 : paths[i];
    tbl_week_t w;
    if (tbl_week_parse(base, 8, &w) != 0) continue;
    int64_t age = (int64_t)now - w;
    if (age < 0 || age >= (int64_t)o->weeks) continue;
    double factor = isinf(o->half_life) ? 1.0 : pow(0.5, (double)age / o->half_life);
    tbl_reader_t *t;
    rc = tbl_reader_open(paths[i], &t);
    const char *s;
    size_t len;
    uint64_t count;
    while (rc == 0 && (rc = tbl_reader_next(t, &s, &len, &count)) == 1) {
      rc = bld_acc_add(acc, s, len, (double)count, (double)count * factor);
      if (rc == TA_EEMPTY || rc == TA_ETOOLONG) {
        o->rows_skipped++;
        rc = 0;
      } else if (rc == 0) {
        o->rows++;
      } else {
        ta_diag_set(diag, rc, "%s: adding '%.*s': %s", paths[i], (int)len, s, ta_strerror(rc));
      }
    }
    if (rc < 0 && diag->code == 0) ta_diag_set(diag, rc, "%s", tbl_reader_errmsg(t));
    tbl_reader_close(t);
    if (rc == 0) o->tables++;
  }
  tbl_paths_free(paths, n);
  return rc < 0 ? rc : 0;
}
