/*
 * Log lines to events (SPEC §4 formats; docs/TABLES.md, "Lines"): splits a tsv or AOL line,
 * parses its timestamp, turns the query into its display spelling with trie_norm_display
 * (SPEC §3), drops repeated AOL rows and applies --sample. A line that cannot be counted gets
 * one reason, in the order of agg_bad_t's table.
 *
 * The usual tsv line (a timestamp, a TAB, a query already in display form) is recognized in one
 * look at its 64 bytes (agg__parse_tsv_fast); any other line takes the general path.
 *
 * AOL duplicates: one query event with several clicks is several rows repeating (AnonID, Query,
 * QueryTime). The log is grouped by AnonID, so a set of the events of the current AnonID (64-bit
 * hashes, emptied in O(1) by a generation stamp) catches repeats whether or not they are
 * adjacent, in memory bounded by one user's events (at most DEDUP_MAX / 2, then it starts over).
 */
#include "agg_int.h"

#include <stdlib.h>
#include <string.h>

#define DEDUP_MAX (1u << 20)
#define SAMPLE_SEED UINT64_C(0x73616d706c65)
#define DEDUP_SEED UINT64_C(0x64656475702121)

typedef struct {
  uint64_t hash;
  uint32_t gen;
} dslot_t;

struct agg__dedup {
  dslot_t *slots;
  size_t cap, n;
  uint32_t gen;
  char anon[64];
  size_t anon_len;
};

static void dedup_clear(agg__dedup_t *d) {
  d->gen++;
  d->n = 0;
  if (d->gen == 0) { /* wrapped: stamps could match again */
    memset(d->slots, 0, d->cap * sizeof *d->slots);
    d->gen = 1;
  }
}

/* 1 when h was already in the set, 0 when added, or TA_ENOMEM. */
static int dedup_seen(agg__dedup_t *d, uint64_t h) {
  if ((d->n + 1) * 2 > d->cap) {
    if (d->cap >= DEDUP_MAX) {
      dedup_clear(d);
    } else {
      size_t ncap = d->cap * 2;
      dslot_t *ns = calloc(ncap, sizeof *ns);
      if (!ns) return TA_ENOMEM;
      for (size_t i = 0; i < d->cap; i++) {
        if (d->slots[i].gen != d->gen) continue;
        size_t j = d->slots[i].hash & (ncap - 1);
        while (ns[j].gen == d->gen) j = (j + 1) & (ncap - 1);
        ns[j] = d->slots[i];
      }
      free(d->slots);
      d->slots = ns;
      d->cap = ncap;
    }
  }
  size_t mask = d->cap - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    if (d->slots[i].gen != d->gen) {
      d->slots[i].hash = h;
      d->slots[i].gen = d->gen;
      d->n++;
      return 0;
    }
    if (d->slots[i].hash == h) return 1;
  }
}

int agg__parser_init(agg__parser_t *p, agg_format_t format, uint64_t sample) {
  memset(p, 0, sizeof *p);
  p->format = format;
  p->sample = sample;
  if (format == AGG_FORMAT_AOL) {
    p->dedup = calloc(1, sizeof *p->dedup);
    if (!p->dedup) return TA_ENOMEM;
    p->dedup->cap = 1024;
    p->dedup->gen = 1;
    p->dedup->slots = calloc(p->dedup->cap, sizeof *p->dedup->slots);
    if (!p->dedup->slots) {
      free(p->dedup);
      p->dedup = NULL;
      return TA_ENOMEM;
    }
  }
  return 0;
}

void agg__parser_reset(agg__parser_t *p) {
  if (!p->dedup) return;
  dedup_clear(p->dedup);
  p->dedup->anon_len = 0;
}

void agg__parser_free(agg__parser_t *p) {
  if (p->dedup) free(p->dedup->slots);
  free(p->dedup);
  p->dedup = NULL;
}

#define ONES UINT64_C(0x0101010101010101)
#define HIGHS (ONES * 0x80)

/* 1 when the 8 bytes of v are printable ASCII ("hasless" / "hasmore": a byte's top bit is set
 * when it is below 0x20 or above 0x7e). */
static int printable8(uint64_t v) {
  return !((((v - ONES * 0x20) & ~v) | ((v + ONES) | v)) & HIGHS);
}

/* 0x80 in each byte of v (printable ASCII) that is a space ("haszero" on v ^ spaces). */
static uint64_t spaces8(uint64_t v) {
  uint64_t t = v ^ (ONES * 0x20);
  return ~(((t & ~HIGHS) + ~HIGHS) | t | ~HIGHS);
}

