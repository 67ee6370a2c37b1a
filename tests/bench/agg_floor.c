/*
 * ta-agg-floor: what the aggregator's steps cost on their own on this machine (issue 16's speed
 * point; tests/bench/bench-agg prints it beside the real run). Usage: ta-agg-floor LOG [THREADS]
 * with LOG a tsv log (tests/bench/gen_agg_log.c). Not part of the product.
 *
 * The log is read into memory and its lines turned into events (week, spelling, hash) before
 * any clock starts; then, each step alone on THREADS threads (default 2, the events split by
 * hash as the aggregator splits them into partitions):
 *   scan      the lines again into events: the timestamp and the ISO week, the query's end, the
 *             hash (no normalization, no validation: less than the real parser does)
 *   minimal   the events counted in a lean table of the counter's own design, without its
 *             budget, spills, wide counts or far weeks: slots of 8 bytes (the hash's low 32
 *             bits, which pick the home slot, over the entry's place), entries of {count,
 *             week, len, bytes} in one arena in the order the pairs came, slots and entries
 *             prefetched ahead, slots doubled past load 1/2
 *   counter   the same events through the aggregator's own counter (agg__counter_add_events,
 *             in batches as the workers hand them over; --mem 512's budget per partition)
 * Each step prints its wall time, CPU time (the threads' own clocks) and CPU ns per line.
 * The sum of scan and minimal is a floor of a run's ingest: a real run also reads the file,
 * normalizes and checks each query, hands events between threads and then sorts and writes the
 * tables.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agg_int.h"
#include "tbl.h"

#define MAX_THREADS 8
#define AHEAD 16
#define BATCH 16384 /* events a worker hands to a counter at once (agg_ingest.c's EV_CAP) */

