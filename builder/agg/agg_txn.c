/*
 * The transaction of a tables directory (docs/TABLES.md, "One run is one transaction"), shared
 * by an aggregation run (agg_run.c) and a load of reduced records (agg_load.c), so both commit
 * the same way:
 *   1. Everything new (each touched week's table, and the ledger or the batch list) is written
 *      into DIR/.txn.tmp/ and fsynced, then the directory itself.
 *   2. The commit point is one rename: .txn.tmp -> .txn (then DIR is fsynced).
 *   3. Roll forward: each file of .txn is renamed over its namesake in DIR; then .txn is removed.
 * The next writer (under the same flock on DIR/.lock) first finishes step 3 if .txn exists (the
 * renames are idempotent: a file already moved is simply no longer in .txn), and throws away
 * .txn.tmp and .work (a writer that died before its commit point changed nothing).
 */
#include "agg_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* Opens dir/sub as a directory, never through a symlink: the scratch names (.txn, .txn.tmp,
 * .work) are the aggregator's own, and a link planted there by anyone who can write DIR (the
 * server's user owns it) made a run, perhaps root's by hand, unlink every file of the link's
 * target or move them into DIR. *fd = -1 with errno when it cannot (ELOOP: a symlink). */
static int open_sub(const char *dir, const char *sub, char *path, size_t cap, int *fd) {
  snprintf(path, cap, "%s/%s", dir, sub);
  *fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  return *fd;
}

int agg__txn_remove(const char *dir, const char *sub) {
  char path[4096];
  int fd;
  if (open_sub(dir, sub, path, sizeof path, &fd) < 0) {
    if (errno == ENOENT) return 0;
    /* A symlink (ELOOP, or ENOTDIR with O_DIRECTORY) or a file under a scratch name: only the
     * name goes. */
    if (errno != ELOOP && errno != ENOTDIR) return ta_error_from_errno(errno);
    return unlink(path) == 0 || errno == ENOENT ? 0 : ta_error_from_errno(errno);
  }
  DIR *d = fdopendir(fd);
  if (!d) {
    int e = errno;
    close(fd);
    return ta_error_from_errno(e);
  }
  struct dirent *e;
  while ((e = readdir(d))) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    unlinkat(fd, e->d_name, 0);
  }
  closedir(d);
  if (rmdir(path) != 0 && errno != ENOENT) return ta_error_from_errno(errno);
  return 0;
}

/* Step 3: move every file of DIR/.txn into DIR, then drop .txn. */
static int roll_forward(const char *dir) {
  char txn[4096], to[4096 + 256];
  int fd;
  if (open_sub(dir, TBL_TXN_DIR, txn, sizeof txn, &fd) < 0) {
    if (errno == ENOENT) return 0;
    /* a symlink (ELOOP, or ENOTDIR with O_DIRECTORY) or a file: refused, never followed */
    return errno == ELOOP || errno == ENOTDIR ? TA_ELOOP : ta_error_from_errno(errno);
  }
  DIR *d = fdopendir(fd);
  if (!d) {
    int e = errno;
    close(fd);
    return ta_error_from_errno(e);
  }
  struct dirent *e;
  int rc = 0;
  while ((e = readdir(d))) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    snprintf(to, sizeof to, "%s/%s", dir, e->d_name);
    if (renameat(fd, e->d_name, AT_FDCWD, to) != 0) {
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

int agg__txn_begin(const char *dir, unsigned wait_s, int *lock_fd, char *err, size_t cap) {
  *lock_fd = -1;
  if (strlen(dir) > 3000) return agg__fail(err, cap, TA_ETOOLONG, "directory name too long");
  if (mkdir(dir, 0755) != 0 && errno != EEXIST)
    return agg__fail(err, cap, ta_error_from_errno(errno), "%s: %s", dir, strerror(errno));
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, AGG__LOCK);
  /* O_NOFOLLOW: a symlink planted as .lock would have the run, perhaps root's, create the file
   * it names (an empty /etc/nologin locks users out). */
  int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0 && errno == ELOOP)
    return agg__fail(err, cap, TA_ELOOP, "%s: a symlink, which no run makes (remove it)", path);
  if (fd < 0)
    return agg__fail(err, cap, ta_error_from_errno(errno), "%s: %s", path, strerror(errno));
  /* Polled, not a blocking flock: a blocking one cannot be given a time limit without a signal.
   * The nightly and trending jobs share DIR and may start while the other runs (--wait). */
  uint64_t deadline = ta_mono_ns() + (uint64_t)wait_s * 1000000000u;
  while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int e = errno;
    if (e != EWOULDBLOCK || ta_mono_ns() >= deadline) {
      close(fd);
      if (e != EWOULDBLOCK)
        return agg__fail(err, cap, ta_error_from_errno(e), "%s: %s", path, strerror(e));
      return agg__fail(err, cap, TA_EBUSY, "%s: another typeahead-aggregate is working on %s%s",
                       path, dir, wait_s ? " (waited --wait seconds)" : "");
    }
    nanosleep(&(struct timespec){0, 100 * 1000 * 1000}, NULL);
  }
  *lock_fd = fd;
  /* Finish what a killed writer committed; forget what it did not. */
  int rc = roll_forward(dir);
  if (rc)
    return agg__fail(
        err, cap, rc, "%s/%s: cannot complete the interrupted run: %s", dir, TBL_TXN_DIR,
        rc == TA_ELOOP ? "a symlink or a file, which no run makes (remove it)" : ta_strerror(rc));
  agg__txn_remove(dir, AGG__TXN_TMP);
  agg__txn_remove(dir, AGG__WORK);
  return 0;
}

