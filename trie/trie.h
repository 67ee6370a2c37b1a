/*
 * typeahead: the trie module's public interface.
 *
 * One header for everything the other modules use from trie/:
 *   - the one normalization routine of SPEC §3 (key and display forms),
 *   - the reader of the trie file format (docs/FORMAT.md): cheap open, full verify, top-k lookup,
 *     and a rank-order iterator with a caller's predicate (used by the blocklist filter layer),
 *   - the writer of that format.
 * It includes ta.h, the base layer (errors, diagnostics, limits, hash, clocks, atomic files,
 * numbers, memory), so a module that includes trie.h has both.
 *
 * Conventions (every module's, base/ta.h): functions return 0 or a negative TA_E* code; results go
 * through out-parameters; _free/_close(NULL) is a no-op; views into the mapping are (ptr, len),
 * borrowed until trie_close(); a hit's text lives until trie_close() or the reset of the
 * caller's text scratch (trie_text_t), whichever comes first.
 */
#ifndef TYPEAHEAD_TRIE_H
#define TYPEAHEAD_TRIE_H

#include "ta.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Normalization (SPEC §3) -------------------------------------------------------------- */

/* The version of the normalization below. Keys and display forms depend on it, so every trie
 * (META) and every week table records the version that made it, and a reader refuses a file of
 * another version with TA_ENORMVERSION ("rebuild with this version"). Raised whenever any input
 * gets another key or display form. 1 is the normalization before it had a number (files
 * without the field); 2 adds Hangul as jamo, kana folding, format characters and bidi
 * controls dropped. */
#define TRIE_NORM_VERSION 2u

/* Writes the key of src[0..len) into dst (capacity cap; NUL-terminated), its length in
 * *out_len. Key = NFKC, case folded, combining marks stripped, default-ignorable and format
 * characters (and U+2800) dropped, katakana folded to hiragana, Hangul as conjoining jamo,
 * Unicode whitespace runs to one ASCII space, trimmed, control characters dropped. Returns
 * TA_EUTF8 for invalid or truncated UTF-8 and TA_ENOSPC when cap is too small. Allocates
 * nothing on the ASCII fast path. This is what tries store and rules match. */
int trie_norm_key(const char *src, size_t len, char *dst, size_t cap, size_t *out_len);

/* The key of a prefix a user is typing, what a lookup walks: trie_norm_key, except that
 * whitespace after the last word is kept as one trailing space (the user finished the word, so
 * "new " finds "new york" and not "newsday"). Whitespace alone still gives "". Same errors. */
int trie_norm_prefix(const char *src, size_t len, char *dst, size_t cap, size_t *out_len);

/* Display form of one raw spelling: NFC, whitespace runs collapsed to one space, trimmed,
 * control characters and bidi controls (U+202A..202E, U+2066..2069, U+200E, U+200F, U+061C)
 * dropped. Same errors as trie_norm_key. */
int trie_norm_display(const char *src, size_t len, char *dst, size_t cap, size_t *out_len);

/* 1 when s[0..len) is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF), else 0. */
int trie_utf8_valid(const char *s, size_t len);

/* Appends the string s to buf (cap bytes, *n used, NUL kept) as valid UTF-8, for text that must
 * be (a trie's source, JSON): a byte of no UTF-8 character (a Latin-1 file name) as \xNN, and
 * only whole pieces, so a string too long is cut between two. */
void trie_utf8_put(char *buf, size_t cap, size_t *n, const char *s);

/* ---- Version ------------------------------------------------------------------------------ */

/* Prints the --version text of tool to f: the project version, the trie format versions this
 * build writes and reads, and the normalization version. 0, or TA_EIO when f cannot be
 * written. */
int trie_print_version(FILE *f, const char *tool);

/* ---- Reader ------------------------------------------------------------------------------- */

typedef struct trie_reader trie_reader_t;

