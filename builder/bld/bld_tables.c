/*
 * The --tables source of typeahead-build (SPEC §5, §10; declared in bld.h): week tables of
 * typeahead-aggregate (docs/TABLES.md) in, (display spelling, decayed count) pairs of the global
 * total or of one market out into the accumulator; and the list of markets in the window.
 * Tables are streamed (tbl_reader_next), so memory is the accumulator's alone.
 */
#include "bld_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Called for each row of the window: the market (mlen 0: global), the spelling, the count and
 * its week's decay factor. Returns 0, or an error that stops the walk (with diag set). */
typedef int (*row_fn)(void *ctx, const char *m, size_t mlen, const char *s, size_t len,
                      uint64_t count, double factor, const char *path, ta_diag_t *diag);

/* Every row of the tables of DIR in the window of o, in table order. */
static int walk_window(const char *dir, bld_tables_opts_t *o, row_fn row, void *ctx,
                       ta_diag_t *diag) {
  ta_diag_init(diag, NULL);
  o->tables = o->rows = o->rows_skipped = o->events = 0;
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
  } else { /* the newest week not after the clock's: a future table is a wrong timestamp */
    int64_t w;
    size_t future;
    tbl_newest_until_now(paths, n, 0, &w, &future);
    now = (tbl_week_t)w;
    o->future_tables = future;
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
    const char *key, *m, *s;
    size_t len, mlen, slen;
    uint64_t count;
    while (rc == 0 && (rc = tbl_reader_next(t, &key, &len, &count)) == 1) {
      tbl_key_split(key, len, &m, &mlen, &s, &slen); /* the reader made the key: it splits */
      rc = row(ctx, m, mlen, s, slen, count, factor, paths[i], diag);
    }
    if (rc < 0 && diag->code == 0) ta_diag_set(diag, rc, "%s", tbl_reader_errmsg(t));
    tbl_reader_close(t);
    if (rc == 0) o->tables++;
  }
  tbl_paths_free(paths, n);
  return rc < 0 ? rc : 0;
}

typedef struct {
  bld_acc_t *acc;
  bld_tables_opts_t *o;
  size_t market_len;
} read_ctx_t;

/* bld_read_tables: the rows of the chosen market (or of the global total) into the acc. */
static int add_row(void *ctx, const char *m, size_t mlen, const char *s, size_t len, uint64_t count,
                   double factor, const char *path, ta_diag_t *diag) {
  read_ctx_t *c = ctx;
  if (mlen != c->market_len || (mlen && memcmp(m, c->o->market, mlen) != 0)) return 0;
  if (c->o->keep && !c->o->keep(c->o->keep_ctx, s, len)) return 0;
  int rc = bld_acc_add(c->acc, s, len, (double)count, (double)count * factor);
  if (rc == TA_EEMPTY || rc == TA_ETOOLONG) {
    c->o->rows_skipped++;
    rc = 0;
  } else if (rc == 0) {
    c->o->rows++;
  } else {
    return ta_diag_set(diag, rc, "%s: adding '%.*s': %s", path, (int)len, s, ta_strerror(rc));
  }
  c->o->events += count;
  return 0;
}

int bld_read_tables(bld_acc_t *acc, const char *dir, bld_tables_opts_t *o, ta_diag_t *diag) {
  read_ctx_t c = {acc, o, o->market ? strlen(o->market) : 0};
  if (c.market_len && !ta_market_valid(o->market, c.market_len)) {
    ta_diag_init(diag, NULL);
    return ta_diag_set(diag, TA_EPARSE, "market '%s' is not [a-z0-9_-]{1,%d}", o->market,
                       TA_MAX_MARKET);
  }
  return walk_window(dir, o, add_row, &c, diag);
}

/* bld_list_markets: a market row's count into its market's events. */
static int count_row(void *ctx, const char *m, size_t mlen, const char *s, size_t len,
                     uint64_t count, double factor, const char *path, ta_diag_t *diag) {
  (void)s, (void)len, (void)factor;
  int rc = mlen ? tbl_markets_add(ctx, m, mlen, count) : 0;
  if (rc) return ta_diag_set(diag, rc, "%s: market %.*s: %s", path, (int)mlen, m, ta_strerror(rc));
  return 0;
}

int bld_list_markets(const char *dir, bld_tables_opts_t *o, tbl_markets_t *out, ta_diag_t *diag) {
  *out = (tbl_markets_t){NULL, 0, 0};
  return walk_window(dir, o, count_row, out, diag);
}
