/*
 * Reading a file whole into memory of one's own (ta.h, ta_read_file): the one way a program of
 * the project loads a file it must trust while the file on disk may change (the server's trie
 * and rules, SPEC §8). Only a regular file is read: a FIFO would block the reader for good, a
 * directory or a device is no file to load, so each is refused before a byte is read.
 */
#include "ta.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* What a non-regular file is, for the message. */
static const char *kind_of(mode_t m) {
  if (S_ISDIR(m)) return "a directory";
  if (S_ISFIFO(m)) return "a FIFO";
  if (S_ISCHR(m)) return "a character device";
  if (S_ISBLK(m)) return "a block device";
  if (S_ISSOCK(m)) return "a socket";
  return "something";
}

static int refuse_kind(ta_diag_t *diag, mode_t m) {
  return ta_diag_set(diag, TA_ENOTREG, "%s, not a regular file", kind_of(m));
}

static int from_errno(ta_diag_t *diag, const char *what, int e) {
  int rc = ta_error_from_errno(e);
  return ta_diag_set(diag, rc, "cannot %s: %s", what, ta_strerror(rc));
}

static int too_long(ta_diag_t *diag, size_t max) {
  return ta_diag_set(diag, TA_ETOOLONG, "larger than the limit of %zu bytes", max);
}

/* Reads fd to its end into out, which has room for the size fstat gave (and one byte more, so
 * that a file that grew while read is seen to have grown). */
static int read_all(int fd, size_t max, ta_buf_t *out, ta_diag_t *diag) {
  for (;;) {
    if (out->len >= max) { /* only the end of the file may come now */
      char probe;
      ssize_t n = read(fd, &probe, 1);
      if (n == 0) return 0;
      if (n < 0 && errno == EINTR) continue;
      return n < 0 ? from_errno(diag, "read", errno) : too_long(diag, max);
    }
    if (out->len == out->cap && ta_buf_reserve(out, 1) != 0)
      return ta_diag_set(diag, TA_ENOMEM, "out of memory");
    size_t room = out->cap - out->len;
    if (room > max - out->len) room = max - out->len;
    ssize_t n = read(fd, out->p + out->len, room);
    if (n < 0) {
      if (errno == EINTR) continue;
      return from_errno(diag, "read", errno);
    }
    if (n == 0) return 0;
    out->len += (size_t)n;
  }
}

int ta_open_regular(const char *path, int *fd, uint64_t *size, ta_diag_t *diag) {
  if (path == NULL || fd == NULL || size == NULL) return TA_EINVAL;
  *fd = -1;
  ta_diag_init(diag, path);
  /* stat first: opening a FIFO or a device can block or act (a tape rewinds). */
  struct stat st;
  if (stat(path, &st) != 0) return from_errno(diag, "open", errno);
  if (!S_ISREG(st.st_mode)) return refuse_kind(diag, st.st_mode);
  int f = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (f < 0) return from_errno(diag, "open", errno);
  int rc = 0;
  /* again on what was opened: the path may name something else by now */
  if (fstat(f, &st) != 0)
    rc = from_errno(diag, "stat", errno);
  else if (!S_ISREG(st.st_mode))
    rc = refuse_kind(diag, st.st_mode);
  if (rc != 0) {
    close(f);
    return rc;
  }
  *fd = f;
  *size = (uint64_t)st.st_size;
  return 0;
}

int ta_read_fd(int fd, uint64_t size, size_t max, ta_buf_t *out, ta_diag_t *diag) {
  if (fd < 0 || out == NULL || out->p != NULL) return TA_EINVAL;
  if (size > max) return too_long(diag, max);
  /* the exact size, not a doubling: a trie is hundreds of MB */
  size_t cap = (size_t)size < max ? (size_t)size + 1 : max;
  if (cap == 0) cap = 1;
  out->p = malloc(cap);
  if (out->p == NULL) return ta_diag_set(diag, TA_ENOMEM, "out of memory (%zu bytes)", cap);
  out->cap = cap;
  int rc = read_all(fd, max, out, diag);
  if (rc != 0) ta_buf_free(out);
  return rc;
}

int ta_read_file(const char *path, size_t max, ta_buf_t *out, ta_diag_t *diag) {
  if (path == NULL || out == NULL || out->p != NULL) return TA_EINVAL;
  int fd = -1;
  uint64_t size = 0; /* set when ta_open_regular succeeds; GCC -O3 cannot see that */
  int rc = ta_open_regular(path, &fd, &size, diag);
  if (rc != 0) return rc;
  rc = ta_read_fd(fd, size, max, out, diag);
  close(fd);
  return rc;
}
