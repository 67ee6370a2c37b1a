/*
 * Peers of a sharded node (SPEC §11): the peers file (which replicas serve which shard) and the
 * HTTP client a worker forwards requests with. The client is libevent's (evhttp): on each
 * worker's own event base, SRV_PEER_CONNS kept-alive connections per replica, a timeout per
 * attempt, and on a failure (refused, reset, timed out, 5xx) the next replica of the shard; a
 * replica that failed is tried last for SRV_PEER_PENALTY_MS. Nothing here blocks: host names are
 * resolved once, when the file is read at start.
 */
#include "srv_int.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- The peers file ---------------------------------------------------------------------- */

void srv__peers_free(srv_peers_t *p) {
  if (p == NULL) return;
  for (unsigned s = 0; s < TRIE_MAX_SHARDS; s++) free(p->rep[s]);
  trie_shard_free(p->map);
  free(p);
}

/* HOST:PORT or [V6]:PORT, the host resolved now to a numeric address. */
static int parse_replica(const char *f, size_t len, srv_replica_t *r, ta_diag_t *diag) {
  char buf[300];
  if (len == 0 || len >= sizeof buf) return ta_diag_set(diag, TA_EPARSE, "bad HOST:PORT");
  memcpy(buf, f, len);
  buf[len] = '\0';
  snprintf(r->name, sizeof r->name, "%s", buf);
  char *colon = strrchr(buf, ':');
  char *host = buf;
  if (colon == NULL || colon == buf) return ta_diag_set(diag, TA_EPARSE, "'%s': no port", buf);
  *colon = '\0';
  if (host[0] == '[') {
    size_t hl = strlen(host);
    if (hl < 3 || host[hl - 1] != ']')
      return ta_diag_set(diag, TA_EPARSE, "'%s': bad [V6]", r->name);
    host[hl - 1] = '\0';
    host++;
  }
  unsigned port = 0;
  if (ta_parse_uint(colon + 1, 1, 65535, &port) != 0)
    return ta_diag_set(diag, TA_EPARSE, "'%s': the port must be 1..65535", r->name);
  struct addrinfo hints = {0}, *res = NULL;
  hints.ai_socktype = SOCK_STREAM;
  int e = getaddrinfo(host, NULL, &hints, &res);
  if (e != 0 || res == NULL)
    return ta_diag_set(diag, TA_ENOENT, "'%s': cannot resolve %s: %s", r->name, host,
                       gai_strerror(e));
  const void *a = res->ai_family == AF_INET6
                      ? (const void *)&((struct sockaddr_in6 *)res->ai_addr)->sin6_addr
                      : (const void *)&((struct sockaddr_in *)res->ai_addr)->sin_addr;
  const char *ok = inet_ntop(res->ai_family, a, r->addr, sizeof r->addr);
  freeaddrinfo(res);
  if (ok == NULL) return ta_diag_set(diag, TA_EINVAL, "'%s': unusable address", r->name);
  r->port = (uint16_t)port;
  /* The name as Host where a node's gate takes it; ::1:8081 (no brackets) or a zone
   * ([fe80::1%eth0]:8081) would be answered 400 on every forwarded request. */
  if (srv__host_valid(r->name, strlen(r->name)))
    snprintf(r->host, sizeof r->host, "%s", r->name);
  else if (strchr(r->addr, ':'))
    snprintf(r->host, sizeof r->host, "[%s]:%u", r->addr, port);
  else
    snprintf(r->host, sizeof r->host, "%s:%u", r->addr, port);
  return 0;
}

