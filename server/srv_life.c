/*
 * The life cycle of typeahead-serve (SPEC §8): srv_new opens the listening sockets (one
 * SO_REUSEPORT socket per worker on the same port; srv_place.c then decides which worker gets a
 * connection), reads the admin token, makes the workers and loads the trie and the rules;
 * srv_run starts the worker threads and the reload thread and waits for signals; srv_free
 * undoes srv_new.
 *
 * A worker is one thread with its own event_base and evhtp_t: it shares nothing with the others
 * but the loaded trie (srv_state.c) and the placement state. Shutdown (SIGTERM/SIGINT): every
 * worker closes its listener, closes idle connections, answers the requests in flight with
 * "Connection: close", and exits its loop when its last connection is gone (or after
 * SRV_DRAIN_SECONDS).
 */
#include "srv_int.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <evhtp/evhtp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define SRV_DRAIN_SECONDS 5
#define SRV_IDLE_SECONDS 60 /* read/write timeout of a connection */

/* ---- Workers ------------------------------------------------------------------------------ */

static void worker_deadline(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  srv_worker_t *w = arg;
  srv__conn_close_all(w);
  event_base_loopexit(w->base, NULL);
}

static void worker_stop(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  srv_worker_t *w = arg;
  w->draining = 1;
  /* Clients already in the accept queue (their requests sent) get 503: closing the listener
   * would reset them. Bounded by the listen backlog; what arrives meanwhile is the next's. */
  for (int i = 0, cfd; i < 1024 && w->listen_fd >= 0; i++) {
    if ((cfd = accept4(w->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) < 0) break;
    srv__conn_refuse_fd(w, cfd, "the server is stopping");
    close(cfd);
  }
  evhtp_unbind_socket(w->htp); /* closes the listening socket */
  w->listen_fd = -1;
  /* Idle keep-alive connections go now; the others after their reply (Connection: close);
   * deferred replies (a reload under way) are answered now. */
  srv__conn_drain(w);
  srv__conn_defer_kick(w);
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
  w->listen_fd = -1;
  /* With the changelist, event_add and event_del on one fd within a loop iteration cancel out
   * instead of costing an epoll_ctl each (srv_conn.c's conn_write_now relies on it). Its one
   * caveat, fds cloned by dup(), does not apply: the server never dups a socket. */
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
  if (w->scratch == NULL || w->stop_ev == NULL || w->deadline_ev == NULL || w->htp == NULL)
    return TA_ENOMEM;
  int rc = srv__search_init(w);
  if (!rc) rc = trie_text_new(&w->text);
  if (!rc)
    rc =
        srv__cache_init(&w->cache, s->answer_cache_bytes, &w->m->cache_bytes, &w->m->cache_entries);
  if (!rc) rc = srv__peer_init(w);
  if (rc) return rc;
  srv__route_attach(w);
  struct timeval idle = {SRV_IDLE_SECONDS, 0};
  evhtp_set_timeouts(w->htp, &idle, &idle);
  /* The gate refuses a longer body before it is read (413); libevhtp's own check (which would
   * reset the connection) refuses a body of exactly its limit, hence the + 1. */
  evhtp_set_max_body_size(w->htp, SRV_MAX_BODY + 1);
  /* The socket is bound and listening already (backlog 0: do not listen() again). */
  if (evhtp_accept_socket(w->htp, s->listen_fds[id], 0) != 0) return TA_ESYS;
  w->listen_fd = s->listen_fds[id];
  s->listen_fds[id] = -1; /* the listener owns (and closes) it now */
  return srv__conn_attach(w);
}

static void worker_fini(srv_worker_t *w) {
  srv__conn_close_all(w); /* deferred requests cancel their peer calls here */
  srv__conn_fini(w);
  srv__peer_fini(w); /* before the base: its connections live on it */
  if (w->htp) {
    evhtp_unbind_socket(w->htp); /* evhtp_free() leaves the listener alone */
    evhtp_free(w->htp);
  }
  if (w->stop_ev) event_free(w->stop_ev);
  if (w->deadline_ev) event_free(w->deadline_ev);
  if (w->scratch) evbuffer_free(w->scratch);
  if (w->base) event_base_free(w->base);
  ta_buf_free(&w->out);
  ta_buf_free(&w->wire);
  trie_text_free(w->text);
  srv__cache_free(&w->cache);
  srv__search_fini(w);
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

/* Whether the port is free for this server's SO_REUSEPORT group. The workers' sockets take
 * SO_REUSEPORT, which also lets any other socket of the same user with that option join the
 * group: a second typeahead-serve started on the port of a running one would silently get
 * part of its connections (serving its own files) and shift srv_place.c's indices. A probe
 * without SO_REUSEPORT cannot bind a port that anything listens on, so it tells. (SO_REUSEADDR
 * keeps a restart possible while the old connections are in TIME_WAIT.) Port 0 needs none. */
static int listen_port_free(const struct sockaddr_storage *addr, socklen_t addr_len, int family,
                            const char *spec) {
  in_port_t port = family == AF_INET6 ? ((const struct sockaddr_in6 *)addr)->sin6_port
                                      : ((const struct sockaddr_in *)addr)->sin_port;
  if (port == 0) return 0;
  int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int on = 1;
  if (fd < 0) return ta_error_from_errno(errno);
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  int rc = 0;
  if (bind(fd, (const struct sockaddr *)addr, addr_len) != 0) {
    int e = errno;
    if (e == EADDRINUSE)
      srv__log(
          "--listen %s: address in use (another server listens on it; a port is never "
          "shared with another process)",
          SRV_LOG_ESC(spec));
    else
      srv__log("--listen %s: %s", SRV_LOG_ESC(spec), strerror(e));
    rc = ta_error_from_errno(e);
  }
  close(fd);
  return rc;
}

static int listen_open(srv_t *s, const char *spec) {
  char host[256], port[8];
  if (listen_split(spec, host, sizeof host, port, sizeof port) != 0) {
    srv__log("--listen %s: expected HOST:PORT (IPv6 as [ADDR]:PORT)", SRV_LOG_ESC(spec));
    return TA_EINVAL;
  }
  struct addrinfo hints = {0}, *ai = NULL;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  int gai = getaddrinfo(host, port, &hints, &ai);
  if (gai != 0) {
    srv__log("--listen %s: %s", SRV_LOG_ESC(spec), gai_strerror(gai));
    return TA_EINVAL;
  }
  struct sockaddr_storage addr;
  socklen_t addr_len = (socklen_t)ai->ai_addrlen;
  memcpy(&addr, ai->ai_addr, ai->ai_addrlen);
  snprintf(s->listen_host, sizeof s->listen_host, ai->ai_family == AF_INET6 ? "[%s]" : "%s", host);
  int family = ai->ai_family;
  freeaddrinfo(ai);

  int rc = listen_port_free(&addr, addr_len, family, spec);
  if (rc != 0) return rc;
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
      srv__log("--listen %s: %s", SRV_LOG_ESC(spec), strerror(e));
      return ta_error_from_errno(e);
    }
    if (i == 0) {
      /* Port 0: the others must join the port the first one got. */
      getsockname(fd, (struct sockaddr *)&addr, &addr_len);
      s->port = ntohs(family == AF_INET6 ? ((struct sockaddr_in6 *)&addr)->sin6_port
                                         : ((struct sockaddr_in *)&addr)->sin_port);
    }
  }
  srv__place_start(s);
  return 0;
}

