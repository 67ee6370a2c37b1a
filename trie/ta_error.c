/*
 * The project's error codes: messages for the TA_E* table declared in trie.h, and the mapping
 * from a saved errno to the nearest code. Conventions: DEVELOPERS.md, "House style".
 */
#include "trie.h"

#include <errno.h>

const char *ta_strerror(int err) {
  switch (err) {
  case 0:
    return "success";
#define TA__ERROR_CASE(name, value, msg) \
  case name:                             \
    return msg;
    TA_ERROR_TABLE(TA__ERROR_CASE)
#undef TA__ERROR_CASE
  default:
    return "unknown error";
  }
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
  case EIO:
    return TA_EIO;
  case EINVAL:
    return TA_EINVAL;
  case EBUSY:
    return TA_EBUSY;
  case ENAMETOOLONG:
    return TA_ETOOLONG;
  default:
    return TA_ESYS;
  }
}
