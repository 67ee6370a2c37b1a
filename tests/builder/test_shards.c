/*
 * bld_write_shards (bld.h, SPEC §11): the same keys written whole and as N prefix shards. For
 * every prefix of every key (and a few that match nothing), the owning shard's answer (by the
 * first code point of the prefix's key, through the shards.map read back) must equal the whole
 * trie's, hit for hit; the empty prefix, merged over all shards by score then key, too. The
 * shards hold every key once, stay within 1.25x the mean, and a refused plan leaves no map.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../trie/trie_test_util.h"
#include "bld.h"

static const char *const FIRST[] = {"a", "b", "c", "d", "e",  "f",  "g",  "h",  "m", "n", "p", "s",
                                    "t", "w", "é", "ö", "北", "東", "서", "と", "ω", "😀", "1", "9"};
static const char *const REST[] = {"",   "a",        "e",    "ne",     "w york", "ar",  "s",  "京",
                                   "울", "うきょう", "mega", " pizza", "x",      "ine", "lo", " 2"};

static uint64_t rnd_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) {
  return tu_rng(&rnd_state);
}

typedef struct {
  char (*q)[64];
  size_t n;
} qset_t;

static qset_t gen(size_t n) {
  qset_t s = {calloc(n, sizeof *s.q), n};
  for (size_t i = 0; i < n; i++) {
    size_t f = rnd() % (sizeof FIRST / sizeof FIRST[0]);
    /* A few heavy first characters, many light ones, as real data has. */
    if (rnd() % 3 == 0) f = rnd() % 4;
    snprintf(s.q[i], sizeof s.q[i], "%s%s%s%u", FIRST[f], REST[rnd() % 16], REST[rnd() % 16],
             (unsigned)(rnd() % 50));
  }
  return s;
}

static bld_acc_t *acc_of(const qset_t *s) {
  bld_acc_t *acc = NULL;
  assert_int_equal(bld_acc_new(&acc), 0);
  for (size_t i = 0; i < s->n; i++) {
    double c = (double)(1 + (i * 7919) % 97); /* ties on purpose */
    assert_int_equal(bld_acc_add(acc, s->q[i], strlen(s->q[i]), c, c), 0);
  }
  return acc;
}

static char *dir;

static void check_same(const trie_hit_t *a, size_t na, const trie_hit_t *b, size_t nb,
                       const char *prefix) {
  if (na != nb) fail_msg("prefix '%s': %zu hits whole, %zu from the shard", prefix, na, nb);
  for (size_t i = 0; i < na; i++)
    if (a[i].score != b[i].score || a[i].text_len != b[i].text_len ||
        memcmp(a[i].text, b[i].text, a[i].text_len) != 0)
      fail_msg("prefix '%s', hit %zu: '%.*s' whole, '%.*s' from the shard", prefix, i,
               (int)a[i].text_len, a[i].text, (int)b[i].text_len, b[i].text);
}

/* Score descending, then key ascending: the order of one trie. */
typedef struct {
  trie_hit_t hit;
  char key[256];
  size_t key_len;
} keyed_t;

static int by_rank(const void *x, const void *y) {
  const keyed_t *a = x, *b = y;
  if (a->hit.score != b->hit.score) return a->hit.score > b->hit.score ? -1 : 1;
  return ta_bytes_cmp(a->key, a->key_len, b->key, b->key_len);
}