/* ---- Server life cycle -------------------------------------------------------------------- */

/* libevent's own warnings (a failing accept() would print one per try) go through the
 * bounded log. */
static void srv_libevent_log(int severity, const char *msg) {
  (void)severity;
  srv__log_limited(SRV_LOG_LIBEVENT, "libevent: %s", msg);
}

/* Workers are woken from other threads (event_active on stop_ev): libevent needs its locks. */
static void srv_evthread_init(void) {
  evthread_use_pthreads();
  event_set_log_callback(srv_libevent_log);
}

/* Raises the soft descriptor limit to the hard one (each connection holds one) and derives the
 * connection cap from it: the limit less what the server keeps open besides connections
 * (SRV_FD_RESERVE and SRV_FD_PER_WORKER each; half the limit when that leaves too little). */
#define SRV_FD_RESERVE 32
#define SRV_FD_PER_WORKER 8
static unsigned fd_limits(unsigned threads, unsigned want_conns) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return want_conns ? want_conns : 1024;
  rlim_t hard = rl.rlim_max == RLIM_INFINITY ? (rlim_t)1 << 20 : rl.rlim_max;
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < hard) {
    struct rlimit up = {hard, rl.rlim_max};
    if (setrlimit(RLIMIT_NOFILE, &up) == 0) rl.rlim_cur = hard;
  }
  rlim_t lim = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > ((rlim_t)1 << 24) ? (rlim_t)1 << 24
                                                                               : rl.rlim_cur;
  rlim_t keep = SRV_FD_RESERVE + (rlim_t)SRV_FD_PER_WORKER * threads;
  unsigned dflt = (unsigned)(lim > 2 * keep ? lim - keep : lim / 2);
  if (dflt == 0) dflt = 1;
  unsigned conns = want_conns ? want_conns : dflt;
  srv__log("descriptor limit %llu: at most %u connections%s", (unsigned long long)lim, conns,
           want_conns ? " (--max-connections)" : "");
  return conns;
}

