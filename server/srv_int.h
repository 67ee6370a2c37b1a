/*
 * typeahead: internals of the query server (the server/srv_ files). Not a public interface.
 *
 *   serve_main.c  the command line of typeahead-serve
 *   srv_life.c    srv_new/srv_run/srv_free: listening sockets, workers, signals, draining
 *   srv_place.c   which worker gets a new connection: the CPU program and its balance guard
 *   srv_route.c   the router: path and method to handler, 404s and 405s, the access log
 *   srv_search.c  GET /search: answer cache, lookup, ETag, the serialized 200
 *   srv_admin.c   /healthz, /metrics, the demo page, /admin/reload and /admin/filters
 *   srv_reply.c   replies: headers, CORS, JSON errors, sending and counting
 *   srv_conn.c    the connection shim over libevhtp's internals: the request gate,
 *                 pipelining, the socket read, writing a reply at once, lingering close; the
 *                 limits (connection cap, request deadline, accept paused out of descriptors)
 *   srv_query.c   query-string parsing: percent decoding, '+', q length, k (fuzzed); the gate
 *                 scan (fuzzed); the admin token check
 *   srv_render.c  JSON and msgpack answers, score formatting, ETag matching
 *   srv_cache.c   the per-worker answer cache of /search
 *   srv_metrics.c per-worker counters and the Prometheus page
 *   srv_filters.c the blocklist rules in force (the "rules" slot), their updates, srv__answer()
 *   srv_state.c   the loaded tries: a slot per market ("trie" for global), load and verify
 *   srv_market.c  markets (SPEC §10): the table of a node's tries by name, the --trie-dir
 *                 scan, a request's market, the fill from global
 *   srv_trending.c trending tries (SPEC §13): their table and loads, the mix into an answer
 *   srv_shard.c   prefix shards (SPEC §11): forward another shard's prefix, merge the empty one
 *   srv_peer.c    the peers file and the HTTP client that forwards (libevent's evhttp)
 *   srv_reload.c  the reload thread: ticks the slots (poll, SIGHUP, POST /admin/reload)
 *   srv_snap.c    hot-swapped snapshots: named slots, hazard-pointer readers, retire, file watch
 *   srv_log.c     srv__log(), srv__log_limited(), srv__log_esc()
 *
 * Layers (a file calls only files below it; tests/lint/check_layers.py checks there is no loop):
 * life (makes the workers and hands libevhtp the route and conn callbacks) -> route -> search,
 * admin -> reply -> conn -> place; route and search also call conn. trending (called by search
 * and admin; it calls filters and state), query, render, cache, metrics, filters, market, state,
 * reload, snap and log are below them all (metrics and filters read the market and trending
 * tables; market and trending add the slots that state loads; reload ticks the slots that
 * filters, market, trending and state register; all of them use snap and log).
 *
 * Threads: N workers, each with its own event_base, evhtp_t and SO_REUSEPORT listening socket
 * bound to the same port. A new connection goes to the worker of the CPU its SYN came in on,
 * under a balance guard that evens out the workers' connection counts; with more workers than
 * CPUs, or if the kernel refuses the program, the kernel's hash places it (srv_place.c). One
 * reload thread; the thread that called srv_run() waits for signals. All workers share the one
 * private copy of each market's current trie (global's is the "trie" slot): read from the file
 * and verified, never a mapping of the file, so nothing done to the file reaches it.
 */
#ifndef TYPEAHEAD_SRV_INT_H
#define TYPEAHEAD_SRV_INT_H

#include "flt.h"
#include "srv.h"
#include "ta.h"
#include "trie.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/time.h>
#include <sys/types.h>
#include <time.h>

/* ---- Limits ------------------------------------------------------------------------------- */

#define SRV_MAX_Q 1024     /* bytes of decoded q (SPEC §8: more is 414) */
#define SRV_DEFAULT_K 5    /* k when the request has none (capped at the trie's k) */
#define SRV_MAX_K_DIGITS 6 /* k=1234567 is out of range without overflow questions */
/* libevhtp 1.2.18 keeps the request line and each header in an 8 KB stack buffer and drops the
 * connection (with an uninitialised read) when one outgrows it; the gate in srv_conn.c answers
 * before the parser sees such a line. */
#define SRV_MAX_LINE 8000       /* request line (414 beyond) and each header line (431) */
#define SRV_MAX_HEAD 32768      /* whole header block (431 beyond) */
#define SRV_MAX_BODY (1u << 20) /* request body (PUT /admin/filters): 413 beyond, before reading */
#define SRV_HEADER_TIMEOUT 30   /* seconds: default bound on a request's arrival (slowloris) */

/* ---- Query string (srv_query.c) ----------------------------------------------------------- */

typedef struct {
  int has_q;
  char q[SRV_MAX_Q + 1]; /* decoded q, NUL after q_len (q may hold NUL bytes itself) */
  size_t q_len;
  int has_k;
  unsigned long k;   /* 0 when absent; range against the trie's k is the caller's */
  const char *error; /* static message for the {"error":...} body, or NULL */
  int typos;         /* typos=auto|0|1|2: TRIE_TYPOS_AUTO (the default) or the edits */
  int words;         /* words=0|1: word matching (default 1) */
} srv_query_t;

/* Percent-decodes a query parameter's value v[0..n) into out (capacity cap), '+' as a space
 * (libevhtp does neither properly: evhtp_unescape_string leaves '+' and writes no NUL); the one
 * decoder of every parameter. Returns 0, TA_EPARSE for a bad %XX, TA_ETOOLONG when the decoded
 * form exceeds cap (decoding stops there, so nothing past cap is written). No NUL is added. */
int srv__query_decode(const char *v, size_t n, char *out, size_t cap, size_t *out_len);

/* Parses the raw query string raw[0..len) (the part after '?', not decoded). Takes the first
 * q, k, typos and words; other parameters are ignored. Each value is percent-decoded
 * (srv__query_decode); parameter names are matched as sent.
 * Returns 0, or: TA_EEMPTY (no q), TA_ETOOLONG (q over SRV_MAX_Q bytes once decoded),
 * TA_EPARSE (malformed %XX in a value), TA_EUTF8 (q not UTF-8), TA_ERANGE (k not 1..999999 in
 * digits, typos not auto, 0, 1 or 2, words not 0 or 1, once decoded).
 * out->error then holds the message. raw may hold any bytes. */
int srv__query_parse(const char *raw, size_t len, srv_query_t *out);

/* What the request gate learned of a complete header block (pointers into the scanned bytes). */
typedef struct {
  size_t skip;       /* empty lines (CRLF) before the request line: to drop (libevhtp's parser
                        stops after each such byte, and stalls) */
  size_t head_len;   /* through the blank line, from the first byte (skip included) */
  uint64_t body_len; /* Content-Length; 0 without */
  const char *path;  /* the target from its path on, query included (origin or absolute form) */
  size_t path_len;
  const char *auth; /* the Authorization value, outer spaces trimmed; NULL when absent */
  size_t auth_len;
  int expect_continue; /* HTTP/1.1, a body, and Expect: 100-continue */
  const char *error;   /* static message for a status >= 200, else NULL */
} srv_gate_t;

