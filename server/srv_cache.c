/*
 * The per-worker cache of whole /search answers (docs/server.md, "Answer cache").
 *
 * Autocomplete traffic repeats itself: every user typing "new york" asks for "n", "ne", "new"
 * and so on, so a worker keeps the bodies it rendered for 200 answers. An entry is keyed by
 * what decides the body: the representation (JSON or msgpack), the market the request was
 * routed to (SPEC §10: it may come from a header) and the raw query string, byte for byte (so
 * "q=a+b" and "q=a%20b" are two entries; both are right). It is tagged with the trie loads it
 * was computed from (srv_trie_t.gen, unique per load: the market's, and global's, which may
 * have filled it) and the version of the rules that filtered it (a hash of their canonical
 * text). A lookup with other tags misses and frees
 * the stale entry, so a swap or a rules change can never serve an old answer; nothing has to
 * walk the cache when they change. An answer that depends on more than these (a sharded node's
 * answer with other shards' word matches, another shard's answer relayed, the empty prefix's
 * merge: srv_shard.c) is kept with its own ETag and an expiry (--peer-cache-ms): found after
 * it, it is stale too.
 *
 * Layout: 2-way set-associative table of entry pointers, a CLOCK bit per entry (hit sets it;
 * the victim is an unused way). Memory is bounded by max_bytes (entries, counted by their
 * allocation size, plus the table); an entry that does not fit after evicting its set's victim
 * is not stored. Owned and used by one worker thread only: no locks, no atomics.
 */
#include "srv_int.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

struct srv_centry {
  uint64_t hash;
  srv_ctag_t tag;
  uint64_t expires_ns; /* ta_mono_ns() from which the entry is stale; 0: never */
  uint32_t key_len;
  uint32_t body_len;
  uint16_t market;
  unsigned char rep;
  unsigned char used;     /* CLOCK bit */
  unsigned char etag_len; /* 0: the tag's ETag (srv_search.c); else the entry's own, in data */
  char data[];            /* key, then the ETag (NUL-terminated when there is one), then body */
};

#define CACHE_WAYS 2
#define CACHE_AVG_ENTRY 512 /* bytes per entry the table is sized for */

static size_t entry_size(const srv_centry_t *e) {
  return sizeof(srv_centry_t) + e->key_len + (e->etag_len ? e->etag_len + 1u : 0) + e->body_len;
}

int srv__cache_init(srv_cache_t *c, size_t max_bytes, _Atomic uint64_t *gauge_bytes,
                    _Atomic uint64_t *gauge_entries) {
  memset(c, 0, sizeof *c);
  if (max_bytes == 0) return 0; /* off */
  c->gauge_bytes = gauge_bytes;
  c->gauge_entries = gauge_entries;
  size_t sets = 1;
  while (sets * CACHE_WAYS * CACHE_AVG_ENTRY < max_bytes && sets < ((size_t)1 << 24)) sets <<= 1;
  c->slots = calloc(sets * CACHE_WAYS, sizeof *c->slots);
  if (c->slots == NULL) return TA_ENOMEM;
  c->mask = sets - 1;
  c->max_bytes = max_bytes;
  c->bytes = sets * CACHE_WAYS * sizeof *c->slots;
  return 0;
}

/* The gauges /metrics reads, after a change (the cache is one worker's: plain stores). */
static void gauges_set(srv_cache_t *c) {
  if (c->gauge_bytes) atomic_store_explicit(c->gauge_bytes, c->bytes, memory_order_relaxed);
  if (c->gauge_entries) atomic_store_explicit(c->gauge_entries, c->entries, memory_order_relaxed);
}

static void slot_clear(srv_cache_t *c, srv_centry_t **slot) {
  srv_centry_t *e = *slot;
  if (e == NULL) return;
  c->bytes -= entry_size(e);
  c->entries--;
  free(e);
  *slot = NULL;
}

void srv__cache_free(srv_cache_t *c) {
  if (c->slots == NULL) return;
  for (size_t i = 0; i <= c->mask; i++)
    for (size_t j = 0; j < CACHE_WAYS; j++) slot_clear(c, &c->slots[i * CACHE_WAYS + j]);
  free(c->slots);
  memset(c, 0, sizeof *c);
}

