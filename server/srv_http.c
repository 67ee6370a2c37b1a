/*
 * The HTTP side of typeahead-serve (SPEC §8) on libevhtp 1.2.18: workers, routes, handlers, and
 * the workarounds for the library's measured quirks (DEVELOPERS.md), each covered by
 * tests/server/test_http.py:
 *
 *   - Callbacks match by path prefix (/searchx would hit /search): we register one generic
 *     callback and route on the exact path ourselves.
 *   - '+' is not decoded and evhtp_unescape_string writes no NUL: we parse the raw query
 *     string ourselves (srv_query.c).
 *   - HEAD replies carry a body: for HEAD we set Content-Length and add no body.
 *   - evhtp_request_set_keepalive(req, 0) does nothing (it only ever sets the flag): a reply
 *     that must close its connection clears the request's keep-alive flag itself
 *     (close_after_reply).
 *   - Pipelined requests stall: the parser stops after one message and nothing makes it look at
 *     the bytes left in the input buffer until more arrive. Each connection's bufferevent
 *     callbacks are wrapped (conn_read/conn_write): the bytes after the current request's
 *     header block are held aside while the parser runs, put back afterwards, and once the
 *     reply is flushed a deferred read callback makes the parser go on with them.
 *   - A request line (or header) of 8 KB or more is dropped unanswered, after an uninitialised
 *     read: the same wrapper gates every request before the parser sees a byte of it. It waits
 *     for the whole header block, answers 414 (request line over SRV_MAX_LINE) or 431 (a header
 *     line over SRV_MAX_LINE or the block over SRV_MAX_HEAD) itself and closes cleanly; 400 for
 *     a request line the parser would drop unanswered.
 *
 * Threads: each worker has its own event_base, evhtp_t and SO_REUSEPORT socket on the same
 * port, so workers share nothing but the trie mapping (srv_state.c). A connection goes to the
 * worker of the CPU its SYN came in on, under a balance guard ("Placing connections" below).
 * Shutdown (SIGTERM/SIGINT): every worker closes its listener, closes idle
 * connections, answers the requests in flight with "Connection: close", and exits its loop when
 * its last connection is gone (or after SRV_DRAIN_SECONDS).
 */
#include "srv_int.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_struct.h> /* ev_read, ev_write: conn_socket_read, conn_write_now */
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <evhtp/evhtp.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define SRV_DRAIN_SECONDS 5
#define SRV_IDLE_SECONDS 60     /* read/write timeout of a connection */
#define SRV_LINGER_SECONDS 2    /* after a gate reply: wait this long for the client's EOF */
#define SRV_MAX_BODY (1u << 20) /* request bodies (PUT /admin/filters) */
#define SRV_PLACE_NORMAL (-1)   /* srv_t.place: by CPU */
#define SRV_READ_CHUNK 16384    /* bytes read from a socket at once (libevent's default) */

/* The demo page, embedded at build time (srv.cmake). */
extern const unsigned char srv_demo_html[];
extern const size_t srv_demo_html_len;

typedef struct srv_conn srv_conn_t;

struct srv_worker {
  srv_t *srv;
  unsigned id;
  pthread_t thread;
  int started;
  struct event_base *base;
  evhtp_t *htp;
  struct event *stop_ev, *deadline_ev;
  int draining;
  srv_conn_t *conns; /* open connections (for draining) */
  size_t n_conns;
  size_t n_leaving;         /* of those, told to go by the balance guard, not gone yet */
  struct evbuffer *scratch; /* holds a request's head while its tail is set aside */
  srv_buf_t out;            /* response body, reused */
  srv_buf_t wire;           /* a whole /search reply (search_send_200), reused */
  srv_cache_t cache;        /* /search answers (srv_cache.c) */
  struct search_hdrs *hdrs; /* /search header blocks, made again on a swap */
  srv_wmetrics_t *m;
};

struct srv_conn {
  srv_worker_t *w;
  evhtp_connection_t *conn;
  struct bufferevent *bev;
  bufferevent_data_cb orig_read, orig_write;
  bufferevent_event_cb orig_event;
  struct evbuffer *held; /* pipelined bytes kept from the parser while it runs */
  int at_start;          /* the next input byte starts a request */
  int closing;           /* 1: gate reply queued; 2: write side shut, awaiting EOF */
  int in_cb, dead;
  int leaving; /* the balance guard closes it after this reply */
  srv_conn_t *prev, *next;
};

/* ---- Connections: the gate and the pipelining fix ---------------------------------------- */

static void conn_read(struct bufferevent *bev, void *arg);
static void conn_write(struct bufferevent *bev, void *arg);
static void conn_event(struct bufferevent *bev, short what, void *arg);
static void conn_write_now(srv_conn_t *c);
static void place_update(srv_worker_t *w);
static int place_unload(srv_worker_t *w, evutil_socket_t fd, uint64_t now);
static void conn_socket_read(evutil_socket_t fd, short what, void *arg);

/* Worker w's connection count changed: publishes it (/metrics, the balance guard) and lets the
 * guard look. */
static void conns_changed(srv_worker_t *w) {
  atomic_store_explicit(&w->m->connections, w->n_conns, memory_order_relaxed);
  place_update(w);
}

static void conn_unlink(srv_conn_t *c) {
  srv_worker_t *w = c->w;
  if (c->prev)
    c->prev->next = c->next;
  else
    w->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  c->prev = c->next = NULL;
  w->n_conns--;
  if (c->leaving) w->n_leaving--;
  conns_changed(w);
}

static void conn_destroy(srv_conn_t *c) {
  if (c->held) evbuffer_free(c->held);
  free(c);
}

static evhtp_res conn_fini(evhtp_connection_t *conn, void *arg) {
  (void)conn;
  srv_conn_t *c = arg;
  srv_worker_t *w = c->w;
  conn_unlink(c);
  c->conn = NULL;
  if (c->in_cb)
    c->dead = 1;
  else
    conn_destroy(c);
  if (w->draining && w->n_conns == 0) event_base_loopexit(w->base, NULL);
  return EVHTP_RES_OK;
}

static srv_conn_t *conn_of(evhtp_connection_t *conn) {
  bufferevent_data_cb rcb = NULL;
  void *arg = NULL;
  if (conn == NULL || conn->bev == NULL) return NULL;
  bufferevent_getcb(conn->bev, &rcb, NULL, NULL, &arg);
  return rcb == conn_read ? arg : NULL;
}

static evhtp_res conn_accepted(evhtp_connection_t *conn, void *arg) {
  srv_worker_t *w = arg;
  if (w->draining) return EVHTP_RES_ERROR;
  srv_conn_t *c = calloc(1, sizeof *c);
  if (c == NULL) return EVHTP_RES_ERROR;
  c->held = evbuffer_new();
  if (c->held == NULL) {
    free(c);
    return EVHTP_RES_ERROR;
  }
  c->w = w;
  c->conn = conn;
  c->bev = conn->bev;
  c->at_start = 1;
  void *orig_arg = NULL;
  bufferevent_getcb(c->bev, &c->orig_read, &c->orig_write, &c->orig_event, &orig_arg);
  if (orig_arg != conn ||
      evhtp_connection_set_hook(conn, evhtp_hook_on_connection_fini,
                                (evhtp_hook)(void (*)(void))conn_fini, c) != 0) {
    conn_destroy(c);
    return EVHTP_RES_ERROR;
  }
  bufferevent_setcb(c->bev, conn_read, conn_write, conn_event, c);
  /* The socket is read by conn_socket_read from now on: the same event (fd, flags, timeout),
   * another callback. libevhtp has enabled reading already; re-enabling adds it again. (A
   * plain socket bufferevent: the server has no TLS, which would need libevent's own read.) */
  evutil_socket_t fd = bufferevent_getfd(c->bev);
  bufferevent_disable(c->bev, EV_READ);
  event_assign(&c->bev->ev_read, w->base, fd, EV_READ | EV_PERSIST | EV_FINALIZE, conn_socket_read,
               c->bev);
  bufferevent_enable(c->bev, EV_READ);
  c->next = w->conns;
  if (w->conns) w->conns->prev = c;
  w->conns = c;
  w->n_conns++;
  conns_changed(w);
  return EVHTP_RES_OK;
}

