/*
 * Unit tests of the per-worker answer cache (server/srv_cache.c): a hit gives back the body
 * kept for exactly that key, representation and market; other tags (another trie load, another
 * load of global's trie for a market's answer, other rules) miss and free the stale entry; keys
 * differing in one byte, in length, in representation or in market are different entries; the memory bound holds under churn; big answers are not kept; off
 * means off. (Exactness against the real server: tests/server/test_cache.py.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "srv_int.h"

static void put(srv_cache_t *c, int rep, const char *key, uint64_t gen, uint64_t rv,
                const char *body) {
  srv__cache_put(c, rep, 0, key, strlen(key), &(srv_ctag_t){gen, 0, rv, 0}, NULL, 0, body,
                 strlen(body));
}

/* The body cached for key, or NULL (as a NUL-terminated copy in out). */
static const char *get(srv_cache_t *c, int rep, const char *key, uint64_t gen, uint64_t rv,
                       char *out, size_t cap) {
  const srv_centry_t *e =
      srv__cache_find(c, rep, 0, key, strlen(key), &(srv_ctag_t){gen, 0, rv, 0});
  if (e == NULL) return NULL;
  const char *body;
  size_t n;
  srv__centry_body(e, &body, &n);
  assert_true(n < cap);
  memcpy(out, body, n);
  out[n] = '\0';
  return out;
}

static void test_hit_and_keys(void **state) {
  (void)state;
  srv_cache_t c;
  char buf[256];
  assert_int_equal(srv__cache_init(&c, 1 << 20, NULL, NULL), 0);
  assert_null(get(&c, 0, "q=ne", 1, 7, buf, sizeof buf));
  put(&c, 0, "q=ne", 1, 7, "{\"json\":1}");
  put(&c, 1, "q=ne", 1, 7, "msgpack");
  put(&c, 0, "q=ne&k=3", 1, 7, "{\"k\":3}");
  put(&c, 0, "q=n", 1, 7, "{\"n\":1}");
  assert_string_equal(get(&c, 0, "q=ne", 1, 7, buf, sizeof buf), "{\"json\":1}");
  assert_string_equal(get(&c, 1, "q=ne", 1, 7, buf, sizeof buf), "msgpack");
  assert_string_equal(get(&c, 0, "q=ne&k=3", 1, 7, buf, sizeof buf), "{\"k\":3}");
  assert_string_equal(get(&c, 0, "q=n", 1, 7, buf, sizeof buf), "{\"n\":1}");
  assert_null(get(&c, 0, "q=nf", 1, 7, buf, sizeof buf));
  assert_null(get(&c, 0, "q=ne+", 1, 7, buf, sizeof buf));
  assert_int_equal(c.entries, 4);
  /* A key with a NUL byte is a key like any other. */
  srv__cache_put(&c, 0, 0, "q=a\0b", 5, &(srv_ctag_t){1, 0, 7, 0}, NULL, 0, "nul", 3);
  assert_non_null(srv__cache_find(&c, 0, 0, "q=a\0b", 5, &(srv_ctag_t){1, 0, 7, 0}));
  assert_null(srv__cache_find(&c, 0, 0, "q=a\0c", 5, &(srv_ctag_t){1, 0, 7, 0}));
  /* Putting a key again replaces its entry. */
  put(&c, 0, "q=ne", 1, 7, "{\"json\":2}");
  assert_string_equal(get(&c, 0, "q=ne", 1, 7, buf, sizeof buf), "{\"json\":2}");
  assert_int_equal(c.entries, 5);
  srv__cache_free(&c);
  assert_int_equal(c.entries, 0);
  srv__cache_free(&c); /* twice is harmless */
}

static void test_stale_tags(void **state) {
  (void)state;
  srv_cache_t c;
  char buf[64];
  assert_int_equal(srv__cache_init(&c, 1 << 20, NULL, NULL), 0);
  put(&c, 0, "q=a", 1, 7, "old");
  size_t bytes = c.bytes;
  assert_null(get(&c, 0, "q=a", 2, 7, buf, sizeof buf)); /* another trie load */
  assert_int_equal(c.entries, 0);                        /* freed, not kept for later */
  assert_true(c.bytes < bytes);
  put(&c, 0, "q=a", 2, 7, "new");
  assert_null(get(&c, 0, "q=a", 2, 8, buf, sizeof buf)); /* other rules */
  assert_null(get(&c, 0, "q=a", 2, 7, buf, sizeof buf)); /* and it is gone */
  put(&c, 0, "q=a", 2, 8, "filtered");
  assert_string_equal(get(&c, 0, "q=a", 2, 8, buf, sizeof buf), "filtered");
  srv__cache_free(&c);
}

