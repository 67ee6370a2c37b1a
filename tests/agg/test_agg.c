/* Unit tests of the aggregator's parts (builder/agg/agg_*.c): ISO weeks, timestamps, line parsing,
 * the week table format, including hostile table files, and the ledger and an input's identity
 * (known, grown, new). The counter's tests are in test_counter.c. */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <msgpack.h>

#include "agg_int.h"
#include "agg_test_util.h"
#include "../trie/trie_test_util.h"

static tbl_week_t week_of(const char *ts) {
  int64_t t;
  assert_int_equal(tbl_parse_time(ts, strlen(ts), &t), 0);
  return tbl_week_of_unix(t);
}

static void test_iso_weeks(void **state) {
  (void)state;
  static const struct {
    const char *ts, *name, *monday;
  } cases[] = {
      {"2006-03-01 07:33:28", "2006-W09", "2006-02-27"},
      {"2006-03-05T23:59:59Z", "2006-W09", "2006-02-27"}, /* Sunday, last second */
      {"2006-03-06T00:00:00Z", "2006-W10", "2006-03-06"}, /* Monday, first second */
      {"2026-11-22T13:45:00Z", "2026-W47", "2026-11-16"},
      {"2021-01-03 12:00:00", "2020-W53", "2020-12-28"}, /* ISO year differs */
      {"2008-12-29T00:00:00Z", "2009-W01", "2008-12-29"},
      {"1970-01-01T00:00:00Z", "1970-W01", "1969-12-29"},
      {"1969-12-28T23:59:59Z", "1969-W52", "1969-12-22"},
      {"2000-02-29T10:00:00Z", "2000-W09", "2000-02-28"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char name[TBL_WEEK_STR], date[TBL_WEEK_STR];
    tbl_week_t w = week_of(cases[i].ts);
    tbl_week_name(w, name);
    tbl_week_date(w, date);
    assert_string_equal(name, cases[i].name);
    assert_string_equal(date, cases[i].monday);
    tbl_week_t back;
    assert_int_equal(tbl_week_parse(name, strlen(name), &back), 0);
    assert_int_equal(back, w);
    assert_int_equal(tbl_week_parse(date, strlen(date), &back), 0);
    assert_int_equal(back, w);
  }
  /* Every week from 1900 to 2100 names itself and parses back; Mondays step by 7 days. */
  for (tbl_week_t w = -3650; w < 6800; w++) {
    char name[TBL_WEEK_STR];
    tbl_week_name(w, name);
    tbl_week_t back;
    assert_int_equal(tbl_week_parse(name, 8, &back), 0);
    assert_int_equal(back, w);
    assert_int_equal(tbl_week_start_unix(w + 1) - tbl_week_start_unix(w), 7 * 86400);
    assert_int_equal(tbl_week_of_unix(tbl_week_start_unix(w)), w);
    assert_int_equal(tbl_week_of_unix(tbl_week_start_unix(w) - 1), w - 1);
  }
  tbl_week_t w;
  assert_int_equal(tbl_week_parse("2021-W53", 8, &w), TA_EPARSE); /* 2021 has 52 weeks */
  assert_int_equal(tbl_week_parse("2020-W53", 8, &w), 0);
  assert_int_equal(tbl_week_parse("2020-W00", 8, &w), TA_EPARSE);
  assert_int_equal(tbl_week_parse("2021-02-29", 10, &w), TA_EPARSE);
}

static void test_timestamps(void **state) {
  (void)state;
  static const struct {
    const char *s;
    int64_t t;
  } good[] = {
      {"0", 0},
      {"1141603200", 1141603200},
      {"12345678", 12345678},
      {"0000000001", 1},
      {"98765432101", INT64_C(98765432101)},
      {"253402300799", INT64_C(253402300799)},
      {"2006-03-06T00:00:00Z", 1141603200},
      {"2006-03-06 00:00:00", 1141603200},
      {"2006-03-06t00:00:00z", 1141603200},
      {"2006-03-06T00:00:00.999Z", 1141603200},
      {"2006-03-06T02:00:00+02:00", 1141603200},
      {"2006-03-05T19:00:00-0500", 1141603200},
      {"2006-03-06T01:00:00+01", 1141603200},
      /* the first and last seconds of years 1..9999, with offsets and a leap second */
      {"0001-01-01T00:00:00Z", INT64_C(-62135596800)},
      {"0001-01-01T00:30:00+00:30", INT64_C(-62135596800)},
      {"0001-01-01T01:00:00+01:00", INT64_C(-62135596800)},
      {"9999-12-31T23:59:59Z", INT64_C(253402300799)},
      {"9999-12-31T22:59:59-01:00", INT64_C(253402300799)},
      {"9999-12-31T23:59:60+00:01", INT64_C(253402300740)},
      {"2016-12-31T23:59:60Z", INT64_C(1483228800)},
  };
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    int64_t t = -1;
    assert_int_equal(tbl_parse_time(good[i].s, strlen(good[i].s), &t), 0);
    assert_int_equal(t, good[i].t);
    /* Its week's and hour's names are read back: the tables written for it can be read. */
    char name[TBL_WEEK_STR];
    tbl_week_t w;
    int64_t h;
    tbl_week_name(tbl_week_of_unix(t), name);
    assert_int_equal(tbl_week_parse(name, strlen(name), &w), 0);
    assert_int_equal(w, tbl_week_of_unix(t));
    tbl_hour_name(tbl_hour_of_unix(t), name);
    assert_int_equal(tbl_hour_parse(name, strlen(name), &h), 0);
    assert_int_equal(h, tbl_hour_of_unix(t));
  }
  static const char *bad[] = {
      "", "-5", "12a", "1234567890123", "11416032a0", "1141/03200", "114160320:", "1141603200 ",
      ("1\x80" /* a byte that is no digit, then digits */
       "41603200"),
      "2006-02-30 00:00:00", "2006-13-01 00:00:00", "2006-03-06 24:00:00", "2006-03-06 00:60:00",
      "2006-03-06T00:00:00Zjunk", "2006-03-06", "2006/03/06 00:00:00", "2006-03-06T00:00:00+2",
      "2006-03-06T00:00:00.Z", "0000-01-01 00:00:00",
      /* years 0 and 10000 in UTC: no table name for them */
      "0001-01-01T00:00:00+01:00", "0001-01-01T00:30:00+01:00", "0001-01-01T00:59:59+01",
      "9999-12-31T23:59:60Z", "9999-12-31T23:00:00-01:00", "9999-12-31T23:30:00-01:00"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int64_t t;
    assert_int_equal(tbl_parse_time(bad[i], strlen(bad[i]), &t), TA_EPARSE);
  }
}