/* What libevent's bufferevent_readcb does for a socket, less its ioctl(FIONREAD): libevent
 * 2.1's evbuffer_read asks the kernel how much is readable before every read, one system call
 * in three per request (a request fits in one read). Here: one recv, added to the input buffer
 * (frozen at its end except while its owner reads), then the callbacks as
 * libevent would run them: the read callback (conn_read), or the event callback on EOF, error
 * or the idle timeout, with reading disabled. No watermark or rate limit is set on these
 * bufferevents (libevent would not schedule this event while one holds reading back). */
static void conn_socket_read(evutil_socket_t fd, short what, void *arg) {
  struct bufferevent *bev = arg;
  bufferevent_data_cb read_cb = NULL;
  bufferevent_event_cb event_cb = NULL;
  void *cb_arg = NULL;
  bufferevent_incref(bev); /* as libevent does: a callback may free it */
  bufferevent_getcb(bev, &read_cb, NULL, &event_cb, &cb_arg);
  short why = BEV_EVENT_READING;
  if (what == EV_TIMEOUT) {
    why |= BEV_EVENT_TIMEOUT;
  } else {
    /* Into a buffer of the thread, then copied: reserving SRV_READ_CHUNK in the evbuffer
     * would allocate (and free) a 16 KB chain per request, which costs more (callgrind) than
     * copying the few hundred bytes a request has into a chain of their size. */
    static _Thread_local char chunk[SRV_READ_CHUNK];
    struct evbuffer *in = bufferevent_get_input(bev);
    ssize_t n = recv(fd, chunk, sizeof chunk, 0);
    int err = errno;
    if (n > 0) {
      evbuffer_unfreeze(in, 0);
      int rc = evbuffer_add(in, chunk, (size_t)n);
      evbuffer_freeze(in, 0);
      if (rc != 0) {
        n = -1;
        err = ENOMEM;
      }
    }
    if (n > 0) {
      if (read_cb) read_cb(bev, cb_arg);
      bufferevent_decref(bev);
      return;
    }
    if (n < 0 && (err == EAGAIN || err == EWOULDBLOCK || err == EINTR)) {
      bufferevent_decref(bev);
      return;
    }
    why |= n == 0 ? BEV_EVENT_EOF : BEV_EVENT_ERROR;
  }
  bufferevent_disable(bev, EV_READ);
  if (event_cb) event_cb(bev, why, cb_arg);
  bufferevent_decref(bev);
}

/* The header block at the start of in, through srv__gate_scan(). */
static int gate_scan(struct evbuffer *in, size_t *head_len, int *has_body) {
  size_t avail = evbuffer_get_length(in);
  size_t n = avail < SRV_MAX_HEAD + 1 ? avail : SRV_MAX_HEAD + 1;
  const char *p = (const char *)evbuffer_pullup(in, (ev_ssize_t)n);
  if (p == NULL) return 0;
  return srv__gate_scan(p, n, head_len, has_body);
}

static void conn_reject(srv_conn_t *c, int status) {
  static const char body414[] = "{\"error\":\"request line longer than 8000 bytes\"}";
  static const char body431[] = "{\"error\":\"request header fields too large\"}";
  static const char body400[] = "{\"error\":\"malformed request line\"}";
  const char *body = status == 414 ? body414 : status == 431 ? body431 : body400;
  const char *reason = status == 414   ? "URI Too Long"
                       : status == 431 ? "Request Header Fields Too Large"
                                       : "Bad Request";
  size_t body_len = strlen(body);
  char head[256];
  int n = snprintf(head, sizeof head,
                   "HTTP/1.1 %d %s\r\nContent-Type: application/json; charset=utf-8\r\n"
                   "Content-Length: %zu\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
                   status, reason, body_len);
  c->closing = 1;
  struct evbuffer *in = bufferevent_get_input(c->bev);
  evbuffer_drain(in, evbuffer_get_length(in));
  bufferevent_write(c->bev, head, (size_t)n);
  bufferevent_write(c->bev, body, body_len);
  bufferevent_enable(c->bev, EV_WRITE);
  srv_wmetrics_t *m = c->w->m;
  atomic_store_explicit(&m->rejected_by_gate,
                        atomic_load_explicit(&m->rejected_by_gate, memory_order_relaxed) + 1,
                        memory_order_relaxed);
  srv__metrics_count(m, SRV_EP_OTHER, status, 0);
}

static void conn_read(struct bufferevent *bev, void *arg) {
  srv_conn_t *c = arg;
  struct evbuffer *in = bufferevent_get_input(bev);
  if (c->closing) {
    evbuffer_drain(in, evbuffer_get_length(in)); /* read and discard until the client closes */
    return;
  }
  if (evbuffer_get_length(in) == 0) return;
  if (c->at_start) {
    size_t head_len = 0;
    int has_body = 0;
    int st = gate_scan(in, &head_len, &has_body);
    if (st == 0) return; /* wait for the rest of the header block */
    if (st != 1) {
      conn_reject(c, st);
      return;
    }
    c->at_start = 0;
    if (!has_body && evbuffer_get_length(in) > head_len) {
      /* Keep the following requests from the parser; they go back after this one. (The input
       * buffer of a bufferevent only takes data at its front, hence the detour.) */
      evbuffer_add_buffer(c->held, in);
      evbuffer_remove_buffer(c->held, c->w->scratch, head_len);
      evbuffer_prepend_buffer(in, c->w->scratch);
    }
  }
  c->in_cb++;
  c->orig_read(bev, c->conn);
  c->in_cb--;
  if (c->dead) {
    conn_destroy(c);
    return;
  }
  if (evbuffer_get_length(c->held)) evbuffer_prepend_buffer(in, c->held);
  conn_write_now(c);
}

/* The reply is out: half-close, then drain the client's leftovers until its EOF (closing with
 * unread data would reset the connection and could destroy the reply before it is read). */
static void conn_linger(srv_conn_t *c) {
  c->closing = 2;
  shutdown(bufferevent_getfd(c->bev), SHUT_WR);
  struct timeval tv = {SRV_LINGER_SECONDS, 0};
  bufferevent_set_timeouts(c->bev, &tv, NULL);
  bufferevent_enable(c->bev, EV_READ);
}

