/*
 * fundus-annotate-tui: annotate fundus photographs in a terminal, alone or
 * with others, in a workspace folder.
 *
 *   fundus-annotate-tui init WS --label optic_disc:yellow:d --question gradable:yesno
 *   fundus-annotate-tui add WS records.jsonl
 *   fundus-annotate-tui add WS --predictions detections.jsonl
 *   fundus-annotate-tui WS                      (annotate, as $USER)
 *   fundus-annotate-tui export WS --report agreement.json > annotations.jsonl
 *
 * The workspace, journals, claims and export are library code
 * (fundus/workspace.h); the screen is ui.c, draw.c and picture.c.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fundus/file.h"
#include "fundus/fundus.h"
#include "fundus/workspace.h"
#include "tool.h"
#include "ui.h"

enum {
	OPT_USER = 'u',
	OPT_LABEL = 'l',
	OPT_OUTPUT = 'o',
	OPT_QUESTION = 256,
	OPT_OVERLAP,
	OPT_ORDER,
	OPT_SEED,
	OPT_CLAIM_MINUTES,
	OPT_PREDICTIONS,
	OPT_REPORT,
	OPT_MIN_ANNOTATORS,
	OPT_MIN_VOTES,
	OPT_IOU,
	OPT_COLOUR,
	OPT_NO_MOUSE,
};

static const struct tool_opt opts[] = {
    {"user", OPT_USER, "NAME", "annotate as NAME (default: $USER)"},
    {"colour", OPT_COLOUR, "MODE", "picture colours: auto, truecolor, 256 or ascii"},
    {"no-mouse", OPT_NO_MOUSE, NULL, "leave the mouse to the terminal (copy and paste)"},
    {"label", OPT_LABEL, "SPEC", "init: a label NAME[:COLOUR][:KEY] (repeat; default optic_disc)"},
    {"question", OPT_QUESTION, "SPEC", "init: a question ID:TYPE[:CHOICES][:box] (repeat)"},
    {"overlap", OPT_OVERLAP, "K", "init: annotators per image (default 1)"},
    {"order", OPT_ORDER, "ORDER", "init: sequential, shuffle or active (default sequential)"},
    {"seed", OPT_SEED, "N", "init: the seed of the shuffled order (default 1)"},
    {"claim-minutes", OPT_CLAIM_MINUTES, "M", "init: an idle claim lapses after M minutes (30)"},
    {"predictions", OPT_PREDICTIONS, NULL, "add: the files are predictions (proposals)"},
    {"output", OPT_OUTPUT, "FILE", "export: write the records to FILE (default stdout)"},
    {"report", OPT_REPORT, "FILE", "export: write the agreement report to FILE"},
    {"min-annotators", OPT_MIN_ANNOTATORS, "N", "export: images done by N or more (default 1)"},
    {"min-votes", OPT_MIN_VOTES, "N", "export: keep boxes drawn by N (default: half)"},
    {"iou", OPT_IOU, "X", "export: boxes overlapping this much are one (default 0.5)"},
    {0},
};

static const struct tool_desc desc = {
    "fundus-annotate-tui",
    "[COMMAND] WORKSPACE [FILE]...",
    "Annotate fundus photographs in a terminal: boxes and questions, several annotators.\n"
    "Commands: init (make a workspace), add (images or predictions), annotate (the\n"
    "default), export (consensus records and agreement), report (agreement only).",
    opts,
    "Examples:\n"
    "  fundus-annotate-tui init eyes.ws --label optic_disc:yellow:d \\\n"
    "      --question gradable:yesno --question quality:choice:good,fair,poor\n"
    "  fundus-synth -n 50 -o img > photos.jsonl\n"
    "  fundus-annotate-tui add eyes.ws photos.jsonl\n"
    "  fundus-annotate-tui eyes.ws                      # annotate as $USER\n"
    "  fundus-annotate-tui export eyes.ws --report agreement.json > annotated.jsonl\n",
};

struct cli {
	const char *user;
	enum colour_mode colour;
	int no_mouse;
	const char *labels[FUNDUS_WORKSPACE_MAX_LABELS + 1];
	int n_labels;
	const char *questions[FUNDUS_WORKSPACE_MAX_QUESTIONS + 1];
	int n_questions;
	int overlap, claim_minutes, order, have_seed, predictions;
	uint64_t seed;
	const char *output, *report;
	struct fundus_export_options ex;
	int have_ex;
};

/* init: makes a workspace. */
static int cmd_init(const struct cli *c, const char *dir)
{
	struct fundus_workspace_config *cfg;
	const char *clash_label;
	int clash;

	if (fundus_workspace_config_new(&cfg) < 0)
		tool_die("out of memory");
	if (c->n_labels == 0 && fundus_workspace_config_add_label(cfg, "optic_disc:yellow:d") < 0)
		tool_die("out of memory");
	for (int i = 0; i < c->n_labels; i++)
		if (fundus_workspace_config_add_label(cfg, c->labels[i]) < 0)
			tool_usage_error("--label: %s", fundus_errmsg());
	for (int i = 0; i < c->n_questions; i++)
		if (fundus_workspace_config_add_question(cfg, c->questions[i]) < 0)
			tool_usage_error("--question: %s", fundus_errmsg());
	if ((clash = ui_key_clash(cfg, &clash_label)) != 0)
		tool_usage_error("--label: '%s': the key '%c' is one of the program's own (%s)",
				 clash_label, clash, UI_RESERVED_KEYS);
	if (c->overlap)
		cfg->overlap = c->overlap;
	if (c->claim_minutes)
		cfg->claim_minutes = c->claim_minutes;
	if (c->order >= 0)
		cfg->order = (enum fundus_order)c->order;
	if (c->have_seed)
		cfg->seed = c->seed;
	if (fundus_workspace_create(dir, cfg) < 0) {
		tool_lib_error("cannot make workspace", dir);
		fundus_workspace_config_free(cfg);
		return TOOL_EXIT_FAIL;
	}
	fundus_workspace_config_free(cfg);
	return TOOL_EXIT_OK;
}