typedef struct {
  uint32_t format_version; /* write version of the file */
  uint32_t k;              /* completions stored per node */
  uint64_t num_queries;    /* distinct keys */
  uint64_t num_nodes;
  uint64_t file_size;
  int64_t build_time; /* unix seconds */
  const char *source; /* borrowed, not NUL-terminated: what the file was built from */
  size_t source_len;
  uint32_t file_crc;     /* CRC32C of the header: a cheap version tag for ETags */
  uint32_t norm_version; /* TRIE_NORM_VERSION of the build (open refuses any other) */
  /* What the file was built to serve (FORMAT.md, META), so that a server can refuse a file put
   * in another's place: market_len 0 is no market's (the global total, a --freq build); shards
   * 0 is no shard's, else the file is shard `shard` of a build into `shards`. */
  const char *market; /* borrowed, not NUL-terminated, ta_market_valid */
  size_t market_len;
  uint32_t shards, shard;
} trie_info_t;

/* Where lookups put the texts they decode: a caller-owned scratch passed to every function
 * that fills trie_hit_t or trie_match_t. A hit's text is valid until the reader is closed or
 * the scratch is reset or freed, whichever comes first (the texts of the best ids are borrowed
 * from the mapping; the others are rebuilt from the trie's labels into the scratch, see
 * docs/FORMAT.md). Texts handed out never move until then. Memory: what was decoded
 * since the last reset (chunks of 64 KiB; reset keeps one), so reset once the hits it holds are
 * no longer used: per request, or per lookup in a loop. Not thread-safe: one per thread or per
 * request in flight. */
typedef struct trie_text trie_text_t;
int trie_text_new(trie_text_t **out); /* 0 or TA_ENOMEM */
/* Every text handed out before is invalid after; keeps one chunk for the next texts. */
void trie_text_reset(trie_text_t *t);
void trie_text_free(trie_text_t *t); /* NULL: no-op */

typedef struct {
  uint32_t id; /* rank of the query in the file: 0 is the best */
  double score;
  const char *text; /* display form, not NUL-terminated: valid as the scratch says (above) */
  size_t text_len;
} trie_hit_t;

/* Maps path and checks sizes, magic, versions and section bounds (cheap: no CRC of the body).
 * A file built with another normalization version gives TA_ENORMVERSION.
 * On success *out owns the mapping; release it with trie_close(). The reader never changes
 * after open: any number of threads may use it at once (lookups, verify, get_info). */
int trie_open(const char *path, trie_reader_t **out);
/* trie_open on a descriptor open for reading, which the caller keeps (and may close once this
 * returns: the mapping stays): the file a writer still holds, which may have no name yet
 * (bld_write verifies its temp file, ta_afile_fd). */
int trie_open_fd(int fd, trie_reader_t **out);

/* Like trie_open, but from a private copy: the file is read whole (ta_open_regular, ta_read_fd:
 * a regular file of at most max bytes, opened without blocking; anything else is refused before
 * a byte is read) into memory the reader owns and frees at trie_close. Its header block is first
 * checked against its size on the same descriptor (a file extended in place is refused before
 * it is read), so the file checked is the file read. Nothing done to the file later
 * (rewritten in place, truncated, edited) reaches the reader, and no access can fault as on a
 * mapping of a file that shrank: what was verified stays what is served. Costs the file's size
 * in memory. diag (may be NULL) gets the code and what was wrong. */
int trie_open_copy(const char *path, size_t max, trie_reader_t **out, ta_diag_t *diag);

/* Full check: CRC32C of every section and a walk of the whole structure. 0 when sound. On a
 * fault, diag (may be NULL) gets the code and where: the section and the byte offset in the
 * file of the first bad byte or structure found. */
int trie_verify(const trie_reader_t *r, ta_diag_t *diag);

void trie_close(trie_reader_t *r);

