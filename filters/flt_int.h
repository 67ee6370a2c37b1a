/*
 * typeahead: internals of the blocklist filter layer, shared by the filters/flt_*.c files.
 *
 * A compiled rule set is five hash sets over one string arena, built once and then read only:
 *
 *   sets[FLT_WORD]    word tokens                      one probe per token of a key
 *   phrase_first      first tokens of phrases          one probe per token of a key
 *   sets[FLT_PHRASE]  phrases, canonical text          at a token that starts a phrase, one
 *                                                      probe per phrase length in phrase_ntok
 *   sets[FLT_PREFIX]  prefixes, made prefix-free,      screened by prefix_head, then one
 *                     items sorted                     binary search for the last rule <= key
 *   sets[FLT_EXACT]   whole keys                       one probe per key
 *
 *   set:   slots[mask+1]  { tag = hash >> 32, item + 1 (0 = empty) }, linear probing, load <= 1/2
 *          bloom[]        one bit per item, ~16 bits per item: most keys miss without touching
 *                         the (larger) slot array
 *          items[]        { off, len } into arena
 *
 * Phrases are stored canonically: their tokens joined by one ASCII space (a token never holds a
 * byte <= 0x20, so the split is unambiguous); a key's tokens are kept in a ring of the last
 * FLT__MAX_PHRASE_TOKENS so the phrases ending at each token can be probed. Prefix rules are
 * screened first by a bitmap of their heads (prefix_head); in a sorted prefix-free set the only
 * rule that can be a prefix of a key is the greatest rule <= key, found by binary search.
 * Every hash is ta_hash64 with seed 0: slots take its low bits, tags its high half, bloom bits
 * the bits from 40 up.
 *
 * Layering, one way: flt_compile.c (rules -> rule set) and flt_lookup.c (verdicts, the cache,
 * flt_keep, flt_lookup) call flt_match.c (tokenizer, set probe, flt_match); flt_match.c calls
 * neither.
 */
#ifndef TYPEAHEAD_FLT_INT_H
#define TYPEAHEAD_FLT_INT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "flt.h"

/* Most tokens a phrase rule may have (phrase_ntok is one 64-bit mask). */
#define FLT__MAX_PHRASE_TOKENS 64

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

struct flt_ruleset {
  char *text; /* source text (copy) */
  size_t text_len;
  char *arena; /* every rule string, normalized */
  size_t arena_len;
  flt__set_t sets[FLT_KIND_COUNT];
  flt__set_t phrase_first; /* distinct first tokens of the phrases */
  uint64_t phrase_ntok;    /* bit n-1 set: some phrase has n tokens */
  size_t prefix_head_len;  /* min(FLT__HEAD, shortest prefix rule) */
  uint64_t *prefix_head;   /* FLT__HEAD_BITS bits */
  uint64_t version;
  size_t n_rules; /* flt_rule_count */
};

/* Bytes ASCII treats as token characters: [0-9A-Za-z]. */
extern const unsigned char flt__ascii_token[128];

/* Prefix rules are first screened by their first FLT__HEAD bytes (fewer when a rule is shorter):
 * one bit of prefix_head per rule head, so most keys are cleared with one load. */
#define FLT__HEAD 4
#define FLT__HEAD_BITS 65536u

/* Not ta_hash64: a different job. It maps a head of at most 4 bytes to a 16-bit bit index with
 * one load and one multiply, on the path of every candidate; the bitmap lives in memory only,
 * so the host byte order of the load does not matter. */
static inline uint32_t flt__head_hash(const char *s, size_t n) {
  uint32_t w = 0;
  memcpy(&w, s, n);
  return (w * 0x9e3779b1u) >> 16;
}

/* Next token of s[0..len) at or after *pos: its bounds in *tok and *tok_len, *pos moved past it.
 * Returns 1, or 0 when no token is left. Invalid UTF-8 bytes separate tokens. */
int flt__next_token(const char *s, size_t len, size_t *pos, size_t *tok, size_t *tok_len);

/* Index of the item equal to s[0..len) (whose ta_hash64(s, len, 0) is h) in set, or -1. */
long flt__set_find(const flt__set_t *set, const char *arena, const char *s, size_t len, uint64_t h);

#endif /* TYPEAHEAD_FLT_INT_H */
