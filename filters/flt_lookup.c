/*
 * typeahead: flt_lookup, the filtered lookup every served answer goes through (SPEC §9,
 * issue 5): the first n completions that the rules keep, in rank order, exactly as
 * trie_lookup_filtered(..., flt_keep, ...) gives them.
 *
 * Why not always trie_lookup_filtered: its walk past the stored top-k (a heap over the
 * subtree) costs more than reading the node's stored list, and for most prefixes the stored
 * list already holds n kept completions. The stored top-k are the k best completions in rank
 * order, so when n of them are kept they are the first n kept ones; when the node stores fewer
 * than k there are no others. Only when neither holds does the walk run (and its candidates are
 * counted, not the ones the first pass saw, so nothing is counted twice).
 */
#include "flt_int.h"

int flt_lookup(const trie_reader_t *r, const char *prefix, size_t prefix_len, size_t n,
               flt_filter_t *f, trie_hit_t *hits, size_t *n_hits) {
  if (r == NULL || f == NULL || n_hits == NULL || (hits == NULL && n != 0)) return TA_EINVAL;
  *n_hits = 0;
  trie_info_t info;
  int rc = trie_get_info(r, &info);
  if (rc != 0) return rc;
  if (n <= info.k && (f->rs == NULL || flt_rule_count(f->rs) == 0))
    return trie_lookup(r, prefix, prefix_len, (unsigned)n, hits, n_hits);
  if (n <= info.k && info.k <= 32) {
    trie_hit_t top[32];
    size_t n_top = 0;
    rc = trie_lookup(r, prefix, prefix_len, info.k, top, &n_top);
    if (rc != 0) return rc;
    flt_filter_t first = {.rs = f->rs, .cache = f->cache};
    size_t kept = 0;
    for (size_t i = 0; i < n_top && kept < n; i++)
      if (flt_keep(&first, &top[i])) hits[kept++] = top[i];
    if (kept == n || n_top < info.k) {
      for (int k = 0; k < FLT_KIND_COUNT; k++) f->suppressed[k] += first.suppressed[k];
      f->unreadable += first.unreadable;
      *n_hits = kept;
      return 0;
    }
  }
  return trie_lookup_filtered(r, prefix, prefix_len, n, flt_keep, f, hits, n_hits);
}
