/*
 * typeahead: the blocklist filter layer's public interface (SPEC §9).
 *
 * A rules file (UTF-8, one rule a line) is compiled into an immutable rule set that says, for a
 * normalized key (SPEC §3), whether a suggestion is suppressed and by which kind of rule:
 *
 *   word:<w>     the key contains the token w
 *   word:<w>*    the key contains a token that starts with w
 *   phrase:<p>   the key contains the token sequence of p (consecutive tokens)
 *   prefix:<p>   the key starts with key(p) (bytewise)
 *   exact:<q>    the key is key(q)
 *   <w>          same as word:<w>
 *
 * A token is a maximal run of Unicode letters, digits and marks (general categories L*, N*, M*)
 * of the key; everything else separates tokens. So word:ass blocks "ass hat" and "ass-hat" but
 * not "class". Rule texts are normalized with trie_norm_key, so case, accents, full-width forms
 * and extra spaces in either the rule or the suggestion do not evade a rule. Nor do disguises: a
 * rule and a key also match when their disguise views do (look-alike letters of other scripts
 * through the UTS #39 skeleton, digits and @ $ used as letters, letters spread out across
 * separators, a word's letters doubled for word rules: iddiot is idiot, but as is not ass;
 * docs/filters.md "Disguises").
 *
 * File syntax: lines end with LF or CRLF; a line whose first non-blank character is '#' is a
 * comment; blank lines are ignored; a UTF-8 byte-order mark at the very start is skipped. The
 * kind name before ':' is ASCII, case-insensitive, and may be surrounded by blanks. A word rule
 * must be exactly one token after normalization (use phrase:, prefix: or exact: for anything
 * else); every rule must have a non-empty key. Any bad line refuses the whole file, with its
 * line number in ta_diag_t; so does an empty file, one whose last line has no line end (cut
 * short while written) and one with neither rules nor a comment (a file with no rules says so
 * with a comment line).
 *
 * A compiled rule set is immutable: any number of threads may match against it at once. It also
 * keeps the text it was compiled from (what GET /admin/filters returns) and a version: a 64-bit
 * hash of its canonical rules (normalized, sorted, deduplicated), so comments, order and spelling
 * variants of the same rules give the same version, and different rules a different one.
 *
 * Conventions (every module's, base/ta.h): functions return 0 or a negative TA_E* code;
 * flt_match/flt_match_text answer a yes/no question and return 1 or 0 like trie_utf8_valid.
 */
#ifndef TYPEAHEAD_FLT_H
#define TYPEAHEAD_FLT_H

#include <stddef.h>
#include <stdint.h>

#include "trie.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest rules file accepted, in bytes (also the PUT /admin/filters body limit). */
#define FLT_MAX_TEXT (16u * 1024u * 1024u)
/* Longest line accepted, in bytes, without its line end (SPEC §8: a query is at most 1024). */
#define FLT_MAX_LINE 1024u

typedef enum {
  FLT_WORD = 0,
  FLT_PHRASE = 1,
  FLT_PREFIX = 2,
  FLT_EXACT = 3,
  FLT_KIND_COUNT = 4
} flt_kind_t;

typedef struct flt_ruleset flt_ruleset_t;

typedef struct {
  uint64_t version;             /* hash of the canonical rules; an empty set has a fixed version */
  char version_hex[17];         /* version as 16 lowercase hex digits, NUL-terminated */
  size_t rules[FLT_KIND_COUNT]; /* distinct rules of each kind */
  const char *text;             /* the source text, borrowed until flt_ruleset_free */
  size_t text_len;
} flt_info_t;

/* Parses and compiles text[0..len). On success *out owns a new rule set (free it with
 * flt_ruleset_free). On a bad file returns TA_EPARSE (or TA_EUTF8, TA_ETOOLONG) and, when err is
 * not NULL, fills it with "line: reason"; *out is left NULL. TA_ENOMEM when memory runs out. */
int flt_compile(const char *text, size_t len, flt_ruleset_t **out, ta_diag_t *err);

/* Reads path whole (ta_read_file: a regular file of at most FLT_MAX_TEXT bytes) and compiles it
 * like flt_compile. I/O errors come back as TA_ENOENT, TA_EACCES, TA_EIO, TA_ENOTREG (a FIFO,
 * directory or device: refused unread)... with err->line 0 and a message naming path. err (a
 * ta_diag_t, ta.h) has the code, the 1-based line (0 when the problem is not one line's, e.g. the
 * file is too large) and the reason. */
int flt_compile_file(const char *path, flt_ruleset_t **out, ta_diag_t *err);

/* An empty rule set (blocks nothing), e.g. for a server started without --filters. */
int flt_ruleset_empty(flt_ruleset_t **out);

void flt_ruleset_free(flt_ruleset_t *rs);

int flt_get_info(const flt_ruleset_t *rs, flt_info_t *out);

/* Total number of distinct rules (0 for the empty set). */
size_t flt_rule_count(const flt_ruleset_t *rs);

