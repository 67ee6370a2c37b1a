/*
 * The server's log (SPEC §8): one line on stderr per event, prefixed "typeahead-serve: ". Below
 * every other server file, so that any of them can log without depending on another. Warnings
 * that an attacker can repeat at will go through srv__log_limited: at most one line a second
 * per kind. Text from outside (a file name, a path or value of the command line, a file's
 * content quoted in a message) goes in through srv__log_esc (SRV_LOG_ESC), so a line stays one
 * line.
 */
#include "srv_int.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

/* One line: the message, then "(N more ...)" when n warnings like it were suppressed. */
__attribute__((format(printf, 2, 0))) static void log_line(uint64_t n, const char *fmt,
                                                           va_list ap) {
  char line[1024];
  if (vsnprintf(line, sizeof line, fmt, ap) < 0) return;
  if (n)
    fprintf(stderr, "typeahead-serve: %s (%llu more like this in the last second, not shown)\n",
            line, (unsigned long long)n);
  else
    fprintf(stderr, "typeahead-serve: %s\n", line);
}

void srv__log(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  log_line(0, fmt, ap);
  va_end(ap);
}

void srv__log_limited(int kind, const char *fmt, ...) {
  static _Atomic uint64_t last_ms[SRV_LOG_KINDS];
  static _Atomic uint64_t suppressed[SRV_LOG_KINDS];
  if (kind < 0 || kind >= SRV_LOG_KINDS) return;
  uint64_t now = ta_mono_ns() / 1000000u + 1000; /* + 1000: the first line always passes */
  uint64_t prev = atomic_load_explicit(&last_ms[kind], memory_order_relaxed);
  if (now - prev < 1000 || !atomic_compare_exchange_strong(&last_ms[kind], &prev, now)) {
    atomic_fetch_add_explicit(&suppressed[kind], 1, memory_order_relaxed);
    return;
  }
  va_list ap;
  va_start(ap, fmt);
  log_line(atomic_exchange_explicit(&suppressed[kind], 0, memory_order_relaxed), fmt, ap);
  va_end(ap);
}

const char *srv__log_esc(const char *s, char *buf, size_t cap) {
  ta_esc(s, strlen(s), TA_ESC_BACKSLASH, buf, cap);
  return buf;
}
