/* Helpers the unit tests share: scratch folders, files, the shared data. */
#ifndef FUNDUS_TESTUTIL_H
#define FUNDUS_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

/*
 * A fresh, empty scratch folder for this test process, under
 * $FUNDUS_TEST_TMP (or /tmp). The name stays valid until exit, when the
 * folder is removed (kept when $FUNDUS_KEEP_TMP is set).
 */
const char *tu_tmpdir(void);

/* Joins the scratch folder and name into a static buffer (8 slots, rotating). */
const char *tu_path(const char *name);

/* Writes len bytes to path; returns 0 or -1. */
int tu_write_file(const char *path, const void *data, size_t len);

/*
 * The folder ../shared beside the source tree (from $FUNDUS_SHARED), or
 * NULL after printing "skip: ..." when it is absent.
 */
const char *tu_shared(void);

/* Exit status that ctest counts as "skipped". */
#define TU_SKIP 77

#endif
