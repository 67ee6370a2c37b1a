/*
 * Unit tests of the base layer (base/ta.h): strict number parsing, the one score format (against
 * strtod round trips on random doubles), the hash (stable values, every length, seeds), error
 * names and the diagnostic's one-line form, and ta_read_file (regular files only, bounded; a
 * FIFO, a directory or a device refused without blocking).
 */
#include "ta.h"

#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <cmocka.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

static void test_parse_u64(void **state) {
  (void)state;
  uint64_t v = 0;
  assert_int_equal(ta_parse_u64("0", 0, 10, &v), 0);
  assert_int_equal(v, 0);
  assert_int_equal(ta_parse_u64("18446744073709551615", 0, UINT64_MAX, &v), 0);
  assert_true(v == UINT64_MAX);
  assert_int_equal(ta_parse_u64("18446744073709551616", 0, UINT64_MAX, &v), TA_ERANGE);
  assert_int_equal(ta_parse_u64("99999999999999999999999", 0, UINT64_MAX, &v), TA_ERANGE);
  assert_int_equal(ta_parse_u64("11", 0, 10, &v), TA_ERANGE);
  assert_int_equal(ta_parse_u64("0", 1, 10, &v), TA_ERANGE);
  const char *bad[] = {"", " 1", "1 ", "-1", "+1", "0x10", "1e3", "1.0", "one", NULL};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    assert_int_equal(ta_parse_u64(bad[i], 0, 100, &v), TA_EPARSE);
  unsigned u = 0;
  assert_int_equal(ta_parse_uint("32", 1, TA_MAX_K, &u), 0);
  assert_int_equal(u, 32);
  assert_int_equal(ta_parse_uint("33", 1, TA_MAX_K, &u), TA_ERANGE);
}

static void test_parse_double(void **state) {
  (void)state;
  double d = 0;
  assert_int_equal(ta_parse_double("4", 0, 100, &d), 0);
  assert_true(d == 4);
  assert_int_equal(ta_parse_double("0.5", 0, 1, &d), 0);
  assert_true(d == 0.5);
  assert_int_equal(ta_parse_double(".5", 0, 1, &d), 0);
  assert_int_equal(ta_parse_double("5.", 0, 10, &d), 0);
  assert_int_equal(ta_parse_double("1e2", 0, 1000, &d), 0);
  assert_true(d == 100);
  assert_int_equal(ta_parse_double("-1", 0, 10, &d), TA_ERANGE);
  assert_int_equal(ta_parse_double("-1", -5, 10, &d), 0);
  assert_true(d == -1);
  assert_int_equal(ta_parse_double("1e999", 0, INFINITY, &d), TA_ERANGE);
  const char *bad[] = {"", ".", "e5", "1e", "inf", "nan", "0x1p3", " 1", "1 ", "+1", "1,5", NULL};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    assert_int_equal(ta_parse_double(bad[i], -10, 10, &d), TA_EPARSE);
}

static uint64_t rng = 0x243f6a8885a308d3ull;
static uint64_t next_u64(void) {
  rng += 0x9e3779b97f4a7c15ull;
  uint64_t z = rng;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static void test_fmt(void **state) {
  (void)state;
  char out[TA_SCORE_CAP];
  char u[TA_U64_CAP];
  assert_int_equal(ta_fmt_u64(0, u), 1);
  assert_string_equal(u, "0");
  assert_int_equal(ta_fmt_u64(UINT64_MAX, u), 20);
  assert_string_equal(u, "18446744073709551615");
  struct {
    double v;
    const char *s;
  } fixed[] = {{100, "100"},
               {0, "0"},
               {2.5, "2.5"},
               {0.1, "0.1"},
               {-3, "-3"},
               {NAN, "0"},
               {INFINITY, "0"},
               {1.0 / 3, "0.3333333333333333"},
               {9007199254740991.0, "9007199254740991"}};
  for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++) {
    size_t n = ta_fmt_score(fixed[i].v, out);
    assert_string_equal(out, fixed[i].s);
    assert_int_equal(n, strlen(fixed[i].s));
  }
  /* Every finite double reads back exactly, in at most 17 significant digits. */
  for (int i = 0; i < 100000; i++) {
    double v;
    uint64_t bits = next_u64();
    memcpy(&v, &bits, sizeof v);
    if (!isfinite(v)) continue;
    size_t n = ta_fmt_score(v, out);
    assert_true(n < TA_SCORE_CAP);
    assert_true(strtod(out, NULL) == v);
  }
}

