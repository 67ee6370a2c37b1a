/*
 * Reading, parsing and counting the inputs of a run on several threads (SPEC §4; docs/TABLES.md,
 * "Threads"; its throughput is measured by tests/bench/bench-agg):
 *
 *   calling thread: read() (or gzread) into a ring of blocks of whole lines, in input order,
 *                   and the XXH3-128 of the bytes read (the ledger's digest) on the way
 *        | blocks
 *   W workers:      parse a block's lines (agg__parse_tsv_fast, else agg__parse_line; blocks
 *                   have 64 bytes of padding for the former) into events; an event's hash picks
 *                   one of P partitions, each a counter of its own behind a mutex (P = 2W, so
 *                   a worker seldom waits for one another holds)
 *        | a finished block retires in input order: its counts go into the stats and its bad
 *        | lines are named "FILE: line N" with N counted from the input's start
 *   finish:         the partitions are sorted in parallel and their sorted streams, which hold
 *                   disjoint pairs, merged into one (agg_gather.c).
 *
 * So the tables do not depend on W or on the budget: each pair is counted in exactly one
 * partition, whatever thread parsed its lines, and the streams are merged in (week, bytes)
 * order. AOL logs get one worker: their duplicate rule follows one user's rows in order.
 */
#include "agg_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BLOCK (1u << 20)        /* bytes of lines handed to a worker at once */
#define BLOCK_PAD AGG__TSV_LOOK /* readable bytes after a block's lines (agg__parse_tsv_fast) */
#define MAX_WORKERS 4
#define MAX_PARTS (2 * MAX_WORKERS)
#define MAX_WARN 10          /* bad lines named per run; the rest are only counted */
#define EV_CAP 16384         /* events a worker holds per partition before adding them */
#define TEXT_CAP (64u << 10) /* normalized spellings a worker holds before adding them */

enum { BLOCK_FREE = 0, BLOCK_READY, BLOCK_BUSY, BLOCK_DONE };

typedef struct {
  char *buf;
  size_t len; /* whole lines; the last may lack its newline at the input's end */
  int state;
  int first;   /* the input's first block: the parser starts afresh */
  int toolong; /* stands for one line longer than a block (len is 0) */
  int prime;   /* lines before the counted part: they only set up the parser */
  /* The worker's results, read when the block retires. */
  uint64_t phys; /* physical lines, blank ones included (for line numbers) */
  uint64_t lines, events, duplicates, sampled_out, bad[AGG_BAD_COUNT], bad_total;
  unsigned n_warn;
  uint64_t warn_line[MAX_WARN]; /* within the block, from 1 */
  agg_bad_t warn_why[MAX_WARN];
  int rc; /* an error: parsing (counting = 0) or counting (counting = 1) */
  int counting;
} block_t;

typedef struct worker {
  struct agg__ingest *g;
  pthread_t th;
  agg__parser_t parser;
  agg__event_t *ev[MAX_PARTS];
  size_t n_ev[MAX_PARTS];
  char *text; /* normalized spellings the pending events point to */
  size_t text_used;
} worker_t;

typedef struct {
  pthread_mutex_t mu;
  agg__counter_t *c;
} part_t;

struct agg__ingest {
  const agg_opts_t *opts;
  agg_stats_t *stats;
  const char *work_dir;
  unsigned n_workers, n_parts;
  worker_t workers[MAX_WORKERS];
  part_t parts[MAX_PARTS];
  int started;
  /* The ring of blocks; everything below is guarded by mu. */
  pthread_mutex_t mu;
  pthread_cond_t work_cv, free_cv;
  block_t *blocks;
  size_t n_blocks;
  uint64_t filled, taken, retired; /* blocks handed out, taken by workers, retired (in order) */
  int closing; /* no more blocks will come: workers exit when the ring is empty */
  int failed;  /* a block failed: stop everything */
  int rc;
  char errmsg[512];
  const char *name; /* the current input, for messages */
  uint64_t lineno;  /* physical lines of the current input retired so far */
  unsigned warned;
  /* progress */
  double t0, last_progress;
  uint64_t progress_bytes;
  /* the reader's unfinished line */
  char *carry;
  /* finish: the partitions' counters, merged by gather */
  agg__counter_t *counters[MAX_PARTS];
  agg__gather_t *gather;
};

