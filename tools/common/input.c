/*
 * Reading annotations: a record stream line by line, or any format
 * fundus_convert_read() reads, with the messages every program gives.
 */
#include <string.h>

#include "fundus/convert.h"
#include "fundus/record.h"
#include "tool.h"

long tool_each_record(const char *path, int (*fn)(struct fundus_record *r, void *ctx), void *ctx)
{
	struct fundus_record_reader *rd;
	struct fundus_record *r;
	long bad = 0;
	int rc;

	if (fundus_record_reader_open(&rd, path, NULL) < 0) {
		tool_lib_error("cannot read", path);
		return -1;
	}
	for (;;) {
		rc = fundus_record_next(rd, &r);
		if (rc == FUNDUS_EIO || rc == FUNDUS_ENOMEM) {
			tool_lib_error("cannot read", path);
			bad = -1;
			break;
		}
		if (rc < 0) {
			tool_error("'%s': %s", path, fundus_errmsg());
			bad++;
			continue;
		}
		if (r == NULL)
			break;
		if ((rc = fn(r, ctx)) < 0) {
			tool_error("'%s': %s", path, fundus_strerror(rc));
			bad = -1;
			break;
		}
	}
	fundus_record_reader_close(rd);
	return bad;
}

/* Adds a record to the set ctx: 0 or FUNDUS_ENOMEM. */
static int add_record(struct fundus_record *r, void *ctx)
{
	return fundus_convert_set_add(ctx, r);
}

/* The format of an input: as given, else recognised; standard input is records. */
int tool_input_format(const char *path, enum fundus_convert_format given,
		      enum fundus_convert_format *out)
{
	*out = given;
	if (given != FUNDUS_CONVERT_AUTO)
		return 0;
	if (strcmp(path, "-") == 0) {
		*out = FUNDUS_CONVERT_RECORDS;
		return 0;
	}
	if (fundus_convert_detect(path, out) < 0) {
		tool_lib_error("cannot read", path);
		return -1;
	}
	return 0;
}

/*
 * Reads one input in format f: records line by line (every bad line
 * reported), any other format through fundus_convert_read(). Returns 0
 * or -1 after a message.
 */
int tool_read_input(const char *path, enum fundus_convert_format f,
		      const struct fundus_convert_options *o, struct fundus_convert_set *set,
		      struct fundus_convert_labels **labels_out)
{
	int rc;

	if (f == FUNDUS_CONVERT_RECORDS)
		return tool_each_record(path, add_record, set) == 0 ? 0 : -1;
	rc = fundus_convert_read(path, o, set, NULL, labels_out);
	if (rc == FUNDUS_ENOENT || rc == FUNDUS_EIO)
		tool_lib_error("cannot read", path);
	else if (rc < 0)
		tool_error("'%s': %s", path, fundus_errmsg());
	return rc < 0 ? -1 : 0;
}

