/*
 * Trending in typeahead-serve (SPEC §13; docs/TRENDING.md, README "Trending"): the table of
 * trending tries (--trending FILE, or DIR with --trie-dir: DIR/global.trie and DIR/M.trie for
 * the markets of the trie dir), their hot swap, and the mix of a prefix's trending completions
 * into its regular answer by trie_mix (trie/trie_mix.c, the one mixing rule).
 *
 * A trending trie is loaded, verified, swapped and dropped exactly like a market's trie: each
 * entry is a srv_market_t with drop_when_gone, ticked by srv_state.c's tick in a snapshot table
 * of its own, so a missing file means no trending for it (one log line when it goes), a bad
 * replacement is refused and the old one stays, and none of it touches the regular tries or the
 * outcome of a reload. The verdict caches of the blocklist are per trie (srv_filters.c, index
 * SRV_MAX_MARKETS + i), so trending suggestions are filtered like regular ones, before the mix.
 */
#include "srv_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* A new entry for market e of the market table (the reload thread, or srv_new before it). */
static int trend_add(srv_t *s, unsigned e) {
  srv_trending_t *tr = &s->tr;
  srv_market_t *m = &tr->m[e];
  const char *name = s->mk.m[e].name;
  memcpy(m->name, name, strlen(name) + 1);
  m->srv = s;
  m->drop_when_gone = 1;
  m->trending = 1;
  if (s->mk.dir) {
    size_t plen = strlen(tr->path) + 1 + strlen(name) + sizeof ".trie";
    m->path = malloc(plen);
    if (m->path) snprintf(m->path, plen, "%s/%s.trie", tr->path, name);
  } else {
    m->path = strdup(tr->path);
  }
  if (m->path == NULL) return TA_ENOMEM;
  int rc = srv__trie_slot_add(m, &tr->snaps);
  if (rc) {
    free(m->path);
    memset(m, 0, sizeof *m);
    return rc;
  }
  atomic_store_explicit(&tr->n, e + 1, memory_order_release);
  return 0;
}

/* An entry for each market the market table gained, then every entry's own tick. */
static int trend_tick(srv_snap_t *slot, void *arg, int forced) {
  (void)slot;
  srv_t *s = arg;
  unsigned n = atomic_load_explicit(&s->mk.n, memory_order_acquire);
  for (unsigned e = atomic_load_explicit(&s->tr.n, memory_order_relaxed); e < n; e++)
    if (trend_add(s, e)) break; /* memory: tried again next tick */
  srv__snaptab_tick(&s->tr.snaps, forced);
  return 0; /* trending never fails a reload: a refused file is logged and counted */
}

static void no_version(void *version) {
  (void)version; /* the slot "trending" only ticks */
}

int srv__trending_start(srv_t *s, const char *path, unsigned slots) {
  srv_trending_t *tr = &s->tr;
  if (path == NULL) return 0;
  if (slots == 0) {
    srv__log("--trending-slots 0: trending is off (%s is not read)", SRV_LOG_ESC(path));
    return 0;
  }
  /* a file for a directory (or the reverse) is a mistake of the command line, not a file that
   * is not there yet: said at once */
  struct stat st;
  if (stat(path, &st) == 0 && S_ISDIR(st.st_mode) != (s->mk.dir != NULL)) {
    srv__log("--trending %s: %s", SRV_LOG_ESC(path),
             s->mk.dir ? "with --trie-dir, a directory of global.trie and M.trie files"
                       : "with --trie, a trie file (a directory goes with --trie-dir)");
    return TA_EINVAL;
  }
  tr->slots = slots;
  tr->path = strdup(path);
  tr->m = calloc(SRV_MAX_MARKETS, sizeof *tr->m);
  if (tr->path == NULL || tr->m == NULL) return TA_ENOMEM;
  srv_snap_t *slot = NULL;
  int rc = srv__snap_add(&s->snaps, "trending", s->threads, no_version, &slot);
  if (rc) return rc;
  srv__snap_on_tick(slot, trend_tick, s);
  trend_tick(slot, s, 0);
  unsigned n = atomic_load(&tr->n), served = 0;
  for (unsigned i = 0; i < n; i++) {
    if (srv__snap_peek(tr->m[i].slot))
      served++;
    else if (!s->mk.dir)
      srv__log("trending: %s not loaded: no trending until a valid file is there",
               SRV_LOG_ESC(tr->m[i].path));
  }
  if (s->mk.dir)
    srv__log(
        "trending: %s: %u of %u markets have a trending trie (the others mix in global's); "
        "%u slots",
        SRV_LOG_ESC(path), served, n, slots);
  return 0;
}

