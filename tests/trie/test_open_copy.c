/*
 * trie_open_copy (trie.h): the reader serves a private copy of the file. What is verified stays
 * what is served when the file is then rewritten in place, edited or emptied; a truncated file
 * is refused as trie_open refuses it; a FIFO, a directory or a device is refused at once,
 * without blocking; a file over the size bound is refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sys/stat.h>

#include "trie_test_util.h"

static const char *top(const trie_reader_t *r, const char *prefix) {
  static char out[256];
  trie_hit_t hits[4];
  size_t nh = 0;
  assert_int_equal(trie_lookup(r, prefix, strlen(prefix), 4, tu_text(), hits, &nh), 0);
  assert_true(nh > 0);
  snprintf(out, sizeof out, "%.*s", (int)hits[0].text_len, hits[0].text);
  return out;
}

static void put(const char *path, const void *data, size_t len, const char *mode) {
  FILE *f = fopen(path, mode);
  assert_non_null(f);
  assert_int_equal(fwrite(data, 1, len, f), len);
  assert_int_equal(fclose(f), 0);
}

static void test_copy_outlives_the_file(void **state) {
  (void)state;
  char path[4200];
  snprintf(path, sizeof path, "%s/served.trie", tu_dir);
  trie_entry_t e[] = {{"amazon", 6, "Amazon", 6, 9}, {"amazing", 7, "amazing", 7, 3}};
  assert_int_equal(tu_write(path, e, 2, 4, "test", 1763800000), 0);
  size_t len = 0;
  uint8_t *img = tu_slurp(path, &len);
  assert_non_null(img);

  trie_reader_t *r = NULL;
  ta_diag_t d;
  assert_int_equal(trie_open_copy(path, SIZE_MAX, &r, &d), 0);
  assert_int_equal(trie_verify(r, &d), 0);
  assert_string_equal(top(r, "am"), "Amazon");
  trie_info_t info;
  assert_int_equal(trie_get_info(r, &info), 0);
  assert_int_equal(info.file_size, len);

  /* the same bytes edited in place: the copy keeps the verified text */
  uint8_t *edited = malloc(len);
  memcpy(edited, img, len);
  for (size_t i = 0; i + 6 <= len; i++)
    if (memcmp(edited + i, "Amazon", 6) == 0) memcpy(edited + i, "XXXXXX", 6);
  put(path, edited, len, "r+b");
  assert_string_equal(top(r, "am"), "Amazon");
  assert_int_equal(trie_verify(r, NULL), 0);
  /* a fresh copy of the edited file fails its verify */
  trie_reader_t *r2 = NULL;
  assert_int_equal(trie_open_copy(path, SIZE_MAX, &r2, &d), 0);
  assert_int_equal(trie_verify(r2, &d), TA_ECHECKSUM);
  trie_close(r2);

  /* emptied and cut: the copy does not fault and still answers; the cut file is refused */
  put(path, "", 0, "wb");
  assert_string_equal(top(r, "am"), "Amazon");
  put(path, img, len / 2, "wb");
  assert_int_equal(trie_open_copy(path, SIZE_MAX, &r2, &d), TA_ETRUNC);
  assert_null(r2);
  assert_int_equal(d.code, TA_ETRUNC);
  assert_ptr_equal(d.file, path);
  assert_string_equal(top(r, "am"), "Amazon");
  trie_close(r);

  /* the size bound */
  put(path, img, len, "wb");
  assert_int_equal(trie_open_copy(path, len - 1, &r, &d), TA_ETOOLONG);
  assert_int_equal(trie_open_copy(path, len, &r, &d), 0);
  trie_close(r);
  free(edited);
  free(img);
}

static void test_not_regular_files(void **state) {
  (void)state;
  char fifo[4200];
  snprintf(fifo, sizeof fifo, "%s/fifo.trie", tu_dir);
  assert_int_equal(mkfifo(fifo, 0600), 0);
  trie_reader_t *r = NULL;
  ta_diag_t d;
  char msg[512];
  /* no writer: an open for reading would block for good */
  assert_int_equal(trie_open_copy(fifo, SIZE_MAX, &r, &d), TA_ENOTREG);
  assert_null(r);
  assert_non_null(strstr(ta_diag_format(&d, msg, sizeof msg), "a FIFO, not a regular file"));
  assert_int_equal(trie_open_copy(tu_dir, SIZE_MAX, &r, &d), TA_ENOTREG);
  assert_non_null(strstr(d.msg, "a directory"));
  assert_int_equal(trie_open_copy("/dev/null", SIZE_MAX, &r, &d), TA_ENOTREG);
  assert_non_null(strstr(d.msg, "a character device"));
  assert_int_equal(trie_open_copy(NULL, SIZE_MAX, &r, &d), TA_EINVAL);
  unlink(fifo);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_copy_outlives_the_file),
      cmocka_unit_test(test_not_regular_files),
  };
  return cmocka_run_group_tests(tests, tu_setup_dir, tu_teardown_dir);
}
