/*
 * fundus-synth: make synthetic colour fundus photographs with known disc
 * boxes, for demos and tests.
 *
 * Image i of a run is made from fundus_synth_seed(seed, i) alone, so a run
 * split across processes with --start gives the very same files as one
 * run, and any image can be made again on its own. Each image is written
 * atomically and its record printed as soon as it is on disk. The first
 * image that cannot be made or written stops the run (exit 1): what follows
 * would fail the same way (a full disk, a folder that is not writable), and
 * the records printed so far describe files that exist.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fundus/fundus.h"
#include "tool.h"

#define MAX_SEED  ((UINT64_C(1) << 53) - 1)
#define SHEET_MAX 200 /* images on a contact sheet at most */

enum {
	OPT_COUNT = 'n',
	OPT_OUTPUT = 'o',
	OPT_SEED = 's',
	OPT_FORMAT = 'f',
	OPT_THREADS = 'j',
	OPT_START = 256,
	OPT_SIZE,
	OPT_MAX_WIDTH,
	OPT_QUALITY,
	OPT_EYE,
	OPT_FRAMING,
	OPT_LESIONS,
	OPT_POOR,
	OPT_RECORDS,
	OPT_SHEET,
	OPT_SHEET_WIDTH,
	OPT_SHEET_COLUMNS,
	OPT_NO_BOXES,
};

static const struct tool_opt opts[] = {
    {"count", OPT_COUNT, "N", "make N photographs (required)"},
    {"output", OPT_OUTPUT, "DIR", "write them into DIR, created if missing (required)"},
    {"seed", OPT_SEED, "N", "seed of the run, 0 to 2^53-1 (default 1)"},
    {"start", OPT_START, "I", "index of the first photograph (default 0)"},
    {"size", OPT_SIZE, "WxH", "image size, or 'random' (default: a real camera's size)"},
    {"max-width", OPT_MAX_WIDTH, "N", "with random sizes, only those at most N pixels wide"},
    {"format", OPT_FORMAT, "FMT", "jpeg (default), png or tiff"},
    {"quality", OPT_QUALITY, "Q", "JPEG quality 1 to 100 (default: 75 to 95, per image)"},
    {"eye", OPT_EYE, "EYE", "L, R or random (default)"},
    {"framing", OPT_FRAMING, "F", "macula, disc, pole or random (default)"},
    {"lesions", OPT_LESIONS, "P", "probability that a photograph shows lesions (default 0.3)"},
    {"poor", OPT_POOR, "P",
     "probability of a poor photograph: dim, dark, hazy, over-exposed, blurred (default 0.25)"},
    {"threads", OPT_THREADS, "N", "threads to paint with; 0 (default) for every core"},
    {"records", OPT_RECORDS, "FILE", "write the records to FILE (atomically) instead of stdout"},
    {"sheet", OPT_SHEET, "FILE", "also make a contact sheet (PNG or JPEG) of the photographs"},
    {"sheet-width", OPT_SHEET_WIDTH, "N", "width of the contact sheet in pixels (default 1600)"},
    {"sheet-columns", OPT_SHEET_COLUMNS, "N", "thumbnails per row of the sheet (default 6)"},
    {"no-boxes", OPT_NO_BOXES, NULL, "draw no disc boxes on the contact sheet"},
    {0},
};

static const struct tool_desc desc = {
    "fundus-synth",
    "[OPTION]... -n N -o DIR",
    "Make N synthetic fundus photographs with known optic-disc boxes in DIR, and print\n"
    "one record per photograph (JSON Lines).",
    opts,
    "Examples:\n"
    "  fundus-synth -n 100 -o synth > synth.jsonl\n"
    "  fundus-synth -n 100 --start 100 -o synth > part2.jsonl   # images 100 to 199\n"
    "  fundus-synth -n 24 --max-width 1500 -o demo --sheet sheet.png > /dev/null\n",
};

/* What the command line asked for. */
struct run {
	unsigned long long count, seed, start;
	const char *dir, *records, *sheet;
	enum fundus_image_type type;
	const char *ext, *format;
	int quality; /* 0: random per image */
	int threads;
	int sheet_width, sheet_columns, boxes;
	struct fundus_synth_params params;
};

