/*
 * The --freq input of typeahead-build (SPEC §5, bld.h): a frequency list in one of three
 * layouts (query<TAB>count, query count, CSV with a header), detected per file, read line by
 * line into the accumulator. Every line is hostile: an unusable one is skipped and counted by
 * reason (real word lists hold a few: wordfreq's have lone combining marks, empty after
 * normalization), and the read fails only past the caller's --max-bad.
 */
#include "bld_int.h"

#include <errno.h>
#include <float.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef enum { FMT_UNKNOWN, FMT_TSV, FMT_SPACE, FMT_CSV } freq_fmt_t;

static int is_blank(char c) {
  return c == ' ' || c == '\t';
}

int bld__parse_count(const char *s, size_t len, double *out) {
  while (len && s[0] == ' ') s++, len--;
  while (len && s[len - 1] == ' ') len--;
  char buf[64]; /* longer than any count worth reading */
  if (len >= sizeof buf) return TA_EPARSE;
  memcpy(buf, s, len);
  buf[len] = '\0';
  return ta_parse_double(buf, 0, DBL_MAX, out) == 0 ? 0 : TA_EPARSE;
}

/* One CSV field starting at s[*pos] (RFC 4180 quoting, "" is a quote). Unquoted fields are
 * returned in place; quoted ones are unescaped into scratch. *pos ends after the comma, or at
 * len. TA_EPARSE for an unterminated quote or text after a closing quote. */
static int csv_field(const char *s, size_t len, size_t *pos, char *scratch, const char **f,
                     size_t *flen) {
  size_t i = *pos;
  if (i < len && s[i] == '"') {
    size_t n = 0;
    i++;
    for (;;) {
      if (i >= len) return TA_EPARSE;
      if (s[i] == '"') {
        if (i + 1 < len && s[i + 1] == '"') {
          scratch[n++] = '"';
          i += 2;
          continue;
        }
        i++;
        break;
      }
      scratch[n++] = s[i++];
    }
    if (i < len && s[i] != ',') return TA_EPARSE;
    *f = scratch;
    *flen = n;
  } else {
    size_t start = i;
    while (i < len && s[i] != ',') i++;
    *f = s + start;
    *flen = i - start;
  }
  *pos = i < len ? i + 1 : len;
  return 0;
}

/* Last space-separated token of s, or NULL when there is no space. */
static const char *last_token(const char *s, size_t len, size_t *tlen) {
  while (len && is_blank(s[len - 1])) len--;
  size_t i = len;
  while (i && !is_blank(s[i - 1])) i--;
  if (i == 0) return NULL;
  *tlen = len - i;
  return s + i;
}

/* A CSV header: a comma, no TAB, and neither its second CSV field nor its last space-separated
 * token reads as a count (so "hello, world 5" stays a "query count" line). */
static int looks_like_csv_header(const char *s, size_t len, char *scratch) {
  if (memchr(s, '\t', len) || !memchr(s, ',', len)) return 0;
  size_t pos = 0, flen, tlen;
  const char *f;
  double v;
  if (csv_field(s, len, &pos, scratch, &f, &flen) < 0) return 0;
  if (csv_field(s, len, &pos, scratch, &f, &flen) < 0) return 0;
  if (bld__parse_count(f, flen, &v) == 0) return 0;
  const char *t = last_token(s, len, &tlen);
  if (t && bld__parse_count(t, tlen, &v) == 0) return 0;
  return 1;
}

typedef struct {
  const char *path;
  uint64_t line;
  freq_fmt_t fmt;
  char *scratch; /* CSV unescaping, as long as the longest line */
  size_t scratch_cap;
} freq_state_t;

/* Reports the current line of st as the place of a failure; returns code. */
__attribute__((format(printf, 4, 5))) static int line_fail(ta_diag_t *diag, const freq_state_t *st,
                                                           int code, const char *fmt, ...) {
  if (diag == NULL) return code;
  ta_diag_init(diag, st->path);
  ta_diag_at_line(diag, st->line);
  diag->code = code;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(diag->msg, sizeof diag->msg, fmt, ap);
  va_end(ap);
  return code;
}

