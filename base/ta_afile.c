/*
 * Atomic replacement of a file (ta.h, "Files"). The new content is written into a temp file in
 * the target's directory, flushed and fsynced, renamed over the target, and the directory is
 * fsynced, so a reader of the path sees the old file or the new one, never a half-written one,
 * even across a crash. On Linux the temp file is made unnamed (O_TMPFILE) and gets a name,
 * "<path>.tmp.XXXXXX", only at commit, just before the rename: a writer killed while it writes
 * (SIGKILL, a crash, a power loss) leaves nothing behind, where a named temp file would stay
 * forever (a nightly build killed each night filled the disk with half-written tries). Where
 * the file system or the kernel refuses O_TMPFILE, the temp file is named from the start, as
 * mkostemp makes it. A path that is a symlink is followed to the file its chain ends at, and
 * that file is replaced: the link stays.
 */
#include "ta.h"
#include "ta_int.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define TMP_SUFFIX ".tmp.XXXXXX"

struct ta_afile {
  FILE *f;
  char *path; /* what is replaced: the path given, or the file its symlink chain ends at */
  char *tmp;  /* the temp file's name; NULL while it has none (O_TMPFILE, until commit) */
};

static int named_only; /* ta__afile_force_named: tests of the fallback */

void ta__afile_force_named(int on) {
  named_only = on;
}

/* The process umask without changing it (umask(2) cannot be read without a racy set). */
static mode_t current_umask(void) {
  mode_t mask = 022;
  FILE *f = fopen("/proc/self/status", "re");
  if (f == NULL) return mask;
  char line[256];
  while (fgets(line, sizeof line, f) != NULL) {
    unsigned m;
    if (sscanf(line, "Umask: %o", &m) == 1) {
      mask = (mode_t)m;
      break;
    }
  }
  fclose(f);
  return mask;
}

/* The temp file is made 0600; give it the mode the target has, or a new file would get, so a
 * server running as another user can still read a replaced trie. */
static void set_final_mode(int fd, const char *path) {
  struct stat st;
  mode_t mode = stat(path, &st) == 0 ? (st.st_mode & 07777) : (0666 & ~current_umask());
  if (fchmod(fd, mode) != 0) {
    /* Not fatal: the file stays 0600, readable by its owner. */
  }
}

/* The file path names, for the replace: path itself, or, when it is a symlink, the end of its
 * chain (realpath: relative links, links to links), so the link stays and what it names gets
 * the new content, as an operator's `current.trie -> tries/2026-12-07.trie` expects (sed -i
 * --follow-symlinks, cp onto a link). A link to nothing is refused (TA_EDANGLING), as cp refuses
 * to write through one: creating a file where a stale link points is rarely what was meant. A
 * loop gives TA_ELOOP. */
static int resolve(const char *path, char **out) {
  struct stat st;
  *out = NULL;
  if (lstat(path, &st) != 0 || !S_ISLNK(st.st_mode)) {
    /* Not there (a new file) or no link: path as given; open says what else is wrong. */
    *out = strdup(path);
    return *out != NULL ? 0 : TA_ENOMEM;
  }
  *out = realpath(path, NULL);
  if (*out != NULL) return 0;
  int e = errno;
  return e == ENOENT || e == ENOTDIR ? TA_EDANGLING : ta_error_from_errno(e);
}

/* An unnamed temp file (O_TMPFILE) in the directory of the name it gets at commit, a->tmp
 * ("<path>.tmp.XXXXXX"), readable too, so a caller can map what it wrote: the descriptor, or -1
 * where it cannot be had (then a named one is made). Whatever would keep it from being named
 * must show now, not after the whole file is written: it is named through /proc/self/fd (linkat
 * with AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH), so it is made only where that path works; its
 * directory is that of a->tmp (not dirname(path), which differs for "dir/"); and a name over the
 * directory's NAME_MAX is left to mkostemp to refuse. */
static int open_unnamed(const ta_afile_t *a) {
#ifdef O_TMPFILE
  if (named_only) return -1;
  const char *slash = strrchr(a->tmp, '/');
  char *dir =
      slash == NULL ? strdup(".") : strndup(a->tmp, slash == a->tmp ? 1 : (size_t)(slash - a->tmp));
  if (dir == NULL) return -1;
  /* Refused by old kernels (EISDIR: the flag unknown, the directory opened), by file systems
   * without it (EOPNOTSUPP), by filters (EPERM): any error is left to the named file, which
   * fails the same way when the directory itself is the trouble (missing, not writable). */
  int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  free(dir);
  if (fd < 0) return -1;
  long name_max = fpathconf(fd, _PC_NAME_MAX);
  char proc[64];
  snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
  if (access(proc, F_OK) != 0 ||
      (name_max > 0 && strlen(slash ? slash + 1 : a->tmp) > (size_t)name_max)) {
    close(fd);
    return -1;
  }
  return fd;
#else
  (void)a;
  return -1;
#endif
}

/* a->tmp = "<path>.tmp.XXXXXX", the X's for the caller to replace. */
static int tmp_name(ta_afile_t *a) {
  size_t len = strlen(a->path);
  if ((a->tmp = malloc(len + sizeof TMP_SUFFIX)) == NULL) return TA_ENOMEM;
  memcpy(a->tmp, a->path, len);
  memcpy(a->tmp + len, TMP_SUFFIX, sizeof TMP_SUFFIX);
  return 0;
}

