/*
 * The text scratch of lookups (trie.h, "Reader": trie_text_t): room for the display forms a lookup
 * decodes, owned by the caller, so that a hit's text need not be a view into the file. A
 * chunked arena: texts are cut from the current chunk; a text that does not fit opens a new
 * chunk (of its own when it is longer than TRIE_TEXT_CHUNK), and a chunk never moves or grows
 * while it holds texts, so every text handed out keeps its bytes until trie_text_reset or
 * trie_text_free. Reset keeps the first chunk, so a scratch reset per request allocates nothing
 * once warm (unless a request decodes more than a chunk). A lookup that makes several texts
 * writes them into the free end of the current chunk and keeps them at once (trie__texts_*).
 */
#include <stdlib.h>

#include "trie_int.h"

typedef struct chunk {
  struct chunk *next; /* the chunk filled before this one */
  size_t cap;
  char data[];
} chunk_t;

struct trie_text {
  chunk_t *head; /* the chunk texts are cut from, then those filled before it */
  size_t used;   /* bytes of head handed out */
};

static chunk_t *chunk_new(size_t cap) {
  chunk_t *c = malloc(sizeof *c + cap);
  if (c == NULL) return NULL;
  c->next = NULL;
  c->cap = cap;
  return c;
}

int trie_text_new(trie_text_t **out) {
  if (out == NULL) return TA_EINVAL;
  *out = NULL;
  trie_text_t *t = calloc(1, sizeof *t);
  if (t == NULL) return TA_ENOMEM;
  if ((t->head = chunk_new(TRIE_TEXT_CHUNK)) == NULL) {
    free(t);
    return TA_ENOMEM;
  }
  *out = t;
  return 0;
}

/* Frees every chunk of the list c. */
static void chunks_free(chunk_t *c) {
  while (c != NULL) {
    chunk_t *next = c->next;
    free(c);
    c = next;
  }
}

void trie_text_reset(trie_text_t *t) {
  if (t == NULL) return;
  /* keep the oldest chunk, trie_text_new's: a long text's own chunk never comes last */
  chunk_t *keep = t->head, *rest = NULL;
  while (keep->next != NULL) {
    chunk_t *next = keep->next;
    keep->next = rest;
    rest = keep;
    keep = next;
  }
  chunks_free(rest);
  t->head = keep;
  t->used = 0;
}

void trie_text_free(trie_text_t *t) {
  if (t == NULL) return;
  chunks_free(t->head);
  free(t);
}

int trie__text_put(trie_text_t *t, size_t len, char **out) {
  if (t == NULL || out == NULL) return TA_EINVAL;
  if (len <= t->head->cap - t->used) {
    *out = t->head->data + t->used;
    t->used += len;
    return 0;
  }
  chunk_t *c = chunk_new(len > TRIE_TEXT_CHUNK ? len : TRIE_TEXT_CHUNK);
  if (c == NULL) return TA_ENOMEM;
  *out = c->data;
  if (len > TRIE_TEXT_CHUNK) { /* a chunk of its own, behind the one texts are cut from */
    c->next = t->head->next;
    t->head->next = c;
    return 0;
  }
  c->next = t->head;
  t->head = c;
  t->used = len;
  return 0;
}

void trie__texts_begin(trie_text_t *t, trie__texts_t *w) {
  w->t = t;
  w->at = t->head->data + t->used;
  w->room = t->head->cap - t->used;
  w->used = 0;
}

void trie__texts_end(trie__texts_t *w) {
  w->t->used += w->used;
  w->at += w->used;
  w->room -= w->used;
  w->used = 0;
}

int trie__texts_put(trie__texts_t *w, const uint8_t *src, size_t len, const char **out) {
  trie__texts_end(w);
  char *dst;
  int rc = trie__text_put(w->t, len, &dst);
  if (rc != 0) return rc;
  memcpy(dst, src, len);
  *out = dst;
  trie__texts_begin(w->t, w); /* the chunk texts are cut from now */
  return 0;
}
