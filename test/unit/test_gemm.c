/*
 * Unit tests of the engine's matrix products (lib/nn/gemm.c and
 * sgemm_x86.c): every kernel this processor runs, OpenBLAS's included,
 * against a plain product accumulated in double, on random shapes, the
 * engine's real shapes, all transposes, alpha and beta, and leading
 * dimensions wider than the matrices.
 */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fundus/core.h"
#include "fundus/nn.h"
#include "fundus/rng.h"
#include "harness.h"
#include "nn/internal.h"

static const char *const kernel_names[FUNDUS__GEMM_KERNELS] = {"blas", "avx2", "avx512"};

/* n floats uniform in [-1, 1). */
static float *randoms(struct fundus_rng *r, size_t n)
{
	float *v = malloc(n * sizeof *v);

	if (v)
		for (size_t i = 0; i < n; i++)
			v[i] = (float)fundus_rng_range(r, -1, 1);
	return v;
}

/* One product to check. */
struct shape {
	int ta, tb, m, n, k;
	float alpha, beta;
	int pad; /* added to every leading dimension */
};

/*
 * Runs s on each kernel of the list (-1: through fundus__sgemm()) and
 * compares with the double reference: each element within (k + 4) units
 * of rounding of the sum of the magnitudes of its terms (the bound of a
 * float dot product), the padding between rows untouched, and a second
 * run identical. Returns 0 or -1 after a message.
 */
static int check_shape(const int *kernels, int nk, const struct shape *s, uint64_t seed)
{
	struct fundus_rng r;
	int lda = (s->ta ? s->m : s->k) + s->pad, ldb = (s->tb ? s->k : s->n) + s->pad;
	int ldc = s->n + s->pad, rows_a = s->ta ? s->k : s->m, rows_b = s->tb ? s->n : s->k;
	size_t na = (size_t)rows_a * (size_t)lda, nb = (size_t)rows_b * (size_t)ldb;
	size_t nc = (size_t)s->m * (size_t)ldc;
	float *a, *b, *c0, *c, *c2;
	double *ref, *tol;
	int bad = 0;

	fundus_rng_seed(&r, seed);
	a = randoms(&r, na);
	b = randoms(&r, nb);
	c0 = randoms(&r, nc);
	c = malloc(nc * sizeof *c);
	c2 = malloc(nc * sizeof *c2);
	ref = malloc(nc * sizeof *ref);
	tol = malloc(nc * sizeof *tol);
	if (!a || !b || !c0 || !c || !c2 || !ref || !tol) {
		fprintf(stderr, "out of memory\n");
		bad = 1;
		goto done;
	}
	/* beta = 0 must not read C: NaN there must not come out. */
	if (s->beta == 0.0f)
		for (int i = 0; i < s->m; i++)
			for (int j = 0; j < s->n; j++)
				c0[(size_t)i * (size_t)ldc + (size_t)j] = NAN;
	for (int i = 0; i < s->m; i++)
		for (int j = 0; j < s->n; j++) {
			size_t at = (size_t)i * (size_t)ldc + (size_t)j;
			double sum = 0, mag = 0;

			for (int p = 0; p < s->k; p++) {
				double x = s->ta ? a[(size_t)p * (size_t)lda + (size_t)i]
						 : a[(size_t)i * (size_t)lda + (size_t)p];
				double y = s->tb ? b[(size_t)j * (size_t)ldb + (size_t)p]
						 : b[(size_t)p * (size_t)ldb + (size_t)j];

				sum += x * y;
				mag += fabs(x * y);
			}
			ref[at] = s->alpha * sum;
			mag = fabs(s->alpha) * mag;
			if (s->beta != 0.0f) {
				ref[at] += s->beta * (double)c0[at];
				mag += fabs(s->beta * (double)c0[at]);
			}
			tol[at] = (s->k + 4) * ldexp(1.0, -24) * mag + 1e-30;
		}
	for (int ki = 0; ki < nk && !bad; ki++) {
		int kernel = kernels[ki];

		for (int run = 0; run < 2 && !bad; run++) {
			float *out = run ? c2 : c;

			memcpy(out, c0, nc * sizeof *out);
			if (kernel < 0) {
				fundus__sgemm(s->ta, s->tb, s->m, s->n, s->k, s->alpha, a, lda, b,
					      ldb, s->beta, out, ldc);
			} else {
				int rc =
				    fundus__sgemm_with(kernel, s->ta, s->tb, s->m, s->n, s->k,
						       s->alpha, a, lda, b, ldb, s->beta, out, ldc);

				if (rc != 0) {
					fprintf(stderr, "fundus__sgemm_with: %d: %s\n", rc,
						fundus_errmsg());
					bad = 1;
				}
			}
		}
		for (int i = 0; i < s->m && !bad; i++)
			for (int j = 0; j < ldc && !bad; j++) {
				size_t at = (size_t)i * (size_t)ldc + (size_t)j;

				if (j >= s->n) {
					if (memcmp(&c[at], &c0[at], sizeof *c) != 0) {
						fprintf(stderr,
							"C[%d][%d] beyond the %d columns was "
							"written\n",
							i, j, s->n);
						bad = 1;
					}
					continue;
				}
				if (!(fabs(c[at] - ref[at]) <= tol[at])) {
					fprintf(
					    stderr,
					    "C[%d][%d] = %.9g, expected %.9g (tolerance %.3g)\n", i,
					    j, c[at], ref[at], tol[at]);
					bad = 1;
				}
				if (memcmp(&c[at], &c2[at], sizeof *c) != 0) {
					fprintf(stderr,
						"C[%d][%d]: %.9g, then %.9g on the same input\n", i,
						j, c[at], c2[at]);
					bad = 1;
				}
			}
		if (bad)
			fprintf(stderr,
				"kernel %s: ta %d tb %d m %d n %d k %d alpha %g beta %g pad %d "
				"(seed %llu)\n",
				kernel < 0 ? "default" : kernel_names[kernel], s->ta, s->tb, s->m,
				s->n, s->k, (double)s->alpha, (double)s->beta, s->pad,
				(unsigned long long)seed);
	}
done:
	free(a);
	free(b);
	free(c0);
	free(c);
	free(c2);
	free(ref);
	free(tol);
	return bad ? -1 : 0;
}