static void conn_write(struct bufferevent *bev, void *arg) {
  srv_conn_t *c = arg;
  if (c->closing) {
    if (c->closing == 1 && evbuffer_get_length(bufferevent_get_output(bev)) == 0) conn_linger(c);
    return;
  }
  if (evbuffer_get_length(bufferevent_get_input(bev)) > 0 && c->at_start)
    bufferevent_trigger(bev, EV_READ, BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
  c->orig_write(bev, c->conn); /* libevhtp finishes the request there; c may be freed */
}

/* Called once the parser has returned: a reply queued by the handler goes to the socket now
 * instead of one loop iteration later. libevent scheduled its write event when the reply was
 * queued; with the base's changelist (worker_init) that add is only recorded, and the delete
 * below cancels it before the next epoll_wait, so the common case costs no epoll_ctl at all.
 * The write callback then runs as libevent would have run it (conn_write: libevhtp finishes
 * the request, a pipelined request goes on). A partial write (or EAGAIN, or an error) leaves
 * the rest to the normal path: the write event stays scheduled. */
static void conn_write_now(srv_conn_t *c) {
  struct bufferevent *bev = c->bev;
  struct evbuffer *out = bufferevent_get_output(bev);
  size_t n = evbuffer_get_length(out);
  if (n == 0 || c->closing || !(bufferevent_get_enabled(bev) & EV_WRITE)) return;
  /* The output buffer of a socket bufferevent is frozen at its front except while libevent
   * writes it; do as bufferevent_writecb does. */
  evbuffer_unfreeze(out, 1);
  int sent = evbuffer_write(out, bufferevent_getfd(bev));
  evbuffer_freeze(out, 1);
  srv_wmetrics_t *m = c->w->m;
  int complete = sent > 0 && (size_t)sent == n;
  srv__metrics_bump(&m->write_now[complete ? 0 : 1], 1);
  if (!complete) return;
  event_del(&bev->ev_write);
  c->in_cb++;
  conn_write(bev, c);
  c->in_cb--;
  if (c->dead) conn_destroy(c);
}

static void conn_event(struct bufferevent *bev, short what, void *arg) {
  srv_conn_t *c = arg;
  if (c->closing) {
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
      evhtp_connection_free(c->conn);
    return;
  }
  c->orig_event(bev, what, c->conn);
}

/* ---- Replies ------------------------------------------------------------------------------ */

static void add_header(evhtp_request_t *req, const char *k, const char *v, int copy_v) {
  evhtp_headers_add_header(req->headers_out, evhtp_header_new(k, v, 0, (char)copy_v));
}

static void add_cors(srv_t *s, evhtp_request_t *req) {
  if (s->cors_origin) add_header(req, "Access-Control-Allow-Origin", s->cors_origin, 0);
}

typedef struct {
  srv_worker_t *w;
  evhtp_request_t *req;
  int ep;
  int status;
  size_t body_len;
  uint64_t t0;
} reply_t;

/* The reply to req says "Connection: close" (HTTP/1.1; HTTP/1.0: no keep-alive), and libevhtp's
 * write callback closes the connection once it is out. */
static void close_after_reply(evhtp_request_t *req) {
  req->flags &= ~EVHTP_REQ_FLAG_KEEPALIVE;
}

/* Sends body[0..n) (omitted for HEAD, with its Content-Length kept) and counts the request. */
static void reply_send(reply_t *r, int status, const char *ctype, const void *body, size_t n) {
  evhtp_request_t *req = r->req;
  if (r->w->draining) close_after_reply(req);
  if (ctype) add_header(req, "Content-Type", ctype, 0);
  if (req->method == htp_method_HEAD || status == 304 || status == 204) {
    if (status != 304 && status != 204) {
      char len[TA_U64_CAP];
      ta_fmt_u64(n, len);
      add_header(req, "Content-Length", len, 1);
    }
  } else if (n) {
    evbuffer_add(req->buffer_out, body, n);
  }
  r->status = status;
  r->body_len = n;
  evhtp_send_reply(req, (evhtp_res)status);
}

static void reply_error(reply_t *r, int status, const char *msg) {
  srv_t *s = r->w->srv;
  srv_buf_t *b = &r->w->out;
  b->len = 0;
  int rc = srv__buf_put(b, "{\"error\":", 9);
  if (!rc) rc = srv__json_string(b, msg, strlen(msg));
  if (!rc) rc = srv__buf_put(b, "}", 1);
  add_header(r->req, "Cache-Control", "no-store", 0);
  add_cors(s, r->req);
  if (rc) b->len = 0;
  reply_send(r, status, "application/json; charset=utf-8", b->p, b->len);
}

/* ---- Handlers ----------------------------------------------------------------------------- */

/* ---- /search --------------------------------------------------------------------------- */

/* The headers of every /search answer for one (trie load, rules version), serialized once per
 * worker. libevhtp writes a header as "key: value\r\n" without looking into the value, so one
 * header whose value carries the others after "\r\n" puts them all on the wire with one
 * evhtp_header_new and one iovec walk instead of one each (about 2,500 instructions a request,
 * callgrind). The block is the value of Content-Type because libevhtp looks that name up (it
 * adds text/plain when absent); Content-Length is our own header (libevhtp then adds none), and
 * libevhtp still decides Connection (keep-alive, close, HTTP/1.0) as for any reply. The bytes
 * on the wire are those of separate headers. */
typedef struct search_hdrs {
  int valid;
  uint64_t trie_gen, rules_version;
  char etag[2][80];   /* [rep]: 0 JSON, 1 msgpack */
  srv_buf_t block[2]; /* [rep]: NUL-terminated Content-Type value and the rest */
} search_hdrs_t;

static const char *const search_ctype[2] = {"application/json; charset=utf-8",
                                            "application/msgpack"};

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

static int buf_puts(srv_buf_t *b, const char *str) {
  return srv__buf_put(b, str, strlen(str));
}

/* The worker's header blocks for trie t and rules version rv (made again when they change). */
static int search_hdrs_get(srv_worker_t *w, const srv_trie_t *t, uint64_t rv,
                           const search_hdrs_t **out) {
  search_hdrs_t *h = w->hdrs;
  *out = h;
  if (h->valid && h->trie_gen == t->gen && h->rules_version == rv) return 0;
  srv_t *s = w->srv;
  char fv[17];
  snprintf(fv, sizeof fv, "%016llx", (unsigned long long)rv); /* as srv__filter_version() */
  h->valid = 0;
  int rc = 0;
  for (int rep = 0; rep < 2; rep++) {
    search_etag(h->etag[rep], t->version, fv, rep ? 'm' : 'j');
    srv_buf_t *b = &h->block[rep];
    b->len = 0;
    if (!rc) rc = buf_puts(b, search_ctype[rep]);
    if (!rc) rc = buf_puts(b, "\r\nCache-Control: ");
    if (!rc) rc = buf_puts(b, s->cache_control);
    if (!rc) rc = buf_puts(b, "\r\nETag: ");
    if (!rc) rc = buf_puts(b, h->etag[rep]);
    if (!rc) rc = buf_puts(b, "\r\nVary: Accept");
    if (!rc && s->cors_origin) rc = buf_puts(b, "\r\nAccess-Control-Allow-Origin: ");
    if (!rc && s->cors_origin) rc = buf_puts(b, s->cors_origin);
    if (!rc) rc = srv__buf_put(b, "", 1); /* the NUL evhtp_header_new's strlen needs */
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
 * buffer work (about 4,000 instructions a request, callgrind, a fifth of the total). libevhtp
 * still owns the request: it is marked finished as evhtp_send_reply marks it, so libevhtp's
 * write callback ends it (keep-alive or close) once the bytes are out. Only HTTP/1.0 and 1.1,
 * the versions whose Connection rules are copied here; 0 when queued. */
static int search_send_200(reply_t *r, const char *block, const char *body, size_t n) {
  evhtp_request_t *req = r->req;
  int keepalive = (req->flags & EVHTP_REQ_FLAG_KEEPALIVE) != 0;
  const char *conn_hdr;
  if (req->proto == EVHTP_PROTO_11)
    conn_hdr = keepalive ? "" : "Connection: close\r\n";
  else if (req->proto == EVHTP_PROTO_10)
    conn_hdr = keepalive ? "Connection: keep-alive\r\n" : "";
  else
    return -1;
  char len[TA_U64_CAP];
  size_t len_n = ta_fmt_u64(n, len);
  srv_buf_t *b = &r->w->wire;
  b->len = 0;
  int rc = srv__buf_put(b,
                        req->proto == EVHTP_PROTO_11 ? "HTTP/1.1 200 OK\r\nContent-Type: "
                                                     : "HTTP/1.0 200 OK\r\nContent-Type: ",
                        31);
  if (!rc) rc = buf_puts(b, block);
  if (!rc) rc = srv__buf_put(b, "\r\nContent-Length: ", 18);
  if (!rc) rc = srv__buf_put(b, len, len_n);
  if (!rc) rc = srv__buf_put(b, "\r\n", 2);
  if (!rc) rc = buf_puts(b, conn_hdr);
  if (!rc) rc = srv__buf_put(b, "\r\n", 2);
  if (!rc && req->method != htp_method_HEAD) rc = srv__buf_put(b, body, n);
  if (rc || bufferevent_write(req->conn->bev, b->p, b->len) != 0) return -1;
  req->status = EVHTP_RES_OK;
  req->flags |= EVHTP_REQ_FLAG_FINISHED;
  return 0;
}

/* Sends a 200 (body[0..n), omitted for HEAD with its Content-Length kept) or a 304 with the
 * header block. The two headers borrow their values (the block, a stack buffer): they are
 * taken out again as soon as libevhtp has serialized the reply. */
static void search_send(reply_t *r, int status, const char *block, const char *body, size_t n) {
  evhtp_request_t *req = r->req;
  if (r->w->draining) close_after_reply(req);
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

static void search_fail(reply_t *r, int status, const char *msg) {
  if (status == 503) add_header(r->req, "Retry-After", "1", 0);
  reply_error(r, status, msg);
}

/* GET/HEAD /search: from the worker's answer cache when it holds the answer for this query
 * string, this representation, the trie in use and the rules in force; else parsed, looked up,
 * rendered and kept. Errors are never cached. */
static void handle_search(reply_t *r) {
  srv_worker_t *w = r->w;
  srv_t *s = w->srv;
  evhtp_request_t *req = r->req;
  const char *raw = req->uri && req->uri->query_raw ? (const char *)req->uri->query_raw : "";
  size_t raw_len = strlen(raw);
  const char *inm = evhtp_header_find(req->headers_in, "If-None-Match");
  int rep = srv__wants_msgpack(evhtp_header_find(req->headers_in, "Accept"));
  /* Read before the answer is computed: an ETag never names rules newer than its answer. */
  uint64_t rv = srv__filter_version_num(s);
  const srv_trie_t *t = srv__trie_acquire(s, w->id);
  if (t == NULL) {
    srv__trie_release(s, w->id);
    search_fail(r, 503, "no trie loaded");
    return;
  }
  uint64_t gen = t->gen;
  const search_hdrs_t *h = NULL;
  int rc = search_hdrs_get(w, t, rv, &h);
  if (rc) {
    srv__trie_release(s, w->id);
    search_fail(r, 500, ta_strerror(rc));
    return;
  }
  const char *block = h->block[rep].p;
  int cache_on = w->cache.slots != NULL;
  const srv_centry_t *e = srv__cache_find(&w->cache, rep, raw, raw_len, gen, rv);
  if (e) {
    srv__trie_release(s, w->id);
    srv__metrics_bump(&w->m->cache_lookups[0], 1);
    if (inm && srv__etag_match(inm, h->etag[rep])) {
      search_send(r, 304, block, NULL, 0);
      return;
    }
    const char *body;
    size_t n;
    srv__centry_body(e, &body, &n);
    search_send(r, 200, block, body, n);
    return;
  }
  if (cache_on) srv__metrics_bump(&w->m->cache_lookups[1], 1);

  srv_query_t q;
  rc = srv__query_parse(raw, raw_len, &q);
  if (rc) {
    srv__trie_release(s, w->id);
    search_fail(r, rc == TA_ETOOLONG ? 414 : 400, q.error);
    return;
  }
  unsigned tk = t->info.k;
  size_t k = q.has_k ? q.k : (SRV_DEFAULT_K < tk ? SRV_DEFAULT_K : tk);
  if (k < 1 || k > tk) {
    srv__trie_release(s, w->id);
    char msg[64];
    snprintf(msg, sizeof msg, "k must be a whole number from 1 to %u", tk);
    search_fail(r, 400, msg);
    return;
  }
  if (inm && srv__etag_match(inm, h->etag[rep])) {
    srv__trie_release(s, w->id);
    search_send(r, 304, block, NULL, 0);
    return;
  }

  char key[TA_MAX_KEY + 1];
  size_t key_len = 0;
  trie_hit_t hits[32];
  size_t n_hits = 0;
  uint64_t used_rv = 0;
  rc = trie_norm_key(q.q, q.q_len, key, sizeof key, &key_len);
  if (rc == 0) {
    rc = srv__answer(s, t, w->m, key, key_len, k < 32 ? k : 32, hits, &n_hits, &used_rv);
  } else if (rc == TA_ENOSPC) {
    rc = 0;       /* a key longer than any key a trie holds: nothing starts with it */
    used_rv = rv; /* no rule was asked: the answer is the same under any rules */
  }
  srv_buf_t *b = &w->out;
  b->len = 0;
  if (rc == 0)
    rc = rep ? srv__render_msgpack(b, q.q, q.q_len, hits, n_hits)
             : srv__render_json(b, q.q, q.q_len, hits, n_hits);
  srv__trie_release(s, w->id); /* the hits point into the mapping: rendered, now let go */
  if (rc) {
    srv__log("search: %s", ta_strerror(rc));
    search_fail(r, 500, ta_strerror(rc));
    return;
  }
  if (cache_on) {
    /* Tagged with the rules actually used: if they changed after rv was read, the entry is
     * simply never found under rv. */
    srv__cache_put(&w->cache, rep, raw, raw_len, gen, used_rv, b->p, b->len);
    atomic_store_explicit(&w->m->cache_bytes, w->cache.bytes, memory_order_relaxed);
    atomic_store_explicit(&w->m->cache_entries, w->cache.entries, memory_order_relaxed);
  }
  search_send(r, 200, block, b->p, b->len);
}

static int put_json_field(srv_buf_t *b, const char *name, const char *v, size_t n) {
  int rc = srv__buf_put(b, name, strlen(name));
  return rc ? rc : srv__json_string(b, v, n);
}

static void handle_healthz(reply_t *r) {
  srv_worker_t *w = r->w;
  srv_t *s = w->srv;
  srv_buf_t *b = &w->out;
  b->len = 0;
  const srv_trie_t *t = srv__trie_acquire(s, w->id);
  int rc = srv__buf_put(b,
                        t ? "{\"status\":\"ok\",\"trie\":"
                          : "{\"status\":\"no trie loaded\","
                            "\"trie\":null",
                        t ? 22 : 38);
  if (t && !rc) {
    char num[160];
    rc = put_json_field(b, "{\"version\":", t->version, strlen(t->version));
    if (!rc) rc = put_json_field(b, ",\"path\":", s->trie_path, strlen(s->trie_path));
    if (!rc) rc = put_json_field(b, ",\"source\":", t->info.source, t->info.source_len);
    int n = snprintf(num, sizeof num,
                     ",\"k\":%u,\"queries\":%llu,\"build_time\":%lld,\"loaded_at\":%lld}",
                     (unsigned)t->info.k, (unsigned long long)t->info.num_queries,
                     (long long)t->info.build_time, (long long)t->loaded_at);
    if (!rc) rc = srv__buf_put(b, num, (size_t)n);
  }
  srv__trie_release(s, w->id);
  const char *fv = srv__filter_version(s);
  if (!rc) rc = put_json_field(b, ",\"filters\":{\"version\":", fv, strlen(fv));
  if (!rc) rc = srv__buf_put(b, "}}", 2);
  if (rc) {
    reply_error(r, 500, ta_strerror(rc));
    return;
  }
  add_header(r->req, "Cache-Control", "no-store", 0);
  reply_send(r, t ? 200 : 503, "application/json; charset=utf-8", b->p, b->len);
}

static void handle_metrics(reply_t *r) {
  srv_worker_t *w = r->w;
  srv_buf_t *b = &w->out;
  b->len = 0;
  const srv_trie_t *t = srv__trie_acquire(w->srv, w->id);
  int rc = srv__metrics_render(w->srv, t, b);
  srv__trie_release(w->srv, w->id);
  if (rc) {
    reply_error(r, 500, ta_strerror(rc));
    return;
  }
  add_header(r->req, "Cache-Control", "no-store", 0);
  reply_send(r, 200, "text/plain; version=0.0.4; charset=utf-8", b->p, b->len);
}

static void handle_demo(reply_t *r) {
  add_header(r->req, "Cache-Control", "no-cache", 0);
  reply_send(r, 200, "text/html; charset=utf-8", srv_demo_html, srv_demo_html_len);
}

static void handle_reload(reply_t *r) {
  srv_worker_t *w = r->w;
  srv_t *s = w->srv;
  uint64_t ticket = srv__reload_request(s);
  int result = 0;
  /* Blocks this worker while the reload thread verifies the file (documented in docs/). */
  int rc = srv__reload_wait(s, ticket, &result);
  if (rc) {
    reply_error(r, 503, "reload did not finish in time");
    return;
  }
  if (result) {
    char msg[160];
    snprintf(msg, sizeof msg, "new trie refused: %s; the old trie keeps serving",
             ta_strerror(result));
    reply_error(r, 422, msg);
    return;
  }
  srv_buf_t *b = &w->out;
  b->len = 0;
  const srv_trie_t *t = srv__trie_acquire(s, w->id);
  rc = srv__buf_put(b, "{\"reloaded\":true,\"version\":", 27);
  if (!rc)
    rc = t ? srv__json_string(b, t->version, strlen(t->version)) : srv__buf_put(b, "null", 4);
  srv__trie_release(s, w->id);
  if (!rc) rc = srv__buf_put(b, "}", 1);
  add_header(r->req, "Cache-Control", "no-store", 0);
  reply_send(r, 200, "application/json; charset=utf-8", b->p, rc ? 0 : b->len);
}

/* GET /admin/filters: the rules file in force, as it was given (issue 5). */
static void handle_filters_get(reply_t *r) {
  srv_worker_t *w = r->w;
  char version[17] = "";
  int rc = srv__filters_get(w->srv, w->id, &w->out, version);
  if (rc) {
    reply_error(r, 500, ta_strerror(rc));
    return;
  }
  add_header(r->req, "Cache-Control", "no-store", 0);
  add_header(r->req, "X-Filters-Version", version, 1);
  reply_send(r, 200, "text/plain; charset=utf-8", w->out.p, w->out.len);
}

/* PUT /admin/filters: body = the whole rules file; 400 with the line number when invalid (the
 * rules in force stay), else written to --filters FILE and put in force (issue 5). */
static void handle_filters_put(reply_t *r) {
  srv_worker_t *w = r->w;
  struct evbuffer *in = r->req->buffer_in;
  size_t len = in ? evbuffer_get_length(in) : 0;
  const char *body = len ? (const char *)evbuffer_pullup(in, (ev_ssize_t)len) : "";
  if (body == NULL) {
    reply_error(r, 500, ta_strerror(TA_ENOMEM));
    return;
  }
  ta_diag_t err;
  flt_info_t info;
  int rc = srv__filters_put(w->srv, w->id, body, len, &err, &info);
  if (rc == TA_EPARSE || rc == TA_EUTF8 || rc == TA_ETOOLONG) {
    char msg[256];
    if (err.line)
      snprintf(msg, sizeof msg, "line %u: %s; the rules in force stay", (unsigned)err.line,
               err.msg);
    else
      snprintf(msg, sizeof msg, "%s; the rules in force stay", err.msg);
    reply_error(r, 400, msg);
    return;
  }
  if (rc == TA_ENOENT) {
    reply_error(r, 409, err.msg);
    return;
  }
  if (rc) {
    reply_error(r, 500, err.msg[0] ? err.msg : ta_strerror(rc));
    return;
  }
  srv_buf_t *b = &w->out;
  b->len = 0;
  char tail[200];
  int n = snprintf(
      tail, sizeof tail, ",\"rules\":{\"word\":%zu,\"phrase\":%zu,\"prefix\":%zu,\"exact\":%zu}}",
      info.rules[FLT_WORD], info.rules[FLT_PHRASE], info.rules[FLT_PREFIX], info.rules[FLT_EXACT]);
  rc = srv__buf_put(b, "{\"version\":", 11);
  if (!rc) rc = srv__json_string(b, info.version_hex, strlen(info.version_hex));
  if (!rc) rc = srv__buf_put(b, tail, (size_t)n);
  add_header(r->req, "Cache-Control", "no-store", 0);
  reply_send(r, 200, "application/json; charset=utf-8", b->p, rc ? 0 : b->len);
}

static int method_is(const evhtp_request_t *req, htp_method a, htp_method b) {
  return req->method == a || req->method == b;
}

static void reply_405(reply_t *r, const char *allow) {
  add_header(r->req, "Allow", allow, 0);
  reply_error(r, 405, "method not allowed");
}

/* Admin endpoints: 404 when no token file was given (they do not exist), 401 without the right
 * bearer token. */
static int admin_authorized(reply_t *r) {
  srv_t *s = r->w->srv;
  if (s->admin_token == NULL) {
    reply_error(r, 404, "not found");
    return 0;
  }
  const char *h = evhtp_header_find(r->req->headers_in, "Authorization");
  if (h && strncasecmp(h, "Bearer ", 7) == 0) {
    const char *tok = h + 7;
    while (*tok == ' ') tok++;
    size_t n = strlen(tok);
    while (n && (tok[n - 1] == ' ' || tok[n - 1] == '\t')) n--;
    if (srv__secret_equal(s->admin_token, s->admin_token_len, tok, n)) return 1;
  }
  add_header(r->req, "WWW-Authenticate", "Bearer realm=\"typeahead-admin\"", 0);
  reply_error(r, 401, "missing or wrong bearer token");
  return 0;
}

static void http_request(evhtp_request_t *req, void *arg) {
  srv_worker_t *w = arg;
  srv_t *s = w->srv;
  reply_t r = {w, req, SRV_EP_OTHER, 0, 0, ta_mono_ns()};
  srv_conn_t *c = conn_of(req->conn);
  if (c) c->at_start = 1; /* the parser has the whole request: next byte starts another */
  if (c && !c->leaving && (req->flags & EVHTP_REQ_FLAG_KEEPALIVE) &&
      place_unload(w, bufferevent_getfd(c->bev), r.t0)) {
    close_after_reply(req);
    c->leaving = 1;
    w->n_leaving++;
    srv__metrics_bump(&w->m->rebalanced, 1);
  }

  const char *path = req->uri && req->uri->path && req->uri->path->full ? req->uri->path->full : "";
  if (strcmp(path, "/search") == 0) {
    r.ep = SRV_EP_SEARCH;
    if (method_is(req, htp_method_GET, htp_method_HEAD)) {
      handle_search(&r);
    } else if (req->method == htp_method_OPTIONS) {
      /* CORS preflight (and plain OPTIONS): what may be asked, for a day. */
      add_header(req, "Allow", "GET, HEAD, OPTIONS", 0);
      if (s->cors_origin) {
        add_cors(s, req);
        add_header(req, "Access-Control-Allow-Methods", "GET, HEAD, OPTIONS", 0);
        add_header(req, "Access-Control-Allow-Headers", "Accept, If-None-Match", 0);
        add_header(req, "Access-Control-Expose-Headers", "ETag", 0);
        add_header(req, "Access-Control-Max-Age", "86400", 0);
      }
      reply_send(&r, 204, NULL, NULL, 0);
    } else {
      reply_405(&r, "GET, HEAD, OPTIONS");
    }
  } else if (strcmp(path, "/healthz") == 0 || strcmp(path, "/metrics") == 0 ||
             strcmp(path, "/") == 0) {
    r.ep = path[1] == 'h' ? SRV_EP_HEALTHZ : path[1] == 'm' ? SRV_EP_METRICS : SRV_EP_DEMO;
    if (!method_is(req, htp_method_GET, htp_method_HEAD))
      reply_405(&r, "GET, HEAD");
    else if (r.ep == SRV_EP_HEALTHZ)
      handle_healthz(&r);
    else if (r.ep == SRV_EP_METRICS)
      handle_metrics(&r);
    else
      handle_demo(&r);
  } else if (strncmp(path, "/admin/", 7) == 0) {
    r.ep = SRV_EP_ADMIN;
    if (admin_authorized(&r)) {
      if (strcmp(path, "/admin/filters") == 0) {
        if (method_is(req, htp_method_GET, htp_method_HEAD))
          handle_filters_get(&r);
        else if (req->method == htp_method_PUT)
          handle_filters_put(&r);
        else
          reply_405(&r, "GET, HEAD, PUT");
      } else if (strcmp(path, "/admin/reload") != 0) {
        reply_error(&r, 404, "not found");
      } else if (req->method != htp_method_POST) {
        reply_405(&r, "POST");
      } else {
        handle_reload(&r);
      }
    }
  } else {
    reply_error(&r, 404, "not found");
  }

  uint64_t ns = ta_mono_ns() - r.t0;
  srv__metrics_count(w->m, r.ep, r.status, ns);
  if (s->access_log)
    srv__log("%s %s%s%s %d %zu %.3fms", htparser_get_methodstr_m(req->method), path,
             req->uri && req->uri->query_raw ? "?" : "",
             req->uri && req->uri->query_raw ? (const char *)req->uri->query_raw : "", r.status,
             r.body_len, (double)ns / 1e6);
}

/* ---- Workers ------------------------------------------------------------------------------ */

static void worker_deadline(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  srv_worker_t *w = arg;
  while (w->conns) evhtp_connection_free(w->conns->conn);
  event_base_loopexit(w->base, NULL);
}

static void worker_stop(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  srv_worker_t *w = arg;
  w->draining = 1;
  evhtp_unbind_socket(w->htp); /* closes the listening socket */
  /* Idle keep-alive connections go now; the others after their reply (Connection: close). */
  srv_conn_t *c = w->conns;
  while (c) {
    srv_conn_t *next = c->next;
    if (c->at_start && evbuffer_get_length(bufferevent_get_output(c->bev)) == 0 &&
        evbuffer_get_length(bufferevent_get_input(c->bev)) == 0)
      evhtp_connection_free(c->conn);
    c = next;
  }
  if (w->n_conns == 0) {
    event_base_loopexit(w->base, NULL);
    return;
  }
  struct timeval tv = {SRV_DRAIN_SECONDS, 0};
  evtimer_add(w->deadline_ev, &tv);
}

static void *worker_main(void *arg) {
  srv_worker_t *w = arg;
  event_base_dispatch(w->base);
  return NULL;
}

static int worker_init(srv_t *s, srv_worker_t *w, unsigned id) {
  w->srv = s;
  w->id = id;
  w->m = &s->wmetrics[id];
  /* With the changelist, event_add and event_del on one fd within a loop iteration cancel out
   * instead of costing an epoll_ctl each (conn_write_now relies on it). Its one caveat, fds
   * cloned by dup(), does not apply: the server never dups a socket. */
  struct event_config *cfg = event_config_new();
  if (cfg == NULL) return TA_ENOMEM;
  event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
  w->base = event_base_new_with_config(cfg);
  event_config_free(cfg);
  if (w->base == NULL) return TA_ENOMEM;
  w->scratch = evbuffer_new();
  w->stop_ev = event_new(w->base, -1, 0, worker_stop, w);
  w->deadline_ev = evtimer_new(w->base, worker_deadline, w);
  w->htp = evhtp_new(w->base, NULL);
  w->hdrs = calloc(1, sizeof *w->hdrs);
  if (w->scratch == NULL || w->stop_ev == NULL || w->deadline_ev == NULL || w->htp == NULL ||
      w->hdrs == NULL)
    return TA_ENOMEM;
  int rc = srv__cache_init(&w->cache, s->answer_cache_bytes);
  if (rc) return rc;
  evhtp_set_gencb(w->htp, http_request, w);
  evhtp_set_post_accept_cb(w->htp, conn_accepted, w);
  struct timeval idle = {SRV_IDLE_SECONDS, 0};
  evhtp_set_timeouts(w->htp, &idle, &idle);
  evhtp_set_max_body_size(w->htp, SRV_MAX_BODY);
  /* The socket is bound and listening already (backlog 0: do not listen() again). */
  if (evhtp_accept_socket(w->htp, s->listen_fds[id], 0) != 0) return TA_ESYS;
  s->listen_fds[id] = -1; /* the listener owns (and closes) it now */
  return 0;
}

static void worker_fini(srv_worker_t *w) {
  while (w->conns) evhtp_connection_free(w->conns->conn);
  if (w->htp) {
    evhtp_unbind_socket(w->htp); /* evhtp_free() leaves the listener alone */
    evhtp_free(w->htp);
  }
  if (w->stop_ev) event_free(w->stop_ev);
  if (w->deadline_ev) event_free(w->deadline_ev);
  if (w->scratch) evbuffer_free(w->scratch);
  if (w->base) event_base_free(w->base);
  srv__buf_free(&w->out);
  srv__buf_free(&w->wire);
  srv__cache_free(&w->cache);
  if (w->hdrs) {
    srv__buf_free(&w->hdrs->block[0]);
    srv__buf_free(&w->hdrs->block[1]);
    free(w->hdrs);
  }
}

/* ---- Placing connections ------------------------------------------------------------------
 * A program on the SO_REUSEPORT group (classic BPF, SO_ATTACH_REUSEPORT_CBPF) sends each new
 * connection to the worker whose index is the CPU its SYN was handled on, modulo the workers,
 * instead of the kernel's hash of the addresses. A client thread's connections then share one
 * worker, and that worker and the thread wake each other on one CPU. With the hash every
 * worker served every client thread, and the scheduler moved it between CPUs about once per
 * 100 requests: under wrk -t2 -c64 on two shared CPUs, p99 was 3.6 ms (median of 3 rounds); it
 * is under 1 ms in the rounds where wrk's threads connected from different CPUs (docs/server.md,
 * BENCHMARKS.md). Over a NIC the SYN's CPU is the one its receive queue is steered to, so a
 * connection's packets and its worker stay on one CPU.
 *
 * Connections from one CPU all go to one worker, which would leave the others idle (a proxy on
 * one CPU, or client threads that all connected from the same CPU). So a balance guard watches
 * the workers' connection counts. Once the most loaded worker has held more than
 * max(2, total/8) connections above the least loaded for SRV_PLACE_PATIENCE_NS (a burst of
 * connects from several CPUs evens out before that), new connections all go to the least
 * loaded (a one-instruction program), and the most loaded answers requests with
 * "Connection: close", so that the client's next connection goes there too: first only
 * requests that came in on another CPU than its own (place_unload), then any. Both stop as
 * soon as the counts are back within the margin. With more workers than CPUs, or if the kernel
 * refuses the program, connections are placed by the kernel's hash, which spreads them, and
 * there is no guard. The program returns an index in the SO_REUSEPORT group, which holds our
 * workers' sockets in listen() order: another process listening on the same port (same user,
 * SO_REUSEPORT) would shift them, so the port must not be shared. */

#define SRV_PLACE_PATIENCE_NS 1000000000ull

/* Installs placement place (SRV_PLACE_NORMAL: by CPU, or a worker index) on the group of
 * socket fd. */
static int place_attach(srv_t *s, int fd, int place) {
  struct sock_filter by_cpu[] = {
      {BPF_LD | BPF_W | BPF_ABS, 0, 0, (uint32_t)(SKF_AD_OFF + SKF_AD_CPU)},
      {BPF_ALU | BPF_MOD | BPF_K, 0, 0, s->threads},
      {BPF_RET | BPF_A, 0, 0, 0},
  };
  struct sock_filter to_worker[] = {{BPF_RET | BPF_K, 0, 0, (uint32_t)place}};
  struct sock_fprog prog;
  memset(&prog, 0, sizeof prog); /* the padding after len goes to the kernel too */
  prog.len = 3;
  prog.filter = by_cpu;
  if (place >= 0) {
    prog.len = 1;
    prog.filter = to_worker;
  }
  return setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof prog);
}

/* 1 if the workers' connection counts are out of balance; then *most is the most loaded worker
 * and *least the least loaded. The count of worker self (NULL: none) leaves out the connections
 * the guard has told to go. */
static int place_imbalanced(const srv_t *s, const srv_worker_t *self, unsigned *most,
                            unsigned *least) {
  uint64_t total = 0, lo = UINT64_MAX, hi = 0;
  for (unsigned i = 0; i < s->threads; i++) {
    uint64_t n = atomic_load_explicit(&s->wmetrics[i].connections, memory_order_relaxed);
    if (self && i == self->id) n -= self->n_leaving;
    total += n;
    if (n < lo) lo = n, *least = i;
    if (n > hi) hi = n, *most = i;
  }
  uint64_t margin = total / 8 > 2 ? total / 8 : 2;
  return hi - lo > margin;
}

/* Sets the placement to want, if it is not that already. */
static void place_set(srv_worker_t *w, int want) {
  srv_t *s = w->srv;
  if (want == atomic_load(&s->place)) return;
  pthread_mutex_lock(&s->place_mu);
  if (want != atomic_load(&s->place) &&
      place_attach(s, evconnlistener_get_fd(w->htp->server), want) == 0)
    atomic_store(&s->place, want);
  pthread_mutex_unlock(&s->place_mu);
}

/* After worker w's count changed: starts or stops the clock of an imbalance, and turns the
 * guard off once the counts are back within the margin. */
static void place_update(srv_worker_t *w) {
  srv_t *s = w->srv;
  if (!s->place_by_cpu || w->draining) return;
  unsigned most = 0, least = 0;
  if (place_imbalanced(s, NULL, &most, &least)) {
    uint64_t none = 0;
    atomic_compare_exchange_strong(&s->unbalanced_since, &none, ta_mono_ns());
    return;
  }
  atomic_store(&s->unbalanced_since, 0);
  place_set(w, SRV_PLACE_NORMAL);
}

/* For each request on connection fd of worker w (now: its start): 1 if the guard is on and w
 * is the worker it unloads, so that the reply closes the connection. One relaxed load while
 * balanced. The guard first closes the connections whose packets come in on a CPU that is not
 * w's (SO_INCOMING_CPU: on loopback, the CPU the client thread sent from), so that a client
 * thread that has moved to another CPU takes its connections to the worker of that CPU; after
 * twice its patience, any connection. */
static int place_unload(srv_worker_t *w, evutil_socket_t fd, uint64_t now) {
  srv_t *s = w->srv;
  uint64_t since = atomic_load_explicit(&s->unbalanced_since, memory_order_relaxed);
  /* since can be later than now: another worker set it after this request began. */
  if (since == 0 || now < since || now - since < SRV_PLACE_PATIENCE_NS || w->draining) return 0;
  unsigned most = 0, least = 0;
  if (!place_imbalanced(s, NULL, &most, &least)) return 0;
  place_set(w, (int)least);
  /* Connections told to go in this loop pass are still counted: tell no more than the
   * imbalance needs. */
  if (!place_imbalanced(s, w, &most, &least) || most != w->id) return 0;
  if (now - since >= 2 * SRV_PLACE_PATIENCE_NS) return 1;
  int cpu = -1;
  socklen_t len = sizeof cpu;
  return getsockopt(fd, SOL_SOCKET, SO_INCOMING_CPU, &cpu, &len) == 0 && cpu >= 0 &&
         (unsigned)cpu % s->threads != w->id;
}

/* Once the group is complete: the CPU program if there are no more workers than CPUs. */
static void place_start(srv_t *s) {
  if (s->threads < 2) return;
  cpu_set_t cpus;
  s->place_by_cpu =
      sched_getaffinity(0, sizeof cpus, &cpus) == 0 && (unsigned)CPU_COUNT(&cpus) >= s->threads;
  if (s->place_by_cpu && place_attach(s, s->listen_fds[0], SRV_PLACE_NORMAL) != 0) {
    srv__log("SO_ATTACH_REUSEPORT_CBPF: %s; connections are placed by the kernel's hash",
             strerror(errno));
    s->place_by_cpu = 0;
  }
}

/* ---- Listening sockets -------------------------------------------------------------------- */

static int listen_split(const char *spec, char *host, size_t host_cap, char *port,
                        size_t port_cap) {
  const char *colon;
  const char *h = spec;
  size_t hn;
  if (spec[0] == '[') {
    const char *close = strchr(spec, ']');
    if (close == NULL || close[1] != ':') return TA_EINVAL;
    h = spec + 1;
    hn = (size_t)(close - h);
    colon = close + 1;
  } else {
    colon = strrchr(spec, ':');
    if (colon == NULL) return TA_EINVAL;
    hn = (size_t)(colon - spec);
  }
  size_t pn = strlen(colon + 1);
  if (hn == 0 || hn >= host_cap || pn == 0 || pn >= port_cap) return TA_EINVAL;
  memcpy(host, h, hn);
  host[hn] = '\0';
  memcpy(port, colon + 1, pn + 1);
  for (size_t i = 0; i < pn; i++)
    if (port[i] < '0' || port[i] > '9') return TA_EINVAL;
  return atoi(port) <= 65535 ? 0 : TA_EINVAL;
}

static int listen_open(srv_t *s, const char *spec) {
  char host[256], port[8];
  if (listen_split(spec, host, sizeof host, port, sizeof port) != 0) {
    srv__log("--spec %s: expected HOST:PORT (IPv6 as [ADDR]:PORT)", spec);
    return TA_EINVAL;
  }
  struct addrinfo hints = {0}, *ai = NULL;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  int gai = getaddrinfo(host, port, &hints, &ai);
  if (gai != 0) {
    srv__log("--spec %s: %s", spec, gai_strerror(gai));
    return TA_EINVAL;
  }
  struct sockaddr_storage addr;
  socklen_t addr_len = (socklen_t)ai->ai_addrlen;
  memcpy(&addr, ai->ai_addr, ai->ai_addrlen);
  snprintf(s->listen_host, sizeof s->listen_host, ai->ai_family == AF_INET6 ? "[%s]" : "%s", host);
  int family = ai->ai_family;
  freeaddrinfo(ai);

  for (unsigned i = 0; i < s->threads; i++) {
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int on = 1;
    if (fd < 0) return ta_error_from_errno(errno);
    s->listen_fds[i] = fd;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on); /* inherited by accepted ones */
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0 ||
        bind(fd, (struct sockaddr *)&addr, addr_len) != 0 || listen(fd, 1024) != 0) {
      int e = errno;
      srv__log("--spec %s: %s", spec, strerror(e));
      return ta_error_from_errno(e);
    }
    if (i == 0) {
      /* Port 0: the others must join the port the first one got. */
      getsockname(fd, (struct sockaddr *)&addr, &addr_len);
      s->port = ntohs(family == AF_INET6 ? ((struct sockaddr_in6 *)&addr)->sin6_port
                                         : ((struct sockaddr_in *)&addr)->sin_port);
    }
  }
  place_start(s);
  return 0;
}

/* ---- Server life cycle -------------------------------------------------------------------- */

/* Workers are woken from other threads (event_active on stop_ev): libevent needs its locks. */
static void srv_evthread_init(void) {
  evthread_use_pthreads();
}

static char *dup_or_null(const char *s) {
  return s ? strdup(s) : NULL;
}

static int read_token(srv_t *s, const char *path) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    int e = errno;
    srv__log("--admin-token-file %s: %s", path, strerror(e));
    return ta_error_from_errno(e);
  }
  char buf[1025];
  size_t n = fread(buf, 1, sizeof buf, f);
  fclose(f);
  while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' || buf[n - 1] == '\t'))
    n--;
  if (n == 0 || n > 1024 || memchr(buf, '\n', n)) {
    srv__log("--admin-token-file %s: expected one token of 1 to 1024 bytes on one line", path);
    return TA_EINVAL;
  }
  s->admin_token = malloc(n + 1);
  if (s->admin_token == NULL) return TA_ENOMEM;
  memcpy(s->admin_token, buf, n);
  s->admin_token[n] = '\0';
  s->admin_token_len = n;
  return 0;
}

