/*
 * Fuzz target for the YOLO label reader (boxes, scores, polygons) of an
 * image of 640 x 480 with three classes: what it accepts must write as
 * YOLO and read back.
 */
#include <stdint.h>
#include <stdlib.h>

#include "fundus/convert.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fundus_convert_labels *classes;
	struct fundus_convert_set *a, *b;
	struct fundus_record *r;
	char *text;
	size_t len;

	if (fundus_convert_labels_parse("disc\ncup\nfovea\n", 15, 0, &classes) < 0)
		return 0;
	if (fundus_convert_set_new(&a) < 0 || fundus_record_new(&r) < 0)
		abort();
	r->width = 640;
	r->height = 480;
	if (fundus_convert_parse_yolo((const char *)data, size, classes, r, a) == 0) {
		if (fundus_convert_format_yolo(a->rec[0], classes, &text, &len, NULL) < 0)
			abort();
		if (fundus_convert_set_new(&b) < 0 || fundus_record_new(&r) < 0)
			abort();
		r->width = 640;
		r->height = 480;
		if (fundus_convert_parse_yolo(text, len, classes, r, b) < 0)
			abort();
		if (b->n != 1 || b->rec[0]->n_objects != a->rec[0]->n_objects)
			abort();
		fundus_free(text);
		fundus_convert_set_free(b);
	}
	fundus_convert_set_free(a);
	fundus_convert_labels_free(classes);
	return 0;
}
