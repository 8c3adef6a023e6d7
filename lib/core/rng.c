/*
 * xoshiro256** by Blackman and Vigna, seeded through splitmix64: fast, small
 * state, and identical output on every platform.
 */
#include <math.h>

#include "fundus/rng.h"

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

void fundus_rng_seed(struct fundus_rng *rng, uint64_t seed)
{
	uint64_t x = seed;

	for (int i = 0; i < 4; i++)
		rng->s[i] = splitmix64(&x);
}

struct fundus_rng fundus_rng_split(const struct fundus_rng *rng, uint64_t k)
{
	struct fundus_rng r;
	uint64_t x = rng->s[0] ^ rotl(rng->s[1], 17) ^ rotl(rng->s[2], 31) ^ rotl(rng->s[3], 47);

	x ^= splitmix64(&k);
	fundus_rng_seed(&r, x);
	return r;
}

uint64_t fundus_rng_u64(struct fundus_rng *rng)
{
	uint64_t *s = rng->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

double fundus_rng_uniform(struct fundus_rng *rng)
{
	return (double)(fundus_rng_u64(rng) >> 11) * 0x1.0p-53;
}

double fundus_rng_range(struct fundus_rng *rng, double lo, double hi)
{
	return lo + (hi - lo) * fundus_rng_uniform(rng);
}

void fundus_rng_shuffle(struct fundus_rng *rng, size_t *v, size_t n)
{
	for (size_t i = n; i > 1; i--) {
		size_t j = (size_t)fundus_rng_below(rng, i), t = v[i - 1];

		v[i - 1] = v[j];
		v[j] = t;
	}
}

uint64_t fundus_rng_below(struct fundus_rng *rng, uint64_t n)
{
	uint64_t x, limit;

	if (n == 0)
		return 0;
	/* Reject the top partial copy of [0, n) so every value is equally likely. */
	limit = UINT64_MAX - UINT64_MAX % n;
	do
		x = fundus_rng_u64(rng);
	while (x >= limit);
	return x % n;
}

double fundus_rng_normal(struct fundus_rng *rng)
{
	/* Box-Muller; the second deviate is dropped to keep the state a plain value. */
	double u1 = fundus_rng_uniform(rng), u2 = fundus_rng_uniform(rng);

	if (u1 < 1e-300)
		u1 = 1e-300;
	return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}
