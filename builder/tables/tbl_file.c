/*
 * Week table files (tbl.h; format in docs/TABLES.md): the writer (with msgpack-c's packer) and
 * the streaming reader.
 *
 * The reader does not use msgpack-c's object unpacker: that one allocates every container at
 * the size its header claims and builds the whole tree in memory, so a hostile 5-byte header
 * could ask for gigabytes and a large table would not fit the memory budget. Instead a small
 * cursor over a refilled read buffer decodes exactly the types the format allows, checks every
 * length against the bytes that remain and the format's limits, and says where it stopped.
 */
#include "tbl.h"
#include "trie.h" /* trie_utf8_valid, TRIE_NORM_VERSION */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <msgpack.h>

#define TABLE_KEYS 7    /* version 2: format, version, norm, week, week_start, counts, events */
#define TABLE_KEYS_V1 6 /* version 1 had no "norm" */

/* ---- Writer ------------------------------------------------------------------------------- */

#define WRITE_BUF (64u << 10)

struct tbl_writer {
  FILE *f;
  char *path;
  msgpack_packer pk;
  char *buf; /* the packer's bytes, written out WRITE_BUF at a time */
  size_t used;
  long map_offset; /* where the counts map32 header is, patched at close */
  uint64_t rows, events;
  char *last; /* previous spelling, to enforce strict order */
  size_t last_len;
  int failed;
};

/* Writes out what the packer put into wr->buf. */
static void flush_buf(tbl_writer_t *wr) {
  if (wr->used && fwrite_unlocked(wr->buf, 1, wr->used, wr->f) != wr->used) wr->failed = 1;
  wr->used = 0;
}

/* The packer's output: a copy into wr->buf (the packer makes several small writes a row). */
static int write_cb(void *data, const char *buf, size_t len) {
  tbl_writer_t *wr = data;
  if (wr->used + len > WRITE_BUF) flush_buf(wr);
  if (len > WRITE_BUF) {
    if (fwrite_unlocked(buf, 1, len, wr->f) != len) wr->failed = 1;
  } else {
    memcpy(wr->buf + wr->used, buf, len);
    wr->used += len;
  }
  return wr->failed ? -1 : 0;
}

static void pack_cstr(msgpack_packer *pk, const char *s) {
  size_t n = strlen(s);
  msgpack_pack_str(pk, n);
  msgpack_pack_str_body(pk, s, n);
}

int tbl_writer_open(const char *path, tbl_week_t w, tbl_writer_t **out) {
  *out = NULL;
  tbl_writer_t *wr = calloc(1, sizeof *wr);
  if (!wr) return TA_ENOMEM;
  wr->path = strdup(path);
  wr->last = malloc(TBL_MAX_QUERY);
  wr->buf = malloc(WRITE_BUF);
  if (!wr->path || !wr->last || !wr->buf) {
    free(wr->path);
    free(wr->last);
    free(wr->buf);
    free(wr);
    return TA_ENOMEM;
  }
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0 || !(wr->f = fdopen(fd, "wb"))) {
    int e = ta_error_from_errno(errno);
    if (fd >= 0) close(fd);
    free(wr->path);
    free(wr->last);
    free(wr->buf);
    free(wr);
    return e;
  }
  setvbuf(wr->f, NULL, _IOFBF, 1 << 16);
  char name[TBL_WEEK_STR], date[TBL_WEEK_STR];
  tbl_week_name(w, name);
  tbl_week_date(w, date);
  msgpack_packer_init(&wr->pk, wr, write_cb);
  msgpack_pack_map(&wr->pk, TABLE_KEYS);
  pack_cstr(&wr->pk, "format");
  pack_cstr(&wr->pk, TBL_FORMAT);
  pack_cstr(&wr->pk, "version");
  msgpack_pack_uint32(&wr->pk, TBL_VERSION);
  pack_cstr(&wr->pk, "norm");
  msgpack_pack_uint32(&wr->pk, TRIE_NORM_VERSION);
  pack_cstr(&wr->pk, "week");
  pack_cstr(&wr->pk, name);
  pack_cstr(&wr->pk, "week_start");
  pack_cstr(&wr->pk, date);
  pack_cstr(&wr->pk, "counts");
  flush_buf(wr);
  fflush(wr->f);
  wr->map_offset = ftell(wr->f);
  /* Always a map32, so the count can be patched in place once known. */
  static const unsigned char map32[5] = {0xdf, 0, 0, 0, 0};
  write_cb(wr, (const char *)map32, sizeof map32);
  *out = wr;
  return wr->failed ? TA_EIO : 0;
}

