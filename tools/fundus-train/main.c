/*
 * fundus-train: train a detector from annotated photographs.
 *
 * Reads the annotations (records, or any format fundus-convert reads),
 * decodes the photographs once at a reduced scale, holds out a validation
 * set (or reads --val), and runs fundus_train_run(): one progress line on
 * a terminal, a JSON Lines log of every epoch, the best model saved as it
 * improves, a checkpoint after every epoch, a PNG plot at the end, and a
 * command run when it is over (--notify). --learning-curve trains on
 * growing subsets instead and prints how validation AP grows with them.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fundus/convert.h"
#include "fundus/draw.h"
#include "fundus/file.h"
#include "fundus/record.h"
#include "fundus/train.h"
#include "tool.h"

enum {
	OPT_OUTPUT = 'o',
	OPT_THREADS = 'j',
	OPT_ARCH = 256,
	OPT_INIT,
	OPT_VAL,
	OPT_VAL_SPLIT,
	OPT_FORMAT,
	OPT_IMAGE_DIR,
	OPT_EPOCHS,
	OPT_EPOCH_SIZE,
	OPT_BATCH,
	OPT_LR,
	OPT_TIME,
	OPT_PATIENCE,
	OPT_SEED,
	OPT_SIZE,
	OPT_CHECKPOINT,
	OPT_RESUME,
	OPT_LOG,
	OPT_PLOT,
	OPT_NOTIFY,
	OPT_CURVE,
	OPT_NO_AUGMENT,
	OPT_CROP,
};

static const struct tool_opt opts[] = {
    {"output", OPT_OUTPUT, "MODEL", "write the model to MODEL (required)"},
    {"arch", OPT_ARCH, "NAME|FILE", "disc-centre (default), disc-yolo, yolov3-tiny or a file"},
    {"init", OPT_INIT, "MODEL", "start from MODEL's weights (fine-tuning) instead of from scratch"},
    {"val", OPT_VAL, "FILE", "validate on the annotations in FILE"},
    {"val-split", OPT_VAL_SPLIT, "X", "without --val, hold out this fraction, seeded (default 0.2)"},
    {"format", OPT_FORMAT, "FMT", "format of the inputs (default: recognised)"},
    {"image-dir", OPT_IMAGE_DIR, "DIR", "image paths in VOC/YOLO/CSV/COCO files are under DIR"},
    {"epochs", OPT_EPOCHS, "N", "train at most N epochs (default 60)"},
    {"epoch-size", OPT_EPOCH_SIZE, "N", "images per epoch (default: the training images, at least 512)"},
    {"batch", OPT_BATCH, "N", "images per step (default 16)"},
    {"lr", OPT_LR, "X", "peak learning rate (default 0.002)"},
    {"time", OPT_TIME, "SECONDS", "stop after the epoch that passes SECONDS of training"},
    {"patience", OPT_PATIENCE, "N", "stop after N epochs without a better validation mAP (default 0: never)"},
    {"seed", OPT_SEED, "N", "seed of the weights, the split and the augmentation (default 1)"},
    {"size", OPT_SIZE, "WxH", "network input size (default: the architecture's)"},
    {"crop", OPT_CROP, "N", "train on N x N crops of the input (default 160; 0: whole inputs)"},
    {"threads", OPT_THREADS, "N", "threads (default: one per core)"},
    {"checkpoint", OPT_CHECKPOINT, "FILE", "checkpoint file (default MODEL.ckpt)"},
    {"resume", OPT_RESUME, NULL, "continue from the checkpoint where the run stopped"},
    {"log", OPT_LOG, "FILE", "JSON Lines log of every epoch (default MODEL.log.jsonl)"},
    {"plot", OPT_PLOT, "FILE", "PNG plot of loss and mAP at the end (default MODEL.png)"},
    {"notify", OPT_NOTIFY, "CMD", "run CMD through sh when training ends (status in $FUNDUS_STATUS)"},
    {"learning-curve", OPT_CURVE, "LIST", "train on the first N images for each N in LIST (10,25,50,all)"},
    {"no-augment", OPT_NO_AUGMENT, NULL, "train on the photographs as they are"},
    {0},
};

static const struct tool_desc desc = {
    "fundus-train",
    "[OPTION]... -o MODEL ANNOTATIONS...",
    "Train an object detector (the optic disc, or any labels) from annotated\n"
    "photographs and write it to MODEL, for fundus-detect and fundus-serve.",
    opts,
    "ANNOTATIONS are records or any format fundus-convert reads ('-' is standard\n"
    "input). Every box label becomes a class. A validation set (--val, or a seeded\n"
    "fifth of the images) picks the best epoch by COCO mAP@[.50:.95].\n"
    "\n"
    "Examples:\n"
    "  fundus-train -o disc.fdm boxes.jsonl\n"
    "  fundus-train --image-dir idrid/images --time 240 -o disc.fdm idrid/boxes.csv\n"
    "  fundus-train --init disc.fdm --val old-val.jsonl -o disc2.fdm more.jsonl\n"
    "  fundus-train --learning-curve 10,25,50,all -o curve.fdm boxes.jsonl\n"
    "  fundus-train --notify 'mail -s done me@clinic < /dev/null' -o d.fdm b.jsonl\n",
};

static volatile int stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

/* What the epoch callback needs. */
struct run {
	FILE *log;
	const char *log_path;
	int quiet;
	/* for the plot */
	double *ep, *loss, *map, *ap50;
	int n, cap;
	const char *tag; /* learning curve: the subset, or NULL */
	char title[512];
};

