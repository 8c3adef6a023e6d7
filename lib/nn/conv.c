/*
 * The [convolutional] layer: 2-D convolution with any kernel size, stride,
 * padding, dilation and groups, optionally followed by batch norm, then an
 * activation; the three are one layer so that the fast path can fuse them.
 *
 * Fast path. Activations are channel-major (internal.h), so the input of
 * one group is a (Cg x B*H*W) matrix and the output a (Mg x B*Ho*Wo) one:
 * the convolution is W (Mg x K) times the column matrix (K x B*Ho*Wo) with
 * K = Cg*k*k. A 1x1 convolution with stride 1 needs no column matrix at
 * all. Depthwise convolutions (one channel per group) run directly, without
 * a matrix product. The work is split over the context's pool in pieces
 * that never write the same memory, so that no sum depends on which thread
 * ran what: results are the same run after run for a given thread count.
 *
 *  forward:  either tiles of columns, each im2col'd into the worker's
 *            scratch (in cache) and multiplied at once; or, when there are
 *            too few columns to share out, one shared column matrix and a
 *            grid of (filter block x column block) products. Bias and the
 *            activation are applied to each piece as it is finished; at
 *            inference batch norm is folded into W and the bias.
 *  backward: the gradient through the activation and batch norm per
 *            channel; then, per block of input channels, the rows of the
 *            column matrix for those channels, the matching columns of dW
 *            and the gradient of those input channels (col2im).
 */
#include <math.h>
#include <string.h>

#include "nn/internal.h"

/* Floats of a column tile the fused forward keeps in cache (1 MiB). */
#define COL_BUDGET ((size_t)1 << 18)
/* Fewest columns per product: below this, packing the weights dominates. */
#define MIN_TILE 1024
/* Up to this many filters per group, dW is made transposed (make_plan()). */
#define DWT_MAX_FILTERS 256

struct conv_spec {
	int filters, size, stride, pad, padding, dilation, groups, bn, act;
};

enum { W_WEIGHT, W_GAMMA, W_BETA, W_MEAN, W_VAR };
enum { W_BIAS = 1 };

static const struct fundus__key conv_keys[] = {
    FUNDUS__K_INT("filters", struct conv_spec, filters, 1, 0, 1, FUNDUS_NET_MAX_CHANNELS),
    FUNDUS__K_INT("size", struct conv_spec, size, 0, 1, 1, FUNDUS_NET_MAX_KERNEL),
    FUNDUS__K_INT("stride", struct conv_spec, stride, 0, 1, 1, FUNDUS_NET_MAX_KERNEL),
    FUNDUS__K_INT("pad", struct conv_spec, pad, 0, 0, 0, 1),
    FUNDUS__K_INT("padding", struct conv_spec, padding, 0, -1, 0,
		  FUNDUS_NET_MAX_KERNEL *FUNDUS_NET_MAX_KERNEL),
    FUNDUS__K_INT("dilation", struct conv_spec, dilation, 0, 1, 1, FUNDUS_NET_MAX_KERNEL),
    FUNDUS__K_INT("groups", struct conv_spec, groups, 0, 1, 1, FUNDUS_NET_MAX_CHANNELS),
    FUNDUS__K_INT("batch_normalize", struct conv_spec, bn, 0, 0, 0, 1),
    FUNDUS__K_ENUM("activation", struct conv_spec, act, 0, FUNDUS__ACT_LINEAR, fundus__act_names,
		   fundus__act_values),
    FUNDUS__K_END,
};

/* The padding on each side. */
static int conv_pad(const struct conv_spec *sp)
{
	if (sp->padding >= 0)
		return sp->padding;
	return sp->pad ? sp->dilation * (sp->size - 1) / 2 : 0;
}

/* Checks the groups and padding, and declares the weight and the bias or batch norm. */
static int conv_build(struct fundus_net *net, struct fundus__layer *l)
{
	const struct conv_spec *sp = l->spec;
	int c = fundus__in_channels(net, l);
	int dims[4] = {sp->filters, c / sp->groups, sp->size, sp->size}, m = sp->filters, rc;

	if (sp->pad && sp->padding >= 0)
		return fundus_error_set(FUNDUS_EFORMAT,
					"line %d: [convolutional]: give pad or padding, not both",
					l->line);
	if (c % sp->groups || sp->filters % sp->groups)
		return fundus_error_set(FUNDUS_EFORMAT,
					"line %d: [convolutional]: groups=%d does not divide %d "
					"input channels and %d filters",
					l->line, sp->groups, c, sp->filters);
	l->channels = sp->filters;
	rc = fundus__layer_add_tensor(net, l, "weight", 4, dims, 1, 1, FUNDUS__INIT_HE,
				      dims[1] * dims[2] * dims[3]);
	if (rc < 0)
		return rc;
	if (!sp->bn)
		return fundus__layer_add_tensor(net, l, "bias", 1, &m, 1, 0, FUNDUS__INIT_ZERO, 0);
	rc = fundus__layer_add_tensor(net, l, "bn.gamma", 1, &m, 1, 0, FUNDUS__INIT_ONE, 0);
	if (rc == 0)
		rc = fundus__layer_add_tensor(net, l, "bn.beta", 1, &m, 1, 0, FUNDUS__INIT_ZERO, 0);
	if (rc == 0)
		rc = fundus__layer_add_tensor(net, l, "bn.mean", 1, &m, 0, 0, FUNDUS__INIT_ZERO, 0);
	if (rc == 0)
		rc = fundus__layer_add_tensor(net, l, "bn.var", 1, &m, 0, 0, FUNDUS__INIT_ONE, 0);
	return rc;
}

/* Output size: (in + 2 padding - dilation (size - 1) - 1) / stride + 1. */
static int conv_shape(const struct fundus_net *net, const struct fundus__layer *l, const int *in_h,
		      const int *in_w, int *h, int *w)
{
	const struct conv_spec *sp = l->spec;
	int span = sp->dilation * (sp->size - 1) + 1, p = conv_pad(sp);

	if (in_h[0] + 2 * p < span || in_w[0] + 2 * p < span)
		return fundus_error_set(
		    FUNDUS_EINVAL,
		    "layer %d [convolutional] (line %d): input %dx%d is smaller "
		    "than the kernel (%d)",
		    l->index, l->line, in_w[0], in_h[0], span);
	*h = (in_h[0] + 2 * p - span) / sp->stride + 1;
	*w = (in_w[0] + 2 * p - span) / sp->stride + 1;
	return 0;
}

