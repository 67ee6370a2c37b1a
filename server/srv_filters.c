/*
 * The blocklist filter layer inside typeahead-serve (SPEC §9): the rules in force, how they
 * change while the server runs, and srv__answer(), the one function every /search answer goes
 * through.
 *
 * State: one immutable filter state is current at a time, in the snapshot slot "rules"
 * (srv_snap.c): a compiled rule set (shared, with a count of the states that use it) and, for
 * each market (SPEC §10), a verdict cache (flt_cache_t) made for its trie file's content
 * (shared too: a new state for one market's new trie keeps the others' caches and verdicts). A request acquires the state
 * like the trie, so it uses exactly one rule set from start to end, and a replaced state is
 * freed only once no worker holds it. The request path takes no lock.
 *
 * Changes, all serialized by one mutex (so the file on disk and the rules in force agree):
 *   - the slot's tick on the reload thread (every 250 ms, and at once on SIGHUP or POST
 *     /admin/reload) compiles --filters FILE again when its watch sees a change (always when
 *     forced), and makes a new cache for each market whose trie's content changed; the file is read whole
 *     by flt_compile_file (ta_read_file), so a FIFO, a directory or a device at the path is
 *     refused at once and never blocks the reload thread;
 *   - PUT /admin/filters compiles the body, rewrites FILE atomically (ta_afile_*), installs it.
 * A file that does not compile is refused whole (logged with its line number, counted) and the
 * rules in force stay. At start a missing or invalid --filters file is fatal: the server would
 * otherwise serve what the rules are there to hide.
 *
 * ETag: a request takes one state (srv__rules_acquire) for all its lookups (exact, global's
 * fill, word and typo, trending), and its ETag and cache tag name that state's version, so an
 * answer is filtered by the rules it names, whatever changes meanwhile. The version alone
 * (srv__filter_version_num, /healthz) is published after the state swap.
 */
#include "srv_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  flt_ruleset_t *rs;
  unsigned refs; /* states using it; changed under srv_flt_t.mu only */
  uint64_t version;
  char version_hex[17];
} srv_rules_t;

/* The content of a trie file, as far as a verdict cache cares (ids are ranks in the file). */
typedef struct {
  int present;
  uint32_t crc;
  uint64_t queries, size;
  /* the trie itself, only where no trie can be retired meanwhile (at start, on the reload
   * thread): a new cache for it is prefilled there; a worker (PUT /admin/filters) does not
   * wait for that, its caches fill on demand */
  const trie_reader_t *reader;
} srv_tid_t;

typedef struct {
  flt_cache_t *cache;
  unsigned refs; /* states using it; changed under srv_flt_t.mu only */
  srv_tid_t tid; /* the trie it was made for */
} srv_vcache_t;

struct srv_fstate {
  srv_rules_t *rules;
  srv_vcache_t *vc[SRV_FLT_TRIES]; /* by market, then by market's trending trie; NULL when the
                                      rule set is empty or that trie is not loaded */
};

struct srv_flt {
  pthread_mutex_t mu;
  srv_snap_t *slot;         /* "rules": srv_fstate_t versions; its watch is --filters FILE */
  _Atomic uint64_t version; /* of the current rules, for srv__filter_version() */
  _Atomic uint64_t loads_ok, loads_failed;
};

/* ---- States ------------------------------------------------------------------------------- */

static void rules_unref(srv_rules_t *r) {
  if (r && --r->refs == 0) {
    flt_ruleset_free(r->rs);
    free(r);
  }
}

static void vcache_unref(srv_vcache_t *vc) {
  if (vc && --vc->refs == 0) {
    flt_cache_free(vc->cache);
    free(vc);
  }
}

static void fstate_free(void *version) {
  srv_fstate_t *st = version;
  if (st == NULL) return;
  for (size_t i = 0; i < SRV_FLT_TRIES; i++) vcache_unref(st->vc[i]);
  rules_unref(st->rules);
  free(st);
}