static void test_parse_lines(void **state) {
  (void)state;
  agg__parser_t p;
  tbl_week_t w;
  size_t len;
  agg_bad_t why;
  assert_int_equal(agg__parser_init(&p, AGG_FORMAT_TSV, 0), 0);
  assert_int_equal(
      tt_parse(&p, "1141603200\t  Caf\xc3\xa9 \xe2\x80\x83 au  lait\r", &w, &len, &why),
      AGG__LINE_EVENT);
  assert_int_equal(len, strlen("Caf\xc3\xa9 au lait"));
  assert_memory_equal(p.spelling, "Caf\xc3\xa9 au lait", len);
  /* NFC: e + combining acute becomes one code point. */
  assert_int_equal(tt_parse(&p, "1141603200\tCafe\xcc\x81", &w, &len, &why), AGG__LINE_EVENT);
  assert_int_equal(len, 5);
  assert_memory_equal(p.spelling, "Caf\xc3\xa9", 5);
  assert_int_equal(tt_parse(&p, "", &w, &len, &why), AGG__LINE_SKIP);
  assert_int_equal(tt_parse(&p, "no tab here", &w, &len, &why), AGG__LINE_BAD);
  assert_int_equal(why, AGG_BAD_FIELDS);
  assert_int_equal(tt_parse(&p, "1\tq\t2006-03-01 07:33:28\t\t", &w, &len, &why), AGG__LINE_BAD);
  assert_int_equal(why, AGG_BAD_EXTRA);
  assert_int_equal(tt_parse(&p, "yesterday\tq", &w, &len, &why), AGG__LINE_BAD);
  assert_int_equal(why, AGG_BAD_TIMESTAMP);
  /* The parser remembers the last month: its other days still parse, and are still checked. */
  assert_int_equal(tt_parse(&p, "2006-02-01 00:00:00\tq", &w, &len, &why), AGG__LINE_EVENT);
  assert_int_equal(tt_parse(&p, "2006-02-30 00:00:00\tq", &w, &len, &why), AGG__LINE_BAD);
  assert_int_equal(why, AGG_BAD_TIMESTAMP);
  assert_int_equal(tt_parse(&p, "2006-02-00 00:00:00\tq", &w, &len, &why), AGG__LINE_BAD);
  assert_int_equal(tt_parse(&p, "2006-02-2x 00:00:00\tq", &w, &len, &why), AGG__LINE_BAD);
  assert_int_equal(tt_parse(&p, "2006-02-28T23:59:59Z\tq", &w, &len, &why), AGG__LINE_EVENT);
  assert_int_equal(w, tbl_week_of_unix(1141171199)); /* 2006-02-28T23:59:59Z */
  assert_int_equal(tt_parse(&p, "2008-02-29 00:00:00\tq", &w, &len, &why), AGG__LINE_EVENT);
  assert_int_equal(tt_parse(&p, "2007-02-29 00:00:00\tq", &w, &len, &why), AGG__LINE_BAD);
  /* Weeks of negative and large times, against the definition. */
  static const int64_t times[] = {-1000000000, -259201, -259200, -1,
                                  0,           345599,  345600,  253402300799};
  for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
    int64_t t = times[i], days = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
    int64_t d3 = days + 3, want_w = d3 >= 0 ? d3 / 7 : -((-d3 + 6) / 7);
    assert_int_equal(tbl_week_of_unix(t), want_w);
  }
  assert_int_equal(tt_parse(&p, "1\t\xc3\x28", &w, &len, &why), AGG__LINE_BAD);
  assert_int_equal(why, AGG_BAD_UTF8);
  assert_int_equal(tt_parse(&p, "1\t \x01  ", &w, &len, &why), AGG__LINE_BAD);
  assert_int_equal(why, AGG_BAD_EMPTY);
  char *longq = malloc(TBL_MAX_QUERY + 40);
  memcpy(longq, "1\t", 2);
  memset(longq + 2, 'x', TBL_MAX_QUERY + 1);
  longq[TBL_MAX_QUERY + 3] = 0;
  assert_int_equal(tt_parse(&p, longq, &w, &len, &why), AGG__LINE_BAD);
  assert_int_equal(why, AGG_BAD_TOOLONG);
  longq[TBL_MAX_QUERY + 2] = 0; /* exactly the limit */
  assert_int_equal(tt_parse(&p, longq, &w, &len, &why), AGG__LINE_EVENT);
  free(longq);
  agg__parser_free(&p);

  /* The shortcut for spellings already in display form gives what trie_norm_display gives:
   * printable ASCII, spaces (runs, ends), Latin letters, and the non-ASCII characters it must
   * leave to the normalizer (C1 controls, NEL, NO-BREAK SPACE, a combining accent, EM SPACE). */
  static const char *pieces[] = {" ",        " ",        "\t",       "\xc2\x80",
                                 "\xc2\x85", "\xc2\xa0", "\xc2\xa1", "\xc3\xa9",
                                 "\xc3\xbc", "\xcb\xbf", "\xcc\x81", "\xe2\x80\x83"};
  assert_int_equal(agg__parser_init(&p, AGG_FORMAT_TSV, 0), 0);
  uint64_t seed = 42;
  for (int i = 0; i < 40000; i++) {
    char line[128] = "7\t", want[128];
    size_t n = 2, chars = (size_t)(i % 24), wlen;
    int latin = i % 3 != 0;
    for (size_t j = 0; j < chars; j++) {
      seed = seed * 6364136223846793005u + 1442695040888963407u;
      if ((seed >> 20) % 5 == 0) {
        line[n++] = ' ';
      } else if (latin && (seed >> 24) % 4 == 0) {
        const char *pc = pieces[(seed >> 28) % (sizeof pieces / sizeof pieces[0])];
        memcpy(line + n, pc, strlen(pc));
        n += strlen(pc);
      } else {
        line[n++] = (char)(0x20 + (seed >> 33) % 0x5f);
      }
    }
    line[n] = 0;
    int nrc = trie_norm_display(line + 2, n - 2, want, sizeof want, &wlen);
    int rc = tt_parse(&p, line, &w, &len, &why);
    if (memchr(line + 2, '\t', n - 2)) continue; /* a third field: test_markets.c */
    if (nrc == 0 && wlen > 0) {
      assert_int_equal(rc, AGG__LINE_EVENT);
      assert_int_equal(len, wlen);
      assert_memory_equal(p.spelling, want, len);
    } else {
      assert_int_equal(rc, AGG__LINE_BAD);
    }
  }
  agg__parser_free(&p);

  /* AOL: the header is skipped; (AnonID, Query, QueryTime) repeats count once, adjacent or not;
   * another AnonID starts afresh. */
  assert_int_equal(agg__parser_init(&p, AGG_FORMAT_AOL, 0), 0);
  assert_int_equal(tt_parse(&p, "AnonID\tQuery\tQueryTime\tItemRank\tClickURL", &w, &len, &why),
                   AGG__LINE_SKIP);
  assert_int_equal(tt_parse(&p, "1\tebay\t2006-03-01 07:33:28\t1\thttp://a", &w, &len, &why),
                   AGG__LINE_EVENT);
  assert_int_equal(tt_parse(&p, "1\tebay\t2006-03-01 07:33:28\t2\thttp://b", &w, &len, &why),
                   AGG__LINE_DUP);
  assert_int_equal(tt_parse(&p, "1\tgoogle\t2006-03-01 07:33:28", &w, &len, &why), AGG__LINE_EVENT);
  assert_int_equal(tt_parse(&p, "1\tebay\t2006-03-01 07:33:28\t\t", &w, &len, &why), AGG__LINE_DUP);
  assert_int_equal(tt_parse(&p, "1\tebay\t2006-03-01 07:40:00\t\t", &w, &len, &why),
                   AGG__LINE_EVENT);
  assert_int_equal(tt_parse(&p, "2\tebay\t2006-03-01 07:33:28\t\t", &w, &len, &why),
                   AGG__LINE_EVENT);
  assert_int_equal(tt_parse(&p, "2\t-\t2006-03-01 07:33:28\t\t", &w, &len, &why), AGG__LINE_BAD);
  assert_int_equal(why, AGG_BAD_EMPTY);
  assert_int_equal(tt_parse(&p, "2\tebay", &w, &len, &why), AGG__LINE_BAD);
  assert_int_equal(why, AGG_BAD_FIELDS);
  agg__parser_free(&p);

  /* --sample keeps about 1 in N, the same ones every time. */
  assert_int_equal(agg__parser_init(&p, AGG_FORMAT_TSV, 10), 0);
  int kept = 0, kept2 = 0;
  for (int i = 0; i < 10000; i++) {
    char line[64];
    snprintf(line, sizeof line, "%d\tquery %d", 1000000 + i, i);
    if (tt_parse(&p, line, &w, &len, &why) == AGG__LINE_EVENT) kept++;
    if (tt_parse(&p, line, &w, &len, &why) == AGG__LINE_EVENT) kept2++;
  }
  assert_int_equal(kept, kept2);
  assert_true(kept > 800 && kept < 1200);
  agg__parser_free(&p);
}

