/*
 * fundus/rng.h: a seeded pseudo-random generator (xoshiro256**).
 *
 * The library never uses the C library's generator. A generator is a small value that the
 * caller owns; give each thread its own, derived with fundus_rng_split(), so
 * that results depend on the seed and the thread count only.
 *
 *     struct fundus_rng rng;
 *     fundus_rng_seed(&rng, 42);
 *     double u = fundus_rng_uniform(&rng);
 */
#ifndef FUNDUS_RNG_H
#define FUNDUS_RNG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct fundus_rng {
	uint64_t s[4];
};

/* Seeds the generator; equal seeds give equal sequences on every machine. */
void fundus_rng_seed(struct fundus_rng *rng, uint64_t seed);

/* Returns a generator for stream k, independent of rng and of other k. */
struct fundus_rng fundus_rng_split(const struct fundus_rng *rng, uint64_t k);

/* Returns 64 random bits. */
uint64_t fundus_rng_u64(struct fundus_rng *rng);

/* Returns a double uniform in [0, 1). */
double fundus_rng_uniform(struct fundus_rng *rng);

/* Returns a double uniform in [lo, hi). */
double fundus_rng_range(struct fundus_rng *rng, double lo, double hi);

/* Returns an integer uniform in [0, n), without modulo bias; 0 when n is 0. */
uint64_t fundus_rng_below(struct fundus_rng *rng, uint64_t n);

/*
 * Shuffles v[0..n) in place (Fisher-Yates, from the end: v[i - 1]
 * swapped with v[fundus_rng_below(i)] for i = n down to 2).
 */
void fundus_rng_shuffle(struct fundus_rng *rng, size_t *v, size_t n);

/* Returns a standard normal deviate (mean 0, deviation 1). */
double fundus_rng_normal(struct fundus_rng *rng);

#ifdef __cplusplus
}
#endif
#endif
