/*
 * typeahead: internals of the blocklist filter layer, shared by flt_compile.c and flt_match.c.
 *
 * A compiled rule set is four hash sets over one string arena, built once and then read only:
 *
 *   sets[FLT_WORD]    word tokens                      one probe per token of a key
 *   sets[FLT_PHRASE]  first tokens of phrases          item i -> phrases[phrase_first[i] ..
 *                                                      phrase_first[i+1]) (canonical texts)
 *   sets[FLT_PREFIX]  prefixes, made prefix-free       one probe per key length in prefix_lens
 *   sets[FLT_EXACT]   whole keys                       one probe per key
 *
 *   set:   slots[mask+1]  { tag = hash >> 32, item + 1 (0 = empty) }, linear probing, load <= 1/2
 *          bloom[]        one bit per item, ~16 bits per item: most keys miss without touching
 *                         the (larger) slot array
 *          items[]        { off, len } into arena
 *
 * Phrases are stored canonically: their tokens joined by one ASCII space (a token never holds a
 * byte <= 0x20, so the split is unambiguous). Prefix and exact hashes are computed in one pass
 * over the key: FNV-1a is incremental, so the hash of key[0..n) is known at every n.
 */
#ifndef TYPEAHEAD_FLT_INT_H
#define TYPEAHEAD_FLT_INT_H

#include <stddef.h>
#include <stdint.h>

#include "flt.h"

#define FLT__FNV_OFFSET 14695981039346656037ull
#define FLT__FNV_PRIME 1099511628211ull
#define FLT__LEN_WORDS ((TRIE_MAX_KEY + 1 + 63) / 64)

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
  uint32_t mask;        /* slot count - 1 */
  uint64_t *bloom;
  uint32_t bloom_mask;  /* bit count - 1 */
  flt__str_t *items;
  uint32_t n_items;
} flt__set_t;

struct flt_ruleset {
  char *text; /* source text (copy) */
  size_t text_len;
  char *arena; /* every rule string, normalized */
  size_t arena_len;
  flt__set_t sets[FLT_KIND_COUNT];
  uint32_t *phrase_first; /* sets[FLT_PHRASE].n_items + 1 offsets into phrases */
  flt__str_t *phrases;    /* canonical phrase texts, grouped by first token */
  uint32_t n_phrases;
  uint64_t prefix_lens[FLT__LEN_WORDS]; /* bit n set: some prefix rule is n bytes long */
  size_t prefix_max_len;
  uint64_t version;
};

/* Bytes ASCII treats as token characters: [0-9A-Za-z]. */
extern const unsigned char flt__ascii_token[128];

static inline uint64_t flt__fnv_step(uint64_t h, unsigned char byte) {
  return (h ^ byte) * FLT__FNV_PRIME;
}

/* Spreads FNV's weak low bits over the whole word (murmur3 fmix64): slots and bloom bits come
 * from different parts of the result. */
static inline uint64_t flt__mix(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 33;
  return h;
}

static inline uint64_t flt__hash(const char *s, size_t len) {
  uint64_t h = FLT__FNV_OFFSET;
  for (size_t i = 0; i < len; i++) h = flt__fnv_step(h, (unsigned char)s[i]);
  return flt__mix(h);
}

/* Next token of s[0..len) at or after *pos: its bounds in *tok and *tok_len, *pos moved past it.
 * Returns 1, or 0 when no token is left. Invalid UTF-8 bytes separate tokens. */
int flt__next_token(const char *s, size_t len, size_t *pos, size_t *tok, size_t *tok_len);

/* Index of the item equal to s[0..len) (whose flt__hash is h) in set, or -1. */
long flt__set_find(const flt__set_t *set, const char *arena, const char *s, size_t len,
                   uint64_t h);

#endif /* TYPEAHEAD_FLT_INT_H */
