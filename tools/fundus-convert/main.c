/*
 * fundus-convert: annotations between the native records and COCO, PASCAL
 * VOC, CSV and YOLO, exactly both ways; boxes from mask images; validation;
 * and the dataset operations split, merge, filter and stats.
 *
 *   fundus-convert [OPTION]... FILE...          convert (several files merge)
 *   fundus-convert --validate [--strict] FILE... check, JSON report
 *   fundus-convert stats FILE...                 statistics, JSON
 *   fundus-convert split --ratio 0.8,0.2 -o DIR FILE...
 *
 * The work is done by lib/convert (fundus/convert.h); this file maps
 * options and files to it, prints the one-line warnings and sets the exit
 * status.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fundus/fundus.h"
#include "tool.h"

enum {
	OPT_FROM = 'f',
	OPT_TO = 't',
	OPT_OUTPUT = 'o',
	OPT_IMAGE_DIR = 256,
	OPT_LABELS,
	OPT_SAVE_LABELS,
	OPT_FIRST_ID,
	OPT_IMAGES,
	OPT_NO_HEADERS,
	OPT_CSV_COORDS,
	OPT_CSV_COLUMNS,
	OPT_MASK_MODE,
	OPT_MASK_LABEL,
	OPT_MASK_SUFFIX,
	OPT_RENAME,
	OPT_KEEP_LABEL,
	OPT_DROP_LABEL,
	OPT_VALIDATE,
	OPT_STRICT,
	OPT_RATIO,
	OPT_COUNT,
	OPT_SEED,
};

static const struct tool_opt opts[] = {
    {"from", OPT_FROM, "FORMAT", "input format (default: recognised from the content)"},
    {"to", OPT_TO, "FORMAT", "output format (default records)"},
    {"output", OPT_OUTPUT, "PATH", "output file, or folder (voc, yolo, split); default stdout"},
    {"image-dir", OPT_IMAGE_DIR, "DIR", "image names in the files are relative to DIR"},
    {"labels", OPT_LABELS, "FILE", "label map: pins category and class ids"},
    {"save-labels", OPT_SAVE_LABELS, "FILE", "write the label map the input defines"},
    {"first-id", OPT_FIRST_ID, "N", "COCO category id of the first label (default 1)"},
    {"images", OPT_IMAGES, "FILE", "known images: sizes, paths, COCO ids"},
    {"no-image-headers", OPT_NO_HEADERS, NULL, "never open image files to learn sizes"},
    {"csv-coords", OPT_CSV_COORDS, "MODE", "CSV boxes: native (default) or voc"},
    {"csv-columns", OPT_CSV_COLUMNS, "LIST", "header of the CSV written (or none)"},
    {"mask-mode", OPT_MASK_MODE, "MODE", "masks: a box per region (default) or value"},
    {"mask-label", OPT_MASK_LABEL, "NAME", "masks: label of region boxes (default object)"},
    {"mask-suffix", OPT_MASK_SUFFIX, "TEXT", "masks: taken off a mask's name for its image"},
    {"rename", OPT_RENAME, "FILE", "rename labels (from,to) before merging"},
    {"keep-label", OPT_KEEP_LABEL, "LABEL", "keep only objects with this label"},
    {"drop-label", OPT_DROP_LABEL, "LABEL", "remove objects with this label"},
    {"validate", OPT_VALIDATE, NULL, "check instead of converting; JSON report"},
    {"strict", OPT_STRICT, NULL, "warnings are errors; never lose anything"},
    {"ratio", OPT_RATIO, "R,R[,R]", "split: parts by ratio (train, val[, test])"},
    {"count", OPT_COUNT, "N,N[,N]", "split: parts by number of records"},
    {"seed", OPT_SEED, "N", "split: seed of the shuffle (default 1)"},
    {0},
};

static const struct tool_desc desc = {
    "fundus-convert",
    "[split | stats] [OPTION]... FILE...",
    "Convert annotations between records, COCO, PASCAL VOC, CSV and YOLO,\n"
    "exactly both ways; validate them; split, merge, filter and count datasets.\n"
    "Formats: records, coco, coco-results, voc, csv, yolo, masks (input only).",
    opts,
    "Examples:\n"
    "  fundus-convert instances.json > records.jsonl\n"
    "  fundus-convert --to voc -o Annotations records.jsonl\n"
    "  fundus-convert --from yolo --images records.jsonl --to coco -o out.json labels/\n"
    "  fundus-convert --validate --strict records.jsonl\n"
    "  fundus-convert split --ratio 0.8,0.2 --seed 1 -o parts records.jsonl\n"
    "  fundus-convert stats records.jsonl\n",
};

enum command { CMD_CONVERT, CMD_SPLIT, CMD_STATS };

struct cli {
	enum command cmd;
	struct fundus_convert_options o;
	const char *output;
	const char *labels_path, *save_labels, *images_path, *rename_path;
	const char **keep, **drop;
	size_t n_keep, n_drop;
	int validate, strict, from_given;
	double parts[3];
	size_t n_parts;
	int by_count;
	uint64_t seed;
};

/* Parses "0.8,0.2" or "100,20,30" into parts; exits 2 when malformed. */
static void parse_parts(struct cli *c, const char *arg, const char *opt, int by_count)
{
	char buf[256];
	char *s = buf, *comma;

	if (c->n_parts)
		tool_usage_error("--ratio and --count go once, and not together");
	snprintf(buf, sizeof buf, "%s", arg);
	for (;;) {
		comma = strchr(s, ',');
		if (comma)
			*comma = '\0';
		if (c->n_parts == 3)
			tool_usage_error("%s: at most 3 parts (train, val, test)", opt);
		c->parts[c->n_parts++] = by_count ? (double)tool_parse_long(s, opt, 0, 1000000000L)
						  : tool_parse_double(s, opt, 0, 1e9);
		if (comma == NULL)
			break;
		s = comma + 1;
	}
	if (c->n_parts < 2)
		tool_usage_error("%s: give 2 or 3 parts, such as 0.8,0.2", opt);
	c->by_count = by_count;
}

