/*
 * Atomic files (ta_afile_*, base/ta_afile.c): the target keeps its old content until commit,
 * commit replaces it whole, abort leaves no trace, and a temp file lives beside the target.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <sys/stat.h>

#include "trie_test_util.h"

static size_t count_entries(void) {
  DIR *d = opendir(tu_dir);
  assert_non_null(d);
  size_t n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return n;
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static char *read_text(const char *path) {
  size_t len;
  uint8_t *b = tu_slurp(path, &len);
  if (b == NULL) return NULL;
  char *s = malloc(len + 1);
  memcpy(s, b, len);
  s[len] = '\0';
  free(b);
  return s;
}

static void test_commit_replaces(void **state) {
  (void)state;
  char path[4200];
  snprintf(path, sizeof path, "%s/target", tu_dir);
  write_file(path, "old");
  ta_afile_t *a;
  assert_int_equal(ta_afile_open(path, &a), 0);
  const char *tmp = ta_afile_tmp_path(a);
  assert_non_null(tmp);
  assert_int_equal(strncmp(tmp, path, strlen(path)), 0);
  assert_int_equal(strncmp(tmp + strlen(path), ".tmp.", 5), 0);
  fputs("new content", ta_afile_stream(a));
  fflush(ta_afile_stream(a));
  /* Until commit, readers of path see the old file whole. */
  char *s = read_text(path);
  assert_string_equal(s, "old");
  free(s);
  assert_int_equal(count_entries(), 2);
  assert_int_equal(ta_afile_commit(a), 0);
  s = read_text(path);
  assert_string_equal(s, "new content");
  free(s);
  assert_int_equal(count_entries(), 1);
}

static void test_commit_creates(void **state) {
  (void)state;
  char path[4200];
  snprintf(path, sizeof path, "%s/fresh", tu_dir);
  mode_t old = umask(027);
  ta_afile_t *a;
  assert_int_equal(ta_afile_open(path, &a), 0);
  fputs("x", ta_afile_stream(a));
  assert_int_equal(ta_afile_commit(a), 0);
  umask(old);
  char *s = read_text(path);
  assert_string_equal(s, "x");
  free(s);
  /* A new file gets 0666 & ~umask, like any file a program creates, not mkstemp's 0600. */
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0640);
  /* A replaced file keeps its mode. */
  assert_int_equal(chmod(path, 0604), 0);
  assert_int_equal(ta_afile_open(path, &a), 0);
  assert_int_equal(ta_afile_commit(a), 0);
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0604);
  unlink(path);
}

static void test_abort_leaves_nothing(void **state) {
  (void)state;
  char path[4200];
  snprintf(path, sizeof path, "%s/target", tu_dir);
  size_t before = count_entries();
  ta_afile_t *a;
  assert_int_equal(ta_afile_open(path, &a), 0);
  fputs("never seen", ta_afile_stream(a));
  ta_afile_abort(a);
  assert_int_equal(count_entries(), before);
  char *s = read_text(path);
  assert_string_equal(s, "new content");
  free(s);
  ta_afile_abort(NULL);
}

static void test_open_errors(void **state) {
  (void)state;
  ta_afile_t *a = NULL;
  char path[4200];
  snprintf(path, sizeof path, "%s/no/such/dir/file", tu_dir);
  assert_int_equal(ta_afile_open(path, &a), TA_ENOENT);
  assert_null(a);
  assert_int_equal(ta_afile_open("", &a), TA_EINVAL);
  assert_int_equal(ta_afile_commit(NULL), TA_EINVAL);
  assert_null(ta_afile_stream(NULL));
}

static void test_commit_onto_directory_fails_cleanly(void **state) {
  (void)state;
  char path[4200];
  snprintf(path, sizeof path, "%s/adir", tu_dir);
  assert_int_equal(mkdir(path, 0700), 0);
  char inner[4300];
  snprintf(inner, sizeof inner, "%s/keep", path);
  write_file(inner, "k");
  size_t before = count_entries();
  ta_afile_t *a = NULL;
  assert_int_equal(ta_afile_open(path, &a), TA_ENOTREG); /* refused before a temp file */
  assert_null(a);
  assert_int_equal(count_entries(), before);
}

/* A FIFO or a device at the path (typeahead-build --out /dev/full, as root) is never replaced:
 * rename would put a regular file where the node was. Through a symlink as well. */
static void test_never_replaces_a_special_file(void **state) {
  (void)state;
  char fifo[4200], link[4200];
  snprintf(fifo, sizeof fifo, "%s/fifo", tu_dir);
  snprintf(link, sizeof link, "%s/to-fifo", tu_dir);
  assert_int_equal(mkfifo(fifo, 0600), 0);
  assert_int_equal(symlink(fifo, link), 0);
  size_t before = count_entries();
  ta_afile_t *a = NULL;
  assert_int_equal(ta_afile_open(fifo, &a), TA_ENOTREG);
  assert_null(a);
  assert_int_equal(ta_afile_open(link, &a), TA_ENOTREG);
  assert_null(a);
  assert_int_equal(count_entries(), before);
  struct stat st;
  assert_int_equal(stat(fifo, &st), 0);
  assert_true(S_ISFIFO(st.st_mode));
  assert_int_equal(lstat(link, &st), 0);
  assert_true(S_ISLNK(st.st_mode));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_commit_replaces),
      cmocka_unit_test(test_commit_creates),
      cmocka_unit_test(test_abort_leaves_nothing),
      cmocka_unit_test(test_open_errors),
      cmocka_unit_test(test_commit_onto_directory_fails_cleanly),
      cmocka_unit_test(test_never_replaces_a_special_file),
  };
  return cmocka_run_group_tests(tests, tu_setup_dir, tu_teardown_dir);
}
