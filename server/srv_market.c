/*
 * Markets (SPEC §10; docs/server.md "Markets"): the table of a node's tries by market name, the
 * scan of --trie-dir DIR that fills it, the market a request names, and the fill of a market's
 * short answer from global.
 *
 * Market 0 is global (--trie FILE, or DIR/global.trie). With --trie-dir, the slot "markets" of
 * the node's snapshot table (added after global's "trie" and before the rules', so a verdict
 * cache is made for a new market trie in the same pass) has a tick that lists DIR and gives each
 * new NAME.trie an entry, then runs every market's own tick (srv_state.c): each file is loaded,
 * verified, swapped and dropped on its own, so a bad file for one market never touches another.
 * Other files are ignored with one log line each (dot files and the temporary files of atomic
 * writes, NAME.tmp.XXXXXX, silently).
 *
 * Workers read the table without a lock: entries are filled by the reload thread and then
 * published with release stores (the name index, then the count); none is ever removed or
 * moved, so a pointer into it stays valid while the server runs (SRV_MAX_MARKETS bounds it).
 */
#include "srv_int.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MARKET_IGNORED_MAX 1024 /* file names logged as ignored; past it, no more lines */

/* ---- Pure functions ------------------------------------------------------------------------ */

int srv__market_own_key(const char *t, size_t n) {
  if (n == 0 || t[0] == ' ' || t[n - 1] == ' ') return 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)t[i];
    if (c < 0x20 || c > 0x7e || (c >= 'A' && c <= 'Z') || (c == ' ' && t[i + 1] == ' ')) return 0;
  }
  return 1;
}

int srv__hit_key(const trie_hit_t *h, char *buf, const char **key, size_t *len, uint64_t *hash) {
  int rc = 0;
  if (srv__market_own_key(h->text, h->text_len)) {
    *key = h->text;
    *len = h->text_len;
  } else {
    *key = buf;
    rc = trie_norm_key(h->text, h->text_len, buf, TA_MAX_KEY + 1, len);
  }
  if (rc == 0) *hash = ta_hash64(*key, *len, 0);
  return rc;
}

int srv__market_fill(trie_hit_t *hits, size_t *n, size_t k, const trie_hit_t *g, size_t n_g) {
  if (k > TA_MAX_K || *n > k) return TA_EINVAL;
  if (*n == 0) { /* nothing to compare with: one trie holds each key once */
    for (; *n < k && *n < n_g; (*n)++) hits[*n] = g[*n];
    return 0;
  }
  uint64_t seen[TA_MAX_K]; /* key hashes of the answer so far */
  char buf[TA_MAX_KEY + 1], other_buf[TA_MAX_KEY + 1];
  const char *key, *other;
  size_t len, other_len;
  for (size_t i = 0; i < *n; i++) {
    int rc = srv__hit_key(&hits[i], buf, &key, &len, &seen[i]);
    if (rc) return rc;
  }
  for (size_t j = 0; j < n_g && *n < k; j++) {
    uint64_t h;
    int rc = srv__hit_key(&g[j], buf, &key, &len, &h);
    if (rc) return rc;
    int dup = 0;
    for (size_t i = 0; i < *n && !dup; i++) {
      if (seen[i] != h) continue;
      uint64_t ignored;
      /* the same hash: compare the keys themselves */
      rc = srv__hit_key(&hits[i], other_buf, &other, &other_len, &ignored);
      if (rc) return rc;
      dup = other_len == len && memcmp(other, key, len) == 0;
    }
    if (dup) continue;
    seen[*n] = h;
    hits[(*n)++] = g[j];
  }
  return 0;
}

/* ---- The name index -------------------------------------------------------------------------- */

static size_t index_home(const char *name, size_t n) {
  return (size_t)ta_hash64(name, n, 0) & (SRV_MARKET_INDEX - 1);
}

int srv__market_find(const srv_t *s, const char *name, size_t n) {
  if (!ta_market_valid(name, n) || s->mk.m == NULL) return -1;
  srv_markets_t *mk = (srv_markets_t *)&s->mk;
  for (size_t i = index_home(name, n), probes = 0; probes < SRV_MARKET_INDEX; probes++) {
    unsigned e = atomic_load_explicit(&mk->index[i], memory_order_acquire);
    if (e == 0) return -1;
    const srv_market_t *m = &mk->m[e - 1];
    if (strncmp(m->name, name, n) == 0 && m->name[n] == '\0') return (int)(e - 1);
    i = (i + 1) & (SRV_MARKET_INDEX - 1);
  }
  return -1;
}

