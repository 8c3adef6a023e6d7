/*
 * fundus-detect: run a detector over many images, for pipelines, Makefiles
 * and cron.
 *
 * The inputs (files, folders, names on standard input, or record streams)
 * become a list of jobs; worker threads detect in them (work.c) and the
 * main thread writes the records in input order, to standard output or,
 * with -o, appended one synced write at a time to a locked output file
 * whose images are skipped (output.c). Failures are reported with the
 * file's name and the others go on; the exit status tells "done" from
 * "some failed" from "nothing to do" from "another run has the output".
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "fdetect.h"
#include "fundus/convert.h"
#include "fundus/draw.h"
#include "fundus/file.h"
#include "fundus/pool.h"
#include "tool.h"

enum {
	OPT_MODEL = 'm',
	OPT_OUTPUT = 'o',
	OPT_RECORDS = 'r',
	OPT_NULL = '0',
	OPT_THRESHOLD = 't',
	OPT_THREADS = 'j',
	OPT_NMS = 256,
	OPT_TOP,
	OPT_IMAGE_DIR,
	OPT_OVERLAY,
	OPT_OVERLAY_FORMAT,
	OPT_OVERLAY_SIZE,
	OPT_CSV,
	OPT_COCO,
	OPT_WAIT,
	OPT_TIMINGS,
	OPT_MAX_PIXELS,
	OPT_SHEET,
	OPT_SHEET_WIDTH,
	OPT_SHEET_COLUMNS,
};

#define SHEET_MAX 200 /* images on a contact sheet at most: the first ones detected */

static const struct tool_opt opts[] = {
    {"model", OPT_MODEL, "FILE", "the detector: a model file made by fundus-train (required)"},
    {"output", OPT_OUTPUT, "FILE",
     "append the records to FILE, locked, skipping images it holds already"},
    {"records", OPT_RECORDS, NULL, "the inputs are records (JSON Lines) whose images are read"},
    {"image-dir", OPT_IMAGE_DIR, "DIR", "relative image paths in the records are under DIR"},
    {"null", OPT_NULL, NULL, "names read from standard input end with NUL, not newline"},
    {"threshold", OPT_THRESHOLD, "X", "keep boxes scoring at least X (default 0.05)"},
    {"nms", OPT_NMS, "X",
     "drop a box overlapping a better one of its label by IoU above X (default 0.45; 0 off)"},
    {"top", OPT_TOP, "N", "keep the N best boxes of each image (default 100; 0 all)"},
    {"overlay", OPT_OVERLAY, "DIR", "draw each image with its boxes and scores into DIR"},
    {"overlay-format", OPT_OVERLAY_FORMAT, "FMT", "overlays as jpeg (default) or png"},
    {"overlay-size", OPT_OVERLAY_SIZE, "N",
     "overlays N pixels on the long side (default 1024; 0 full size)"},
    {"sheet", OPT_SHEET, "FILE",
     "also make a contact sheet (PNG or JPEG) of the images detected, with their boxes"},
    {"sheet-width", OPT_SHEET_WIDTH, "N", "width of the contact sheet in pixels (default 1600)"},
    {"sheet-columns", OPT_SHEET_COLUMNS, "N", "thumbnails per row of the sheet (default 6)"},
    {"csv", OPT_CSV, "FILE", "also write the results as CSV, one row per box"},
    {"coco", OPT_COCO, "FILE", "also write the results as COCO results JSON"},
    {"threads", OPT_THREADS, "N", "images detected at once; 0 (default) for every core"},
    {"wait", OPT_WAIT, NULL, "wait while another run has the output, instead of exiting 4"},
    {"timings", OPT_TIMINGS, NULL, "put the seconds of each step into the records"},
    {"max-pixels", OPT_MAX_PIXELS, "N", "refuse images of more than N pixels (default 268435456)"},
    {0},
};

