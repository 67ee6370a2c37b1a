/*
 * typeahead: the builder's public interface (library ta_bld, tool typeahead-build, SPEC §5).
 *
 * A build is three steps, whatever the input:
 *
 *   bld_acc_t *acc;  bld_acc_new(&acc);
 *   source(s) -> bld_acc_add(acc, raw_spelling, len, weight)      (once per input row)
 *   bld_write(acc, out_path, &opts, &summary, &diag)              (rank, write, verify, rename)
 *
 * An input source only produces (raw spelling, weight) pairs. The accumulator does the rest,
 * the same way for every source: it normalizes each spelling (trie_norm_key / _display, SPEC
 * §3), sums weights per key, keeps the weight of each display spelling so that the display form
 * of a key is its heaviest spelling (ties: bytewise smallest), drops keys below --min-count,
 * and hands the keys to trie_write (score descending, then key ascending).
 *
 *   --freq FILE   : bld_read_freq() (this header) adds one pair per line, weight = count.
 *   --tables DIR  : bld_read_tables() (this header) adds one pair per (week, spelling) with
 *                   weight = count * 0.5^(age_in_weeks / half_life); the display choice then
 *                   uses the same decayed weights. It needs nothing but bld_acc_add().
 *
 * Conventions (every module's, base/ta.h): 0 or a negative TA_E* code; results through
 * out-parameters; bld_acc_free(NULL) is a no-op. Functions that can fail on user input also
 * fill a ta_diag_t (ta.h) with the reason and where: ta_diag_format gives one line for a person
 * ("queries.tsv:12: bad count 'x'").
 * Not thread-safe: one accumulator belongs to one thread.
 */
#ifndef TYPEAHEAD_BLD_H
#define TYPEAHEAD_BLD_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tbl.h"
#include "trie.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Progress report of a long step (reading, sorting, writing, verifying). total is 0 when
 * unknown. Called at most a few times a second. */
typedef void (*bld_progress_fn)(void *ctx, const char *stage, uint64_t done, uint64_t total);

/* ---- Accumulator ------------------------------------------------------------------------- */

typedef struct bld_acc bld_acc_t;

/* A new empty accumulator, owned by the caller (bld_acc_free). Memory: strings live in one
 * arena, keys and spellings in two open-addressing tables; about 100 bytes per distinct
 * query plus its text. */
int bld_acc_new(bld_acc_t **out);
void bld_acc_free(bld_acc_t *acc);

/* Adds one input row: count events of the raw spelling raw[0..len) (not NUL-terminated; need
 * not be normalized), worth weight to the score (the count itself, or with --tables the count
 * decayed by its week's age). --min-count compares a key's summed count, so decay ranks a query
 * without hiding it. count and weight must be finite and >= 0. Errors (nothing is added):
 *   TA_EUTF8   raw is not valid UTF-8
 *   TA_EEMPTY  the key is empty after normalization (only spaces, marks or controls)
 *   TA_ETOOLONG raw, or its key, is longer than TA_MAX_KEY bytes
 *   TA_ERANGE  count or weight is negative, NaN or infinite, or the key's summed count or
 *              score would be infinite
 *   TA_ENOMEM */
int bld_acc_add(bld_acc_t *acc, const char *raw, size_t len, double count, double weight);

typedef struct {
  uint64_t adds;        /* successful bld_acc_add calls */
  uint64_t keys;        /* distinct keys */
  uint64_t spellings;   /* distinct display spellings */
  uint64_t arena_bytes; /* bytes of text held */
} bld_acc_stats_t;

void bld_acc_stats(const bld_acc_t *acc, bld_acc_stats_t *out);

/* The score and display form of one key (key given in any form: it is normalized first), for
 * tests and tools. TA_ENOENT when the key is absent. display is borrowed until the next add. */
int bld_acc_get(const bld_acc_t *acc, const char *raw, size_t len, double *score,
                const char **display, size_t *display_len);

