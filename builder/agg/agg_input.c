/*
 * An input's bytes and its identity (SPEC §4 "Nightly use is idempotent"; docs/TABLES.md, "The
 * ledger"): the decompressed bytes of a plain or gzip input (agg__src_*), and what of them to
 * count (agg__plan): nothing when the ledger holds its content, everything when no row can be a
 * prefix of it, else what follows the longest row it starts with (a log that grew).
 *
 * Why the head digest: a row is a prefix candidate only when the input's first min(length,
 * AGG__HEAD) bytes hash to the row's head, which costs one small read. A new log (the usual
 * case) has no candidate and is read once, hashed while it is counted; a grown or repeated one is
 * read twice, the first time only to hash it.
 */
#include "agg_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void agg__hex(const unsigned char md[32], char hex[65]) {
  static const char digits[] = "0123456789abcdef";
  for (int i = 0; i < 32; i++) {
    hex[2 * i] = digits[md[i] >> 4];
    hex[2 * i + 1] = digits[md[i] & 15];
  }
  hex[64] = 0;
}

int agg__sha_hex(EVP_MD_CTX *ctx, char hex[65]) {
  unsigned char md[32];
  unsigned int mdlen = 0;
  int ok = EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen == 32;
  EVP_MD_CTX_free(ctx);
  if (!ok) return TA_EIO;
  agg__hex(md, hex);
  return 0;
}

static EVP_MD_CTX *sha_new(void) {
  EVP_MD_CTX *c = EVP_MD_CTX_new();
  if (c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1) {
    EVP_MD_CTX_free(c);
    c = NULL;
  }
  return c;
}

static int sha_of(const void *p, size_t n, char hex[65]) {
  EVP_MD_CTX *c = sha_new();
  if (!c) return TA_ENOMEM;
  EVP_DigestUpdate(c, p, n);
  return agg__sha_hex(c, hex);
}

/* ---- Reading ------------------------------------------------------------------------------ */

int agg__src_open(agg__src_t *s, int fd, uint64_t start, char *scratch, size_t cap,
                  const char *name, char *err, size_t err_cap) {
  memset(s, 0, sizeof *s);
  s->fd = fd;
  unsigned char magic[2];
  if (pread(fd, magic, 2, 0) == 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
    int fd2 = lseek(fd, 0, SEEK_SET) == 0 ? dup(fd) : -1;
    if (fd2 < 0 || !(s->gz = gzdopen(fd2, "rb"))) {
      if (fd2 >= 0) close(fd2);
      return agg__fail(err, err_cap, TA_ENOMEM, "%s: cannot open gzip stream", name);
    }
    gzbuffer(s->gz, 1 << 18);
    while (s->pos < start) { /* what comes before start is decompressed and dropped */
      size_t n = 0;
      uint64_t got = 0;
      int rc = agg__src_read(s, scratch, cap, start, &n, &got, name, err, err_cap);
      if (rc) return rc;
      if (n == 0) break;
    }
    return 0;
  }
  if (lseek(fd, (off_t)start, SEEK_SET) != (off_t)start)
    return agg__fail(err, err_cap, TA_EIO, "%s: cannot seek: %s", name, strerror(errno));
  s->pos = start;
  return 0;
}

int agg__src_read(agg__src_t *s, char *buf, size_t cap, uint64_t end, size_t *n, uint64_t *got,
                  const char *name, char *err, size_t err_cap) {
  *n = 0;
  if (s->pos >= end) return 0;
  if (end - s->pos < cap) cap = (size_t)(end - s->pos);
  if (s->gz) {
    int k = gzread(s->gz, buf, (unsigned)cap), zerr = Z_OK;
    /* A stream cut short reads as an end, with the error set: it is a broken input. */
    const char *why = k <= 0 ? gzerror(s->gz, &zerr) : NULL;
    if (k < 0 || zerr != Z_OK)
      return agg__fail(err, err_cap, TA_EIO, "%s: gzip error: %s", name, why);
    z_off_t off = gzoffset(s->gz);
    if (off >= 0) {
      *got += (uint64_t)off - s->consumed;
      s->consumed = (uint64_t)off;
    }
    *n = (size_t)k;
  } else {
    ssize_t k;
    while ((k = read(s->fd, buf, cap)) < 0 && errno == EINTR) {
    }
    if (k < 0) return agg__fail(err, err_cap, TA_EIO, "%s: read error: %s", name, strerror(errno));
    *got += (uint64_t)k;
    *n = (size_t)k;
  }
  s->pos += *n;
  return 0;
}

void agg__src_close(agg__src_t *s) {
  if (s->gz) gzclose(s->gz);
  s->gz = NULL;
}

/* ---- What to count ------------------------------------------------------------------------ */

typedef struct {
  uint64_t len;
  const char *hex;
} cand_t;

static int cmp_cand(const void *a, const void *b) {
  uint64_t x = ((const cand_t *)a)->len, y = ((const cand_t *)b)->len;
  return x < y ? -1 : x > y;
}

typedef struct {
  agg__plan_t *p;
  EVP_MD_CTX *ctx;
  cand_t *c;
  size_t nc, ci;
  uint64_t pos, lines;
  int last; /* the last byte fed, -1 before the first */
  int rc;
} scan_t;

