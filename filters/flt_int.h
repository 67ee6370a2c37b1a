/*
 * typeahead: internals of the blocklist filter layer, shared by the filters/flt_*.c files.
 *
 * A compiled rule set is hash sets and sorted prefix sets over one string arena, built once and
 * then read only:
 *
 *   word          word tokens                        one probe per token of a key
 *   star          word:w* stems, prefix-free         per token, screened by head bits, then one
 *                                                    binary search (like prefix)
 *   phrase_first  first tokens of phrases            one probe per token of a key
 *   phrase        phrases, canonical text            at a token that starts a phrase, one probe
 *                                                    per phrase length in phrase_ntok
 *   prefix        prefixes, prefix-free, sorted      screened by head bits, then one binary
 *                                                    search for the last rule <= key
 *   exact         whole keys                         one probe per key
 *
 *   set:   slots[mask+1]  { tag = hash >> 32, item + 1 (0 = empty) }, linear probing, load <= 1/2
 *          bloom[]        one bit per item, ~16 bits per item: most keys miss without touching
 *                         the (larger) slot array
 *          items[]        { off, len } into arena
 *   pset:  items[] sorted and prefix-free; head[] one bit per rule head (its first head_len
 *          bytes): in a sorted prefix-free set the only item that can be a prefix of a string is
 *          the greatest item <= it, found by binary search
 *
 * Every rule is in its set twice when its disguise view (flt_fold.c) differs from it: as written
 * and as seen through the view (confusables skeleton, digits read as letters, letters joined
 * across separators). A key is matched as it is and, when its view differs, through its view;
 * both sides go through the same fold, so they meet when their skeletons do.
 *
 * Phrases are stored canonically: their tokens joined by one ASCII space (a token never holds a
 * byte <= 0x20, so the split is unambiguous); a key's tokens are kept in a ring of the last
 * FLT__MAX_PHRASE_TOKENS so the phrases ending at each token can be probed. Every hash is
 * ta_hash64 with seed 0: slots take its low bits, tags its high half, bloom bits the bits from
 * 40 up.
 *
 * Layering, one way: flt_compile.c (rules -> rule set) and flt_lookup.c (verdicts, the cache,
 * flt_keep, flt_lookup) call flt_match.c (set probes, flt_match), which calls flt_fold.c (the
 * tokenizer's slow path, the confusables table, the disguise view); flt_fold.c calls none.
 */
#ifndef TYPEAHEAD_FLT_INT_H
#define TYPEAHEAD_FLT_INT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "flt.h"

/* Most tokens a phrase rule may have (phrase_ntok is one 64-bit mask). */
#define FLT__MAX_PHRASE_TOKENS 64
/* Runs of a doubled letter in one token read both ways (once and twice): at most 2^this
 * readings of a token are probed. */
#define FLT__MAX_DOUBLED 6

typedef struct {
  uint32_t off;
  uint32_t len;
} flt__str_t;

typedef struct {
  uint32_t tag;
  uint32_t item; /* index + 1; 0 = empty */
} flt__slot_t;

typedef struct {
  flt__slot_t *slots;
  uint32_t mask; /* slot count - 1 */
  uint64_t *bloom;
  uint32_t bloom_mask; /* bit count - 1 */
  flt__str_t *items;
  uint32_t n_items;
} flt__set_t;

typedef struct {
  flt__str_t *items; /* sorted, prefix-free */
  uint32_t n_items;
  size_t head_len; /* min(FLT__HEAD, shortest item) */
  uint64_t *head;  /* FLT__HEAD_BITS bits */
} flt__pset_t;

struct flt_ruleset {
  char *text; /* source text (copy) */
  size_t text_len;
  char *arena; /* every rule string, normalized */
  size_t arena_len;
  flt__set_t word, phrase, exact;
  flt__set_t phrase_first; /* distinct first tokens of the phrases */
  uint64_t phrase_ntok;    /* bit n-1 set: some phrase has n tokens */
  flt__pset_t prefix, star;
  size_t counts[FLT_KIND_COUNT]; /* distinct rules as written (word counts word:w* too) */
  uint64_t version;
  size_t n_rules; /* flt_rule_count */
};

/* Bytes ASCII treats as token characters: [0-9A-Za-z]. */
extern const unsigned char flt__ascii_token[128];

/* Prefix and star rules are first screened by their first FLT__HEAD bytes (fewer when a rule is
 * shorter): one bit per rule head (ta_head_hash16), so most strings are cleared with one load. */
