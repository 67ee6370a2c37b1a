/*
 * Hostile files aimed at what format 5 changed (docs/FORMAT.md, "Texts and scores by id"): the
 * head of HOTOFF (M, w) and of IDPOS (w) against their sections' lengths, the ends past the
 * last hot id, the bits after IDPOS's last entry, and the 8 zero bytes after each bit-packed
 * array. A sound file from the real writer, one field changed, its CRCs resealed: open refuses
 * it, or every hit and lookup answers soundly or TA_ECORRUPT, in bounds (an exact-size heap
 * copy, for ASan), and verify refuses it naming the section. Then a stored text (a hot one, a
 * DISPLAY form) replaced by the spelling of another key, or by a spelling of its key that is no
 * display form (a bidi or control character in it): lookups serve it, verify refuses it.
 * test_hostile3 has the fields the earlier formats had too (a hot text's end, an id's position).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "trie_int.h"
#include "trie_test_util.h"

static struct {
  uint8_t *img; /* the sound file */
  size_t len;
  tset_t set;
  trie_reader_t *r; /* of img: where each field is (r->base is img) */
} fx;

static int setup(void **state) {
  (void)state;
  fx.set = tu_gen(53, 505, 1, 0);
  fx.img = tu_image(fx.set.e, fx.set.n, 4, "hostile5", 5, &fx.len);
  if (fx.img == NULL || trie__open_mem(fx.img, fx.len, &fx.r) != 0) return -1;
  /* the cases need a last group with ends past M, and bits after IDPOS's last entry */
  const trie_reader_t *r = fx.r;
  return r->m_hot > TRIE_HOT_GROUP && r->m_hot % TRIE_HOT_GROUP != 0 && r->n * r->idpos_bits % 8
             ? 0
             : -1;
}

/* The reader borrows the image: it goes first. */
static void fx_free(void) {
  trie_close(fx.r);
  free(fx.img);
  tu_free(&fx.set);
}

static int teardown(void **state) {
  (void)state;
  fx_free();
  return 0;
}

/* Where p (into the sound image) is in a copy c. */
static uint8_t *in(uint8_t *c, const uint8_t *p) {
  return c + (p - fx.img);
}

/* Reseals c (a damaged copy of the image); returns open's code. When open takes it, every id's
 * hit and the lookups of every key's prefixes answer 0 or TA_ECORRUPT, and verify refuses it
 * naming section. */
static int attack(const char *what, uint8_t *c, const char *section) {
  assert_int_equal(tu_fix_crcs(c, fx.len), 0);
  uint8_t *img = malloc(fx.len);
  memcpy(img, c, fx.len);
  trie_reader_t *r = NULL;
  int rc = trie__open_mem(img, fx.len, &r);
  if (rc == 0) {
    trie_hit_t hits[TA_MAX_K];
    for (uint32_t id = 0; id < r->n; id++) {
      int h = trie_get_hit(r, id, tu_text(), hits);
      if (h != 0 && h != TA_ECORRUPT) fail_msg("%s: hit of id %u: %d", what, id, h);
      if (h == 0) assert_true(tu_text_ok(hits[0].text, hits[0].text_len, img, fx.len));
      trie_text_reset(tu_text());
    }
    for (size_t i = 0; i < fx.set.n; i += 3) {
      const trie_entry_t *e = &fx.set.e[i];
      for (size_t plen = 0; plen <= e->key_len; plen++) {
        size_t nh = 0;
        int l = trie_lookup(r, e->key, plen, 4, tu_text(), hits, &nh);
        if (l != 0 && l != TA_ECORRUPT) fail_msg("%s: lookup: %d", what, l);
        for (size_t h = 0; h < nh; h++)
          assert_true(tu_text_ok(hits[h].text, hits[h].text_len, img, fx.len));
        trie_text_reset(tu_text());
      }
    }
    ta_diag_t d;
    ta_diag_init(&d, "x");
    if (trie_verify(r, &d) == 0) fail_msg("%s: verify calls the damaged file sound", what);
    if (d.section == NULL || strcmp(d.section, section) != 0)
      fail_msg("%s: verify names section %s, not %s (%s)", what, d.section ? d.section : "(none)",
               section, d.msg);
    trie_close(r);
  }
  free(img);
  return rc;
}

