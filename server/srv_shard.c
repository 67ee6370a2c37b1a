/*
 * A node of one prefix shard (SPEC §11): GET /search for a prefix whose key starts with a code
 * point of another shard is forwarded to a replica of that shard (srv_peer.c) and its answer
 * relayed as it is (status, body, ETag: the owner's; a 200 is kept in the answer cache for
 * --peer-cache-ms, so the next requests for it need no hop, as the empty key's merge is); a
 * prefix whose key is empty belongs to every shard: each other shard's best k are asked for (in
 * msgpack), merged with this node's own by score then key (the order of one trie), and rendered
 * as one trie would render them; a prefix of this shard short of exact matches, word matching
 * on, asks every other shard for its word matches (srv__shard_words; merged by srv_filters.c's
 * srv__answer_more). A request that carries SRV_FORWARDED_HEADER (the shard it is meant for)
 * is answered from this node's shard alone, or 421 when this node serves another shard (a wrong
 * peers file). The map and the peers file are read once at start (docs/FORMAT.md "Shard map",
 * srv_int.h "Peers").
 */
#include "srv_int.h"

#include <event2/event.h>
#include <evhtp/evhtp.h>
#include <math.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int srv__shard_start(srv_t *s, const char *map_path, unsigned shard, const char *peers_path,
                     unsigned timeout_ms, unsigned cache_ms) {
  ta_diag_t d;
  char why[512];
  trie_shard_map_t *map = NULL;
  int rc = trie_shard_load(map_path, &map, &d);
  if (rc) {
    srv__log("--shard-map %s", SRV_LOG_ESC(ta_diag_format(&d, why, sizeof why)));
    return rc;
  }
  unsigned n = trie_shard_count(map);
  if (shard >= n) {
    srv__log("--shard %u: the map %s has shards 0..%u", shard, SRV_LOG_ESC(map_path), n - 1);
    trie_shard_free(map);
    return TA_ERANGE;
  }
  ta_buf_t text = {0};
  rc = ta_read_file(peers_path, SRV_PEERS_FILE_MAX, &text, &d);
  if (rc == 0) rc = srv__peers_parse(text.p, text.len, peers_path, n, shard, &s->peers, &d);
  ta_buf_free(&text);
  if (rc) {
    srv__log("--peers %s", SRV_LOG_ESC(ta_diag_format(&d, why, sizeof why)));
    trie_shard_free(map);
    return rc;
  }
  s->peers->map = map;
  snprintf(s->peers->map_id, sizeof s->peers->map_id, "%016llx",
           (unsigned long long)trie_shard_hash(map));
  s->peers->timeout_ms = timeout_ms ? timeout_ms : SRV_PEER_TIMEOUT_MS;
  s->peers->cache_ms = cache_ms;
  srv__log("shard %u of %u (map %s); prefixes of the others go to their replicas (%s)", shard, n,
           SRV_LOG_ESC(map_path), SRV_LOG_ESC(peers_path));
  return 0;
}

int srv__shard_healthz(srv_t *s, ta_buf_t *b) {
  const srv_peers_t *p = s->peers;
  char part[200];
  int n = snprintf(part, sizeof part, ",\"shard\":{\"index\":%u,\"shards\":%u,\"others\":[", p->own,
                   p->n_shards);
  int rc = ta_buf_put(b, part, (size_t)n);
  const char *sep = "";
  for (unsigned i = 0; rc == 0 && i < p->n_shards; i++) {
    if (i == p->own) continue;
    int64_t ok = atomic_load_explicit(&p->ok_at[i], memory_order_relaxed);
    int64_t bad = atomic_load_explicit(&p->failed_at[i], memory_order_relaxed);
    int last = atomic_load_explicit(&p->last_outcome[i], memory_order_relaxed);
    n = snprintf(part, sizeof part,
                 "%s{\"shard\":%u,\"replicas\":%u,\"reachable\":%s,\"last_answer\":%lld,"
                 "\"last_failure\":%lld}",
                 sep, i, p->n_rep[i],
                 last == 0   ? "null"
                 : last == 1 ? "true"
                             : "false",
                 (long long)ok, (long long)bad);
    rc = ta_buf_put(b, part, (size_t)n);
    sep = ",";
  }
  return rc ? rc : ta_buf_put(b, "]}", 2);
}

