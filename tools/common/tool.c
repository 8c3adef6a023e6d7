/* Option handling, messages and exit statuses shared by the programs. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tool.h"

int tool_quiet;
const char *tool_name = "fundus";
static const struct tool_desc *desc;

static const struct tool_opt common_opts[] = {
	{"quiet", TOOL_OPT_QUIET, NULL, "print no progress and no warnings"},
	{"help", TOOL_OPT_HELP, NULL, "print this help and exit"},
	{"version", TOOL_OPT_VERSION, NULL, "print the version and exit"},
	{0},
};

static void log_to_stderr(void *ud, enum fundus_log_level level, const char *msg)
{
	(void)ud;
	if (level >= FUNDUS_LOG_WARN && tool_quiet)
		return;
	tool_progress_end();
	fprintf(stderr, "%s: %s%s\n", tool_name, level == FUNDUS_LOG_WARN ? "warning: " : "",
		msg);
}

/* Standard output is where the data goes: a failed close means lost data. */
static void close_stdout(void)
{
	int bad = ferror(stdout);

	if (fclose(stdout) != 0 || bad) {
		int e = errno;

		/* A reader that went away (head, jq -n) is not our failure. */
		if (e == EPIPE)
			_exit(TOOL_EXIT_FAIL);
		fprintf(stderr, "%s: cannot write to standard output: %s\n", tool_name,
			bad ? "write error" : strerror(e));
		_exit(TOOL_EXIT_FAIL);
	}
}

void tool_init(const struct tool_desc *d)
{
	desc = d;
	tool_name = d->name;
	fundus_log_set(log_to_stderr, NULL, FUNDUS_LOG_WARN);
	atexit(close_stdout);
}

static void help_opts(FILE *f, const struct tool_opt *o)
{
	for (; o && o->name; o++) {
		char left[64];

		if (o->key > 0 && o->key < 256)
			snprintf(left, sizeof left, "-%c, --%s%s%s", o->key, o->name,
				 o->arg ? " " : "", o->arg ? o->arg : "");
		else
			snprintf(left, sizeof left, "    --%s%s%s", o->name, o->arg ? " " : "",
				 o->arg ? o->arg : "");
		if (strlen(left) > 24)
			fprintf(f, "  %s\n  %-24s  %s\n", left, "", o->help);
		else
			fprintf(f, "  %-24s  %s\n", left, o->help);
	}
}

void tool_help(FILE *f)
{
	fprintf(f, "Usage: %s %s\n%s\n\nOptions:\n", desc->name, desc->usage, desc->summary);
	help_opts(f, desc->opts);
	help_opts(f, common_opts);
	if (desc->more)
		fprintf(f, "\n%s", desc->more);
	fprintf(f, "\nExit status: 0 done, 1 failed, 2 misuse.\nSee %s(1).\n", desc->name);
}

/* Builds the getopt_long tables from the program's table and the common one. */
static void build_tables(struct option *lo, char *so, size_t max)
{
	size_t n = 0, s = 0;
	const struct tool_opt *lists[2] = {desc->opts, common_opts};

	so[s++] = ':';
	for (int l = 0; l < 2; l++) {
		for (const struct tool_opt *o = lists[l]; o && o->name && n + 1 < max; o++) {
			lo[n].name = o->name;
			lo[n].has_arg = o->arg ? required_argument : no_argument;
			lo[n].flag = NULL;
			lo[n].val = o->key;
			n++;
			if (o->key > 0 && o->key < 256) {
				so[s++] = (char)o->key;
				if (o->arg)
					so[s++] = ':';
			}
		}
	}
	memset(&lo[n], 0, sizeof lo[n]);
	so[s] = '\0';
}

/*
 * Exits 2 for the option getopt_long refused. For a long option, arg is
 * the word it read ("--name" or "--name=value"); getopt_long sets optopt
 * to the option's key when the option exists but takes no argument, and
 * to 0 when the name is unknown or an ambiguous abbreviation.
 */