/* Multiply-adds times 2, as darknet counts them. */
static double conv_flops(const struct fundus_net *net, const struct fundus__layer *l, int h, int w)
{
	const struct conv_spec *sp = l->spec;
	int span = sp->dilation * (sp->size - 1) + 1, p = conv_pad(sp);
	double ho = (h + 2 * p - span) / sp->stride + 1, wo = (w + 2 * p - span) / sp->stride + 1;
	int c = fundus__in_channels(net, l);

	return 2.0 * sp->filters * (c / sp->groups) * sp->size * sp->size * ho * wo;
}

/* The sizes of one convolution in a context. */
struct geom {
	int C, H, W, M, Ho, Wo, k, s, p, d, G, Cg, Mg, B, K;
	size_t Nin, N; /* columns of the input and output matrices: B*H*W, B*Ho*Wo */
	int pointwise; /* 1x1, stride 1, no padding: the input is the column matrix */
	int depthwise; /* one input and one output channel per group */
};

/* The sizes of this convolution in this context. */
static void get_geom(const struct fundus_nn_ctx *ctx, const struct fundus__layer *l, struct geom *g)
{
	const struct conv_spec *sp = l->spec;
	const struct fundus__state *in = fundus__in(ctx, l, 0), *s = &ctx->st[l->index];

	g->C = in->c;
	g->H = in->h;
	g->W = in->w;
	g->M = sp->filters;
	g->Ho = s->h;
	g->Wo = s->w;
	g->k = sp->size;
	g->s = sp->stride;
	g->p = conv_pad(sp);
	g->d = sp->dilation;
	g->G = sp->groups;
	g->Cg = g->C / g->G;
	g->Mg = g->M / g->G;
	g->B = ctx->p.batch;
	g->K = g->Cg * g->k * g->k;
	g->Nin = in->plane;
	g->N = s->plane;
	g->pointwise = g->k == 1 && g->s == 1 && g->p == 0;
	g->depthwise = g->Cg == 1 && g->Mg == 1 && !g->pointwise;
}

/*
 * How the fast path splits one convolution in a context; the same answer
 * sizes the scratch space when the context is made.
 */
struct plan {
	int fused;         /* forward: column tiles im2col'd per worker */
	size_t nt, ntiles; /* forward tile width and count (fused) */
	int nmb, ntb;      /* forward grid of filter blocks x column blocks (not fused) */
	int chunks;        /* backward: column chunks with partial dW, or 0 */
	int chunk_dx;      /* the chunks, cut at whole images, also make dX */
	int ncb;           /* backward: input channel blocks per group */
	size_t bnt;        /* backward tile width */
	int dwt;           /* backward: dW made transposed (faster for few filters), in scratch */
	size_t worker, shared; /* scratch floats */
};

/* v rounded up to a multiple of m. */
static size_t round_up(size_t v, size_t m)
{
	return (v + m - 1) / m * m;
}

/* Splits the work of one convolution for the context's workers (struct plan). */
static void make_plan(const struct fundus_nn_ctx *ctx, const struct geom *g, struct plan *pl)
{
	int nw = ctx->nworkers;
	int blas = ctx->p.threading == FUNDUS_NN_BLAS_THREADS && ctx->p.pool == NULL;
	size_t want = nw > 1 ? 2 * (size_t)nw : 1, cb, rows, need;

	memset(pl, 0, sizeof *pl);
	if (g->depthwise)
		return;
	/* Forward. */
	pl->nt = COL_BUDGET / (size_t)g->K;
	pl->nt = round_up(pl->nt < MIN_TILE ? MIN_TILE : pl->nt, 64);
	if (pl->nt > g->N)
		pl->nt = g->N;
	pl->ntiles = (g->N + pl->nt - 1) / pl->nt;
	if (nw > 1 && pl->ntiles > 1) {
		/* As many tiles for every worker, of about equal width. */
		pl->ntiles = round_up(pl->ntiles, (size_t)nw);
		pl->nt = round_up((g->N + pl->ntiles - 1) / pl->ntiles, 16);
		pl->ntiles = (g->N + pl->nt - 1) / pl->nt;
	}
	pl->fused = !g->pointwise && !blas && (nw == 1 || (size_t)g->G * pl->ntiles >= want);
	if (pl->fused) {
		pl->worker = (size_t)g->K * pl->nt;
	} else {
		size_t ntb = g->N / 256 ? g->N / 256 : 1, nmb;

		if (blas)
			want = 1;
		want = (want + (size_t)g->G - 1) / (size_t)g->G;
		if (ntb > want)
			ntb = want;
		nmb = (want + ntb - 1) / ntb;
		if (nmb > (size_t)(g->Mg + 15) / 16)
			nmb = (size_t)(g->Mg + 15) / 16;
		pl->ntb = (int)ntb;
		pl->nmb = (int)(nmb ? nmb : 1);
		if (!g->pointwise)
			pl->shared = (size_t)g->G * (size_t)g->K * g->N;
	}
	/* Backward. */
	if (!ctx->training)
		return;
	/*
	 * One channel block per worker: each block packs the whole output
	 * gradient again, so more blocks cost more than the finer balance
	 * gains (3% of a training step of yolov3-tiny on two cores).
	 */
	want = nw > 1 ? (size_t)nw : 1;
	if (blas)
		want = 1;
	/*
	 * Chunks of columns, each with its own partial dW, when there are too
	 * few input channels to share out, or when the gradient of the output
	 * is large next to dW: channel blocks would each read all of it, a
	 * chunk reads its part once. Chunks cut at whole images also make dX
	 * (col2im never crosses an image).
	 */
	if (nw > 1 && !blas && !g->pointwise &&
	    (g->G * g->Cg < (int)want || (size_t)g->G * (size_t)g->K * 4 * (size_t)nw <= g->N)) {
		pl->chunks = nw;
		pl->chunk_dx = g->B >= nw;
		if (fundus_size_mul3(&rows, (size_t)pl->chunks, (size_t)g->M, (size_t)g->K) == 0 &&
		    rows > pl->shared)
			pl->shared = rows;
	}
	cb = (want + (size_t)g->G - 1) / (size_t)g->G;
	pl->ncb = (int)(cb > (size_t)g->Cg ? (size_t)g->Cg : cb);
	if (g->pointwise) {
		pl->dwt = g->Mg <= DWT_MAX_FILTERS;
		if (pl->dwt)
			pl->worker = (size_t)((g->Cg + pl->ncb - 1) / pl->ncb) * (size_t)g->Mg;
		return;
	}
	rows = pl->chunks ? (size_t)g->K
			  : (size_t)((g->Cg + pl->ncb - 1) / pl->ncb) * (size_t)(g->k * g->k);
	/*
	 * With few filters OpenBLAS makes (rows x filters) = col dz^T faster
	 * than its transpose dz col^T: 10 to 30% for the first layers of
	 * yolov3-tiny, none from 256 filters up.
	 */
	pl->dwt = g->Mg <= DWT_MAX_FILTERS;
	pl->bnt = COL_BUDGET / rows;
	pl->bnt = round_up(pl->bnt < MIN_TILE ? MIN_TILE : pl->bnt, 64);
	if (pl->bnt > g->N)
		pl->bnt = g->N;
	/* Chunks keep their transposed dW in the shared partial sums, not here. */
	need = rows * pl->bnt + (pl->dwt && !pl->chunks ? rows * (size_t)g->Mg : 0);
	if (need > pl->worker)
		pl->worker = need;
}