/* ---- One request --------------------------------------------------------------------------- */

typedef struct {
  double score;
  uint32_t off, len; /* the text in texts */
  char *key;         /* the text's key, for the order of ties (in keys) */
  size_t key_len;
  srv_mark_t mark; /* a words part's: how it matched (the empty key's: a prefix match) */
} merged_hit_t;

typedef struct shard_req shard_req_t;

/* The argument of one peer call: which request, which shard. */
typedef struct {
  shard_req_t *st;
  unsigned shard;
} shard_call_t;

struct shard_req {
  srv_worker_t *w;
  unsigned waiting; /* peer answers still to come */
  /* forwarded: the owner's answer */
  int status;
  char etag[96], ctype[64];
  ta_buf_t body;
  srv_ctag_t tag; /* this node's trie load and rules when asked: a relayed answer's cache tag */
  /* merged: every other shard's hits (the empty key), or their word matches (words) */
  int merge, words, failed, rep, part;
  int untagged; /* a part taken without an ETag a node gives: the answer gets none */
  srv_words_fn words_done;
  struct event *deadline; /* words: the shards still silent then are left out */
  uint64_t etag_hash;     /* of the ETags of the parts taken */
  merged_hit_t *hits;
  size_t n_hits, cap;
  ta_buf_t texts;
  srv_query_t q;
  size_t k;
  unsigned n_shards;
  srv_peer_call_t **calls; /* [n_shards]: in flight (cancelled if the client goes first) */
  shard_call_t *args;      /* [n_shards] */
};

static void shard_req_free(void *arg) {
  shard_req_t *st = arg;
  if (st->deadline) event_free(st->deadline);
  for (unsigned i = 0; i < st->n_shards; i++) srv__peer_cancel(st->calls[i]);
  for (size_t i = 0; i < st->n_hits; i++) free(st->hits[i].key);
  free(st->hits);
  ta_buf_free(&st->texts);
  ta_buf_free(&st->body);
  free(st);
}

/* A request's peer state, a call slot per shard of this node's map; NULL when out of memory. */
static shard_req_t *shard_req_new(srv_worker_t *w) {
  unsigned n = w->srv->peers->n_shards;
  shard_req_t *st = calloc(1, sizeof *st + n * (sizeof *st->calls + sizeof *st->args));
  if (st == NULL) return NULL;
  st->w = w;
  st->n_shards = n;
  st->calls = (srv_peer_call_t **)(st + 1);
  st->args = (shard_call_t *)(st->calls + n);
  return st;
}

/* One hit into st's list, its text copied and its key (for the order of ties) computed. A
 * peer's hit (map not NULL) must be a key of the shard it answered for: TA_ECORRUPT otherwise
 * (a peers file that names the wrong node would show another shard's keys twice). */
static int add_hit(shard_req_t *st, const char *text, size_t text_len, double score,
                   const srv_mark_t *mark, const trie_shard_map_t *map, unsigned shard) {
  char key[TA_MAX_KEY * 4 + 1];
  size_t key_len = 0;
  int rc = 0;
  if (st->n_hits == st->cap &&
      (rc = ta_grow((void **)&st->hits, &st->cap, st->n_hits + 1, sizeof *st->hits, 64)) != 0)
    return rc;
  if ((rc = trie_norm_key(text, text_len, key, sizeof key, &key_len)) != 0) return rc;
  uint32_t cp;
  if (map && (trie_shard_first_cp(key, key_len, &cp) != 0 || trie_shard_of(map, cp) != shard))
    return TA_ECORRUPT;
  merged_hit_t *mh = &st->hits[st->n_hits];
  if ((mh->key = malloc(key_len + 1)) == NULL) return TA_ENOMEM;
  memcpy(mh->key, key, key_len + 1);
  mh->key_len = key_len;
  mh->score = score;
  mh->mark = *mark;
  mh->off = (uint32_t)st->texts.len;
  mh->len = (uint32_t)text_len;
  if ((rc = ta_buf_put(&st->texts, text, text_len)) != 0) {
    free(mh->key);
    return rc;
  }
  st->n_hits++;
  return 0;
}