static double now_s(clockid_t clk) {
  struct timespec ts;
  clock_gettime(clk, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One line into an event; the end of the line through *next. 0, or -1 for a line skipped. */
static int scan_line(const char *p, const char *end, agg__event_t *e, const char **next,
                     tbl_date_memo_t *memo) {
  const char *nl = memchr(p, '\n', (size_t)(end - p));
  if (nl == NULL) nl = end;
  *next = nl + 1;
  const char *tab = memchr(p, '\t', (size_t)(nl - p));
  if (tab == NULL || tab + 1 >= nl) return -1;
  int64_t t;
  if (tbl_parse_time_memo(p, (size_t)(tab - p), &t, memo) != 0) return -1;
  const char *q = tab + 1, *qe = memchr(q, '\t', (size_t)(nl - q)); /* a market: left out */
  if (qe == NULL) qe = nl;
  e->week = tbl_week_of_unix(t);
  e->s = q;
  e->len = (uint32_t)(qe - q);
  e->hash = agg__event_hash(e->week, q, e->len);
  return e->len ? 0 : -1;
}

typedef struct {
  /* input */
  const char *from, *to; /* scan: the lines of this thread */
  agg__event_t *ev;      /* minimal, counter: this thread's partition */
  size_t n;
  /* output */
  double cpu;
  uint64_t lines, pairs;
  int rc;
} job_t;

static void *scan_main(void *arg) {
  job_t *j = arg;
  double c0 = now_s(CLOCK_THREAD_CPUTIME_ID);
  uint64_t sum = 0, lines = 0;
  agg__event_t e;
  tbl_date_memo_t memo;
  memset(&memo, 0, sizeof memo);
  for (const char *p = j->from, *next; p < j->to; p = next) {
    if (scan_line(p, j->to, &e, &next, &memo) == 0) sum += e.hash ^ (uint64_t)e.week;
    lines++;
  }
  j->cpu = now_s(CLOCK_THREAD_CPUTIME_ID) - c0;
  j->lines = lines;
  j->pairs = sum; /* keeps the work from being optimized away */
  return NULL;
}

/* The minimal table's entry: its head, then the spelling's bytes (4-aligned), in an arena in
 * the order the pairs came, so that a hit reads one line or two (the slot's, the entry's). */
typedef struct {
  uint32_t count;
  tbl_week_t week;
  uint32_t len;
  char s[];
} entry_t;

/* Doubles the slots: a slot holds the hash's low 32 bits, which also choose its home, so the
 * entries are not read. */
static int grow(uint64_t **slot, size_t *cap) {
  size_t ncap = *cap * 2, mask = ncap - 1;
  uint64_t *ns = calloc(ncap, sizeof *ns);
  if (ns == NULL) return TA_ENOMEM;
  for (size_t i = 0; i < *cap; i++) {
    uint64_t v = (*slot)[i];
    if (v == 0) continue;
    size_t k = (size_t)(v >> 32) & mask;
    while (ns[k]) k = (k + 1) & mask;
    ns[k] = v;
  }
  free(*slot);
  *slot = ns;
  *cap = ncap;
  return 0;
}

static void *minimal_main(void *arg) {
  job_t *j = arg;
  /* slots for twice the pairs at the generated log's 7.7 events a pair (100 M events, 13 M
   * pairs): about the size a table reaches; past load 1/2 it doubles (a log of fewer repeats) */
  size_t cap = 1024, arena_cap = 0;
  while (cap < j->n / 7 * 2 && cap < ((size_t)1 << 31)) cap *= 2;
  for (size_t i = 0; i < j->n; i++) arena_cap += sizeof(entry_t) + ((j->ev[i].len + 3) & ~3u);
  uint64_t *slot = calloc(cap, sizeof *slot);
  char *arena = malloc(arena_cap + 4); /* room for every event a pair; offset 0 unused */
  if (!slot || !arena) {
    j->rc = TA_ENOMEM;
    free(slot);
    free(arena);
    return NULL;
  }
  memset(slot, 0, cap * sizeof *slot); /* touched before the clock, as a warm table is */
  memset(arena, 0, arena_cap + 4);
  double c0 = now_s(CLOCK_THREAD_CPUTIME_ID);
  size_t used = 4, pairs = 0, mask = cap - 1;
  const agg__event_t *ev = j->ev;
  for (size_t i = 0; i < j->n; i++) {
    if (i + AHEAD < j->n) __builtin_prefetch(&slot[(uint32_t)ev[i + AHEAD].hash & mask]);
    if (i + AHEAD / 2 < j->n) {
      uint64_t v = slot[(uint32_t)ev[i + AHEAD / 2].hash & mask];
      if (v) __builtin_prefetch(arena + (uint32_t)v * (size_t)4);
    }
    uint32_t tag = (uint32_t)ev[i].hash;
    for (size_t k = tag & mask;; k = (k + 1) & mask) {
      uint64_t v = slot[k];
      if (v == 0) {
        entry_t *x = (entry_t *)(void *)(arena + used);
        x->count = 1;
        x->week = ev[i].week;
        x->len = ev[i].len;
        memcpy(x->s, ev[i].s, ev[i].len);
        slot[k] = (uint64_t)tag << 32 | (used / 4);
        used += sizeof(entry_t) + ((ev[i].len + 3) & ~3u);
        if (++pairs * 2 > cap) {
          if ((j->rc = grow(&slot, &cap)) != 0) goto out;
          mask = cap - 1;
        }
        break;
      }
      if ((uint32_t)(v >> 32) != tag) continue;
      entry_t *x = (entry_t *)(void *)(arena + (uint32_t)v * (size_t)4);
      if (x->week == ev[i].week && x->len == ev[i].len && memcmp(x->s, ev[i].s, x->len) == 0) {
        x->count++;
        break;
      }
    }
  }
out:
  j->cpu = now_s(CLOCK_THREAD_CPUTIME_ID) - c0;
  j->pairs = pairs;
  free(slot);
  free(arena);
  return NULL;
}

static void *counter_main(void *arg) {
  job_t *j = arg;
  agg__counter_t *c = NULL;
  char dir[] = "/tmp/ta-agg-floor-XXXXXX";
  if (mkdtemp(dir) == NULL || (j->rc = agg__counter_new(UINT64_C(256) << 20, dir, 0, &c))) {
    j->rc = j->rc ? j->rc : TA_EIO;
    return NULL;
  }
  double c0 = now_s(CLOCK_THREAD_CPUTIME_ID);
  for (size_t i = 0; i < j->n && j->rc == 0; i += BATCH)
    j->rc = agg__counter_add_events(c, j->ev + i, j->n - i < BATCH ? j->n - i : BATCH);
  j->cpu = now_s(CLOCK_THREAD_CPUTIME_ID) - c0;
  j->pairs = agg__counter_spills(c);
  agg__counter_free(c);
  rmdir(dir);
  return NULL;
}

/* Runs fn on jobs[0..n) at once; wall seconds through *wall. */
static int run(void *(*fn)(void *), job_t *jobs, unsigned n, double *wall, double *cpu) {
  pthread_t th[MAX_THREADS];
  double w0 = now_s(CLOCK_MONOTONIC);
  for (unsigned i = 0; i < n; i++)
    if (pthread_create(&th[i], NULL, fn, &jobs[i]) != 0) return TA_ESYS;
  *cpu = 0;
  int rc = 0;
  for (unsigned i = 0; i < n; i++) {
    pthread_join(th[i], NULL);
    *cpu += jobs[i].cpu;
    if (jobs[i].rc) rc = jobs[i].rc;
  }
  *wall = now_s(CLOCK_MONOTONIC) - w0;
  return rc;
}

int main(int argc, char **argv) {
  if (argc < 2 || argc > 3) {
    fprintf(stderr, "usage: ta-agg-floor LOG [THREADS]\n");
    return 2;
  }
  unsigned nt = argc > 2 ? (unsigned)atoi(argv[2]) : 2;
  if (nt < 1 || nt > MAX_THREADS) return 2;
  ta_buf_t log = {0};
  ta_diag_t diag;
  ta_diag_init(&diag, argv[1]);
  if (ta_read_file(argv[1], SIZE_MAX, &log, &diag) != 0) {
    char where[512];
    fprintf(stderr, "ta-agg-floor: %s\n", ta_diag_format(&diag, where, sizeof where));
    return 1;
  }
  const char *buf = (const char *)log.p, *end = buf + log.len;
  /* the events, by partition, before any clock */
  size_t lines = 0;
  for (const char *p = buf; p < end; p++) {
    p = memchr(p, '\n', (size_t)(end - p));
    if (p == NULL) break;
    lines++;
  }
  job_t jobs[MAX_THREADS];
  memset(jobs, 0, sizeof jobs);
  for (unsigned i = 0; i < nt; i++) {
    jobs[i].ev = malloc((lines + 1) * sizeof *jobs[i].ev); /* the worst case: one partition */
    if (jobs[i].ev == NULL) return 1;
  }
  size_t events = 0;
  agg__event_t e;
  tbl_date_memo_t memo;
  memset(&memo, 0, sizeof memo);
  for (const char *p = buf, *next; p < end; p = next) {
    if (scan_line(p, end, &e, &next, &memo) != 0) continue;
    unsigned part = (unsigned)(((e.hash >> 32) * nt) >> 32);
    jobs[part].ev[jobs[part].n++] = e;
    events++;
  }
  /* the scan's lines: the buffer cut at line ends into nt pieces */
  const char *cut = buf;
  for (unsigned i = 0; i < nt; i++) {
    jobs[i].from = cut;
    const char *to = i + 1 == nt ? end : buf + log.len / nt * (i + 1);
    if (to < cut) to = cut;
    const char *nl = to < end ? memchr(to, '\n', (size_t)(end - to)) : NULL;
    jobs[i].to = i + 1 == nt || nl == NULL ? end : nl + 1;
    cut = jobs[i].to;
  }
  printf("# ta-agg-floor %s: %zu lines, %zu events, %u threads\n", argv[1], lines, events, nt);
  printf("step\twall s\tCPU s\tCPU ns/line\n");
  struct {
    const char *name;
    void *(*fn)(void *);
  } steps[] = {{"scan", scan_main}, {"minimal", minimal_main}, {"counter", counter_main}};
  int status = 0;
  for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
    double wall, cpu;
    int rc = run(steps[s].fn, jobs, nt, &wall, &cpu);
    if (rc) {
      fprintf(stderr, "ta-agg-floor: %s: %s\n", steps[s].name, ta_strerror(rc));
      status = 1;
      continue;
    }
    printf("%s\t%.2f\t%.2f\t%.1f\n", steps[s].name, wall, cpu,
           lines ? cpu * 1e9 / (double)lines : 0.0);
  }
  for (unsigned i = 0; i < nt; i++) free(jobs[i].ev);
  ta_buf_free(&log);
  return status;
}
