/*
 * The current trie and its hot swap (SPEC §8 "Hot swap").
 *
 * References: each worker handles a request from start to reply inside one callback, so a
 * worker needs at most one reference at a time. It publishes the pointer it uses in its hazard
 * slot and re-reads the current pointer to make sure the publication happened before any swap
 * (hazard pointers, seq_cst). The reload thread swaps the pointer, then waits until no hazard
 * slot names the old trie before it unmaps it: a request in flight finishes on the old mapping,
 * and the request path never takes a lock or touches a shared counter.
 *
 * Reloads happen only on the reload thread, off the request path: SIGHUP and POST
 * /admin/reload hand it a ticket, and it polls the file's (dev, inode, mtime, size) every
 * 250 ms, so a file replaced by rename is picked up well within 2 s. A new file is opened and
 * fully verified (trie_verify) before the swap; a bad one is refused, logged and counted, and
 * the old trie keeps serving. A file that was refused is not retried until it changes (or a
 * reload is asked for).
 */
#include "srv_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STATE_POLL_MS 250

void srv__log(const char *fmt, ...) {
  char line[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  fprintf(stderr, "typeahead-serve: %s\n", line);
}

const srv_trie_t *srv__trie_acquire(srv_t *s, unsigned w) {
  srv_trie_t *t = atomic_load(&s->current);
  for (;;) {
    atomic_store(&s->hazard[w], t);
    srv_trie_t *again = atomic_load(&s->current);
    if (again == t) return t;
    t = again;
  }
}

void srv__trie_release(srv_t *s, unsigned w) {
  atomic_store_explicit(&s->hazard[w], NULL, memory_order_release);
}

static void state_trie_free(srv_trie_t *t) {
  if (t == NULL) return;
  trie_close(t->reader);
  free(t);
}

/* Waits until no worker holds old, then unmaps it. */
static void state_retire(srv_t *s, srv_trie_t *old) {
  if (old == NULL) return;
  for (unsigned w = 0; w < s->threads; w++) {
    while (atomic_load(&s->hazard[w]) == old) {
      struct timespec ts = {0, 100000};
      nanosleep(&ts, NULL);
    }
  }
  state_trie_free(old);
}

static void state_remember(srv_t *s, const struct stat *st) {
  s->watch_dev = st->st_dev;
  s->watch_ino = st->st_ino;
  s->watch_mtime = st->st_mtim;
  s->watch_size = st->st_size;
  s->watch_known = 1;
}

static int state_same(const srv_t *s, const struct stat *st) {
  return s->watch_known && s->watch_dev == st->st_dev && s->watch_ino == st->st_ino &&
         s->watch_mtime.tv_sec == st->st_mtim.tv_sec &&
         s->watch_mtime.tv_nsec == st->st_mtim.tv_nsec && s->watch_size == st->st_size;
}

int srv__trie_load(srv_t *s, const char *why) {
  struct stat st;
  int have_stat = stat(s->trie_path, &st) == 0;
  trie_reader_t *r = NULL;
  int rc = trie_open(s->trie_path, &r);
  /* The file may have been replaced between stat and open: remember the signature of what was
   * stat'ed so a later change is seen again (a spurious retry is harmless). */
  if (have_stat) state_remember(s, &st);
  ta_diag_t diag;
  ta_diag_init(&diag, s->trie_path);
  if (rc == 0) rc = trie_verify(r, &diag);
  if (rc != 0 && diag.code == 0) ta_diag_set(&diag, rc, "%s", "");
  srv_trie_t *t = NULL;
  if (rc == 0) {
    t = calloc(1, sizeof *t);
    if (t == NULL) rc = TA_ENOMEM;
  }
  if (rc == 0) rc = trie_get_info(r, &t->info);
  if (rc != 0) {
    trie_close(r);
    free(t);
    atomic_fetch_add(&s->reloads_failed, 1);
    atomic_store(&s->last_reload_failed_at, ta_unix_s());
    char where[512];
    srv__log("%s: refused %s (%s)", why, ta_diag_format(&diag, where, sizeof where),
             atomic_load(&s->current) ? "the old trie keeps serving" : "no trie loaded");
    return rc;
  }
  t->reader = r;
  t->gen = ++s->trie_gen_last;
  t->loaded_at = ta_unix_s();
  snprintf(t->version, sizeof t->version, "%08x", (unsigned)t->info.file_crc);
  srv_trie_t *old = atomic_exchange(&s->current, t);
  atomic_fetch_add(&s->reloads_ok, 1);
  srv__log("%s: loaded %s (version %s, %llu queries, k=%u)", why, s->trie_path, t->version,
           (unsigned long long)t->info.num_queries, (unsigned)t->info.k);
  state_retire(s, old);
  return 0;
}

static void *state_reload_main(void *arg) {
  srv_t *s = arg;
  pthread_mutex_lock(&s->reload_mu);
  while (!s->reload_stop) {
    if (s->reload_done == s->reload_requested) {
      struct timespec dl;
      clock_gettime(CLOCK_REALTIME, &dl);
      dl.tv_nsec += STATE_POLL_MS * 1000000L;
      if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
      }
      pthread_cond_timedwait(&s->reload_cv, &s->reload_mu, &dl);
      if (s->reload_stop) break;
    }
    uint64_t ticket = s->reload_requested;
    int forced = ticket != s->reload_done;
    pthread_mutex_unlock(&s->reload_mu);

    int rc = 0;
    if (forced) {
      rc = srv__trie_load(s, "reload");
    } else {
      struct stat st;
      if (stat(s->trie_path, &st) == 0 && !state_same(s, &st)) {
        rc = srv__trie_load(s, "file changed");
      }
    }
    srv__filters_tick(s, forced);

    pthread_mutex_lock(&s->reload_mu);
    if (forced) {
      s->reload_done = ticket;
      s->reload_result = rc;
      pthread_cond_broadcast(&s->reload_done_cv);
    }
  }
  pthread_mutex_unlock(&s->reload_mu);
  return NULL;
}

