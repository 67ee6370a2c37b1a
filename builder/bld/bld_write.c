/*
 * The output step of typeahead-build (SPEC §5, bld.h): accumulated keys -> trie_write into a
 * temp file beside --out (beside the file it names, when --out is a symlink; unnamed while
 * written, so a killed build leaves none) -> flush -> trie_open_fd + trie_verify of that temp
 * file -> fsync and rename (ta_afile_commit). Any failure removes the temp file and leaves --out
 * as it was, so a server watching --out never sees a half-written or unverified file. The same
 * for prefix shards (SPEC §11): the keys grouped by the shard of their first code point, one
 * such file per shard, then the shard map (docs/FORMAT.md "Shard map").
 */
#include "bld_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* acc's keys as trie entries (pointing into acc's arena), less those under min_count or
 * dropped; frees acc's tables and records on the way (acc is consumed). */
static int collect_entries(bld_acc_t *acc, const bld_write_opts_t *opts, bld_summary_t *summary,
                           trie_entry_t **out, size_t *out_n, ta_diag_t *diag) {
  /* The tables are no longer needed: give their memory back before the writer takes its own. */
  acc->consumed = 1;
  free(acc->ktab.slots);
  free(acc->stab.slots);
  memset(&acc->ktab, 0, sizeof acc->ktab);
  memset(&acc->stab, 0, sizeof acc->stab);

  size_t n = 0;
  trie_entry_t *entries = malloc((acc->nkeys ? acc->nkeys : 1) * sizeof *entries);
  if (!entries) {
    return ta_diag_set(diag, TA_ENOMEM, "out of memory for %llu entries",
                       (unsigned long long)acc->nkeys);
  }
  for (uint64_t i = 0; i < acc->nkeys; i++) {
    const bld__key_t *k = &acc->keys[i];
    if (k->count < opts->min_count) {
      summary->keys_below_min++;
      continue;
    }
    if (opts->drop && opts->drop(opts->drop_ctx, acc->arena + k->off, k->len)) {
      summary->keys_dropped++;
      continue;
    }
    uint64_t doff;
    uint32_t dlen;
    bld__display_of(acc, k, &doff, &dlen);
    entries[n++] = (trie_entry_t){acc->arena + k->off, k->len, acc->arena + doff, dlen, k->score};
  }
  /* Entries point into the arena only: the per-key and per-spelling records can go. */
  free(acc->keys);
  free(acc->spells);
  acc->keys = NULL;
  acc->spells = NULL;
  acc->nkeys = acc->keys_cap = acc->nspells = acc->spells_cap = 0;
  *out = entries;
  *out_n = n;
  return 0;
}

/* Why an output could not be started: a path that names a directory, a device or a FIFO is
 * never replaced, nor a symlink that names nothing or loops (ta_afile_open); anything else
 * failed creating the temp file beside it. */
static void afile_open_error(ta_diag_t *diag, int rc, const char *path) {
  if (rc == TA_ENOTREG)
    ta_diag_set(diag, rc, "%s: not a regular file (a directory, a device or a FIFO): not replaced",
                path);
  else if (rc == TA_EDANGLING || rc == TA_ELOOP)
    ta_diag_set(diag, rc, "%s: %s: not replaced", path, ta_strerror(rc));
  else
    ta_diag_set(diag, rc, "%s: cannot create a temp file beside it: %s", path, ta_strerror(rc));
}

/* Writes entries[0..n) (reordered) as the trie out_path: temp file, trie_write, flush, open
 * and verify, rename. With *owned set, frees the entries once written (before the verify) and
 * clears *owned. The file records opts' market and, with shards > 0, that it is shard `shard`. */
