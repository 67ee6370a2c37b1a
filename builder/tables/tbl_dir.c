/*
 * The tables of a tables directory (tbl.h; layout in docs/TABLES.md): the week tables in the
 * directory and in its .txn subdirectory (a committed run not yet moved in), in week order, the
 * newer copy of each.
 */
#include "tbl.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int is_table_name(const char *name) {
  tbl_week_t w;
  size_t n = strlen(name);
  return n == 8 + strlen(TBL_SUFFIX) && strcmp(name + 8, TBL_SUFFIX) == 0 &&
         tbl_week_parse(name, 8, &w) == 0;
}

static int is_hour_name(const char *name) {
  int64_t h;
  size_t n = strlen(name);
  return n == 13 + strlen(TBL_SUFFIX) && strcmp(name + 13, TBL_SUFFIX) == 0 &&
         tbl_hour_parse(name, 13, &h) == 0;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Appends the table names found in dir to *names (may not exist: then nothing). */
static int collect(const char *dir, int (*is_name)(const char *), char ***names, size_t *n,
                   size_t *cap) {
  DIR *d = opendir(dir);
  if (!d) return errno == ENOENT ? 0 : ta_error_from_errno(errno);
  struct dirent *e;
  int rc = 0;
  while ((e = readdir(d))) {
    if (!is_name(e->d_name)) continue;
    if (*n == *cap && (rc = ta_grow((void **)names, cap, *n + 1, sizeof **names, 64)) != 0) break;
    if (!((*names)[*n] = strdup(e->d_name))) {
      rc = TA_ENOMEM;
      break;
    }
    (*n)++;
  }
  closedir(d);
  return rc;
}

void tbl_paths_free(char **paths, size_t n) {
  if (!paths) return;
  for (size_t i = 0; i < n; i++) free(paths[i]);
  free(paths);
}

/* The tables of dir whose names pass is_name, in name order (which is time order). */
static int list_names(const char *dir, int (*is_name)(const char *), char ***out_paths,
                      size_t *out_n) {
  *out_paths = NULL;
  *out_n = 0;
  struct stat st;
  if (stat(dir, &st) != 0) return ta_error_from_errno(errno);
  if (!S_ISDIR(st.st_mode)) return TA_EINVAL;
  char txn[4096];
  if ((size_t)snprintf(txn, sizeof txn, "%s/%s", dir, TBL_TXN_DIR) >= sizeof txn)
    return TA_ETOOLONG;
  char **names = NULL;
  size_t n = 0, cap = 0;
  /* .txn first: a table moving from .txn into dir meanwhile is then seen at least once. */
  int rc = collect(txn, is_name, &names, &n, &cap);
  if (!rc) rc = collect(dir, is_name, &names, &n, &cap);
  if (rc) {
    tbl_paths_free(names, n);
    return rc;
  }
  if (n) qsort(names, n, sizeof *names, cmp_str);
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (k && strcmp(names[k - 1], names[i]) == 0) {
      free(names[i]);
      continue;
    }
    names[k++] = names[i];
  }
  for (size_t i = 0; i < k; i++) {
    size_t len = strlen(dir) + strlen(TBL_TXN_DIR) + strlen(names[i]) + 3;
    char *p = malloc(len);
    if (!p) {
      tbl_paths_free(names, k);
      return TA_ENOMEM;
    }
    snprintf(p, len, "%s/%s/%s", dir, TBL_TXN_DIR, names[i]);
    if (access(p, F_OK) != 0) snprintf(p, len, "%s/%s", dir, names[i]);
    free(names[i]);
    names[i] = p;
  }
  *out_paths = names;
  *out_n = k;
  return 0;
}

int tbl_list(const char *dir, char ***out_paths, size_t *out_n) {
  return list_names(dir, is_table_name, out_paths, out_n);
}

int tbl_hour_list(const char *dir, char ***out_paths, size_t *out_n) {
  return list_names(dir, is_hour_name, out_paths, out_n);
}

/* A listed table's week or hour (listed names parse). */
static int64_t period_of(const char *path, int hours) {
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  if (hours) {
    int64_t h = 0;
    tbl_hour_parse(base, 13, &h);
    return h;
  }
  tbl_week_t w = 0;
  tbl_week_parse(base, 8, &w);
  return w;
}

void tbl_newest_until_now(char **paths, size_t n, int hours, int64_t *period, size_t *future) {
  int64_t t = ta_unix_s();
  int64_t limit = hours ? tbl_hour_of_unix(t) : (int64_t)tbl_week_of_unix(t);
  size_t i = n;
  while (i > 0 && period_of(paths[i - 1], hours) > limit) i--;
  if (i == 0) i = n; /* every table after the clock */
  *period = period_of(paths[i - 1], hours);
  *future = n - i;
}