void srv__trending_free(srv_t *s) {
  srv_trending_t *tr = &s->tr;
  srv__snaptab_free(&tr->snaps);
  unsigned n = tr->m ? atomic_load(&tr->n) : 0;
  for (unsigned i = 0; i < n; i++) free(tr->m[i].path);
  free(tr->m);
  free(tr->path);
  memset(tr, 0, sizeof *tr);
}

const srv_trie_t *srv__trending_acquire(srv_t *s, unsigned w, unsigned market, unsigned *idx) {
  srv_trending_t *tr = &s->tr;
  if (tr->m == NULL) return NULL;
  unsigned n = atomic_load_explicit(&tr->n, memory_order_acquire);
  if (market < n) {
    const srv_trie_t *t = srv__snap_acquire(tr->m[market].slot, w);
    if (t) {
      *idx = market;
      return t;
    }
    srv__snap_release(tr->m[market].slot, w);
  }
  if (market == 0 || n == 0) return NULL;
  *idx = 0;
  const srv_trie_t *t = srv__snap_acquire(tr->m[0].slot, w);
  if (t == NULL) srv__snap_release(tr->m[0].slot, w);
  return t;
}

void srv__trending_release(srv_t *s, unsigned w, unsigned idx) {
  srv__snap_release(s->tr.m[idx].slot, w);
}

/* Gives each trending hit th[i] whose key is a regular hit's that hit's display form: trie_mix
 * tells queries apart by display form, which the tries of an answer need not share (a market
 * mixes in global's trending trie when it has none, and a market's answer holds global's fill),
 * so the key would be shown twice, once in each spelling. The regular one's is kept: it is
 * the one the answer shows for that key anyway. */
static int trend_spell_as_regular(trie_hit_t *th, size_t n_t, const trie_hit_t *reg, size_t n_reg) {
  uint64_t rh[TA_MAX_K];
  char buf[TA_MAX_KEY + 1], rbuf[TA_MAX_KEY + 1];
  const char *key, *rkey;
  size_t len, rlen;
  int hashed = 0;
  for (size_t i = 0; i < n_t; i++) {
    size_t j = 0;
    while (j < n_reg && !(reg[j].text_len == th[i].text_len &&
                          memcmp(reg[j].text, th[i].text, th[i].text_len) == 0))
      j++;
    if (j < n_reg) continue; /* the same display form: trie_mix sees it */
    int rc = 0;
    for (size_t x = 0; !hashed && x < n_reg && rc == 0; x++)
      rc = srv__hit_key(&reg[x], rbuf, &rkey, &rlen, &rh[x]);
    hashed = 1;
    uint64_t h;
    if (rc == 0) rc = srv__hit_key(&th[i], buf, &key, &len, &h);
    if (rc) return rc;
    for (j = 0; j < n_reg; j++) {
      if (rh[j] != h) continue;
      uint64_t ignored;
      rc = srv__hit_key(&reg[j], rbuf, &rkey, &rlen, &ignored);
      if (rc) return rc;
      if (rlen == len && memcmp(rkey, key, len) == 0) {
        th[i].text = reg[j].text;
        th[i].text_len = reg[j].text_len;
        break;
      }
    }
  }
  return 0;
}