/* A contact sheet: thumbnails in a grid, filled as the photographs are made. */
struct sheet {
	struct fundus_sheet *sh;
	int max, n, boxes, line;
};

/* Parses "WxH"; exits 2 with a message on anything else. */
static void parse_size(const char *s, int *w, int *h)
{
	char *end;
	long a, b;

	if (strcmp(s, "random") == 0) {
		*w = *h = 0;
		return;
	}
	errno = 0;
	a = strtol(s, &end, 10);
	if (end == s || (*end != 'x' && *end != 'X'))
		goto bad;
	s = end + 1;
	b = strtol(s, &end, 10);
	if (end == s || *end != '\0' || errno == ERANGE)
		goto bad;
	if (a < 32 || a > 16384 || b < 32 || b > 16384)
		tool_usage_error("--size: %ldx%ld is out of range (32 to 16384 each)", a, b);
	*w = (int)a;
	*h = (int)b;
	return;
bad:
	tool_usage_error("--size: '%s' is not WIDTHxHEIGHT (such as 1500x1152) or 'random'", s);
}

static void parse_format(struct run *r, const char *s)
{
	if (strcasecmp(s, "jpeg") == 0 || strcasecmp(s, "jpg") == 0) {
		r->type = FUNDUS_IMAGE_JPEG;
		r->ext = "jpg";
		r->format = "jpeg";
	} else if (strcasecmp(s, "png") == 0) {
		r->type = FUNDUS_IMAGE_PNG;
		r->ext = "png";
		r->format = "png";
	} else if (strcasecmp(s, "tiff") == 0 || strcasecmp(s, "tif") == 0) {
		r->type = FUNDUS_IMAGE_TIFF;
		r->ext = "tif";
		r->format = "tiff";
	} else {
		tool_usage_error("--format: '%s' is not jpeg, png or tiff", s);
	}
}

static void parse_args(struct run *r, int argc, char **argv)
{
	int c, have_count = 0;

	memset(r, 0, sizeof *r);
	fundus_synth_params_default(&r->params);
	r->seed = 1;
	r->sheet_width = 1600;
	r->sheet_columns = 6;
	r->boxes = 1;
	parse_format(r, "jpeg");
	while ((c = tool_getopt(argc, argv)) != -1) {
		switch (c) {
		case OPT_COUNT:
			r->count =
			    (unsigned long long)tool_parse_long(optarg, "--count", 0, 100000000);
			have_count = 1;
			break;
		case OPT_OUTPUT: r->dir = optarg; break;
		case OPT_SEED:
			r->seed = tool_parse_u64(optarg, "--seed");
			if (r->seed > MAX_SEED)
				tool_usage_error(
				    "--seed: %s is more than 2^53-1 (9007199254740991)", optarg);
			break;
		case OPT_START:
			r->start = tool_parse_u64(optarg, "--start");
			if (r->start > MAX_SEED)
				tool_usage_error(
				    "--start: %s is more than 2^53-1 (9007199254740991)", optarg);
			break;
		case OPT_SIZE: parse_size(optarg, &r->params.width, &r->params.height); break;
		case OPT_MAX_WIDTH:
			r->params.max_width =
			    (int)tool_parse_long(optarg, "--max-width", 565, 100000);
			break;
		case OPT_FORMAT: parse_format(r, optarg); break;
		case OPT_QUALITY:
			r->quality = (int)tool_parse_long(optarg, "--quality", 1, 100);
			break;
		case OPT_EYE:
			if (strcasecmp(optarg, "L") == 0 || strcasecmp(optarg, "left") == 0)
				r->params.eye = 'L';
			else if (strcasecmp(optarg, "R") == 0 || strcasecmp(optarg, "right") == 0)
				r->params.eye = 'R';
			else if (strcasecmp(optarg, "random") == 0)
				r->params.eye = 0;
			else
				tool_usage_error("--eye: '%s' is not L, R or random", optarg);
			break;
		case OPT_FRAMING:
			if (strcasecmp(optarg, "macula") == 0)
				r->params.framing = FUNDUS_SYNTH_FRAMING_MACULA;
			else if (strcasecmp(optarg, "disc") == 0)
				r->params.framing = FUNDUS_SYNTH_FRAMING_DISC;
			else if (strcasecmp(optarg, "pole") == 0)
				r->params.framing = FUNDUS_SYNTH_FRAMING_POLE;
			else if (strcasecmp(optarg, "random") == 0)
				r->params.framing = FUNDUS_SYNTH_FRAMING_RANDOM;
			else
				tool_usage_error(
				    "--framing: '%s' is not macula, disc, pole or random", optarg);
			break;
		case OPT_LESIONS:
			r->params.lesions = tool_parse_double(optarg, "--lesions", 0, 1);
			break;
		case OPT_POOR: r->params.poor = tool_parse_double(optarg, "--poor", 0, 1); break;
		case OPT_THREADS:
			r->threads = (int)tool_parse_long(optarg, "--threads", 0, 1024);
			break;
		case OPT_RECORDS:
			/* "-" is standard output, which is where records go anyway. */
			r->records = strcmp(optarg, "-") == 0 ? NULL : optarg;
			break;
		case OPT_SHEET: r->sheet = optarg; break;
		case OPT_SHEET_WIDTH:
			r->sheet_width = (int)tool_parse_long(optarg, "--sheet-width", 200, 16384);
			break;
		case OPT_SHEET_COLUMNS:
			r->sheet_columns = (int)tool_parse_long(optarg, "--sheet-columns", 1, 100);
			break;
		case OPT_NO_BOXES: r->boxes = 0; break;
		default: tool_usage_error("unknown option");
		}
	}
	if (optind < argc)
		tool_usage_error("unexpected argument '%s'", argv[optind]);
	if (!have_count)
		tool_usage_error("missing --count (-n): how many photographs to make");
	if (r->dir == NULL)
		tool_usage_error("missing --output (-o): the folder to write them into");
	if (r->count > MAX_SEED - r->start)
		tool_usage_error("--start plus --count must stay below 2^53");
	if (r->sheet && fundus_image_type_from_name(r->sheet) != FUNDUS_IMAGE_PNG &&
	    fundus_image_type_from_name(r->sheet) != FUNDUS_IMAGE_JPEG)
		tool_usage_error("--sheet: '%s' must end in .png or .jpg", r->sheet);
}

