/* The process-wide log callback and the progress helper. */
#include <stdio.h>

#include "fundus/core.h"

static fundus_log_fn log_fn;
static void *log_ud;
static enum fundus_log_level log_max = FUNDUS_LOG_WARN;

void fundus_log_set(fundus_log_fn fn, void *ud, enum fundus_log_level max_level)
{
	log_fn = fn;
	log_ud = ud;
	log_max = max_level;
}

void fundus_log(enum fundus_log_level level, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	if (log_fn == NULL || level > log_max)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	log_fn(log_ud, level, buf);
}

int fundus_progress_report(const struct fundus_progress *p, const char *what, int64_t done,
			   int64_t total)
{
	if (p == NULL || p->fn == NULL)
		return 0;
	return p->fn(p->ud, what, done, total);
}
