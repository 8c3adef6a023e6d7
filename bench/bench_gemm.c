/*
 * The matrix products of one training step of the disc-centre network
 * (batch 16, two workers), alone, on each kernel the engine has:
 * OpenBLAS's sgemm on one thread (with whatever core OPENBLAS_CORETYPE
 * gives) and the engine's own (lib/nn/sgemm_x86.c) that this processor
 * runs. For bench/gemm:
 *
 *   bench_gemm [-r RUNS] [--best]
 *
 * Prints, for each shape, GFLOP/s (median of the runs, or with --best the
 * fastest, which a loaded machine disturbs less; wall clock) per
 * kernel, then each kernel's milliseconds of products per training step
 * (the shapes weighted by how often a step calls them) and "RESULT
 * gemm.<kernel> ms" lines.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fundus/core.h"
#include "fundus/nn.h"
#include "fundus/rng.h"
#include "nn/internal.h"

/* A product: transposes, m, n, k, beta (0 or 1), calls per training step. */
struct shape {
	int ta, tb, m, n, k, beta, calls;
};

/* Traced from fundus__sgemm() during disc-centre training steps (batch 16, 2 workers). */
static const struct shape shapes[] = {
    {0, 0, 128, 1024, 1152, 0, 4}, {0, 0, 128, 1024, 576, 0, 4},  {0, 0, 128, 256, 1152, 0, 12},
    {0, 0, 16, 8992, 27, 0, 1},    {0, 0, 16, 9376, 27, 0, 27},   {0, 0, 32, 1024, 288, 0, 128},
    {0, 0, 32, 16384, 80, 0, 4},   {0, 0, 32, 1696, 144, 0, 1},   {0, 0, 32, 1824, 144, 0, 35},
    {0, 0, 48, 1024, 432, 0, 16},  {0, 0, 48, 4096, 128, 0, 4},   {0, 0, 5, 16384, 32, 0, 4},
    {0, 0, 64, 1024, 256, 0, 4},   {0, 0, 64, 1024, 288, 0, 16},  {0, 0, 64, 1024, 576, 0, 20},
    {0, 1, 128, 64, 4096, 0, 2},   {0, 1, 144, 32, 1216, 1, 2},   {0, 1, 144, 32, 1856, 1, 34},
    {0, 1, 16, 5, 65536, 0, 2},    {0, 1, 27, 16, 4608, 1, 2},    {0, 1, 27, 16, 9728, 1, 26},
    {0, 1, 288, 128, 1024, 1, 8},  {0, 1, 288, 32, 1024, 1, 128}, {0, 1, 288, 64, 1024, 1, 24},
    {0, 1, 40, 32, 65536, 0, 2},   {0, 1, 432, 48, 1024, 1, 16},  {0, 1, 576, 128, 1024, 1, 14},
    {0, 1, 576, 64, 1024, 1, 16},  {0, 1, 64, 48, 16384, 0, 2},   {1, 0, 128, 4096, 64, 1, 2},
    {1, 0, 144, 1216, 32, 0, 2},   {1, 0, 144, 1856, 32, 0, 34},  {1, 0, 16, 65536, 5, 1, 2},
    {1, 0, 288, 1024, 128, 0, 8},  {1, 0, 288, 1024, 32, 0, 128}, {1, 0, 288, 1024, 64, 0, 24},
    {1, 0, 40, 65536, 32, 1, 2},   {1, 0, 432, 1024, 48, 0, 16},  {1, 0, 576, 1024, 128, 0, 14},
    {1, 0, 576, 1024, 64, 0, 16},  {1, 0, 64, 16384, 48, 1, 2},
};

#define NSHAPES (sizeof shapes / sizeof *shapes)

static const char *const names[FUNDUS__GEMM_KERNELS] = {"openblas", "fundus-avx2", "fundus-avx512"};

