/*
 * Week table files (tbl.h; format in docs/TABLES.md): the writer (with msgpack-c's packer) and
 * the streaming reader. Version 3 holds the global counts, then each market's; rows go in and
 * come out by row key (tbl_key.c), whose order is the file's. Version 2 (no markets) is read.
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

#define TABLE_KEYS \
  8                     /* version 3: format, version, norm, week, week_start, counts, events,
                           markets */
#define TABLE_KEYS_V2 7 /* version 2 had no "markets" */
#define TABLE_KEYS_V1 6 /* version 1 had no "norm" either */

/* ---- Writer ------------------------------------------------------------------------------- */

#define WRITE_BUF (64u << 10)

/* A map32 header written with a placeholder count, filled in at close. */
typedef struct {
  uint64_t off;
  uint32_t n;
} patch_t;

struct tbl_writer {
  FILE *f;
  char *path;
  msgpack_packer pk;
  char *buf; /* the packer's bytes, written out WRITE_BUF at a time */
  size_t used;
  uint64_t off;     /* bytes the packer produced so far: the file offset of the next one */
  patch_t *patches; /* [0] the global counts, [1] the markets map, then each market's counts */
  size_t n_patches, cap_patches;
  uint64_t rows, events; /* of the map being written (the global one, then each market's) */
  char market[TA_MAX_MARKET];
  size_t market_len; /* the market being written; 0 while in the global rows */
  char *last;        /* previous key, to enforce strict order */
  size_t last_len;
  uint64_t keys;
  int failed; /* 0, or the TA_E* of the first failed write (its errno: a full disk says so) */
};

static void write_failed(tbl_writer_t *wr) {
  if (!wr->failed) wr->failed = ta_error_from_errno(errno);
}

/* Writes out what the packer put into wr->buf. */
static void flush_buf(tbl_writer_t *wr) {
  if (wr->used && fwrite_unlocked(wr->buf, 1, wr->used, wr->f) != wr->used) write_failed(wr);
  wr->used = 0;
}