/* A JSON number or null. */
static void put_json_num(FILE *f, const char *key, double v, int last)
{
	if (isfinite(v))
		fprintf(f, "\"%s\":%.6g%s", key, v, last ? "" : ",");
	else
		fprintf(f, "\"%s\":null%s", key, last ? "" : ",");
}

static int on_epoch(void *ud, const struct fundus_train_epoch *e)
{
	struct run *r = ud;

	if (r->log) {
		fprintf(r->log, "{");
		if (r->tag)
			fprintf(r->log, "\"subset\":\"%s\",", r->tag);
		fprintf(r->log, "\"epoch\":%d,\"step\":%ld,", e->epoch, e->step);
		put_json_num(r->log, "lr", e->lr, 0);
		put_json_num(r->log, "loss", e->loss, 0);
		put_json_num(r->log, "loss_heat", e->loss_part[0], 0);
		put_json_num(r->log, "loss_offset", e->loss_part[1], 0);
		put_json_num(r->log, "loss_size", e->loss_part[2], 0);
		put_json_num(r->log, "map", e->map, 0);
		put_json_num(r->log, "ap50", e->ap50, 0);
		put_json_num(r->log, "det_rate", e->det_rate, 0);
		put_json_num(r->log, "mean_iou", e->mean_iou, 0);
		put_json_num(r->log, "images_per_second", e->images_per_second, 0);
		put_json_num(r->log, "seconds", e->seconds, 0);
		fprintf(r->log, "\"best\":%s}\n", e->best ? "true" : "false");
		if (fflush(r->log) != 0 || fsync(fileno(r->log)) != 0) {
			tool_error("cannot write '%s': %s", r->log_path, strerror(errno));
			return FUNDUS_EIO;
		}
	}
	if (r->n == r->cap) {
		int nc = r->cap ? 2 * r->cap : 64;
		double *a = realloc(r->ep, (size_t)nc * sizeof *a), *b, *c, *d;

		if (a)
			r->ep = a;
		b = realloc(r->loss, (size_t)nc * sizeof *b);
		if (b)
			r->loss = b;
		c = realloc(r->map, (size_t)nc * sizeof *c);
		if (c)
			r->map = c;
		d = realloc(r->ap50, (size_t)nc * sizeof *d);
		if (d)
			r->ap50 = d;
		if (!a || !b || !c || !d)
			return FUNDUS_ENOMEM;
		r->cap = nc;
	}
	r->ep[r->n] = e->epoch;
	r->loss[r->n] = e->loss;
	r->map[r->n] = e->map;
	r->ap50[r->n] = e->ap50;
	r->n++;
	tool_progress_end();
	if (!r->quiet && isatty(STDERR_FILENO))
		fprintf(stderr,
			"\r%s%sepoch %d  loss %.4f  val mAP %.3f AP50 %.3f det %.3f  %.0f img/s  "
			"%.0f s%s\033[K",
			r->tag ? r->tag : "", r->tag ? ": " : "", e->epoch, e->loss, e->map, e->ap50,
			e->det_rate, e->images_per_second, e->seconds, e->best ? "  *" : "");
	return 0;
}

