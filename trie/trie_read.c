/*
 * The cheap part of the trie reader: trie_open (mmap and the header checks of docs/FORMAT.md,
 * "What open checks"), trie_open_copy (the same checks on a private copy, read whole),
 * trie_close, trie_get_info, and the bounds-checked node parser every reader path (lookup,
 * filtered lookup, verify) goes through. Layout: trie_int.h.
 */
#include "trie_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

const char *trie__section_name(uint32_t id) {
  static const char *const names[TRIE_SECT_MAX_ID + 1] = {
      [TRIE_SECT_META] = "META",         [TRIE_SECT_NODES] = "NODES",
      [TRIE_SECT_HOTOFF] = "HOTOFF",     [TRIE_SECT_HOTSTR] = "HOTSTR",
      [TRIE_SECT_SCOREVAL] = "SCOREVAL", [TRIE_SECT_SCORERUN] = "SCORERUN",
      [TRIE_SECT_IDPOS] = "IDPOS",       [TRIE_SECT_DISPLAY] = "DISPLAY",
      [TRIE_SECT_SYMBOLS] = "SYMBOLS",
  };
  return id >= 1 && id <= TRIE_SECT_MAX_ID && names[id] != NULL ? names[id] : "unknown";
}

/* Finds the section with this id; NULL when absent. */
static const trie__section_t *find_section(const trie_reader_t *r, uint32_t id) {
  for (uint32_t i = 0; i < r->nsect; i++)
    if (r->sect[i].id == id) return &r->sect[i];
  return NULL;
}

/* The file ends exactly where the padding after its last section (or its header) ends, as the
 * writer makes it: a file cut inside that padding is truncated, one with bytes after it is not
 * what was written. Sections are bounds-checked before. */
static int check_file_end(const trie_reader_t *r, uint32_t header_size) {
  uint64_t end = header_size;
  for (uint32_t i = 0; i < r->nsect; i++)
    if (r->sect[i].off + r->sect[i].len > end) end = r->sect[i].off + r->sect[i].len;
  end = (end + 7) & ~(uint64_t)7;
  if (r->size < end) return TA_ETRUNC;
  return r->size > end ? TA_ECORRUPT : 0;
}

/* The market and shard after the normalization version, in a market's or a shard's file (a
 * server compares them with the place it loads the file for); none in other files. */
static int read_place(trie_reader_t *r, const trie__section_t *meta) {
  size_t at = TRIE_META_FIXED + r->source_len + TRIE_META_NORM_LEN;
  r->market = NULL;
  r->market_len = 0;
  r->shards = r->shard = 0;
  if (r->write_version < 2 || meta->len <= at) return 0;
  const uint8_t *p = r->base + meta->off + at;
  uint64_t left = meta->len - at;
  if (left < TRIE_META_PLACE_LEN) return TA_ECORRUPT;
  uint32_t mlen = trie__load_u32(p);
  if (mlen > TA_MAX_MARKET || left - TRIE_META_PLACE_LEN < mlen) return TA_ECORRUPT;
  if (mlen && !ta_market_valid((const char *)p + 4, mlen)) return TA_ECORRUPT;
  uint32_t shards = trie__load_u32(p + 4 + mlen), shard = trie__load_u32(p + 8 + mlen);
  if (shards > TRIE_MAX_SHARDS || (shards ? shard >= shards : shard != 0)) return TA_ECORRUPT;
  r->market = mlen ? (const char *)p + 4 : NULL;
  r->market_len = mlen;
  r->shards = shards;
  r->shard = shard;
  return 0;
}

/* The normalization version after META's source (format version 2 on), 1 in an older file; keys
 * of another normalization would not match what this program looks up. */
