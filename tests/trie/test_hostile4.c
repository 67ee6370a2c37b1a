/*
 * Hostile inputs aimed at format 4 (docs/FORMAT.md, "NODES", "SCORERUN"): NODES whose children
 * share one node (a file author's graph instead of a tree: every walk that enters every child
 * must stay bounded by the file, not by the number of paths), SCORERUN counts past every score,
 * the group edges of SCORERUN (n around 64), the longest keys and prefixes at the decode
 * buffers' limits, and a trie_top_t that no lookup made.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <time.h>

#include "trie_int.h"
#include "trie_test_util.h"

static double secs(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The image of entries[0..n) at file k, as an exact-size heap copy (for ASan). */
static uint8_t *image(const trie_entry_t *e, size_t n, uint32_t k, size_t *len) {
  char *dir = tu_mkdtemp();
  assert_non_null(dir);
  char path[4200];
  snprintf(path, sizeof path, "%s/h4.trie", dir);
  assert_int_equal(tu_write(path, e, n, k, "hostile4", 7), 0);
  uint8_t *img = tu_slurp(path, len);
  assert_non_null(img);
  assert_int_equal(tu_rmdir(dir), 0);
  return img;
}

static size_t section_at(const uint8_t *img, uint32_t id, uint64_t *len) {
  uint32_t ns = trie__load_u32(img + 20);
  for (uint32_t i = 0; i < ns; i++) {
    const uint8_t *e = img + TRIE_HDR_FIXED + i * TRIE_SECT_ENTRY;
    if (trie__load_u32(e) == id) {
      if (len != NULL) *len = trie__load_u64(e + 16);
      return (size_t)trie__load_u64(e + 8);
    }
  }
  fail_msg("no section %u", id);
  return 0;
}

/* ---- Children that share one node ----------------------------------------------------------- */

/* levels nodes of 256 children each, every child byte 'a' and every child the next node (all
 * offsets 0), each label "a" escaped (the root's empty), then a terminal "a" of id 0: 256^levels
 * paths through levels + 2 nodes. */
static size_t shared_nodes(uint8_t *out, unsigned levels) {
  size_t at = 0;
  for (unsigned l = 0; l <= levels; l++) {
    unsigned codes = l == 0 ? 0 : 2;
    out[at++] = (uint8_t)(TRIE_NODE_NCHILD_ESCAPE << TRIE_NODE_NCHILD_SHIFT |
                          codes << TRIE_NODE_LABEL_SHIFT);
    at += trie__put_varint(out + at, 256 - TRIE_NODE_NCHILD_ESCAPE);
    if (codes) {
      out[at++] = TRIE_SYM_ESCAPE;
      out[at++] = 'a';
    }
    memset(out + at, 'a', 256);
    at += 256;
    out[at++] = 1; /* width */
    memset(out + at, 0, 255);
    at += 255;
  }
  out[at++] = TRIE_NODE_TERMINAL | 2u << TRIE_NODE_LABEL_SHIFT;
  out[at++] = TRIE_SYM_ESCAPE;
  out[at++] = 'a';
  out[at++] = 0;
  return at;
}

static void test_shared_children(void **state) {
  (void)state;
  tset_t set = tu_gen(5, 200, 0, 0);
  size_t len;
  uint8_t *img = image(set.e, set.n, 4, &len);
  uint64_t nodes_len;
  size_t nodes = section_at(img, TRIE_SECT_NODES, &nodes_len);
  assert_int_equal((nodes + nodes_len + 7) & ~(size_t)7, len); /* NODES is last */
  uint8_t buf[8 * 520];
  size_t blen = shared_nodes(buf, 6);
  size_t total = (nodes + blen + 7) & ~(size_t)7;
  uint8_t *c = calloc(1, total);
  memcpy(c, img, nodes);
  memcpy(c + nodes, buf, blen);
  size_t e = TRIE_HDR_FIXED;
  while (trie__load_u32(c + e) != TRIE_SECT_NODES) e += TRIE_SECT_ENTRY;
  trie__store_u64(c + e + 16, blen);
  /* META's node count is the file author's too: no bound on its own */
  trie__store_u64(c + section_at(c, TRIE_SECT_META, NULL) + TRIE_META_NUM_NODES, UINT64_MAX / 2);
  assert_int_equal(tu_fix_crcs(c, total), 0);
  trie_reader_t *r = NULL;
  assert_int_equal(trie__open_mem(c, total, &r), 0);

  double t0 = secs();
  trie_screen_t *s = NULL;
  int rc = trie_screen_build(r, &s);
  if (rc != 0) assert_int_equal(rc, TA_ECORRUPT);
  trie_screen_free(s);
  assert_true(secs() - t0 < 0.5);

  t0 = secs();
  trie_words_t *w = NULL;
  rc = trie_words_build(r, &w);
  if (rc != 0) assert_int_equal(rc, TA_ECORRUPT);
  trie_words_free(w);
  assert_true(secs() - t0 < 0.5);

  trie_match_t m[TA_MAX_K];
  size_t nm;
  static const char *const prefixes[] = {"abaaaaa", "aaaaaaaab", "aab", "ab", "aaaaaaaaaaaaaaaa"};
  for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++)
    for (unsigned typos = 1; typos <= TRIE_MAX_TYPOS; typos++) {
      t0 = secs();
      rc = trie_lookup_typos(r, prefixes[i], strlen(prefixes[i]), typos, 4, NULL, NULL, tu_text(),
                             m, &nm);
      if (rc != 0) assert_int_equal(rc, TA_ECORRUPT);
      assert_true(secs() - t0 < 0.5);
      trie_text_reset(tu_text());
    }
  assert_int_not_equal(trie_verify(r, NULL), 0);
  trie_close(r);
  free(c);
  free(img);
  tu_free(&set);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_shared_children),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
