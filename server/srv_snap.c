/*
 * Hot-swapped snapshots (SPEC §8 "Hot swap", §9): the one implementation of publishing a new
 * version of shared state while workers read the old one, and of watching the file a version
 * was loaded from. The loaded tries (srv_state.c) and the rules in force (srv_filters.c) are its
 * users; the reload thread (srv_reload.c) drives their ticks. API and rules: srv_int.h,
 * "Hot-swapped snapshots".
 *
 * Retire: after the swap (seq_cst) the writer scans every reader's hazard entry and waits while
 * one names the old version. A reader publishes its hazard and re-reads current before using the
 * version, so a reader that saw the old version either is seen by the scan or sees the new one.
 */
#include "srv_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- Slots and the table ------------------------------------------------------------------ */

int srv__snap_add(srv_snaptab_t *tab, const char *name, unsigned readers, srv_snap_free_t free_fn,
                  srv_snap_t **out) {
  *out = NULL;
  if (readers == 0 || free_fn == NULL || strlen(name) >= sizeof tab->slots[0]->name)
    return TA_EINVAL;
  if (srv__snap_find(tab, name) != NULL) return TA_EEXIST;
  if (tab->n == tab->cap &&
      ta_grow((void **)&tab->slots, &tab->cap, tab->n + 1, sizeof *tab->slots, 4) != 0)
    return TA_ENOMEM;
  srv_snap_t *slot = calloc(1, sizeof *slot);
  if (slot == NULL) return TA_ENOMEM;
  slot->hazard = aligned_alloc(_Alignof(srv_hazard_t), readers * sizeof *slot->hazard);
  if (slot->hazard == NULL) {
    free(slot);
    return TA_ENOMEM;
  }
  for (unsigned r = 0; r < readers; r++) atomic_init(&slot->hazard[r].p, NULL);
  atomic_init(&slot->current, NULL);
  slot->readers = readers;
  slot->free_fn = free_fn;
  memcpy(slot->name, name, strlen(name) + 1);
  tab->slots[tab->n++] = slot;
  *out = slot;
  return 0;
}

srv_snap_t *srv__snap_find(const srv_snaptab_t *tab, const char *name) {
  for (size_t i = 0; i < tab->n; i++)
    if (strcmp(tab->slots[i]->name, name) == 0) return tab->slots[i];
  return NULL;
}

void srv__snap_on_tick(srv_snap_t *slot, srv_snap_tick_t tick, void *arg) {
  slot->tick = tick;
  slot->tick_arg = arg;
}

int srv__snaptab_tick(srv_snaptab_t *tab, int forced) {
  int rc = 0;
  for (size_t i = 0; i < tab->n; i++) {
    srv_snap_t *slot = tab->slots[i];
    if (slot->tick == NULL) continue;
    int r = slot->tick(slot, slot->tick_arg, forced);
    if (rc == 0) rc = r;
  }
  return rc;
}

void srv__snaptab_free(srv_snaptab_t *tab) {
  for (size_t i = 0; i < tab->n; i++) {
    srv_snap_t *slot = tab->slots[i];
    void *v = atomic_load(&slot->current);
    if (v) slot->free_fn(v);
    free(slot->hazard);
    free(slot);
  }
  free(tab->slots);
  memset(tab, 0, sizeof *tab);
}

/* ---- Writers ------------------------------------------------------------------------------ */

void *srv__snap_peek(const srv_snap_t *slot) {
  return atomic_load(&((srv_snap_t *)slot)->current);
}

void *srv__snap_swap(srv_snap_t *slot, void *version) {
  return atomic_exchange(&slot->current, version);
}

void srv__snap_retire(srv_snap_t *slot, void *old) {
  if (old == NULL) return;
  for (unsigned r = 0; r < slot->readers; r++) {
    while (atomic_load(&slot->hazard[r].p) == old) {
      struct timespec ts = {0, 100000};
      nanosleep(&ts, NULL);
    }
  }
  slot->free_fn(old);
}

void srv__snap_publish(srv_snap_t *slot, void *version) {
  srv__snap_retire(slot, srv__snap_swap(slot, version));
}

/* ---- File watch --------------------------------------------------------------------------- */

void srv__watch_init(srv_watch_t *w, const char *path) {
  memset(w, 0, sizeof *w);
  w->path = path;
}

static int watch_same(const srv_watch_t *w, const struct stat *st) {
  return w->known && w->dev == st->st_dev && w->ino == st->st_ino &&
         w->mtime.tv_sec == st->st_mtim.tv_sec && w->mtime.tv_nsec == st->st_mtim.tv_nsec &&
         w->size == st->st_size;
}

int srv__watch_check(const srv_watch_t *w) {
  struct stat st;
  if (w->path == NULL) return TA_EINVAL;
  if (stat(w->path, &st) != 0) return ta_error_from_errno(errno);
  return !watch_same(w, &st);
}

void srv__watch_remember(srv_watch_t *w) {
  struct stat st;
  if (w->path == NULL || stat(w->path, &st) != 0) return;
  w->dev = st.st_dev;
  w->ino = st.st_ino;
  w->mtime = st.st_mtim;
  w->size = st.st_size;
  w->known = 1;
}

void srv__watch_forget(srv_watch_t *w) {
  w->known = 0;
}
