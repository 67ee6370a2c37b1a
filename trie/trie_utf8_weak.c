/*
 * TEMPORARY: a weak trie_utf8_valid so the writer links before the `build` branch's
 * trie/trie_norm.c (the one normalization module, SPEC §3) is merged; its strong definition
 * replaces this one. Delete this file once trie_norm.c is on this branch.
 */
#include "trie.h"

#include <stdint.h>

__attribute__((weak)) int trie_utf8_valid(const char *s, size_t len) {
  const unsigned char *p = (const unsigned char *)s;
  size_t i = 0;
  while (i < len) {
    unsigned c = p[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t need;
    uint32_t cp, min;
    if (c >= 0xC2 && c <= 0xDF) {
      need = 1, cp = c & 0x1F, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
      need = 2, cp = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
      need = 3, cp = c & 0x07, min = 0x10000;
    } else {
      return 0;
    }
    if (len - i <= need)
      return 0;
    for (size_t j = 1; j <= need; j++) {
      if ((p[i + j] & 0xC0) != 0x80)
        return 0;
      cp = (cp << 6) | (p[i + j] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return 0;
    i += need + 1;
  }
  return 1;
}
