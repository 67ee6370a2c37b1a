/*
 * GET/HEAD /search (SPEC §8): the answer from the worker's cache (srv_cache.c) or looked up
 * (srv__answer) and rendered (srv_render.c), its ETag and 304, and the 200 serialized here in
 * one piece. The trie reference is taken once and dropped in one place, before anything is
 * sent: nothing sent points into the loaded trie.
 */
#include "srv_int.h"

#include <event2/buffer.h>
#include <evhtp/evhtp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The headers of every /search answer for one (trie load, rules version), serialized once per
 * worker. libevhtp writes a header as "key: value\r\n" without looking into the value, so one
 * header whose value carries the others after "\r\n" puts them all on the wire with one
 * evhtp_header_new and one iovec walk instead of one each (about 2,500 instructions a request,
 * callgrind). The block is the value of Content-Type because libevhtp looks that name up (it
 * adds text/plain when absent); Content-Length is our own header (libevhtp then adds none), and
 * libevhtp still decides Connection (keep-alive, close, HTTP/1.0) as for any reply. The bytes
 * on the wire are those of separate headers. */
struct srv_search_hdrs {
  int valid;
  uint64_t trie_gen, rules_version;
  char etag[2][80];  /* [rep]: 0 JSON, 1 msgpack */
  ta_buf_t block[2]; /* [rep]: NUL-terminated Content-Type value and the rest */
};

static const char *const search_ctype[2] = {"application/json; charset=utf-8",
                                            "application/msgpack"};

int srv__search_init(srv_worker_t *w) {
  w->hdrs = calloc(1, sizeof *w->hdrs);
  return w->hdrs ? 0 : TA_ENOMEM;
}

void srv__search_fini(srv_worker_t *w) {
  if (w->hdrs == NULL) return;
  ta_buf_free(&w->hdrs->block[0]);
  ta_buf_free(&w->hdrs->block[1]);
  free(w->hdrs);
  w->hdrs = NULL;
}

/* etag = "<trie version>-<filter version>-<j|m>", assembled by hand: snprintf cost as much as
 * the trie lookup (callgrind). A filter version too long for the buffer is cut, the quotes
 * stay. */
static void search_etag(char etag[80], const char *trie_version, const char *filter_version,
                        char rep) {
  size_t tn = strlen(trie_version), fn = strlen(filter_version);
  size_t room = 80 - 6 - tn; /* 2 quotes, 2 dashes, rep, NUL; tn < 24 */
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

/* The worker's header blocks for trie t and rules version rv (made again when they change). */
static int search_hdrs_get(srv_worker_t *w, const srv_trie_t *t, uint64_t rv) {
  srv_search_hdrs_t *h = w->hdrs;
  if (h->valid && h->trie_gen == t->gen && h->rules_version == rv) return 0;
  srv_t *s = w->srv;
  char fv[17];
  snprintf(fv, sizeof fv, "%016llx", (unsigned long long)rv); /* as srv__filter_version() */
  h->valid = 0;
  int rc = 0;
  for (int rep = 0; rep < 2; rep++) {
    search_etag(h->etag[rep], t->version, fv, rep ? 'm' : 'j');
    ta_buf_t *b = &h->block[rep];
    b->len = 0;
    if (!rc) rc = buf_puts(b, search_ctype[rep]);
    if (!rc) rc = buf_puts(b, "\r\nCache-Control: ");
    if (!rc) rc = buf_puts(b, s->cache_control);
    if (!rc) rc = buf_puts(b, "\r\nETag: ");
    if (!rc) rc = buf_puts(b, h->etag[rep]);
    if (!rc) rc = buf_puts(b, "\r\nVary: Accept");
    if (!rc && s->cors_origin) rc = buf_puts(b, "\r\nAccess-Control-Allow-Origin: ");
    if (!rc && s->cors_origin) rc = buf_puts(b, s->cors_origin);
    if (!rc) rc = ta_buf_put(b, "", 1); /* the NUL evhtp_header_new's strlen needs */
  }
  if (rc) return rc;
  h->trie_gen = t->gen;
  h->rules_version = rv;
  h->valid = 1;
  return 0;
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
  return rc ? rc : srv__conn_queue_reply(req, b->p, b->len);
}

/* Sends a 200 (body[0..n), omitted for HEAD with its Content-Length kept) or a 304 with the
 * header block. The two headers borrow their values (the block, a stack buffer): they are
 * taken out again as soon as libevhtp has serialized the reply. */
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
  evhtp_send_reply(req, (evhtp_res)status);
  for (int i = 0; i < 2; i++)
    if (hs[i]) evhtp_header_rm_and_free(req->headers_out, hs[i]);
}