/* How many column tiles of each channel the forward pass makes. */
static int tiles_per_channel(const struct geom *g, const struct plan *pl)
{
	if (g->depthwise)
		return 1;
	return pl->fused ? (int)pl->ntiles : pl->ntb;
}

/* The columns of tile t of a channel (the forward pass's and its statistics'). */
static void tile_columns(const struct geom *g, const struct plan *pl, int t, size_t *p0, size_t *p1)
{
	if (g->depthwise) {
		*p0 = 0;
		*p1 = g->N;
	} else if (pl->fused) {
		*p0 = (size_t)t * pl->nt;
		*p1 = *p0 + pl->nt < g->N ? *p0 + pl->nt : g->N;
	} else {
		*p0 = g->N * (size_t)t / (size_t)pl->ntb;
		*p1 = g->N * (size_t)(t + 1) / (size_t)pl->ntb;
	}
}

/* Scratch sizes: column tiles per worker, a shared column matrix or partial sums. */
static void conv_scratch(const struct fundus_nn_ctx *ctx, const struct fundus__layer *l,
			 size_t *per_worker, size_t *shared)
{
	struct geom g;
	struct plan pl;

	get_geom(ctx, l, &g);
	if (!ctx->fast) {
		/* The reference backward keeps the gradient before batch norm. */
		*shared = ctx->training ? ctx->st[l->index].count : 0;
		return;
	}
	make_plan(ctx, &g, &pl);
	*per_worker = pl.worker;
	*shared = pl.shared;
}

/*
 * In training, the output before batch norm and activation; with batch
 * norm, the statistics: mean and inverse deviation per channel, then the
 * mean and sum of squared deviations of each channel over each column tile
 * of the forward pass, which the epilogue computes while the tile is in
 * cache.
 */
static void conv_state(const struct fundus_nn_ctx *ctx, const struct fundus__layer *l, size_t *z,
		       size_t *stats, size_t *idx)
{
	const struct conv_spec *sp = l->spec;

	if (ctx->training)
		*z = ctx->st[l->index].count;
	if (sp->bn) {
		struct geom g;
		struct plan pl;

		get_geom(ctx, l, &g);
		make_plan(ctx, &g, &pl);
		*stats = 2 * (size_t)sp->filters * (1 + (size_t)tiles_per_channel(&g, &pl));
	}
}

/* Folds batch norm into the weights and a bias, for inference. */
static int conv_fold(struct fundus_net *net, const struct fundus__layer *l, float **w, float **b)
{
	const struct conv_spec *sp = l->spec;
	const struct fundus__tensor *wt = &net->tensors[l->tensor0 + W_WEIGHT];
	size_t per = wt->count / (size_t)sp->filters;

	if (!sp->bn)
		return 0;
	if (*w == NULL)
		*w = fundus_malloc(wt->count * sizeof **w);
	if (*b == NULL)
		*b = fundus_malloc((size_t)sp->filters * sizeof **b);
	if (*w == NULL || *b == NULL)
		return FUNDUS_ENOMEM;
	for (int m = 0; m < sp->filters; m++) {
		float s = fundus__tensor_data(net, l, W_GAMMA)[m] /
			  sqrtf(fundus__tensor_data(net, l, W_VAR)[m] + FUNDUS__BN_EPS);

		for (size_t i = 0; i < per; i++)
			(*w)[(size_t)m * per + i] = wt->data[(size_t)m * per + i] * s;
		(*b)[m] = fundus__tensor_data(net, l, W_BETA)[m] -
			  fundus__tensor_data(net, l, W_MEAN)[m] * s;
	}
	return 0;
}

/*
 * Writes rows [c0 k k, c1 k k) of the column matrix of one group (x: its
 * first channel plane) for output columns [p0, p1) into col, rows ld apart.
 */
static void im2col(const struct geom *g, const float *x, int c0, int c1, size_t p0, size_t p1,
		   float *col, size_t ld)
{
	size_t hwi = (size_t)g->H * (size_t)g->W, hwo = (size_t)g->Ho * (size_t)g->Wo;

	for (int c = c0; c < c1; c++) {
		const float *plane = x + (size_t)c * g->Nin;

		for (int ky = 0; ky < g->k; ky++) {
			for (int kx = 0; kx < g->k; kx++) {
				float *dst = col;
				size_t p = p0, b = p0 / hwo, r = p0 % hwo;
				int oy = (int)(r / (size_t)g->Wo), ox = (int)(r % (size_t)g->Wo);

				col += ld;
				while (p < p1) {
					int run = g->Wo - ox, iy = oy * g->s - g->p + ky * g->d;

					if ((size_t)run > p1 - p)
						run = (int)(p1 - p);
					if (iy < 0 || iy >= g->H) {
						memset(dst, 0, (size_t)run * sizeof *dst);
					} else {
						const float *src =
						    plane + b * hwi + (size_t)iy * g->W;
						int ix0 = ox * g->s - g->p + kx * g->d;

						if (g->s == 1) {
							int lo = -ix0, hi = g->W - ix0;

							lo = lo < 0 ? 0 : lo > run ? run : lo;
							hi = hi < lo ? lo : hi > run ? run : hi;
							memset(dst, 0, (size_t)lo * sizeof *dst);
							memcpy(dst + lo, src + ix0 + lo,
							       (size_t)(hi - lo) * sizeof *dst);
							memset(dst + hi, 0,
							       (size_t)(run - hi) * sizeof *dst);
						} else {
							for (int i = 0; i < run; i++) {
								int ix = ix0 + i * g->s;

								dst[i] =
								    (unsigned)ix < (unsigned)g->W
									? src[ix]
									: 0.0f;
							}
						}
					}
					dst += run;
					p += (size_t)run;
					ox += run;
					if (ox == g->Wo) {
						ox = 0;
						if (++oy == g->Ho) {
							oy = 0;
							b++;
						}
					}
				}
			}
		}
	}
}