/* The answer of shard (msgpack: {"q":..., "suggestions":[{"text":s,"score":n}...]}, each text
 * a key of that shard, each key once) into st's hits. 0, or TA_ECORRUPT for anything else. */
static int take_hits(shard_req_t *st, unsigned shard, const char *body, size_t len) {
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  size_t off = 0;
  int rc = TA_ECORRUPT;
  if (msgpack_unpack_next(&u, body, len, &off) != MSGPACK_UNPACK_SUCCESS ||
      u.data.type != MSGPACK_OBJECT_MAP)
    goto out;
  const msgpack_object_map *m = &u.data.via.map;
  size_t n0 = st->n_hits; /* this part's hits start here */
  int lists = 0;
  for (uint32_t i = 0; i < m->size; i++) {
    const msgpack_object *k = &m->ptr[i].key, *v = &m->ptr[i].val;
    if (k->type != MSGPACK_OBJECT_STR || k->via.str.size != 11 ||
        memcmp(k->via.str.ptr, "suggestions", 11) != 0)
      continue;
    /* one list of at most TA_MAX_K: a second would pass more, and keys twice */
    if (lists++ || v->type != MSGPACK_OBJECT_ARRAY || v->via.array.size > TA_MAX_K) goto out;
    for (uint32_t j = 0; j < v->via.array.size; j++) {
      const msgpack_object *h = &v->via.array.ptr[j];
      const char *text = NULL;
      size_t text_len = 0;
      double score = -1;
      srv_mark_t mark = {0}; /* kind 0: a prefix match, as the empty key's are */
      const msgpack_object *hl = NULL;
      if (h->type != MSGPACK_OBJECT_MAP) goto out;
      for (uint32_t f = 0; f < h->via.map.size; f++) {
        const msgpack_object *fk = &h->via.map.ptr[f].key, *fv = &h->via.map.ptr[f].val;
        if (fk->type != MSGPACK_OBJECT_STR) goto out;
        if (fk->via.str.size == 4 && memcmp(fk->via.str.ptr, "text", 4) == 0 &&
            fv->type == MSGPACK_OBJECT_STR) {
          text = fv->via.str.ptr;
          text_len = fv->via.str.size;
        } else if (fk->via.str.size == 5 && memcmp(fk->via.str.ptr, "match", 5) == 0) {
          /* a words part gives word matches only (checked below) */
          if (fv->type != MSGPACK_OBJECT_STR) goto out;
          if (fv->via.str.size == 5 && memcmp(fv->via.str.ptr, "words", 5) == 0)
            mark.kind = TRIE_MATCH_WORDS;
        } else if (fk->via.str.size == 9 && memcmp(fk->via.str.ptr, "highlight", 9) == 0) {
          hl = fv;
        } else if (fk->via.str.size == 5 && memcmp(fk->via.str.ptr, "score", 5) == 0) {
          score = fv->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? (double)fv->via.u64
                  : fv->type == MSGPACK_OBJECT_FLOAT64 || fv->type == MSGPACK_OBJECT_FLOAT32
                      ? fv->via.f64
                      : -1;
        }
      }
      if (text == NULL || text_len > TA_MAX_KEY || !(score >= 0) || isinf(score)) goto out;
      if (st->words) {
        /* [[start, length], ...]: spans of the text, at most TRIE_MAX_SPANS */
        if (mark.kind != TRIE_MATCH_WORDS || hl == NULL || hl->type != MSGPACK_OBJECT_ARRAY ||
            hl->via.array.size > TRIE_MAX_SPANS)
          goto out;
        for (uint32_t x = 0; x < hl->via.array.size; x++) {
          const msgpack_object *sp = &hl->via.array.ptr[x];
          if (sp->type != MSGPACK_OBJECT_ARRAY || sp->via.array.size != 2 ||
              sp->via.array.ptr[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
              sp->via.array.ptr[1].type != MSGPACK_OBJECT_POSITIVE_INTEGER)
            goto out;
          uint64_t a = sp->via.array.ptr[0].via.u64, n = sp->via.array.ptr[1].via.u64;
          if (a > text_len || n > text_len - a) goto out;
          mark.spans[x][0] = (uint32_t)a;
          mark.spans[x][1] = (uint32_t)n;
        }
        mark.n_spans = (uint8_t)hl->via.array.size;
      }
      if (add_hit(st, text, text_len, score, &mark, st->w->srv->peers->map, shard) != 0) goto out;
      /* a shard's trie holds a key once: one twice (two spellings) would be shown twice */
      const merged_hit_t *nh = &st->hits[st->n_hits - 1];
      for (size_t x = n0; x + 1 < st->n_hits; x++)
        if (ta_bytes_cmp(st->hits[x].key, st->hits[x].key_len, nh->key, nh->key_len) == 0) goto out;
    }
  }
  rc = 0;
out:
  msgpack_unpacked_destroy(&u);
  return rc;
}

/* 1 when etag is an entity-tag (RFC 9110 8.8.3: [W/]"...", visible ASCII but '"' between the
 * quotes) shorter than cap: what a node gives. Any other is relayed as none (never cut, never
 * with a control byte on the wire), and so not kept either. */
static int etag_ok(const char *etag, size_t cap) {
  size_t n = strlen(etag);
  if (n >= cap) return 0;
  if (etag[0] == 'W' && etag[1] == '/') etag += 2, n -= 2;
  if (n < 2 || etag[0] != '"' || etag[n - 1] != '"') return 0;
  for (size_t i = 1; i + 1 < n; i++)
    if ((unsigned char)etag[i] < 0x21 || (unsigned char)etag[i] > 0x7e || etag[i] == '"') return 0;
  return 1;
}

/* 1 when the header value v fits a buffer of cap bytes and holds visible ASCII, spaces and
 * tabs only: a relayed Content-Type is never cut or passed on with a control byte. */
static int value_ok(const char *v, size_t cap) {
  size_t n = strlen(v);
  for (size_t i = 0; i < n; i++)
    if (v[i] != '\t' && ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] > 0x7e)) return 0;
  return n < cap;
}

