/*
 * Fuzz target for the record stream: the input parsed as one line, and read
 * as a stream by the record reader (over fmemopen), with small limits. Every
 * record that is read must format, parse back and format to the same bytes,
 * and its copy must format the same: abort() otherwise, for the fuzzer to
 * report.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fundus/record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct fundus_record_limits limits = {
    .max_line = 1024,
    .max_objects = 64,
    .max_depth = 12,
};

/* Formats r, reads the line back and formats again: the two lines must match. */
static void check_round_trip(const struct fundus_record *r)
{
	/* Formatting may lengthen a line ("1e9" -> "1000000000"): no line limit. */
	struct fundus_record_limits back = limits;
	struct fundus_record *r2, *d;
	char *a, *b, *c;
	size_t na, nb, nc;

	back.max_line = 0;
	if (fundus_record_format(r, &a, &na) < 0)
		abort();
	if (na < 2 || a[na - 1] != '\n' || memchr(a, '\n', na - 1) != NULL || strlen(a) != na)
		abort();
	if (fundus_record_parse(a, na - 1, &back, &r2) < 0)
		abort();
	if (fundus_record_format(r2, &b, &nb) < 0 || nb != na || memcmp(a, b, na) != 0)
		abort();
	if (fundus_record_dup(r, &d) < 0 || fundus_record_format(d, &c, &nc) < 0 || nc != na ||
	    memcmp(a, c, na) != 0)
		abort();
	fundus_free(a);
	fundus_free(b);
	fundus_free(c);
	fundus_record_free(r2);
	fundus_record_free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fundus_record_limits one = limits;
	struct fundus_record_reader *rd;
	struct fundus_record *r;
	FILE *f;

	one.max_line = 1 << 16;
	if (fundus_record_parse((const char *)data, size, &one, &r) == 0) {
		check_round_trip(r);
		fundus_record_free(r);
	}
	if (size == 0)
		return 0;
	f = fmemopen((void *)data, size, "r");
	if (f == NULL)
		return 0;
	if (fundus_record_reader_new(&rd, f, &limits) == 0) {
		/* Each call consumes at least one line: more calls than bytes is a loop. */
		for (size_t calls = 0;; calls++) {
			int rc = fundus_record_next(rd, &r);

			if (calls > size + 1)
				abort();
			if (rc < 0)
				continue;
			if (r == NULL)
				break;
			check_round_trip(r);
			fundus_record_free(r);
		}
		fundus_record_reader_close(rd);
	}
	fclose(f);
	return 0;
}
