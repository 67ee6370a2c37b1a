/*
 * One aggregation run (typeahead-aggregate --tables; SPEC §4, docs/TABLES.md): reads the
 * inputs, counts their events per (ISO week, display spelling), merges the counts into the week
 * tables of DIR and records the inputs' SHA-256 in DIR/ledger, as one transaction.
 *
 * Why a rerun after kill -9 leaves exactly the tables of an uninterrupted run:
 *   1. Everything new (each touched week's table, the whole new ledger) is written into
 *      DIR/.txn.tmp/ and fsynced, then the directory itself.
 *   2. The commit point is one rename: .txn.tmp -> .txn (then DIR is fsynced).
 *   3. Roll forward: each file of .txn is renamed over its namesake in DIR; then .txn is removed.
 * The next run (under the same flock on DIR/.lock) first finishes step 3 if .txn exists (the
 * renames are idempotent: a file already moved is simply no longer in .txn), and throws away
 * .txn.tmp and .work (a run that died before its commit point changed nothing). So a killed run
 * has either changed nothing, and the rerun does all of its work, or committed everything, and
 * the rerun completes the renames and then finds every input in the ledger.
 *
 * What of an input to count (all, nothing, or the part after a prefix counted before) is
 * agg__plan's (agg_input.c). Each log is judged alone against --max-bad: a refused one is named
 * and left out of the counts and the ledger; when some of its events were already counted, the
 * counting starts over without it, since counts cannot be taken back out of the counters.
 */
#include "agg_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <stdarg.h>

#define READ_BUF (1u << 20)

/* Removes every file of dir/sub and then the directory (it holds no subdirectories). */
static int remove_flat_dir(const char *dir, const char *sub) {
  char path[4096], f[4096 + 256];
  snprintf(path, sizeof path, "%s/%s", dir, sub);
  DIR *d = opendir(path);
  if (!d) return errno == ENOENT ? 0 : ta_error_from_errno(errno);
  struct dirent *e;
  while ((e = readdir(d))) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    snprintf(f, sizeof f, "%s/%s", path, e->d_name);
    unlink(f);
  }
  closedir(d);
  if (rmdir(path) != 0 && errno != ENOENT) return ta_error_from_errno(errno);
  return 0;
}

/* Step 3 of the transaction: move every file of DIR/.txn into DIR, then drop .txn. */
static int roll_forward(const char *dir) {
  char txn[4096], from[4096 + 256], to[4096 + 256];
  snprintf(txn, sizeof txn, "%s/%s", dir, TBL_TXN_DIR);
  DIR *d = opendir(txn);
  if (!d) return errno == ENOENT ? 0 : ta_error_from_errno(errno);
  struct dirent *e;
  int rc = 0;
  while ((e = readdir(d))) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    snprintf(from, sizeof from, "%s/%s", txn, e->d_name);
    snprintf(to, sizeof to, "%s/%s", dir, e->d_name);
    if (rename(from, to) != 0) {
      rc = ta_error_from_errno(errno);
      break;
    }
  }
  closedir(d);
  if (rc) return rc;
  if ((rc = ta_fsync_dir(dir))) return rc;
  if (rmdir(txn) != 0) return ta_error_from_errno(errno);
  return ta_fsync_dir(dir);
}

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

/* SHA-256 of a file's bytes; when copy_to is set (stdin), also copies them there. */
static int hash_input(run_t *r, int fd, const char *name, FILE *copy_to, char hex[65],
                      uint64_t *size) {
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
    EVP_MD_CTX_free(ctx);
    return agg__fail(r->err, r->err_cap, TA_ENOMEM, "cannot start SHA-256");
  }
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
    EVP_DigestUpdate(ctx, r->buf, (size_t)n);
    if (copy_to && fwrite(r->buf, 1, (size_t)n, copy_to) != (size_t)n) {
      rc = agg__fail(r->err, r->err_cap, TA_EIO, "cannot spool %s into %s/%s", name, r->dir,
                     AGG__WORK);
      break;
    }
    *size += (uint64_t)n;
  }
  if (rc) {
    EVP_MD_CTX_free(ctx);
    return rc;
  }
  return agg__sha_hex(ctx, hex);
}