int agg__txn_tables(const char *dir, agg__rows_fn next, void *ctx, uint64_t *weeks, char *err,
                    size_t cap) {
  char txn[4096], path[4096 + 64], old[4096 + 64], name[TBL_WEEK_STR];
  snprintf(txn, sizeof txn, "%s/%s", dir, AGG__TXN_TMP);
  if (mkdir(txn, 0755) != 0)
    return agg__fail(err, cap, ta_error_from_errno(errno), "%s: %s", txn, strerror(errno));
  tbl_week_t w;
  const char *s;
  size_t len;
  uint64_t count;
  int have = next(ctx, &w, &s, &len, &count, err, cap);
  while (have == 1) {
    tbl_week_t week = w;
    agg__period_name(week, name);
    snprintf(path, sizeof path, "%s/%s%s", txn, name, TBL_SUFFIX);
    snprintf(old, sizeof old, "%s/%s%s", dir, name, TBL_SUFFIX);
    tbl_reader_t *t = NULL;
    int orc = 0;
    const char *os = NULL;
    size_t olen = 0;
    uint64_t ocount = 0;
    if (access(old, F_OK) == 0) {
      int rc = tbl_reader_open(old, &t);
      if (rc == 0) rc = orc = tbl_reader_next(t, &os, &olen, &ocount);
      if (rc < 0) {
        agg__fail(err, cap, rc, "%s (fix or remove it, then rerun)", tbl_reader_errmsg(t));
        tbl_reader_close(t);
        return rc;
      }
    }
    tbl_writer_t *wr;
    int rc = tbl_writer_open(path, agg__period_week(week), &wr);
    if (rc) {
      tbl_reader_close(t);
      return agg__fail(err, cap, rc, "%s: %s", path, ta_strerror(rc));
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
      if (c <= 0 && (have = next(ctx, &w, &s, &len, &count, err, cap)) < 0) {
        tbl_reader_close(t);
        tbl_writer_abort(wr);
        return have; /* the stream said what */
      }
      if (c >= 0 && (orc = tbl_reader_next(t, &os, &olen, &ocount)) < 0) {
        rc = agg__fail(err, cap, orc, "%s (fix or remove it, then rerun)", tbl_reader_errmsg(t));
        tbl_reader_close(t);
        tbl_writer_abort(wr);
        return rc;
      }
    }
    tbl_reader_close(t);
    if (rc) {
      tbl_writer_abort(wr);
      return agg__fail(err, cap, rc, "writing %s: %s", path, ta_strerror(rc));
    }
    if ((rc = tbl_writer_close(wr)))
      return agg__fail(err, cap, rc, "writing %s: %s", path, ta_strerror(rc));
    (*weeks)++;
  }
  return have < 0 ? have : 0;
}

int agg__txn_commit(const char *dir, char *err, size_t cap) {
  char tmp[4096], txn[4096];
  snprintf(tmp, sizeof tmp, "%s/%s", dir, AGG__TXN_TMP);
  snprintf(txn, sizeof txn, "%s/%s", dir, TBL_TXN_DIR);
  int rc = ta_fsync_dir(tmp);
  if (rc) return agg__fail(err, cap, rc, "%s: %s", tmp, ta_strerror(rc));
  /* The commit point. */
  if (rename(tmp, txn) != 0 || ta_fsync_dir(dir) != 0)
    return agg__fail(err, cap, ta_error_from_errno(errno), "%s: cannot commit: %s", txn,
                     strerror(errno));
  /* Roll forward (the next writer does it if we die here). */
  if ((rc = roll_forward(dir)))
    return agg__fail(err, cap, rc,
                     "%s: committed, but moving tables failed (%s); the next run completes it", txn,
                     ta_strerror(rc));
  return 0;
}

void agg__txn_end(const char *dir, int lock_fd, int failed) {
  if (lock_fd < 0) return;
  if (failed) agg__txn_remove(dir, AGG__TXN_TMP);
  agg__txn_remove(dir, AGG__WORK);
  close(lock_fd);
}