int srv__peers_parse(const char *text, size_t len, const char *name, unsigned n_shards,
                     unsigned own, srv_peers_t **out, ta_diag_t *diag) {
  *out = NULL;
  ta_diag_init(diag, name);
  srv_peers_t *p = calloc(1, sizeof *p);
  if (p == NULL) return ta_diag_set(diag, TA_ENOMEM, "out of memory");
  p->n_shards = n_shards;
  p->own = own;
  int rc = 0;
  uint64_t lineno = 0;
  size_t pos = 0;
  while (rc == 0 && pos < len) {
    const char *nl = memchr(text + pos, '\n', len - pos);
    size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
    const char *line = text + pos;
    pos += n + 1;
    ta_diag_at_line(diag, ++lineno);
    if (nl == NULL) { /* like a shard map's: a line cut short could name another port */
      rc = ta_diag_set(diag, TA_ETRUNC, "the last line has no newline (a cut file?)");
      break;
    }
    if (n && line[n - 1] == '\r') n--;
    if (n == 0 || line[0] == '#') continue;
    const char *tab = memchr(line, '\t', n);
    char num[16];
    unsigned shard = 0;
    size_t nl_len = tab ? (size_t)(tab - line) : 0;
    if (tab == NULL || nl_len == 0 || nl_len >= sizeof num) {
      rc = ta_diag_set(diag, TA_EPARSE, "expected 'SHARD<TAB>HOST:PORT[,HOST:PORT...]'");
      break;
    }
    memcpy(num, line, nl_len);
    num[nl_len] = '\0';
    if (ta_parse_uint(num, 0, n_shards - 1, &shard) != 0) {
      rc = ta_diag_set(diag, TA_ERANGE, "shard '%s' is not in 0..%u (the shard map's)", num,
                       n_shards - 1);
      break;
    }
    if (p->n_rep[shard]) {
      rc = ta_diag_set(diag, TA_EPARSE, "shard %u is listed twice", shard);
      break;
    }
    const char *f = tab + 1, *end = line + n;
    p->rep[shard] = calloc(SRV_MAX_REPLICAS, sizeof *p->rep[shard]);
    if (p->rep[shard] == NULL) {
      rc = ta_diag_set(diag, TA_ENOMEM, "out of memory");
      break;
    }
    while (rc == 0 && f <= end) {
      const char *comma = memchr(f, ',', (size_t)(end - f));
      const char *fe = comma ? comma : end;
      if (p->n_rep[shard] == SRV_MAX_REPLICAS)
        rc = ta_diag_set(diag, TA_ERANGE, "more than %u replicas of shard %u", SRV_MAX_REPLICAS,
                         shard);
      else
        rc = parse_replica(f, (size_t)(fe - f), &p->rep[shard][p->n_rep[shard]++], diag);
      f = fe + 1;
    }
  }
  for (unsigned s = 0; rc == 0 && s < n_shards; s++)
    if (s != own && p->n_rep[s] == 0) {
      ta_diag_at_line(diag, 0);
      rc = ta_diag_set(diag, TA_ENOENT,
                       "no replica of shard %u: its prefixes could not be answered", s);
    }
  if (rc) {
    srv__peers_free(p);
    return rc;
  }
  *out = p;
  return 0;
}

/* ---- The client ----------------------------------------------------------------------------- */

struct srv_peer_call {
  srv_worker_t *w;
  unsigned shard, tries, rep, conn;
  uint64_t t0;
  srv_peer_cb cb; /* NULL once cancelled */
  void *arg;
  char *uri;
  struct evhttp_request *req; /* of the attempt in flight */
  struct event *deadline;     /* ends the attempt at peer_timeout_ms, however the peer trickles */
  char accept[64];
  char inm[128];                /* If-None-Match passed on ("" none) */
  char part[16];                /* SRV_PART_HEADER's value ("" none) */
  srv_peer_call_t *prev, *next; /* the worker's calls in flight */
};

typedef struct {
  struct evhttp_connection *conn[SRV_PEER_CONNS];
  unsigned pending[SRV_PEER_CONNS];
  uint64_t penalty_until; /* ta_mono_ns(): tried last until then */
} wreplica_t;

struct srv_wpeers {
  wreplica_t *rep[TRIE_MAX_SHARDS];
  unsigned next[TRIE_MAX_SHARDS]; /* round robin over a shard's replicas */
  srv_peer_call_t *calls;
};

int srv__peer_init(srv_worker_t *w) {
  const srv_peers_t *p = w->srv->peers;
  if (p == NULL) return 0;
  w->peers = calloc(1, sizeof *w->peers);
  if (w->peers == NULL) return TA_ENOMEM;
  for (unsigned s = 0; s < p->n_shards; s++) {
    if (p->n_rep[s] == 0) continue;
    w->peers->rep[s] = calloc(p->n_rep[s], sizeof *w->peers->rep[s]);
    if (w->peers->rep[s] == NULL) return TA_ENOMEM;
    w->peers->next[s] = w->id % p->n_rep[s]; /* workers start on different replicas */
  }
  return 0;
}

static void call_unlink(srv_wpeers_t *wp, srv_peer_call_t *c) {
  if (c->prev)
    c->prev->next = c->next;
  else
    wp->calls = c->next;
  if (c->next) c->next->prev = c->prev;
}

static void call_free(srv_peer_call_t *c) {
  if (c->deadline) event_free(c->deadline);
  free(c->uri);
  free(c);
}

