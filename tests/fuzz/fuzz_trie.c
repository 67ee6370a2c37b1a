/*
 * Fuzz target of the trie reader: the input is a whole trie file image. It is opened
 * from an exact-size heap copy (so any overrun is caught), verified, and asked lookups, filtered
 * lookups, the filter layer's two-step calls (ids, stored top-k, picked and chosen hits, hits by
 * id) and typo lookups for the empty prefix, for prefixes of the display strings the file
 * returns, and for bytes taken from the input. Then the same image with its section and header CRCs
 * recomputed goes through the same steps, so mutations reach verify's structural walk instead
 * of stopping at a checksum. Nothing may crash, hang or read out of bounds, whatever open and
 * verify say.
 *
 * Seeds in tests/fuzz/corpus/trie/ are small valid files made with typeahead-build, e.g.
 *   printf 'new york\t9\nnew\t3\nnews\t3\nnewt\t1\nyork\t2\n' > q.tsv
 *   typeahead-build --freq q.tsv --out tests/fuzz/corpus/trie/seed6-ascii-k2 --k 2
 * (seed6-*: format 6, docs/FUZZING.md says how they came; format2-* to format5-*: files of
 * older formats, which must be refused). Crashers found are kept there too.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "trie_int.h"
#include "../trie/trie_test_util.h" /* tu_fix_crcs */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int keep_even(void *ctx, const trie_hit_t *c) {
  (void)ctx;
  return (c->id & 1) == 0;
}

static int keep_none(void *ctx, const trie_hit_t *c) {
  (void)ctx;
  (void)c;
  return 0;
}

/* trie_pick_fn: every other stored position, or none made when the top holds one */
static int pick_alternate(void *ctx, const trie_top_t *top, uint64_t *picked) {
  (void)ctx;
  *picked = UINT64_C(0x5555555555555555) & ((UINT64_C(1) << top->n) - 1);
  return top->n != 1;
}

/* The filter layer's calls (flt_lookup.c): ids first, hits of chosen ones after. */
static void ask_in_steps(const trie_reader_t *r, const char *p, size_t len) {
  uint32_t ids[TA_MAX_K];
  size_t n_ids;
  trie_hit_t hits[TA_MAX_K];
  if (trie_lookup_ids(r, p, len, 10, ids, &n_ids) == 0)
    for (size_t i = 0; i < n_ids; i++) trie_get_hit(r, ids[i], tu_text(), &hits[0]);
  trie_top_t top;
  if (trie_lookup_top(r, p, len, tu_text(), &top) == 0 && top.n > 0) {
    uint32_t last[2] = {top.ids[top.n - 1], top.ids[0]};
    trie_get_hits(r, &top, p, top.ids, top.n, tu_text(), hits);
    trie_get_hits(r, &top, p, last, 2, tu_text(), hits);
  }
  size_t n_hits;
  trie_lookup_top_pick(r, p, len, pick_alternate, NULL, tu_text(), &top, hits, &n_hits);
}

static void ask(const trie_reader_t *r, const char *p, size_t len) {
  trie_hit_t hits[40];
  size_t nh;
  trie_lookup(r, p, len, 10, tu_text(), hits, &nh);
  trie_lookup(r, p, len, 1, tu_text(), hits, &nh);
  trie_lookup_filtered(r, p, len, 40, keep_even, NULL, tu_text(), hits, &nh);
  trie_lookup_filtered(r, p, len, 5, keep_none, NULL, tu_text(), hits, &nh);
  trie_match_t m[10]; /* the typo walk (SPEC §15), bounded and filtered */
  trie_lookup_typos(r, p, len, 2, 10, NULL, NULL, tu_text(), m, &nh);
  trie_lookup_typos(r, p, len, 1, 5, keep_even, NULL, tu_text(), m, &nh);
  ask_in_steps(r, p, len);
}

static void run(const uint8_t *data, size_t size, int fix) {
  uint8_t *copy = malloc(size ? size : 1);
  if (copy == NULL) return;
  if (size) memcpy(copy, data, size);
  if (fix && tu_fix_crcs(copy, size) != 0) {
    free(copy);
    return;
  }
  trie_text_reset(tu_text()); /* the texts of one input's lookups, let go at the next input */
  trie_reader_t *r;
  if (trie__open_mem(copy, size, &r) == 0) {
    trie_info_t info;
    trie_get_info(r, &info);
    trie_verify(r, NULL);
    ask(r, "", 0);
    trie_hit_t hits[10];
    size_t nh = 0;
    if (trie_lookup(r, "", 0, 10, tu_text(), hits, &nh) == 0) {
      for (size_t i = 0; i < nh; i++) {
        /* The display strings of the seeds are their keys: walk their prefixes. */
        char buf[64];
        size_t len = hits[i].text_len < sizeof buf ? hits[i].text_len : sizeof buf;
        memcpy(buf, hits[i].text, len);
        for (size_t l = 1; l <= len; l++) ask(r, buf, l);
      }
    }
    if (size >= 4) ask(r, (const char *)data + size - 4, 4);
    trie_hit_t one; /* ids past the file's, and one taken from the input */
    trie_get_hit(r, (uint32_t)info.num_queries, tu_text(), &one);
    trie_get_hit(r, UINT32_MAX, tu_text(), &one);
    if (size >= 4 && info.num_queries)
      trie_get_hit(r, (uint32_t)(data[size - 1] % info.num_queries), tu_text(), &one);
    trie_words_t *w = NULL; /* the word index walks every node */
    if (trie_words_build(r, &w) == 0) {
      trie_match_t m[10];
      trie_lookup_words(r, w, "a b", 3, 10, NULL, NULL, tu_text(), m, &nh);
      if (size >= 4)
        trie_lookup_words(r, w, (const char *)data + size - 4, 4, 10, NULL, NULL, tu_text(), m,
                          &nh);
      trie_words_free(w);
    }
    trie_screen_t *sc = NULL; /* the key-head screen walks the top of the trie */
    if (trie_screen_build(r, &sc) == 0) {
      trie_screen_may_start(sc, "", 0);
      if (size >= 4) trie_screen_may_start(sc, (const char *)data + size - 4, 4);
      trie_screen_free(sc);
    }
    trie_close(r);
  }
  free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  run(data, size, 0);
  run(data, size, 1);
  return 0;
}
