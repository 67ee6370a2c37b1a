/*
 * The --version text of every tool (SPEC §8, last point): the project version (CMake's
 * project(VERSION), passed as TA_VERSION by the top-level CMakeLists.txt), the versions of the
 * trie format this build writes and reads (docs/FORMAT.md, "Versioning rules"), and the
 * normalization version (SPEC §3) it accepts.
 */
#include "trie_int.h"

int trie_print_version(FILE *f, const char *tool) {
  fprintf(f,
          "%s %s\n"
          "trie format: writes version %u (min read version %u); reads files whose min read "
          "version is at most %u, written by version %u or later (older: rebuild them)\n"
          "normalization: version %u (tries and week tables of another version are refused)\n",
          tool, TA_VERSION, TRIE_FORMAT_VERSION, TRIE_MIN_READ_VERSION, TRIE_FORMAT_VERSION,
          TRIE_MIN_READ_VERSION, TRIE_NORM_VERSION);
  return fflush(f) == 0 && !ferror(f) ? 0 : TA_EIO;
}
