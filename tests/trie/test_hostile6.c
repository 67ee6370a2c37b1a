/*
 * What format 6 changed (docs/FORMAT.md, NODES): a child's label is stored without its first
 * byte, which only its parent's child byte holds. A sound file from the real writer has children
 * whose stored label is empty (leaves and inner nodes): every walk answers right through them
 * (lookups against a brute force over the keys, every id's text, the key-head screen, verify).
 * Then a child byte is damaged (CRCs resealed): made a sibling's byte or 0xff (no UTF-8 has it),
 * verify refuses the file naming NODES; made a byte no sibling has, the file is another sound
 * trie whose changed key is found where the byte says. Every lookup, typo lookup, word index and
 * screen of a damaged file answers soundly or TA_ECORRUPT, in bounds (an exact-size heap copy,
 * for ASan).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "trie_int.h"
#include "trie_test_util.h"

#define K 4u

static struct {
  uint8_t *img; /* the sound file */
  size_t len;
  tset_t set;
  trie_reader_t *r; /* of img */
  uint32_t *by_id;  /* set index of each id: score descending, then key bytes */
} fx;

static int cmp_rank(const void *a, const void *b) {
  const trie_entry_t *x = &fx.set.e[*(const uint32_t *)a], *y = &fx.set.e[*(const uint32_t *)b];
  if (x->score != y->score) return x->score > y->score ? -1 : 1;
  size_t m = x->key_len < y->key_len ? x->key_len : y->key_len;
  int c = memcmp(x->key, y->key, m);
  return c != 0 ? c : (x->key_len > y->key_len) - (x->key_len < y->key_len);
}

static int setup(void **state) {
  (void)state;
  fx.set = tu_gen(61, 400, 1, 0);
  fx.img = tu_image(fx.set.e, fx.set.n, K, "hostile6", 8, &fx.len);
  if (fx.img == NULL || trie__open_mem(fx.img, fx.len, &fx.r) != 0) return -1;
  fx.by_id = malloc(fx.set.n * sizeof *fx.by_id);
  for (uint32_t i = 0; i < fx.set.n; i++) fx.by_id[i] = i;
  qsort(fx.by_id, fx.set.n, sizeof *fx.by_id, cmp_rank);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  trie_close(fx.r);
  free(fx.img);
  free(fx.by_id);
  tu_free(&fx.set);
  return 0;
}

/* A child of the sound file: its parent, its index there, the key down to its label's end. */
typedef struct {
  trie__node_t parent, child;
  uint64_t idx;
  uint8_t key[TA_MAX_KEY + TRIE_SYM_SLACK];
  size_t key_len, above; /* the key, and its bytes above the child's label */
} tchild_t;

/* The first child in pre-order whose stored label is empty (empty = 1) or not, with children
 * (inner = 1) or none, and a sibling; 1 when there is one. A recursion: the keys are short. */
static int find_child(const trie__node_t *nd, uint8_t *key, size_t len, int empty, int inner,
                      tchild_t *out) {
  for (uint64_t i = 0; i < nd->nchild; i++) {
    trie__node_t ch = {0};
    assert_int_equal(trie__node_child(fx.r, nd, i, &ch), 0);
    size_t at = len;
    assert_int_equal(trie__label(fx.r, &ch, key, &at, TA_MAX_KEY, SIZE_MAX), 0);
    assert_int_equal(key[len], nd->child_bytes[i]);
    if ((ch.code_len == 0) == empty && (ch.nchild > 0) == inner && nd->nchild >= 2) {
      *out = (tchild_t){*nd, ch, i, {0}, at, len};
      memcpy(out->key, key, at);
      return 1;
    }
    if (find_child(&ch, key, at, empty, inner, out)) return 1;
  }
  return 0;
}

