/*
 * fundus/pool.h: a small fixed-size thread pool.
 *
 * The pool runs parallel loops and independent tasks. The calling thread
 * counts as one worker: a pool of n threads starts n - 1 of its own, so
 * that n is the total number of cores in use. A pool of 1 runs everything
 * on the caller, which makes single-threaded runs exactly sequential.
 *
 *     struct fundus_pool *pool;
 *     if (fundus_pool_new(&pool, 0) == 0) {       // 0: one per core
 *         fundus_pool_for(pool, rows, shade_rows, &ctx);
 *         fundus_pool_free(pool);
 *     }
 */
#ifndef FUNDUS_POOL_H
#define FUNDUS_POOL_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

struct fundus_pool;

/*
 * Creates a pool of nthreads workers in all (the caller included); 0 means
 * fundus_cpu_count(). Returns 0, FUNDUS_EINVAL for a negative count,
 * FUNDUS_ENOMEM or FUNDUS_EIO when a thread cannot start.
 */
int fundus_pool_new(struct fundus_pool **out, int nthreads);

/* Stops the workers and frees the pool; waits for running tasks. NULL is fine. */
void fundus_pool_free(struct fundus_pool *pool);

/* Returns the number of workers, the calling thread included. */
int fundus_pool_threads(const struct fundus_pool *pool);

/*
 * Calls fn(ctx, begin, end, worker) over disjoint ranges that cover [0, n),
 * and returns when all are done. worker is in [0, threads) and no two
 * ranges running at once share it, so fn may index per-worker scratch space
 * with it. The split depends only on n and the thread count. Not reentrant:
 * one fundus_pool_for at a time per pool. A NULL pool runs fn(ctx, 0, n, 0).
 */
typedef void (*fundus_pool_range_fn)(void *ctx, size_t begin, size_t end, int worker);
void fundus_pool_for(struct fundus_pool *pool, size_t n, fundus_pool_range_fn fn, void *ctx);

/*
 * Returns the number of cores this process may run on (its CPU affinity,
 * as nproc(1) counts; the online cores if that is unknown), at least 1.
 */
int fundus_cpu_count(void);

#ifdef __cplusplus
}
#endif
#endif