/* A random size in [1, max], small ones and primes often. */
static int random_size(struct fundus_rng *r, int max)
{
	static const int picks[] = {1,  2,  3,  5,  7,  11,  13,  16, 17,
				    31, 32, 33, 47, 97, 127, 193, 257};
	int u = (int)fundus_rng_below(r, 3);

	if (u == 0)
		return picks[fundus_rng_below(r, sizeof picks / sizeof *picks)];
	return 1 + (int)fundus_rng_below(r, (uint64_t)max);
}

/* Checks the kernels on random shapes, each transpose combination alike. */
static int check_random(const int *kernels, int nk, int count, uint64_t seed)
{
	static const float alphas[] = {1.0f, -0.75f, 2.5f};
	static const float betas[] = {0.0f, 1.0f, 0.5f, -1.25f};
	struct fundus_rng r;

	fundus_rng_seed(&r, seed);
	for (int t = 0; t < count; t++) {
		struct shape s;

		s.ta = t & 1;
		s.tb = (t >> 1) & 1;
		s.m = random_size(&r, 300);
		s.n = random_size(&r, 300);
		s.k = random_size(&r, 300);
		s.alpha = alphas[fundus_rng_below(&r, 3)];
		s.beta = betas[fundus_rng_below(&r, 4)];
		s.pad = fundus_rng_below(&r, 2) ? (int)fundus_rng_below(&r, 9) : 0;
		if (check_shape(kernels, nk, &s, seed + 1000 + (uint64_t)t) < 0)
			return -1;
	}
	return 0;
}