static int write_entries(trie_entry_t *entries, size_t n, trie_entry_t **owned,
                         const char *out_path, const bld_write_opts_t *opts, unsigned shards,
                         unsigned shard, uint64_t *file_size, ta_diag_t *diag) {
  ta_afile_t *af = NULL;
  trie_reader_t *r = NULL;
  int rc = ta_afile_open(out_path, &af);
  if (rc < 0) {
    afile_open_error(diag, rc, out_path);
    goto out;
  }
  trie_write_opts_t wo = {.k = opts->k,
                          .build_time = opts->build_time,
                          .source = opts->source ? opts->source : "",
                          .progress = opts->progress,
                          .progress_ctx = opts->progress_ctx,
                          .market = opts->market,
                          .shards = shards,
                          .shard = shard};
  rc = trie_write(ta_afile_stream(af), entries, n, &wo); /* flushed: verify maps the file */
  if (rc < 0) {
    ta_diag_set(diag, rc, "writing %s: %s", out_path, ta_strerror(rc));
    goto out;
  }
  if (owned) { /* the writer is done with them; verification maps the file */
    free(*owned);
    *owned = NULL;
  }
  if (opts->progress) opts->progress(opts->progress_ctx, "verifying", 0, 0);
  rc = trie_open_fd(ta_afile_fd(af), &r); /* the temp file may have no name to open */
  if (rc == 0) rc = trie_verify(r, NULL);
  if (rc == 0) {
    trie_info_t info;
    rc = trie_get_info(r, &info);
    if (rc == 0 && info.num_queries != n) rc = TA_ECORRUPT;
    *file_size = info.file_size;
  }
  trie_close(r);
  if (rc < 0) {
    ta_diag_set(diag, rc, "the written file does not verify: %s", ta_strerror(rc));
    goto out;
  }
  rc = ta_afile_commit(af);
  af = NULL; /* commit frees it, also on error */
  if (rc < 0) ta_diag_set(diag, rc, "%s: cannot replace it: %s", out_path, ta_strerror(rc));
out:
  ta_afile_abort(af);
  return rc;
}

static int check_args(const bld_acc_t *acc, const void *out, const bld_write_opts_t *opts,
                      const bld_summary_t *summary, ta_diag_t *diag) {
  ta_diag_init(diag, NULL);
  if (!acc || !out || !opts || !summary || acc->consumed) return TA_EINVAL;
  if (opts->k < 1 || opts->k > TA_MAX_K)
    return ta_diag_set(diag, TA_ERANGE, "k must be between 1 and %u (got %u)", TA_MAX_K, opts->k);
  return 0;
}

int bld_write(bld_acc_t *acc, const char *out_path, const bld_write_opts_t *opts,
              bld_summary_t *summary, ta_diag_t *diag) {
  int rc = check_args(acc, out_path, opts, summary, diag);
  if (rc) return rc;
  memset(summary, 0, sizeof *summary);
  trie_entry_t *entries = NULL;
  size_t n = 0;
  rc = collect_entries(acc, opts, summary, &entries, &n, diag);
  if (rc == 0)
    rc = write_entries(entries, n, &entries, out_path, opts, 0, 0, &summary->file_size, diag);
  if (rc == 0) summary->keys_written = n;
  free(entries);
  return rc;
}

/* ---- Prefix shards ------------------------------------------------------------------------ */

