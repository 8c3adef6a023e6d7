/*
 * Helpers the network-engine tests share: networks from descriptions with
 * non-trivial weights, random tensors, a scalar loss over the outputs.
 */
#ifndef FUNDUS_TEST_NNUTIL_H
#define FUNDUS_TEST_NNUTIL_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fundus/nn.h"
#include "fundus/rng.h"

/* n floats, normal with deviation sd (malloc'd). */
static inline float *nu_random(struct fundus_rng *r, size_t n, double sd)
{
	float *v = malloc(n * sizeof *v + 1);

	for (size_t i = 0; i < n; i++)
		v[i] = (float)(fundus_rng_normal(r) * sd);
	return v;
}

/*
 * A network from desc, with every tensor given random values: weights as
 * initialised, batch-norm scales in [0.5, 1.5], shifts and biases and
 * running means small, running variances in [0.5, 2].
 */
static inline struct fundus_net *nu_net(const char *desc, uint64_t seed)
{
	struct fundus_net_params p;
	struct fundus_net *net;
	struct fundus_rng r;

	fundus_net_defaults(&p);
	p.seed = seed;
	if (fundus_net_new(&net, desc, strlen(desc), &p) < 0)
		return NULL;
	fundus_rng_seed(&r, seed + 1000);
	for (int i = 0; i < fundus_net_tensor_count(net); i++) {
		struct fundus_net_tensor t;
		const char *dot;

		fundus_net_tensor(net, i, &t);
		dot = strrchr(t.name, '.');
		for (size_t k = 0; k < t.count; k++) {
			if (strcmp(dot, ".gamma") == 0)
				t.data[k] = (float)fundus_rng_range(&r, 0.5, 1.5);
			else if (strcmp(dot, ".var") == 0)
				t.data[k] = (float)fundus_rng_range(&r, 0.5, 2);
			else if (strcmp(dot, ".weight") != 0)
				t.data[k] = (float)fundus_rng_range(&r, -0.3, 0.3);
		}
	}
	fundus_net_touch(net);
	return net;
}

/* Floats in output i of ctx. */
static inline size_t nu_out_count(struct fundus_nn_ctx *ctx, int i)
{
	int s[4];

	fundus_nn_output_shape(ctx, i, s);
	return (size_t)s[0] * s[1] * s[2] * s[3];
}

static inline size_t nu_in_count(struct fundus_nn_ctx *ctx)
{
	int s[4];

	fundus_nn_input_shape(ctx, s);
	return (size_t)s[0] * s[1] * s[2] * s[3];
}

/* The sum over the nout outputs of <r[i], output i>, in double, after a forward pass of x. */
static inline double nu_loss(struct fundus_nn_ctx *ctx, const float *x, float *const *r, int nout)
{
	double sum = 0;

	fundus_nn_forward(ctx, x);
	for (int i = 0; i < nout; i++) {
		size_t n = nu_out_count(ctx, i);
		float *y = malloc(n * sizeof *y);

		fundus_nn_get_output(ctx, i, y);
		for (size_t k = 0; k < n; k++)
			sum += (double)r[i][k] * y[k];
		free(y);
	}
	return sum;
}

#endif
