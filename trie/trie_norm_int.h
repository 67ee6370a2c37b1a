/*
 * Internals of trie/trie_norm.c: the Unicode (utf8proc) path of the normalization, callable on
 * ASCII input too, so a unit test can prove that the ASCII fast path of
 * trie_norm_key/trie_norm_prefix/trie_norm_display gives byte-identical results; and where a string stops being
 * valid UTF-8, for trie_verify's diagnostics.
 */
#ifndef TYPEAHEAD_TRIE_NORM_INT_H
#define TYPEAHEAD_TRIE_NORM_INT_H

#include <stddef.h>

/* Same contract as trie_norm_key / trie_norm_prefix / trie_norm_display, always through
 * utf8proc. */
int trie__norm_key_slow(const char *src, size_t len, char *dst, size_t cap, size_t *out_len);
int trie__norm_prefix_slow(const char *src, size_t len, char *dst, size_t cap, size_t *out_len);
int trie__norm_display_slow(const char *src, size_t len, char *dst, size_t cap, size_t *out_len);

/* Length of the longest valid UTF-8 prefix of s[0..len) that ends on a character boundary:
 * len when the whole string is valid (trie_utf8_valid), else the offset of the first bad
 * character. */
size_t trie__utf8_valid_len(const char *s, size_t len);

#endif /* TYPEAHEAD_TRIE_NORM_INT_H */