static unsigned default_threads(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  if (n < 1) return 1;
  return n > MAX_WORKERS ? MAX_WORKERS : (unsigned)n;
}

/* ---- Workers ------------------------------------------------------------------------------ */

/* Adds the pending events of partition p (its mutex is held). */
static int add_part(worker_t *wk, unsigned p) {
  int rc = agg__counter_add_events(wk->g->parts[p].c, wk->ev[p], wk->n_ev[p]);
  pthread_mutex_unlock(&wk->g->parts[p].mu);
  wk->n_ev[p] = 0;
  return rc;
}

/* Adds a worker's pending events to their partitions: partitions another worker holds are left
 * for later while a free one is there; when all are held, it waits for the first. */
static int flush_events(worker_t *wk, int *counting) {
  struct agg__ingest *g = wk->g;
  unsigned left = 0, start = (unsigned)(wk - g->workers) * 2;
  for (unsigned p = 0; p < g->n_parts; p++) left += wk->n_ev[p] != 0;
  int rc = 0;
  while (left) {
    int added = 0, wait_for = -1;
    for (unsigned k = 0; k < g->n_parts; k++) {
      unsigned p = (start + k) % g->n_parts;
      if (!wk->n_ev[p]) continue;
      if (wait_for < 0) wait_for = (int)p;
      if (pthread_mutex_trylock(&g->parts[p].mu) != 0) continue;
      int prc = add_part(wk, p);
      if (prc && !rc) rc = prc;
      left--;
      added = 1;
    }
    if (!added) {
      pthread_mutex_lock(&g->parts[wait_for].mu);
      int prc = add_part(wk, (unsigned)wait_for);
      if (prc && !rc) rc = prc;
      left--;
    }
  }
  wk->text_used = 0;
  if (rc) *counting = 1;
  return rc;
}

/* Queues the count of (w, key[0..len)) for its partition; adds the queue when it is full. */
static int push_event(worker_t *wk, tbl_week_t w, const char *key, size_t len, int *counting) {
  uint64_t h = agg__event_hash(w, key, len);
  unsigned part = (unsigned)(((h >> 32) * wk->g->n_parts) >> 32);
  agg__event_t *e = &wk->ev[part][wk->n_ev[part]++];
  e->hash = h;
  e->s = key;
  e->len = (uint32_t)len;
  e->week = w;
  return wk->n_ev[part] == EV_CAP ? flush_events(wk, counting) : 0;
}

/* --hours: the parser's last event again, under its hour's period (global and market key). */
static int push_hour(worker_t *wk, size_t len, int *counting) {
  agg__parser_t *p = &wk->parser;
  tbl_week_t h = agg__hour_period(p->time);
  int rc = 0;
  const char *s = p->spelling; /* in the line, or in the parser's buffer, reused: then copied */
  if (s == p->display) {
    if (wk->text_used + len > TEXT_CAP && (rc = flush_events(wk, counting))) return rc;
    memcpy(wk->text + wk->text_used, s, len);
    s = wk->text + wk->text_used;
    wk->text_used += len;
  }
  if ((rc = push_event(wk, h, s, len, counting))) return rc;
  if (!p->market_len) return 0;
  if (wk->text_used + TBL_MAX_KEY > TEXT_CAP && (rc = flush_events(wk, counting))) return rc;
  char *key = wk->text + wk->text_used;
  size_t klen = tbl_key_make(key, p->market, p->market_len, p->spelling, len);
  wk->text_used += klen;
  return push_event(wk, h, key, klen, counting);
}

