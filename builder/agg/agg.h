/*
 * typeahead: the aggregator's public interface (library ta_agg, tool typeahead-aggregate;
 * SPEC §4, docs/TABLES.md).
 *
 * Query logs become one frequency table per ISO week in a tables directory:
 *
 *   LOG (tsv|aol, plain|gzip|stdin) --agg_run--> DIR/2006-W09.msgpack, DIR/2006-W10.msgpack, ...
 *                                                DIR/ledger (the identity of every ingested input)
 *
 * Tables hold display spellings (trie_norm_display of the raw query) with their event counts,
 * sorted bytewise, so the builder can choose display forms and compute keys itself: the global
 * total, and each market's (a tsv log's optional third field, SPEC §10). Weeks and
 * the table files are the tables module's (tbl.h), which the builder reads them with.
 * A run is one transaction: new tables and the new ledger appear together or not at all, and a
 * run killed at any moment is completed or forgotten by the next one (see agg_run.c).
 *
 * Conventions (every module's, base/ta.h): functions return 0 or a negative TA_E* code; results
 * go through out-parameters; _close/_free(NULL) is a no-op.
 */
#ifndef TYPEAHEAD_AGG_H
#define TYPEAHEAD_AGG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ta.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- A run (typeahead-aggregate --tables) ------------------------------------------------- */

typedef enum { AGG_FORMAT_TSV = 0, AGG_FORMAT_AOL = 1 } agg_format_t;

/* Why a line was skipped: the order of the summary. */
#define AGG_BAD_TABLE(X)                \
  X(AGG_BAD_TIMESTAMP, "bad timestamp") \
  X(AGG_BAD_FIELDS, "missing field")    \
  X(AGG_BAD_EXTRA, "extra field")       \
  X(AGG_BAD_MARKET, "bad market")       \
  X(AGG_BAD_UTF8, "invalid UTF-8")      \
  X(AGG_BAD_EMPTY, "empty query")       \
  X(AGG_BAD_TOOLONG, "too long")

#define AGG__BAD_ENUM(name, msg) name,
typedef enum { AGG_BAD_TABLE(AGG__BAD_ENUM) AGG_BAD_COUNT } agg_bad_t;
#undef AGG__BAD_ENUM

const char *agg_bad_name(agg_bad_t reason);

typedef struct {
  agg_format_t format;
  uint64_t sample;    /* keep 1 event in sample (hash of the line), 0 or 1 = all */
  double max_bad_pct; /* a log with more bad lines than this percentage is refused */
  uint64_t mem_bytes; /* budget of the (week, spelling) count table; 0 = default 512 MB */
  unsigned threads;   /* parsing and counting threads; 0 = the online CPUs, at most 4
                             (aol logs: always 1, their duplicate rule reads rows in order) */
  int progress;       /* nonzero: a progress line on stderr now and then */
  int hours;          /* nonzero: also count each event in its hour's table (--hours) */
  FILE *warn;         /* where the first bad lines are named ("FILE:LINE: reason"); NULL */
  /* Called once for each refused log (too many bad lines, unreadable, changed while read), with
   * its name as given and why; may be NULL. */
  void (*refused)(void *ctx, const char *name, const char *why);
  void *refused_ctx;
  unsigned lock_wait_s; /* seconds to wait for DIR's lock held by another run (--wait); 0 */
} agg_opts_t;

typedef struct {
  uint64_t inputs;      /* inputs given */
  uint64_t skipped;     /* inputs already in the ledger (or given twice) */
  uint64_t refused;     /* inputs refused: not counted, not in the ledger */
  uint64_t bytes;       /* bytes read (compressed size for gzip) */
  uint64_t lines;       /* lines read, header and blank lines excluded */
  uint64_t events;      /* events counted */
  uint64_t duplicates;  /* AOL rows repeating an event already counted */
  uint64_t sampled_out; /* events left out by --sample */
  uint64_t bad[AGG_BAD_COUNT];
  uint64_t bad_total;
  uint64_t weeks;  /* week tables written */
  uint64_t spills; /* sorted runs spilled to disk */
  double seconds;
} agg_stats_t;