static void write_table(const char *path, tbl_week_t w, int n) {
  unlink(path);
  tbl_writer_t *wr;
  assert_int_equal(tbl_writer_open(path, w, &wr), 0);
  for (int i = 0; i < n; i++) {
    char s[32];
    int k = snprintf(s, sizeof s, "query %05d", i);
    assert_int_equal(tbl_writer_add(wr, s, (size_t)k, (uint64_t)i * 1000 + 1), 0);
  }
  assert_int_equal(tbl_writer_close(wr), 0);
}

static void test_table_round_trip_and_msgpack(void **state) {
  (void)state;
  char path[300];
  tbl_week_t w = week_of("2006-03-01 07:33:28");
  snprintf(path, sizeof path, "%s/2006-W09.msgpack", tu_dir);
  write_table(path, w, 3000);
  const char *msg;
  tbl_reader_t *t;
  assert_int_equal(tt_read(path, NULL, 0, &msg, &t), 3000);
  assert_int_equal(tbl_reader_week(t), w);
  assert_string_equal(msg, "");
  tbl_reader_close(t);

  /* Standard msgpack: msgpack-c's own unpacker reads the same map. */
  size_t n;
  char *b = tt_slurp(path, &n);
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  size_t off = 0;
  assert_int_equal(msgpack_unpack_next(&u, b, n, &off), MSGPACK_UNPACK_SUCCESS);
  assert_int_equal(off, n);
  msgpack_object o = u.data;
  assert_int_equal(o.type, MSGPACK_OBJECT_MAP);
  assert_int_equal(o.via.map.size, 8);
  static const char *keys[] = {"format",     "version", "norm",   "week",
                               "week_start", "counts",  "events", "markets"};
  for (int i = 0; i < 8; i++) {
    msgpack_object_kv *kv = &o.via.map.ptr[i];
    assert_int_equal(kv->key.type, MSGPACK_OBJECT_STR);
    assert_int_equal(kv->key.via.str.size, strlen(keys[i]));
    assert_memory_equal(kv->key.via.str.ptr, keys[i], strlen(keys[i]));
  }
  assert_memory_equal(o.via.map.ptr[0].val.via.str.ptr, "typeahead-week", 14);
  assert_int_equal(o.via.map.ptr[1].val.via.u64, TBL_VERSION);
  assert_int_equal(o.via.map.ptr[2].val.via.u64, TRIE_NORM_VERSION);
  assert_memory_equal(o.via.map.ptr[3].val.via.str.ptr, "2006-W09", 8);
  assert_memory_equal(o.via.map.ptr[4].val.via.str.ptr, "2006-02-27", 10);
  assert_int_equal(o.via.map.ptr[5].val.type, MSGPACK_OBJECT_MAP);
  assert_int_equal(o.via.map.ptr[5].val.via.map.size, 3000);
  assert_int_equal(o.via.map.ptr[5].val.via.map.ptr[2999].val.via.u64, 2999001);
  uint64_t sum = 0;
  for (int i = 0; i < 3000; i++) sum += (uint64_t)i * 1000 + 1;
  assert_int_equal(o.via.map.ptr[6].val.via.u64, sum);
  assert_int_equal(o.via.map.ptr[7].val.via.map.size, 0); /* no market */
  msgpack_unpacked_destroy(&u);

  /* Writing the same rows again gives the same bytes. */
  char path2[300];
  snprintf(path2, sizeof path2, "%s/again.msgpack", tu_dir);
  write_table(path2, w, 3000);
  size_t n2;
  char *b2 = tt_slurp(path2, &n2);
  assert_int_equal(n, n2);
  assert_memory_equal(b, b2, n);
  free(b2);

  /* The writer refuses rows out of order, repeated, empty or zero. */
  tbl_writer_t *wr;
  unlink(path2);
  assert_int_equal(tbl_writer_open(path2, w, &wr), 0);
  assert_int_equal(tbl_writer_add(wr, "b", 1, 1), 0);
  assert_int_equal(tbl_writer_add(wr, "a", 1, 1), TA_EINVAL);
  assert_int_equal(tbl_writer_add(wr, "b", 1, 1), TA_EINVAL);
  assert_int_equal(tbl_writer_add(wr, "", 0, 1), TA_EINVAL);
  assert_int_equal(tbl_writer_add(wr, "c", 1, 0), TA_EINVAL);
  tbl_writer_abort(wr);
  assert_int_not_equal(access(path2, F_OK), 0);
  free(b);
}

