/*
 * The counter's spilled runs (agg_count_int.h; SPEC §4: "memory stays bounded on logs larger
 * than RAM"): when the table is over its budget it is sorted and written as a run file into the
 * spill directory. At the finish, runs are merged down to fewer than FAN_IN, and then the runs
 * and the sorted rest in memory are merged through a heap, summing equal pairs, so the output is
 * the same sorted stream whatever the budget was.
 */
#include "agg_count_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A sorted source for the final merge: a run file or the sorted table in memory. */
struct agg__source {
  int fd;             /* -1: the in-memory items */
  unsigned char *buf; /* SRC_BUF bytes read ahead from fd; unread: buf[pos..end) */
  size_t pos, end;
  int eof;
  tbl_week_t week; /* the current record */
  uint32_t len;
  uint64_t count;
  const char *sp;          /* its bytes: in bytes, or the entry's; valid until the next record */
  uint64_t key;            /* agg__prefix_key of them: most comparisons stop there */
  char bytes[TBL_MAX_KEY]; /* a run's current spelling: the next one shares a prefix of it */
};
#define SRC_BUF (1u << 16)

#define FAN_IN 64

/* ---- Run files ---------------------------------------------------------------------------- */

/* Run files: one record per (week, spelling), ascending, front-coded against the record before
 * (sorted spellings share long prefixes, and the file's bytes are most of a spill's cost):
 * varint(week - previous week, mod 2^32; the first record's from week 0), varint(bytes shared
 * with the previous spelling, 0 when the week changed), varint(bytes after them), those bytes,
 * varint(count). A record takes at most RECORD_MAX bytes. */
#define RECORD_MAX (5 + 5 + 5 + TBL_MAX_KEY + 10)
#define RUN_BUF (1u << 16)

static size_t put_varint(unsigned char *out, uint64_t v) {
  size_t n = 0;
  while (v >= 0x80) {
    out[n++] = (unsigned char)(v | 0x80);
    v >>= 7;
  }
  out[n++] = (unsigned char)v;
  return n;
}

typedef struct {
  FILE *f;
  unsigned char buf[RUN_BUF];
  size_t used;
  int failed;      /* 0, or the TA_E* of the first failed write */
  tbl_week_t week; /* the previous record's */
  size_t prev_len;
  char prev[TBL_MAX_KEY];
} run_writer_t;

static void run_put(run_writer_t *rw, tbl_week_t w, const char *s, size_t len, uint64_t count) {
  if (rw->used + RECORD_MAX > RUN_BUF) {
    if (fwrite(rw->buf, 1, rw->used, rw->f) != rw->used && !rw->failed)
      rw->failed = ta_error_from_errno(errno);
    rw->used = 0;
  }
  size_t shared = 0;
  if (w == rw->week) {
    size_t lim = len < rw->prev_len ? len : rw->prev_len;
    while (shared < lim && s[shared] == rw->prev[shared]) shared++;
  }
  unsigned char *p = rw->buf + rw->used;
  size_t n = put_varint(p, (uint32_t)w - (uint32_t)rw->week);
  n += put_varint(p + n, shared);
  n += put_varint(p + n, len - shared);
  memcpy(p + n, s + shared, len - shared);
  n += len - shared;
  n += put_varint(p + n, count);
  rw->used += n;
  memcpy(rw->prev + shared, s + shared, len - shared);
  rw->prev_len = len;
  rw->week = w;
}

/* Flushes and closes; 0 or the TA_E* of the failure (TA_EDISKFULL for a full disk). */
static int run_close(run_writer_t *rw) {
  if (rw->used && fwrite(rw->buf, 1, rw->used, rw->f) != rw->used && !rw->failed)
    rw->failed = ta_error_from_errno(errno);
  int rc = ta_fclose_written(rw->f, 0);
  return rw->failed ? rw->failed : rc;
}

/* Creates the next run file of the spill directory; on success the caller owns *rw (closed by
 * run_close, then freed) and *path (kept in runs, or unlinked and freed). */
static int run_open(agg__counter_t *c, run_writer_t **rw_out, char **path_out) {
  size_t plen = strlen(c->spill_dir) + 48;
  char *path = malloc(plen);
  if (!path) return TA_ENOMEM;
  snprintf(path, plen, "%s/run.%u.%06llu", c->spill_dir, c->id, (unsigned long long)c->run_seq++);
  run_writer_t *rw = malloc(sizeof *rw);
  if (!rw || !(rw->f = fopen(path, "wbx"))) {
    int rc = rw ? ta_error_from_errno(errno) : TA_ENOMEM;
    free(rw);
    free(path);
    return rc;
  }
  rw->used = 0;
  rw->failed = 0;
  rw->week = 0;
  rw->prev_len = 0;
  setvbuf(rw->f, NULL, _IONBF, 0); /* run_put buffers whole records itself */
  *rw_out = rw;
  *path_out = path;
  return 0;
}

