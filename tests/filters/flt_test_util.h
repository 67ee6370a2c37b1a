/* Helpers of the filter layer's unit tests (header-only: each test_*.c is its own binary). */
#ifndef TYPEAHEAD_FLT_TEST_UTIL_H
#define TYPEAHEAD_FLT_TEST_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "flt.h"

/* The rules of text, compiled; the test fails with the line and reason when they are refused. */
static flt_ruleset_t *compile_ok(const char *text) {
  flt_ruleset_t *rs = NULL;
  ta_diag_t err;
  int rc = flt_compile(text, strlen(text), &rs, &err);
  if (rc != 0)
    fail_msg("rules refused (%s): line %u: %s", ta_strerror(rc), (unsigned)err.line, err.msg);
  assert_non_null(rs);
  return rs;
}

#endif /* TYPEAHEAD_FLT_TEST_UTIL_H */