/* ---- Frequency lists (--freq) ------------------------------------------------------------ */

/* Why a --freq line is unusable: the order of the report. */
#define BLD_BAD_TABLE(X)                        \
  X(BLD_BAD_NOCOUNT, "no count")                \
  X(BLD_BAD_COUNT, "bad count")                 \
  X(BLD_BAD_UTF8, "invalid UTF-8")              \
  X(BLD_BAD_EMPTY, "empty after normalization") \
  X(BLD_BAD_TOOLONG, "too long")

#define BLD__BAD_ENUM(name, msg) name,
typedef enum { BLD_BAD_TABLE(BLD__BAD_ENUM) BLD_BAD_N } bld_bad_t;
#undef BLD__BAD_ENUM

#define BLD_BAD_SHOWN 5 /* line numbers kept per reason */

const char *bld_bad_name(bld_bad_t reason);

typedef struct {
  bld_progress_fn progress; /* may be NULL; stage is "reading" */
  void *progress_ctx;
  uint64_t lines; /* out: lines read (blank and header lines included) */
  uint64_t rows;  /* out: (query, count) rows added */
  /* in: unusable lines are skipped while they are at most this percentage of the rows and
   * unusable lines; 0: the first one stops the read */
  double max_bad_pct;
  uint64_t bad[BLD_BAD_N];                     /* out: unusable lines skipped, per reason */
  uint64_t bad_total;                          /* out: their sum */
  uint64_t bad_line[BLD_BAD_N][BLD_BAD_SHOWN]; /* out: the first line numbers of each reason */
} bld_freq_opts_t;

/* Reads a frequency list from path ("-" for stdin) into acc (docs/BUILD.md). Format, detected
 * per file from its first non-blank line:
 *   query<TAB>count[<TAB>more fields]   when that line has a TAB;
 *   CSV with a header (ngram,freq[,cumshare]; query = first field, count = second; "quoted"
 *   fields with "" escapes, not spanning lines)   when it has a comma and reads as a header;
 *   query count                          otherwise (count = the last space-separated field).
 * A UTF-8 BOM, CRLF line ends and blank lines are accepted. Counts are non-negative integers or
 * decimals (1e3 too). An unusable line (no count, bad count, invalid UTF-8, empty after
 * normalization, too long) is skipped and counted in opts->bad; past opts->max_bad_pct (or at
 * the first one when it is 0) the read fails with TA_ETOOBAD, or the line's own TA_EPARSE /
 * TA_EUTF8 / TA_EEMPTY / TA_ETOOLONG when max_bad_pct is 0, with diag = "path:line: reason";
 * rows before it stay in acc (the caller then throws acc away). I/O errors give TA_EIO /
 * TA_ENOENT with diag. */
int bld_read_freq(bld_acc_t *acc, const char *path, bld_freq_opts_t *opts, ta_diag_t *diag);

/* The same from an open stream (not closed); name is used in messages ("name:line: ..."). */
int bld_read_freq_stream(bld_acc_t *acc, FILE *f, const char *name, bld_freq_opts_t *opts,
                         ta_diag_t *diag);

/* ---- Week tables (--tables; bld_tables.c) ------------------------------------------------ */

/* The week tables written by typeahead-aggregate (docs/TABLES.md), read through the tables
 * module: every (display spelling, decayed count) of the last `weeks` weeks is added, so ranking
 * and display forms are the builder's, shared with --freq:
 *
 *   weight = count * 0.5^(age / half_life),  age = now_week - table_week, in 0 .. weeks-1
 *
 * Tables newer than now (age < 0) and older than the window are not read. */
