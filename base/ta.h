/*
 * typeahead: the base layer, one header that every module includes (directly or through
 * trie.h). It depends on nothing of ours and on nothing but libc.
 *
 *   errors      the one TA_E* table, ta_strerror(), ta_err_name(), errno mapping (ta_error.c)
 *   diagnostics ta_diag_t: what went wrong and where (file:line, or section and byte offset)
 *   limits      TA_MAX_K, TA_MAX_KEY, TA_MAX_MARKET: the numbers other modules size their
 *               buffers by
 *   hashing     ta_hash64(): the one non-cryptographic hash (inline: it is on hot paths);
 *               ta_head_hash16(): a head of at most 4 bytes to a bit of a 65536-bit screen
 *   clocks      ta_mono_ns(), ta_unix_s() (ta_clock.c)
 *   files       atomic replacement (ta_afile_*) and ta_fsync_dir() (ta_afile.c); reading a
 *               regular file whole into memory of one's own (ta_read_file, ta_file.c; or
 *               ta_open_regular then ta_read_fd, to check the file on the descriptor between)
 *   numbers     strict parsing of command-line numbers (ta_num.c)
 *   formatting  ta_fmt_u64(), ta_fmt_score(): the one way a score is printed (ta_num.c)
 *   text        ta_esc(): bytes made safe to print on a terminal or in a log line;
 *               ta_market_valid(): the one test of a market name (ta_text.c)
 *   memory      ta_buf_t (a growable byte buffer), ta_grow() (a growable array), ta_bytes_cmp(),
 *               ta_big_alloc() (big blocks on huge pages)
 *
 * Conventions of every module: functions return 0 or a negative TA_E* code; results go through
 * out-parameters; _free/_abort(NULL) is a no-op.
 */
#ifndef TYPEAHEAD_TA_H
#define TYPEAHEAD_TA_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Limits ------------------------------------------------------------------------------- */

/* Most completions a trie stores per node, and so the largest k of a lookup (FORMAT.md, META). */
#define TA_MAX_K 32u
/* Longest key or display form any module accepts, in bytes (SPEC §8: q is at most 1024). */
#define TA_MAX_KEY 4096
/* Longest market name (SPEC §10: [a-z0-9_-]{1,32}); ta_market_valid() checks one. */
#define TA_MAX_MARKET 32
/* Room for ta_fmt_score() and ta_fmt_u64() output with its NUL. */
#define TA_SCORE_CAP 32
#define TA_U64_CAP 24

/* ---- Errors ------------------------------------------------------------------------------- */

/* X(name, value, message): the one table of error codes for the whole project. */
#define TA_ERROR_TABLE(X)                                                                     \
  X(TA_ENOMEM, -1, "out of memory")                                                           \
  X(TA_EINVAL, -2, "invalid argument")                                                        \
  X(TA_EIO, -3, "input/output error")                                                         \
  X(TA_ENOENT, -4, "no such file or directory")                                               \
  X(TA_EACCES, -5, "permission denied")                                                       \
  X(TA_EBADMAGIC, -6, "not a typeahead file (bad magic)")                                     \
  X(TA_EVERSION, -7, "unsupported format version")                                            \
  X(TA_ECORRUPT, -8, "file is corrupt (structure out of bounds)")                             \
  X(TA_ECHECKSUM, -9, "file is corrupt (checksum mismatch)")                                  \
  X(TA_ETRUNC, -10, "file is truncated")                                                      \
  X(TA_EUTF8, -11, "invalid UTF-8")                                                           \
  X(TA_ETOOLONG, -12, "input too long")                                                       \
  X(TA_ENOSPC, -13, "output buffer too small")                                                \
  X(TA_EPARSE, -14, "syntax error")                                                           \
  X(TA_ERANGE, -15, "value out of range")                                                     \
  X(TA_EEMPTY, -16, "no input")                                                               \
  X(TA_ETOOBAD, -17, "too many bad lines (wrong --format?)")                                  \
  X(TA_EEXIST, -18, "already exists")                                                         \
  X(TA_EBUSY, -19, "resource busy")                                                           \
  X(TA_ESYS, -20, "system call failed")                                                       \
  X(TA_ENORMVERSION, -21, "made by another normalization version: rebuild with this version") \
  X(TA_ENOTREG, -22, "not a regular file")                                                    \
  X(TA_EOLDFORMAT, -23, "made in an older file format: rebuild it with this version")         \
  X(TA_EDISKFULL, -24, "no space left on device (disk or quota full)")                        \
  X(TA_ELOOP, -25, "too many levels of symbolic links (a symlink loop?)")                     \
  X(TA_EADDRINUSE, -26, "address already in use")                                             \
  X(TA_EDANGLING, -27, "a dangling symlink (the file it names does not exist)")

