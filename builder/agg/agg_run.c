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
 * An input is read once: its SHA-256 is computed while it is counted (agg_ingest.c), when no
 * input in the ledger has its size (equal content means equal size, so it cannot be a known
 * one). Otherwise (and for gzip, stdin and anything not a regular file) it is hashed first and
 * counted only when the ledger does not hold its digest.
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

/* ---- Ledger ------------------------------------------------------------------------------- */

#define LEDGER_HEADER "# typeahead-aggregate ledger v1: sha256<TAB>bytes<TAB>events<TAB>name\n"

typedef struct {
  char hex[65];
  uint64_t bytes; /* the input's size; UINT64_MAX when the row does not say */
  char *line;     /* the whole line, with its newline */
} ledger_row_t;

typedef struct {
  ledger_row_t *rows;
  size_t n, cap;
} ledger_t;

static void ledger_free(ledger_t *l) {
  for (size_t i = 0; i < l->n; i++) free(l->rows[i].line);
  free(l->rows);
  memset(l, 0, sizeof *l);
}

static int ledger_has(const ledger_t *l, const char *hex) {
  for (size_t i = 0; i < l->n; i++)
    if (memcmp(l->rows[i].hex, hex, 64) == 0) return 1;
  return 0;
}

/* 1 when an input of this size may be in the ledger (a row of that size, or one not saying). */
static int ledger_has_size(const ledger_t *l, uint64_t bytes) {
  for (size_t i = 0; i < l->n; i++)
    if (l->rows[i].bytes == bytes || l->rows[i].bytes == UINT64_MAX) return 1;
  return 0;
}

/* The bytes field of a row ("sha256<TAB>bytes<TAB>..."); UINT64_MAX when it is not a number. */
static uint64_t row_bytes(const char *line, size_t len) {
  uint64_t v = 0;
  size_t i = 65, start = i;
  for (; i < len && line[i] >= '0' && line[i] <= '9'; i++) {
    if (v > (UINT64_MAX - 9) / 10) return UINT64_MAX;
    v = v * 10 + (uint64_t)(line[i] - '0');
  }
  return i > start && i < len && line[i] == '\t' ? v : UINT64_MAX;
}

static int ledger_add(ledger_t *l, const char *hex, const char *line, size_t len) {
  int rc;
  if (l->n == l->cap && (rc = ta_grow((void **)&l->rows, &l->cap, l->n + 1, sizeof *l->rows, 64)))
    return rc;
  ledger_row_t *r = &l->rows[l->n];
  if (!(r->line = malloc(len + 1))) return TA_ENOMEM;
  memcpy(r->line, line, len);
  r->line[len] = 0;
  memcpy(r->hex, hex, 64);
  r->hex[64] = 0;
  r->bytes = row_bytes(line, len);
  l->n++;
  return 0;
}

static int ledger_read(const char *dir, ledger_t *l, char *err, size_t cap) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, AGG__LEDGER);
  FILE *f = fopen(path, "rb");
  if (!f) {
    if (errno == ENOENT) return 0;
    return agg__fail(err, cap, ta_error_from_errno(errno), "%s: %s", path, strerror(errno));
  }
  char *line = NULL;
  size_t lcap = 0;
  ssize_t n;
  unsigned long lineno = 0;
  int rc = 0;
  while ((n = getline(&line, &lcap, f)) > 0) {
    lineno++;
    if (line[0] == '#') continue;
    int ok = n >= 66 && line[64] == '\t' && line[n - 1] == '\n';
    for (int i = 0; ok && i < 64; i++)
      ok = (line[i] >= '0' && line[i] <= '9') || (line[i] >= 'a' && line[i] <= 'f');
    if (!ok) {
      rc = agg__fail(err, cap, TA_ECORRUPT, "%s: line %lu: not \"sha256<TAB>...\"", path, lineno);
      break;
    }
    if ((rc = ledger_add(l, line, line, (size_t)n))) break;
  }
  if (!rc && ferror(f)) rc = agg__fail(err, cap, TA_EIO, "%s: read error", path);
  free(line);
  fclose(f);
  return rc;
}