/* The adjoint of im2col: adds the rows of col back into the input planes. */
static void col2im(const struct geom *g, float *x, int c0, int c1, size_t p0, size_t p1,
		   const float *col, size_t ld)
{
	size_t hwi = (size_t)g->H * (size_t)g->W, hwo = (size_t)g->Ho * (size_t)g->Wo;

	for (int c = c0; c < c1; c++) {
		float *plane = x + (size_t)c * g->Nin;

		for (int ky = 0; ky < g->k; ky++) {
			for (int kx = 0; kx < g->k; kx++) {
				const float *src = col;
				size_t p = p0, b = p0 / hwo, r = p0 % hwo;
				int oy = (int)(r / (size_t)g->Wo), ox = (int)(r % (size_t)g->Wo);

				col += ld;
				while (p < p1) {
					int run = g->Wo - ox, iy = oy * g->s - g->p + ky * g->d;

					if ((size_t)run > p1 - p)
						run = (int)(p1 - p);
					if (iy >= 0 && iy < g->H) {
						float *dst = plane + b * hwi + (size_t)iy * g->W;
						int ix0 = ox * g->s - g->p + kx * g->d;

						if (g->s == 1) {
							int lo = -ix0, hi = g->W - ix0;

							lo = lo < 0 ? 0 : lo > run ? run : lo;
							hi = hi < lo ? lo : hi > run ? run : hi;
							for (int i = lo; i < hi; i++)
								dst[ix0 + i] += src[i];
						} else {
							for (int i = 0; i < run; i++) {
								int ix = ix0 + i * g->s;

								if ((unsigned)ix < (unsigned)g->W)
									dst[ix] += src[i];
							}
						}
					}
					src += run;
					p += (size_t)run;
					ox += run;
					if (ox == g->Wo) {
						ox = 0;
						if (++oy == g->Ho) {
							oy = 0;
							b++;
						}
					}
				}
			}
		}
	}
}

/* What the pieces of one fast forward or backward share. */
struct job {
	struct fundus_nn_ctx *ctx;
	const struct fundus__layer *l;
	const struct conv_spec *sp;
	struct geom g;
	struct plan pl;
	const float *x, *w, *bias;
	float *out;    /* forward: the (M x N) product */
	float *y;      /* forward: where the activation goes (may be out) */
	int act;       /* forward epilogue activation, or -1 for none */
	float *col;    /* forward: the shared column matrix */
	float *tstats; /* forward, training with batch norm: mean and M2 per channel and tile */
	int ntstats;   /* tiles per channel */
	float *dz;     /* backward: gradient of the product */
	float *dw, *dx;
	int want_dw;
};

/*
 * Adds the bias and applies the activation to rows [m0, m1) and columns
 * [p0, p1), which are tile t of their channels; or, before batch norm in
 * training, takes the statistics of each row of the tile.
 */
static void epilogue(const struct job *j, int m0, int m1, size_t p0, size_t p1, int t)
{
	size_t n = p1 - p0;

	if (j->tstats) {
		for (int m = m0; m < m1; m++) {
			const float *r = j->out + (size_t)m * j->g.N + p0;
			float *ts = j->tstats + 2 * ((size_t)m * (size_t)j->ntstats + (size_t)t);
			double s1, s2;

			/*
			 * One pass, shifted by the first value, which is about
			 * a deviation from the mean: the sums stay small and
			 * exact enough, and M2 = S2 - S1^2 / n loses little.
			 */
			fundus__sum_shifted(r, n, r[0], &s1, &s2);
			ts[0] = (float)(r[0] + s1 / (double)n);
			ts[1] = (float)fmax(s2 - s1 * s1 / (double)n, 0);
		}
		return;
	}
	if (j->act < 0 && j->bias == NULL)
		return;
	for (int m = m0; m < m1; m++) {
		float *r = j->out + (size_t)m * j->g.N + p0, *y = j->y + (size_t)m * j->g.N + p0;

		if (j->bias) {
			float b = j->bias[m];

			for (size_t i = 0; i < n; i++)
				r[i] += b;
		}
		if (j->act >= 0)
			fundus__act_forward(j->act, r, y, n);
	}
}

/* Fused forward: tiles [b, e) of (group, column tile). */
static void fwd_fused(void *arg, size_t b, size_t e, int worker)
{
	const struct job *j = arg;
	const struct geom *g = &j->g;
	float *col = j->ctx->wscratch[worker];

	for (size_t t = b; t < e; t++) {
		int gi = (int)(t / j->pl.ntiles), ti = (int)(t % j->pl.ntiles);
		size_t p0, p1;

		tile_columns(g, &j->pl, ti, &p0, &p1);
		im2col(g, j->x + (size_t)gi * (size_t)g->Cg * g->Nin, 0, g->Cg, p0, p1, col,
		       p1 - p0);
		fundus__sgemm(0, 0, g->Mg, (int)(p1 - p0), g->K, 1.0f,
			      j->w + (size_t)gi * (size_t)g->Mg * (size_t)g->K, g->K, col,
			      (int)(p1 - p0), 0.0f, j->out + (size_t)gi * (size_t)g->Mg * g->N + p0,
			      (int)g->N);
		epilogue(j, gi * g->Mg, (gi + 1) * g->Mg, p0, p1, ti);
	}
}

/* Column matrix of whole channels [b, e) (over all groups) into the shared buffer. */
static void fwd_im2col(void *arg, size_t b, size_t e, int worker)
{
	const struct job *j = arg;
	const struct geom *g = &j->g;
	size_t kk = (size_t)g->k * (size_t)g->k;

	for (size_t c = b; c < e; c++) {
		size_t gi = c / (size_t)g->Cg, ci = c % (size_t)g->Cg;

		im2col(g, j->x + gi * (size_t)g->Cg * g->Nin, (int)ci, (int)ci + 1, 0, g->N,
		       j->col + (gi * (size_t)g->K + ci * kk) * g->N, g->N);
	}
}

