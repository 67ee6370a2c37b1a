/*
 * The trie format's edges (docs/FORMAT.md): metadata round trip, the empty trie, k = 1 and
 * k = 32, keys that are prefixes of other keys, a 300-byte key, a node with 157 children,
 * prefixes longer than every key, what the writer refuses, version and magic checks, and the
 * CRC32C implementation against known vectors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "trie_int.h"
#include "trie_test_util.h"

static trie_entry_t ent(const char *key, const char *display, double score) {
  trie_entry_t e;
  e.key = key;
  e.key_len = strlen(key);
  e.display = display;
  e.display_len = strlen(display);
  e.score = score;
  return e;
}

static trie_reader_t *write_open(const trie_entry_t *e, size_t n, uint32_t k) {
  char path[4200];
  snprintf(path, sizeof path, "%s/f.trie", tu_dir);
  assert_int_equal(tu_write(path, e, n, k, "unit test source", 1763800000), 0);
  trie_reader_t *r = NULL;
  assert_int_equal(trie_open(path, &r), 0);
  assert_int_equal(trie_verify(r, NULL), 0);
  return r;
}

/* Lookup as a string "text:score,text:score". */
static const char *ask(const trie_reader_t *r, const char *prefix, unsigned k) {
  static char out[8192];
  trie_hit_t hits[64];
  size_t nh;
  trie_text_reset(tu_text()); /* the answer before is a string already */
  assert_int_equal(trie_lookup(r, prefix, strlen(prefix), k, tu_text(), hits, &nh), 0);
  size_t len = 0;
  out[0] = '\0';
  for (size_t i = 0; i < nh; i++)
    len += (size_t)snprintf(out + len, sizeof out - len, "%s%.*s:%g", i ? "," : "",
                            (int)hits[i].text_len, hits[i].text, hits[i].score);
  return out;
}

static void test_metadata_round_trip(void **state) {
  (void)state;
  trie_entry_t e[] = {ent("new york", "New York", 10), ent("new", "new", 3)};
  trie_reader_t *r = write_open(e, 2, 7);
  trie_info_t info;
  assert_int_equal(trie_get_info(r, &info), 0);
  assert_int_equal(info.format_version, TRIE_FORMAT_VERSION);
  assert_int_equal(info.k, 7);
  assert_int_equal(info.num_queries, 2);
  assert_int_equal(info.num_nodes, 3); /* root, "new", " york" */
  assert_int_equal(info.build_time, 1763800000);
  assert_int_equal(info.source_len, strlen("unit test source"));
  assert_memory_equal(info.source, "unit test source", info.source_len);
  char path[4200];
  snprintf(path, sizeof path, "%s/f.trie", tu_dir);
  size_t len;
  uint8_t *img = tu_slurp(path, &len);
  assert_int_equal(info.file_size, len);
  assert_int_equal(info.file_crc, trie__load_u32(img + trie__load_u32(img + 16) - 4));
  free(img);
  trie_close(r);
  trie_close(NULL);
}

static void test_empty_trie(void **state) {
  (void)state;
  trie_reader_t *r = write_open(NULL, 0, 10);
  trie_info_t info;
  assert_int_equal(trie_get_info(r, &info), 0);
  assert_int_equal(info.num_queries, 0);
  assert_string_equal(ask(r, "", 10), "");
  assert_string_equal(ask(r, "a", 10), "");
  trie_close(r);
}

static void test_prefix_keys_and_ranking(void **state) {
  (void)state;
  trie_entry_t e[] = {ent("a", "A", 1),       ent("ab", "AB", 5), ent("abc", "ABC", 5),
                      ent("abcd", "ABCD", 2), ent("b", "B", 9),   ent("abd", "ABD", 5)};
  trie_reader_t *r = write_open(e, 6, 2);
  assert_string_equal(ask(r, "", 10), "B:9,AB:5");
  assert_string_equal(ask(r, "a", 10), "AB:5,ABC:5");
  assert_string_equal(ask(r, "a", 1), "AB:5");
  assert_string_equal(ask(r, "abc", 10), "ABC:5,ABCD:2");
  assert_string_equal(ask(r, "abcd", 10), "ABCD:2");
  assert_string_equal(ask(r, "abcde", 10), "");
  assert_string_equal(ask(r, "ab", 0), "");
  trie_close(r);
}