/* Writes the plot of loss and validation mAP; 0 or -1 after a message. */
static int write_plot(const char *path, const struct run *r)
{
	struct fundus_plot *pl = NULL;
	struct fundus_image *img = NULL;
	int rc;

	rc = fundus_plot_new(&pl, r->title, "epoch");
	if (rc >= 0)
		rc = fundus_plot_axis(pl, FUNDUS_PLOT_LEFT, "training loss", 1, NAN, NAN);
	if (rc >= 0)
		rc = fundus_plot_axis(pl, FUNDUS_PLOT_RIGHT, "validation", 0, 0, 1);
	if (rc >= 0)
		rc = fundus_plot_series(pl, "loss", FUNDUS_PLOT_LEFT, NULL, r->ep, r->loss, r->n);
	if (rc >= 0)
		rc = fundus_plot_series(pl, "mAP@[.50:.95]", FUNDUS_PLOT_RIGHT, NULL, r->ep, r->map,
					r->n);
	if (rc >= 0)
		rc = fundus_plot_series(pl, "AP50", FUNDUS_PLOT_RIGHT, NULL, r->ep, r->ap50, r->n);
	if (rc >= 0)
		rc = fundus_plot_render(pl, 960, 540, &img);
	if (rc >= 0)
		rc = fundus_image_save(img, path, NULL);
	if (rc < 0)
		tool_lib_error("cannot write", path);
	fundus_image_free(img);
	fundus_plot_free(pl);
	return rc < 0 ? -1 : 0;
}

/* Runs the --notify command with the outcome in the environment. */
static void notify(const char *cmd, int status, const char *model)
{
	char st[16];
	int rc;

	snprintf(st, sizeof st, "%d", status);
	setenv("FUNDUS_STATUS", st, 1);
	setenv("FUNDUS_MODEL", model, 1);
	fflush(stdout);
	rc = system(cmd);
	if (rc == -1 || !WIFEXITED(rc) || WEXITSTATUS(rc) != 0)
		tool_warn("the --notify command failed (status %d)",
			  rc == -1 ? -1 : WIFEXITED(rc) ? WEXITSTATUS(rc) : 128);
}

/* Reads one or more annotation inputs into one set; 0 or -1 after a message. */
static int read_all(char **paths, int n, enum fundus_convert_format given,
		    const struct fundus_convert_options *co, struct fundus_convert_set *set)
{
	for (int i = 0; i < n; i++) {
		struct fundus_convert_options o = *co;
		enum fundus_convert_format f;

		if (tool_input_format(paths[i], given, &f) < 0)
			return -1;
		o.from = f;
		if (tool_read_input(paths[i], f, &o, set, NULL) < 0)
			return -1;
	}
	return 0;
}

/* Says which image could not be read; training goes on without it. */
static int on_bad_image(void *ud, size_t index, const char *path, int code, const char *msg)
{
	(void)ud;
	(void)index;
	tool_warn("skipping '%s': %s", path, msg);
	return code == FUNDUS_ENOMEM;
}

/* Decodes the photographs of a set; NULL after a message. */
static struct fundus_train_data *decode(const struct fundus_convert_set *set, int threads,
					int max_side, const char *const *labels, int nlabels,
					const char *what)
{
	struct fundus_train_data_params dp;
	struct fundus_train_data *d = NULL;

	fundus_train_data_defaults(&dp);
	dp.threads = threads;
	dp.max_side = max_side;
	dp.min_side = max_side < dp.min_side ? max_side : dp.min_side;
	dp.progress = tool_progress();
	dp.on_error = on_bad_image;
	dp.labels = (const char **)labels;
	dp.nlabels = nlabels;
	if (fundus_train_data_new(&d, set->rec, set->n, &dp) < 0) {
		tool_progress_end();
		tool_lib_error("cannot read", what);
		return NULL;
	}
	tool_progress_end();
	if (fundus_train_data_count(d) == 0) {
		tool_error("'%s': no photograph could be read", what);
		fundus_train_data_free(d);
		return NULL;
	}
	return d;
}

/*
 * Reports a failed run, naming the file it failed on: the checkpoint or
 * the model (the library's "checkpoint: ", "model: " messages), else the
 * annotations.
 */