/* The temp file named a->tmp, made with mkostemp (the fallback, named from the start). */
static int open_named(ta_afile_t *a, int *fd) {
  *fd = mkostemp(a->tmp, O_CLOEXEC);
  if (*fd >= 0) return 0;
  int e = errno;
  free(a->tmp);
  a->tmp = NULL;
  return ta_error_from_errno(e);
}

static void afile_free(ta_afile_t *a) {
  free(a->path);
  free(a->tmp);
  free(a);
}

int ta_afile_open(const char *path, ta_afile_t **out) {
  if (path == NULL || out == NULL || path[0] == '\0') return TA_EINVAL;
  *out = NULL;
  ta_afile_t *a = calloc(1, sizeof *a);
  if (a == NULL) return TA_ENOMEM;
  int rc = resolve(path, &a->path);
  /* Only a regular file (or nothing) is replaced: rename would put a regular file where a
   * device, a FIFO or a socket was (typeahead-build --out /dev/full, run as root, did), and a
   * directory fails only at the end, after all the work. What a symlink names counts. */
  struct stat st;
  if (rc == 0 && stat(a->path, &st) == 0 && !S_ISREG(st.st_mode)) rc = TA_ENOTREG;
  int fd = -1;
  if (rc == 0) rc = tmp_name(a);
  if (rc == 0 && (fd = open_unnamed(a)) >= 0) {
    free(a->tmp); /* no name until commit */
    a->tmp = NULL;
  } else if (rc == 0) {
    rc = open_named(a, &fd);
  }
  if (rc == 0) {
    set_final_mode(fd, a->path);
    if ((a->f = fdopen(fd, "wb")) == NULL) {
      rc = ta_error_from_errno(errno);
      close(fd);
    }
  }
  if (rc != 0) {
    if (a->tmp != NULL) unlink(a->tmp);
    afile_free(a);
    return rc;
  }
  *out = a;
  return 0;
}

FILE *ta_afile_stream(ta_afile_t *f) {
  return f != NULL ? f->f : NULL;
}

int ta_afile_fd(const ta_afile_t *f) {
  return f != NULL && f->f != NULL ? fileno(f->f) : -1;
}

int ta_fsync_dir(const char *dir) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ta_error_from_errno(errno);
  int rc = fsync(fd) == 0 ? 0 : ta_error_from_errno(errno);
  close(fd);
  return rc;
}

int ta_fsync_parent(const char *path) {
  char *copy = strdup(path);
  if (copy == NULL) return TA_ENOMEM;
  int rc = ta_fsync_dir(dirname(copy));
  free(copy);
  return rc;
}

int ta_fflush_written(FILE *f) {
  /* errno says why a write failed: a full disk is the usual reason, and the operator's fix */
  if (fflush(f) != 0) return ta_error_from_errno(errno);
  return ferror(f) ? TA_EIO : 0;
}

int ta_fclose_written(FILE *f, int sync) {
  int rc = ta_fflush_written(f);
  if (rc == 0 && sync && fsync(fileno(f)) != 0) rc = ta_error_from_errno(errno);
  if (fclose(f) != 0 && rc == 0) rc = ta_error_from_errno(errno);
  return rc;
}

/* Names the unnamed temp file "<path>.tmp.XXXXXX" (a->tmp): linkat does not replace a name,
 * so a taken one (another writer's) is retried with other letters. From here to the rename a
 * kill leaves that name behind: microseconds, not the whole write. */
static int name_unnamed(ta_afile_t *a) {
  static const char letters[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  if (tmp_name(a) != 0) return TA_ENOMEM;
  char *x = a->tmp + strlen(a->tmp) - 6;
  char proc[64];
  snprintf(proc, sizeof proc, "/proc/self/fd/%d", fileno(a->f));
  int e = EEXIST;
  for (int tries = 0; tries < 100 && e == EEXIST; tries++) {
    unsigned char r[6];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) {
      uint64_t h = ta_hash64(&tries, sizeof tries, ta_mono_ns() ^ (uint64_t)getpid());
      memcpy(r, &h, sizeof r);
    }
    for (size_t i = 0; i < sizeof r; i++) x[i] = letters[r[i] % 62];
    e = linkat(AT_FDCWD, proc, AT_FDCWD, a->tmp, AT_SYMLINK_FOLLOW) == 0 ? 0 : errno;
  }
  if (e == 0) return 0;
  free(a->tmp);
  a->tmp = NULL; /* nothing to remove: the unnamed file goes with its descriptor */
  return ta_error_from_errno(e);
}

int ta_afile_commit(ta_afile_t *a) {
  if (a == NULL) return TA_EINVAL;
  int rc = ta_fflush_written(a->f);
  if (rc == 0 && fsync(fileno(a->f)) != 0) rc = ta_error_from_errno(errno);
  if (rc == 0 && a->tmp == NULL) rc = name_unnamed(a);
  if (fclose(a->f) != 0 && rc == 0) rc = ta_error_from_errno(errno);
  a->f = NULL;
  if (rc == 0 && rename(a->tmp, a->path) != 0) rc = ta_error_from_errno(errno);
  if (rc != 0) {
    if (a->tmp != NULL) unlink(a->tmp);
    afile_free(a);
    return rc;
  }
  rc = ta_fsync_parent(a->path);
  afile_free(a);
  return rc;
}

void ta_afile_abort(ta_afile_t *a) {
  if (a == NULL) return;
  if (a->f != NULL) fclose(a->f);
  if (a->tmp != NULL) unlink(a->tmp);
  afile_free(a);
}
