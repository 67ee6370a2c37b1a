/*
 * One aggregation run (typeahead-aggregate --tables; SPEC §4, docs/TABLES.md): reads the
 * inputs, counts their events per (ISO week, display spelling), merges the counts into the week
 * tables of DIR and records the inputs' digests in DIR/ledger, as one transaction.
 *
 * Why a rerun after kill -9 leaves exactly the tables of an uninterrupted run: everything new is
 * written into DIR/.txn.tmp/ and committed by one rename (the transaction of agg_txn.c, shared
 * with --load).
 *
 * What of an input to count (all, nothing, or the part after a prefix counted before) is
 * agg__plan's (agg_input.c). Each log is judged alone against --max-bad: a refused one is named
 * and left out of the counts and the ledger; when some of its events were already counted, the
 * counting starts over without it, since counts cannot be taken back out of the counters.
 */
#include "agg_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stdarg.h>

#define READ_BUF (1u << 20)

/* ---- Inputs ------------------------------------------------------------------------------- */

typedef struct {
  const char *dir;
  const agg_opts_t *opts;
  agg_stats_t *stats;
  agg__ingest_t *ingest;
  agg__ledger_t ledger;
  char *buf;
  char *err;
  size_t err_cap;
  int n_new; /* inputs counted (rows added to the ledger) */
} run_t;

typedef struct {
  const char *name;  /* as given */
  const char *shown; /* in messages */
  int fd;            /* stdin or another input that is not a regular file, spooled: kept */
  int refused;
} input_t;

/* Reads a file's bytes to its end: when hex is set, into their SHA-256 (the digest of a v1
 * ledger row); when copy_to is set (stdin), into that file. */
static int hash_input(run_t *r, int fd, const char *name, FILE *copy_to, char hex[AGG__HEX],
                      uint64_t *size) {
  agg__sum_t *sum = NULL;
  if (hex && agg__sum_new(AGG__SHA256, &sum) != 0)
    return agg__fail(r->err, r->err_cap, TA_ENOMEM, "cannot start SHA-256");
  int rc = 0;
  *size = 0;
  for (;;) {
    ssize_t n = read(fd, r->buf, READ_BUF);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      rc = agg__fail(r->err, r->err_cap, TA_EIO, "%s: read error: %s", name, strerror(errno));
      break;
    }
    if (n == 0) break;
    if (sum) agg__sum_update(sum, r->buf, (size_t)n);
    if (copy_to && fwrite(r->buf, 1, (size_t)n, copy_to) != (size_t)n) {
      rc = agg__fail(r->err, r->err_cap, TA_EIO, "cannot spool %s into %s/%s", name, r->dir,
                     AGG__WORK);
      break;
    }
    *size += (uint64_t)n;
  }
  if (!rc && sum) rc = agg__sum_hex(sum, hex);
  agg__sum_free(sum);
  return rc;
}

/* Copies fd into an unlinked file of DIR/.work (so it can be read twice) and keeps it in in. */
static int spool(run_t *r, input_t *in, int fd, size_t i) {
  char path[4200];
  uint64_t size;
  snprintf(path, sizeof path, "%s/%s/spool.%zu", r->dir, AGG__WORK, i);
  FILE *f = fopen(path, "w+bx");
  if (!f)
    return agg__fail(r->err, r->err_cap, ta_error_from_errno(errno), "%s: %s", path,
                     strerror(errno));
  int rc = hash_input(r, fd, in->shown, f, NULL, &size);
  if (!rc && fflush(f) != 0) rc = agg__fail(r->err, r->err_cap, TA_EIO, "%s: write error", path);
  if (!rc && (in->fd = dup(fileno(f))) < 0) rc = TA_ENOMEM;
  fclose(f);
  unlink(path);
  return rc;
}

/* A refused input: named through opts->refused, not counted, not in the ledger. */
__attribute__((format(printf, 3, 4))) static int refuse(run_t *r, input_t *in, const char *fmt,
                                                        ...) {
  char why[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, sizeof why, fmt, ap);
  va_end(ap);
  in->refused = 1;
  r->stats->refused++;
  if (r->opts->refused) r->opts->refused(r->opts->refused_ctx, in->name, why);
  return 1;
}

/* Counts one input (or skips it when the ledger holds it). Returns 0, 1 when it is refused
 * (*polluted: 1 when some of its events are in the counters already, 2 when the counting
 * stopped too), or a negative error of the run. */
