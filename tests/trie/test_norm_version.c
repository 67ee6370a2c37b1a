/* The normalization version (TRIE_NORM_VERSION, SPEC §3) in the files that depend on it: a
 * trie (META, docs/FORMAT.md) and a week table (the "norm" key, docs/TABLES.md) record it, and
 * a file of another version is refused with TA_ENORMVERSION, whose message says to rebuild. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tbl.h"
#include "trie_int.h"
#include "trie_test_util.h"

static char *dir;

static int setup(void **state) {
  (void)state;
  dir = tu_mkdtemp();
  return dir ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  tu_rmdir(dir);
  return 0;
}

/* A small sound trie image, and where its normalization version is. */
static uint8_t *sound_trie(size_t *len, size_t *norm_at) {
  tset_t set = tu_gen(3, 40, 1, 0);
  char path[4200];
  snprintf(path, sizeof path, "%s/v.trie", dir);
  assert_int_equal(tu_write(path, set.e, set.n, 4, "norm-version", 7), 0);
  tu_free(&set);
  uint8_t *img = tu_slurp(path, len);
  assert_non_null(img);
  trie_reader_t *r;
  assert_int_equal(trie__open_mem(img, *len, &r), 0);
  const trie__section_t *meta = NULL;
  for (uint32_t i = 0; i < r->nsect; i++)
    if (r->sect[i].id == TRIE_SECT_META) meta = &r->sect[i];
  assert_non_null(meta);
  *norm_at = (size_t)meta->off + TRIE_META_FIXED + r->source_len;
  trie_close(r);
  return img;
}

static void test_trie_records_its_version(void **state) {
  (void)state;
  size_t len, at;
  uint8_t *img = sound_trie(&len, &at);
  assert_int_equal(trie__load_u32(img + at), TRIE_NORM_VERSION);
  trie_reader_t *r;
  assert_int_equal(trie__open_mem(img, len, &r), 0);
  trie_info_t info;
  assert_int_equal(trie_get_info(r, &info), 0);
  assert_int_equal(info.norm_version, TRIE_NORM_VERSION);
  assert_int_equal(info.format_version, TRIE_FORMAT_VERSION);
  assert_int_equal(trie_verify(r, NULL), 0);
  trie_close(r);
  free(img);
}

static void test_trie_of_another_version_is_refused(void **state) {
  (void)state;
  size_t len, at;
  uint8_t *img = sound_trie(&len, &at);
  static const uint32_t others[] = {0, 1, TRIE_NORM_VERSION + 1, UINT32_MAX};
  char path[4200];
  snprintf(path, sizeof path, "%s/other.trie", dir);
  for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
    trie__store_u32(img + at, others[i]);
    assert_int_equal(tu_fix_crcs(img, len), 0); /* sound in every other way */
    trie_reader_t *r = NULL;
    assert_int_equal(trie__open_mem(img, len, &r), TA_ENORMVERSION);
    assert_null(r);
    assert_int_equal(tu_spit(path, img, len), 0);
    assert_int_equal(trie_open(path, &r), TA_ENORMVERSION);
    assert_null(r);
  }
  /* A damaged version field is a checksum error, not a request to rebuild. */
  trie__store_u32(img + at, TRIE_NORM_VERSION ^ 0x100);
  trie_reader_t *damaged = NULL;
  assert_int_equal(trie__open_mem(img, len, &damaged), TA_ECHECKSUM);
  assert_null(damaged);
  /* Format versions 1 to 5 are refused before their normalization is looked at: this reader
   * has no code for their layout, and rebuilding is the answer either way. */
  trie__store_u32(img + at, TRIE_NORM_VERSION);
  trie_reader_t *r = NULL;
  assert_int_equal(TRIE_MIN_READ_VERSION, 6);
  for (uint32_t v = 1; v <= 5; v++) {
    trie__store_u32(img + 8, v);
    trie__store_u32(img + 12, v);
    assert_int_equal(tu_fix_crcs(img, len), 0);
    assert_int_equal(trie__open_mem(img, len, &r), TA_EOLDFORMAT);
    assert_null(r);
  }
  /* A version 2 file whose META stops before the field is corrupt, not of another version. */
  trie__store_u32(img + 8, TRIE_FORMAT_VERSION);
  trie__store_u32(img + 12, TRIE_MIN_READ_VERSION);
  uint32_t nsect = trie__load_u32(img + 20);
  for (uint32_t i = 0; i < nsect; i++) {
    uint8_t *e = img + TRIE_HDR_FIXED + (size_t)i * TRIE_SECT_ENTRY;
    if (trie__load_u32(e) == TRIE_SECT_META)
      trie__store_u64(e + 16, trie__load_u64(e + 16) - TRIE_META_NORM_LEN);
  }
  assert_int_equal(tu_fix_crcs(img, len), 0);
  assert_int_equal(trie__open_mem(img, len, &r), TA_ECORRUPT);
  free(img);
  /* The message a person reads says what to do. */
  assert_non_null(strstr(ta_strerror(TA_ENORMVERSION), "rebuild with this version"));
}

