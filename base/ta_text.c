/*
 * Text (ta.h, "Text"): a byte string made safe to print on a terminal or in a log line, whatever
 * it holds (a path, a header, a display form read from a hostile file); the market name rule
 * (SPEC §10).
 */
#include "ta.h"

#include <string.h>

static int esc_byte(unsigned char c, unsigned flags) {
  return c < 0x20 || c == 0x7f || (c == '\\' && (flags & TA_ESC_BACKSLASH));
}

size_t ta_esc(const char *s, size_t len, unsigned flags, char *buf, size_t cap) {
  static const char hex[] = "0123456789abcdef";
  if (cap == 0) return 0;
  size_t whole = 0;
  for (size_t i = 0; i < len; i++) whole += esc_byte((unsigned char)s[i], flags) ? 4 : 1;
  /* cut: keep room for "..." (a cap under 5 holds what it can of the mark) */
  size_t room = whole < cap ? cap - 1 : (cap > 4 ? cap - 4 : 0);
  size_t o = 0, i = 0;
  for (; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    int esc = esc_byte(c, flags);
    if (o + (esc ? 4 : 1) > room) break;
    if (esc) {
      buf[o++] = '\\';
      buf[o++] = 'x';
      buf[o++] = hex[c >> 4];
      buf[o++] = hex[c & 15];
    } else {
      buf[o++] = (char)c;
    }
  }
  if (i < len) {
    size_t mark = cap - 1 - o < 3 ? cap - 1 - o : 3;
    memcpy(buf + o, "...", mark);
    o += mark;
  }
  buf[o] = '\0';
  return o;
}

int ta_market_valid(const char *m, size_t len) {
  if (len == 0 || len > TA_MAX_MARKET) return 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)m[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) return 0;
  }
  return 1;
}
