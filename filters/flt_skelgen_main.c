/*
 * flt-skelgen: writes the confusables table of the blocklist filter layer (SPEC §9) as C source,
 * run by the build (filters/flt.cmake), never installed. For every non-ASCII code point c that
 * can stand in a key (trie_norm_key(c) == c), it asks ICU for the UTS #39 skeleton of c
 * (uspoof_getSkeletonUTF8, the Unicode confusables data ICU ships), normalizes that as a key
 * (case folded, marks stripped: ICU's prototypes are often capitals, e.g. Cyrillic es -> "C")
 * and maps the result again until nothing changes, so that the table is idempotent. UTS #39
 * leaves most small capitals out (ᴅ, ᴛ, ᴇ...: distinct in its fonts, not in a suggestion list),
 * so a code point whose Unicode name (u_charName) is LATIN LETTER SMALL CAPITAL X reads as x.
 * ASCII maps to itself: its confusables (m ~ rn, 0 ~ O, 1 ~ l) are policy, in flt_fold.c.
 *
 *   flt-skelgen OUT.c
 *
 * A mapping is left out when its result is empty, holds a space, or is more than
 * FLT__SKEL_GROWTH times longer in bytes than c (the matcher sizes its buffers by that).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unicode/uchar.h>
#include <unicode/uclean.h>
#include <unicode/uspoof.h>
#include <unicode/uversion.h>
#include <utf8proc.h>

#include "flt_int.h"

#define MAX_CP 0x110000
#define OUT_CAP 256

static char *map_of[MAX_CP]; /* the key-normalized skeleton of a code point, or NULL */

/* The UTF-8 of cp into out (room for 4 bytes); its length. */
static size_t utf8_put(unsigned cp, char *out) {
  return (size_t)utf8proc_encode_char((utf8proc_int32_t)cp, (utf8proc_uint8_t *)out);
}

/* The code point at s (valid UTF-8, as ICU and trie_norm_key write it); its length. */
static size_t utf8_get(const char *s, unsigned *cp) {
  utf8proc_int32_t c = 0;
  utf8proc_ssize_t n = utf8proc_iterate((const utf8proc_uint8_t *)s, -1, &c);
  *cp = (unsigned)c;
  return n > 0 ? (size_t)n : 1;
}