/* Splits one line (no line end) into query and count text per the file's format. */
static int freq_split(freq_state_t *st, const char *s, size_t len, const char **q, size_t *qlen,
                      const char **c, size_t *clen, ta_diag_t *diag) {
  switch (st->fmt) {
  case FMT_TSV: {
    const char *tab = memchr(s, '\t', len);
    if (!tab) {
      line_fail(diag, st, TA_EPARSE, "no TAB before the count (the file is query<TAB>count)");
      return TA_EPARSE;
    }
    *q = s;
    *qlen = (size_t)(tab - s);
    *c = tab + 1;
    const char *end = memchr(*c, '\t', len - *qlen - 1);
    *clen = end ? (size_t)(end - *c) : len - *qlen - 1;
    return 0;
  }
  case FMT_SPACE: {
    size_t tlen;
    const char *t = last_token(s, len, &tlen);
    if (!t) {
      line_fail(diag, st, TA_EPARSE, "no count (expected 'query count')");
      return TA_EPARSE;
    }
    *q = s;
    *qlen = (size_t)(t - s);
    *c = t;
    *clen = tlen;
    return 0;
  }
  case FMT_CSV: {
    size_t pos = 0;
    const char *f;
    size_t flen;
    if (csv_field(s, len, &pos, st->scratch, q, qlen) < 0 ||
        (pos >= len && (len == 0 || s[len - 1] != ',')) ||
        csv_field(s, len, &pos, st->scratch + *qlen, &f, &flen) < 0) {
      line_fail(diag, st, TA_EPARSE, "bad CSV row (expected query,count with \"\" inside quotes)");
      return TA_EPARSE;
    }
    *c = f;
    *clen = flen;
    return 0;
  }
  default:
    return TA_EINVAL;
  }
}

/* Shows a count as the user wrote it, shortened. */
static void show_text(char *dst, size_t cap, const char *s, size_t len) {
  size_t n = len < cap - 4 ? len : cap - 4;
  size_t j = 0;
  for (size_t i = 0; i < n; i++) dst[j++] = (s[i] >= 0x20 && s[i] != 0x7f) ? s[i] : '?';
  if (n < len) dst[j++] = '.', dst[j++] = '.', dst[j++] = '.';
  dst[j] = '\0';
}

#define BLD__BAD_NAME(name, msg) msg,
static const char *const bad_names[BLD_BAD_N] = {BLD_BAD_TABLE(BLD__BAD_NAME)};
#undef BLD__BAD_NAME

const char *bld_bad_name(bld_bad_t reason) {
  return (unsigned)reason < BLD_BAD_N ? bad_names[reason] : "unknown";
}

/* One line into acc. Returns 0 (added, or blank/header), 1 for an unusable line (*why, its own
 * error *code, and diag saying where and what), or a negative error. */
static int freq_line(bld_acc_t *acc, freq_state_t *st, char *s, size_t len, bld_freq_opts_t *opts,
                     bld_bad_t *why, int *code, ta_diag_t *diag) {
  if (len && s[len - 1] == '\n') len--;
  if (len && s[len - 1] == '\r') len--;
  if (st->line == 1 && len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) s += 3, len -= 3;
  size_t i = 0;
  while (i < len && (is_blank(s[i]) || s[i] == '\r')) i++;
  if (i == len) return 0; /* blank line */
  int rc = ta_grow((void **)&st->scratch, &st->scratch_cap, len + 1, 1, 256);
  if (rc < 0) return rc;
  if (st->fmt == FMT_UNKNOWN) {
    if (memchr(s, '\t', len)) {
      st->fmt = FMT_TSV;
    } else if (looks_like_csv_header(s, len, st->scratch)) {
      st->fmt = FMT_CSV;
      return 0; /* the header */
    } else {
      st->fmt = FMT_SPACE;
    }
  }
  const char *q, *c;
  size_t qlen, clen;
  rc = freq_split(st, s, len, &q, &qlen, &c, &clen, diag);
  if (rc == TA_EPARSE) {
    *why = BLD_BAD_NOCOUNT;
    *code = rc;
    return 1;
  }
  if (rc < 0) return rc;
  double count;
  if (bld__parse_count(c, clen, &count) < 0) {
    char shown[48];
    show_text(shown, sizeof shown, c, clen);
    line_fail(diag, st, TA_EPARSE, "bad count '%s' (want a non-negative number)", shown);
    *why = BLD_BAD_COUNT;
    *code = TA_EPARSE;
    return 1;
  }
  rc = bld_acc_add(acc, q, qlen, count, count);
  if (rc == TA_ERANGE) { /* the count is a number, but the query's total would overflow */
    char shown[48];
    show_text(shown, sizeof shown, c, clen);
    line_fail(diag, st, TA_ERANGE, "bad count '%s' (the query's total would be infinite)", shown);
    *why = BLD_BAD_COUNT;
    *code = TA_ERANGE;
    return 1;
  }
  if (rc == TA_ETOOLONG || rc == TA_EUTF8 || rc == TA_EEMPTY) {
    /* Why bld_acc_add refused the query, in the user's words. */
    char text[64];
    if (rc == TA_ETOOLONG)
      snprintf(text, sizeof text, "the query is too long (limit %d bytes)", TA_MAX_KEY);
    else
      snprintf(
          text, sizeof text, "%s",
          rc == TA_EUTF8 ? "invalid UTF-8 in the query" : "the query is empty after normalization");
    line_fail(diag, st, rc, "%s", text);
    *why = rc == TA_ETOOLONG ? BLD_BAD_TOOLONG : rc == TA_EUTF8 ? BLD_BAD_UTF8 : BLD_BAD_EMPTY;
    *code = rc;
    return 1;
  }
  if (rc < 0) return rc;
  opts->rows++;
  return 0;
}