/* The request gate: scans p[0..n), the start of a connection's input where a request begins,
 * and accepts only requests libevhtp's parser reads as we do (anything else it would drop
 * unanswered, or read differently from a proxy in front: smuggling). Returns 0 while the
 * header block is incomplete (and nothing in it is wrong yet); 1 when it is complete and
 * acceptable (g filled); else the status the gate answers with itself, g->error saying why:
 *   400  a request line other than METHOD SP TARGET SP HTTP/D.D (target: /path, http://host/path
 *        or * for OPTIONS), CONNECT, a line not ending in CRLF (bare LF or CR), a header line
 *        without a colon, without a name or with whitespace before its colon, obsolete line
 *        folding, a NUL byte,
 *        a bad Content-Length (not digits, over 2^64) or several different ones, both
 *        Content-Length and Transfer-Encoding, an HTTP/1.1 request without Host, several
 *        Host lines, a Host value not uri-host[:port] (RFC 9112 §3.2);
 *   204  OPTIONS * (answered with Allow), once its whole header block passed;
 *   411  Transfer-Encoding without Content-Length (bodies come with a length);
 *   413  Content-Length over SRV_MAX_BODY;  414/431  a request line / header line over
 *        SRV_MAX_LINE, or the block over SRV_MAX_HEAD;  417  an Expect other than 100-continue;
 *   505  an HTTP version other than 1.0 and 1.1.
 * Pass at most SRV_MAX_HEAD + 1 bytes. */
int srv__gate_scan(const char *p, size_t n, srv_gate_t *g);
/* 1 when v[0..n) is a Host value the gate takes (uri-host [":" port], outer blanks aside,
 * RFC 9110 §7.2), else 0. */
int srv__host_valid(const char *v, size_t n);
/* Drops a field value's outer blanks (RFC 9110 §5.5: SP and HTAB) from v[0..*n), for the values
 * the server reads whole (Host, --market-header); libevhtp keeps trailing ones and leading
 * tabs. */
void srv__ows_trim(const char **v, size_t *n);

/* Whether a request for an admin endpoint may go on: 0 when auth[0..n) is "Bearer <token>" with
 * the token of --admin-token-file, 404 when there is no token file (the endpoints are off), 401
 * otherwise. auth may be NULL. Shared by the handlers and the gate (which checks a request with
 * a body before its first byte is read, and before 100 Continue). */
int srv__admin_check(const srv_t *s, const char *auth, size_t n);

/* ---- Rendering (srv_render.c) -------------------------------------------------------------
 * Output goes into a ta_buf_t (base/ta.h) that its worker reuses. */

/* Appends s[0..n) as a JSON string literal with its quotes (", \ and C0 controls escaped,
 * controls as \u00XX). s must be valid UTF-8. */
int srv__json_string(ta_buf_t *b, const char *s, size_t n);

/* {"q":..,"suggestions":[{"text":..,"score":..},..]} for q (as received, decoded); with
 * market (not NULL, a market name) {"q":..,"market":..,"suggestions":..}. */
/* How a suggestion matched (SPEC §15): kind (TRIE_MATCH_*) and the highlighted display bytes,
 * spans[i] = {start, length}; trending: a rising query (SPEC §13), rendered "trending":true. */
typedef struct {
  uint8_t kind;
  uint8_t trending;
  uint8_t n_spans;
  uint32_t spans[TRIE_MAX_SPANS][2];
} srv_mark_t;

/* marks (NULL: none) adds "match" and "highlight" to each suggestion, and "trending":true to
 * those it marks trending (the others carry no such field). */
/* The Content-Type of a /search 200 in representation rep (0 JSON, 1 msgpack). */
const char *srv__render_ctype(int rep);
int srv__render_json(ta_buf_t *b, const char *q, size_t q_len, const char *market,
                     const trie_hit_t *hits, const srv_mark_t *marks, size_t n_hits);
/* The same map in msgpack: integral scores as integers, others as float 64. */
int srv__render_msgpack(ta_buf_t *b, const char *q, size_t q_len, const char *market,
                        const trie_hit_t *hits, const srv_mark_t *marks, size_t n_hits);

/* 1 when an If-None-Match header value (a list of entity tags, or "*") matches etag (weak
 * comparison, RFC 9110 §13.1.2). */
int srv__etag_match(const char *if_none_match, const char *etag);

/* 1 when an Accept header asks for application/msgpack over JSON (present with q > 0 and
 * not after application/json in preference). */
int srv__wants_msgpack(const char *accept);

/* A whole reply that closes its connection, for the connection layer (srv_conn.c) to write
 * itself: status, {"error":msg} (msg: a static string of ours, no character to escape; no body
 * for 204), Connection: close. Returns its length (it fits: cap >= 512). */
size_t srv__render_closing(int status, const char *msg, char *out, size_t cap);

/* Constant-time comparison of two byte strings (time depends on the lengths only). */
int srv__secret_equal(const char *a, size_t a_len, const char *b, size_t b_len);

/* A loaded trie (srv_state.c). */
typedef struct {
  uint64_t gen; /* 1, 2, ... per successful load: names this load exactly */
  trie_reader_t *reader;
  trie_words_t *words;   /* a regular trie's word index (SPEC §15), built at load; else NULL */
  trie_screen_t *screen; /* a trending trie's key heads (SPEC §13), built at load; else NULL */
  trie_info_t info;
  char version[24];  /* hex CRC32C of the header: names the file's content */
  int64_t loaded_at; /* unix seconds */
} srv_trie_t;

/* ---- Answer cache (srv_cache.c) ---------------------------------------------------------- */

#define SRV_CACHE_MAX_BODY 16384 /* larger answers are not kept */

typedef struct srv_centry srv_centry_t;

/* One per worker, used by that worker only. */
typedef struct {
  srv_centry_t **slots; /* (mask + 1) sets of 2 ways; NULL when the cache is off */
  size_t mask;
  size_t bytes, max_bytes; /* entries and table, against the bound */
  size_t entries;
  /* /metrics' gauges of bytes and entries, kept equal to them (NULL: none) */
  _Atomic uint64_t *gauge_bytes, *gauge_entries;
} srv_cache_t;

/* What an answer was computed from: an entry found under other tags is stale. */
typedef struct {
  uint64_t trie_gen;   /* the load of the trie of the request's market (srv_trie_t.gen) */
  uint64_t global_gen; /* a market's request: the load of global's trie, which may fill it (0:
                          none loaded); a request answered by global: 0 */
  uint64_t rules_version;
  uint64_t trend_gen; /* the load of the trending trie mixed in (0: none) */
} srv_ctag_t;

/* What the cache calls rep: the representation (0 JSON, 1 msgpack) plus, for answers that are
 * not this node's own answer to the query string, one of these (they are kept apart). */
#define SRV_CACHE_PART 2  /* a shard's words part (srv_search.c) */
#define SRV_CACHE_PEERS 4 /* what other shards answered: relayed, or merged (srv_shard.c) */

/* max_bytes 0: off (find always misses, put does nothing). gauge_bytes and gauge_entries (may
 * be NULL): where /metrics reads them, kept up to date by every change. */
int srv__cache_init(srv_cache_t *c, size_t max_bytes, _Atomic uint64_t *gauge_bytes,
                    _Atomic uint64_t *gauge_entries);
void srv__cache_free(srv_cache_t *c);
/* The entry for (rep, market, key) computed under tag, or NULL. An entry for the key with other
 * tags is stale: it is freed. The entry is borrowed until the next put or free. */
