/*
 * typeahead-build (SPEC §5): frequency lists or weekly tables -> one verified trie file.
 *
 *   typeahead-build (--tables DIR [--weeks 4] [--half-life 4] [--now DATE] [--market M]
 *                    | --freq FILE [--freq FILE]...)
 *                   --out FILE [--k 10] [--min-count 1] [--blocklist FILE]
 *   typeahead-build --tables DIR --all-markets --out-dir DIR2 [--min-market-events 1000] ...
 *
 * Every input source feeds (raw spelling, weight) pairs into one bld_acc_t (bld.h); ranking,
 * display forms, --min-count and the atomic, verified write are shared. To add a source, parse
 * its flags into build_args_t and add it to add_sources(). --all-markets runs the same build
 * (build_one) once for the global total and once per market. Exit status: 0 done, 1 the build
 * failed (bad input line, I/O, verify; --out untouched), 2 usage (the command line: build_args.c).
 */
#include "bld.h"
#include "build_args.h"
#include "flt.h" /* --blocklist (filter layer's part) */

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define GLOBAL_NAME "global" /* --out-dir's file of the global total: global.trie */
#define TRIE_SUFFIX ".trie"

/* ---- Progress on a terminal ---------------------------------------------------------------- */

typedef struct {
  int on;       /* stderr is a terminal */
  double start; /* of the current stage */
  const char *stage;
  int dirty; /* a progress line is on screen */
} progress_t;

static void progress_cb(void *ctx, const char *stage, uint64_t done, uint64_t total) {
  progress_t *p = ctx;
  if (!p->on) return;
  double t = ta_mono_s();
  if (!p->stage || strcmp(p->stage, stage) != 0) {
    p->stage = stage;
    p->start = t;
  }
  double dt = t - p->start;
  if (total)
    fprintf(stderr, "\r\033[K%s: %" PRIu64 " / %" PRIu64 " (%.0f%%)", stage, done, total,
            100.0 * (double)done / (double)total);
  else if (done)
    fprintf(stderr, "\r\033[K%s: %" PRIu64 " lines, %.0f lines/s", stage, done,
            dt > 0 ? (double)done / dt : 0.0);
  else
    fprintf(stderr, "\r\033[K%s...", stage);
  p->dirty = 1;
}

static void progress_clear(progress_t *p) {
  if (p->on && p->dirty) fprintf(stderr, "\r\033[K");
  p->dirty = 0;
}
/* ---- Input sources --------------------------------------------------------------------------- */

/* "FILE: N unusable lines skipped: REASON N (lines a, b, ...), ..." on stderr. */
static void report_skipped(const char *file, const bld_freq_opts_t *fo) {
  fprintf(stderr, "typeahead-build: %s: %" PRIu64 " unusable line%s skipped:", file, fo->bad_total,
          fo->bad_total == 1 ? "" : "s");
  const char *sep = " ";
  for (int r = 0; r < BLD_BAD_N; r++) {
    if (!fo->bad[r]) continue;
    fprintf(stderr, "%s%s %" PRIu64 " (line%s", sep, bld_bad_name((bld_bad_t)r), fo->bad[r],
            fo->bad[r] == 1 ? "" : "s");
    for (uint64_t k = 0; k < fo->bad[r] && k < BLD_BAD_SHOWN; k++)
      fprintf(stderr, "%s%" PRIu64, k ? ", " : " ", fo->bad_line[r][k]);
    fprintf(stderr, "%s)", fo->bad[r] > BLD_BAD_SHOWN ? ", ..." : "");
    sep = "; ";
  }
  fputc('\n', stderr);
}

