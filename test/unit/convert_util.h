/*
 * Helpers shared by the convert tests (header-only: each test file is its
 * own program): a set as record lines, and reading a file into a new set.
 */
#ifndef FUNDUS_TEST_CONVERT_UTIL_H
#define FUNDUS_TEST_CONVERT_UTIL_H

#include <stdio.h>
#include <stdlib.h>

#include "fundus/convert.h"

/* All records of a set as record lines, in one new string (free()), or NULL. */
static __attribute__((unused)) char *cu_lines(const struct fundus_convert_set *set)
{
	struct fundus_convert_options o;
	char *s = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&s, &n);
	int rc;

	if (f == NULL)
		return NULL;
	fundus_convert_options_default(&o);
	o.to = FUNDUS_CONVERT_RECORDS;
	rc = fundus_convert_write_stream(f, set, &o, NULL);
	if (fclose(f) != 0 || rc < 0) {
		free(s);
		return NULL;
	}
	return s;
}

/*
 * Reads path (a file or folder) with options o into a new set (labels_out
 * may be NULL); NULL on error, after printing why.
 */
static __attribute__((unused)) struct fundus_convert_set *
cu_read(const char *path, const struct fundus_convert_options *o,
	struct fundus_convert_labels **labels_out)
{
	struct fundus_convert_set *set;
	struct fundus_convert_report rep;

	if (fundus_convert_set_new(&set) < 0)
		return NULL;
	if (fundus_convert_read(path, o, set, &rep, labels_out) < 0) {
		fprintf(stderr, "cannot read '%s': %s\n", path, fundus_errmsg());
		fundus_convert_set_free(set);
		return NULL;
	}
	return set;
}

#endif
