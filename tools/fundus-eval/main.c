/*
 * fundus-eval: score predicted boxes against ground truth.
 *
 * Reads the ground truth and the predictions (records, or any format
 * fundus_convert_read() reads), hands them to fundus_eval_run() and prints
 * the COCO summary as pycocotools prints it, a line per label when there
 * are several, and the one-object figures (detection rate, IoU and centre
 * error of the top box); or all of it as one JSON object with --json. The
 * per-image table goes to a file of its own.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fundus/convert.h"
#include "fundus/eval.h"
#include "fundus/record.h"
#include "tool.h"

enum {
	OPT_LABEL = 'l',
	OPT_JSON = 'j',
	OPT_PER_IMAGE = 'p',
	OPT_IOU = 256,
	OPT_EXACT_PATHS,
	OPT_GT_FORMAT,
	OPT_PRED_FORMAT,
	OPT_LABELS,
	OPT_IMAGE_DIR,
	OPT_PYCOCOTOOLS_ID0,
};

static const struct tool_opt opts[] = {
	{"label", OPT_LABEL, "LABEL", "score only boxes labelled LABEL (default: all)"},
	{"iou", OPT_IOU, "X", "IoU a top box needs to be a detection (default 0.5)"},
	{"json", OPT_JSON, NULL, "print one JSON object instead of the table"},
	{"per-image", OPT_PER_IMAGE, "FILE", "per-image rows to FILE (TSV; JSON Lines with --json)"},
	{"exact-paths", OPT_EXACT_PATHS, NULL, "pair images by equal paths only, not file names"},
	{"gt-format", OPT_GT_FORMAT, "FMT", "format of GROUND_TRUTH (default: recognised)"},
	{"pred-format", OPT_PRED_FORMAT, "FMT", "format of PREDICTIONS (default: recognised)"},
	{"labels", OPT_LABELS, "FILE", "label map giving the inputs' category/class ids"},
	{"image-dir", OPT_IMAGE_DIR, "DIR", "image paths in VOC/YOLO/CSV/COCO files are under DIR"},
	{"pycocotools-id0", OPT_PYCOCOTOOLS_ID0, NULL,
	 "as pycocotools, miss boxes of COCO annotation id 0"},
	{0},
};

static const struct tool_desc desc = {
	"fundus-eval",
	"[OPTION]... GROUND_TRUTH PREDICTIONS",
	"Score the predicted boxes in PREDICTIONS against GROUND_TRUTH: COCO AP and AR\n"
	"as pycocotools computes them, and for one object per image the detection rate,\n"
	"the IoU and the centre error of the top box.",
	opts,
	"The inputs are records or any format fundus-convert reads, recognised from the\n"
	"content; '-' is standard input, read as records unless a format is given. Images\n"
	"are paired by \"id\" when both records have one, else by \"image\" path, else by\n"
	"file name. Formats: records, coco, coco-results, voc, csv, yolo, masks.\n"
	"\n"
	"Examples:\n"
	"  fundus-eval truth.jsonl predicted.jsonl\n"
	"  fundus-eval --label optic_disc --per-image rows.tsv truth.jsonl found.jsonl\n"
	"  fundus-eval --json truth.jsonl predicted.jsonl | jq .coco.AP\n"
	"  fundus-eval instances_val.json detections.json     # COCO and COCO results\n",
};

static int by_name(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * The label map that numbers categories and classes in the predictions:
 * --labels, else the one the ground truth's file defined, else the
 * ground truth's labels in name order from 1 (what fundus-convert gives
 * COCO files it writes). NULL after a message when out of memory.
 */
static struct fundus_convert_labels *default_labels(const struct fundus_convert_set *gt)
{
	struct fundus_convert_labels *m;
	const char **names = NULL;
	size_t n = 0, cap = 0;
	int64_t id = 1;

