/*
 * typeahead: matching a normalized key against a compiled rule set (SPEC §9), and the tokenizer
 * and set probe the compiler shares. The layout of a rule set is drawn in flt_int.h; the
 * verdicts served answers go through are in flt_lookup.c, above this file. Nothing here
 * allocates: a candidate costs one hash of the key for exact rules, one bitmap load for prefix
 * rules (mostly), and one hash per token for word and phrase rules, most of which the bloom bits
 * answer from L1.
 */
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "flt_int.h"

const unsigned char flt__ascii_token[128] = {
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1,
    ['8'] = 1, ['9'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1,
    ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1,
    ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1,
    ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1,
    ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1,
    ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1,
    ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1,
};

/* Length of the non-ASCII character at s[0..len) and whether it belongs to a token; an invalid
 * byte is a one-byte separator. */
static size_t char_at_slow(const char *s, size_t len, int *is_token) {
  utf8proc_int32_t cp;
  utf8proc_ssize_t n = utf8proc_iterate((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)len, &cp);
  if (n <= 0) {
    *is_token = 0;
    return 1;
  }
  utf8proc_category_t cat = utf8proc_category(cp);
  /* L* (1..5), M* (6..8) and N* (9..11) are contiguous in utf8proc's enumeration. */
  *is_token = cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_NO;
  return (size_t)n;
}

/* ASCII runs go through the table without a call; other characters through utf8proc. */
static inline int next_token(const char *s, size_t len, size_t *pos, size_t *tok, size_t *tok_len) {
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
    size_t n = char_at_slow(s + i, len - i, &is_token);
    if (is_token) break;
    i += n;
  }
  size_t start = i;
  for (;;) {
    while (i < len && u[i] < 0x80 && flt__ascii_token[u[i]]) i++;
    if (i >= len || u[i] < 0x80) break;
    size_t n = char_at_slow(s + i, len - i, &is_token);
    if (!is_token) break;
    i += n;
  }
  *tok = start;
  *tok_len = i - start;
  *pos = i;
  return 1;
}

int flt__next_token(const char *s, size_t len, size_t *pos, size_t *tok, size_t *tok_len) {
  return next_token(s, len, pos, tok, tok_len);
}

long flt__set_find(const flt__set_t *set, const char *arena, const char *s, size_t len,
                   uint64_t h) {
  if (set->n_items == 0) return -1;
  uint32_t bit = (uint32_t)(h >> 40) & set->bloom_mask;
  if (!(set->bloom[bit >> 6] & (1ull << (bit & 63)))) return -1;
  uint32_t tag = (uint32_t)(h >> 32);
  for (uint32_t i = (uint32_t)h & set->mask;; i = (i + 1) & set->mask) {
    const flt__slot_t *slot = &set->slots[i];
    if (slot->item == 0) return -1;
    if (slot->tag != tag) continue;
    const flt__str_t *it = &set->items[slot->item - 1];
    if (it->len == len && memcmp(arena + it->off, s, len) == 0) return (long)(slot->item - 1);
  }
}

typedef struct {
  size_t off, len;
  int first; /* the token starts some phrase */
} tok_t;

/* Is the phrase made of the n tokens ring[from..from+n) (indices mod the ring size) a rule? */
static int phrase_probe(const flt_ruleset_t *rs, const char *key, const tok_t *ring, size_t from,
                        size_t n) {
  char canon[TA_MAX_KEY + 1];
  size_t len = 0;
  for (size_t i = 0; i < n; i++) {
    const tok_t *t = &ring[(from + i) % FLT__MAX_PHRASE_TOKENS];
    if (len + t->len + 1 > sizeof canon) return 0; /* longer than any rule */
    if (i) canon[len++] = ' ';
    memcpy(canon + len, key + t->off, t->len);
    len += t->len;
  }
  return flt__set_find(&rs->sets[FLT_PHRASE], rs->arena, canon, len, ta_hash64(canon, len, 0)) >= 0;
}