int trie_get_info(const trie_reader_t *r, trie_info_t *out);
/* The same, borrowed from r (valid until trie_close; NULL when r is NULL): no copy, for a caller
 * that reads a field or two per lookup (the filter layer: k, num_queries, file_crc). */
const trie_info_t *trie_info(const trie_reader_t *r);

/* Top-k completions of a normalized key prefix, best first (score desc, key asc). k is capped
 * at the file's k. Writes up to k hits into hits[], their number into *n_hits (0 when nothing
 * starts with prefix); their texts are valid until r is closed or text is reset, whichever
 * comes first (text: the caller's scratch, above; every function below that gives hits takes
 * one, just before its output, and gives TA_EINVAL when it is NULL). Allocates nothing but
 * decoded texts in text; exact for every prefix length. A corrupt file gives TA_ECORRUPT, never
 * an out-of-bounds read. */
int trie_lookup(const trie_reader_t *r, const char *prefix, size_t prefix_len, unsigned k,
                trie_text_t *text, trie_hit_t *hits, size_t *n_hits);

/* trie_lookup in two steps, for a caller that decides on ids before it needs the text (the
 * filter layer's verdict cache is by id): the ids (ranks) of the top-k, best first, into ids[]
 * (room for k), then any of them as a hit. Same errors as trie_lookup; trie_get_hit gives
 * TA_ERANGE for an id the file does not hold. */
int trie_lookup_ids(const trie_reader_t *r, const char *prefix, size_t prefix_len, unsigned k,
                    uint32_t *ids, size_t *n_ids);

/* Where a prefix's completions are: node, the answer node (the node where prefix ends; the same
 * for every prefix that ends in it, different between nodes of one file; 0 when no key starts
 * with prefix: a memo of answers per node, the filter layer's, is keyed by it); head, the bytes
 * of prefix above that node's label; heavy, 1 when the node stores its top-k (its ids cost a
 * read; a light node's cost a scan of its few keys, which makes their texts as cheaply). */
typedef struct {
  uint64_t node;
  size_t head;
  uint8_t heavy;
} trie_at_t;

/* The answer node's stored top-k, from one walk down the prefix (the filter layer's first step,
 * which decides on ids before it needs texts): where the completions are (at), and the node's
 * top-k ids best first (n of them, at most the file's k); a light node's also as hits with their
 * texts and scores (one scan of its few keys makes the texts as cheaply as the ids), a heavy
 * node's not (a cold id's text costs a descent: trie_get_hits, for the ones wanted).
 * at.node == 0 and n == 0 when nothing starts with prefix. The hits' texts live in text, as
 * trie_lookup's. made: 1 when trie_lookup_top_pick's pick made the answer, else 0. */
typedef struct {
  trie_at_t at;
  size_t n;
  uint8_t made;
  uint32_t ids[TA_MAX_K];
  trie_hit_t hits[TA_MAX_K]; /* light only */
} trie_top_t;
int trie_lookup_top(const trie_reader_t *r, const char *prefix, size_t prefix_len,
                    trie_text_t *text, trie_top_t *top);

/* Picks, from the stored top-k of an answer node (top as trie_lookup_top gives it: its ids
 * top->ids[0..top->n), best first, each < the file's num_queries), the ones a lookup answers
 * with as they are: bit i of *picked for top->ids[i], and returns nonzero; or returns 0 when
 * the stored ones do not make the answer. */
typedef int (*trie_pick_fn)(void *ctx, const trie_top_t *top, uint64_t *picked);

/* trie_lookup_top, and when pick (NULL: none) picks from the stored top-k, the hits of those it
 * picks, made in the same walk: into hits[0..*n_hits) in rank order (room for as many as pick
 * picks), and top->made 1. Else top->made 0 and *n_hits 0 (also when nothing starts with
 * prefix: pick is not called), the caller goes on from top (trie_get_hits). The filter layer's first step:
 * when the verdicts it has on the stored ids make the answer, a heavy node's hits are made from
 * the node the walk parsed, not parsed again. TA_EINVAL when pick sets a bit at or past top->n;
 * else errors as trie_lookup_top's. */
