/*
 * The mixing rule of trending completions into regular ones (docs/TRENDING.md "Mixing",
 * SPEC §13): one pure function, used by the server and by the trending bench alike.
 * The first regular suggestion is never displaced; at most `slots` trending completions that
 * are not among the regular ones shown (once they are placed) come right after it, and the
 * regular ones they leave room for follow (the last ones drop out); a trending
 * query that is already a regular suggestion stays in its regular place, marked trending, and
 * takes no slot. Keys are compared by display form (both tries store the same one per key).
 */
#include "trie.h"

#include <string.h>

static int same_text(const trie_hit_t *a, const trie_hit_t *b) {
  return a->text_len == b->text_len &&
         (a->text_len == 0 || memcmp(a->text, b->text, a->text_len) == 0);
}

static int in_list(const trie_hit_t *h, const trie_hit_t *list, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (same_text(h, &list[i])) return 1;
  return 0;
}

int trie_mix(const trie_hit_t *regular, size_t n_regular, const trie_hit_t *trending,
             size_t n_trending, unsigned slots, size_t n, trie_hit_t *out,
             unsigned char *is_trending, size_t *n_out) {
  if (n_out == NULL || (n_regular > 0 && regular == NULL) || (n_trending > 0 && trending == NULL) ||
      (n > 0 && out == NULL))
    return TA_EINVAL;
  *n_out = 0;
  if (n == 0) return 0;
  size_t max_new = n - (n_regular > 0 ? 1 : 0);
  if (max_new > slots) max_new = slots;
  if (max_new > TRIE_MIX_MAX_SLOTS) max_new = TRIE_MIX_MAX_SLOTS;
  /* The new trending ones, best first (placed after the first regular one below): those not
   * among the regular ones shown, which are the first n - t when t are taken. A regular one
   * that the new ones push out is new itself (else it would be neither in its place nor among
   * the trending ones, and a slot would go unused), so t is found as a fixed point: taking
   * more only shows fewer regular ones, so t never falls and stops within max_new + 1 rounds. */
  size_t t = 0;
  const trie_hit_t *pick[TRIE_MIX_MAX_SLOTS];
  for (;;) {
    size_t shown = n_regular < n - t ? n_regular : n - t, taken = 0;
    for (size_t i = 0; i < n_trending && taken < max_new; i++) {
      const trie_hit_t *h = &trending[i];
      if (in_list(h, regular, shown)) continue;
      int dup = 0;
      for (size_t j = 0; j < taken && !dup; j++) dup = same_text(h, pick[j]);
      if (!dup) pick[taken++] = h;
    }
    if (taken == t) break;
    t = taken;
  }
  size_t r = n_regular < n - t ? n_regular : n - t;
  /* The first regular one, the new trending ones, then the other regular ones. */
  size_t first = r > 0 ? 1 : 0;
  for (size_t i = 0; i < r + t; i++) {
    int is_new = i >= first && i < first + t;
    const trie_hit_t *h = is_new ? pick[i - first] : &regular[i < first ? i : i - t];
    out[i] = *h;
    if (is_trending != NULL)
      is_trending[i] = (unsigned char)(is_new || in_list(h, trending, n_trending));
  }
  *n_out = r + t;
  return 0;
}