/* add: images or predictions, from files or standard input. */
static int cmd_add(const struct cli *c, const char *dir, char **files, int n)
{
	struct fundus_workspace *ws;
	int failed = 0;

	if (fundus_workspace_open(&ws, dir) < 0) {
		tool_lib_error("cannot open workspace", dir);
		return TOOL_EXIT_FAIL;
	}
	for (int i = 0; i < n; i++) {
		size_t added = 0, dups = 0;
		int rc = fundus_workspace_add(ws, files[i], c->predictions, &added, &dups);

		if (rc < 0) {
			tool_lib_error("cannot add", files[i]);
			failed = 1;
		}
		if (!tool_quiet)
			fprintf(stderr, "%s: %s: %zu %s added%s", tool_name, files[i], added,
				c->predictions ? "predictions" : "images", dups ? "" : "\n");
		if (!tool_quiet && dups)
			fprintf(stderr, ", %zu already there\n", dups);
	}
	fundus_workspace_close(ws);
	return failed ? TOOL_EXIT_FAIL : TOOL_EXIT_OK;
}

/* Writes a report as indented JSON to path ("-": stdout). */
static int write_report(const cJSON *rep, const char *path)
{
	char *text = cJSON_Print(rep);
	FILE *f;
	int ok;

	if (text == NULL)
		tool_die("out of memory");
	f = tool_open_out(path);
	ok = fputs(text, f) >= 0 && fputc('\n', f) != EOF;
	cJSON_free(text);
	if (f != stdout)
		ok = fclose(f) == 0 && ok;
	if (!ok)
		tool_error("cannot write '%s': %s", path, strerror(errno));
	return ok ? 0 : -1;
}

/* export and report. */
static int cmd_export(const struct cli *c, const char *dir, int records)
{
	struct fundus_workspace *ws;
	cJSON *rep = NULL;
	FILE *out = NULL;
	int status = TOOL_EXIT_OK;

	if (fundus_workspace_open(&ws, dir) < 0) {
		tool_lib_error("cannot open workspace", dir);
		return TOOL_EXIT_FAIL;
	}
	if (records)
		out = tool_open_out(c->output ? c->output : "-");
	if (fundus_workspace_export(ws, &c->ex, out, records && !c->report ? NULL : &rep) < 0) {
		/* A failed write is the output's, not the workspace's (see fundus_workspace_export()). */
		if (out && strncmp(fundus_errmsg(), "write failed", 12) == 0)
			tool_lib_error("cannot write", c->output ? c->output : "-");
		else
			tool_lib_error("cannot export", dir);
		status = TOOL_EXIT_FAIL;
	}
	if (out && out != stdout && fclose(out) != 0) {
		tool_error("cannot write '%s': %s", c->output, strerror(errno));
		status = TOOL_EXIT_FAIL;
	}
	if (rep && write_report(rep, records ? c->report : "-") < 0)
		status = TOOL_EXIT_FAIL;
	cJSON_Delete(rep);
	fundus_workspace_close(ws);
	return status;
}

/* annotate: the screen. */
static int cmd_annotate(const struct cli *c, const char *dir)
{
	struct ui_options o;
	const char *user = c->user ? c->user : getenv("USER");

	if (user == NULL || user[0] == '\0')
		user = getenv("LOGNAME");
	if (user == NULL || user[0] == '\0')
		tool_usage_error("who is annotating? give --user NAME (no $USER is set)");
	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))
		tool_usage_error("annotating needs a terminal (standard input and output)");
	memset(&o, 0, sizeof o);
	o.workspace = dir;
	o.name = user;
	o.colour = c->colour;
	o.mouse = !c->no_mouse;
	return ui_run(&o);
}

/* Rejects options that the command does not take. */
static void only(const char *cmd, int ok, const char *opt)
{
	if (!ok)
		tool_usage_error("%s does not go with %s", opt, cmd);
}