_Noreturn static void bad_option(const struct option *lo, const char *arg)
{
	if (strncmp(arg, "--", 2) == 0) {
		size_t n = strcspn(arg + 2, "=");
		const struct option *hit = NULL;
		int matches = 0;

		for (const struct option *o = lo; o->name; o++) {
			if (strncmp(o->name, arg + 2, n) != 0)
				continue;
			if (strlen(o->name) == n) {
				hit = o;
				matches = 1;
				break;
			}
			hit = o;
			matches++;
		}
		if (matches == 1 && optopt != 0 && optopt == hit->val)
			tool_usage_error("option '--%s' takes no argument", hit->name);
		if (optopt == 0 && matches > 1)
			tool_usage_error("option '%.*s' is ambiguous", (int)n + 2, arg);
		if (optopt == 0)
			tool_usage_error("unknown option '%s'", arg);
	}
	/* A short option; keys past 255 belong to long options only. */
	if (optopt > 0 && optopt < 256)
		tool_usage_error("unknown option '-%c'", optopt);
	tool_usage_error("unknown option '%s'", arg);
}

int tool_getopt(int argc, char **argv)
{
	static struct option lo[128];
	static char so[256];
	static int built;
	int c;

	if (!built) {
		build_tables(lo, so, sizeof lo / sizeof lo[0]);
		built = 1;
	}
	opterr = 0;
	c = getopt_long(argc, argv, so, lo, NULL);
	switch (c) {
	case TOOL_OPT_HELP:
		tool_help(stdout);
		exit(TOOL_EXIT_OK);
	case TOOL_OPT_VERSION:
		printf("%s (fundus) %s\n", desc->name, fundus_version());
		exit(TOOL_EXIT_OK);
	case TOOL_OPT_QUIET:
		tool_quiet = 1;
		return tool_getopt(argc, argv);
	case ':':
		tool_usage_error("option '%s' needs an argument", argv[optind - 1]);
	case '?': bad_option(lo, argv[optind - 1]);
	}
	return c;
}

static void vmsg(const char *prefix, const char *fmt, va_list ap)
{
	tool_progress_end();
	fprintf(stderr, "%s: %s", tool_name, prefix);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void tool_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg("", fmt, ap);
	va_end(ap);
}

void tool_warn(const char *fmt, ...)
{
	va_list ap;

	if (tool_quiet)
		return;
	va_start(ap, fmt);
	vmsg("warning: ", fmt, ap);
	va_end(ap);
}

void tool_die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg("", fmt, ap);
	va_end(ap);
	exit(TOOL_EXIT_FAIL);
}

void tool_usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg("", fmt, ap);
	va_end(ap);
	fprintf(stderr, "Try '%s --help' for more information.\n", tool_name);
	exit(TOOL_EXIT_USAGE);
}

void tool_lib_error(const char *what, const char *path)
{
	const char *why = fundus_errmsg();

	if (why[0] == '\0')
		why = "unknown error";
	if (path)
		tool_error("%s '%s': %s", what, path, why);
	else
		tool_error("%s: %s", what, why);
}

long tool_parse_long(const char *s, const char *opt, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (end == s || *end != '\0' || errno == ERANGE)
		tool_usage_error("%s: '%s' is not a whole number", opt, s);
	if (v < min || v > max)
		tool_usage_error("%s: %ld is out of range (%ld to %ld)", opt, v, min, max);
	return v;
}

double tool_parse_double(const char *s, const char *opt, double min, double max)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || *end != '\0' || errno == ERANGE || !isfinite(v))
		tool_usage_error("%s: '%s' is not a number", opt, s);
	if (v < min || v > max)
		tool_usage_error("%s: %g is out of range (%g to %g)", opt, v, min, max);
	return v;
}

unsigned long long tool_parse_u64(const char *s, const char *opt)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	/* strtoull takes "-1" (after any spaces) as 2^64 - 1. */
	if (end == s || *end != '\0' || errno == ERANGE || strchr(s, '-'))
		tool_usage_error("%s: '%s' is not a whole number from 0 to 2^64-1", opt, s);
	return v;
}

FILE *tool_open_out(const char *path)
{
	FILE *f;

	if (strcmp(path, "-") == 0)
		return stdout;
	f = fopen(path, "w");
	if (f == NULL)
		tool_die("cannot open '%s': %s", path, strerror(errno));
	return f;
}
