/*
 * The project's clocks (ta.h, "Clocks"): one monotonic clock for durations and deadlines, one
 * wall clock for timestamps that are stored or shown.
 */
#include "ta.h"

#include <time.h>

uint64_t ta_mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * UINT64_C(1000000000) + (uint64_t)ts.tv_nsec;
}

double ta_mono_s(void) {
  return (double)ta_mono_ns() / 1e9;
}

int64_t ta_unix_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec;
}