int main(int argc, char **argv)
{
	static const char *const orders[] = {"sequential", "shuffle", "active"};
	struct cli c;
	const char *cmd = "annotate";
	int ch, first, is_init, is_add, is_export, is_report, is_annotate;

	tool_init(&desc);
	memset(&c, 0, sizeof c);
	c.order = -1;
	fundus_export_options_default(&c.ex);
	while ((ch = tool_getopt(argc, argv)) != -1) {
		switch (ch) {
		case OPT_USER: c.user = optarg; break;
		case OPT_COLOUR:
			if (strcmp(optarg, "auto") == 0)
				c.colour = COLOUR_AUTO;
			else if (strcmp(optarg, "truecolor") == 0 || strcmp(optarg, "24bit") == 0)
				c.colour = COLOUR_TRUE;
			else if (strcmp(optarg, "256") == 0)
				c.colour = COLOUR_256;
			else if (strcmp(optarg, "ascii") == 0)
				c.colour = COLOUR_ASCII;
			else
				tool_usage_error(
				    "--colour: '%s': expected auto, truecolor, 256 or ascii",
				    optarg);
			break;
		case OPT_NO_MOUSE: c.no_mouse = 1; break;
		case OPT_LABEL:
			if (c.n_labels == FUNDUS_WORKSPACE_MAX_LABELS)
				tool_usage_error("--label: more than %d labels",
						 FUNDUS_WORKSPACE_MAX_LABELS);
			c.labels[c.n_labels++] = optarg;
			break;
		case OPT_QUESTION:
			if (c.n_questions == FUNDUS_WORKSPACE_MAX_QUESTIONS)
				tool_usage_error("--question: more than %d questions",
						 FUNDUS_WORKSPACE_MAX_QUESTIONS);
			c.questions[c.n_questions++] = optarg;
			break;
		case OPT_OVERLAP:
			c.overlap = (int)tool_parse_long(optarg, "--overlap", 1, 64);
			break;
		case OPT_CLAIM_MINUTES:
			c.claim_minutes =
			    (int)tool_parse_long(optarg, "--claim-minutes", 1, 100000);
			break;
		case OPT_ORDER:
			for (c.order = 0; c.order < 3; c.order++)
				if (strcmp(optarg, orders[c.order]) == 0)
					break;
			if (c.order == 3)
				tool_usage_error(
				    "--order: '%s': expected sequential, shuffle or active",
				    optarg);
			break;
		case OPT_SEED:
			c.seed = tool_parse_u64(optarg, "--seed");
			if (c.seed > (UINT64_C(1) << 53) - 1)
				tool_usage_error("--seed: '%s' is out of range (0 to 2^53-1)",
						 optarg);
			c.have_seed = 1;
			break;
		case OPT_PREDICTIONS: c.predictions = 1; break;
		case OPT_OUTPUT: c.output = optarg; break;
		case OPT_REPORT: c.report = optarg; break;
		case OPT_MIN_ANNOTATORS:
			c.ex.min_annotators =
			    (int)tool_parse_long(optarg, "--min-annotators", 1, 64);
			c.have_ex = 1;
			break;
		case OPT_MIN_VOTES:
			c.ex.min_votes = (int)tool_parse_long(optarg, "--min-votes", 1, 64);
			c.have_ex = 1;
			break;
		case OPT_IOU:
			c.ex.iou = tool_parse_double(optarg, "--iou", 0.01, 1);
			c.have_ex = 1;
			break;
		}
	}
	first = optind;
	if (first < argc &&
	    (strcmp(argv[first], "init") == 0 || strcmp(argv[first], "add") == 0 ||
	     strcmp(argv[first], "export") == 0 || strcmp(argv[first], "report") == 0 ||
	     strcmp(argv[first], "annotate") == 0))
		cmd = argv[first++];
	if (first == argc)
		tool_usage_error("no workspace given");
	is_init = strcmp(cmd, "init") == 0;
	is_add = strcmp(cmd, "add") == 0;
	is_export = strcmp(cmd, "export") == 0;
	is_report = strcmp(cmd, "report") == 0;
	is_annotate = strcmp(cmd, "annotate") == 0;
	only(cmd, is_annotate || (!c.user && !c.colour && !c.no_mouse),
	     "--user, --colour, --no-mouse");
	only(cmd,
	     is_init || (!c.n_labels && !c.n_questions && !c.overlap && c.order < 0 &&
			 !c.have_seed && !c.claim_minutes),
	     "--label, --question, --overlap, --order, --seed, --claim-minutes");
	only(cmd, is_add || !c.predictions, "--predictions");
	only(cmd, is_export || (!c.output && !c.report), "--output, --report");
	only(cmd, is_export || is_report || !c.have_ex, "--min-annotators, --min-votes, --iou");
	if (!is_add && argc - first > 1)
		tool_usage_error("%s takes one workspace, not '%s'", cmd, argv[first + 1]);
	if (is_add && argc - first < 2)
		tool_usage_error("add: no record file given (use - for standard input)");
	if (is_init)
		return cmd_init(&c, argv[first]);
	if (is_add)
		return cmd_add(&c, argv[first], argv + first + 1, argc - first - 1);
	if (is_export || is_report)
		return cmd_export(&c, argv[first], is_export);
	return cmd_annotate(&c, argv[first]);
}
