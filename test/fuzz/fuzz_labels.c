/*
 * Fuzz target for label maps (JSON, text, data.yaml) and rename files:
 * a map that parses must format and parse back to the same entries.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fundus/convert.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fundus_convert_labels *m, *back;
	struct fundus_convert_rename *rn;
	char *text;
	size_t len;

	if (fundus_convert_labels_parse((const char *)data, size, 1, &m) == 0) {
		if (fundus_convert_labels_format(m, &text, &len) < 0)
			abort();
		if (fundus_convert_labels_parse(text, len, 1, &back) < 0)
			abort();
		if (back->n != m->n)
			abort();
		for (size_t i = 0; i < m->n; i++)
			if (strcmp(back->v[i].name, m->v[i].name) != 0 ||
			    back->v[i].id != m->v[i].id)
				abort();
		fundus_free(text);
		fundus_convert_labels_free(back);
		fundus_convert_labels_free(m);
	}
	if (fundus_convert_rename_parse((const char *)data, size, &rn) == 0)
		fundus_convert_rename_free(rn);
	return 0;
}