static void fifo_hung(int sig) {
  (void)sig;
  static const char m[] = "tbl_reader_open of a FIFO still blocks after 10 s\n";
  (void)!write(2, m, sizeof m - 1);
  _exit(1);
}

static void test_hostile_tables(void **state) {
  (void)state;
  char path[300], bad[300];
  tbl_week_t w = week_of("2006-03-01 07:33:28");
  snprintf(path, sizeof path, "%s/2006-W09.msgpack", tu_dir);
  snprintf(bad, sizeof bad, "%s/bad.msgpack", tu_dir);
  write_table(path, w, 50);
  size_t n;
  char *b = tt_slurp(path, &n);
  const char *msg;
  tbl_reader_t *t;
  /* Every truncation is an error with a message, never a crash; most byte flips are caught. */
  tt_cut_and_flip(bad, b, n);
  /* Wrong types, a huge claimed map and trailing bytes. HDR: a valid header up to "counts". */
#define BYTES(lit) lit, sizeof(lit) - 1
#define VER        \
  "\x87\xa6"       \
  "format"         \
  "\xae"           \
  "typeahead-week" \
  "\xa7"           \
  "version"
#define NORM \
  "\x02\xa4" \
  "norm"     \
  "\x02"
#define HDR        \
  VER NORM         \
      "\xa4"       \
      "week"       \
      "\xa8"       \
      "2006-W09"   \
      "\xaa"       \
      "week_start" \
      "\xaa"       \
      "2006-02-27" \
      "\xa6"       \
      "counts"
  static const tt_case_t cases[] = {
      {BYTES("\x93\x01\x02\x03"), TA_EBADMAGIC, "not a typeahead week table"},
      {BYTES("\x86\xa6"
             "format"
             "\xa5"
             "other"),
       TA_EBADMAGIC, "format"},
      {BYTES(VER "\x04"), TA_EVERSION, "version 4"},
      {BYTES(VER "\x01"), TA_ENORMVERSION, "rebuild with this version"},
      {BYTES(VER "\xa1"
                 "1"),
       TA_ECORRUPT, "unsigned integer"},
      {BYTES(VER NORM "\xa4"
                      "week"
                      "\xa8"
                      "2006-W60"),
       TA_ECORRUPT, "YYYY-Www"},
      {BYTES(HDR "\xdf\xff\xff\xff\xff"), TA_ETRUNC, "ends"},
      {BYTES(HDR "\x81\x01\x01"), TA_ECORRUPT, "expected a string"},
      {BYTES(HDR "\x82\xa1"
                 "b"
                 "\x01\xa1"
                 "a"
                 "\x01"),
       TA_ECORRUPT, "out of order"},
      {BYTES(HDR "\x81\xa1"
                 "a"
                 "\x02"
                 "\xa6"
                 "events"
                 "\x02"
                 "\x00"),
       TA_ECORRUPT, "after the end"},
      {BYTES(HDR "\x81\xa1"
                 "a"
                 "\x02"
                 "\xa6"
                 "events"
                 "\x03"),
       TA_ECORRUPT, "add up"},
      {BYTES(HDR "\x81\xa2"
                 "\xc3\x28"
                 "\x02"),
       TA_ECORRUPT, "UTF-8"},
  };
  tt_check_cases(bad, cases, sizeof cases / sizeof cases[0]);
  /* A table whose name says another week. */
  char other[300];
  snprintf(other, sizeof other, "%s/2006-W10.msgpack", tu_dir);
  tt_spit(other, b, n);
  assert_int_equal(tt_read(other, NULL, 0, &msg, &t), TA_ECORRUPT);
  assert_non_null(strstr(msg, "its name says"));
  tbl_reader_close(t);
  unlink(other);
  free(b);
  /* Not a regular file under a table's name: refused at once. A FIFO blocked the open until a
   * writer came (the alarm fails the test instead of hanging it). */
  assert_int_equal(mkfifo(other, 0644), 0);
  signal(SIGALRM, fifo_hung);
  alarm(10);
  assert_int_equal(tt_read(other, NULL, 0, &msg, &t), TA_ENOTREG);
  alarm(0);
  assert_non_null(strstr(msg, "2006-W10.msgpack: a FIFO, not a regular file"));
  tbl_reader_close(t);
  unlink(other);
  assert_int_equal(mkdir(other, 0755), 0);
  assert_int_equal(tt_read(other, NULL, 0, &msg, &t), TA_ENOTREG);
  assert_non_null(strstr(msg, "a directory, not a regular file"));
  tbl_reader_close(t);
  rmdir(other);
}

