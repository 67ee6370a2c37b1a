/*
 * typeahead: the week tables (library ta_tbl; format and directory layout in docs/TABLES.md).
 * typeahead-aggregate writes them, typeahead-build --tables reads them; both go through here.
 *
 *   weeks       ISO weeks (UTC, proleptic Gregorian, no locale or time zone involved) and the
 *               log timestamps that pick an event's week (tbl_week.c)
 *   files       one msgpack table per week: a streaming writer and a streaming reader that
 *               treats every byte as hostile (tbl_file.c)
 *   keys        a row's key: its market (none for the global total) and spelling (tbl_key.c)
 *   directory   the tables of a tables directory, in week order (tbl_dir.c)
 *
 * Weeks are numbered by tbl_week_t: weeks since the Monday 1969-12-29, so week 0 holds the epoch.
 *
 * Conventions (every module's, base/ta.h): functions return 0 or a negative TA_E* code; results
 * go through out-parameters; _close/_free/_abort(NULL) is a no-op.
 */
#ifndef TYPEAHEAD_TBL_H
#define TYPEAHEAD_TBL_H

#include <stddef.h>
#include <stdint.h>

#include "ta.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- ISO weeks and log timestamps (tbl_week.c) -------------------------------------------- */

typedef int32_t tbl_week_t;

/* Longest tbl_week_name / tbl_week_date output, with the NUL. */
#define TBL_WEEK_STR 48 /* room for any int64 year and int fields, so no output can be cut */

/* Week of a unix time (seconds, may be negative). */
tbl_week_t tbl_week_of_unix(int64_t t);
/* Unix time of the week's Monday 00:00:00 UTC. */
int64_t tbl_week_start_unix(tbl_week_t w);
/* "2006-W09" (ISO week-numbering year and week), the table's file name without ".msgpack". */
void tbl_week_name(tbl_week_t w, char out[TBL_WEEK_STR]);
/* "2006-02-27": the week's Monday. */
void tbl_week_date(tbl_week_t w, char out[TBL_WEEK_STR]);
/* Parses "YYYY-MM-DD" (the week holding that day) or "YYYY-Www". TA_EPARSE otherwise. */
int tbl_week_parse(const char *s, size_t len, tbl_week_t *out);

/* Parses a log timestamp: unix seconds, or ISO-8601 "YYYY-MM-DD[T| ]HH:MM:SS[.frac][Z|±HH[:]MM]"
 * (no offset means UTC). TA_EPARSE when malformed or out of range: the time in UTC, after the
 * offset, must be in years 1..9999 (so that its week and hour have names that read back). */
int tbl_parse_time(const char *s, size_t len, int64_t *out);

/* The last months of ISO dates tbl_parse_time_memo parsed: a log's lines share a few. Zero it
 * before the first use; its fields are tbl_week.c's. */
#define TBL_MEMO_MONTHS 4
typedef struct {
  struct {
    uint64_t ym;   /* the bytes "YYYY-MM-" */
    int64_t first; /* day number of its first day */
    int64_t days;  /* its length */
    int valid;
  } month[TBL_MEMO_MONTHS];
  unsigned next; /* the entry replaced next */
} tbl_date_memo_t;

/* tbl_parse_time, remembering the last months ("YYYY-MM-") and their day numbers in memo (may
 * be NULL). The same results, fewer date computations on a log's lines. */
int tbl_parse_time_memo(const char *s, size_t len, int64_t *out, tbl_date_memo_t *memo);

/* Hours (typeahead-aggregate --hours, docs/TABLES.md "Hour tables"): hours since the epoch,
 * floor(t / 3600). An hour's table is a week table (the week holding the hour) named
 * "YYYY-MM-DDTHH.msgpack". */
int64_t tbl_hour_of_unix(int64_t t);
/* "2006-03-01T13": the hour table's file name without ".msgpack". */
void tbl_hour_name(int64_t h, char out[TBL_WEEK_STR]);
/* Parses exactly "YYYY-MM-DDTHH" (a real date, HH 00..23). TA_EPARSE otherwise. */
int tbl_hour_parse(const char *s, size_t len, int64_t *out);
/* Hours an aggregation keeps: the newest hour counted and the 167 before it (7 days). */
#define TBL_HOURS_KEPT 168

/* ---- Table files (tbl_file.c) ------------------------------------------------------------- */

#define TBL_FORMAT "typeahead-week"
/* Version 2 records the normalization version (TRIE_NORM_VERSION) of its spellings; version 3
 * adds the counts of each market. Version 2 tables are read as tables without markets. */
#define TBL_VERSION 3
#define TBL_SUFFIX ".msgpack"
/* Longest spelling a table may hold, in bytes (longer log queries are counted as too long). */
#define TBL_MAX_QUERY 1024

/* ---- Row keys (tbl_key.c) ----------------------------------------------------------------- */

/* A row's key: the spelling itself for the global total; for a market's row, the byte
 * TBL_KEY_MARKET, the market, a 0 byte, the spelling. Keys ascend bytewise in a table's order:
 * every global row (valid UTF-8 never holds 0xff), then each market's rows by market name (the 0
 * byte sorts a name before its extensions), then spelling. */