/* Parses and counts the lines of b; results go into b. */
static void work_block(worker_t *wk, block_t *b) {
  struct agg__ingest *g = wk->g;
  b->phys = b->lines = b->events = b->duplicates = b->sampled_out = b->bad_total = 0;
  memset(b->bad, 0, sizeof b->bad);
  b->n_warn = 0;
  b->rc = b->counting = 0;
  if (b->first) agg__parser_reset(&wk->parser);
  if (b->toolong) {
    b->phys = b->lines = b->bad_total = 1;
    b->bad[AGG_BAD_TOOLONG] = 1;
    b->warn_line[0] = 1;
    b->warn_why[0] = AGG_BAD_TOOLONG;
    b->n_warn = 1;
    return;
  }
  const char *p = b->buf, *end = b->buf + b->len;
  int rc = 0, tsv = g->opts->format == AGG_FORMAT_TSV;
  while (p < end) {
    tbl_week_t w = 0;
    size_t len = 0, n;
    agg_bad_t why = AGG_BAD_FIELDS;
    b->phys++;
    int lrc =
        tsv ? agg__parse_tsv_fast(&wk->parser, p, (size_t)(end - p), &n, &w, &len) : AGG__LINE_SLOW;
    if (lrc == AGG__LINE_SLOW) {
      const char *nl = agg__find(p, (size_t)(end - p), '\n');
      n = nl ? (size_t)(nl - p) : (size_t)(end - p);
      lrc = agg__parse_line(&wk->parser, p, n, &w, &len, &why);
    }
    p += n + 1;
    if (lrc == AGG__LINE_SKIP) continue;
    if (lrc < 0) {
      rc = lrc;
      break;
    }
    if (b->prime) continue;
    b->lines++;
    if (lrc == AGG__LINE_EVENT) {
      b->events++;
      const char *s = wk->parser.spelling;
      if (s == wk->parser.display) { /* the parser's buffer is reused: keep a copy */
        if (wk->text_used + len > TEXT_CAP && (rc = flush_events(wk, &b->counting))) break;
        memcpy(wk->text + wk->text_used, s, len);
        s = wk->text + wk->text_used;
        wk->text_used += len;
      }
      if ((rc = push_event(wk, w, s, len, &b->counting))) break;
      if (wk->parser.market_len) { /* the market's count too, under the market's key */
        if (wk->text_used + TBL_MAX_KEY > TEXT_CAP && (rc = flush_events(wk, &b->counting))) break;
        /* From the parser's spelling, not s: a flush may have let the key overwrite s. */
        char *key = wk->text + wk->text_used;
        size_t klen =
            tbl_key_make(key, wk->parser.market, wk->parser.market_len, wk->parser.spelling, len);
        wk->text_used += klen;
        if ((rc = push_event(wk, w, key, klen, &b->counting))) break;
      }
      if (g->opts->hours && (rc = push_hour(wk, len, &b->counting))) break;
    } else if (lrc == AGG__LINE_DUP) {
      b->duplicates++;
    } else if (lrc == AGG__LINE_SAMPLED) {
      b->sampled_out++;
    } else {
      b->bad[why]++;
      b->bad_total++;
      if (b->n_warn < MAX_WARN) {
        b->warn_line[b->n_warn] = b->phys;
        b->warn_why[b->n_warn++] = why;
      }
    }
  }
  /* The events point into this block: count them before it is handed back. */
  if (!rc)
    rc = flush_events(wk, &b->counting);
  else {
    for (unsigned k = 0; k < g->n_parts; k++) wk->n_ev[k] = 0;
    wk->text_used = 0;
  }
  b->rc = rc;
}

/* Under g->mu: the results of finished blocks, in input order, into the stats. */
static void retire(struct agg__ingest *g) {
  while (g->retired < g->taken) {
    block_t *b = &g->blocks[g->retired % g->n_blocks];
    if (b->state != BLOCK_DONE) break;
    agg_stats_t *s = g->stats;
    if (b->prime) { /* nothing of it is counted; its lines still number the next ones */
      if (b->rc && !g->failed) {
        g->failed = 1;
        g->rc = b->rc;
        snprintf(g->errmsg, sizeof g->errmsg, "%s: %s", g->name, ta_strerror(b->rc));
        pthread_cond_broadcast(&g->work_cv);
      }
      g->lineno += b->phys;
      b->state = BLOCK_FREE;
      g->retired++;
      pthread_cond_broadcast(&g->free_cv);
      continue;
    }
    if (b->rc && !g->failed) {
      g->failed = 1;
      g->rc = b->rc;
      if (b->counting)
        snprintf(g->errmsg, sizeof g->errmsg, "counting %s: %s (spill directory %s)", g->name,
                 ta_strerror(b->rc), g->work_dir);
      else
        snprintf(g->errmsg, sizeof g->errmsg, "%s: %s", g->name, ta_strerror(b->rc));
      pthread_cond_broadcast(&g->work_cv);
    }
    s->lines += b->lines;
    s->events += b->events;
    s->duplicates += b->duplicates;
    s->sampled_out += b->sampled_out;
    s->bad_total += b->bad_total;
    for (int i = 0; i < AGG_BAD_COUNT; i++) s->bad[i] += b->bad[i];
    for (unsigned i = 0; i < b->n_warn && g->opts->warn && g->warned < MAX_WARN; i++) {
      g->warned++;
      fprintf(g->opts->warn, "typeahead-aggregate: %s: line %llu: %s%s\n", g->name,
              (unsigned long long)(g->lineno + b->warn_line[i]), agg_bad_name(b->warn_why[i]),
              g->warned == MAX_WARN ? " (further bad lines are only counted)" : "");
    }
    g->lineno += b->phys;
    b->state = BLOCK_FREE;
    g->retired++;
    pthread_cond_broadcast(&g->free_cv);
  }
}

