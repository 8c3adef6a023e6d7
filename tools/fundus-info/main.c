/*
 * fundus-info: describe image files and check record streams.
 *
 * For images it prints one record per file with the size and what the
 * header says (format, pages, pyramid levels, orientation, bit depth);
 * with --decode it also decodes the pixels, which is how to find the
 * truncated and corrupt files in a folder before a long run. For record
 * streams (--records) it reads every line and reports each bad one.
 */
#include <stdio.h>
#include <string.h>

#include "fundus/fundus.h"
#include "tool.h"

enum { OPT_RECORDS = 'r', OPT_DECODE = 'd', OPT_SCALE = 's', OPT_MAX_PIXELS = 256 };

static const struct tool_opt opts[] = {
	{"decode", OPT_DECODE, NULL, "decode the pixels too, to find damaged files"},
	{"scale", OPT_SCALE, "N", "with --decode, decode at 1/N size (faster; default 1)"},
	{"max-pixels", OPT_MAX_PIXELS, "N", "refuse to decode more than N pixels (default 268435456)"},
	{"records", OPT_RECORDS, NULL, "the files are record streams (JSON Lines): check every line"},
	{0},
};

static const struct tool_desc desc = {
	"fundus-info",
	"[OPTION]... FILE...",
	"Print a record describing each image FILE, or check record streams with --records.",
	opts,
	"Examples:\n"
	"  fundus-info photo.jpg scan.tif\n"
	"  fundus-info --decode --scale 8 clinic/*.jpg >/dev/null   # find damaged files\n"
	"  fundus-info --records annotations.jsonl\n",
};

/*
 * Describes one image as a record on stdout; returns 0, -1 after a message,
 * or -2 when standard output failed (nothing more can be written).
 */
static int describe_image(const char *path, int decode, int scale,
			  const struct fundus_image_limits *lim)
{
	struct fundus_image_source *src = NULL;
	const struct fundus_image_info *info;
	struct fundus_record *rec = NULL;
	cJSON *s;
	int rc;

	rc = fundus_image_open(&src, path, lim);
	if (rc < 0) {
		tool_lib_error("cannot read", path);
		return -1;
	}
	info = fundus_image_source_info(src);
	if (decode) {
		struct fundus_read_options ro;
		struct fundus_image *img;

		fundus_read_options_default(&ro);
		ro.scale = scale;
		ro.format = FUNDUS_PIX_NONE;
		ro.progress = tool_progress();
		for (int page = 0; page < info->pages && rc == 0; page++) {
			ro.page = page;
			rc = fundus_image_read(src, &ro, &img);
			fundus_image_free(img);
		}
		tool_progress_end();
		if (rc < 0) {
			tool_lib_error("cannot decode", path);
			fundus_image_close(src);
			return -1;
		}
	}
	if (fundus_record_new(&rec) < 0 || fundus_record_set_string(&rec->image, path) < 0)
		goto nomem;
	rec->width = info->width;
	rec->height = info->height;
	rec->source = s = cJSON_CreateObject();
	if (s == NULL || !cJSON_AddStringToObject(s, "path", path) ||
	    !cJSON_AddStringToObject(s, "format", info->format) ||
	    !cJSON_AddNumberToObject(s, "pages", info->pages) ||
	    !cJSON_AddNumberToObject(s, "levels", info->levels) ||
	    !cJSON_AddNumberToObject(s, "orientation", info->orientation) ||
	    !cJSON_AddNumberToObject(s, "channels", info->channels) ||
	    !cJSON_AddNumberToObject(s, "bits", info->bits) ||
	    !cJSON_AddStringToObject(s, "colour", info->colour ? info->colour : "unknown"))
		goto nomem;
	if (info->levels > 1) {
		cJSON *levels = cJSON_AddArrayToObject(s, "level_sizes");

		for (int l = 0; levels && l < info->levels; l++) {
			int wh[2] = {info->level[l].width, info->level[l].height};
			cJSON *pair = cJSON_CreateIntArray(wh, 2);

			if (pair == NULL || !cJSON_AddItemToArray(levels, pair))
				goto nomem;
		}
		if (levels == NULL)
			goto nomem;
	}
	if (fundus_record_write(stdout, rec) < 0) {
		tool_lib_error("cannot write to standard output", NULL);
		fundus_record_free(rec);
		fundus_image_close(src);
		return -2;
	}
	fundus_record_free(rec);
	fundus_image_close(src);
	return 0;
nomem:
	tool_error("%s: out of memory", path);
	fundus_record_free(rec);
	fundus_image_close(src);
	return -1;
}

/* What check_records counts. */
struct counts {
	long records, objects, empty;
};

/* Counts one record (ctx: struct counts) and frees it. */
static int count_record(struct fundus_record *r, void *ctx)
{
	struct counts *n = ctx;

	n->records++;
	n->objects += (long)r->n_objects;
	n->empty += r->n_objects == 0;
	fundus_record_free(r);
	return 0;
}

/*
 * Reads every line of a record stream, reporting each bad one, and prints
 * a summary record for the file. Returns the number of bad lines, or -1
 * when the file cannot be read at all.
 */
static long check_records(const char *path)
{
	struct counts n = {0};
	cJSON *summary;
	char *text = NULL;
	long bad = tool_each_record(path, count_record, &n);

	if (bad < 0)
		return -1;
	summary = cJSON_CreateObject();
	if (summary == NULL || !cJSON_AddStringToObject(summary, "file", path) ||
	    !cJSON_AddNumberToObject(summary, "records", (double)n.records) ||
	    !cJSON_AddNumberToObject(summary, "objects", (double)n.objects) ||
	    !cJSON_AddNumberToObject(summary, "without_objects", (double)n.empty) ||
	    !cJSON_AddNumberToObject(summary, "bad_lines", (double)bad) ||
	    (text = cJSON_PrintUnformatted(summary)) == NULL) {
		tool_error("'%s': out of memory", path);
		cJSON_Delete(summary);
		return -1;
	}
	puts(text);
	cJSON_free(text);
	cJSON_Delete(summary);
	return bad;
}

int main(int argc, char **argv)
{
	struct fundus_image_limits lim;
	int decode = 0, records = 0, scale = 1, failed = 0, c, rc;

	tool_init(&desc);
	fundus_image_limits_default(&lim);
	while ((c = tool_getopt(argc, argv)) != -1) {
		switch (c) {
		case OPT_DECODE: decode = 1; break;
		case OPT_SCALE: scale = (int)tool_parse_long(optarg, "--scale", 1, 64); break;
		case OPT_MAX_PIXELS:
			lim.max_pixels = tool_parse_long(optarg, "--max-pixels", 1, INT64_MAX / 2);
			break;
		case OPT_RECORDS: records = 1; break;
		}
	}
	if (optind == argc)
		tool_usage_error("no input files");
	if (records && (decode || scale != 1))
		tool_usage_error("--records does not go with --decode or --scale");
	for (int i = optind; i < argc; i++) {
		if (records) {
			if (check_records(argv[i]) != 0)
				failed = 1;
		} else if ((rc = describe_image(argv[i], decode, scale, &lim)) < 0) {
			failed = 1;
			if (rc == -2)
				break;
		}
		fflush(stdout);
	}
	return failed ? TOOL_EXIT_FAIL : TOOL_EXIT_OK;
}
