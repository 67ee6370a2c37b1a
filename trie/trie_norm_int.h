/*
 * Internals of trie/trie_norm.c, for its unit tests only: the Unicode (utf8proc) path of the
 * normalization, callable on ASCII input too, so a test can prove that the ASCII fast path of
 * trie_norm_key/trie_norm_display gives byte-identical results.
 */
#ifndef TYPEAHEAD_TRIE_NORM_INT_H
#define TYPEAHEAD_TRIE_NORM_INT_H

#include <stddef.h>

/* Same contract as trie_norm_key / trie_norm_display, always through utf8proc. */
int trie__norm_key_slow(const char *src, size_t len, char *dst, size_t cap, size_t *out_len);
int trie__norm_display_slow(const char *src, size_t len, char *dst, size_t cap, size_t *out_len);

#endif /* TYPEAHEAD_TRIE_NORM_INT_H */