#define TA__ERROR_ENUM(name, value, msg) name = (value),
enum { TA_OK = 0, TA_ERROR_TABLE(TA__ERROR_ENUM) };
#undef TA__ERROR_ENUM

/* Message for a TA_E* code (or 0); never NULL. */
const char *ta_strerror(int err);

/* The code's name ("TA_ECORRUPT"; "TA_OK" for 0, "TA_E?" for an unknown code); never NULL. */
const char *ta_err_name(int err);

/* Maps a saved errno value to the nearest TA_E* code (ENOENT->TA_ENOENT, ...). */
int ta_error_from_errno(int saved_errno);

/* ---- Diagnostics -------------------------------------------------------------------------- */

/* What went wrong and where. A text input says where by line (1-based; 0 = the input as a
 * whole); a binary one by section name and byte offset from the start of the file. The caller
 * owns the struct; file and section are borrowed (file from the caller, section static). */
typedef struct {
  int code;            /* TA_E*, 0 when nothing is wrong */
  const char *file;    /* the input's name, or NULL */
  uint64_t line;       /* text inputs: line number, 0 when not about one line */
  const char *section; /* binary inputs: the section ("header", "NODES", ...), or NULL */
  uint64_t offset;     /* binary inputs: byte offset in the file, when section is set */
  char msg[192];       /* what is wrong, in words ("" when the code says it all) */
} ta_diag_t;

/* Clears d (d may be NULL) and sets d->file. */
void ta_diag_init(ta_diag_t *d, const char *file);

/* Sets d's code and message (printf format; a too long message is cut) and returns code, so
 * that `return ta_diag_set(d, TA_EPARSE, "...")` reports and fails in one. d may be NULL. */
