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
 * failed (bad input line, I/O, verify; --out untouched), 2 usage.
 */
#include "bld.h"
#include "flt.h" /* --blocklist (filter layer's part) */

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_FREQ_FILES 64
/* --min-market-events default: a market with fewer events in the window gets no trie of its
 * own (its few queries would rank on noise; the server answers it from global). */
#define DEFAULT_MIN_MARKET_EVENTS 1000
#define GLOBAL_NAME "global" /* --out-dir's file of the global total: global.trie */
#define TRIE_SUFFIX ".trie"

typedef struct {
  const char *freq[MAX_FREQ_FILES];
  int nfreq;
  const char *tables; /* --tables DIR (weekly tables; see add_sources) */
  unsigned weeks;     /* --weeks */
  double half_life;   /* --half-life, in weeks */
  const char *now;    /* --now DATE */
  const char *market; /* --market M: that market's rows instead of the global total */
  int all_markets;    /* --all-markets: global.trie and M.trie for each market into out_dir */
  const char *out_dir;
  unsigned shards;       /* --shards N: shard-I.trie and shards.map into out_dir (0: one trie) */
  const char *shard_map; /* --shard-map MAP: split by MAP instead of planning */
  uint64_t min_market_events;
  const char *out;
  unsigned k;
  double min_count;
  const char *blocklist;
  double max_bad; /* --max-bad: percentage of unusable --freq lines skipped */
  int trending;   /* --trending: the rising queries of the hour tables (bld_trending.c) */
  unsigned trending_max;
  double trending_floor; /* --trending-floor: events in the window a trend needs */
} build_args_t;

