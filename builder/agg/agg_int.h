/*
 * typeahead: the aggregator's internals (builder/agg/agg*.c). Not a public interface.
 *
 * Data flow of one run (agg_run.c; the threads of agg_ingest.c and agg_gather.c):
 *
 *   input --agg__plan (ledger: known? grown?)--> bytes to count --agg__ingest_input-->
 *        blocks of lines --agg__parse_line (workers)-->
 *        (week, display spelling) --hash partition--> agg__counter_add_events: in-memory
 *        hash tables --(over budget)--> sorted run files
 *        --agg__ingest_finish / _next (agg__gather_*)--> one sorted stream of
 *        (week, spelling, count)
 *        --merge with DIR's old table of that week--> DIR/.txn.tmp/<week>.msgpack
 *        --rename .txn.tmp to .txn (the commit point)--> roll forward into DIR
 *
 * Layers, each calling only the ones above it in this list: agg_opts.c (options, summary,
 * messages), agg_parse.c (lines), the counter (agg_sort.c, agg_spill.c, agg_count.c),
 * agg_gather.c (the partitions' final merge), agg_sum.c (digests), agg_ledger.c (the ledger),
 * agg_input.c (an input's bytes and identity), agg_ingest.c (threads), agg_txn.c (the
 * transaction), agg_run.c, agg_mr.c (map and reduce records), agg_load.c (--load) and
 * agg_dump.c.
 * Weeks, timestamps and table files come from the tables module (tbl.h).
 */
#ifndef TYPEAHEAD_AGG_INT_H
#define TYPEAHEAD_AGG_INT_H

#include "agg.h"
#include "tbl.h"
#include "trie.h"

#include <stdarg.h>
#include <stdbool.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <zlib.h>

/* printf into err[0..cap) when err is not NULL; returns code (so callers can return it). */
int agg__fail(char *err, size_t cap, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* (week, spelling) pairs in the order of the tables: by week, then bytewise. */
static inline int agg__pair_cmp(tbl_week_t wa, const char *sa, size_t la, tbl_week_t wb,
                                const char *sb, size_t lb) {
  if (wa != wb) return wa < wb ? -1 : 1;
  return ta_bytes_cmp(sa, la, sb, lb);
}

/* The first 8 bytes of s[0..len) as a big-endian number, zero-padded: a < b as numbers implies
 * s_a < s_b bytewise (shorter first), so comparisons can start with it. */
static inline uint64_t agg__prefix_key(const char *s, size_t len) {
  uint64_t v = 0;
  memcpy(&v, s, len < 8 ? len : 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  v = __builtin_bswap64(v);
#endif
  return v;
}

/* memchr(p, c, n), inlined: the fields and lines of a log are short, and a call into the
 * library costs as much as the search. 16 bytes at a time, the last 16 overlapping. */
static inline const char *agg__find(const char *p, size_t n, char c) {
#if defined(__SSE2__)
  if (n >= 16) {
    const __m128i v = _mm_set1_epi8(c);
    size_t i = 0;
    for (;; i += 16) {
      if (i + 16 > n) i = n - 16; /* the bytes before the old i were looked at */
      unsigned m = (unsigned)_mm_movemask_epi8(
          _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + i)), v));
      if (m) return p + i + __builtin_ctz(m);
      if (i + 16 == n) return NULL;
    }
  }
  for (size_t i = 0; i < n; i++)
    if (p[i] == c) return p + i;
  return NULL;
#else
  return memchr(p, c, n);
#endif
}

/* The hash of a (week, spelling) pair: the same for every counter, so callers can partition by
 * it (its high 32 bits pick the partition, its low 32 bits the slot in a counter). */
static inline uint64_t agg__event_hash(tbl_week_t w, const char *s, size_t len) {
  return ta_hash64(s, len, (uint64_t)(uint32_t)w);
}

/* ---- Line parser (agg_parse.c) ------------------------------------------------------------ */

typedef struct agg__dedup agg__dedup_t;

