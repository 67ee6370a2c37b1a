/*
 * Exactness of trie_lookup and trie_lookup_filtered against brute force:
 * random key sets (several seeds, up to 50,000 keys, ASCII and multi-byte UTF-8, many shared
 * prefixes, many score ties) are written, opened and verified; then every distinct byte prefix
 * of every key, and random non-prefixes, must answer exactly what sorting the whole set by
 * (score desc, key asc) answers, for k = 1, 5, 10 (and the file's k).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "trie_test_util.h"

/* The reference: the set sorted by key, each with its rank computed independently. */
typedef struct {
  const trie_entry_t *e;
  uint32_t rank;
} ref_t;

static int cmp_key(const void *x, const void *y) {
  const trie_entry_t *a = ((const ref_t *)x)->e, *b = ((const ref_t *)y)->e;
  size_t m = a->key_len < b->key_len ? a->key_len : b->key_len;
  int c = memcmp(a->key, b->key, m);
  return c != 0 ? c : (a->key_len > b->key_len) - (a->key_len < b->key_len);
}

static int cmp_rank(const void *x, const void *y) {
  const ref_t *a = x, *b = y;
  if (a->e->score != b->e->score) return a->e->score > b->e->score ? -1 : 1;
  return cmp_key(x, y);
}

static int cmp_u32(const void *x, const void *y) {
  uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
  return (a > b) - (a < b);
}

static int has_prefix(const trie_entry_t *e, const char *p, size_t plen) {
  return e->key_len >= plen && memcmp(e->key, p, plen) == 0;
}

/* Keep predicate of the filtered tests: drops ids by a hash, at a given per-mille rate. */
typedef struct {
  unsigned drop_permille;
} keep_ctx_t;

static int keep_fn(void *ctx, const trie_hit_t *c) {
  const keep_ctx_t *kc = ctx;
  uint64_t h = (c->id + 1) * 0x9E3779B97F4A7C15ull;
  return (unsigned)((h >> 40) % 1000) >= kc->drop_permille;
}

static void check_hits(const trie_reader_t *r, ref_t *byrank, const uint32_t *want, size_t nwant,
                       const trie_hit_t *hits, size_t nhits) {
  (void)r;
  assert_int_equal(nhits, nwant);
  for (size_t i = 0; i < nwant; i++) {
    const trie_entry_t *e = byrank[want[i]].e;
    assert_int_equal(hits[i].id, want[i]);
    assert_true(hits[i].score == e->score);
    assert_int_equal(hits[i].text_len, e->display_len);
    assert_memory_equal(hits[i].text, e->display, e->display_len);
  }
}