typedef struct {
  unsigned weeks;        /* window length in weeks, >= 1 */
  double half_life;      /* in weeks, > 0; INFINITY means no decay (a plain sum) */
  const char *now;       /* "YYYY-MM-DD" or "YYYY-Www"; NULL: the newest table's week that is
                          * not after the clock's (tbl_newest_until_now) */
  const char *market;    /* NULL: the global total; else that market's rows (SPEC §10) */
  uint64_t tables;       /* out: tables read */
  uint64_t rows;         /* out: (spelling, count) rows added */
  uint64_t rows_skipped; /* out: spellings whose key is empty or too long */
  uint64_t events;       /* out: the counts of the rows read, before decay */
  tbl_week_t now_week;   /* out: the week ages are counted from */
  size_t future_tables;  /* out: without now, the tables after the clock's week, left out */
  /* May be NULL. Called with each row's spelling of the market read: 0 leaves the row out (not
   * added, not counted in rows or events). */
  int (*keep)(void *ctx, const char *s, size_t len);
  void *keep_ctx;
} bld_tables_opts_t;

/* Adds DIR's tables into acc. TA_EEMPTY when DIR holds no table; a bad table, a bad --now or
 * an unreadable DIR give their error code and a one-line reason in diag. */
int bld_read_tables(bld_acc_t *acc, const char *dir, bld_tables_opts_t *opts, ta_diag_t *diag);

/* The markets with rows in the window of DIR's tables (the window of bld_read_tables: opts'
 * weeks and now; market ignored), sorted by name, with their events there before decay, into
 * *out (zeroed first; free with tbl_markets_free, also on error). Errors as bld_read_tables. */
int bld_list_markets(const char *dir, bld_tables_opts_t *opts, tbl_markets_t *out, ta_diag_t *diag);

/* ---- Trending (--trending; bld_trending.c, docs/TRENDING.md) ----------------------------- */

/* The burst rule's defaults (docs/TRENDING.md says why each). */
#define BLD_TREND_WINDOW_HOURS 24u /* the recent window: the newest hour and the 23 before */
#define BLD_TREND_HALF_LIFE 6.0    /* hours after which a recent event weighs half */
#define BLD_TREND_BASE_WEEKS 4u    /* weekly baseline: the weeks before the window */
#define BLD_TREND_MIN_EVENTS 3.0   /* the floor: events in the window, before decay */
#define BLD_TREND_MIN_RATIO 3.0    /* recent (decayed) at least this times the expected */
#define BLD_TREND_MAX_KEYS 1000u   /* queries in a trending trie */
#define BLD_TREND_SCALE 100.0      /* stored score = round(excess events x SCALE) */

typedef struct {
  unsigned window_hours; /* >= 1 */
  double half_life;      /* hours, > 0 (INFINITY: no decay in the window) */
  double min_events;     /* raw events in the window below which nothing trends */
  double min_ratio;      /* recent / expected below which nothing trends */
} bld_trend_rule_t;

void bld_trend_rule_default(bld_trend_rule_t *r);
/* The weight of an hour age hours before the newest of the window: 0.5^(age / half_life)
 * inside the window (0 <= age < window_hours), 0 outside. */
double bld_trend_hour_weight(const bld_trend_rule_t *r, int64_t age);
/* The burst score of one query: recent = its window's counts weighted by
 * bld_trend_hour_weight, raw = the same unweighted, base_per_hour = its weekly baseline in
 * events per hour (0 for a new query). expected = base_per_hour x (the sum of the window's
 * weights); the score is round((recent - expected) x BLD_TREND_SCALE) when raw >= min_events and
 * recent >= min_ratio x expected, else 0 (not trending). */
double bld_trend_score(const bld_trend_rule_t *r, double recent, double raw, double base_per_hour);

/* A query that trends: its id (the caller's) and its burst score. */
typedef struct {
  uint32_t id;
  double score;
} bld_trend_cand_t;

/* Sorts c[0..n) by score descending, then id ascending, and returns how many the trie keeps:
 * min(n, max_keys). */
size_t bld_trend_keep(bld_trend_cand_t *c, size_t n, uint32_t max_keys);