/* Adds a label to a growing list of option values. */
static void push(const char ***list, size_t *n, const char *v)
{
	const char **l = realloc(*list, (*n + 1) * sizeof *l);

	if (l == NULL)
		tool_die("out of memory");
	l[(*n)++] = v;
	*list = l;
}

/* Prints the one-line warning of a report, if it has anything; returns 1 if so. */
static int warn_report(const struct fundus_convert_report *rep, const char *path)
{
	char line[2048];

	if (rep->n_loss == 0)
		return 0;
	fundus_convert_report_line(rep, line, sizeof line);
	if (path && rep->what && strcmp(rep->what, "records") == 0)
		tool_warn("'%s': %s", path, line);
	else
		tool_warn("%s", line);
	return 1;
}

/* Adds the entries of src that dst lacks (by name), for --save-labels over several files. */
static void merge_labels(struct fundus_convert_labels **dst, struct fundus_convert_labels *src)
{
	if (src == NULL)
		return;
	if (*dst == NULL) {
		*dst = src;
		return;
	}
	for (size_t i = 0; i < src->n; i++)
		if (!fundus_convert_labels_find(*dst, src->v[i].name) &&
		    !fundus_convert_labels_find_id(*dst, src->v[i].id) &&
		    fundus_convert_labels_add(*dst, src->v[i].name, src->v[i].id,
					      src->v[i].supercategory) < 0)
			tool_die("out of memory");
	fundus_convert_labels_free(src);
}

/*
 * Reads every input into one set, renaming labels and merging records of
 * the same image. Returns the number of inputs that failed.
 */
static int read_inputs(struct cli *c, char **files, int n, struct fundus_convert_set *all,
		       const struct fundus_convert_rename *rename,
		       struct fundus_convert_labels **saved)
{
	int failed = 0;

