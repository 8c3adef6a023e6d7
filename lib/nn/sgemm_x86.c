/*
 * Our own single-precision matrix product for x86-64, so that the engine
 * does not depend on OpenBLAS recognising the processor (0.3.21 takes
 * recent Xeons for a Prescott and runs its generic kernels, 2.7 times
 * slower than its AVX-512 ones).
 *
 * The method is BLIS's (Van Zee and van de Geijn, "BLIS: a framework for
 * rapidly instantiating BLAS functionality", 2015): C is cut into blocks
 * of NC columns, K into blocks of KC, and the rows into blocks of MC; each
 * KC x NC block of B is copied ("packed") into micro-panels of NR columns,
 * each MC x KC block of A into micro-panels of MR rows, both padded with
 * zeros to whole micro-panels, so that the transposes and the edges are
 * the packing's business and the micro-kernel computes an MR x NR tile
 * from two contiguous streams. The tiles are visited along the rows of C,
 * so that C is read and written in runs: a micro-panel of A (MR x KC)
 * stays in the level-1 cache while the micro-panels of B stream past it
 * from the level-2 cache (the B block, KC x NC, is 1 MiB).
 *
 * A packed panel pays for its copy only when it is used often. The
 * engine's weight gradients have few columns (n, the filters), so each
 * row of A meets one or two panels of B: A is then read where it is
 * (untransposed, a whole micro-panel of rows at a time). Its convolutions
 * forward have few rows (m, the filters): B is then read where it is. The
 * packed copies that remain use AVX-512 gathers and masked moves.
 *
 * Micro-kernels: AVX-512 12 x 32 (24 accumulators of 16 floats) and
 * AVX2 + FMA 6 x 16 (12 accumulators of 8), compiled for their
 * instruction sets with target attributes and chosen at run time, so
 * that the library builds and runs on any x86-64 (and elsewhere, where
 * none of this is compiled and fundus__sgemm() calls OpenBLAS).
 *
 * The order of the additions depends only on the shapes, never on
 * timing or threads: one input gives one result. C with beta = 0 is
 * never read (NaN in it does not matter).
 *
 * Packing buffers: one per thread, allocated at its first product and
 * freed when the thread exits (a pthread key). If that allocation fails,
 * fundus__sgemm_own() says so and fundus__sgemm() falls back to OpenBLAS.
 */
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "nn/internal.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HAVE_X86 1
#include <immintrin.h>
#else
#define HAVE_X86 0
#endif

#if HAVE_X86

/*
 * The micro-kernel: the C tile (mv x nv of mr x nr) = alpha A B + beta C,
 * beta 0: C not read. A is a packed micro-panel (lda 0: column p at a + p
 * mr) or, with lda > 0, mr whole rows of op(A) itself (element (i, p) at
 * a[i lda + p]); row p of B is at b + p ldb (ldb = nr for a packed
 * micro-panel). Only nv columns of a row of B need exist when the kernel
 * says masked_b; otherwise nv < nr only in packed micro-panels.
 */
typedef void micro_fn(int kc, const float *a, size_t lda, const float *b, size_t ldb, float *c,
		      size_t ldc, float alpha, float beta, int mv, int nv);

/*
 * Packing: rows [i0, i0 + mc) and columns [p0, p0 + kc) of op(A) into
 * micro-panels of mr rows (in each, column by column, mr values); rows
 * [p0, p0 + kc) and columns [j0, j0 + nc) of op(B) into micro-panels of nr
 * columns (in each, row by row, nr values); zeros past the edges.
 */
typedef void pack_a_fn(int mr, int ta, const float *a, size_t lda, int i0, int mc, int p0, int kc,
		       float *dst);
typedef void pack_b_fn(int nr, int tb, const float *b, size_t ldb, int p0, int kc, int j0, int nc,
		       float *dst);

/* A kernel's register tile and cache blocks. */
struct kern {
	int mr, nr;   /* register tile */
	int kc;       /* depth of a block: a micro-panel of A (mr x kc) fits the L1 cache */
	int mc;       /* rows of an A block (multiple of mr) */
	int nc;       /* columns of a B block (multiple of nr): the block fits the L2 cache */
	int masked_b; /* reads only the nv columns of B that exist */
	micro_fn *micro;
	pack_a_fn *pack_a;
	pack_b_fn *pack_b;
};

#define AVX512_MR 12
#define AVX512_NR 32
#define AVX2_MR   6
#define AVX2_NR   16

