/* The serve-time filter path end to end (SPEC §9): a trie file written by trie_write, rules
 * compiled by flt_compile, answers from trie_lookup_filtered with flt_keep. Brute force: for
 * random key sets and random rule sets (every kind, Unicode included, display forms that differ
 * from their keys), for many prefixes and N = 1..10, the filtered answer must equal filtering
 * the whole set and sorting it (score descending, key ascending) and taking the first N. Plus
 * the case the issue names: every stored top-k entry of a node blocked; and the cache's memo of
 * walked answers (asked again, the same answer; new rules or another trie never see it). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "flt_test_util.h"
#include "../trie/trie_test_util.h"

#define MAX_KEYS 400

typedef struct {
  char key[256], display[256];
  size_t key_len, display_len;
  double score;
} entry_t;

static const char *const atoms[] = {"a",
                                    "b",
                                    "c",
                                    "ab",
                                    "A",
                                    "B",
                                    " ",
                                    " ",
                                    "-",
                                    "\xc3\xa9",
                                    "\xc3\x89",
                                    "\xc3\x9f",
                                    "1",
                                    "\xef\xbc\x92",
                                    "\xe4\xb8\xad",
                                    "\xe6\x96\x87",
                                    "\xce\xa3",
                                    "e\xcc\x81",
                                    "\xe0\xa4\x95\xe0\xa4\xbf"};

static tu_rand_t rng = {0x2545f4914f6cdd1dull, atoms, sizeof atoms / sizeof *atoms};

static int cmp_rank(const void *pa, const void *pb) {
  const entry_t *a = pa, *b = pb;
  if (a->score != b->score) return a->score > b->score ? -1 : 1;
  size_t n = a->key_len < b->key_len ? a->key_len : b->key_len;
  int c = memcmp(a->key, b->key, n);
  if (c) return c;
  return a->key_len < b->key_len ? -1 : a->key_len > b->key_len;
}

/* Writes entries[0..n) to a fresh trie file with the given k and opens it. */
static trie_reader_t *write_trie(const entry_t *entries, size_t n, unsigned k, char *path) {
  strcpy(path, "/tmp/flt_filtered_XXXXXX");
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  FILE *f = fdopen(fd, "wb");
  assert_non_null(f);
  trie_entry_t *te = calloc(n ? n : 1, sizeof *te);
  assert_non_null(te);
  for (size_t i = 0; i < n; i++)
    te[i] = (trie_entry_t){entries[i].key, entries[i].key_len, entries[i].display,
                           entries[i].display_len, entries[i].score};
  trie_write_opts_t opts = {.k = k, .build_time = 1, .source = "test_filtered"};
  int rc = trie_write(f, te, n, &opts);
  if (rc != 0) fail_msg("trie_write: %s", ta_strerror(rc));
  assert_int_equal(fclose(f), 0);
  free(te);
  trie_reader_t *r = NULL;
  rc = trie_open(path, &r);
  if (rc != 0) fail_msg("trie_open: %s", ta_strerror(rc));
  return r;
}

/* Answers the memo gave in test_brute_force. */
static uint64_t memo_answers;

/* Asserts that the filtered lookup of prefix with n equals the brute-force answer over the
 * ranked entries: trie_lookup_filtered, flt_lookup and, with a cache, flt_lookup again. */