/* The representation and the market are the seed: the answers to one query string land apart. */
static uint64_t key_hash(int rep, unsigned market, const char *key, size_t len) {
  return ta_hash64(key, len, ((uint64_t)market << 1 | (uint64_t)rep) + 1);
}

static int entry_is(const srv_centry_t *e, uint64_t h, int rep, unsigned market, const char *key,
                    size_t len) {
  return e && e->hash == h && e->rep == rep && e->market == market && e->key_len == len &&
         memcmp(e->data, key, len) == 0;
}

static int tag_same(const srv_ctag_t *a, const srv_ctag_t *b) {
  return a->trie_gen == b->trie_gen && a->global_gen == b->global_gen &&
         a->trend_gen == b->trend_gen && a->rules_version == b->rules_version;
}

const srv_centry_t *srv__cache_find(srv_cache_t *c, int rep, unsigned market, const char *key,
                                    size_t key_len, const srv_ctag_t *tag) {
  if (c->slots == NULL) return NULL;
  uint64_t h = key_hash(rep, market, key, key_len);
  srv_centry_t **set = &c->slots[(h & c->mask) * CACHE_WAYS];
  for (size_t j = 0; j < CACHE_WAYS; j++) {
    srv_centry_t *e = set[j];
    if (!entry_is(e, h, rep, market, key, key_len)) continue;
    /* computed from another trie or other rules, or past its time: gone for good */
    if (!tag_same(&e->tag, tag) || (e->expires_ns && ta_mono_ns() >= e->expires_ns)) {
      slot_clear(c, &set[j]);
      gauges_set(c);
      return NULL;
    }
    e->used = 1;
    return e;
  }
  return NULL;
}

void srv__cache_put(srv_cache_t *c, int rep, unsigned market, const char *key, size_t key_len,
                    const srv_ctag_t *tag, const char *etag, unsigned keep_ms, const char *body,
                    size_t body_len) {
  size_t etag_len = etag ? strlen(etag) : 0;
  if (c->slots == NULL || key_len > UINT32_MAX || body_len > SRV_CACHE_MAX_BODY ||
      market >= SRV_MAX_MARKETS || etag_len > UCHAR_MAX)
    return;
  uint64_t h = key_hash(rep, market, key, key_len);
  srv_centry_t **set = &c->slots[(h & c->mask) * CACHE_WAYS];
  size_t victim = CACHE_WAYS;
  for (size_t j = 0; j < CACHE_WAYS && victim == CACHE_WAYS; j++)
    if (set[j] == NULL || entry_is(set[j], h, rep, market, key, key_len)) victim = j;
  for (size_t j = 0; j < CACHE_WAYS && victim == CACHE_WAYS; j++)
    if (!set[j]->used) victim = j;
  if (victim == CACHE_WAYS) { /* every way used since the last pass: start a new pass */
    for (size_t j = 0; j < CACHE_WAYS; j++) set[j]->used = 0;
    victim = 0;
  }
  slot_clear(c, &set[victim]);
  gauges_set(c);
  srv_centry_t head = {.key_len = (uint32_t)key_len,
                       .body_len = (uint32_t)body_len,
                       .etag_len = (unsigned char)etag_len};
  size_t size = entry_size(&head);
  if (c->bytes + size > c->max_bytes) return;
  srv_centry_t *e = malloc(size);
  if (e == NULL) return;
  *e = head;
  e->hash = h;
  e->tag = *tag;
  e->expires_ns = keep_ms ? ta_mono_ns() + keep_ms * UINT64_C(1000000) : 0;
  e->market = (uint16_t)market;
  e->rep = (unsigned char)rep;
  memcpy(e->data, key, key_len);
  if (etag_len) memcpy(e->data + key_len, etag, etag_len + 1);
  memcpy(e->data + key_len + (etag_len ? etag_len + 1 : 0), body, body_len);
  set[victim] = e;
  c->bytes += size;
  c->entries++;
  gauges_set(c);
}

void srv__centry_body(const srv_centry_t *e, const char **body, size_t *len) {
  *body = e->data + e->key_len + (e->etag_len ? e->etag_len + 1u : 0);
  *len = e->body_len;
}

const char *srv__centry_etag(const srv_centry_t *e) {
  return e->etag_len ? e->data + e->key_len : NULL;
}