static void test_shards_answer_as_the_whole(void **state) {
  (void)state;
  assert_non_null(dir = tu_mkdtemp());
  qset_t s = gen(4000);
  bld_write_opts_t o = {.k = 10, .min_count = 1, .build_time = 1, .source = "test"};
  bld_summary_t sum;
  ta_diag_t d;
  char whole_path[256], path[256];
  snprintf(whole_path, sizeof whole_path, "%s/whole.trie", dir);
  bld_acc_t *acc = acc_of(&s);
  assert_int_equal(bld_write(acc, whole_path, &o, &sum, &d), 0);
  uint64_t total = sum.keys_written;
  bld_acc_free(acc);

  enum { NS = 4 };
  uint64_t keys[NS] = {0};
  acc = acc_of(&s);
  assert_int_equal(bld_write_shards(acc, dir, NS, NULL, &o, &sum, keys, &d), 0);
  bld_acc_free(acc);
  assert_int_equal(sum.keys_written, total);
  uint64_t added = 0, largest = 0;
  for (int i = 0; i < NS; i++) {
    added += keys[i];
    largest = keys[i] > largest ? keys[i] : largest;
  }
  assert_int_equal(added, total);
  assert_true((double)largest * NS <= TRIE_SHARD_MAX_SKEW * (double)total);

  trie_shard_map_t *m = NULL;
  snprintf(path, sizeof path, "%s/shards.map", dir);
  assert_int_equal(trie_shard_load(path, &m, &d), 0);
  assert_int_equal(trie_shard_count(m), NS);
  trie_reader_t *whole = NULL, *shard[NS] = {0};
  assert_int_equal(trie_open(whole_path, &whole), 0);
  for (int i = 0; i < NS; i++) {
    snprintf(path, sizeof path, "%s/shard-%d.trie", dir, i);
    assert_int_equal(trie_open(path, &shard[i]), 0);
    trie_info_t info;
    assert_int_equal(trie_get_info(shard[i], &info), 0);
    assert_int_equal(info.num_queries, keys[i]);
  }

  trie_hit_t a[10], b[10];
  size_t na, nb;
  char key[512], pfx[80];
  size_t klen;
  for (size_t i = 0; i < s.n; i++) {
    size_t len = strlen(s.q[i]);
    for (size_t cut = 1; cut <= len; cut++) {
      if (((unsigned char)s.q[i][cut - 1] & 0xC0) == 0x80 && cut < len &&
          ((unsigned char)s.q[i][cut] & 0xC0) == 0x80)
        continue; /* inside a character */
      if (cut < len && ((unsigned char)s.q[i][cut] & 0xC0) == 0x80) continue;
      memcpy(pfx, s.q[i], cut);
      pfx[cut] = '\0';
      assert_int_equal(trie_norm_prefix(pfx, cut, key, sizeof key, &klen), 0);
      if (klen == 0) continue;
      uint32_t cp;
      assert_int_equal(trie_shard_first_cp(key, klen, &cp), 0);
      trie_reader_t *owner = shard[trie_shard_of(m, cp)];
      trie_text_reset(tu_text()); /* the hits of the prefix before are checked */
      assert_int_equal(trie_lookup(whole, key, klen, 10, tu_text(), a, &na), 0);
      assert_int_equal(trie_lookup(owner, key, klen, 10, tu_text(), b, &nb), 0);
      check_same(a, na, b, nb, pfx);
    }
  }

  /* The empty prefix: every shard's best k, merged. */
  keyed_t merged[NS * 10];
  size_t nm = 0;
  for (int i = 0; i < NS; i++) {
    assert_int_equal(trie_lookup(shard[i], "", 0, 10, tu_text(), b, &nb), 0);
    for (size_t j = 0; j < nb; j++) {
      merged[nm].hit = b[j];
      assert_int_equal(trie_norm_key(b[j].text, b[j].text_len, merged[nm].key,
                                     sizeof merged[nm].key, &merged[nm].key_len),
                       0);
      nm++;
    }
  }
  qsort(merged, nm, sizeof *merged, by_rank);
  assert_int_equal(trie_lookup(whole, "", 0, 10, tu_text(), a, &na), 0);
  for (size_t j = 0; j < na && j < nm; j++) b[j] = merged[j].hit;
  check_same(a, na, b, na < nm ? na : nm, "");

  trie_close(whole);
  for (int i = 0; i < NS; i++) trie_close(shard[i]);
  trie_shard_free(m);
  free(s.q);
}

static void test_refused_plan_writes_nothing(void **state) {
  (void)state;
  char sub[300], path[340];
  snprintf(sub, sizeof sub, "%s/refused", dir);
  assert_int_equal(mkdir(sub, 0700), 0);
  bld_acc_t *acc = NULL;
  assert_int_equal(bld_acc_new(&acc), 0);
  for (int i = 0; i < 100; i++) {
    char q[32];
    snprintf(q, sizeof q, "a%d", i); /* 100 keys on 'a', one on 'b' */
    assert_int_equal(bld_acc_add(acc, q, strlen(q), 1, 1), 0);
  }
  assert_int_equal(bld_acc_add(acc, "b", 1, 1, 1), 0);
  bld_write_opts_t o = {.k = 10, .min_count = 1, .build_time = 1, .source = "test"};
  bld_summary_t sum;
  ta_diag_t d;
  char msg[300];
  assert_int_equal(bld_write_shards(acc, sub, 2, NULL, &o, &sum, NULL, &d), TA_ERANGE);
  assert_non_null(strstr(ta_diag_format(&d, msg, sizeof msg), "U+0061"));
  bld_acc_free(acc);
  snprintf(path, sizeof path, "%s/shards.map", sub);
  assert_int_equal(access(path, F_OK), -1);
  snprintf(path, sizeof path, "%s/shard-0.trie", sub);
  assert_int_equal(access(path, F_OK), -1);
}

static int cleanup(void **state) {
  (void)state;
  return tu_rmdir(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_shards_answer_as_the_whole),
      cmocka_unit_test(test_refused_plan_writes_nothing),
  };
  return cmocka_run_group_tests(tests, NULL, cleanup);
}
