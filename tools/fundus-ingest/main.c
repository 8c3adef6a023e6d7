/*
 * fundus-ingest: images of any format a clinic produces into a dataset
 * folder, content-addressed, with one record per image on stdout and in
 * the dataset's index.
 *
 * A thin main over fundus_ingest_run(): it gathers the inputs (arguments,
 * or a list of names on stdin), prints each record as the library reports
 * it, and each failure with the file's name; the exit status is 1 at the
 * end if any file failed.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "fundus/file.h"
#include "fundus/ingest.h"
#include "tool.h"

enum {
	OPT_OUTPUT = 'o',
	OPT_NULL = '0',
	OPT_LONG_SIDE = 's',
	OPT_FORMAT = 'f',
	OPT_THREADS = 'j',
	OPT_QUALITY = 256,
	OPT_KEEP_PHI,
	OPT_MAX_PIXELS,
	OPT_NEW_ONLY,
};

static const struct tool_opt opts[] = {
    {"output", OPT_OUTPUT, "DIR", "the dataset folder, created if missing (required)"},
    {"null", OPT_NULL, NULL, "names read from standard input end with NUL, not newline"},
    {"long-side", OPT_LONG_SIDE, "N", "working copies at most N pixels long (default 4096)"},
    {"format", OPT_FORMAT, "FMT", "working copies as png (default) or jpeg"},
    {"quality", OPT_QUALITY, "Q", "JPEG working copies: quality 1 to 100 (default 95)"},
    {"keep-phi", OPT_KEEP_PHI, NULL,
     "copy fields that identify the patient (name, ID, birth date) into the records"},
    {"new-only", OPT_NEW_ONLY, NULL, "print only the records of images new to the dataset"},
    {"threads", OPT_THREADS, "N", "files decoded at once; 0 (default) for every core"},
    {"max-pixels", OPT_MAX_PIXELS, "N",
     "refuse to decode more than N pixels at once (default 268435456)"},
    {0},
};

static const struct tool_desc desc = {
    "fundus-ingest",
    "[OPTION]... -o DIR [FILE|FOLDER]...",
    "Store images of any format (JPEG, PNG, TIFF, DICOM, whole-slide images) in the dataset\n"
    "folder DIR, named by their content, and print one record per image (JSON Lines).\n"
    "Folders are walked recursively; with no FILE, or with '-', the names are read from\n"
    "standard input, one per line.",
    opts,
    "Examples:\n"
    "  fundus-ingest -o ds clinic/ > new.jsonl\n"
    "  find /mnt/pacs -name '*.dcm' -print0 | fundus-ingest -0 -o ds > dicom.jsonl\n"
    "  fundus-ingest -o ds --long-side 2048 --format jpeg slides/*.svs\n",
};

struct state {
	int new_only;
	int failed_write;
};

/* Prints a record; a failed write of stdout stops the ingest. */
static int on_record(void *ud, const struct fundus_record *r, int added)
{
	struct state *s = ud;

	if (s->new_only && !added)
		return 0;
	if (fundus_record_write(stdout, r) < 0) {
		tool_lib_error("cannot write", "-");
		s->failed_write = 1;
		return 1;
	}
	return 0;
}

static void on_error(void *ud, const char *path, int code, const char *reason)
{
	(void)ud, (void)code;
	tool_progress_end();
	tool_error("cannot ingest '%s': %s", path, reason);
}

static void on_skip(void *ud, const char *path, const char *reason)
{
	(void)ud;
	tool_progress_end();
	tool_warn("skipping '%s': %s", path, reason);
}

/* Splits standard input into names at sep; empty names are dropped. */
static char **read_names(int sep, size_t *n, char **buf)
{
	uint8_t *data;
	size_t len, cap = 0;
	char **names = NULL;

	*n = 0;
	if (fundus_file_read("-", (size_t)1 << 31, &data, &len) < 0) {
		tool_lib_error("cannot read", "-");
		return NULL;
	}
	*buf = (char *)data;
	for (size_t i = 0, start = 0; i <= len; i++) {
		if (i < len && data[i] != sep)
			continue;
		size_t e = i;

		if (sep == '\n' && e > start && data[e - 1] == '\r')
			e--;
		data[e] = '\0';
		if (e > start) {
			if (*n == cap) {
				cap = cap ? cap * 2 : 256;
				names = fundus_realloc(names, cap * sizeof *names);
				if (names == NULL)
					tool_die("out of memory");
			}
			names[(*n)++] = (char *)data + start;
		}
		start = i + 1;
	}
	return names;
}

