/*
 * typeahead: matching a normalized key against a compiled rule set (SPEC §9), the tokenizer the
 * compiler shares, and flt_keep, the predicate every served answer goes through
 * (trie_lookup_filtered). The layout of a rule set is drawn in flt_int.h. Nothing here
 * allocates: a candidate costs one pass for exact and prefix rules and one probe per token for
 * word and phrase rules, most of which the bloom bits answer from L1.
 */
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

/* Length of the character at s[0..len) and whether it belongs to a token; an invalid byte is a
 * one-byte separator. */
static size_t char_at(const char *s, size_t len, int *is_token) {
  unsigned char c = (unsigned char)s[0];
  if (c < 0x80) {
    *is_token = flt__ascii_token[c];
    return 1;
  }
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

int flt__next_token(const char *s, size_t len, size_t *pos, size_t *tok, size_t *tok_len) {
  size_t i = *pos;
  int is_token = 0;
  while (i < len) {
    size_t n = char_at(s + i, len - i, &is_token);
    if (is_token) break;
    i += n;
  }
  if (i >= len) {
    *pos = len;
    return 0;
  }
  size_t start = i;
  while (i < len) {
    size_t n = char_at(s + i, len - i, &is_token);
    if (!is_token) break;
    i += n;
  }
  *tok = start;
  *tok_len = i - start;
  *pos = i;
  return 1;
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

/* Do the tokens of key after *pos continue with the space-separated tokens rest[0..rest_len)? */
static int phrase_rest_matches(const char *key, size_t len, size_t pos, const char *rest,
                               size_t rest_len) {
  size_t r = 0;
  while (r < rest_len) {
    size_t want_end = r;
    while (want_end < rest_len && rest[want_end] != ' ') want_end++;
    size_t tok, tok_len;
    if (!flt__next_token(key, len, &pos, &tok, &tok_len)) return 0;
    if (tok_len != want_end - r || memcmp(key + tok, rest + r, tok_len) != 0) return 0;
    r = want_end + 1;
  }
  return 1;
}

static int phrase_at(const flt_ruleset_t *rs, long first, const char *key, size_t len,
                     size_t after_first, size_t first_len) {
  for (uint32_t p = rs->phrase_first[first]; p < rs->phrase_first[first + 1]; p++) {
    const flt__str_t *ph = &rs->phrases[p];
    if (ph->len == first_len) return 1; /* a one-token phrase */
    const char *rest = rs->arena + ph->off + first_len + 1;
    if (phrase_rest_matches(key, len, after_first, rest, ph->len - first_len - 1)) return 1;
  }
  return 0;
}

int flt_match(const flt_ruleset_t *rs, const char *key, size_t len, flt_kind_t *kind) {
  if (rs == NULL || key == NULL) return 0;
  const flt__set_t *exact = &rs->sets[FLT_EXACT], *prefix = &rs->sets[FLT_PREFIX];
  if (exact->n_items || prefix->n_items) {
    /* One FNV pass: the running hash is every prefix's hash; probe where a rule length ends.
     * Exact is decided before prefix so a suppression counts under the narrowest kind. */
    size_t stop = len;
    if (!exact->n_items && rs->prefix_max_len < len) stop = rs->prefix_max_len;
    int prefix_hit = 0;
    uint64_t h = FLT__FNV_OFFSET;
    for (size_t i = 0; i < stop; i++) {
      h = flt__fnv_step(h, (unsigned char)key[i]);
      size_t n = i + 1;
      if (!prefix_hit && n <= rs->prefix_max_len &&
          (rs->prefix_lens[n >> 6] & (1ull << (n & 63))) &&
          flt__set_find(prefix, rs->arena, key, n, flt__mix(h)) >= 0) {
        prefix_hit = 1;
        if (!exact->n_items) break;
      }
    }
    if (exact->n_items && flt__set_find(exact, rs->arena, key, len, flt__mix(h)) >= 0) {
      if (kind) *kind = FLT_EXACT;
      return 1;
    }
    if (prefix_hit) {
      if (kind) *kind = FLT_PREFIX;
      return 1;
    }
  }

  const flt__set_t *word = &rs->sets[FLT_WORD], *phrase = &rs->sets[FLT_PHRASE];
  if (word->n_items == 0 && phrase->n_items == 0) return 0;
  int phrase_hit = 0;
  size_t pos = 0, tok, tok_len;
  while (flt__next_token(key, len, &pos, &tok, &tok_len)) {
    uint64_t h = flt__hash(key + tok, tok_len);
    if (flt__set_find(word, rs->arena, key + tok, tok_len, h) >= 0) {
      if (kind) *kind = FLT_WORD;
      return 1;
    }
    if (!phrase_hit) {
      long first = flt__set_find(phrase, rs->arena, key + tok, tok_len, h);
      if (first >= 0 && phrase_at(rs, first, key, len, pos, tok_len)) phrase_hit = 1;
    }
  }
  if (phrase_hit) {
    if (kind) *kind = FLT_PHRASE;
    return 1;
  }
  return 0;
}

int flt_match_text(const flt_ruleset_t *rs, const char *text, size_t len, flt_kind_t *kind) {
  if (rs == NULL || flt_rule_count(rs) == 0) return 0;
  char key[TRIE_MAX_KEY + 1];
  size_t key_len;
  int rc = trie_norm_key(text, len, key, sizeof key, &key_len);
  if (rc < 0) return rc;
  return flt_match(rs, key, key_len, kind);
}

int flt_keep(void *ctx, const trie_hit_t *candidate) {
  flt_filter_t *f = ctx;
  flt_kind_t kind = FLT_WORD;
  int rc = flt_match_text(f->rs, candidate->text, candidate->text_len, &kind);
  if (rc < 0) {
    f->unreadable++;
    return 0;
  }
  if (rc > 0) {
    f->suppressed[kind]++;
    return 0;
  }
  return 1;
}

const char *flt_kind_name(flt_kind_t kind) {
  switch (kind) {
    case FLT_WORD: return "word";
    case FLT_PHRASE: return "phrase";
    case FLT_PREFIX: return "prefix";
    case FLT_EXACT: return "exact";
    default: return "?";
  }
}