int trie_lookup_top_pick(const trie_reader_t *r, const char *prefix, size_t prefix_len,
                         trie_pick_fn pick, void *ctx, trie_text_t *text, trie_top_t *top,
                         trie_hit_t *hits, size_t *n_hits);

int trie_get_hit(const trie_reader_t *r, uint32_t id, trie_text_t *text, trie_hit_t *hit);
/* Hits for ids[0..n) that all complete prefix, whose stored top-k *top gave (trie_lookup_top,
 * same reader and prefix): trie_get_hit for each, but the texts rebuilt in one pass from the
 * answer node instead of a descent from the root each, and no walk down the prefix (the filter
 * layer's stored top-k and memo; prefix is read up to its byte top->at.head, the first of the
 * answer node's label unless that is the root). TA_ERANGE for an id the file does not hold,
 * TA_EINVAL when top->at.node is 0, TA_ECORRUPT when an id is not below the answer node. */
int trie_get_hits(const trie_reader_t *r, const trie_top_t *top, const char *prefix,
                  const uint32_t *ids, size_t n, trie_text_t *text, trie_hit_t *hits);

/* Return nonzero to keep a candidate, 0 to drop it (e.g. blocked by a rule). */
typedef int (*trie_keep_fn)(void *ctx, const trie_hit_t *candidate);

/* Like trie_lookup, but candidates go through keep() in rank order and the walk goes on past the
 * stored top-k until n hits are kept or the completions of prefix run out: when at least n
 * kept completions exist, exactly n are returned, in rank order. n has no upper bound
 * but the caller's array. Allocates only when the search frontier outgrows a stack buffer. */
int trie_lookup_filtered(const trie_reader_t *r, const char *prefix, size_t prefix_len, size_t n,
                         trie_keep_fn keep, void *ctx, trie_text_t *text, trie_hit_t *hits,
                         size_t *n_hits);

/* ---- Typo-tolerant and word matching (trie_fuzzy.c, SPEC §15) ---------------------------
 * Matches that are not exact prefixes, ranked after them. A typo match is a key that starts
 * with a string within max_edits edits of the prefix (Damerau, as optimal string alignment:
 * insert, delete, substitute or swap two neighbours is one edit each, counted in code points),
 * whose first code point is the prefix's. Keys that start with the prefix itself are never typo
 * matches: the exact lookups answer them. */

#define TRIE_TYPOS_AUTO (-1)     /* typos=auto: trie_typos_auto's edits for the prefix */
#define TRIE_MAX_TYPOS 2u        /* edits at most */
#define TRIE_TYPOS_MAX_CHARS 64u /* longer prefixes (code points) get no typo matches */

enum { TRIE_MATCH_PREFIX = 0, TRIE_MATCH_TYPO = 1, TRIE_MATCH_WORDS = 2 };

#define TRIE_MAX_SPANS 8u /* words of a prefix word matching looks at, at most */

/* One suggestion and how it matched: kind (TRIE_MATCH_*), edits (typo: 1..2), and the matched
 * parts of its key, spans[i] = key bytes [start, end), ascending (prefix and typo: one span
 * from 0; trie_highlight maps each end onto the text). */
typedef struct {
  trie_hit_t hit;
  uint8_t kind;
  uint8_t edits;
  uint8_t n_spans;
  uint16_t spans[TRIE_MAX_SPANS][2];
} trie_match_t;

/* The edits typos=auto allows for a normalized prefix: 0 for 1..3 characters, 1 for 4..7, 2
 * for 8 or more (Elasticsearch's fuzziness AUTO:4,8; a trailing space is not counted). A
 * character is a code point, but a Hangul syllable, which a key holds as 2 or 3 jamo, is one. */
unsigned trie_typos_auto(const char *prefix, size_t len);