/* Feeds every input into acc. 0, or exit status 1/2 with the message printed. */
static int add_sources(bld_acc_t *acc, const build_args_t *a, const char *market, progress_t *prog,
                       uint64_t *lines, uint64_t *rows) {
  if (a->trending) { /* --trending: the hour tables against the weeks (bld_trending.c) */
    bld_trending_opts_t to = {.now = a->now,
                              .market = market,
                              .base_weeks = a->weeks,
                              .half_life = a->half_life,
                              .max_keys = a->trending_max};
    bld_trend_rule_default(&to.rule);
    to.rule.min_events = a->trending_floor;
    ta_diag_t diag;
    char where[512], hour[TBL_WEEK_STR];
    int rc = bld_read_trending(acc, a->tables, &to, &diag);
    if (rc < 0) {
      fprintf(stderr, "typeahead-build: %s\n", ta_diag_format(&diag, where, sizeof where));
      return rc == TA_EPARSE ? 2 : 1;
    }
    tbl_hour_name(to.now_hour, hour);
    fprintf(stderr,
            "typeahead-build: %s%s%" PRIu64 " hour tables up to %s, %" PRIu64
            " queries trending, %" PRIu64 " kept (--trending-max %u)\n",
            market ? market : "", market ? ": " : "", to.hour_tables, hour, to.candidates,
            to.trending, a->trending_max);
    *rows += to.trending;
    if (to.future_tables)
      fprintf(stderr,
              "typeahead-build: %zu hour tables after this machine's clock left out (a log's "
              "timestamps in the future?); --now picks the window\n",
              to.future_tables);
    return 0;
  }
  if (a->tables) { /* --tables: the week tables source (bld_tables.c) */
    bld_tables_opts_t to = {
        .weeks = a->weeks, .half_life = a->half_life, .now = a->now, .market = market};
    ta_diag_t diag;
    char where[512];
    int rc = bld_read_tables(acc, a->tables, &to, &diag);
    if (rc < 0) {
      fprintf(stderr, "typeahead-build: %s\n", ta_diag_format(&diag, where, sizeof where));
      return rc == TA_EPARSE ? 2 : 1;
    }
    char wk[TBL_WEEK_STR];
    tbl_week_name(to.now_week, wk);
    if (to.future_tables)
      fprintf(stderr,
              "typeahead-build: %zu week tables after this machine's clock left out (a log's "
              "timestamps in the future?); --now picks the window\n",
              to.future_tables);
    fprintf(stderr,
            "typeahead-build: %s%s%" PRIu64 " week tables up to %s, %" PRIu64 " rows (%" PRIu64
            " skipped: empty or too long key)\n",
            market ? market : "", market ? ": " : "", to.tables, wk, to.rows, to.rows_skipped);
    /* The global total without rows (logs that stopped coming): an empty trie would answer
     * nothing. A market's may be empty: the server fills its answers from global. */
    if (to.rows == 0 && !market) {
      fprintf(stderr,
              "typeahead-build: no rows in the %u weeks up to %s of %s: nothing to build "
              "(--now and --weeks choose the window)\n",
              a->weeks, wk, a->tables);
      return 1;
    }
    *rows += to.rows;
    (void)prog;
    (void)lines;
    return 0;
  }
  for (int i = 0; i < a->nfreq; i++) {
    bld_freq_opts_t fo = {progress_cb, prog, 0, 0, .max_bad_pct = a->max_bad};
    ta_diag_t diag;
    char where[512];
    int rc = bld_read_freq(acc, a->freq[i], &fo, &diag);
    progress_clear(prog);
    if (fo.bad_total) report_skipped(a->freq[i], &fo);
    if (rc < 0) {
      fprintf(stderr, "typeahead-build: %s\n", ta_diag_format(&diag, where, sizeof where));
      return 1;
    }
    *lines += fo.lines;
    *rows += fo.rows;
  }
  return 0;
}

/* bld_write_opts_t.drop for --blocklist: a key any rule matches is left out. */
static int blocklist_drop(void *ctx, const char *key, size_t key_len) {
  return flt_match(ctx, key, key_len, NULL);
}

/* "freq:a.tsv,b.tsv", "tables:DIR" or "tables:DIR market:M", stored in the file's metadata. */
static void describe_source(const build_args_t *a, const char *market, char *buf, size_t cap) {
  size_t n = 0;
  buf[0] = '\0';
  if (a->tables) {
    trie_utf8_put(buf, cap, &n, a->trending ? "trending:" : "tables:");
    trie_utf8_put(buf, cap, &n, a->tables);
    if (market) {
      trie_utf8_put(buf, cap, &n, " market:");
      trie_utf8_put(buf, cap, &n, market);
    }
    return;
  }
  trie_utf8_put(buf, cap, &n, "freq:");
  for (int i = 0; i < a->nfreq; i++) {
    const char *base = strrchr(a->freq[i], '/');
    if (i) trie_utf8_put(buf, cap, &n, ",");
    trie_utf8_put(buf, cap, &n, base ? base + 1 : a->freq[i]);
  }
}

/* One trie: the global total (market NULL) or one market's, into out. 0, or exit status 1/2
 * with the message printed. */
