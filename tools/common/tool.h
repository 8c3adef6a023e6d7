/*
 * tool.h: what the fundus programs share and the library does not need:
 * option tables, --help and --version, messages, exit statuses, progress on
 * a terminal, and the checked close of standard output.
 *
 * Conventions (every man page repeats the exit statuses):
 *   0  done; 1  failed (some input could not be processed); 2  misuse.
 *   Data on stdout, diagnostics on stderr: "prog: what failed: why".
 *   --help prints to stdout and exits 0; --version likewise.
 *   "-" means standard input or output.
 *
 * A program describes its options once, in a table that gives getopt_long
 * its options and --help its text; test/shell/man_pages.sh checks that
 * the man page documents the same options.
 */
#ifndef FUNDUS_TOOL_H
#define FUNDUS_TOOL_H

#include <getopt.h>
#include <stdio.h>

#include "fundus/convert.h"
#include "fundus/core.h"

enum {
	TOOL_EXIT_OK = 0,
	TOOL_EXIT_FAIL = 1,
	TOOL_EXIT_USAGE = 2,
};

struct tool_opt {
	const char *name; /* long name, without "--" */
	int key;          /* short letter, or a value >= 256 for a long-only option */
	const char *arg;  /* argument name for --help ("N", "FILE"), NULL for a flag */
	const char *help; /* one line */
};

struct tool_desc {
	const char *name;     /* "fundus-synth" */
	const char *usage;    /* "[OPTION]... [FILE]..." */
	const char *summary;  /* one sentence: what the program does */
	const struct tool_opt *opts; /* ends with a zeroed entry; --help, --version and
					--quiet are added by tool_getopt() */
	const char *more;     /* text after the options (examples), or NULL */
};

/* Key values of the options every program has. */
enum { TOOL_OPT_HELP = 'h', TOOL_OPT_VERSION = 'V', TOOL_OPT_QUIET = 'q' };

/* Set by tool_getopt() on --quiet. */
extern int tool_quiet;
/* The program's name, for messages. */
extern const char *tool_name;

/*
 * Starts a program: remembers its description, makes library warnings go
 * to stderr as "prog: warning: ...", and arranges for standard output to be
 * closed and checked at exit (a full disk or a closed pipe exits 1 with a
 * message instead of losing data in silence).
 */
void tool_init(const struct tool_desc *desc);

/*
 * Returns the next option's key (and sets optarg) like getopt_long, or -1
 * at the end. Handles --help, --version and unknown options itself:
 * --help and --version exit 0, misuse exits 2.
 */
int tool_getopt(int argc, char **argv);

/* Prints --help to f. */
void tool_help(FILE *f);

/* "prog: <message>" on stderr. */
void tool_error(const char *fmt, ...) FUNDUS_PRINTF(1, 2);
/* "prog: warning: <message>" on stderr, unless --quiet. */
void tool_warn(const char *fmt, ...) FUNDUS_PRINTF(1, 2);
/* "prog: <message>", then exit 1. */
_Noreturn void tool_die(const char *fmt, ...) FUNDUS_PRINTF(1, 2);
/* "prog: <message>" and "Try 'prog --help' for more information.", then exit 2. */
_Noreturn void tool_usage_error(const char *fmt, ...) FUNDUS_PRINTF(1, 2);

/*
 * Reports a failed library call: "prog: <what> '<path>': <fundus_errmsg()>",
 * for example "fundus-synth: cannot write 'a.png': No space left on device".
 * path may be NULL.
 */
void tool_lib_error(const char *what, const char *path);

/*
 * Parses an option argument, or exits 2 with a message naming the option:
 * a whole number in [min, max], a finite number in [min, max].
 */
long tool_parse_long(const char *s, const char *opt, long min, long max);
double tool_parse_double(const char *s, const char *opt, double min, double max);
unsigned long long tool_parse_u64(const char *s, const char *opt);

/*
 * Opens path for writing ("-" is stdout, which is returned as is);
 * exits 1 with a message when it cannot.
 */
FILE *tool_open_out(const char *path);

/*
 * Progress on stderr, drawn only when stderr is a terminal and --quiet is
 * off: one line, redrawn at most ten times a second. tool_progress()
 * returns NULL when nothing should be drawn, so it can be passed straight
 * to a library call. tool_progress_end() clears the line.
 */
const struct fundus_progress *tool_progress(void);
void tool_progress_end(void);

/*
 * Annotation inputs (tools/common/input.c). tool_input_format() gives the
 * format of path: given, else recognised from the content; "-" is records.
 * tool_read_input() reads path in format f into set (records line by
 * line, every bad line reported; other formats through
 * fundus_convert_read() with o). Both return 0, or -1 after a message.
 */
/*
 * Reads the record stream path ("-": standard input) line by line, giving
 * each good record to fn, which then owns it, and reporting each bad line
 * ("'a.jsonl': line 7: ..."). fn returns 0 or a negative FUNDUS_E... code,
 * which stops the reading. Returns the number of bad lines, or -1 after a
 * message when the file could not be read or fn failed.
 */
long tool_each_record(const char *path, int (*fn)(struct fundus_record *r, void *ctx),
		      void *ctx);
int tool_input_format(const char *path, enum fundus_convert_format given,
		      enum fundus_convert_format *out);
int tool_read_input(const char *path, enum fundus_convert_format f,
		    const struct fundus_convert_options *o, struct fundus_convert_set *set,
		    struct fundus_convert_labels **labels_out);

#endif