/* Grid forward: blocks [b, e) of (group, filter block, column block). */
static void fwd_grid(void *arg, size_t b, size_t e, int worker)
{
	const struct job *j = arg;
	const struct geom *g = &j->g;
	const float *src = g->pointwise ? j->x : j->col;
	size_t ld = g->pointwise ? g->Nin : g->N;

	for (size_t t = b; t < e; t++) {
		size_t per = (size_t)j->pl.nmb * (size_t)j->pl.ntb;
		int gi = (int)(t / per), mb = (int)(t % per / (size_t)j->pl.ntb);
		int nb = (int)(t % (size_t)j->pl.ntb);
		int m0 = (int)((size_t)g->Mg * (size_t)mb / (size_t)j->pl.nmb);
		int m1 = (int)((size_t)g->Mg * (size_t)(mb + 1) / (size_t)j->pl.nmb);
		size_t row = (size_t)gi * (size_t)g->Mg + (size_t)m0, p0, p1;

		tile_columns(g, &j->pl, nb, &p0, &p1);
		if (m0 == m1 || p0 == p1)
			continue;
		fundus__sgemm(0, 0, m1 - m0, (int)(p1 - p0), g->K, 1.0f, j->w + row * (size_t)g->K,
			      g->K, src + (size_t)gi * (size_t)g->K * ld + p0, (int)ld, 0.0f,
			      j->out + row * g->N + p0, (int)g->N);
		epilogue(j, (int)row, (int)row + (m1 - m0), p0, p1, nb);
	}
}

/* Depthwise forward of whole channels [b, e), directly. */
static void fwd_depthwise(void *arg, size_t b, size_t e, int worker)
{
	const struct job *j = arg;
	const struct geom *g = &j->g;
	size_t hwi = (size_t)g->H * (size_t)g->W, hwo = (size_t)g->Ho * (size_t)g->Wo;

	for (size_t c = b; c < e; c++) {
		const float *wc = j->w + c * (size_t)g->k * (size_t)g->k;

		for (int bi = 0; bi < g->B; bi++) {
			const float *xp = j->x + c * g->Nin + (size_t)bi * hwi;
			float *op = j->out + c * g->N + (size_t)bi * hwo;

			memset(op, 0, hwo * sizeof *op);
			for (int ky = 0; ky < g->k; ky++)
				for (int kx = 0; kx < g->k; kx++) {
					float wv = wc[ky * g->k + kx];

					for (int oy = 0; oy < g->Ho; oy++) {
						int iy = oy * g->s - g->p + ky * g->d;
						float *orow = op + (size_t)oy * g->Wo;
						const float *irow;

						if (iy < 0 || iy >= g->H)
							continue;
						irow = xp + (size_t)iy * g->W;
						for (int ox = 0; ox < g->Wo; ox++) {
							int ix = ox * g->s - g->p + kx * g->d;

							if ((unsigned)ix < (unsigned)g->W)
								orow[ox] += wv * irow[ix];
						}
					}
				}
		}
		epilogue(j, (int)c, (int)c + 1, 0, g->N, 0);
	}
}

/*
 * Training: batch norm and activation of whole channels [b, e) from z into
 * y. The batch statistics are merged from the tiles' (Chan et al.'s
 * pairwise update), in tile order, so that they do not depend on which
 * thread computed what.
 */
static void fwd_bn(void *arg, size_t b, size_t e, int worker)
{
	const struct job *j = arg;
	struct fundus_nn_ctx *ctx = j->ctx;
	const struct fundus__layer *l = j->l;
	struct fundus__state *s = &ctx->st[l->index];
	struct fundus_net *net = ctx->net;
	int M = j->g.M;

	for (size_t c = b; c < e; c++) {
		float *rm = fundus__tensor_data(net, l, W_MEAN) + c;
		float *rv = fundus__tensor_data(net, l, W_VAR) + c;
		float mean = *rm, istd = 1.0f / sqrtf(*rv + FUNDUS__BN_EPS), var = 0;

		if (ctx->batch_stats) {
			double n = 0, mu = 0, m2 = 0;

			for (int t = 0; t < j->ntstats; t++) {
				const float *ts =
				    j->tstats + 2 * (c * (size_t)j->ntstats + (size_t)t);
				size_t p0, p1;
				double nt, d;

				tile_columns(&j->g, &j->pl, t, &p0, &p1);
				nt = (double)(p1 - p0);
				d = ts[0] - mu;
				mu += d * nt / (n + nt);
				m2 += ts[1] + d * d * n * nt / (n + nt);
				n += nt;
			}
			mean = (float)mu;
			var = (float)(m2 / n);
			istd = (float)(1.0 / sqrt(m2 / n + FUNDUS__BN_EPS));
		}
		fundus__bn_channel_forward(s->z + c * s->plane, s->y + c * s->plane, s->plane,
					   fundus__tensor_data(net, l, W_GAMMA)[c],
					   fundus__tensor_data(net, l, W_BETA)[c], j->sp->act, 0,
					   &mean, &istd, &var);
		s->stats[c] = mean;
		s->stats[M + c] = istd;
		if (ctx->batch_stats)
			fundus__bn_update_running(rm, rv, mean, var, s->plane, ctx->p.bn_momentum);
	}
}

/* The fast forward: one of the schedules above, then batch norm in training. */
static void conv_forward(struct fundus_nn_ctx *ctx, const struct fundus__layer *l)
{
	struct fundus__state *s = &ctx->st[l->index];
	struct fundus_net *net = ctx->net;
	struct job j;

	memset(&j, 0, sizeof j);
	j.ctx = ctx;
	j.l = l;
	j.sp = l->spec;
	get_geom(ctx, l, &j.g);
	make_plan(ctx, &j.g, &j.pl);
	j.x = fundus__in(ctx, l, 0)->y;
	if (!ctx->training) {
		/* Batch norm folded into the weights and bias; all in one epilogue. */
		j.w = j.sp->bn ? net->fold_w[l->index] : fundus__tensor_data(net, l, W_WEIGHT);
		j.bias = j.sp->bn ? net->fold_b[l->index] : fundus__tensor_data(net, l, W_BIAS);
		j.out = j.y = s->y;
		j.act = j.sp->act == FUNDUS__ACT_LINEAR ? -1 : j.sp->act;
	} else {
		j.w = fundus__tensor_data(net, l, W_WEIGHT);
		j.out = s->z;
		j.y = s->y;
		if (j.sp->bn) {
			j.act = -1;
			if (ctx->batch_stats) {
				j.ntstats = tiles_per_channel(&j.g, &j.pl);
				j.tstats = s->stats + 2 * (size_t)j.g.M;
			}
		} else {
			j.bias = fundus__tensor_data(net, l, W_BIAS);
			j.act = j.sp->act;
		}
	}
	j.col = ctx->work;
	if (j.g.depthwise) {
		fundus__parallel(ctx, (size_t)j.g.C, fwd_depthwise, &j);
	} else if (j.pl.fused) {
		fundus__parallel(ctx, (size_t)j.g.G * j.pl.ntiles, fwd_fused, &j);
	} else {
		if (!j.g.pointwise)
			fundus__parallel(ctx, (size_t)j.g.C, fwd_im2col, &j);
		fundus__parallel(ctx, (size_t)j.g.G * (size_t)j.pl.nmb * (size_t)j.pl.ntb, fwd_grid,
				 &j);
	}
	if (ctx->training && j.sp->bn)
		fundus__parallel(ctx, (size_t)j.g.M, fwd_bn, &j);
}