static srv_tid_t tid_of(const srv_trie_t *t) {
  srv_tid_t id = {0, 0, 0, 0, NULL};
  if (t) id = (srv_tid_t){1, t->info.file_crc, t->info.num_queries, t->info.file_size, NULL};
  return id;
}

static int tid_same(const srv_tid_t *a, const srv_tid_t *b) {
  return a->present && b->present && a->crc == b->crc && a->queries == b->queries &&
         a->size == b->size;
}

/* The trie of each of the n markets of table m now, into ids. */
static void tries_of(const srv_market_t *m, unsigned n, int w, srv_tid_t *ids) {
  for (unsigned i = 0; i < n; i++) {
    srv_snap_t *slot = m[i].slot;
    if (slot == NULL) {
      ids[i] = tid_of(NULL);
    } else if (w < 0) {
      const srv_trie_t *t = srv__snap_peek(slot);
      ids[i] = tid_of(t);
      ids[i].reader = t ? t->reader : NULL;
    } else {
      ids[i] = tid_of(srv__snap_acquire(slot, (unsigned)w));
      srv__snap_release(slot, (unsigned)w);
    }
  }
}

/* The trie of every market, then every trending trie, now, into ids (SRV_FLT_TRIES entries, by
 * verdict cache index); returns how many entries count. Worker w holds each trie while it reads
 * it; w < 0: without a reference (only where no trie can be retired meanwhile: at start, and on
 * the reload thread, the tries' one writer). */
static unsigned tries_now(srv_t *s, int w, srv_tid_t *ids) {
  unsigned n = s->mk.m ? atomic_load_explicit(&s->mk.n, memory_order_acquire) : 0;
  tries_of(s->mk.m, n, w, ids);
  unsigned nt = s->tr.m ? atomic_load_explicit(&s->tr.n, memory_order_acquire) : 0;
  if (nt == 0) return n;
  for (unsigned i = n; i < SRV_MAX_MARKETS; i++) ids[i] = tid_of(NULL);
  tries_of(s->tr.m, nt, w, ids + SRV_MAX_MARKETS);
  return SRV_MAX_MARKETS + nt;
}

/* A state for rules and the tries ids[0..n); takes a reference on rules. The caches of prev
 * (may be NULL) made for these rules and the same tries are shared. Under mu. */
static int fstate_new(srv_rules_t *rules, const srv_fstate_t *prev, const srv_tid_t *ids,
                      unsigned n, srv_fstate_t **out) {
  srv_fstate_t *st = calloc(1, sizeof *st);
  if (st == NULL) return TA_ENOMEM;
  st->rules = rules;
  rules->refs++;
  for (unsigned i = 0; i < n && flt_rule_count(rules->rs) > 0; i++) {
    if (!ids[i].present) continue;
    srv_vcache_t *old = prev && prev->rules == rules ? prev->vc[i] : NULL;
    if (old && tid_same(&old->tid, &ids[i])) {
      old->refs++;
      st->vc[i] = old;
      continue;
    }
    srv_vcache_t *vc = calloc(1, sizeof *vc);
    int rc = vc ? flt_cache_new(rules->rs, ids[i].queries, &vc->cache) : TA_ENOMEM;
    if (rc) {
      free(vc);
      fstate_free(st);
      return rc;
    }
    /* the popular verdicts now, not on the first requests; a failure leaves them to those */
    if (ids[i].reader) (void)flt_cache_prefill(vc->cache, ids[i].reader, FLT_PREFILL_IDS);
    vc->refs = 1;
    vc->tid = ids[i];
    vc->tid.reader = NULL; /* not kept: the trie may go */
    st->vc[i] = vc;
  }
  *out = st;
  return 0;
}

/* 1 when st has a cache for each of the tries ids[0..n) that is loaded (or no rule at all). */
static int fstate_fits_all(const srv_fstate_t *st, const srv_tid_t *ids, unsigned n) {
  if (flt_rule_count(st->rules->rs) == 0) return 1;
  for (unsigned i = 0; i < n; i++)
    if (ids[i].present && !(st->vc[i] && tid_same(&st->vc[i]->tid, &ids[i]))) return 0;
  return 1;
}