void srv__peer_fini(srv_worker_t *w) {
  srv_wpeers_t *wp = w->peers;
  const srv_peers_t *p = w->srv->peers;
  if (wp == NULL) return;
  /* Freeing a connection frees its requests without their callbacks: the calls go here. */
  for (unsigned s = 0; p && s < p->n_shards; s++)
    for (unsigned r = 0; wp->rep[s] && r < p->n_rep[s]; r++)
      for (unsigned i = 0; i < SRV_PEER_CONNS; i++)
        if (wp->rep[s][r].conn[i]) evhttp_connection_free(wp->rep[s][r].conn[i]);
  while (wp->calls) {
    srv_peer_call_t *c = wp->calls;
    call_unlink(wp, c);
    call_free(c);
  }
  for (unsigned s = 0; s < TRIE_MAX_SHARDS; s++) free(wp->rep[s]);
  free(wp);
  w->peers = NULL;
}

static int call_send(srv_peer_call_t *c);

/* One attempt is over: the answer, or the next replica, or the failure. */
static void call_done(struct evhttp_request *req, void *arg) {
  srv_peer_call_t *c = arg;
  srv_worker_t *w = c->w;
  srv_wpeers_t *wp = w->peers;
  srv_peers_t *p = w->srv->peers;
  wreplica_t *rep = &wp->rep[c->shard][c->rep];
  if (rep->pending[c->conn]) rep->pending[c->conn]--;
  c->req = NULL;
  evtimer_del(c->deadline);
  int status = req ? evhttp_request_get_response_code(req) : 0;
  /* A node answers 200, 304 (to an If-None-Match), 4xx or 5xx: any other status is garbage,
   * as bad as no answer. So are a 421 (the replica serves another shard: a wrong peers file)
   * and a 5xx, but the last replica's is passed on. */
  if (status != 200 && !(status == 304 && c->inm[0]) && !(status >= 400 && status < 600))
    status = 0;
  /* Bytes read after the answer: libevent sends a connection's next request only once the
   * answer is whole, so no node's answer leaves any, and libevent would read them as the answer
   * to that next request (another prefix's, relayed and kept). Garbage: they go, the attempt
   * fails. */
  struct bufferevent *bev =
      req && rep->conn[c->conn] ? evhttp_connection_get_bufferevent(rep->conn[c->conn]) : NULL;
  size_t extra = bev ? evbuffer_get_length(bufferevent_get_input(bev)) : 0;
  if (extra) {
    evbuffer_drain(bufferevent_get_input(bev), extra);
    status = 0;
  }
  int answered = status && status < 500 && status != 421;
  if (!answered) {
    rep->penalty_until = ta_mono_ns() + (uint64_t)SRV_PEER_PENALTY_MS * 1000000u;
    srv__metrics_bump(&w->m->peer_failures, 1);
    if (c->cb && ++c->tries < p->n_rep[c->shard] && call_send(c) == 0) return;
  }
  call_unlink(wp, c);
  atomic_store_explicit(answered ? &p->ok_at[c->shard] : &p->failed_at[c->shard], ta_unix_s(),
                        memory_order_relaxed);
  atomic_store_explicit(&p->last_outcome[c->shard], answered ? 1 : 2, memory_order_relaxed);
  if (c->cb) {
    const char *body = "", *etag = NULL, *ctype = NULL;
    size_t len = 0;
    if (req && status) {
      struct evbuffer *in = evhttp_request_get_input_buffer(req);
      len = evbuffer_get_length(in);
      body = len ? (const char *)evbuffer_pullup(in, (ev_ssize_t)len) : "";
      if (body == NULL) body = "", len = 0, status = 0;
      struct evkeyvalq *h = evhttp_request_get_input_headers(req);
      etag = evhttp_find_header(h, "ETag");
      ctype = evhttp_find_header(h, "Content-Type");
    }
    srv__metrics_bump(&w->m->peer_ns, ta_mono_ns() - c->t0);
    c->cb(c->arg, status, body, len, etag, ctype);
  }
  call_free(c);
}

/* The attempt's deadline: libevent's timeout is per read, so a peer that trickles its answer
 * would hold the request for as long as it likes. Cancelling calls no callback: the attempt
 * fails here (the next replica, or the failure). */
static void call_deadline(evutil_socket_t fd, short what, void *arg) {
  (void)fd, (void)what;
  srv_peer_call_t *c = arg;
  if (c->req) evhttp_cancel_request(c->req);
  call_done(NULL, c);
}

