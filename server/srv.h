/*
 * typeahead: the query server's public interface (SPEC §8).
 *
 * A server reads one trie file (or one per market from a directory, SPEC §10), answers GET
 * /search and the other endpoints of SPEC §8 over libevhtp, and swaps in a new trie file
 * (SIGHUP, POST /admin/reload, or the file being replaced) without failing a request. Everything else (threads, reload thread, metrics) is
 * internal: see srv_int.h.
 *
 * Conventions (every module's, base/ta.h): functions return 0 or a negative TA_E* code (ta.h);
 * _free(NULL) is a no-op.
 */
#ifndef TYPEAHEAD_SRV_H
#define TYPEAHEAD_SRV_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct srv srv_t;

#define SRV_TRENDING_SLOTS 2                      /* default --trending-slots */
#define SRV_PEER_CACHE_MS 1000                    /* default --peer-cache-ms */
#define SRV_TRENDING_SLOTS_MAX TRIE_MIX_MAX_SLOTS /* (trie.h) what trie_mix takes at most */

typedef struct {
  const char *trie_path;        /* --trie FILE: one trie (global); or NULL with trie_dir */
  const char *trie_dir;         /* --trie-dir DIR: every DIR/NAME.trie as market NAME,
                                   DIR/global.trie as global (SPEC §10); NULL with trie_path */
  const char *market_header;    /* --market-header: the request header naming the market when
                                   there is no market= parameter; NULL: none */
  const char *filters_path;     /* --filters: NULL for none (the filter layer) */
  const char *listen;           /* "HOST:PORT" or "[V6]:PORT"; NULL = 127.0.0.1:8080; port 0 =
                                   any free port (srv_port() tells which) */
  unsigned threads;             /* worker threads, each with its own event loop; 0 = 1 */
  const char *admin_token_file; /* NULL: admin endpoints are off (404) */
  unsigned cache_max_age;       /* seconds in Cache-Control of /search */
  const char *cors_origin;      /* NULL: no CORS headers */
  int access_log;               /* nonzero: one line per request on stderr */
  unsigned answer_cache_mb;     /* bound of the /search answer cache, all workers together;
                                   0 = off */
  unsigned max_connections;     /* open connections, all workers together (more get 503);
                                   0 = derived from the descriptor limit */
  unsigned header_timeout;      /* seconds a request has to arrive whole (408 after);
                                   0 = 30 */
  const char *shard_map;        /* --shard-map: this node serves one prefix shard (SPEC §11);
                                   NULL: the whole trie */
  unsigned shard;               /* --shard: which one (0..N-1 of the map) */
  const char *peers_file;       /* --peers: the replicas of every shard */
  unsigned peer_timeout_ms;     /* --peer-timeout-ms: one forwarding attempt; 0 = 250 */
  unsigned peer_cache_ms;       /* --peer-cache-ms: how long an answer that other shards'
                                   tries made (word matches, relayed, merged) is kept in the
                                   answer cache; 0 = not kept */
  const char *trending_path;    /* --trending: the trending trie (a FILE with trie_path, a DIR
                                   of global.trie and M.trie with trie_dir); NULL: none */
  unsigned trending_slots;      /* --trending-slots: at most this many trending suggestions
                                   added to an answer; 0: no trending */
} srv_config_t;

/* Raises the soft descriptor limit to the hard one, reads the token file, loads and verifies
 * the trie (a missing or bad trie is logged and the server starts anyway, answering 503 until a
 * good file appears), and binds the listening sockets. The strings of cfg are copied. On
 * success *out owns everything; srv_free() it. Blocks SIGHUP, SIGTERM and SIGINT in the calling thread first (srv_run handles them): one sent
 * while the tries load waits for srv_run instead of killing the process. */
int srv_new(const srv_config_t *cfg, srv_t **out);

/* The TCP port the server listens on (useful with port 0). */
int srv_port(const srv_t *s);

/* Runs the workers and the reload thread, and handles signals in the calling thread: SIGHUP
 * reloads, SIGTERM/SIGINT stop accepting, let requests in flight finish, and return 0.
 * Blocks SIGHUP, SIGTERM and SIGINT in the calling thread (and so in the threads it starts). */
int srv_run(srv_t *s);

void srv_free(srv_t *s);

#ifdef __cplusplus
}
#endif
#endif /* TYPEAHEAD_SRV_H */
