/* One progress line on stderr, only for a person watching a terminal. */
#include <stdio.h>
#include <unistd.h>

#include "tool.h"

static int drawn;
static double last;

static int draw(void *ud, const char *what, int64_t done, int64_t total)
{
	double t = fundus_now();

	(void)ud;
	if (drawn && t - last < 0.1 && done != total)
		return 0;
	last = t;
	if (total > 0)
		fprintf(stderr, "\r\033[K%s: %s %lld/%lld (%d%%)", tool_name, what, (long long)done,
			(long long)total, (int)(100 * done / total));
	else
		fprintf(stderr, "\r\033[K%s: %s %lld", tool_name, what, (long long)done);
	fflush(stderr);
	drawn = 1;
	return 0;
}

const struct fundus_progress *tool_progress(void)
{
	static const struct fundus_progress p = {draw, NULL};

	if (tool_quiet || !isatty(STDERR_FILENO))
		return NULL;
	return &p;
}

void tool_progress_end(void)
{
	if (drawn) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
		drawn = 0;
	}
}
