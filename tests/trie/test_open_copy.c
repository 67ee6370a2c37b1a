/*
 * trie_open_copy (trie.h): the reader serves a private copy of the file. What is verified stays
 * what is served when the file is then rewritten in place, edited or emptied; a truncated file
 * is refused as trie_open refuses it; a FIFO, a directory or a device is refused at once,
 * without blocking; a file over the size bound is refused. The header is checked against the
 * size and the file read on one descriptor: a file renamed over the path in between is not read.
 *
 * That rename is made at the only moment in between that a test can reach: this binary defines
 * pread, which trie_open_copy's size check calls (a static library's reference binds to the
 * executable's definition), and when armed renames a file over the path right after it. The test
 * fails, rather than passing unchecked, if that pread is never called.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "trie_test_util.h"

static const char *swap_from, *swap_to; /* armed: rename swap_from over swap_to after a pread */
static int swaps;

ssize_t pread(int fd, void *buf, size_t n, off_t off);
ssize_t pread(int fd, void *buf, size_t n, off_t off) {
  ssize_t got = syscall(SYS_pread64, fd, buf, n, off);
  if (swap_from != NULL) {
    if (rename(swap_from, swap_to) == 0) swaps++;
    swap_from = NULL;
  }
  return got;
}

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

/* A small trie written at path (tu_dir/served.trie); its bytes (*len of them, the caller frees). */
static uint8_t *served(char *path, size_t cap, size_t *len) {
  snprintf(path, cap, "%s/served.trie", tu_dir);
  trie_entry_t e[] = {{"amazon", 6, "Amazon", 6, 9}, {"amazing", 7, "amazing", 7, 3}};
  assert_int_equal(tu_write(path, e, 2, 4, "test", 1763800000), 0);
  uint8_t *img = tu_slurp(path, len);
  assert_non_null(img);
  return img;
}

static void test_copy_outlives_the_file(void **state) {
  (void)state;
  char path[4200];
  size_t len = 0;
  uint8_t *img = served(path, sizeof path, &len);

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

/* It opened the path twice (the size check, then the read): a file extended in place renamed
 * over the path in between was read whole, up to the size bound, after the check of the other. */
static void test_replaced_between_check_and_read(void **state) {
  (void)state;
  char path[4200], other[4200];
  size_t len = 0;
  uint8_t *img = served(path, sizeof path, &len);
  /* the same trie extended in place (truncate -s): 16 MiB, sparse, over the bound of 1 MiB */
  snprintf(other, sizeof other, "%s/extended.trie", tu_dir);
  put(other, img, len, "wb");
  assert_int_equal(truncate(other, 16 << 20), 0);

  trie_reader_t *r = NULL;
  ta_diag_t d;
  swap_from = other;
  swap_to = path;
  int rc = trie_open_copy(path, 1 << 20, &r, &d);
  assert_int_equal(swaps, 1); /* else the check no longer calls pread: this test needs a hook */
  assert_int_equal(rc, 0);    /* the file checked, read whole: not the one renamed in */
  trie_info_t info;
  assert_int_equal(trie_get_info(r, &info), 0);
  assert_int_equal(info.file_size, len);
  assert_int_equal(trie_verify(r, &d), 0);
  trie_close(r);

  /* the path now names the extended file: refused from its header, before a read */
  assert_int_equal(trie_open_copy(path, SIZE_MAX, &r, &d), TA_ECORRUPT);
  assert_null(r);
  free(img);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_copy_outlives_the_file),
      cmocka_unit_test(test_not_regular_files),
      cmocka_unit_test(test_replaced_between_check_and_read),
  };
  return cmocka_run_group_tests(tests, tu_setup_dir, tu_teardown_dir);
}
