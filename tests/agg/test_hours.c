/* Unit tests of the hour names of the tables module (tbl_hour_of_unix, tbl_hour_name,
 * tbl_hour_parse; docs/TABLES.md "Hour tables"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "tbl.h"

static void test_name_of_known_hours(void **state) {
  (void)state;
  char name[TBL_WEEK_STR];
  tbl_hour_name(tbl_hour_of_unix(1146484800), name); /* 2006-05-01T12:00:00Z */
  assert_string_equal(name, "2006-05-01T12");
  tbl_hour_name(tbl_hour_of_unix(1146484800 + 3599), name);
  assert_string_equal(name, "2006-05-01T12");
  tbl_hour_name(tbl_hour_of_unix(0), name);
  assert_string_equal(name, "1970-01-01T00");
  tbl_hour_name(tbl_hour_of_unix(-1), name); /* floor, not truncation */
  assert_string_equal(name, "1969-12-31T23");
  tbl_hour_name(tbl_hour_of_unix(951825600), name); /* 2000-02-29T12:00:00Z */
  assert_string_equal(name, "2000-02-29T12");
}

static void test_parse_round_trips(void **state) {
  (void)state;
  char name[TBL_WEEK_STR];
  for (int64_t h = -20000; h < 20000000; h += 7919) {
    int64_t back = 0;
    tbl_hour_name(h, name);
    assert_int_equal(tbl_hour_parse(name, strlen(name), &back), 0);
    assert_int_equal(back, h);
  }
}

static void test_parse_refuses_other_forms(void **state) {
  (void)state;
  static const char *bad[] = {"2006-05-01T24",  "2006-02-30T01",  "2006-05-01 12",
                              "2006-05-01T1",   "2006-05-01T123", "2006-W18",
                              "2006-05-01T12Z", "abcd-ef-ghTij",  ""};
  int64_t h = 42;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_int_equal(tbl_hour_parse(bad[i], strlen(bad[i]), &h), TA_EPARSE);
  assert_int_equal(h, 42);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_name_of_known_hours),
      cmocka_unit_test(test_parse_round_trips),
      cmocka_unit_test(test_parse_refuses_other_forms),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
