/*
 * Fuzz target for the PASCAL VOC reader (expat underneath): whatever it
 * accepts must write as VOC and, when nothing was lost, read back as the
 * same record.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fundus/convert.h"
#include "fuzz_convert_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fundus_convert_options o;
	struct fundus_convert_set *a, *b;
	struct fundus_convert_report rep;
	char *text;
	size_t len;

	fundus_convert_options_default(&o);
	if (fundus_convert_set_new(&a) < 0)
		return 0;
	if (fundus_convert_parse_voc((const char *)data, size, &o, a) == 0) {
		memset(&rep, 0, sizeof rep);
		/* A record with a control character in a string cannot be XML: refused, fine. */
		if (fundus_convert_format_voc(a->rec[0], &o, &text, &len, &rep) == 0) {
			if (fundus_convert_set_new(&b) < 0)
				abort();
			if (fundus_convert_parse_voc(text, len, &o, b) < 0)
				abort();
			if (rep.n_loss == 0)
				fuzz_same_sets(a, b);
			fundus_free(text);
			fundus_convert_set_free(b);
		}
	}
	fundus_convert_set_free(a);
	return 0;
}
