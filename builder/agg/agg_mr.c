/*
 * Aggregation as map and reduce steps (SPEC §12; record format in docs/TABLES.md, "Map, reduce,
 * load"): --map turns log lines into records, --reduce sums records sorted by LC_ALL=C sort.
 * Both read lines through agg__lines_*, which --load (agg_load.c) shares with the record parser.
 *
 * A record is "week<TAB>market<TAB>spelling<TAB>value". No field can hold a TAB or a byte below
 * it (display spellings have no control characters), so a bytewise sort of whole lines puts the
 * records of one (week, market, spelling) next to each other, in the order of the tables' keys.
 * An AOL event's value is its identity (the duplicate rule's 64-bit hash of AnonID, Query and
 * QueryTime) instead of a count, so the repeats of one event that different mappers saw are
 * adjacent after the sort and counted once: that is why any split of a log gives the tables of
 * one direct run.
 */
#include "agg_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LINES_BUF (1u << 20)
#define MAX_WARN 10 /* bad lines named per mapper; the rest are only counted */

/* ---- Lines -------------------------------------------------------------------------------- */

int agg__lines_open(agg__lines_t *r, int fd) {
  memset(r, 0, sizeof *r);
  r->fd = fd;
  r->buf = malloc(LINES_BUF);
  return r->buf ? 0 : TA_ENOMEM;
}

void agg__lines_close(agg__lines_t *r) {
  free(r->buf);
  r->buf = NULL;
}

int agg__lines_next(agg__lines_t *r, const char **line, size_t *n, int *flags) {
  *flags = 0;
  for (;;) {
    char *nl = memchr(r->buf + r->pos, '\n', r->end - r->pos);
    if (nl) {
      *line = r->buf + r->pos;
      *n = (size_t)(nl - *line);
      r->pos += *n + 1;
      r->lineno++;
      if (r->skipping) { /* the rest of a line longer than the buffer */
        r->skipping = 0;
        *flags = AGG__LF_TOOLONG;
        *n = 0;
      }
      return 1;
    }
    if (r->eof) {
      if (r->pos == r->end && !r->skipping) return 0;
      *line = r->buf + r->pos;
      *n = r->end - r->pos;
      r->pos = r->end;
      r->lineno++;
      *flags = AGG__LF_CUT | (r->skipping ? AGG__LF_TOOLONG : 0);
      if (r->skipping) *n = 0;
      r->skipping = 0;
      return 1;
    }
    if (r->pos == 0 && r->end == LINES_BUF) { /* no newline in a whole buffer */
      r->skipping = 1;
      r->end = 0;
    }
    memmove(r->buf, r->buf + r->pos, r->end - r->pos);
    r->end -= r->pos;
    r->pos = 0;
    ssize_t k;
    while ((k = read(r->fd, r->buf + r->end, LINES_BUF - r->end)) < 0 && errno == EINTR) {
    }
    if (k < 0) return ta_error_from_errno(errno);
    if (k == 0) r->eof = 1;
    r->end += (size_t)k;
    r->bytes += (uint64_t)k;
  }
}

/* ---- Records ------------------------------------------------------------------------------ */

int agg__rec_parse(agg__rec_t *r, const char *line, size_t n, const char **why) {
  const char *end = line + n, *t1 = memchr(line, '\t', n);
  const char *t2 = t1 ? memchr(t1 + 1, '\t', (size_t)(end - t1 - 1)) : NULL;
  const char *t3 = t2 ? memchr(t2 + 1, '\t', (size_t)(end - t2 - 1)) : NULL;
  if (!t3) {
    *why = "not a record: it needs four TAB-separated fields";
    return TA_EPARSE;
  }
  size_t wl = (size_t)(t1 - line);
  if (wl != r->week_len || memcmp(line, r->week_text, wl) != 0) {
    char name[TBL_WEEK_STR];
    if (wl >= sizeof r->week_text || tbl_week_parse(line, wl, &r->week) != 0 ||
        (tbl_week_name(r->week, name), strlen(name) != wl || memcmp(name, line, wl) != 0)) {
      r->week_len = 0;
      *why = "the week is not YYYY-Www";
      return TA_EPARSE;
    }
    memcpy(r->week_text, line, wl);
    r->week_len = wl;
  }
  r->market = t1 + 1;
  r->market_len = (size_t)(t2 - t1 - 1);
  if (r->market_len && !ta_market_valid(r->market, r->market_len)) {
    *why = "the market is not empty or [a-z0-9_-]{1,32}";
    return TA_EPARSE;
  }
  r->s = t2 + 1;
  r->len = (size_t)(t3 - t2 - 1);
  if (r->len == 0 || r->len > TBL_MAX_QUERY) {
    *why = "the spelling is empty or longer than 1024 bytes";
    return TA_EPARSE;
  }
  r->key_len = (size_t)(t3 + 1 - line);
  const char *v = t3 + 1;
  size_t vl = (size_t)(end - v);
  r->is_id = vl > 0 && v[0] == '=';
  if (r->is_id) {
    uint64_t id = 0;
    for (size_t i = 1; i < vl; i++) {
      char c = v[i];
      if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) vl = 0;
      id = id << 4 | (uint64_t)(c <= '9' ? c - '0' : c - 'a' + 10);
    }
    if (vl != 17) {
      *why = "an event id is '=' and 16 lowercase hex digits";
      return TA_EPARSE;
    }
    r->value = id;
    return 0;
  }
  char digits[24];
  if (vl == 0 || vl > 20 || v[0] == '0') {
    *why = "the count is not a number from 1 to 2^64-1 (without leading zeros)";
    return TA_EPARSE;
  }
  memcpy(digits, v, vl);
  digits[vl] = 0;
  if (ta_parse_u64(digits, 1, UINT64_MAX, &r->value) != 0) {
    *why = "the count is not a number from 1 to 2^64-1 (without leading zeros)";
    return TA_EPARSE;
  }
  return 0;
}