/* The replica to try: round robin, those in their penalty time last. */
static unsigned pick_replica(srv_wpeers_t *wp, const srv_peers_t *p, unsigned shard) {
  unsigned n = p->n_rep[shard], start = wp->next[shard]++ % n;
  uint64_t now = ta_mono_ns();
  for (unsigned i = 0; i < n; i++) {
    unsigned r = (start + i) % n;
    if (wp->rep[shard][r].penalty_until <= now) return r;
  }
  return start;
}

static int call_send(srv_peer_call_t *c) {
  srv_worker_t *w = c->w;
  srv_wpeers_t *wp = w->peers;
  const srv_peers_t *p = w->srv->peers;
  c->rep = c->tries == 0 ? pick_replica(wp, p, c->shard) : (c->rep + 1) % p->n_rep[c->shard];
  wreplica_t *rep = &wp->rep[c->shard][c->rep];
  const srv_replica_t *where = &p->rep[c->shard][c->rep];
  unsigned best = 0;
  for (unsigned i = 1; i < SRV_PEER_CONNS; i++)
    if (rep->pending[i] < rep->pending[best]) best = i;
  c->conn = best;
  struct timeval tv = srv__timeval_ms(p->timeout_ms);
  if (rep->conn[best] == NULL) {
    rep->conn[best] = evhttp_connection_base_new(w->base, NULL, where->addr, where->port);
    if (rep->conn[best] == NULL) return TA_ENOMEM;
    evhttp_connection_set_timeout_tv(rep->conn[best], &tv);
    evhttp_connection_set_retries(rep->conn[best], 0);
    evhttp_connection_set_max_body_size(rep->conn[best], SRV_PEER_MAX_BODY);
    evhttp_connection_set_max_headers_size(rep->conn[best], SRV_MAX_HEAD);
  }
  struct evhttp_request *req = evhttp_request_new(call_done, c);
  if (req == NULL) return TA_ENOMEM;
  struct evkeyvalq *h = evhttp_request_get_output_headers(req);
  evhttp_add_header(h, "Host", where->host);
  char shard[16]; /* the shard asked for: a node of another shard answers 421 */
  snprintf(shard, sizeof shard, "%u", c->shard);
  evhttp_add_header(h, SRV_FORWARDED_HEADER, shard);
  evhttp_add_header(h, SRV_MAP_HEADER, w->srv->peers->map_id);
  if (c->accept[0]) evhttp_add_header(h, "Accept", c->accept);
  if (c->inm[0]) evhttp_add_header(h, "If-None-Match", c->inm);
  if (c->part[0]) evhttp_add_header(h, SRV_PART_HEADER, c->part);
  if (evhttp_make_request(rep->conn[best], req, EVHTTP_REQ_GET, c->uri) != 0)
    return TA_EIO; /* libevent freed req */
  rep->pending[best]++;
  c->req = req;
  evtimer_add(c->deadline, &tv);
  return 0;
}

int srv__peer_get(srv_worker_t *w, unsigned shard, const char *uri, const char *accept,
                  const char *inm, const char *part, srv_peer_cb cb, void *arg,
                  srv_peer_call_t **out) {
  const srv_peers_t *p = w->srv->peers;
  *out = NULL;
  if (p == NULL || w->peers == NULL || shard >= p->n_shards || p->n_rep[shard] == 0)
    return TA_EINVAL;
  srv_peer_call_t *c = calloc(1, sizeof *c);
  if (c == NULL || (c->uri = strdup(uri)) == NULL ||
      (c->deadline = evtimer_new(w->base, call_deadline, c)) == NULL) {
    if (c) call_free(c);
    return TA_ENOMEM;
  }
  c->w = w;
  c->shard = shard;
  c->cb = cb;
  c->arg = arg;
  c->t0 = ta_mono_ns();
  if (accept) snprintf(c->accept, sizeof c->accept, "%s", accept);
  if (inm && strlen(inm) < sizeof c->inm) snprintf(c->inm, sizeof c->inm, "%s", inm);
  if (part) snprintf(c->part, sizeof c->part, "%s", part);
  int rc = call_send(c);
  while (rc == TA_EIO && ++c->tries < p->n_rep[shard]) rc = call_send(c);
  if (rc) {
    call_free(c);
    return rc;
  }
  srv_wpeers_t *wp = w->peers;
  c->next = wp->calls;
  if (wp->calls) wp->calls->prev = c;
  wp->calls = c;
  srv__metrics_bump(&w->m->forwarded, 1);
  *out = c;
  return 0;
}

void srv__peer_cancel(srv_peer_call_t *c) {
  if (c) c->cb = NULL; /* the attempt in flight ends in call_done, which frees it */
}
