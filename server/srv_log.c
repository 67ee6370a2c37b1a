/*
 * The server's log (SPEC §8): one line on stderr per event, prefixed "typeahead-serve: ". Below
 * every other server file, so that any of them can log without depending on another.
 */
#include "srv_int.h"

#include <stdarg.h>
#include <stdio.h>

void srv__log(const char *fmt, ...) {
  char line[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  fprintf(stderr, "typeahead-serve: %s\n", line);
}
