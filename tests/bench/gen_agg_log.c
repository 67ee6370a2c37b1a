/*
 * Generator of large tsv query logs for tests/bench/bench-agg (built by that script with cc;
 * not part of the product). Usage: gen_agg_log LINES DISTINCT SEED > log.tsv
 *
 * Query ids are log-uniform over DISTINCT (P(id = k) ~ 1/k, a Zipf-like skew); the text of an
 * id is 1-3 pseudo-words built from syllables, a few with accents or mixed case. Timestamps
 * cover 6 weeks from Monday 2026-10-05, as unix seconds (70%) or ISO-8601 UTC (30%).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t rng_state;

static uint64_t rng(void) {
  rng_state += UINT64_C(0x9e3779b97f4a7c15);
  uint64_t z = rng_state;
  z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
  return z ^ (z >> 31);
}

static const char *syl[64] = {
    "ka",  "lo",  "mi",  "ne",  "ru",  "sa",   "ti",  "vo",  "ba",  "de",  "fi",  "go",  "hu",
    "ja",  "ke",  "li",  "ma",  "no",  "pa",   "qu",  "re",  "si",  "to",  "ul",  "va",  "we",
    "xi",  "yo",  "za",  "bel", "cor", "dan",  "el",  "for", "gar", "hol", "ing", "jor", "kin",
    "lan", "mor", "nel", "or",  "pen", "quin", "ros", "sel", "tor", "un",  "ver", "wil", "yan",
    "zor", "ber", "cha", "dor", "es",  "fel",  "gra", "han", "ist", "jun", "kel", "lux"};

/* Text of query id into out; returns its length. */
static int query_text(uint64_t id, char *out) {
  uint64_t h = id * UINT64_C(0x2545f4914f6cdd1d) + 12345;
  int words = 1 + (int)(h % 3), n = 0;
  h /= 3;
  for (int w = 0; w < words; w++) {
    if (w) out[n++] = ' ';
    int sy = 2 + (int)(h % 2);
    h /= 2;
    for (int s = 0; s < sy; s++) {
      const char *x = syl[h % 64];
      h = h / 64 + id * 31 + (uint64_t)w * 7 + (uint64_t)s;
      h ^= h >> 17;
      size_t l = strlen(x);
      memcpy(out + n, x, l);
      n += (int)l;
    }
  }
  if (id % 50 == 7) {
    n += sprintf(out + n, " caf\xc3\xa9");
  }
  if (id % 97 == 3) {
    n += sprintf(out + n, " m\xc3\xbcnchen");
  }
  if (id % 11 == 5 && out[0] >= 'a' && out[0] <= 'z') out[0] = (char)(out[0] - 32);
  return n;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: gen_agg_log LINES DISTINCT SEED\n");
    return 2;
  }
  uint64_t lines = strtoull(argv[1], NULL, 10), distinct = strtoull(argv[2], NULL, 10);
  rng_state = strtoull(argv[3], NULL, 10);
  const int64_t start = 1791158400; /* 2026-10-05T00:00:00Z, a Monday */
  const double ln_d = log((double)distinct);
  static char buf[1 << 20];
  size_t used = 0;
  char q[256];
  for (uint64_t i = 0; i < lines; i++) {
    uint64_t r = rng();
    double u = (double)(r >> 11) / 9007199254740992.0;
    uint64_t id = (uint64_t)exp(u * ln_d) - 1;
    int qn = query_text(id, q);
    int64_t t = start + (int64_t)(rng() % (42 * 86400));
    if (used + 300 > sizeof buf) {
      fwrite(buf, 1, used, stdout);
      used = 0;
    }
    if (r % 10 < 7) {
      used += (size_t)sprintf(buf + used, "%lld\t", (long long)t);
    } else {
      time_t tt = (time_t)t;
      struct tm tm;
      gmtime_r(&tt, &tm);
      used += strftime(buf + used, 32, "%Y-%m-%dT%H:%M:%SZ\t", &tm);
    }
    memcpy(buf + used, q, (size_t)qn);
    used += (size_t)qn;
    buf[used++] = '\n';
  }
  fwrite(buf, 1, used, stdout);
  return fflush(stdout) == 0 ? 0 : 1;
}