static void train_error(const struct fundus_train_params *tp, const char *annotations)
{
	const char *msg = fundus_errmsg();

	tool_progress_end();
	if (strncmp(msg, "checkpoint: ", 12) == 0)
		tool_error("checkpoint '%s': %s", tp->checkpoint, msg + 12);
	else if (strncmp(msg, "model: ", 7) == 0)
		tool_error("cannot write '%s': %s", tp->output, msg + 7);
	else
		tool_lib_error("cannot train on", annotations);
}

/* Prints one line of scores. */
static void print_score(const char *what, const struct fundus_train_score *s)
{
	printf("%-22s mAP %.3f  AP50 %.3f  AP75 %.3f  det.rate %.3f  IoU %.3f  centre err %.3f\n",
	       what, s->map, s->ap50, s->ap75, s->det_rate, s->mean_iou, s->centre_median);
}

/* Parses "10,25,50,all" into sizes (0 for all); returns the count or exits 2. */
static int parse_curve(const char *s, long *v, int max)
{
	int n = 0;
	char buf[256];
	char *save = NULL, *tok;

	snprintf(buf, sizeof buf, "%s", s);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (n == max)
			tool_usage_error("--learning-curve: at most %d sizes", max);
		v[n++] = strcmp(tok, "all") == 0 ? 0 : tool_parse_long(tok, "--learning-curve", 1, 1L << 30);
	}
	if (n == 0)
		tool_usage_error("--learning-curve: give sizes such as 10,25,50,all");
	return n;
}