static void *worker_main(void *arg) {
  worker_t *wk = arg;
  struct agg__ingest *g = wk->g;
  pthread_mutex_lock(&g->mu);
  for (;;) {
    while (g->taken == g->filled && !g->closing && !g->failed)
      pthread_cond_wait(&g->work_cv, &g->mu);
    if (g->failed || g->taken == g->filled) break;
    block_t *b = &g->blocks[g->taken++ % g->n_blocks];
    b->state = BLOCK_BUSY;
    pthread_mutex_unlock(&g->mu);
    work_block(wk, b);
    pthread_mutex_lock(&g->mu);
    b->state = BLOCK_DONE;
    retire(g);
  }
  pthread_mutex_unlock(&g->mu);
  return NULL;
}

/* ---- Setup -------------------------------------------------------------------------------- */

int agg__ingest_new(const agg_opts_t *opts, uint64_t budget, const char *work_dir,
                    agg_stats_t *stats, agg__ingest_t **out) {
  *out = NULL;
  struct agg__ingest *g = calloc(1, sizeof *g);
  if (!g) return TA_ENOMEM;
  g->opts = opts;
  g->stats = stats;
  g->work_dir = work_dir;
  g->t0 = ta_mono_s();
  unsigned w = opts->threads ? opts->threads : default_threads();
  if (w > MAX_WORKERS) w = MAX_WORKERS;
  if (opts->format == AGG_FORMAT_AOL) w = 1;
  g->n_workers = w;
  g->n_parts = w == 1 ? 1 : 2 * w;
  g->n_blocks = 2 * (size_t)w + 2;
  pthread_mutex_init(&g->mu, NULL);
  pthread_cond_init(&g->work_cv, NULL);
  pthread_cond_init(&g->free_cv, NULL);
  int rc = 0;
  for (unsigned p = 0; p < g->n_parts && !rc; p++) {
    pthread_mutex_init(&g->parts[p].mu, NULL);
    rc = agg__counter_new(budget / g->n_parts, work_dir, p, &g->parts[p].c);
  }
  if (!rc && (!(g->blocks = calloc(g->n_blocks, sizeof *g->blocks)) || !(g->carry = malloc(BLOCK))))
    rc = TA_ENOMEM;
  for (size_t i = 0; !rc && i < g->n_blocks; i++)
    if (!(g->blocks[i].buf = calloc(1, BLOCK + BLOCK_PAD))) rc = TA_ENOMEM;
  for (unsigned i = 0; !rc && i < w; i++) {
    worker_t *wk = &g->workers[i];
    wk->g = g;
    if ((rc = agg__parser_init(&wk->parser, opts->format, opts->sample))) break;
    if (!(wk->text = malloc(TEXT_CAP))) rc = TA_ENOMEM;
    for (unsigned p = 0; !rc && p < g->n_parts; p++)
      if (!(wk->ev[p] = malloc(EV_CAP * sizeof *wk->ev[p]))) rc = TA_ENOMEM;
  }
  *out = g; /* also on failure, so agg__ingest_free releases what was made */
  return rc;
}

static int start_workers(struct agg__ingest *g) {
  if (g->started) return 0;
  for (unsigned i = 0; i < g->n_workers; i++) {
    if (pthread_create(&g->workers[i].th, NULL, worker_main, &g->workers[i]) != 0) {
      pthread_mutex_lock(&g->mu);
      g->failed = 1;
      g->rc = TA_ENOMEM;
      pthread_cond_broadcast(&g->work_cv);
      pthread_mutex_unlock(&g->mu);
      for (unsigned k = 0; k < i; k++) pthread_join(g->workers[k].th, NULL);
      return TA_ENOMEM;
    }
  }
  g->started = 1;
  return 0;
}