/* Drops the hits st took from n_hits on (a part that failed half-way leaves none of its own). */
static void drop_hits(shard_req_t *st, size_t n_hits) {
  if (n_hits == st->n_hits) return;
  st->texts.len = st->hits[n_hits].off;
  while (st->n_hits > n_hits) free(st->hits[--st->n_hits].key);
}

/* A peer's answer (srv_peer.c's callback): kept, and the request polled at once. A part of a
 * merge is taken whole or not at all; the merged ETag hashes the ETags of the parts taken (each
 * with its shard), and
 * a part taken without one a node gives (none, or one etag_ok refuses) leaves the merged answer
 * without an ETag: nothing else would name that part's content, and a client's If-None-Match
 * would get a 304 after it changed. */
static void on_peer(void *arg, int status, const char *body, size_t len, const char *etag,
                    const char *ctype) {
  shard_call_t *call = arg;
  shard_req_t *st = call->st;
  st->calls[call->shard] = NULL; /* srv_peer.c frees it */
  st->waiting--;
  if (st->merge || st->words) {
    size_t n0 = st->n_hits;
    if (status != 200 || take_hits(st, call->shard, body, len) != 0) {
      st->failed = 1;
      drop_hits(st, n0);
    } else if (etag && etag_ok(etag, sizeof st->etag)) {
      /* seeded by the shard: two shards' equal ETags must not cancel out in the XOR */
      st->etag_hash ^= ta_hash64(etag, strlen(etag), 0x5eed + call->shard);
    } else {
      st->untagged = 1;
    }
  } else {
    st->status = status;
    snprintf(st->etag, sizeof st->etag, "%s", etag && etag_ok(etag, sizeof st->etag) ? etag : "");
    snprintf(st->ctype, sizeof st->ctype, "%s",
             ctype == NULL                       ? "application/json"
             : value_ok(ctype, sizeof st->ctype) ? ctype
                                                 : "application/octet-stream");
    if (ta_buf_put(&st->body, body, len) != 0) st->status = 0;
  }
  srv__conn_defer_kick(st->w);
}