static void check_prefix(const trie_reader_t *r, const flt_ruleset_t *rs, flt_cache_t *cache,
                         const entry_t *ranked, size_t n_entries, const char *prefix, size_t plen,
                         size_t n, size_t *nonempty, size_t *walked_past) {
  trie_hit_t hits[16];
  size_t n_hits = 99;
  flt_filter_t f = {.rs = rs, .cache = cache};
  trie_text_reset(tu_text()); /* the hits of the prefix before are checked */
  int rc = trie_lookup_filtered(r, prefix, plen, n, flt_keep, &f, tu_text(), hits, &n_hits);
  if (rc != 0) fail_msg("trie_lookup_filtered(\"%.*s\"): %s", (int)plen, prefix, ta_strerror(rc));
  size_t want = 0, skipped = 0;
  for (size_t i = 0; i < n_entries && want < n; i++) {
    const entry_t *e = &ranked[i];
    if (e->key_len < plen || memcmp(e->key, prefix, plen) != 0) continue;
    if (flt_match(rs, e->key, e->key_len, NULL)) {
      skipped++;
      continue;
    }
    if (want >= n_hits)
      fail_msg("prefix \"%.*s\" n=%zu: %zu hits, but \"%s\" (score %g) is missing", (int)plen,
               prefix, n, n_hits, e->display, e->score);
    const trie_hit_t *h = &hits[want];
    if (h->text_len != e->display_len || memcmp(h->text, e->display, e->display_len) != 0 ||
        h->score != e->score)
      fail_msg("prefix \"%.*s\" n=%zu hit %zu: \"%.*s\" (%g), want \"%s\" (%g)", (int)plen, prefix,
               n, want, (int)h->text_len, h->text, h->score, e->display, e->score);
    want++;
  }
  if (n_hits != want)
    fail_msg("prefix \"%.*s\" n=%zu: %zu hits, want %zu", (int)plen, prefix, n, n_hits, want);
  /* flt_lookup (stored top-k first, the walk when they do not suffice) gives the same */
  trie_hit_t hits2[16];
  size_t n_hits2 = 99;
  flt_filter_t f2 = {.rs = rs, .cache = cache};
  rc = flt_lookup(r, prefix, plen, n, &f2, tu_text(), hits2, &n_hits2);
  if (rc != 0) fail_msg("flt_lookup(\"%.*s\"): %s", (int)plen, prefix, ta_strerror(rc));
  assert_int_equal(n_hits2, n_hits);
  for (size_t i = 0; i < n_hits; i++) {
    assert_int_equal(hits2[i].id, hits[i].id);
    assert_true(hits2[i].text_len == hits[i].text_len && hits2[i].score == hits[i].score);
    assert_memory_equal(hits2[i].text, hits[i].text, hits[i].text_len);
  }
  for (int k = 0; k < FLT_KIND_COUNT; k++) assert_true(f2.suppressed[k] == f.suppressed[k]);
  if (cache) {
    /* again: a walked answer now comes from the cache's memo, the same hits and counters */
    flt_filter_t f3 = {.rs = rs, .cache = cache};
    rc = flt_lookup(r, prefix, plen, n, &f3, tu_text(), hits2, &n_hits2);
    if (rc != 0) fail_msg("flt_lookup(\"%.*s\") again: %s", (int)plen, prefix, ta_strerror(rc));
    assert_int_equal(n_hits2, n_hits);
    for (size_t i = 0; i < n_hits; i++) assert_int_equal(hits2[i].id, hits[i].id);
    for (int k = 0; k < FLT_KIND_COUNT; k++) assert_true(f3.suppressed[k] == f.suppressed[k]);
    assert_true(f3.unreadable == f.unreadable);
    assert_true(f3.memo_hits == f2.walks); /* walked once, remembered (no collision here) */
    memo_answers += f3.memo_hits;
  }
  uint64_t suppressed = 0;
  for (int k = 0; k < FLT_KIND_COUNT; k++) suppressed += f.suppressed[k];
  assert_true(suppressed >= skipped); /* every skipped one went through keep and was counted */
  if (want) (*nonempty)++;
  if (skipped) (*walked_past)++;
}