int srv__trending_mix(srv_t *s, const srv_fstate_t *rules, const srv_trie_t *tt, unsigned idx,
                      srv_wmetrics_t *m, const char *key, size_t key_len, size_t k,
                      trie_text_t *text, trie_hit_t *hits, size_t *n, srv_mark_t *marks) {
  if (!trie_screen_may_start(tt->screen, key, key_len)) return 0; /* nothing trending here */
  /* k + slots trending ones: enough to fill the slots past those already shown as regular;
   * at most the file's k, which its nodes store (more would walk the subtree) */
  size_t want = k + s->tr.slots;
  if (want > tt->info.k) want = tt->info.k;
  if (want > TA_MAX_K) want = TA_MAX_K;
  trie_hit_t th[TA_MAX_K], reg[TA_MAX_K];
  size_t n_t = 0;
  int rc = srv__answer(rules, tt, SRV_MAX_MARKETS + idx, m, key, key_len, want, text, th, &n_t);
  if (rc || n_t == 0) return rc; /* nothing trending here: the answer and its marks stand */
  /* Only the exact prefix matches are mixed with (trending ones are exact matches too, and
   * SPEC §15 ranks exact matches first); word and typo matches follow while there is room. */
  size_t n_all = *n, n_reg = 0;
  while (n_reg < n_all && marks[n_reg].kind == TRIE_MATCH_PREFIX) n_reg++;
  srv_mark_t reg_marks[TA_MAX_K];
  unsigned char trending[TA_MAX_K];
  memcpy(reg, hits, n_all * sizeof *hits);
  memcpy(reg_marks, marks, n_all * sizeof *marks);
  rc = trend_spell_as_regular(th, n_t, reg, n_reg);
  if (rc == 0) rc = trie_mix(reg, n_reg, th, n_t, s->tr.slots, k, hits, trending, n);
  if (rc) return rc;
  uint64_t shown = 0;
  for (size_t i = 0; i < *n; i++) {
    /* a regular hit keeps its mark (found by its text, which points into the regular trie);
     * an added trending one matched the typed prefix */
    size_t j = 0;
    while (j < n_reg && reg[j].text != hits[i].text) j++;
    if (j < n_reg)
      marks[i] = reg_marks[j];
    else
      srv__mark_prefix(&hits[i], key_len, &marks[i]);
    marks[i].trending = trending[i];
    shown += trending[i];
  }
  for (size_t j = n_reg; j < n_all && *n < k; j++, (*n)++) {
    hits[*n] = reg[j];
    marks[*n] = reg_marks[j];
  }
  if (shown) srv__metrics_bump(&m->trending_served, shown);
  return 0;
}

int srv__trending_healthz(srv_worker_t *w, ta_buf_t *b) {
  srv_t *s = w->srv;
  srv_trending_t *tr = &s->tr;
  char num[96];
  int len = snprintf(num, sizeof num, ",\"trending\":{\"slots\":%u,\"tries\":{", tr->slots);
  int rc = ta_buf_put(b, num, (size_t)len);
  unsigned n = atomic_load_explicit(&tr->n, memory_order_acquire);
  for (unsigned i = 0; i < n && !rc; i++) {
    const srv_market_t *m = &tr->m[i];
    if (i) rc = ta_buf_put(b, ",", 1);
    if (!rc) rc = srv__json_string(b, m->name, strlen(m->name));
    const srv_trie_t *t = srv__snap_acquire(m->slot, w->id);
    if (!rc) rc = ta_buf_put(b, ":{\"version\":", 12);
    if (!rc)
      rc = t ? srv__json_string(b, t->version, strlen(t->version)) : ta_buf_put(b, "null", 4);
    len = snprintf(num, sizeof num, ",\"queries\":%llu,\"loaded_at\":%lld}",
                   (unsigned long long)(t ? t->info.num_queries : 0),
                   (long long)(t ? t->loaded_at : 0));
    srv__snap_release(m->slot, w->id);
    if (!rc) rc = ta_buf_put(b, num, (size_t)len);
  }
  return rc ? rc : ta_buf_put(b, "}}", 2);
}