static const struct tool_desc desc = {
    "fundus-detect",
    "[OPTION]... -m MODEL [FILE|FOLDER]...",
    "Detect objects (optic discs) in images with a trained model and print one record\n"
    "per image (JSON Lines) with the boxes found, their scores, the image's id (the\n"
    "SHA-256 of its bytes) and size. Folders are walked recursively; with no FILE, or\n"
    "with '-', the names are read from standard input, one per line; with -r, the\n"
    "inputs are records and the images they name are read.",
    opts,
    "Examples:\n"
    "  fundus-detect -m od.fdm eyes/ > found.jsonl\n"
    "  fundus-detect -m od.fdm --top 1 -r test.jsonl > found.jsonl\n"
    "  fundus-detect -m od.fdm -q -o night.jsonl /srv/incoming     # from cron\n"
    "  fundus-detect -m od.fdm --overlay check/ --overlay-format png eyes/*.jpg\n"
    "  find eyes -name '*.jpg' -print0 | xargs -0 -n 500 -P 2 fundus-detect -j 1 -m od.fdm\n"
    "\n"
    "Exit status: 3 nothing to do (every image was in the output already, or there\n"
    "were none); 4 another run holds the lock on the output.\n",
};

/* Writes all of a record line to standard output, in one write(2) where the system allows. */
static int write_stdout(const char *line, size_t len)
{
	if (fflush(stdout) != 0)
		return -1;
	while (len > 0) {
		ssize_t w = write(STDOUT_FILENO, line, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		line += w;
		len -= (size_t)w;
	}
	return 0;
}

/*
 * The label map of CSV and COCO results: the network's labels, numbered
 * from 1 in its order. NULL after a message when out of memory.
 */
static struct fundus_convert_labels *model_labels(const struct fundus_detector *det)
{
	const struct fundus_net *net = fundus_detector_net(det);
	struct fundus_convert_labels *m;

	if (fundus_convert_labels_new(&m) < 0) {
		tool_error("out of memory");
		return NULL;
	}
	for (int i = 0; i < fundus_net_label_count(net); i++)
		if (fundus_convert_labels_add(m, fundus_net_label(net, i), i + 1, NULL) < 0) {
			tool_lib_error("cannot number the labels of", fundus_detector_name(det));
			fundus_convert_labels_free(m);
			return NULL;
		}
	return m;
}

/* Writes set as CSV or COCO results to path ("-" is standard output); 0 or -1 after a message. */
static int write_results(const char *path, enum fundus_convert_format to,
			 const struct fundus_convert_set *set,
			 const struct fundus_convert_labels *labels)
{
	struct fundus_convert_options co;
	int rc;

	fundus_convert_options_default(&co);
	co.to = to;
	co.labels = labels;
	if (to == FUNDUS_CONVERT_CSV)
		co.csv_columns = "image,width,height,label,score,xmin,ymin,xmax,ymax";
	if (strcmp(path, "-") == 0)
		rc = fundus_convert_write_stream(stdout, set, &co, NULL);
	else
		rc = fundus_convert_write(path, set, &co, NULL);
	if (rc < 0) {
		tool_lib_error("cannot write", path);
		return -1;
	}
	return 0;
}

/* Writes the contact sheet of the run's thumbnails; 0 or -1 after a message. */
static int write_sheet(const char *path, struct fundus_image **tiles, char **captions, int n,
		       int width, int columns)
{
	struct fundus_image *sheet = NULL;
	int cols = columns < n ? columns : n, tile_w, rc;

	if (n == 0)
		return 0;
	tile_w = fundus_draw_sheet_fit(width, cols);
	rc = fundus_draw_sheet((const struct fundus_image *const *)tiles,
			       (const char *const *)captions, n, cols, tile_w, &sheet);
	if (rc == 0)
		rc = fundus_image_save(sheet, path, NULL);
	fundus_image_free(sheet);
	if (rc < 0) {
		tool_lib_error("cannot write the contact sheet", path);
		return -1;
	}
	return 0;
}

/* The run's state that main() and its helpers share. */
struct run {
	struct output out;
	int to_file;
	struct done_set done; /* ids in the output before the run; read by the workers */
	struct done_set seen; /* ids written by this run; the main thread's */
	struct fundus_convert_set *results; /* for --csv and --coco without -o; or NULL */
	struct fundus_image **tiles;        /* for --sheet: SHEET_MAX thumbnails, or NULL */
	char **captions;
	int n_tiles;
	int64_t written, skipped, failed, not_images;
};

/* Takes one result in input order: writes its record, or reports why there is none. */
static int take(struct run *run, const struct job *j, struct result *res)
{
	switch (res->kind) {
	case RESULT_RECORD:
		if (run->to_file) {
			/* One record per content in an output file: two copies, one record. */
			int added = done_add(&run->seen, res->digest);

			if (added < 0) {
				tool_error("out of memory");
				return -1;
			}
			if (added == 0) {
				run->skipped++;
				return 0;
			}
			if (output_append(&run->out, res->line, res->len) < 0)
				return -1;
		} else if (write_stdout(res->line, res->len) < 0) {
			tool_error("cannot write to standard output: %s", strerror(errno));
			return -1;
		}
		if (run->results) {
			struct fundus_record *r = res->rec; /* the set's, even when the add fails */

			res->rec = NULL;
			if (fundus_convert_set_add(run->results, r) < 0) {
				tool_error("out of memory");
				return -1;
			}
		}
		if (run->tiles && res->tile && run->n_tiles < SHEET_MAX) {
			run->captions[run->n_tiles] = res->caption;
			run->tiles[run->n_tiles++] = res->tile;
			res->caption = NULL;
			res->tile = NULL;
		}
		run->written++;
		break;
	case RESULT_DONE: run->skipped++; break;
	case RESULT_NOTIMAGE:
		run->not_images++;
		tool_warn("skipping '%s': not an image", j->path);
		break;
	default:
		run->failed++;
		tool_error("%s", res->msg ? res->msg : "out of memory");
		break;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct work_options wo = {0};
	struct jobs js = {0};
	struct run run = {0};
	struct work *w = NULL;
	struct fundus_detector *det = NULL;
	struct fundus_convert_labels *labels = NULL;
	const struct fundus_progress *progress;
	const char *model = NULL, *output = NULL, *image_dir = NULL, *csv = NULL, *coco = NULL;
	const char *sheet = NULL;
	int sheet_width = 1600, sheet_columns = 6;
	int records = 0, sep = '\n', wait = 0, threads = 0, c, bad = 0, status, stopped = 0;
	double t0;

	tool_init(&desc);
	fundus_detect_defaults(&wo.params);
	fundus_image_limits_default(&wo.limits);
	wo.overlay.type = FUNDUS_IMAGE_JPEG;
	wo.overlay.size = 1024;
	wo.max_bytes = (size_t)1 << 30;
	while ((c = tool_getopt(argc, argv)) != -1) {
		switch (c) {
		case OPT_MODEL: model = optarg; break;
		case OPT_OUTPUT: output = optarg; break;
		case OPT_RECORDS: records = 1; break;
		case OPT_IMAGE_DIR: image_dir = optarg; break;
		case OPT_NULL: sep = '\0'; break;
		case OPT_THRESHOLD:
			wo.params.threshold = (float)tool_parse_double(optarg, "--threshold", 0, 1);
			break;
		case OPT_NMS:
			wo.params.nms = (float)tool_parse_double(optarg, "--nms", 0, 1);
			break;
		case OPT_TOP:
			wo.params.top = (int)tool_parse_long(optarg, "--top", 0, INT_MAX);
			break;
		case OPT_OVERLAY: wo.overlay.dir = optarg; break;
		case OPT_OVERLAY_FORMAT:
			if (strcasecmp(optarg, "png") == 0)
				wo.overlay.type = FUNDUS_IMAGE_PNG;
			else if (strcasecmp(optarg, "jpeg") == 0 || strcasecmp(optarg, "jpg") == 0)
				wo.overlay.type = FUNDUS_IMAGE_JPEG;
			else
				tool_usage_error("--overlay-format: '%s' is not jpeg or png",
						 optarg);
			break;
		case OPT_OVERLAY_SIZE:
			wo.overlay.size = (int)tool_parse_long(optarg, "--overlay-size", 0, 65535);
			break;
		case OPT_SHEET: sheet = optarg; break;
		case OPT_SHEET_WIDTH:
			sheet_width = (int)tool_parse_long(optarg, "--sheet-width", 200, 16384);
			break;
		case OPT_SHEET_COLUMNS:
			sheet_columns = (int)tool_parse_long(optarg, "--sheet-columns", 1, 100);
			break;
		case OPT_CSV: csv = optarg; break;
		case OPT_COCO: coco = optarg; break;
		case OPT_THREADS:
			threads = (int)tool_parse_long(optarg, "--threads", 0, 1024);
			break;
		case OPT_WAIT: wait = 1; break;
		case OPT_TIMINGS: wo.timings = 1; break;
		case OPT_MAX_PIXELS:
			wo.limits.max_pixels = tool_parse_long(optarg, "--max-pixels", 1, LONG_MAX);
			break;
		}
	}
	if (model == NULL)
		tool_usage_error("no model (-m FILE)");
	if (image_dir && !records)
		tool_usage_error("--image-dir is for records (-r)");
	if (output && strcmp(output, "-") == 0)
		output = NULL;
	if (output == NULL && ((csv && strcmp(csv, "-") == 0) || (coco && strcmp(coco, "-") == 0)))
		tool_usage_error("the records go to standard output: give --csv and --coco a file");
	if (csv && coco && strcmp(csv, "-") == 0 && strcmp(coco, "-") == 0)
		tool_usage_error("only one of --csv and --coco can be standard output");

	if (sheet && fundus_image_type_from_name(sheet) != FUNDUS_IMAGE_PNG &&
	    fundus_image_type_from_name(sheet) != FUNDUS_IMAGE_JPEG)
		tool_usage_error("--sheet: '%s' must end in .png or .jpg", sheet);
	if (sheet && fundus_draw_sheet_fit(sheet_width, sheet_columns) == 0)
		tool_usage_error("--sheet-columns: %d thumbnails a row do not fit in %d pixels",
				 sheet_columns, sheet_width);

	if (fundus_detector_load(&det, model) < 0) {
		tool_lib_error("cannot load the model", model);
		return TOOL_EXIT_FAIL;
	}
	wo.det = det;

	/* The inputs, in order; "-" (or none) reads standard input once. */
	{
		int from_stdin = optind == argc, stdin_read = 0, rc = 0;

		for (int i = optind; i < argc && rc == 0; i++) {
			if (records)
				rc = jobs_add_records(&js, argv[i], image_dir, &bad);
			else if (strcmp(argv[i], "-") == 0)
				from_stdin = 1;
			else
				rc = jobs_add_path(&js, argv[i]);
			if (!records && from_stdin && !stdin_read && rc == 0) {
				rc = jobs_add_stdin(&js, sep);
				stdin_read = 1;
			}
		}
		if (rc == 0 && from_stdin && !stdin_read)
			rc = records ? jobs_add_records(&js, "-", image_dir, &bad)
				     : jobs_add_stdin(&js, sep);
		if (rc < 0) {
			jobs_free(&js);
			fundus_detector_free(det);
			return TOOL_EXIT_FAIL;
		}
	}

	if (output) {
		int rc = output_open(&run.out, output, wait, &run.done);

		if (rc == DETECT_EXIT_BUSY) {
			tool_warn("'%s' is in use by another run: nothing done", output);
			jobs_free(&js);
			fundus_detector_free(det);
			done_free(&run.done);
			return DETECT_EXIT_BUSY;
		}
		if (rc < 0) {
			jobs_free(&js);
			fundus_detector_free(det);
			done_free(&run.done);
			return TOOL_EXIT_FAIL;
		}
		run.to_file = 1;
		wo.done = &run.done;
	}
	if ((csv || coco) && !output) {
		if (fundus_convert_set_new(&run.results) < 0)
			tool_die("out of memory");
		wo.keep_records = 1;
	}
	if (wo.overlay.dir && fundus_mkdir_p(wo.overlay.dir) < 0) {
		tool_lib_error("cannot make the folder", wo.overlay.dir);
		stopped = 1;
	}

	if (sheet) {
		run.tiles = fundus_calloc(SHEET_MAX, sizeof *run.tiles);
		run.captions = fundus_calloc(SHEET_MAX, sizeof *run.captions);
		if (run.tiles == NULL || run.captions == NULL)
			tool_die("out of memory");
		wo.overlay.tile = fundus_draw_sheet_fit(sheet_width, sheet_columns);
	}
	wo.threads = threads ? threads : fundus_cpu_count();
	if ((size_t)wo.threads > js.n)
		wo.threads = js.n ? (int)js.n : 1;
	if (wo.threads < 1)
		wo.threads = 1;
	t0 = fundus_now();
	progress = tool_progress();
	if (!stopped && js.n > 0 && work_start(&w, &wo, &js) < 0)
		stopped = 1;
	for (size_t i = 0; !stopped && i < js.n; i++) {
		struct result *res = work_wait(w, i);

		if (take(&run, &js.v[i], res) < 0)
			stopped = 1;
		work_release(w, i);
		if (progress)
			progress->fn(progress->ud, "detecting", (int64_t)i + 1, (int64_t)js.n);
	}
	work_free(w);
	tool_progress_end();

	if (!stopped && (csv || coco)) {
		struct fundus_convert_set *all = run.results;
		struct fundus_convert_options co;

		fundus_convert_options_default(&co);
		co.from = FUNDUS_CONVERT_RECORDS;
		if (output && (fundus_convert_set_new(&all) < 0 ||
			       fundus_convert_read(output, &co, all, NULL, NULL) < 0)) {
			tool_lib_error("cannot read", output);
			stopped = 1;
		}
		if (!stopped && (labels = model_labels(det)) == NULL)
			stopped = 1;
		if (!stopped && csv && write_results(csv, FUNDUS_CONVERT_CSV, all, labels) < 0)
			stopped = 1;
		if (!stopped && coco &&
		    write_results(coco, FUNDUS_CONVERT_COCO_RESULTS, all, labels) < 0)
			stopped = 1;
		if (all != run.results)
			fundus_convert_set_free(all);
	}
	if (output)
		output_close(&run.out);
	if (!stopped && sheet &&
	    write_sheet(sheet, run.tiles, run.captions, run.n_tiles, sheet_width, sheet_columns) <
		0)
		stopped = 1;

	if (!tool_quiet && isatty(STDERR_FILENO)) {
		double s = fundus_now() - t0;

		fprintf(stderr, "%s: %zu %s: %lld detected, %lld done already, %lld failed",
			tool_name, js.n, js.n == 1 ? "image" : "images", (long long)run.written,
			(long long)run.skipped, (long long)run.failed);
		if (run.written && s > 0)
			fprintf(stderr, " (%.1f images/s)", (double)run.written / s);
		fputc('\n', stderr);
	}
	if (stopped || run.failed || bad)
		status = TOOL_EXIT_FAIL;
	else if (run.written == 0)
		status = DETECT_EXIT_NOTHING;
	else
		status = TOOL_EXIT_OK;
	for (int i = 0; i < run.n_tiles; i++) {
		fundus_image_free(run.tiles[i]);
		fundus_free(run.captions[i]);
	}
	fundus_free(run.tiles);
	fundus_free(run.captions);
	fundus_convert_labels_free(labels);
	fundus_convert_set_free(run.results);
	done_free(&run.done);
	done_free(&run.seen);
	jobs_free(&js);
	fundus_detector_free(det);
	return status;
}