static void test_brute_force(void **state) {
  (void)state;
  static entry_t entries[MAX_KEYS], ranked[MAX_KEYS];
  static const char *const kind_prefix[] = {"word:", "phrase:", "prefix:", "exact:"};
  size_t nonempty = 0, walked_past = 0, lookups = 0;
  for (int round = 0; round < 60; round++) {
    size_t n_entries = 0, target = 1 + tu_rnd(&rng, MAX_KEYS);
    for (size_t tries = 0; n_entries < target && tries < 4 * MAX_KEYS; tries++) {
      char raw[200];
      size_t rl = tu_random_text(&rng, raw, sizeof raw, 6);
      entry_t *e = &entries[n_entries];
      assert_int_equal(trie_norm_key(raw, rl, e->key, sizeof e->key, &e->key_len), 0);
      assert_int_equal(trie_norm_display(raw, rl, e->display, sizeof e->display, &e->display_len),
                       0);
      if (e->key_len == 0) continue;
      int dup = 0;
      for (size_t i = 0; i < n_entries && !dup; i++)
        dup = entries[i].key_len == e->key_len && memcmp(entries[i].key, e->key, e->key_len) == 0;
      if (dup) continue;
      e->score = (double)(1 + tu_rnd(&rng, tu_rnd(&rng, 2) ? 5 : 1000)); /* many ties */
      n_entries++;
    }
    memcpy(ranked, entries, n_entries * sizeof *entries);
    qsort(ranked, n_entries, sizeof *ranked, cmp_rank);

    /* rules: mostly cut from the keys (so they bite), some random; invalid ones skipped */
    char file[8192];
    size_t flen = (size_t)sprintf(file, "# random rules\n"); /* valid even when none is */
    size_t n_rules = tu_rnd(&rng, 3) == 0 ? 0 : 1 + tu_rnd(&rng, 30);
    for (size_t i = 0; i < n_rules; i++) {
      flt_kind_t kind = (flt_kind_t)tu_rnd(&rng, FLT_KIND_COUNT);
      const entry_t *src = &entries[tu_rnd(&rng, (uint32_t)n_entries)];
      char text[256];
      if (tu_rnd(&rng, 4) == 0) {
        tu_random_text(&rng, text, sizeof text, 3);
      } else if (kind == FLT_PREFIX) {
        size_t cut = 1 + tu_rnd(&rng, (uint32_t)src->key_len);
        while (cut < src->key_len && ((unsigned char)src->key[cut] & 0xC0) == 0x80) cut++;
        snprintf(text, sizeof text, "%.*s", (int)cut, src->key);
      } else if (kind == FLT_WORD) {
        size_t s = tu_rnd(&rng, (uint32_t)src->key_len), e;
        while (s > 0 && src->key[s - 1] != ' ') s--;
        for (e = s; e < src->key_len && src->key[e] != ' ' && src->key[e] != '-';) e++;
        snprintf(text, sizeof text, "%.*s", (int)(e - s), src->key + s);
      } else {
        snprintf(text, sizeof text, "%s", tu_rnd(&rng, 2) ? src->display : src->key);
      }
      char line[300];
      int ll = snprintf(line, sizeof line, "%s%s\n", kind_prefix[kind], text);
      flt_ruleset_t *probe = NULL;
      if (flt_compile(line, (size_t)ll, &probe, NULL) != 0) continue;
      flt_ruleset_free(probe);
      memcpy(file + flen, line, (size_t)ll);
      flen += (size_t)ll;
    }
    flt_ruleset_t *rs = NULL;
    ta_diag_t err;
    if (flt_compile(file, flen, &rs, &err) != 0)
      fail_msg("line %u: %s", (unsigned)err.line, err.msg);

    unsigned k = 1 + tu_rnd(&rng, 8);
    char path[64];
    trie_reader_t *r = write_trie(entries, n_entries, k, path);
    /* half the prefixes go through a verdict cache, filled by the lookups before them */
    flt_cache_t *cache = NULL;
    assert_int_equal(flt_cache_new(rs, n_entries, &cache), 0);

    for (int p = 0; p < 40; p++) {
      char prefix[256];
      size_t plen;
      if (p == 0) {
        plen = 0;
        prefix[0] = '\0';
      } else if (p % 8 == 7) {
        char raw[64];
        size_t rl = tu_random_text(&rng, raw, sizeof raw, 2);
        assert_int_equal(trie_norm_key(raw, rl, prefix, sizeof prefix, &plen), 0);
      } else {
        const entry_t *src = &entries[tu_rnd(&rng, (uint32_t)n_entries)];
        plen = tu_rnd(&rng, (uint32_t)src->key_len + 1);
        while (plen < src->key_len && ((unsigned char)src->key[plen] & 0xC0) == 0x80) plen++;
        memcpy(prefix, src->key, plen);
      }
      for (size_t n = 1; n <= 10; n++) {
        check_prefix(r, rs, p % 2 ? cache : NULL, ranked, n_entries, prefix, plen, n, &nonempty,
                     &walked_past);
        lookups++;
      }
    }
    flt_cache_free(cache);
    trie_close(r);
    unlink(path);
    flt_ruleset_free(rs);
  }
  print_message("%zu lookups, %zu with answers, %zu had to skip blocked ones, %llu from the memo\n",
                lookups, nonempty, walked_past, (unsigned long long)memo_answers);
  assert_true(nonempty > lookups / 2);
  assert_true(walked_past > lookups / 10);
  assert_true(memo_answers > lookups / 100);
}