	for (int i = 0; i < n; i++) {
		struct fundus_convert_set *one;
		struct fundus_convert_report rep;
		struct fundus_convert_labels *labels = NULL;

		if (fundus_convert_set_new(&one) < 0)
			tool_die("out of memory");
		if (fundus_convert_read(files[i], &c->o, one, &rep,
					c->save_labels ? &labels : NULL) < 0) {
			tool_lib_error("cannot read", files[i]);
			fundus_convert_set_free(one);
			failed++;
			continue;
		}
		if (warn_report(&rep, files[i]) && c->strict) {
			tool_error("'%s': --strict: the records would lose what is named above",
				   files[i]);
			failed++;
		}
		merge_labels(saved, labels);
		if (rename && fundus_convert_rename_apply(one, rename) < 0)
			tool_die("out of memory");
		if (fundus_convert_merge(all, one) < 0) {
			tool_lib_error("cannot merge", files[i]);
			failed++;
		}
		fundus_convert_set_free(one);
	}
	return failed;
}

/* Writes text to path ("-": stdout) atomically; exits 1 on failure. */
static void write_text(const char *path, const char *text, size_t len)
{
	if (path == NULL || strcmp(path, "-") == 0) {
		if (fwrite(text, 1, len, stdout) != len)
			tool_die("cannot write to standard output: %s", strerror(errno));
		return;
	}
	if (fundus_file_write_atomic(path, text, len) < 0) {
		tool_lib_error("cannot write", path);
		exit(TOOL_EXIT_FAIL);
	}
}

/* Prints a JSON value as pretty text, with a final newline, to path ("-" or NULL: stdout). */
static void write_json(const char *path, const cJSON *v)
{
	char *text = cJSON_Print(v), *buf;
	size_t len;

	if (text == NULL)
		tool_die("out of memory");
	len = strlen(text);
	buf = malloc(len + 2);
	if (buf == NULL)
		tool_die("out of memory");
	memcpy(buf, text, len);
	buf[len] = '\n';
	write_text(path, buf, len + 1);
	free(buf);
	cJSON_free(text);
}

/*
 * Formats the output without writing it, to learn what would be lost (for
 * --strict, which then writes nothing). Returns 1 when something would be.
 */
static int would_lose(const struct fundus_convert_set *set, const struct fundus_convert_options *o)
{
	struct fundus_convert_report rep;

	if (fundus_convert_losses(set, o, &rep) < 0)
		return 0; /* the real write reports the error */
	return warn_report(&rep, NULL);
}

/* Writes set in the output format to path (a file, "-", or a folder). */
static int write_output(const struct cli *c, const struct fundus_convert_set *set, const char *path)
{
	struct fundus_convert_report rep;
	int folder = c->o.to == FUNDUS_CONVERT_VOC || c->o.to == FUNDUS_CONVERT_YOLO;
	int rc;

	if (c->strict && would_lose(set, &c->o)) {
		tool_error("--strict: nothing written, the output would lose what is named above");
		return -1;
	}
	if (folder) {
		rc = fundus_convert_write(path, set, &c->o, &rep);
	} else if (path == NULL || strcmp(path, "-") == 0) {
		/* In memory first, so --strict can refuse before a byte is out. */
		rc = fundus_convert_write_stream(stdout, set, &c->o, &rep);
		path = "-";
	} else {
		rc = fundus_convert_write(path, set, &c->o, &rep);
	}
	if (rc < 0) {
		tool_lib_error("cannot write", path);
		return -1;
	}
	warn_report(&rep, NULL);
	return 0;
}

/* Prints the issues of a validation report on stderr, one a line. */
static void print_issues(const cJSON *report)
{
	const cJSON *issues = cJSON_GetObjectItemCaseSensitive(report, "issues"), *i;

	cJSON_ArrayForEach(i, issues)
	{
		const cJSON *img = cJSON_GetObjectItemCaseSensitive(i, "image");
		const cJSON *sev = cJSON_GetObjectItemCaseSensitive(i, "severity");
		const cJSON *msg = cJSON_GetObjectItemCaseSensitive(i, "message");
		const cJSON *rec = cJSON_GetObjectItemCaseSensitive(i, "record");

		if (cJSON_IsString(img))
			tool_error("%s: '%s': %s", sev ? sev->valuestring : "error",
				   img->valuestring, msg ? msg->valuestring : "");
		else
			tool_error("%s: record %d: %s", sev ? sev->valuestring : "error",
				   rec ? rec->valueint : 0, msg ? msg->valuestring : "");
	}
}