typedef struct {
  agg_format_t format;
  uint64_t sample;
  agg__dedup_t *dedup;  /* AOL only: (AnonID, Query, QueryTime) seen for this AnonID */
  const char *spelling; /* the last event's display spelling: in its line or display */
  const char *market;   /* the last event's market (tsv third field) in its line */
  size_t market_len;    /* 0: the event belongs to no market */
  uint64_t event_id;    /* AOL: the last event's hash of (AnonID, Query, QueryTime) */
  int64_t time;         /* the last event's unix time (its hour for --hours) */
  tbl_date_memo_t date; /* the months of the last ISO dates seen */
  char display[TBL_MAX_QUERY + 1];
} agg__parser_t;

enum {
  AGG__LINE_EVENT = 0,
  AGG__LINE_SKIP = 1,
  AGG__LINE_DUP = 2,
  AGG__LINE_SAMPLED = 3,
  AGG__LINE_BAD = 4,
  AGG__LINE_SLOW = 5 /* agg__parse_tsv_fast: not the usual line, parse it the general way */
};

int agg__parser_init(agg__parser_t *p, agg_format_t format, uint64_t sample);
void agg__parser_reset(agg__parser_t *p); /* at the start of each input */
void agg__parser_free(agg__parser_t *p);

/* Parses one line (no newline; a trailing CR is dropped). Returns AGG__LINE_EVENT with *week,
 * the display spelling in p->spelling[0..*len) (borrowed: it points into the line when the query
 * is already in display form, else into p->display) and the market in
 * p->market[0..p->market_len) (in the line; length 0 for none), AGG__LINE_SKIP (header or blank
 * line), AGG__LINE_DUP, AGG__LINE_SAMPLED, or AGG__LINE_BAD with *reason; or a negative error. */
int agg__parse_line(agg__parser_t *p, const char *line, size_t n, tbl_week_t *week, size_t *len,
                    agg_bad_t *reason);

/* The usual tsv line (a timestamp, a TAB, a query already in display form in printable ASCII,
 * the newline within 64 bytes) at line[0..avail), in one look at its 64 bytes, which must be
 * readable even past avail (the block's padding): AGG__LINE_EVENT or AGG__LINE_SAMPLED as
 * agg__parse_line would return, with the line's length without its newline in *n_line; or
 * AGG__LINE_SLOW for any other line, which agg__parse_line then parses. */
#define AGG__TSV_LOOK 64 /* bytes agg__parse_tsv_fast reads from a line's start */
int agg__parse_tsv_fast(agg__parser_t *p, const char *line, size_t avail, size_t *n_line,
                        tbl_week_t *week, size_t *len);

/* ---- Counting with bounded memory (agg_count.c; internals in agg_count_int.h) ------------- */

typedef struct agg__counter agg__counter_t;

/* budget: bytes the table may hold before it spills a sorted run into spill_dir, as files
 * "run.<id>.<n>" (so counters with distinct ids can share the directory). */
int agg__counter_new(uint64_t budget, const char *spill_dir, unsigned id, agg__counter_t **out);
int agg__counter_add(agg__counter_t *c, tbl_week_t w, const char *s, size_t len, uint64_t n);

/* One occurrence of (week, s[0..len)) with its agg__event_hash, for batched adds. */
typedef struct {
  uint64_t hash;
  const char *s;
  uint32_t len;
  tbl_week_t week;
} agg__event_t;

/* Adds ev[0..n) (each counted once; 1 <= len <= TBL_MAX_KEY), prefetching ahead, so the
 * table's cache misses overlap. */
int agg__counter_add_events(agg__counter_t *c, const agg__event_t *ev, size_t n);
uint64_t agg__counter_spills(const agg__counter_t *c);
/* Ends adding: from now on agg__counter_next yields every (week, spelling) once with its total
 * count, ascending by week then spelling bytes, whether or not runs were spilled. */
int agg__counter_finish(agg__counter_t *c);
int agg__counter_next(agg__counter_t *c, tbl_week_t *w, const char **s, size_t *len,
                      uint64_t *count);
void agg__counter_free(agg__counter_t *c);

/* ---- The partitions' final merge (agg_gather.c) ------------------------------------------- */

typedef struct agg__gather agg__gather_t;

/* Finishes the counters parts[0..n) (agg__counter_finish) on up to threads threads, then merges
 * their sorted streams, which must hold disjoint pairs, into one. The counters stay the
 * caller's and must outlive *out. On failure *out is still set, for agg__gather_free. */
int agg__gather_new(agg__counter_t *const *parts, unsigned n, unsigned threads,
                    agg__gather_t **out);