/* Publishes entry e under its name (the reload thread, or srv_new before it runs). */
static void index_put(srv_markets_t *mk, unsigned e) {
  size_t n = strlen(mk->m[e].name);
  size_t i = index_home(mk->m[e].name, n);
  while (atomic_load_explicit(&mk->index[i], memory_order_relaxed) != 0)
    i = (i + 1) & (SRV_MARKET_INDEX - 1); /* never full: SRV_MAX_MARKETS is half of it */
  atomic_store_explicit(&mk->index[i], (uint16_t)(e + 1), memory_order_release);
}

unsigned srv__market_of(const srv_t *s, const char *raw, size_t len, const char *hdr) {
  const char *v = NULL;
  size_t vn = 0;
  for (size_t i = 0; raw && i < len;) {
    size_t end = i;
    while (end < len && raw[end] != '&') end++;
    if (end - i >= 7 && memcmp(raw + i, "market=", 7) == 0) {
      v = raw + i + 7;
      vn = end - i - 7;
      break;
    }
    i = end + 1;
  }
  char low[TA_MAX_MARKET];
  if (v) { /* decoded as every parameter is: market=%64e is de; malformed or too long: none */
    if (srv__query_decode(v, vn, low, sizeof low, &vn) != 0) return 0;
    v = low;
  } else if (hdr) { /* a field value without its outer blanks (RFC 9110 §5.5: SP and HTAB),
                     * which libevhtp keeps but the leading spaces */
    v = hdr;
    vn = strlen(hdr);
    srv__ows_trim(&v, &vn);
  }
  if (v == NULL || vn == 0 || vn > TA_MAX_MARKET) return 0;
  for (size_t i = 0; i < vn; i++)
    low[i] = v[i] >= 'A' && v[i] <= 'Z' ? (char)(v[i] - 'A' + 'a') : v[i];
  int e = srv__market_find(s, low, vn);
  return e < 0 ? 0 : (unsigned)e;
}

/* ---- The directory --------------------------------------------------------------------------- */

/* One log line per file name (at most MARKET_IGNORED_MAX of them). */
static void ignored_log(srv_t *s, const char *name, const char *why) {
  srv_markets_t *mk = &s->mk;
  uint64_t h = ta_hash64(name, strlen(name), 0);
  for (size_t i = 0; i < mk->n_ignored; i++)
    if (mk->ignored[i] == h) return;
  if (mk->n_ignored == MARKET_IGNORED_MAX) return;
  mk->ignored[mk->n_ignored++] = h;
  char esc[4 * NAME_MAX + 1]; /* a name may hold a newline: it must not forge a log line */
  srv__log("%s/%s: ignored (%s)", SRV_LOG_ESC(mk->dir), srv__log_esc(name, esc, sizeof esc), why);
}

/* A new entry for market name[0..n) (a valid name, not in the table yet). */
static int market_add(srv_t *s, const char *name, size_t n) {
  srv_markets_t *mk = &s->mk;
  unsigned e = atomic_load_explicit(&mk->n, memory_order_relaxed);
  if (e == SRV_MAX_MARKETS) return TA_ENOSPC;
  srv_market_t *m = &mk->m[e];
  memcpy(m->name, name, n);
  m->name[n] = '\0';
  m->srv = s;
  m->drop_when_gone = 1;
  size_t plen = strlen(mk->dir) + 1 + n + sizeof ".trie";
  m->path = malloc(plen);
  if (m->path == NULL) return TA_ENOMEM;
  snprintf(m->path, plen, "%s/%s.trie", mk->dir, m->name);
  int rc = srv__trie_slot_add(m, &mk->snaps);
  if (rc) {
    free(m->path);
    memset(m, 0, sizeof *m);
    return rc;
  }
  index_put(mk, e);
  atomic_store_explicit(&mk->n, e + 1, memory_order_release);
  return 0;
}