/* 1 when q[0..n) is certainly its own display form (SPEC §3: NFC, no control characters, no
 * whitespace but single inner spaces), so trie_norm_display can be skipped: every character is
 * printable ASCII or a code point U+00A1..U+02FF (two UTF-8 bytes: C2 A1..C2 BF, C3..CB any;
 * below U+0300 nothing is whitespace, a control or a combining mark, and nothing composes), no
 * space at either end and no two spaces in a row. Anything else takes the normalizer.
 * Printable ASCII goes 8 bytes at a time; a query shorter than 8 bytes as one word padded with
 * 'a' (printable, not a space). */
static int display_form(const char *q, size_t n) {
  const unsigned char *p = (const unsigned char *)q;
  if (n == 0 || p[0] == ' ' || p[n - 1] == ' ') return 0;
  if (n < 8) {
    uint64_t v = ONES * 'a';
    memcpy(&v, p, n);
    if (printable8(v)) return !(spaces8(v) & (spaces8(v) >> 8));
  }
  int space = 0; /* the last byte seen was a space */
  size_t i = 0;
  while (i < n) {
    if (i + 8 <= n) {
      uint64_t v;
      memcpy(&v, p + i, 8);
      if (printable8(v)) {
        uint64_t sp = spaces8(v);
        if ((sp & (sp >> 8)) || (space && (sp & 0x80))) return 0;
        space = (int)(sp >> 63);
        i += 8;
        continue;
      }
    } else if (n >= 8 && i < n) {
      /* The last 1..7 bytes: as the word of the last 8 (it holds byte i - 1 too, so a pair of
       * spaces across i is seen), when that word is printable ASCII. */
      uint64_t v;
      memcpy(&v, p + n - 8, 8);
      if (printable8(v)) return !(spaces8(v) & (spaces8(v) >> 8));
    }
    unsigned c = p[i];
    if (c >= 0x20 && c <= 0x7e) {
      if (c == ' ' && space) return 0;
      space = c == ' ';
      i++;
    } else if (c >= 0xc2 && c <= 0xcb && i + 1 < n && (p[i + 1] & 0xc0) == 0x80 &&
               (c != 0xc2 || p[i + 1] >= 0xa1)) {
      space = 0;
      i += 2;
    } else {
      return 0;
    }
  }
  return 1;
}

/* The display spelling of q: p->spelling is q itself when it is already in display form, else
 * p->display. Returns AGG__LINE_EVENT or AGG__LINE_BAD. */
static int display(agg__parser_t *p, const char *q, size_t n, int fast, size_t *len,
                   agg_bad_t *reason) {
  if (n > 16 * TBL_MAX_QUERY) {
    *reason = AGG_BAD_TOOLONG;
    return AGG__LINE_BAD;
  }
  if (fast) {
    if (n > TBL_MAX_QUERY) {
      *reason = AGG_BAD_TOOLONG;
      return AGG__LINE_BAD;
    }
    p->spelling = q;
    *len = n;
    return AGG__LINE_EVENT;
  }
  p->spelling = p->display;
  int rc = trie_norm_display(q, n, p->display, sizeof p->display, len);
  if (rc == TA_EUTF8) {
    *reason = AGG_BAD_UTF8;
    return AGG__LINE_BAD;
  }
  if (rc == TA_ENOSPC || rc == TA_ETOOLONG || (rc == 0 && *len > TBL_MAX_QUERY)) {
    *reason = AGG_BAD_TOOLONG;
    return AGG__LINE_BAD;
  }
  if (rc) return rc;
  if (*len == 0) {
    *reason = AGG_BAD_EMPTY;
    return AGG__LINE_BAD;
  }
  return AGG__LINE_EVENT;
}

static int sampled_out(const agg__parser_t *p, uint64_t event_hash) {
  return p->sample > 1 && event_hash % p->sample != 0;
}

