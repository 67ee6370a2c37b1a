/* Fuzz target for the shard map parser (trie/trie_shard.c, docs/FORMAT.md "Shard map"). The input
 * is a map file. Whatever it holds, parsing must not crash, leak or read past the input; a
 * refusal must say why (the code in the diagnostic); a map that parses must route every code
 * point to a shard it declares, and survive its own text form unchanged. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "trie.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* An exact-size copy, so a read past the end is caught. */
  char *text = malloc(size ? size : 1);
  if (text == NULL) return 0;
  memcpy(text, data, size);
  trie_shard_map_t *m = NULL, *back = NULL;
  ta_diag_t d;
  int rc = trie_shard_parse(text, size, "fuzz", &m, &d);
  if (rc != 0 && (d.code != rc || m != NULL)) abort();
  if (rc == 0) {
    unsigned n = trie_shard_count(m);
    if (n < 1 || n > TRIE_MAX_SHARDS) abort();
    ta_buf_t out = {0};
    if (trie_shard_format(m, &out) != 0) abort();
    if (trie_shard_parse(out.p, out.len, "again", &back, &d) != 0) abort();
    for (uint32_t cp = 0; cp <= 0x10FFFF; cp += 1 + cp / 16) {
      unsigned s = trie_shard_of(m, cp);
      if (s >= n || s != trie_shard_of(back, cp)) abort();
    }
    ta_buf_free(&out);
  }
  trie_shard_free(back);
  trie_shard_free(m);
  free(text);
  return 0;
}