/*
 * Shapes that cross every block of the kernels (k past 256 in uneven
 * blocks, rows past 192, columns past 4096), and the engine's: the
 * forward of a 3x3 convolution from 16 to 32 channels over a batch of 16
 * images of 64x64 (32 x 144 times 144 x 65536), its weight gradient
 * (144 x 65536 times the transpose of 32 x 65536), and its input gradient.
 */
static const struct shape fixed_shapes[] = {
    {0, 0, 1, 1, 1, 1.0f, 0.0f, 0},        {1, 1, 1, 1, 1, -2.0f, 0.5f, 3},
    {0, 0, 193, 37, 777, 1.0f, 0.0f, 0},   {1, 0, 211, 70, 513, 1.0f, 1.0f, 5},
    {0, 1, 400, 33, 300, 0.5f, -1.0f, 1},  {1, 1, 13, 4133, 29, 1.0f, 0.0f, 2},
    {0, 0, 7, 4100, 3, 1.0f, 1.0f, 0},     {0, 0, 32, 65536, 144, 1.0f, 0.0f, 0},
    {0, 1, 144, 32, 65536, 1.0f, 1.0f, 0}, {1, 0, 144, 4096, 32, 1.0f, 0.0f, 0},
};

/* Every kernel this machine runs, on the fixed and random shapes. */
TEST(kernels_match_reference)
{
	int kernels[FUNDUS__GEMM_KERNELS], nk = 0;

	for (int kn = 0; kn < FUNDUS__GEMM_KERNELS; kn++) {
		if (fundus__gemm_supported(kn))
			kernels[nk++] = kn;
		else
			printf("note: kernel %s not available on this processor\n",
			       kernel_names[kn]);
	}
	for (size_t i = 0; i < sizeof fixed_shapes / sizeof *fixed_shapes; i++)
		CHECK_INT_EQ(check_shape(kernels, nk, &fixed_shapes[i], 7 + i), 0);
	CHECK_INT_EQ(check_random(kernels, nk, 64, 100), 0);
}

/*
 * The kernel FUNDUS_GEMM names, in a child process: the choice is made
 * once per process, so this runs before anything here makes it. Returns
 * the child's verdict: 0 when the name starts with want.
 */