/* ta_esc: what a terminal or a log line gets of any bytes; cut to the buffer with "..." */
static void test_esc(void **state) {
  (void)state;
  char buf[64];
  const char in[] = "caf\xc3\xa9\t\x1b[31m\\x\n\x7f\x00!";
  size_t n = ta_esc(in, sizeof in - 1, TA_ESC_BACKSLASH, buf, sizeof buf);
  assert_string_equal(buf, "caf\xc3\xa9\\x09\\x1b[31m\\x5cx\\x0a\\x7f\\x00!");
  assert_int_equal(n, strlen(buf));
  /* without the flag a backslash stays (c:\dir is a query as it is typed) */
  ta_esc(in, sizeof in - 1, 0, buf, sizeof buf);
  assert_string_equal(buf, "caf\xc3\xa9\\x09\\x1b[31m\\x\\x0a\\x7f\\x00!");
  assert_int_equal(ta_esc("", 0, 0, buf, sizeof buf), 0);
  assert_string_equal(buf, "");
  /* exactly fits, then one byte short: cut, with the mark, within cap */
  assert_int_equal(ta_esc("abcdef", 6, 0, buf, 7), 6);
  assert_string_equal(buf, "abcdef");
  assert_int_equal(ta_esc("abcdefg", 7, 0, buf, 7), 6);
  assert_string_equal(buf, "abc...");
  /* an escape is never cut in half */
  ta_esc(
      "ab\x01"
      "cdef",
      7, 0, buf, 8);
  assert_string_equal(buf, "ab...");
  for (size_t cap = 1; cap <= 5; cap++) { /* tiny buffers: NUL-terminated, never overrun */
    char small[8];
    memset(small, 'Z', sizeof small);
    size_t got = ta_esc("\x1b\x1b\x1b", 3, 0, small, cap);
    assert_true(got < cap && small[got] == '\0' && small[cap] == 'Z');
  }
  assert_int_equal(ta_esc("x", 1, 0, buf, 0), 0); /* no room: nothing written */
}

static void test_hash(void **state) {
  (void)state;
  /* Stored values (rules versions, --sample decisions) depend on these: a change of the hash
   * must be a deliberate change of these numbers. */
  assert_true(ta_hash64("", 0, 0) == 0x7a9615f2b0a231f5ull);
  assert_true(ta_hash64("new york", 8, 0) == 0x1d50be0e7240d50cull);
  assert_true(ta_hash64("the quick brown fox jumps", 25, 42) == 0x197a277f4c9f1940ull);
  unsigned char buf[64];
  for (size_t i = 0; i < sizeof buf; i++) buf[i] = (unsigned char)(i * 37 + 1);
  uint64_t seen[65];
  for (size_t len = 0; len <= 64; len++) {
    seen[len] = ta_hash64(buf, len, 7);
    for (size_t j = 0; j < len; j++) assert_true(seen[len] != seen[j]);
    assert_true(ta_hash64(buf, len, 7) != ta_hash64(buf, len, 8));
    /* Only the bytes in range count. */
    unsigned char copy[80];
    memcpy(copy, buf, len);
    memset(copy + len, 0xAA, sizeof copy - len);
    assert_true(ta_hash64(copy, len, 7) == seen[len]);
  }
  /* One flipped bit anywhere changes the value. */
  for (size_t len = 1; len <= 64; len++)
    for (size_t bit = 0; bit < len * 8; bit++) {
      buf[bit / 8] ^= (unsigned char)(1u << (bit % 8));
      assert_true(ta_hash64(buf, len, 7) != seen[len]);
      buf[bit / 8] ^= (unsigned char)(1u << (bit % 8));
    }
}

