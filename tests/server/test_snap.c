/*
 * Unit tests of the hot-swap primitive (server/srv_snap.c) against a reference model: reader
 * threads acquire and release versions of several named slots while a writer publishes many
 * versions into each. Every version a reader gets belongs to the slot it asked for, is never
 * older than one it saw before, and is never freed while held; every replaced version is freed
 * exactly once, the last one stays current until the table goes. Also: lookups by name, the
 * ticks' order and result, the file watch. (Hot swap in the real server: test_swap.py.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "srv_int.h"

#define READERS 4
#define SLOTS 3
#define VERSIONS 1000 /* per slot */
#define MAGIC UINT64_C(0x5eed5eed5eed5eed)

static const char *const names[SLOTS] = {"trie", "rules", "trie:other"};

typedef struct {
  uint64_t magic;
  unsigned slot, seq; /* seq: 0, 1, ... in publication order within the slot */
} version_t;

static _Atomic unsigned freed[SLOTS][VERSIONS]; /* times each version was freed */
static _Atomic unsigned bad_free;               /* frees of something not a live version */

static void version_free(void *p) {
  version_t *v = p;
  if (v->magic != MAGIC || v->slot >= SLOTS || v->seq >= VERSIONS) {
    atomic_fetch_add(&bad_free, 1);
    return;
  }
  atomic_fetch_add(&freed[v->slot][v->seq], 1);
  v->magic = 0; /* a reader that still held it would see this (and ASan the free) */
  free(v);
}

static version_t *version_new(unsigned slot, unsigned seq) {
  version_t *v = malloc(sizeof *v);
  assert_non_null(v);
  *v = (version_t){MAGIC, slot, seq};
  return v;
}

typedef struct {
  srv_snaptab_t *tab;
  unsigned id;
  _Atomic int *stop;
  _Atomic unsigned *started;
  unsigned errors, seen;
} reader_t;

static void *reader_main(void *arg) {
  reader_t *r = arg;
  srv_snap_t *slot[SLOTS];
  unsigned last[SLOTS] = {0};
  for (unsigned s = 0; s < SLOTS; s++) slot[s] = srv__snap_find(r->tab, names[s]);
  atomic_fetch_add(r->started, 1);
  while (!atomic_load(r->stop)) {
    for (unsigned s = 0; s < SLOTS; s++) {
      const version_t *v = srv__snap_acquire(slot[s], r->id);
      if (v != NULL) {
        if (v->magic != MAGIC || v->slot != s || v->seq < last[s] ||
            atomic_load(&freed[s][v->seq]) != 0)
          r->errors++;
        else
          last[s] = v->seq;
        sched_yield(); /* hold it a while: the writer must wait for us */
        if (v->magic != MAGIC || atomic_load(&freed[s][v->seq]) != 0) r->errors++;
        r->seen++;
      }
      srv__snap_release(slot[s], r->id);
    }
  }
  return NULL;
}

static void test_publish_under_readers(void **state) {
  (void)state;
  memset(freed, 0, sizeof freed);
  srv_snaptab_t tab = {0};
  srv_snap_t *slot[SLOTS];
  for (unsigned s = 0; s < SLOTS; s++)
    assert_int_equal(srv__snap_add(&tab, names[s], READERS, version_free, &slot[s]), 0);
  srv_snap_t *dup = NULL;
  assert_int_equal(srv__snap_add(&tab, "rules", READERS, version_free, &dup), TA_EEXIST);
  assert_null(dup);
  for (unsigned s = 0; s < SLOTS; s++) {
    assert_ptr_equal(srv__snap_find(&tab, names[s]), slot[s]);
    assert_null(srv__snap_peek(slot[s]));
  }
  assert_null(srv__snap_find(&tab, "trie:"));

  _Atomic int stop = 0;
  _Atomic unsigned started = 0;
  reader_t rd[READERS];
  pthread_t th[READERS];
  for (unsigned i = 0; i < READERS; i++) {
    rd[i] = (reader_t){&tab, i, &stop, &started, 0, 0};
    assert_int_equal(pthread_create(&th[i], NULL, reader_main, &rd[i]), 0);
  }
  while (atomic_load(&started) < READERS) sched_yield();

  /* The model: what each slot holds after every publish. */
  version_t *model[SLOTS] = {NULL};
  for (unsigned seq = 0; seq < VERSIONS; seq++) {
    for (unsigned s = 0; s < SLOTS; s++) {
      version_t *v = version_new(s, seq);
      srv__snap_publish(slot[s], v);
      model[s] = v;
      assert_ptr_equal(srv__snap_peek(slot[s]), model[s]);
      if (seq > 0) assert_int_equal(atomic_load(&freed[s][seq - 1]), 1);
    }
  }
  atomic_store(&stop, 1);
  unsigned seen = 0;
  for (unsigned i = 0; i < READERS; i++) {
    assert_int_equal(pthread_join(th[i], NULL), 0);
    assert_int_equal(rd[i].errors, 0);
    seen += rd[i].seen;
  }
  assert_true(seen > 0);
  assert_int_equal(atomic_load(&bad_free), 0);
  for (unsigned s = 0; s < SLOTS; s++) {
    for (unsigned seq = 0; seq + 1 < VERSIONS; seq++)
      assert_int_equal(atomic_load(&freed[s][seq]), 1);
    assert_int_equal(atomic_load(&freed[s][VERSIONS - 1]), 0);
    assert_ptr_equal(srv__snap_peek(slot[s]), model[s]);
    assert_ptr_equal(srv__snap_find(&tab, names[s]), slot[s]);
  }
  srv__snaptab_free(&tab);
  for (unsigned s = 0; s < SLOTS; s++) assert_int_equal(atomic_load(&freed[s][VERSIONS - 1]), 1);
  assert_int_equal(tab.n, 0);
  assert_null(tab.slots);
}