const srv_centry_t *srv__cache_find(srv_cache_t *c, int rep, unsigned market, const char *key,
                                    size_t key_len, const srv_ctag_t *tag);
/* Keeps a copy of body as the answer for (rep, market, key) under tag (evicting as needed; not
 * kept when over SRV_CACHE_MAX_BODY or the bound). etag: NULL for the tag's own (the usual), or
 * the answer's own ETag, kept with it; keep_ms: how long from now the entry stays fresh, 0 for
 * as long as its tags hold. */
void srv__cache_put(srv_cache_t *c, int rep, unsigned market, const char *key, size_t key_len,
                    const srv_ctag_t *tag, const char *etag, unsigned keep_ms, const char *body,
                    size_t body_len);
void srv__centry_body(const srv_centry_t *e, const char **body, size_t *len);
/* The entry's own ETag (NUL-terminated), or NULL when it is the tag's. */
const char *srv__centry_etag(const srv_centry_t *e);

/* ---- Markets (SPEC §10; srv_market.c) ---------------------------------------------------- */

#define SRV_MAX_MARKETS 256  /* tries of one node, global's included: more files are refused */
#define SRV_MARKET_INDEX 512 /* entries of the name index (open addressing, at most half full) */

/* With --trie-dir, whether a trie file may serve the slot of market name ("global": global's):
 * 0, or TA_ERANGE with d saying why when the file records another market (info, FORMAT.md's
 * META), i.e. it was copied or renamed into another's place; a file that records none (the
 * global total, a --freq build) fits any slot. In srv_state.c, its one caller (the loader). */
int srv__market_file_fits(const char *name, const trie_info_t *info, ta_diag_t *d);

/* The answer of a market that has fewer than k completions: hits[0..*n) (the market's own, in
 * their order) gains global's g[0..n_g) (one trie's: distinct keys), in their order, skipping a
 * completion whose key (the normalized display text) is already there, until k. hits has room
 * for k. */
int srv__market_fill(trie_hit_t *hits, size_t *n, size_t k, const trie_hit_t *g, size_t n_g);
/* 1 when t[0..n) is its own key (SPEC §3) and needs no normalizing: printable ASCII without
 * capitals, one space between words, none at either end. */
int srv__market_own_key(const char *t, size_t n);
/* The key of hit h (*key: its text when that is its own key, else buf, TA_MAX_KEY + 1 bytes)
 * and its hash. Most display forms are their own key: they skip the normalizer. How answers
 * made of two tries' hits (the fill, the trending mix) tell keys apart. */
int srv__hit_key(const trie_hit_t *h, char *buf, const char **key, size_t *len, uint64_t *hash);

/* ---- Metrics (srv_metrics.c) -------------------------------------------------------------- */

enum {
  SRV_EP_SEARCH,
  SRV_EP_HEALTHZ,
  SRV_EP_METRICS,
  SRV_EP_DEMO,
  SRV_EP_ADMIN,
  SRV_EP_OTHER,
  SRV_EP_COUNT
};
enum {
  SRV_ST_200,
  SRV_ST_304,
  SRV_ST_400,
  SRV_ST_401,
  SRV_ST_404,
  SRV_ST_405,
  SRV_ST_413,
  SRV_ST_414,
  SRV_ST_431,
  SRV_ST_500,
  SRV_ST_503,
  SRV_ST_OTHER,
  SRV_ST_COUNT
};
#define SRV_LAT_BUCKETS 12 /* upper bounds in srv_metrics.c, the last is +Inf */

/* One per worker, written only by its worker (relaxed atomic stores), read by /metrics. */
typedef struct {
  _Alignas(64) _Atomic uint64_t requests[SRV_EP_COUNT][SRV_ST_COUNT];
  _Atomic uint64_t latency[SRV_EP_COUNT][SRV_LAT_BUCKETS];
  _Atomic uint64_t latency_sum_ns[SRV_EP_COUNT];
  _Atomic uint64_t filter_hits[FLT_KIND_COUNT]; /* suppressed suggestions, by rule kind */
  _Atomic uint64_t rejected_by_gate;            /* refused before libevhtp's parser (conn_answer) */
  _Atomic uint64_t cache_lookups[2];            /* /search answer cache: [0] hits, [1] misses */
  _Atomic uint64_t cache_bytes, cache_entries;  /* gauges of this worker's cache */
  _Atomic uint64_t connections;                 /* gauge: open connections of this worker */
  _Atomic uint64_t rebalanced;                  /* connections closed by the balance guard */
  _Atomic uint64_t write_now[2];  /* replies written at once: [0] whole, [1] not (partial,
                                       * EAGAIN or error: the rest went the normal way) */
  _Atomic uint64_t forwarded;     /* requests sent to a peer (srv_peer.c) */
  _Atomic uint64_t peer_failures; /* attempts that failed (refused, reset, timeout, 5xx) */
  _Atomic uint64_t peer_ns;       /* time from forwarding to the answer, summed */
  _Atomic uint64_t market_requests[SRV_MAX_MARKETS]; /* /search answered, by routed market */
  _Atomic uint64_t trending_served; /* trending suggestions in answers computed (not cached) */
} srv_wmetrics_t;

int srv__status_index(int status);
/* Adds by to a counter of the calling worker's own block. Only the owning worker writes its
 * block: a load and a store are enough. Inline: it is on the request path of every file. */
static inline void srv__metrics_bump(_Atomic uint64_t *c, uint64_t by) {
  atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + by,
                        memory_order_relaxed);
}
void srv__metrics_count(srv_wmetrics_t *m, int ep, int status, uint64_t ns);
int srv__metrics_render(srv_t *s, unsigned w, ta_buf_t *b);

/* ---- Hot-swapped snapshots (srv_snap.c) ---------------------------------------------------
 * A slot (srv_snap_t) holds the current version of one piece of shared, immutable state (a
 * loaded trie, the rules in force) and replaces it while readers still use the old one. A table
 * (srv_snaptab_t) holds a node's slots by name ("trie", "markets", "rules"); they are added
 * before the workers and the reload thread start, and a hot path resolves its slot once and
 * keeps the pointer (srv__snap_find is a string lookup). The market table's own table gains a
 * slot per market later, on the reload thread, its only user; workers reach those slots through
 * the market table (srv_market.c), never through a table's array, which may move.
 *
 * Readers are numbered 0..readers-1 (the workers, by id). Each holds at most one version of a
 * slot at a time:  v = srv__snap_acquire(slot, w); ... srv__snap_release(slot, w);
 * which is two stores and two loads on the reader's own hazard entry (a cache line of its own):
 * no lock, no shared counter. Writers of one slot are serialized by the slot's owner (the reload
 * thread alone for a trie; the rules' mutex): srv__snap_publish() makes a version current, waits
 * until no reader's hazard names the one it replaced, then frees that with the slot's free_fn.
 * The table frees each slot's last version (srv__snaptab_free).
 *
 * A slot may also carry the watch of the file its versions come from (srv_watch_t: path, device,
 * inode, mtime, size) and a tick: srv__snaptab_tick() calls every slot's tick in the order the
 * slots were added (so a slot that depends on another, as the rules' verdict cache on the trie,
 * is added after it) and returns the first non-zero result. */