/* The cache of st for market's trie t, or NULL when it was made for another one. */
static flt_cache_t *fstate_cache(const srv_fstate_t *st, unsigned market, const srv_trie_t *t) {
  if (st == NULL || market >= SRV_FLT_TRIES || st->vc[market] == NULL) return NULL;
  srv_tid_t id = tid_of(t);
  return tid_same(&st->vc[market]->tid, &id) ? st->vc[market]->cache : NULL;
}

/* Makes st current and frees the state it replaces once no worker uses it. Under mu. */
static void fstate_install(srv_flt_t *F, srv_fstate_t *st) {
  srv_fstate_t *old = srv__snap_swap(F->slot, st);
  /* After the swap (both seq_cst): a request that reads the new version before its answer also
   * finds the new state, so an ETag never names rules newer than its answer's. */
  atomic_store(&F->version, st->rules->version);
  srv__snap_retire(F->slot, old);
}

/* The state in force, without a reference: under mu (its writers hold mu). */
static srv_fstate_t *fstate_current(srv_flt_t *F) {
  return srv__snap_peek(F->slot);
}

/* Installs a new rule set rs (taken over, also on error) with a cache for each of the tries
 * ids[0..n). Under mu. */
static int rules_install(srv_flt_t *F, flt_ruleset_t *rs, const srv_tid_t *ids, unsigned n) {
  srv_rules_t *rules = calloc(1, sizeof *rules);
  if (rules == NULL) {
    flt_ruleset_free(rs);
    return TA_ENOMEM;
  }
  rules->rs = rs;
  flt_info_t info;
  flt_get_info(rs, &info);
  rules->version = info.version;
  memcpy(rules->version_hex, info.version_hex, sizeof rules->version_hex);
  srv_fstate_t *st = NULL;
  rules->refs = 1; /* ours while the state is made */
  int rc = fstate_new(rules, NULL, ids, n, &st);
  rules_unref(rules);
  if (rc) return rc;
  fstate_install(F, st);
  return 0;
}

/* ---- The rules file ----------------------------------------------------------------------- */

/* Compiles --filters FILE and installs it. Under mu. */
static int file_load(srv_t *s, const srv_tid_t *ids, unsigned n, const char *why) {
  srv_flt_t *F = s->flt;
  srv__watch_remember(&F->slot->watch);
  flt_ruleset_t *rs = NULL;
  ta_diag_t err;
  int rc = flt_compile_file(s->filters_path, &rs, &err);
  if (rc == 0) rc = rules_install(F, rs, ids, n);
  if (rc) {
    atomic_fetch_add(&F->loads_failed, 1);
    if (err.line)
      srv__log("%s: refused rules %s:%u: %s (%s)", why, SRV_LOG_ESC(s->filters_path),
               (unsigned)err.line, SRV_LOG_ESC(err.msg),
               fstate_current(F) ? "the old rules stay in force" : "no rules");
    else
      srv__log("%s: refused rules %s (%s)", why,
               err.msg[0] ? SRV_LOG_ESC(err.msg) : ta_strerror(rc),
               fstate_current(F) ? "the old rules stay in force" : "no rules");
    return rc;
  }
  atomic_fetch_add(&F->loads_ok, 1);
  flt_info_t info;
  flt_get_info(fstate_current(F)->rules->rs, &info);
  srv__log("%s: rules %s in force (version %s; %zu word, %zu phrase, %zu prefix, %zu exact)", why,
           SRV_LOG_ESC(s->filters_path), info.version_hex, info.rules[FLT_WORD],
           info.rules[FLT_PHRASE], info.rules[FLT_PREFIX], info.rules[FLT_EXACT]);
  return 0;
}

/* ---- Life cycle ----------------------------------------------------------------------------- */

static int rules_tick(srv_snap_t *slot, void *arg, int forced) {
  (void)slot;
  srv__filters_tick(arg, forced);
  return 0; /* refused rules are logged and counted: the reload itself is about the trie */
}