/* Runs the validation of set; returns its error count (warnings too under --strict). */
static int64_t run_validation(const struct cli *c, const struct fundus_convert_set *set,
			      int print_json)
{
	struct fundus_convert_validate_options vo;
	cJSON *report;
	int64_t counts[2];

	fundus_convert_validate_options_default(&vo);
	vo.labels = c->o.labels;
	vo.strict = c->strict;
	vo.check_files = c->o.read_headers;
	if (fundus_convert_validate(set, &vo, &report, counts) < 0) {
		tool_lib_error("cannot validate", NULL);
		exit(TOOL_EXIT_FAIL);
	}
	if (print_json)
		write_json(c->output, report);
	else if (counts[0])
		print_issues(report);
	cJSON_Delete(report);
	return counts[0];
}

/* The extension of one split part's file in the output format. */
static const char *part_ext(enum fundus_convert_format f)
{
	switch (f) {
	case FUNDUS_CONVERT_RECORDS: return ".jsonl";
	case FUNDUS_CONVERT_COCO:
	case FUNDUS_CONVERT_COCO_RESULTS: return ".json";
	case FUNDUS_CONVERT_CSV: return ".csv";
	default: return "";
	}
}

/* split: writes DIR/train, DIR/val (and DIR/test) in the output format. */
static int run_split(const struct cli *c, const struct fundus_convert_set *set)
{
	static const char *const names[3] = {"train", "val", "test"};
	int *part = calloc(set->n + 1, sizeof *part);
	size_t unhashed = 0;
	int failed = 0;

	if (part == NULL)
		tool_die("out of memory");
	if (fundus_convert_split(set, c->parts, c->n_parts, c->by_count, c->seed, part, &unhashed) <
	    0) {
		tool_lib_error("cannot split", NULL);
		free(part);
		return -1;
	}
	if (unhashed)
		tool_warn("%zu images could not be read to find identical copies; they are kept "
			  "together by path only",
			  unhashed);
	if (fundus_mkdir_p(c->output) < 0) {
		tool_lib_error("cannot create", c->output);
		free(part);
		return -1;
	}
	for (size_t p = 0; p < c->n_parts; p++) {
		struct fundus_convert_set view = {0};
		char path[4096];

		view.rec = malloc((set->n + 1) * sizeof *view.rec);
		if (view.rec == NULL)
			tool_die("out of memory");
		for (size_t i = 0; i < set->n; i++)
			if (part[i] == (int)p)
				view.rec[view.n++] = set->rec[i];
		snprintf(path, sizeof path, "%s/%s%s", c->output, names[p], part_ext(c->o.to));
		if (write_output(c, &view, path) < 0)
			failed = 1;
		free(view.rec);
	}
	{
		size_t left = 0;

		for (size_t i = 0; i < set->n; i++)
			left += part[i] < 0;
		if (left)
			tool_warn("%zu records are in no part (the counts add up to less)", left);
	}
	free(part);
	return failed ? -1 : 0;
}

/* Loads --images: any readable annotation file, keeping COCO ids. */
static struct fundus_convert_set *load_images(const struct cli *c)
{
	struct fundus_convert_options o = c->o;
	struct fundus_convert_set *set;
	struct fundus_convert_report rep;

	o.from = FUNDUS_CONVERT_AUTO;
	o.keep_ids = 1;
	o.images = NULL;
	if (fundus_convert_set_new(&set) < 0)
		tool_die("out of memory");
	if (fundus_convert_read(c->images_path, &o, set, &rep, NULL) < 0) {
		tool_lib_error("cannot read", c->images_path);
		exit(TOOL_EXIT_FAIL);
	}
	return set;
}

