/*
 * typeahead-build --trending (SPEC §13; the score and its reasons in docs/TRENDING.md): the
 * hour tables of typeahead-aggregate --hours (docs/TABLES.md "Hour tables") against the week
 * tables, into the accumulator as (display spelling, burst score) pairs of the queries that
 * trend, at most max_keys of them. bld_trend_score is the one burst score: the trending bench
 * calls it too.
 */
#include "bld_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void bld_trend_rule_default(bld_trend_rule_t *r) {
  r->window_hours = BLD_TREND_WINDOW_HOURS;
  r->half_life = BLD_TREND_HALF_LIFE;
  r->min_events = BLD_TREND_MIN_EVENTS;
  r->min_ratio = BLD_TREND_MIN_RATIO;
}

double bld_trend_hour_weight(const bld_trend_rule_t *r, int64_t age) {
  if (age < 0 || age >= (int64_t)r->window_hours) return 0.0;
  return pow(0.5, (double)age / r->half_life);
}

double bld_trend_score(const bld_trend_rule_t *r, double recent, double raw, double base_per_hour) {
  if (raw < r->min_events) return 0.0;
  /* What the weekly rate predicts for the window, weighted like the recent counts. */
  double span = 0;
  for (unsigned a = 0; a < r->window_hours; a++) span += bld_trend_hour_weight(r, a);
  double expected = base_per_hour * span;
  if (recent < r->min_ratio * expected) return 0.0;
  double s = floor((recent - expected) * BLD_TREND_SCALE + 0.5);
  return s > 0 ? s : 0.0;
}

static int cand_cmp(const void *x, const void *y) {
  const bld_trend_cand_t *a = x, *b = y;
  if (a->score != b->score) return a->score > b->score ? -1 : 1;
  return (a->id > b->id) - (a->id < b->id);
}

size_t bld_trend_keep(bld_trend_cand_t *c, size_t n, uint32_t max_keys) {
  if (n > 1) qsort(c, n, sizeof *c, cand_cmp);
  return n < max_keys ? n : max_keys;
}

/* The window's hour tables into recent (weight: the hour's decay). */
static int read_hours(bld_acc_t *recent, const char *dir, bld_trending_opts_t *o, ta_diag_t *diag) {
  char **paths;
  size_t n;
  int rc = tbl_hour_list(dir, &paths, &n);
  if (rc) return ta_diag_set(diag, rc, "%s: cannot list hour tables: %s", dir, ta_strerror(rc));
  if (n == 0) {
    tbl_paths_free(paths, n);
    return ta_diag_set(diag, TA_EEMPTY,
                       "%s: no hour tables (run typeahead-aggregate --hours first)", dir);
  }
  int64_t h;
  const char *base;
  if (!o->now) { /* the newest hour not after the clock's: a future table is a wrong timestamp */
    tbl_newest_until_now(paths, n, 1, &o->now_hour, &o->future_tables);
  } else {
    int64_t t;
    if (tbl_parse_time(o->now, strlen(o->now), &t) != 0) {
      tbl_paths_free(paths, n);
      return ta_diag_set(diag, TA_EPARSE,
                         "--now '%s' is not a time: unix seconds or ISO-8601 UTC "
                         "(2006-05-08T14:00:00Z), as in tsv logs",
                         o->now);
    }
    o->now_hour = tbl_hour_of_unix(t);
  }
  size_t mlen = o->market ? strlen(o->market) : 0;
  for (size_t i = 0; i < n && rc == 0; i++) {
    base = strrchr(paths[i], '/') + 1;
    tbl_hour_parse(base, 13, &h);
    double wt = bld_trend_hour_weight(&o->rule, o->now_hour - h);
    if (wt <= 0) continue;
    tbl_reader_t *t;
    rc = tbl_reader_open(paths[i], &t);
    if (rc == 0 && tbl_reader_week(t) != tbl_week_of_unix(h * 3600)) {
      char wk[TBL_WEEK_STR];
      tbl_week_name(tbl_reader_week(t), wk);
      rc = ta_diag_set(diag, TA_ECORRUPT, "%s: holds week %s, not the week of its hour", paths[i],
                       wk);
    }
    const char *key, *m, *s;
    size_t len, ml, slen;
    uint64_t count;
    while (rc == 0 && (rc = tbl_reader_next(t, &key, &len, &count)) == 1) {
      tbl_key_split(key, len, &m, &ml, &s, &slen); /* the reader made the key: it splits */
      if (ml != mlen || (ml && memcmp(m, o->market, ml) != 0)) {
        rc = 0;
        continue;
      }
      rc = bld_acc_add(recent, s, slen, (double)count, (double)count * wt);
      if (rc == TA_EEMPTY || rc == TA_ETOOLONG) rc = 0; /* odd spellings: skipped */
      if (rc < 0)
        ta_diag_set(diag, rc, "%s: adding '%.*s': %s", paths[i], (int)slen, s, ta_strerror(rc));
    }
    if (rc < 0 && diag->code == 0) ta_diag_set(diag, rc, "%s", tbl_reader_errmsg(t));
    tbl_reader_close(t);
    if (rc == 0) o->hour_tables++;
  }
  tbl_paths_free(paths, n);
  return rc < 0 ? rc : 0;
}