static char tick_log[16];
static size_t tick_n;

static int tick(srv_snap_t *slot, void *arg, int forced) {
  (void)slot;
  const char *what = arg; /* "<letter><result digit>" */
  if (tick_n + 2 < sizeof tick_log) {
    tick_log[tick_n++] = what[0];
    tick_log[tick_n++] = forced ? 'F' : 'p';
  }
  return -(what[1] - '0');
}

static void test_ticks(void **state) {
  (void)state;
  srv_snaptab_t tab = {0};
  srv_snap_t *a, *b, *c, *d;
  assert_int_equal(srv__snap_add(&tab, "a", 1, version_free, &a), 0);
  assert_int_equal(srv__snap_add(&tab, "b", 1, version_free, &b), 0);
  assert_int_equal(srv__snap_add(&tab, "c", 1, version_free, &c), 0);
  assert_int_equal(srv__snap_add(&tab, "d", 1, version_free, &d), 0);
  srv__snap_on_tick(a, tick, "a0");
  srv__snap_on_tick(c, tick, "c3"); /* b has none */
  srv__snap_on_tick(d, tick, "d5");
  tick_n = 0;
  assert_int_equal(srv__snaptab_tick(&tab, 1), -3); /* the first failure */
  assert_int_equal(srv__snaptab_tick(&tab, 0), -3);
  tick_log[tick_n] = '\0';
  assert_string_equal(tick_log, "aFcFdFapcpdp"); /* every tick, in the order added */
  char longname[40];
  memset(longname, 'x', sizeof longname - 1);
  longname[sizeof longname - 1] = '\0';
  srv_snap_t *e;
  assert_int_equal(srv__snap_add(&tab, longname, 1, version_free, &e), TA_EINVAL);
  assert_int_equal(srv__snap_add(&tab, "e", 0, version_free, &e), TA_EINVAL);
  srv__snaptab_free(&tab);
  srv__snaptab_free(&tab); /* empty: a no-op */
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  fputs(text, f);
  assert_int_equal(fclose(f), 0);
}

static void test_watch(void **state) {
  (void)state;
  char dir[] = "/tmp/test_snap.XXXXXX";
  assert_non_null(mkdtemp(dir));
  char path[64], other[64];
  snprintf(path, sizeof path, "%s/f", dir);
  snprintf(other, sizeof other, "%s/g", dir);
  srv_watch_t w;
  srv__watch_init(&w, path);
  assert_int_equal(srv__watch_check(&w), TA_ENOENT);
  srv__watch_remember(&w); /* no file: nothing remembered */
  assert_int_equal(w.known, 0);
  write_file(path, "one\n");
  assert_int_equal(srv__watch_check(&w), 1); /* nothing known: changed */
  srv__watch_remember(&w);
  assert_int_equal(srv__watch_check(&w), 0);
  write_file(path, "three\n"); /* another size */
  assert_int_equal(srv__watch_check(&w), 1);
  srv__watch_remember(&w);
  assert_int_equal(srv__watch_check(&w), 0);
  write_file(other, "three\n"); /* renamed over: another inode */
  assert_int_equal(rename(other, path), 0);
  assert_int_equal(srv__watch_check(&w), 1);
  srv__watch_remember(&w);
  assert_int_equal(srv__watch_check(&w), 0);
  srv__watch_forget(&w);
  assert_int_equal(srv__watch_check(&w), 1);
  assert_int_equal(unlink(path), 0);
  assert_int_equal(srv__watch_check(&w), TA_ENOENT);
  assert_int_equal(rmdir(dir), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_publish_under_readers),
      cmocka_unit_test(test_ticks),
      cmocka_unit_test(test_watch),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
