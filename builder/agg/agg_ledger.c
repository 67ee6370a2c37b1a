/*
 * The ledger of a tables directory (docs/TABLES.md, "The ledger"): one row per ingested input,
 * which identifies it by its decompressed content (a digest, the length, and the digest of its
 * first AGG__HEAD bytes, with which a grown log finds the row of the part already counted).
 *
 * Version 3 rows are "digest<TAB>bytes<TAB>head<TAB>events<TAB>name"; the digest's length tells
 * its algorithm: 32 hex digits for XXH3-128 (the rows written now), 64 for SHA-256 (a row of an
 * older ledger, kept as it was). Version 2 ledgers (SHA-256 rows only) and version 1 ledgers (no
 * head; the SHA-256 of the bytes as given, compressed for gzip) are still read: their rows are
 * kept, written back in version 3 (a v1 row with head "-"), and still recognise their inputs.
 */
#include "agg_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LEDGER_HEADER \
  "# typeahead-aggregate ledger v3: digest<TAB>bytes<TAB>head<TAB>events<TAB>name\n"
#define VERSION_TAG "# typeahead-aggregate ledger v"

void agg__ledger_free(agg__ledger_t *l) {
  agg__ledger_truncate(l, 0);
  free(l->rows);
  memset(l, 0, sizeof *l);
}

void agg__ledger_truncate(agg__ledger_t *l, size_t n) {
  for (size_t i = n; i < l->n; i++) free(l->rows[i].line);
  if (n < l->n) l->n = n;
}

int agg__ledger_has(const agg__ledger_t *l, agg__alg_t alg, const char *hex, int content_only) {
  for (size_t i = 0; i < l->n; i++)
    if (l->rows[i].alg == alg && strcmp(l->rows[i].hex, hex) == 0 &&
        (!content_only || l->rows[i].head[0]))
      return 1;
  return 0;
}

int agg__ledger_has_alg(const agg__ledger_t *l, agg__alg_t alg) {
  for (size_t i = 0; i < l->n; i++)
    if (l->rows[i].alg == alg) return 1;
  return 0;
}

int agg__ledger_has_v1_size(const agg__ledger_t *l, uint64_t bytes) {
  for (size_t i = 0; i < l->n; i++)
    if (!l->rows[i].head[0] && (l->rows[i].bytes == bytes || l->rows[i].bytes == UINT64_MAX))
      return 1;
  return 0;
}

/* Adds a row whose v3 line (with its newline) is line[0..len); hex and head are NUL-terminated
 * (head "" for a v1 row). */
static int add_line(agg__ledger_t *l, agg__alg_t alg, const char *hex, const char *head,
                    uint64_t bytes, const char *line, size_t len) {
  int rc;
  if (l->n == l->cap && (rc = ta_grow((void **)&l->rows, &l->cap, l->n + 1, sizeof *l->rows, 64)))
    return rc;
  agg__row_t *r = &l->rows[l->n];
  if (!(r->line = malloc(len + 1))) return TA_ENOMEM;
  memcpy(r->line, line, len);
  r->line[len] = 0;
  r->alg = alg;
  snprintf(r->hex, sizeof r->hex, "%s", hex);
  snprintf(r->head, sizeof r->head, "%s", head);
  r->bytes = bytes;
  l->n++;
  return 0;
}

int agg__ledger_add(agg__ledger_t *l, const char *hex, const char *head, uint64_t bytes,
                    uint64_t events, const char *name) {
  char clean[512], line[1024];
  const char *base = strcmp(name, "-") == 0 ? "(stdin)" : name;
  size_t k = 0;
  for (; *base && k + 1 < sizeof clean; base++) { /* one row, one line: no control characters */
    unsigned char ch = (unsigned char)*base;
    clean[k++] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
  }
  clean[k] = 0;
  int len = snprintf(line, sizeof line, "%.32s\t%llu\t%.32s\t%llu\t%s\n", hex,
                     (unsigned long long)bytes, head, (unsigned long long)events, clean);
  if (len < 0 || (size_t)len >= sizeof line) len = (int)strlen(line);
  return add_line(l, AGG__XXH128, hex, head, bytes, line, (size_t)len);
}

/* 1 when s[0..n) is n lowercase hex digits. */
static int is_hex(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
  return 1;
}

/* A decimal field s[0..n); UINT64_MAX when it is not one. */
static uint64_t field_u64(const char *s, size_t n) {
  uint64_t v = 0;
  if (n == 0) return UINT64_MAX;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9' || v > (UINT64_MAX - 9) / 10) return UINT64_MAX;
    v = v * 10 + (uint64_t)(s[i] - '0');
  }
  return v;
}