static int one_input(run_t *r, input_t *in, size_t i, int *polluted) {
  agg_stats_t *st = r->stats;
  int fd = in->fd;
  if (fd < 0 && (fd = open(in->name, O_RDONLY | O_CLOEXEC)) < 0)
    return refuse(r, in, "%s", strerror(errno));
  struct stat sb;
  if (fstat(fd, &sb) != 0 || S_ISDIR(sb.st_mode)) {
    if (fd != in->fd) close(fd);
    return refuse(r, in, "is a directory");
  }
  if (!S_ISREG(sb.st_mode) && in->fd < 0) { /* a pipe or a device: read it once, into a file */
    int rc = spool(r, in, fd, i);
    close(fd);
    if (rc) return rc;
    fd = in->fd;
    fstat(fd, &sb);
  }
  int keep = fd == in->fd, rc = 0;
  char hex[AGG__HEX];
  uint64_t size;
  if (agg__ledger_has_v1_size(&r->ledger, (uint64_t)sb.st_size)) {
    /* A version 1 row knows its input by the bytes as given. */
    if (lseek(fd, 0, SEEK_SET) != 0 || (rc = hash_input(r, fd, in->shown, NULL, hex, &size))) {
      if (!keep) close(fd);
      return refuse(r, in, "%s", rc ? r->err : strerror(errno));
    }
    if (agg__ledger_has(&r->ledger, AGG__SHA256, hex, 0)) {
      if (!keep) close(fd);
      st->skipped++;
      return 0;
    }
  }
  agg__plan_t plan;
  if ((rc = agg__plan(&r->ledger, fd, in->shown, r->buf, READ_BUF, &plan, r->err, r->err_cap))) {
    if (!keep) close(fd);
    return rc == TA_ENOMEM ? rc : refuse(r, in, "%s", r->err);
  }
  if (plan.known) {
    if (!keep) close(fd);
    agg__plan_free(&plan);
    st->skipped++;
    return 0;
  }
  agg_stats_t before = *st;
  int aol = r->opts->format == AGG_FORMAT_AOL;
  agg__input_t ai = {.fd = fd,
                     .name = in->shown,
                     .start = aol ? 0 : plan.from, /* AOL: the duplicate set at from */
                     .from = plan.from,
                     .limit = plan.from ? plan.length : UINT64_MAX,
                     .lineno = aol ? 0 : plan.lines + (uint64_t)plan.midline,
                     .midline = plan.midline,
                     .sum = plan.at_from};
  rc = agg__ingest_input(r->ingest, &ai, r->err, r->err_cap);
  if (!keep) close(fd);
  if (!rc) rc = agg__sum_hex(plan.at_from, hex);
  agg__plan_free(&plan);
  uint64_t lines = st->lines - before.lines, bad = st->bad_total - before.bad_total;
  uint64_t events = st->events - before.events, bytes = ai.bytes;
  char why[256] = "";
  if (rc) {
    if (ai.stopped) *polluted = 2; /* the run starts over without this input */
    if (!ai.input_fault) return rc;
    snprintf(why, sizeof why, "%s", r->err);
  } else if (plan.from
                 ? ai.end != plan.length || strcmp(hex, plan.hex) != 0
                 : (ai.end < AGG__HEAD ? ai.end != plan.head_len : plan.head_len != AGG__HEAD) ||
                       agg__ledger_has(&r->ledger, AGG__XXH128, hex, 1)) {
    snprintf(why, sizeof why, "it changed while it was read");
  } else {
    agg__too_bad(r->opts, bad, lines, why, sizeof why);
  }
  if (why[0]) {
    if (events > 0 && !*polluted) *polluted = 1;
    *st = before; /* its lines are not the run's */
    st->bytes += bytes;
    return refuse(r, in, "%s", why);
  }
  st->bytes += bytes;
  if ((rc = agg__ledger_add(&r->ledger, hex, plan.head, ai.end, events, in->name))) return rc;
  r->n_new++;
  return 0;
}

/* ---- The transaction ---------------------------------------------------------------------- */

/* The counters' sorted stream, as agg__txn_tables reads it. */
static int next_count(void *ctx, tbl_week_t *w, const char **s, size_t *len, uint64_t *count,
                      char *err, size_t cap) {
  int rc = agg__ingest_next(ctx, w, s, len, count);
  if (rc < 0) return agg__fail(err, cap, rc, "merging counts: %s", ta_strerror(rc));
  return rc;
}