int srv__filters_start(srv_t *s) {
  srv_flt_t *F = calloc(1, sizeof *F);
  if (F == NULL) return TA_ENOMEM;
  int rc = srv__snap_add(&s->snaps, "rules", s->threads, fstate_free, &F->slot);
  if (rc) {
    free(F);
    return rc;
  }
  srv__watch_init(&F->slot->watch, s->filters_path);
  pthread_mutex_init(&F->mu, NULL);
  s->flt = F;
  srv__snap_on_tick(F->slot, rules_tick, s);
  srv_tid_t ids[SRV_FLT_TRIES];
  unsigned n = tries_now(s, -1, ids); /* workers do not run yet */
  pthread_mutex_lock(&F->mu);
  if (s->filters_path) {
    rc = file_load(s, ids, n, "start");
  } else {
    flt_ruleset_t *rs = NULL;
    rc = flt_ruleset_empty(&rs);
    if (rc == 0) rc = rules_install(F, rs, ids, n);
  }
  pthread_mutex_unlock(&F->mu);
  return rc; /* srv_free() cleans up */
}

void srv__filters_free(srv_t *s) {
  srv_flt_t *F = s->flt;
  if (F) {
    pthread_mutex_destroy(&F->mu);
    free(F);
    s->flt = NULL;
  }
}

void srv__filters_tick(srv_t *s, int forced) {
  srv_flt_t *F = s->flt;
  if (F == NULL) return;
  srv_tid_t ids[SRV_FLT_TRIES];
  unsigned n = tries_now(s, -1, ids); /* on the reload thread */
  pthread_mutex_lock(&F->mu);
  int reloaded = 0;
  if (s->filters_path) {
    int changed = srv__watch_check(&F->slot->watch);
    if (forced || changed == 1) {
      reloaded = file_load(s, ids, n, forced ? "reload" : "rules file changed") == 0;
    } else if (changed < 0 && F->slot->watch.known) {
      srv__watch_forget(&F->slot->watch); /* gone: keep the rules, load what appears there next */
      srv__log("rules file %s is gone; the rules in force stay", SRV_LOG_ESC(s->filters_path));
    }
  }
  srv_fstate_t *cur = fstate_current(F);
  if (!reloaded && cur && !fstate_fits_all(cur, ids, n)) {
    /* a market's new trie: same rules, a cache for its ids, the others' kept */
    srv_fstate_t *st = NULL;
    if (fstate_new(cur->rules, cur, ids, n, &st) == 0) fstate_install(F, st);
  }
  pthread_mutex_unlock(&F->mu);
}

/* ---- Request path ------------------------------------------------------------------------- */

const srv_fstate_t *srv__rules_acquire(srv_t *s, unsigned w, uint64_t *version) {
  const srv_fstate_t *st = s->flt ? srv__snap_acquire(s->flt->slot, w) : NULL;
  *version = st ? st->rules->version : 0; /* srv__filter_version_num() without a filter layer */
  return st;
}

void srv__rules_release(srv_t *s, unsigned w) {
  if (s->flt) srv__snap_release(s->flt->slot, w);
}

int srv__answer(const srv_fstate_t *rules, const srv_trie_t *t, unsigned market, srv_wmetrics_t *m,
                const char *key, size_t key_len, size_t n, trie_text_t *text, trie_hit_t *hits,
                size_t *n_hits) {
  if (rules == NULL) return trie_lookup(t->reader, key, key_len, (unsigned)n, text, hits, n_hits);
  flt_filter_t f = {.rs = rules->rules->rs, .cache = fstate_cache(rules, market, t)};
  int rc = flt_lookup(t->reader, key, key_len, n, &f, text, hits, n_hits);
  for (int k = 0; k < FLT_KIND_COUNT; k++) {
    if (f.suppressed[k] == 0) continue;
    /* only this worker writes its block */
    atomic_store_explicit(
        &m->filter_hits[k],
        atomic_load_explicit(&m->filter_hits[k], memory_order_relaxed) + f.suppressed[k],
        memory_order_relaxed);
  }
  return rc;
}