static int read_norm_version(trie_reader_t *r, const trie__section_t *meta) {
  size_t at = TRIE_META_FIXED + r->source_len;
  if (r->write_version < 2) {
    r->norm_version = 1;
  } else {
    if (meta->len - at < TRIE_META_NORM_LEN) return TA_ECORRUPT;
    r->norm_version = trie__load_u32(r->base + meta->off + at);
  }
  if (r->norm_version == TRIE_NORM_VERSION) return 0;
  /* "Rebuild" only when the field is what a writer wrote, not a damaged byte. */
  if (trie__crc32c(0, r->base + meta->off, (size_t)meta->len) != meta->crc) return TA_ECHECKSUM;
  return TA_ENORMVERSION;
}

/* The by-id tables of docs/FORMAT.md: their lengths agree with n and with each other, and the
 * fields every hit reads unchecked (a width) are sound; offsets inside them are checked where
 * they are read. */
static int parse_tables(trie_reader_t *r) {
  const uint8_t *b = r->base;
  uint64_t n = r->n;
  const trie__section_t *hot_off = find_section(r, TRIE_SECT_HOTOFF);
  const trie__section_t *hot_str = find_section(r, TRIE_SECT_HOTSTR);
  const trie__section_t *score_val = find_section(r, TRIE_SECT_SCOREVAL);
  const trie__section_t *score_run = find_section(r, TRIE_SECT_SCORERUN);
  const trie__section_t *idpos = find_section(r, TRIE_SECT_IDPOS);
  const trie__section_t *disp = find_section(r, TRIE_SECT_DISPLAY);
  /* HOTOFF: u32 M, u32 w, a record of 4 + 2w bytes per group of TRIE_HOT_GROUP hot ids, the
   * slack. */
  if (hot_off->len < TRIE_HOT_HEAD) return TA_ECORRUPT;
  r->m_hot = trie__load_u32(b + hot_off->off);
  r->hot_w = trie__load_u32(b + hot_off->off + 4);
  r->hot_rec = 4 + 2 * (size_t)r->hot_w;
  if (r->m_hot > n || r->hot_w < 1 || r->hot_w > TRIE_HOT_W_MAX ||
      hot_off->len != TRIE_HOT_HEAD +
                          r->hot_rec * ((r->m_hot + TRIE_HOT_GROUP - 1) / TRIE_HOT_GROUP) +
                          TRIE_BITS_SLACK)
    return TA_ECORRUPT;
  if (hot_str->len > UINT32_MAX) return TA_ECORRUPT; /* HOTOFF's starts are u32 */
  r->hot_off = b + hot_off->off + TRIE_HOT_HEAD;
  r->hot_str = b + hot_str->off;
  r->hot_len = (size_t)hot_str->len;
  if (score_val->len % 8 != 0 || (n > 0) != (score_val->len > 0)) return TA_ECORRUPT;
  r->n_scores = score_val->len / 8;
  r->score_val = b + score_val->off;
  if (score_run->len != TRIE_SCORERUN_GROUP * ((n + 63) / 64)) return TA_ECORRUPT;
  r->score_run = b + score_run->off;
  /* IDPOS: u32 w, a field of w bits per id, the slack. */
  if (idpos->len < 4 + TRIE_BITS_SLACK) return TA_ECORRUPT;
  uint64_t cold = n - r->m_hot;
  r->idpos_bits = trie__load_u32(b + idpos->off);
  if (r->idpos_bits < 1 || r->idpos_bits > TRIE_IDPOS_W_MAX ||
      idpos->len - 4 - TRIE_BITS_SLACK != (n * r->idpos_bits + 7) / 8)
    return TA_ECORRUPT;
  r->idpos = b + idpos->off + 4;
  r->idpos_len = (size_t)idpos->len - 4 - TRIE_BITS_SLACK;
  /* DISPLAY: u32 count c, a bit per cold id (set: listed), u32 ids[c], u32 offsets[c + 1],
   * then the forms. */
  if (disp->len < 4) return TA_ECORRUPT;
  const uint8_t *d = b + disp->off;
  uint64_t c = trie__load_u32(d), bits = (cold + 7) / 8;
  if (c > cold || 4 + bits + 8 * c + 4 > disp->len) return TA_ECORRUPT;
  r->n_disp = c;
  r->disp_bits = d + 4;
  r->disp_ids = d + 4 + bits;
  r->disp_off = r->disp_ids + 4 * c;
  r->disp_str = r->disp_off + 4 * (c + 1);
  r->disp_len = (size_t)(disp->len - 4 - bits - 8 * c - 4);
  const trie__section_t *sym = find_section(r, TRIE_SECT_SYMBOLS);
  return trie__sym_load(r, b + sym->off, sym->len);
}