static void test_sound(void **state) {
  (void)state;
  assert_int_equal(trie_verify(fx.r, NULL), 0);
}

/* HOTOFF: M past its records or below them, w 0 or too wide (open refuses each); an end past
 * the last hot id, a slack byte (verify refuses each). */
static void test_hotoff(void **state) {
  (void)state;
  const trie_reader_t *r = fx.r;
  uint8_t *c = malloc(fx.len), *h = in(c, r->hot_off - TRIE_HOT_HEAD);
  uint64_t groups = (r->m_hot + TRIE_HOT_GROUP - 1) / TRIE_HOT_GROUP;
  const uint32_t bad_m[] = {(uint32_t)(groups * TRIE_HOT_GROUP + 1),
                            (uint32_t)((groups - 1) * TRIE_HOT_GROUP)};
  for (size_t i = 0; i < 2; i++) {
    memcpy(c, fx.img, fx.len);
    trie__store_u32(h, bad_m[i]);
    assert_int_not_equal(attack("M not its records' count", c, "HOTOFF"), 0);
  }
  const uint32_t bad_w[] = {0, TRIE_HOT_W_MAX + 1};
  for (size_t i = 0; i < 2; i++) {
    memcpy(c, fx.img, fx.len);
    trie__store_u32(h + 4, bad_w[i]);
    assert_int_not_equal(attack("HOTOFF w out of range", c, "HOTOFF"), 0);
  }
  uint8_t *last = in(c, r->hot_off + r->hot_rec * (groups - 1));
  memcpy(c, fx.img, fx.len);
  trie__store_bits(last + 4, TRIE_HOT_GROUP - 1, r->hot_w, 1); /* past M: the group is not full */
  assert_int_equal(attack("an end past the last hot id", c, "HOTOFF"), 0);
  memcpy(c, fx.img, fx.len);
  in(c, r->hot_off + r->hot_rec * groups)[TRIE_BITS_SLACK - 1] = 1;
  assert_int_equal(attack("HOTOFF slack not 0", c, "HOTOFF"), 0);
  free(c);
}

/* IDPOS: w 0, past TRIE_IDPOS_W_MAX, one more or one less than the length holds (open refuses
 * each); the bits after the last entry, a slack byte (verify refuses each). */
static void test_idpos(void **state) {
  (void)state;
  const trie_reader_t *r = fx.r;
  uint8_t *c = malloc(fx.len), *fields = in(c, r->idpos);
  const uint32_t widths[] = {0, TRIE_IDPOS_W_MAX + 1, r->idpos_bits + 1, r->idpos_bits - 1};
  for (size_t i = 0; i < sizeof widths / sizeof widths[0]; i++) {
    memcpy(c, fx.img, fx.len);
    trie__store_u32(fields - 4, widths[i]);
    assert_int_not_equal((r->n * widths[i] + 7) / 8, r->idpos_len); /* the length disagrees */
    assert_int_not_equal(attack("IDPOS width", c, "IDPOS"), 0);
  }
  memcpy(c, fx.img, fx.len);
  fields[r->idpos_len - 1] |= 0x80;
  assert_int_equal(attack("IDPOS bits past the last entry", c, "IDPOS"), 0);
  memcpy(c, fx.img, fx.len);
  fields[r->idpos_len + TRIE_BITS_SLACK - 1] = 1;
  assert_int_equal(attack("IDPOS slack not 0", c, "IDPOS"), 0);
  free(c);
}

/* The stored text of id (its hot text, or its DISPLAY form) overwritten at its start with
 * with[0..n) (n bytes at most the text's; without with, all of it with 'z'), valid UTF-8 of the
 * same length, so every table still holds. A lookup serves it as it is; verify refuses it at
 * the text, naming the id. */