static char *dup_or_null(const char *s) {
  return s ? strdup(s) : NULL;
}

/* The token file is read like every file the server reads (ta_read_file): a FIFO, a directory
 * or a device at the path is refused at once, and so is a file over SRV_MAX_TOKEN_FILE bytes. */
#define SRV_MAX_TOKEN_FILE 4096

/* What is wrong with byte c of a token (NULL: nothing). A bearer token (RFC 6750 §2.1) holds
 * no whitespace or control byte: clients and proxies do not send one, srv__admin_check trims
 * spaces at its ends, so a token holding one would never match. It is refused at start rather
 * than found out at the first 401. */
static const char *token_byte_bad(unsigned char c) {
  if (c == ' ') return "a space";
  if (c == '\t') return "a tab";
  if (c == '\n' || c == '\r') return "a line break";
  if (c < 0x20 || c == 0x7f) return "a control byte";
  return NULL;
}

static int read_token(srv_t *s, const char *path) {
  ta_buf_t buf = {0};
  ta_diag_t d;
  char why[256];
  int rc = ta_read_file(path, SRV_MAX_TOKEN_FILE, &buf, &d);
  if (rc) {
    srv__log("--admin-token-file %s", SRV_LOG_ESC(ta_diag_format(&d, why, sizeof why)));
    return rc;
  }
  size_t n = buf.len;
  const char *p = (const char *)buf.p;
  while (n && (p[n - 1] == '\n' || p[n - 1] == '\r' || p[n - 1] == ' ' || p[n - 1] == '\t')) n--;
  const char *bad = NULL;
  size_t at = 0;
  while (at < n && (bad = token_byte_bad((unsigned char)p[at])) == NULL) at++;
  if (n == 0 || n > 1024 || bad) {
    if (n == 0)
      srv__log("--admin-token-file %s: no token (the file is empty or holds only whitespace)",
               SRV_LOG_ESC(path));
    else if (n > 1024)
      srv__log("--admin-token-file %s: the token is %zu bytes, over 1024", SRV_LOG_ESC(path), n);
    else
      srv__log(
          "--admin-token-file %s: byte %zu of the token is %s (0x%02x): the token of "
          "'Authorization: Bearer TOKEN' is one word of visible characters",
          SRV_LOG_ESC(path), at + 1, bad, (unsigned char)p[at]);
    ta_buf_free(&buf);
    return TA_EINVAL;
  }
  s->admin_token = malloc(n + 1);
  if (s->admin_token) {
    memcpy(s->admin_token, p, n);
    s->admin_token[n] = '\0';
    s->admin_token_len = n;
  }
  ta_buf_free(&buf);
  return s->admin_token ? 0 : TA_ENOMEM;
}

/* --cors-origin goes into every answer's header block as it is: an origin is visible ASCII
 * (scheme://host[:port], or * or null), so anything else (a line break would write a header of
 * its own) refuses the start, as a bad --market-header does. */
static int check_origin(const char *origin) {
  size_t n = strlen(origin), i = 0;
  while (i < n && origin[i] > 0x20 && origin[i] < 0x7f) i++;
  if (n > 0 && i == n) return 0;
  srv__log(
      "--cors-origin '%s': expected an origin (scheme://host[:port], * or null: visible "
      "ASCII, no space or control byte)",
      SRV_LOG_ESC(origin));
  return TA_EINVAL;
}

/* The signals srv_run() handles with sigwait(): blocked in the calling thread (and so in every
 * thread made after) from srv_new() on, so that one sent while the tries load (seconds for a
 * large trie) waits for srv_run() instead of killing the process (their default action). */
static void signals_block(sigset_t *set) {
  sigemptyset(set);
  sigaddset(set, SIGHUP);
  sigaddset(set, SIGTERM);
  sigaddset(set, SIGINT);
  pthread_sigmask(SIG_BLOCK, set, NULL);
}