static int by_rank(const void *x, const void *y) {
  const merged_hit_t *a = x, *b = y;
  return srv__rank_cmp(a->score, a->key, a->key_len, b->score, b->key, b->key_len);
}

static void reply_headers(srv_reply_t *r, const char *etag) {
  srv_t *s = r->w->srv;
  srv__reply_header(r->req, "Cache-Control", s->cache_control, 0);
  if (etag && etag[0]) srv__reply_header(r->req, "ETag", etag, 1);
  srv__reply_header(r->req, "Vary", s->mk.vary, 0);
  if (s->cors_origin) srv__reply_cors(s, r->req);
  if (s->cors_origin) srv__reply_header(r->req, "Access-Control-Expose-Headers", "ETag", 0);
}

/* An answer that other shards made (another shard's, relayed; the empty prefix's merge) is
 * kept in the worker's answer cache for --peer-cache-ms under its ETag (their tries may change
 * meanwhile, unseen here), so that the next requests for the query string need no hop; under
 * this node's own tags too, so that a swap or a rules change here starts afresh. An answer
 * without an ETag is not kept. */
static void peers_keep(srv_reply_t *r, const shard_req_t *st, const char *etag, const char *body,
                       size_t len) {
  srv_worker_t *w = r->w;
  unsigned keep_ms = w->srv->peers->cache_ms;
  const char *raw = srv__query_raw(r->req);
  if (keep_ms == 0 || etag[0] == '\0') return;
  srv__cache_put(&w->cache, st->rep + SRV_CACHE_PEERS, 0, raw, strlen(raw), &st->tag, etag, keep_ms,
                 body, len);
}

/* 1 when r is answered from what peers_keep kept. */
static int peers_kept(srv_reply_t *r, const shard_req_t *st, const char *raw, size_t raw_len) {
  srv_worker_t *w = r->w;
  if (w->srv->peers->cache_ms == 0 || w->cache.slots == NULL) return 0;
  const srv_centry_t *e =
      srv__cache_find(&w->cache, st->rep + SRV_CACHE_PEERS, 0, raw, raw_len, &st->tag);
  srv__metrics_bump(&w->m->cache_lookups[e ? 0 : 1], 1);
  if (e == NULL) return 0;
  const char *etag = srv__centry_etag(e);
  const char *inm = evhtp_header_find(r->req->headers_in, "If-None-Match");
  reply_headers(r, etag);
  if (inm && srv__etag_match(inm, etag)) {
    srv__reply_send(r, 304, NULL, NULL, 0);
    return 1;
  }
  const char *body;
  size_t n;
  srv__centry_body(e, &body, &n);
  srv__reply_send(r, 200, srv__render_ctype(st->rep), body, n);
  return 1;
}