static void text_replaced(uint64_t id, const char *section, const char *with, size_t n) {
  const char *text;
  size_t len;
  if (id < fx.r->m_hot)
    assert_int_equal(trie__hot_text(fx.r, id, &text, &len), 0);
  else
    assert_int_equal(trie__display(fx.r, id, &text, &len), 1);
  uint8_t *c = malloc(fx.len);
  memcpy(c, fx.img, fx.len);
  uint8_t *at = in(c, (const uint8_t *)text);
  if (with == NULL) {
    size_t same = 0;
    while (same < len && text[same] == 'z') same++;
    assert_true(same < len); /* "zz..z" is another text, of another key */
    memset(at, 'z', len);
  } else {
    assert_true(n <= len && memcmp(text, with, n) != 0);
    memcpy(at, with, n);
  }
  char what[64];
  snprintf(what, sizeof what, "%s text of id %llu replaced", section, (unsigned long long)id);
  assert_int_equal(attack(what, c, section), 0); /* resealed c in place */
  trie_reader_t *r = NULL;
  assert_int_equal(trie__open_mem(c, fx.len, &r), 0);
  trie_hit_t h;
  assert_int_equal(trie_get_hit(r, (uint32_t)id, tu_text(), &h), 0);
  assert_int_equal(h.text_len, len);
  assert_memory_equal(h.text, at, len);
  ta_diag_t d;
  ta_diag_init(&d, "x");
  assert_int_equal(trie_verify(r, &d), TA_ECORRUPT);
  assert_int_equal(d.offset, (uint64_t)(at - c));
  snprintf(what, sizeof what, "id %llu ", (unsigned long long)id);
  if (strstr(d.msg, what) == NULL) fail_msg("the message does not name %s: %s", what, d.msg);
  trie_close(r);
  trie_text_reset(tu_text());
  free(c);
}

/* The spelling of "zz..z", not of id's key: under a prefix of the key, a suggestion that has
 * nothing to do with it. */
static void test_hot_text_of_other_key(void **state) {
  (void)state;
  text_replaced(1, "HOTSTR", NULL, 0);
}

/* The first id DISPLAY lists. */
static void test_display_of_other_key(void **state) {
  (void)state;
  assert_true(fx.r->n_disp > 0);
  text_replaced(trie__load_u32(fx.r->disp_ids), "DISPLAY", NULL, 0);
}

/* A spelling of id's key that is no display form: its soft hyphen (U+00AD, kept in display
 * forms; tu_gen's texts of their own start with one) replaced by U+061C ARABIC LETTER MARK, a
 * bidi control, or by U+0080, a control character. Both are dropped from keys, so the text
 * still normalizes to the key, and from display forms (an override shows a suggestion
 * reversed), so no builder writes them. */
static void test_text_of_the_key_but_no_display_form(void **state) {
  (void)state;
  static const char shy[] = "\xc2\xad", alm[] = "\xd8\x9c", c1[] = "\xc2\x80";
  uint64_t hot = 0, listed = trie__load_u32(fx.r->disp_ids);
  for (;; hot++) { /* a hot id with a text of its own */
    assert_true(hot < fx.r->m_hot);
    const char *text = NULL;
    size_t len = 0;
    assert_int_equal(trie__hot_text(fx.r, hot, &text, &len), 0);
    if (len > 2 && memcmp(text, shy, 2) == 0) break;
  }
  text_replaced(hot, "HOTSTR", alm, 2);
  text_replaced(listed, "DISPLAY", alm, 2);
  text_replaced(listed, "DISPLAY", c1, 2);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_sound),
                                     cmocka_unit_test(test_hotoff),
                                     cmocka_unit_test(test_idpos),
                                     cmocka_unit_test(test_hot_text_of_other_key),
                                     cmocka_unit_test(test_display_of_other_key),
                                     cmocka_unit_test(test_text_of_the_key_but_no_display_form)};
  return cmocka_run_group_tests(tests, setup, teardown);
}