/* Hashes b[0..n) and checks each candidate length it reaches. */
static void scan_feed(scan_t *s, const unsigned char *b, size_t n) {
  while (n && !s->rc) {
    size_t take = n;
    if (s->ci < s->nc && s->c[s->ci].len - s->pos < take) take = (size_t)(s->c[s->ci].len - s->pos);
    EVP_DigestUpdate(s->ctx, b, take);
    for (const unsigned char *q = b; (q = memchr(q, '\n', take - (size_t)(q - b))); q++) s->lines++;
    if (take) s->last = b[take - 1];
    s->pos += take;
    b += take;
    n -= take;
    for (; s->ci < s->nc && s->c[s->ci].len == s->pos; s->ci++) {
      EVP_MD_CTX *copy = EVP_MD_CTX_new();
      char hex[65];
      if (!copy || EVP_MD_CTX_copy_ex(copy, s->ctx) != 1 || agg__sha_hex(copy, hex) != 0) {
        s->rc = TA_ENOMEM; /* agg__sha_hex freed copy */
        return;
      }
      if (memcmp(hex, s->c[s->ci].hex, 64) != 0 || s->pos == s->p->from) continue;
      /* The longest counted prefix so far: counting resumes here. */
      agg__plan_t *p = s->p;
      if (!p->at_from && !(p->at_from = EVP_MD_CTX_new())) {
        s->rc = TA_ENOMEM;
        return;
      }
      if (EVP_MD_CTX_copy_ex(p->at_from, s->ctx) != 1) s->rc = TA_ENOMEM;
      p->from = s->pos;
      p->lines = s->lines;
      p->midline = s->last != '\n';
    }
  }
}

void agg__plan_free(agg__plan_t *p) {
  EVP_MD_CTX_free(p->at_from);
  p->at_from = NULL;
}

int agg__plan(const agg__ledger_t *l, int fd, const char *name, char *buf, size_t cap,
              agg__plan_t *p, char *err, size_t err_cap) {
  memset(p, 0, sizeof *p);
  agg__src_t src;
  int rc = agg__src_open(&src, fd, 0, buf, cap, name, err, err_cap);
  while (!rc && p->head_len < AGG__HEAD) {
    size_t n = 0;
    uint64_t got = 0;
    rc = agg__src_read(&src, (char *)p->headbuf + p->head_len, AGG__HEAD - p->head_len, UINT64_MAX,
                       &n, &got, name, err, err_cap);
    if (n == 0) break;
    p->head_len += n;
  }
  if (!rc) rc = sha_of(p->headbuf, p->head_len, p->head);
  /* The rows this input may continue: their head is the digest of our first bytes. */
  cand_t *c = NULL;
  size_t nc = 0;
  if (!rc && l->n && !(c = malloc(l->n * sizeof *c))) rc = TA_ENOMEM;
  uint64_t m_done = UINT64_MAX;
  char m_hex[65] = "";
  for (size_t i = 0; !rc && i < l->n; i++) {
    const agg__row_t *r = &l->rows[i];
    uint64_t m = r->bytes < AGG__HEAD ? r->bytes : AGG__HEAD;
    if (!r->head[0] || r->bytes == 0 || m > p->head_len) continue;
    if (m != m_done && (rc = sha_of(p->headbuf, (size_t)m, m_hex))) break;
    m_done = m;
    if (memcmp(m_hex, r->head, 64) == 0) c[nc++] = (cand_t){r->bytes, r->hex};
  }
  if (!rc && p->head_len < AGG__HEAD) { /* all of it is in headbuf */
    memcpy(p->hex, p->head, sizeof p->hex);
    p->length = p->head_len;
    p->known = agg__ledger_has(l, p->hex, 0);
  }
  if (!rc && nc && !p->known) { /* read it all once, hashing, to find the longest prefix */
    qsort(c, nc, sizeof *c, cmp_cand);
    scan_t s = {.p = p, .ctx = sha_new(), .c = c, .nc = nc, .last = -1};
    if (!s.ctx) rc = TA_ENOMEM;
    if (!rc) scan_feed(&s, p->headbuf, p->head_len);
    while (!rc && !s.rc) {
      size_t n = 0;
      uint64_t got = 0;
      if ((rc = agg__src_read(&src, buf, cap, UINT64_MAX, &n, &got, name, err, err_cap)) || !n)
        break;
      scan_feed(&s, (const unsigned char *)buf, n);
    }
    if (!rc) rc = s.rc;
    p->length = s.pos;
    if (s.ctx && !rc) {
      rc = agg__sha_hex(s.ctx, p->hex);
      if (!rc) p->known = agg__ledger_has(l, p->hex, 0);
    } else {
      EVP_MD_CTX_free(s.ctx);
    }
  }
  free(c);
  agg__src_close(&src);
  if (!rc && !p->at_from && !(p->at_from = sha_new())) rc = TA_ENOMEM;
  if (rc == TA_ENOMEM) agg__fail(err, err_cap, rc, "out of memory");
  if (rc) agg__plan_free(p);
  return rc;
}