static tchild_t child_of(int empty, int inner) {
  trie__node_t root;
  assert_int_equal(trie__node_parse(fx.r, (size_t)fx.r->root, TRIE_NO_FIRST, &root), 0);
  uint8_t key[TA_MAX_KEY + TRIE_SYM_SLACK];
  tchild_t c;
  assert_true(find_child(&root, key, 0, empty, inner, &c));
  return c;
}

/* The ids of the keys that start with p[0..len), the first k of them (brute force). */
static size_t brute_top(const uint8_t *p, size_t len, uint32_t *ids) {
  size_t n = 0;
  for (uint32_t id = 0; id < fx.set.n && n < K; id++) {
    const trie_entry_t *e = &fx.set.e[fx.by_id[id]];
    if (e->key_len >= len && memcmp(e->key, p, len) == 0) ids[n++] = id;
  }
  return n;
}

/* The sound file: children with an empty stored label, leaves and inner nodes, are there; every
 * prefix of every key gets the brute force's top-k, every id its text, the screen lets every
 * head of a key through, and verify takes the file. */
static void test_empty_labels(void **state) {
  (void)state;
  const trie_reader_t *r = fx.r;
  tchild_t leaf = child_of(1, 0), inner = child_of(1, 1);
  assert_int_equal(leaf.key_len, leaf.above + 1);
  assert_int_equal(inner.key_len, inner.above + 1);
  for (uint32_t id = 0; id < r->n; id++) {
    trie_hit_t h;
    const trie_entry_t *e = &fx.set.e[fx.by_id[id]];
    assert_int_equal(trie_get_hit(r, id, tu_text(), &h), 0);
    assert_int_equal(h.text_len, e->display_len);
    assert_memory_equal(h.text, e->display, h.text_len);
    trie_text_reset(tu_text());
  }
  trie_screen_t *s = NULL;
  assert_int_equal(trie_screen_build(r, &s), 0);
  for (size_t i = 0; i < fx.set.n; i++) {
    const trie_entry_t *e = &fx.set.e[i];
    for (size_t plen = 0; plen <= e->key_len; plen++) {
      uint32_t want[K];
      trie_hit_t got[TA_MAX_K];
      size_t nw = brute_top((const uint8_t *)e->key, plen, want), ng = 0;
      assert_int_equal(trie_lookup(r, e->key, plen, K, tu_text(), got, &ng), 0);
      assert_int_equal(ng, nw);
      for (size_t h = 0; h < ng; h++) { /* ids, and texts from the hot ones, scans, descents */
        const trie_entry_t *x = &fx.set.e[fx.by_id[want[h]]];
        assert_int_equal(got[h].id, want[h]);
        assert_int_equal(got[h].text_len, x->display_len);
        assert_memory_equal(got[h].text, x->display, x->display_len);
      }
      trie_text_reset(tu_text());
      assert_int_equal(trie_screen_may_start(s, e->key, plen), 1);
    }
  }
  trie_screen_free(s);
  assert_int_equal(trie_verify(r, NULL), 0);
}

/* The walks over a damaged copy c: every answer 0 or TA_ECORRUPT, texts inside the image; the
 * reader of an exact-size copy into *out (NULL when open refuses it). Returns verify's code and
 * its section into section. */