#define AVX512 __attribute__((target("avx512f")))
#define INLINE inline __attribute__((always_inline))

/*
 * Row i of an A read in place: four base pointers (rows 0, 3, 6, 9) and
 * one stride in bytes, scaled by 1 or 2 in the address, instead of twelve
 * pointers that spill.
 */
static INLINE const float *row_of(const float *const *base, size_t ldab, int i)
{
	return (const float *)((const char *)base[i / 3] + (size_t)(i % 3) * ldab);
}

/*
 * The AVX-512 micro-kernel, A packed or (direct) read in place, B whole or
 * (masked) not; half: at most 16 columns, one vector a row (the weight
 * gradients of 16 filters would otherwise compute as many zeros).
 */
AVX512 static INLINE void avx512_body(int direct, int masked, int half, int kc,
				      const float *restrict a, size_t lda, const float *restrict b,
				      size_t ldb, float *c, size_t ldc, float alpha, float beta,
				      int mv, int nv)
{
	const float *base[4] = {a, a + 3 * lda, a + 6 * lda, a + 9 * lda};
	size_t ldab = lda * sizeof(float);
	/* Masked loads and stores touch only the columns that exist. */
	__mmask16 k0 = (__mmask16)(nv >= 16 ? 0xffff : (1u << nv) - 1);
	__mmask16 k1 = (__mmask16)(nv <= 16 ? 0 : nv >= 32 ? 0xffff : (1u << (nv - 16)) - 1);
	__m512 acc[AVX512_MR][2];
	__m512 va, vb;

#pragma GCC unroll 16
	for (int i = 0; i < AVX512_MR; i++) {
		acc[i][0] = acc[i][1] = _mm512_setzero_ps();
		/* The tile's rows of C arrive while the products run, not at the store. */
		_mm_prefetch((const char *)(c + (size_t)i * ldc), _MM_HINT_T0);
		_mm_prefetch((const char *)(c + (size_t)i * ldc + 31), _MM_HINT_T0);
	}
#pragma GCC unroll 4
	for (int p = 0; p < kc; p++) {
		__m512 b0 = masked ? _mm512_maskz_loadu_ps(k0, b) : _mm512_loadu_ps(b);
		__m512 b1 = half     ? b0
			    : masked ? _mm512_maskz_loadu_ps(k1, b + 16)
				     : _mm512_loadu_ps(b + 16);

#pragma GCC unroll 16
		for (int i = 0; i < AVX512_MR; i++) {
			__m512 ai = _mm512_set1_ps(direct ? *row_of(base, ldab, i) : a[i]);

			acc[i][0] = _mm512_fmadd_ps(ai, b0, acc[i][0]);
			if (!half)
				acc[i][1] = _mm512_fmadd_ps(ai, b1, acc[i][1]);
		}
		if (direct)
			for (int q = 0; q < 4; q++)
				base[q]++;
		else
			a += AVX512_MR;
		b += ldb;
	}
	va = _mm512_set1_ps(alpha);
	vb = _mm512_set1_ps(beta);
#pragma GCC unroll 16
	for (int i = 0; i < AVX512_MR; i++) {
		float *r = c + (size_t)i * ldc;
		__m512 x0 = _mm512_mul_ps(acc[i][0], va), x1 = _mm512_mul_ps(acc[i][1], va);

		if (i >= mv)
			break;
		if (beta != 0.0f)
			x0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(k0, r), x0);
		_mm512_mask_storeu_ps(r, k0, x0);
		if (half)
			continue;
		if (beta != 0.0f)
			x1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(k1, r + 16), x1);
		_mm512_mask_storeu_ps(r + 16, k1, x1);
	}
}

AVX512 static void micro_avx512(int kc, const float *a, size_t lda, const float *b, size_t ldb,
				float *c, size_t ldc, float alpha, float beta, int mv, int nv)
{
	if (lda && nv <= 16)
		avx512_body(1, 1, 1, kc, a, lda, b, ldb, c, ldc, alpha, beta, mv, nv);
	else if (lda && nv < AVX512_NR)
		avx512_body(1, 1, 0, kc, a, lda, b, ldb, c, ldc, alpha, beta, mv, nv);
	else if (lda)
		avx512_body(1, 0, 0, kc, a, lda, b, ldb, c, ldc, alpha, beta, mv, nv);
	else if (nv <= 16)
		avx512_body(0, 1, 1, kc, a, 0, b, ldb, c, ldc, alpha, beta, mv, nv);
	else if (nv < AVX512_NR)
		avx512_body(0, 1, 0, kc, a, 0, b, ldb, c, ldc, alpha, beta, mv, nv);
	else
		avx512_body(0, 0, 0, kc, a, 0, b, ldb, c, ldc, alpha, beta, mv, nv);
}