static int parse_tsv(agg__parser_t *p, const char *line, size_t n, tbl_week_t *week, size_t *len,
                     agg_bad_t *reason) {
  p->market_len = 0;
  const char *tab = agg__find(line, n, '\t');
  if (!tab) {
    *reason = AGG_BAD_FIELDS;
    return AGG__LINE_BAD;
  }
  int64_t t;
  if (tbl_parse_time_memo(line, (size_t)(tab - line), &t, &p->date) != 0) {
    *reason = AGG_BAD_TIMESTAMP;
    return AGG__LINE_BAD;
  }
  const char *q = tab + 1;
  size_t qn = n - (size_t)(q - line);
  /* The rest in display form (the usual line) has no TAB (not printable): no market, no other
   * field, nothing more to look for. */
  int fast = display_form(q, qn);
  const char *t2 = NULL;
  if (!fast) {
    /* The market: a TAB among the last TA_MAX_MARKET + 1 bytes, then a market name. */
    size_t tail = qn < TA_MAX_MARKET + 1 ? qn : TA_MAX_MARKET + 1;
    const char *mt = memrchr(q + qn - tail, '\t', tail);
    if (mt && ta_market_valid(mt + 1, (size_t)(q + qn - mt - 1))) {
      p->market = mt + 1;
      p->market_len = (size_t)(q + qn - mt - 1);
      qn = (size_t)(mt - q);
    }
    /* Another TAB: a third field that is not a market (an empty one is no market), or a fourth
     * field (most likely another format: an AOL log read as tsv has 5). */
    fast = display_form(q, qn);
    t2 = fast ? NULL : memchr(q, '\t', qn);
  }
  if (t2) {
    const char *f3 = t2 + 1, *end = q + qn;
    if (p->market_len || memchr(f3, '\t', (size_t)(end - f3))) {
      *reason = AGG_BAD_EXTRA;
      return AGG__LINE_BAD;
    }
    if (f3 != end) {
      *reason = AGG_BAD_MARKET;
      return AGG__LINE_BAD;
    }
    qn = (size_t)(t2 - q);
    fast = display_form(q, qn);
  }
  int rc = display(p, q, qn, fast, len, reason);
  if (rc != AGG__LINE_EVENT) return rc;
  if (p->sample > 1 && sampled_out(p, ta_hash64(line, n, SAMPLE_SEED))) return AGG__LINE_SAMPLED;
  *week = tbl_week_of_unix(t);
  p->time = t;
  return AGG__LINE_EVENT;
}

#if defined(__SSE2__)
/* Bit i set when byte i of the 64 in the vectors p[0..4) passes the byte test expr. */
#define MASK64(p, expr)                                        \
  ((uint64_t)(uint16_t)_mm_movemask_epi8(expr((p)[0])) |       \
   (uint64_t)(uint16_t)_mm_movemask_epi8(expr((p)[1])) << 16 | \
   (uint64_t)(uint16_t)_mm_movemask_epi8(expr((p)[2])) << 32 | \
   (uint64_t)(uint16_t)_mm_movemask_epi8(expr((p)[3])) << 48)
#endif