int main(int argc, char **argv)
{
	struct fundus_train_params tp;
	struct fundus_train_result res;
	struct fundus_net_input in;
	struct fundus_convert_options co;
	struct fundus_convert_set *set = NULL, *vset = NULL;
	struct fundus_train_data *all = NULL, *train = NULL, *val = NULL;
	enum fundus_convert_format given = FUNDUS_CONVERT_AUTO;
	const char *output = NULL, *val_path = NULL, *log_path = NULL, *plot_path = NULL;
	const char *notify_cmd = NULL, *curve = NULL, *ckpt = NULL;
	char ckpt_buf[4096], log_buf[4096], plot_buf[4096];
	double val_split = 0.2;
	struct run run;
	int c, threads = fundus_cpu_count(), status = TOOL_EXIT_FAIL, max_side;

	tool_init(&desc);
	fundus_train_defaults(&tp);
	fundus_convert_options_default(&co);
	memset(&run, 0, sizeof run);
	while ((c = tool_getopt(argc, argv)) != -1) {
		switch (c) {
		case OPT_OUTPUT: output = optarg; break;
		case OPT_ARCH: tp.arch = optarg; break;
		case OPT_INIT: tp.init = optarg; break;
		case OPT_VAL: val_path = optarg; break;
		case OPT_VAL_SPLIT: val_split = tool_parse_double(optarg, "--val-split", 0, 0.9); break;
		case OPT_FORMAT:
			if (fundus_convert_format_parse(optarg, &given) < 0)
				tool_usage_error("--format: unknown format '%s'", optarg);
			break;
		case OPT_IMAGE_DIR: co.image_dir = optarg; break;
		case OPT_EPOCHS: tp.epochs = (int)tool_parse_long(optarg, "--epochs", 0, 100000); break;
		case OPT_EPOCH_SIZE:
			tp.epoch_size = tool_parse_long(optarg, "--epoch-size", 1, 1L << 30);
			break;
		case OPT_BATCH: tp.batch = (int)tool_parse_long(optarg, "--batch", 1, 1024); break;
		case OPT_LR: tp.lr = (float)tool_parse_double(optarg, "--lr", 1e-7, 10); break;
		case OPT_TIME: tp.time_limit = tool_parse_double(optarg, "--time", 0, 1e9); break;
		case OPT_PATIENCE:
			tp.patience = (int)tool_parse_long(optarg, "--patience", 0, 100000);
			break;
		case OPT_SEED: tp.seed = tool_parse_u64(optarg, "--seed"); break;
		case OPT_SIZE: {
			char *x = strchr(optarg, 'x');

			if (x == NULL)
				tool_usage_error("--size: give WIDTHxHEIGHT, such as 256x256");
			*x = '\0';
			tp.width = (int)tool_parse_long(optarg, "--size", 32, FUNDUS_NET_MAX_SIZE);
			tp.height = (int)tool_parse_long(x + 1, "--size", 32, FUNDUS_NET_MAX_SIZE);
			break;
		}
		case OPT_THREADS: threads = (int)tool_parse_long(optarg, "--threads", 1, 256); break;
		case OPT_CHECKPOINT: ckpt = optarg; break;
		case OPT_RESUME: tp.resume = 1; break;
		case OPT_LOG: log_path = optarg; break;
		case OPT_PLOT: plot_path = optarg; break;
		case OPT_NOTIFY: notify_cmd = optarg; break;
		case OPT_CURVE: curve = optarg; break;
		case OPT_NO_AUGMENT: fundus_augment_none(&tp.aug); break;
		case OPT_CROP: tp.crop = (int)tool_parse_long(optarg, "--crop", 0, FUNDUS_NET_MAX_SIZE); break;
		}
	}
	if (output == NULL)
		tool_usage_error("give the model file to write with -o MODEL");
	if (optind >= argc)
		tool_usage_error("give the annotations to train on");
	if (tp.resume && curve)
		tool_usage_error("--resume and --learning-curve do not go together");
	if (tp.init && tp.resume)
		tool_usage_error("--init and --resume do not go together");
	snprintf(ckpt_buf, sizeof ckpt_buf, "%s.ckpt", output);
	snprintf(log_buf, sizeof log_buf, "%s.log.jsonl", output);
	snprintf(plot_buf, sizeof plot_buf, "%s.png", output);
	tp.checkpoint = ckpt ? ckpt : ckpt_buf;
	log_path = log_path ? log_path : log_buf;
	plot_path = plot_path ? plot_path : plot_buf;
	tp.threads = threads;
	tp.output = output;
	tp.stop = &stop_flag;
	tp.progress = tool_progress();
	tp.on_epoch = on_epoch;
	tp.ud = &run;
	run.quiet = tool_quiet;
	snprintf(run.title, sizeof run.title, "fundus-train: %s", output);
	run.log_path = log_path;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	if (strcmp(fundus_nn_gemm_name(), "openblas-Prescott") == 0)
		tool_warn("OpenBLAS uses its generic kernels on this processor (3-5x slower); "
			  "set OPENBLAS_CORETYPE (for example Haswell or SkylakeX)");

	/* The network's input: this checks --arch or --init before any decoding. */
	if (fundus_train_input(&tp, &in) < 0) {
		char names[256] = "";

		if (tp.init) {
			tool_lib_error("cannot read", tp.init);
			goto out;
		}
		for (int i = 0; fundus_net_builtin_name(i); i++)
			snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s",
				 i ? ", " : "", fundus_net_builtin_name(i));
		tool_error("--arch '%s': %s (built in: %s)", tp.arch, fundus_errmsg(), names);
		goto out;
	}
	if (fundus_convert_set_new(&set) < 0 || fundus_convert_set_new(&vset) < 0)
		tool_die("out of memory");
	if (read_all(argv + optind, argc - optind, given, &co, set) < 0)
		goto out;
	if (val_path && read_all((char **)&val_path, 1, given, &co, vset) < 0)
		goto out;
	/* Held a little larger than the input, for zooming in (the augmentation's 1.4). */
	max_side = (int)ceil((in.width > in.height ? in.width : in.height) * 1.5);
	all = decode(set, threads, max_side, NULL, 0, argv[optind]);
	if (all == NULL)
		goto out;
	if (val_path) {
		const char *const *labels;
		int nl = fundus_train_data_labels(all, &labels);

		val = decode(vset, threads, max_side, labels, nl, val_path);
		if (val == NULL)
			goto out;
		if (fundus_train_data_head(all, fundus_train_data_count(all), &train) < 0)
			tool_die("out of memory");
	} else if (fundus_train_data_split(all, val_split, tp.seed, &train, &val) < 0) {
		tool_lib_error("cannot split", argv[optind]);
		goto out;
	}
	if (fundus_train_data_count(train) == 0) {
		tool_error("no photographs left to train on (lower --val-split)");
		goto out;
	}
	run.log = fopen(log_path, tp.resume ? "a" : "w");
	if (run.log == NULL) {
		tool_error("cannot write '%s': %s", log_path, strerror(errno));
		goto out;
	}
	if (!tool_quiet)
		fprintf(stderr, "%s: %zu training and %zu validation photographs\n", tool_name,
			fundus_train_data_count(train), val ? fundus_train_data_count(val) : 0);
	if (tp.init && val && fundus_train_data_count(val)) {
		struct fundus_net *old = NULL;
		struct fundus_train_score s;

		if (fundus_net_load(&old, tp.init) < 0) {
			tool_lib_error("cannot read", tp.init);
			goto out;
		}
		if (fundus_train_evaluate(old, val, threads, &s) < 0) {
			tool_lib_error("cannot evaluate", tp.init);
			fundus_net_free(old);
			goto out;
		}
		print_score("before (--init model):", &s);
		fundus_net_free(old);
	}
	if (curve) {
		long sizes[16];
		int ns = parse_curve(curve, sizes, 16);

		printf("%8s %8s %8s %8s %8s %8s\n", "images", "mAP", "AP50", "det.rate", "IoU",
		       "seconds");
		for (int i = 0; i < ns; i++) {
			struct fundus_train_data *sub = NULL;
			struct fundus_train_score s;
			char tag[32];
			size_t n = sizes[i] ? (size_t)sizes[i] : fundus_train_data_count(train);

			if (n > fundus_train_data_count(train))
				n = fundus_train_data_count(train);
			snprintf(tag, sizeof tag, "%zu images", n);
			run.tag = tag;
			if (fundus_train_data_head(train, n, &sub) < 0)
				tool_die("out of memory");
			tp.resume = 0;
			if (fundus_train_run(&tp, sub, val, &res) < 0) {
				train_error(&tp, argv[optind]);
				fundus_train_data_free(sub);
				goto out;
			}
			fundus_train_data_free(sub);
			if (fundus_train_evaluate(res.best, val, threads, &s) < 0) {
				tool_lib_error("cannot evaluate", output);
				fundus_net_free(res.best);
				goto out;
			}
			if (!tool_quiet && isatty(STDERR_FILENO))
				fputs("\r\033[K", stderr);
			printf("%8zu %8.3f %8.3f %8.3f %8.3f %8.0f\n", n, s.map, s.ap50, s.det_rate,
			       s.mean_iou, res.seconds);
			fflush(stdout);
			fundus_net_free(res.best);
			if (stop_flag)
				break;
		}
		status = stop_flag ? TOOL_EXIT_FAIL : TOOL_EXIT_OK;
		goto out;
	}
	if (fundus_train_run(&tp, train, val, &res) < 0) {
		train_error(&tp, argv[optind]);
		goto out;
	}
	if (!tool_quiet && isatty(STDERR_FILENO))
		fputs("\n", stderr);
	if (fundus_net_save(res.best, output) < 0) {
		tool_lib_error("cannot write", output);
		fundus_net_free(res.best);
		goto out;
	}
	{
		static const char *const why[] = {"all epochs done", "no better for --patience epochs",
						  "--time reached", "interrupted"};
		struct fundus_train_score s;

		printf("model: %s (epoch %d of %d, %s, %.0f s)\n", output, res.best_epoch,
		       res.epochs, why[res.stopped], res.seconds);
		if (val && fundus_train_data_count(val)) {
			if (fundus_train_evaluate(res.best, val, threads, &s) < 0) {
				tool_lib_error("cannot evaluate", output);
				fundus_net_free(res.best);
				goto out;
			}
			print_score(tp.init ? "after:" : "validation:", &s);
		}
	}
	fundus_net_free(res.best);
	if (run.n && write_plot(plot_path, &run) < 0)
		goto out;
	status = res.stopped == 3 ? TOOL_EXIT_FAIL : TOOL_EXIT_OK;
out:
	if (run.log && fclose(run.log) != 0 && status == TOOL_EXIT_OK) {
		tool_error("cannot write '%s': %s", log_path, strerror(errno));
		status = TOOL_EXIT_FAIL;
	}
	if (notify_cmd)
		notify(notify_cmd, status, output ? output : "");
	free(run.ep);
	free(run.loss);
	free(run.map);
	free(run.ap50);
	fundus_train_data_free(all);
	fundus_train_data_free(train);
	fundus_train_data_free(val);
	fundus_convert_set_free(set);
	fundus_convert_set_free(vset);
	return status;
}