/* An answer that depends on more than its tags (a sharded node's, with other shards' word
 * matches): its own ETag comes back with it, and it is stale once its time is past. */
static void test_own_etag_and_expiry(void **state) {
  (void)state;
  srv_cache_t c;
  char buf[64];
  srv_ctag_t tag = {1, 0, 7, 0};
  assert_int_equal(srv__cache_init(&c, 1 << 20, NULL, NULL), 0);
  put(&c, 0, "q=plain", 1, 7, "plain");
  const srv_centry_t *e = srv__cache_find(&c, 0, 0, "q=plain", 7, &tag);
  assert_non_null(e);
  assert_null(srv__centry_etag(e));
  srv__cache_put(&c, 0, 0, "q=york", 6, &tag, "\"w0123456789abcdef-j\"", 60000, "merged", 6);
  e = srv__cache_find(&c, 0, 0, "q=york", 6, &tag);
  assert_non_null(e);
  assert_string_equal(srv__centry_etag(e), "\"w0123456789abcdef-j\"");
  assert_string_equal(get(&c, 0, "q=york", 1, 7, buf, sizeof buf), "merged");
  size_t bytes = c.bytes;
  srv__cache_put(&c, 0, 0, "q=new", 5, &tag, "\"w1-j\"", 20, "soon", 4); /* 20 ms */
  assert_non_null(srv__cache_find(&c, 0, 0, "q=new", 5, &tag));
  struct timespec ts = {0, 30000000}; /* 30 ms: past its 20 */
  nanosleep(&ts, NULL);
  assert_null(srv__cache_find(&c, 0, 0, "q=new", 5, &tag)); /* past its time: gone */
  assert_int_equal(c.bytes, bytes);                         /* and its bytes with it */
  assert_non_null(srv__cache_find(&c, 0, 0, "q=york", 6, &tag));
  /* an ETag too long to keep: the answer is not kept */
  char long_etag[300];
  memset(long_etag, 'e', sizeof long_etag - 1);
  long_etag[sizeof long_etag - 1] = '\0';
  srv__cache_put(&c, 0, 0, "q=long", 6, &tag, long_etag, 0, "x", 1);
  assert_null(srv__cache_find(&c, 0, 0, "q=long", 6, &tag));
  srv__cache_free(&c);
}

/* /metrics' gauges follow every change: a put, an eviction, a stale entry freed by a find. */
static void test_gauges(void **state) {
  (void)state;
  srv_cache_t c;
  _Atomic uint64_t bytes = 0, entries = 0;
  assert_int_equal(srv__cache_init(&c, 1 << 20, &bytes, &entries), 0);
  put(&c, 0, "q=a", 1, 7, "a");
  put(&c, 0, "q=b", 1, 7, "b");
  assert_int_equal(atomic_load(&entries), 2);
  assert_int_equal(atomic_load(&bytes), c.bytes);
  char buf[8];
  assert_null(get(&c, 0, "q=a", 2, 7, buf, sizeof buf)); /* stale: freed */
  assert_int_equal(atomic_load(&entries), 1);
  assert_int_equal(atomic_load(&bytes), c.bytes);
  srv__cache_free(&c);
}

static void test_bound(void **state) {
  (void)state;
  srv_cache_t c;
  char key[32], body[600], buf[700];
  const size_t max = 64 * 1024;
  assert_int_equal(srv__cache_init(&c, max, NULL, NULL), 0);
  memset(body, 'x', sizeof body - 1);
  body[sizeof body - 1] = '\0';
  size_t found = 0;
  for (int i = 0; i < 5000; i++) {
    snprintf(key, sizeof key, "q=%d", i);
    put(&c, 0, key, 1, 1, body);
    assert_true(c.bytes <= max);
    const char *got = get(&c, 0, key, 1, 1, buf, sizeof buf);
    if (got) {
      assert_string_equal(got, body);
      found++;
    }
  }
  assert_true(found > 0);
  assert_true(c.entries > 0 && c.entries < 5000);
  /* Every entry still found is the one put for its key. */
  for (int i = 0; i < 5000; i++) {
    snprintf(key, sizeof key, "q=%d", i);
    const char *got = get(&c, 0, key, 1, 1, buf, sizeof buf);
    if (got) assert_string_equal(got, body);
  }
  srv__cache_free(&c);
}