static void stop_workers(struct agg__ingest *g) {
  if (!g->started) return;
  pthread_mutex_lock(&g->mu);
  g->closing = 1;
  pthread_cond_broadcast(&g->work_cv);
  pthread_mutex_unlock(&g->mu);
  for (unsigned i = 0; i < g->n_workers; i++) pthread_join(g->workers[i].th, NULL);
  g->started = 0;
}

void agg__ingest_free(agg__ingest_t *g) {
  if (!g) return;
  stop_workers(g);
  agg__gather_free(g->gather); /* before the counters it reads */
  for (unsigned i = 0; i < g->n_workers; i++) {
    worker_t *wk = &g->workers[i];
    agg__parser_free(&wk->parser);
    free(wk->text);
    for (unsigned p = 0; p < g->n_parts; p++) free(wk->ev[p]);
  }
  for (unsigned p = 0; p < g->n_parts; p++) {
    agg__counter_free(g->parts[p].c);
    pthread_mutex_destroy(&g->parts[p].mu);
  }
  if (g->blocks)
    for (size_t i = 0; i < g->n_blocks; i++) free(g->blocks[i].buf);
  free(g->blocks);
  free(g->carry);
  pthread_mutex_destroy(&g->mu);
  pthread_cond_destroy(&g->work_cv);
  pthread_cond_destroy(&g->free_cv);
  free(g);
}

uint64_t agg__ingest_spills(const agg__ingest_t *g) {
  uint64_t n = 0;
  for (unsigned p = 0; p < g->n_parts; p++) n += agg__counter_spills(g->parts[p].c);
  return n;
}

/* ---- Reading ------------------------------------------------------------------------------ */

/* Under g->mu. */
static void progress_locked(struct agg__ingest *g, int final) {
  if (!g->opts->progress) return;
  double t = ta_mono_s();
  if (!final && t - g->last_progress < 0.5) return;
  g->last_progress = t;
  double el = t - g->t0 > 1e-6 ? t - g->t0 : 1e-6;
  fprintf(stderr, "\r%.1f MB read, %.1f MB/s, %llu lines, %llu bad   %s", g->progress_bytes / 1e6,
          g->progress_bytes / 1e6 / el, (unsigned long long)g->stats->lines,
          (unsigned long long)g->stats->bad_total, final ? "\n" : "");
}

void agg__ingest_progress(agg__ingest_t *g, int final) {
  pthread_mutex_lock(&g->mu);
  progress_locked(g, final);
  pthread_mutex_unlock(&g->mu);
}

/* The next block to fill, once it is free; NULL when the run failed. */
static block_t *next_free(struct agg__ingest *g) {
  pthread_mutex_lock(&g->mu);
  while (!g->failed && g->filled - g->retired >= g->n_blocks)
    pthread_cond_wait(&g->free_cv, &g->mu);
  block_t *b = g->failed ? NULL : &g->blocks[g->filled % g->n_blocks];
  pthread_mutex_unlock(&g->mu);
  return b;
}

static void publish(struct agg__ingest *g, block_t *b, uint64_t bytes_read) {
  pthread_mutex_lock(&g->mu);
  b->state = BLOCK_READY;
  g->filled++;
  g->progress_bytes += bytes_read;
  pthread_cond_signal(&g->work_cv);
  progress_locked(g, 0);
  pthread_mutex_unlock(&g->mu);
}

/* Reads [s->pos, end) (or to the input's end) into blocks of whole lines for the workers. The
 * line cut by end, if any, is the phase's last line. prime: the lines only set up the parser
 * (the AOL duplicate set), they are not counted. *skipping: inside a line whose start is not
 * ours (a too long line, or the rest of a line counted by an earlier run). */
