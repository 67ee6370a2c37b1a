/*
 * typeahead: the aggregator's public interface (SPEC §4, docs/TABLES.md).
 *
 * Query logs become one frequency table per ISO week in a tables directory:
 *
 *   LOG (tsv|aol, plain|gzip|stdin) --agg_run--> DIR/2006-W09.msgpack, DIR/2006-W10.msgpack, ...
 *                                                DIR/ledger (SHA-256 of every ingested input)
 *
 * Tables hold display spellings (trie_norm_display of the raw query) with their event counts,
 * sorted bytewise, so the builder can choose display forms and compute keys itself.
 * A run is one transaction: new tables and the new ledger appear together or not at all, and a
 * run killed at any moment is completed or forgotten by the next one (see agg_run.c).
 *
 * Weeks are numbered by agg_week_t: weeks since the Monday 1969-12-29, so week 0 holds the epoch.
 *
 * Conventions (DEVELOPERS.md): functions return 0 or a negative TA_E* code; results go through
 * out-parameters; _close/_free(NULL) is a no-op.
 */
#ifndef TYPEAHEAD_AGG_H
#define TYPEAHEAD_AGG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "trie.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- ISO weeks (UTC, proleptic Gregorian, no locale or time zone involved) ---------------- */

typedef int32_t agg_week_t;

/* Longest agg_week_name / agg_week_date output, with the NUL. */
#define AGG_WEEK_STR 48 /* room for any int64 year and int fields, so no output can be cut */

/* Week of a unix time (seconds, may be negative). */
agg_week_t agg_week_of_unix(int64_t t);
/* Unix time of the week's Monday 00:00:00 UTC. */
int64_t agg_week_start_unix(agg_week_t w);
/* "2006-W09" (ISO week-numbering year and week), the table's file name without ".msgpack". */
void agg_week_name(agg_week_t w, char out[AGG_WEEK_STR]);
/* "2006-02-27": the week's Monday. */
void agg_week_date(agg_week_t w, char out[AGG_WEEK_STR]);
/* Parses "YYYY-MM-DD" (the week holding that day) or "YYYY-Www". TA_EPARSE otherwise. */
int agg_week_parse(const char *s, size_t len, agg_week_t *out);

/* Parses a log timestamp: unix seconds, or ISO-8601 "YYYY-MM-DD[T| ]HH:MM:SS[.frac][Z|±HH[:]MM]"
 * (no offset means UTC). TA_EPARSE when malformed or out of range (years 1..9999). */
int agg_parse_time(const char *s, size_t len, int64_t *out);

/* ---- Week tables (docs/TABLES.md) --------------------------------------------------------- */

#define AGG_TABLE_FORMAT "typeahead-week"
#define AGG_TABLE_VERSION 1
#define AGG_TABLE_SUFFIX ".msgpack"
/* Longest spelling a table may hold, in bytes (longer log queries are counted as too long). */
#define AGG_MAX_QUERY 1024

typedef struct agg_table agg_table_t;

/* Opens a week table for streaming (bounded memory, whatever its size) and checks its header.
 * Every byte is treated as hostile: a bad file gives TA_EBADMAGIC, TA_EVERSION, TA_ECORRUPT or
 * TA_ETRUNC, with a sentence saying what and where in agg_table_errmsg(). On failure *out is
 * still set (so the message can be read) and must be closed; it is NULL only on TA_ENOMEM. */
int agg_table_open(const char *path, agg_table_t **out);
agg_week_t agg_table_week(const agg_table_t *t);
/* Next (spelling, count), in strictly ascending byte order. Returns 1 with a row, 0 at the end
 * (after checking the trailer), or a negative error. *s is borrowed until the next call. */
int agg_table_next(agg_table_t *t, const char **s, size_t *len, uint64_t *count);
/* What went wrong, with file name and byte offset; "" when nothing did. Borrowed. */
const char *agg_table_errmsg(const agg_table_t *t);
void agg_table_close(agg_table_t *t);

/* The week tables of DIR in week order: *out_paths is a malloc'd array of malloc'd paths (free
 * with agg_paths_free). Includes tables of a committed run that is not yet rolled forward, so
 * readers see the newest committed state. */
int agg_tables_list(const char *dir, char ***out_paths, size_t *out_n);
void agg_paths_free(char **paths, size_t n);

/* Writes DIR's tables (or one table FILE) as "week_start<TAB>spelling<TAB>count" lines, sorted
 * by week then spelling. On error, a message goes into err (may be NULL). */
int agg_dump(const char *path, FILE *out, char *err, size_t err_cap);

/* ---- A run (typeahead-aggregate --tables) ------------------------------------------------- */

typedef enum { AGG_FORMAT_TSV = 0, AGG_FORMAT_AOL = 1 } agg_format_t;

/* Why a line was skipped: the order of the summary. */
#define AGG_BAD_TABLE(X)                \
  X(AGG_BAD_TIMESTAMP, "bad timestamp") \
  X(AGG_BAD_FIELDS, "missing field")    \
  X(AGG_BAD_EXTRA, "extra field")       \
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
  double max_bad_pct; /* more bad lines than this percentage: write nothing, TA_ETOOBAD */
  uint64_t mem_bytes; /* budget of the (week, spelling) count table; 0 = default 512 MB */
  unsigned threads;   /* parsing and counting threads; 0 = the online CPUs, at most 4
                             (aol logs: always 1, their duplicate rule reads rows in order) */
  int progress;       /* nonzero: a progress line on stderr now and then */
  FILE *warn;         /* where the first bad lines are named ("FILE:LINE: reason"); NULL */
} agg_opts_t;

typedef struct {
  uint64_t inputs;      /* inputs given */
  uint64_t skipped;     /* inputs already in the ledger (or given twice) */
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
 * an exclusive lock on DIR and first completes or discards what a killed run left. Inputs whose
 * SHA-256 is in the ledger are skipped. On error nothing is written and err (may be NULL) says
 * what and where. */
int agg_run(const char *dir, const char *const *inputs, size_t n, const agg_opts_t *opts,
            agg_stats_t *stats, char *err, size_t err_cap);

/* The one-line summary of a run (no newline). */
void agg_stats_format(const agg_stats_t *s, char *out, size_t cap);

#ifdef __cplusplus
}
#endif
#endif /* TYPEAHEAD_AGG_H */