static void test_k1_and_k32(void **state) {
  (void)state;
  char keys[40][8];
  trie_entry_t e[40];
  for (int i = 0; i < 40; i++) {
    snprintf(keys[i], sizeof keys[i], "k%02d", i);
    e[i] = ent(keys[i], keys[i], (double)(i % 7));
  }
  trie_reader_t *r = write_open(e, 40, 1);
  assert_string_equal(ask(r, "k", 32), "k06:6");
  assert_string_equal(ask(r, "k1", 32), "k13:6");
  trie_close(r);
  r = write_open(e, 40, 32);
  trie_hit_t hits[40];
  size_t nh;
  assert_int_equal(trie_lookup(r, "k", 1, 40, tu_text(), hits, &nh), 0);
  assert_int_equal(nh, 32); /* capped at the file's k */
  for (size_t i = 1; i < nh; i++)
    assert_true(
        hits[i - 1].score > hits[i].score ||
        (hits[i - 1].score == hits[i].score && memcmp(hits[i - 1].text, hits[i].text, 3) < 0));
  trie_close(r);
}

static void test_long_key_and_wide_node(void **state) {
  (void)state;
  char longkey[301];
  memset(longkey, 'x', 300);
  longkey[300] = '\0';
  /* 157 children under "z" (every ASCII byte but NUL, every two-byte lead byte): more than
   * the flags byte holds, so the child count takes its escape. */
  static char kb[300][8];
  trie_entry_t e[300];
  size_t n = 0;
  char *long1 = strdup(longkey);
  e[n++] = ent(long1, long1, 1);
  longkey[299] = 'y';
  e[n++] = ent(strdup(longkey), longkey, 2);
  for (int c = 1; c < 0x80; c++) {
    kb[n][0] = 'z';
    kb[n][1] = (char)c;
    kb[n][2] = '\0';
    e[n] = ent(kb[n], kb[n], c);
    n++;
  }
  for (int c = 0xC2; c <= 0xDF; c++) {
    kb[n][0] = 'z';
    kb[n][1] = (char)c;
    kb[n][2] = (char)0x80;
    kb[n][3] = '\0';
    e[n] = ent(kb[n], kb[n], 0.5);
    n++;
  }
  trie_reader_t *r = write_open(e, n, 10);
  char want[700]; /* the display forms are the keys (verify: a stored text is its key's) */
  snprintf(want, sizeof want, "%s:2,%s:1", longkey, long1);
  assert_string_equal(ask(r, "x", 10), want);
  snprintf(want, sizeof want, "%s:2", longkey);
  assert_string_equal(ask(r, longkey, 10), want);
  char longer[400];
  memset(longer, 'x', sizeof longer);
  longer[399] = '\0';
  assert_string_equal(ask(r, longer, 10), "");
  assert_string_equal(ask(r, "zA", 10), "zA:65");
  assert_string_equal(ask(r, "z\xDF", 10), "z\xDF\x80:0.5");
  trie_hit_t hits[10];
  size_t nh;
  assert_int_equal(trie_lookup(r, "z", 1, 10, tu_text(), hits, &nh), 0);
  assert_int_equal(nh, 10);
  assert_true(hits[0].score == 127);
  free((char *)e[0].key);
  free((char *)e[1].key);
  trie_close(r);
}

static void test_empty_key(void **state) {
  (void)state;
  /* a text of the empty key: a soft hyphen, which keys drop */
  trie_entry_t e[] = {ent("", TU_OWN_DISPLAY, 2), ent("a", "a", 3), ent("b", "b", 1)};
  trie_reader_t *r = write_open(e, 3, 2);
  assert_string_equal(ask(r, "", 10), "a:3," TU_OWN_DISPLAY ":2");
  assert_string_equal(ask(r, "a", 10), "a:3");
  trie_close(r);
}

static int keep_none(void *ctx, const trie_hit_t *c) {
  (void)ctx;
  (void)c;
  return 0;
}

/* Keys "a", "aa", ... up to TA_MAX_KEY bytes: a chain 4096 nodes deep, so the writer's
 * recursion, verify's walk and both lookups meet the deepest trie a valid file can hold. */
static void test_deepest_chain(void **state) {
  (void)state;
  size_t n = TA_MAX_KEY;
  char *as = malloc(n);
  memset(as, 'a', n);
  trie_entry_t *e = calloc(n, sizeof *e);
  for (size_t i = 0; i < n; i++) {
    e[i].key = as;
    e[i].key_len = i + 1;
    e[i].display = as;
    e[i].display_len = i + 1;
    e[i].score = (double)((i * 7919) % 1000);
  }
  trie_reader_t *r = write_open(e, n, 4);
  trie_hit_t hits[8];
  size_t nh;
  /* The longest prefix has one completion: itself. */
  assert_int_equal(trie_lookup(r, as, n, 4, tu_text(), hits, &nh), 0);
  assert_int_equal(nh, 1);
  assert_int_equal(hits[0].text_len, n);
  /* A prefix of 4000 bytes: the 96 keys at least that long, best 4. */
  assert_int_equal(trie_lookup(r, as, 4000, 4, tu_text(), hits, &nh), 0);
  assert_int_equal(nh, 4);
  double best = -1;
  for (size_t i = 3999; i < n; i++)
    if (e[i].score > best) best = e[i].score;
  assert_true(hits[0].score == best);
  /* Dropping everything walks the whole chain and finds nothing. */
  assert_int_equal(trie_lookup_filtered(r, as, 1, 8, keep_none, NULL, tu_text(), hits, &nh), 0);
  assert_int_equal(nh, 0);
  trie_close(r);
  free(e);
  free(as);
}

