/*
 * typeahead-aggregate --dump (agg.h; docs/TABLES.md): the tables of a directory, or one table
 * file, as "week_start<TAB>spelling<TAB>count" lines, read back through the tables module.
 */
#include "agg_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static int dump_one(const char *path, FILE *out, char *err, size_t err_cap) {
  tbl_reader_t *t;
  int rc = tbl_reader_open(path, &t);
  if (rc == 0) {
    char date[TBL_WEEK_STR];
    tbl_week_date(tbl_reader_week(t), date);
    const char *s;
    size_t len;
    uint64_t count;
    while ((rc = tbl_reader_next(t, &s, &len, &count)) == 1)
      fprintf(out, "%s\t%.*s\t%llu\n", date, (int)len, s, (unsigned long long)count);
  }
  if (rc < 0) agg__fail(err, err_cap, rc, "%s", tbl_reader_errmsg(t));
  tbl_reader_close(t);
  if (rc == 0 && ferror(out)) return agg__fail(err, err_cap, TA_EIO, "write error on output");
  return rc < 0 ? rc : 0;
}

int agg_dump(const char *path, FILE *out, char *err, size_t err_cap) {
  struct stat st;
  if (stat(path, &st) != 0)
    return agg__fail(err, err_cap, ta_error_from_errno(errno), "%s: %s", path, strerror(errno));
  if (!S_ISDIR(st.st_mode)) return dump_one(path, out, err, err_cap);
  char **paths;
  size_t n;
  int rc = tbl_list(path, &paths, &n);
  if (rc) return agg__fail(err, err_cap, rc, "%s: cannot list tables: %s", path, ta_strerror(rc));
  for (size_t i = 0; i < n && rc == 0; i++) rc = dump_one(paths[i], out, err, err_cap);
  tbl_paths_free(paths, n);
  return rc;
}