static int walk_all(const uint8_t *c, uint8_t **img_out, trie_reader_t **out, char *section) {
  uint8_t *img = malloc(fx.len);
  memcpy(img, c, fx.len);
  trie_reader_t *r = NULL;
  *img_out = img;
  *out = NULL;
  if (trie__open_mem(img, fx.len, &r) != 0) return 0;
  trie_hit_t hits[TA_MAX_K];
  trie_match_t m[TA_MAX_K];
  for (uint32_t id = 0; id < r->n; id++) {
    int h = trie_get_hit(r, id, tu_text(), hits);
    if (h != 0 && h != TA_ECORRUPT) fail_msg("hit of id %u: %d", id, h);
    if (h == 0) assert_true(tu_text_ok(hits[0].text, hits[0].text_len, img, fx.len));
    trie_text_reset(tu_text());
  }
  trie_words_t *w = NULL;
  int wrc = trie_words_build(r, &w);
  assert_true(wrc == 0 || wrc == TA_ECORRUPT);
  trie_screen_t *s = NULL;
  int src = trie_screen_build(r, &s);
  assert_true(src == 0 || src == TA_ECORRUPT);
  trie_screen_free(s);
  for (size_t i = 0; i < fx.set.n; i += 2) {
    const trie_entry_t *e = &fx.set.e[i];
    for (size_t plen = 0; plen <= e->key_len; plen++) {
      size_t nh = 0;
      int l = trie_lookup(r, e->key, plen, K, tu_text(), hits, &nh);
      if (l != 0 && l != TA_ECORRUPT) fail_msg("lookup: %d", l);
      for (size_t h = 0; h < nh; h++)
        assert_true(tu_text_ok(hits[h].text, hits[h].text_len, img, fx.len));
      trie_match_opts_t o = {TRIE_TYPOS_AUTO, w};
      l = trie_lookup_match(r, e->key, plen, &o, K, NULL, NULL, tu_text(), m, &nh);
      if (l != 0 && l != TA_ECORRUPT) fail_msg("match: %d", l);
      for (size_t h = 0; h < nh; h++)
        assert_true(tu_text_ok(m[h].hit.text, m[h].hit.text_len, img, fx.len));
      trie_text_reset(tu_text());
    }
  }
  trie_words_free(w);
  ta_diag_t d;
  ta_diag_init(&d, "x");
  int v = trie_verify(r, &d);
  snprintf(section, 16, "%s", d.section != NULL ? d.section : "");
  *out = r;
  return v;
}

/* The child byte of c made b in a copy (CRCs resealed): its walks, verify's code. */
static int damage(const tchild_t *c, uint8_t b, uint8_t **img, trie_reader_t **r, char *section) {
  uint8_t *copy = malloc(fx.len);
  memcpy(copy, fx.img, fx.len);
  copy[c->parent.child_bytes + c->idx - fx.img] = b;
  assert_int_equal(tu_fix_crcs(copy, fx.len), 0);
  int v = walk_all(copy, img, r, section);
  free(copy);
  return v;
}

static void test_child_byte(void **state) {
  (void)state;
  const tchild_t cases[] = {child_of(1, 0), child_of(1, 1), child_of(0, 0), child_of(0, 1)};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const tchild_t *c = &cases[i];
    uint8_t *img;
    trie_reader_t *r;
    char section[16];
    /* a sibling's byte: two children of one byte */
    if (c->parent.nchild >= 2) {
      uint8_t sib = c->parent.child_bytes[c->idx == 0 ? 1 : 0];
      assert_int_equal(damage(c, sib, &img, &r, section), TA_ECORRUPT);
      assert_string_equal(section, "NODES");
      trie_close(r);
      free(img);
    }
    /* 0xff: the keys below are no UTF-8 */
    assert_int_equal(damage(c, 0xff, &img, &r, section), TA_ECORRUPT);
    assert_string_equal(section, "NODES");
    trie_close(r);
    free(img);
    /* '#', which no key of the fixture has: the keys below start so from there on */
    uint8_t key[TA_MAX_KEY + TRIE_SYM_SLACK];
    memcpy(key, c->key, c->key_len);
    key[c->above] = '#';
    (void)damage(c, '#', &img, &r, section);
    assert_non_null(r);
    uint32_t ids[TA_MAX_K];
    size_t n = 0;
    assert_int_equal(trie_lookup_ids(r, (const char *)key, c->key_len, K, ids, &n), 0);
    assert_true(n >= 1);
    assert_int_equal(trie_lookup_ids(r, (const char *)c->key, c->key_len, K, ids, &n), 0);
    assert_int_equal(n, 0);
    trie_close(r);
    free(img);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_empty_labels),
                                     cmocka_unit_test(test_child_byte)};
  return cmocka_run_group_tests(tests, setup, teardown);
}
