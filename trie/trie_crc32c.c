/*
 * CRC32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of every section and of
 * the header of a trie file (docs/FORMAT.md). Portable slicing-by-8 tables, built once; on x86-64
 * CPUs with SSE4.2 the crc32 instruction is used instead (checked at run time). Both paths give
 * the same result: tests/trie/test_format.c checks each against known vectors.
 */
#include "trie_int.h"

#include <pthread.h>

static uint32_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void) {
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int j = 0; j < 8; j++) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    crc_table[0][i] = c;
  }
  for (uint32_t i = 0; i < 256; i++)
    for (int t = 1; t < 8; t++)
      crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xff];
}

uint32_t trie__crc32c_sw(uint32_t crc, const void *buf, size_t len) {
  pthread_once(&crc_once, crc_init);
  const uint8_t *p = buf;
  crc = ~crc;
  while (len >= 8) {
    uint32_t lo = trie__load_u32(p) ^ crc;
    uint32_t hi = trie__load_u32(p + 4);
    crc = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
          crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^ crc_table[3][hi & 0xff] ^
          crc_table[2][(hi >> 8) & 0xff] ^ crc_table[1][(hi >> 16) & 0xff] ^ crc_table[0][hi >> 24];
    p += 8;
    len -= 8;
  }
  while (len--) crc = (crc >> 8) ^ crc_table[0][(crc ^ *p++) & 0xff];
  return ~crc;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <nmmintrin.h>

__attribute__((target("sse4.2"))) static uint32_t crc32c_hw(uint32_t crc, const void *buf,
                                                            size_t len) {
  const uint8_t *p = buf;
  uint64_t c = ~crc;
  while (len >= 8) {
    c = _mm_crc32_u64(c, trie__load_u64(p));
    p += 8;
    len -= 8;
  }
  uint32_t c32 = (uint32_t)c;
  while (len--) c32 = _mm_crc32_u8(c32, *p++);
  return ~c32;
}

static int have_hw;
static pthread_once_t hw_once = PTHREAD_ONCE_INIT;

static void hw_init(void) {
  __builtin_cpu_init();
  have_hw = __builtin_cpu_supports("sse4.2") ? 1 : 0;
}

uint32_t trie__crc32c(uint32_t crc, const void *buf, size_t len) {
  pthread_once(&hw_once, hw_init);
  return have_hw ? crc32c_hw(crc, buf, len) : trie__crc32c_sw(crc, buf, len);
}
#else
uint32_t trie__crc32c(uint32_t crc, const void *buf, size_t len) {
  return trie__crc32c_sw(crc, buf, len);
}
#endif