static void usage(FILE *f) {
  fprintf(
      f,
      "usage: typeahead-build (--tables DIR [--weeks 4] [--half-life 4] [--now DATE]\n"
      "                        [--market M] | --freq FILE [--freq FILE]...) --out FILE\n"
      "                       [--k 10] [--min-count 1] [--blocklist FILE] [--max-bad PCT]\n"
      "       typeahead-build (--tables DIR [--market M] | --freq FILE...) --shards N\n"
      "                       --out-dir DIR2 [--k ...] [--min-count ...]\n"
      "       typeahead-build --tables DIR [--weeks ...] --all-markets --out-dir DIR2\n"
      "                       [--min-market-events 1000] [--k ...] [--min-count ...]\n"
      "       typeahead-build --trending --tables DIR [--now TIME] [--market M]\n"
      "                       [--trending-max N] (--out FILE | --all-markets --out-dir DIR2)\n"
      "       typeahead-build --help | --version\n"
      "\n"
      "Builds a trie file (the input of typeahead-serve and typeahead-query) from weekly\n"
      "tables or frequency lists. Queries are matched on their normalized key (case,\n"
      "accents, spaces); the most frequent spelling of a key is the one shown.\n"
      "  --freq FILE     frequency list: query<TAB>count, 'query count', or CSV with a\n"
      "                  header (ngram,freq); '-' reads stdin; repeat --freq for each file\n"
      "                  (counts of one query add up), at most 64\n"
      "  --tables DIR    week tables of typeahead-aggregate; score = sum over the last\n"
      "                  --weeks weeks of count * 0.5^(age/--half-life), age in weeks\n"
      "  --weeks N       how many weeks, the newest included (default 4)\n"
      "  --half-life H   weeks after which a count weighs half, a positive number, or inf\n"
      "                  for no decay (default 4: the best MRR on the AOL sample,\n"
      "                  BENCHMARKS.md \"Suggestion quality\")\n"
      "  --now DATE      the newest week, YYYY-MM-DD or YYYY-Www (default: the newest table)\n"
      "  --market M      with --tables: build market M's trie from its rows (the events whose\n"
      "                  log line named market M) instead of the global total\n"
      "  --all-markets   with --tables and --out-dir: write DIR2/global.trie and DIR2/M.trie\n"
      "                  for every market M with at least --min-market-events events in the\n"
      "                  window; the same weeks, decay, --k and --min-count for each. A\n"
      "                  market below it gets no file, and its M.trie of an earlier run is\n"
      "                  removed (the server answers it from global); a market named\n"
      "                  'global' gets no file of its own\n"
      "  --out-dir DIR2  where --all-markets and --shards write (created if missing); each\n"
      "                  file is written like --out\n"
      "  --shards N      with --out-dir: split the trie into N prefix shards by the first\n"
      "                  character of the key, 1..%u: DIR2/shard-I.trie (I = 0..N-1), then\n"
      "                  DIR2/shards.map (docs/FORMAT.md); a first character is never split,\n"
      "                  and the largest shard stays within %.2fx the mean (else the build\n"
      "                  is refused and names the character too heavy for N shards)\n"
      "  --shard-map MAP with --shards: split by MAP (a shards.map of an earlier build)\n"
      "                  instead of planning from this data, so that a fleet's nodes keep\n"
      "                  their shards from one build to the next (the balance is printed)\n"
      "  --min-market-events N  events in the window (before decay) a market needs for a\n"
      "                  trie of its own with --all-markets (default %d)\n"
      "  --trending      with --tables: a trie of the queries rising now (docs/TRENDING.md):\n"
      "                  the hour tables of typeahead-aggregate --hours over the last %u hours\n"
      "                  against the --weeks weeks before them; score = the burst score\n"
      "                  (excess events x %.0f); --now TIME (unix seconds or ISO-8601 UTC)\n"
      "                  is the window's newest hour (default: the newest hour table)\n"
      "  --trending-max N  with --trending: keep the N highest burst scores (default %u)\n"
      "  --trending-floor N  with --trending: events in the window (before decay) a query\n"
      "                  needs to trend (default %.0f; raise it with the traffic)\n"
      "  --out FILE      trie file, written to a temp file beside it, verified, then renamed\n"
      "                  over FILE (a server watching FILE never sees a partial file)\n"
      "  --k N           completions kept per prefix, 1..%u (default 10)\n"
      "  --min-count N   drop queries counted fewer than N times (with --tables: events in\n"
      "                  the window, before decay) (default 1)\n"
      "  --blocklist FILE  leave out every query a rule of FILE matches (the rules syntax\n"
      "                  of typeahead-serve --filters: word:, phrase:, prefix:, exact:)\n"
      "  --max-bad PCT   with --freq: skip unusable lines (no count, bad count, invalid\n"
      "                  UTF-8, empty after normalization, too long), counted by reason\n"
      "                  and named by line number on stderr, up to PCT percent of a file's\n"
      "                  lines; past it the build fails (default 1)\n"
      "  --help          this text\n"
      "  --version       the version and the trie format versions it writes\n"
      "Ranking: score descending, then key ascending. Exit status: 0 done, 1 the build\n"
      "failed (bad input, I/O, verify; --out untouched; with --all-markets: some file\n"
      "failed, the others are written), 2 usage.\n",
      TRIE_MAX_SHARDS, TRIE_SHARD_MAX_SKEW, DEFAULT_MIN_MARKET_EVENTS, BLD_TREND_WINDOW_HOURS,
      BLD_TREND_SCALE, BLD_TREND_MAX_KEYS, BLD_TREND_MIN_EVENTS, TA_MAX_K);
}

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

/* ---- Arguments ------------------------------------------------------------------------------ */

/* A flag's value is not what it must be: says so and returns the usage exit status. */
static int bad_value(const char *flag, const char *want, const char *value) {
  fprintf(stderr, "typeahead-build: %s must be %s, not '%s'\n", flag, want, value);
  return 2;
}

enum {
  O_FREQ = 1,
  O_OUT,
  O_K,
  O_MIN,
  O_BLOCK,
  O_TABLES,
  O_WEEKS,
  O_HALF,
  O_NOW,
  O_MAXBAD,
  O_MARKET,
  O_ALL,
  O_OUTDIR,
  O_MINMKT,
  O_SHARDS,
  O_SHARDMAP,
  O_TRENDING,
  O_TRENDMAX,
  O_TRENDFLOOR,
  O_HELP,
  O_VERSION,
  O_END
};