#define AVX2 __attribute__((target("avx2,fma")))

/* The AVX2 micro-kernel, A packed or (direct) read in place. */
AVX2 static INLINE void avx2_body(int direct, int kc, const float *restrict a, size_t lda,
				  const float *restrict b, size_t ldb, float *c, size_t ldc,
				  float alpha, float beta, int mv, int nv)
{
	__m256 acc[AVX2_MR][2];
	__m256 va, vb;

#pragma GCC unroll 8
	for (int i = 0; i < AVX2_MR; i++)
		acc[i][0] = acc[i][1] = _mm256_setzero_ps();
#pragma GCC unroll 4
	for (int p = 0; p < kc; p++) {
		__m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);

#pragma GCC unroll 8
		for (int i = 0; i < AVX2_MR; i++) {
			__m256 ai = _mm256_broadcast_ss(direct ? a + (size_t)i * lda : a + i);

			acc[i][0] = _mm256_fmadd_ps(ai, b0, acc[i][0]);
			acc[i][1] = _mm256_fmadd_ps(ai, b1, acc[i][1]);
		}
		a += direct ? 1 : AVX2_MR;
		b += ldb;
	}
	va = _mm256_set1_ps(alpha);
	vb = _mm256_set1_ps(beta);
	if (mv == AVX2_MR && nv == AVX2_NR) {
#pragma GCC unroll 8
		for (int i = 0; i < AVX2_MR; i++) {
			float *r = c + (size_t)i * ldc;
			__m256 x0 = _mm256_mul_ps(acc[i][0], va), x1 = _mm256_mul_ps(acc[i][1], va);

			if (beta != 0.0f) {
				x0 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(r), x0);
				x1 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(r + 8), x1);
			}
			_mm256_storeu_ps(r, x0);
			_mm256_storeu_ps(r + 8, x1);
		}
	} else {
		/* The tile through a buffer, and only what exists of it into C. */
		float t[AVX2_MR * AVX2_NR];

#pragma GCC unroll 8
		for (int i = 0; i < AVX2_MR; i++) {
			_mm256_storeu_ps(t + i * AVX2_NR, _mm256_mul_ps(acc[i][0], va));
			_mm256_storeu_ps(t + i * AVX2_NR + 8, _mm256_mul_ps(acc[i][1], va));
		}
		for (int i = 0; i < mv; i++) {
			float *r = c + (size_t)i * ldc;

			if (beta != 0.0f)
				for (int j = 0; j < nv; j++)
					r[j] = t[i * AVX2_NR + j] + beta * r[j];
			else
				for (int j = 0; j < nv; j++)
					r[j] = t[i * AVX2_NR + j];
		}
	}
}

AVX2 static void micro_avx2(int kc, const float *a, size_t lda, const float *b, size_t ldb,
			    float *c, size_t ldc, float alpha, float beta, int mv, int nv)
{
	if (lda)
		avx2_body(1, kc, a, lda, b, ldb, c, ldc, alpha, beta, mv, nv);
	else
		avx2_body(0, kc, a, 0, b, ldb, c, ldc, alpha, beta, mv, nv);
}

/* Packs a block of A (pack_a_fn), in plain C. */
static void pack_a(int mr, int ta, const float *a, size_t lda, int i0, int mc, int p0, int kc,
		   float *dst)
{
	for (int ir = 0; ir < mc; ir += mr) {
		int mv = mc - ir < mr ? mc - ir : mr;

		if (!ta) {
			/* A[i][p] = a[i lda + p]: each row a run, written every mr. */
			for (int i = 0; i < mv; i++) {
				const float *s = a + (size_t)(i0 + ir + i) * lda + p0;

				for (int p = 0; p < kc; p++)
					dst[(size_t)p * (size_t)mr + (size_t)i] = s[p];
			}
			for (int i = mv; i < mr; i++)
				for (int p = 0; p < kc; p++)
					dst[(size_t)p * (size_t)mr + (size_t)i] = 0.0f;
		} else {
			/* A[i][p] = a[p lda + i]: mr values of a row at a time. */
			for (int p = 0; p < kc; p++) {
				const float *s = a + (size_t)(p0 + p) * lda + i0 + ir;
				float *d = dst + (size_t)p * (size_t)mr;

				memcpy(d, s, (size_t)mv * sizeof *d);
				for (int i = mv; i < mr; i++)
					d[i] = 0.0f;
			}
		}
		dst += (size_t)mr * (size_t)kc;
	}
}