/* The weekly baseline: the last base_weeks weeks before the window's first hour, plain counts
 * into base; *weeks gets how many weeks they span (from the oldest table on). */
static int read_baseline(bld_acc_t *base, const char *dir, bld_trending_opts_t *o, double *weeks,
                         ta_diag_t *diag) {
  *weeks = 0;
  tbl_week_t last = tbl_week_of_unix((o->now_hour - (int64_t)o->rule.window_hours + 1) * 3600) - 1;
  char **paths;
  size_t n;
  int rc = tbl_list(dir, &paths, &n);
  if (rc) return ta_diag_set(diag, rc, "%s: cannot list week tables: %s", dir, ta_strerror(rc));
  tbl_week_t oldest = last + 1;
  if (n > 0) tbl_week_parse(strrchr(paths[0], '/') + 1, 8, &oldest);
  tbl_paths_free(paths, n);
  tbl_week_t first = last - (tbl_week_t)o->base_weeks + 1;
  if (oldest > first) first = oldest;
  if (first > last) return 0; /* no history: every query is new */
  char now[TBL_WEEK_STR];
  tbl_week_name(last, now);
  bld_tables_opts_t to = {.weeks = (unsigned)(last - first + 1),
                          .half_life = INFINITY,
                          .now = now,
                          .market = o->market};
  rc = bld_read_tables(base, dir, &to, diag);
  if (rc == TA_EEMPTY) rc = 0;
  *weeks = (double)(last - first + 1);
  return rc;
}

/* bld_tables_opts_t.keep: the rows of a key that trends (ctx: an acc of those keys). */
static int is_kept_key(void *ctx, const char *s, size_t len) {
  double score;
  const char *d;
  size_t dl;
  return bld_acc_get(ctx, s, len, &score, &d, &dl) == 0;
}

/* The display forms of the keys of c[0..n) (ids in recent) as the main trie chooses them: the
 * weekly build's window (base_weeks weeks up to the week of now_hour, the newest included,
 * decayed by half_life), into disp. The server mixes the two tries by display form: the
 * baseline's weeks, which leave the rise's week out, gave a key rising under a new spelling
 * its old one, shown beside the main trie's. Only those keys' rows are kept. */
