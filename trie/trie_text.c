/* PROVISIONAL: replaced by branch v3api's trie_text.c at merge. */
#include "trie_int.h"

#include <stdlib.h>

#define CHUNK ((size_t)1 << 16)
typedef struct chunk {
  struct chunk *next;
  size_t used, cap;
  char data[];
} chunk_t;
struct trie_text {
  chunk_t *head;
};
int trie_text_new(trie_text_t **out) {
  *out = calloc(1, sizeof **out);
  return *out ? 0 : TA_ENOMEM;
}
void trie_text_reset(trie_text_t *t) {
  while (t->head) {
    chunk_t *c = t->head;
    t->head = c->next;
    free(c);
  }
}
void trie_text_free(trie_text_t *t) {
  if (t == NULL) return;
  trie_text_reset(t);
  free(t);
}
int trie__text_put(trie_text_t *t, size_t len, char **out) {
  if (t->head == NULL || t->head->cap - t->head->used < len) {
    size_t cap = len > CHUNK ? len : CHUNK;
    chunk_t *c = malloc(sizeof *c + cap);
    if (c == NULL) return TA_ENOMEM;
    c->next = t->head;
    c->used = 0;
    c->cap = cap;
    t->head = c;
  }
  *out = t->head->data + t->head->used;
  t->head->used += len;
  return 0;
}