/* The typo matches of a normalized prefix within max_edits (0..TRIE_MAX_TYPOS), best first:
 * fewer edits first, then rank. Candidates go through keep (NULL: keep all) in that order;
 * at most n kept are written to out[], their number to *n_out. Exact for n <= the file's k and
 * keep NULL; with keep, candidates are those of the matched nodes' stored top-k. Prefixes
 * longer than TRIE_TYPOS_MAX_CHARS code points get none. Allocates per call. */
int trie_lookup_typos(const trie_reader_t *r, const char *prefix, size_t len, unsigned max_edits,
                      size_t n, trie_keep_fn keep, void *ctx, trie_text_t *text, trie_match_t *out,
                      size_t *n_out);

/* The end in text[0..len) (a display form) of the part whose key is key[0..key_end): the
 * shortest run of whole code points text[0..*end) whose trie_norm_prefix is at least key_end
 * bytes long (the whole text when none is). So "strass" highlights "Straß" of "Straße" and
 * "naive" the "naïve" of "naïve art". */
int trie_highlight(const char *text, size_t len, size_t key_end, size_t *end);

/* Word matching. Trie files hold no word index: trie_words_build makes one in memory from r's
 * keys (a walk of every node, and the time of a sort of every word of every key), to pass to
 * trie_lookup_words with the same r; trie_words_bytes says its size: 4 bytes a posting (a word
 * in a key), 32 a key (and 6 for each of its words past the fourth), 8 plus its bytes a
 * distinct word, 48 a distinct prefix of a word (a hash slot), union lists of the ids of
 * prefixes of many words, at most twice the postings, and up to 1 MiB of rounding (on the AOL
 * sample 139 bytes a query in all, 103 at 10 M generated queries). */
typedef struct trie_words trie_words_t;
int trie_words_build(const trie_reader_t *r, trie_words_t **out);
size_t trie_words_bytes(const trie_words_t *w);
void trie_words_free(trie_words_t *w);

/* The word matches of a normalized prefix, best first (rank): keys that do not start with the
 * prefix and have, for every word of it, a word that starts with it (in any order; the last
 * word of the prefix as a prefix unless a space follows it, the others whole words), so q=york
 * finds "new york" and q=york new "new york times". spans: the matched word parts, one per
 * word of the prefix. A prefix of more than TRIE_MAX_SPANS words gets none. keep, n, out and
 * n_out as in trie_lookup_typos; exact (every kept candidate in rank order). */
int trie_lookup_words(const trie_reader_t *r, const trie_words_t *w, const char *prefix, size_t len,
                      size_t n, trie_keep_fn keep, void *ctx, trie_text_t *text, trie_match_t *out,
                      size_t *n_out);

/* What trie_lookup_match adds to the exact prefix matches. */
typedef struct {
  int typos;                 /* TRIE_TYPOS_AUTO, or 0..TRIE_MAX_TYPOS edits */
  const trie_words_t *words; /* the file's word index; NULL: no word matching */
} trie_match_opts_t;

/* The answer of SPEC §15: up to n (<= TA_MAX_K) suggestions, exact prefix matches first (past
 * the stored top-k when keep drops some or n is above the file's k: the filtered lookup's
 * refill), then word matches, then typo matches, each key once, each through keep (NULL: keep
 * all). */
int trie_lookup_match(const trie_reader_t *r, const char *prefix, size_t len,
                      const trie_match_opts_t *o, size_t n, trie_keep_fn keep, void *ctx,
                      trie_text_t *text, trie_match_t *out, size_t *n_out);

/* What trie_lookup_match adds after the exact matches: word matches, then typo matches, each
 * through keep, none of them a key already in out[0..*n_out) (the exact matches, however the
 * caller found them), appended until there are n (<= TA_MAX_K) in all; *n_out is the new
 * total. */
