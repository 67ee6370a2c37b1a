/*
 * The label symbols (docs/FORMAT.md, "SYMBOLS"): the same entries make the same file, byte for
 * byte (the table is trained deterministically); a key set whose rare bytes lose their place in
 * a full table of 255 symbols to frequent longer ones is coded with escapes, and every key still
 * comes back whole, by id and by lookup, and the file verifies; each label decodes alone to its
 * bytes (its first one is its byte in the parent), with fewer codes than bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "trie_int.h"
#include "trie_test_util.h"

static void test_same_entries_same_file(void **state) {
  (void)state;
  tset_t set = tu_gen(5, 3000, 1, 0);
  char a[4200], b[4200];
  snprintf(a, sizeof a, "%s/a.trie", tu_dir);
  snprintf(b, sizeof b, "%s/b.trie", tu_dir);
  assert_int_equal(tu_write(a, set.e, set.n, 10, "same", 7), 0);
  assert_int_equal(tu_write(b, set.e, set.n, 10, "same", 7), 0);
  size_t la, lb;
  uint8_t *ia = tu_slurp(a, &la), *ib = tu_slurp(b, &lb);
  assert_non_null(ia);
  assert_non_null(ib);
  assert_int_equal(la, lb);
  assert_memory_equal(ia, ib, la);
  free(ia);
  free(ib);
  tu_free(&set);
}

#define NKEYS 3000
#define NRARE 4

static int cmp_str(const void *x, const void *y) {
  return strcmp(*(char *const *)x, *(char *const *)y);
}

static void test_escapes(void **state) {
  (void)state;
  /* Random lowercase keys (their pairs, triples, ... fill the table), and a few keys with bytes
   * that occur nowhere else (two-byte letters, once each). */
  static const char *const rare[NRARE] = {"\xc3\xbf", "\xc5\x93", "\xc4\xa7", "\xc6\x80"};
  char *keys[NKEYS + NRARE];
  trie_entry_t e[NKEYS + NRARE];
  uint64_t seed = 77;
  for (size_t i = 0; i < NKEYS + NRARE; i++) {
    char k[64];
    size_t len = 8 + tu_rng(&seed) % 17;
    for (size_t j = 0; j < len; j++) k[j] = (char)('a' + tu_rng(&seed) % 26);
    k[len] = '\0';
    if (i >= NKEYS) snprintf(k + 4, sizeof k - 4, "%sz", rare[i - NKEYS]);
    keys[i] = strdup(k);
    e[i] = (trie_entry_t){keys[i], strlen(k), keys[i], strlen(k), (double)(i % 50)};
  }
  trie_reader_t *r = tu_open_entries("esc.trie", e, NKEYS + NRARE, 10);
  assert_non_null(r);
  assert_int_equal(r->n_sym, TRIE_SYM_MAX);
  assert_int_equal(trie_verify(r, NULL), 0);

  /* Nodes lie one after the other in pre-order: each label's codes decode alone (its first byte,
   * its parent's, is none of them); count the escapes. */
  size_t escapes = 0, codes = 0, bytes = 0;
  uint8_t label[TA_MAX_KEY + TRIE_SYM_SLACK];
  for (size_t pos = 0; pos < r->nodes_len;) {
    trie__node_t nd = {0};
    assert_int_equal(trie__node_parse(r, pos, TRIE_NO_FIRST, &nd), 0);
    size_t len = 0;
    assert_int_equal(trie__label(r, &nd, label, &len, TA_MAX_KEY, SIZE_MAX), 0);
    for (size_t i = 0; i < nd.code_len; i++) {
      if (nd.code[i] == TRIE_SYM_ESCAPE) {
        escapes++;
        i++;
      }
      codes++;
    }
    bytes += len;
    /* each child's label decodes as its byte in this node, then its codes */
    for (uint64_t c = 0; c < nd.nchild; c++) {
      trie__node_t ch = {0};
      assert_int_equal(trie__node_child(r, &nd, c, &ch), 0);
      size_t cl = 0, rest = 0;
      assert_int_equal(trie__label(r, &ch, label, &cl, TA_MAX_KEY, SIZE_MAX), 0);
      assert_int_equal(label[0], nd.child_bytes[c]);
      ch.first = TRIE_NO_FIRST;
      assert_int_equal(trie__label(r, &ch, label + 1, &rest, TA_MAX_KEY, SIZE_MAX), 0);
      assert_int_equal(cl, 1 + rest);
    }
    pos = nd.end;
  }
  assert_true(escapes >= 2 * NRARE); /* both bytes of each rare letter */
  assert_true(codes < bytes);

  /* Every key whole: by id (sorted texts against sorted keys), and each rare key by lookup. */
  char **texts = malloc((NKEYS + NRARE) * sizeof *texts);
  for (uint32_t id = 0; id < r->n; id++) {
    trie_hit_t h;
    assert_int_equal(trie_get_hit(r, id, tu_text(), &h), 0);
    texts[id] = strndup(h.text, h.text_len);
    trie_text_reset(tu_text());
  }
  qsort(texts, NKEYS + NRARE, sizeof *texts, cmp_str);
  qsort(keys, NKEYS + NRARE, sizeof *keys, cmp_str);
  for (size_t i = 0; i < NKEYS + NRARE; i++) assert_string_equal(texts[i], keys[i]);
  for (size_t i = NKEYS; i < NKEYS + NRARE; i++) {
    trie_hit_t hits[TA_MAX_K];
    size_t nh;
    assert_int_equal(trie_lookup(r, e[i].key, e[i].key_len, 10, tu_text(), hits, &nh), 0);
    assert_int_equal(nh, 1);
    assert_int_equal(hits[0].text_len, e[i].key_len);
    assert_memory_equal(hits[0].text, e[i].key, e[i].key_len);
    trie_text_reset(tu_text());
  }
  for (size_t i = 0; i < NKEYS + NRARE; i++) {
    free(texts[i]);
    free(keys[i]);
  }
  free(texts);
  trie_close(r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_same_entries_same_file),
      cmocka_unit_test(test_escapes),
  };
  return cmocka_run_group_tests_name("trie: label symbols", tests, tu_setup_dir, tu_teardown_dir);
}