/* Every completion the node stores (k = 3) is blocked: the answer still has n, in rank order. */
static void test_all_stored_blocked(void **state) {
  (void)state;
  static entry_t entries[20];
  for (int i = 0; i < 20; i++) {
    entry_t *e = &entries[i];
    e->key_len = (size_t)snprintf(e->key, sizeof e->key, "item %02d", i);
    e->display_len = (size_t)snprintf(e->display, sizeof e->display, "Item %02d", i);
    e->score = 100.0 - i;
  }
  char path[64];
  trie_reader_t *r = write_trie(entries, 20, 3, path);
  flt_ruleset_t *rs = NULL;
  const char *rules =
      "exact:item 00\nexact:ITEM 01\nprefix:item 02\nphrase:item 03\n"
      "exact:item 04\nexact:item 05\nexact:item 06\n";
  assert_int_equal(flt_compile(rules, strlen(rules), &rs, NULL), 0);
  trie_hit_t hits[10];
  size_t n_hits = 0;
  flt_filter_t f = {.rs = rs};
  assert_int_equal(trie_lookup_filtered(r, "item", 4, 5, flt_keep, &f, tu_text(), hits, &n_hits),
                   0);
  assert_int_equal(n_hits, 5);
  for (size_t i = 0; i < 5; i++) {
    char want[16];
    snprintf(want, sizeof want, "Item %02zu", i + 7);
    assert_int_equal(hits[i].text_len, strlen(want));
    assert_memory_equal(hits[i].text, want, strlen(want));
  }
  assert_int_equal(f.suppressed[FLT_EXACT], 5);
  assert_int_equal(f.suppressed[FLT_PREFIX], 1);
  assert_int_equal(f.suppressed[FLT_PHRASE], 1);
  /* more asked than remain unblocked: all that remain */
  assert_int_equal(trie_lookup_filtered(r, "item 0", 6, 10, flt_keep, &f, tu_text(), hits, &n_hits),
                   0);
  assert_int_equal(n_hits, 3); /* item 07, 08, 09 */
  /* everything blocked */
  flt_ruleset_free(rs);
  assert_int_equal(flt_compile("word:item\n", 10, &rs, NULL), 0);
  f = (flt_filter_t){.rs = rs};
  assert_int_equal(trie_lookup_filtered(r, "it", 2, 5, flt_keep, &f, tu_text(), hits, &n_hits), 0);
  assert_int_equal(n_hits, 0);
  assert_int_equal(f.suppressed[FLT_WORD], 20);
  flt_ruleset_free(rs);
  trie_close(r);
  unlink(path);
}

/* flt_lookup of prefix equals trie_lookup_filtered (no cache) with the same rules: hits and
 * counters. Returns the flt_lookup filter, for its walks and memo_hits. */
static flt_filter_t same_as_walk(const trie_reader_t *r, const flt_ruleset_t *rs,
                                 flt_cache_t *cache, const char *prefix, size_t n) {
  trie_hit_t want[TA_MAX_K], got[TA_MAX_K];
  size_t n_want = 0, n_got = 0;
  flt_filter_t fw = {.rs = rs}, fg = {.rs = rs, .cache = cache};
  assert_int_equal(
      trie_lookup_filtered(r, prefix, strlen(prefix), n, flt_keep, &fw, tu_text(), want, &n_want),
      0);
  assert_int_equal(flt_lookup(r, prefix, strlen(prefix), n, &fg, tu_text(), got, &n_got), 0);
  assert_int_equal(n_got, n_want);
  for (size_t i = 0; i < n_got; i++) {
    assert_int_equal(got[i].text_len, want[i].text_len);
    assert_memory_equal(got[i].text, want[i].text, want[i].text_len);
  }
  for (int k = 0; k < FLT_KIND_COUNT; k++) assert_true(fg.suppressed[k] == fw.suppressed[k]);
  return fg;
}