int main(int argc, char **argv)
{
	struct fundus_ingest_options o;
	struct fundus_ingest_stats st;
	struct state s = {0};
	char **names = NULL, *buf = NULL;
	const char **inputs;
	size_t n = 0, nin = 0;
	int c, sep = '\n', rc, from_stdin = 0;

	tool_init(&desc);
	fundus_ingest_options_default(&o);
	while ((c = tool_getopt(argc, argv)) != -1) {
		switch (c) {
		case OPT_OUTPUT: o.dataset = optarg; break;
		case OPT_NULL: sep = '\0'; break;
		case OPT_LONG_SIDE:
			o.long_side = (int)tool_parse_long(optarg, "--long-side", 1, 200000);
			break;
		case OPT_FORMAT:
			if (strcasecmp(optarg, "png") == 0)
				o.working_type = FUNDUS_IMAGE_PNG;
			else if (strcasecmp(optarg, "jpeg") == 0 || strcasecmp(optarg, "jpg") == 0)
				o.working_type = FUNDUS_IMAGE_JPEG;
			else
				tool_usage_error("--format: '%s' is not png or jpeg", optarg);
			break;
		case OPT_QUALITY:
			o.quality = (int)tool_parse_long(optarg, "--quality", 1, 100);
			break;
		case OPT_KEEP_PHI: o.keep_phi = 1; break;
		case OPT_NEW_ONLY: s.new_only = 1; break;
		case OPT_THREADS:
			o.threads = (int)tool_parse_long(optarg, "--threads", 0, 1024);
			break;
		case OPT_MAX_PIXELS:
			o.limits.max_pixels = tool_parse_long(optarg, "--max-pixels", 1, LONG_MAX);
			break;
		}
	}
	if (o.dataset == NULL)
		tool_usage_error("no dataset folder (-o DIR)");
	for (int i = optind; i < argc; i++)
		from_stdin |= strcmp(argv[i], "-") == 0;
	if (optind == argc)
		from_stdin = 1;
	if (from_stdin)
		names = read_names(sep, &n, &buf);
	if (from_stdin && names == NULL && n == 0 && buf == NULL)
		return TOOL_EXIT_FAIL;
	inputs = fundus_calloc((size_t)(argc - optind) + n + 1, sizeof *inputs);
	if (inputs == NULL)
		tool_die("out of memory");
	for (int i = optind; i < argc; i++) {
		if (strcmp(argv[i], "-") != 0) {
			inputs[nin++] = argv[i];
		} else {
			for (size_t k = 0; k < n; k++)
				inputs[nin++] = names[k];
			n = 0; /* "-" twice reads stdin once */
		}
	}
	for (size_t k = 0; optind == argc && k < n; k++)
		inputs[nin++] = names[k];
	o.on_record = on_record;
	o.on_error = on_error;
	o.on_skip = on_skip;
	o.progress = tool_progress();
	o.ud = &s;
	rc = fundus_ingest_run(&o, inputs, nin, &st);
	tool_progress_end();
	if (rc < 0 && !s.failed_write)
		tool_lib_error("cannot ingest into", o.dataset);
	if (!tool_quiet && isatty(STDERR_FILENO))
		fprintf(stderr,
			"%s: %lld images: %lld added, %lld already there; %lld files failed\n",
			tool_name, (long long)st.images, (long long)st.added,
			(long long)st.existing, (long long)st.failed);
	fundus_free(inputs);
	fundus_free(names);
	fundus_free(buf);
	return rc < 0 || st.failed > 0 ? TOOL_EXIT_FAIL : TOOL_EXIT_OK;
}
