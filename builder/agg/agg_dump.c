/*
 * typeahead-aggregate --dump and --markets (agg.h; docs/TABLES.md): the tables of a directory,
 * or one table file, read back through the tables module: one market's rows (or the global
 * total's) as "week_start<TAB>spelling<TAB>count" lines, or the markets with their events.
 */
#include "agg_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

typedef struct {
  const char *market; /* --dump: the market printed; NULL for the global total */
  size_t market_len;
  int listing; /* --markets: sum the events of each market instead */
  tbl_markets_t mkts;
} dump_t;

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
        if (mlen && (rc = tbl_markets_add(&d->mkts, m, mlen, count))) break;
      } else if (mlen == d->market_len && (!mlen || memcmp(m, d->market, mlen) == 0)) {
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
  dump_t d = {market, market ? strlen(market) : 0, 0, {NULL, 0, 0}};
  if (market && !ta_market_valid(market, d.market_len))
    return agg__fail(err, err_cap, TA_EINVAL, "market '%s' is not [a-z0-9_-]{1,%d}", market,
                     TA_MAX_MARKET);
  return dump_path(path, &d, out, err, err_cap);
}

int agg_markets(const char *path, FILE *out, char *err, size_t err_cap) {
  dump_t d = {NULL, 0, 1, {NULL, 0, 0}};
  int rc = dump_path(path, &d, out, err, err_cap);
  for (size_t i = 0; rc == 0 && i < d.mkts.n; i++)
    fprintf(out, "%s\t%llu\n", d.mkts.v[i].name, (unsigned long long)d.mkts.v[i].events);
  tbl_markets_free(&d.mkts);
  if (rc == 0 && ferror(out)) return agg__fail(err, err_cap, TA_EIO, "write error on output");
  return rc;
}
