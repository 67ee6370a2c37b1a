/*
 * The ledger of a tables directory (docs/TABLES.md, "The ledger"): one row per ingested input,
 * which identifies it by its decompressed content (SHA-256, length, and the SHA-256 of its first
 * AGG__HEAD bytes, with which a grown log finds the row of the part already counted).
 *
 * Version 2 rows are "sha256<TAB>bytes<TAB>head<TAB>events<TAB>name". Version 1 ledgers (no
 * head; the digest of the bytes as given, compressed for gzip) are still read: their rows are
 * kept, written back as version 2 rows with head "-", and still recognise the same bytes.
 */
#include "agg_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LEDGER_HEADER \
  "# typeahead-aggregate ledger v2: sha256<TAB>bytes<TAB>head<TAB>events<TAB>name\n"
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

int agg__ledger_has(const agg__ledger_t *l, const char *hex, int v2_only) {
  for (size_t i = 0; i < l->n; i++)
    if (memcmp(l->rows[i].hex, hex, 64) == 0 && (!v2_only || l->rows[i].head[0])) return 1;
  return 0;
}

int agg__ledger_has_v1_size(const agg__ledger_t *l, uint64_t bytes) {
  for (size_t i = 0; i < l->n; i++)
    if (!l->rows[i].head[0] && (l->rows[i].bytes == bytes || l->rows[i].bytes == UINT64_MAX))
      return 1;
  return 0;
}

/* Adds a row whose v2 line (with its newline) is line[0..len). */
static int add_line(agg__ledger_t *l, const char *hex, const char *head, uint64_t bytes,
                    const char *line, size_t len) {
  int rc;
  if (l->n == l->cap && (rc = ta_grow((void **)&l->rows, &l->cap, l->n + 1, sizeof *l->rows, 64)))
    return rc;
  agg__row_t *r = &l->rows[l->n];
  if (!(r->line = malloc(len + 1))) return TA_ENOMEM;
  memcpy(r->line, line, len);
  r->line[len] = 0;
  memcpy(r->hex, hex, 64);
  r->hex[64] = 0;
  snprintf(r->head, sizeof r->head, "%s", head ? head : "");
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
  int len = snprintf(line, sizeof line, "%.64s\t%llu\t%.64s\t%llu\t%s\n", hex,
                     (unsigned long long)bytes, head, (unsigned long long)events, clean);
  if (len < 0 || (size_t)len >= sizeof line) len = (int)strlen(line);
  return add_line(l, hex, head, bytes, line, (size_t)len);
}

static int is_hex64(const char *s, size_t n) {
  if (n < 64) return 0;
  for (int i = 0; i < 64; i++)
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

/* One row of a version 1 or 2 ledger (line[0..n), newline included). */
static int parse_row(agg__ledger_t *l, unsigned version, const char *line, size_t n) {
  if (n < 66 || line[n - 1] != '\n' || !is_hex64(line, n) || line[64] != '\t') return TA_ECORRUPT;
  const char *f[5];
  size_t fl[5], nf = 0;
  const char *p = line + 65, *end = line + n - 1;
  unsigned want = version == 1 ? 3 : 4; /* fields after the digest */
  while (nf < want) {
    const char *tab = nf + 1 < want ? memchr(p, '\t', (size_t)(end - p)) : end;
    if (!tab) return TA_ECORRUPT;
    f[nf] = p;
    fl[nf++] = (size_t)(tab - p);
    p = tab < end ? tab + 1 : end;
  }
  uint64_t bytes = field_u64(f[0], fl[0]);
  if (version == 1) { /* hex, bytes, events, name: kept as a v2 row without head */
    char buf[1200];
    int len = snprintf(buf, sizeof buf, "%.64s\t%.*s\t-\t%.*s\t%.*s\n", line, (int)fl[0], f[0],
                       (int)fl[1], f[1], (int)(fl[2] > 512 ? 512 : fl[2]), f[2]);
    if (len < 0 || (size_t)len >= sizeof buf) return TA_ECORRUPT;
    return add_line(l, line, "", bytes, buf, (size_t)len);
  }
  int v1_row = fl[1] == 1 && f[1][0] == '-';
  if (bytes == UINT64_MAX || (!v1_row && (fl[1] != 64 || !is_hex64(f[1], 64))) ||
      field_u64(f[2], fl[2]) == UINT64_MAX)
    return TA_ECORRUPT;
  char head[65] = "";
  if (!v1_row) memcpy(head, f[1], 64), head[64] = 0;
  return add_line(l, line, head, bytes, line, n);
}

int agg__ledger_read(const char *dir, agg__ledger_t *l, char *err, size_t cap) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, AGG__LEDGER);
  FILE *f = fopen(path, "rb");
  if (!f) {
    if (errno == ENOENT) return 0;
    return agg__fail(err, cap, ta_error_from_errno(errno), "%s: %s", path, strerror(errno));
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
        if (version < 1 || version > 2) {
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
                     version == 1 ? "sha256<TAB>bytes<TAB>events<TAB>name"
                                  : "sha256<TAB>bytes<TAB>head<TAB>events<TAB>name");
    if (rc) break;
  }
  if (!rc && ferror(f)) rc = agg__fail(err, cap, TA_EIO, "%s: read error", path);
  free(line);
  fclose(f);
  return rc;
}

static int cmp_row(const void *a, const void *b) {
  return memcmp(((const agg__row_t *)a)->hex, ((const agg__row_t *)b)->hex, 64);
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
  int rc = (ferror(f) || fflush(f) != 0 || fsync(fd) != 0) ? TA_EIO : 0;
  if (fclose(f) != 0) rc = TA_EIO;
  return rc;
}