/* ---- Spilling ----------------------------------------------------------------------------- */

int agg__spill_write(agg__counter_t *c) {
  agg__sort_table(c);
  int rc;
  if (c->n_runs == c->runs_cap &&
      (rc = ta_grow((void **)&c->runs, &c->runs_cap, c->n_runs + 1, sizeof *c->runs, 16)) != 0)
    return rc;
  char *path;
  run_writer_t *rw;
  if ((rc = run_open(c, &rw, &path))) return rc;
  for (size_t i = 0; i < c->n_items; i++) {
    if (i + AGG__READ_AHEAD < c->n_items)
      agg__prefetch_entry(agg__entry_at(c, c->items[i + AGG__READ_AHEAD].ref));
    agg__entry_t *e = agg__entry_at(c, c->items[i].ref);
    run_put(rw, agg__entry_week(e, c->wbase), e->s, agg__entry_len(e), agg__entry_count(e));
  }
  rc = run_close(rw);
  free(rw);
  c->items = NULL;
  c->n_items = 0;
  if (rc) {
    unlink(path);
    free(path);
    return rc;
  }
  c->runs[c->n_runs++] = path;
  c->spills++;
  return 0;
}

/* ---- Merge -------------------------------------------------------------------------------- */

static int get_varint(const unsigned char **p, const unsigned char *lim, uint64_t *v) {
  uint64_t r = 0;
  for (int shift = 0; shift < 64 && *p < lim; shift += 7) {
    unsigned ch = *(*p)++;
    r |= (uint64_t)(ch & 0x7f) << shift;
    if (!(ch & 0x80)) {
      *v = r;
      return 0;
    }
  }
  return *p == lim ? TA_ETRUNC : TA_ECORRUPT;
}

/* Loads the next record of src; 1 when there is one, 0 at its end. */
static int source_next(agg__counter_t *c, agg__source_t *src) {
  if (src->fd < 0) {
    if (c->item_i == c->n_items) return 0;
    if (c->item_i + AGG__READ_AHEAD < c->n_items)
      agg__prefetch_entry(agg__entry_at(c, c->items[c->item_i + AGG__READ_AHEAD].ref));
    agg__entry_t *e = agg__entry_at(c, c->items[c->item_i++].ref);
    src->week = agg__entry_week(e, c->wbase);
    src->len = (uint32_t)agg__entry_len(e);
    src->count = agg__entry_count(e);
    src->sp = e->s;
    src->key = agg__prefix_key(e->s, src->len);
    return 1;
  }
  /* A whole record in the buffer (or the end of the file); the current one is done with. */
  while (src->end - src->pos < RECORD_MAX && !src->eof) {
    memmove(src->buf, src->buf + src->pos, src->end - src->pos);
    src->end -= src->pos;
    src->pos = 0;
    ssize_t r = read(src->fd, src->buf + src->end, SRC_BUF - src->end);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return TA_EIO;
    if (r == 0) src->eof = 1;
    src->end += (size_t)r;
  }
  if (src->pos == src->end) return 0;
  const unsigned char *p = src->buf + src->pos, *lim = src->buf + src->end;
  uint64_t dw, shared, rest, count;
  int rc;
  if ((rc = get_varint(&p, lim, &dw)) || (rc = get_varint(&p, lim, &shared)) ||
      (rc = get_varint(&p, lim, &rest)))
    return rc;
  /* The week and the previous spelling start at 0 and empty (calloc'd source). */
  if (dw > UINT32_MAX || shared > src->len || (dw && shared) || rest > TBL_MAX_KEY - shared ||
      shared + rest == 0)
    return TA_ECORRUPT;
  if ((size_t)(lim - p) < rest) return TA_ETRUNC;
  memcpy(src->bytes + shared, p, (size_t)rest);
  p += rest;
  size_t len = (size_t)(shared + rest);
  src->sp = src->bytes;
  src->key = agg__prefix_key(src->sp, len);
  if ((rc = get_varint(&p, lim, &count))) return rc;
  src->week = (tbl_week_t)((uint32_t)src->week + (uint32_t)dw);
  src->len = (uint32_t)len;
  src->count = count;
  src->pos = (size_t)(p - src->buf);
  return 1;
}

static int src_less(const agg__source_t *a, const agg__source_t *b) {
  if (a->week != b->week) return a->week < b->week;
  if (a->key != b->key) return a->key < b->key;
  return ta_bytes_cmp(a->sp, a->len, b->sp, b->len) < 0;
}

static void sift_down(agg__counter_t *c, size_t i) {
  for (;;) {
    size_t l = 2 * i + 1, m = i;
    if (l < c->heap_n && src_less(&c->src[c->heap[l]], &c->src[c->heap[m]])) m = l;
    if (l + 1 < c->heap_n && src_less(&c->src[c->heap[l + 1]], &c->src[c->heap[m]])) m = l + 1;
    if (m == i) return;
    size_t t = c->heap[i];
    c->heap[i] = c->heap[m];
    c->heap[m] = t;
    i = m;
  }
}