/* Packs a block of B (pack_b_fn), in plain C. */
static void pack_b(int nr, int tb, const float *b, size_t ldb, int p0, int kc, int j0, int nc,
		   float *dst)
{
	for (int jr = 0; jr < nc; jr += nr) {
		int nv = nc - jr < nr ? nc - jr : nr;

		if (!tb) {
			/* B[p][j] = b[p ldb + j]: nr values of a row at a time. */
			for (int p = 0; p < kc; p++) {
				const float *s = b + (size_t)(p0 + p) * ldb + j0 + jr;
				float *d = dst + (size_t)p * (size_t)nr;

				memcpy(d, s, (size_t)nv * sizeof *d);
				for (int j = nv; j < nr; j++)
					d[j] = 0.0f;
			}
		} else {
			/* B[p][j] = b[j ldb + p]: each column a run, written every nr. */
			for (int j = 0; j < nv; j++) {
				const float *s = b + (size_t)(j0 + jr + j) * ldb + p0;

				for (int p = 0; p < kc; p++)
					dst[(size_t)p * (size_t)nr + (size_t)j] = s[p];
			}
			for (int j = nv; j < nr; j++)
				for (int p = 0; p < kc; p++)
					dst[(size_t)p * (size_t)nr + (size_t)j] = 0.0f;
		}
		dst += (size_t)nr * (size_t)kc;
	}
}

/* Packs a block of A (pack_a_fn) into micro-panels of 12 rows, with AVX-512. */
AVX512 static void pack_a_avx512(int mr, int ta, const float *a, size_t lda, int i0, int mc, int p0,
				 int kc, float *dst)
{
	__m512i idx = _mm512_mullo_epi32(
	    _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
	    _mm512_set1_epi32((int)lda));

	/* Gathers take 32-bit offsets: wider rows go the plain way. */
	if (!ta && lda > INT32_MAX / 16) {
		pack_a(mr, ta, a, lda, i0, mc, p0, kc, dst);
		return;
	}
	for (int ir = 0; ir < mc; ir += AVX512_MR) {
		int mv = mc - ir < AVX512_MR ? mc - ir : AVX512_MR;
		__mmask16 km = (__mmask16)((1u << mv) - 1);

		if (!ta) {
			const float *s = a + (size_t)(i0 + ir) * lda + p0;

			for (int p = 0; p < kc; p++)
				_mm512_mask_storeu_ps(dst + (size_t)p * AVX512_MR, 0x0fff,
						      _mm512_mask_i32gather_ps(_mm512_setzero_ps(),
									       km, idx, s + p, 4));
		} else {
			for (int p = 0; p < kc; p++)
				_mm512_mask_storeu_ps(
				    dst + (size_t)p * AVX512_MR, 0x0fff,
				    _mm512_maskz_loadu_ps(km,
							  a + (size_t)(p0 + p) * lda + i0 + ir));
		}
		dst += (size_t)AVX512_MR * (size_t)kc;
	}
}