/* The numbers, checked once every flag is read (the last of a repeated flag counts). */
static int parse_numbers(const char *const *num, build_args_t *a) {
  if (num[O_K] && ta_parse_uint(num[O_K], 1, TA_MAX_K, &a->k) != 0) {
    char want[48];
    snprintf(want, sizeof want, "an integer from 1 to %u", TA_MAX_K);
    return bad_value("--k", want, num[O_K]);
  }
  if (num[O_MIN] && ta_parse_double(num[O_MIN], 0, DBL_MAX, &a->min_count) != 0)
    return bad_value("--min-count", "a non-negative number", num[O_MIN]);
  if (num[O_WEEKS] && ta_parse_uint(num[O_WEEKS], 1, 10000, &a->weeks) != 0)
    return bad_value("--weeks", "a positive integer", num[O_WEEKS]);
  /* "inf": no decay (docs/TABLES.md); 0 is refused. */
  if (num[O_HALF] && strcmp(num[O_HALF], "inf") == 0)
    a->half_life = INFINITY;
  else if (num[O_HALF] &&
           (ta_parse_double(num[O_HALF], 0, DBL_MAX, &a->half_life) != 0 || a->half_life == 0))
    return bad_value("--half-life", "a positive number or inf", num[O_HALF]);
  if (num[O_MAXBAD] && ta_parse_double(num[O_MAXBAD], 0, 100, &a->max_bad) != 0)
    return bad_value("--max-bad", "a percentage from 0 to 100", num[O_MAXBAD]);
  if (num[O_MINMKT] && ta_parse_u64(num[O_MINMKT], 0, UINT64_MAX, &a->min_market_events) != 0)
    return bad_value("--min-market-events", "a non-negative integer", num[O_MINMKT]);
  if (num[O_SHARDS] && ta_parse_uint(num[O_SHARDS], 1, TRIE_MAX_SHARDS, &a->shards) != 0) {
    char want[48];
    snprintf(want, sizeof want, "an integer from 1 to %u", TRIE_MAX_SHARDS);
    return bad_value("--shards", want, num[O_SHARDS]);
  }
  if (num[O_TRENDMAX] && ta_parse_uint(num[O_TRENDMAX], 1, 10000000, &a->trending_max) != 0)
    return bad_value("--trending-max", "a positive integer", num[O_TRENDMAX]);
  if (num[O_TRENDFLOOR] && ta_parse_double(num[O_TRENDFLOOR], 1, 1e12, &a->trending_floor) != 0)
    return bad_value("--trending-floor", "a number >= 1", num[O_TRENDFLOOR]);
  if (a->market && !tbl_market_valid(a->market, strlen(a->market)))
    return bad_value("--market", "[a-z0-9_-]{1,32}", a->market);
  return 0;
}

/* Whether path names the file out names (the same inode: a link or a symlink too). */
static int same_file(const char *path, const struct stat *out) {
  struct stat st;
  return strcmp(path, "-") != 0 && stat(path, &st) == 0 && st.st_dev == out->st_dev &&
         st.st_ino == out->st_ino;
}

/* --out naming an input (a typo: --out words.tsv for --freq words.tsv) would replace the input
 * with the trie once the build succeeds: refused before anything is read. */
static int out_is_an_input(const build_args_t *a) {
  struct stat out;
  if (a->out == NULL || stat(a->out, &out) != 0) return 0;
  const char *input = NULL, *flag = NULL;
  for (int i = 0; i < a->nfreq && !input; i++)
    if (same_file(a->freq[i], &out)) input = a->freq[i], flag = "--freq";
  if (!input && a->blocklist && same_file(a->blocklist, &out))
    input = a->blocklist, flag = "--blocklist";
  if (!input) return 0;
  fprintf(stderr, "typeahead-build: --out %s is the input %s %s: writing it would destroy it\n",
          a->out, flag, input);
  return 1;
}

