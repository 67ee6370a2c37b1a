/*
 * GET/HEAD /search (SPEC §8, §10): the request's market (srv_market.c), the answer from the
 * worker's cache (srv_cache.c) or looked up (srv__answer, filled from global when a market has
 * too few) and rendered (srv_render.c), its ETag and 304, and the 200 serialized here in one
 * piece. The trie references and the rules' are taken once and dropped in one place, before
 * anything is sent: nothing sent points into a loaded trie, and every part of an answer is
 * filtered by the one rule set its ETag names.
 */
#include "srv_int.h"

#include <event2/buffer.h>
#include <evhtp/evhtp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The headers of every /search answer for one (market, trie loads, rules version), serialized
 * once per worker, which keeps one set per market (SRV_MAX_MARKETS entries of a few hundred
 * bytes, their buffers made for the markets it answers). libevhtp writes a header as "key: value\r\n" without looking into the value, so one
 * header whose value carries the others after "\r\n" puts them all on the wire with one
 * evhtp_header_new and one iovec walk instead of one each (about 2,500 instructions a request,
 * callgrind). The block is the value of Content-Type because libevhtp looks that name up (it
 * adds text/plain when absent); Content-Length is our own header (libevhtp then adds none), and
 * libevhtp still decides Connection (keep-alive, close, HTTP/1.0) as for any reply. The bytes
 * on the wire are those of separate headers. */
struct srv_search_hdrs {
  int valid;
  srv_ctag_t tag;
  char etag[2][80];  /* [rep]: 0 JSON, 1 msgpack */
  ta_buf_t block[2]; /* [rep]: NUL-terminated Content-Type value and the rest */
};

int srv__search_init(srv_worker_t *w) {
  w->hdrs = calloc(SRV_MAX_MARKETS, sizeof *w->hdrs);
  return w->hdrs ? 0 : TA_ENOMEM;
}

void srv__search_fini(srv_worker_t *w) {
  if (w->hdrs == NULL) return;
  for (size_t i = 0; i < SRV_MAX_MARKETS; i++) {
    ta_buf_free(&w->hdrs[i].block[0]);
    ta_buf_free(&w->hdrs[i].block[1]);
  }
  free(w->hdrs);
  w->hdrs = NULL;
}

/* etag = "<trie version>-<filter version>-<j|m>", assembled by hand: snprintf cost as much as
 * the trie lookup (callgrind). A filter version too long for the buffer is cut, the quotes
 * stay. */
static void search_etag(char etag[80], const char *trie_version, const char *filter_version,
                        char rep) {
  size_t tn = strlen(trie_version), fn = strlen(filter_version);
  size_t room = 80 - 6 - tn; /* 2 quotes, 2 dashes, rep, NUL; tn < 48 */
  if (fn > room) fn = room;
  char *e = etag;
  *e++ = '"';
  memcpy(e, trie_version, tn);
  e += tn;
  *e++ = '-';
  memcpy(e, filter_version, fn);
  e += fn;
  *e++ = '-';
  *e++ = rep;
  *e++ = '"';
  *e = '\0';
}

static int buf_puts(ta_buf_t *b, const char *str) {
  return ta_buf_put(b, str, strlen(str));
}

static int tag_same(const srv_ctag_t *a, const srv_ctag_t *b) {
  return a->trie_gen == b->trie_gen && a->global_gen == b->global_gen &&
         a->trend_gen == b->trend_gen && a->rules_version == b->rules_version;
}

/* The header block of a /search answer in representation rep with this ETag (NULL: none): the
 * value of Content-Type, then the other headers after "\r\n" (srv_search_hdrs),
 * NUL-terminated. */
