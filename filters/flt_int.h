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
 */
#ifndef TYPEAHEAD_FLT_INT_H
#define TYPEAHEAD_FLT_INT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "flt.h"

#define FLT__FNV_OFFSET 14695981039346656037ull
#define FLT__FNV_PRIME 1099511628211ull
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

/* The verdict cache (flt.h): entries are 0 = not known yet, or one of these. */
enum {
  FLT__KEEP = 1,
  FLT__KIND0 = 2, /* FLT__KIND0 + kind: suppressed by a rule of that kind */
  FLT__UNREADABLE = FLT__KIND0 + FLT_KIND_COUNT
};

struct flt_cache {
  const flt_ruleset_t *rs;
  uint64_t n_ids;
  atomic_uchar *verdict;
};

/* The verdict on one candidate: from the cache when it has one (cache may be NULL or made for
 * another rule set: then it is not used), else matched and remembered. rs has rules. */
static inline unsigned flt__verdict(const flt_ruleset_t *rs, flt_cache_t *c,
                                    const trie_hit_t *hit) {
  atomic_uchar *slot = NULL;
  if (c != NULL && c->rs == rs && hit->id < c->n_ids) {
    slot = &c->verdict[hit->id];
    unsigned v = atomic_load_explicit(slot, memory_order_relaxed);
    if (v) return v;
  }
  flt_kind_t kind = FLT_WORD;
  int rc = flt_match_text(rs, hit->text, hit->text_len, &kind);
  unsigned v = rc < 0 ? FLT__UNREADABLE : rc > 0 ? FLT__KIND0 + (unsigned)kind : FLT__KEEP;
  if (slot) atomic_store_explicit(slot, (unsigned char)v, memory_order_relaxed);
  return v;
}

/* Counts a verdict in f; 1 when it keeps the candidate. */
static inline int flt__count(flt_filter_t *f, unsigned v) {
  if (v == FLT__KEEP) return 1;
  if (v == FLT__UNREADABLE)
    f->unreadable++;
  else
    f->suppressed[v - FLT__KIND0]++;
  return 0;
}

/* Bytes ASCII treats as token characters: [0-9A-Za-z]. */
extern const unsigned char flt__ascii_token[128];

/* FNV-1a, bytewise and endian-free: used for the version, which must be the same everywhere. */
static inline uint64_t flt__fnv_step(uint64_t h, unsigned char byte) {
  return (h ^ byte) * FLT__FNV_PRIME;
}

/* murmur3's fmix64: spreads the bits over the whole word, so slots and bloom bits can come from
 * different parts of one hash. */
static inline uint64_t flt__mix(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 33;
  return h;
}

/* The in-memory hash of a rule string or a key piece: eight bytes at a time (host order; it
 * never leaves the process). */
static inline uint64_t flt__hash(const char *s, size_t len) {
  uint64_t h = 0x9e3779b97f4a7c15ull ^ ((uint64_t)len * 0xc2b2ae3d27d4eb4full);
  while (len >= 8) {
    uint64_t w;
    memcpy(&w, s, 8);
    h = (h ^ w) * 0x9e3779b97f4a7c15ull;
    h ^= h >> 29;
    s += 8;
    len -= 8;
  }
  if (len) {
    /* the tail without a byte loop (as wyhash does): overlapping loads; len is in the seed */
    uint64_t w;
    if (len >= 4) {
      uint32_t lo, hi;
      memcpy(&lo, s, 4);
      memcpy(&hi, s + len - 4, 4);
      w = (uint64_t)lo | ((uint64_t)hi << 32);
    } else {
      w = (uint64_t)(unsigned char)s[0] | ((uint64_t)(unsigned char)s[len >> 1] << 8) |
          ((uint64_t)(unsigned char)s[len - 1] << 16);
    }
    h = (h ^ w) * 0x9e3779b97f4a7c15ull;
    h ^= h >> 29;
  }
  return flt__mix(h);
}

/* Prefix rules are first screened by their first FLT__HEAD bytes (fewer when a rule is shorter):
 * one bit of prefix_head per rule head, so most keys are cleared with one load. */
#define FLT__HEAD 4
#define FLT__HEAD_BITS 65536u

static inline uint32_t flt__head_hash(const char *s, size_t n) {
  uint32_t w = 0;
  memcpy(&w, s, n);
  return (w * 0x9e3779b1u) >> 16;
}

/* Next token of s[0..len) at or after *pos: its bounds in *tok and *tok_len, *pos moved past it.
 * Returns 1, or 0 when no token is left. Invalid UTF-8 bytes separate tokens. */
int flt__next_token(const char *s, size_t len, size_t *pos, size_t *tok, size_t *tok_len);

/* Index of the item equal to s[0..len) (whose flt__hash is h) in set, or -1. */
long flt__set_find(const flt__set_t *set, const char *arena, const char *s, size_t len, uint64_t h);

#endif /* TYPEAHEAD_FLT_INT_H */