/* The checks of the header block alone (magic, versions, header CRC, the section table against
 * the file's size r->size, where the file ends); fills r's versions and sections. Reads no byte
 * of b past the header block, so b may hold just the file's first 24 + 24 x 64 + 4 bytes. */
static int parse_layout(trie_reader_t *r, const uint8_t *b) {
  size_t size = r->size;
  if (size < TRIE_MAGIC_LEN)
    return size == 0 || memcmp(b, TRIE_MAGIC, size) != 0 ? TA_EBADMAGIC : TA_ETRUNC;
  if (memcmp(b, TRIE_MAGIC, TRIE_MAGIC_LEN) != 0) return TA_EBADMAGIC;
  if (size < TRIE_HDR_FIXED) return TA_ETRUNC;
  uint32_t write_version = trie__load_u32(b + 8);
  uint32_t min_read = trie__load_u32(b + 12);
  uint32_t header_size = trie__load_u32(b + 16);
  uint32_t nsect = trie__load_u32(b + 20);
  /* A reader refuses a file that says it needs a newer reader; checked before the CRC so a
   * future layout of the rest of the header is no "corruption". */
  if (min_read > TRIE_FORMAT_VERSION || min_read == 0 || write_version < min_read)
    return TA_EVERSION;
  /* Versions 1 and 2 held every text and score by id, version 3 raw labels, version 4 a node
   * position for the cold ids only and a u32 per hot text, version 5 a child's label with its
   * first byte; this reader has no code for them. */
  if (write_version < TRIE_MIN_READ_VERSION) return TA_EOLDFORMAT;
  if (nsect > TRIE_MAX_SECTIONS) return TA_ECORRUPT;
  if (header_size != TRIE_HDR_FIXED + nsect * TRIE_SECT_ENTRY + 4u) return TA_ECORRUPT;
  if (size < header_size) return TA_ETRUNC;
  uint32_t crc = trie__load_u32(b + header_size - 4);
  if (trie__crc32c(0, b, header_size - 4) != crc) return TA_ECHECKSUM;
  r->write_version = write_version;
  r->header_crc = crc;
  r->nsect = nsect;
  for (uint32_t i = 0; i < nsect; i++) {
    const uint8_t *e = b + TRIE_HDR_FIXED + (size_t)i * TRIE_SECT_ENTRY;
    trie__section_t *s = &r->sect[i];
    s->id = trie__load_u32(e);
    s->crc = trie__load_u32(e + 4);
    s->off = trie__load_u64(e + 8);
    s->len = trie__load_u64(e + 16);
    for (uint32_t j = 0; j < i; j++)
      if (r->sect[j].id == s->id) return TA_ECORRUPT;
    /* off + len <= size, written so it cannot overflow. */
    if (s->off < header_size || s->off > size) return s->off > size ? TA_ETRUNC : TA_ECORRUPT;
    if (s->len > size - s->off) return TA_ETRUNC;
  }
  return check_file_end(r, header_size);
}

