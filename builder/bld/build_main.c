/*
 * typeahead-build (SPEC §5): frequency lists or weekly tables -> one verified trie file.
 *
 *   typeahead-build (--tables DIR [--weeks 4] [--half-life 4] [--now DATE] | --freq FILE
 *                    [--freq FILE]...)
 *                   --out FILE [--k 10] [--min-count 1] [--blocklist FILE]
 *
 * Every input source feeds (raw spelling, weight) pairs into one bld_acc_t (bld.h); ranking,
 * display forms, --min-count and the atomic, verified write are shared. To add a source, parse
 * its flags into build_args_t and add it to add_sources(). Exit status: 0 done, 1 the build
 * failed (bad input line, I/O, verify; --out untouched), 2 usage.
 */
#include "bld.h"
#include "flt.h" /* --blocklist (filter layer's part) */

#include <getopt.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_FREQ_FILES 64

typedef struct {
  const char *freq[MAX_FREQ_FILES];
  int nfreq;
  const char *tables; /* --tables DIR (weekly tables; see add_sources) */
  unsigned weeks;     /* --weeks */
  double half_life;   /* --half-life, in weeks */
  const char *now;    /* --now DATE */
  const char *out;
  unsigned k;
  double min_count;
  const char *blocklist;
  double max_bad; /* --max-bad: percentage of unusable --freq lines skipped */
} build_args_t;

static void usage(FILE *f) {
  fprintf(f,
          "usage: typeahead-build (--tables DIR [--weeks 4] [--half-life 4] [--now DATE]\n"
          "                        | --freq FILE [--freq FILE]...) --out FILE [--k 10]\n"
          "                       [--min-count 1] [--blocklist FILE] [--max-bad PCT]\n"
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
          "failed (bad input, I/O, verify; --out untouched), 2 usage.\n",
          TA_MAX_K);
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
  return 0;
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
      {"help", no_argument, NULL, O_HELP},
      {"version", no_argument, NULL, O_VERSION},
      {NULL, 0, NULL, 0},
  };
  *a = (build_args_t){.weeks = 4, .half_life = 4.0, .k = 10, .min_count = 1.0, .max_bad = 1.0};
  /* Where each flag's text goes: a field of a, or num[] for the numbers. */
  const char *num[O_END] = {NULL};
  const char **text[O_END] = {
      [O_OUT] = &a->out,         [O_BLOCK] = &a->blocklist, [O_TABLES] = &a->tables,
      [O_NOW] = &a->now,         [O_K] = &num[O_K],         [O_MIN] = &num[O_MIN],
      [O_WEEKS] = &num[O_WEEKS], [O_HALF] = &num[O_HALF],   [O_MAXBAD] = &num[O_MAXBAD]};
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
  if (!a->out || (a->nfreq == 0) == (a->tables == NULL)) {
    fprintf(stderr, "typeahead-build: need --out and exactly one of --freq or --tables\n");
    usage(stderr);
    return 2;
  }
  return 0;
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
static int add_sources(bld_acc_t *acc, const build_args_t *a, progress_t *prog, uint64_t *lines,
                       uint64_t *rows) {
  if (a->tables) { /* --tables: the week tables source (bld_tables.c) */
    bld_tables_opts_t to = {.weeks = a->weeks, .half_life = a->half_life, .now = a->now};
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
            "typeahead-build: %" PRIu64 " week tables up to %s, %" PRIu64 " rows (%" PRIu64
            " skipped: empty or too long key)\n",
            to.tables, wk, to.rows, to.rows_skipped);
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

/* "freq:a.tsv,b.tsv" or "tables:DIR", stored in the file's metadata. */
static void describe_source(const build_args_t *a, char *buf, size_t cap) {
  size_t n = 0;
  if (a->tables) {
    snprintf(buf, cap, "tables:%s", a->tables);
    return;
  }
  n += (size_t)snprintf(buf, cap, "freq:");
  for (int i = 0; i < a->nfreq && n < cap; i++) {
    const char *base = strrchr(a->freq[i], '/');
    base = base ? base + 1 : a->freq[i];
    n += (size_t)snprintf(buf + n, cap - n, "%s%s", i ? "," : "", base);
  }
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
  double t0 = ta_mono_s();
  progress_t prog = {isatty(STDERR_FILENO), 0, NULL, 0};
  bld_acc_t *acc = NULL;
  if (bld_acc_new(&acc) < 0) {
    fprintf(stderr, "typeahead-build: out of memory\n");
    return 1;
  }
  uint64_t lines = 0, rows = 0;
  st = add_sources(acc, &args, &prog, &lines, &rows);
  if (st) {
    bld_acc_free(acc);
    flt_ruleset_free(rules);
    return st;
  }
  bld_acc_stats_t stats;
  bld_acc_stats(acc, &stats);

  char source[1024];
  describe_source(&args, source, sizeof source);
  bld_write_opts_t wo = {args.k,
                         args.min_count,
                         ta_unix_s(),
                         source,
                         progress_cb,
                         &prog,
                         rules ? blocklist_drop : NULL,
                         rules};
  bld_summary_t sum;
  ta_diag_t diag;
  char where[512];
  int rc = bld_write(acc, args.out, &wo, &sum, &diag);
  progress_clear(&prog);
  bld_acc_free(acc);
  flt_ruleset_free(rules);
  if (rc < 0) {
    fprintf(stderr, "typeahead-build: %s (%s left as it was)\n",
            ta_diag_format(&diag, where, sizeof where), args.out);
    return 1;
  }
  char blocked[64] = "";
  if (args.blocklist)
    snprintf(blocked, sizeof blocked, ", %" PRIu64 " blocked by --blocklist", sum.keys_dropped);
  fprintf(stderr,
          "typeahead-build: %" PRIu64 " lines, %" PRIu64 " queries, %" PRIu64 " keys (%" PRIu64
          " written, %" PRIu64 " below --min-count%s), %" PRIu64 " bytes -> %s in %.2f s\n",
          lines, rows, stats.keys, sum.keys_written, sum.keys_below_min, blocked, sum.file_size,
          args.out, ta_mono_s() - t0);
  return 0;
}
