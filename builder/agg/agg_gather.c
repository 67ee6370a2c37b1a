/*
 * The final merge of a run's partitions (agg_int.h, agg__gather_*): the partition counters are
 * finished (sorted, their spilled runs merged) on several threads at once, then their sorted
 * streams, which hold disjoint (week, spelling) pairs, are merged into one.
 *
 * With more than one partition, a feed thread per partition reads its counter's stream into
 * chunks of records, CHUNKS of CHUNK bytes in a ring, and the calling thread merges the chunks'
 * heads; so reading the runs back overlaps across partitions and with the caller's work.
 */
#include "agg_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Record in a chunk: week (4 bytes), len (4), count (8), the bytes, padded to 8. */
#define CHUNK (256u << 10)
#define CHUNKS 3
#define REC_HEAD 16
#define MAX_THREADS 8

/* A partition's current pair in the merge. */
typedef struct {
  int have;
  tbl_week_t w;
  const char *s;
  size_t len;
  uint64_t count;
  uint64_t key; /* agg__prefix_key(s, len) */
} head_t;

typedef struct {
  agg__counter_t *c;
  pthread_t th;
  int started;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  char *chunk[CHUNKS];
  size_t used[CHUNKS];  /* bytes of records in a full chunk */
  uint64_t full, taken; /* chunks filled by the thread; chunks the reader is done with */
  int end, rc;          /* the stream ended: rc is 0 or its error */
  int stop;             /* the reader gives up early (an error): the thread ends */
  size_t pos;           /* the reader's place in chunk[taken % CHUNKS] */
  size_t cur_used;      /* the reader's: bytes of records in that chunk, read under mu once */
  int in_hand;          /* the reader's: it holds that chunk (taken, not yet handed back) */
} feed_t;

struct agg__gather {
  agg__counter_t *const *parts;
  unsigned n;
  head_t *head;
  feed_t *feed; /* NULL with one partition: its stream is read directly */
  int pending;  /* the partition whose head was returned last: advanced next time */
};

/* ---- Finishing the partitions in parallel ------------------------------------------------- */

typedef struct {
  agg__counter_t *const *parts;
  unsigned n, first, step;
  int rc, started;
  pthread_t th;
} finisher_t;

static void *finish_main(void *arg) {
  finisher_t *f = arg;
  for (unsigned p = f->first; p < f->n && !f->rc; p += f->step)
    f->rc = agg__counter_finish(f->parts[p]);
  return NULL;
}

/* Thread i finishes the partitions p with p % threads == i; the calling thread is thread 0, and
 * does the share of a thread that could not start. */
static int finish_all(agg__counter_t *const *parts, unsigned n, unsigned threads) {
  finisher_t f[MAX_THREADS];
  if (threads > n) threads = n;
  if (threads > MAX_THREADS) threads = MAX_THREADS;
  if (threads < 1) threads = 1;
  for (unsigned i = 0; i < threads; i++) {
    f[i] = (finisher_t){.parts = parts, .n = n, .first = i, .step = threads};
    if (i > 0) f[i].started = pthread_create(&f[i].th, NULL, finish_main, &f[i]) == 0;
  }
  finish_main(&f[0]);
  int rc = f[0].rc;
  for (unsigned i = 1; i < threads; i++) {
    if (f[i].started)
      pthread_join(f[i].th, NULL);
    else
      finish_main(&f[i]);
    if (!rc) rc = f[i].rc;
  }
  return rc;
}

/* ---- Feeds -------------------------------------------------------------------------------- */

static void *feed_main(void *arg) {
  feed_t *f = arg;
  int rc = 0;
  for (;;) {
    pthread_mutex_lock(&f->mu);
    while (f->full - f->taken == CHUNKS && !f->stop) pthread_cond_wait(&f->cv, &f->mu);
    int stop = f->stop;
    pthread_mutex_unlock(&f->mu);
    if (stop) break;
    char *ch = f->chunk[f->full % CHUNKS];
    size_t used = 0;
    tbl_week_t w;
    const char *s;
    size_t len;
    uint64_t count;
    /* Records while one more of the longest fits. */
    while (used + REC_HEAD + TBL_MAX_KEY + 8 <= CHUNK &&
           (rc = agg__counter_next(f->c, &w, &s, &len, &count)) == 1) {
      uint32_t l32 = (uint32_t)len;
      memcpy(ch + used, &w, 4);
      memcpy(ch + used + 4, &l32, 4);
      memcpy(ch + used + 8, &count, 8);
      memcpy(ch + used + REC_HEAD, s, len);
      used += REC_HEAD + ((len + 7) & ~(size_t)7);
    }
    pthread_mutex_lock(&f->mu);
    f->used[f->full % CHUNKS] = used;
    f->full++;
    if (rc != 1) {
      f->end = 1;
      f->rc = rc < 0 ? rc : 0;
    }
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    if (rc != 1) break;
  }
  return NULL;
}