/* The merge of every shard's best k (the empty key): this node's own, now, with the others'. */
static void answer_merged(srv_reply_t *r, shard_req_t *st) {
  srv_worker_t *w = r->w;
  srv_t *s = w->srv;
  if (st->failed) {
    srv__reply_error(r, 502, "a shard did not answer");
    return;
  }
  const srv_trie_t *t = srv__trie_acquire(s, w->id);
  trie_hit_t own[TA_MAX_K];
  size_t n_own = 0;
  uint64_t rv = 0;
  const srv_fstate_t *rules = srv__rules_acquire(s, w->id, &rv);
  int rc = t ? srv__answer(rules, t, 0, w->m, "", 0, st->k, w->text, own, &n_own) : TA_ENOENT;
  char etag[48] = ""; /* none when a part came without one: never 304, never kept */
  if (rc == 0 && !st->untagged) {
    uint64_t h = st->etag_hash ^ ta_hash64(t->version, strlen(t->version), rv);
    snprintf(etag, sizeof etag, "\"s%016llx-%c\"", (unsigned long long)h, st->rep ? 'm' : 'j');
  }
  /* own hits point into the trie and w->text: copied in with the others, then let go */
  for (size_t i = 0; rc == 0 && i < n_own; i++)
    rc = add_hit(st, own[i].text, own[i].text_len, own[i].score, &(srv_mark_t){0}, NULL, 0);
  trie_text_reset(w->text);
  srv__rules_release(s, w->id);
  srv__trie_release(s, w->id);
  if (rc) {
    if (rc == TA_ENOENT) srv__reply_header(r->req, "Retry-After", "1", 0);
    srv__reply_error(r, rc == TA_ENOENT ? 503 : 500,
                     rc == TA_ENOENT ? "no trie loaded" : ta_strerror(rc));
    return;
  }
  qsort(st->hits, st->n_hits, sizeof *st->hits, by_rank);
  size_t n = st->n_hits < st->k ? st->n_hits : st->k;
  trie_hit_t out[TA_MAX_K];
  srv_mark_t marks[TA_MAX_K] = {{0}}; /* the empty prefix: prefix matches, nothing to highlight */
  for (size_t i = 0; i < n; i++)
    out[i] = (trie_hit_t){0, st->hits[i].score, st->texts.p + st->hits[i].off, st->hits[i].len};
  const char *inm = evhtp_header_find(r->req->headers_in, "If-None-Match");
  reply_headers(r, etag);
  if (etag[0] && inm && srv__etag_match(inm, etag)) {
    srv__reply_send(r, 304, NULL, NULL, 0);
    return;
  }
  ta_buf_t *b = &w->out;
  b->len = 0;
  rc = st->rep ? srv__render_msgpack(b, st->q.q, st->q.q_len, NULL, out, marks, n)
               : srv__render_json(b, st->q.q, st->q.q_len, NULL, out, marks, n);
  if (rc) {
    srv__reply_error(r, 500, ta_strerror(rc));
    return;
  }
  peers_keep(r, st, etag, b->p, b->len);
  srv__reply_send(r, 200, srv__render_ctype(st->rep), b->p, b->len);
}

/* The owner's answer with the other shards' word matches: the best k of theirs, in rank
 * order, handed to the search path. A shard that did not answer (every replica failed, or an
 * answer that does not parse) leaves its matches out: the exact matches and the rest still
 * come, under an ETag marked partial, never cached. */
static void answer_words(srv_reply_t *r, shard_req_t *st) {
  if (st->n_hits > 1) qsort(st->hits, st->n_hits, sizeof *st->hits, by_rank); /* none: NULL */
  srv_words_t ws = {0};
  ws.n = st->n_hits < TA_MAX_K ? st->n_hits : TA_MAX_K;
  for (size_t i = 0; i < ws.n; i++) {
    ws.hit[i] = (trie_hit_t){0, st->hits[i].score, st->texts.p + st->hits[i].off, st->hits[i].len};
    ws.mark[i] = st->hits[i].mark;
  }
  ws.etag_hash = st->etag_hash;
  ws.partial = st->failed;
  ws.untagged = st->untagged;
  if (st->failed)
    srv__log_limited(SRV_LOG_PEERS, "a shard's word matches are missing: it did not answer");
  st->words_done(r, st->part, &ws);
}

/* 1 when body starts as an answer in representation rep does: a JSON object, a msgpack map.
 * Anything else (empty, an HTML page a proxy put there) is relayed as it came but not kept. */