static int build_one(const build_args_t *a, const char *market, const char *out,
                     flt_ruleset_t *rules, progress_t *prog) {
  double t0 = ta_mono_s();
  bld_acc_t *acc = NULL;
  if (bld_acc_new(&acc) < 0) {
    fprintf(stderr, "typeahead-build: out of memory\n");
    return 1;
  }
  uint64_t lines = 0, rows = 0;
  int st = add_sources(acc, a, market, prog, &lines, &rows);
  if (st) {
    bld_acc_free(acc);
    return st;
  }
  bld_acc_stats_t stats;
  bld_acc_stats(acc, &stats);
  char source[1024];
  describe_source(a, market, source, sizeof source);
  bld_write_opts_t wo = {
      a->k,  a->min_count, ta_unix_s(), source, progress_cb, prog, rules ? blocklist_drop : NULL,
      rules, market};
  bld_summary_t sum;
  ta_diag_t diag;
  char where[512];
  uint64_t shard_keys[TRIE_MAX_SHARDS] = {0};
  if (a->shards && mkdir(out, 0755) != 0 && errno != EEXIST) {
    fprintf(stderr, "typeahead-build: --out-dir %s: %s\n", out, strerror(errno));
    bld_acc_free(acc);
    return 1;
  }
  trie_shard_map_t *fixed = NULL;
  if (a->shard_map && trie_shard_load(a->shard_map, &fixed, &diag) != 0) {
    fprintf(stderr, "typeahead-build: --shard-map %s\n",
            ta_diag_format(&diag, where, sizeof where));
    bld_acc_free(acc);
    return 1;
  }
  if (fixed && trie_shard_count(fixed) != a->shards) {
    fprintf(stderr, "typeahead-build: --shard-map %s has %u shards, not --shards %u\n",
            a->shard_map, trie_shard_count(fixed), a->shards);
    trie_shard_free(fixed);
    bld_acc_free(acc);
    return 2;
  }
  int rc = a->shards ? bld_write_shards(acc, out, a->shards, fixed, &wo, &sum, shard_keys, &diag)
                     : bld_write(acc, out, &wo, &sum, &diag);
  trie_shard_free(fixed);
  progress_clear(prog);
  bld_acc_free(acc);
  if (rc < 0) {
    fprintf(stderr, "typeahead-build: %s (%s left as it was)\n",
            ta_diag_format(&diag, where, sizeof where), out);
    return 1;
  }
  char blocked[64] = "";
  if (rules)
    snprintf(blocked, sizeof blocked, ", %" PRIu64 " blocked by --blocklist", sum.keys_dropped);
  fprintf(stderr,
          "typeahead-build: %" PRIu64 " lines, %" PRIu64 " queries, %" PRIu64 " keys (%" PRIu64
          " written, %" PRIu64 " below --min-count%s), %" PRIu64 " bytes -> %s in %.2f s\n",
          lines, rows, stats.keys, sum.keys_written, sum.keys_below_min, blocked, sum.file_size,
          out, ta_mono_s() - t0);
  if (a->shards) { /* the balance, for the operator: keys per shard against the mean */
    uint64_t largest = 0;
    fprintf(stderr, "typeahead-build: %u shards (shard-I.trie, shards.map), keys:", a->shards);
    for (unsigned i = 0; i < a->shards; i++) {
      fprintf(stderr, " %" PRIu64, shard_keys[i]);
      if (shard_keys[i] > largest) largest = shard_keys[i];
    }
    fprintf(stderr, "; the largest is %.3fx the mean\n",
            sum.keys_written ? (double)largest * a->shards / (double)sum.keys_written : 0.0);
  }
  return 0;
}

/* DIR2/NAME.trie into path; 0, or 1 with the message printed when it does not fit. */
static int trie_path(const char *dir, const char *name, char *path, size_t cap) {
  int n = snprintf(path, cap, "%s/%s" TRIE_SUFFIX, dir, name);
  if (n < 0 || (size_t)n >= cap) {
    fprintf(stderr, "typeahead-build: --out-dir %s: path too long\n", dir);
    return 1;
  }
  return 0;
}

/* Removes DIR2/M.trie for every market name M not in keep (the markets written now): a market
 * that fell below --min-market-events no longer has a trie of its own. Other files stay. */
static int remove_stale(const char *dir, const tbl_markets_t *keep, const unsigned char *kept,
                        uint64_t *removed) {
  DIR *d = opendir(dir);
  if (!d) {
    fprintf(stderr, "typeahead-build: --out-dir %s: %s\n", dir, strerror(errno));
    return 1;
  }
  int st = 0;
  struct dirent *e;
  char path[4096];
  while ((e = readdir(d)) != NULL) {
    size_t n = strlen(e->d_name), sl = strlen(TRIE_SUFFIX);
    if (n <= sl || strcmp(e->d_name + n - sl, TRIE_SUFFIX) != 0) continue;
    size_t mlen = n - sl;
    if (!ta_market_valid(e->d_name, mlen)) continue;
    if (mlen == strlen(GLOBAL_NAME) && memcmp(e->d_name, GLOBAL_NAME, mlen) == 0) continue;
    int wanted = 0;
    for (size_t i = 0; i < keep->n && !wanted; i++)
      wanted = kept[i] && strlen(keep->v[i].name) == mlen &&
               memcmp(keep->v[i].name, e->d_name, mlen) == 0;
    if (wanted) continue;
    int pn = snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    if (pn < 0 || (size_t)pn >= sizeof path || unlink(path) != 0) {
      fprintf(stderr, "typeahead-build: removing %s: %s\n", path, strerror(errno));
      st = 1;
      continue;
    }
    fprintf(
        stderr,
        "typeahead-build: removed %s (its market has no trie now: absent or below --min-market-events)\n",
        path);
    (*removed)++;
  }
  closedir(d);
  return st;
}

