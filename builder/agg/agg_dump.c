/*
 * typeahead-aggregate --dump and --markets (agg.h; docs/TABLES.md): the tables of a directory,
 * or one table file, read back through the tables module: one market's rows (or the global
 * total's) as "week_start<TAB>spelling<TAB>count" lines, or the markets with their events.
 */
#include "agg_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* A market and its events over the tables read so far (--markets). */
typedef struct {
  char name[TBL_MAX_MARKET];
  size_t len;
  uint64_t events;
} mkt_t;

typedef struct {
  const char *market; /* --dump: the market printed; NULL for the global total */
  size_t market_len;
  int listing; /* --markets: sum the events of each market instead */
  mkt_t *mkts; /* sorted by name */
  size_t n, cap;
} dump_t;

/* Adds count to market m's events (kept sorted by name: tables list markets in that order, so
 * a new name usually goes last). */
static int add_market(dump_t *d, const char *m, size_t mlen, uint64_t count) {
  size_t lo = 0, hi = d->n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    int c = ta_bytes_cmp(d->mkts[mid].name, d->mkts[mid].len, m, mlen);
    if (c == 0) {
      if (d->mkts[mid].events > UINT64_MAX - count) return TA_ERANGE;
      d->mkts[mid].events += count;
      return 0;
    }
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  int rc = ta_grow((void **)&d->mkts, &d->cap, d->n + 1, sizeof *d->mkts, 16);
  if (rc) return rc;
  memmove(d->mkts + lo + 1, d->mkts + lo, (d->n - lo) * sizeof *d->mkts);
  memcpy(d->mkts[lo].name, m, mlen);
  d->mkts[lo].len = mlen;
  d->mkts[lo].events = count;
  d->n++;
  return 0;
}

static int dump_one(const char *path, dump_t *d, FILE *out, char *err, size_t err_cap) {
  tbl_reader_t *t;
  int rc = tbl_reader_open(path, &t);
  if (rc == 0) {
    char date[TBL_WEEK_STR];
    tbl_week_date(tbl_reader_week(t), date);
    const char *key, *m, *s;
    size_t len, mlen, slen;
    uint64_t count;
    while ((rc = tbl_reader_next(t, &key, &len, &count)) == 1) {
      tbl_key_split(key, len, &m, &mlen, &s, &slen); /* the reader made the key: it splits */
      if (d->listing) {
        if (mlen && (rc = add_market(d, m, mlen, count))) break;
      } else if (mlen == d->market_len && memcmp(m, d->market, mlen) == 0) {
        fprintf(out, "%s\t%.*s\t%llu\n", date, (int)slen, s, (unsigned long long)count);
      }
    }
  }
  if (rc == TA_ERANGE || rc == TA_ENOMEM)
    agg__fail(err, err_cap, rc, "%s: %s", path, ta_strerror(rc));
  else if (rc < 0)
    agg__fail(err, err_cap, rc, "%s", tbl_reader_errmsg(t));
  tbl_reader_close(t);
  if (rc == 0 && ferror(out)) return agg__fail(err, err_cap, TA_EIO, "write error on output");
  return rc < 0 ? rc : 0;
}

static int dump_path(const char *path, dump_t *d, FILE *out, char *err, size_t err_cap) {
  struct stat st;
  if (stat(path, &st) != 0)
    return agg__fail(err, err_cap, ta_error_from_errno(errno), "%s: %s", path, strerror(errno));
  if (!S_ISDIR(st.st_mode)) return dump_one(path, d, out, err, err_cap);
  char **paths;
  size_t n;
  int rc = tbl_list(path, &paths, &n);
  if (rc) return agg__fail(err, err_cap, rc, "%s: cannot list tables: %s", path, ta_strerror(rc));
  for (size_t i = 0; i < n && rc == 0; i++) rc = dump_one(paths[i], d, out, err, err_cap);
  tbl_paths_free(paths, n);
  return rc;
}

int agg_dump(const char *path, const char *market, FILE *out, char *err, size_t err_cap) {
  dump_t d = {market, market ? strlen(market) : 0, 0, NULL, 0, 0};
  if (market && !tbl_market_valid(market, d.market_len))
    return agg__fail(err, err_cap, TA_EINVAL, "market '%s' is not [a-z0-9_-]{1,%d}", market,
                     TBL_MAX_MARKET);
  return dump_path(path, &d, out, err, err_cap);
}

int agg_markets(const char *path, FILE *out, char *err, size_t err_cap) {
  dump_t d = {NULL, 0, 1, NULL, 0, 0};
  int rc = dump_path(path, &d, out, err, err_cap);
  for (size_t i = 0; rc == 0 && i < d.n; i++)
    fprintf(out, "%.*s\t%llu\n", (int)d.mkts[i].len, d.mkts[i].name,
            (unsigned long long)d.mkts[i].events);
  free(d.mkts);
  if (rc == 0 && ferror(out)) return agg__fail(err, err_cap, TA_EIO, "write error on output");
  return rc;
}