int bld_read_freq_stream(bld_acc_t *acc, FILE *f, const char *name, bld_freq_opts_t *opts,
                         ta_diag_t *diag) {
  ta_diag_init(diag, name);
  if (!acc || !f || !name || !opts) return TA_EINVAL;
  opts->lines = opts->rows = opts->bad_total = 0;
  memset(opts->bad, 0, sizeof opts->bad);
  memset(opts->bad_line, 0, sizeof opts->bad_line);
  ta_diag_t ld, first; /* the current line's problem; the first unusable line */
  ta_diag_init(&ld, name);
  ta_diag_init(&first, name);
  freq_state_t st = {name, 0, FMT_UNKNOWN, NULL, 0};
  char *line = NULL;
  size_t line_cap = 0;
  ssize_t n;
  int rc = 0;
  double last = ta_mono_s();
  while ((n = getline(&line, &line_cap, f)) > 0) {
    st.line++;
    bld_bad_t why = BLD_BAD_NOCOUNT;
    int code = 0;
    rc = freq_line(acc, &st, line, (size_t)n, opts, &why, &code, &ld);
    if (rc == 1 && !(opts->max_bad_pct > 0)) { /* none allowed: stop here, as the line says */
      if (diag) *diag = ld;
      rc = code;
    }
    if (rc < 0) break;
    if (rc == 1) {
      if (opts->bad[why] < BLD_BAD_SHOWN) opts->bad_line[why][opts->bad[why]] = st.line;
      if (opts->bad_total == 0) first = ld;
      opts->bad[why]++;
      opts->bad_total++;
      rc = 0;
    }
    if (opts->progress && (st.line & 0xFFFF) == 0) {
      double t = ta_mono_s();
      if (t - last >= 0.25) {
        opts->progress(opts->progress_ctx, "reading", st.line, 0);
        last = t;
      }
    }
  }
  opts->lines = st.line;
  if (rc == 0 && ferror(f)) {
    rc = ta_diag_set(diag, TA_EIO, "read error after line %llu", (unsigned long long)st.line);
  }
  uint64_t data = opts->rows + opts->bad_total;
  if (rc == 0 && opts->bad_total &&
      (double)opts->bad_total * 100.0 > opts->max_bad_pct * (double)data) {
    /* Named by the first unusable line: the place to look first. */
    rc = ta_diag_set(diag, TA_ETOOBAD, "%s (%llu of %llu lines unusable, more than --max-bad %g%%)",
                     first.msg, (unsigned long long)opts->bad_total, (unsigned long long)data,
                     opts->max_bad_pct);
    ta_diag_at_line(diag, first.line);
  }
  if (rc == 0 && opts->rows == 0) {
    rc = ta_diag_set(diag, TA_EEMPTY, "no queries in the file");
  }
  if (rc == TA_ENOMEM) line_fail(diag, &st, rc, "out of memory");
  free(line);
  free(st.scratch);
  return rc;
}

int bld_read_freq(bld_acc_t *acc, const char *path, bld_freq_opts_t *opts, ta_diag_t *diag) {
  ta_diag_init(diag, path);
  if (!acc || !path || !opts) return TA_EINVAL;
  if (strcmp(path, "-") == 0) return bld_read_freq_stream(acc, stdin, "<stdin>", opts, diag);
  FILE *f = fopen(path, "rb");
  if (!f) {
    int e = errno;
    return ta_diag_set(diag, ta_error_from_errno(e), "%s", strerror(e));
  }
  /* fopen takes a directory and its first read fails: it said "read error after line 0".
   * A FIFO stays welcome (--freq <(zcat list.gz) is one). */
  struct stat st;
  if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
    fclose(f);
    return ta_diag_set(diag, TA_ENOTREG, "a directory, not a frequency list");
  }
  int rc = bld_read_freq_stream(acc, f, path, opts, diag);
  fclose(f);
  return rc;
}