/* All header checks; fills r from r->base/r->size. */
static int parse_header(trie_reader_t *r) {
  const uint8_t *b = r->base;
  int rc;
  if ((rc = parse_layout(r, b)) != 0) return rc;
  static const uint32_t required[] = TRIE_SECT_REQUIRED;
  for (uint32_t i = 0; i < TRIE_SECT_NUM_REQUIRED; i++)
    if (find_section(r, required[i]) == NULL) return TA_ECORRUPT;

  const trie__section_t *meta = find_section(r, TRIE_SECT_META);
  if (meta->len < TRIE_META_FIXED) return TA_ECORRUPT;
  const uint8_t *m = b + meta->off;
  r->k = trie__load_u32(m + TRIE_META_K);
  r->n = trie__load_u64(m + TRIE_META_NUM_QUERIES);
  r->num_nodes = trie__load_u64(m + TRIE_META_NUM_NODES);
  r->build_time = (int64_t)trie__load_u64(m + TRIE_META_BUILD_TIME);
  r->root = trie__load_u64(m + TRIE_META_ROOT);
  r->max_key = trie__load_u32(m + TRIE_META_MAX_KEY);
  uint32_t source_len = trie__load_u32(m + TRIE_META_SOURCE_LEN);
  if (r->k < 1 || r->k > TA_MAX_K) return TA_ECORRUPT;
  if (r->n >= UINT32_MAX) /* ids are u32 */
    return TA_ECORRUPT;
  if (source_len > meta->len - TRIE_META_FIXED) return TA_ECORRUPT;
  r->source = (const char *)m + TRIE_META_FIXED;
  r->source_len = source_len;
  if ((rc = read_norm_version(r, meta)) != 0) return rc;
  if ((rc = read_place(r, meta)) != 0) return rc;

  const trie__section_t *nodes = find_section(r, TRIE_SECT_NODES);
  if (nodes->len == 0 || r->root >= nodes->len) return TA_ECORRUPT;
  r->nodes = b + nodes->off;
  r->nodes_len = (size_t)nodes->len;
  if ((rc = parse_tables(r)) != 0) return rc;
  trie__top_load(r);
  r->info = (trie_info_t){.format_version = r->write_version,
                          .k = r->k,
                          .num_queries = r->n,
                          .num_nodes = r->num_nodes,
                          .file_size = r->size,
                          .build_time = r->build_time,
                          .source = r->source,
                          .source_len = r->source_len,
                          .file_crc = r->header_crc,
                          .norm_version = r->norm_version,
                          .market = r->market,
                          .market_len = r->market_len,
                          .shards = r->shards,
                          .shard = r->shard};
  return 0;
}

void trie__top_load(trie_reader_t *r) {
  r->top_ok = 0;
  trie__node_t *root = &r->top_root;
  if (trie__node_parse(r, (size_t)r->root, TRIE_NO_FIRST, root) != 0) return;
  memset(r->top_index, 0, sizeof r->top_index);
  for (uint64_t i = root->nchild; i-- > 0;) { /* backwards: a byte's first child wins, as memchr */
    if (trie__node_child(r, root, i, &r->top_kids[i]) != 0) return;
    r->top_index[root->child_bytes[i]] = (uint16_t)(i + 1);
  }
  r->top_ok = 1;
}

int trie__open_mem(const void *buf, size_t len, trie_reader_t **out) {
  if (out == NULL || (buf == NULL && len != 0)) return TA_EINVAL;
  *out = NULL;
  trie_reader_t *r = calloc(1, sizeof *r);
  if (r == NULL) return TA_ENOMEM;
  r->base = buf != NULL ? buf : (const uint8_t *)"";
  r->size = len;
  int rc = parse_header(r);
  if (rc != 0) {
    free(r);
    return rc;
  }
  *out = r;
  return 0;
}

int trie_open_fd(int fd, trie_reader_t **out) {
  if (fd < 0 || out == NULL) return TA_EINVAL;
  *out = NULL;
  struct stat st;
  if (fstat(fd, &st) != 0) return ta_error_from_errno(errno);
  if (!S_ISREG(st.st_mode)) return TA_ENOTREG;
  size_t size = (size_t)st.st_size;
  if (size < TRIE_HDR_FIXED) {
    /* Too small to map usefully; read it to report magic vs truncation. pread: the offset
     * stays the caller's. */
    uint8_t small[TRIE_HDR_FIXED];
    ssize_t got = pread(fd, small, sizeof small, 0);
    if (got < 0) return TA_EIO;
    trie_reader_t tmp;
    memset(&tmp, 0, sizeof tmp);
    tmp.base = small;
    tmp.size = (size_t)got;
    int rc = parse_header(&tmp);
    return rc != 0 ? rc : TA_ETRUNC;
  }
  void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
  if (map == MAP_FAILED) return ta_error_from_errno(errno);
  trie_reader_t *r;
  int rc = trie__open_mem(map, size, &r);
  if (rc != 0) {
    munmap(map, size);
    return rc;
  }
  r->mapped = 1;
  *out = r;
  return 0;
}

