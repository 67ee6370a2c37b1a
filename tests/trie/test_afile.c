/*
 * Atomic files (ta_afile_*, base/ta_afile.c): the target keeps its old content until commit,
 * commit replaces it whole, abort leaves no trace, the temp file has no name while it is written
 * (O_TMPFILE), so a writer killed with SIGKILL leaves none, and a named one beside the target in
 * the fallback (ta__afile_force_named). A symlink at the path is kept: the file it names is
 * replaced; a dangling link or a loop is refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "ta_int.h"
#include "trie_test_util.h"

static size_t count_in(const char *dir) {
  DIR *d = opendir(dir);
  assert_non_null(d);
  size_t n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return n;
}

static size_t count_entries(void) {
  return count_in(tu_dir);
}

/* Names in dir that hold ".tmp." (a temp file of ta_afile). */
static size_t count_tmp_in(const char *dir) {
  DIR *d = opendir(dir);
  assert_non_null(d);
  size_t n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (strstr(e->d_name, ".tmp.") != NULL) n++;
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

/* While written, the temp file has no name (O_TMPFILE): only the target is in the directory.
 * In the fallback it is "<path>.tmp.XXXXXX" beside it. Either way commit replaces whole. */
static void commit_replaces(int named) {
  char path[4200];
  snprintf(path, sizeof path, "%s/target", tu_dir);
  write_file(path, "old");
  ta__afile_force_named(named);
  ta_afile_t *a;
  assert_int_equal(ta_afile_open(path, &a), 0);
  fputs("new content", ta_afile_stream(a));
  fflush(ta_afile_stream(a));
  /* Until commit, readers of path see the old file whole. */
  char *s = read_text(path);
  assert_string_equal(s, "old");
  free(s);
  assert_int_equal(count_entries(), named ? 2 : 1);
  assert_int_equal(count_tmp_in(tu_dir), named ? 1 : 0);
  /* The descriptor reads what was written (bld_write verifies the trie on it). */
  char back[16] = {0};
  assert_int_equal(pread(ta_afile_fd(a), back, sizeof back - 1, 0), 11);
  assert_string_equal(back, "new content");
  assert_int_equal(ta_afile_commit(a), 0);
  ta__afile_force_named(0);
  s = read_text(path);
  assert_string_equal(s, "new content");
  free(s);
  assert_int_equal(count_entries(), 1);
}

static void test_commit_replaces(void **state) {
  (void)state;
  commit_replaces(0);
}

static void test_commit_replaces_named_fallback(void **state) {
  (void)state;
  commit_replaces(1);
}

static void commit_creates(int named) {
  char path[4200];
  snprintf(path, sizeof path, "%s/fresh", tu_dir);
  ta__afile_force_named(named);
  mode_t old = umask(027);
  ta_afile_t *a;
  assert_int_equal(ta_afile_open(path, &a), 0);
  fputs("x", ta_afile_stream(a));
  assert_int_equal(ta_afile_commit(a), 0);
  umask(old);
  char *s = read_text(path);
  assert_string_equal(s, "x");
  free(s);
  /* A new file gets 0666 & ~umask, like any file a program creates, not the temp file's 0600. */
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0640);
  /* A replaced file keeps its mode. */
  assert_int_equal(chmod(path, 0604), 0);
  assert_int_equal(ta_afile_open(path, &a), 0);
  assert_int_equal(ta_afile_commit(a), 0);
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0604);
  ta__afile_force_named(0);
  unlink(path);
}

static void test_commit_creates(void **state) {
  (void)state;
  commit_creates(0);
  commit_creates(1);
}

static void test_abort_leaves_nothing(void **state) {
  (void)state;
  char path[4200];
  snprintf(path, sizeof path, "%s/target", tu_dir);
  size_t before = count_entries();
  for (int named = 0; named <= 1; named++) {
    ta__afile_force_named(named);
    ta_afile_t *a;
    assert_int_equal(ta_afile_open(path, &a), 0);
    fputs("never seen", ta_afile_stream(a));
    ta_afile_abort(a);
    assert_int_equal(count_entries(), before);
    char *s = read_text(path);
    assert_string_equal(s, "new content");
    free(s);
  }
  ta__afile_force_named(0);
  ta_afile_abort(NULL);
}