static int read_displays(bld_acc_t *disp, const bld_acc_t *recent, const bld_trend_cand_t *c,
                         size_t n, const char *dir, bld_trending_opts_t *o, ta_diag_t *diag) {
  bld_acc_t *keys = NULL;
  int rc = bld_acc_new(&keys);
  for (size_t i = 0; i < n && rc == 0; i++) {
    const bld__key_t *k = &recent->keys[c[i].id];
    rc = bld_acc_add(keys, recent->arena + k->off, k->len, 1, 1);
  }
  if (rc) {
    bld_acc_free(keys);
    return ta_diag_set(diag, rc, "trending: %s", ta_strerror(rc));
  }
  char now[TBL_WEEK_STR];
  tbl_week_name(tbl_week_of_unix(o->now_hour * 3600), now);
  bld_tables_opts_t to = {.weeks = o->base_weeks,
                          .half_life = o->half_life,
                          .now = now,
                          .market = o->market,
                          .keep = is_kept_key,
                          .keep_ctx = keys};
  rc = bld_read_tables(disp, dir, &to, diag);
  bld_acc_free(keys);
  return rc == TA_EEMPTY ? 0 : rc;
}

int bld_read_trending(bld_acc_t *acc, const char *dir, bld_trending_opts_t *o, ta_diag_t *diag) {
  ta_diag_init(diag, NULL);
  o->now_hour = 0;
  o->hour_tables = o->candidates = o->trending = 0;
  if (o->rule.window_hours < 1 || !(o->rule.half_life > 0) || o->base_weeks < 1 ||
      o->max_keys < 1 || !(o->half_life > 0))
    return ta_diag_set(diag, TA_EINVAL, "trending: window, half-lives, weeks and size must be > 0");
  bld_acc_t *recent = NULL, *base = NULL, *disp = NULL;
  bld_trend_cand_t *c = NULL; /* ids: indexes in recent's keys */
  double weeks = 0;
  int rc = bld_acc_new(&recent);
  if (!rc) rc = bld_acc_new(&base);
  if (!rc) rc = bld_acc_new(&disp);
  if (rc) {
    rc = ta_diag_set(diag, rc, "out of memory");
    goto out;
  }
  if ((rc = read_hours(recent, dir, o, diag)) || (rc = read_baseline(base, dir, o, &weeks, diag)))
    goto out;
  if (!(c = malloc((recent->nkeys ? recent->nkeys : 1) * sizeof *c))) {
    rc = ta_diag_set(diag, TA_ENOMEM, "out of memory");
    goto out;
  }
  size_t nc = 0;
  for (size_t i = 0; i < recent->nkeys; i++) {
    const bld__key_t *k = &recent->keys[i];
    double weekly = 0;
    const char *d;
    size_t dl;
    if (bld_acc_get(base, recent->arena + k->off, k->len, &weekly, &d, &dl) != 0) weekly = 0;
    double s =
        bld_trend_score(&o->rule, k->score, k->count, weeks > 0 ? weekly / (weeks * 168) : 0);
    if (s > 0) c[nc++] = (bld_trend_cand_t){(uint32_t)i, s};
  }
  o->candidates = nc;
  nc = bld_trend_keep(c, nc, o->max_keys);
  if ((rc = read_displays(disp, recent, c, nc, dir, o, diag))) goto out;
  for (size_t i = 0; i < nc && !rc; i++) {
    const bld__key_t *k = &recent->keys[c[i].id];
    /* The display form of the main trie when the weeks know the key, else the window's. */
    const char *d;
    size_t dl;
    double w;
    if (bld_acc_get(disp, recent->arena + k->off, k->len, &w, &d, &dl) != 0) {
      uint64_t off;
      uint32_t len;
      bld__display_of(recent, k, &off, &len);
      d = recent->arena + off;
      dl = len;
    }
    rc = bld_acc_add(acc, d, dl, k->count, c[i].score);
    if (rc) ta_diag_set(diag, rc, "adding a trending query: %s", ta_strerror(rc));
  }
  o->trending = nc;
out:
  free(c);
  bld_acc_free(recent);
  bld_acc_free(base);
  bld_acc_free(disp);
  return rc;
}