/* trie_pick_fn for trie_lookup_top_pick: picks the positions of *ctx (a mask), or none when it
 * is UINT64_MAX. */
static int pick_mask(void *ctx, const trie_top_t *top, uint64_t *picked) {
  (void)top;
  uint64_t mask = *(const uint64_t *)ctx;
  if (mask == UINT64_MAX) return 0;
  *picked = mask;
  return 1;
}

/* The memo of walked answers: most stored completions blocked, so the answer is refilled to
 * exactly n from past the stored top-k, once; asked again it comes from the memo, the same; a
 * new rule set or another trie never gets the memo's (or the verdicts') answers. */
static void test_memo(void **state) {
  (void)state;
  static entry_t a[40], b[40];
  for (int i = 0; i < 40; i++) {
    a[i].key_len = (size_t)snprintf(a[i].key, sizeof a[i].key, "item %02d", i);
    a[i].display_len = (size_t)snprintf(a[i].display, sizeof a[i].display, "Item %02d", i);
    a[i].score = 100.0 - i;
    b[i] = a[i];
    b[i].score = 1.0 + i; /* the same keys, the other way round: other ids, another file */
  }
  char path_a[64], path_b[64];
  trie_reader_t *ra = write_trie(a, 40, 3, path_a);
  trie_reader_t *rb = write_trie(b, 40, 3, path_b);
  /* every even item up to 20 and 01..05: the 3 stored of "item" and many after them */
  flt_ruleset_t *rs = compile_ok(
      "exact:item 00\nexact:item 01\nexact:item 02\n"
      "exact:item 03\nexact:item 04\nexact:item 05\n"
      "exact:item 06\nexact:item 08\nexact:item 10\n"
      "exact:item 12\nexact:item 14\nexact:item 16\n");
  flt_cache_t *cache = NULL;
  assert_int_equal(flt_cache_new(rs, 40, &cache), 0);

  /* the memo's key: prefixes ending inside one node's label share it, others do not */
  trie_top_t ite, item, item0, none;
  assert_int_equal(trie_lookup_top(ra, "ite", 3, tu_text(), &ite), 0);
  assert_int_equal(trie_lookup_top(ra, "item", 4, tu_text(), &item), 0);
  assert_int_equal(trie_lookup_top(ra, "item 0", 6, tu_text(), &item0), 0);
  assert_int_equal(trie_lookup_top(ra, "items", 5, tu_text(), &none), 0);
  assert_true(ite.at.node != 0 && ite.at.node == item.at.node && item0.at.node != 0 &&
              item0.at.node != item.at.node && none.at.node == 0 && none.n == 0);
  /* the node's key above its label is the same bytes of both prefixes that end in it */
  assert_true(ite.at.head == item.at.head && ite.at.head < 3 && item0.at.head <= 6);
  /* "item" (40 keys, k = 3) is heavy: its stored ids are the top 3, as trie_lookup_ids gives */
  uint32_t top_ids[TA_MAX_K];
  size_t n_ids;
  assert_int_equal(trie_lookup_ids(ra, "item", 4, 3, top_ids, &n_ids), 0);
  assert_true(item.at.heavy && item.n == 3 && n_ids == 3);
  assert_memory_equal(item.ids, top_ids, 3 * sizeof *top_ids);
  /* trie_get_hits from where "item" ends gives what trie_get_hit gives, and refuses "items" */
  trie_hit_t got[TA_MAX_K], one;
  assert_int_equal(trie_get_hits(ra, &item, "item", top_ids, n_ids, tu_text(), got), 0);
  for (size_t i = 0; i < n_ids; i++) {
    assert_int_equal(trie_get_hit(ra, top_ids[i], tu_text(), &one), 0);
    assert_true(got[i].id == one.id && got[i].score == one.score &&
                got[i].text_len == one.text_len);
    assert_memory_equal(got[i].text, one.text, one.text_len);
  }
  /* a light node ("item 39": one key) gives its hits with their texts, no ids */
  trie_top_t light;
  assert_int_equal(trie_lookup_top(ra, "item 39", 7, tu_text(), &light), 0);
  assert_true(light.at.node != 0 && !light.at.heavy && light.n == 1 &&
              light.ids[0] == light.hits[0].id);
  assert_int_equal(trie_get_hit(ra, light.hits[0].id, tu_text(), &one), 0);
  assert_true(light.hits[0].score == one.score && light.hits[0].text_len == 7);
  assert_memory_equal(light.hits[0].text, "Item 39", 7);
  assert_int_equal(trie_get_hits(ra, &none, "items", top_ids, 1, tu_text(), got), TA_EINVAL);
  /* trie_lookup_top_pick: the same top, and the hits of the stored ids picked (here the 1st and
   * 3rd of "item"'s 3), in rank order, as trie_get_hit gives them; none picked: made 0, no hits; a
   * position past the stored ones: TA_EINVAL */
  trie_top_t picked_top;
  trie_hit_t picked[TA_MAX_K];
  size_t n_picked = 99;
  uint64_t mask = 0x5;
  assert_int_equal(trie_lookup_top_pick(ra, "item", 4, pick_mask, &mask, tu_text(), &picked_top,
                                        picked, &n_picked),
                   0);
  assert_true(picked_top.made && picked_top.at.node == item.at.node && picked_top.n == 3 &&
              n_picked == 2);
  assert_memory_equal(picked_top.ids, item.ids, 3 * sizeof *item.ids);
  for (size_t i = 0; i < 2; i++) {
    assert_int_equal(trie_get_hit(ra, item.ids[2 * i], tu_text(), &one), 0);
    assert_true(picked[i].id == one.id && picked[i].score == one.score &&
                picked[i].text_len == one.text_len);
    assert_memory_equal(picked[i].text, one.text, one.text_len);
  }
  mask = UINT64_MAX;
  assert_int_equal(trie_lookup_top_pick(ra, "item", 4, pick_mask, &mask, tu_text(), &picked_top,
                                        picked, &n_picked),
                   0);
  assert_true(!picked_top.made && n_picked == 0 && picked_top.at.node == item.at.node &&
              picked_top.n == 3);
  mask = 1u << 3;
  assert_int_equal(trie_lookup_top_pick(ra, "item", 4, pick_mask, &mask, tu_text(), &picked_top,
                                        picked, &n_picked),
                   TA_EINVAL);
  mask = 0x1; /* a light node's hit, from its scan */
  assert_int_equal(trie_lookup_top_pick(ra, "item 39", 7, pick_mask, &mask, tu_text(), &picked_top,
                                        picked, &n_picked),
                   0);
  assert_true(picked_top.made && n_picked == 1 && picked[0].id == light.hits[0].id &&
              picked[0].score == light.hits[0].score && picked[0].text_len == 7);
  assert_memory_equal(picked[0].text, "Item 39", 7);
  mask = 0; /* picks nothing: an empty answer */
  assert_int_equal(trie_lookup_top_pick(ra, "item", 4, pick_mask, &mask, tu_text(), &picked_top,
                                        picked, &n_picked),
                   0);
  assert_true(picked_top.made && n_picked == 0);

  flt_filter_t f = same_as_walk(ra, rs, cache, "item", 5); /* 07 09 11 13 15 */
  assert_true(f.walks == 1 && f.memo_hits == 0);
  trie_hit_t hits[TA_MAX_K];
  size_t n_hits = 0;
  f = (flt_filter_t){.rs = rs, .cache = cache};
  assert_int_equal(flt_lookup(ra, "item", 4, 5, &f, tu_text(), hits, &n_hits), 0);
  assert_int_equal(n_hits, 5);
  static const char *const want[] = {"Item 07", "Item 09", "Item 11", "Item 13", "Item 15"};
  for (int i = 0; i < 5; i++) assert_memory_equal(hits[i].text, want[i], 7);
  assert_true(f.walks == 1 && f.memo_hits == 1 && f.suppressed[FLT_EXACT] == 11);
  /* another n is another answer (and other counters): walked, then remembered */
  f = same_as_walk(ra, rs, cache, "item", 3);
  assert_true(f.walks == 1 && f.memo_hits == 0);
  f = same_as_walk(ra, rs, cache, "item", 3);
  assert_true(f.memo_hits == 1);
  /* completions run out: "item 0" keeps 07 and 09 only; that answer serves any larger n */
  f = same_as_walk(ra, rs, cache, "item 0", 10);
  assert_true(f.walks == 1 && f.memo_hits == 0);
  f = same_as_walk(ra, rs, cache, "item 0", 20);
  assert_true(f.memo_hits == 1);
  f = same_as_walk(ra, rs, cache, "item 0", 2); /* fewer: the walk stops sooner, counts less */
  assert_true(f.memo_hits == 0);

  /* new rules (a reload): the old cache is not theirs, its memo and verdicts are not used */
  flt_ruleset_t *rs2 = compile_ok("exact:item 07\nexact:item 09\n");
  f = same_as_walk(ra, rs2, cache, "item", 5);
  assert_true(f.memo_hits == 0);
  flt_cache_t *cache2 = NULL;
  assert_int_equal(flt_cache_new(rs2, 40, &cache2), 0);
  same_as_walk(ra, rs2, cache2, "item", 5);
  f = same_as_walk(ra, rs2, cache2, "item", 5);
  assert_true(f.memo_hits == 1);

  /* another trie (a swap) with the same number of queries and the same keys: the cache is
   * bound to the first one, so nothing of it is used (its ids name other queries there) */
  f = same_as_walk(rb, rs, cache, "item", 5);
  assert_true(f.memo_hits == 0);
  f = same_as_walk(rb, rs, cache, "item", 5);
  assert_true(f.memo_hits == 0);

  /* a prefilled cache is bound to the trie it was filled from, and answers like the walk */
  flt_cache_t *cache3 = NULL;
  assert_int_equal(flt_cache_new(rs, 40, &cache3), 0);
  assert_int_equal(flt_cache_prefill(cache3, rb, FLT_PREFILL_IDS), 0);
  assert_int_equal(flt_cache_prefill(cache3, ra, FLT_PREFILL_IDS), TA_EINVAL);
  same_as_walk(rb, rs, cache3, "item", 5);
  f = same_as_walk(rb, rs, cache3, "item", 5);
  assert_true(f.memo_hits == 1);
  f = same_as_walk(ra, rs, cache3, "item", 5);
  assert_true(f.memo_hits == 0);
  assert_int_equal(flt_cache_prefill(NULL, ra, 1), TA_EINVAL);

  flt_cache_free(cache3);
  flt_cache_free(cache2);
  flt_cache_free(cache);
  flt_ruleset_free(rs2);
  flt_ruleset_free(rs);
  trie_close(ra);
  trie_close(rb);
  unlink(path_a);
  unlink(path_b);
}