static void test_errors_and_diag(void **state) {
  (void)state;
  assert_string_equal(ta_err_name(TA_ECORRUPT), "TA_ECORRUPT");
  assert_string_equal(ta_err_name(0), "TA_OK");
  assert_string_equal(ta_err_name(-999), "TA_E?");
  assert_string_equal(ta_strerror(TA_ETRUNC), "file is truncated");
  /* a full disk says so (the operator's fix is space, not a new disk) */
  assert_int_equal(ta_error_from_errno(ENOSPC), TA_EDISKFULL);
  assert_int_equal(ta_error_from_errno(EDQUOT), TA_EDISKFULL);
  /* a symlink loop at --trie said "system call failed" */
  assert_int_equal(ta_error_from_errno(ELOOP), TA_ELOOP);
  assert_int_equal(ta_error_from_errno(EADDRINUSE), TA_EADDRINUSE);
  assert_int_equal(ta_error_from_errno(EIO), TA_EIO);
  FILE *full = fopen("/dev/full", "w"); /* every write: ENOSPC (Linux) */
  assert_non_null(full);
  fputs("counts", full);
  assert_int_equal(ta_fclose_written(full, 1), TA_EDISKFULL);
  ta_diag_t d;
  char line[256];
  ta_diag_init(&d, "rules.txt");
  ta_diag_at_line(&d, 12);
  assert_int_equal(ta_diag_set(&d, TA_EPARSE, "unknown kind '%s'", "wrd"), TA_EPARSE);
  assert_string_equal(ta_diag_format(&d, line, sizeof line), "rules.txt:12: unknown kind 'wrd'");
  ta_diag_init(&d, "x.trie");
  ta_diag_at_offset(&d, "NODES", 4096);
  ta_diag_set(&d, TA_ECORRUPT, "%s", "");
  assert_string_equal(
      ta_diag_format(&d, line, sizeof line),
      "x.trie: section NODES, byte 4096: file is corrupt (structure out of bounds)");
  ta_diag_init(&d, NULL);
  ta_diag_set(&d, TA_EEMPTY, "%s", "no rules");
  assert_string_equal(ta_diag_format(&d, line, sizeof line), "no rules");
  assert_int_equal(ta_diag_set(NULL, TA_EIO, "x"), TA_EIO);
  /* A cut message stays NUL-terminated. */
  ta_diag_format(&d, line, 3);
  assert_string_equal(line, "no");
}

static void test_memory(void **state) {
  (void)state;
  ta_buf_t b = {0};
  for (int i = 0; i < 5000; i++) assert_int_equal(ta_buf_put(&b, "abc", 3), 0);
  assert_int_equal(b.len, 15000);
  assert_true(b.cap >= b.len);
  assert_memory_equal(b.p + 14997, "abc", 3);
  assert_int_equal(ta_buf_reserve(&b, SIZE_MAX), TA_ENOMEM);
  assert_int_equal(b.len, 15000);
  ta_buf_free(&b);
  ta_buf_free(&b);
  assert_null(b.p);
  ta_buf_free(NULL);

  int *v = NULL;
  size_t cap = 0;
  for (size_t n = 0; n < 1000; n++) {
    if (n == cap) assert_int_equal(ta_grow((void **)&v, &cap, n + 1, sizeof *v, 16), 0);
    v[n] = (int)n;
  }
  assert_int_equal(cap, 1024);
  assert_int_equal(v[999], 999);
  assert_int_equal(ta_grow((void **)&v, &cap, SIZE_MAX / 2, sizeof *v, 16), TA_ENOMEM);
  assert_int_equal(cap, 1024);
  free(v);

  assert_true(ta_bytes_cmp("ab", 2, "abc", 3) < 0);
  assert_true(ta_bytes_cmp("abc", 3, "ab", 2) > 0);
  assert_true(ta_bytes_cmp("abd", 3, "abc", 3) > 0);
  assert_int_equal(ta_bytes_cmp("", 0, "", 0), 0);
}

/* Publishes text at path the documented way: a temp file renamed over it (ta_afile). */
static void publish(const char *path, const char *text) {
  ta_afile_t *af = NULL;
  assert_int_equal(ta_afile_open(path, &af), 0);
  fputs(text, ta_afile_stream(af));
  assert_int_equal(ta_afile_commit(af), 0);
}