int trie_lookup_more(const trie_reader_t *r, const char *prefix, size_t len,
                     const trie_match_opts_t *o, size_t n, trie_keep_fn keep, void *ctx,
                     trie_text_t *text, trie_match_t *out, size_t *n_out);

/* The highlight of a match in its text: spans[i] = {start, length} in display bytes, ascending,
 * from its key spans (trie_highlight at each end), overlapping ones merged (words of the prefix
 * that met one word of the key); *n_spans of them. */
int trie_match_highlight(const trie_match_t *m, uint32_t spans[TRIE_MAX_SPANS][2],
                         unsigned *n_spans);
/* "prefix", "typo" or "words": the "match" field of a suggestion. */
const char *trie_match_name(unsigned kind);

/* ---- Mixing trending completions (trie_mix.c, docs/TRENDING.md "Mixing", SPEC §13) ---------
 * Merges a lookup's regular hits (best first) with the same prefix's trending hits (best
 * first) into out (room for n), at most min(n, n_regular + new trending) hits:
 *  - the first regular hit is never displaced;
 *  - at most `slots` trending hits that are not among the first n regular ones (same display
 *    form) are added, best first, right after the first regular hit; the regular hits they
 *    leave room for follow in their order (the last regular ones drop out);
 *  - a trending hit that is already among the regular ones shown stays in its regular place and
 *    takes no slot (it is marked trending);
 *  - no key twice.
 * is_trending (room for n, or NULL) gets 1 for each out[i] that is a trending query.
 * Pure: no allocation, no state; slots above TRIE_MIX_MAX_SLOTS count as TRIE_MIX_MAX_SLOTS. */
#define TRIE_MIX_MAX_SLOTS 16u
int trie_mix(const trie_hit_t *regular, size_t n_regular, const trie_hit_t *trending,
             size_t n_trending, unsigned slots, size_t n, trie_hit_t *out,
             unsigned char *is_trending, size_t *n_out);

/* ---- Key-head screens (trie_screen.c) ------------------------------------------------------
 * A bitmap of the first 1..TA_HEAD_MAX bytes of every key of a trie (TA_HEAD_BITS bits, 8 KiB):
 * trie_screen_may_start answers 0 only when no key of the trie starts with prefix, with one
 * load, so a caller skips the lookup of a small trie that has nothing for most prefixes (the
 * trending trie, SPEC §13); 1 means "look": some key starts with the prefix's head (or a
 * different head shares its bit). Built by a walk of the nodes down to TA_HEAD_MAX bytes of key.
 * *out is owned by the caller (trie_screen_free; NULL is a no-op) and borrows nothing from r. */
typedef struct trie_screen trie_screen_t;
int trie_screen_build(const trie_reader_t *r, trie_screen_t **out);
int trie_screen_may_start(const trie_screen_t *s, const char *prefix, size_t len);
void trie_screen_free(trie_screen_t *s);

/* ---- Shard maps (trie_shard.c, docs/FORMAT.md "Shard map", SPEC §11) ----------------------
 * A key belongs to the shard of its first code point; a map gives every code point (0..10FFFF)
 * a shard, in ranges. The builder plans one from the weight of each first code point and writes
 * its text form; a server loads it and routes a normalized prefix (trie_shard_first_cp, then
 * trie_shard_of). A prefix whose key is empty belongs to every shard. */

#define TRIE_MAX_SHARDS 256u
#define TRIE_SHARD_MAX_SKEW 1.25       /* the largest shard's weight / the mean, at most */
#define TRIE_SHARD_MAP_MAX (16u << 20) /* bytes of a map file a reader accepts */

typedef struct trie_shard_map trie_shard_map_t;

/* Plans n_shards shards (1..TRIE_MAX_SHARDS) over the first code points cps[0..n) (ascending,
 * distinct) of weights[0..n): a first code point is never split; the heaviest go first, each to
 * the lightest shard so far. TA_ERANGE (with the reason in diag) when there are fewer first code
 * points than shards, or when the largest shard would weigh more than TRIE_SHARD_MAX_SKEW x the
 * mean (a first code point too heavy for that many shards: diag names it). *out is the caller's
 * (trie_shard_free). */
