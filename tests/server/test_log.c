/*
 * Unit tests of srv__log_esc (server/srv_log.c): how text from outside (a file name in
 * --trie-dir) goes into a log line. Control bytes and the backslash become \xNN, other bytes
 * stay; a result longer than the buffer is cut at a whole byte's escape and ends with "...".
 * The server's log itself: tests/server/test_markets.py (test_names_escaped).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "srv_int.h"

static void test_escapes(void **state) {
  (void)state;
  char buf[64];
  assert_string_equal(srv__log_esc("", buf, sizeof buf), "");
  assert_string_equal(srv__log_esc("de.trie", buf, sizeof buf), "de.trie");
  assert_string_equal(srv__log_esc("a\nb\r\t\x1b\x7f\x01", buf, sizeof buf),
                      "a\\x0ab\\x0d\\x09\\x1b\\x7f\\x01");
  /* the backslash too: an escaped name cannot be mistaken for a name that holds "\x0a" */
  assert_string_equal(srv__log_esc("a\\x0a", buf, sizeof buf), "a\\x5cx0a");
  /* UTF-8 and other printable bytes as they are */
  assert_string_equal(srv__log_esc("café Bad Name~", buf, sizeof buf), "café Bad Name~");
  assert_ptr_equal(srv__log_esc("x", buf, sizeof buf), buf);
}

static void test_cut(void **state) {
  (void)state;
  char buf[8];
  /* fits exactly: 7 bytes and the NUL */
  assert_string_equal(srv__log_esc("abcdefg", buf, sizeof buf), "abcdefg");
  assert_string_equal(srv__log_esc("abc\n", buf, sizeof buf), "abc\\x0a");
  /* one byte too many: cut, "..." added, never past the buffer */
  assert_string_equal(srv__log_esc("abcdefgh", buf, sizeof buf), "abcd...");
  /* an escape is never cut in two */
  assert_string_equal(srv__log_esc("ab\ncdefgh", buf, sizeof buf), "ab...");
  assert_string_equal(srv__log_esc("\n\n", buf, 4), "...");
  char big[4 * 255 + 1];
  char name[256];
  memset(name, '\n', 255);
  name[255] = '\0';
  assert_int_equal(strlen(srv__log_esc(name, big, sizeof big)), 4 * 255);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_escapes), cmocka_unit_test(test_cut)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