typedef struct srv_snap srv_snap_t;
typedef void (*srv_snap_free_t)(void *version);
/* Called by srv__snaptab_tick() with the slot, its arg and forced (1 on SIGHUP and POST
 * /admin/reload, 0 on a poll): reloads what changed; the result is a reload's outcome. */
typedef int (*srv_snap_tick_t)(srv_snap_t *slot, void *arg, int forced);

/* The signature of the file at path when it was last tried. path is borrowed. */
typedef struct {
  const char *path;
  int known; /* 0: nothing remembered, any file at path counts as changed */
  dev_t dev;
  ino_t ino;
  struct timespec mtime;
  off_t size;
} srv_watch_t;

typedef struct {
  _Alignas(64) _Atomic(void *) p; /* the version reader r holds, or NULL */
} srv_hazard_t;

struct srv_snap {
  _Atomic(void *) current; /* NULL until the first publish */
  srv_hazard_t *hazard;    /* readers entries */
  unsigned readers;
  srv_snap_free_t free_fn;
  srv_snap_tick_t tick; /* NULL: none */
  void *tick_arg;
  srv_watch_t watch; /* the writer's: serialized like publish */
  char name[32];
};

/* Zero-initialized: an empty table. Owns its slots and their current versions. */
typedef struct {
  srv_snap_t **slots; /* in the order added */
  size_t n, cap;
} srv_snaptab_t;

/* Adds an empty slot named name (under 32 bytes) for readers readers, its versions freed with
 * free_fn. TA_EEXIST when the name is taken, TA_EINVAL, TA_ENOMEM. *out is owned by tab. */
int srv__snap_add(srv_snaptab_t *tab, const char *name, unsigned readers, srv_snap_free_t free_fn,
                  srv_snap_t **out);
/* The slot named name, or NULL. */
srv_snap_t *srv__snap_find(const srv_snaptab_t *tab, const char *name);
void srv__snap_on_tick(srv_snap_t *slot, srv_snap_tick_t tick, void *arg);
int srv__snaptab_tick(srv_snaptab_t *tab, int forced);
/* Frees every slot with its current version; tab is then empty. No reader may hold one. */
void srv__snaptab_free(srv_snaptab_t *tab);

/* Reader r's reference on the current version (NULL when none); valid until the release. */
static inline void *srv__snap_acquire(srv_snap_t *slot, unsigned r) {
  _Atomic(void *) *h = &slot->hazard[r].p;
  void *v = atomic_load(&slot->current);
  for (;;) {
    atomic_store(h, v);
    void *again = atomic_load(&slot->current);
    if (again == v) return v;
    v = again;
  }
}

static inline void srv__snap_release(srv_snap_t *slot, unsigned r) {
  atomic_store_explicit(&slot->hazard[r].p, NULL, memory_order_release);
}

/* Writer side. peek: the current version without a reference (a writer's, or before readers
 * run: only a writer frees). swap: makes version current and returns the old one, which the
 * caller hands to retire (it may publish what the swap implies, as a version number, in
 * between); retire waits for the old version's last reader and frees it (NULL: no-op).
 * publish = swap + retire. */
void *srv__snap_peek(const srv_snap_t *slot);
void *srv__snap_swap(srv_snap_t *slot, void *version);
void srv__snap_retire(srv_snap_t *slot, void *old);
void srv__snap_publish(srv_snap_t *slot, void *version);

/* Watch: check returns 1 when the file at w->path is not the one remembered, 0 when it is, a
 * negative TA_E* when it cannot be stat'ed (TA_ENOENT: gone). remember stats path and keeps its
 * signature (unchanged when stat fails): a loader calls it before it opens the file, so a file
 * replaced in between is seen as changed on the next check (a spurious retry is harmless). */
void srv__watch_init(srv_watch_t *w, const char *path);
int srv__watch_check(const srv_watch_t *w);
void srv__watch_remember(srv_watch_t *w);
void srv__watch_forget(srv_watch_t *w);

/* ---- The loaded tries (srv_state.c) -------------------------------------------------------
 * Global's trie lives in the slot "trie" of the node's table, watching --trie FILE (or
 * DIR/global.trie); the first srv__trie_load() (at start) adds the slot and keeps it in
 * s->trie_snap. Each other market's trie lives in a slot of the market table's own snapshot
 * table (srv_market.c), named after the market and added by srv__trie_slot_add(). */

/* Takes a reference on the current trie for worker w (NULL when none is loaded); drop it with
 * srv__trie_release() before the worker returns to its event loop. */
static inline const srv_trie_t *srv__trie_acquire(srv_t *s, unsigned w);
static inline void srv__trie_release(srv_t *s, unsigned w);

/* Reads the trie file whole into memory of its own (trie_open_copy: a regular file only, at most
 * half the machine's memory), verifies that copy fully, and publishes it. On failure (a FIFO, a
 * directory or a device at the path included, refused before a byte is read) the old trie stays
 * (and the failure is logged and counted). Called once at start, then by the slot's tick on the
 * reload thread. why is a word for the log ("start", "reload", ...). */
int srv__trie_load(srv_t *s, const char *why);

typedef struct srv_market srv_market_t;
/* Adds market m's slot to tab under m's name, ticked like global's; with m->drop_when_gone a
 * file that disappears empties the slot (the market is no longer served) instead of keeping
 * the old trie. */
int srv__trie_slot_add(srv_market_t *m, srv_snaptab_t *tab);

/* ---- Reload thread (srv_reload.c) ---------------------------------------------------------
 * Every 250 ms, and at once for a ticket, runs srv__snaptab_tick() over the node's slots. A
 * ticket (SIGHUP, POST /admin/reload) forces every slot to reload; srv__reload_poll() never
 * blocks: 1 once the ticket is served (*result: the latest forced reload's result), 0 not yet,
 * TA_EBUSY when the server stops first. POST /admin/reload waits for its ticket at most
 * SRV_RELOAD_WAIT_MS (then 503). */
#define SRV_RELOAD_WAIT_MS 60000
uint64_t srv__reload_request(srv_t *s);
int srv__reload_poll(srv_t *s, uint64_t ticket, int *result);
int srv__reload_start(srv_t *s);
void srv__reload_stop(srv_t *s);

/* ---- Filter layer (SPEC §9; srv_filters.c) ------------------------------------------------
 * The rules in force live in the slot "rules" (watching --filters FILE), added by
 * srv__filters_start() after the trie's. A request takes them once, as it takes its tries:
 * rules = srv__rules_acquire(s, w, &version) ... srv__rules_release(s, w), and every lookup of
 * the request goes through that one snapshot, whose version names it (the cache's tag, the
 * ETag): a rules change in between cannot filter one part of an answer by the old rules and
 * another by the new (rules NULL: no filter layer; w holds one snapshot at a time).
 * srv__answer() is the one function that turns a normalized prefix into suggestions: the first
 * n completions of t (the trie of market market) that rules keep (flt_lookup; their texts in
 * text, the worker's scratch, until it is reset), counted by kind in m->filter_hits.
 * srv__filter_version() names the rules in force
 * (ETag, /healthz; a per-thread buffer). srv__filters_tick() is the slot's tick: it picks up a
 * replaced rules file (every reload when forced) and makes a verdict cache for each market's
 * new trie; it
 * never fails a reload (refused rules are logged and counted, the old ones stay).
 * srv__filters_start() loads --filters at start (an error is fatal). srv__filters_free() frees
 * the filter layer; srv_free() then frees the node's table (every slot with its last version).
 * A verdict cache is per trie: market i's trie is index i, its trending trie (srv_trending.c)
 * index SRV_MAX_MARKETS + i (the market argument of srv__answer). */