static void close_sources(agg__counter_t *c) {
  for (size_t i = 0; i < c->n_src; i++) {
    if (c->src[i].fd >= 0) close(c->src[i].fd);
    free(c->src[i].buf);
  }
  free(c->src);
  free(c->heap);
  c->src = NULL;
  c->heap = NULL;
  c->n_src = c->heap_n = 0;
}

/* Opens runs[first..first+n) (and the in-memory items when with_memory) as merge sources. */
static int open_sources(agg__counter_t *c, size_t first, size_t n, int with_memory) {
  size_t total = n + (with_memory ? 1 : 0);
  c->src = calloc(total ? total : 1, sizeof *c->src);
  c->heap = calloc(total ? total : 1, sizeof *c->heap);
  if (!c->src || !c->heap) return TA_ENOMEM;
  for (size_t i = 0; i < total; i++) {
    agg__source_t *s = &c->src[i];
    s->fd = -1;
    c->n_src++;
    if (i < n) {
      if (!(s->buf = malloc(SRC_BUF))) return TA_ENOMEM;
      if ((s->fd = open(c->runs[first + i], O_RDONLY | O_CLOEXEC)) < 0)
        return ta_error_from_errno(errno);
    }
    int rc = source_next(c, s);
    if (rc < 0) return rc;
    if (rc == 1) c->heap[c->heap_n++] = i;
  }
  for (size_t i = c->heap_n / 2 + 1; i-- > 0;) sift_down(c, i);
  return 0;
}

static int merge_next(agg__counter_t *c, tbl_week_t *w, const char **s, size_t *len,
                      uint64_t *count) {
  if (c->heap_n == 0) return 0;
  agg__source_t *top = &c->src[c->heap[0]];
  *w = top->week;
  *len = top->len;
  memcpy(c->out, top->sp, top->len);
  *s = c->out;
  *count = 0;
  uint64_t key = top->key;
  for (int first = 1; c->heap_n; first = 0) {
    top = &c->src[c->heap[0]];
    /* The first is the pair itself; the next ones are equal only when all of them say so. */
    if (!first && (top->week != *w || top->key != key || top->len != *len ||
                   memcmp(top->sp, c->out, *len) != 0))
      break;
    if (*count > UINT64_MAX - top->count) return TA_ERANGE;
    *count += top->count;
    int rc = source_next(c, top);
    if (rc < 0) return rc;
    if (rc == 0) c->heap[0] = c->heap[--c->heap_n];
    sift_down(c, 0);
  }
  return 1;
}

/* Merges runs into fewer than FAN_IN, so the final merge keeps few files and buffers open. */
static int reduce_runs(agg__counter_t *c) {
  while (c->n_runs > FAN_IN) {
    char *path;
    run_writer_t *rw;
    int rc = run_open(c, &rw, &path);
    if (rc) return rc;
    rc = open_sources(c, 0, FAN_IN, 0);
    tbl_week_t w;
    const char *s;
    size_t len;
    uint64_t count;
    while (rc == 0 && (rc = merge_next(c, &w, &s, &len, &count)) == 1) {
      run_put(rw, w, s, len, count);
      rc = 0;
    }
    close_sources(c);
    int crc = run_close(rw);
    if (rc == 0) rc = crc;
    free(rw);
    if (rc < 0) {
      unlink(path);
      free(path);
      return rc;
    }
    for (size_t i = 0; i < FAN_IN; i++) {
      unlink(c->runs[i]);
      free(c->runs[i]);
    }
    memmove(c->runs, c->runs + FAN_IN, (c->n_runs - FAN_IN) * sizeof *c->runs);
    c->n_runs -= FAN_IN;
    c->runs[c->n_runs++] = path;
  }
  return 0;
}

int agg__spill_merge_open(agg__counter_t *c) {
  /* The sorted rest stays in memory as one more source; intermediate merges need none of it. */
  int rc = reduce_runs(c);
  return rc ? rc : open_sources(c, 0, c->n_runs, 1);
}

void agg__spill_merge_close(agg__counter_t *c) {
  close_sources(c);
}

int agg__counter_next(agg__counter_t *c, tbl_week_t *w, const char **s, size_t *len,
                      uint64_t *count) {
  if (!c->finished) return TA_EINVAL;
  if (c->n_runs) return merge_next(c, w, s, len, count);
  if (c->item_i == c->n_items) return 0;
  if (c->item_i + AGG__READ_AHEAD < c->n_items)
    agg__prefetch_entry(agg__entry_at(c, c->items[c->item_i + AGG__READ_AHEAD].ref));
  agg__entry_t *e = agg__entry_at(c, c->items[c->item_i++].ref);
  *w = agg__entry_week(e, c->wbase);
  *s = e->s;
  *len = agg__entry_len(e);
  *count = agg__entry_count(e);
  return 1;
}
