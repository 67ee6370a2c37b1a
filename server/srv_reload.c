/*
 * The reload thread (SPEC §8 "Hot swap"): every reload happens here, off the request path. It
 * runs the ticks of the node's snapshot slots (srv__snaptab_tick: the trie's, then the rules')
 * every 250 ms, so that a file replaced by rename is picked up well within 2 s, and at once for
 * a ticket: SIGHUP and POST /admin/reload each take one, forcing every slot to reload, and POST
 * /admin/reload polls for its result from its worker's loop (srv__reload_poll never blocks). It knows the slots only through their ticks.
 */
#include "srv_int.h"

#include <errno.h>
#include <time.h>

#define RELOAD_POLL_MS 250

/* CLOCK_REALTIME + ms: the clock of the condition variables srv_new() sets up. */
static struct timespec deadline_in(long ms) {
  struct timespec dl;
  clock_gettime(CLOCK_REALTIME, &dl);
  dl.tv_sec += ms / 1000;
  dl.tv_nsec += (ms % 1000) * 1000000L;
  if (dl.tv_nsec >= 1000000000L) {
    dl.tv_sec++;
    dl.tv_nsec -= 1000000000L;
  }
  return dl;
}

static void *reload_main(void *arg) {
  srv_t *s = arg;
  pthread_mutex_lock(&s->reload_mu);
  while (!s->reload_stop) {
    if (s->reload_done == s->reload_requested) {
      struct timespec dl = deadline_in(RELOAD_POLL_MS);
      pthread_cond_timedwait(&s->reload_cv, &s->reload_mu, &dl);
      if (s->reload_stop) break;
    }
    uint64_t ticket = s->reload_requested;
    int forced = ticket != s->reload_done;
    pthread_mutex_unlock(&s->reload_mu);

    int rc = srv__snaptab_tick(&s->snaps, forced);

    pthread_mutex_lock(&s->reload_mu);
    if (forced) {
      s->reload_done = ticket;
      s->reload_result = rc;
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

int srv__reload_poll(srv_t *s, uint64_t ticket, int *result) {
  int done = 0;
  pthread_mutex_lock(&s->reload_mu);
  if (s->reload_done >= ticket) {
    /* A later reload may have run in the meantime; its result is the newer truth. */
    *result = s->reload_result;
    done = 1;
  } else if (s->reload_stop) {
    done = TA_EBUSY;
  }
  pthread_mutex_unlock(&s->reload_mu);
  return done;
}

int srv__reload_start(srv_t *s) {
  if (pthread_create(&s->reload_thread, NULL, reload_main, s) != 0) return TA_ESYS;
  s->reload_running = 1;
  return 0;
}

void srv__reload_stop(srv_t *s) {
  if (!s->reload_running) return;
  pthread_mutex_lock(&s->reload_mu);
  s->reload_stop = 1;
  pthread_cond_broadcast(&s->reload_cv);
  pthread_mutex_unlock(&s->reload_mu);
  pthread_join(s->reload_thread, NULL);
  s->reload_running = 0;
}