/* --all-markets: global.trie, then M.trie per market with enough events, then the stale ones
 * removed. A market whose build fails keeps its old file; the others go on. */
static int build_all(const build_args_t *a, flt_ruleset_t *rules, progress_t *prog) {
  bld_tables_opts_t to = {.weeks = a->weeks, .half_life = a->half_life, .now = a->now};
  char week[TBL_WEEK_STR];
  int64_t t;
  if (a->trending && a->now) { /* --now is a time here: the markets of its week's window */
    if (tbl_parse_time(a->now, strlen(a->now), &t) != 0)
      return bld__bad_value("--now", "a time (unix seconds or ISO-8601 UTC)", a->now);
    tbl_week_name(tbl_week_of_unix(t), week);
    to.now = week;
  }
  tbl_markets_t ms;
  ta_diag_t diag;
  char where[512], path[4096];
  int rc = bld_list_markets(a->tables, &to, &ms, &diag);
  if (rc < 0) {
    tbl_markets_free(&ms);
    fprintf(stderr, "typeahead-build: %s\n", ta_diag_format(&diag, where, sizeof where));
    return rc == TA_EPARSE ? 2 : 1;
  }
  if (mkdir(a->out_dir, 0755) != 0 && errno != EEXIST) {
    fprintf(stderr, "typeahead-build: --out-dir %s: %s\n", a->out_dir, strerror(errno));
    tbl_markets_free(&ms);
    return 1;
  }
  unsigned char *kept = calloc(ms.n ? ms.n : 1, 1);
  if (!kept) {
    tbl_markets_free(&ms);
    fprintf(stderr, "typeahead-build: out of memory\n");
    return 1;
  }
  int st = trie_path(a->out_dir, GLOBAL_NAME, path, sizeof path);
  if (!st) st = build_one(a, NULL, path, rules, prog);
  int global_failed = st != 0;
  uint64_t markets = 0, below = 0, failed = st ? 1 : 0, removed = 0;
  for (size_t i = 0; i < ms.n; i++) {
    const char *m = ms.v[i].name;
    if (ms.v[i].events < a->min_market_events) {
      below++;
      continue;
    }
    if (strcmp(m, GLOBAL_NAME) == 0) {
      fprintf(stderr, "typeahead-build: market '" GLOBAL_NAME
                      "' gets no file: " GLOBAL_NAME TRIE_SUFFIX " is the global total\n");
      continue;
    }
    int one = trie_path(a->out_dir, m, path, sizeof path);
    if (!one) one = build_one(a, m, path, rules, prog);
    if (one) {
      failed++;
      kept[i] = 1; /* its file of an earlier run stays */
      if (!st) st = one;
    } else {
      markets++;
      kept[i] = 1;
    }
  }
  if (remove_stale(a->out_dir, &ms, kept, &removed) && !st) st = 1;
  fprintf(stderr,
          "typeahead-build: --all-markets: global %s, %" PRIu64 " market tries written, %" PRIu64
          " failed, %" PRIu64 " markets below --min-market-events %" PRIu64 ", %" PRIu64
          " stale removed -> %s\n",
          global_failed ? "failed" : "written", markets, failed - (uint64_t)global_failed, below,
          a->min_market_events, removed, a->out_dir);
  free(kept);
  tbl_markets_free(&ms);
  return st;
}

int main(int argc, char **argv) {
  build_args_t args;
  int st = bld__parse_args(argc, argv, &args);
  if (st) return st;
  /* --blocklist: the same rules as the server's --filters (filters/flt.h), matched on keys */
  flt_ruleset_t *rules = NULL;
  if (args.blocklist) {
    ta_diag_t ferr;
    if (flt_compile_file(args.blocklist, &rules, &ferr) != 0) {
      if (ferr.line)
        fprintf(stderr, "typeahead-build: --blocklist %s:%u: %s\n", args.blocklist,
                (unsigned)ferr.line, ferr.msg);
      else
        fprintf(stderr, "typeahead-build: --blocklist %s\n", ferr.msg);
      return 1;
    }
  }
  progress_t prog = {isatty(STDERR_FILENO), 0, NULL, 0};
  st = args.all_markets
           ? build_all(&args, rules, &prog)
           : build_one(&args, args.market, args.shards ? args.out_dir : args.out, rules, &prog);
  flt_ruleset_free(rules);
  return st;
}
