/*
 * The digests of an input's identity (docs/TABLES.md, "The ledger"; SPEC §4 "Nightly use is
 * idempotent"): XXH3-128 for the rows a run writes, SHA-256 (libcrypto) only to recognise the rows
 * of version 1 and 2 ledgers.
 *
 * Why XXH3-128: the digest guards against feeding the same log twice by accident, not against an
 * attacker, and it is computed over every byte of every log. SHA-256 (even with the SHA
 * instructions, about 1.8 GB/s) took a core for most of a large run; XXH3 runs at memory speed.
 * xxhash is compiled in from its header (XXH_INLINE_ALL), so only its -dev package is needed.
 */
#include "agg_int.h"

#include <openssl/evp.h>
#include <stdlib.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

struct agg__sum {
  agg__alg_t alg;
  XXH3_state_t *x;
  EVP_MD_CTX *sha;
};

/* Lowercase hex of md[0..n) into hex[0..2n], NUL-terminated. */
static void hex_of(const unsigned char *md, size_t n, char *hex) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    hex[2 * i] = digits[md[i] >> 4];
    hex[2 * i + 1] = digits[md[i] & 15];
  }
  hex[2 * n] = 0;
}

int agg__sum_new(agg__alg_t alg, agg__sum_t **out) {
  *out = NULL;
  agg__sum_t *s = calloc(1, sizeof *s);
  if (!s) return TA_ENOMEM;
  s->alg = alg;
  int ok = alg == AGG__XXH128
               ? (s->x = XXH3_createState()) && XXH3_128bits_reset(s->x) == XXH_OK
               : (s->sha = EVP_MD_CTX_new()) && EVP_DigestInit_ex(s->sha, EVP_sha256(), NULL) == 1;
  if (!ok) {
    agg__sum_free(s);
    return TA_ENOMEM;
  }
  *out = s;
  return 0;
}

void agg__sum_update(agg__sum_t *s, const void *p, size_t n) {
  if (s->x)
    XXH3_128bits_update(s->x, p, n);
  else
    EVP_DigestUpdate(s->sha, p, n);
}

int agg__sum_copy(const agg__sum_t *s, agg__sum_t **out) {
  int rc = agg__sum_new(s->alg, out);
  if (rc) return rc;
  if (s->x)
    XXH3_copyState((*out)->x, s->x);
  else if (EVP_MD_CTX_copy_ex((*out)->sha, s->sha) != 1)
    rc = TA_ENOMEM;
  if (rc) {
    agg__sum_free(*out);
    *out = NULL;
  }
  return rc;
}

int agg__sum_hex(const agg__sum_t *s, char hex[AGG__HEX]) {
  if (s->x) {
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, XXH3_128bits_digest(s->x));
    hex_of(c.digest, sizeof c.digest, hex);
    return 0;
  }
  /* Finishing consumes an EVP state: finish a copy, so s can go on. */
  unsigned char md[32];
  unsigned int mdlen = 0;
  EVP_MD_CTX *c = EVP_MD_CTX_new();
  int ok = c && EVP_MD_CTX_copy_ex(c, s->sha) == 1 && EVP_DigestFinal_ex(c, md, &mdlen) == 1 &&
           mdlen == 32;
  EVP_MD_CTX_free(c);
  if (!ok) return TA_ENOMEM;
  hex_of(md, 32, hex);
  return 0;
}

void agg__sum_free(agg__sum_t *s) {
  if (!s) return;
  if (s->x) XXH3_freeState(s->x);
  EVP_MD_CTX_free(s->sha);
  free(s);
}

int agg__digest_hex(agg__alg_t alg, const void *p, size_t n, char hex[AGG__HEX]) {
  if (alg == AGG__XXH128) {
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, XXH3_128bits(p, n));
    hex_of(c.digest, sizeof c.digest, hex);
    return 0;
  }
  agg__sum_t *s;
  int rc = agg__sum_new(alg, &s);
  if (rc) return rc;
  agg__sum_update(s, p, n);
  rc = agg__sum_hex(s, hex);
  agg__sum_free(s);
  return rc;
}