static int body_is_answer(int rep, const ta_buf_t *body) {
  if (body->len == 0) return 0;
  unsigned char c = (unsigned char)body->p[0];
  return rep ? (c >= 0x80 && c <= 0x8f) || c == 0xde || c == 0xdf : c == '{';
}

/* r->later of a forwarded or merged request: 1 once answered. */
static int shard_answer(srv_reply_t *r) {
  shard_req_t *st = r->later_state;
  if (st->waiting) return 0;
  if (st->merge) {
    answer_merged(r, st);
  } else if (st->words) {
    answer_words(r, st);
  } else if (st->status == 0) {
    srv__reply_header(r->req, "Retry-After", "1", 0);
    srv__reply_error(r, 502, "no replica of the prefix's shard answered");
  } else {
    /* the owner's 200, an answer in the representation asked (not a 304, a 4xx, a failure) */
    if (st->status == 200 && strcmp(st->ctype, srv__render_ctype(st->rep)) == 0 &&
        body_is_answer(st->rep, &st->body))
      peers_keep(r, st, st->etag, st->body.p, st->body.len);
    reply_headers(r, st->etag);
    srv__reply_send(r, st->status, st->status == 304 ? NULL : st->ctype, st->body.p, st->body.len);
  }
  return 1;
}

/* r is answered later, by shard_answer, once st's peers have answered (or given up). */
static void shard_defer(srv_reply_t *r, shard_req_t *st) {
  r->later = shard_answer;
  r->later_state = st;
  r->later_free = shard_req_free;
}

int srv__shard_take(srv_reply_t *r, const char *raw, size_t raw_len, int rep, int *part) {
  srv_worker_t *w = r->w;
  srv_t *s = w->srv;
  srv_peers_t *p = s->peers;
  *part = 0;
  const char *fwd = p ? evhtp_header_find(r->req->headers_in, SRV_FORWARDED_HEADER) : NULL;
  if (fwd) { /* a peer asks this node for its shard: it must be this one */
    unsigned asked = 0;
    const char *map = evhtp_header_find(r->req->headers_in, SRV_MAP_HEADER);
    int same_map = map == NULL || strcmp(map, p->map_id) == 0;
    if (ta_parse_uint(fwd, 0, TRIE_MAX_SHARDS - 1, &asked) == 0 && asked == p->own && same_map) {
      const char *kind = evhtp_header_find(r->req->headers_in, SRV_PART_HEADER);
      *part = kind && strcmp(kind, "words") == 0 ? 2 : 1;
      return 0;
    }
    char msg[128];
    if (!same_map) {
      char shown[40]; /* the header as the peer sent it, escaped and cut */
      srv__log_esc(map, shown, sizeof shown);
      snprintf(msg, sizeof msg,
               "this node routes by another shard map (%s, not %s): check "
               "--shard-map",
               p->map_id, shown);
      srv__log_limited(SRV_LOG_PEERS,
                       "a peer routes by the shard map %s; this node by %s: one of them was "
                       "started with another --shard-map",
                       shown, p->map_id);
    } else {
      snprintf(msg, sizeof msg, "this node serves shard %u, not shard %.16s (check the peers file)",
               p->own, fwd);
      srv__log_limited(SRV_LOG_PEERS,
                       "a peer asked for shard %.16s; this node serves %u: its "
                       "peers file is wrong",
                       fwd, p->own);
    }
    srv__reply_error(r, 421, msg);
    return 1;
  }
  if (p == NULL) return 0;
  shard_req_t *st = shard_req_new(w);
  if (st == NULL) return 0; /* answered here: wrong for other shards' prefixes, never a crash */
  st->rep = rep;
  /* The request's own errors (bad q or k) are answered here, as any node would. */
  char key[TA_MAX_KEY + 1];
  size_t key_len = 0;
  uint32_t cp = 0;
  unsigned owner = p->own;
  if (srv__query_parse(raw, raw_len, &st->q) != 0 ||
      trie_norm_prefix(st->q.q, st->q.q_len, key, sizeof key, &key_len) != 0 ||
      (key_len && (trie_shard_first_cp(key, key_len, &cp) != 0 ||
                   (owner = trie_shard_of(p->map, cp)) == p->own))) {
    shard_req_free(st);
    return 0;
  }
  const srv_trie_t *t = srv__trie_acquire(s, w->id);
  unsigned tk = t ? t->info.k : TA_MAX_K;
  st->tag = (srv_ctag_t){t ? t->gen : 0, 0, srv__filter_version_num(s), 0};
  srv__trie_release(s, w->id);
  st->k = st->q.has_k ? st->q.k : (SRV_DEFAULT_K < tk ? SRV_DEFAULT_K : tk);
  if (st->k < 1 || st->k > tk) { /* the local path says why */
    shard_req_free(st);
    return 0;
  }
  st->merge = key_len == 0;
  if (peers_kept(r, st, raw, raw_len)) {
    shard_req_free(st);
    return 1;
  }
  char uri[SRV_MAX_LINE + 16];
  snprintf(uri, sizeof uri, "/search?%.*s", (int)raw_len, raw);
  int rc = 0;
  for (unsigned sh = 0; rc == 0 && sh < p->n_shards; sh++) {
    if (st->merge ? sh == p->own : sh != owner) continue;
    st->waiting++;
    st->args[sh] = (shard_call_t){st, sh};
    /* the representation chosen here (rep), not the client's Accept, which can be long */
    rc = srv__peer_get(w, sh, uri, st->merge || rep ? "application/msgpack" : "application/json",
                       st->merge ? NULL : evhtp_header_find(r->req->headers_in, "If-None-Match"),
                       NULL, on_peer, &st->args[sh], &st->calls[sh]);
    if (rc) st->waiting--;
  }
  if (rc) {
    shard_req_free(st);
    srv__reply_error(r, 502, "cannot reach the prefix's shard");
    return 1;
  }
  shard_defer(r, st);
  return 1;
}