/* Packs a block of B (pack_b_fn) into micro-panels of 32 columns, with AVX-512. */
AVX512 static void pack_b_avx512(int nr, int tb, const float *b, size_t ldb, int p0, int kc, int j0,
				 int nc, float *dst)
{
	__m512i idx = _mm512_mullo_epi32(
	    _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
	    _mm512_set1_epi32((int)ldb));

	if (tb && ldb > INT32_MAX / 16) {
		pack_b(nr, tb, b, ldb, p0, kc, j0, nc, dst);
		return;
	}
	for (int jr = 0; jr < nc; jr += AVX512_NR) {
		int nv = nc - jr < AVX512_NR ? nc - jr : AVX512_NR;
		__mmask16 k0 = (__mmask16)(nv >= 16 ? 0xffff : (1u << nv) - 1);
		__mmask16 k1 = (__mmask16)(nv <= 16   ? 0
					   : nv >= 32 ? 0xffff
						      : (1u << (nv - 16)) - 1);

		if (!tb) {
			for (int p = 0; p < kc; p++) {
				const float *s = b + (size_t)(p0 + p) * ldb + j0 + jr;
				float *d = dst + (size_t)p * AVX512_NR;

				_mm512_storeu_ps(d, _mm512_maskz_loadu_ps(k0, s));
				_mm512_storeu_ps(d + 16, _mm512_maskz_loadu_ps(k1, s + 16));
			}
		} else {
			const float *s0 = b + (size_t)(j0 + jr) * ldb + p0;
			/* The second 16 rows, when they exist. */
			const float *s1 = k1 ? s0 + 16 * ldb : s0;

			for (int p = 0; p < kc; p++) {
				float *d = dst + (size_t)p * AVX512_NR;

				_mm512_storeu_ps(d, _mm512_mask_i32gather_ps(_mm512_setzero_ps(),
									     k0, idx, s0 + p, 4));
				_mm512_storeu_ps(d + 16,
						 _mm512_mask_i32gather_ps(_mm512_setzero_ps(), k1,
									  idx, s1 + p, 4));
			}
		}
		dst += (size_t)AVX512_NR * (size_t)kc;
	}
}

static const struct kern kernels[FUNDUS__GEMM_KERNELS] = {
    [FUNDUS__GEMM_AVX2] = {AVX2_MR, AVX2_NR, 256, 16 * AVX2_MR, 1024, 0, micro_avx2, pack_a,
			   pack_b},
    [FUNDUS__GEMM_AVX512] = {AVX512_MR, AVX512_NR, 256, 16 * AVX512_MR, 1024, 1, micro_avx512,
			     pack_a_avx512, pack_b_avx512},
};

/* Floats of the packing buffer that every kernel fits in (plus alignment). */
static size_t buffer_floats(void)
{
	size_t n = 0;

	for (int i = 0; i < FUNDUS__GEMM_KERNELS; i++) {
		const struct kern *k = &kernels[i];
		size_t f = (size_t)k->mc * (size_t)k->kc + (size_t)k->kc * (size_t)k->nc;

		if (k->micro && f > n)
			n = f;
	}
	return n + 64;
}

static pthread_key_t buf_key;
static pthread_once_t buf_once = PTHREAD_ONCE_INIT;
static int buf_key_ok;

/* Frees a thread's packing buffer when it exits. */
static void buf_free(void *p)
{
	fundus_free(p);
}

/* Makes the key of the packing buffers, once per process. */
static void buf_init(void)
{
	buf_key_ok = pthread_key_create(&buf_key, buf_free) == 0;
}

/* This thread's packing buffer, 64-byte aligned; NULL when out of memory. */
static float *thread_buffer(void)
{
	void *p;

	pthread_once(&buf_once, buf_init);
	if (!buf_key_ok)
		return NULL;
	p = pthread_getspecific(buf_key);
	if (p == NULL) {
		p = fundus_malloc(buffer_floats() * sizeof(float));
		if (p == NULL)
			return NULL;
		if (pthread_setspecific(buf_key, p) != 0) {
			fundus_free(p);
			return NULL;
		}
	}
	return (float *)(((uintptr_t)p + 63) & ~(uintptr_t)63);
}

/*
 * Up to these many columns (rows), A (B) is read in place rather than
 * packed: measured on the engine's shapes (bench_gemm), AVX-512.
 */
#define DIRECT_A_MAX_N 128
#define DIRECT_B_MAX_M 96

/* Cuts n into the fewest parts of at most max, of nearly equal sizes that are multiples of q. */
static int even_part(int n, int max, int q)
{
	int parts = (n + max - 1) / max, s = (n + parts - 1) / parts;

	s = (s + q - 1) / q * q;
	return s > max ? max : s;
}