int srv_new(const srv_config_t *cfg, srv_t **out) {
  *out = NULL;
  if (cfg == NULL || cfg->trie_path == NULL) return TA_EINVAL;
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, srv_evthread_init);
  signal(SIGPIPE, SIG_IGN);

  srv_t *s = calloc(1, sizeof *s);
  if (s == NULL) return TA_ENOMEM;
  s->threads = cfg->threads ? cfg->threads : 1;
  s->cache_max_age = cfg->cache_max_age;
  s->answer_cache_bytes = cfg->answer_cache_mb * (size_t)1048576 / s->threads;
  s->access_log = cfg->access_log;
  s->started_at = ta_unix_s();
  pthread_mutex_init(&s->reload_mu, NULL);
  pthread_mutex_init(&s->place_mu, NULL);
  pthread_cond_init(&s->reload_cv, NULL);
  pthread_cond_init(&s->reload_done_cv, NULL);
  s->trie_path = dup_or_null(cfg->trie_path);
  s->filters_path = dup_or_null(cfg->filters_path);
  s->cors_origin = dup_or_null(cfg->cors_origin);
  snprintf(s->cache_control, sizeof s->cache_control, "public, max-age=%u", s->cache_max_age);
  s->listen_fds = malloc(s->threads * sizeof *s->listen_fds);
  s->workers = calloc(s->threads, sizeof *s->workers);
  s->hazard = calloc(s->threads, sizeof *s->hazard);
  s->wmetrics = aligned_alloc(64, s->threads * sizeof *s->wmetrics);
  int rc = 0;
  if (s->trie_path == NULL || (cfg->filters_path && s->filters_path == NULL) ||
      (cfg->cors_origin && s->cors_origin == NULL) || s->listen_fds == NULL || s->workers == NULL ||
      s->hazard == NULL || s->wmetrics == NULL)
    rc = TA_ENOMEM;
  if (rc == 0) {
    memset(s->wmetrics, 0, s->threads * sizeof *s->wmetrics);
    for (unsigned i = 0; i < s->threads; i++) {
      s->listen_fds[i] = -1;
      atomic_init(&s->hazard[i], NULL);
    }
    atomic_init(&s->current, NULL);
    atomic_init(&s->place, SRV_PLACE_NORMAL);
    atomic_init(&s->unbalanced_since, 0);
  }
  if (rc == 0 && cfg->admin_token_file) rc = read_token(s, cfg->admin_token_file);
  if (rc == 0) rc = listen_open(s, cfg->listen ? cfg->listen : "127.0.0.1:8080");
  for (unsigned i = 0; rc == 0 && i < s->threads; i++) rc = worker_init(s, &s->workers[i], i);
  if (rc != 0) {
    srv_free(s);
    return rc;
  }
  /* A missing or bad trie is not fatal: /search and /healthz answer 503 until a good file
   * appears at the path (the reload thread watches it). */
  srv__trie_load(s, "start");
  /* Rules, unlike the trie, must be sound at start: without them the server would show what
   * they are there to hide. */
  rc = srv__filters_start(s);
  if (rc != 0) {
    srv_free(s);
    return rc;
  }
  *out = s;
  return 0;
}