	if (fundus_convert_labels_new(&m) < 0)
		return NULL;
	for (size_t i = 0; i < gt->n; i++)
		for (size_t j = 0; j < gt->rec[i]->n_objects; j++) {
			if (n == cap) {
				const char **v;

				cap = cap ? 2 * cap : 64;
				v = fundus_realloc(names, cap * sizeof *v);
				if (v == NULL)
					goto nomem;
				names = v;
			}
			names[n++] = gt->rec[i]->objects[j].label;
		}
	if (n)
		qsort(names, n, sizeof *names, by_name);
	for (size_t i = 0; i < n; i++)
		if (!fundus_convert_labels_find(m, names[i]) &&
		    fundus_convert_labels_add(m, names[i], id++, NULL) < 0)
			goto nomem;
	fundus_free(names);
	return m;
nomem:
	fundus_free(names);
	fundus_convert_labels_free(m);
	return NULL;
}

/*
 * COCO results name images by COCO id. Ground truth that is not COCO has
 * none: give its records the ids fundus-convert writes, 1, 2, ... in
 * order. Returns 0 or -1 when out of memory.
 */
static int number_images(struct fundus_convert_set *gt)
{
	for (size_t i = 0; i < gt->n; i++)
		if (gt->rec[i]->extra &&
		    cJSON_GetObjectItemCaseSensitive(gt->rec[i]->extra, "coco_id"))
			return 0;
	for (size_t i = 0; i < gt->n; i++) {
		struct fundus_record *r = gt->rec[i];

		if (r->extra == NULL && (r->extra = cJSON_CreateObject()) == NULL)
			return -1;
		if (!cJSON_AddNumberToObject(r->extra, "coco_id", (double)(i + 1)))
			return -1;
	}
	return 0;
}

