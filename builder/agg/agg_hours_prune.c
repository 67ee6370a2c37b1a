/*
 * typeahead-aggregate --hours keeps 7 days of hour tables (docs/TABLES.md "Hour tables"): after
 * each run, the hour tables older than TBL_HOURS_KEPT hours before the newest one not after the
 * clock's hour are removed.
 */
#include "agg_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int agg_hours_prune(const char *dir, unsigned wait_s, uint64_t *removed, char *err,
                    size_t err_cap) {
  *removed = 0;
  int lock_fd = -1;
  /* Under the lock, after completing an interrupted run: so the newest hour is the committed
   * one and a rerun after a kill prunes the same files. */
  int rc = agg__txn_begin(dir, wait_s, &lock_fd, err, err_cap);
  char **paths = NULL;
  size_t n = 0;
  if (!rc && (rc = tbl_hour_list(dir, &paths, &n)) != 0)
    agg__fail(err, err_cap, rc, "%s: cannot list the hour tables: %s", dir, ta_strerror(rc));
  if (!rc && n > 0) {
    /* Counted from the newest hour not after the clock's: one event timestamped in the future
     * (a wrong clock, garbage) would otherwise have every real hour table removed. */
    int64_t newest, h;
    size_t future;
    tbl_newest_until_now(paths, n, 1, &newest, &future);
    for (size_t i = 0; i < n && !rc; i++) {
      const char *base = strrchr(paths[i], '/') + 1;
      if (tbl_hour_parse(base, 13, &h) != 0 || h > newest - TBL_HOURS_KEPT) break;
      if (unlink(paths[i]) != 0 && errno != ENOENT)
        rc = agg__fail(err, err_cap, ta_error_from_errno(errno), "%s: cannot remove: %s", paths[i],
                       strerror(errno));
      else
        (*removed)++;
    }
    if (!rc && *removed && (rc = ta_fsync_dir(dir)) != 0)
      agg__fail(err, err_cap, rc, "%s: %s", dir, ta_strerror(rc));
  }
  tbl_paths_free(paths, n);
  agg__txn_end(dir, lock_fd, rc != 0);
  return rc;
}