void agg_opts_init(agg_opts_t *o);

/* Ingests inputs[0..n) ("-" is stdin) into DIR (created when missing) as one transaction. Takes
 * an exclusive lock on DIR and first completes or discards what a killed run left. An input
 * whose decompressed content is in the ledger is skipped; one that continues a content of the
 * ledger counts only what follows it. A log with more than opts->max_bad_pct bad lines, or that
 * cannot be read, is refused (opts->refused, stats->refused) and the others are still ingested.
 * On error nothing is written and err (may be NULL) says what and where. */
int agg_run(const char *dir, const char *const *inputs, size_t n, const agg_opts_t *opts,
            agg_stats_t *stats, char *err, size_t err_cap);

/* --hours: removes DIR's hour tables older than TBL_HOURS_KEPT hours before the newest one,
 * under DIR's lock (waiting up to wait_s seconds for it; after completing an interrupted run).
 * *removed gets their number. */
int agg_hours_prune(const char *dir, unsigned wait_s, uint64_t *removed, char *err, size_t err_cap);

/* The one-line summary of a run (no newline). */
void agg_stats_format(const agg_stats_t *s, char *out, size_t cap);

/* ---- Map, reduce, load (typeahead-aggregate --map / --reduce / --load; SPEC §12) ------------ */

/* Records are "week<TAB>market<TAB>spelling<TAB>value" lines (docs/TABLES.md). */
typedef struct {
  uint64_t records; /* records read */
  uint64_t rows;    /* records written (--reduce) or loaded (--load) */
  uint64_t events;  /* the sum of the global rows' counts */
  uint64_t weeks;   /* tables written (--load) */
  int already;      /* --load: the batch was loaded before; nothing was read or written */
} agg_mr_stats_t;

/* Longest batch id; a batch id is 1..AGG_MAX_BATCH printable ASCII bytes without space. */
#define AGG_MAX_BATCH 128
int agg_batch_valid(const char *id);

/* The lines of in_fd (a log of opts->format, plain text) as records on out, judged as a run
 * judges them (opts->sample, opts->warn; stats as agg_run's). A log past opts->max_bad_pct is
 * named through opts->refused and stats->refused is 1 (its records must then be thrown away). */
int agg_map(int in_fd, FILE *out, const agg_opts_t *opts, agg_stats_t *stats, char *err,
            size_t err_cap);
/* Records sorted bytewise (LC_ALL=C sort) to one summed record per (week, market, spelling), in
 * the same order; AOL event ids count once each. A malformed or unsorted line, or a sum past
 * 64 bits, is an error naming the line; what was written before it must be thrown away. */
int agg_reduce(int in_fd, FILE *out, agg_mr_stats_t *stats, char *err, size_t err_cap);
/* Adds the summed records of in_fd (strictly ascending, counts only) to DIR's tables as one
 * transaction (agg_run's; DIR's lock waited for up to wait_s seconds), with batch in
 * DIR/batches: a batch already there is not loaded again (stats->already). On error nothing is
 * written and err names the line. */
int agg_load(const char *dir, const char *batch, unsigned wait_s, int in_fd, agg_mr_stats_t *stats,
             char *err, size_t err_cap);

/* ---- Reading tables back (typeahead-aggregate --dump) ------------------------------------- */

/* Writes DIR's tables (or one table FILE) as "week_start<TAB>spelling<TAB>count" lines, sorted
 * by week then spelling: the global total when market is NULL, else that market's rows. On
 * error, a message goes into err (may be NULL). */
int agg_dump(const char *path, const char *market, FILE *out, char *err, size_t err_cap);

/* Writes "market<TAB>events" for every market of DIR's tables (or one table FILE), sorted by
 * name, events summed over all the weeks. */
int agg_markets(const char *path, FILE *out, char *err, size_t err_cap);

#ifdef __cplusplus
}
#endif
#endif /* TYPEAHEAD_AGG_H */