int srv_new(const srv_config_t *cfg, srv_t **out) {
  *out = NULL;
  if (cfg == NULL || (cfg->trie_path == NULL) == (cfg->trie_dir == NULL)) return TA_EINVAL;
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, srv_evthread_init);
  signal(SIGPIPE, SIG_IGN);
  sigset_t sigs;
  signals_block(&sigs);

  srv_t *s = calloc(1, sizeof *s);
  if (s == NULL) return TA_ENOMEM;
  s->threads = cfg->threads ? cfg->threads : 1;
  s->cache_max_age = cfg->cache_max_age;
  s->answer_cache_bytes = cfg->answer_cache_mb * (size_t)1048576 / s->threads;
  s->access_log = cfg->access_log;
  s->max_conns = fd_limits(s->threads, cfg->max_connections);
  s->header_timeout_ns =
      (uint64_t)(cfg->header_timeout ? cfg->header_timeout : SRV_HEADER_TIMEOUT) * 1000000000u;
  s->started_at = ta_unix_s();
  pthread_mutex_init(&s->reload_mu, NULL);
  pthread_mutex_init(&s->place_mu, NULL);
  pthread_cond_init(&s->reload_cv, NULL);
  if (cfg->trie_dir) {
    size_t n = strlen(cfg->trie_dir) + sizeof "/global.trie";
    s->trie_path = malloc(n);
    if (s->trie_path) snprintf(s->trie_path, n, "%s/global.trie", cfg->trie_dir);
  } else {
    s->trie_path = dup_or_null(cfg->trie_path);
  }
  if (s->trie_path) { /* a Latin-1 name's byte would make /healthz no JSON: as \xNN */
    size_t n = 4 * strlen(s->trie_path) + 1, used = 0;
    s->trie_path_utf8 = malloc(n);
    if (s->trie_path_utf8) {
      s->trie_path_utf8[0] = '\0';
      trie_utf8_put(s->trie_path_utf8, n, &used, s->trie_path);
    }
  }
  s->filters_path = dup_or_null(cfg->filters_path);
  s->cors_origin = dup_or_null(cfg->cors_origin);
  snprintf(s->cache_control, sizeof s->cache_control, "public, max-age=%u", s->cache_max_age);
  s->listen_fds = malloc(s->threads * sizeof *s->listen_fds);
  s->workers = calloc(s->threads, sizeof *s->workers);
  s->wmetrics = aligned_alloc(64, s->threads * sizeof *s->wmetrics);
  int rc = 0;
  if (s->trie_path == NULL || s->trie_path_utf8 == NULL ||
      (cfg->filters_path && s->filters_path == NULL) ||
      (cfg->cors_origin && s->cors_origin == NULL) || s->listen_fds == NULL || s->workers == NULL ||
      s->wmetrics == NULL)
    rc = TA_ENOMEM;
  if (rc == 0) {
    memset(s->wmetrics, 0, s->threads * sizeof *s->wmetrics);
    for (unsigned i = 0; i < s->threads; i++) {
      s->listen_fds[i] = -1;
      s->workers[i].reserve_fd = -1; /* srv_free may run before worker_init */
    }
  }
  if (rc == 0 && cfg->cors_origin) rc = check_origin(cfg->cors_origin);
  if (rc == 0) rc = srv__markets_init(s, cfg->trie_dir, cfg->market_header);
  if (rc == 0 && cfg->shard_map)
    rc = srv__shard_start(s, cfg->shard_map, cfg->shard, cfg->peers_file, cfg->peer_timeout_ms,
                          cfg->peer_cache_ms);
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
  /* With --trie-dir, the other markets: each loaded on its own (a bad one is not served). */
  rc = srv__markets_start(s);
  /* Rules, unlike the trie, must be sound at start: without them the server would show what
   * they are there to hide. */
  /* Trending tries (after the markets, whose names they follow; before the rules, which make
   * their verdict caches): a missing or bad one only means no trending. */
  if (rc == 0) rc = srv__trending_start(s, cfg->trending_path, cfg->trending_slots);
  if (rc == 0) rc = srv__filters_start(s);
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
  signals_block(&set); /* already, since srv_new: a signal sent meanwhile is pending */

  int rc = srv__reload_start(s);
  for (unsigned i = 0; rc == 0 && i < s->threads; i++) {
    if (pthread_create(&s->workers[i].thread, NULL, worker_main, &s->workers[i]) != 0)
      rc = TA_ESYS;
    else
      s->workers[i].started = 1;
  }
  if (rc == 0)
    srv__log("listening on http://%s:%d/ (%u worker thread%s%s)", SRV_LOG_ESC(s->listen_host),
             s->port, s->threads, s->threads == 1 ? "" : "s",
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
  srv__peers_free(s->peers);
  s->peers = NULL;
  for (unsigned i = 0; s->listen_fds && i < s->threads; i++)
    if (s->listen_fds[i] >= 0) close(s->listen_fds[i]);
  /* The node's slots end here: the rules' current state and the trie's with them. */
  srv__snaptab_free(&s->snaps);
  s->trie_snap = NULL;
  srv__markets_free(s);
  srv__trending_free(s);
  pthread_mutex_destroy(&s->reload_mu);
  pthread_mutex_destroy(&s->place_mu);
  pthread_cond_destroy(&s->reload_cv);
  free(s->listen_fds);
  free(s->workers);
  free(s->wmetrics);
  free(s->admin_token);
  free(s->trie_path);
  free(s->trie_path_utf8);
  free(s->filters_path);
  free(s->cors_origin);
  free(s);
}