/* Backward through the activation (and batch norm) of channels [b, e): dy becomes dz. */
static void bwd_act(void *arg, size_t b, size_t e, int worker)
{
	const struct job *j = arg;
	struct fundus_nn_ctx *ctx = j->ctx;
	const struct fundus__layer *l = j->l;
	struct fundus__state *s = &ctx->st[l->index];
	struct fundus_net *net = ctx->net;
	int M = j->g.M;

	for (size_t c = b; c < e; c++) {
		float *dy = s->dy + c * s->plane;
		const float *z = s->z + c * s->plane, *y = s->y + c * s->plane;

		if (j->sp->bn) {
			double dg, db;

			fundus__bn_channel_backward(
			    z, y, dy, dy, s->plane, fundus__tensor_data(net, l, W_GAMMA)[c],
			    fundus__tensor_data(net, l, W_BETA)[c], j->sp->act, s->stats[c],
			    s->stats[M + c], ctx->batch_stats, 0, &dg, &db);
			fundus__grad(ctx, l, W_GAMMA)[c] += (float)dg;
			fundus__grad(ctx, l, W_BETA)[c] += (float)db;
		} else {
			double sum = 0;

			fundus__act_backward(j->sp->act, z, y, dy, dy, s->plane);
			for (size_t i = 0; i < s->plane; i++)
				sum += dy[i];
			fundus__grad(ctx, l, W_BIAS)[c] += (float)sum;
		}
	}
}

/* dw[m][r] += t[r][m] for m < mg, r < rows: a transposed weight gradient back in place. */
static void add_transposed(float *dw, size_t ld, const float *t, int mg, size_t rows)
{
	for (int m = 0; m < mg; m++)
		for (size_t r = 0; r < rows; r++)
			dw[(size_t)m * ld + r] += t[r * (size_t)mg + (size_t)m];
}

/* Backward per block of input channels [b, e) of (group, channel block). */
static void bwd_blocks(void *arg, size_t b, size_t e, int worker)
{
	const struct job *j = arg;
	const struct geom *g = &j->g;
	float *buf = j->ctx->wscratch[worker];
	size_t kk = (size_t)g->k * (size_t)g->k;
	/* The transposed dW of a block goes after the column tile. */
	float *dwt = buf + (size_t)((g->Cg + j->pl.ncb - 1) / j->pl.ncb) * kk * j->pl.bnt;

	for (size_t t = b; t < e; t++) {
		int gi = (int)(t / (size_t)j->pl.ncb), cb = (int)(t % (size_t)j->pl.ncb);
		int c0 = (int)((size_t)g->Cg * (size_t)cb / (size_t)j->pl.ncb);
		int c1 = (int)((size_t)g->Cg * (size_t)(cb + 1) / (size_t)j->pl.ncb);
		size_t r0 = (size_t)c0 * kk, R = (size_t)(c1 - c0) * kk;
		const float *x = j->x + (size_t)gi * (size_t)g->Cg * g->Nin;
		const float *dz = j->dz + (size_t)gi * (size_t)g->Mg * g->N;
		const float *w = j->w + (size_t)gi * (size_t)g->Mg * (size_t)g->K;
		float *dw = j->dw + (size_t)gi * (size_t)g->Mg * (size_t)g->K;
		float *dx = j->dx ? j->dx + (size_t)gi * (size_t)g->Cg * g->Nin : NULL;

		if (c0 == c1)
			continue;
		if (g->pointwise) {
			const float *xc = x + (size_t)c0 * g->Nin;

			if (j->want_dw && j->pl.dwt) {
				fundus__sgemm(0, 1, (int)R, g->Mg, (int)g->N, 1.0f, xc, (int)g->Nin,
					      dz, (int)g->N, 0.0f, buf, g->Mg);
				add_transposed(dw + r0, (size_t)g->K, buf, g->Mg, R);
			} else if (j->want_dw) {
				fundus__sgemm(0, 1, g->Mg, (int)R, (int)g->N, 1.0f, dz, (int)g->N,
					      xc, (int)g->Nin, 1.0f, dw + r0, g->K);
			}
			if (dx)
				fundus__sgemm(1, 0, (int)R, (int)g->N, g->Mg, 1.0f, w + r0, g->K,
					      dz, (int)g->N, 1.0f, dx + (size_t)c0 * g->Nin,
					      (int)g->Nin);
			continue;
		}
		if (j->want_dw && j->pl.dwt)
			memset(dwt, 0, R * (size_t)g->Mg * sizeof *dwt);
		for (size_t p0 = 0; p0 < g->N; p0 += j->pl.bnt) {
			size_t p1 = p0 + j->pl.bnt < g->N ? p0 + j->pl.bnt : g->N, n = p1 - p0;

			if (j->want_dw) {
				im2col(g, x, c0, c1, p0, p1, buf, n);
				if (j->pl.dwt)
					fundus__sgemm(0, 1, (int)R, g->Mg, (int)n, 1.0f, buf,
						      (int)n, dz + p0, (int)g->N, 1.0f, dwt, g->Mg);
				else
					fundus__sgemm(0, 1, g->Mg, (int)R, (int)n, 1.0f, dz + p0,
						      (int)g->N, buf, (int)n, 1.0f, dw + r0, g->K);
			}
			if (dx) {
				fundus__sgemm(1, 0, (int)R, (int)n, g->Mg, 1.0f, w + r0, g->K,
					      dz + p0, (int)g->N, 0.0f, buf, (int)n);
				col2im(g, dx, c0, c1, p0, p1, buf, n);
			}
		}
		if (j->want_dw && j->pl.dwt)
			add_transposed(dw + r0, (size_t)g->K, dwt, g->Mg, R);
	}
}