int tbl_writer_add(tbl_writer_t *wr, const char *s, size_t len, uint64_t count) {
  if (len == 0 || len > TBL_MAX_QUERY || count == 0) return TA_EINVAL;
  if (wr->rows && ta_bytes_cmp(wr->last, wr->last_len, s, len) >= 0) return TA_EINVAL;
  if (wr->rows == UINT32_MAX || wr->events > UINT64_MAX - count) return TA_ERANGE;
  memcpy(wr->last, s, len);
  wr->last_len = len;
  msgpack_pack_str(&wr->pk, len);
  msgpack_pack_str_body(&wr->pk, s, len);
  msgpack_pack_uint64(&wr->pk, count);
  wr->rows++;
  wr->events += count;
  return wr->failed ? TA_EIO : 0;
}

static void writer_free(tbl_writer_t *wr) {
  free(wr->path);
  free(wr->last);
  free(wr->buf);
  free(wr);
}

int tbl_writer_close(tbl_writer_t *wr) {
  pack_cstr(&wr->pk, "events");
  msgpack_pack_uint64(&wr->pk, wr->events);
  unsigned char be[4] = {(unsigned char)(wr->rows >> 24), (unsigned char)(wr->rows >> 16),
                         (unsigned char)(wr->rows >> 8), (unsigned char)wr->rows};
  int rc = 0;
  flush_buf(wr);
  if (wr->failed || fflush(wr->f) != 0 || fseek(wr->f, wr->map_offset + 1, SEEK_SET) != 0 ||
      fwrite(be, 1, 4, wr->f) != 4 || fflush(wr->f) != 0 || fsync(fileno(wr->f)) != 0)
    rc = TA_EIO;
  if (fclose(wr->f) != 0) rc = TA_EIO;
  if (rc) unlink(wr->path);
  writer_free(wr);
  return rc;
}

void tbl_writer_abort(tbl_writer_t *wr) {
  if (!wr) return;
  fclose(wr->f);
  unlink(wr->path);
  writer_free(wr);
}

/* ---- Reader ------------------------------------------------------------------------------- */

#define RBUF (1 << 16) /* > 2 * (TBL_MAX_QUERY + 9): one row always fits after a refill */

struct tbl_reader {
  int fd;
  char *path;
  unsigned char *buf;
  size_t pos, end;   /* unread bytes are buf[pos..end) */
  uint64_t file_off; /* file offset of buf[0] */
  int eof;
  tbl_week_t week;
  uint64_t rows, row, sum, events;
  char *last, *cur; /* previous and current spelling (copies out of buf) */
  size_t last_len;
  int done, err;
  char msg[512];
};

static int tfail(tbl_reader_t *t, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int tfail(tbl_reader_t *t, int code, const char *fmt, ...) {
  int n = snprintf(t->msg, sizeof t->msg, "%s: byte %llu: ", t->path,
                   (unsigned long long)(t->file_off + t->pos));
  if (n < 0 || (size_t)n >= sizeof t->msg) n = 0;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(t->msg + n, sizeof t->msg - (size_t)n, fmt, ap);
  va_end(ap);
  t->err = code;
  return code;
}

/* Makes n bytes available at buf[pos]; TA_ETRUNC when the file ends first. */
static int need(tbl_reader_t *t, size_t n) {
  while (t->end - t->pos < n) {
    if (t->eof) return tfail(t, TA_ETRUNC, "file ends in the middle of a value");
    if (t->pos > 0) {
      memmove(t->buf, t->buf + t->pos, t->end - t->pos);
      t->file_off += t->pos;
      t->end -= t->pos;
      t->pos = 0;
    }
    ssize_t r = read(t->fd, t->buf + t->end, RBUF - t->end);
    if (r < 0) {
      if (errno == EINTR) continue;
      return tfail(t, TA_EIO, "read failed: %s", strerror(errno));
    }
    if (r == 0) t->eof = 1;
    t->end += (size_t)r;
  }
  return 0;
}

static uint64_t be_n(const unsigned char *p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++) v = v << 8 | p[i];
  return v;
}

static int read_str(tbl_reader_t *t, const char *what, size_t max, const char **s, size_t *len) {
  int rc = need(t, 1);
  if (rc) return rc;
  unsigned char tag = t->buf[t->pos];
  size_t hdr, n;
  if (tag >= 0xa0 && tag <= 0xbf) {
    hdr = 1;
    n = tag & 0x1f;
  } else if (tag == 0xd9 || tag == 0xda || tag == 0xdb) {
    hdr = tag == 0xd9 ? 2 : tag == 0xda ? 3 : 5;
    if ((rc = need(t, hdr))) return rc;
    n = (size_t)be_n(t->buf + t->pos + 1, hdr - 1);
  } else {
    return tfail(t, TA_ECORRUPT, "%s: expected a string, found type byte 0x%02x", what, tag);
  }
  if (n > max) return tfail(t, TA_ECORRUPT, "%s: string of %zu bytes (at most %zu)", what, n, max);
  if ((rc = need(t, hdr + n))) return rc;
  *s = (const char *)t->buf + t->pos + hdr;
  *len = n;
  t->pos += hdr + n;
  return 0;
}

