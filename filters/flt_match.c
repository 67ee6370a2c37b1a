/*
 * typeahead: matching a normalized key against a compiled rule set (SPEC §9), and the set probes
 * the compiler shares. The layout of a rule set is drawn in flt_int.h; the verdicts served
 * answers go through are in flt_lookup.c, above this file; the disguise view in flt_fold.c,
 * below it. Nothing here allocates: a key costs one hash for exact rules, one bitmap load for
 * prefix rules (mostly), and one hash per token for word and phrase rules, most of which the
 * bloom bits answer from L1; then the same again through its disguise view when that differs
 * from the key (a non-ASCII letter, a digit in a word, a separator inside a word).
 */
#include <stdlib.h>
#include <string.h>

#include "flt_int.h"

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

int flt__pset_hit(const flt__pset_t *set, const char *arena, const char *s, size_t len) {
  if (set->n_items == 0 || len < set->head_len) return 0;
  uint32_t bit = ta_head_hash16(s, set->head_len);
  if (!(set->head[bit >> 6] & (1ull << (bit & 63)))) return 0;
  /* the greatest item <= s; if it is not a prefix of s, no item is (flt_int.h) */
  const flt__str_t *items = set->items;
  size_t lo = 0, hi = set->n_items; /* answer in [lo - 1, hi) */
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    const flt__str_t *it = &items[mid];
    size_t n = it->len < len ? it->len : len;
    int c = memcmp(arena + it->off, s, n);
    if (c < 0 || (c == 0 && it->len <= len))
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo == 0) return 0;
  const flt__str_t *it = &items[lo - 1];
  return it->len <= len && memcmp(arena + it->off, s, it->len) == 0;
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
  return flt__set_find(&rs->phrase, rs->arena, canon, len, ta_hash64(canon, len, 0)) >= 0;
}

/* Exact and prefix rules against the whole string s[0..len). */
static int match_whole(const flt_ruleset_t *rs, const char *s, size_t len, flt_kind_t *kind) {
  /* exact before prefix, so a suppression counts under the narrowest kind */
  if (rs->exact.n_items &&
      flt__set_find(&rs->exact, rs->arena, s, len, ta_hash64(s, len, 0)) >= 0) {
    if (kind) *kind = FLT_EXACT;
    return 1;
  }
  if (flt__pset_hit(&rs->prefix, rs->arena, s, len)) {
    if (kind) *kind = FLT_PREFIX;
    return 1;
  }
  return 0;
}

/* Word and word:w* rules against the readings of token t[0..len) with its doubled letters
 * shortened (docs/filters.md "Disguises"): each run of two or more of one ASCII letter reads as
 * one letter and as two, so iddiot and idiiot read as idiot, asss as ass; a double letter of
 * the rule must be there (as is not ass). The first FLT__MAX_DOUBLED runs vary, later ones read
 * as two. 1 on a hit. */
static int doubled_hit(const flt_ruleset_t *rs, const char *t, size_t len) {
  size_t run_at[FLT__MAX_DOUBLED], run_len[FLT__MAX_DOUBLED];
  unsigned runs = 0;
  int longer = 0; /* a run of three or more: reading all runs as two differs from t */
  for (size_t i = 0; i + 1 < len; i++) {
    unsigned char c = (unsigned char)t[i];
    if (c < 'a' || c > 'z' || t[i + 1] != t[i]) continue;
    size_t j = i + 2;
    while (j < len && t[j] == t[i]) j++;
    longer |= j - i > 2;
    if (runs < FLT__MAX_DOUBLED) {
      run_at[runs] = i;
      run_len[runs++] = j - i;
    }
    i = j - 1;
  }
  if (runs == 0 || len > FLT__VIEW_CAP) return 0;
  char buf[FLT__VIEW_CAP];
  /* bit r of mask set: run r reads as one letter; else as two (mask 0 is t itself unless a run
   * was longer, and t was probed already) */
  for (unsigned mask = longer ? 0 : 1; mask < 1u << runs; mask++) {
    size_t n = 0, from = 0;
    for (unsigned r = 0; r < runs; r++) {
      memcpy(buf + n, t + from, run_at[r] - from);
      n += run_at[r] - from;
      buf[n++] = t[run_at[r]];
      if (!(mask >> r & 1)) buf[n++] = t[run_at[r]];
      from = run_at[r] + run_len[r];
    }
    for (size_t i = from; i < len; i++) { /* later runs of three or more read as two */
      if (n >= 2 && t[i] == buf[n - 1] && t[i] == buf[n - 2] && t[i] >= 'a' && t[i] <= 'z')
        continue;
      buf[n++] = t[i];
    }
    if (flt__set_find(&rs->word, rs->arena, buf, n, ta_hash64(buf, n, 0)) >= 0 ||
        flt__pset_hit(&rs->star, rs->arena, buf, n))
      return 1;
  }
  return 0;
}

