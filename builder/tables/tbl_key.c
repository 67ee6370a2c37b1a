/*
 * Row keys of the week tables (tbl.h; docs/TABLES.md, "Markets"): one byte string per
 * (market, spelling), so the aggregator counts, sorts, spills and merges market rows exactly
 * like global ones, and the table files keep them in the same order.
 */
#include "tbl.h"

#include <stdlib.h>
#include <string.h>

size_t tbl_key_make(char out[TBL_MAX_KEY], const char *market, size_t mlen, const char *s,
                    size_t len) {
  if (mlen == 0) {
    memcpy(out, s, len);
    return len;
  }
  out[0] = (char)TBL_KEY_MARKET;
  memcpy(out + 1, market, mlen);
  out[1 + mlen] = 0;
  memcpy(out + 2 + mlen, s, len);
  return len + mlen + 2;
}

int tbl_key_split(const char *key, size_t len, const char **market, size_t *mlen, const char **s,
                  size_t *slen) {
  if (len == 0 || (unsigned char)key[0] != TBL_KEY_MARKET) {
    *market = key;
    *mlen = 0;
    *s = key;
    *slen = len;
    return 0;
  }
  const char *z = memchr(key + 1, 0, len - 1);
  if (!z) return TA_EINVAL;
  *market = key + 1;
  *mlen = (size_t)(z - key - 1);
  *s = z + 1;
  *slen = len - *mlen - 2;
  return 0;
}

int tbl_markets_add(tbl_markets_t *ms, const char *m, size_t mlen, uint64_t events) {
  /* Tables list markets in name order, so a name is usually found or goes at the end. */
  size_t lo = 0, hi = ms->n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    int c = ta_bytes_cmp(ms->v[mid].name, strlen(ms->v[mid].name), m, mlen);
    if (c == 0) {
      if (ms->v[mid].events > UINT64_MAX - events) return TA_ERANGE;
      ms->v[mid].events += events;
      return 0;
    }
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (mlen > TA_MAX_MARKET) return TA_EINVAL;
  int rc = ta_grow((void **)&ms->v, &ms->cap, ms->n + 1, sizeof *ms->v, 16);
  if (rc) return rc;
  memmove(ms->v + lo + 1, ms->v + lo, (ms->n - lo) * sizeof *ms->v);
  memcpy(ms->v[lo].name, m, mlen);
  ms->v[lo].name[mlen] = 0;
  ms->v[lo].events = events;
  ms->n++;
  return 0;
}

void tbl_markets_free(tbl_markets_t *ms) {
  free(ms->v);
  ms->v = NULL;
  ms->n = ms->cap = 0;
}
