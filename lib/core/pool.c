/*
 * A fixed thread pool for parallel loops. Each loop is cut into a fixed
 * number of ranges that depends only on n and the thread count; threads
 * take ranges from a shared counter, so a slow core does not hold up the
 * others.
 */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <unistd.h>

#include "fundus/core.h"
#include "fundus/pool.h"

/* Ranges per thread: enough to balance uneven work, few enough to be cheap. */
#define RANGES_PER_THREAD 4

struct fundus_pool {
	int nthreads;
	pthread_t *threads;
	pthread_mutex_t mu;
	pthread_cond_t work_cv;
	pthread_cond_t done_cv;
	unsigned long generation;
	int stopping;
	int busy; /* workers still inside the current loop */

	/* The loop being run. */
	fundus_pool_range_fn fn;
	void *ctx;
	size_t n, nranges;
	atomic_size_t next;
};

struct worker_arg {
	struct fundus_pool *pool;
	int id;
};

int fundus_cpu_count(void)
{
	cpu_set_t set;
	long n;

	/* The cores this process may run on (taskset, cpusets), as nproc counts them. */
	if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
		return CPU_COUNT(&set);
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : (int)n;
}

/* Range r of nranges: [n r / nranges, n (r + 1) / nranges), without the overflow of n r. */
static void range_bounds(const struct fundus_pool *p, size_t r, size_t *b, size_t *e)
{
	size_t q = p->n / p->nranges, m = p->n % p->nranges;

	/* n r / k = q r + m r / k exactly, with m r < k^2 small. */
	*b = q * r + m * r / p->nranges;
	*e = q * (r + 1) + m * (r + 1) / p->nranges;
}

static void run_ranges(struct fundus_pool *p, int id)
{
	for (;;) {
		size_t r = atomic_fetch_add(&p->next, 1), b, e;

		if (r >= p->nranges)
			break;
		range_bounds(p, r, &b, &e);
		if (b < e)
			p->fn(p->ctx, b, e, id);
	}
}

static void *worker_main(void *arg)
{
	struct worker_arg wa = *(struct worker_arg *)arg;
	struct fundus_pool *p = wa.pool;
	unsigned long seen = 0;

	fundus_free(arg);
	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (!p->stopping && p->generation == seen)
			pthread_cond_wait(&p->work_cv, &p->mu);
		if (p->stopping)
			break;
		seen = p->generation;
		pthread_mutex_unlock(&p->mu);
		run_ranges(p, wa.id);
		pthread_mutex_lock(&p->mu);
		if (--p->busy == 0)
			pthread_cond_signal(&p->done_cv);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

int fundus_pool_new(struct fundus_pool **out, int nthreads)
{
	struct fundus_pool *p;

	*out = NULL;
	if (nthreads < 0)
		return fundus_error_set(FUNDUS_EINVAL, "thread count must be 0 or more, not %d",
					nthreads);
	if (nthreads == 0)
		nthreads = fundus_cpu_count();
	p = fundus_calloc(1, sizeof *p);
	if (p == NULL)
		return FUNDUS_ENOMEM;
	p->nthreads = 1;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->work_cv, NULL);
	pthread_cond_init(&p->done_cv, NULL);
	if (nthreads > 1) {
		p->threads = fundus_calloc((size_t)nthreads - 1, sizeof *p->threads);
		if (p->threads == NULL) {
			fundus_pool_free(p);
			return FUNDUS_ENOMEM;
		}
	}
	for (int i = 1; i < nthreads; i++) {
		struct worker_arg *wa = fundus_malloc(sizeof *wa);
		int err;

		if (wa == NULL) {
			fundus_pool_free(p);
			return FUNDUS_ENOMEM;
		}
		wa->pool = p;
		wa->id = i;
		err = pthread_create(&p->threads[i - 1], NULL, worker_main, wa);
		if (err) {
			fundus_free(wa);
			fundus_pool_free(p);
			return fundus_error_errno(FUNDUS_EIO, err, "cannot start a thread");
		}
		p->nthreads++;
	}
	*out = p;
	return 0;
}

void fundus_pool_free(struct fundus_pool *p)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	p->stopping = 1;
	pthread_cond_broadcast(&p->work_cv);
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < p->nthreads - 1; i++)
		pthread_join(p->threads[i], NULL);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->work_cv);
	pthread_cond_destroy(&p->done_cv);
	fundus_free(p->threads);
	fundus_free(p);
}

int fundus_pool_threads(const struct fundus_pool *p)
{
	return p ? p->nthreads : 1;
}

void fundus_pool_for(struct fundus_pool *p, size_t n, fundus_pool_range_fn fn, void *ctx)
{
	if (n == 0)
		return;
	if (p == NULL || p->nthreads == 1) {
		fn(ctx, 0, n, 0);
		return;
	}
	pthread_mutex_lock(&p->mu);
	p->fn = fn;
	p->ctx = ctx;
	p->n = n;
	p->nranges = (size_t)p->nthreads * RANGES_PER_THREAD;
	if (p->nranges > n)
		p->nranges = n;
	atomic_store(&p->next, 0);
	p->busy = p->nthreads - 1;
	p->generation++;
	pthread_cond_broadcast(&p->work_cv);
	pthread_mutex_unlock(&p->mu);

	run_ranges(p, 0);

	pthread_mutex_lock(&p->mu);
	while (p->busy > 0)
		pthread_cond_wait(&p->done_cv, &p->mu);
	pthread_mutex_unlock(&p->mu);
}
