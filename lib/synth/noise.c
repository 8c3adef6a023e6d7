/*
 * Seeded 2-D gradient noise for the synthetic fundus: smooth, isotropic
 * random fields from which the colour variation, the choroidal pattern and
 * the mottling of the fundus are built. Everything comes from a table filled
 * from fundus_rng, so the fields repeat exactly for a seed.
 */
#include <math.h>

#include "dmath.h"
#include "synth_int.h"

void fundus__noise_init(struct fundus__noise *n, struct fundus_rng *rng)
{
	for (int i = 0; i < 256; i++)
		n->perm[i] = (uint8_t)i;
	/* Fisher-Yates shuffle of the permutation. */
	for (int i = 255; i > 0; i--) {
		int j = (int)fundus_rng_below(rng, (uint64_t)i + 1);
		uint8_t t = n->perm[i];

		n->perm[i] = n->perm[j];
		n->perm[j] = t;
	}
	for (int i = 0; i < 256; i++) {
		/* Gradients at random angles, drawn apart from the permutation so that
		 * neighbouring cells get unrelated gradients. */
		double a = 6.283185307179586 * fundus_rng_uniform(rng);

		n->gx[i] = (float)dm_cos(a);
		n->gy[i] = (float)dm_sin(a);
		n->perm[256 + i] = n->perm[i];
	}
}

static inline float fade(float t)
{
	return t * t * t * (t * (t * 6 - 15) + 10);
}

static inline float grad(const struct fundus__noise *n, unsigned h, float x, float y)
{
	return n->gx[h] * x + n->gy[h] * y;
}

float fundus__noise2(const struct fundus__noise *n, float x, float y)
{
	float fx = floorf(x), fy = floorf(y);
	/* Through unsigned, so that negative coordinates wrap without undefined behaviour. */
	unsigned ix = (unsigned)(long)fx & 255u, iy = (unsigned)(long)fy & 255u;
	float tx = x - fx, ty = y - fy;
	unsigned a = n->perm[ix] + iy, b = n->perm[ix + 1] + iy;
	float u = fade(tx), v = fade(ty);
	float g00 = grad(n, n->perm[a], tx, ty);
	float g10 = grad(n, n->perm[b], tx - 1, ty);
	float g01 = grad(n, n->perm[a + 1], tx, ty - 1);
	float g11 = grad(n, n->perm[b + 1], tx - 1, ty - 1);
	float x0 = g00 + u * (g10 - g00), x1 = g01 + u * (g11 - g01);

	/* The raw range is about +-0.7; scale it to about +-1. */
	return 1.41f * (x0 + v * (x1 - x0));
}

float fundus__fbm2(const struct fundus__noise *n, float x, float y, int octaves, float gain)
{
	float sum = 0, amp = 1, norm = 0;

	for (int o = 0; o < octaves; o++) {
		sum += amp * fundus__noise2(n, x, y);
		norm += amp;
		amp *= gain;
		/* Rotate between octaves (by about 37 degrees) so no axis is favoured. */
		{
			float nx = 1.6f * x - 1.2f * y + 17.1f;
			float ny = 1.2f * x + 1.6f * y - 5.3f;

			x = nx;
			y = ny;
		}
	}
	return sum / norm;
}

double fundus__gauss(struct fundus_rng *rng)
{
	double u1 = fundus_rng_uniform(rng), u2 = fundus_rng_uniform(rng);

	if (u1 < 1e-300)
		u1 = 1e-300;
	return sqrt(-2.0 * dm_log(u1)) * dm_cos(6.283185307179586 * u2);
}