static void test_big_and_off(void **state) {
  (void)state;
  srv_cache_t c;
  assert_int_equal(srv__cache_init(&c, 1 << 20, NULL, NULL), 0);
  char *big = malloc(SRV_CACHE_MAX_BODY + 1);
  assert_non_null(big);
  memset(big, 'b', SRV_CACHE_MAX_BODY + 1);
  srv__cache_put(&c, 0, 0, "q=big", 5, &(srv_ctag_t){1, 0, 1, 0}, NULL, 0, big,
                 SRV_CACHE_MAX_BODY + 1);
  assert_null(srv__cache_find(&c, 0, 0, "q=big", 5, &(srv_ctag_t){1, 0, 1, 0}));
  srv__cache_put(&c, 0, 0, "q=big", 5, &(srv_ctag_t){1, 0, 1, 0}, NULL, 0, big, SRV_CACHE_MAX_BODY);
  assert_non_null(srv__cache_find(&c, 0, 0, "q=big", 5, &(srv_ctag_t){1, 0, 1, 0}));
  srv__cache_free(&c);

  assert_int_equal(srv__cache_init(&c, 0, NULL, NULL), 0); /* off */
  srv__cache_put(&c, 0, 0, "q=a", 3, &(srv_ctag_t){1, 0, 1, 0}, NULL, 0, "a", 1);
  assert_null(srv__cache_find(&c, 0, 0, "q=a", 3, &(srv_ctag_t){1, 0, 1, 0}));
  assert_int_equal(c.bytes, 0);
  srv__cache_free(&c);
  free(big);
}

/* Markets: the same query string routed to two markets is two entries; a market's answer is
 * stale once global's trie (which may have filled it) is another load. */
static void test_markets(void **state) {
  (void)state;
  srv_cache_t c;
  assert_int_equal(srv__cache_init(&c, 1 << 20, NULL, NULL), 0);
  srv_ctag_t de = {5, 1, 7, 0}, fr = {6, 1, 7, 0};
  srv__cache_put(&c, 0, 1, "q=b", 3, &de, NULL, 0, "de", 2);
  srv__cache_put(&c, 0, 2, "q=b", 3, &fr, NULL, 0, "fr", 2);
  srv__cache_put(&c, 0, 0, "q=b", 3, &(srv_ctag_t){1, 0, 7, 0}, NULL, 0, "global", 6);
  const char *body;
  size_t n;
  const srv_centry_t *e = srv__cache_find(&c, 0, 1, "q=b", 3, &de);
  assert_non_null(e);
  srv__centry_body(e, &body, &n);
  assert_int_equal(n, 2);
  assert_memory_equal(body, "de", 2);
  e = srv__cache_find(&c, 0, 2, "q=b", 3, &fr);
  assert_non_null(e);
  srv__centry_body(e, &body, &n);
  assert_memory_equal(body, "fr", 2);
  assert_null(srv__cache_find(&c, 0, 3, "q=b", 3, &de)); /* a market with nothing kept */
  assert_non_null(srv__cache_find(&c, 0, 0, "q=b", 3, &(srv_ctag_t){1, 0, 7, 0}));
  /* global swapped: de's answer may have been filled from the old global */
  assert_null(srv__cache_find(&c, 0, 1, "q=b", 3, &(srv_ctag_t){5, 2, 7, 0}));
  assert_null(srv__cache_find(&c, 0, 1, "q=b", 3, &de)); /* freed for good */
  assert_int_equal(c.entries, 2);
  /* a new trending trie: the answer it was mixed with is stale */
  srv__cache_put(&c, 0, 2, "q=t", 3, &(srv_ctag_t){6, 1, 7, 3}, NULL, 0, "t3", 2);
  assert_non_null(srv__cache_find(&c, 0, 2, "q=t", 3, &(srv_ctag_t){6, 1, 7, 3}));
  assert_null(srv__cache_find(&c, 0, 2, "q=t", 3, &(srv_ctag_t){6, 1, 7, 4}));
  srv__cache_free(&c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hit_and_keys), cmocka_unit_test(test_stale_tags),
      cmocka_unit_test(test_bound),        cmocka_unit_test(test_big_and_off),
      cmocka_unit_test(test_markets),      cmocka_unit_test(test_own_etag_and_expiry),
      cmocka_unit_test(test_gauges),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