static int search_block(srv_t *s, int rep, const char *etag, ta_buf_t *b) {
  b->len = 0;
  int rc = buf_puts(b, srv__render_ctype(rep));
  if (!rc) rc = buf_puts(b, "\r\nCache-Control: ");
  if (!rc) rc = buf_puts(b, s->cache_control);
  if (!rc && etag) rc = buf_puts(b, "\r\nETag: ");
  if (!rc && etag) rc = buf_puts(b, etag);
  if (!rc) rc = buf_puts(b, "\r\nVary: ");
  if (!rc) rc = buf_puts(b, s->mk.vary);
  if (!rc && s->cors_origin) rc = buf_puts(b, "\r\nAccess-Control-Allow-Origin: ");
  if (!rc && s->cors_origin) rc = buf_puts(b, s->cors_origin);
  /* what a page's script may read of the answer: said on the answer itself (Fetch), not in the
   * preflight, which a plain GET does not even make */
  if (!rc && s->cors_origin) rc = buf_puts(b, "\r\nAccess-Control-Expose-Headers: ETag");
  if (!rc) rc = ta_buf_put(b, "", 1); /* the NUL evhtp_header_new's strlen needs */
  return rc;
}

/* The worker's header blocks for market's answers from trie t (and global's tg, which may fill
 * them; NULL for global's own or when none is loaded; tt the trending trie mixed in, or NULL)
 * under tag (made again when it changes). A market's ETag names both tries: "<market
 * version>.<global version or none>"; then "~<trending version>" when one is mixed in. */
static srv_search_hdrs_t *search_hdrs_get(srv_worker_t *w, unsigned market, const srv_trie_t *t,
                                          const srv_trie_t *tg, const srv_trie_t *tt,
                                          const srv_ctag_t *tag) {
  srv_search_hdrs_t *h = &w->hdrs[market];
  if (h->valid && tag_same(&h->tag, tag)) return h;
  srv_t *s = w->srv;
  char fv[17], tv[3 * sizeof t->version];
  /* as srv__filter_version() */
  snprintf(fv, sizeof fv, "%016llx", (unsigned long long)tag->rules_version);
  if (market)
    snprintf(tv, sizeof tv, "%s.%s", t->version, tg ? tg->version : "none");
  else
    snprintf(tv, sizeof tv, "%s", t->version);
  if (tt) {
    size_t tn = strlen(tv);
    snprintf(tv + tn, sizeof tv - tn, "~%s", tt->version);
  }
  h->valid = 0;
  int rc = 0;
  for (int rep = 0; rep < 2; rep++) {
    search_etag(h->etag[rep], tv, fv, rep ? 'm' : 'j');
    if (!rc) rc = search_block(s, rep, h->etag[rep], &h->block[rep]);
  }
  if (rc) return NULL;
  h->tag = *tag;
  h->valid = 1;
  return h;
}

/* A 200 of /search, serialized here into one buffer and queued in one piece: the bytes
 * libevhtp's evhtp_send_reply would write (status line, the header block, Content-Length,
 * Connection as htp__create_reply_ decides it, the body), without its per-header and per-piece
 * buffer work (about 4,000 instructions a request, callgrind, a fifth of the total). Only
 * HTTP/1.0 and 1.1, the versions whose Connection rules srv__conn_header copies; 0 when
 * queued. */
static int search_send_200(srv_reply_t *r, const char *block, const char *body, size_t n) {
  evhtp_request_t *req = r->req;
  const char *conn_hdr = srv__conn_header(req);
  if (conn_hdr == NULL) return -1;
  char len[TA_U64_CAP];
  size_t len_n = ta_fmt_u64(n, len);
  ta_buf_t *b = &r->w->wire;
  b->len = 0;
  int rc = ta_buf_put(b,
                      req->proto == EVHTP_PROTO_11 ? "HTTP/1.1 200 OK\r\nContent-Type: "
                                                   : "HTTP/1.0 200 OK\r\nContent-Type: ",
                      31);
  if (!rc) rc = buf_puts(b, block);
  if (!rc) rc = ta_buf_put(b, "\r\nContent-Length: ", 18);
  if (!rc) rc = ta_buf_put(b, len, len_n);
  if (!rc) rc = ta_buf_put(b, "\r\n", 2);
  if (!rc) rc = buf_puts(b, conn_hdr);
  if (!rc) rc = ta_buf_put(b, "\r\n", 2);
  if (!rc && req->method != htp_method_HEAD) rc = ta_buf_put(b, body, n);
  return rc ? rc : srv__conn_queue_reply(req, 200, b->p, b->len);
}

