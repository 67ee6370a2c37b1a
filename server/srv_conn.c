/*
 * The connection shim of typeahead-serve (SPEC §8): the one file that reaches into libevhtp's
 * and libevent's internals (struct evhtp_connection and evhtp_request fields, a bufferevent's
 * own read and write events). It was written against libevhtp 1.2.18 and libevent 2.1, and
 * CMake accepts no other libevhtp (the top-level CMakeLists.txt): another version may lay its
 * structures out or drive its callbacks differently. The workarounds for the library's measured
 * quirks (docs/server.md, "libevhtp 1.2.18 quirks and their workarounds") that need those
 * internals live here, each covered by tests/server/test_http.py:
 *
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
 *   - A client's half-close makes libevhtp drop the requests it pipelined before: they are
 *     answered (conn_event), then the connection closes.
 *   - evhtp_request_set_keepalive(req, 0) does nothing (it only ever sets the flag): a reply
 *     that must close its connection clears the request's keep-alive flag itself
 *     (srv__conn_close_after_reply).
 *
 * And two shortcuts on the request path: the socket is read with one recv per wake-up
 * (conn_socket_read), and a reply is written as soon as the parser returns (conn_write_now).
 *
 * The limits of SPEC §8 under abuse live here too (docs/server.md, "Limits"): the gate refuses
 * what libevhtp would drop or misread (srv__gate_scan), answers 413 and an admin request's 401
 * before a byte of its body is read, and sends 100 Continue itself, after those checks; a
 * sweep once a second cuts a request whose bytes have not all arrived within --header-timeout
 * (408) and a lingering close past its bound; connections over --max-connections get 503 at
 * once; and when accept() runs out of descriptors the listener pauses (10 ms doubling to 1 s)
 * instead of spinning, after answering waiting clients 503 through a reserve descriptor.
 */
#include "srv_int.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_struct.h> /* ev_read, ev_write: conn_socket_read, conn_write_now */
#include <event2/event.h>
#include <event2/listener.h>
#include <evhtp/evhtp.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SRV_LINGER_SECONDS 2  /* after a gate reply: wait this long for the client's EOF */
#define SRV_SWEEP_MS 1000     /* period of the sweep (deadlines are met within this much) */
#define SRV_PAUSE_MIN_MS 10   /* accept paused on running out of descriptors: first pause, */
#define SRV_PAUSE_MAX_MS 1000 /* doubled up to this */
#define SRV_SHED 16           /* then at most this many waiting clients answered 503 */
#define SRV_READ_CHUNK 16384  /* bytes read from a socket at once (libevent's default) */
#define SRV_READ_AHEAD 65536  /* requests read ahead of an answer the client has not taken */

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
  int leaving;     /* the balance guard closes it after this reply */
  int read_paused; /* reading stopped until the client takes its answers (conn_read) */
  int eof;         /* the client half-closed: its whole requests are answered, then the close */
  uint64_t since;  /* ta_mono_ns() of the accept or of the first byte of a request not all here
                     yet (0: none pending); once closing, of the gate's answer */
  srv_defer_fn defer_poll; /* a deferred request's poll (srv__conn_defer), NULL: none */
  void *defer_arg;
  void (*defer_free)(void *arg);
  srv_conn_t *prev, *next;
};

static void conn_read(struct bufferevent *bev, void *arg);
static void conn_write(struct bufferevent *bev, void *arg);
static void conn_event(struct bufferevent *bev, short what, void *arg);
static void conn_write_now(srv_conn_t *c);
static void conn_socket_read(evutil_socket_t fd, short what, void *arg);
static size_t conn_refuse(int fd, const char *msg);

/* ---- Open connections --------------------------------------------------------------------- */

/* Worker w's connection count changed: publishes it (/metrics, the balance guard) and lets the
 * guard look. */
static void conns_changed(srv_worker_t *w) {
  atomic_store_explicit(&w->m->connections, w->n_conns, memory_order_relaxed);
  srv__place_update(w);
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
  atomic_fetch_sub_explicit(&w->srv->conns_open, 1, memory_order_relaxed);
  conns_changed(w);
}

static void conn_destroy(srv_conn_t *c) {
  if (c->held) evbuffer_free(c->held);
  if (c->defer_poll) c->w->n_deferred--;
  if (c->defer_arg) c->defer_free(c->defer_arg);
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
  c->since = ta_mono_ns(); /* a new connection owes a request within the deadline */
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
  atomic_fetch_add_explicit(&w->srv->conns_open, 1, memory_order_relaxed);
  conns_changed(w);
  return EVHTP_RES_OK;
}

