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

struct fundus_image;
struct fundus_read_options;

/*
 * Non-zero when a and b have the same size, format and pixels (the bytes
 * of each row, whatever the strides). NULL never matches.
 */
int tu_same_pixels(const struct fundus_image *a, const struct fundus_image *b);

/*
 * Allocation-failure sweep over opening an image in memory and reading it
 * with ro: fails the Nth allocation for N = 0, 1, ... until one run
 * succeeds, and returns that N; returns -1 (after a message) as soon as a
 * failing run returns anything but FUNDUS_ENOMEM or leaves an image.
 */
long tu_alloc_sweep_read(const uint8_t *data, size_t len, const struct fundus_read_options *ro);

/* Exit status that ctest counts as "skipped". */
#define TU_SKIP 77

#endif