int flt_match(const flt_ruleset_t *rs, const char *key, size_t len, flt_kind_t *kind) {
  if (rs == NULL || key == NULL) return 0;
  const flt__set_t *exact = &rs->sets[FLT_EXACT], *prefix = &rs->sets[FLT_PREFIX];
  /* exact before prefix, so a suppression counts under the narrowest kind */
  if (exact->n_items && flt__set_find(exact, rs->arena, key, len, ta_hash64(key, len, 0)) >= 0) {
    if (kind) *kind = FLT_EXACT;
    return 1;
  }
  size_t head = rs->prefix_head_len;
  if (prefix->n_items && len >= head) {
    uint32_t bit = flt__head_hash(key, head);
    if (rs->prefix_head[bit >> 6] & (1ull << (bit & 63))) {
      /* the greatest rule <= key; if it is not a prefix of key, no rule is (flt_int.h) */
      const flt__str_t *items = prefix->items;
      size_t lo = 0, hi = prefix->n_items; /* answer in [lo - 1, hi) */
      while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const flt__str_t *it = &items[mid];
        size_t n = it->len < len ? it->len : len;
        int c = memcmp(rs->arena + it->off, key, n);
        if (c < 0 || (c == 0 && it->len <= len))
          lo = mid + 1;
        else
          hi = mid;
      }
      if (lo > 0) {
        const flt__str_t *it = &items[lo - 1];
        if (it->len <= len && memcmp(rs->arena + it->off, key, it->len) == 0) {
          if (kind) *kind = FLT_PREFIX;
          return 1;
        }
      }
    }
  }

  const flt__set_t *word = &rs->sets[FLT_WORD], *phrase = &rs->sets[FLT_PHRASE];
  if (word->n_items == 0 && phrase->n_items == 0) return 0;
  /* The last FLT__MAX_PHRASE_TOKENS tokens: at each token, the phrases that end there. */
  tok_t ring[FLT__MAX_PHRASE_TOKENS];
  int phrase_hit = 0;
  size_t n_tok = 0, pos = 0, tok, tok_len;
  while (next_token(key, len, &pos, &tok, &tok_len)) {
    uint64_t h = ta_hash64(key + tok, tok_len, 0);
    if (flt__set_find(word, rs->arena, key + tok, tok_len, h) >= 0) {
      if (kind) *kind = FLT_WORD;
      return 1;
    }
    if (phrase->n_items == 0 || phrase_hit) continue;
    tok_t *t = &ring[n_tok % FLT__MAX_PHRASE_TOKENS];
    t->off = tok;
    t->len = tok_len;
    t->first = flt__set_find(&rs->phrase_first, rs->arena, key + tok, tok_len, h) >= 0;
    n_tok++;
    for (uint64_t lens = rs->phrase_ntok; lens && !phrase_hit; lens &= lens - 1) {
      size_t n = (size_t)__builtin_ctzll(lens) + 1;
      if (n > n_tok) break;
      size_t from = n_tok - n;
      if (ring[from % FLT__MAX_PHRASE_TOKENS].first && phrase_probe(rs, key, ring, from, n))
        phrase_hit = 1;
    }
  }
  if (phrase_hit) {
    if (kind) *kind = FLT_PHRASE;
    return 1;
  }
  return 0;
}

int flt_match_text(const flt_ruleset_t *rs, const char *text, size_t len, flt_kind_t *kind) {
  if (rs == NULL || rs->n_rules == 0) return 0;
  char key[TA_MAX_KEY + 1];
  size_t key_len;
  int rc = trie_norm_key(text, len, key, sizeof key, &key_len);
  if (rc < 0) return rc;
  return flt_match(rs, key, key_len, kind);
}

const char *flt_kind_name(flt_kind_t kind) {
  switch (kind) {
  case FLT_WORD:
    return "word";
  case FLT_PHRASE:
    return "phrase";
  case FLT_PREFIX:
    return "prefix";
  case FLT_EXACT:
    return "exact";
  default:
    return "?";
  }
}