/* A week table of week w with two rows. */
static void write_table(const char *path, tbl_week_t w) {
  tbl_writer_t *wr;
  unlink(path);
  assert_int_equal(tbl_writer_open(path, w, &wr), 0);
  assert_int_equal(tbl_writer_add(wr, "a", 1, 2), 0);
  assert_int_equal(tbl_writer_add(wr, "b", 1, 3), 0);
  assert_int_equal(tbl_writer_close(wr), 0);
}

/* Opens path and reads it to the end: the first error, or the number of rows. */
static int read_table(const char *path, char msg[512]) {
  tbl_reader_t *t;
  int rc = tbl_reader_open(path, &t);
  const char *s;
  size_t n;
  uint64_t c;
  int rows = 0;
  while (rc >= 0 && (rc = tbl_reader_next(t, &s, &n, &c)) == 1) rows++;
  snprintf(msg, 512, "%s", tbl_reader_errmsg(t));
  tbl_reader_close(t);
  return rc < 0 ? rc : rows;
}

static void test_table_of_another_version_is_refused(void **state) {
  (void)state;
  tbl_week_t w;
  assert_int_equal(tbl_week_parse("2026-W47", 8, &w), 0);
  char path[4200], msg[512];
  snprintf(path, sizeof path, "%s/2026-W47.msgpack", dir);
  write_table(path, w);
  assert_int_equal(read_table(path, msg), 2);
  size_t len;
  uint8_t *b = tu_slurp(path, &len);
  /* docs/TABLES.md: byte 32 "norm" (a4 6e 6f 72 6d), byte 37 the version as a fixint. */
  assert_memory_equal(b + 32, "\xa4norm", 5);
  assert_int_equal(b[37], TRIE_NORM_VERSION);
  b[37] = TRIE_NORM_VERSION + 1;
  assert_int_equal(tu_spit(path, b, len), 0);
  assert_int_equal(read_table(path, msg), TA_ENORMVERSION);
  assert_non_null(strstr(msg, "rebuild with this version"));
  assert_non_null(strstr(msg, "2026-W47.msgpack"));
  /* A version 1 table (six keys, no "norm") predates the versions: refused the same way. */
  static const char v1[] =
      "\x86\xa6"
      "format"
      "\xae"
      "typeahead-week"
      "\xa7"
      "version"
      "\x01"
      "\xa4"
      "week"
      "\xa8"
      "2026-W47"
      "\xaa"
      "week_start"
      "\xaa"
      "2026-11-16"
      "\xa6"
      "counts"
      "\xdf\x00\x00\x00\x01\xa1"
      "a"
      "\x02\xa6"
      "events"
      "\x02";
  assert_int_equal(tu_spit(path, v1, sizeof v1 - 1), 0);
  assert_int_equal(read_table(path, msg), TA_ENORMVERSION);
  assert_non_null(strstr(msg, "rebuild with this version"));
  free(b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_trie_records_its_version),
      cmocka_unit_test(test_trie_of_another_version_is_refused),
      cmocka_unit_test(test_table_of_another_version_is_refused),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