/* What search_answer decided. Nothing in it points into the loaded trie. */
typedef struct {
  int status;                  /* 200, 304, or an error status */
  const char *block;           /* 200 and 304: the header block */
  const char *body;            /* 200: the body; an error: its message */
  size_t len;                  /* 200: body length */
  int rendered;                /* 200 rendered now into w->out (not from the cache): keep it */
  uint64_t gen, rules_version; /* the tags to keep it under */
  char msg[64];                /* room for a message made here */
} search_out_t;

/* The answer to the query string raw[0..len) for trie t (NULL: none loaded) and rules version
 * rv in representation rep, or 304 when inm (If-None-Match, or NULL) matches its ETag. */
static void search_answer(srv_worker_t *w, const srv_trie_t *t, uint64_t rv, const char *raw,
                          size_t raw_len, int rep, const char *inm, search_out_t *o) {
  srv_t *s = w->srv;
  o->rendered = 0;
  o->block = o->body = NULL;
  o->len = 0;
  if (t == NULL) {
    o->status = 503;
    o->body = "no trie loaded";
    return;
  }
  o->gen = t->gen;
  int rc = search_hdrs_get(w, t, rv);
  if (rc) {
    o->status = 500;
    o->body = ta_strerror(rc);
    return;
  }
  const char *etag = w->hdrs->etag[rep];
  o->block = w->hdrs->block[rep].p;
  const srv_centry_t *e = srv__cache_find(&w->cache, rep, raw, raw_len, o->gen, rv);
  if (e) {
    srv__metrics_bump(&w->m->cache_lookups[0], 1);
    o->status = inm && srv__etag_match(inm, etag) ? 304 : 200;
    if (o->status == 200) srv__centry_body(e, &o->body, &o->len);
    return;
  }
  if (w->cache.slots) srv__metrics_bump(&w->m->cache_lookups[1], 1);

  srv_query_t q;
  rc = srv__query_parse(raw, raw_len, &q);
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
  if (inm && srv__etag_match(inm, etag)) {
    o->status = 304;
    return;
  }

  char key[TA_MAX_KEY + 1];
  size_t key_len = 0;
  trie_hit_t hits[TA_MAX_K];
  size_t n_hits = 0;
  o->rules_version = 0;
  rc = trie_norm_prefix(q.q, q.q_len, key, sizeof key, &key_len);
  if (rc == 0) {
    rc = srv__answer(s, t, w->m, key, key_len, k < TA_MAX_K ? k : TA_MAX_K, hits, &n_hits,
                     &o->rules_version);
  } else if (rc == TA_ENOSPC) {
    rc = 0;                /* a key longer than any key a trie holds: nothing starts with it */
    o->rules_version = rv; /* no rule was asked: the answer is the same under any rules */
  }
  ta_buf_t *b = &w->out;
  b->len = 0;
  if (rc == 0)
    rc = rep ? srv__render_msgpack(b, q.q, q.q_len, hits, n_hits)
             : srv__render_json(b, q.q, q.q_len, hits, n_hits);
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

/* From the worker's answer cache when it holds the answer for this query string, this
 * representation, the trie in use and the rules in force; else parsed, looked up, rendered and
 * kept. Errors are never cached. */
void srv__handle_search(srv_reply_t *r) {
  srv_worker_t *w = r->w;
  srv_t *s = w->srv;
  evhtp_request_t *req = r->req;
  const char *raw = req->uri && req->uri->query_raw ? (const char *)req->uri->query_raw : "";
  size_t raw_len = strlen(raw);
  const char *inm = evhtp_header_find(req->headers_in, "If-None-Match");
  int rep = srv__wants_msgpack(evhtp_header_find(req->headers_in, "Accept"));
  /* Read before the answer is computed: an ETag never names rules newer than its answer. */
  uint64_t rv = srv__filter_version_num(s);
  search_out_t o;
  search_answer(w, srv__trie_acquire(s, w->id), rv, raw, raw_len, rep, inm, &o);
  srv__trie_release(s, w->id); /* the hits pointed into the trie: rendered, now let go */
  if (o.status != 200 && o.status != 304) {
    if (o.status == 503) srv__reply_header(req, "Retry-After", "1", 0);
    srv__reply_error(r, o.status, o.body);
    return;
  }
  if (o.rendered && w->cache.slots) {
    /* Tagged with the rules actually used: if they changed after rv was read, the entry is
     * simply never found under rv. */
    srv__cache_put(&w->cache, rep, raw, raw_len, o.gen, o.rules_version, o.body, o.len);
    atomic_store_explicit(&w->m->cache_bytes, w->cache.bytes, memory_order_relaxed);
    atomic_store_explicit(&w->m->cache_entries, w->cache.entries, memory_order_relaxed);
  }
  search_send(r, o.status, o.block, o.body, o.len);
}