int srv_port(const srv_t *s) {
  return s ? s->port : 0;
}

int srv_run(srv_t *s) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, NULL);

  int rc = srv__reload_start(s);
  for (unsigned i = 0; rc == 0 && i < s->threads; i++) {
    if (pthread_create(&s->workers[i].thread, NULL, worker_main, &s->workers[i]) != 0)
      rc = TA_ESYS;
    else
      s->workers[i].started = 1;
  }
  if (rc == 0)
    srv__log("listening on http://%s:%d/ (%u worker thread%s%s)", s->listen_host, s->port,
             s->threads, s->threads == 1 ? "" : "s",
             s->threads == 1   ? ""
             : s->place_by_cpu ? ", connections placed by CPU"
                               : ", connections placed by hash");
  while (rc == 0) {
    int sig = 0;
    if (sigwait(&set, &sig) != 0) continue;
    if (sig == SIGHUP) {
      srv__log("SIGHUP: reloading");
      srv__reload_request(s);
    } else {
      srv__log("%s: draining and exiting", sig == SIGTERM ? "SIGTERM" : "SIGINT");
      break;
    }
  }
  for (unsigned i = 0; i < s->threads; i++)
    if (s->workers[i].started) event_active(s->workers[i].stop_ev, EV_READ, 0);
  for (unsigned i = 0; i < s->threads; i++) {
    if (s->workers[i].started) pthread_join(s->workers[i].thread, NULL);
    s->workers[i].started = 0;
  }
  srv__reload_stop(s);
  return rc;
}

void srv_free(srv_t *s) {
  if (s == NULL) return;
  srv__reload_stop(s);
  for (unsigned i = 0; s->workers && i < s->threads; i++) worker_fini(&s->workers[i]);
  srv__filters_free(s);
  for (unsigned i = 0; s->listen_fds && i < s->threads; i++)
    if (s->listen_fds[i] >= 0) close(s->listen_fds[i]);
  srv_trie_t *t = atomic_load(&s->current);
  if (t) {
    trie_close(t->reader);
    free(t);
  }
  pthread_mutex_destroy(&s->reload_mu);
  pthread_mutex_destroy(&s->place_mu);
  pthread_cond_destroy(&s->reload_cv);
  pthread_cond_destroy(&s->reload_done_cv);
  free(s->listen_fds);
  free(s->workers);
  free((void *)s->hazard);
  free(s->wmetrics);
  free(s->admin_token);
  free(s->trie_path);
  free(s->filters_path);
  free(s->cors_origin);
  free(s);
}
