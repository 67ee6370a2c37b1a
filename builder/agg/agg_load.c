/*
 * --load (SPEC §12; docs/TABLES.md, "Map, reduce, load"): summed records into a tables
 * directory, through the transaction of an aggregation run (agg_txn.c), so a load killed at any
 * moment is completed or forgotten like a run. The batch id goes into DIR/batches in the same
 * transaction as the tables: a batch is loaded once, whatever the reruns.
 */
#include "agg_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define BATCHES "batches"
#define BATCHES_HEADER "# typeahead-aggregate batches v1: batch<TAB>records<TAB>events\n"
#define BATCHES_MAX (UINT64_C(1) << 30)

int agg_batch_valid(const char *id) {
  size_t n = strlen(id);
  if (n == 0 || n > AGG_MAX_BATCH) return 0;
  for (size_t i = 0; i < n; i++)
    if (id[i] <= ' ' || id[i] > '~') return 0;
  return 1;
}

typedef struct {
  agg__lines_t lines;
  agg__rec_t rec;
  agg_mr_stats_t *st;
  tbl_week_t week; /* of the last row */
  char key[TBL_MAX_KEY], prev[TBL_MAX_KEY];
  size_t prev_len;
  int have;
} load_t;

/* The next record as a row of the tables, checked: well formed, a count, in display form,
 * after the previous one. */
static int next_row(void *ctx, tbl_week_t *w, const char **key, size_t *len, uint64_t *count,
                    char *err, size_t cap) {
  load_t *l = ctx;
  const char *line, *why;
  size_t n;
  int flags, rc = agg__lines_next(&l->lines, &line, &n, &flags);
  if (rc <= 0) return rc < 0 ? agg__fail(err, cap, rc, "read error: %s", ta_strerror(rc)) : 0;
  unsigned long long ln = (unsigned long long)l->lines.lineno;
  if (flags)
    return agg__fail(err, cap, TA_EPARSE, "line %llu: %s", ln,
                     flags & AGG__LF_TOOLONG ? "longer than any record"
                                             : "no newline at the end: the input is cut");
  if (agg__rec_parse(&l->rec, line, n, &why))
    return agg__fail(err, cap, TA_EPARSE, "line %llu: %s", ln, why);
  if (l->rec.is_id)
    return agg__fail(err, cap, TA_EPARSE, "line %llu: an event id, not a count: run --reduce first",
                     ln);
  if (!agg__rec_spelling_ok(&l->rec))
    return agg__fail(err, cap, TA_EPARSE, "line %llu: the spelling is not in display form", ln);
  size_t kl = tbl_key_make(l->key, l->rec.market, l->rec.market_len, l->rec.s, l->rec.len);
  if (l->have && (l->rec.week < l->week ||
                  (l->rec.week == l->week && ta_bytes_cmp(l->prev, l->prev_len, l->key, kl) >= 0)))
    return agg__fail(err, cap, TA_EPARSE,
                     "line %llu: not after line %llu: the records must be sorted and reduced", ln,
                     ln - 1);
  if (l->rec.market_len == 0) {
    if (l->st->events > UINT64_MAX - l->rec.value)
      return agg__fail(err, cap, TA_ERANGE, "line %llu: the counts overflow 64 bits", ln);
    l->st->events += l->rec.value;
  }
  l->have = 1;
  l->week = l->rec.week;
  memcpy(l->prev, l->key, kl);
  l->prev_len = kl;
  l->st->records++;
  l->st->rows++;
  *w = l->rec.week;
  *key = l->prev;
  *len = kl;
  *count = l->rec.value;
  return 1;
}

/* DIR/batches (its text into *text): 1 when it names batch. */
static int batch_known(const char *dir, const char *batch, ta_buf_t *text, char *err, size_t cap) {
  char path[4200];
  snprintf(path, sizeof path, "%s/%s", dir, BATCHES);
  if (access(path, F_OK) != 0 && errno == ENOENT) return 0;
  ta_diag_t diag;
  int rc = ta_read_file(path, BATCHES_MAX, text, &diag);
  if (rc) return agg__fail(err, cap, rc, "%s: %s", path, ta_strerror(rc));
  size_t hl = strlen(BATCHES_HEADER), bl = strlen(batch);
  if (text->len < hl || memcmp(text->p, BATCHES_HEADER, hl) != 0 || text->p[text->len - 1] != '\n')
    return agg__fail(err, cap, TA_ECORRUPT, "%s: not a batch list of this version", path);
  for (size_t i = hl; i < text->len;) {
    const char *nl = memchr(text->p + i, '\n', text->len - i);
    const char *tab = memchr(text->p + i, '\t', (size_t)(nl - text->p) - i);
    if (!tab)
      return agg__fail(err, cap, TA_ECORRUPT, "%s: byte %zu: a line without a TAB", path, i);
    if ((size_t)(tab - text->p) - i == bl && memcmp(text->p + i, batch, bl) == 0) return 1;
    i = (size_t)(nl - text->p) + 1;
  }
  return 0;
}

/* The batch list with batch added, into DIR/.txn.tmp (fsynced). */
static int write_batches(const char *dir, ta_buf_t *text, const char *batch,
                         const agg_mr_stats_t *st, char *err, size_t cap) {
  char path[4200];
  snprintf(path, sizeof path, "%s/%s/%s", dir, AGG__TXN_TMP, BATCHES);
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
  if (!f) {
    if (fd >= 0) close(fd);
    return agg__fail(err, cap, TA_EIO, "%s: %s", path, strerror(errno));
  }
  if (text->len == 0)
    fputs(BATCHES_HEADER, f);
  else /* (an empty buffer has no pointer, which fwrite must not get) */
    fwrite(text->p, 1, text->len, f);
  fprintf(f, "%s\t%llu\t%llu\n", batch, (unsigned long long)st->rows,
          (unsigned long long)st->events);
  int rc = ta_fclose_written(f, 1);
  return rc ? agg__fail(err, cap, rc, "%s: %s", path, ta_strerror(rc)) : 0;
}

int agg_load(const char *dir, const char *batch, unsigned wait_s, int in_fd, agg_mr_stats_t *st,
             char *err, size_t cap) {
  memset(st, 0, sizeof *st);
  if (err && cap) err[0] = 0;
  if (!agg_batch_valid(batch))
    return agg__fail(err, cap, TA_EINVAL, "--batch '%s' is not 1 to %d printable bytes", batch,
                     AGG_MAX_BATCH);
  int lock_fd = -1;
  int rc = agg__txn_begin(dir, wait_s, &lock_fd, err, cap);
  ta_buf_t text = {0};
  load_t *l = NULL;
  if (rc) goto out;
  if ((rc = batch_known(dir, batch, &text, err, cap)) != 0) {
    if (rc == 1) st->already = 1, rc = 0;
    goto out;
  }
  if (!(l = calloc(1, sizeof *l)) || agg__lines_open(&l->lines, in_fd) != 0) {
    rc = agg__fail(err, cap, TA_ENOMEM, "out of memory");
    goto out;
  }
  l->st = st;
  if ((rc = agg__txn_tables(dir, next_row, l, &st->weeks, err, cap))) goto out;
  if ((rc = write_batches(dir, &text, batch, st, err, cap))) goto out;
  rc = agg__txn_commit(dir, err, cap);
out:
  if (l) agg__lines_close(&l->lines);
  free(l);
  ta_buf_free(&text);
  agg__txn_end(dir, lock_fd, rc != 0);
  return rc;
}