/* Writes text as DIR/ledger and reads it back: the reader's result, its message in msg. */
static int read_ledger(const char *text, agg__ledger_t *l, char *msg, size_t cap) {
  char path[300];
  snprintf(path, sizeof path, "%s/ledger", tu_dir);
  tt_spit(path, text, strlen(text));
  memset(l, 0, sizeof *l);
  msg[0] = 0;
  int rc = agg__ledger_read(tu_dir, l, msg, cap);
  unlink(path);
  return rc;
}

#define HEX_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HEX_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define X_C "cccccccccccccccccccccccccccccccc"
#define X_D "dddddddddddddddddddddddddddddddd"
#define V2 "# typeahead-aggregate ledger v2: sha256<TAB>bytes<TAB>head<TAB>events<TAB>name\n"
#define V3 "# typeahead-aggregate ledger v3: digest<TAB>bytes<TAB>head<TAB>events<TAB>name\n"

static void test_ledger_versions_and_hostile_rows(void **state) {
  (void)state;
  agg__ledger_t l;
  char msg[512];
  /* Version 3: XXH3-128 rows and the SHA-256 rows of older ledgers side by side, every field
   * read, each row's digest kind told by its length. */
  assert_int_equal(read_ledger(V3 HEX_A "\t5000\t" HEX_B "\t7\tlog a\n" HEX_B "\t9\t-\t1\tb\n" X_C
                                        "\t6000\t" X_D "\t8\tlog c\n",
                               &l, msg, sizeof msg),
                   0);
  assert_int_equal(l.n, 3);
  assert_int_equal(l.rows[0].bytes, 5000);
  assert_int_equal(l.rows[0].alg, AGG__SHA256);
  assert_string_equal(l.rows[0].head, HEX_B);
  assert_string_equal(l.rows[1].head, "");
  assert_int_equal(l.rows[2].alg, AGG__XXH128);
  assert_string_equal(l.rows[2].hex, X_C);
  assert_string_equal(l.rows[2].head, X_D);
  assert_true(agg__ledger_has(&l, AGG__SHA256, HEX_B, 0));
  assert_false(agg__ledger_has(&l, AGG__SHA256, HEX_B, 1)); /* only its v1 row has it */
  assert_true(agg__ledger_has(&l, AGG__XXH128, X_C, 1));
  assert_false(agg__ledger_has(&l, AGG__SHA256, X_C, 0)); /* a digest is of one kind */
  assert_true(agg__ledger_has_v1_size(&l, 9));
  assert_false(agg__ledger_has_v1_size(&l, 5000));
  assert_false(agg__ledger_has_v1_size(&l, 6000));
  agg__ledger_free(&l);
  /* Version 2: SHA-256 rows, kept as they are (a v2 line is a v3 line). */
  assert_int_equal(read_ledger(V2 HEX_A "\t5000\t" HEX_B "\t7\tlog a\n", &l, msg, sizeof msg), 0);
  assert_int_equal(l.n, 1);
  assert_int_equal(l.rows[0].alg, AGG__SHA256);
  assert_string_equal(l.rows[0].line, HEX_A "\t5000\t" HEX_B "\t7\tlog a\n");
  agg__ledger_free(&l);
  /* Version 1 (and no version line at all): rows become lines with head "-". */
  static const char *const v1[] = {
      "# typeahead-aggregate ledger v1: sha256<TAB>bytes<TAB>events<TAB>name\n" HEX_A
      "\t12\t3\tx.log\n",
      HEX_A "\t12\t3\tx.log\n"};
  for (size_t i = 0; i < 2; i++) {
    assert_int_equal(read_ledger(v1[i], &l, msg, sizeof msg), 0);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.rows[0].line, HEX_A "\t12\t-\t3\tx.log\n");
    assert_true(agg__ledger_has_v1_size(&l, 12));
    agg__ledger_free(&l);
  }
  /* Hostile rows: a clear error naming the line, nothing guessed. */
  static const struct {
    const char *text;
    const char *msg;
  } bad[] = {
      {V2 "zz" HEX_A "\t1\t" HEX_B "\t1\tn\n", "not a version 2 row"},   /* not a digest */
      {V2 HEX_A "\t1\t" HEX_B "\t1\n", "not a version 2 row"},           /* a field missing */
      {V2 HEX_A "\tx\t" HEX_B "\t1\tn\n", "not a version 2 row"},        /* bytes not a number */
      {V2 HEX_A "\t1\tnot-a-head\t1\tn\n", "not a version 2 row"},       /* head not a digest */
      {V2 HEX_A "\t1\t" HEX_B "\t-1\tn\n", "not a version 2 row"},       /* events not a number */
      {V2 HEX_A "\t1\t" HEX_B "\t1\tno newline", "not a version 2 row"}, /* cut */
      {V2 X_C "\t1\t" X_D "\t1\tn\n", "not a version 2 row"},            /* v2 had no XXH3 */
      {V3 X_C "\t1\t" HEX_B "\t1\tn\n", "not a version 3 row"},          /* head of another kind */
      {V3 X_C "\t1\t-\t1\tn\n", "not a version 3 row"},                  /* "-" is for v1 rows */
      {V3 X_C "c\t1\t" X_D "\t1\tn\n", "not a version 3 row"},           /* 33 digits */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_int_equal(read_ledger(bad[i].text, &l, msg, sizeof msg), TA_ECORRUPT);
    assert_non_null(strstr(msg, "ledger: line 2: "));
    assert_non_null(strstr(msg, bad[i].msg));
    agg__ledger_free(&l);
  }
  assert_int_equal(read_ledger("# typeahead-aggregate ledger v4: ...\n", &l, msg, sizeof msg),
                   TA_EVERSION);
  assert_non_null(strstr(msg, "version 4 is not known"));
  agg__ledger_free(&l);
}