/* Word and word:w* rules against t[0..len), as it is and with its doubled letters read short. */
static int word_hit(const flt_ruleset_t *rs, const char *t, size_t len) {
  if (rs->word.n_items == 0 && rs->star.n_items == 0) return 0;
  return flt__set_find(&rs->word, rs->arena, t, len, ta_hash64(t, len, 0)) >= 0 ||
         flt__pset_hit(&rs->star, rs->arena, t, len) || doubled_hit(rs, t, len);
}

/* Word, word:w* and phrase rules against the tokens of s[0..len): 1 on a word hit (*kind set);
 * else 0, with *phrase_hit set when a phrase matched (words are looked for to the end first).
 * A word rule meets a token or one of its pieces (flt__script_run: 北京idiot), a phrase the
 * pieces one after the other, as its own were cut when it was compiled. */
static int match_tokens(const flt_ruleset_t *rs, const char *s, size_t len, flt_kind_t *kind,
                        int *phrase_hit) {
  const flt__set_t *phrase = &rs->phrase;
  if (rs->word.n_items == 0 && rs->star.n_items == 0 && phrase->n_items == 0) return 0;
  /* The last FLT__MAX_PHRASE_TOKENS pieces: at each piece, the phrases that end there. */
  tok_t ring[FLT__MAX_PHRASE_TOKENS];
  size_t n_tok = 0, pos = 0, tok, tok_len;
  while (flt__next_token(s, len, &pos, &tok, &tok_len)) {
    size_t end = tok + tok_len, first = flt__script_run(s + tok, tok_len);
    int hit = word_hit(rs, s + tok, tok_len);
    for (size_t at = tok, n = first; !hit && n < tok_len && at < end; at += n) {
      n = flt__script_run(s + at, end - at);
      hit = word_hit(rs, s + at, n);
    }
    if (hit) {
      if (kind) *kind = FLT_WORD;
      return 1;
    }
    if (phrase->n_items == 0 || *phrase_hit) continue;
    for (size_t at = tok, n = first; at < end && !*phrase_hit; at += n) {
      if (at > tok) n = flt__script_run(s + at, end - at);
      tok_t *t = &ring[n_tok % FLT__MAX_PHRASE_TOKENS];
      t->off = at;
      t->len = n;
      t->first =
          flt__set_find(&rs->phrase_first, rs->arena, s + at, n, ta_hash64(s + at, n, 0)) >= 0;
      n_tok++;
      for (uint64_t lens = rs->phrase_ntok; lens && !*phrase_hit; lens &= lens - 1) {
        size_t k = (size_t)__builtin_ctzll(lens) + 1;
        if (k > n_tok) break;
        size_t from = n_tok - k;
        if (ring[from % FLT__MAX_PHRASE_TOKENS].first && phrase_probe(rs, s, ring, from, k))
          *phrase_hit = 1;
      }
    }
  }
  return 0;
}

/* 0 when the disguise view of key is surely key itself: only a-z and spaces, and no two
 * one-letter words in a row (most keys, cleared without building the view). */
static int view_may_differ(const char *key, size_t len) {
  size_t run = 0, prev = 0; /* letters of the current word and of the one before */
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)key[i];
    if (c == ' ') {
      if (run == 1 && prev == 1) return 1;
      prev = run;
      run = 0;
    } else if (c < 'a' || c > 'z') {
      return 1;
    } else {
      run++;
    }
  }
  return run == 1 && prev == 1;
}

int flt_match(const flt_ruleset_t *rs, const char *key, size_t len, flt_kind_t *kind) {
  if (rs == NULL || key == NULL || rs->n_rules == 0) return 0;
  int phrase_hit = 0;
  if (match_whole(rs, key, len, kind) || match_tokens(rs, key, len, kind, &phrase_hit)) return 1;
  if (!phrase_hit && view_may_differ(key, len)) {
    /* Through the disguise view: '1' read as i, then (only if there was one) as l. */
    flt__view_t v;
    for (int pass = 0; pass < 2 && !phrase_hit; pass++) {
      if (flt__view(key, len, pass ? 'l' : 'i', &v) != 0) {
        if (kind) *kind = FLT_WORD; /* cannot happen with keys of TA_MAX_KEY; fail closed */
        return 1;
      }
      if (v.s_changed && match_whole(rs, v.s, v.s_len, kind)) return 1;
      if (v.g_changed && match_tokens(rs, v.g, v.g_len, kind, &phrase_hit)) return 1;
      if (!v.has_one) break;
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