static int kernel_under(const char *value, const char *want)
{
	pid_t pid = fork();
	int status;

	if (pid == 0) {
		setenv("FUNDUS_GEMM", value, 1);
		_exit(strncmp(fundus_nn_gemm_name(), want, strlen(want)) == 0 ? 0 : 1);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* FUNDUS_GEMM=blas and =own force OpenBLAS and our best kernel. */
TEST(environment_forces_kernel)
{
	const char *own = fundus__gemm_supported(FUNDUS__GEMM_AVX512) ? "fundus-avx512"
			  : fundus__gemm_supported(FUNDUS__GEMM_AVX2) ? "fundus-avx2"
								      : "openblas-";

	CHECK_INT_EQ(kernel_under("blas", "openblas-"), 0);
	CHECK_INT_EQ(kernel_under("own", own), 0);
	/* Unset, a processor with AVX-512 runs ours. */
	if (fundus__gemm_supported(FUNDUS__GEMM_AVX512))
		CHECK_INT_EQ(kernel_under("", "fundus-avx512"), 0);
}

/* What the engine calls, with whichever kernel it chose; k = 0 scales C by beta. */
TEST(dispatcher_matches_reference)
{
	float c[6] = {1, 2, 3, NAN, NAN, NAN};
	const char *name = fundus_nn_gemm_name();

	printf("note: the engine's kernel is %s (OpenBLAS core %s)\n", name, fundus_nn_blas_core());
	CHECK(strncmp(name, "fundus-", 7) == 0 || strncmp(name, "openblas-", 9) == 0);
	CHECK_INT_EQ(check_random((const int[]){-1}, 1, 8, 5), 0);
	fundus__sgemm(0, 0, 2, 3, 0, 1.0f, c, 1, c, 1, 0.0f, c, 3);
	for (int i = 0; i < 6; i++)
		CHECK(c[i] == 0.0f);
	c[0] = 4;
	fundus__sgemm(0, 0, 1, 1, 0, 1.0f, c, 1, c, 1, 0.5f, c, 1);
	CHECK(c[0] == 2.0f);
}

/* What a fresh thread saw with every allocation failing. */
struct no_memory {
	int own_rc;    /* fundus__sgemm_own() of our best kernel */
	float c;       /* fundus__sgemm() of 3 x 4 = 12 */
	int again_rc;  /* fundus__sgemm_own() once memory is back */
	int supported; /* our best kernel, or -1 */
};

/* Runs the products of struct no_memory in a thread that has no packing buffer yet. */
static void *without_memory(void *arg)
{
	struct no_memory *r = arg;
	float a = 3, b = 4, x = 0;

	fundus_alloc_fail_after(0);
	if (r->supported >= 0)
		r->own_rc =
		    fundus__sgemm_own(r->supported, 0, 0, 1, 1, 1, 1.0f, &a, 1, &b, 1, 0.0f, &x, 1);
	fundus__sgemm(0, 0, 1, 1, 1, 1.0f, &a, 1, &b, 1, 0.0f, &r->c, 1);
	fundus_alloc_fail_after(-1);
	/* The buffer made now is freed when the thread exits (LeakSanitizer watches). */
	if (r->supported >= 0)
		r->again_rc =
		    fundus__sgemm_own(r->supported, 0, 0, 1, 1, 1, 1.0f, &a, 1, &b, 1, 0.0f, &x, 1);
	return NULL;
}

/*
 * A thread whose packing buffer cannot be allocated: our kernel says
 * FUNDUS_ENOMEM, the engine's product is still right (OpenBLAS), and the
 * thread gets its buffer once memory is back.
 */
TEST(no_packing_buffer)
{
	struct no_memory r = {0, NAN, -1, -1};
	pthread_t t;

	if (fundus__gemm_supported(FUNDUS__GEMM_AVX512))
		r.supported = FUNDUS__GEMM_AVX512;
	else if (fundus__gemm_supported(FUNDUS__GEMM_AVX2))
		r.supported = FUNDUS__GEMM_AVX2;
	CHECK_INT_EQ(pthread_create(&t, NULL, without_memory, &r), 0);
	CHECK_INT_EQ(pthread_join(t, NULL), 0);
	if (r.supported >= 0) {
		CHECK_INT_EQ(r.own_rc, FUNDUS_ENOMEM);
		CHECK_INT_EQ(r.again_rc, 0);
	}
	CHECK(r.c == 12.0f);
}

/* Unavailable kernels and empty products are refused, C untouched. */
TEST(refusals)
{
	float x = 1;

	CHECK_INT_EQ(fundus__sgemm_with(FUNDUS__GEMM_KERNELS, 0, 0, 1, 1, 1, 1.0f, &x, 1, &x, 1,
					0.0f, &x, 1),
		     FUNDUS_EUNSUPPORTED);
	CHECK_INT_EQ(fundus__sgemm_with(-1, 0, 0, 1, 1, 1, 1.0f, &x, 1, &x, 1, 0.0f, &x, 1),
		     FUNDUS_EUNSUPPORTED);
	for (int kn = 0; kn < FUNDUS__GEMM_KERNELS; kn++)
		if (fundus__gemm_supported(kn))
			CHECK_INT_EQ(
			    fundus__sgemm_with(kn, 0, 0, 1, 1, 0, 1.0f, &x, 1, &x, 1, 0.0f, &x, 1),
			    FUNDUS_EINVAL);
	CHECK(x == 1.0f);
}

int main(int argc, char **argv)
{
	RUN(environment_forces_kernel); /* first: nothing has chosen a kernel yet */
	RUN(kernels_match_reference);
	RUN(dispatcher_matches_reference);
	RUN(no_packing_buffer);
	RUN(refusals);
	return harness_done();
}