/* The next pair of the merged stream, as agg__counter_next. */
int agg__gather_next(agg__gather_t *g, tbl_week_t *w, const char **s, size_t *len, uint64_t *count);
void agg__gather_free(agg__gather_t *g);

/* ---- Reading, parsing and counting on threads (agg_ingest.c) ------------------------------ */

typedef struct agg__ingest agg__ingest_t;
typedef struct agg__sum agg__sum_t; /* a running digest (below) */

/* Partition counters sharing budget bytes (spilling into work_dir), opts->threads workers.
 * Counts go into stats; bad lines are named on opts->warn. */
int agg__ingest_new(const agg_opts_t *opts, uint64_t budget, const char *work_dir,
                    agg_stats_t *stats, agg__ingest_t **out);
/* One input to count: the decompressed bytes [from, limit) of fd (plain or gzip, told by its
 * first two bytes), the lines of [start, from) read before them only to set up the parser (the
 * AOL duplicate set at the boundary). */
typedef struct {
  int fd;
  const char *name; /* for messages */
  uint64_t start;   /* where reading starts (plain: lseek; gzip: what is before is dropped) */
  uint64_t from;    /* where counting starts, >= start */
  uint64_t limit;   /* read no further; UINT64_MAX: to the input's end */
  uint64_t lineno;  /* physical lines before start, so bad lines are named by their number */
  int midline;      /* the byte before from is not a newline: the rest of that line is not ours */
  agg__sum_t *sum;  /* when set, updated with the bytes of [from, end) */
  uint64_t bytes;   /* out: input bytes read (compressed ones for gzip) */
  uint64_t end;     /* out: the decompressed offset reached */
  int input_fault;  /* out: the error is the input's (unreadable, bad gzip), not the run's */
  int stopped;      /* out: the ingest failed and cannot take more inputs */
} agg__input_t;

/* Counts the events of one input. Returns when every event of it is counted; on error err says
 * what and where (when in->stopped, the ingest cannot take more inputs). */
int agg__ingest_input(agg__ingest_t *g, agg__input_t *in, char *err, size_t err_cap);
/* The progress line (when opts->progress), final with a newline. */
void agg__ingest_progress(agg__ingest_t *g, int final);
uint64_t agg__ingest_spills(const agg__ingest_t *g);
/* Ends counting (the partitions are sorted in parallel); then agg__ingest_next yields the
 * sorted stream of every (week, spelling) with its total, as agg__counter_next does. */
int agg__ingest_finish(agg__ingest_t *g);
int agg__ingest_next(agg__ingest_t *g, tbl_week_t *w, const char **s, size_t *len, uint64_t *count);
void agg__ingest_free(agg__ingest_t *g);

/* ---- An input's bytes (agg_input.c) ------------------------------------------------------ */

/* The decompressed bytes of a plain or gzip input (told by its first two bytes). */
typedef struct {
  int fd;
  gzFile gz;
  uint64_t pos;      /* decompressed offset of the next byte */
  uint64_t consumed; /* gzip: compressed bytes read so far */
} agg__src_t;

/* Opens fd (not closed by agg__src_close) at decompressed offset start (gzip: the bytes before
 * it are read into scratch[0..cap) and dropped). */
int agg__src_open(agg__src_t *s, int fd, uint64_t start, char *scratch, size_t cap,
                  const char *name, char *err, size_t err_cap);
/* At most cap bytes, none past offset end; *n = 0 at the end. *got += input bytes read
 * (compressed ones for gzip). */
int agg__src_read(agg__src_t *s, char *buf, size_t cap, uint64_t end, size_t *n, uint64_t *got,
                  const char *name, char *err, size_t err_cap);
void agg__src_close(agg__src_t *s);

/* ---- An input's identity and the ledger (agg_sum.c, agg_ledger.c, agg_input.c) ----------- */

/* An input is known by its decompressed content: its digest, its length, and the digest of its
 * first min(length, AGG__HEAD) bytes, which finds the rows a longer input may continue. */
#define AGG__HEAD 4096

/* The digests of ledger rows: XXH3-128 for the rows written now, SHA-256 in the rows of version
 * 1 and 2 ledgers (still honoured). */