int ta_diag_set(ta_diag_t *d, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Marks where: a line of a text input, or a section and byte offset of a binary one. */
void ta_diag_at_line(ta_diag_t *d, uint64_t line);
void ta_diag_at_offset(ta_diag_t *d, const char *section, uint64_t offset);

/* One line for a person: "FILE:LINE: MSG" (as compilers say it), "FILE: section S, byte N: MSG",
 * "line N: MSG" without a file, with the code's message when msg is empty. Writes at most cap
 * bytes (NUL included); returns out. */
const char *ta_diag_format(const ta_diag_t *d, char *out, size_t cap);

/* ---- Hashing ------------------------------------------------------------------------------ */

static inline uint64_t ta__load_le64(const unsigned char *p) {
  return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
         (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56;
}

static inline uint64_t ta__load_le32(const unsigned char *p) {
  return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24;
}

/* The 64x64 -> 128-bit product, folded (wyhash's mixing step). */
static inline uint64_t ta__mum(uint64_t a, uint64_t b) {
  __uint128_t r = (__uint128_t)a * b;
  return (uint64_t)r ^ (uint64_t)(r >> 64);
}

/* The project's one hash of a byte string (wyhash's structure: short strings are two
 * overlapping loads, no byte loop). Little-endian loads, so a value is the same on every
 * machine and may be stored (a rules version, a --sample decision). Not for adversaries who
 * can choose keys to collide beyond what a seed protects against. */
static inline uint64_t ta_hash64(const void *data, size_t len, uint64_t seed) {
  static const uint64_t k0 = UINT64_C(0xa0761d6478bd642f), k1 = UINT64_C(0xe7037ed1a0b428db),
                        k2 = UINT64_C(0x8ebc6af09c88c6e3);
  const unsigned char *p = (const unsigned char *)data;
  uint64_t s = k0 ^ ta__mum(seed ^ k2, k1), a, b;
  if (len <= 16) {
    if (len >= 4) {
      size_t mid = (len >> 3) << 2;
      a = ta__load_le32(p) << 32 | ta__load_le32(p + mid);
      b = ta__load_le32(p + len - 4) << 32 | ta__load_le32(p + len - 4 - mid);
    } else if (len > 0) {
      a = (uint64_t)p[0] << 16 | (uint64_t)p[len >> 1] << 8 | p[len - 1];
      b = 0;
    } else {
      a = b = 0;
    }
  } else {
    size_t i = len;
    for (; i > 16; i -= 16, p += 16) s = ta__mum(ta__load_le64(p) ^ k1, ta__load_le64(p + 8) ^ s);
    a = ta__load_le64(p + i - 16);
    b = ta__load_le64(p + i - 8);
  }
  return ta__mum(k1 ^ len, ta__mum(a ^ k1, b ^ s));
}

/* The bit of a head of at most 4 bytes (n <= 4) in a TA_HEAD_BITS bitmap: one load and one
 * multiply, for the screens on hot paths that clear most strings with one memory access (a rule
 * set's rule heads, a trie's key heads). Those bitmaps live in memory only, so the host byte
 * order of the load does not matter; heads that differ only by trailing NUL bytes share a bit. */
#define TA_HEAD_MAX 4u
#define TA_HEAD_BITS 65536u
static inline uint32_t ta_head_hash16(const void *s, size_t n) {
  uint32_t w = 0;
  memcpy(&w, s, n);
  return (w * 0x9e3779b1u) >> 16;
}

/* ---- Clocks (ta_clock.c) ------------------------------------------------------------------ */

/* CLOCK_MONOTONIC in nanoseconds: durations, deadlines, rates. */
uint64_t ta_mono_ns(void);
/* The same clock in seconds, for human-scale durations. */
double ta_mono_s(void);
/* Wall-clock unix time in seconds: timestamps stored or shown. */
int64_t ta_unix_s(void);

/* ---- Files (ta_afile.c) ------------------------------------------------------------------- */

/* Atomic replacement of a file: the new content goes into a temp file in the target's
 * directory, then flush, fsync, rename over the target and fsync of the directory, so a reader
 * of path sees the old file or the new one, never a half-written one, even across a crash. On
 * Linux the temp file has no name while it is written (O_TMPFILE): a writer killed meanwhile
 * (SIGKILL, a crash, a power loss) leaves nothing behind; it is named "<path>.tmp.XXXXXX" only
 * at commit, microseconds before the rename. Where the file system refuses O_TMPFILE, the temp
 * file has that name from the start (and a killed writer leaves it). The new file gets the mode
 * the target has (or a new file would get under the umask).
 * A path that is a symlink (current.trie -> tries/2026-12-07.trie) is followed to the end of
 * its chain and the file there is replaced: the link stays and names the new content. A link to
 * nothing gives TA_EDANGLING, a loop TA_ELOOP. A path naming anything but a regular file (a
 * directory, a device, a FIFO, a socket; through a symlink too) is never replaced: TA_ENOTREG.
 * These are checked by ta_afile_open, before anything is written, as is what would keep the
 * temp file from being named at commit (a target name too long for the suffix: TA_ETOOLONG). */
typedef struct ta_afile ta_afile_t;

int ta_afile_open(const char *path, ta_afile_t **out);
FILE *ta_afile_stream(ta_afile_t *f);
/* The temp file's descriptor, open for reading too: a caller checks what it wrote on it
 * (bld_write maps it, trie_open_fd) once the stream is flushed. The file may have no name to
 * open. -1 for NULL. */
int ta_afile_fd(const ta_afile_t *f);
/* Flushes, fsyncs, names and renames over path, fsyncs the directory, frees f (also on
 * error). */
int ta_afile_commit(ta_afile_t *f);
/* Removes the temp file and frees f. NULL is a no-op. */
void ta_afile_abort(ta_afile_t *f);

/* Flushes a stream written to: 0, or the TA_E* of the failure from its errno (TA_EDISKFULL for
 * a full disk), TA_EIO when only the stream's error flag says an earlier write failed. */
int ta_fflush_written(FILE *f);
/* Ends a stream written to: ta_fflush_written, then an fsync when sync, then a close (always).
 * 0, or the TA_E* of the first failure. */
int ta_fclose_written(FILE *f, int sync);
/* fsync of a directory (so a rename or create in it is durable). */
int ta_fsync_dir(const char *dir);
/* fsync of the directory that holds path. */
int ta_fsync_parent(const char *path);

/* ---- Numbers (ta_num.c) ------------------------------------------------------------------- */

/* Strict decimal: digits only (no sign, space, hex or suffix), lo <= value <= hi. Returns 0,
 * TA_EPARSE (not a number) or TA_ERANGE. s may be NULL (TA_EPARSE). */
int ta_parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out);
int ta_parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *out);
/* Strict decimal fraction: [digits][.digits][e[+-]digits], no sign unless lo < 0 allows '-',
 * no inf/nan/hex, lo <= value <= hi. Same returns. */
int ta_parse_double(const char *s, double lo, double hi, double *out);

/* v in decimal, NUL-terminated; returns the digits written (at most 20). */
size_t ta_fmt_u64(uint64_t v, char out[TA_U64_CAP]);
/* A score as every tool prints it: the shortest decimal that reads back as the same double;
 * whole numbers (below 2^53) without a decimal point; non-finite as 0. Returns the length. */
size_t ta_fmt_score(double score, char out[TA_SCORE_CAP]);

/* ---- Memory (ta_mem.c) ------------------------------------------------------------------- */

/* A growable byte buffer. Zero-initialize it ({0}); the caller owns p (ta_buf_free). */
typedef struct {
  char *p;
  size_t len, cap;
} ta_buf_t;

