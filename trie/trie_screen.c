/*
 * Key-head screens (trie.h "Key-head screens"): one bit per distinct head (the first 1 to
 * TA_HEAD_MAX bytes) of the keys of a trie, so that a prefix none of whose keys start with it is
 * usually turned away by one load instead of a walk of the nodes. The server screens the
 * trending trie with it before the mix (SPEC §13, docs/TRENDING.md "Measured"): most prefixes have
 * no trending completion. A head's key bytes are the labels on the path from the root (a child's
 * label starts with the byte that selects it, kept in its parent), so a walk down to TA_HEAD_MAX
 * bytes sees every head, and only those nodes.
 */
#include "trie_int.h"

#include <stdlib.h>

struct trie_screen {
  uint64_t bits[TA_HEAD_BITS / 64];
  uint64_t n_keys; /* 0: no key, every prefix is turned away (the empty one too) */
};

static void set_bit(trie_screen_t *s, const uint8_t *head, size_t n) {
  uint32_t bit = ta_head_hash16(head, n);
  s->bits[bit >> 6] |= UINT64_C(1) << (bit & 63);
}

int trie__heads(const trie_reader_t *r, trie__head_fn fn, void *ctx) {
  /* Every node of the walk starts at key depth < TA_HEAD_MAX and every child's label is one
   * byte or more (its byte in the parent), so the stack holds at most TA_HEAD_MAX levels of at
   * most 256 children. */
  struct frame {
    size_t pos;
    size_t depth;                  /* key bytes above the node */
    unsigned first;                /* its label's first byte (TRIE_NO_FIRST: the root) */
    uint8_t head[TA_HEAD_MAX + 1]; /* those bytes */
  } stack[TA_HEAD_MAX * 256 + 1];
  size_t top = 0;
  int rc = 0;
  uint8_t label[TA_MAX_KEY + TRIE_SYM_SLACK];
  if (r->n > 0) stack[top++] = (struct frame){.pos = (size_t)r->root, .first = TRIE_NO_FIRST};
  /* In a tree each node is met once and takes a byte or more; children that share a node (a
   * corrupt file) would be met once per path. */
  size_t visits = 0;
  while (rc == 0 && top > 0) {
    struct frame f = stack[--top];
    trie__node_t nd;
    if (++visits > r->nodes_len) {
      rc = TA_ECORRUPT;
      break;
    }
    if ((rc = trie__node_parse(r, f.pos, f.first, &nd)) != 0) break;
    size_t label_len = 0; /* as far as the head goes */
    if ((rc = trie__label(r, &nd, label, &label_len, TA_MAX_KEY, TA_HEAD_MAX - f.depth)) != 0)
      break;
    size_t d = f.depth;
    for (size_t i = 0; rc == 0 && i < label_len && d < TA_HEAD_MAX; i++) {
      f.head[d++] = label[i];
      rc = fn(ctx, f.head, d);
    }
    if (rc != 0 || d >= TA_HEAD_MAX || nd.nchild == 0) continue;
    if (nd.nchild > 256 || top + nd.nchild > sizeof stack / sizeof *stack) {
      rc = TA_ECORRUPT;
      break;
    }
    for (uint64_t c = 0; c < nd.nchild; c++) {
      uint64_t off = trie__child_off(&nd, c);
      if (off >= r->nodes_len - nd.end) {
        rc = TA_ECORRUPT;
        break;
      }
      struct frame *child = &stack[top++];
      *child = f;
      child->pos = nd.end + (size_t)off;
      child->depth = d;
      child->first = nd.child_bytes[c];
    }
  }
  return rc;
}

static int set_head(void *ctx, const uint8_t *head, size_t n) {
  set_bit(ctx, head, n);
  return 0;
}

int trie_screen_build(const trie_reader_t *r, trie_screen_t **out) {
  if (out != NULL) *out = NULL;
  if (r == NULL || out == NULL) return TA_EINVAL;
  trie_screen_t *s = calloc(1, sizeof *s);
  if (s == NULL) return TA_ENOMEM;
  s->n_keys = r->n;
  int rc = trie__heads(r, set_head, s);
  if (rc != 0) {
    free(s);
    return rc;
  }
  *out = s;
  return 0;
}

int trie_screen_may_start(const trie_screen_t *s, const char *prefix, size_t len) {
  if (s == NULL || s->n_keys == 0) return 0;
  if (len == 0) return 1;
  uint32_t bit = ta_head_hash16(prefix, len < TA_HEAD_MAX ? len : TA_HEAD_MAX);
  return (int)(s->bits[bit >> 6] >> (bit & 63) & 1);
}

void trie_screen_free(trie_screen_t *s) {
  free(s);
}
