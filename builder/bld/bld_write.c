/*
 * The output step of typeahead-build (SPEC §5, bld.h): accumulated keys -> trie_write into a
 * temp file beside --out -> flush -> trie_open + trie_verify of that temp file -> fsync and
 * rename (ta_afile_commit). Any failure removes the temp file and leaves --out as it was, so
 * a server watching --out never sees a half-written or unverified file.
 */
#include "bld_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int bld_write(bld_acc_t *acc, const char *out_path, const bld_write_opts_t *opts,
              bld_summary_t *summary, ta_diag_t *diag) {
  ta_diag_init(diag, NULL);
  if (!acc || !out_path || !opts || !summary || acc->consumed) return TA_EINVAL;
  memset(summary, 0, sizeof *summary);
  if (opts->k < 1 || opts->k > TA_MAX_K) {
    return ta_diag_set(diag, TA_ERANGE, "k must be between 1 and %u (got %u)", TA_MAX_K, opts->k);
  }
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

  ta_afile_t *af = NULL;
  trie_reader_t *r = NULL;
  int rc = ta_afile_open(out_path, &af);
  if (rc < 0) {
    ta_diag_set(diag, rc, "%s: cannot create a temp file beside it: %s", out_path, ta_strerror(rc));
    goto out;
  }
  trie_write_opts_t wo = {opts->k, opts->build_time, opts->source ? opts->source : "",
                          opts->progress, opts->progress_ctx};
  FILE *fp = ta_afile_stream(af);
  rc = trie_write(fp, entries, n, &wo);
  if (rc < 0) {
    ta_diag_set(diag, rc, "writing %s: %s", ta_afile_tmp_path(af), ta_strerror(rc));
    goto out;
  }
  if (fflush(fp) != 0 || ferror(fp)) {
    rc = TA_EIO;
    ta_diag_set(diag, rc, "writing %s: %s", ta_afile_tmp_path(af), ta_strerror(rc));
    goto out;
  }
  free(entries); /* the writer is done with them; verification maps the file */
  entries = NULL;
  if (opts->progress) opts->progress(opts->progress_ctx, "verifying", 0, 0);
  rc = trie_open(ta_afile_tmp_path(af), &r);
  if (rc == 0) rc = trie_verify(r, NULL);
  if (rc == 0) {
    trie_info_t info;
    rc = trie_get_info(r, &info);
    if (rc == 0 && info.num_queries != n) rc = TA_ECORRUPT;
    summary->file_size = info.file_size;
  }
  trie_close(r);
  if (rc < 0) {
    ta_diag_set(diag, rc, "the written file does not verify: %s", ta_strerror(rc));
    goto out;
  }
  rc = ta_afile_commit(af);
  af = NULL; /* commit frees it, also on error */
  if (rc < 0) {
    ta_diag_set(diag, rc, "%s: cannot replace it: %s", out_path, ta_strerror(rc));
    goto out;
  }
  summary->keys_written = n;
out:
  ta_afile_abort(af);
  free(entries);
  return rc;
}