int agg_run(const char *dir, const char *const *inputs, size_t n, const agg_opts_t *opts,
            agg_stats_t *stats, char *err, size_t err_cap) {
  memset(stats, 0, sizeof *stats);
  if (err && err_cap) err[0] = 0;
  run_t r = {.dir = dir, .opts = opts, .stats = stats, .err = err, .err_cap = err_cap};
  double t0 = ta_mono_s();
  int lock_fd = -1;
  int rc = agg__txn_begin(dir, opts->lock_wait_s, &lock_fd, err, err_cap);
  if (rc) {
    agg__txn_end(dir, lock_fd, 1);
    stats->seconds = ta_mono_s() - t0;
    return rc;
  }

  char work[4096], path[4200];
  snprintf(work, sizeof work, "%s/%s", dir, AGG__WORK);
  input_t *ins = calloc(n ? n : 1, sizeof *ins);
  agg_opts_t pass_opts = *opts;
  if (!ins) {
    rc = agg__fail(err, err_cap, TA_ENOMEM, "out of memory");
    goto out;
  }
  for (size_t i = 0; i < n; i++) {
    ins[i].name = inputs[i];
    ins[i].shown = strcmp(inputs[i], "-") == 0 ? "(stdin)" : inputs[i];
    ins[i].fd = strcmp(inputs[i], "-") == 0 ? -2 : -1;
  }

  if ((rc = agg__ledger_read(dir, &r.ledger, err, err_cap))) goto out;
  if (mkdir(work, 0700) != 0) {
    rc = agg__fail(err, err_cap, ta_error_from_errno(errno), "%s: %s", work, strerror(errno));
    goto out;
  }
  uint64_t budget = opts->mem_bytes ? opts->mem_bytes : (UINT64_C(512) << 20);
  /* Leave room for the read buffer, the AOL event set and merge buffers. */
  budget = budget > (UINT64_C(48) << 20) ? budget - (UINT64_C(24) << 20) : budget / 2;
  if (!(r.buf = malloc(READ_BUF))) {
    rc = agg__fail(err, err_cap, TA_ENOMEM, "out of memory");
    goto out;
  }
  for (size_t i = 0; i < n; i++) { /* stdin is read once, into a file */
    if (ins[i].fd != -2) continue;
    ins[i].fd = -1;
    if ((rc = spool(&r, &ins[i], 0, i))) goto out;
  }
  /* A refused log whose events are already counted cannot be taken out of the counters: the
   * counting starts over without it (only then: a run with no refused log reads each input
   * once or twice, see agg_input.c). Refused inputs stay refused, so this ends. */
  size_t rows_before = r.ledger.n;
  for (int pass = 0;; pass++) {
    if (pass) {
      agg__ingest_free(r.ingest);
      r.ingest = NULL;
      agg__ledger_truncate(&r.ledger, rows_before);
      r.n_new = 0;
      uint64_t refused = stats->refused;
      memset(stats, 0, sizeof *stats);
      stats->refused = refused;
      pass_opts.warn = NULL; /* its bad lines were named by the first pass */
      agg__txn_remove(dir, AGG__WORK);
      if (mkdir(work, 0700) != 0) {
        rc = agg__fail(err, err_cap, ta_error_from_errno(errno), "%s: %s", work, strerror(errno));
        goto out;
      }
    }
    stats->inputs = n;
    if (agg__ingest_new(&pass_opts, budget, work, stats, &r.ingest)) {
      rc = agg__fail(err, err_cap, TA_ENOMEM, "out of memory");
      goto out;
    }
    int again = 0;
    for (size_t i = 0; i < n; i++) {
      if (ins[i].refused) continue;
      int polluted = 0; /* 1: its events are counted; 2: and the counting stopped */
      rc = one_input(&r, &ins[i], i, &polluted);
      if (rc < 0) goto out;
      rc = 0;
      again |= polluted != 0;
      if (polluted == 2) break;
    }
    if (!again) break;
  }
  agg__ingest_progress(r.ingest, 1);
  stats->spills = agg__ingest_spills(r.ingest);
  if (r.n_new == 0) goto out; /* nothing new: nothing to write */

  /* Everything new into .txn.tmp, then the commit (agg_txn.c). */
  if ((rc = agg__ingest_finish(r.ingest))) {
    rc = agg__fail(err, err_cap, rc, "sorting counts: %s", ta_strerror(rc));
    goto out;
  }
  /* weeks written only once they are committed: a failed run's summary must not claim them */
  uint64_t weeks = 0;
  if ((rc = agg__txn_tables(dir, next_count, r.ingest, &weeks, err, err_cap))) goto out;
  snprintf(path, sizeof path, "%s/%s/%s", dir, AGG__TXN_TMP, AGG__LEDGER);
  if ((rc = agg__ledger_write(path, &r.ledger))) {
    rc = agg__fail(err, err_cap, rc, "%s: %s", path, ta_strerror(rc));
    goto out;
  }
  if ((rc = agg__txn_commit(dir, err, err_cap)) == 0) stats->weeks = weeks;

out:
  agg__ingest_free(r.ingest);
  free(r.buf);
  agg__ledger_free(&r.ledger);
  for (size_t i = 0; ins && i < n; i++)
    if (ins[i].fd >= 0) close(ins[i].fd);
  free(ins);
  agg__txn_end(dir, lock_fd, rc != 0);
  stats->seconds = ta_mono_s() - t0;
  return rc;
}