static int sheet_new(struct sheet *sh, const struct run *r)
{
	unsigned long long n = r->count < SHEET_MAX ? r->count : SHEET_MAX;
	int cells = n > 0 ? (int)n : 1, cols, tile_w;

	memset(sh, 0, sizeof *sh);
	sh->max = (int)n;
	sh->boxes = r->boxes;
	cols = r->sheet_columns < cells ? r->sheet_columns : cells;
	tile_w = fundus_draw_sheet_fit(r->sheet_width, cols);
	sh->line = tile_w >= 300 ? 2 : 1;
	if (tile_w == 0)
		return fundus_error_set(FUNDUS_EINVAL,
					"%d thumbnails a row do not fit in %d pixels", cols,
					r->sheet_width);
	return fundus_draw_sheet_new(&sh->sh, cells, cols, tile_w, tile_w * 2 / 3, 0);
}

/* Adds a thumbnail of img, with the disc box drawn, to the next cell. */
static int sheet_add(struct sheet *sh, const struct fundus_image *img, const struct fundus_box *b)
{
	static const uint8_t green[3] = {64, 255, 64};
	struct fundus_box at, box;
	double kx, ky;
	int t = sh->line;

	if (sh->n >= sh->max)
		return 0;
	if (fundus_draw_sheet_put(sh->sh, sh->n++, img, NULL, &at) < 0)
		return -1;
	if (!sh->boxes)
		return 0;
	kx = (at.x1 - at.x0) / img->width;
	ky = (at.y1 - at.y0) / img->height;
	/* The outline lies just outside the box, so it hides no disc pixel. */
	box.x0 = at.x0 + floor(b->x0 * kx) - t;
	box.y0 = at.y0 + floor(b->y0 * ky) - t;
	box.x1 = at.x0 + ceil(b->x1 * kx) + t;
	box.y1 = at.y0 + ceil(b->y1 * ky) + t;
	return fundus_draw_rect(fundus_draw_sheet_image(sh->sh), &box, t, green);
}

/* The JPEG quality of one image: chosen, or drawn from its seed. */
static int image_quality(const struct run *r, uint64_t image_seed)
{
	struct fundus_rng rng, q;

	if (r->quality)
		return r->quality;
	fundus_rng_seed(&rng, image_seed);
	q = fundus_rng_split(&rng, 0x71);
	return 75 + (int)fundus_rng_below(&q, 21);
}

