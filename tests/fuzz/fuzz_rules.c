/* Fuzz target for the blocklist rules parser and compiler (filters/flt_compile.c) and the
 * matcher (filters/flt_match.c). The input is a rules file. Whatever it holds, compiling must
 * not crash or leak; when it compiles, every rule must block its own text (a rule that cannot
 * match itself would mean the parser and the matcher disagree on tokens or keys), and matching
 * the raw input, valid UTF-8 or not, must be safe. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "flt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_line_blocks_itself(const flt_ruleset_t *rs, const char *s, size_t len) {
  if (len > 0 && s[len - 1] == '\r') len--;
  size_t i = 0;
  while (i < len && (s[i] == ' ' || s[i] == '\t')) i++;
  if (i == len || s[i] == '#') return;
  const char *text = s + i;
  size_t text_len = len - i;
  const char *colon = memchr(text, ':', text_len);
  if (colon) {
    text_len -= (size_t)(colon + 1 - text);
    text = colon + 1;
  }
  flt_kind_t kind;
  if (flt_match_text(rs, text, text_len, &kind) != 1) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *text = (const char *)data;
  flt_ruleset_t *rs = NULL;
  ta_diag_t err;
  int rc = flt_compile(text, size, &rs, &err);
  if (rc != 0) {
    if (rs != NULL || memchr(err.msg, '\0', sizeof err.msg) == NULL) abort();
    return 0;
  }
  flt_info_t info;
  if (flt_get_info(rs, &info) != 0 || info.text_len != size) abort();
  flt_kind_t kind;
  (void)flt_match(rs, text, size, &kind); /* raw bytes, possibly invalid UTF-8 */
  size_t pos = 0;
  if (size >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) pos = 3;
  while (pos < size) {
    const char *nl = memchr(text + pos, '\n', size - pos);
    size_t end = nl ? (size_t)(nl - text) : size;
    check_line_blocks_itself(rs, text + pos, end - pos);
    pos = end + 1;
  }
  flt_ruleset_free(rs);
  return 0;
}