/* Sends a 200 (body[0..n), omitted for HEAD with its Content-Length kept) or a 304 with the
 * header block (no Content-Length: srv__reply_bodiless). The two headers borrow their values
 * (the block, a stack buffer): they are taken out again as soon as libevhtp has serialized the
 * reply. */
static void search_send(srv_reply_t *r, int status, const char *block, const char *body, size_t n) {
  evhtp_request_t *req = r->req;
  if (r->w->draining) srv__conn_close_after_reply(req);
  r->status = status;
  r->body_len = n;
  if (status == 200 && search_send_200(r, block, body, n) == 0) return;
  char len[TA_U64_CAP];
  evhtp_header_t *hs[2] = {evhtp_header_new("Content-Type", block, 0, 0), NULL};
  if (status == 200) {
    ta_fmt_u64(n, len);
    hs[1] = evhtp_header_new("Content-Length", len, 0, 0);
  }
  for (int i = 0; i < 2; i++)
    if (hs[i]) evhtp_headers_add_header(req->headers_out, hs[i]);
  if (status == 200 && req->method != htp_method_HEAD && n) evbuffer_add(req->buffer_out, body, n);
  if (status != 304 || srv__reply_bodiless(r, 304) != 0) evhtp_send_reply(req, (evhtp_res)status);
  for (int i = 0; i < 2; i++)
    if (hs[i]) evhtp_header_rm_and_free(req->headers_out, hs[i]);
}

/* What search_answer decided. Nothing in it points into a loaded trie. */
typedef struct {
  int status;         /* 200, 304, or an error status */
  const char *block;  /* 200 and 304: the header block */
  const char *body;   /* 200: the body; an error: its message */
  size_t len;         /* 200: body length */
  int rendered;       /* 200 rendered now into w->out (not from the cache): keep it, unless */
  int mixed;          /* not to keep: other shards' parts missing or untagged */
  srv_ctag_t tag;     /* the tags to keep it under */
  char own_etag[48];  /* an answer with other shards' words: its ETag, kept with it */
  unsigned keep_ms;   /* and how long it stays fresh (0: as long as its tags hold) */
  char msg[64];       /* room for a message made here */
  int ask_shards;     /* the owner of a prefix short of exact matches: ask the other shards */
  ta_buf_t own_block; /* the header block of an answer with other shards' words (its ETag) */
} search_out_t;

/* The request as search_answer needs it: where it goes and what it asks. */
typedef struct {
  unsigned market;           /* the market answering (0: global) */
  const srv_trie_t *t;       /* its trie (NULL: none loaded) */
  const srv_trie_t *tg;      /* a market's request: global's trie, for the fill (may be NULL) */
  const srv_trie_t *tt;      /* the trending trie to mix in (NULL: none) */
  unsigned tt_idx;           /* its entry (srv_trending.c) */
  const srv_fstate_t *rules; /* the rules of every lookup of the request (srv__rules_acquire) */
  uint64_t rv;               /* their version: the ETag's and the cache tag's */
  const char *raw;           /* the raw query string */
  size_t raw_len;
  int rep;         /* 0 JSON, 1 msgpack */
  const char *inm; /* If-None-Match, or NULL */
  /* a peer's request: 1 for this shard's part of a merge or a forwarded prefix, 2 for its
   * word matches alone (SRV_PART_HEADER) */
  int part;
  const srv_words_t *others; /* the other shards' word matches, asked for (srv_shard.c) */
} search_in_t;

/* What a cached answer is kept under besides the query string and the market: its
 * representation, and for a shard's words part (another answer to the same query string) a
 * variant of its own. */
static int search_variant(const search_in_t *in) {
  return in->rep + (in->part == 2 ? SRV_CACHE_PART : 0);
}

