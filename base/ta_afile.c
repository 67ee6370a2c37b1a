/*
 * Atomic replacement of a file (ta.h, "Files"): write into "<path>.tmp.XXXXXX" in the
 * same directory, then flush, fsync, rename over path and fsync the directory, so a reader of
 * path sees the old file or the new one, never a half-written one, even across a crash.
 */
#include "ta.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

struct ta_afile {
  FILE *f;
  char *path;
  char *tmp;
};

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

/* mkstemp creates 0600; give the file the mode the target has, or a new file would get, so a
 * server running as another user can still read a replaced trie. */
static void set_final_mode(int fd, const char *path) {
  struct stat st;
  mode_t mode = stat(path, &st) == 0 ? (st.st_mode & 07777) : (0666 & ~current_umask());
  if (fchmod(fd, mode) != 0) {
    /* Not fatal: the file stays 0600, readable by its owner. */
  }
}

int ta_afile_open(const char *path, ta_afile_t **out) {
  if (path == NULL || out == NULL || path[0] == '\0') return TA_EINVAL;
  *out = NULL;
  /* Only a regular file (or nothing) is replaced: rename would put a regular file where a
   * device, a FIFO or a socket was (typeahead-build --out /dev/full, run as root, did), and a
   * directory fails only at the end, after all the work. stat follows a symlink: what it names
   * counts. */
  struct stat st;
  if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) return TA_ENOTREG;
  ta_afile_t *a = calloc(1, sizeof *a);
  size_t len = strlen(path);
  if (a == NULL) return TA_ENOMEM;
  a->path = strdup(path);
  a->tmp = malloc(len + sizeof ".tmp.XXXXXX");
  if (a->path == NULL || a->tmp == NULL) {
    free(a->path);
    free(a->tmp);
    free(a);
    return TA_ENOMEM;
  }
  memcpy(a->tmp, path, len);
  memcpy(a->tmp + len, ".tmp.XXXXXX", sizeof ".tmp.XXXXXX");
  int fd = mkostemp(a->tmp, O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    free(a->path);
    free(a->tmp);
    free(a);
    return ta_error_from_errno(e);
  }
  set_final_mode(fd, path);
  a->f = fdopen(fd, "wb");
  if (a->f == NULL) {
    int e = errno;
    close(fd);
    unlink(a->tmp);
    free(a->path);
    free(a->tmp);
    free(a);
    return ta_error_from_errno(e);
  }
  *out = a;
  return 0;
}

FILE *ta_afile_stream(ta_afile_t *f) {
  return f != NULL ? f->f : NULL;
}

const char *ta_afile_tmp_path(const ta_afile_t *f) {
  return f != NULL ? f->tmp : NULL;
}

static void afile_free(ta_afile_t *a) {
  free(a->path);
  free(a->tmp);
  free(a);
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

int ta_afile_commit(ta_afile_t *a) {
  if (a == NULL) return TA_EINVAL;
  int rc = ta_fclose_written(a->f, 1);
  a->f = NULL;
  if (rc == 0 && rename(a->tmp, a->path) != 0) rc = ta_error_from_errno(errno);
  if (rc != 0) {
    unlink(a->tmp);
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
  unlink(a->tmp);
  afile_free(a);
}