/* 0 parsed, 2 usage error (message printed). */
static int parse_args(int argc, char **argv, build_args_t *a) {
  static const struct option longopts[] = {
      {"freq", required_argument, NULL, O_FREQ},
      {"out", required_argument, NULL, O_OUT},
      {"k", required_argument, NULL, O_K},
      {"min-count", required_argument, NULL, O_MIN},
      {"blocklist", required_argument, NULL, O_BLOCK},
      {"tables", required_argument, NULL, O_TABLES},
      {"weeks", required_argument, NULL, O_WEEKS},
      {"half-life", required_argument, NULL, O_HALF},
      {"now", required_argument, NULL, O_NOW},
      {"max-bad", required_argument, NULL, O_MAXBAD},
      {"market", required_argument, NULL, O_MARKET},
      {"all-markets", no_argument, NULL, O_ALL},
      {"out-dir", required_argument, NULL, O_OUTDIR},
      {"min-market-events", required_argument, NULL, O_MINMKT},
      {"shards", required_argument, NULL, O_SHARDS},
      {"shard-map", required_argument, NULL, O_SHARDMAP},
      {"trending", no_argument, NULL, O_TRENDING},
      {"trending-max", required_argument, NULL, O_TRENDMAX},
      {"trending-floor", required_argument, NULL, O_TRENDFLOOR},
      {"help", no_argument, NULL, O_HELP},
      {"version", no_argument, NULL, O_VERSION},
      {NULL, 0, NULL, 0},
  };
  *a = (build_args_t){.weeks = 4,
                      .half_life = 4.0,
                      .k = 10,
                      .min_count = 1.0,
                      .max_bad = 1.0,
                      .min_market_events = DEFAULT_MIN_MARKET_EVENTS,
                      .trending_max = BLD_TREND_MAX_KEYS,
                      .trending_floor = BLD_TREND_MIN_EVENTS};
  /* Where each flag's text goes: a field of a, or num[] for the numbers. */
  const char *num[O_END] = {NULL};
  const char **text[O_END] = {[O_OUT] = &a->out,
                              [O_BLOCK] = &a->blocklist,
                              [O_TABLES] = &a->tables,
                              [O_NOW] = &a->now,
                              [O_K] = &num[O_K],
                              [O_MIN] = &num[O_MIN],
                              [O_WEEKS] = &num[O_WEEKS],
                              [O_HALF] = &num[O_HALF],
                              [O_MAXBAD] = &num[O_MAXBAD],
                              [O_MARKET] = &a->market,
                              [O_OUTDIR] = &a->out_dir,
                              [O_MINMKT] = &num[O_MINMKT],
                              [O_SHARDS] = &num[O_SHARDS],
                              [O_SHARDMAP] = &a->shard_map,
                              [O_TRENDMAX] = &num[O_TRENDMAX],
                              [O_TRENDFLOOR] = &num[O_TRENDFLOOR]};
  int c;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    if (c > 0 && c < O_END && text[c]) {
      *text[c] = optarg;
    } else if (c == O_FREQ) {
      if (a->nfreq == MAX_FREQ_FILES) {
        fprintf(stderr, "typeahead-build: at most %d --freq files\n", MAX_FREQ_FILES);
        return 2;
      }
      a->freq[a->nfreq++] = optarg;
    } else if (c == O_ALL) {
      a->all_markets = 1;
    } else if (c == O_TRENDING) {
      a->trending = 1;
    } else if (c == O_HELP) {
      usage(stdout);
      exit(0);
    } else if (c == O_VERSION) {
      exit(trie_print_version(stdout, "typeahead-build") == 0 ? 0 : 1);
    } else {
      fprintf(stderr, "typeahead-build: unknown or incomplete option '%s'\n", argv[optind - 1]);
      usage(stderr);
      return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "typeahead-build: unexpected argument '%s'\n", argv[optind]);
    usage(stderr);
    return 2;
  }
  int st = parse_numbers(num, a);
  if (st) return st;
  if ((a->nfreq == 0) == (a->tables == NULL) || (a->out == NULL) == (a->out_dir == NULL)) {
    fprintf(stderr,
            "typeahead-build: need exactly one of --freq or --tables, and one of --out "
            "or --out-dir\n");
    usage(stderr);
    return 2;
  }
  if ((a->market || a->all_markets) && !a->tables) {
    fprintf(stderr, "typeahead-build: --market and --all-markets read --tables\n");
    return 2;
  }
  if (a->market && a->all_markets) {
    fprintf(stderr, "typeahead-build: --market or --all-markets, not both\n");
    return 2;
  }
  if (a->trending && (!a->tables || a->shards)) {
    fprintf(stderr,
            "typeahead-build: --trending reads --tables (hour tables), not with --shards\n");
    return 2;
  }
  if ((num[O_TRENDMAX] || num[O_TRENDFLOOR]) && !a->trending) {
    fprintf(stderr, "typeahead-build: --trending-max and --trending-floor go with --trending\n");
    return 2;
  }
  if (a->shard_map && !a->shards) {
    fprintf(stderr, "typeahead-build: --shard-map goes with --shards\n");
    return 2;
  }
  if (a->all_markets && a->shards) {
    fprintf(stderr, "typeahead-build: --shards splits one trie: not with --all-markets\n");
    return 2;
  }
  if ((a->all_markets || a->shards) != (a->out_dir != NULL)) {
    fprintf(stderr,
            "typeahead-build: --all-markets and --shards write into --out-dir (and only "
            "they do)\n");
    return 2;
  }
  return out_is_an_input(a) ? 2 : 0;
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
    bld_trending_opts_t to = {
        .now = a->now, .market = market, .base_weeks = a->weeks, .max_keys = a->trending_max};
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
    fprintf(stderr,
            "typeahead-build: %s%s%" PRIu64 " week tables up to %s, %" PRIu64 " rows (%" PRIu64
            " skipped: empty or too long key)\n",
            market ? market : "", market ? ": " : "", to.tables, wk, to.rows, to.rows_skipped);
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
/* Appends s to buf (cap bytes, *n used, NUL kept) as valid UTF-8, which the file's source must
 * be: a byte of no UTF-8 character (a Latin-1 file name) as \xNN, and only whole characters
 * (a long list of names is cut between two). */
