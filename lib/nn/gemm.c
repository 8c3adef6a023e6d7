/*
 * The one place that calls OpenBLAS, so that its header and its
 * process-wide thread setting stay out of the layer code; and the choice
 * between OpenBLAS's sgemm and ours (sgemm_x86.c).
 */
#include <cblas.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "nn/internal.h"

static pthread_once_t choose_once = PTHREAD_ONCE_INIT;
static int chosen;           /* enum fundus__gemm_kernel */
static char chosen_name[64]; /* fundus_nn_gemm_name() */
static atomic_int blas_many; /* OpenBLAS was given more than one thread */

/* Our best kernel on this processor, or FUNDUS__GEMM_BLAS when none runs here. */
static int best_own(void)
{
	if (fundus__gemm_supported(FUNDUS__GEMM_AVX512))
		return FUNDUS__GEMM_AVX512;
	if (fundus__gemm_supported(FUNDUS__GEMM_AVX2))
		return FUNDUS__GEMM_AVX2;
	return FUNDUS__GEMM_BLAS;
}

/*
 * OpenBLAS kernels of 0.3.21 for processors with AVX2 and FMA. Any other
 * name on such a processor ("Prescott", "Core2", "Sandybridge" ...) is a
 * fallback that leaves FMA unused.
 */
static int blas_core_uses_fma(const char *core)
{
	static const char *const fma[] = {"Haswell",        "Zen", "SkylakeX", "Cooperlake",
					  "SapphireRapids", NULL};

	for (int i = 0; fma[i]; i++)
		if (strcasecmp(core, fma[i]) == 0)
			return 1;
	return 0;
}

/*
 * Chooses the kernel once: $FUNDUS_GEMM (blas or own); else ours with
 * AVX-512, which on the engine's products is as fast as OpenBLAS's
 * SkylakeX kernels and 1.7 times as fast as its Haswell ones
 * (bench_gemm); else ours with AVX2 when OpenBLAS's core leaves FMA
 * unused (with its Haswell kernels the two are even; Zen's unmeasured).
 */
static void choose(void)
{
	const char *env = getenv("FUNDUS_GEMM");
	int own = best_own();

	if (env && strcmp(env, "blas") == 0)
		chosen = FUNDUS__GEMM_BLAS;
	else if (env && strcmp(env, "own") == 0)
		chosen = own;
	else if (own == FUNDUS__GEMM_AVX512)
		chosen = own;
	else
		chosen = blas_core_uses_fma(fundus_nn_blas_core()) ? FUNDUS__GEMM_BLAS : own;
	if (chosen == FUNDUS__GEMM_AVX512)
		snprintf(chosen_name, sizeof chosen_name, "fundus-avx512");
	else if (chosen == FUNDUS__GEMM_AVX2)
		snprintf(chosen_name, sizeof chosen_name, "fundus-avx2");
	else
		snprintf(chosen_name, sizeof chosen_name, "openblas-%s", fundus_nn_blas_core());
}

int fundus__gemm_kernel(void)
{
	pthread_once(&choose_once, choose);
	return chosen;
}

const char *fundus_nn_gemm_name(void)
{
	pthread_once(&choose_once, choose);
	return chosen_name;
}

/* OpenBLAS's product, row-major, with our 0/1 transposes. */
static void blas_sgemm(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
		       const float *b, int ldb, float beta, float *c, int ldc)
{
	cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
		    m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void fundus__sgemm(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
		   const float *b, int ldb, float beta, float *c, int ldc)
{
	int kernel = fundus__gemm_kernel();

	if (m <= 0 || n <= 0)
		return;
	if (k <= 0) {
		/* BLAS leaves C alone for k = 0 only with beta = 1; say what we mean. */
		for (int i = 0; i < m; i++)
			for (int j = 0; j < n; j++) {
				float *x = &c[(size_t)i * (size_t)ldc + (size_t)j];

				*x = beta == 0.0f ? 0.0f : *x * beta;
			}
		return;
	}
	/* Ours is single-threaded: OpenBLAS keeps the products it was given threads for. */
	if (kernel != FUNDUS__GEMM_BLAS &&
	    !atomic_load_explicit(&blas_many, memory_order_relaxed) &&
	    fundus__sgemm_own(kernel, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) == 0)
		return;
	blas_sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

int fundus__sgemm_with(int kernel, int ta, int tb, int m, int n, int k, float alpha, const float *a,
		       int lda, const float *b, int ldb, float beta, float *c, int ldc)
{
	if (kernel != FUNDUS__GEMM_BLAS)
		return fundus__sgemm_own(kernel, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c,
					 ldc);
	if (m <= 0 || n <= 0 || k <= 0)
		return fundus_error_set(FUNDUS_EINVAL, "empty matrix product");
	blas_sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
	return 0;
}

void fundus__blas_threads(int n)
{
	atomic_store(&blas_many, n > 1);
	openblas_set_num_threads(n < 1 ? 1 : n);
}

const char *fundus_nn_blas_core(void)
{
	const char *name = openblas_get_corename();

	return name ? name : "unknown";
}
