/*
 * The word index of trie_words.c (built) and trie_words_find.c (looked up): its layout, shared
 * by the two, and the few inline helpers both use. Internal to trie/.
 */
#ifndef TYPEAHEAD_TRIE_WORDS_INT_H
#define TYPEAHEAD_TRIE_WORDS_INT_H

#include "trie_int.h"

/* A string (a prefix of dictionary words) and what it finds. SLOT_PART: the words that start
 * with it, [lo, hi); SLOT_WHOLE: the word equal to it, [lo, lo + 1) (one slot may be both,
 * when no other word starts with it). tag: the SLOT_* flags and 13 low bits of the string's
 * hash (its high bits choose the slot). */
typedef struct {
  uint64_t head;     /* the string's first 8 bytes, zero-padded */
  uint32_t lo, hi;   /* the words [lo, hi); hi == 0: an empty slot */
  uint32_t plo, phi; /* their postings, post[plo .. phi) */
  uint32_t pos;      /* dict[pos ..] starts with the string */
  uint16_t len, tag;
} wslot_t;

#define SLOT_PART 1u
#define SLOT_WHOLE 2u
#define SLOT_UNION 4u /* plo, phi index uni: the range's ids in one list */
#define SLOT_FLAGS 7u
#define WORDS_SEED UINT64_C(0x776f726473) /* the slots' hash seed */

#define WORDS_INLINE 4u /* words of an id held in its record; more go to the overflow */

/* Another range is tested on its own lists when it is one list (one word, or a prefix with a
 * union list) or at most WORDS_FEW words, and has at most WORDS_RATIO times the driving
 * range's postings: the cursors then move about a cache line per candidate. Longer lists would
 * cost several lines per candidate where the candidate's record (fetched ahead) costs one. */
#define WORDS_FEW 4u
#define WORDS_RATIO 16u
/* Prefixes of more than WORDS_FEW words and at least WORDS_UNION_LEN bytes have their ids in
 * one list (a shorter one matches too many words to be worth it), the longest prefixes first
 * (the last word of a prefix is most often cut short by a byte or two), until the union lists
 * hold WORDS_UNION_MAX times the postings. */
#define WORDS_UNION_LEN 3u
#define WORDS_UNION_MAX 2u

/* The words of one id in key order: their numbers and start bytes; the words past the
 * WORDS_INLINE-th at x_word/x_start[more ..]. */
typedef struct {
  uint32_t word[WORDS_INLINE];
  uint16_t start[WORDS_INLINE];
  uint32_t more;
  uint16_t n;
} wrec_t;

struct trie_words {
  char *dict; /* the distinct words, sorted bytewise, concatenated */
  uint64_t n_words;
  wslot_t *slot; /* open addressing, at most two-thirds full */
  uint64_t n_slots;
  uint32_t *post; /* ids of word i: post[post_off[i] .. post_off[i + 1]), ascending */
  uint64_t n_post;
  uint32_t *uni; /* the ids of the ranges of SLOT_UNION slots, each ascending, no repeats */
  uint64_t n_uni;
  uint64_t *post_off;
  wrec_t *rec; /* by id */
  void *aux;   /* post_off, x_word, x_start and dict in one block */
  size_t aux_size;
  uint32_t *x_word;
  uint16_t *x_start;
  uint64_t n_ids;
  size_t bytes;
};

/* The first 8 bytes of s[0..len), zero-padded: compared in one go. */
static inline uint64_t head8(const char *s, size_t len) {
  uint64_t h = 0;
  memcpy(&h, s, len < 8 ? len : 8);
  return h;
}

/* The first slot to probe for hash h (its high bits scaled to the table), then the next. */
static inline uint64_t slot_of(const trie_words_t *w, uint64_t h) {
  return (uint64_t)(((__uint128_t)h * w->n_slots) >> 64);
}
static inline uint64_t slot_next(const trie_words_t *w, uint64_t at) {
  return at + 1 == w->n_slots ? 0 : at + 1;
}

#endif /* TYPEAHEAD_TRIE_WORDS_INT_H */