typedef struct srv_flt srv_flt_t;
typedef struct srv_fstate srv_fstate_t;
#define SRV_FLT_TRIES (2 * SRV_MAX_MARKETS)

const srv_fstate_t *srv__rules_acquire(srv_t *s, unsigned w, uint64_t *version);
void srv__rules_release(srv_t *s, unsigned w);
int srv__answer(const srv_fstate_t *rules, const srv_trie_t *t, unsigned market, srv_wmetrics_t *m,
                const char *key, size_t key_len, size_t n, trie_text_t *text, trie_hit_t *hits,
                size_t *n_hits);
/* The mark of an exact prefix match: key_len bytes of the typed key, mapped onto hit's text. */
void srv__mark_prefix(const trie_hit_t *hit, size_t key_len, srv_mark_t *mk);
/* The other shards' word matches of a prefix (srv_shard.c), best first (score, then key: the
 * order of one trie), at most TA_MAX_K, their texts borrowed; etag_hash: of the shards' ETags
 * (partial: a shard did not answer, so its matches are missing; untagged: a shard's matches
 * came without an ETag a node gives, so nothing names them and the answer gets no ETag). */
typedef struct {
  size_t n;
  trie_hit_t hit[TA_MAX_K];
  srv_mark_t mark[TA_MAX_K];
  uint64_t etag_hash;
  int partial, untagged;
} srv_words_t;

/* One trie's order of two completions: the higher score first, then the smaller key
 * (bytewise); <0, 0, >0 as memcmp. How shards' parts are merged. */
int srv__rank_cmp(double score_a, const char *key_a, size_t len_a, double score_b,
                  const char *key_b, size_t len_b);
/* After the *n_hits exact hits (the first n_own of them t's own, from srv__answer; the rest
 * another trie's: a market's fill from global): word and typo matches of t (typos:
 * TRIE_TYPOS_AUTO or 0..2 edits; words: 0 or 1) through rules (the same), none of them one of
 * t's exact hits, up to n in all: appended to hits and marks (prefix marks for the exact ones),
 * *n_hits the total. With others (not NULL: a sharded node's other shards' word matches), t's
 * word matches and theirs are merged in rank order before the typo matches, as one trie would
 * give them. */
int srv__answer_more(const srv_fstate_t *rules, const srv_trie_t *t, unsigned market,
                     const char *key, size_t key_len, int typos, int words,
                     const srv_words_t *others, size_t n_own, size_t n, trie_text_t *text,
                     trie_hit_t *hits, srv_mark_t *marks, size_t *n_hits);
const char *srv__filter_version(srv_t *s);
/* The version of the rules in force, as a number (what srv__rules_acquire gives with them). */
uint64_t srv__filter_version_num(srv_t *s);
void srv__filters_tick(srv_t *s, int forced);
int srv__filters_start(srv_t *s);
void srv__filters_free(srv_t *s);
/* GET /admin/filters: the text of the rules in force into b, their version into version. */
int srv__filters_get(srv_t *s, unsigned w, ta_buf_t *b, char version[17]);
/* PUT /admin/filters: compiles text; when it is valid, rewrites --filters FILE atomically and
 * puts the rules in force (*out: their info, without text). On invalid rules returns TA_EPARSE
 * (or TA_EUTF8, TA_ETOOLONG) with err's line and message; TA_ENOENT without --filters. */
int srv__filters_put(srv_t *s, unsigned w, const char *text, size_t len, ta_diag_t *err,
                     flt_info_t *out);
/* The typeahead_filter_* families of /metrics. */
int srv__filters_metrics(srv_t *s, ta_buf_t *b);

/* ---- The market table (srv_market.c) ------------------------------------------------------
 * Market 0 is global (--trie FILE, or DIR/global.trie with --trie-dir DIR); markets 1.. are the
 * other DIR/NAME.trie files. The table has a fixed capacity and never moves: the reload thread,
 * its one writer, fills an entry and adds its slot, then publishes it in the name index and the
 * count (release stores), so workers read it without a lock. An entry is never removed: a
 * market whose file is gone keeps its entry with an empty slot. */
struct srv_market {
  srv_t *srv;
  char name[TA_MAX_MARKET + 1]; /* "global" for market 0 */
  char *path;                   /* its file (owned) */
  srv_snap_t *slot;             /* its versions, srv_trie_t */
  int drop_when_gone;
  int trending; /* a trending trie (srv_trending.c), for the log */
  _Atomic uint64_t reloads_ok, reloads_failed;
};

typedef struct {
  srv_market_t *m;                          /* SRV_MAX_MARKETS entries */
  _Atomic unsigned n;                       /* entries in use (1 until --trie-dir finds more) */
  _Atomic uint16_t index[SRV_MARKET_INDEX]; /* name hash -> entry + 1; 0: free */
  srv_snaptab_t snaps;                      /* the slots of markets 1.. */
  char *dir;                                /* --trie-dir; NULL with --trie */
  char *header;                             /* --market-header; NULL: none */
  char vary[96];                            /* "Accept" or "Accept, <header>" */
  uint64_t *ignored; /* hashes of the file names logged as ignored (reload thread) */
  size_t n_ignored;
} srv_markets_t;

/* srv__markets_init (srv_new, before the first srv__trie_load): the table with global's entry.
 * srv__markets_start (after it): with --trie-dir, the slot "markets" whose tick scans DIR
 * (every 250 ms) and ticks each market's slot, and a first scan and load. srv__markets_free
 * frees what init and start made (after the workers and the reload thread stopped). */
int srv__markets_init(srv_t *s, const char *dir, const char *header);
int srv__markets_start(srv_t *s);
void srv__markets_free(srv_t *s);
/* The entry of market name[0..n) (already lower case), or -1 when unknown or not a name. */
int srv__market_find(const srv_t *s, const char *name, size_t n);
/* The market a request names: its first market= parameter of raw[0..len) (percent-decoded),
 * else the value of the --market-header (hdr, may be NULL), lower-cased; 0 (global) when neither
 * names a known market. */
unsigned srv__market_of(const srv_t *s, const char *raw, size_t len, const char *hdr);

/* ---- Trending (SPEC §13; srv_trending.c) --------------------------------------------------
 * --trending FILE (with --trie) or DIR (with --trie-dir: DIR/global.trie, DIR/M.trie for each
 * market M of the trie dir): small ordinary tries of rising queries, scored by burst. Entry i of
 * the table is market i's trending trie, a srv_market_t loaded, verified, swapped and dropped by
 * the markets' own loader and tick (srv_state.c), in slots of the table's own snapshot table,
 * ticked by the node's slot "trending" (added after "markets" and before "rules", so a verdict
 * cache is made for a new trending trie in the same pass). Its tick never fails a reload: a
 * missing file means no trending (logged once), a bad one is refused and the old one stays.
 * A market without a trending trie loaded mixes in global's. Entries are published like the
 * markets' (filled, then the count with a release store) and never move. */