/* The words merge's deadline: word matches are worth one peer timeout, not the next
 * replica's too (a forwarded prefix waits for its owner, whose answer would then come after
 * a load balancer gave up on it); the shards still silent are left out (partial). */
static void words_deadline(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  shard_req_t *st = arg;
  for (unsigned i = 0; i < st->n_shards; i++) {
    if (st->calls[i] == NULL) continue;
    srv__peer_cancel(st->calls[i]);
    st->calls[i] = NULL;
    st->waiting--;
    st->failed = 1;
  }
  srv__conn_defer_kick(st->w);
}

int srv__shard_words(srv_reply_t *r, const char *raw, size_t raw_len, int part, srv_words_fn done) {
  srv_worker_t *w = r->w;
  srv_peers_t *p = w->srv->peers;
  if (p == NULL || p->n_shards < 2) return TA_EINVAL;
  shard_req_t *st = shard_req_new(w);
  if (st == NULL) return TA_ENOMEM;
  st->words = 1;
  st->part = part;
  st->words_done = done;
  st->deadline = evtimer_new(w->base, words_deadline, st);
  struct timeval tv = srv__timeval_ms(p->timeout_ms);
  if (st->deadline == NULL || evtimer_add(st->deadline, &tv) != 0) {
    shard_req_free(st);
    return TA_ENOMEM;
  }
  char uri[SRV_MAX_LINE + 16];
  snprintf(uri, sizeof uri, "/search?%.*s", (int)raw_len, raw);
  int rc = 0;
  for (unsigned sh = 0; rc == 0 && sh < p->n_shards; sh++) {
    if (sh == p->own) continue;
    st->waiting++;
    st->args[sh] = (shard_call_t){st, sh};
    rc = srv__peer_get(w, sh, uri, "application/msgpack", NULL, "words", on_peer, &st->args[sh],
                       &st->calls[sh]);
    if (rc) st->waiting--;
  }
  if (rc) {
    shard_req_free(st);
    return rc;
  }
  shard_defer(r, st);
  return 0;
}
