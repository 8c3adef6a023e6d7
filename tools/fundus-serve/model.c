/*
 * The current model. A reload loads the new file first, outside any lock,
 * and then swaps one pointer: requests already running keep a reference to
 * the old model and finish on it; the last reference frees it.
 */
#include <time.h>

#include "serve.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct serve_model *current;
static long reloads_ok, reloads_failed;

/* Frees a model nobody refers to any more. */
static void model_free(struct serve_model *m)
{
	if (m == NULL)
		return;
	fundus_detector_free(m->det);
	fundus_free(m);
}

int serve_model_load(const char *path)
{
	struct serve_model *m, *old;
	double t0 = fundus_now();
	int rc;

	m = fundus_calloc(1, sizeof *m);
	if (m == NULL)
		return FUNDUS_ENOMEM;
	if ((rc = fundus_detector_load(&m->det, path)) < 0) {
		fundus_free(m);
		pthread_mutex_lock(&lock);
		if (current)
			reloads_failed++;
		pthread_mutex_unlock(&lock);
		return rc;
	}
	m->load_seconds = fundus_now() - t0;
	m->loaded_at = time(NULL);
	m->refs = 1;
	pthread_mutex_lock(&lock);
	old = current;
	m->generation = old ? old->generation + 1 : 1;
	if (old)
		reloads_ok++;
	current = m;
	if (old && --old->refs > 0)
		old = NULL;
	pthread_mutex_unlock(&lock);
	model_free(old);
	return 0;
}

struct serve_model *serve_model_get(void)
{
	struct serve_model *m;

	pthread_mutex_lock(&lock);
	m = current;
	if (m)
		m->refs++;
	pthread_mutex_unlock(&lock);
	return m;
}

void serve_model_put(struct serve_model *m)
{
	int last;

	if (m == NULL)
		return;
	pthread_mutex_lock(&lock);
	last = --m->refs == 0;
	pthread_mutex_unlock(&lock);
	if (last)
		model_free(m);
}

unsigned serve_model_generation(void)
{
	unsigned g;

	pthread_mutex_lock(&lock);
	g = current ? current->generation : 0;
	pthread_mutex_unlock(&lock);
	return g;
}

void serve_model_reloads(long *ok, long *failed)
{
	pthread_mutex_lock(&lock);
	*ok = reloads_ok;
	*failed = reloads_failed;
	pthread_mutex_unlock(&lock);
}

void serve_model_shutdown(void)
{
	struct serve_model *m;

	pthread_mutex_lock(&lock);
	m = current;
	current = NULL;
	pthread_mutex_unlock(&lock);
	serve_model_put(m);
}
