/*
 * Internals of the base layer that its tests reach (ta.h is the public header).
 */
#ifndef TYPEAHEAD_TA_INT_H
#define TYPEAHEAD_TA_INT_H

/* Tests only: with on, ta_afile_open makes a named temp file, as where the file system refuses
 * O_TMPFILE (the fallback, otherwise untested on a machine that has O_TMPFILE); 0 restores. */
void ta__afile_force_named(int on);

#endif