/* One step: every code point of s replaced by its map (itself when it has none). */
static int map_once(const char *s, char *out, size_t cap) {
  size_t n = 0;
  for (size_t i = 0; s[i];) {
    unsigned cp;
    size_t l = utf8_get(s + i, &cp);
    const char *m = map_of[cp];
    size_t ml = m ? strlen(m) : l;
    if (n + ml + 1 > cap) return -1;
    memcpy(out + n, m ? m : s + i, ml);
    n += ml;
    i += l;
  }
  out[n] = '\0';
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: flt-skelgen OUT.c\n");
    return 2;
  }
  UErrorCode status = U_ZERO_ERROR;
  USpoofChecker *sc = uspoof_open(&status);
  if (U_FAILURE(status)) {
    fprintf(stderr, "flt-skelgen: uspoof_open: %s\n", u_errorName(status));
    return 1;
  }
  /* Raw maps: skeleton of each key-stable non-ASCII code point, normalized as a key. */
  for (unsigned cp = 0x80; cp < MAX_CP; cp++) {
    if (cp >= 0xD800 && cp <= 0xDFFF) continue;
    char c[5], key[OUT_CAP], skel[OUT_CAP], skey[OUT_CAP];
    size_t cl = utf8_put(cp, c), kl, sl;
    c[cl] = '\0';
    if (trie_norm_key(c, cl, key, sizeof key, &kl) != 0 || kl != cl || memcmp(key, c, cl) != 0)
      continue;
    static const char small_cap[] = "LATIN LETTER SMALL CAPITAL ";
    char name[128];
    status = U_ZERO_ERROR;
    int32_t nl = u_charName((UChar32)cp, U_UNICODE_CHAR_NAME, name, sizeof name, &status);
    int32_t n;
    if (U_SUCCESS(status) && nl == (int32_t)sizeof small_cap &&
        memcmp(name, small_cap, sizeof small_cap - 1) == 0) {
      skel[0] = name[sizeof small_cap - 1]; /* its letter, folded below */
      n = 1;
    } else {
      status = U_ZERO_ERROR;
      n = uspoof_getSkeletonUTF8(sc, 0, c, (int32_t)cl, skel, sizeof skel, &status);
      if (U_FAILURE(status) || n <= 0 || (size_t)n >= sizeof skel) continue;
    }
    if (trie_norm_key(skel, (size_t)n, skey, sizeof skey, &sl) != 0 || sl == 0) continue;
    if (memchr(skey, ' ', sl) != NULL) continue;
    if (sl == cl && memcmp(skey, c, cl) == 0) continue;
    map_of[cp] = strdup(skey);
    if (map_of[cp] == NULL) return 1;
  }
  uspoof_close(sc);
  u_cleanup();

  /* Closure: map the maps until they stop changing (a prototype's own letters may map on). */
  for (int round = 0;; round++) {
    int changed = 0;
    for (unsigned cp = 0x80; cp < MAX_CP; cp++) {
      if (map_of[cp] == NULL) continue;
      char next[OUT_CAP];
      if (map_once(map_of[cp], next, sizeof next) != 0) {
        fprintf(stderr, "flt-skelgen: U+%04X: skeleton too long\n", cp);
        return 1;
      }
      if (strcmp(next, map_of[cp]) != 0) {
        free(map_of[cp]);
        map_of[cp] = strdup(next);
        if (map_of[cp] == NULL) return 1;
        changed = 1;
      }
    }
    if (!changed) break;
    if (round == 8) {
      fprintf(stderr, "flt-skelgen: the confusables map does not settle\n");
      return 1;
    }
  }

  size_t mapped = 0;
  for (unsigned cp = 0x80; cp < MAX_CP; cp++) mapped += map_of[cp] != NULL;
  if (mapped < 1000) { /* UTS #39 has thousands: ICU without its data, or a broken build */
    fprintf(stderr, "flt-skelgen: only %zu confusables from ICU\n", mapped);
    return 1;
  }
  FILE *f = fopen(argv[1], "w");
  if (f == NULL) {
    perror(argv[1]);
    return 1;
  }
  UVersionInfo v;
  char vs[U_MAX_VERSION_STRING_LENGTH];
  u_getVersion(v);
  u_versionToString(v, vs);
  fprintf(f,
          "/* Generated by flt-skelgen (filters/flt_skelgen_main.c) from the UTS #39 skeletons of "
          "ICU %s: do not edit. */\n#include \"flt_int.h\"\n\n",
          vs);
  size_t n = 0, pool = 0, dropped = 0;
  fprintf(f, "const flt__skel_t flt__skel[] = {\n");
  for (unsigned cp = 0x80; cp < MAX_CP; cp++) {
    const char *m = map_of[cp];
    if (m == NULL) continue;
    char c[5];
    size_t cl = utf8_put(cp, c), ml = strlen(m);
    if (strncmp(m, c, cl) == 0 && ml == cl) continue; /* back to itself after the closure */
    if (ml > cl * FLT__SKEL_GROWTH) {
      dropped++;
      continue;
    }
    fprintf(f, "  {0x%X, %zu, %zu},\n", cp, pool, ml);
    pool += ml;
    n++;
  }
  fprintf(f, "};\nconst size_t flt__skel_n = %zu;\n\nconst char flt__skel_pool[] = {\n", n);
  size_t col = 0;
  for (unsigned cp = 0x80; cp < MAX_CP; cp++) {
    const char *m = map_of[cp];
    if (m == NULL) continue;
    char c[5];
    size_t cl = utf8_put(cp, c), ml = strlen(m);
    if ((strncmp(m, c, cl) == 0 && ml == cl) || ml > cl * FLT__SKEL_GROWTH) continue;
    for (size_t i = 0; i < ml; i++) {
      fprintf(f, "%d,%s", (signed char)m[i], ++col % 20 ? "" : "\n");
    }
  }
  fprintf(f, "0};\n");
  if (fclose(f) != 0) {
    perror(argv[1]);
    return 1;
  }
  for (unsigned cp = 0; cp < MAX_CP; cp++) free(map_of[cp]);
  fprintf(stderr, "flt-skelgen: %zu confusables (ICU %s), %zu bytes, %zu left out as too long\n", n,
          vs, pool, dropped);
  return 0;
}