/* The completions of key for the request: the market's own first (*n_own of them), then
 * global's (SPEC §10) when the market has fewer than k; *answered: the market whose trie gave
 * the first one. */
static int search_lookup(srv_worker_t *w, const search_in_t *in, const char *key, size_t key_len,
                         size_t k, trie_hit_t *hits, size_t *n_hits, size_t *n_own,
                         unsigned *answered) {
  *answered = in->market;
  int rc = srv__answer(in->rules, in->t, in->market, w->m, key, key_len, k, w->text, hits, n_hits);
  *n_own = *n_hits;
  if (rc || in->market == 0 || *n_hits >= k || in->tg == NULL) {
    if (*n_hits == 0) *answered = 0;
    return rc;
  }
  /* global's first k are enough: its keys are distinct, so each of the market's n completions
   * can repeat at most one of them, and k - n of them are left */
  trie_hit_t g[TA_MAX_K];
  size_t n_g = 0;
  rc = srv__answer(in->rules, in->tg, 0, w->m, key, key_len, k, w->text, g, &n_g);
  if (rc == 0 && *n_hits == 0) *answered = 0;
  return rc ? rc : srv__market_fill(hits, n_hits, k, g, n_g);
}

/* The answer to the request's query string for its trie (NULL: none loaded) in representation
 * rep, or 304 when If-None-Match matches its ETag. */