static void run_set(uint64_t seed, size_t n, int multibyte, int wide_scores, uint32_t file_k,
                    size_t prefix_stride) {
  tset_t s = tu_gen(seed, n, multibyte, wide_scores);
  char *dir = tu_mkdtemp();
  assert_non_null(dir);
  char path[4200];
  snprintf(path, sizeof path, "%s/t.trie", dir);
  assert_int_equal(tu_write(path, s.e, s.n, file_k, "test", 1), 0);
  trie_reader_t *r;
  assert_int_equal(trie_open(path, &r), 0);
  assert_int_equal(trie_verify(r, NULL), 0);

  /* Reference ranks. */
  ref_t *byrank = malloc(n * sizeof *byrank);
  for (size_t i = 0; i < n; i++) byrank[i].e = &s.e[i];
  qsort(byrank, n, sizeof *byrank, cmp_rank);
  ref_t *bykey = malloc(n * sizeof *bykey);
  for (size_t i = 0; i < n; i++) {
    byrank[i].rank = (uint32_t)i;
    bykey[i] = byrank[i];
  }
  qsort(bykey, n, sizeof *bykey, cmp_key);

  uint32_t *range_ids = malloc(n * sizeof *range_ids);
  trie_hit_t *hits = malloc((n + 1) * sizeof *hits);
  static const unsigned ks[] = {1, 5, 10, 32};
  static const unsigned drops[] = {0, 500, 950, 1000};
  size_t checked = 0;
  for (size_t i = 0; i < n; i++) {
    const trie_entry_t *e = bykey[i].e;
    size_t lcp = 0;
    if (i > 0) {
      const trie_entry_t *p = bykey[i - 1].e;
      while (lcp < p->key_len && lcp < e->key_len && p->key[lcp] == e->key[lcp]) lcp++;
    }
    /* Distinct prefixes first met at key i: lengths lcp+1 .. len (and "" once). */
    for (size_t plen = (i == 0 ? 0 : lcp + 1); plen <= e->key_len; plen++) {
      if (plen > 0 && (plen + i) % prefix_stride != 0) continue;
      size_t hi = i;
      while (hi < n && has_prefix(bykey[hi].e, e->key, plen)) hi++;
      size_t cnt = hi - i;
      for (size_t j = i; j < hi; j++) range_ids[j - i] = bykey[j].rank;
      qsort(range_ids, cnt, sizeof *range_ids, cmp_u32);
      for (size_t ki = 0; ki < sizeof ks / sizeof ks[0]; ki++) {
        unsigned k = ks[ki];
        size_t nh;
        trie_text_reset(tu_text()); /* the hits of the lookups before are checked */
        assert_int_equal(trie_lookup(r, e->key, plen, k, tu_text(), hits, &nh), 0);
        unsigned eff = k < file_k ? k : file_k;
        check_hits(r, byrank, range_ids, cnt < eff ? cnt : eff, hits, nh);
        /* The same in two steps: ids, then hits. */
        uint32_t ids[TA_MAX_K];
        size_t nid;
        assert_int_equal(trie_lookup_ids(r, e->key, plen, k, ids, &nid), 0);
        for (size_t h = 0; h < nid; h++)
          assert_int_equal(trie_get_hit(r, ids[h], tu_text(), &hits[h]), 0);
        check_hits(r, byrank, range_ids, cnt < eff ? cnt : eff, hits, nid);
      }
      if ((i + plen) % 3 == 0) {
        for (size_t di = 0; di < sizeof drops / sizeof drops[0]; di++) {
          keep_ctx_t kc = {drops[di]};
          size_t want_n = ((i + di) % 4 == 0) ? 50 : 1 + (i + plen) % 12;
          uint32_t *want = malloc((cnt ? cnt : 1) * sizeof *want);
          size_t nwant = 0;
          for (size_t j = 0; j < cnt && nwant < want_n; j++) {
            trie_hit_t c;
            c.id = range_ids[j];
            if (keep_fn(&kc, &c)) want[nwant++] = range_ids[j];
          }
          size_t nh;
          trie_text_reset(tu_text());
          assert_int_equal(
              trie_lookup_filtered(r, e->key, plen, want_n, keep_fn, &kc, tu_text(), hits, &nh), 0);
          check_hits(r, byrank, want, nwant, hits, nh);
          free(want);
        }
      }
      checked++;
    }
  }
  assert_true(checked > n / (prefix_stride * 2));

  /* Random non-prefixes and a prefix longer than every key. */
  uint64_t st = seed ^ 0xabcdef;
  for (int t = 0; t < 2000; t++) {
    char q[64];
    size_t qlen = 1 + (size_t)(tu_rng(&st) % 20);
    for (size_t j = 0; j < qlen; j++) q[j] = "abnewyorkz0 q"[tu_rng(&st) % 13];
    int any = 0;
    for (size_t j = 0; j < n && !any; j++) any = has_prefix(&s.e[j], q, qlen);
    if (any) continue;
    size_t nh = 99;
    assert_int_equal(trie_lookup(r, q, qlen, 10, tu_text(), hits, &nh), 0);
    assert_int_equal(nh, 0);
    keep_ctx_t kc = {0};
    assert_int_equal(trie_lookup_filtered(r, q, qlen, 10, keep_fn, &kc, tu_text(), hits, &nh), 0);
    assert_int_equal(nh, 0);
  }
  char longq[TA_MAX_KEY + 16];
  memset(longq, 'a', sizeof longq);
  size_t nh = 99;
  assert_int_equal(trie_lookup(r, longq, sizeof longq, 10, tu_text(), hits, &nh), 0);
  assert_int_equal(nh, 0);
  /* Ids are ranks 0..n-1: the first one past them is refused, not read. */
  assert_int_equal(trie_get_hit(r, (uint32_t)n, tu_text(), &hits[0]), TA_ERANGE);
  if (n > 0) assert_int_equal(trie_get_hit(r, (uint32_t)n - 1, tu_text(), &hits[0]), 0);

  free(range_ids);
  free(hits);
  free(byrank);
  free(bykey);
  trie_close(r);
  tu_rmdir(dir);
  tu_free(&s);
}

static void test_small_sets_every_prefix(void **state) {
  (void)state;
  for (uint64_t seed = 1; seed <= 30; seed++)
    run_set(seed, 1 + (size_t)(seed * 37 % 300), (int)(seed % 2), (int)(seed % 3 == 0),
            (uint32_t)(1 + seed % 12), 1);
}

/* A larger set, one cmocka test each (test_set with the set as its state): seed, keys,
 * multi-byte UTF-8, wide scores, the file's k, prefix stride. */
typedef struct {
  uint64_t seed;
  size_t n;
  int multibyte, wide_scores;
  uint32_t file_k;
  size_t prefix_stride;
} set_t;

static void test_set(void **state) {
  const set_t *c = *state;
  run_set(c->seed, c->n, c->multibyte, c->wide_scores, c->file_k, c->prefix_stride);
}

static const set_t ascii_ties_k10 = {101, 20000, 0, 0, 10, 1};
static const set_t multibyte_k10 = {202, 50000, 1, 1, 10, 3};
static const set_t multibyte_k32 = {303, 10000, 1, 0, 32, 1};
static const set_t k1 = {404, 5000, 1, 0, 1, 1};

/* test_NAME: test_set on the set NAME. */
#define SET_TEST(name) \
  { "test_" #name, test_set, NULL, NULL, (void *)&name }

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_small_sets_every_prefix),
      SET_TEST(ascii_ties_k10),
      SET_TEST(multibyte_k10),
      SET_TEST(multibyte_k32),
      SET_TEST(k1),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