static void mark_of(const trie_match_t *mt, srv_mark_t *mk) {
  unsigned n = 0;
  mk->kind = mt->kind;
  mk->trending = 0;
  mk->n_spans = trie_match_highlight(mt, mk->spans, &n) == 0 ? (uint8_t)n : 0;
}

void srv__mark_prefix(const trie_hit_t *hit, size_t key_len, srv_mark_t *mk) {
  trie_match_t mt;
  mt.hit = *hit;
  mt.kind = TRIE_MATCH_PREFIX;
  mt.n_spans = 1;
  mt.spans[0][0] = 0;
  mt.spans[0][1] = (uint16_t)(key_len < UINT16_MAX ? key_len : UINT16_MAX);
  mark_of(&mt, mk);
}

int srv__rank_cmp(double score_a, const char *key_a, size_t len_a, double score_b,
                  const char *key_b, size_t len_b) {
  if (score_a != score_b) return score_a > score_b ? -1 : 1;
  return ta_bytes_cmp(key_a, len_a, key_b, len_b);
}

/* 1 when hit a goes before hit b in one trie's order (srv__rank_cmp of their keys). */
static int rank_before(const trie_hit_t *a, const trie_hit_t *b) {
  if (a->score != b->score) return a->score > b->score;
  char ka[TA_MAX_KEY + 1], kb[TA_MAX_KEY + 1];
  size_t la = 0, lb = 0;
  if (trie_norm_key(a->text, a->text_len, ka, sizeof ka, &la) != 0 ||
      trie_norm_key(b->text, b->text_len, kb, sizeof kb, &lb) != 0)
    return 1; /* texts of keys normalize; keep the order they came in otherwise */
  return srv__rank_cmp(a->score, ka, la, b->score, kb, lb) < 0;
}

int srv__answer_more(const srv_fstate_t *rules, const srv_trie_t *t, unsigned market,
                     const char *key, size_t key_len, int typos, int words,
                     const srv_words_t *others, size_t n_own, size_t n, trie_text_t *text,
                     trie_hit_t *hits, srv_mark_t *marks, size_t *n_hits) {
  size_t have = *n_hits;
  for (size_t i = 0; i < have; i++) /* the exact ones: the typed prefix, mapped */
    srv__mark_prefix(&hits[i], key_len, &marks[i]);
  unsigned edits = typos == TRIE_TYPOS_AUTO ? trie_typos_auto(key, key_len) : (unsigned)typos;
  int more_words = words && (t->words != NULL || (others && others->n));
  if (have >= n || n_own > have || (edits == 0 && !more_words)) return 0;
  /* the request's rules, as srv__answer's, candidate by candidate */
  flt_filter_t f = {.rs = rules ? rules->rules->rs : NULL, .cache = fstate_cache(rules, market, t)};
  trie_keep_fn keep = f.rs ? flt_keep : NULL;
  /* What the rest must not repeat: t's own exact matches, by their ids in t. Another trie's
   * (global's fill) have ids of their own file, which name other keys of t; they start with
   * the prefix, which none of t's word and typo matches does, so nothing repeats them: they
   * only take their room (foreign). */
  size_t foreign = have - n_own;
  trie_match_t all[TA_MAX_K];
  for (size_t i = 0; i < n_own; i++) all[i].hit = hits[i];
  size_t got = n_own, out = have;
  int rc;
  if (others == NULL || !words) {
    trie_match_opts_t o = {typos, words ? t->words : NULL};
    rc = trie_lookup_more(t->reader, key, key_len, &o, n - foreign, keep, &f, text, all, &got);
    for (size_t i = n_own; rc == 0 && i < got; i++, out++) {
      hits[out] = all[i].hit;
      mark_of(&all[i], &marks[out]);
    }
  } else {
    /* This shard's word matches, merged with the other shards' in rank order (their keys are
     * distinct: each key is in one shard); then this shard's typo matches (the first character
     * is exact, so no other shard has any), checked against this shard's ids only. */
    trie_match_opts_t ow = {0, t->words};
    rc = trie_lookup_more(t->reader, key, key_len, &ow, n - foreign, keep, &f, text, all, &got);
    trie_match_t own[TA_MAX_K];
    size_t n_words = got - n_own, i = 0, j = 0, kept_own = 0;
    memcpy(own, all + n_own, n_words * sizeof *own);
    while (rc == 0 && out < n && (i < n_words || j < others->n)) {
      if (j == others->n || (i < n_words && rank_before(&own[i].hit, &others->hit[j]))) {
        all[n_own + kept_own++] = own[i];
        hits[out] = own[i].hit;
        mark_of(&own[i], &marks[out++]);
        i++;
      } else {
        hits[out] = others->hit[j];
        marks[out++] = others->mark[j++];
      }
    }
    size_t theirs = out - have - kept_own;
    trie_match_opts_t ot = {typos, NULL};
    got = n_own + kept_own;
    if (rc == 0 && edits > 0 && out < n)
      rc = trie_lookup_more(t->reader, key, key_len, &ot, n - theirs - foreign, keep, &f, text, all,
                            &got);
    for (size_t x = n_own + kept_own; rc == 0 && x < got; x++, out++) {
      hits[out] = all[x].hit;
      mark_of(&all[x], &marks[out]);
    }
  }
  if (rc == 0) *n_hits = out;
  return rc;
}