int trie_shard_plan(const uint32_t *cps, const uint64_t *weights, size_t n, unsigned n_shards,
                    trie_shard_map_t **out, ta_diag_t *diag);

/* The text form of m (appended to out): the file a builder writes. */
int trie_shard_format(const trie_shard_map_t *m, ta_buf_t *out);

/* Parses a map's text (every line checked: TA_EBADMAGIC, TA_EVERSION, TA_ENORMVERSION,
 * TA_EPARSE, TA_ERANGE, TA_ETRUNC, with the line in diag); trie_shard_load reads path first
 * (ta_read_file: a regular file of at most TRIE_SHARD_MAP_MAX bytes). */
int trie_shard_parse(const char *text, size_t len, const char *name, trie_shard_map_t **out,
                     ta_diag_t *diag);
int trie_shard_load(const char *path, trie_shard_map_t **out, ta_diag_t *diag);

unsigned trie_shard_count(const trie_shard_map_t *m);
/* The shard of keys that start with code point cp. */
unsigned trie_shard_of(const trie_shard_map_t *m, uint32_t cp);
/* The planned weight of a shard (0 for a parsed map: the file's comments only). */
uint64_t trie_shard_weight(const trie_shard_map_t *m, unsigned shard);
/* The first code point of a (valid UTF-8) key; TA_EUTF8 when empty or invalid. */
int trie_shard_first_cp(const char *key, size_t len, uint32_t *cp);
/* A hash of the map's shards and ranges (not its comments): the same on every machine, so
 * nodes can tell that they route by the same map. */
uint64_t trie_shard_hash(const trie_shard_map_t *m);
/* Whether every key of r belongs to shard (its first code point is one m gives it): 0, or
 * TA_ERANGE with diag naming a first code point of another shard (a trie built for another
 * shard or another map; a server refuses it). A walk of the keys' first bytes only. */
int trie_shard_check(const trie_reader_t *r, const trie_shard_map_t *m, unsigned shard,
                     ta_diag_t *diag);
void trie_shard_free(trie_shard_map_t *m);

/* ---- Writer ------------------------------------------------------------------------------- */

typedef struct {
  const char *key; /* normalized key, unique across entries */
  size_t key_len;
  const char *display; /* display form: its trie_norm_key is key (trie_verify checks) */
  size_t display_len;
  double score; /* finite, >= 0 */
} trie_entry_t;

typedef struct {
  uint32_t k;         /* 1..TA_MAX_K */
  int64_t build_time; /* unix seconds, stored in the metadata */
  const char *source; /* free text stored in the metadata (NUL-terminated) */
  /* Called now and then during a long write; may be NULL. */
  void (*progress)(void *ctx, const char *stage, uint64_t done, uint64_t total);
  void *progress_ctx;
  /* Bytes of display forms kept contiguous for the best ids (HOTSTR, docs/FORMAT.md); 0: the
   * default, TRIE_HOT_BYTES_PER_QUERY per query. Tests set it to reach either path. */
  uint64_t hot_bytes;
  /* The market the file serves (NULL or "": none; else ta_market_valid), and the shard it is
   * (shards 0: none; else shard < shards <= TRIE_MAX_SHARDS): recorded in META. */
  const char *market;
  uint32_t shards, shard;
} trie_write_opts_t;

/* Writes the trie of entries[0..n) to out and flushes it. Reorders entries[] (it sorts them).
 * Does not fsync. A failed write of out gives the error errno names (TA_EDISKFULL for a full
 * disk), else TA_EIO. */
int trie_write(FILE *out, trie_entry_t *entries, size_t n, const trie_write_opts_t *opts);

#ifdef __cplusplus
}
#endif
#endif /* TYPEAHEAD_TRIE_H */