/* Gives each new DIR/NAME.trie an entry. */
static void markets_scan(srv_t *s) {
  srv_markets_t *mk = &s->mk;
  DIR *d = opendir(mk->dir);
  if (d == NULL) {
    srv__log_limited(SRV_LOG_MARKETS, "%s: cannot list: %s; the markets loaded keep serving",
                     SRV_LOG_ESC(mk->dir), strerror(errno));
    return;
  }
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    const char *nm = de->d_name;
    size_t len = strlen(nm);
    if (nm[0] == '.' || strstr(nm, ".tmp.") != NULL) continue;
    if (len <= 5 || memcmp(nm + len - 5, ".trie", 5) != 0) {
      ignored_log(s, nm, "not NAME.trie");
      continue;
    }
    if (!ta_market_valid(nm, len - 5)) {
      ignored_log(s, nm, "a market name is 1 to 32 of a-z, 0-9, _ and -");
      continue;
    }
    if (srv__market_find(s, nm, len - 5) >= 0) continue;
    int rc = market_add(s, nm, len - 5);
    if (rc == TA_ENOSPC)
      ignored_log(s, nm, "a node serves at most 256 markets, global included");
    else if (rc)
      srv__log("%s/%s: %s", SRV_LOG_ESC(mk->dir), nm, ta_strerror(rc));
  }
  closedir(d);
}

static int markets_tick(srv_snap_t *slot, void *arg, int forced) {
  (void)slot;
  srv_t *s = arg;
  markets_scan(s);
  srv__snaptab_tick(&s->mk.snaps, forced);
  return 0; /* a refused market file is logged and counted: the node's reload is global's */
}

static void no_version(void *version) {
  (void)version; /* the slot "markets" only ticks: it never holds a version */
}

/* ---- Life cycle ------------------------------------------------------------------------------ */

int srv__markets_init(srv_t *s, const char *dir, const char *header) {
  srv_markets_t *mk = &s->mk;
  if (dir) {
    /* a typo in --trie-dir shows at once: the directory must be there to be watched */
    DIR *d = opendir(dir);
    if (d == NULL) {
      int e = errno;
      srv__log("--trie-dir %s: %s", SRV_LOG_ESC(dir), strerror(e));
      return ta_error_from_errno(e);
    }
    closedir(d);
  }
  if (header) {
    size_t n = strlen(header);
    int ok = n > 0 && n < 64;
    for (size_t i = 0; ok && i < n; i++)
      ok = (header[i] >= 'a' && header[i] <= 'z') || (header[i] >= 'A' && header[i] <= 'Z') ||
           (header[i] >= '0' && header[i] <= '9') || header[i] == '-' || header[i] == '_';
    if (!ok) {
      srv__log("--market-header '%s': expected a header name (1 to 63 letters, digits, - or _)",
               SRV_LOG_ESC(header));
      return TA_EINVAL;
    }
  }
  mk->m = calloc(SRV_MAX_MARKETS, sizeof *mk->m);
  mk->dir = dir ? strdup(dir) : NULL;
  mk->header = header ? strdup(header) : NULL;
  mk->ignored = dir ? calloc(MARKET_IGNORED_MAX, sizeof *mk->ignored) : NULL;
  if (mk->m == NULL || (dir && (mk->dir == NULL || mk->ignored == NULL)) ||
      (header && mk->header == NULL))
    return TA_ENOMEM;
  snprintf(mk->vary, sizeof mk->vary, header ? "Accept, %s" : "Accept", header);
  srv_market_t *g = &mk->m[0];
  g->srv = s;
  memcpy(g->name, "global", sizeof "global");
  g->path = s->trie_path; /* borrowed */
  index_put(mk, 0);
  atomic_store_explicit(&mk->n, 1, memory_order_release);
  return 0;
}

int srv__markets_start(srv_t *s) {
  srv_markets_t *mk = &s->mk;
  if (mk->dir == NULL) return 0;
  srv_snap_t *slot = NULL;
  int rc = srv__snap_add(&s->snaps, "markets", s->threads, no_version, &slot);
  if (rc) return rc;
  srv__snap_on_tick(slot, markets_tick, s);
  markets_scan(s);
  srv__snaptab_tick(&mk->snaps, 0);
  unsigned n = atomic_load(&mk->n), served = 0;
  for (unsigned i = 1; i < n; i++) served += srv__snap_peek(mk->m[i].slot) != NULL;
  srv__log("%s: %u market%s besides global (%u served)%s%s", SRV_LOG_ESC(mk->dir), n - 1,
           n == 2 ? "" : "s", served, mk->header ? "; market header " : "",
           mk->header ? mk->header : "");
  return 0;
}

void srv__markets_free(srv_t *s) {
  srv_markets_t *mk = &s->mk;
  srv__snaptab_free(&mk->snaps);
  unsigned n = mk->m ? atomic_load(&mk->n) : 0;
  for (unsigned i = 1; i < n; i++) free(mk->m[i].path);
  free(mk->m);
  free(mk->dir);
  free(mk->header);
  free(mk->ignored);
  memset(mk, 0, sizeof *mk);
}