uint64_t srv__filter_version_num(srv_t *s) {
  return s->flt ? atomic_load(&s->flt->version) : 0;
}

const char *srv__filter_version(srv_t *s) {
  static _Thread_local char hex[17];
  uint64_t v = s->flt ? atomic_load(&s->flt->version) : 0;
  snprintf(hex, sizeof hex, "%016llx", (unsigned long long)v);
  return hex;
}

/* ---- Admin -------------------------------------------------------------------------------- */

int srv__filters_get(srv_t *s, unsigned w, ta_buf_t *b, char version[17]) {
  srv_flt_t *F = s->flt;
  b->len = 0;
  if (F == NULL) return TA_EINVAL;
  const srv_fstate_t *st = srv__snap_acquire(F->slot, w);
  flt_info_t info;
  int rc = flt_get_info(st->rules->rs, &info);
  if (rc == 0) rc = ta_buf_put(b, info.text, info.text_len);
  if (rc == 0) memcpy(version, info.version_hex, 17);
  srv__snap_release(F->slot, w);
  return rc;
}

int srv__filters_put(srv_t *s, unsigned w, const char *text, size_t len, ta_diag_t *err,
                     flt_info_t *out) {
  srv_flt_t *F = s->flt;
  memset(err, 0, sizeof *err);
  if (F == NULL) return TA_EINVAL;
  if (s->filters_path == NULL) {
    snprintf(err->msg, sizeof err->msg,
             "the server was started without --filters: there is no rules file to replace");
    return TA_ENOENT;
  }
  flt_ruleset_t *rs = NULL;
  int rc = flt_compile(text, len, &rs, err);
  if (rc) {
    atomic_fetch_add(&F->loads_failed, 1);
    srv__log("PUT /admin/filters: refused: line %u: %s (the rules in force stay)",
             (unsigned)err->line, SRV_LOG_ESC(err->msg));
    return rc;
  }
  pthread_mutex_lock(&F->mu);
  /* The file first: the rules in force never get ahead of what a restart would load. */
  ta_afile_t *af = NULL;
  rc = ta_afile_open(s->filters_path, &af);
  if (rc == 0) {
    FILE *f = ta_afile_stream(af);
    if (len && fwrite(text, 1, len, f) != len) {
      ta_afile_abort(af);
      rc = TA_EIO;
    } else {
      rc = ta_afile_commit(af);
    }
  }
  if (rc) {
    pthread_mutex_unlock(&F->mu);
    flt_ruleset_free(rs);
    snprintf(err->msg, sizeof err->msg, "cannot write %s: %s", s->filters_path, ta_strerror(rc));
    srv__log("PUT /admin/filters: %s", SRV_LOG_ESC(err->msg));
    return rc;
  }
  srv__watch_remember(&F->slot->watch);
  /* A worker holds each trie while it reads its content, as a request would. */
  srv_tid_t ids[SRV_FLT_TRIES];
  rc = rules_install(F, rs, ids, tries_now(s, (int)w, ids));
  if (rc == 0) {
    atomic_fetch_add(&F->loads_ok, 1);
    flt_get_info(fstate_current(F)->rules->rs, out);
    out->text = NULL; /* the state may go away once mu is released */
    out->text_len = 0;
    srv__log(
        "PUT /admin/filters: rules in force (version %s; %zu word, %zu phrase, "
        "%zu prefix, %zu exact), written to %s",
        out->version_hex, out->rules[FLT_WORD], out->rules[FLT_PHRASE], out->rules[FLT_PREFIX],
        out->rules[FLT_EXACT], SRV_LOG_ESC(s->filters_path));
  }
  pthread_mutex_unlock(&F->mu);
  return rc;
}