static void search_answer(srv_worker_t *w, const search_in_t *in, search_out_t *o) {
  srv_t *s = w->srv;
  const srv_trie_t *t = in->t;
  o->rendered = o->mixed = o->ask_shards = 0;
  o->keep_ms = 0;
  o->block = o->body = NULL;
  o->len = 0;
  if (t == NULL) {
    o->status = 503;
    o->body = "no trie loaded";
    return;
  }
  o->tag = (srv_ctag_t){t->gen, in->market && in->tg ? in->tg->gen : 0, in->rv,
                        in->tt ? in->tt->gen : 0};
  const srv_search_hdrs_t *h = search_hdrs_get(w, in->market, t, in->tg, in->tt, &o->tag);
  if (h == NULL) {
    o->status = 500;
    o->body = ta_strerror(TA_ENOMEM);
    return;
  }
  const char *etag = h->etag[in->rep];
  o->block = h->block[in->rep].p;
  /* Answers with other shards' words depend on their tries too: an ETag of them all, and kept
   * in the cache with it for --peer-cache-ms only (their tries may change meanwhile), unless a
   * shard's part is missing; none, and never kept, when a part came without an ETag (its
   * content would change under the same one: a 304 for changed content). */
  if (in->others && in->others->untagged) {
    etag = NULL;
    o->mixed = 1;
  } else if (in->others) {
    uint64_t eh = ta_hash64(etag, strlen(etag), in->others->etag_hash);
    snprintf(o->own_etag, sizeof o->own_etag, "\"w%016llx%s-%c\"", (unsigned long long)eh,
             in->others->partial ? "p" : "", in->rep ? 'm' : 'j');
    etag = o->own_etag;
    o->keep_ms = in->others->partial ? 0 : s->peers->cache_ms;
    if (o->keep_ms == 0) o->mixed = 1;
  }
  /* the second pass, with the other shards' words, was a miss already */
  const srv_centry_t *e = in->others ? NULL
                                     : srv__cache_find(&w->cache, search_variant(in), in->market,
                                                       in->raw, in->raw_len, &o->tag);
  /* A peer's request is answered fresh, not from an answer kept for a while: the node that
   * asked keeps ours for its own --peer-cache-ms, which would add up to twice that time. */
  if (e && in->part && srv__centry_etag(e)) e = NULL;
  if (e && srv__centry_etag(e)) { /* an answer with other shards' words, kept for a while */
    snprintf(o->own_etag, sizeof o->own_etag, "%s", srv__centry_etag(e));
    etag = o->own_etag;
  }
  if (etag != h->etag[in->rep]) {
    if (search_block(s, in->rep, etag, &o->own_block) != 0) {
      o->status = 500;
      o->body = ta_strerror(TA_ENOMEM);
      return;
    }
    o->block = o->own_block.p;
  }
  if (e) {
    srv__metrics_bump(&w->m->cache_lookups[0], 1);
    o->status = in->inm && srv__etag_match(in->inm, etag) ? 304 : 200;
    if (o->status == 200) srv__centry_body(e, &o->body, &o->len);
    return;
  }
  if (w->cache.slots && !in->others) /* the second pass is the same request's */
    srv__metrics_bump(&w->m->cache_lookups[1], 1);

  srv_query_t q;
  int rc = srv__query_parse(in->raw, in->raw_len, &q);
  if (rc) {
    o->status = rc == TA_ETOOLONG ? 414 : 400;
    o->body = q.error;
    return;
  }
  unsigned tk = t->info.k;
  size_t k = q.has_k ? q.k : (SRV_DEFAULT_K < tk ? SRV_DEFAULT_K : tk);
  if (k < 1 || k > tk) {
    snprintf(o->msg, sizeof o->msg, "k must be a whole number from 1 to %u", tk);
    o->status = 400;
    o->body = o->msg;
    return;
  }
  if (in->inm && etag && srv__etag_match(in->inm, etag)) {
    o->status = 304;
    return;
  }

  char key[TA_MAX_KEY + 1];
  size_t key_len = 0;
  trie_hit_t hits[TA_MAX_K];
  srv_mark_t marks[TA_MAX_K];
  size_t n_hits = 0, n_own = 0;
  unsigned answered = in->market;
  rc = trie_norm_prefix(q.q, q.q_len, key, sizeof key, &key_len);
  if (rc == 0) {
    size_t kk = k < TA_MAX_K ? k : TA_MAX_K;
    /* a words part: this shard's word matches alone (no key of it starts with the prefix) */
    if (in->part != 2)
      rc = search_lookup(w, in, key, key_len, kk, hits, &n_hits, &n_own, &answered);
    size_t n_exact = n_hits;
    /* A sharded node answering its own prefix with fewer exact matches than asked for: word
     * matches come from every shard (a later word of a key starts anywhere), so the other
     * shards are asked first (srv_shard.c), and the answer is made again with theirs. Again,
     * exact lookup included: the snapshots of trie and rules are let go while the peers
     * answer, and one answer is made from one snapshot (a lookup beside a peer's round trip). */
    if (rc == 0 && s->peers && s->peers->n_shards > 1 && in->part != 2 && !in->others &&
        key_len > 0 && q.words && t->words && n_exact < kk) {
      o->ask_shards = 1;
      return;
    }
    if (rc == 0) /* then word and typo matches (SPEC §15), of the market's trie */
      rc = srv__answer_more(in->rules, in->t, in->market, key, key_len, in->part == 2 ? 0 : q.typos,
                            in->part == 2 ? 1 : q.words, in->others, n_own, kk, w->text, hits,
                            marks, &n_hits);
    /* a word or typo match is the market's own: it names the market, after global's fill too */
    if (n_hits > n_exact) answered = in->market;
    /* the empty prefix's merge has no trending suggestions: its parts neither (every node
     * holds the whole trending trie, so each part would add the same ones, of any shard);
     * nor has a words part (the owner mixes them in once) */
    if (rc == 0 && in->tt && !(in->part && key_len == 0) && in->part != 2)
      rc = srv__trending_mix(s, in->rules, in->tt, in->tt_idx, w->m, key, key_len, kk, w->text,
                             hits, &n_hits, marks);
  } else if (rc == TA_ENOSPC) {
    rc = 0; /* a key longer than any key a trie holds: nothing starts with it */
    answered = 0;
  }
  const char *market = s->mk.dir ? s->mk.m[answered].name : NULL;
  ta_buf_t *b = &w->out;
  b->len = 0;
  if (rc == 0)
    rc = in->rep ? srv__render_msgpack(b, q.q, q.q_len, market, hits, marks, n_hits)
                 : srv__render_json(b, q.q, q.q_len, market, hits, marks, n_hits);
  if (rc) {
    srv__log("search: %s", ta_strerror(rc));
    o->status = 500;
    o->body = ta_strerror(rc);
    return;
  }
  o->status = 200;
  o->body = b->p;
  o->len = b->len;
  o->rendered = 1;
}