int agg__parse_tsv_fast(agg__parser_t *p, const char *line, size_t avail, size_t *n_line,
                        tbl_week_t *week, size_t *len) {
#if defined(__SSE2__)
  __m128i v[4];
  for (int i = 0; i < 4; i++)
    v[i] = _mm_loadu_si128((const __m128i *)(const void *)(line + 16 * i));
  const __m128i nl = _mm_set1_epi8('\n'), tab = _mm_set1_epi8('\t'), sp = _mm_set1_epi8(' ');
  const __m128i lo = _mm_set1_epi8(0x1f), hi = _mm_set1_epi8(0x7f);
#define IS_NL(x) _mm_cmpeq_epi8(x, nl)
#define IS_TAB(x) _mm_cmpeq_epi8(x, tab)
#define IS_SP(x) _mm_cmpeq_epi8(x, sp)
  /* Printable ASCII as signed bytes: 0x1f < x < 0x7f (bytes from 0x80 are negative). */
#define IS_PRINT(x) _mm_and_si128(_mm_cmpgt_epi8(x, lo), _mm_cmplt_epi8(x, hi))
  uint64_t valid = avail >= AGG__TSV_LOOK ? ~UINT64_C(0) : (UINT64_C(1) << avail) - 1;
  uint64_t m_nl = MASK64(v, IS_NL) & valid;
  if (!m_nl) return AGG__LINE_SLOW; /* 64 bytes or more, or the input's last line */
  unsigned n = (unsigned)__builtin_ctzll(m_nl);
  uint64_t in_line = (UINT64_C(1) << n) - 1;
  uint64_t m_tab = MASK64(v, IS_TAB) & in_line;
  if (!m_tab) return AGG__LINE_SLOW;
  unsigned t = (unsigned)__builtin_ctzll(m_tab);
  uint64_t in_query = in_line & ~((UINT64_C(2) << t) - 1);
  /* The query in display form (display_form's fast case): printable ASCII, so no other TAB and
   * no CR, no space at either end, no two in a row. */
  uint64_t m_odd = ~MASK64(v, IS_PRINT) & in_query;
  uint64_t m_sp = MASK64(v, IS_SP) & in_query;
  if (!in_query || m_odd || (m_sp & (m_sp >> 1)) || (m_sp >> (t + 1) & 1) || (m_sp >> (n - 1) & 1))
    return AGG__LINE_SLOW;
#undef IS_NL
#undef IS_TAB
#undef IS_SP
#undef IS_PRINT
  size_t qn = n - t - 1;
  if (qn > TBL_MAX_QUERY) return AGG__LINE_SLOW;
  int64_t time;
  /* The usual timestamp, 10 digits of unix seconds (2001-09-09 to 2286-11-20, all valid), is
   * read here (what tbl_parse_time_memo makes of it); any other goes to it. */
  const __m128i d0 = _mm_set1_epi8('0' - 1), d9 = _mm_set1_epi8('9' + 1);
  unsigned m_digit = (unsigned)_mm_movemask_epi8(
      _mm_and_si128(_mm_cmpgt_epi8(v[0], d0), _mm_cmplt_epi8(v[0], d9)));
  if (t == 10 && (m_digit & 0x3ff) == 0x3ff) {
    uint64_t x;
    memcpy(&x, line, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    x = __builtin_bswap64(x);
#endif
    /* 8 digits, the first in the low byte: pairs, then fours, then all (SWAR). */
    x = (x & UINT64_C(0x0F0F0F0F0F0F0F0F)) * 2561 >> 8;
    x = (x & UINT64_C(0x00FF00FF00FF00FF)) * 6553601 >> 16;
    x = (x & UINT64_C(0x0000FFFF0000FFFF)) * UINT64_C(42949672960001) >> 32;
    time = (int64_t)(x * 100 + (uint64_t)(line[8] - '0') * 10 + (uint64_t)(line[9] - '0'));
  } else if (tbl_parse_time_memo(line, t, &time, &p->date) != 0) {
    return AGG__LINE_SLOW;
  }
  *n_line = n;
  p->market_len = 0;
  p->spelling = line + t + 1;
  *len = qn;
  if (p->sample > 1 && sampled_out(p, ta_hash64(line, n, SAMPLE_SEED))) return AGG__LINE_SAMPLED;
  *week = tbl_week_of_unix(time);
  p->time = time;
  return AGG__LINE_EVENT;
#else
  (void)p, (void)line, (void)avail, (void)n_line, (void)week, (void)len;
  return AGG__LINE_SLOW;
#endif
}

static int parse_aol(agg__parser_t *p, const char *line, size_t n, tbl_week_t *week, size_t *len,
                     agg_bad_t *reason) {
  p->market_len = 0;
  if (n >= 7 && memcmp(line, "AnonID\t", 7) == 0) return AGG__LINE_SKIP; /* header */
  const char *end = line + n;
  const char *t1 = memchr(line, '\t', n);
  const char *t2 = t1 ? memchr(t1 + 1, '\t', (size_t)(end - t1 - 1)) : NULL;
  if (!t2) {
    *reason = AGG_BAD_FIELDS;
    return AGG__LINE_BAD;
  }
  const char *t3 = memchr(t2 + 1, '\t', (size_t)(end - t2 - 1));
  if (!t3) t3 = end; /* ItemRank and ClickURL are optional */
  size_t anon_len = (size_t)(t1 - line);
  if (anon_len == 0 || anon_len > sizeof p->dedup->anon) {
    *reason = AGG_BAD_FIELDS;
    return AGG__LINE_BAD;
  }
  int64_t t;
  if (tbl_parse_time_memo(t2 + 1, (size_t)(t3 - t2 - 1), &t, &p->date) != 0) {
    *reason = AGG_BAD_TIMESTAMP;
    return AGG__LINE_BAD;
  }
  const char *q = t1 + 1;
  size_t qn = (size_t)(t2 - q);
  if (qn == 1 && q[0] == '-') { /* the AOL log's placeholder for an empty query */
    *reason = AGG_BAD_EMPTY;
    return AGG__LINE_BAD;
  }
  int rc = display(p, q, qn, display_form(q, qn), len, reason);
  if (rc != AGG__LINE_EVENT) return rc;
  agg__dedup_t *d = p->dedup;
  if (anon_len != d->anon_len || memcmp(d->anon, line, anon_len) != 0) {
    dedup_clear(d);
    memcpy(d->anon, line, anon_len);
    d->anon_len = anon_len;
  }
  /* The event is (AnonID, Query, QueryTime): bytes line..t3. */
  uint64_t h = ta_hash64(line, (size_t)(t3 - line), DEDUP_SEED);
  p->event_id = h;
  rc = dedup_seen(d, h);
  if (rc < 0) return rc;
  if (rc == 1) return AGG__LINE_DUP;
  if (sampled_out(p, h)) return AGG__LINE_SAMPLED;
  *week = tbl_week_of_unix(t);
  p->time = t;
  return AGG__LINE_EVENT;
}

int agg__parse_line(agg__parser_t *p, const char *line, size_t n, tbl_week_t *week, size_t *len,
                    agg_bad_t *reason) {
  if (n && line[n - 1] == '\r') n--;
  if (n == 0) return AGG__LINE_SKIP;
  if (p->format == AGG_FORMAT_AOL) return parse_aol(p, line, n, week, len, reason);
  return parse_tsv(p, line, n, week, len, reason);
}