/* ---- Metrics ------------------------------------------------------------------------------ */

int srv__filters_metrics(srv_t *s, ta_buf_t *b) {
  char line[256];
  int rc = 0;
  static const char head[] =
      "# HELP typeahead_filter_hits_total Suggestions suppressed by blocklist rules, by the "
      "kind of rule that matched.\n# TYPE typeahead_filter_hits_total counter\n";
  rc |= ta_buf_put(b, head, sizeof head - 1);
  for (int k = 0; k < FLT_KIND_COUNT; k++) {
    uint64_t sum = 0;
    for (unsigned w = 0; w < s->threads; w++)
      sum += atomic_load_explicit(&s->wmetrics[w].filter_hits[k], memory_order_relaxed);
    int n = snprintf(line, sizeof line, "typeahead_filter_hits_total{kind=\"%s\"} %llu\n",
                     flt_kind_name((flt_kind_t)k), (unsigned long long)sum);
    rc |= ta_buf_put(b, line, (size_t)n);
  }
  srv_flt_t *F = s->flt;
  if (F == NULL) return rc ? TA_ENOMEM : 0;
  static const char lh[] =
      "# HELP typeahead_filter_reloads_total Rule set loads (start, file, SIGHUP, PUT), by "
      "result.\n# TYPE typeahead_filter_reloads_total counter\n";
  rc |= ta_buf_put(b, lh, sizeof lh - 1);
  const uint64_t loads[2] = {atomic_load(&F->loads_ok), atomic_load(&F->loads_failed)};
  static const char *const result[2] = {"ok", "failed"};
  int n;
  for (int i = 0; i < 2; i++) {
    n = snprintf(line, sizeof line, "typeahead_filter_reloads_total{result=\"%s\"} %llu\n",
                 result[i], (unsigned long long)loads[i]);
    rc |= ta_buf_put(b, line, (size_t)n);
  }
  /* rule counts: read under the lock that serializes swaps (not on the request path) */
  pthread_mutex_lock(&F->mu);
  srv_fstate_t *st = fstate_current(F);
  flt_info_t info;
  if (st && flt_get_info(st->rules->rs, &info) == 0) {
    static const char rh[] =
        "# HELP typeahead_filter_rules Rules in force, by kind (label "
        "version names the rule set).\n# TYPE typeahead_filter_rules gauge\n";
    rc |= ta_buf_put(b, rh, sizeof rh - 1);
    for (int k = 0; k < FLT_KIND_COUNT; k++) {
      n = snprintf(line, sizeof line, "typeahead_filter_rules{kind=\"%s\",version=\"%s\"} %zu\n",
                   flt_kind_name((flt_kind_t)k), info.version_hex, info.rules[k]);
      rc |= ta_buf_put(b, line, (size_t)n);
    }
  }
  pthread_mutex_unlock(&F->mu);
  return rc ? TA_ENOMEM : 0;
}