static int cmp_row(const void *a, const void *b) {
  return memcmp(((const ledger_row_t *)a)->hex, ((const ledger_row_t *)b)->hex, 64);
}

static int ledger_write(const char *path, ledger_t *l) {
  if (l->n) qsort(l->rows, l->n, sizeof *l->rows, cmp_row);
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return ta_error_from_errno(errno);
  FILE *f = fdopen(fd, "wb");
  if (!f) {
    close(fd);
    return TA_ENOMEM;
  }
  fputs(LEDGER_HEADER, f);
  for (size_t i = 0; i < l->n; i++) fputs(l->rows[i].line, f);
  int rc = (ferror(f) || fflush(f) != 0 || fsync(fd) != 0) ? TA_EIO : 0;
  if (fclose(f) != 0) rc = TA_EIO;
  return rc;
}

/* ---- Inputs ------------------------------------------------------------------------------- */

typedef struct {
  const char *dir;
  const agg_opts_t *opts;
  agg_stats_t *stats;
  agg__ingest_t *ingest;
  char *buf;
  char *err;
  size_t err_cap;
} run_t;

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
  unsigned char md[32];
  unsigned int mdlen = 0;
  if (!rc) EVP_DigestFinal_ex(ctx, md, &mdlen);
  EVP_MD_CTX_free(ctx);
  if (!rc) agg__hex(md, hex);
  return rc;
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