/* Parses the options into c; returns the index of the first file. */
static int parse_options(struct cli *c, int argc, char **argv)
{
	int opt;

	while ((opt = tool_getopt(argc, argv)) != -1) {
		switch (opt) {
		case OPT_FROM:
			if (fundus_convert_format_parse(optarg, &c->o.from) < 0)
				tool_usage_error("--from: %s", fundus_errmsg());
			c->from_given = 1;
			break;
		case OPT_TO:
			if (fundus_convert_format_parse(optarg, &c->o.to) < 0 ||
			    c->o.to == FUNDUS_CONVERT_AUTO || c->o.to == FUNDUS_CONVERT_MASKS)
				tool_usage_error(
				    "--to: '%s' is not an output format (records, coco, "
				    "coco-results, voc, csv, yolo)",
				    optarg);
			break;
		case OPT_OUTPUT: c->output = optarg; break;
		case OPT_IMAGE_DIR: c->o.image_dir = optarg; break;
		case OPT_LABELS: c->labels_path = optarg; break;
		case OPT_SAVE_LABELS: c->save_labels = optarg; break;
		case OPT_FIRST_ID:
			c->o.first_id = tool_parse_long(optarg, "--first-id", 0, 1000000000L);
			break;
		case OPT_IMAGES: c->images_path = optarg; break;
		case OPT_NO_HEADERS: c->o.read_headers = 0; break;
		case OPT_CSV_COORDS:
			if (strcmp(optarg, "native") == 0)
				c->o.csv_coords = FUNDUS_CSV_NATIVE;
			else if (strcmp(optarg, "voc") == 0)
				c->o.csv_coords = FUNDUS_CSV_VOC;
			else
				tool_usage_error("--csv-coords: '%s' is not native or voc", optarg);
			break;
		case OPT_CSV_COLUMNS: c->o.csv_columns = optarg; break;
		case OPT_MASK_MODE:
			if (strcmp(optarg, "regions") == 0)
				c->o.mask_mode = FUNDUS_MASK_REGIONS;
			else if (strcmp(optarg, "values") == 0)
				c->o.mask_mode = FUNDUS_MASK_VALUES;
			else
				tool_usage_error("--mask-mode: '%s' is not regions or values",
						 optarg);
			break;
		case OPT_MASK_LABEL:
			if (optarg[0] == '\0')
				tool_usage_error("--mask-label: empty label");
			c->o.mask_label = optarg;
			break;
		case OPT_MASK_SUFFIX: c->o.mask_suffix = optarg; break;
		case OPT_RENAME: c->rename_path = optarg; break;
		case OPT_KEEP_LABEL: push(&c->keep, &c->n_keep, optarg); break;
		case OPT_DROP_LABEL: push(&c->drop, &c->n_drop, optarg); break;
		case OPT_VALIDATE: c->validate = 1; break;
		case OPT_STRICT: c->strict = 1; break;
		case OPT_RATIO: parse_parts(c, optarg, "--ratio", 0); break;
		case OPT_COUNT: parse_parts(c, optarg, "--count", 1); break;
		case OPT_SEED: c->seed = tool_parse_u64(optarg, "--seed"); break;
		}
	}
	return optind;
}

