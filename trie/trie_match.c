/*
 * The whole answer of SPEC §15 for one prefix: exact prefix matches first (trie_lookup, or
 * trie_lookup_filtered with a keep predicate: the same refill past the stored top-k), then word
 * matches (trie_lookup_words), then typo matches (trie_lookup_typos), each key once. Word
 * matches go before typo matches because every character typed is in them; a typo match is a
 * guess at what was meant. trie_lookup_more is the part after the exact matches, for a caller
 * that finds those its own way (the server, through its filter caches).
 */
#include "trie_int.h"

static int seen(const trie_match_t *out, size_t n, uint32_t id) {
  for (size_t i = 0; i < n; i++)
    if (out[i].hit.id == id) return 1;
  return 0;
}

/* The keep predicate of an unfiltered answer that asks past the file's k. */
static int keep_all(void *ctx, const trie_hit_t *candidate) {
  (void)ctx;
  (void)candidate;
  return 1;
}

static int bad_opts(const trie_match_opts_t *o) {
  return o == NULL ||
         (o->typos != TRIE_TYPOS_AUTO && (o->typos < 0 || o->typos > (int)TRIE_MAX_TYPOS));
}

int trie_lookup_match(const trie_reader_t *r, const char *prefix, size_t len,
                      const trie_match_opts_t *o, size_t n, trie_keep_fn keep, void *ctx,
                      trie_text_t *text, trie_match_t *out, size_t *n_out) {
  if (n_out != NULL) *n_out = 0;
  if (r == NULL || bad_opts(o) || n_out == NULL || (n != 0 && (out == NULL || text == NULL)) ||
      (prefix == NULL && len != 0) || n > TA_MAX_K)
    return TA_EINVAL;
  trie_hit_t hits[TA_MAX_K];
  size_t got = 0;
  /* trie_lookup stops at the file's k: past it the filtered lookup's walk finds the other exact
   * matches, which the word and typo matches below leave out (they are the exact lookup's) */
  trie_keep_fn exact_keep = keep != NULL ? keep : n > r->k ? keep_all : NULL;
  int rc = exact_keep != NULL
               ? trie_lookup_filtered(r, prefix, len, n, exact_keep, ctx, text, hits, &got)
               : trie_lookup(r, prefix, len, (unsigned)n, text, hits, &got);
  if (rc != 0) return rc;
  for (size_t i = 0; i < got; i++) {
    out[i].hit = hits[i];
    out[i].kind = TRIE_MATCH_PREFIX;
    out[i].edits = 0;
    out[i].n_spans = 1;
    out[i].spans[0][0] = 0;
    out[i].spans[0][1] = (uint16_t)(len < UINT16_MAX ? len : UINT16_MAX);
  }
  *n_out = got;
  return trie_lookup_more(r, prefix, len, o, n, keep, ctx, text, out, n_out);
}

int trie_lookup_more(const trie_reader_t *r, const char *prefix, size_t len,
                     const trie_match_opts_t *o, size_t n, trie_keep_fn keep, void *ctx,
                     trie_text_t *text, trie_match_t *out, size_t *n_out) {
  if (r == NULL || bad_opts(o) || n_out == NULL || (n != 0 && (out == NULL || text == NULL)) ||
      (prefix == NULL && len != 0) || n > TA_MAX_K || *n_out > n)
    return TA_EINVAL;
  size_t got = *n_out, more = 0;
  int rc = 0;
  if (got < n && o->words != NULL) {
    rc = trie_lookup_words(r, o->words, prefix, len, n - got, keep, ctx, text, out + got, &more);
    if (rc != 0) return rc;
    size_t before = got; /* word matches are distinct; keep out those the caller had */
    for (size_t i = 0; i < more; i++)
      if (!seen(out, before, out[before + i].hit.id)) out[got++] = out[before + i];
  }
  unsigned edits = o->typos == TRIE_TYPOS_AUTO ? trie_typos_auto(prefix, len) : (unsigned)o->typos;
  if (got < n && edits > 0) {
    trie_match_t t[TA_MAX_K];
    rc = trie_lookup_typos(r, prefix, len, edits, n, keep, ctx, text, t, &more);
    if (rc != 0) return rc;
    for (size_t i = 0; i < more && got < n; i++)
      if (!seen(out, got, t[i].hit.id)) out[got++] = t[i];
  }
  *n_out = got;
  return 0;
}

int trie_match_highlight(const trie_match_t *m, uint32_t spans[TRIE_MAX_SPANS][2],
                         unsigned *n_spans) {
  if (m == NULL || spans == NULL || n_spans == NULL) return TA_EINVAL;
  *n_spans = 0;
  unsigned out = 0;
  for (unsigned i = 0; i < m->n_spans && i < TRIE_MAX_SPANS; i++) {
    size_t a = 0, b = 0;
    int rc =
        m->spans[i][0] > 0 ? trie_highlight(m->hit.text, m->hit.text_len, m->spans[i][0], &a) : 0;
    if (rc == 0) rc = trie_highlight(m->hit.text, m->hit.text_len, m->spans[i][1], &b);
    if (rc != 0) return rc;
    if (b <= a) continue;
    /* Words of the prefix that met one word of the key (york york, dogs dog) have spans that
     * overlap: the bytes are shown once, the spans ascending (by start, as the key's). */
    if (out > 0 && a < (size_t)spans[out - 1][0] + spans[out - 1][1]) {
      size_t end = (size_t)spans[out - 1][0] + spans[out - 1][1];
      if (b > end) spans[out - 1][1] = (uint32_t)(b - spans[out - 1][0]);
      continue;
    }
    spans[out][0] = (uint32_t)a;
    spans[out][1] = (uint32_t)(b - a);
    out++;
  }
  *n_spans = out;
  return 0;
}

const char *trie_match_name(unsigned kind) {
  return kind == TRIE_MATCH_TYPO ? "typo" : kind == TRIE_MATCH_WORDS ? "words" : "prefix";
}