static int read_uint(tbl_reader_t *t, const char *what, uint64_t *v) {
  int rc = need(t, 1);
  if (rc) return rc;
  unsigned char tag = t->buf[t->pos];
  size_t hdr;
  if (tag <= 0x7f) {
    *v = tag;
    t->pos++;
    return 0;
  }
  switch (tag) {
  case 0xcc:
    hdr = 2;
    break;
  case 0xcd:
    hdr = 3;
    break;
  case 0xce:
    hdr = 5;
    break;
  case 0xcf:
    hdr = 9;
    break;
  default:
    return tfail(t, TA_ECORRUPT, "%s: expected an unsigned integer, found type byte 0x%02x", what,
                 tag);
  }
  if ((rc = need(t, hdr))) return rc;
  *v = be_n(t->buf + t->pos + 1, hdr - 1);
  t->pos += hdr;
  return 0;
}

static int read_map(tbl_reader_t *t, const char *what, uint64_t *n) {
  int rc = need(t, 1);
  if (rc) return rc;
  unsigned char tag = t->buf[t->pos];
  if (tag >= 0x80 && tag <= 0x8f) {
    *n = tag & 0x0f;
    t->pos++;
    return 0;
  }
  if (tag != 0xde && tag != 0xdf)
    return tfail(t, TA_ECORRUPT, "%s: expected a map, found type byte 0x%02x", what, tag);
  size_t hdr = tag == 0xde ? 3 : 5;
  if ((rc = need(t, hdr))) return rc;
  *n = be_n(t->buf + t->pos + 1, hdr - 1);
  t->pos += hdr;
  return 0;
}

static int expect_key(tbl_reader_t *t, const char *key) {
  const char *s = NULL; /* read_str sets both on success; -O3 cannot see that */
  size_t n = 0;
  int rc = read_str(t, "map key", 64, &s, &n);
  if (rc) return rc;
  if (n != strlen(key) || memcmp(s, key, n) != 0)
    return tfail(t, TA_ECORRUPT, "expected key \"%s\", found \"%.*s\"", key, (int)n, s);
  return 0;
}

static int read_header(tbl_reader_t *t) {
  const char *s;
  size_t n;
  uint64_t v;
  int rc = need(t, 1);
  if (rc) {
    if (t->end == 0) return tfail(t, TA_ETRUNC, "empty file, not a week table");
    return rc;
  }
  unsigned char first = t->buf[0];
  if (first != (0x80 | TABLE_KEYS) && first != (0x80 | TABLE_KEYS_V1))
    return tfail(t, TA_EBADMAGIC, "not a typeahead week table (first byte 0x%02x)", first);
  t->pos = 1;
  if ((rc = expect_key(t, "format")) || (rc = read_str(t, "format", 64, &s, &n))) return rc;
  if (n != strlen(TBL_FORMAT) || memcmp(s, TBL_FORMAT, n) != 0)
    return tfail(t, TA_EBADMAGIC, "format is \"%.*s\", not \"" TBL_FORMAT "\"", (int)n, s);
  if ((rc = expect_key(t, "version")) || (rc = read_uint(t, "version", &v))) return rc;
  /* Spellings are display forms: made by another normalization, they are not what this
   * program would have stored, so the tables must be made again from the logs. */
  if (v == 1)
    return tfail(t, TA_ENORMVERSION,
                 "table version 1 predates normalization version %u: rebuild with this version "
                 "(aggregate the logs again into a new tables directory)",
                 TRIE_NORM_VERSION);
  if (v != TBL_VERSION)
    return tfail(t, TA_EVERSION, "table version %llu, this program reads version %d",
                 (unsigned long long)v, TBL_VERSION);
  if (first != (0x80 | TABLE_KEYS)) {
    t->pos = 0;
    return tfail(t, TA_ECORRUPT, "a version %d table is a map of %d keys, not %d", TBL_VERSION,
                 TABLE_KEYS, first & 0x0f);
  }
  if ((rc = expect_key(t, "norm")) || (rc = read_uint(t, "norm", &v))) return rc;
  if (v != TRIE_NORM_VERSION)
    return tfail(t, TA_ENORMVERSION,
                 "normalization version %llu, this program's is %u: rebuild with this version "
                 "(aggregate the logs again into a new tables directory)",
                 (unsigned long long)v, TRIE_NORM_VERSION);
  if ((rc = expect_key(t, "week")) || (rc = read_str(t, "week", 64, &s, &n))) return rc;
  if (n != 8 || tbl_week_parse(s, n, &t->week) != 0)
    return tfail(t, TA_ECORRUPT, "week \"%.*s\" is not YYYY-Www", (int)n, s);
  char date[TBL_WEEK_STR];
  tbl_week_date(t->week, date);
  if ((rc = expect_key(t, "week_start")) || (rc = read_str(t, "week_start", 64, &s, &n))) return rc;
  if (n != strlen(date) || memcmp(s, date, n) != 0)
    return tfail(t, TA_ECORRUPT, "week_start \"%.*s\" is not the Monday of the week (%s)", (int)n,
                 s, date);
  if ((rc = expect_key(t, "counts")) || (rc = read_map(t, "counts", &t->rows))) return rc;
  /* The basename, when it names a week, must name this one. */
  const char *base = strrchr(t->path, '/');
  base = base ? base + 1 : t->path;
  char want[TBL_WEEK_STR + 16];
  tbl_week_name(t->week, want);
  if (strlen(base) == 8 + strlen(TBL_SUFFIX) && base[4] == '-' && base[5] == 'W' &&
      strncmp(base, want, 8) != 0) {
    t->pos = 0;
    return tfail(t, TA_ECORRUPT, "file holds week %s, its name says %.8s", want, base);
  }
  return 0;
}