int fundus__sgemm_own(int kernel, int ta, int tb, int m, int n, int k, float alpha, const float *a,
		      int lda, const float *b, int ldb, float beta, float *c, int ldc)
{
	const struct kern *kn;
	float *pa, *pb;
	int kc, mc, direct_a, direct_b;

	if (!fundus__gemm_supported(kernel) || kernel == FUNDUS__GEMM_BLAS)
		return fundus_error_set(FUNDUS_EUNSUPPORTED, "matrix kernel %d not available here",
					kernel);
	if (m <= 0 || n <= 0 || k <= 0)
		return fundus_error_set(FUNDUS_EINVAL, "empty matrix product");
	kn = &kernels[kernel];
	pa = thread_buffer();
	if (pa == NULL)
		return fundus_error_set(FUNDUS_ENOMEM, "no memory to pack matrices");
	pb = pa + (size_t)kn->mc * (size_t)kn->kc;
	/* Few columns: A in place; few rows: B in place (see the top of the file). */
	direct_a = !ta && n <= DIRECT_A_MAX_N;
	direct_b = !tb && m <= DIRECT_B_MAX_M;
	/* Blocks of even sizes: K = 288 is two blocks of 144, not 256 and 32. */
	kc = even_part(k, kn->kc, 1);
	mc = even_part(m, kn->mc, kn->mr);
	for (int jc = 0; jc < n; jc += kn->nc) {
		int nc = n - jc < kn->nc ? n - jc : kn->nc;

		for (int pc = 0; pc < k; pc += kc) {
			int kb = k - pc < kc ? k - pc : kc;
			/* Later blocks of K add to what the first one wrote. */
			float bt = pc == 0 ? beta : 1.0f;

			if (!direct_b)
				kn->pack_b(kn->nr, tb, b, (size_t)ldb, pc, kb, jc, nc, pb);
			/* B read in place still needs its last columns padded (AVX2). */
			if (direct_b && !kn->masked_b && nc % kn->nr)
				kn->pack_b(kn->nr, tb, b, (size_t)ldb, pc, kb,
					   jc + nc / kn->nr * kn->nr, nc % kn->nr, pb);
			for (int ic = 0; ic < m; ic += mc) {
				int mb = m - ic < mc ? m - ic : mc, full = mb / kn->mr * kn->mr;

				/* Read in place, A still needs its last rows padded. */
				if (!direct_a)
					kn->pack_a(kn->mr, ta, a, (size_t)lda, ic, mb, pc, kb, pa);
				else if (full < mb)
					kn->pack_a(kn->mr, ta, a, (size_t)lda, ic + full, mb - full,
						   pc, kb, pa);
				/*
				 * Along a row of C tiles: C is read and written in runs
				 * (rows of C far apart thrash the TLB and the prefetchers
				 * when K is short), the micro-panel of A stays in L1 and
				 * the panels of B stream from L2.
				 */
				for (int ir = 0; ir < mb; ir += kn->mr) {
					int mv = mb - ir < kn->mr ? mb - ir : kn->mr;
					const float *ap = pa + (size_t)ir * (size_t)kb;
					size_t as = 0;

					if (direct_a && ir < full) {
						ap = a + (size_t)(ic + ir) * (size_t)lda +
						     (size_t)pc;
						as = (size_t)lda;
					} else if (direct_a) {
						ap = pa;
					}
					for (int jr = 0; jr < nc; jr += kn->nr) {
						int nv = nc - jr < kn->nr ? nc - jr : kn->nr;
						const float *bp = pb + (size_t)jr * (size_t)kb;
						size_t bs = (size_t)kn->nr;
						float *cp = c + (size_t)(ic + ir) * (size_t)ldc +
							    (size_t)(jc + jr);

						if (direct_b && (nv == kn->nr || kn->masked_b)) {
							bp = b + (size_t)pc * (size_t)ldb +
							     (size_t)(jc + jr);
							bs = (size_t)ldb;
						} else if (direct_b) {
							bp = pb;
						}
						kn->micro(kb, ap, as, bp, bs, cp, (size_t)ldc,
							  alpha, bt, mv, nv);
					}
				}
			}
		}
	}
	return 0;
}

int fundus__gemm_supported(int kernel)
{
	if (kernel == FUNDUS__GEMM_BLAS)
		return 1;
	if (kernel < 0 || kernel >= FUNDUS__GEMM_KERNELS || kernels[kernel].micro == NULL)
		return 0;
	__builtin_cpu_init();
	if (kernel == FUNDUS__GEMM_AVX2)
		return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
	return __builtin_cpu_supports("avx512f");
}

#else /* !HAVE_X86 */

int fundus__sgemm_own(int kernel, int ta, int tb, int m, int n, int k, float alpha, const float *a,
		      int lda, const float *b, int ldb, float beta, float *c, int ldc)
{
	return fundus_error_set(FUNDUS_EUNSUPPORTED, "matrix kernel %d not available here", kernel);
}

int fundus__gemm_supported(int kernel)
{
	return kernel == FUNDUS__GEMM_BLAS;
}

#endif