static void sanitize_name(const char *in, char *out, size_t cap) {
  const char *base = strcmp(in, "-") == 0 ? "(stdin)" : in;
  size_t k = 0;
  for (; *base && k + 1 < cap; base++) {
    unsigned char ch = (unsigned char)*base;
    out[k++] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
  }
  out[k] = 0;
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
  ledger_t ledger = {0};
  int n_new = 0;

  /* Finish what a killed run committed; forget what it did not. */
  if ((rc = roll_forward(dir))) {
    rc = agg__fail(err, err_cap, rc, "%s: cannot complete the interrupted run: %s", txn,
                   ta_strerror(rc));
    goto out;
  }
  remove_flat_dir(dir, AGG__TXN_TMP);
  remove_flat_dir(dir, AGG__WORK);
  if ((rc = ledger_read(dir, &ledger, err, err_cap))) goto out;
  if (mkdir(work, 0700) != 0) {
    rc = agg__fail(err, err_cap, ta_error_from_errno(errno), "%s: %s", work, strerror(errno));
    goto out;
  }
  uint64_t budget = opts->mem_bytes ? opts->mem_bytes : (UINT64_C(512) << 20);
  /* Leave room for the read buffer, the AOL event set and merge buffers. */
  budget = budget > (UINT64_C(48) << 20) ? budget - (UINT64_C(24) << 20) : budget / 2;
  if (!(r.buf = malloc(READ_BUF)) || agg__ingest_new(opts, budget, work, stats, &r.ingest)) {
    rc = agg__fail(err, err_cap, TA_ENOMEM, "out of memory");
    goto out;
  }

  for (size_t i = 0; i < n; i++) {
    const char *name = inputs[i];
    int is_stdin = strcmp(name, "-") == 0;
    const char *shown = is_stdin ? "(stdin)" : name;
    int fd, hashed = 0; /* hashed: hex and size are known before counting */
    char hex[65];
    uint64_t size = 0;
    struct stat st;
    stats->inputs++;
    if (is_stdin) {
      /* Spool stdin, so it can be hashed before it is counted. */
      snprintf(path, sizeof path, "%s/stdin.%zu", work, i);
      FILE *spool = fopen(path, "w+bx");
      if (!spool) {
        rc = agg__fail(err, err_cap, ta_error_from_errno(errno), "%s: %s", path, strerror(errno));
        goto out;
      }
      rc = hash_input(&r, 0, shown, spool, hex, &size);
      if (!rc && fflush(spool) != 0) rc = agg__fail(err, err_cap, TA_EIO, "%s: write error", path);
      fd = rc ? -1 : dup(fileno(spool));
      fclose(spool);
      unlink(path);
      if (rc) goto out;
      hashed = 1;
    } else {
      fd = open(name, O_RDONLY | O_CLOEXEC);
      if (fd < 0) {
        rc = agg__fail(err, err_cap, ta_error_from_errno(errno), "%s: %s", name, strerror(errno));
        goto out;
      }
      int stat_ok = fstat(fd, &st) == 0;
      if (stat_ok && S_ISDIR(st.st_mode)) {
        close(fd);
        rc = agg__fail(err, err_cap, TA_EINVAL, "%s: is a directory", name);
        goto out;
      }
      unsigned char magic[2];
      int gz = pread(fd, magic, 2, 0) == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
      if (!stat_ok || !S_ISREG(st.st_mode) || gz ||
          ledger_has_size(&ledger, (uint64_t)st.st_size)) {
        if ((rc = hash_input(&r, fd, name, NULL, hex, &size))) {
          close(fd);
          goto out;
        }
        hashed = 1;
      }
    }
    if (hashed) {
      stats->bytes += size;
      if (ledger_has(&ledger, hex)) {
        stats->skipped++;
        close(fd);
        continue;
      }
      if (lseek(fd, 0, SEEK_SET) != 0) {
        close(fd);
        rc = agg__fail(err, err_cap, TA_EIO, "%s: cannot seek back (a pipe? use -)", name);
        goto out;
      }
    }
    uint64_t events_before = stats->events, read_bytes = 0;
    rc = agg__ingest_input(r.ingest, fd, shown, hashed ? NULL : hex, &read_bytes, err, err_cap);
    close(fd);
    if (rc) goto out;
    if (!hashed) {
      size = read_bytes;
      stats->bytes += size;
      /* It changed while it was read: now it may be an input the ledger holds. */
      if (size != (uint64_t)st.st_size && ledger_has(&ledger, hex)) {
        rc = agg__fail(err, err_cap, TA_EIO,
                       "%s changed while it was read and is now an input already ingested; "
                       "nothing was written",
                       name);
        goto out;
      }
    }
    char clean[512], line[1024];
    sanitize_name(name, clean, sizeof clean);
    int len = snprintf(line, sizeof line, "%s\t%llu\t%llu\t%s\n", hex, (unsigned long long)size,
                       (unsigned long long)(stats->events - events_before), clean);
    if (len < 0 || (size_t)len >= sizeof line) len = (int)strlen(line);
    if ((rc = ledger_add(&ledger, hex, line, (size_t)len))) goto out;
    n_new++;
  }
  agg__ingest_progress(r.ingest, 1);
  stats->spills = agg__ingest_spills(r.ingest);
  if (stats->bad_total &&
      (double)stats->bad_total * 100.0 > opts->max_bad_pct * (double)stats->lines) {
    rc = agg__fail(err, err_cap, TA_ETOOBAD,
                   "%llu of %llu lines are bad (more than --max-bad %g%%): nothing was written; "
                   "is --format %s right for these logs?",
                   (unsigned long long)stats->bad_total, (unsigned long long)stats->lines,
                   opts->max_bad_pct, opts->format == AGG_FORMAT_AOL ? "aol" : "tsv");
    goto out;
  }
  if (n_new == 0) goto out; /* nothing new: nothing to write */

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
  if ((rc = ledger_write(path, &ledger)) || (rc = ta_fsync_dir(txn_tmp))) {
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
  ledger_free(&ledger);
  if (rc) remove_flat_dir(dir, AGG__TXN_TMP);
  remove_flat_dir(dir, AGG__WORK);
  close(lock_fd);
  stats->seconds = ta_mono_s() - t0;
  return rc;
}
