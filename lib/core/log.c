/* The process-wide log callback and the progress helper. */
#include <pthread.h>
#include <stdio.h>

#include "fundus/core.h"

/*
 * The callback, its argument and the level change together: a thread that
 * logs while another sets them must see one consistent triple.
 */
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static fundus_log_fn log_fn;
static void *log_ud;
static enum fundus_log_level log_max = FUNDUS_LOG_WARN;

void fundus_log_set(fundus_log_fn fn, void *ud, enum fundus_log_level max_level)
{
	pthread_mutex_lock(&log_mu);
	log_fn = fn;
	log_ud = ud;
	log_max = max_level;
	pthread_mutex_unlock(&log_mu);
}

void fundus_log(enum fundus_log_level level, const char *fmt, ...)
{
	char buf[1024];
	fundus_log_fn fn;
	void *ud;
	int on;
	va_list ap;

	pthread_mutex_lock(&log_mu);
	fn = log_fn;
	ud = log_ud;
	on = fn != NULL && level <= log_max;
	pthread_mutex_unlock(&log_mu);
	if (!on)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	/* Called outside the lock, so that the callback may log or set the callback. */
	fn(ud, level, buf);
}

int fundus_progress_report(const struct fundus_progress *p, const char *what, int64_t done,
			   int64_t total)
{
	if (p == NULL || p->fn == NULL)
		return 0;
	return p->fn(p->ud, what, done, total);
}