static unsigned shard_of_entry(const trie_shard_map_t *m, const trie_entry_t *e) {
  uint32_t cp = 0;
  trie_shard_first_cp(e->key, e->key_len, &cp); /* keys are valid and non-empty */
  return trie_shard_of(m, cp);
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

/* The plan: the number of keys of each first code point, balanced over n_shards. */
static int plan_shards(const trie_entry_t *e, size_t n, unsigned n_shards, trie_shard_map_t **m,
                       ta_diag_t *diag) {
  uint32_t *cps = malloc((n ? n : 1) * sizeof *cps);
  uint64_t *w = malloc((n ? n : 1) * sizeof *w);
  int rc = cps && w ? 0 : TA_ENOMEM;
  size_t distinct = 0;
  for (size_t i = 0; rc == 0 && i < n; i++)
    if (trie_shard_first_cp(e[i].key, e[i].key_len, &cps[i]) != 0) rc = TA_EUTF8;
  if (rc == 0) {
    qsort(cps, n, sizeof *cps, cmp_u32);
    for (size_t i = 0; i < n; i++) {
      if (distinct && cps[distinct - 1] == cps[i]) {
        w[distinct - 1]++;
      } else {
        cps[distinct] = cps[i];
        w[distinct++] = 1;
      }
    }
    rc = trie_shard_plan(cps, w, distinct, n_shards, m, diag);
  } else {
    ta_diag_set(diag, rc, "planning shards: %s", ta_strerror(rc));
  }
  free(cps);
  free(w);
  return rc;
}

/* Reorders e[0..n) so that shard s's entries are e[start[s] .. start[s+1]) (in place: a
 * counting sort that moves each entry to its shard's next free place). */
static void group_by_shard(const trie_shard_map_t *m, trie_entry_t *e, size_t n,
                           size_t start[TRIE_MAX_SHARDS + 1]) {
  unsigned ns = trie_shard_count(m);
  size_t next[TRIE_MAX_SHARDS] = {0};
  memset(start, 0, (TRIE_MAX_SHARDS + 1) * sizeof *start);
  for (size_t i = 0; i < n; i++) start[shard_of_entry(m, &e[i]) + 1]++;
  for (unsigned s = 0; s < ns; s++) start[s + 1] += start[s];
  for (unsigned s = 0; s < ns; s++) next[s] = start[s];
  for (unsigned s = 0; s < ns; s++) {
    while (next[s] < start[s + 1]) {
      unsigned t = shard_of_entry(m, &e[next[s]]);
      if (t == s) {
        next[s]++;
      } else { /* swap it to its own shard's next place, look again at what came back */
        trie_entry_t tmp = e[next[t]];
        e[next[t]++] = e[next[s]];
        e[next[s]] = tmp;
      }
    }
  }
}

int bld_write_shards(bld_acc_t *acc, const char *dir, unsigned n_shards,
                     const trie_shard_map_t *fixed, const bld_write_opts_t *opts,
                     bld_summary_t *summary, uint64_t *shard_keys, ta_diag_t *diag) {
  int rc = check_args(acc, dir, opts, summary, diag);
  if (rc) return rc;
  memset(summary, 0, sizeof *summary);
  trie_entry_t *entries = NULL;
  trie_shard_map_t *m = NULL;
  ta_buf_t text = {0};
  ta_afile_t *af = NULL;
  size_t n = 0, start[TRIE_MAX_SHARDS + 1];
  char path[4096];
  rc = collect_entries(acc, opts, summary, &entries, &n, diag);
  if (rc == 0 && fixed == NULL) rc = plan_shards(entries, n, n_shards, &m, diag);
  if (rc == 0 && fixed) n_shards = trie_shard_count(fixed);
  const trie_shard_map_t *use = fixed ? fixed : m;
  if (rc == 0) group_by_shard(use, entries, n, start);
  for (unsigned s = 0; rc == 0 && s < n_shards; s++) {
    uint64_t size = 0;
    if (snprintf(path, sizeof path, "%s/shard-%u.trie", dir, s) >= (int)sizeof path) {
      rc = ta_diag_set(diag, TA_ETOOLONG, "%s: path too long", dir);
      break;
    }
    rc = write_entries(entries + start[s], start[s + 1] - start[s], NULL, path, opts, n_shards, s,
                       &size, diag);
    summary->file_size += size;
    if (shard_keys) shard_keys[s] = start[s + 1] - start[s];
  }
  /* The map last: it never names a shard file that was not written. */
  if (rc == 0 && snprintf(path, sizeof path, "%s/shards.map", dir) >= (int)sizeof path)
    rc = ta_diag_set(diag, TA_ETOOLONG, "%s: path too long", dir);
  if (rc == 0 && (rc = trie_shard_format(use, &text)) != 0) ta_diag_set(diag, rc, "shards.map");
  if (rc == 0 && (rc = ta_afile_open(path, &af)) != 0) afile_open_error(diag, rc, path);
  if (rc == 0) {
    FILE *fp = ta_afile_stream(af);
    if (fwrite(text.p, 1, text.len, fp) != text.len) /* the commit flushes and checks the rest */
      rc = ta_error_from_errno(errno);
    if (rc == 0)
      rc = ta_afile_commit(af);
    else
      ta_afile_abort(af);
    af = NULL;
    if (rc) ta_diag_set(diag, rc, "%s: cannot write it: %s", path, ta_strerror(rc));
  }
  if (rc == 0) summary->keys_written = n;
  ta_buf_free(&text);
  trie_shard_free(m);
  free(entries);
  return rc;
}