typedef struct {
  srv_market_t *m;     /* SRV_MAX_MARKETS entries; NULL: no trending */
  _Atomic unsigned n;  /* entries in use */
  srv_snaptab_t snaps; /* their slots */
  char *path;          /* --trending */
  unsigned slots;      /* --trending-slots */
} srv_trending_t;

/* srv__trending_start (srv_new, after srv__markets_start): path NULL or slots 0: none.
 * srv__trending_free: after the workers and the reload thread stopped. */
int srv__trending_start(srv_t *s, const char *path, unsigned slots);
void srv__trending_free(srv_t *s);
/* The trending trie for a request answered by market (its own, else global's; NULL: none),
 * held by worker w until srv__trending_release(s, w, *idx). */
const srv_trie_t *srv__trending_acquire(srv_t *s, unsigned w, unsigned market, unsigned *idx);
void srv__trending_release(srv_t *s, unsigned w, unsigned idx);
/* Mixes the completions of key in trending trie tt (entry idx) that rules (the request's, see
 * srv__rules_acquire) keep into the regular answer hits[0..*n) (room for k) with trie_mix;
 * marks[0..*n) (how each regular hit matched) follow their hits, a trending one added gets a
 * prefix mark, and each mark says whether its hit is trending (counted in m). Nothing is
 * looked up when tt's key-head screen says no key starts with key (the answer stands). */
int srv__trending_mix(srv_t *s, const srv_fstate_t *rules, const srv_trie_t *tt, unsigned idx,
                      srv_wmetrics_t *m, const char *key, size_t key_len, size_t k,
                      trie_text_t *text, trie_hit_t *hits, size_t *n, srv_mark_t *marks);
/* /healthz's "trending" member (appended after a comma). */
struct srv_worker;
int srv__trending_healthz(struct srv_worker *w, ta_buf_t *b);

