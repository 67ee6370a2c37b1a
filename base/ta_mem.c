/*
 * Growable memory (ta.h, "Memory"): the byte buffer that answers and files are assembled in,
 * and the doubling growth of arrays, written once so every module grows memory the same way
 * (overflow checked, the old block intact on failure).
 */
#include "ta.h"

#include <stdlib.h>
#include <sys/mman.h>

int ta_grow(void **items, size_t *cap, size_t need, size_t elem, size_t first) {
  if (need <= *cap) return 0;
  if (elem == 0) return TA_EINVAL;
  size_t n = *cap ? *cap : (first ? first : 1);
  while (n < need) {
    if (n > SIZE_MAX / 2) return TA_ENOMEM;
    n *= 2;
  }
  if (n > SIZE_MAX / elem) return TA_ENOMEM;
  void *p = realloc(*items, n * elem);
  if (p == NULL) return TA_ENOMEM;
  *items = p;
  *cap = n;
  return 0;
}

int ta_buf_reserve(ta_buf_t *b, size_t extra) {
  if (b->cap - b->len >= extra) return 0;
  if (extra > SIZE_MAX - b->len) return TA_ENOMEM;
  void *p = b->p;
  int rc = ta_grow(&p, &b->cap, b->len + extra, 1, 1024);
  b->p = p;
  return rc;
}

int ta__buf_put_grow(ta_buf_t *b, const void *data, size_t n) {
  int rc = ta_buf_reserve(b, n);
  if (rc != 0) return rc;
  if (n) memcpy(b->p + b->len, data, n);
  b->len += n;
  return 0;
}

void ta_buf_free(ta_buf_t *b) {
  if (b == NULL) return;
  free(b->p);
  b->p = NULL;
  b->len = b->cap = 0;
}

#define TA__BIG_MMAP ((size_t)64 << 10) /* smaller blocks come from calloc */

void *ta_big_alloc(size_t size) {
  const size_t huge = (size_t)2 << 20, page = 4096;
  if (size < TA__BIG_MMAP) return calloc(1, size ? size : 1); /* a system call costs more */
  if (size < huge) {
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
  }
  /* a huge page can only back an aligned 2 MiB: start on one (map more, unmap the rest) */
  if (size > SIZE_MAX - huge - page) return NULL;
  size_t span = size + huge;
  char *p = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return NULL;
  char *a = (char *)(((uintptr_t)p + huge - 1) & ~(uintptr_t)(huge - 1));
  char *end = a + ((size + page - 1) & ~(page - 1));
  if (a > p) munmap(p, (size_t)(a - p));
  if (p + span > end) munmap(end, (size_t)(p + span - end));
#ifdef MADV_HUGEPAGE
  madvise(a, size, MADV_HUGEPAGE);
#endif
  return a;
}

void ta_big_free(void *p, size_t size) {
  if (size < TA__BIG_MMAP)
    free(p);
  else if (p != NULL)
    munmap(p, size);
}