int main(int argc, char **argv)
{
	struct cli c;
	struct fundus_convert_set *all, *images = NULL;
	struct fundus_convert_labels *labels = NULL, *saved = NULL;
	struct fundus_convert_rename *rename = NULL;
	int first, failed = 0;

	tool_init(&desc);
	memset(&c, 0, sizeof c);
	fundus_convert_options_default(&c.o);
	c.seed = 1;
	if (argc > 1 && strcmp(argv[1], "split") == 0)
		c.cmd = CMD_SPLIT;
	else if (argc > 1 && strcmp(argv[1], "stats") == 0)
		c.cmd = CMD_STATS;
	if (c.cmd != CMD_CONVERT) {
		argv[1] = argv[0];
		argv++;
		argc--;
	}
	first = parse_options(&c, argc, argv);
	/* The command may also follow options: getopt moves it among the operands. */
	if (c.cmd == CMD_CONVERT && first < argc &&
	    (strcmp(argv[first], "split") == 0 || strcmp(argv[first], "stats") == 0)) {
		c.cmd = argv[first][1] == 'p' ? CMD_SPLIT : CMD_STATS;
		first++;
	}
	if (first == argc)
		tool_usage_error("no input files (use - for standard input)");
	if (c.cmd == CMD_SPLIT && c.n_parts == 0)
		tool_usage_error("split needs --ratio or --count");
	if (c.cmd != CMD_SPLIT && c.n_parts)
		tool_usage_error("--ratio and --count belong to split");
	if (c.cmd == CMD_SPLIT && c.output == NULL)
		tool_usage_error("split needs -o DIR for its parts");
	if (c.cmd == CMD_CONVERT && !c.validate &&
	    (c.o.to == FUNDUS_CONVERT_VOC || c.o.to == FUNDUS_CONVERT_YOLO) &&
	    (c.output == NULL || strcmp(c.output, "-") == 0))
		tool_usage_error("--to %s writes a folder: give it with -o DIR",
				 fundus_convert_format_name(c.o.to));
	if (c.validate && c.cmd != CMD_CONVERT)
		tool_usage_error("--validate does not go with %s",
				 c.cmd == CMD_SPLIT ? "split" : "stats");

	if (c.labels_path) {
		if (fundus_convert_labels_load(c.labels_path, c.o.first_id, &labels) < 0) {
			tool_lib_error("cannot read", c.labels_path);
			return TOOL_EXIT_FAIL;
		}
		c.o.labels = labels;
	}
	if (c.rename_path && fundus_convert_rename_load(c.rename_path, &rename) < 0) {
		tool_lib_error("cannot read", c.rename_path);
		fundus_convert_labels_free(labels);
		return TOOL_EXIT_FAIL;
	}
	if (c.images_path) {
		images = load_images(&c);
		c.o.images = images;
	}
	if (fundus_convert_set_new(&all) < 0)
		tool_die("out of memory");
	failed = read_inputs(&c, argv + first, argc - first, all, rename, &saved);
	if (failed) {
		/* With one input its own message says it all; with several, how many. */
		if (argc - first > 1)
			tool_error("nothing written: %d of %d inputs could not be read", failed,
				   argc - first);
		failed = 1;
		goto done;
	}
	if ((c.n_keep || c.n_drop) &&
	    fundus_convert_filter(all, c.keep, c.n_keep, c.drop, c.n_drop) < 0)
		tool_die("out of memory");
	if (c.save_labels) {
		char *text;
		size_t len;

		if (saved == NULL && fundus_convert_labels_new(&saved) < 0)
			tool_die("out of memory");
		if (fundus_convert_labels_format(saved, &text, &len) < 0)
			tool_die("out of memory");
		write_text(c.save_labels, text, len);
		fundus_free(text);
	}

	if (c.validate) {
		failed = run_validation(&c, all, 1) > 0;
	} else if (c.cmd == CMD_STATS) {
		cJSON *stats;

		if (fundus_convert_stats(all, &stats) < 0)
			tool_die("out of memory");
		write_json(c.output, stats);
		cJSON_Delete(stats);
	} else {
		if (c.strict && run_validation(&c, all, 0) > 0) {
			tool_error("--strict: nothing written, the annotations have errors");
			failed = 1;
		} else if (c.cmd == CMD_SPLIT) {
			failed = run_split(&c, all) < 0;
		} else {
			failed = write_output(&c, all, c.output) < 0;
		}
	}
done:
	fundus_convert_set_free(all);
	fundus_convert_set_free(images);
	fundus_convert_labels_free(labels);
	fundus_convert_labels_free(saved);
	fundus_convert_rename_free(rename);
	free(c.keep);
	free(c.drop);
	return failed ? TOOL_EXIT_FAIL : TOOL_EXIT_OK;
}