typedef enum { AGG__XXH128 = 0, AGG__SHA256 = 1 } agg__alg_t;
#define AGG__HEX 65 /* room for the lowercase hex of either digest, with its NUL */

/* A running digest of bytes fed in order (agg__sum_t). */
int agg__sum_new(agg__alg_t alg, agg__sum_t **out);
void agg__sum_update(agg__sum_t *s, const void *p, size_t n);
int agg__sum_copy(const agg__sum_t *s, agg__sum_t **out);
/* The digest of what was fed so far (s can go on). */
int agg__sum_hex(const agg__sum_t *s, char hex[AGG__HEX]);
void agg__sum_free(agg__sum_t *s);
/* The digest of p[0..n). */
int agg__digest_hex(agg__alg_t alg, const void *p, size_t n, char hex[AGG__HEX]);

typedef struct {
  agg__alg_t alg;      /* of hex and head */
  char hex[AGG__HEX];  /* digest of the content (v1 rows: of the bytes as given) */
  char head[AGG__HEX]; /* digest of its first min(bytes, AGG__HEAD) bytes; "" in a v1 row */
  uint64_t bytes;      /* its length; UINT64_MAX when a v1 row does not say */
  char *line;          /* the whole row as written, with its newline */
} agg__row_t;

typedef struct {
  agg__row_t *rows;
  size_t n, cap;
} agg__ledger_t;

int agg__ledger_read(const char *dir, agg__ledger_t *l, char *err, size_t cap);
/* Writes the rows, sorted by digest, into a new file path, fsynced. */
int agg__ledger_write(const char *path, agg__ledger_t *l);
/* Adds an XXH3-128 row. */
int agg__ledger_add(agg__ledger_t *l, const char *hex, const char *head, uint64_t bytes,
                    uint64_t events, const char *name);
void agg__ledger_truncate(agg__ledger_t *l, size_t n); /* drops the rows from n on */
void agg__ledger_free(agg__ledger_t *l);
/* 1 when a row of digest alg (content_only: one with a head, whose digest is of the
 * decompressed content) has this digest. */
int agg__ledger_has(const agg__ledger_t *l, agg__alg_t alg, const char *hex, int content_only);
/* 1 when some row has a head and digest alg (so SHA-256 is worth computing for an input). */
int agg__ledger_has_alg(const agg__ledger_t *l, agg__alg_t alg);
/* 1 when a v1 row has this size: the input's bytes as given must then be hashed. */
int agg__ledger_has_v1_size(const agg__ledger_t *l, uint64_t bytes);

/* What to count of an input (agg__plan): nothing, all of it, or what follows a prefix counted
 * before (the longest row whose content the input starts with). */
typedef struct {
  int known;           /* its whole content is in the ledger: skip it */
  uint64_t from;       /* the bytes before it were counted (the length of that row) */
  uint64_t lines;      /* newlines before from */
  int midline;         /* the byte before from is not a newline */
  uint64_t length;     /* the content's length (when the whole input was read: from > 0) */
  char hex[AGG__HEX];  /* the content's XXH3-128 (likewise) */
  char head[AGG__HEX]; /* the XXH3-128 of its first min(length, AGG__HEAD) bytes */
  unsigned char headbuf[AGG__HEAD];
  size_t head_len;     /* bytes in headbuf: min(length, AGG__HEAD) when read */
  agg__sum_t *at_from; /* XXH3-128 state after from bytes (fresh when from is 0) */
} agg__plan_t;

/* Finds what to count of the open input fd (its head, then, when some row may be a prefix of it,
 * a hashing pass over the whole). buf: a scratch buffer of cap bytes. */
int agg__plan(const agg__ledger_t *l, int fd, const char *name, char *buf, size_t cap,
              agg__plan_t *p, char *err, size_t err_cap);
void agg__plan_free(agg__plan_t *p);

/* ---- Hour tables (agg_hours.c) ----------------------------------------------------------- */

/* With --hours an event is also counted under its hour's period: a tbl_week_t above every
 * week (AGG__HOUR_BASE + hour since the epoch), so the counters, spills and merges carry it
 * like a week and hours come after weeks in the sorted stream. */
#define AGG__HOUR_BASE ((tbl_week_t)1 << 30)
/* The period of unix time t's hour. */
tbl_week_t agg__hour_period(int64_t t);
/* A period's table: its file name (without suffix) and the week its header names. */
void agg__period_name(tbl_week_t period, char out[TBL_WEEK_STR]);
tbl_week_t agg__period_week(tbl_week_t period);