typedef struct {
  bld_trend_rule_t rule;
  const char *now;      /* TIME as in tsv logs (the window ends with its hour); NULL: the newest
                          hour table not after the clock's (tbl_newest_until_now) */
  const char *market;   /* NULL: the global total; else that market's rows */
  unsigned base_weeks;  /* weeks of the baseline, >= 1; and of the display forms' window */
  double half_life;     /* in weeks, > 0 (INFINITY: none): the display forms' decay */
  uint32_t max_keys;    /* the highest scores kept (ties: the first keys met), >= 1 */
  int64_t now_hour;     /* out: the newest hour of the window (hours since the epoch) */
  size_t future_tables; /* out: without now, the hour tables after the clock's hour, left out */
  uint64_t hour_tables; /* out: hour tables read */
  uint64_t candidates;  /* out: queries that trend, before max_keys */
  uint64_t trending;    /* out: queries added */
} bld_trending_opts_t;

/* Adds DIR's trending queries into acc: (display form, raw events, burst score). The display
 * form is the main trie's: the heaviest spelling of the key over the base_weeks weeks up to the
 * week of now_hour, decayed by half_life (bld_read_tables, as typeahead-build --tables with
 * those --weeks and --half-life chooses it), else the window's heaviest spelling.
 * TA_EEMPTY when DIR holds no hour table, TA_EPARSE for a bad now, a bad table's error; diag
 * says what. */
int bld_read_trending(bld_acc_t *acc, const char *dir, bld_trending_opts_t *o, ta_diag_t *diag);

/* ---- Output ------------------------------------------------------------------------------ */

typedef struct {
  uint32_t k;               /* completions per node, 1..TA_MAX_K */
  double min_count;         /* keys whose summed count (before decay) is below it are dropped */
  int64_t build_time;       /* unix seconds stored in the file */
  const char *source;       /* free text stored in the file, e.g. "freq:queries.tsv" */
  bld_progress_fn progress; /* may be NULL */
  void *progress_ctx;
  /* May be NULL. Called once per key (normalized) before ranking: nonzero drops the key
   * (typeahead-build --blocklist: a rule of the filter layer matches it). */
  int (*drop)(void *ctx, const char *key, size_t key_len);
  void *drop_ctx;
  const char *market; /* the market the file serves, recorded in it (NULL: none) */
} bld_write_opts_t;

typedef struct {
  uint64_t keys_written;
  uint64_t keys_below_min; /* dropped by min_count */
  uint64_t keys_dropped;   /* dropped by opts->drop */
  uint64_t file_size;      /* bytes of the committed file */
} bld_summary_t;

/* Writes the trie of acc's keys to out_path atomically: temp file beside it, trie_write, flush,
 * trie_open + trie_verify of the temp file, fsync, rename. On any failure the temp file is
 * removed, out_path is untouched, and diag says why. Consumes acc's tables (acc can only be
 * freed afterwards). */
int bld_write(bld_acc_t *acc, const char *out_path, const bld_write_opts_t *opts,
              bld_summary_t *summary, ta_diag_t *diag);

/* Like bld_write, into n_shards prefix shards (SPEC §11, docs/FORMAT.md "Shard map"): the keys
 * planned by first code point (trie_shard_plan: TA_ERANGE with the reason when the data cannot
 * be split within TRIE_SHARD_MAX_SKEW), or split by the map fixed when it is not NULL (then
 * n_shards is its count: a fleet keeps its map from one build to the next), each shard written
 * as dir/shard-I.trie exactly as bld_write writes a file, then dir/shards.map (atomically),
 * last, so that a map never names a shard that was not written. summary adds up the shards;
 * shard_keys (may be NULL; room for the shards) gets each shard's key count. Consumes acc. */
int bld_write_shards(bld_acc_t *acc, const char *dir, unsigned n_shards,
                     const trie_shard_map_t *fixed, const bld_write_opts_t *opts,
                     bld_summary_t *summary, uint64_t *shard_keys, ta_diag_t *diag);

#ifdef __cplusplus
}
#endif
#endif /* TYPEAHEAD_BLD_H */
