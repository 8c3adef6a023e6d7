/*
 * Fuzz target for the COCO reader (instances and results): whatever it
 * accepts must write as COCO and read back as the same records.
 */
#include <stdint.h>
#include <stdlib.h>

#include "fundus/convert.h"
#include "fuzz_convert_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fundus_convert_options o;
	struct fundus_convert_set *a, *b;
	struct fundus_convert_report rep;
	struct fundus_convert_labels *labels = NULL;
	char *text;
	size_t len;

	fundus_convert_options_default(&o);
	o.read_headers = 0;
	if (fundus_convert_set_new(&a) < 0)
		return 0;
	if (fundus_convert_parse_coco((const char *)data, size, &o, a, &rep, &labels) == 0) {
		size_t k = 0;
		int results;

		while (k < size &&
		       (data[k] == ' ' || data[k] == '\t' || data[k] == '\r' || data[k] == '\n'))
			k++;
		results = k < size && data[k] == '[';

		o.labels = labels;
		if (fundus_convert_format_coco(a, &o, results, &text, &len, &rep) < 0)
			abort();
		if (fundus_convert_set_new(&b) < 0)
			abort();
		if (fundus_convert_parse_coco(text, len, &o, b, &rep, NULL) < 0)
			abort();
		if (!results)
			fuzz_same_sets(a, b);
		fundus_free(text);
		fundus_convert_set_free(b);
	}
	fundus_convert_labels_free(labels);
	fundus_convert_set_free(a);
	return 0;
}