/* 1 when the normalized key[0..len) is suppressed by a rule of rs, else 0. When it is and kind
 * is not NULL, *kind says which kind matched (checked in the order exact, prefix, word, phrase,
 * on the key as written, then on its disguise view, so each suppression counts under one kind).
 * key must be valid UTF-8 (as trie_norm_key makes it); invalid bytes only separate tokens,
 * never crash. A key longer than TA_MAX_KEY whose view does not fit is suppressed (fails
 * closed; not with keys trie_norm_key makes). */
int flt_match(const flt_ruleset_t *rs, const char *key, size_t len, flt_kind_t *kind);

/* Like flt_match for any text (a display form, a raw query): normalizes it with trie_norm_key
 * first (key(display) == key(raw spelling), so this matches what the key would). Returns 1 or 0
 * like flt_match, or the negative error of trie_norm_key (TA_EUTF8, TA_ENOSPC) when text cannot
 * be normalized: the caller decides (flt_keep drops such a candidate). */
int flt_match_text(const flt_ruleset_t *rs, const char *text, size_t len, flt_kind_t *kind);

/* ---- The serve-time seam: a keep predicate for trie_lookup_filtered ----------------------- */

/* Answers a verdict cache remembers (the memo, below), in slots of about 170 bytes made at
 * flt_cache_new: a bound on its memory, and on how many walked answers stay fast. */
#define FLT_MEMO_SLOTS 4096u

/* A memo of verdicts for one rule set and one trie file, indexed by trie_hit_t.id (a query's
 * rank in its file): a suggestion asked for again costs one byte load instead of normalizing
 * its display form and matching it. Beside the verdicts, a memo of answers: the kept ids (and
 * the counters) of up to FLT_MEMO_SLOTS answers that needed the walk past the stored top-k
 * (flt_lookup), by answer node and n, so a prefix whose stored completions are mostly blocked
 * walks once per cache, not once per request; a colliding answer replaces the older one. Any
 * number of threads may share one cache (relaxed atomic bytes, every writer writing the same
 * verdict; a sequence number per memo slot). It holds no pointer to the trie: the first
 * flt_lookup binds it to its trie (by file_crc and num_queries) and flt_lookup uses it with no
 * other; flt_keep cannot tell, so with trie_lookup_filtered a cache used for another trie file
 * gives wrong answers. Make a new cache whenever the rules or the trie change (which is what
 * clears the memo). n_ids is the trie's num_queries (ids at or above it are not cached). rs must
 * outlive the cache. */
typedef struct flt_cache flt_cache_t;

int flt_cache_new(const flt_ruleset_t *rs, uint64_t n_ids, flt_cache_t **out);
void flt_cache_free(flt_cache_t *cache);

/* Most verdicts flt_cache_prefill judges: the best-ranked ids, which most answers show. About
 * 0.15 s of one core with 10,000 rules (about 1 µs a query), so a rules change or a trie swap
 * stays quick. */
#define FLT_PREFILL_IDS 131072u

/* Judges the best-ranked min(max_ids, FLT_PREFILL_IDS) queries of r (ids 0, 1, ...) into the
 * cache and binds it to r (as flt_lookup would), so that the first requests after a rules
 * change or a trie swap find their verdicts made instead of each paying for them. For the
 * thread that makes the cache, before it is published; 0, TA_EINVAL when the cache was made or
 * bound for another trie, or the error of reading a query from r. */
int flt_cache_prefill(flt_cache_t *cache, const trie_reader_t *r, uint64_t max_ids);

/* Per-lookup state: set rs (and optionally a cache made for rs and the trie being searched),
 * zero the counters, pass &filter as ctx with flt_keep. After the lookup, suppressed[k] holds
 * how many candidates rules of kind k removed, and unreadable how many candidates could not be
 * normalized (dropped: a filter fails closed). flt_lookup also counts in walks the answers the
 * stored top-k could not give, and in memo_hits those of them the cache's memo gave. */
typedef struct {
  const flt_ruleset_t *rs;
  flt_cache_t *cache; /* may be NULL; ignored unless made for rs */
  uint64_t suppressed[FLT_KIND_COUNT];
  uint64_t unreadable;
  uint64_t walks, memo_hits;
} flt_filter_t;

/* trie_keep_fn: normalizes the candidate's display form to its key and keeps it unless a rule
 * matches. ctx is a flt_filter_t *. */
int flt_keep(void *ctx, const trie_hit_t *candidate);

/* The filtered answer for a normalized key prefix: the first n completions f's rules keep, in
 * rank order; the same hits (and counters) as trie_lookup_filtered(r, prefix, prefix_len, n,
 * flt_keep, f, text, hits, n_hits), but read from the node's stored top-k whenever they
 * suffice, which is cheaper than the walk past them, and else from the cache's memo of answers
 * when it has this one (n at most TA_MAX_K). hits has room for n; their texts are in text (the
 * caller's scratch, trie.h: valid until it is reset or r closed). The memo keeps ids, never
 * texts. */
int flt_lookup(const trie_reader_t *r, const char *prefix, size_t prefix_len, size_t n,
               flt_filter_t *f, trie_text_t *text, trie_hit_t *hits, size_t *n_hits);

/* Lowercase name of a kind ("word", "phrase", "prefix", "exact"); "?" when out of range. */
const char *flt_kind_name(flt_kind_t kind);

#ifdef __cplusplus
}
#endif
#endif /* TYPEAHEAD_FLT_H */