/* Threads sharing one cache: every answer, memo slots rewritten all the time by other threads
 * (one node, many n: one slot, other contents), equals the walk's, hits and counters. */
#define SHARED_THREADS 4
#define SHARED_PREFIXES 6

typedef struct {
  const trie_reader_t *r;
  const flt_ruleset_t *rs;
  flt_cache_t *cache;
  uint32_t want_ids[SHARED_PREFIXES][11][10];
  size_t want_n[SHARED_PREFIXES][11];
  uint64_t want_suppressed[SHARED_PREFIXES][11];
  uint64_t seed, bad, memo_hits;
} shared_t;

static const char *const shared_prefix[SHARED_PREFIXES] = {"",       "item",   "item 0",
                                                           "item 1", "item 2", "item 10"};

static void *shared_worker(void *arg) {
  shared_t *sh = arg;
  uint64_t x = sh->seed;
  trie_text_t *text = NULL; /* a scratch is not shared between threads: one each */
  if (trie_text_new(&text) != 0) {
    sh->bad++;
    return NULL;
  }
  for (int i = 0; i < 20000; i++) {
    trie_text_reset(text);
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    size_t p = (size_t)(x % SHARED_PREFIXES), n = 1 + (size_t)(x >> 20) % 10;
    trie_hit_t hits[10];
    size_t n_hits = 0;
    flt_filter_t f = {.rs = sh->rs, .cache = sh->cache};
    const char *q = shared_prefix[p];
    int rc = flt_lookup(sh->r, q, strlen(q), n, &f, text, hits, &n_hits);
    uint64_t sup = 0;
    for (int k = 0; k < FLT_KIND_COUNT; k++) sup += f.suppressed[k];
    int same = rc == 0 && n_hits == sh->want_n[p][n] && sup == sh->want_suppressed[p][n];
    for (size_t j = 0; same && j < n_hits; j++) same = hits[j].id == sh->want_ids[p][n][j];
    sh->bad += !same;
    sh->memo_hits += f.memo_hits;
  }
  trie_text_free(text);
  return NULL;
}