uint64_t srv__reload_request(srv_t *s) {
  pthread_mutex_lock(&s->reload_mu);
  uint64_t ticket = ++s->reload_requested;
  pthread_cond_signal(&s->reload_cv);
  pthread_mutex_unlock(&s->reload_mu);
  return ticket;
}

int srv__reload_wait(srv_t *s, uint64_t ticket, int *result) {
  struct timespec dl;
  clock_gettime(CLOCK_REALTIME, &dl);
  dl.tv_sec += 60;
  int rc = 0;
  pthread_mutex_lock(&s->reload_mu);
  while (s->reload_done < ticket && !s->reload_stop) {
    if (pthread_cond_timedwait(&s->reload_done_cv, &s->reload_mu, &dl) == ETIMEDOUT) {
      rc = TA_EBUSY;
      break;
    }
  }
  if (rc == 0 && s->reload_done < ticket) rc = TA_EBUSY;
  /* A later reload may have run in the meantime; its result is the newer truth. */
  if (rc == 0) *result = s->reload_result;
  pthread_mutex_unlock(&s->reload_mu);
  return rc;
}

int srv__reload_start(srv_t *s) {
  if (pthread_create(&s->reload_thread, NULL, state_reload_main, s) != 0) return TA_ESYS;
  s->reload_running = 1;
  return 0;
}

void srv__reload_stop(srv_t *s) {
  if (!s->reload_running) return;
  pthread_mutex_lock(&s->reload_mu);
  s->reload_stop = 1;
  pthread_cond_broadcast(&s->reload_cv);
  pthread_cond_broadcast(&s->reload_done_cv);
  pthread_mutex_unlock(&s->reload_mu);
  pthread_join(s->reload_thread, NULL);
  s->reload_running = 0;
}
