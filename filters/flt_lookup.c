/*
 * typeahead: the serve-time side of the blocklist filter layer (SPEC §9): the verdict on a
 * candidate (matched by flt_match.c, remembered in the verdict cache), flt_keep, the predicate
 * for trie_lookup_filtered, and flt_lookup, the filtered lookup every served answer goes
 * through: the first n completions that the rules keep, in rank order, exactly as
 * trie_lookup_filtered(..., flt_keep, ...) gives them.
 *
 * Why not always trie_lookup_filtered: its walk past the stored top-k (a heap over the
 * subtree) costs more than reading the node's stored list, and for most prefixes the stored
 * list already holds n kept completions. The stored top-k are the k best completions in rank
 * order, so when n of them are kept they are the first n kept ones; when the node stores fewer
 * than k there are no others. Only when neither holds does the walk run (and its candidates are
 * counted, not the ones the first pass saw, so nothing is counted twice).
 */
#include <stdatomic.h>
#include <stdlib.h>

#include "flt_int.h"

/* The verdict cache (flt.h): entries are 0 = not known yet, or one of these. */
enum {
  VERDICT_KEEP = 1,
  VERDICT_KIND0 = 2, /* VERDICT_KIND0 + kind: suppressed by a rule of that kind */
  VERDICT_UNREADABLE = VERDICT_KIND0 + FLT_KIND_COUNT
};

struct flt_cache {
  const flt_ruleset_t *rs;
  uint64_t n_ids;
  atomic_uchar *verdict;
};

int flt_cache_new(const flt_ruleset_t *rs, uint64_t n_ids, flt_cache_t **out) {
  if (rs == NULL || out == NULL) return TA_EINVAL;
  *out = NULL;
  if (n_ids > SIZE_MAX / 2) return TA_ERANGE;
  flt_cache_t *c = calloc(1, sizeof *c);
  if (c == NULL) return TA_ENOMEM;
  /* calloc's zero bytes are valid atomic_uchar zeros (lock-free byte atomics) */
  c->verdict = calloc(n_ids ? (size_t)n_ids : 1, sizeof *c->verdict);
  if (c->verdict == NULL) {
    free(c);
    return TA_ENOMEM;
  }
  c->rs = rs;
  c->n_ids = n_ids;
  *out = c;
  return 0;
}

void flt_cache_free(flt_cache_t *cache) {
  if (cache == NULL) return;
  free(cache->verdict);
  free(cache);
}

/* The cached verdict on query id (0: none; cache may be NULL or made for another rule set: then
 * it is not used), and where to remember a new one (*slot, NULL when there is nowhere). */
static inline unsigned cached(const flt_ruleset_t *rs, flt_cache_t *c, uint32_t id,
                              atomic_uchar **slot) {
  *slot = NULL;
  if (c == NULL || c->rs != rs || id >= c->n_ids) return 0;
  *slot = &c->verdict[id];
  return atomic_load_explicit(*slot, memory_order_relaxed);
}

/* Matches the candidate's text and remembers the verdict in slot (may be NULL). */
static unsigned judge(const flt_ruleset_t *rs, const trie_hit_t *hit, atomic_uchar *slot) {
  flt_kind_t kind = FLT_WORD;
  int rc = flt_match_text(rs, hit->text, hit->text_len, &kind);
  unsigned v = rc < 0 ? VERDICT_UNREADABLE : rc > 0 ? VERDICT_KIND0 + (unsigned)kind : VERDICT_KEEP;
  if (slot) atomic_store_explicit(slot, (unsigned char)v, memory_order_relaxed);
  return v;
}

/* The verdict on one candidate: from the cache when it has one, else matched and remembered.
 * rs has rules. */
static inline unsigned verdict(const flt_ruleset_t *rs, flt_cache_t *c, const trie_hit_t *hit) {
  atomic_uchar *slot;
  unsigned v = cached(rs, c, hit->id, &slot);
  return v ? v : judge(rs, hit, slot);
}

/* Counts a verdict in f; 1 when it keeps the candidate. */
static inline int count(flt_filter_t *f, unsigned v) {
  if (v == VERDICT_KEEP) return 1;
  if (v == VERDICT_UNREADABLE)
    f->unreadable++;
  else
    f->suppressed[v - VERDICT_KIND0]++;
  return 0;
}

int flt_keep(void *ctx, const trie_hit_t *candidate) {
  flt_filter_t *f = ctx;
  if (f->rs == NULL || f->rs->n_rules == 0) return 1;
  return count(f, verdict(f->rs, f->cache, candidate));
}

int flt_lookup(const trie_reader_t *r, const char *prefix, size_t prefix_len, size_t n,
               flt_filter_t *f, trie_hit_t *hits, size_t *n_hits) {
  if (r == NULL || f == NULL || n_hits == NULL || (hits == NULL && n != 0)) return TA_EINVAL;
  *n_hits = 0;
  trie_info_t info;
  int rc = trie_get_info(r, &info);
  if (rc != 0) return rc;
  if (n <= info.k && (f->rs == NULL || f->rs->n_rules == 0))
    return trie_lookup(r, prefix, prefix_len, (unsigned)n, hits, n_hits);
  if (n <= info.k && info.k <= TA_MAX_K) {
    /* The stored top-k by id: a cached verdict needs no text, so only the candidates that are
     * kept, or not judged yet, are turned into hits. */
    uint32_t top[TA_MAX_K];
    size_t n_top = 0;
    rc = trie_lookup_ids(r, prefix, prefix_len, info.k, top, &n_top);
    if (rc != 0) return rc;
    flt_filter_t first = {.rs = f->rs, .cache = f->cache};
    size_t kept = 0;
    for (size_t i = 0; i < n_top && kept < n; i++) {
      atomic_uchar *slot;
      unsigned v = cached(f->rs, f->cache, top[i], &slot);
      if (v == VERDICT_KEEP || v == 0) {
        if ((rc = trie_get_hit(r, top[i], &hits[kept])) != 0) return rc;
        if (v == 0) v = judge(f->rs, &hits[kept], slot);
      }
      if (count(&first, v)) kept++;
    }
    if (kept == n || n_top < info.k) {
      for (int k = 0; k < FLT_KIND_COUNT; k++) f->suppressed[k] += first.suppressed[k];
      f->unreadable += first.unreadable;
      *n_hits = kept;
      return 0;
    }
  }
  return trie_lookup_filtered(r, prefix, prefix_len, n, flt_keep, f, hits, n_hits);
}
