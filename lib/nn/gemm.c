/*
 * The one place that calls OpenBLAS, so that its header and its
 * process-wide thread setting stay out of the layer code.
 */
#include <cblas.h>

#include "nn/internal.h"

void fundus__sgemm(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
		   const float *b, int ldb, float beta, float *c, int ldc)
{
	if (m <= 0 || n <= 0)
		return;
	if (k <= 0) {
		/* BLAS leaves C alone for k = 0 only with beta = 1; say what we mean. */
		for (int i = 0; i < m; i++)
			for (int j = 0; j < n; j++)
				c[(size_t)i * (size_t)ldc + (size_t)j] *= beta;
		return;
	}
	cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
		    m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void fundus__blas_threads(int n)
{
	openblas_set_num_threads(n < 1 ? 1 : n);
}

const char *fundus_nn_blas_core(void)
{
	const char *name = openblas_get_corename();

	return name ? name : "unknown";
}