int tbl_reader_open(const char *path, tbl_reader_t **out) {
  *out = NULL;
  tbl_reader_t *t = calloc(1, sizeof *t);
  if (!t) return TA_ENOMEM;
  t->fd = -1;
  t->path = strdup(path);
  t->buf = malloc(RBUF);
  t->last = malloc(TBL_MAX_QUERY);
  t->cur = malloc(TBL_MAX_QUERY);
  if (!t->path || !t->buf || !t->last || !t->cur) {
    tbl_reader_close(t);
    return TA_ENOMEM;
  }
  *out = t;
  t->fd = open(path, O_RDONLY | O_CLOEXEC);
  if (t->fd < 0) {
    int e = errno;
    snprintf(t->msg, sizeof t->msg, "%s: %s", path, strerror(e));
    return t->err = ta_error_from_errno(e);
  }
  return read_header(t);
}

tbl_week_t tbl_reader_week(const tbl_reader_t *t) {
  return t->week;
}

const char *tbl_reader_errmsg(const tbl_reader_t *t) {
  return t ? t->msg : "out of memory";
}

int tbl_reader_next(tbl_reader_t *t, const char **s, size_t *len, uint64_t *count) {
  if (t->err) return t->err;
  if (t->done) return 0;
  int rc;
  if (t->row == t->rows) {
    uint64_t events;
    if ((rc = expect_key(t, "events")) || (rc = read_uint(t, "events", &events))) return rc;
    if (events != t->sum)
      return tfail(t, TA_ECORRUPT, "events is %llu but the counts add up to %llu",
                   (unsigned long long)events, (unsigned long long)t->sum);
    if (need(t, 1) == 0) return tfail(t, TA_ECORRUPT, "bytes after the end of the table");
    if (t->err != TA_ETRUNC) return t->err;
    t->err = 0;
    t->msg[0] = 0;
    t->done = 1;
    return 0;
  }
  if ((rc = read_str(t, "spelling", TBL_MAX_QUERY, s, len))) return rc;
  /* The next read may refill (move) the buffer under *s: copy the spelling out first. */
  memcpy(t->cur, *s, *len);
  *s = t->cur;
  if ((rc = read_uint(t, "count", count))) return rc;
  if (*len == 0)
    return tfail(t, TA_ECORRUPT, "empty spelling in row %llu", (unsigned long long)t->row);
  if (!trie_utf8_valid(*s, *len))
    return tfail(t, TA_ECORRUPT, "row %llu: spelling is not valid UTF-8",
                 (unsigned long long)t->row);
  if (*count == 0 || t->sum > UINT64_MAX - *count)
    return tfail(t, TA_ECORRUPT, "row %llu: count %llu is zero or overflows the total",
                 (unsigned long long)t->row, (unsigned long long)*count);
  if (t->row && ta_bytes_cmp(t->last, t->last_len, *s, *len) >= 0)
    return tfail(t, TA_ECORRUPT, "row %llu: spellings out of order or repeated",
                 (unsigned long long)t->row);
  char *swap = t->last; /* cur becomes last; *s stays valid until the next call */
  t->last = t->cur;
  t->cur = swap;
  t->last_len = *len;
  t->sum += *count;
  t->row++;
  return 1;
}

void tbl_reader_close(tbl_reader_t *t) {
  if (!t) return;
  if (t->fd >= 0) close(t->fd);
  free(t->path);
  free(t->buf);
  free(t->last);
  free(t->cur);
  free(t);
}
