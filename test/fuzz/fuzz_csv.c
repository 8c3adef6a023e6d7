/*
 * Fuzz target for the CSV reader (header layouts, RFC 4180 quoting): what
 * it accepts must write in the default layout and read back.
 */
#include <stdint.h>
#include <stdlib.h>

#include "fundus/convert.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fundus_convert_options o;
	struct fundus_convert_set *a, *b;
	struct fundus_convert_report rep;
	char *text;
	size_t len;

	fundus_convert_options_default(&o);
	o.read_headers = 0; /* Open Images rows need sizes: never from files here */
	if (fundus_convert_set_new(&a) < 0)
		return 0;
	if (fundus_convert_parse_csv((const char *)data, size, &o, a) == 0) {
		if (fundus_convert_format_csv(a, &o, &text, &len, &rep) < 0)
			abort();
		if (fundus_convert_set_new(&b) < 0)
			abort();
		if (fundus_convert_parse_csv(text, len, &o, b) < 0)
			abort();
		fundus_free(text);
		fundus_convert_set_free(b);
	}
	fundus_convert_set_free(a);
	return 0;
}