/* What agg__plan makes of a content against a ledger holding one row for `old`: a row this
 * aggregator wrote (XXH3-128), or, with alg AGG__SHA256, the row of a version 2 ledger. */
static void plan_of(agg__alg_t alg, const char *old, size_t old_len, const char *input, size_t len,
                    agg__plan_t *p) {
  agg__ledger_t l = {0};
  char path[300], hex[AGG__HEX], head[AGG__HEX], err[256];
  snprintf(path, sizeof path, "%s/input", tu_dir);
  if (alg == AGG__SHA256) {
    char text[512];
    assert_int_equal(agg__digest_hex(AGG__SHA256, old, old_len, hex), 0);
    assert_int_equal(
        agg__digest_hex(AGG__SHA256, old, old_len < AGG__HEAD ? old_len : AGG__HEAD, head), 0);
    snprintf(text, sizeof text, V2 "%s\t%zu\t%s\t1\told\n", hex, old_len, head);
    assert_int_equal(read_ledger(text, &l, err, sizeof err), 0);
  } else {
    tt_spit(path, old, old_len);
    int fd = open(path, O_RDONLY);
    assert_int_equal(agg__plan(&l, fd, "old", (char[4096]){0}, 4096, p, err, sizeof err), 0);
    /* A new content: counted whole, hashed on the way (as agg__ingest_input does). */
    assert_int_equal(p->from, 0);
    agg__sum_update(p->at_from, old, old_len);
    assert_int_equal(agg__sum_hex(p->at_from, hex), 0);
    agg__plan_free(p);
    memcpy(head, p->head, sizeof head);
    close(fd);
    assert_int_equal(agg__ledger_add(&l, hex, head, old_len, 1, "old"), 0);
  }
  tt_spit(path, input, len);
  int fd = open(path, O_RDONLY);
  assert_int_equal(agg__plan(&l, fd, "input", (char[4096]){0}, 4096, p, err, sizeof err), 0);
  close(fd);
  unlink(path);
  agg__ledger_free(&l);
}