/* Makes room for extra more bytes (capacity doubles, from 1 KiB). TA_ENOMEM on failure, when b
 * is unchanged. */
int ta_buf_reserve(ta_buf_t *b, size_t extra);
/* Appends data[0..n). The common case (the room is there) is inline: hot paths make many short
 * appends of constant size, which the compiler then turns into moves. */
int ta__buf_put_grow(ta_buf_t *b, const void *data, size_t n);
static inline int ta_buf_put(ta_buf_t *b, const void *data, size_t n) {
  if (b->cap - b->len < n) return ta__buf_put_grow(b, data, n);
  if (n) memcpy(b->p + b->len, data, n);
  b->len += n;
  return 0;
}
/* Frees b->p and zeroes b. */
void ta_buf_free(ta_buf_t *b);

/* Files, continued (ta_file.c; here because it fills a ta_buf_t). Reads the regular file at path
 * whole into *out (which must be empty, {0}; the caller frees it with ta_buf_free; out->len bytes,
 * no NUL added). Anything else at path (a FIFO, a directory, a device, a socket) is refused with
 * TA_ENOTREG before a byte is read: the file is stat'ed before it is opened, opened without
 * blocking, and fstat'ed again. At most max bytes (TA_ETOOLONG beyond). The copy is the caller's
 * own: nothing done to the file afterwards (rewritten in place, truncated) changes or takes it
 * away, as it would a mapping. diag (may be NULL) names path and says what is wrong ("a FIFO, not a
 * regular file"). On error *out stays empty. */
int ta_read_file(const char *path, size_t max, ta_buf_t *out, ta_diag_t *diag);
/* ta_read_file in two steps, for a caller that checks the file between them on the same
 * descriptor (trie_open_copy reads the header with pread and checks the size it states), so the
 * file checked is the file read. ta_open_regular: the checks and the open of ta_read_file; *fd
 * (the caller closes it) and *size (fstat of what was opened) on success, *fd = -1 on error.
 * ta_read_fd: reads fd from its offset to its end into *out (empty, {0}), size bytes expected
 * (fstat's), at most max (TA_ETOOLONG beyond); on error *out stays empty. diag as for
 * ta_read_file (ta_open_regular names path in it). */
int ta_open_regular(const char *path, int *fd, uint64_t *size, ta_diag_t *diag);
int ta_read_fd(int fd, uint64_t size, size_t max, ta_buf_t *out, ta_diag_t *diag);

/* Grows the array *items (elem bytes each, capacity *cap) to hold at least need elements:
 * capacity doubles from first. On TA_ENOMEM *items and *cap are unchanged. Use:
 *   if (n == cap && (rc = ta_grow((void **)&v, &cap, n + 1, sizeof *v, 64)) != 0) return rc; */
int ta_grow(void **items, size_t *cap, size_t need, size_t elem, size_t first);

/* Big blocks read at random (hash tables, indexes): from mmap, zeroed, with transparent huge
 * pages where the kernel offers them (fewer TLB misses and page faults; blocks of 2 MiB or more
 * start on a 2 MiB boundary, where one can back them; blocks under 64 KiB come from calloc).
 * NULL when out of memory; ta_big_free takes the size given to ta_big_alloc (NULL: a no-op). */
void *ta_big_alloc(size_t size);
void ta_big_free(void *p, size_t size);

/* ---- Text (ta_text.c) --------------------------------------------------------------------- */

/* s[0..len) into buf (cap bytes, NUL-terminated) for a terminal or a log line: control bytes
 * and DEL as \xNN, with TA_ESC_BACKSLASH backslash too (a log line, where a name holding the
 * text "\x0a" must not pass for an escaped newline), everything else as it is (UTF-8 stays
 * readable); what does not fit is cut and ends in "...". Returns the bytes before the NUL. */
#define TA_ESC_BACKSLASH 1u
size_t ta_esc(const char *s, size_t len, unsigned flags, char *buf, size_t cap);

/* 1 when m[0..len) is a market name (SPEC §10): 1..TA_MAX_MARKET bytes of [a-z0-9_-]. Log
 * lines, tables, trie files, the server's file names and requests all use this one test. */
int ta_market_valid(const char *m, size_t len);

/* Byte strings in memcmp order, a shorter prefix first: <0, 0 or >0. */
static inline int ta_bytes_cmp(const void *a, size_t alen, const void *b, size_t blen) {
  int c = memcmp(a, b, alen < blen ? alen : blen);
  if (c) return c;
  return alen < blen ? -1 : alen > blen;
}

#ifdef __cplusplus
}
#endif
#endif /* TYPEAHEAD_TA_H */