/* Answers r: part as srv__shard_take set it, others the other shards' word matches (NULL:
 * not asked for yet; when the answer needs them, they are asked for and r answered later). */
static void search_run(srv_reply_t *r, int part, const srv_words_t *others) {
  srv_worker_t *w = r->w;
  srv_t *s = w->srv;
  evhtp_request_t *req = r->req;
  search_in_t in = {0};
  in.raw = srv__query_raw(req);
  in.raw_len = strlen(in.raw);
  in.inm = evhtp_header_find(req->headers_in, "If-None-Match");
  in.rep = srv__wants_msgpack(evhtp_header_find(req->headers_in, "Accept"));
  in.part = part;
  in.others = others;
  if (s->mk.dir)
    in.market =
        srv__market_of(s, in.raw, in.raw_len,
                       s->mk.header ? evhtp_header_find(req->headers_in, s->mk.header) : NULL);
  srv_snap_t *mslot = in.market ? s->mk.m[in.market].slot : NULL;
  const srv_trie_t *tg = srv__trie_acquire(s, w->id);
  in.t = mslot ? srv__snap_acquire(mslot, w->id) : tg;
  if (in.t == NULL && mslot) { /* the market's file is gone or never verified: global answers */
    in.market = 0;
    in.t = tg;
  }
  in.tg = in.market ? tg : NULL;
  if (in.t) in.tt = srv__trending_acquire(s, w->id, in.market, &in.tt_idx);
  /* one snapshot of the rules for every lookup, the ETag and the cache tag */
  in.rules = srv__rules_acquire(s, w->id, &in.rv);
  search_out_t o = {0};
  search_answer(w, &in, &o);
  /* the hits pointed into the tries and w->text: rendered, now let go */
  trie_text_reset(w->text);
  srv__rules_release(s, w->id);
  if (in.tt) srv__trending_release(s, w->id, in.tt_idx);
  if (mslot) srv__snap_release(mslot, w->id);
  srv__trie_release(s, w->id);
  if (o.ask_shards) {
    int rc = srv__shard_words(r, in.raw, in.raw_len, part, search_run);
    if (rc) srv__reply_error(r, rc == TA_ENOMEM ? 500 : 502, "cannot ask the other shards");
    return;
  }
  srv__metrics_bump(&w->m->market_requests[in.market], 1);
  if (o.status != 200 && o.status != 304) {
    if (o.status == 503) srv__reply_header(req, "Retry-After", "1", 0);
    srv__reply_error(r, o.status, o.body);
    ta_buf_free(&o.own_block);
    return;
  }
  if (o.rendered && !o.mixed && w->cache.slots) {
    /* Tagged with the rules every lookup used (in.rv): a rules change since makes it stale. */
    srv__cache_put(&w->cache, search_variant(&in), in.market, in.raw, in.raw_len, &o.tag,
                   o.keep_ms ? o.own_etag : NULL, o.keep_ms, o.body, o.len);
  }
  search_send(r, o.status, o.block, o.body, o.len);
  ta_buf_free(&o.own_block);
}

/* From the worker's answer cache when it holds the answer for this query string, this
 * representation, this market, the tries in use and the rules in force; else parsed, looked
 * up, rendered and kept. Errors are never cached. */
void srv__handle_search(srv_reply_t *r) {
  srv_t *s = r->w->srv;
  const char *raw = srv__query_raw(r->req);
  int part = 0;
  /* A sharded node: another shard's prefix is forwarded, the empty one merged (srv_shard.c). */
  if (s->peers &&
      srv__shard_take(r, raw, strlen(raw),
                      srv__wants_msgpack(evhtp_header_find(r->req->headers_in, "Accept")), &part))
    return;
  search_run(r, part, NULL);
}