/* The singular or the plural of a noun, for n. */
static const char *plural(int64_t n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

/* A number of the table: three decimals, or "-" when undefined. */
static void put_num(double v)
{
	if (isnan(v))
		printf("%7s", "-");
	else if (isinf(v))
		printf("%7s", "inf");
	else
		printf("%7.3f", v);
}

/* The table on stdout. */
static void print_table(const struct fundus_eval_result *res)
{
	int64_t gt_boxes = 0, pred_boxes = 0, without = res->gt_images - res->images_predicted;

	for (size_t k = 0; k < res->n_labels; k++) {
		gt_boxes += res->labels[k].gt_objects;
		pred_boxes += res->labels[k].pred_objects;
	}
	printf("ground truth: %lld %s, %lld %s, %zu %s\n", (long long)res->gt_images,
	       plural(res->gt_images, "image", "images"), (long long)gt_boxes,
	       plural(gt_boxes, "box", "boxes"), res->n_labels,
	       plural((int64_t)res->n_labels, "label", "labels"));
	printf("predictions: %lld %s on %lld %s", (long long)pred_boxes,
	       plural(pred_boxes, "box", "boxes"), (long long)res->images_predicted,
	       plural(res->images_predicted, "image", "images"));
	if (without)
		printf(" (%lld %s none)", (long long)without, without == 1 ? "image has" : "images have");
	printf("\n\n");
	for (int m = 0; m < FUNDUS_EVAL_N_METRICS; m++)
		printf("%s = %0.3f\n", fundus_eval_metric_title(m), res->metric[m]);
	if (res->n_labels > 1) {
		printf("\n%-20s %7s %7s %7s %7s %7s %7s %7s\n", "label", "gt", "crowd", "pred",
		       "AP", "AP50", "AP75", "AR100");
		for (size_t k = 0; k < res->n_labels; k++) {
			const struct fundus_eval_label *l = &res->labels[k];

			printf("%-20s %7lld %7lld %7lld", l->name, (long long)l->gt_objects,
			       (long long)l->gt_crowd, (long long)l->pred_objects);
			put_num(l->metric[FUNDUS_EVAL_AP]);
			put_num(l->metric[FUNDUS_EVAL_AP50]);
			put_num(l->metric[FUNDUS_EVAL_AP75]);
			put_num(l->metric[FUNDUS_EVAL_AR100]);
			putchar('\n');
		}
	}
	for (size_t k = 0; k < res->n_labels; k++) {
		const struct fundus_eval_single *s = &res->labels[k].single;

		if (s->images == 0)
			continue;
		printf("\none box per image, %s: %lld %s", res->labels[k].name, (long long)s->images,
		       plural(s->images, "image", "images"));
		if (s->missing)
			printf(", %lld without a predicted box", (long long)s->missing);
		if (s->several)
			printf(" (%lld with several boxes left out)", (long long)s->several);
		printf("\n  detection rate, top box IoU >= %-5g %.3f  (%lld of %lld)\n", res->iou,
		       s->rate, (long long)s->hits, (long long)s->images);
		printf("  mean IoU of the top box              %.3f\n", s->mean_iou);
		printf("  centre error in box widths           median %.3f, 95th percentile %.3f\n",
		       s->centre_median, s->centre_p95);
	}
}

/* A TSV field: tabs, newlines and backslashes escaped, "-" for none. */
static void put_field(FILE *f, const char *s)
{
	if (s == NULL || *s == '\0') {
		fputc('-', f);
		return;
	}
	for (; *s; s++) {
		if (*s == '\t')
			fputs("\\t", f);
		else if (*s == '\n')
			fputs("\\n", f);
		else if (*s == '\r')
			fputs("\\r", f);
		else if (*s == '\\')
			fputs("\\\\", f);
		else
			fputc(*s, f);
	}
}

/* A TSV number: "-" for none, "inf" for a missing box's centre error; six digits or decimals. */
static void put_tsv_num(FILE *f, double v, int digits)
{
	if (isnan(v))
		fputs("\t-", f);
	else if (isinf(v))
		fputs("\tinf", f);
	else if (digits)
		fprintf(f, "\t%.6g", v);
	else
		fprintf(f, "\t%.6f", v);
}

/* Writes the per-image table to path; 0 or -1 after a message. */
static int write_rows(const char *path, const struct fundus_eval_result *res, int json)
{
	FILE *f = tool_open_out(path);
	int rc = 0;

	if (!json)
		fputs("image\tid\tlabel\tgt\tpred\tiou\tcentre_error\tscore\tresult\n", f);
	for (size_t i = 0; i < res->n_rows && rc == 0; i++) {
		const struct fundus_eval_row *r = &res->rows[i];

		if (json) {
			char *text;

			if (fundus_eval_row_format(r, &text, NULL) < 0) {
				tool_error("out of memory");
				rc = -1;
				break;
			}
			fputs(text, f);
			fundus_free(text);
			continue;
		}
		put_field(f, r->image);
		fputc('\t', f);
		put_field(f, r->id);
		fputc('\t', f);
		put_field(f, r->label);
		fprintf(f, "\t%lld\t%lld", (long long)r->gt, (long long)r->pred);
		put_tsv_num(f, r->iou, 0);
		put_tsv_num(f, r->centre_error, 0);
		put_tsv_num(f, r->score, 1);
		fprintf(f, "\t%s\n", r->gt != 1 ? "-" : r->hit ? "hit" : "miss");
	}
	if (f != stdout) {
		if (ferror(f) | fclose(f)) {
			tool_error("cannot write '%s': %s", path, strerror(errno));
			rc = -1;
		}
	}
	return rc;
}

/* Parses a --gt-format or --pred-format argument, or exits 2. */
static enum fundus_convert_format parse_format(const char *s, const char *opt)
{
	enum fundus_convert_format f;

	if (fundus_convert_format_parse(s, &f) < 0)
		tool_usage_error("%s: unknown format '%s'", opt, s);
	return f;
}

int main(int argc, char **argv)
{
	struct fundus_eval_options o;
	struct fundus_eval_result *res = NULL;
	struct fundus_convert_options co;
	struct fundus_convert_set *gt = NULL, *pred = NULL;
	struct fundus_convert_labels *pinned = NULL, *gt_labels = NULL, *made = NULL;
	enum fundus_convert_format gt_given = FUNDUS_CONVERT_AUTO, pred_given = FUNDUS_CONVERT_AUTO;
	enum fundus_convert_format gt_f, pred_f;
	const char *per_image = NULL, *labels_path = NULL, *gt_path, *pred_path;
	int json = 0, failed = 0, c;

	tool_init(&desc);
	fundus_eval_options_default(&o);
	fundus_convert_options_default(&co);
	while ((c = tool_getopt(argc, argv)) != -1) {
		switch (c) {
		case OPT_LABEL:
			if (*optarg == '\0')
				tool_usage_error("--label needs a label");
			o.label = optarg;
			break;
		case OPT_IOU: o.iou = tool_parse_double(optarg, "--iou", 1e-9, 1); break;
		case OPT_JSON: json = 1; break;
		case OPT_PER_IMAGE: per_image = optarg; break;
		case OPT_EXACT_PATHS: o.exact_paths = 1; break;
		case OPT_GT_FORMAT: gt_given = parse_format(optarg, "--gt-format"); break;
		case OPT_PRED_FORMAT: pred_given = parse_format(optarg, "--pred-format"); break;
		case OPT_LABELS: labels_path = optarg; break;
		case OPT_IMAGE_DIR: co.image_dir = optarg; break;
		case OPT_PYCOCOTOOLS_ID0: o.pycocotools_id0 = 1; break;
		}
	}
	if (argc - optind != 2)
		tool_usage_error(argc - optind < 2 ? "give the ground truth and the predictions"
						   : "too many arguments");
	gt_path = argv[optind];
	pred_path = argv[optind + 1];
	if (strcmp(gt_path, "-") == 0 && strcmp(pred_path, "-") == 0)
		tool_usage_error("only one of the two inputs can be standard input");

	if (labels_path && fundus_convert_labels_load(labels_path, 1, &pinned) < 0) {
		tool_lib_error("cannot read", labels_path);
		return TOOL_EXIT_FAIL;
	}
	if (fundus_convert_set_new(&gt) < 0 || fundus_convert_set_new(&pred) < 0)
		tool_die("out of memory");
	/* The ground truth keeps its COCO ids: they order images as pycocotools does. */
	co.keep_ids = 1;
	co.labels = pinned;
	co.from = gt_given;
	if (tool_input_format(gt_path, gt_given, &gt_f) < 0 ||
	    tool_input_format(pred_path, pred_given, &pred_f) < 0 ||
	    tool_read_input(gt_path, gt_f, &co, gt, &gt_labels) < 0)
		failed = 1;
	if (!failed) {
		co.keep_ids = 0;
		co.from = pred_f;
		co.images = gt;
		co.labels = pinned ? pinned : gt_labels;
		if (co.labels == NULL && (co.labels = made = default_labels(gt)) == NULL)
			tool_die("out of memory");
		if (pred_f == FUNDUS_CONVERT_COCO_RESULTS && number_images(gt) < 0)
			tool_die("out of memory");
		if (tool_read_input(pred_path, pred_f, &co, pred, NULL) < 0)
			failed = 1;
	}
	if (!failed && fundus_eval_run(gt->rec, gt->n, pred->rec, pred->n, &o, &res) < 0) {
		const char *msg = fundus_errmsg();

		tool_error("'%s': %s", strncmp(msg, "prediction", 10) == 0 ? pred_path : gt_path,
			   msg);
		failed = 1;
	}
	if (!failed) {
		if (json) {
			char *text;

			if (fundus_eval_result_format(res, &text, NULL) < 0) {
				tool_error("out of memory");
				failed = 1;
			} else {
				fputs(text, stdout);
				fundus_free(text);
			}
		} else {
			print_table(res);
		}
		fflush(stdout);
		if (per_image && write_rows(per_image, res, json) < 0)
			failed = 1;
	}
	fundus_eval_result_free(res);
	fundus_convert_set_free(gt);
	fundus_convert_set_free(pred);
	fundus_convert_labels_free(pinned);
	fundus_convert_labels_free(gt_labels);
	fundus_convert_labels_free(made);
	return failed ? TOOL_EXIT_FAIL : TOOL_EXIT_OK;
}