static int read_phase(struct agg__ingest *g, agg__src_t *src, agg__input_t *in, uint64_t end,
                      int prime, int *skipping, int *first, char *err, size_t err_cap) {
  size_t carry = 0; /* bytes of an unfinished line in g->carry */
  int eof = 0, rc = 0;
  block_t *b = NULL;
  while (!rc && (!eof || carry)) { /* at the end, the carried last line without a newline */
    if (!b && !(b = next_free(g))) break;
    memcpy(b->buf, g->carry, carry);
    size_t len = carry;
    uint64_t got = 0;
    while (len < BLOCK && !eof) {
      size_t n = 0;
      if ((rc = agg__src_read(src, b->buf + len, BLOCK - len, end, &n, &got, in->name, err,
                              err_cap))) {
        in->input_fault = 1;
        break;
      }
      if (n == 0) eof = 1;
      if (in->sum && !prime) agg__sum_update(in->sum, b->buf + len, n);
      len += n;
    }
    if (rc) break;
    in->bytes += got;
    carry = 0;
    size_t start = 0;
    if (*skipping) { /* drop the rest of the line that is not ours */
      const char *nl = memchr(b->buf, '\n', len);
      if (!nl) {
        pthread_mutex_lock(&g->mu);
        g->progress_bytes += got;
        pthread_mutex_unlock(&g->mu);
        continue; /* the block stays ours: fill it again */
      }
      *skipping = 0;
      start = (size_t)(nl - b->buf) + 1;
    }
    const char *last = len > start ? memrchr(b->buf + start, '\n', len - start) : NULL;
    b->toolong = 0;
    if (last) {
      size_t cut = (size_t)(last - b->buf) + 1;
      carry = len - cut;
      memcpy(g->carry, b->buf + cut, carry);
      len = cut;
    } else if (!eof && start == 0) { /* a whole block without a newline: one line too long */
      b->toolong = 1;
      *skipping = 1;
      len = 0;
    } else if (!eof) { /* after the end of a too long line, the start of the next one */
      carry = len - start;
      memcpy(g->carry, b->buf + start, carry);
      len = start;
    }
    if (start) {
      memmove(b->buf, b->buf + start, len - start);
      len -= start;
    }
    if (len == 0 && !b->toolong) {
      pthread_mutex_lock(&g->mu);
      g->progress_bytes += got;
      pthread_mutex_unlock(&g->mu);
      continue; /* nothing to count: reuse the block */
    }
    b->len = len;
    b->first = *first;
    b->prime = prime;
    *first = 0;
    publish(g, b, got);
    b = NULL;
  }
  return rc;
}

int agg__ingest_input(agg__ingest_t *g, agg__input_t *in, char *err, size_t err_cap) {
  in->bytes = 0;
  in->input_fault = in->stopped = 0;
  agg__src_t src;
  int rc = start_workers(g);
  if (!rc) rc = agg__src_open(&src, in->fd, in->start, g->carry, BLOCK, in->name, err, err_cap);
  if (rc) {
    in->input_fault = rc != TA_ENOMEM;
    return rc;
  }
  pthread_mutex_lock(&g->mu);
  g->name = in->name;
  g->lineno = in->lineno;
  pthread_mutex_unlock(&g->mu);
  int skipping = 0, first = 1;
  if (!rc && in->from > src.pos)
    rc = read_phase(g, &src, in, in->from, 1, &skipping, &first, err, err_cap);
  skipping = in->midline;
  if (!rc) rc = read_phase(g, &src, in, in->limit, 0, &skipping, &first, err, err_cap);
  in->end = src.pos;
  agg__src_close(&src);
  /* Wait until every block of this input has retired (its counts are in the stats). */
  pthread_mutex_lock(&g->mu);
  while (!g->failed && g->retired < g->filled) pthread_cond_wait(&g->free_cv, &g->mu);
  if (!rc && g->failed) {
    rc = g->rc;
    agg__fail(err, err_cap, rc, "%s", g->errmsg);
  } else if (rc && !g->failed) {
    g->failed = 1; /* a read error: the workers stop too */
    pthread_cond_broadcast(&g->work_cv);
  }
  in->stopped = g->failed;
  pthread_mutex_unlock(&g->mu);
  return rc;
}

/* ---- Finish ------------------------------------------------------------------------------- */

int agg__ingest_finish(agg__ingest_t *g) {
  stop_workers(g);
  if (g->gather) return TA_EINVAL;
  for (unsigned p = 0; p < g->n_parts; p++) g->counters[p] = g->parts[p].c;
  return agg__gather_new(g->counters, g->n_parts, g->n_workers, &g->gather);
}

int agg__ingest_next(agg__ingest_t *g, tbl_week_t *w, const char **s, size_t *len,
                     uint64_t *count) {
  if (!g->gather) return TA_EINVAL;
  return agg__gather_next(g->gather, w, s, len, count);
}