int agg__rec_spelling_ok(const agg__rec_t *r) {
  char d[TBL_MAX_QUERY + 1];
  size_t n;
  return trie_norm_display(r->s, r->len, d, sizeof d, &n) == 0 && n == r->len &&
         memcmp(d, r->s, n) == 0;
}

/* ---- Map ---------------------------------------------------------------------------------- */

typedef struct {
  FILE *out;
  ta_buf_t buf;
  tbl_week_t week;
  char name[TBL_WEEK_STR];
  size_t name_len;
} emit_t;

static int emit_flush(emit_t *e) {
  if (e->buf.len && fwrite(e->buf.p, 1, e->buf.len, e->out) != e->buf.len) return TA_EIO;
  e->buf.len = 0;
  return 0;
}

/* One record: week, market, spelling, then a count of 1 or the AOL event's id. */
static int emit(emit_t *e, tbl_week_t w, const char *m, size_t ml, const char *s, size_t len,
                int aol, uint64_t id) {
  if (e->name_len == 0 || w != e->week) {
    tbl_week_name(w, e->name);
    e->name_len = strlen(e->name);
    e->week = w;
  }
  char v[20];
  size_t vl = 1;
  v[0] = '1';
  if (aol) {
    static const char hex[] = "0123456789abcdef";
    v[0] = '=';
    for (int i = 0; i < 16; i++) v[1 + i] = hex[(id >> (60 - 4 * i)) & 15];
    vl = 17;
  }
  int rc = ta_buf_reserve(&e->buf, e->name_len + ml + len + vl + 4);
  if (rc) return rc;
  char *p = e->buf.p + e->buf.len;
  memcpy(p, e->name, e->name_len);
  p += e->name_len;
  *p++ = '\t';
  memcpy(p, m, ml);
  p += ml;
  *p++ = '\t';
  memcpy(p, s, len);
  p += len;
  *p++ = '\t';
  memcpy(p, v, vl);
  p += vl;
  *p++ = '\n';
  e->buf.len = (size_t)(p - e->buf.p);
  return e->buf.len >= LINES_BUF ? emit_flush(e) : 0;
}

int agg_map(int in_fd, FILE *out, const agg_opts_t *opts, agg_stats_t *st, char *err, size_t cap) {
  memset(st, 0, sizeof *st);
  st->inputs = 1;
  double t0 = ta_mono_s();
  agg__parser_t *p = malloc(sizeof *p);
  agg__lines_t lr;
  emit_t e = {.out = out};
  int aol = opts->format == AGG_FORMAT_AOL, rc = TA_ENOMEM;
  if (!p || agg__parser_init(p, opts->format, opts->sample)) {
    free(p);
    return agg__fail(err, cap, TA_ENOMEM, "out of memory");
  }
  if ((rc = agg__lines_open(&lr, in_fd))) {
    rc = agg__fail(err, cap, rc, "out of memory");
    goto out;
  }
  const char *line;
  size_t n;
  int flags;
  unsigned warned = 0;
  while ((rc = agg__lines_next(&lr, &line, &n, &flags)) == 1) {
    tbl_week_t w = 0;
    size_t len = 0;
    agg_bad_t why = AGG_BAD_TOOLONG;
    int k = flags & AGG__LF_TOOLONG ? AGG__LINE_BAD : agg__parse_line(p, line, n, &w, &len, &why);
    if (k < 0) {
      rc = agg__fail(err, cap, k, "(stdin): line %llu: %s", (unsigned long long)lr.lineno,
                     ta_strerror(k));
      goto out;
    }
    if (k == AGG__LINE_SKIP) continue;
    st->lines++;
    if (k == AGG__LINE_DUP) {
      st->duplicates++;
    } else if (k == AGG__LINE_SAMPLED) {
      st->sampled_out++;
    } else if (k == AGG__LINE_BAD) {
      st->bad[why]++;
      st->bad_total++;
      if (opts->warn && warned < MAX_WARN) {
        warned++;
        fprintf(opts->warn, "typeahead-aggregate: (stdin): line %llu: %s%s\n",
                (unsigned long long)lr.lineno, agg_bad_name(why),
                warned == MAX_WARN ? " (further bad lines are only counted)" : "");
      }
    } else {
      st->events++;
      rc = emit(&e, w, "", 0, p->spelling, len, aol, p->event_id);
      if (!rc && p->market_len) rc = emit(&e, w, p->market, p->market_len, p->spelling, len, 0, 0);
      if (rc) {
        rc = agg__fail(err, cap, rc, "writing records: %s", ta_strerror(rc));
        goto out;
      }
    }
  }
  if (rc < 0) {
    rc = agg__fail(err, cap, rc, "(stdin): read error: %s", ta_strerror(rc));
    goto out;
  }
  st->bytes = lr.bytes;
  if ((rc = emit_flush(&e)) || fflush(out) != 0) {
    rc = agg__fail(err, cap, TA_EIO, "writing records: %s", strerror(errno));
    goto out;
  }
  char why[256];
  if (agg__too_bad(opts, st->bad_total, st->lines, why, sizeof why)) {
    st->refused = 1;
    if (opts->refused) opts->refused(opts->refused_ctx, "(stdin)", why);
  }
out:
  agg__lines_close(&lr);
  ta_buf_free(&e.buf);
  agg__parser_free(p);
  free(p);
  st->seconds = ta_mono_s() - t0;
  return rc;
}