static void test_memo_shared(void **state) {
  (void)state;
  static entry_t e[300];
  char rules[8192];
  size_t rl = 0;
  for (int i = 0; i < 300; i++) {
    e[i].key_len = (size_t)snprintf(e[i].key, sizeof e[i].key, "item %d", i);
    e[i].display_len = (size_t)snprintf(e[i].display, sizeof e[i].display, "Item %d", i);
    e[i].score = 1000.0 - i;
    if (i % 5 && i < 200)
      rl += (size_t)snprintf(rules + rl, sizeof rules - rl, "exact:item %d\n", i);
  }
  char path[64];
  trie_reader_t *r = write_trie(e, 300, 3, path);
  static shared_t sh[SHARED_THREADS];
  flt_ruleset_t *rs = compile_ok(rules);
  flt_cache_t *cache = NULL;
  assert_int_equal(flt_cache_new(rs, 300, &cache), 0);
  for (size_t p = 0; p < SHARED_PREFIXES; p++)
    for (size_t n = 1; n <= 10; n++) {
      trie_hit_t hits[10];
      flt_filter_t f = {.rs = rs};
      const char *q = shared_prefix[p];
      assert_int_equal(trie_lookup_filtered(r, q, strlen(q), n, flt_keep, &f, tu_text(), hits,
                                            &sh[0].want_n[p][n]),
                       0);
      for (size_t j = 0; j < sh[0].want_n[p][n]; j++) sh[0].want_ids[p][n][j] = hits[j].id;
      for (int k = 0; k < FLT_KIND_COUNT; k++) sh[0].want_suppressed[p][n] += f.suppressed[k];
    }
  for (int t = 0; t < SHARED_THREADS; t++) {
    if (t) memcpy(&sh[t], &sh[0], sizeof sh[0]);
    sh[t].r = r;
    sh[t].rs = rs;
    sh[t].cache = cache;
    sh[t].seed = 0x9e3779b97f4a7c15ull * (uint64_t)(t + 1);
  }
  pthread_t th[SHARED_THREADS];
  for (int t = 0; t < SHARED_THREADS; t++)
    assert_int_equal(pthread_create(&th[t], NULL, shared_worker, &sh[t]), 0);
  uint64_t bad = 0, memo_hits = 0;
  for (int t = 0; t < SHARED_THREADS; t++) {
    assert_int_equal(pthread_join(th[t], NULL), 0);
    bad += sh[t].bad;
    memo_hits += sh[t].memo_hits;
  }
  print_message("%d lookups, %llu from the memo\n", SHARED_THREADS * 20000,
                (unsigned long long)memo_hits);
  assert_true(bad == 0);
  assert_true(memo_hits > 1000); /* the memo was in play, not bypassed */
  flt_cache_free(cache);
  flt_ruleset_free(rs);
  trie_close(r);
  unlink(path);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_brute_force),
      cmocka_unit_test(test_all_stored_blocked),
      cmocka_unit_test(test_memo),
      cmocka_unit_test(test_memo_shared),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