/* ---- The tables directory of a run (agg_run.c) -------------------------------------------- */

/* Subdirectories and files of a tables directory besides the tables (docs/TABLES.md). */
#define AGG__TXN_TMP ".txn.tmp" /* the run being written: thrown away if found at start */
#define AGG__WORK ".work"       /* spilled runs and spooled stdin: thrown away at start */
#define AGG__LEDGER "ledger"
#define AGG__LOCK ".lock"

/* Whether a log with bad of lines lines is refused by --max-bad; why says so when it is. */
int agg__too_bad(const agg_opts_t *opts, uint64_t bad, uint64_t lines, char *why, size_t cap);

/* ---- The transaction of a tables directory (agg_txn.c) ------------------------------------ */

/* A sorted stream of (week, row key, count) to add to DIR's tables: returns 1 with a row, 0 at
 * the end, or a negative error with its message in err. */
typedef int (*agg__rows_fn)(void *ctx, tbl_week_t *w, const char **key, size_t *len,
                            uint64_t *count, char *err, size_t cap);

/* Creates DIR when missing, takes its lock (*lock_fd, -1 when not taken), waiting up to wait_s
 * seconds while another process holds it (then TA_EBUSY), completes a committed transaction that
 * was interrupted and throws away an uncommitted one (.txn.tmp, .work). */
int agg__txn_begin(const char *dir, unsigned wait_s, int *lock_fd, char *err, size_t cap);
/* Creates DIR/.txn.tmp and writes there the new table of every week of the stream (merged with
 * DIR's table of that week); *weeks += the tables written. */
int agg__txn_tables(const char *dir, agg__rows_fn next, void *ctx, uint64_t *weeks, char *err,
                    size_t cap);
/* Commits what DIR/.txn.tmp holds (fsync, the rename, roll forward). */
int agg__txn_commit(const char *dir, char *err, size_t cap);
/* Throws away .txn.tmp (when failed) and .work, and releases the lock. */
void agg__txn_end(const char *dir, int lock_fd, int failed);
/* Removes every file of dir/sub and then the directory (it holds no subdirectories); a symlink
 * or a file at dir/sub is removed itself, never followed. */
int agg__txn_remove(const char *dir, const char *sub);

/* ---- Lines and records of map, reduce and load (agg_mr.c) --------------------------------- */

/* The lines of a file descriptor, read through a 1 MiB buffer. */
typedef struct {
  int fd;
  char *buf;
  size_t pos, end;
  int eof, skipping;
  uint64_t lineno; /* of the last line returned, from 1 */
  uint64_t bytes;  /* read so far */
} agg__lines_t;

enum {
  AGG__LF_TOOLONG = 1, /* the line did not fit the buffer: it is returned empty */
  AGG__LF_CUT = 2      /* the last line had no newline */
};

int agg__lines_open(agg__lines_t *r, int fd);
/* The next line without its newline (borrowed until the next call), with AGG__LF_* flags:
 * returns 1, 0 at the end, or a negative read error. */
int agg__lines_next(agg__lines_t *r, const char **line, size_t *n, int *flags);
void agg__lines_close(agg__lines_t *r);

/* One record "week<TAB>market<TAB>spelling<TAB>value" (docs/TABLES.md). Zero it before the first
 * agg__rec_parse; it remembers the last week's text. */
typedef struct {
  tbl_week_t week;
  char week_text[16];
  size_t week_len;
  const char *market, *s; /* in the line */
  size_t market_len, len;
  size_t key_len; /* bytes of the line up to the value: the record's key */
  int is_id;      /* the value is an AOL event id, not a count */
  uint64_t value;
} agg__rec_t;

/* Parses a record's fields (not the spelling's display form: agg__rec_spelling_ok). TA_EPARSE
 * with *why saying what is wrong. */
int agg__rec_parse(agg__rec_t *r, const char *line, size_t n, const char **why);
/* 1 when the record's spelling is valid UTF-8 and its own display form (trie_norm_display). */
int agg__rec_spelling_ok(const agg__rec_t *r);

#endif /* TYPEAHEAD_AGG_INT_H */
