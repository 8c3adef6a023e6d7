/*
 * What the converter fuzz targets share: record lines of a set, for
 * checking that a file read, written and read again gives the same records.
 */
#ifndef FUNDUS_FUZZ_CONVERT_COMMON_H
#define FUNDUS_FUZZ_CONVERT_COMMON_H

#include <stdlib.h>
#include <string.h>

#include "fundus/convert.h"

/* Aborts unless two sets hold the same records, field for field. */
static void fuzz_same_sets(const struct fundus_convert_set *a, const struct fundus_convert_set *b)
{
	if (a->n != b->n)
		abort();
	for (size_t i = 0; i < a->n; i++) {
		char *la, *lb;

		if (fundus_record_format(a->rec[i], &la, NULL) < 0 ||
		    fundus_record_format(b->rec[i], &lb, NULL) < 0)
			abort();
		if (strcmp(la, lb) != 0)
			abort();
		fundus_free(la);
		fundus_free(lb);
	}
}

#endif
