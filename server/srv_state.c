/*
 * The loaded tries (SPEC §8 "Hot swap", §10): global's in the slot "trie" of the node's snapshot
 * table (srv_snap.c), each other market's in a slot of the market table (srv_market.c), their
 * loader and tick.
 *
 * A new file is read whole into memory the server owns (trie_open_copy), and that copy is fully
 * verified (trie_verify) and then served: nothing done to the file afterwards (rewritten in
 * place, truncated, edited at the same size) changes what is served, and a FIFO, a directory or
 * a device at the path is refused before a byte is read, so the reload thread never blocks on
 * it. A bad file is refused, logged and counted, and the old trie keeps serving. The slot's
 * tick (run by the reload thread, srv_reload.c) loads the file on every forced reload, and
 * otherwise when its (dev, inode, mtime, size) changed: a file that was refused is not retried
 * until it changes (or a reload is asked for). A market's file that disappears empties its slot
 * (its requests go to global); global's keeps serving, like --trie FILE. Each worker handles a
 * request from start to reply inside one callback, so it holds at most one reference to a
 * slot's trie at a time.
 */
#include "srv_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The largest trie file loaded: half the machine's memory, since the old and the new copy are
 * both held while a swap waits for the old one's last reader. */
static size_t trie_max_bytes(void) {
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page <= 0) return SIZE_MAX;
  return (size_t)pages / 2 * (size_t)page;
}

static void trie_free(void *version) {
  srv_trie_t *t = version;
  trie_words_free(t->words);
  trie_screen_free(t->screen);
  trie_close(t->reader);
  free(t);
}

/* srv_int.h, "Markets". Here, beside its one caller: srv_market.c calls this file (the slots it
 * adds), so this file calls none of it. */
int srv__market_file_fits(const char *name, const trie_info_t *info, ta_diag_t *d) {
  if (info->market_len == 0) return 0;
  int global = strcmp(name, "global") == 0;
  if (!global && strlen(name) == info->market_len &&
      memcmp(name, info->market, info->market_len) == 0)
    return 0;
  return ta_diag_set(d, TA_ERANGE, "built for market %.*s, not %s%s", (int)info->market_len,
                     info->market, global ? "the global total" : "market ", global ? "" : name);
}

/* Loads the file of market m and publishes it in its slot. */
static int trie_load(srv_market_t *m, const char *why) {
  srv_t *s = m->srv;
  srv_snap_t *slot = m->slot;
  const char *path = slot->watch.path;
  srv__watch_remember(&slot->watch);
  trie_reader_t *r = NULL;
  ta_diag_t diag;
  ta_diag_init(&diag, path);
  uint64_t t0 = ta_mono_ns();
  int rc = trie_open_copy(path, trie_max_bytes(), &r, &diag);
  if (rc == 0) rc = trie_verify(r, &diag);
  /* A shard's node serves its own shard's trie only: another's (a file copied to the wrong
   * node, or built for another map) would answer its prefixes with nothing and show keys twice
   * in merges. The trending trie is whole on every node. */
  if (rc == 0 && s->peers != NULL && !m->trending)
    rc = trie_shard_check(r, s->peers->map, s->peers->own, &diag);
  /* With --trie-dir the file's name says its market: one built for another market (copied or
   * renamed over it, FORMAT.md's META) would answer this market's users with that market's
   * queries. With --trie FILE any file may serve (a node of one market). */
  trie_info_t info;
  if (rc == 0 && s->mk.dir != NULL && (rc = trie_get_info(r, &info)) == 0)
    rc = srv__market_file_fits(m->name, &info, &diag);
  if (rc != 0 && diag.code == 0) ta_diag_set(&diag, rc, "%s", "");
  srv_trie_t *t = NULL;
  if (rc == 0) {
    t = calloc(1, sizeof *t);
    if (t == NULL) rc = TA_ENOMEM;
  }
  if (rc == 0) rc = trie_get_info(r, &t->info);
  /* word matching (SPEC §15) is for the regular tries; a trending trie is only ever asked for
   * exact completions, and most prefixes have none: its screen says so with one load */
  if (rc == 0 && !m->trending) rc = trie_words_build(r, &t->words);
  if (rc == 0 && m->trending) rc = trie_screen_build(r, &t->screen);
  if (rc != 0) {
    if (t) {
      trie_words_free(t->words);
      trie_screen_free(t->screen);
    }
    trie_close(r);
    free(t);
    atomic_fetch_add(&s->reloads_failed, 1);
    atomic_fetch_add(&m->reloads_failed, 1);
    atomic_store(&s->last_reload_failed_at, ta_unix_s());
    char where[512];
    srv__log("%s: refused %s (%s)", why, SRV_LOG_ESC(ta_diag_format(&diag, where, sizeof where)),
             srv__snap_peek(slot) ? "the old trie keeps serving" : "no trie loaded");
    return rc;
  }
  t->reader = r;
  t->gen = ++s->trie_gen_last;
  t->loaded_at = ta_unix_s();
  snprintf(t->version, sizeof t->version, "%08x", (unsigned)t->info.file_crc);
  srv_trie_t *old = srv__snap_swap(slot, t);
  atomic_fetch_add(&s->reloads_ok, 1);
  atomic_fetch_add(&m->reloads_ok, 1);
  srv__log("%s: loaded %s (version %s, %llu queries, k=%u; read and verified in %.3f s)", why,
           SRV_LOG_ESC(path), t->version, (unsigned long long)t->info.num_queries,
           (unsigned)t->info.k, (double)(ta_mono_ns() - t0) / 1e9);
  srv__snap_retire(slot, old);
  return 0;
}

static int trie_tick(srv_snap_t *slot, void *arg, int forced) {
  srv_market_t *m = arg;
  int changed = srv__watch_check(&slot->watch);
  if (changed == TA_ENOENT && m->drop_when_gone) {
    /* A market's file removed: its requests go to global from now on. */
    if (slot->watch.known || srv__snap_peek(slot)) {
      srv__watch_forget(&slot->watch);
      int served = srv__snap_peek(slot) != NULL;
      srv__snap_publish(slot, NULL);
      if (m->trending)
        srv__log("trending %s: %s is gone; %s", m->name, SRV_LOG_ESC(slot->watch.path),
                 served ? "no trending from it" : "it was not loaded");
      else
        srv__log("market %s: %s is gone; %s", m->name, SRV_LOG_ESC(slot->watch.path),
                 served ? "no longer served (its requests go to global)" : "it was not served");
    }
    return 0;
  }
  if (forced) return trie_load(m, "reload");
  if (changed == 1) return trie_load(m, slot->watch.known ? "file changed" : "new file");
  return 0;
}

int srv__trie_slot_add(srv_market_t *m, srv_snaptab_t *tab) {
  int rc = srv__snap_add(tab, m->name, m->srv->threads, trie_free, &m->slot);
  if (rc) return rc;
  srv__watch_init(&m->slot->watch, m->path);
  srv__snap_on_tick(m->slot, trie_tick, m);
  return 0;
}

int srv__trie_load(srv_t *s, const char *why) {
  srv_market_t *g = &s->mk.m[0];
  if (s->trie_snap == NULL) {
    /* global's slot keeps the name hot paths and tests know it by */
    int rc = srv__snap_add(&s->snaps, "trie", s->threads, trie_free, &g->slot);
    if (rc) {
      srv__log("%s: %s", why, ta_strerror(rc));
      return rc;
    }
    srv__watch_init(&g->slot->watch, g->path);
    srv__snap_on_tick(g->slot, trie_tick, g);
    s->trie_snap = g->slot;
  }
  return trie_load(g, why);
}