void srv__conn_drain(srv_worker_t *w) {
  srv_conn_t *c = w->conns;
  while (c) {
    srv_conn_t *next = c->next;
    char peek; /* idle: nothing unread in the kernel either (a close would reset a request) */
    int fd = bufferevent_getfd(c->bev);
    if (c->at_start && c->defer_poll == NULL &&
        evbuffer_get_length(bufferevent_get_output(c->bev)) == 0 &&
        evbuffer_get_length(bufferevent_get_input(c->bev)) == 0 &&
        recv(fd, &peek, 1, MSG_PEEK | MSG_DONTWAIT) <= 0) {
      /* A request can still come after that look, its client unaware: the stop's 503 goes out
       * first (nothing else is queued), so the client finds it before the close, not a silent
       * close or a reset; counted when a request came in meanwhile. */
      if (conn_refuse(fd, "the server is stopping")) srv__metrics_count(w->m, SRV_EP_OTHER, 503, 0);
      evhtp_connection_free(c->conn);
    }
    c = next;
  }
}

void srv__conn_close_all(srv_worker_t *w) {
  while (w->conns) evhtp_connection_free(w->conns->conn);
}

/* ---- Reading: the socket, the gate and the pipelining fix --------------------------------- */

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

/* ---- Answers of the connection layer ---------------------------------------------------- */

/* Answers status on c itself and closes it cleanly (conn_linger), whatever libevhtp's parser
 * holds: the gate's refusals, the deadline's 408. */
static void conn_answer(srv_conn_t *c, int status, const char *msg) {
  char reply[768];
  size_t n = srv__render_closing(status, msg, reply, sizeof reply);
  c->closing = 1;
  c->since = ta_mono_ns(); /* the close is bounded too (conn_sweep) */
  struct evbuffer *in = bufferevent_get_input(c->bev);
  evbuffer_drain(in, evbuffer_get_length(in));
  bufferevent_write(c->bev, reply, n);
  bufferevent_enable(c->bev, EV_WRITE);
  srv_wmetrics_t *m = c->w->m;
  if (status >= 400) srv__metrics_bump(&m->rejected_by_gate, 1);
  srv__metrics_count(m, SRV_EP_OTHER, status, 0);
}

/* 503 on fd, then its write side shut. Reads what the client sent first: the close is then a
 * FIN, not a reset. Returns how many bytes it read. */