/* ---- Reduce ------------------------------------------------------------------------------- */

/* The sum of the group in prev[0..key): "week<TAB>market<TAB>spelling<TAB>" then the count. */
static int emit_sum(FILE *out, const char *key, size_t klen, uint64_t sum) {
  char v[TA_U64_CAP];
  size_t vl = ta_fmt_u64(sum, v);
  v[vl++] = '\n';
  return fwrite(key, 1, klen, out) == klen && fwrite(v, 1, vl, out) == vl ? 0 : TA_EIO;
}

int agg_reduce(int in_fd, FILE *out, agg_mr_stats_t *st, char *err, size_t cap) {
  memset(st, 0, sizeof *st);
  agg__lines_t lr;
  agg__rec_t rec = {0};
  ta_buf_t prev = {0};
  size_t key = 0; /* the group's key: prev.p[0..key) */
  uint64_t sum = 0;
  int have = 0, global = 0, rc = agg__lines_open(&lr, in_fd);
  if (rc) return agg__fail(err, cap, rc, "out of memory");
  const char *line, *why;
  size_t n;
  int flags;
  while ((rc = agg__lines_next(&lr, &line, &n, &flags)) == 1) {
    unsigned long long ln = (unsigned long long)lr.lineno;
    if (flags) {
      rc = agg__fail(err, cap, TA_EPARSE, "line %llu: %s", ln,
                     flags & AGG__LF_TOOLONG ? "longer than any record"
                                             : "no newline at the end: the input is cut");
      goto out;
    }
    if (agg__rec_parse(&rec, line, n, &why)) {
      rc = agg__fail(err, cap, TA_EPARSE, "line %llu: %s", ln, why);
      goto out;
    }
    int c = have ? ta_bytes_cmp(prev.p, prev.len, line, n) : -1;
    if (c > 0) {
      rc = agg__fail(err, cap, TA_EPARSE,
                     "line %llu: not sorted: it comes before line %llu (sort with LC_ALL=C sort)",
                     ln, ln - 1);
      goto out;
    }
    int same = have && key == rec.key_len && memcmp(prev.p, line, key) == 0;
    if (!same) {
      if (have && emit_sum(out, prev.p, key, sum) != 0) {
        rc = agg__fail(err, cap, TA_EIO, "writing records: %s", strerror(errno));
        goto out;
      }
      if (!agg__rec_spelling_ok(&rec)) {
        rc = agg__fail(err, cap, TA_EPARSE, "line %llu: the spelling is not in display form", ln);
        goto out;
      }
      st->rows += have;
      sum = 0;
      key = rec.key_len;
      global = rec.market_len == 0;
    }
    uint64_t add = rec.is_id ? (uint64_t)(c != 0) : rec.value; /* an id once */
    if (sum > UINT64_MAX - add || (global && st->events > UINT64_MAX - add)) {
      rc = agg__fail(err, cap, TA_ERANGE, "line %llu: the counts overflow 64 bits", ln);
      goto out;
    }
    sum += add;
    if (global) st->events += add;
    st->records++;
    prev.len = 0;
    if ((rc = ta_buf_put(&prev, line, n))) goto out;
    have = 1;
  }
  if (rc < 0) {
    rc = agg__fail(err, cap, rc, "read error: %s", ta_strerror(rc));
    goto out;
  }
  if (have && emit_sum(out, prev.p, key, sum) != 0) rc = TA_EIO;
  st->rows += have;
  if (rc || fflush(out) != 0)
    rc = agg__fail(err, cap, TA_EIO, "writing records: %s", strerror(errno));
out:
  agg__lines_close(&lr);
  ta_buf_free(&prev);
  return rc;
}