static void test_plan_known_grown_new(void **state) {
  (void)state;
  size_t n = 3 * AGG__HEAD; /* longer than the head, and not a multiple of a line */
  char *a = malloc(2 * n), *b = malloc(2 * n);
  for (size_t i = 0; i < 2 * n; i++) a[i] = i % 37 == 36 ? '\n' : (char)('a' + i % 26);
  memcpy(b, a, 2 * n);
  b[n + 5] ^= 1;
  static const agg__alg_t algs[] = {AGG__XXH128, AGG__SHA256};
  for (size_t k = 0; k < 2; k++) {
    agg__alg_t alg = algs[k];
    agg__plan_t p;
    plan_of(alg, a, n, a, n, &p); /* the same content: known */
    assert_true(p.known);
    agg__plan_free(&p);
    plan_of(alg, a, n, a, 2 * n, &p); /* grown: counted from n on, lines before n known */
    assert_false(p.known);
    assert_int_equal(p.from, n);
    assert_int_equal(p.lines, n / 37);
    assert_int_equal(p.midline, a[n - 1] != '\n');
    assert_int_equal(p.length, 2 * n);
    /* The state at n goes on over the new part to the XXH3-128 of the whole content (the new
     * row's digest, whatever kind the old row was). */
    char want[AGG__HEX], got[AGG__HEX];
    assert_non_null(p.at_from);
    agg__sum_update(p.at_from, a + n, n);
    assert_int_equal(agg__sum_hex(p.at_from, got), 0);
    assert_int_equal(agg__digest_hex(AGG__XXH128, a, 2 * n, want), 0);
    assert_string_equal(got, want);
    assert_string_equal(p.hex, want);
    agg__plan_free(&p);
    plan_of(alg, a, n, a + 1, n, &p); /* other first bytes: a new log, counted whole */
    assert_false(p.known);
    assert_int_equal(p.from, 0);
    agg__plan_free(&p);
    plan_of(alg, a, 100, a, 100, &p); /* short logs (all in the head) are known */
    assert_true(p.known);
    agg__plan_free(&p);
    plan_of(alg, a, 100, a, 150, &p); /* and grow too */
    assert_false(p.known);
    assert_int_equal(p.from, 100);
    agg__plan_free(&p);
    plan_of(alg, a, 2 * n, b, 2 * n, &p); /* the same length, one byte changed: not known */
    assert_false(p.known);
    assert_int_equal(p.from, 0);
    agg__plan_free(&p);
  }
  free(b);
  free(a);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_iso_weeks),
      cmocka_unit_test(test_timestamps),
      cmocka_unit_test(test_parse_lines),
      cmocka_unit_test(test_table_round_trip_and_msgpack),
      cmocka_unit_test(test_hostile_tables),
      cmocka_unit_test(test_ledger_versions_and_hostile_rows),
      cmocka_unit_test(test_plan_known_grown_new),
  };
  return cmocka_run_group_tests(tests, tu_setup_dir, tu_teardown_dir);
}