static void test_writer_refuses_bad_input(void **state) {
  (void)state;
  char path[4200];
  snprintf(path, sizeof path, "%s/bad.trie", tu_dir);
  trie_entry_t dup[] = {ent("a", "a", 1), ent("b", "b", 1), ent("a", "A", 2)};
  assert_int_equal(tu_write(path, dup, 3, 10, "", 0), TA_EINVAL);
  trie_entry_t neg[] = {ent("a", "a", -1)};
  assert_int_equal(tu_write(path, neg, 1, 10, "", 0), TA_ERANGE);
  trie_entry_t nan[] = {ent("a", "a", 0.0 / 0.0)};
  assert_int_equal(tu_write(path, nan, 1, 10, "", 0), TA_ERANGE);
  trie_entry_t inf[] = {ent("a", "a", 1.0 / 0.0)};
  assert_int_equal(tu_write(path, inf, 1, 10, "", 0), TA_ERANGE);
  trie_entry_t badkey[] = {ent("a\xff", "a", 1)};
  assert_int_equal(tu_write(path, badkey, 1, 10, "", 0), TA_EUTF8);
  trie_entry_t baddisp[] = {ent("a", "\xc3", 1)};
  assert_int_equal(tu_write(path, baddisp, 1, 10, "", 0), TA_EUTF8);
  trie_entry_t ok[] = {ent("a", "a", 1)};
  assert_int_equal(tu_write(path, ok, 1, 0, "", 0), TA_EINVAL);
  assert_int_equal(tu_write(path, ok, 1, 33, "", 0), TA_EINVAL);
  static char big[TA_MAX_KEY + 2];
  memset(big, 'a', TA_MAX_KEY + 1);
  trie_entry_t toolong[] = {ent(big, "a", 1)};
  assert_int_equal(tu_write(path, toolong, 1, 10, "", 0), TA_ETOOLONG);
  /* Long duplicate keys that agree on more than one 8-byte chunk. */
  trie_entry_t dup2[] = {ent("abcdefghijklmnopq", "x", 1), ent("abcdefghijklmnop", "y", 1),
                         ent("abcdefghijklmnopq", "z", 3)};
  assert_int_equal(tu_write(path, dup2, 3, 10, "", 0), TA_EINVAL);
}

/* A write that fails says why: a full disk is TA_EDISKFULL (the operator's fix is space), not
 * "input/output error". Large enough that stdio's buffer cannot hide it until fflush. */
static void test_writer_full_disk(void **state) {
  (void)state;
  FILE *full = fopen("/dev/full", "w"); /* every write: ENOSPC (Linux) */
  assert_non_null(full);
  enum { N = 3000 };
  trie_entry_t *e = calloc(N, sizeof *e);
  char(*keys)[16] = calloc(N, sizeof *keys);
  assert_non_null(e);
  assert_non_null(keys);
  for (size_t i = 0; i < N; i++) {
    snprintf(keys[i], sizeof keys[i], "key %05zu", i);
    e[i] = ent(keys[i], keys[i], (double)(N - i));
  }
  trie_write_opts_t o = {.k = 10, .source = "full", .build_time = 1};
  assert_int_equal(trie_write(full, e, N, &o), TA_EDISKFULL);
  fclose(full);
  free(keys);
  free(e);
}

/* Writes a valid file, patches header fields, fixes the header CRC, reopens. */
static int open_patched(size_t field, uint32_t value, int fix_crc) {
  trie_entry_t e[] = {ent("a", "a", 1)};
  char path[4200];
  snprintf(path, sizeof path, "%s/p.trie", tu_dir);
  assert_int_equal(tu_write(path, e, 1, 10, "", 0), 0);
  size_t len;
  uint8_t *img = tu_slurp(path, &len);
  trie__store_u32(img + field, value);
  uint32_t hsize = trie__load_u32(img + 16);
  if (fix_crc && hsize <= len && hsize >= 4)
    trie__store_u32(img + hsize - 4, trie__crc32c(0, img, hsize - 4));
  trie_reader_t *r = NULL;
  int rc = trie__open_mem(img, len, &r);
  trie_close(r);
  free(img);
  return rc;
}