/* qsort order of doubles. */
static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* n floats uniform in [-1, 1) (malloc'd), or exits. */
static float *randoms(size_t n, uint64_t seed)
{
	struct fundus_rng r;
	float *v = malloc(n * sizeof *v);

	if (v == NULL) {
		fprintf(stderr, "bench_gemm: out of memory\n");
		exit(1);
	}
	fundus_rng_seed(&r, seed);
	for (size_t i = 0; i < n; i++)
		v[i] = (float)fundus_rng_range(&r, -1, 1);
	return v;
}

static int best;

/* The median (or fastest) seconds of one product of s on kernel, over runs runs. */
static double time_shape(int kernel, const struct shape *s, int runs, const float *a,
			 const float *b, float *c)
{
	double v[64], flops = 2.0 * s->m * s->n * s->k;
	/* Enough repetitions for a few milliseconds a run. */
	int reps = (int)(2e8 / flops) + 1, nr = runs < 64 ? runs : 64;

	for (int r = -1; r < nr; r++) {
		double t0 = fundus_now();

		for (int q = 0; q < reps; q++)
			if (fundus__sgemm_with(kernel, s->ta, s->tb, s->m, s->n, s->k, 1.0f, a,
					       s->ta ? s->m : s->k, b, s->tb ? s->k : s->n,
					       (float)s->beta, c, s->n) < 0) {
				fprintf(stderr, "bench_gemm: %s\n", fundus_errmsg());
				exit(1);
			}
		if (r >= 0)
			v[r] = (fundus_now() - t0) / reps;
	}
	qsort(v, (size_t)nr, sizeof *v, cmp_double);
	if (best)
		return v[0];
	return nr % 2 ? v[nr / 2] : (v[nr / 2 - 1] + v[nr / 2]) / 2;
}

/* Parses the options and times every shape on every kernel. */
int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"runs", required_argument, NULL, 'r'},
	    {"best", no_argument, NULL, 'b'},
	    {NULL, 0, NULL, 0},
	};
	double total[FUNDUS__GEMM_KERNELS] = {0};
	size_t most = 0;
	float *a, *b, *c;
	int runs = 5, ch;

	while ((ch = getopt_long(argc, argv, "r:b", opts, NULL)) != -1) {
		if (ch == 'b') {
			best = 1;
		} else if (ch != 'r' || (runs = (int)strtol(optarg, NULL, 10)) < 1) {
			fprintf(stderr, "usage: bench_gemm [-r RUNS] [--best]\n");
			return 2;
		}
	}
	for (size_t i = 0; i < NSHAPES; i++) {
		size_t ak = (size_t)shapes[i].m * (size_t)shapes[i].k;
		size_t bk = (size_t)shapes[i].k * (size_t)shapes[i].n;
		size_t ck = (size_t)shapes[i].m * (size_t)shapes[i].n;

		most = ak > most ? ak : most;
		most = bk > most ? bk : most;
		most = ck > most ? ck : most;
	}
	a = randoms(most, 1);
	b = randoms(most, 2);
	c = randoms(most, 3);
	/* As the engine calls it: one thread, the parallelism is the engine's. */
	fundus__blas_threads(1);
	printf("matrix products of a disc-centre training step (batch 16, 2 workers), one thread;\n"
	       "the engine runs %s; OpenBLAS's core is %s\n",
	       fundus_nn_gemm_name(), fundus_nn_blas_core());
	printf("ta tb     m      n      k calls |");
	for (int kn = 0; kn < FUNDUS__GEMM_KERNELS; kn++)
		if (fundus__gemm_supported(kn))
			printf(" %13s", names[kn]);
	printf("   (GFLOP/s)\n");
	for (size_t i = 0; i < NSHAPES; i++) {
		const struct shape *s = &shapes[i];

		printf("%2d %2d %5d %6d %6d %5d |", s->ta, s->tb, s->m, s->n, s->k, s->calls);
		for (int kn = 0; kn < FUNDUS__GEMM_KERNELS; kn++) {
			double t;

			if (!fundus__gemm_supported(kn))
				continue;
			t = time_shape(kn, s, runs, a, b, c);
			total[kn] += t * s->calls;
			printf(" %13.1f", 2.0 * s->m * s->n * s->k / t / 1e9);
		}
		printf("\n");
	}
	printf("products of one training step, ms:");
	for (int kn = 0; kn < FUNDUS__GEMM_KERNELS; kn++)
		if (fundus__gemm_supported(kn))
			printf(" %s %.1f", names[kn], 1e3 * total[kn]);
	printf("\n");
	for (int kn = 0; kn < FUNDUS__GEMM_KERNELS; kn++)
		if (fundus__gemm_supported(kn))
			printf("RESULT gemm.%s %.3f\n", names[kn], 1e3 * total[kn]);
	free(a);
	free(b);
	free(c);
	return 0;
}
