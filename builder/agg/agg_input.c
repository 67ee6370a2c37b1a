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
  agg__alg_t alg;
} cand_t;

static int cmp_cand(const void *a, const void *b) {
  uint64_t x = ((const cand_t *)a)->len, y = ((const cand_t *)b)->len;
  return x < y ? -1 : x > y;
}

typedef struct {
  agg__plan_t *p;
  agg__sum_t *sum[2]; /* by agg__alg_t; SHA-256 only when a candidate is a SHA-256 row */
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
    for (int a = 0; a < 2; a++)
      if (s->sum[a]) agg__sum_update(s->sum[a], b, take);
    for (const unsigned char *q = b; (q = memchr(q, '\n', take - (size_t)(q - b))); q++) s->lines++;
    if (take) s->last = b[take - 1];
    s->pos += take;
    b += take;
    n -= take;
    for (; s->ci < s->nc && s->c[s->ci].len == s->pos; s->ci++) {
      char hex[AGG__HEX];
      if ((s->rc = agg__sum_hex(s->sum[s->c[s->ci].alg], hex))) return;
      if (strcmp(hex, s->c[s->ci].hex) != 0 || s->pos == s->p->from) continue;
      /* The longest counted prefix so far: counting resumes here. */
      agg__plan_t *p = s->p;
      agg__sum_free(p->at_from);
      if ((s->rc = agg__sum_copy(s->sum[AGG__XXH128], &p->at_from))) return;
      p->from = s->pos;
      p->lines = s->lines;
      p->midline = s->last != '\n';
    }
  }
}

void agg__plan_free(agg__plan_t *p) {
  agg__sum_free(p->at_from);
  p->at_from = NULL;
}

/* 1 when the content whose digests are x (XXH3-128) and, when not empty, sha (SHA-256) is in
 * the ledger; SHA-256 rows of version 1 included (their bytes as given are this content when the
 * input is plain). */
static int known(const agg__ledger_t *l, const char *x, const char *sha) {
  return agg__ledger_has(l, AGG__XXH128, x, 0) ||
         (sha[0] && agg__ledger_has(l, AGG__SHA256, sha, 0));
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
  if (!rc) rc = agg__digest_hex(AGG__XXH128, p->headbuf, p->head_len, p->head);
  /* The rows this input may continue: their head is the digest of our first bytes. */
  cand_t *c = NULL;
  size_t nc = 0;
  int need_sha = 0;
  if (!rc && l->n && !(c = malloc(l->n * sizeof *c))) rc = TA_ENOMEM;
  uint64_t m_done = UINT64_MAX;
  agg__alg_t a_done = AGG__XXH128;
  char m_hex[AGG__HEX] = "";
  for (size_t i = 0; !rc && i < l->n; i++) {
    const agg__row_t *r = &l->rows[i];
    uint64_t m = r->bytes < AGG__HEAD ? r->bytes : AGG__HEAD;
    if (!r->head[0] || r->bytes == 0 || m > p->head_len) continue;
    if ((m != m_done || r->alg != a_done) &&
        (rc = agg__digest_hex(r->alg, p->headbuf, (size_t)m, m_hex)))
      break;
    m_done = m;
    a_done = r->alg;
    if (strcmp(m_hex, r->head) == 0) {
      c[nc++] = (cand_t){r->bytes, r->hex, r->alg};
      need_sha |= r->alg == AGG__SHA256;
    }
  }
  char sha[AGG__HEX] = "";
  if (!rc && p->head_len < AGG__HEAD) { /* all of it is in headbuf */
    memcpy(p->hex, p->head, sizeof p->hex);
    p->length = p->head_len;
    if (agg__ledger_has_alg(l, AGG__SHA256))
      rc = agg__digest_hex(AGG__SHA256, p->headbuf, p->head_len, sha);
    p->known = !rc && known(l, p->hex, sha);
  }
  if (!rc && nc && !p->known) { /* read it all once, hashing, to find the longest prefix */
    qsort(c, nc, sizeof *c, cmp_cand);
    scan_t s = {.p = p, .c = c, .nc = nc, .last = -1};
    rc = agg__sum_new(AGG__XXH128, &s.sum[AGG__XXH128]);
    if (!rc && need_sha) rc = agg__sum_new(AGG__SHA256, &s.sum[AGG__SHA256]);
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
    if (!rc) rc = agg__sum_hex(s.sum[AGG__XXH128], p->hex);
    if (!rc && s.sum[AGG__SHA256]) rc = agg__sum_hex(s.sum[AGG__SHA256], sha);
    if (!rc) p->known = known(l, p->hex, sha);
    agg__sum_free(s.sum[AGG__XXH128]);
    agg__sum_free(s.sum[AGG__SHA256]);
  }
  free(c);
  agg__src_close(&src);
  if (!rc && !p->at_from) rc = agg__sum_new(AGG__XXH128, &p->at_from);
  if (rc == TA_ENOMEM) agg__fail(err, err_cap, rc, "out of memory");
  if (rc) agg__plan_free(p);
  return rc;
}