#define FLT__HEAD TA_HEAD_MAX
#define FLT__HEAD_BITS TA_HEAD_BITS

/* Length of the non-ASCII character at s[0..len) and whether it belongs to a token (general
 * category L*, M* or N*); an invalid byte is a one-byte separator. */
size_t flt__char_slow(const char *s, size_t len, int *is_token);

/* The length of the first piece of token s[0..len): its first run of letters and digits of one
 * kind, Han and kana or the others (marks go with the letter before them), so a word written
 * into Chinese or Japanese text without a space, 北京idiot, is a piece of its own (UAX #29
 * breaks a word there too); len for a token of one kind (every ASCII one). Word rules are
 * matched against a token and against its pieces, phrases are made of pieces. */
size_t flt__script_run(const char *s, size_t len);

/* Next token of s[0..len) at or after *pos: its bounds in *tok and *tok_len, *pos moved past it.
 * Returns 1, or 0 when no token is left. Invalid UTF-8 bytes separate tokens. ASCII runs go
 * through the table without a call; other characters through flt__char_slow. */
static inline int flt__next_token(const char *s, size_t len, size_t *pos, size_t *tok,
                                  size_t *tok_len) {
  const unsigned char *u = (const unsigned char *)s;
  size_t i = *pos;
  int is_token;
  for (;;) {
    while (i < len && u[i] < 0x80 && !flt__ascii_token[u[i]]) i++;
    if (i >= len) {
      *pos = len;
      return 0;
    }
    if (u[i] < 0x80) break;
    size_t n = flt__char_slow(s + i, len - i, &is_token);
    if (is_token) break;
    i += n;
  }
  size_t start = i;
  for (;;) {
    while (i < len && u[i] < 0x80 && flt__ascii_token[u[i]]) i++;
    if (i >= len || u[i] < 0x80) break;
    size_t n = flt__char_slow(s + i, len - i, &is_token);
    if (!is_token) break;
    i += n;
  }
  *tok = start;
  *tok_len = i - start;
  *pos = i;
  return 1;
}

/* Index of the item equal to s[0..len) (whose ta_hash64(s, len, 0) is h) in set, or -1. */
long flt__set_find(const flt__set_t *set, const char *arena, const char *s, size_t len, uint64_t h);

/* 1 when an item of set is a prefix of s[0..len), else 0. */
int flt__pset_hit(const flt__pset_t *set, const char *arena, const char *s, size_t len);

/* ---- The disguise view (flt_fold.c) ------------------------------------------------------- */

/* The confusables table, generated at build time by flt-skelgen (flt_skelgen_main.c) from ICU's
 * UTS #39 data: code point cp reads as flt__skel_pool[off..off+len), sorted by cp. */
typedef struct {
  uint32_t cp, off, len;
} flt__skel_t;
extern const flt__skel_t flt__skel[];
extern const size_t flt__skel_n;
extern const char flt__skel_pool[];

/* A skeleton is at most this many times as long, in bytes, as the character it replaces. */
#define FLT__SKEL_GROWTH 4
/* Room for a view of a key of up to TA_MAX_KEY bytes. */
#define FLT__VIEW_CAP (FLT__SKEL_GROWTH * TA_MAX_KEY + 16)

/* A key seen through its disguises (SPEC §9, docs/filters.md "Disguises"):
 *   s       the key with every character replaced by its confusables skeleton and, inside
 *           word-like tokens, the digits and @ $ read as letters (exact and prefix rules);
 *   g       the tokens of s joined across separators inside a word and across runs of single
 *           letters, read as letters like s, one ASCII space between them (word, word:w* and
 *           phrase rules: a phrase's canonical form).
 * s_changed / g_changed: 0 when s is the key / g are the key's own tokens, so the view adds
 * nothing. has_one: a '1' was read as a letter (read as one_as: 'i', and a second view with 'l'
 * tells kill from k1ll). */
typedef struct {
  char s[FLT__VIEW_CAP];
  size_t s_len;
  char g[FLT__VIEW_CAP];
  size_t g_len;
  int s_changed, g_changed, has_one;
} flt__view_t;

/* Builds the view of key[0..len) reading '1' as one_as. Returns 0, or TA_ENOSPC when it does not
 * fit (not with keys of at most TA_MAX_KEY bytes). */
int flt__view(const char *key, size_t len, char one_as, flt__view_t *v);

#endif /* TYPEAHEAD_FLT_INT_H */