static size_t conn_refuse(int fd, const char *msg) {
  char sink[4096], reply[768];
  size_t got = 0;
  ssize_t r;
  for (int i = 0; i < 4 && (r = recv(fd, sink, sizeof sink, MSG_DONTWAIT)) > 0; i++)
    got += (size_t)r;
  size_t n = srv__render_closing(503, msg, reply, sizeof reply);
  if (send(fd, reply, n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
    /* nothing to do: the client is gone or its buffer is full; it gets the close */
  }
  shutdown(fd, SHUT_WR);
  return got;
}

/* Over --max-connections, accepted through the reserve descriptor, or waiting in the accept
 * queue at a stop. */
void srv__conn_refuse_fd(srv_worker_t *w, int fd, const char *msg) {
  conn_refuse(fd, msg);
  srv__metrics_count(w->m, SRV_EP_OTHER, 503, 0);
}

/* ---- The gate ----------------------------------------------------------------------------- */

/* The header block at the start of in, through srv__gate_scan(). */
static int gate_scan(struct evbuffer *in, srv_gate_t *g) {
  size_t avail = evbuffer_get_length(in);
  size_t n = avail < SRV_MAX_HEAD + 1 ? avail : SRV_MAX_HEAD + 1;
  const char *p = (const char *)evbuffer_pullup(in, (ev_ssize_t)n);
  if (p == NULL) return 0;
  return srv__gate_scan(p, n, g);
}

/* A request with a body, its header block accepted: an admin request must carry the token
 * before a byte of its body is read (and before 100 Continue); the body's arrival is under the
 * deadline; 100 Continue when the client waits for it. 1, or the status to answer. */
static int gate_body(srv_conn_t *c, srv_gate_t *g, size_t avail) {
  if (g->path_len >= 7 && memcmp(g->path, "/admin/", 7) == 0) {
    int st = srv__admin_check(c->w->srv, g->auth, g->auth_len);
    if (st) {
      g->error = st == 404 ? "not found" : "missing or wrong bearer token";
      return st;
    }
  }
  if (avail - g->head_len < g->body_len) {
    if (c->since == 0) c->since = ta_mono_ns();
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    if (g->expect_continue && avail == g->head_len)
      bufferevent_write(c->bev, cont, sizeof cont - 1);
  }
  return 1;
}

static void conn_read(struct bufferevent *bev, void *arg) {
  srv_conn_t *c = arg;
  struct evbuffer *in = bufferevent_get_input(bev);
  if (c->closing) {
    evbuffer_drain(in, evbuffer_get_length(in)); /* read and discard until the client closes */
    return;
  }
  size_t avail = evbuffer_get_length(in);
  if (avail == 0) return;
  /* A client that pipelines requests without reading the answers: past SRV_READ_AHEAD bytes
   * behind an answer still in the output, the rest stay in the kernel until it reads. */
  if (avail > SRV_READ_AHEAD && evbuffer_get_length(bufferevent_get_output(bev)) > 0)
    c->read_paused = 1, bufferevent_disable(bev, EV_READ);
  if (c->at_start) {
    srv_gate_t g;
    int st = gate_scan(in, &g);
    if (st == 0) { /* wait for the rest of the header block, under the deadline */
      if (c->since == 0) c->since = ta_mono_ns();
      return;
    }
    if (st == 1 && g.body_len) st = gate_body(c, &g, avail);
    if (st != 1) {
      conn_answer(c, st, g.error);
      return;
    }
    c->at_start = 0;
    if (g.skip) { /* the parser would take them a byte per wake-up, and stall */
      evbuffer_drain(in, g.skip);
      avail -= g.skip;
    }
    size_t req_len = g.head_len - g.skip + (size_t)g.body_len;
    if (avail > req_len) {
      /* Keep the following requests from the parser; they go back after this one. (The input
       * buffer of a bufferevent only takes data at its front, hence the detour.) */
      evbuffer_add_buffer(c->held, in);
      evbuffer_remove_buffer(c->held, c->w->scratch, req_len);
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

/* ---- The sweep: deadlines ----------------------------------------------------------------- */

/* Once a second: a request whose bytes have not all come within --header-timeout of its first
 * (or of the accept) gets 408 and the connection closes, however slowly it trickles (the idle
 * timeout restarts on every byte); a closing connection whose client neither reads nor closes
 * is freed SRV_LINGER_SECONDS after the answer. */
static void conn_sweep(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  srv_worker_t *w = arg;
  uint64_t now = ta_mono_ns();
  uint64_t linger = (uint64_t)SRV_LINGER_SECONDS * 1000000000u;
  srv_conn_t *next;
  for (srv_conn_t *c = w->conns; c; c = next) {
    next = c->next;
    if (c->since == 0 || c->in_cb ||
        now - c->since <= (c->closing ? linger : w->srv->header_timeout_ns))
      continue;
    if (c->closing)
      evhtp_connection_free(c->conn);
    else
      conn_answer(c, 408, "request not received in time (--header-timeout)");
  }
}

/* ---- Deferred replies --------------------------------------------------------------------- */

static void defer_arm(srv_worker_t *w) {
  struct timeval tv = {0, SRV_DEFER_POLL_MS * 1000};
  evtimer_add(w->defer_ev, &tv);
}

/* Every SRV_DEFER_POLL_MS while requests wait: asks each whether its answer is ready. Reading
 * was stopped when the request was deferred (libevhtp's parser would refuse a pipelined
 * request while this one is unfinished, and kill the connection); it resumes with the reply. */
static void conn_defer_tick(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  srv_worker_t *w = arg;
  srv_conn_t *next;
  for (srv_conn_t *c = w->conns; c; c = next) {
    next = c->next;
    if (c->defer_poll == NULL || c->in_cb) continue;
    c->in_cb++;
    int done = c->defer_poll(c->defer_arg);
    c->in_cb--;
    if (done) {
      c->defer_poll = NULL;
      c->defer_free(c->defer_arg);
      c->defer_arg = NULL;
      w->n_deferred--;
    }
    if (c->dead) {
      conn_destroy(c);
      continue;
    }
    if (!done) continue;
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    conn_write_now(c);
  }
  if (w->n_deferred) defer_arm(w);
}

int srv__conn_defer(srv_worker_t *w, evhtp_request_t *req, srv_defer_fn poll, void *arg,
                    void (*free_fn)(void *arg)) {
  srv_conn_t *c = conn_of(req->conn);
  if (c == NULL || c->defer_poll || poll == NULL) return TA_EINVAL;
  c->defer_poll = poll;
  c->defer_arg = arg;
  c->defer_free = free_fn ? free_fn : free;
  bufferevent_disable(c->bev, EV_READ);
  if (w->n_deferred++ == 0) defer_arm(w);
  return 0;
}

void srv__conn_defer_kick(srv_worker_t *w) {
  if (w->n_deferred) event_active(w->defer_ev, EV_TIMEOUT, 0);
}

/* ---- Accepting: the cap, running out of descriptors --------------------------------------- */

static evhtp_res conn_pre_accept(evhtp_connection_t *conn, void *arg) {
  srv_worker_t *w = arg;
  srv_t *s = w->srv;
  if (atomic_load_explicit(&s->conns_open, memory_order_relaxed) < s->max_conns)
    return EVHTP_RES_OK;
  srv__conn_refuse_fd(w, conn->sock, "too many connections");
  srv__log_limited(SRV_LOG_CONN_CAP, "%u connections open (--max-connections): new ones get 503",
                   s->max_conns);
  return EVHTP_RES_ERROR; /* libevhtp closes the socket */
}

static void conn_reserve(srv_worker_t *w) {
  if (w->reserve_fd < 0) w->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

/* accept() failed with something else than "try again" (libevent would log and retry at once,
 * forever: the listening socket stays readable). Out of descriptors, one waiting client is
 * answered 503 through the reserve descriptor; then accepting pauses, longer each time while
 * the errors go on. */
static void conn_accept_error(struct evconnlistener *lev, void *arg) {
  srv_worker_t *w = ((evhtp_t *)arg)->arg; /* the listener's argument is libevhtp's */
  int e = errno;
  evconnlistener_disable(lev);
  /* Clients waiting in the backlog would only time out: up to SRV_SHED of them get 503. */
  for (int i = 0; i < SRV_SHED && (e == EMFILE || e == ENFILE) && w->reserve_fd >= 0; i++) {
    close(w->reserve_fd);
    w->reserve_fd = -1;
    int fd = accept4(w->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      srv__conn_refuse_fd(w, fd, "out of file descriptors");
      close(fd);
    }
    conn_reserve(w);
    if (fd < 0) break;
  }
  uint64_t now = ta_mono_ns();
  unsigned ms = w->accept_pause_ms && now - w->accept_error_at < 2000000000u
                    ? w->accept_pause_ms * 2
                    : SRV_PAUSE_MIN_MS;
  if (ms > SRV_PAUSE_MAX_MS) ms = SRV_PAUSE_MAX_MS;
  w->accept_pause_ms = ms;
  w->accept_error_at = now;
  srv__log_limited(SRV_LOG_ACCEPT, "accept: %s: accepting paused for %u ms", strerror(e), ms);
  struct timeval tv = srv__timeval_ms(ms);
  evtimer_add(w->resume_ev, &tv);
}

static void conn_resume(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  srv_worker_t *w = arg;
  if (w->draining || w->listen_fd < 0 || w->htp->server == NULL) return;
  conn_reserve(w);
  evconnlistener_enable(w->htp->server);
}

int srv__conn_attach(srv_worker_t *w) {
  w->reserve_fd = -1;
  w->sweep_ev = event_new(w->base, -1, EV_PERSIST, conn_sweep, w);
  w->resume_ev = evtimer_new(w->base, conn_resume, w);
  w->defer_ev = evtimer_new(w->base, conn_defer_tick, w);
  if (w->sweep_ev == NULL || w->resume_ev == NULL || w->defer_ev == NULL || w->htp->server == NULL)
    return TA_ENOMEM;
  struct timeval tv = srv__timeval_ms(SRV_SWEEP_MS);
  event_add(w->sweep_ev, &tv);
  conn_reserve(w);
  w->htp->flags &= ~EVHTP_FLAG_ENABLE_100_CONT; /* gate_body sends it, after the checks */
  evhtp_set_pre_accept_cb(w->htp, conn_pre_accept, w);
  evhtp_set_post_accept_cb(w->htp, conn_accepted, w);
  w->htp->arg = w;
  evconnlistener_set_error_cb(w->htp->server, conn_accept_error);
  return 0;
}

void srv__conn_fini(srv_worker_t *w) {
  if (w->sweep_ev) event_free(w->sweep_ev);
  if (w->resume_ev) event_free(w->resume_ev);
  if (w->defer_ev) event_free(w->defer_ev);
  w->sweep_ev = w->resume_ev = w->defer_ev = NULL;
  if (w->reserve_fd >= 0) close(w->reserve_fd);
  w->reserve_fd = -1;
}

/* ---- Requests ----------------------------------------------------------------------------- */

void srv__conn_close_after_reply(evhtp_request_t *req) {
  req->flags &= ~EVHTP_REQ_FLAG_KEEPALIVE;
}

void srv__conn_request_begin(srv_worker_t *w, evhtp_request_t *req, uint64_t now) {
  srv_conn_t *c = conn_of(req->conn);
  if (c == NULL) return;
  c->at_start = 1; /* the parser has the whole request: next byte starts another */
  c->since = 0;
  if (!c->leaving && (req->flags & EVHTP_REQ_FLAG_KEEPALIVE) &&
      srv__place_unload(w, bufferevent_getfd(c->bev), now)) {
    srv__conn_close_after_reply(req);
    c->leaving = 1;
    w->n_leaving++;
    srv__metrics_bump(&w->m->rebalanced, 1);
  }
}

const char *srv__conn_header(const evhtp_request_t *req) {
  int keepalive = (req->flags & EVHTP_REQ_FLAG_KEEPALIVE) != 0;
  if (req->proto == EVHTP_PROTO_11) return keepalive ? "" : "Connection: close\r\n";
  if (req->proto == EVHTP_PROTO_10) return keepalive ? "Connection: keep-alive\r\n" : "";
  return NULL;
}

/* libevhtp still owns the request: marked finished as evhtp_send_reply marks it, libevhtp's
 * write callback ends it (keep-alive or close) once the bytes are out. */
int srv__conn_queue_reply(evhtp_request_t *req, int status, const void *bytes, size_t n) {
  if (bufferevent_write(req->conn->bev, bytes, n) != 0) return -1;
  req->status = (evhtp_res)status;
  req->flags |= EVHTP_REQ_FLAG_FINISHED;
  return 0;
}

/* ---- Writing: at once, and the lingering close -------------------------------------------- */

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
  if (c->eof && c->at_start && evbuffer_get_length(bufferevent_get_input(bev)) == 0) {
    /* the last answer to a half-closed client is out: the request ends, then the connection */
    c->in_cb++;
    c->orig_write(bev, c->conn);
    c->in_cb--;
    if (!c->dead)
      evhtp_connection_free(c->conn);
    else if (c->in_cb == 0)
      conn_destroy(c);
    return;
  }
  if (c->read_paused && c->defer_poll == NULL) { /* the answers are out: read on */
    c->read_paused = 0;
    bufferevent_enable(bev, EV_READ);
  }
  if (evbuffer_get_length(bufferevent_get_input(bev)) > 0 && c->at_start)
    bufferevent_trigger(bev, EV_READ, BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
  c->orig_write(bev, c->conn); /* libevhtp finishes the request there; c may be freed */
}

/* Called once the parser has returned: a reply queued by the handler goes to the socket now
 * instead of one loop iteration later. libevent scheduled its write event when the reply was
 * queued; with the base's changelist (srv_life.c, worker_init) that add is only recorded, and
 * the delete below cancels it before the next epoll_wait, so the common case costs no
 * epoll_ctl at all. The write callback then runs as libevent would have run it (conn_write:
 * libevhtp finishes the request, a pipelined request goes on). A partial write (or EAGAIN, or
 * an error) leaves the rest to the normal path: the write event stays scheduled. */
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

/* Whether c holds whole requests sent before the client's FIN (libevhtp would drop them). */
static int conn_eof_pending(srv_conn_t *c) {
  struct evbuffer *in = bufferevent_get_input(c->bev);
  size_t avail = evbuffer_get_length(in);
  srv_gate_t g = {0};
  int st = c->at_start && avail ? gate_scan(in, &g) : 0;
  return st > 1 || (st == 1 && avail >= g.head_len + g.body_len);
}

static void conn_event(struct bufferevent *bev, short what, void *arg) {
  srv_conn_t *c = arg;
  if (c->closing) {
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
      evhtp_connection_free(c->conn);
    return;
  }
  if ((what & BEV_EVENT_EOF) && (c->eof || conn_eof_pending(c))) { /* conn_write goes on */
    c->eof = 1;
    if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
      bufferevent_trigger(bev, EV_READ, BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
    return;
  }
  c->orig_event(bev, what, c->conn);
}