/* Copies fd into an unlinked file of DIR/.work (so it can be read twice) and keeps it in in. */
static int spool(run_t *r, input_t *in, int fd, size_t i) {
  char path[4200], hex[65];
  uint64_t size;
  snprintf(path, sizeof path, "%s/%s/spool.%zu", r->dir, AGG__WORK, i);
  FILE *f = fopen(path, "w+bx");
  if (!f)
    return agg__fail(r->err, r->err_cap, ta_error_from_errno(errno), "%s: %s", path,
                     strerror(errno));
  int rc = hash_input(r, fd, in->shown, f, hex, &size);
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
  char hex[65];
  uint64_t size;
  if (agg__ledger_has_v1_size(&r->ledger, (uint64_t)sb.st_size)) {
    /* A version 1 row knows its input by the bytes as given. */
    if (lseek(fd, 0, SEEK_SET) != 0 || (rc = hash_input(r, fd, in->shown, NULL, hex, &size))) {
      if (!keep) close(fd);
      return refuse(r, in, "%s", rc ? r->err : strerror(errno));
    }
    if (agg__ledger_has(&r->ledger, hex, 0)) {
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
                     .sha = plan.at_from};
  rc = agg__ingest_input(r->ingest, &ai, r->err, r->err_cap);
  if (!keep) close(fd);
  if (!rc)
    rc = agg__sha_hex(plan.at_from, hex); /* frees the state */
  else
    EVP_MD_CTX_free(plan.at_from);
  plan.at_from = NULL;
  uint64_t lines = st->lines - before.lines, bad = st->bad_total - before.bad_total;
  uint64_t events = st->events - before.events, bytes = ai.bytes;
  char why[256] = "";
  if (rc) {
    if (ai.stopped) *polluted = 2; /* the run starts over without this input */
    if (!ai.input_fault) return rc;
    snprintf(why, sizeof why, "%s", r->err);
  } else if (plan.from
                 ? ai.end != plan.length || memcmp(hex, plan.hex, 64) != 0
                 : (ai.end < AGG__HEAD ? ai.end != plan.head_len : plan.head_len != AGG__HEAD) ||
                       agg__ledger_has(&r->ledger, hex, 1)) {
    snprintf(why, sizeof why, "it changed while it was read");
  } else if (bad && (double)bad * 100.0 > r->opts->max_bad_pct * (double)lines) {
    snprintf(why, sizeof why,
             "%llu of %llu lines are bad (more than --max-bad %g%%); is --format %s right?",
             (unsigned long long)bad, (unsigned long long)lines, r->opts->max_bad_pct,
             aol ? "aol" : "tsv");
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

/* Writes the new table of every week in the counter's stream into txn (merged with DIR's
 * current table of that week). */
static int write_tables(run_t *r, const char *txn) {
  tbl_week_t w;
  const char *s;
  size_t len;
  uint64_t count;
  int have = agg__ingest_next(r->ingest, &w, &s, &len, &count);
  char path[4096 + 64], old[4096 + 64], name[TBL_WEEK_STR];
  while (have == 1) {
    tbl_week_t week = w;
    tbl_week_name(week, name);
    snprintf(path, sizeof path, "%s/%s%s", txn, name, TBL_SUFFIX);
    snprintf(old, sizeof old, "%s/%s%s", r->dir, name, TBL_SUFFIX);
    tbl_reader_t *t = NULL;
    int orc = 0;
    const char *os = NULL;
    size_t olen = 0;
    uint64_t ocount = 0;
    if (access(old, F_OK) == 0) {
      int rc = tbl_reader_open(old, &t);
      if (rc == 0) rc = orc = tbl_reader_next(t, &os, &olen, &ocount);
      if (rc < 0) {
        agg__fail(r->err, r->err_cap, rc, "%s (fix or remove it, then rerun)",
                  tbl_reader_errmsg(t));
        tbl_reader_close(t);
        return rc;
      }
    }
    tbl_writer_t *wr;
    int rc = tbl_writer_open(path, week, &wr);
    if (rc) {
      tbl_reader_close(t);
      return agg__fail(r->err, r->err_cap, rc, "%s: %s", path, ta_strerror(rc));
    }
    /* Merge join of two sorted streams: new counts (have) and the old table (orc). */
    while (rc == 0 && ((have == 1 && w == week) || orc == 1)) {
      int c;
      if (!(have == 1 && w == week))
        c = 1;
      else if (orc != 1)
        c = -1;
      else
        c = ta_bytes_cmp(s, len, os, olen);
      if (c < 0) {
        rc = tbl_writer_add(wr, s, len, count);
      } else if (c > 0) {
        rc = tbl_writer_add(wr, os, olen, ocount);
      } else if (count > UINT64_MAX - ocount) {
        rc = TA_ERANGE;
      } else {
        rc = tbl_writer_add(wr, s, len, count + ocount);
      }
      if (rc) break;
      if (c <= 0 && (have = agg__ingest_next(r->ingest, &w, &s, &len, &count)) < 0) rc = have;
      if (!rc && c >= 0 && (orc = tbl_reader_next(t, &os, &olen, &ocount)) < 0) {
        rc = agg__fail(r->err, r->err_cap, orc, "%s (fix or remove it, then rerun)",
                       tbl_reader_errmsg(t));
        tbl_reader_close(t);
        tbl_writer_abort(wr);
        return rc;
      }
    }
    tbl_reader_close(t);
    if (rc) {
      tbl_writer_abort(wr);
      return agg__fail(r->err, r->err_cap, rc, "writing %s: %s", path, ta_strerror(rc));
    }
    if ((rc = tbl_writer_close(wr)))
      return agg__fail(r->err, r->err_cap, rc, "writing %s: %s", path, ta_strerror(rc));
    r->stats->weeks++;
  }
  if (have < 0) return agg__fail(r->err, r->err_cap, have, "merging counts: %s", ta_strerror(have));
  return 0;
}

static int lock_dir(const char *dir, int *out_fd, char *err, size_t cap) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, AGG__LOCK);
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    return agg__fail(err, cap, ta_error_from_errno(errno), "%s: %s", path, strerror(errno));
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    close(fd);
    return agg__fail(err, cap, TA_EBUSY, "%s: another typeahead-aggregate is working on %s", path,
                     dir);
  }
  *out_fd = fd;
  return 0;
}