static void put_utf8(char *buf, size_t cap, size_t *n, const char *s) {
  for (size_t i = 0, len = strlen(s); i < len;) {
    unsigned char c = (unsigned char)s[i];
    size_t k = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
    char esc[5];
    const char *piece = s + i;
    if (k > len - i || !trie_utf8_valid(s + i, k)) {
      snprintf(esc, sizeof esc, "\\x%02X", c);
      piece = esc;
      k = 4;
      i++;
    } else {
      i += k;
    }
    if (*n + k >= cap) return;
    memcpy(buf + *n, piece, k);
    *n += k;
    buf[*n] = '\0';
  }
}

static void describe_source(const build_args_t *a, const char *market, char *buf, size_t cap) {
  size_t n = 0;
  buf[0] = '\0';
  if (a->tables) {
    put_utf8(buf, cap, &n, a->trending ? "trending:" : "tables:");
    put_utf8(buf, cap, &n, a->tables);
    if (market) {
      put_utf8(buf, cap, &n, " market:");
      put_utf8(buf, cap, &n, market);
    }
    return;
  }
  put_utf8(buf, cap, &n, "freq:");
  for (int i = 0; i < a->nfreq; i++) {
    const char *base = strrchr(a->freq[i], '/');
    if (i) put_utf8(buf, cap, &n, ",");
    put_utf8(buf, cap, &n, base ? base + 1 : a->freq[i]);
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
      a->k, a->min_count, ta_unix_s(), source, progress_cb, prog, rules ? blocklist_drop : NULL,
      rules};
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
    if (!tbl_market_valid(e->d_name, mlen)) continue;
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
      return bad_value("--now", "a time (unix seconds or ISO-8601 UTC)", a->now);
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
  int st = parse_args(argc, argv, &args);
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