/* A libevent timeout of ms milliseconds. */
static inline struct timeval srv__timeval_ms(unsigned ms) {
  return (struct timeval){(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
}

/* ---- Peers of a sharded node (srv_peer.c, SPEC §11) --------------------------------------
 * The peers file: one line per shard, SHARD<TAB>HOST:PORT[,HOST:PORT...] (its replicas; HOST a
 * name, resolved once at start, an IPv4 address or [IPv6]), # comments. srv__peers_parse checks
 * every line (the line number in diag) and that every shard but own has a replica.
 *
 * The client: srv__peer_get sends GET uri (with SRV_FORWARDED_HEADER: shard, so the peer
 * answers from its own shard and never forwards again, or 421 when it serves another; and
 * Accept) to a replica of shard from worker w's loop, trying the next replica on a refused
 * connection, a reset, a timeout (peer_timeout_ms per attempt, whole), a 421, a 5xx or a status
 * no node gives, and calls cb once with the answer (status 0: every replica failed; body, etag
 * and ctype borrowed for the call). srv__peer_cancel: cb is never called (the attempt in flight
 * ends quietly). Per worker: srv__peer_init / srv__peer_fini (frees the calls
 * still in flight without calling them). */
#define SRV_MAX_REPLICAS 16      /* per shard in the peers file */
#define SRV_PEER_CONNS 4         /* kept-alive connections per replica per worker */
#define SRV_PEER_PENALTY_MS 1000 /* a replica that failed is tried last for this long */
#define SRV_PEER_MAX_BODY 262144 /* bytes of a peer's answer a worker accepts */
#define SRV_FORWARDED_HEADER "X-Typeahead-Forwarded"
/* With SRV_FORWARDED_HEADER, "words": the peer answers its shard's word matches alone (no exact
 * or typo matches, no trending): a part of the owner's words merge (srv_shard.c). */
#define SRV_PART_HEADER "X-Typeahead-Part"
/* With SRV_FORWARDED_HEADER, the hash of the forwarding node's shard map (16 hex digits,
 * trie_shard_hash): a node that routes by another map answers 421, as for another shard, since
 * its trie holds the keys of its map's shard, not of the asker's. A header of its own, so that
 * a node that does not send or read it still talks to one that does. */
#define SRV_MAP_HEADER "X-Typeahead-Map"
#define SRV_PEER_TIMEOUT_MS 250       /* default --peer-timeout-ms: one attempt */
#define SRV_PEERS_FILE_MAX (1u << 20) /* bytes of a peers file */

typedef struct {
  char name[300]; /* as written: the logs */
  char host[300]; /* the Host header: name when it is a valid one (srv__host_valid), else
                     addr (bracketed when IPv6) and port: a peers file may say ::1:8081 */
  char addr[64];  /* numeric */
  uint16_t port;
} srv_replica_t;

typedef struct {
  trie_shard_map_t *map; /* owned */
  char map_id[17];       /* trie_shard_hash of map, hex: SRV_MAP_HEADER */
  unsigned n_shards, own;
  unsigned timeout_ms;
  unsigned cache_ms; /* --peer-cache-ms: answers other shards' tries made are kept this long */
  unsigned n_rep[TRIE_MAX_SHARDS];
  srv_replica_t *rep[TRIE_MAX_SHARDS];
  /* ta_unix_s() of the last answer from a replica of each shard, and of the last request
   * that no replica answered (written by the workers; /healthz) */
  _Atomic int64_t ok_at[TRIE_MAX_SHARDS], failed_at[TRIE_MAX_SHARDS];
  _Atomic int last_outcome[TRIE_MAX_SHARDS]; /* of the latest request: 0 none, 1 answered, 2 not */
} srv_peers_t;

typedef struct srv_worker srv_worker_t;
typedef struct srv_reply srv_reply_t;
typedef struct srv_wpeers srv_wpeers_t;
typedef struct srv_peer_call srv_peer_call_t;
typedef void (*srv_peer_cb)(void *arg, int status, const char *body, size_t len, const char *etag,
                            const char *ctype);

int srv__peers_parse(const char *text, size_t len, const char *name, unsigned n_shards,
                     unsigned own, srv_peers_t **out, ta_diag_t *diag);
void srv__peers_free(srv_peers_t *p);
int srv__peer_init(srv_worker_t *w);
void srv__peer_fini(srv_worker_t *w);
int srv__peer_get(srv_worker_t *w, unsigned shard, const char *uri, const char *accept,
                  const char *inm, const char *part, srv_peer_cb cb, void *arg,
                  srv_peer_call_t **out);
void srv__peer_cancel(srv_peer_call_t *c);

/* srv_shard.c. srv__shard_start (srv_new): the map, this node's shard and its peers, or the
 * error logged. srv__shard_take (GET /search of a sharded node): 1 when another shard owns the
 * prefix (forwarded) or every shard does (the empty key: merged), with r->later set or the
 * error answered; 0 when this node answers alone (its own shard's prefix, a forwarded request,
 * a request with errors, not sharded), *part set to 1 for a forwarded request (a peer's, for
 * this shard's part), 2 for a words part (SRV_PART_HEADER), else 0.
 * srv__shard_words (the owner of a prefix with fewer exact matches than asked for, words on):
 * asks every other shard for its word matches of the request's prefix (words parts, in
 * msgpack); r->later then calls done with them (srv_search.c's answer: a callback, so that
 * the two files do not call each other). 0, or an error (nothing started). */
int srv__shard_start(srv_t *s, const char *map_path, unsigned shard, const char *peers_path,
                     unsigned timeout_ms, unsigned cache_ms);
int srv__shard_take(srv_reply_t *r, const char *raw, size_t raw_len, int rep, int *part);
typedef void (*srv_words_fn)(srv_reply_t *r, int part, const srv_words_t *others);
int srv__shard_words(srv_reply_t *r, const char *raw, size_t raw_len, int part, srv_words_fn done);
/* /healthz's "shard" member (appended after a comma): this node's shard, and for every other
 * shard its replicas and whether the last request for it was answered (null: none yet). */
int srv__shard_healthz(srv_t *s, ta_buf_t *b);

/* ---- Server ------------------------------------------------------------------------------- */

struct srv {
  char *trie_path, *filters_path, *cors_origin;
  char *trie_path_utf8; /* trie_path as /healthz shows it: valid UTF-8 (trie_utf8_put) */
  unsigned threads;
  unsigned cache_max_age;
  size_t answer_cache_bytes; /* per worker; 0: off */
  int access_log;
  char cache_control[48]; /* "public, max-age=S" */
  char listen_host[264];  /* for the log line */
  char *admin_token;      /* NULL: admin endpoints answer 404 */
  size_t admin_token_len;

  int port;
  int *listen_fds; /* one SO_REUSEPORT socket per worker, until its worker's listener owns it */
  /* Limits (srv_conn.c): open connections of all workers together, against max_conns (a new
   * one beyond is answered 503 and closed); a request's bytes must all arrive within
   * header_timeout_ns of its first (or of the accept). */
  unsigned max_conns;
  uint64_t header_timeout_ns;
  _Atomic unsigned conns_open;
  /* Where new connections go (srv_place.c): if place_by_cpu, -1 by CPU, k >= 0 worker k while
   * the balance guard is on (changed by workers under place_mu, read by them without it); else
   * the kernel's hash. */
  int place_by_cpu;
  _Atomic int place;
  _Atomic uint64_t unbalanced_since; /* ta_mono_ns() when the counts went out of balance; 0 */
  pthread_mutex_t place_mu;
  srv_worker_t *workers;

  /* Hot-swapped state: the node's named slots (srv_snap.c) and the "trie" slot, resolved once
   * by the first srv__trie_load() so that a request looks up no name. */
  srv_snaptab_t snaps;
  srv_snap_t *trie_snap;
  srv_markets_t mk;         /* the tries by market; global's slot is trie_snap */
  srv_wmetrics_t *wmetrics; /* threads entries */

  /* Reload thread (srv_reload.c); srv_new() and srv_free() set up and destroy the mutex and
   * condition variables. */
  pthread_t reload_thread;
  int reload_running;
  pthread_mutex_t reload_mu;
  pthread_cond_t reload_cv;  /* wakes the reload thread */
  uint64_t reload_requested; /* tickets handed out */
  uint64_t reload_done;      /* last ticket served */
  int reload_result;         /* result of that reload */
  int reload_stop;
  uint64_t trie_gen_last; /* srv_trie_t.gen of the last load of any market (the reload
                             thread, or srv_new before it runs) */

  srv_flt_t *flt;     /* the filter layer (srv_filters.c) */
  srv_peers_t *peers; /* a sharded node's peers (srv_peer.c); NULL: not sharded */
  srv_trending_t tr;  /* trending tries (srv_trending.c) */

  _Atomic uint64_t reloads_ok, reloads_failed; /* every market's loads together */
  _Atomic int64_t last_reload_failed_at;
  int64_t started_at;
};

/* ---- HTTP side: workers, replies, connections ---------------------------------------------
 * libevhtp and libevent types appear here by their struct tags only: the files that use their
 * fields include the libraries' headers themselves. */

struct event;
struct event_base;
struct evbuffer;
struct evhtp;
struct evhtp_request;

typedef struct srv_conn srv_conn_t;               /* srv_conn.c */
typedef struct srv_search_hdrs srv_search_hdrs_t; /* srv_search.c */

/* One worker thread and everything only it touches (srv_life.c makes and frees it). */
struct srv_worker {
  srv_t *srv;
  unsigned id;
  pthread_t thread;
  int started;
  struct event_base *base;
  struct evhtp *htp;
  int listen_fd; /* its SO_REUSEPORT socket (owned by htp's listener; -1 once closed) */
  struct event *stop_ev, *deadline_ev;
  /* srv_conn.c: the once-a-second sweep (request deadlines, lingering closes), the timer that
   * resumes accepting after a pause, and the descriptor kept in reserve for the 503 that
   * answers a connection when descriptors run out. */
  struct event *sweep_ev, *resume_ev, *defer_ev; /* defer_ev: polls deferred requests */
  size_t n_deferred;
  unsigned accept_pause_ms; /* the last pause; 0: accepting normally */
  uint64_t accept_error_at; /* ta_mono_ns() of the last accept error */
  int reserve_fd;
  int draining;
  srv_conn_t *conns; /* open connections (for draining) */
  size_t n_conns;
  size_t n_leaving;         /* of those, told to go by the balance guard, not gone yet */
  struct evbuffer *scratch; /* holds a request's head while its tail is set aside */
  ta_buf_t out;             /* response body, reused */
  ta_buf_t wire;            /* a whole /search reply (srv_search.c), reused */
  srv_cache_t cache;        /* /search answers (srv_cache.c) */
  srv_search_hdrs_t *hdrs;  /* /search header blocks, made again on a swap */
  srv_wmetrics_t *m;
  srv_wpeers_t *peers; /* srv_peer.c; NULL when the node is not sharded */
  /* The texts of the hits of the answer being made (trie.h's scratch; every srv__answer* call
   * gets it as text). One answer at a time: every hit is made, rendered (or copied, srv_shard.c)
   * and let go within one call of a handler, and the handler resets it before it returns to
   * the loop, so no hit is held across a wait. A request that waits for peers keeps texts in
   * its own state (srv_shard.c's texts), never in this. */
  trie_text_t *text;
};

/* One request being answered: what the reply functions need and what the router counts. A
 * handler whose answer comes later (a reload, a peer's answer) queues no reply and sets later:
 * the router defers the request (srv__conn_defer) and calls later(r) on the worker's loop until
 * it returns 1, having replied. later_free(later_state), when set, runs once the request is
 * done or its connection went first. */
struct srv_reply {
  srv_worker_t *w;
  struct evhtp_request *req;
  int ep;          /* SRV_EP_* */
  int status;      /* set when the reply is queued */
  size_t body_len; /* for the access log */
  uint64_t t0;     /* ta_mono_ns() at the handler's start */
  uint64_t ticket; /* POST /admin/reload: the reload it waits for */
  int (*later)(srv_reply_t *r);
  void *later_state;
  void (*later_free)(void *state);
};

/* srv_route.c: registers the router as w's request callback. */
void srv__route_attach(srv_worker_t *w);

/* srv_search.c: GET/HEAD /search; the worker's header blocks (init before the first request,
 * fini frees them; fini of a worker whose init failed or never ran is fine). */
void srv__handle_search(srv_reply_t *r);
int srv__search_init(srv_worker_t *w);
void srv__search_fini(srv_worker_t *w);

/* srv_admin.c: the other endpoints. srv__handle_reload() queues no reply: it takes a reload
 * ticket and sets r->later, which answers once that reload is done. srv__admin_authorized()
 * answers 404 (no token file) or 401 itself and returns 0; 1 when the request carries the right
 * bearer token. */
void srv__handle_healthz(srv_reply_t *r);
void srv__handle_metrics(srv_reply_t *r);
void srv__handle_demo(srv_reply_t *r);
void srv__handle_reload(srv_reply_t *r);
void srv__handle_filters_get(srv_reply_t *r);
void srv__handle_filters_put(srv_reply_t *r);
int srv__admin_authorized(srv_reply_t *r);

/* srv_reply.c. Headers added with copy_v 0 borrow v until the reply is sent. srv__reply_send
 * sends body[0..n) (omitted for HEAD, 204 and 304; Content-Length kept for HEAD) and records
 * status and length in r; srv__reply_error sends {"error":msg} with no-store and CORS. */
void srv__reply_header(struct evhtp_request *req, const char *k, const char *v, int copy_v);
void srv__reply_cors(srv_t *s, struct evhtp_request *req);
void srv__reply_send(srv_reply_t *r, int status, const char *ctype, const void *body, size_t n);
/* A 204 or 304 with the headers set on r->req and no Content-Length, queued as libevhtp would
 * send it otherwise (Connection as srv__conn_header); 0 when queued, else nothing sent. */
int srv__reply_bodiless(srv_reply_t *r, int status);
/* The raw query string of req ("" when it has none), as /search and its answer cache read it. */
const char *srv__query_raw(struct evhtp_request *req);
void srv__reply_error(srv_reply_t *r, int status, const char *msg);
void srv__reply_405(srv_reply_t *r, const char *allow);

/* srv_conn.c: the only file that knows libevhtp's and libevent's internals.
 * srv__conn_attach: once w's listener exists: wraps every connection w accepts from now on (the
 *   request gate, pipelining, the socket read, writing at once), caps them, pauses accepting
 *   when descriptors run out, and starts the sweep; srv__conn_fini undoes it (after
 *   srv__conn_close_all).
 * srv__conn_request_begin: the router's first call for a request (now: its start): the
 *   connection's next byte starts another request, and the balance guard may close it after
 *   this reply (srv_place.c).
 * srv__conn_close_after_reply: the reply says "Connection: close" (HTTP/1.1; HTTP/1.0: no
 *   keep-alive) and the connection closes once it is out.
 * srv__conn_header: the Connection header line libevhtp would write in req's reply ("" for
 *   none), as htp__create_reply_ decides it; NULL for a protocol other than HTTP/1.0 and 1.1.
 * srv__conn_queue_reply: queues bytes[0..n), a whole reply (status line to body) of status, as
 *   req's reply, and marks req finished as evhtp_send_reply would; 0 when queued.
 * srv__conn_defer: req's handler queued no reply yet: the connection stops reading (a
 *   pipelined request waits its turn) and poll(arg) runs on w's loop every SRV_DEFER_POLL_MS
 *   until it returns 1, having queued the reply, which then goes out; reading resumes. arg is
 *   the caller's malloc'd state: freed once poll returned 1 or the connection went first (poll
 *   is then never called again). TA_ENOMEM or TA_EINVAL: nothing deferred, arg not taken.
 *   free_fn(arg) frees it (NULL: free()). srv__conn_defer_kick: w's deferred requests are
 *   polled at the next turn of its loop (an answer arrived) rather than at the next period.
 * srv__conn_drain: closes w's idle connections, each after a 503 (the stop's, for a request
 *   that comes meanwhile); the others close after their reply.
 * srv__conn_close_all: closes every connection of w at once.
 * srv__conn_refuse_fd: answers 503 (Retry-After: 1, msg) on a socket libevhtp never sees,
 *   having read what the client sent (so the close is a FIN after it, not a reset); the caller
 *   closes fd. */
int srv__conn_attach(srv_worker_t *w);
void srv__conn_fini(srv_worker_t *w);
void srv__conn_request_begin(srv_worker_t *w, struct evhtp_request *req, uint64_t now);
void srv__conn_close_after_reply(struct evhtp_request *req);
const char *srv__conn_header(const struct evhtp_request *req);
int srv__conn_queue_reply(struct evhtp_request *req, int status, const void *bytes, size_t n);
typedef int (*srv_defer_fn)(void *arg);
#define SRV_DEFER_POLL_MS 10
int srv__conn_defer(srv_worker_t *w, struct evhtp_request *req, srv_defer_fn poll, void *arg,
                    void (*free_fn)(void *arg));
void srv__conn_defer_kick(srv_worker_t *w);
void srv__conn_drain(srv_worker_t *w);
void srv__conn_close_all(srv_worker_t *w);
void srv__conn_refuse_fd(srv_worker_t *w, int fd, const char *msg);

/* srv_place.c. srv__place_start: once every listening socket is open (srv_new), installs the
 * CPU program if there are no more workers than CPUs (else the kernel's hash, and no guard).
 * srv__place_update: after worker w's connection count changed (the guard's clock).
 * srv__place_unload: 1 when the reply to a request on connection fd of w should close it,
 * to move the connection to a less loaded worker. */
void srv__place_start(srv_t *s);
void srv__place_update(srv_worker_t *w);
int srv__place_unload(srv_worker_t *w, int fd, uint64_t now);

/* One log line on stderr, prefixed "typeahead-serve: ". */
void srv__log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The same for a warning that may repeat fast (under attack, out of descriptors): at most one
 * line a second per kind, the next one saying how many were suppressed meanwhile. Any thread. */
enum {
  SRV_LOG_ACCEPT,
  SRV_LOG_CONN_CAP,
  SRV_LOG_LIBEVENT,
  SRV_LOG_MARKETS,
  SRV_LOG_PEERS,
  SRV_LOG_KINDS
};
void srv__log_limited(int kind, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* s as it may go into a log line when it comes from outside (a file name in --trie-dir): each
 * control byte (below 0x20, and 0x7f) and each backslash written \xNN, so the name can neither
 * split the line nor forge another; other bytes as they are. Written into buf (cap >= 4 bytes,
 * 4 x strlen(s) + 1 hold any s); a longer result is cut and ends with "...". Returns buf. */
const char *srv__log_esc(const char *s, char *buf, size_t cap);
/* srv__log_esc into a buffer of the caller's block (a compound literal, one per use), for a
 * log line's argument that comes from outside: a path or name the operator gave, a file's
 * content quoted in a message. Cut at the length of a log line. */
#define SRV_LOG_ESC_CAP 1024
#define SRV_LOG_ESC(s) srv__log_esc((s), (char[SRV_LOG_ESC_CAP]){0}, SRV_LOG_ESC_CAP)

/* The "trie" slot's reader side (srv_state.c resolves the slot once), inline: every /search
 * calls them. */
static inline const srv_trie_t *srv__trie_acquire(srv_t *s, unsigned w) {
  return s->trie_snap ? (const srv_trie_t *)srv__snap_acquire(s->trie_snap, w) : NULL;
}

static inline void srv__trie_release(srv_t *s, unsigned w) {
  if (s->trie_snap) srv__snap_release(s->trie_snap, w);
}

#endif /* TYPEAHEAD_SRV_INT_H */
