/* Unit tests of the error table (base/ta_error.c): every code has its own message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>

#include "trie.h"

static void test_every_code_has_a_distinct_message(void **state) {
  (void)state;
  static const int codes[] = {
#define X(name, value, msg) name,
      TA_ERROR_TABLE(X)
#undef X
  };
  size_t n = sizeof codes / sizeof codes[0];
  for (size_t i = 0; i < n; i++) {
    assert_true(codes[i] < 0);
    assert_string_not_equal(ta_strerror(codes[i]), "unknown error");
    for (size_t j = i + 1; j < n; j++) {
      assert_int_not_equal(codes[i], codes[j]);
      assert_string_not_equal(ta_strerror(codes[i]), ta_strerror(codes[j]));
    }
  }
  assert_string_equal(ta_strerror(0), "success");
  assert_string_equal(ta_strerror(-9999), "unknown error");
}

static void test_errno_mapping(void **state) {
  (void)state;
  assert_int_equal(ta_error_from_errno(ENOENT), TA_ENOENT);
  assert_int_equal(ta_error_from_errno(EACCES), TA_EACCES);
  assert_int_equal(ta_error_from_errno(ENOMEM), TA_ENOMEM);
  assert_int_equal(ta_error_from_errno(EXDEV), TA_ESYS);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_code_has_a_distinct_message),
      cmocka_unit_test(test_errno_mapping),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