int main(int argc, char **argv)
{
	struct run r;
	struct sheet sh = {0};
	struct fundus_pool *pool = NULL;
	struct fundus_atomic_file *af = NULL;
	FILE *rec_out = stdout;
	const struct fundus_progress *prog;
	char *path = NULL;
	size_t path_len;
	int status = TOOL_EXIT_OK;

	tool_init(&desc);
	parse_args(&r, argc, argv);

	if (fundus_mkdir_p(r.dir) < 0) {
		tool_lib_error("cannot create", r.dir);
		return TOOL_EXIT_FAIL;
	}
	if (fundus_pool_new(&pool, r.threads) < 0) {
		tool_lib_error("cannot start threads", NULL);
		return TOOL_EXIT_FAIL;
	}
	r.params.pool = pool;
	if (r.records) {
		if (fundus_atomic_open(&af, r.records) < 0) {
			tool_lib_error("cannot write", r.records);
			fundus_pool_free(pool);
			return TOOL_EXIT_FAIL;
		}
		rec_out = fundus_atomic_stream(af);
	}
	if (r.sheet && sheet_new(&sh, &r) < 0) {
		tool_lib_error("cannot make the contact sheet", r.sheet);
		status = TOOL_EXIT_FAIL;
		goto out;
	}
	path_len = strlen(r.dir) + 64;
	path = malloc(path_len);
	if (path == NULL) {
		tool_error("out of memory");
		status = TOOL_EXIT_FAIL;
		goto out;
	}
	prog = tool_progress();
	for (unsigned long long i = 0; i < r.count; i++) {
		unsigned long long index = r.start + i;
		uint64_t iseed = fundus_synth_seed(r.seed, index);
		struct fundus_image *img = NULL;
		struct fundus_synth_truth truth;
		struct fundus_record *rec = NULL;
		struct fundus_save_options so;
		size_t dl = strlen(r.dir);

		snprintf(path, path_len, "%s%ssynth-%06llu.%s", r.dir,
			 dl > 0 && r.dir[dl - 1] == '/' ? "" : "/", index, r.ext);
		if (fundus_synth_image(&r.params, iseed, &img, &truth) < 0) {
			tool_lib_error("cannot make", path);
			status = TOOL_EXIT_FAIL;
			break;
		}
		fundus_save_options_default(&so);
		so.type = r.type;
		so.quality = image_quality(&r, iseed);
		if (fundus_image_save(img, path, &so) < 0) {
			tool_lib_error("cannot write", path);
			fundus_image_free(img);
			status = TOOL_EXIT_FAIL;
			break;
		}
		if (fundus_synth_record(&truth, path, r.format, r.seed, index, &rec) < 0 ||
		    fundus_record_write(rec_out, rec) < 0) {
			tool_lib_error("cannot write the record of", path);
			fundus_record_free(rec);
			fundus_image_free(img);
			status = TOOL_EXIT_FAIL;
			break;
		}
		fundus_record_free(rec);
		if (r.sheet && sheet_add(&sh, img, &truth.disc_box) < 0) {
			tool_lib_error("cannot make the contact sheet", r.sheet);
			fundus_image_free(img);
			status = TOOL_EXIT_FAIL;
			break;
		}
		fundus_image_free(img);
		fundus_progress_report(prog, "photographs", (int64_t)i + 1, (int64_t)r.count);
	}
	tool_progress_end();
	if (status == TOOL_EXIT_OK && r.sheet &&
	    fundus_image_save(fundus_draw_sheet_image(sh.sh), r.sheet, NULL) < 0) {
		tool_lib_error("cannot write", r.sheet);
		status = TOOL_EXIT_FAIL;
	}
out:
	if (af) {
		/* The records file appears only when every photograph was made. */
		if (status == TOOL_EXIT_OK) {
			if (fundus_atomic_commit(af) < 0) {
				tool_lib_error("cannot write", r.records);
				status = TOOL_EXIT_FAIL;
			}
		} else {
			fundus_atomic_abort(af);
		}
	}
	free(path);
	fundus_draw_sheet_free(sh.sh);
	fundus_pool_free(pool);
	return status;
}
