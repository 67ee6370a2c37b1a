/*
 * typeahead-build's command line (SPEC §5; the flags as docs/BUILD.md and --help give them):
 * the usage text, the flags into build_args_t, the numbers checked once all are read, the
 * combinations refused, and an --out that names an input refused before anything is read.
 */
#include "build_args.h"

#include "bld.h"

#include <float.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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
      "       typeahead-build --trending --tables DIR [--now TIME] [--market M] [--weeks 4]\n"
      "                       [--half-life 4] [--trending-max N]\n"
      "                       (--out FILE | --all-markets --out-dir DIR2)\n"
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
      "  --now DATE      the newest week, YYYY-MM-DD or YYYY-Www (default: the newest table\n"
      "                  not after this machine's clock)\n"
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
      "                  is the window's newest hour (default: the newest hour table not\n"
      "                  after this machine's clock); a query is shown as --tables with this\n"
      "                  --weeks and --half-life shows it\n"
      "  --trending-max N  with --trending: keep the N highest burst scores (default %u)\n"
      "  --trending-floor N  with --trending: events in the window (before decay) a query\n"
      "                  needs to trend (default %.0f; raise it with the traffic)\n"
      "  --out FILE      trie file, written to a temp file beside it, verified, then renamed\n"
      "                  over FILE (a server watching FILE never sees a partial file; a killed\n"
      "                  build leaves no temp file). A symlink FILE stays: the file it names\n"
      "                  is replaced\n"
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

/* ---- Arguments ------------------------------------------------------------------------------ */

int bld__bad_value(const char *flag, const char *want, const char *value) {
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
    return bld__bad_value("--k", want, num[O_K]);
  }
  if (num[O_MIN] && ta_parse_double(num[O_MIN], 0, DBL_MAX, &a->min_count) != 0)
    return bld__bad_value("--min-count", "a non-negative number", num[O_MIN]);
  if (num[O_WEEKS] && ta_parse_uint(num[O_WEEKS], 1, 10000, &a->weeks) != 0)
    return bld__bad_value("--weeks", "a positive integer", num[O_WEEKS]);
  /* "inf": no decay (docs/TABLES.md); 0 is refused. */
  if (num[O_HALF] && strcmp(num[O_HALF], "inf") == 0)
    a->half_life = INFINITY;
  else if (num[O_HALF] &&
           (ta_parse_double(num[O_HALF], 0, DBL_MAX, &a->half_life) != 0 || a->half_life == 0))
    return bld__bad_value("--half-life", "a positive number or inf", num[O_HALF]);
  if (num[O_MAXBAD] && ta_parse_double(num[O_MAXBAD], 0, 100, &a->max_bad) != 0)
    return bld__bad_value("--max-bad", "a percentage from 0 to 100", num[O_MAXBAD]);
  if (num[O_MINMKT] && ta_parse_u64(num[O_MINMKT], 0, UINT64_MAX, &a->min_market_events) != 0)
    return bld__bad_value("--min-market-events", "a non-negative integer", num[O_MINMKT]);
  if (num[O_SHARDS] && ta_parse_uint(num[O_SHARDS], 1, TRIE_MAX_SHARDS, &a->shards) != 0) {
    char want[48];
    snprintf(want, sizeof want, "an integer from 1 to %u", TRIE_MAX_SHARDS);
    return bld__bad_value("--shards", want, num[O_SHARDS]);
  }
  if (num[O_TRENDMAX] && ta_parse_uint(num[O_TRENDMAX], 1, 10000000, &a->trending_max) != 0)
    return bld__bad_value("--trending-max", "a positive integer", num[O_TRENDMAX]);
  if (num[O_TRENDFLOOR] && ta_parse_double(num[O_TRENDFLOOR], 1, 1e12, &a->trending_floor) != 0)
    return bld__bad_value("--trending-floor", "a number >= 1", num[O_TRENDFLOOR]);
  if (a->market && !ta_market_valid(a->market, strlen(a->market)))
    return bld__bad_value("--market", "[a-z0-9_-]{1,32}", a->market);
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

int bld__parse_args(int argc, char **argv, build_args_t *a) {
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
  if ((a->now || num[O_WEEKS] || num[O_HALF]) && !a->tables) {
    fprintf(stderr, "typeahead-build: --now, --weeks and --half-life choose weeks of --tables\n");
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