/* The packer's output: a copy into wr->buf (the packer makes several small writes a row). */
static int write_cb(void *data, const char *buf, size_t len) {
  tbl_writer_t *wr = data;
  wr->off += len;
  if (wr->used + len > WRITE_BUF) flush_buf(wr);
  if (len > WRITE_BUF) {
    if (fwrite_unlocked(buf, 1, len, wr->f) != len) write_failed(wr);
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

/* A map32 header whose count is patched at close (so the writer can stream the entries). */
static int open_map32(tbl_writer_t *wr) {
  if (wr->n_patches == wr->cap_patches && ta_grow((void **)&wr->patches, &wr->cap_patches,
                                                  wr->n_patches + 1, sizeof *wr->patches, 8) != 0)
    return TA_ENOMEM;
  wr->patches[wr->n_patches++] = (patch_t){wr->off, 0};
  static const unsigned char map32[5] = {0xdf, 0, 0, 0, 0};
  write_cb(wr, (const char *)map32, sizeof map32);
  return wr->failed;
}

static void writer_free(tbl_writer_t *wr) {
  free(wr->path);
  free(wr->last);
  free(wr->buf);
  free(wr->patches);
  free(wr);
}

int tbl_writer_open(const char *path, tbl_week_t w, tbl_writer_t **out) {
  *out = NULL;
  tbl_writer_t *wr = calloc(1, sizeof *wr);
  if (!wr) return TA_ENOMEM;
  wr->path = strdup(path);
  wr->last = malloc(TBL_MAX_KEY);
  wr->buf = malloc(WRITE_BUF);
  if (!wr->path || !wr->last || !wr->buf) {
    writer_free(wr);
    return TA_ENOMEM;
  }
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0 || !(wr->f = fdopen(fd, "wb"))) {
    int e = ta_error_from_errno(errno);
    if (fd >= 0) close(fd);
    writer_free(wr);
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
  int rc = open_map32(wr);
  if (rc) {
    tbl_writer_abort(wr);
    return rc;
  }
  *out = wr;
  return 0;
}

/* Ends the counts map being written (the global one or a market's) with its "events". */
static void end_counts(tbl_writer_t *wr) {
  wr->patches[wr->n_patches - 1].n = (uint32_t)wr->rows;
  pack_cstr(&wr->pk, "events");
  msgpack_pack_uint64(&wr->pk, wr->events);
  wr->rows = wr->events = 0;
}

/* Starts market m's entry of the markets map (after the global rows or the previous market). */
static int start_market(tbl_writer_t *wr, const char *m, size_t mlen) {
  end_counts(wr);
  int rc;
  if (!wr->market_len) {
    pack_cstr(&wr->pk, "markets");
    if ((rc = open_map32(wr))) return rc;
  }
  wr->patches[1].n++;
  msgpack_pack_str(&wr->pk, mlen);
  msgpack_pack_str_body(&wr->pk, m, mlen);
  msgpack_pack_map(&wr->pk, 2);
  pack_cstr(&wr->pk, "counts");
  memcpy(wr->market, m, mlen);
  wr->market_len = mlen;
  return open_map32(wr);
}

int tbl_writer_add(tbl_writer_t *wr, const char *key, size_t len, uint64_t count) {
  const char *m, *s;
  size_t mlen, slen;
  if (len == 0 || len > TBL_MAX_KEY || count == 0 ||
      tbl_key_split(key, len, &m, &mlen, &s, &slen) != 0 || slen == 0 || slen > TBL_MAX_QUERY ||
      (mlen && !ta_market_valid(m, mlen)) || (!mlen && (unsigned char)key[0] == TBL_KEY_MARKET))
    return TA_EINVAL;
  if (wr->keys && ta_bytes_cmp(wr->last, wr->last_len, key, len) >= 0) return TA_EINVAL;
  int rc;
  if (mlen && (mlen != wr->market_len || memcmp(m, wr->market, mlen) != 0)) {
    if (wr->patches[1].n == UINT32_MAX && wr->market_len) return TA_ERANGE;
    if ((rc = start_market(wr, m, mlen))) return rc;
  }
  if (wr->rows == UINT32_MAX || wr->events > UINT64_MAX - count) return TA_ERANGE;
  memcpy(wr->last, key, len);
  wr->last_len = len;
  msgpack_pack_str(&wr->pk, slen);
  msgpack_pack_str_body(&wr->pk, s, slen);
  msgpack_pack_uint64(&wr->pk, count);
  wr->rows++;
  wr->keys++;
  wr->events += count;
  return wr->failed;
}

int tbl_writer_close(tbl_writer_t *wr) {
  int rc = 0;
  end_counts(wr);
  if (!wr->market_len) { /* no market row: an empty markets map */
    pack_cstr(&wr->pk, "markets");
    rc = open_map32(wr);
  }
  flush_buf(wr);
  if (!rc && !wr->failed && fflush(wr->f) != 0) write_failed(wr);
  if (!rc) rc = wr->failed;
  for (size_t i = 0; i < wr->n_patches && !rc; i++) {
    uint32_t n = wr->patches[i].n;
    unsigned char be[4] = {(unsigned char)(n >> 24), (unsigned char)(n >> 16),
                           (unsigned char)(n >> 8), (unsigned char)n};
    if (fseek(wr->f, (long)wr->patches[i].off + 1, SEEK_SET) != 0 || fwrite(be, 1, 4, wr->f) != 4)
      rc = ta_error_from_errno(errno);
  }
  int crc = ta_fclose_written(wr->f, !rc);
  if (!rc) rc = crc;
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

#define RBUF (1 << 16) /* > 2 * (TBL_MAX_KEY + 9): one row always fits after a refill */

struct tbl_reader {
  int fd;
  char *path;
  unsigned char *buf;
  size_t pos, end;   /* unread bytes are buf[pos..end) */
  uint64_t file_off; /* file offset of buf[0] */
  int eof;
  tbl_week_t week;
  uint64_t version;
  uint64_t rows, row, sum;   /* of the counts map being read: the global one or a market's */
  uint64_t markets, market;  /* entries of the markets map, and the one being read (1-based) */
  char mname[TA_MAX_MARKET]; /* its name */
  size_t mlen;
  uint64_t keys;
  char *last, *cur; /* previous and current key (copies out of buf) */
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
  if (first != (0x80 | TABLE_KEYS) && first != (0x80 | TABLE_KEYS_V2) &&
      first != (0x80 | TABLE_KEYS_V1))
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
  if (v != TBL_VERSION && v != 2)
    return tfail(t, TA_EVERSION, "table version %llu, this program reads versions 2 and %d",
                 (unsigned long long)v, TBL_VERSION);
  t->version = v;
  unsigned keys = v == 2 ? TABLE_KEYS_V2 : TABLE_KEYS;
  if (first != (0x80 | keys)) {
    t->pos = 0;
    return tfail(t, TA_ECORRUPT, "a version %llu table is a map of %u keys, not %d",
                 (unsigned long long)v, keys, first & 0x0f);
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
  t->last = malloc(TBL_MAX_KEY);
  t->cur = malloc(TBL_MAX_KEY);
  if (!t->path || !t->buf || !t->last || !t->cur) {
    tbl_reader_close(t);
    return TA_ENOMEM;
  }
  *out = t;
  /* A regular file only: a FIFO put in a tables directory under a table's name blocked the
   * open for good (the nightly job for its 6 hours, holding the tables' lock). */
  ta_diag_t d;
  uint64_t size;
  int rc = ta_open_regular(path, &t->fd, &size, &d);
  /* tbl_list named a table of a committed run, "DIR/.txn/NAME", and the run's roll forward has
   * moved it to DIR/NAME since: read it there (a build failed, ENOENT, when its listing met the
   * milliseconds of another run's roll forward). */
  const char *base = strrchr(path, '/');
  size_t tl = strlen(TBL_TXN_DIR);
  if (rc == TA_ENOENT && base && (size_t)(base - path) >= tl + 1 &&
      memcmp(base - tl - 1, "/" TBL_TXN_DIR, tl + 1) == 0) {
    char *moved = malloc(strlen(path) + 1);
    if (!moved) return t->err = TA_ENOMEM;
    size_t head = (size_t)(base - path) - tl - 1;
    memcpy(moved, path, head);
    strcpy(moved + head, base);
    free(t->path);
    t->path = moved;
    rc = ta_open_regular(moved, &t->fd, &size, &d);
  }
  if (rc) {
    ta_diag_format(&d, t->msg, sizeof t->msg);
    return t->err = rc;
  }
  return read_header(t);
}

tbl_week_t tbl_reader_week(const tbl_reader_t *t) {
  return t->week;
}

const char *tbl_reader_errmsg(const tbl_reader_t *t) {
  return t ? t->msg : "out of memory";
}

/* At the end of a counts map: its "events", then what follows (the markets map after the global
 * counts of a version 3 table, the next market, or the end of the file). Returns 1 when the
 * next map has rows to read, 0 at the end of the table. */
static int end_of_counts(tbl_reader_t *t) {
  uint64_t events;
  int rc;
  if ((rc = expect_key(t, "events")) || (rc = read_uint(t, "events", &events))) return rc;
  if (events != t->sum)
    return tfail(t, TA_ECORRUPT, "events is %llu but the counts%s%.*s add up to %llu",
                 (unsigned long long)events, t->mlen ? " of market " : "", (int)t->mlen, t->mname,
                 (unsigned long long)t->sum);
  if (t->version > 2 && t->market == 0 &&
      ((rc = expect_key(t, "markets")) || (rc = read_map(t, "markets", &t->markets))))
    return rc;
  if (t->market < t->markets) {
    const char *m = NULL;
    size_t mlen = 0;
    uint64_t n;
    if ((rc = read_str(t, "market", TA_MAX_MARKET, &m, &mlen))) return rc;
    if (!ta_market_valid(m, mlen))
      return tfail(t, TA_ECORRUPT, "market \"%.*s\" is not [a-z0-9_-]{1,%d}", (int)mlen, m,
                   TA_MAX_MARKET);
    if (t->market && ta_bytes_cmp(t->mname, t->mlen, m, mlen) >= 0)
      return tfail(t, TA_ECORRUPT, "market \"%.*s\" out of order or repeated", (int)mlen, m);
    memcpy(t->mname, m, mlen);
    t->mlen = mlen;
    t->market++;
    if ((rc = read_map(t, "market", &n))) return rc;
    if (n != 2)
      return tfail(t, TA_ECORRUPT, "market entry is a map of %llu keys, not 2",
                   (unsigned long long)n);
    if ((rc = expect_key(t, "counts")) || (rc = read_map(t, "counts", &t->rows))) return rc;
    if (t->rows == 0) return tfail(t, TA_ECORRUPT, "market \"%.*s\" has no rows", (int)mlen, m);
    t->row = t->sum = 0;
    return 1;
  }
  if (need(t, 1) == 0) return tfail(t, TA_ECORRUPT, "bytes after the end of the table");
  if (t->err != TA_ETRUNC) return t->err;
  t->err = 0;
  t->msg[0] = 0;
  t->done = 1;
  return 0;
}

int tbl_reader_next(tbl_reader_t *t, const char **key, size_t *len, uint64_t *count) {
  if (t->err) return t->err;
  if (t->done) return 0;
  int rc;
  while (t->row == t->rows)
    if ((rc = end_of_counts(t)) <= 0) return rc;
  const char *s;
  size_t slen;
  if ((rc = read_str(t, "spelling", TBL_MAX_QUERY, &s, &slen))) return rc;
  /* The next read may refill (move) the buffer under s: copy the key out first. */
  *len = tbl_key_make(t->cur, t->mname, t->mlen, s, slen);
  *key = t->cur;
  s = t->cur + (*len - slen);
  if ((rc = read_uint(t, "count", count))) return rc;
  if (slen == 0)
    return tfail(t, TA_ECORRUPT, "empty spelling in row %llu", (unsigned long long)t->row);
  if (!trie_utf8_valid(s, slen))
    return tfail(t, TA_ECORRUPT, "row %llu: spelling is not valid UTF-8",
                 (unsigned long long)t->row);
  if (*count == 0 || t->sum > UINT64_MAX - *count)
    return tfail(t, TA_ECORRUPT, "row %llu: count %llu is zero or overflows the total",
                 (unsigned long long)t->row, (unsigned long long)*count);
  if (t->keys && ta_bytes_cmp(t->last, t->last_len, *key, *len) >= 0)
    return tfail(t, TA_ECORRUPT, "row %llu: spellings out of order or repeated",
                 (unsigned long long)t->row);
  char *swap = t->last; /* cur becomes last; *key stays valid until the next call */
  t->last = t->cur;
  t->cur = swap;
  t->last_len = *len;
  t->sum += *count;
  t->row++;
  t->keys++;
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