/* Backward, few input channels: dW of column chunks [b, e) into partial sums. */
static void bwd_chunks(void *arg, size_t b, size_t e, int worker)
{
	const struct job *j = arg;
	const struct geom *g = &j->g;
	float *buf = j->ctx->wscratch[worker];
	size_t hwo = (size_t)g->Ho * (size_t)g->Wo;

	for (size_t t = b; t < e; t++) {
		size_t q0 = g->N * t / (size_t)j->pl.chunks,
		       q1 = g->N * (t + 1) / (size_t)j->pl.chunks;
		float *part = j->ctx->work + t * (size_t)g->M * (size_t)g->K;

		if (j->pl.chunk_dx) {
			/* Whole images, so that dX of one chunk meets no other's. */
			q0 = (size_t)g->B * t / (size_t)j->pl.chunks * hwo;
			q1 = (size_t)g->B * (t + 1) / (size_t)j->pl.chunks * hwo;
		}
		memset(part, 0, (size_t)g->M * (size_t)g->K * sizeof *part);
		for (int gi = 0; gi < g->G; gi++) {
			const float *x = j->x + (size_t)gi * (size_t)g->Cg * g->Nin;
			const float *dz = j->dz + (size_t)gi * (size_t)g->Mg * g->N;
			const float *w = j->w + (size_t)gi * (size_t)g->Mg * (size_t)g->K;
			float *pg = part + (size_t)gi * (size_t)g->Mg * (size_t)g->K;
			float *dx = j->pl.chunk_dx && j->dx
					? j->dx + (size_t)gi * (size_t)g->Cg * g->Nin
					: NULL;

			for (size_t p0 = q0; p0 < q1; p0 += j->pl.bnt) {
				size_t p1 = p0 + j->pl.bnt < q1 ? p0 + j->pl.bnt : q1, n = p1 - p0;

				im2col(g, x, 0, g->Cg, p0, p1, buf, n);
				if (j->pl.dwt)
					fundus__sgemm(0, 1, g->K, g->Mg, (int)n, 1.0f, buf, (int)n,
						      dz + p0, (int)g->N, 1.0f, pg, g->Mg);
				else
					fundus__sgemm(0, 1, g->Mg, g->K, (int)n, 1.0f, dz + p0,
						      (int)g->N, buf, (int)n, 1.0f, pg, g->K);
				if (dx) {
					fundus__sgemm(1, 0, g->K, (int)n, g->Mg, 1.0f, w, g->K,
						      dz + p0, (int)g->N, 0.0f, buf, (int)n);
					col2im(g, dx, 0, g->Cg, p0, p1, buf, n);
				}
			}
		}
	}
}

/*
 * Adds the partial sums of the chunks, in chunk order, into dW elements
 * [b, e); partial sums made transposed are (K x Mg) per group.
 */
static void bwd_reduce(void *arg, size_t b, size_t e, int worker)
{
	const struct job *j = arg;
	size_t per = (size_t)j->g.M * (size_t)j->g.K, gk = (size_t)j->g.Mg * (size_t)j->g.K;

	for (int t = 0; t < j->pl.chunks; t++) {
		const float *part = j->ctx->work + (size_t)t * per;

		if (!j->pl.dwt) {
			for (size_t i = b; i < e; i++)
				j->dw[i] += part[i];
			continue;
		}
		for (size_t i = b; i < e; i++) {
			size_t gi = i / gk, m = i % gk / (size_t)j->g.K, k = i % (size_t)j->g.K;

			j->dw[i] += part[gi * gk + k * (size_t)j->g.Mg + m];
		}
	}
}

/* Depthwise backward of whole channels [b, e), directly. */
static void bwd_depthwise(void *arg, size_t b, size_t e, int worker)
{
	const struct job *j = arg;
	const struct geom *g = &j->g;
	size_t hwi = (size_t)g->H * (size_t)g->W, hwo = (size_t)g->Ho * (size_t)g->Wo;

	for (size_t c = b; c < e; c++) {
		const float *wc = j->w + c * (size_t)g->k * (size_t)g->k;
		float *dwc = j->dw + c * (size_t)g->k * (size_t)g->k;

		for (int ky = 0; ky < g->k; ky++)
			for (int kx = 0; kx < g->k; kx++) {
				float wv = wc[ky * g->k + kx];
				double acc = 0;

				for (int bi = 0; bi < g->B; bi++) {
					const float *xp = j->x + c * g->Nin + (size_t)bi * hwi;
					float *dxp =
					    j->dx ? j->dx + c * g->Nin + (size_t)bi * hwi : NULL;
					const float *dp = j->dz + c * g->N + (size_t)bi * hwo;

					for (int oy = 0; oy < g->Ho; oy++) {
						int iy = oy * g->s - g->p + ky * g->d;
						const float *drow = dp + (size_t)oy * g->Wo;
						float a = 0;

						if (iy < 0 || iy >= g->H)
							continue;
						for (int ox = 0; ox < g->Wo; ox++) {
							int ix = ox * g->s - g->p + kx * g->d;

							if ((unsigned)ix >= (unsigned)g->W)
								continue;
							a += drow[ox] * xp[(size_t)iy * g->W + ix];
							if (dxp)
								dxp[(size_t)iy * g->W + ix] +=
								    wv * drow[ox];
						}
						acc += a;
					}
				}
				dwc[ky * g->k + kx] += (float)acc;
			}
	}
}

/* The fast backward: through activation and batch norm, then dW and dX. */
static void conv_backward(struct fundus_nn_ctx *ctx, const struct fundus__layer *l)
{
	struct fundus__state *s = &ctx->st[l->index];
	struct fundus__state *in = fundus__in_mut(ctx, l, 0);
	struct job j;

	memset(&j, 0, sizeof j);
	j.ctx = ctx;
	j.l = l;
	j.sp = l->spec;
	get_geom(ctx, l, &j.g);
	make_plan(ctx, &j.g, &j.pl);
	j.x = in->y;
	j.w = fundus__tensor_data(ctx->net, l, W_WEIGHT);
	j.dz = s->dy;
	j.dw = fundus__grad(ctx, l, W_WEIGHT);
	j.dx = in->dy;
	fundus__parallel(ctx, (size_t)j.g.M, bwd_act, &j);
	if (j.g.depthwise) {
		fundus__parallel(ctx, (size_t)j.g.C, bwd_depthwise, &j);
		return;
	}
	if (j.pl.chunks) {
		fundus__parallel(ctx, (size_t)j.pl.chunks, bwd_chunks, &j);
		fundus__parallel(ctx, (size_t)j.g.M * (size_t)j.g.K, bwd_reduce, &j);
		if (j.dx == NULL || j.pl.chunk_dx)
			return;
		j.want_dw = 0;
	} else {
		j.want_dw = 1;
	}
	if (j.want_dw || j.dx)
		fundus__parallel(ctx, (size_t)j.g.G * (size_t)j.pl.ncb, bwd_blocks, &j);
}

