/*
 * The project's error codes: messages and names for the TA_E* table declared in ta.h, the
 * mapping from a saved errno to the nearest code, and ta_diag_t, the diagnostic that says where
 * an input went wrong. Conventions: base/ta.h.
 */
#include "ta.h"

#include <stdarg.h>

#include <errno.h>

typedef struct {
  int code;
  const char *name, *msg;
} error_entry_t;

static const error_entry_t errors[] = {{0, "TA_OK", "success"},
#define TA__ERROR_ENTRY(name, value, msg) {name, #name, msg},
                                       TA_ERROR_TABLE(TA__ERROR_ENTRY)
#undef TA__ERROR_ENTRY
};

static const error_entry_t *error_entry(int err) {
  for (size_t i = 0; i < sizeof errors / sizeof *errors; i++)
    if (errors[i].code == err) return &errors[i];
  return NULL;
}

const char *ta_strerror(int err) {
  const error_entry_t *e = error_entry(err);
  return e ? e->msg : "unknown error";
}

const char *ta_err_name(int err) {
  const error_entry_t *e = error_entry(err);
  return e ? e->name : "TA_E?";
}

int ta_error_from_errno(int saved_errno) {
  switch (saved_errno) {
  case 0:
    return TA_ESYS;
  case ENOMEM:
    return TA_ENOMEM;
  case ENOENT:
  case ENOTDIR:
    return TA_ENOENT;
  case EACCES:
  case EPERM:
  case EROFS:
    return TA_EACCES;
  case EEXIST:
    return TA_EEXIST;
  case ENOSPC:
  case EDQUOT:
    return TA_EDISKFULL;
  case EIO:
    return TA_EIO;
  case EINVAL:
    return TA_EINVAL;
  case EBUSY:
    return TA_EBUSY;
  case ENAMETOOLONG:
    return TA_ETOOLONG;
  case ELOOP: /* a symlink loop at a path an operator gave */
    return TA_ELOOP;
  case EADDRINUSE:
    return TA_EADDRINUSE;
  default:
    return TA_ESYS;
  }
}

void ta_diag_init(ta_diag_t *d, const char *file) {
  if (d == NULL) return;
  memset(d, 0, sizeof *d);
  d->file = file;
}

int ta_diag_set(ta_diag_t *d, int code, const char *fmt, ...) {
  if (d == NULL) return code;
  d->code = code;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(d->msg, sizeof d->msg, fmt, ap);
  va_end(ap);
  if (n < 0) d->msg[0] = '\0';
  return code;
}

void ta_diag_at_line(ta_diag_t *d, uint64_t line) {
  if (d == NULL) return;
  d->line = line;
  d->section = NULL;
}

void ta_diag_at_offset(ta_diag_t *d, const char *section, uint64_t offset) {
  if (d == NULL) return;
  d->section = section;
  d->offset = offset;
  d->line = 0;
}

const char *ta_diag_format(const ta_diag_t *d, char *out, size_t cap) {
  if (cap == 0) return out;
  out[0] = '\0';
  if (d == NULL) return out;
  const char *msg = d->msg[0] ? d->msg : ta_strerror(d->code);
  const char *file = d->file ? d->file : "";
  const char *sep = d->file ? ": " : "";
  if (d->section != NULL)
    snprintf(out, cap, "%s%ssection %s, byte %llu: %s", file, sep, d->section,
             (unsigned long long)d->offset, msg);
  else if (d->line > 0 && d->file != NULL)
    snprintf(out, cap, "%s:%llu: %s", file, (unsigned long long)d->line, msg);
  else if (d->line > 0)
    snprintf(out, cap, "line %llu: %s", (unsigned long long)d->line, msg);
  else
    snprintf(out, cap, "%s%s%s", file, sep, msg);
  return out;
}