/* A writer killed with SIGKILL in the middle of its write (a real process: a nightly build
 * killed each night filled the disk with its half-written temp files). Returns the number of
 * temp files left in the target's directory; the target must be the old file, intact. */
static size_t killed_writer_leaves(int named) {
  char path[4200];
  snprintf(path, sizeof path, "%s/killed", tu_dir);
  write_file(path, "the old file");
  int ready[2];
  assert_int_equal(pipe(ready), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    ta__afile_force_named(named);
    ta_afile_t *a;
    if (ta_afile_open(path, &a) != 0) _exit(1);
    for (int i = 0; i < 4096; i++)
      fputs("a half-written file, never committed\n", ta_afile_stream(a));
    fflush(ta_afile_stream(a));
    if (write(ready[1], "w", 1) != 1) _exit(1);
    for (;;) pause(); /* mid-write, until killed */
  }
  close(ready[1]);
  char c;
  assert_int_equal(read(ready[0], &c, 1), 1); /* the child is writing */
  close(ready[0]);
  assert_int_equal(kill(pid, SIGKILL), 0);
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  char *s = read_text(path);
  assert_string_equal(s, "the old file");
  free(s);
  size_t left = count_tmp_in(tu_dir);
  /* Clean up what the fallback left, so the next test counts from zero. */
  DIR *d = opendir(tu_dir);
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strstr(e->d_name, ".tmp.") == NULL) continue;
    char p[4400];
    snprintf(p, sizeof p, "%s/%s", tu_dir, e->d_name);
    unlink(p);
  }
  closedir(d);
  unlink(path);
  return left;
}

static void test_killed_writer_leaves_nothing(void **state) {
  (void)state;
  assert_int_equal(killed_writer_leaves(0), 0);
  /* The test sees a leftover when there is one: the named fallback leaves its temp file. */
  assert_int_equal(killed_writer_leaves(1), 1);
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
  assert_int_equal(ta_afile_fd(NULL), -1);
}

/* What would keep the temp file from getting its name at commit is refused by open, before a
 * byte is written, as when the temp file was named from the start: a target whose name is too
 * long for ".tmp.XXXXXX" behind it, and a path ending in '/' ("dir/": the temp file's name lies
 * in dir, which is missing, or a file). The unnamed temp file was made in dirname(path) and
 * these failed at commit, after the whole write. */