/*
 * Reference path: the definition, one output value at a time, summed in
 * double; batch norm and the activation by the textbook formulas.
 */
static void conv_forward_ref(struct fundus_nn_ctx *ctx, const struct fundus__layer *l)
{
	const struct conv_spec *sp = l->spec;
	struct fundus__state *s = &ctx->st[l->index];
	struct fundus_net *net = ctx->net;
	const float *x = fundus__in(ctx, l, 0)->y, *w = fundus__tensor_data(net, l, W_WEIGHT);
	float *z = ctx->training ? s->z : s->y;
	struct geom g;

	get_geom(ctx, l, &g);
	for (int m = 0; m < g.M; m++) {
		int gi = m / g.Mg;

		for (int b = 0; b < g.B; b++)
			for (int oy = 0; oy < g.Ho; oy++)
				for (int ox = 0; ox < g.Wo; ox++) {
					double acc =
					    sp->bn ? 0 : fundus__tensor_data(net, l, W_BIAS)[m];

					for (int c = 0; c < g.Cg; c++)
						for (int ky = 0; ky < g.k; ky++)
							for (int kx = 0; kx < g.k; kx++) {
								int iy = oy * g.s - g.p + ky * g.d;
								int ix = ox * g.s - g.p + kx * g.d;

								if (iy < 0 || iy >= g.H || ix < 0 ||
								    ix >= g.W)
									continue;
								acc +=
								    (double)
									w[((size_t)m * g.Cg + c) *
									      g.k * g.k +
									  ky * g.k + kx] *
								    x[(size_t)(gi * g.Cg + c) *
									  g.Nin +
								      ((size_t)b * g.H + iy) * g.W +
								      ix];
							}
					z[(size_t)m * g.N + ((size_t)b * g.Ho + oy) * g.Wo + ox] =
					    (float)acc;
				}
	}
	if (sp->bn)
		fundus__bn_ref_forward(z, s->y, s->plane, g.M, fundus__tensor_data(net, l, W_GAMMA),
				       fundus__tensor_data(net, l, W_BETA),
				       fundus__tensor_data(net, l, W_MEAN),
				       fundus__tensor_data(net, l, W_VAR), ctx->batch_stats,
				       ctx->p.bn_momentum, s->stats, sp->act);
	else
		for (size_t i = 0; i < s->count; i++)
			s->y[i] = (float)fundus__act_ref(sp->act, z[i]);
}

/* Reference backward: every product of the definition, summed in double. */
static void conv_backward_ref(struct fundus_nn_ctx *ctx, const struct fundus__layer *l)
{
	const struct conv_spec *sp = l->spec;
	struct fundus__state *s = &ctx->st[l->index];
	struct fundus__state *in = fundus__in_mut(ctx, l, 0);
	struct fundus_net *net = ctx->net;
	const float *w = fundus__tensor_data(net, l, W_WEIGHT);
	float *dw = fundus__grad(ctx, l, W_WEIGHT), *dz = ctx->work;
	struct geom g;

	get_geom(ctx, l, &g);
	memset(dz, 0, s->count * sizeof *dz);
	if (sp->bn) {
		fundus__bn_ref_backward(
		    s->z, s->dy, dz, s->plane, g.M, fundus__tensor_data(net, l, W_GAMMA),
		    fundus__tensor_data(net, l, W_BETA), s->stats, ctx->batch_stats, sp->act,
		    fundus__grad(ctx, l, W_GAMMA), fundus__grad(ctx, l, W_BETA));
	} else {
		for (int m = 0; m < g.M; m++) {
			double sum = 0;

			for (size_t i = (size_t)m * g.N; i < (size_t)(m + 1) * g.N; i++) {
				dz[i] = (float)(s->dy[i] * fundus__act_grad_ref(sp->act, s->z[i]));
				sum += dz[i];
			}
			fundus__grad(ctx, l, W_BIAS)[m] += (float)sum;
		}
	}
	for (int m = 0; m < g.M; m++) {
		int gi = m / g.Mg;

		for (int c = 0; c < g.Cg; c++)
			for (int ky = 0; ky < g.k; ky++)
				for (int kx = 0; kx < g.k; kx++) {
					size_t wi =
					    ((size_t)m * g.Cg + c) * g.k * g.k + ky * g.k + kx;
					double acc = 0;

					for (int b = 0; b < g.B; b++)
						for (int oy = 0; oy < g.Ho; oy++)
							for (int ox = 0; ox < g.Wo; ox++) {
								int iy = oy * g.s - g.p + ky * g.d;
								int ix = ox * g.s - g.p + kx * g.d;
								size_t xi, zi;

								if (iy < 0 || iy >= g.H || ix < 0 ||
								    ix >= g.W)
									continue;
								xi = (size_t)(gi * g.Cg + c) *
									 g.Nin +
								     ((size_t)b * g.H + iy) * g.W +
								     ix;
								zi =
								    (size_t)m * g.N +
								    ((size_t)b * g.Ho + oy) * g.Wo +
								    ox;
								acc += (double)dz[zi] * in->y[xi];
								if (in->dy)
									in->dy[xi] +=
									    w[wi] * dz[zi];
							}
					dw[wi] += (float)acc;
				}
	}
}

const struct fundus__layer_type fundus__conv_type = {
    .name = "convolutional",
    .prefix = "conv",
    .keys = conv_keys,
    .spec_size = sizeof(struct conv_spec),
    .build = conv_build,
    .shape = conv_shape,
    .flops = conv_flops,
    .scratch = conv_scratch,
    .state = conv_state,
    .forward = conv_forward,
    .backward = conv_backward,
    .forward_ref = conv_forward_ref,
    .backward_ref = conv_backward_ref,
    .fold = conv_fold,
};
