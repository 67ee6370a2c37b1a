/* The market and shard a trie file records (docs/FORMAT.md, META; trie_info_t): written only
 * for a market's or a shard's file, read back by open, and a damaged field refused at open (a
 * server compares them with where it loads the file, so they must be what a writer wrote). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "trie_int.h"
#include "trie_test_util.h"

/* The image of a small trie written with market m (NULL: none) and shard s of n. */
static uint8_t *image(const char *m, uint32_t n, uint32_t s, size_t *len, int *rc) {
  tset_t set = tu_gen(5, 30, 1, 0);
  char path[4200];
  snprintf(path, sizeof path, "%s/p.trie", tu_dir);
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  trie_write_opts_t o;
  memset(&o, 0, sizeof o);
  o.k = 4;
  o.source = "place";
  o.market = m;
  o.shards = n;
  o.shard = s;
  *rc = trie_write(f, set.e, set.n, &o);
  assert_int_equal(fclose(f), 0);
  tu_free(&set);
  return *rc ? NULL : tu_slurp(path, len);
}

/* Where the place fields start in img (after the normalization version), and META's length. */
static size_t place_at(const uint8_t *img, size_t len, uint64_t *meta_len) {
  trie_reader_t *r;
  assert_int_equal(trie__open_mem(img, len, &r), 0);
  size_t at = 0;
  for (uint32_t i = 0; i < r->nsect; i++)
    if (r->sect[i].id == TRIE_SECT_META) {
      at = (size_t)r->sect[i].off + TRIE_META_FIXED + r->source_len + TRIE_META_NORM_LEN;
      *meta_len = r->sect[i].len;
    }
  trie_close(r);
  assert_true(at > 0);
  return at;
}

static void info_of(const uint8_t *img, size_t len, trie_info_t *info) {
  trie_reader_t *r;
  assert_int_equal(trie__open_mem(img, len, &r), 0);
  assert_int_equal(trie_get_info(r, info), 0);
  assert_int_equal(trie_verify(r, NULL), 0);
  trie_close(r);
}

static void test_plain_file_records_nothing(void **state) {
  (void)state;
  size_t len;
  int rc;
  uint8_t *img = image(NULL, 0, 0, &len, &rc);
  assert_non_null(img);
  uint64_t meta_len = 0;
  size_t at = place_at(img, len, &meta_len);
  (void)at;
  assert_int_equal(meta_len, TRIE_META_FIXED + strlen("place") + TRIE_META_NORM_LEN);
  trie_info_t info;
  info_of(img, len, &info);
  assert_int_equal(info.market_len, 0);
  assert_null(info.market);
  assert_int_equal(info.shards, 0);
  assert_int_equal(info.shard, 0);
  free(img);
}

static void test_market_and_shard_read_back(void **state) {
  (void)state;
  const struct {
    const char *m;
    uint32_t n, s;
  } cases[] = {{"de", 0, 0},
               {"de-at_2", 4, 3},
               {NULL, 2, 0},
               {NULL, TRIE_MAX_SHARDS, 255},
               {"abcdefghijklmnopqrstuvwxyz012345", 1, 0}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    size_t len;
    int rc;
    uint8_t *img = image(cases[i].m, cases[i].n, cases[i].s, &len, &rc);
    assert_non_null(img);
    trie_info_t info;
    info_of(img, len, &info);
    size_t ml = cases[i].m ? strlen(cases[i].m) : 0;
    assert_int_equal(info.market_len, ml);
    if (ml) assert_memory_equal(info.market, cases[i].m, ml);
    assert_int_equal(info.shards, cases[i].n);
    assert_int_equal(info.shard, cases[i].s);
    free(img);
  }
}

static void test_writer_refuses_a_bad_place(void **state) {
  (void)state;
  const struct {
    const char *m;
    uint32_t n, s;
  } bad[] = {{"DE", 0, 0},        {"de at", 0, 0}, {"abcdefghijklmnopqrstuvwxyz0123456", 0, 0},
             {NULL, 2, 2},        {NULL, 0, 1},    {NULL, TRIE_MAX_SHARDS + 1, 0},
             {"de\xc3\xa9", 0, 0}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    size_t len;
    int rc;
    assert_null(image(bad[i].m, bad[i].n, bad[i].s, &len, &rc));
    assert_int_equal(rc, TA_EINVAL);
  }
}

/* Each field damaged (CRCs made good again, as a crafted file would be): refused at open. */
static void test_damaged_place_refused(void **state) {
  (void)state;
  size_t len;
  int rc;
  uint8_t *good = image("fr", 4, 1, &len, &rc);
  assert_non_null(good);
  uint64_t meta_len = 0;
  size_t at = place_at(good, len, &meta_len);
  assert_int_equal(trie__load_u32(good + at), 2);
  assert_memory_equal(good + at + 4, "fr", 2);
  assert_int_equal(trie__load_u32(good + at + 6), 4);
  assert_int_equal(trie__load_u32(good + at + 10), 1);
  uint8_t *img = malloc(len);
  assert_non_null(img);
  const struct {
    size_t off;
    uint32_t v;
    int u32;
  } harm[] = {
      {0, 33, 1},                  /* market length past TA_MAX_MARKET */
      {0, 12, 1},                  /* market length past the section's end */
      {4, 'F', 0},                 /* a name byte outside [a-z0-9_-] */
      {5, 0, 0},                   /* a NUL in the name */
      {6, TRIE_MAX_SHARDS + 1, 1}, /* too many shards */
      {10, 4, 1},                  /* shard index not below the count */
      {6, 0, 1},                   /* not a shard, yet an index */
  };
  for (size_t i = 0; i < sizeof harm / sizeof harm[0]; i++) {
    memcpy(img, good, len);
    if (harm[i].u32)
      trie__store_u32(img + at + harm[i].off, harm[i].v);
    else
      img[at + harm[i].off] = (uint8_t)harm[i].v;
    assert_int_equal(tu_fix_crcs(img, len), 0);
    trie_reader_t *r = NULL;
    assert_int_equal(trie__open_mem(img, len, &r), TA_ECORRUPT);
  }
  /* The fields cut short: META's length made to end 1, 5 or 11 bytes into them (its bytes stay
   * where they are; the file's other sections still end it). */
  uint32_t nsect = trie__load_u32(good + 20);
  for (size_t cut = 1; cut < TRIE_META_PLACE_LEN + 2; cut += 4) {
    memcpy(img, good, len);
    int found = 0;
    for (uint32_t i = 0; i < nsect; i++) {
      uint8_t *e = img + TRIE_HDR_FIXED + i * TRIE_SECT_ENTRY;
      if (trie__load_u32(e) != TRIE_SECT_META) continue;
      trie__store_u64(e + 16, meta_len - (TRIE_META_PLACE_LEN + 2) + cut);
      found = 1;
    }
    assert_true(found);
    assert_int_equal(tu_fix_crcs(img, len), 0);
    trie_reader_t *r = NULL;
    assert_int_equal(trie__open_mem(img, len, &r), TA_ECORRUPT);
  }
  free(img);
  free(good);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_plain_file_records_nothing),
      cmocka_unit_test(test_market_and_shard_read_back),
      cmocka_unit_test(test_writer_refuses_a_bad_place),
      cmocka_unit_test(test_damaged_place_refused),
  };
  return cmocka_run_group_tests(tests, tu_setup_dir, tu_teardown_dir);
}