static void test_read_file(void **state) {
  (void)state;
  char dir[] = "/tmp/ta-read-file-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char path[64], fifo[64], sub[64], line[256];
  snprintf(path, sizeof path, "%s/f", dir);
  snprintf(fifo, sizeof fifo, "%s/fifo", dir);
  snprintf(sub, sizeof sub, "%s/dir", dir);
  ta_buf_t b = {0};
  ta_diag_t d;

  publish(path, "hello\nworld\n");
  assert_int_equal(ta_read_file(path, 100, &b, &d), 0);
  assert_int_equal(b.len, 12);
  assert_memory_equal(b.p, "hello\nworld\n", 12);
  /* the copy is ours: the file rewritten in place and emptied does not touch it */
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fclose(f), 0);
  assert_memory_equal(b.p, "hello\nworld\n", 12);
  assert_int_equal(ta_read_file(path, 100, &b, &d), TA_EINVAL); /* out must be empty */
  ta_buf_free(&b);
  assert_int_equal(ta_read_file(path, 100, &b, &d), 0); /* an empty file is 0 bytes */
  assert_int_equal(b.len, 0);
  ta_buf_free(&b);

  /* bounded: max bytes pass, one more does not */
  publish(path, "0123456789");
  assert_int_equal(ta_read_file(path, 10, &b, &d), 0);
  assert_int_equal(b.len, 10);
  ta_buf_free(&b);
  assert_int_equal(ta_read_file(path, 9, &b, &d), TA_ETOOLONG);
  assert_null(b.p);
  assert_string_equal(ta_diag_format(&d, line, sizeof line) + strlen(dir),
                      "/f: larger than the limit of 9 bytes");

  /* in two steps: what is read is the file opened, whatever the path names by then */
  int fd = -1;
  uint64_t size = 0;
  assert_int_equal(ta_open_regular(path, &fd, &size, &d), 0);
  assert_true(fd >= 0);
  assert_int_equal(size, 10);
  publish(path, "another file at the path");
  assert_int_equal(ta_read_fd(fd, size, 10, &b, &d), 0);
  assert_int_equal(b.len, 10);
  assert_memory_equal(b.p, "0123456789", 10);
  ta_buf_free(&b);
  assert_int_equal(close(fd), 0);
  assert_int_equal(ta_open_regular(sub, &fd, &size, &d), TA_ENOENT); /* not made yet */
  assert_int_equal(fd, -1);
  publish(path, "0123456789");

  /* no writer on the FIFO: opening it for reading would block for good */
  assert_int_equal(mkfifo(fifo, 0600), 0);
  assert_int_equal(ta_read_file(fifo, 100, &b, &d), TA_ENOTREG);
  assert_null(b.p);
  assert_string_equal(ta_diag_format(&d, line, sizeof line) + strlen(dir),
                      "/fifo: a FIFO, not a regular file");
  assert_int_equal(mkdir(sub, 0700), 0);
  assert_int_equal(ta_read_file(sub, 100, &b, &d), TA_ENOTREG);
  assert_non_null(strstr(d.msg, "a directory"));
  assert_int_equal(ta_read_file("/dev/zero", 100, &b, &d), TA_ENOTREG);
  assert_non_null(strstr(d.msg, "a character device"));
  assert_null(b.p);

  assert_int_equal(unlink(fifo), 0);
  assert_int_equal(ta_read_file(fifo, 100, &b, &d), TA_ENOENT);
  assert_string_equal(ta_diag_format(&d, line, sizeof line) + strlen(dir),
                      "/fifo: cannot open: no such file or directory");
  assert_int_equal(ta_read_file(NULL, 100, &b, NULL), TA_EINVAL);
  assert_int_equal(rmdir(sub), 0);
  assert_int_equal(unlink(path), 0);
  assert_int_equal(rmdir(dir), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_u64), cmocka_unit_test(test_parse_double),
      cmocka_unit_test(test_fmt),       cmocka_unit_test(test_esc),
      cmocka_unit_test(test_hash),      cmocka_unit_test(test_errors_and_diag),
      cmocka_unit_test(test_memory),    cmocka_unit_test(test_read_file),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