int trie_open(const char *path, trie_reader_t **out) {
  if (path == NULL || out == NULL) return TA_EINVAL;
  *out = NULL;
  /* O_NONBLOCK: opening a FIFO would wait for a writer; trie_open_fd refuses it instead. */
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return ta_error_from_errno(errno);
  int rc = trie_open_fd(fd, out);
  close(fd); /* the mapping stays */
  return rc;
}

/* The header block of the open regular file fd (of size bytes) checked against its size before
 * the file is read whole: a file whose size is not what its header says (extended by truncate
 * -s, a log copied over it, a file still being written) is refused from its first bytes, not
 * after a read of gigabytes into memory. On the descriptor that is then read, so the file checked
 * is the file read (a path opened twice may name another file the second time). 0 when the
 * header block agrees with the size, or could not be read (the read whole then says why). */
static int check_size_first(int fd, uint64_t size) {
  uint8_t head[TRIE_HDR_FIXED + TRIE_MAX_SECTIONS * TRIE_SECT_ENTRY + 4];
  size_t want = size < sizeof head ? (size_t)size : sizeof head;
  ssize_t got = pread(fd, head, want, 0);
  if (got != (ssize_t)want) return 0;
  trie_reader_t *r = calloc(1, sizeof *r);
  if (r == NULL) return 0;
  r->size = (size_t)size;
  int rc = parse_layout(r, head);
  free(r);
  return rc;
}

int trie_open_copy(const char *path, size_t max, trie_reader_t **out, ta_diag_t *diag) {
  if (path == NULL || out == NULL) return TA_EINVAL;
  *out = NULL;
  int fd;
  uint64_t size;
  int rc = ta_open_regular(path, &fd, &size, diag);
  if (rc != 0) return rc;
  ta_buf_t copy = {0};
  rc = check_size_first(fd, size);
  if (rc != 0)
    ta_diag_set(diag, rc, "%s", "");
  else
    rc = ta_read_fd(fd, size, max, &copy, diag);
  close(fd);
  if (rc != 0) return rc;
  trie_reader_t *r;
  rc = trie__open_mem(copy.p, copy.len, &r);
  if (rc != 0) {
    ta_buf_free(&copy);
    return ta_diag_set(diag, rc, "%s", "");
  }
  r->mapped = 2;
  *out = r;
  return 0;
}

void trie_close(trie_reader_t *r) {
  if (r == NULL) return;
  if (r->mapped == 1) munmap((void *)r->base, r->size);
  if (r->mapped == 2) free((void *)r->base);
  free(r);
}

int trie_get_info(const trie_reader_t *r, trie_info_t *out) {
  if (r == NULL || out == NULL) return TA_EINVAL;
  *out = r->info;
  return 0;
}

const trie_info_t *trie_info(const trie_reader_t *r) {
  return r == NULL ? NULL : &r->info;
}

int trie__node_list(const trie_reader_t *r, const trie__node_t *nd, uint32_t *ids) {
  const uint8_t *p = nd->list;
  const uint8_t *end = p + nd->list_len;
  uint64_t prev = 0, v;
  for (uint32_t i = 0; i < r->k; i++) {
    if (trie__varint(&p, end, &v) != 0) return TA_ECORRUPT;
    uint64_t id = i == 0 ? v : prev + 1 + v;
    if (id >= r->n || (i > 0 && id <= prev)) /* the second test catches wrap-around */
      return TA_ECORRUPT;
    ids[i] = (uint32_t)id;
    prev = id;
  }
  if (p != end) return TA_ECORRUPT;
  return 0;
}