int agg_run(const char *dir, const char *const *inputs, size_t n, const agg_opts_t *opts,
            agg_stats_t *stats, char *err, size_t err_cap) {
  memset(stats, 0, sizeof *stats);
  if (err && err_cap) err[0] = 0;
  if (strlen(dir) > 3000) return agg__fail(err, err_cap, TA_ETOOLONG, "directory name too long");
  run_t r = {.dir = dir, .opts = opts, .stats = stats, .err = err, .err_cap = err_cap};
  double t0 = ta_mono_s();
  if (mkdir(dir, 0755) != 0 && errno != EEXIST)
    return agg__fail(err, err_cap, ta_error_from_errno(errno), "%s: %s", dir, strerror(errno));
  int lock_fd = -1;
  int rc = lock_dir(dir, &lock_fd, err, err_cap);
  if (rc) return rc;

  char work[4096], txn_tmp[4096], txn[4096], path[4200];
  snprintf(work, sizeof work, "%s/%s", dir, AGG__WORK);
  snprintf(txn_tmp, sizeof txn_tmp, "%s/%s", dir, AGG__TXN_TMP);
  snprintf(txn, sizeof txn, "%s/%s", dir, TBL_TXN_DIR);
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

  /* Finish what a killed run committed; forget what it did not. */
  if ((rc = roll_forward(dir))) {
    rc = agg__fail(err, err_cap, rc, "%s: cannot complete the interrupted run: %s", txn,
                   ta_strerror(rc));
    goto out;
  }
  remove_flat_dir(dir, AGG__TXN_TMP);
  remove_flat_dir(dir, AGG__WORK);
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
      remove_flat_dir(dir, AGG__WORK);
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

  /* 1. Everything new into .txn.tmp, fsynced. */
  if (mkdir(txn_tmp, 0755) != 0) {
    rc = agg__fail(err, err_cap, ta_error_from_errno(errno), "%s: %s", txn_tmp, strerror(errno));
    goto out;
  }
  if ((rc = agg__ingest_finish(r.ingest))) {
    rc = agg__fail(err, err_cap, rc, "sorting counts: %s", ta_strerror(rc));
    goto out;
  }
  if ((rc = write_tables(&r, txn_tmp))) goto out;
  snprintf(path, sizeof path, "%s/%s", txn_tmp, AGG__LEDGER);
  if ((rc = agg__ledger_write(path, &r.ledger)) || (rc = ta_fsync_dir(txn_tmp))) {
    rc = agg__fail(err, err_cap, rc, "%s: %s", path, ta_strerror(rc));
    goto out;
  }
  /* 2. The commit point. */
  if (rename(txn_tmp, txn) != 0 || ta_fsync_dir(dir) != 0) {
    rc = agg__fail(err, err_cap, ta_error_from_errno(errno), "%s: cannot commit: %s", txn,
                   strerror(errno));
    goto out;
  }
  /* 3. Roll forward (the next run does it if we die here). */
  if ((rc = roll_forward(dir)))
    rc = agg__fail(err, err_cap, rc,
                   "%s: committed, but moving tables failed (%s); the next "
                   "run completes it",
                   txn, ta_strerror(rc));

out:
  agg__ingest_free(r.ingest);
  free(r.buf);
  agg__ledger_free(&r.ledger);
  for (size_t i = 0; ins && i < n; i++)
    if (ins[i].fd >= 0) close(ins[i].fd);
  free(ins);
  if (rc) remove_flat_dir(dir, AGG__TXN_TMP);
  remove_flat_dir(dir, AGG__WORK);
  close(lock_fd);
  stats->seconds = ta_mono_s() - t0;
  return rc;
}