static void test_versions_and_magic(void **state) {
  (void)state;
  /* A file needing a newer reader is refused as a version problem, not as corruption. */
  assert_int_equal(open_patched(12, TRIE_FORMAT_VERSION + 1, 1), TA_EVERSION);
  assert_int_equal(open_patched(12, TRIE_FORMAT_VERSION + 1, 0), TA_EVERSION);
  /* A newer writer whose files this reader may read is accepted. */
  assert_int_equal(open_patched(8, TRIE_FORMAT_VERSION + 5, 1), 0);
  assert_int_equal(open_patched(8, TRIE_FORMAT_VERSION + 5, 0), TA_ECHECKSUM);
  assert_int_equal(open_patched(0, 0x12345678, 1), TA_EBADMAGIC);
  assert_int_equal(open_patched(16, 9999, 0), TA_ECORRUPT);
  assert_int_equal(open_patched(20, 2, 1), TA_ECORRUPT);
}

static void test_crc32c_vectors(void **state) {
  (void)state;
  assert_int_equal(trie__crc32c_sw(0, "123456789", 9), 0xE3069283u);
  assert_int_equal(trie__crc32c(0, "123456789", 9), 0xE3069283u);
  assert_int_equal(trie__crc32c_sw(0, "", 0), 0);
  uint8_t zeros[32] = {0}, ones[32];
  memset(ones, 0xff, sizeof ones);
  /* RFC 3720 B.4 test vectors. */
  assert_int_equal(trie__crc32c_sw(0, zeros, 32), 0x8A9136AAu);
  assert_int_equal(trie__crc32c_sw(0, ones, 32), 0x62A8AB43u);
  assert_int_equal(trie__crc32c(0, zeros, 32), 0x8A9136AAu);
  assert_int_equal(trie__crc32c(0, ones, 32), 0x62A8AB43u);
  /* Incremental = one shot, both paths, every split and odd length. */
  uint8_t buf[300];
  uint64_t st = 5;
  for (size_t i = 0; i < sizeof buf; i++) buf[i] = (uint8_t)tu_rng(&st);
  for (size_t len = 0; len <= sizeof buf; len += 7) {
    uint32_t whole = trie__crc32c_sw(0, buf, len);
    assert_int_equal(trie__crc32c(0, buf, len), whole);
    for (size_t cut = 0; cut <= len; cut += 5)
      assert_int_equal(trie__crc32c(trie__crc32c_sw(0, buf, cut), buf + cut, len - cut), whole);
  }
}

static void test_bad_arguments(void **state) {
  (void)state;
  trie_entry_t e[] = {ent("a", "a", 1)};
  trie_reader_t *r = write_open(e, 1, 10);
  trie_hit_t hits[4];
  size_t nh = 7;
  assert_int_equal(trie_lookup(r, NULL, 3, 4, tu_text(), hits, &nh), TA_EINVAL);
  assert_int_equal(nh, 0);
  assert_int_equal(trie_lookup(r, NULL, 0, 4, tu_text(), hits, &nh), 0);
  assert_int_equal(nh, 1);
  assert_int_equal(trie_lookup(NULL, "a", 1, 4, tu_text(), hits, &nh), TA_EINVAL);
  assert_int_equal(trie_lookup_filtered(r, "a", 1, 4, NULL, NULL, tu_text(), hits, &nh), TA_EINVAL);
  assert_int_equal(trie_verify(NULL, NULL), TA_EINVAL);
  assert_int_equal(trie_open(NULL, &r), TA_EINVAL);
  assert_int_equal(trie_write(NULL, e, 1, NULL), TA_EINVAL);
  trie_close(r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_metadata_round_trip),
      cmocka_unit_test(test_empty_trie),
      cmocka_unit_test(test_prefix_keys_and_ranking),
      cmocka_unit_test(test_k1_and_k32),
      cmocka_unit_test(test_long_key_and_wide_node),
      cmocka_unit_test(test_empty_key),
      cmocka_unit_test(test_deepest_chain),
      cmocka_unit_test(test_writer_refuses_bad_input),
      cmocka_unit_test(test_writer_full_disk),
      cmocka_unit_test(test_versions_and_magic),
      cmocka_unit_test(test_crc32c_vectors),
      cmocka_unit_test(test_bad_arguments),
  };
  return cmocka_run_group_tests(tests, tu_setup_dir, tu_teardown_dir);
}