/* The next record of partition p into its head. */
static int head_next(agg__gather_t *g, unsigned p) {
  head_t *h = &g->head[p];
  if (!g->feed) {
    int rc = agg__counter_next(g->parts[p], &h->w, &h->s, &h->len, &h->count);
    h->have = rc == 1;
    if (h->have) h->key = agg__prefix_key(h->s, h->len);
    return rc < 0 ? rc : 0;
  }
  feed_t *f = &g->feed[p];
  for (;;) {
    if (f->pos < f->cur_used) { /* the chunk in hand: no lock needed */
      const char *r = f->chunk[f->taken % CHUNKS] + f->pos;
      uint32_t l32;
      memcpy(&h->w, r, 4);
      memcpy(&l32, r + 4, 4);
      memcpy(&h->count, r + 8, 8);
      h->s = r + REC_HEAD;
      h->len = l32;
      h->key = agg__prefix_key(h->s, h->len);
      h->have = 1;
      f->pos += REC_HEAD + ((h->len + 7) & ~(size_t)7);
      return 0;
    }
    pthread_mutex_lock(&f->mu);
    if (f->in_hand) { /* this chunk is read (its last pair is done with): hand it back */
      f->taken++;
      f->pos = f->cur_used = 0;
      f->in_hand = 0;
      pthread_cond_broadcast(&f->cv);
    }
    while (f->full == f->taken && !f->end) pthread_cond_wait(&f->cv, &f->mu);
    int none = f->full == f->taken, rc = f->rc;
    if (!none) {
      f->cur_used = f->used[f->taken % CHUNKS];
      f->in_hand = 1;
    }
    pthread_mutex_unlock(&f->mu);
    if (none) {
      h->have = 0;
      return rc;
    }
  }
}

static int start_feeds(agg__gather_t *g) {
  if (!(g->feed = calloc(g->n, sizeof *g->feed))) return TA_ENOMEM;
  for (unsigned p = 0; p < g->n; p++) {
    feed_t *f = &g->feed[p];
    f->c = g->parts[p];
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
  }
  for (unsigned p = 0; p < g->n; p++) {
    feed_t *f = &g->feed[p];
    for (int k = 0; k < CHUNKS; k++)
      if (!(f->chunk[k] = malloc(CHUNK))) return TA_ENOMEM;
    if (pthread_create(&f->th, NULL, feed_main, f) != 0) return TA_ENOMEM;
    f->started = 1;
  }
  return 0;
}

/* ---- The merge ---------------------------------------------------------------------------- */

int agg__gather_new(agg__counter_t *const *parts, unsigned n, unsigned threads,
                    agg__gather_t **out) {
  agg__gather_t *g = calloc(1, sizeof *g);
  *out = g;
  if (!g) return TA_ENOMEM;
  g->parts = parts;
  g->n = n;
  g->pending = -1;
  if (!(g->head = calloc(n ? n : 1, sizeof *g->head))) return TA_ENOMEM;
  int rc = finish_all(parts, n, threads);
  if (!rc && n > 1) rc = start_feeds(g);
  for (unsigned p = 0; p < n && !rc; p++) rc = head_next(g, p);
  return rc;
}

static int head_cmp(const head_t *a, const head_t *b) {
  if (a->w != b->w) return a->w < b->w ? -1 : 1;
  if (a->key != b->key) return a->key < b->key ? -1 : 1;
  return ta_bytes_cmp(a->s, a->len, b->s, b->len);
}

int agg__gather_next(agg__gather_t *g, tbl_week_t *w, const char **s, size_t *len,
                     uint64_t *count) {
  /* The pair returned last is done with now: its partition moves on. */
  if (g->pending >= 0) {
    int rc = head_next(g, (unsigned)g->pending);
    g->pending = -1;
    if (rc) return rc;
  }
  int best = -1;
  for (unsigned p = 0; p < g->n; p++)
    if (g->head[p].have && (best < 0 || head_cmp(&g->head[p], &g->head[best]) < 0)) best = (int)p;
  if (best < 0) return 0;
  /* Partitions hold disjoint pairs, so the smallest head is a whole (week, spelling). */
  *w = g->head[best].w;
  *s = g->head[best].s;
  *len = g->head[best].len;
  *count = g->head[best].count;
  g->pending = best;
  return 1;
}

void agg__gather_free(agg__gather_t *g) {
  if (!g) return;
  for (unsigned p = 0; g->feed && p < g->n; p++) {
    feed_t *f = &g->feed[p];
    if (f->started) {
      pthread_mutex_lock(&f->mu);
      f->stop = 1;
      pthread_cond_broadcast(&f->cv);
      pthread_mutex_unlock(&f->mu);
      pthread_join(f->th, NULL);
    }
    for (int k = 0; k < CHUNKS; k++) free(f->chunk[k]);
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->cv);
  }
  free(g->feed);
  free(g->head);
  free(g);
}