#define TBL_KEY_MARKET 0xff
#define TBL_MAX_KEY (TBL_MAX_QUERY + TA_MAX_MARKET + 2)

/* Writes the key of (market, spelling) into out and returns its length; mlen 0 is the global
 * total. mlen <= TA_MAX_MARKET, len <= TBL_MAX_QUERY. */
size_t tbl_key_make(char out[TBL_MAX_KEY], const char *market, size_t mlen, const char *s,
                    size_t len);
/* Splits a key: *mlen is 0 for a global row. TA_EINVAL when a market key lacks its 0 byte. */
int tbl_key_split(const char *key, size_t len, const char **market, size_t *mlen, const char **s,
                  size_t *slen);

/* Markets with their events, sorted by name (typeahead-aggregate --markets, the builder's
 * --all-markets). Zero it before use. */
typedef struct {
  char name[TA_MAX_MARKET + 1];
  uint64_t events;
} tbl_market_t;
typedef struct {
  tbl_market_t *v;
  size_t n, cap;
} tbl_markets_t;

/* Adds events to market m (inserted when new). TA_ERANGE when its events overflow, TA_ENOMEM. */
int tbl_markets_add(tbl_markets_t *ms, const char *m, size_t mlen, uint64_t events);
void tbl_markets_free(tbl_markets_t *ms);

/* ---- Table files (tbl_file.c), continued -------------------------------------------------- */

/* Writer: rows by key (tbl_key_make) in strictly ascending byte order; the file is complete
 * only after close. */
typedef struct tbl_writer tbl_writer_t;

/* Creates path (O_EXCL) and writes the header of week w's table; *out is the caller's. */
int tbl_writer_open(const char *path, tbl_week_t w, tbl_writer_t **out);
/* One row: key[0..len) a valid key (spelling 1..TBL_MAX_QUERY bytes, market valid), after the
 * previous row's key bytewise, count >= 1. */
int tbl_writer_add(tbl_writer_t *wr, const char *key, size_t len, uint64_t count);
/* Writes the trailer, fsyncs and closes; frees wr (also on error, when the file is removed). */
int tbl_writer_close(tbl_writer_t *wr);
/* Closes and removes the file, frees wr. */
void tbl_writer_abort(tbl_writer_t *wr);

/* Reader: streams a table in bounded memory, whatever its size. */
typedef struct tbl_reader tbl_reader_t;

/* Opens a week table and checks its header. Every byte is treated as hostile: a bad file gives
 * TA_EBADMAGIC, TA_EVERSION, TA_ECORRUPT or TA_ETRUNC, a table of another normalization version
 * TA_ENORMVERSION, anything but a regular file (a FIFO, whose open would block; a directory)
 * TA_ENOTREG before it is opened (ta_open_regular), with a sentence saying what and where in
 * tbl_reader_errmsg(). On failure *out is still set (so the message can be read) and must be
 * closed; it is NULL only on TA_ENOMEM. A path DIR/.txn/NAME (tbl_list's) that is gone is
 * opened as DIR/NAME, where a roll forward moves it. */
int tbl_reader_open(const char *path, tbl_reader_t **out);
tbl_week_t tbl_reader_week(const tbl_reader_t *t);
/* Next (key, count), keys (tbl_key_make) in strictly ascending byte order: the global rows,
 * then each market's. Returns 1 with a row, 0 at the end (after checking the trailer), or a
 * negative error. *key is borrowed until the next call. */
int tbl_reader_next(tbl_reader_t *t, const char **key, size_t *len, uint64_t *count);
/* What went wrong, with file name and byte offset; "" when nothing did. Borrowed. */
const char *tbl_reader_errmsg(const tbl_reader_t *t);
void tbl_reader_close(tbl_reader_t *t);

/* ---- A tables directory (tbl_dir.c) ------------------------------------------------------- */

/* Where a committed aggregation run keeps its tables until they are moved into the directory
 * (docs/TABLES.md, "One run is one transaction"): readers look there first. */
#define TBL_TXN_DIR ".txn"

/* The week tables of dir in week order: *out_paths is a malloc'd array of malloc'd paths (free
 * with tbl_paths_free). Includes tables of a committed run that is not yet rolled forward, so
 * readers see the newest committed state. */
int tbl_list(const char *dir, char ***out_paths, size_t *out_n);
void tbl_paths_free(char **paths, size_t n);
/* The hour tables of dir (names "YYYY-MM-DDTHH.msgpack"), in hour order, as tbl_list. */
int tbl_hour_list(const char *dir, char ***out_paths, size_t *out_n);

/* The newest of paths[0..n) (n >= 1: tbl_list's weeks, or with hours tbl_hour_list's hours)
 * whose period is not after the clock's (the current week or hour, UTC): its week or hour in
 * *period, and in *future how many tables come after it. One log line with a timestamp in the
 * future (a wrong clock, garbage) makes a table of its own there, which must not become "the
 * newest": the builder's window and the hour tables kept are counted from this one. When
 * every table is after the clock (a machine whose clock is behind), the newest of all. */
void tbl_newest_until_now(char **paths, size_t n, int hours, int64_t *period, size_t *future);

#ifdef __cplusplus
}
#endif
#endif /* TYPEAHEAD_TBL_H */