static void test_open_refuses_what_commit_could_not_name(void **state) {
  (void)state;
  char path[4400], file[4200];
  long name_max = pathconf(tu_dir, _PC_NAME_MAX);
  assert_true(name_max > 16 && name_max < 4000);
  int len = snprintf(path, sizeof path, "%s/", tu_dir);
  memset(path + len, 'n', (size_t)name_max - 5); /* a valid name; with ".tmp.XXXXXX", not */
  path[len + name_max - 5] = '\0';
  size_t before = count_entries();
  ta_afile_t *a = NULL;
  assert_int_equal(ta_afile_open(path, &a), TA_ETOOLONG);
  assert_null(a);
  snprintf(path, sizeof path, "%s/missing/", tu_dir);
  assert_int_equal(ta_afile_open(path, &a), TA_ENOENT);
  assert_null(a);
  snprintf(file, sizeof file, "%s/plain", tu_dir);
  write_file(file, "p");
  snprintf(path, sizeof path, "%s/", file);
  assert_int_equal(ta_afile_open(path, &a), TA_ENOENT); /* ENOTDIR */
  assert_null(a);
  assert_int_equal(count_entries(), before + 1);
  char *t = read_text(file);
  assert_string_equal(t, "p");
  free(t);
  unlink(file);
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

/* A symlink at the path (an operator's current -> tries/2026-12-07.trie) is kept: the file at
 * the end of its chain (relative links, a link to a link) gets the new content, written beside
 * it, with its mode. Both modes of the temp file. */
static void through_symlinks(int named) {
  char dir[4200], real[4300], l1[4200], l2[4200];
  snprintf(dir, sizeof dir, "%s/tries", tu_dir);
  snprintf(real, sizeof real, "%s/2026-12-07.trie", dir);
  snprintf(l1, sizeof l1, "%s/link1", tu_dir);
  snprintf(l2, sizeof l2, "%s/current", tu_dir);
  assert_int_equal(mkdir(dir, 0700), 0);
  write_file(real, "old");
  assert_int_equal(chmod(real, 0640), 0);
  assert_int_equal(symlink("tries/2026-12-07.trie", l1), 0); /* relative to its directory */
  assert_int_equal(symlink("link1", l2), 0);
  size_t top = count_entries();
  ta__afile_force_named(named);
  for (int round = 0; round < 2; round++) {
    const char *via = round == 0 ? l2 : l1;
    ta_afile_t *a;
    assert_int_equal(ta_afile_open(via, &a), 0);
    fputs(round == 0 ? "new" : "newer", ta_afile_stream(a));
    fflush(ta_afile_stream(a));
    assert_int_equal(count_tmp_in(dir), named ? 1 : 0); /* beside the file, not the link */
    assert_int_equal(count_tmp_in(tu_dir), 0);
    assert_int_equal(ta_afile_commit(a), 0);
    struct stat st;
    assert_int_equal(lstat(l2, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    assert_int_equal(lstat(l1, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    assert_int_equal(lstat(real, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0640);
    char *s = read_text(real);
    assert_string_equal(s, round == 0 ? "new" : "newer");
    free(s);
    s = read_text(l2);
    assert_string_equal(s, round == 0 ? "new" : "newer");
    free(s);
    assert_int_equal(count_in(dir), 1);
    assert_int_equal(count_entries(), top);
  }
  ta__afile_force_named(0);
  unlink(l2);
  unlink(l1);
  unlink(real);
  rmdir(dir);
}

static void test_symlink_kept_its_file_replaced(void **state) {
  (void)state;
  through_symlinks(0);
  through_symlinks(1);
}

/* A link to nothing, or a loop, is refused before anything is written, and stays as it was. */
static void test_dangling_symlink_and_loop_refused(void **state) {
  (void)state;
  char dangling[4200], a[4200], b[4200], target[4300];
  snprintf(dangling, sizeof dangling, "%s/dangling", tu_dir);
  snprintf(target, sizeof target, "%s/gone.trie", tu_dir);
  snprintf(a, sizeof a, "%s/loop-a", tu_dir);
  snprintf(b, sizeof b, "%s/loop-b", tu_dir);
  assert_int_equal(symlink("gone.trie", dangling), 0);
  assert_int_equal(symlink("loop-b", a), 0);
  assert_int_equal(symlink("loop-a", b), 0);
  size_t before = count_entries();
  ta_afile_t *f = NULL;
  assert_int_equal(ta_afile_open(dangling, &f), TA_EDANGLING);
  assert_null(f);
  assert_int_equal(ta_afile_open(a, &f), TA_ELOOP);
  assert_null(f);
  assert_int_equal(count_entries(), before);
  struct stat st;
  assert_int_equal(lstat(dangling, &st), 0);
  assert_true(S_ISLNK(st.st_mode));
  assert_int_not_equal(stat(target, &st), 0); /* nothing made where the link points */
  assert_int_equal(lstat(a, &st), 0);
  assert_true(S_ISLNK(st.st_mode));
  unlink(dangling);
  unlink(a);
  unlink(b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_commit_replaces),
      cmocka_unit_test(test_commit_replaces_named_fallback),
      cmocka_unit_test(test_commit_creates),
      cmocka_unit_test(test_abort_leaves_nothing),
      cmocka_unit_test(test_killed_writer_leaves_nothing),
      cmocka_unit_test(test_open_errors),
      cmocka_unit_test(test_open_refuses_what_commit_could_not_name),
      cmocka_unit_test(test_commit_onto_directory_fails_cleanly),
      cmocka_unit_test(test_never_replaces_a_special_file),
      cmocka_unit_test(test_symlink_kept_its_file_replaced),
      cmocka_unit_test(test_dangling_symlink_and_loop_refused),
  };
  return cmocka_run_group_tests(tests, tu_setup_dir, tu_teardown_dir);
}