/* One row of a version 1, 2 or 3 ledger (line[0..n), newline included). */
static int parse_row(agg__ledger_t *l, unsigned version, const char *line, size_t n) {
  if (n < 2 || line[n - 1] != '\n') return TA_ECORRUPT;
  const char *end = line + n - 1, *tab = memchr(line, '\t', (size_t)(end - line));
  size_t dl = tab ? (size_t)(tab - line) : 0; /* the digest's length: 64 SHA-256, 32 XXH3-128 */
  if (!(dl == 64 || (dl == 32 && version == 3)) || !is_hex(line, dl)) return TA_ECORRUPT;
  agg__alg_t alg = dl == 64 ? AGG__SHA256 : AGG__XXH128;
  char hex[AGG__HEX];
  memcpy(hex, line, dl);
  hex[dl] = 0;
  const char *f[4];
  size_t fl[4], nf = 0;
  const char *p = tab + 1;
  unsigned want = version == 1 ? 3 : 4; /* fields after the digest */
  while (nf < want) {
    const char *t = nf + 1 < want ? memchr(p, '\t', (size_t)(end - p)) : end;
    if (!t) return TA_ECORRUPT;
    f[nf] = p;
    fl[nf++] = (size_t)(t - p);
    p = t < end ? t + 1 : end;
  }
  uint64_t bytes = field_u64(f[0], fl[0]);
  if (version == 1) { /* hex, bytes, events, name: kept as a row without head */
    char buf[1200];
    int len = snprintf(buf, sizeof buf, "%s\t%.*s\t-\t%.*s\t%.*s\n", hex, (int)fl[0], f[0],
                       (int)fl[1], f[1], (int)(fl[2] > 512 ? 512 : fl[2]), f[2]);
    if (len < 0 || (size_t)len >= sizeof buf) return TA_ECORRUPT;
    return add_line(l, alg, hex, "", bytes, buf, (size_t)len);
  }
  int v1_row = alg == AGG__SHA256 && fl[1] == 1 && f[1][0] == '-';
  if (bytes == UINT64_MAX || (!v1_row && (fl[1] != dl || !is_hex(f[1], dl))) ||
      field_u64(f[2], fl[2]) == UINT64_MAX)
    return TA_ECORRUPT;
  char head[AGG__HEX] = "";
  if (!v1_row) memcpy(head, f[1], dl), head[dl] = 0;
  return add_line(l, alg, hex, head, bytes, line, n);
}

int agg__ledger_read(const char *dir, agg__ledger_t *l, char *err, size_t cap) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, AGG__LEDGER);
  /* A regular file only, opened without blocking: a FIFO named ledger blocked the run. */
  ta_diag_t d;
  char msg[4400];
  uint64_t size;
  int fd, orc = ta_open_regular(path, &fd, &size, &d);
  if (orc == TA_ENOENT) return 0;
  if (orc) return agg__fail(err, cap, orc, "%s", ta_diag_format(&d, msg, sizeof msg));
  FILE *f = fdopen(fd, "rb");
  if (!f) {
    close(fd);
    return agg__fail(err, cap, TA_ENOMEM, "%s: out of memory", path);
  }
  char *line = NULL;
  size_t lcap = 0;
  ssize_t n;
  unsigned long lineno = 0;
  unsigned version = 1; /* a ledger without a version line is a version 1 one */
  int rc = 0;
  while ((n = getline(&line, &lcap, f)) > 0) {
    lineno++;
    if (line[0] == '#') {
      if (strncmp(line, VERSION_TAG, strlen(VERSION_TAG)) == 0) {
        version = (unsigned)strtoul(line + strlen(VERSION_TAG), NULL, 10);
        if (version < 1 || version > 3) {
          rc = agg__fail(err, cap, TA_EVERSION,
                         "%s: line %lu: ledger version %u is not known here (a newer "
                         "typeahead-aggregate wrote it?)",
                         path, lineno, version);
          break;
        }
      }
      continue;
    }
    rc = parse_row(l, version, line, (size_t)n);
    if (rc == TA_ECORRUPT)
      rc = agg__fail(err, cap, rc, "%s: line %lu: not a version %u row (%s)", path, lineno, version,
                     version == 1   ? "sha256<TAB>bytes<TAB>events<TAB>name"
                     : version == 2 ? "sha256<TAB>bytes<TAB>head<TAB>events<TAB>name"
                                    : "digest<TAB>bytes<TAB>head<TAB>events<TAB>name");
    if (rc) break;
  }
  if (!rc && ferror(f)) rc = agg__fail(err, cap, TA_EIO, "%s: read error", path);
  free(line);
  fclose(f);
  return rc;
}

static int cmp_row(const void *a, const void *b) {
  return strcmp(((const agg__row_t *)a)->hex, ((const agg__row_t *)b)->hex);
}

int agg__ledger_write(const char *path, agg__ledger_t *l) {
  if (l->n) qsort(l->rows, l->n, sizeof *l->rows, cmp_row);
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return ta_error_from_errno(errno);
  FILE *f = fdopen(fd, "wb");
  if (!f) {
    close(fd);
    return TA_ENOMEM;
  }
  fputs(LEDGER_HEADER, f);
  for (size_t i = 0; i < l->n; i++) fputs(l->rows[i].line, f);
  return ta_fclose_written(f, 1);
}
