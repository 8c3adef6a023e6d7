/*
 * Pooling layers: [maxpool] and [avgpool] over windows, and
 * [globalavgpool] over whole planes.
 *
 * Windows follow darknet: padding is the total over both sides, the window
 * of output (oy, ox) starts at (oy stride - padding/2, ox stride -
 * padding/2), and pixels outside the input take no part (a max over the
 * pixels inside, an average over the pixels inside). padding < size, so
 * every window holds at least one pixel.
 */
#include <float.h>
#include <string.h>

#include "nn/internal.h"

struct pool_spec {
	int size, stride, padding;
};

static const struct fundus__key maxpool_keys[] = {
    FUNDUS__K_INT("size", struct pool_spec, size, 0, 2, 1, FUNDUS_NET_MAX_KERNEL),
    FUNDUS__K_INT("stride", struct pool_spec, stride, 0, 0, 1, FUNDUS_NET_MAX_KERNEL),
    FUNDUS__K_INT("padding", struct pool_spec, padding, 0, -1, 0, FUNDUS_NET_MAX_KERNEL),
    FUNDUS__K_END,
};

/* Local average pooling: padding defaults to none. */
static const struct fundus__key avgpool_keys[] = {
    FUNDUS__K_INT("size", struct pool_spec, size, 1, 2, 1, FUNDUS_NET_MAX_KERNEL),
    FUNDUS__K_INT("stride", struct pool_spec, stride, 0, 0, 1, FUNDUS_NET_MAX_KERNEL),
    FUNDUS__K_INT("padding", struct pool_spec, padding, 0, 0, 0, FUNDUS_NET_MAX_KERNEL),
    FUNDUS__K_END,
};

/* Fills in the defaults that depend on other keys; checks the padding. */
static int pool_build(struct fundus_net *net, struct fundus__layer *l)
{
	struct pool_spec *sp = l->spec;

	if (sp->stride == 0)
		sp->stride = sp->size;
	if (sp->padding < 0)
		sp->padding = sp->size - 1;
	if (sp->padding >= sp->size)
		return fundus_error_set(FUNDUS_EFORMAT,
					"line %d: [%s]: padding %d must be less than size %d",
					l->line, l->type->name, sp->padding, sp->size);
	l->channels = fundus__in_channels(net, l);
	return 0;
}

/* Output size: (in + padding - size) / stride + 1. */
static int pool_shape(const struct fundus_net *net, const struct fundus__layer *l, const int *in_h,
		      const int *in_w, int *h, int *w)
{
	const struct pool_spec *sp = l->spec;

	if (in_h[0] + sp->padding < sp->size || in_w[0] + sp->padding < sp->size)
		return fundus_error_set(FUNDUS_EINVAL,
					"layer %d [%s] (line %d): input %dx%d is smaller than the "
					"window (%d)",
					l->index, l->type->name, l->line, in_w[0], in_h[0],
					sp->size);
	*h = (in_h[0] + sp->padding - sp->size) / sp->stride + 1;
	*w = (in_w[0] + sp->padding - sp->size) / sp->stride + 1;
	return 0;
}

/* Max pooling remembers where each maximum came from, for backward. */
static void maxpool_state(const struct fundus_nn_ctx *ctx, const struct fundus__layer *l, size_t *z,
			  size_t *stats, size_t *idx)
{
	if (ctx->training)
		*idx = ctx->st[l->index].count;
}

struct pool_job {
	struct fundus_nn_ctx *ctx;
	const struct fundus__layer *l;
	int backward;
};

/*
 * Runs fn over every channel on the pool; a backward run does nothing when
 * the input wants no gradient.
 */
static void by_channels(struct fundus_nn_ctx *ctx, const struct fundus__layer *l,
			fundus_pool_range_fn fn, int backward)
{
	struct pool_job j = {ctx, l, backward};

	if (backward && fundus__in(ctx, l, 0)->dy == NULL)
		return;
	fundus__parallel(ctx, (size_t)l->channels, fn, &j);
}

/* The valid window range [lo, hi) along one axis for output o. */
static void window(int o, int stride, int offset, int size, int n, int *lo, int *hi)
{
	int start = o * stride + offset;

	*lo = start < 0 ? 0 : start;
	*hi = start + size > n ? n : start + size;
}

/*
 * Max pooling of one image plane, separably: the maximum over the window's
 * rows first (whole rows at a time, which vectorises), then over its
 * columns. The maximum is exact, so the order does not change the result.
 */
static void maxpool_plane(const float *in, int h, int w, float *out, int ho, int wo,
			  const struct pool_spec *sp, float *tmp)
{
	int off = -sp->padding / 2;

	for (int oy = 0; oy < ho; oy++) {
		float *o = out + (size_t)oy * wo;
		int y0, y1;

		window(oy, sp->stride, off, sp->size, h, &y0, &y1);
		memcpy(tmp, in + (size_t)y0 * w, (size_t)w * sizeof *tmp);
		for (int y = y0 + 1; y < y1; y++) {
			const float *r = in + (size_t)y * w;

			for (int x = 0; x < w; x++) {
				float a = tmp[x], b = r[x];

				tmp[x] = b > a ? b : a;
			}
		}
		if (sp->size == 2 && sp->stride == 2 && off == 0) {
			int full = w / 2 < wo ? w / 2 : wo;

			for (int x = 0; x < full; x++) {
				float a = tmp[2 * x], b = tmp[2 * x + 1];

				o[x] = b > a ? b : a;
			}
			for (int x = full; x < wo; x++)
				o[x] = tmp[2 * x];
		} else {
			for (int x = 0; x < wo; x++) {
				int x0, x1;
				float m;

				window(x, sp->stride, off, sp->size, w, &x0, &x1);
				m = tmp[x0];
				for (int k = x0 + 1; k < x1; k++)
					m = tmp[k] > m ? tmp[k] : m;
				o[x] = m;
			}
		}
	}
}

/* The bits of a float, to compare values exactly without float comparisons. */
static inline uint32_t bits(float f)
{
	uint32_t u;

	memcpy(&u, &f, 4);
	return u;
}

/*
 * For backward: where in the plane each maximum is, the first in row order
 * as in the reference. The common 2x2 window with stride 2 is found with
 * selects on the bits, which compile without branches.
 */
static void maxpool_where(const float *in, int h, int w, const float *out, int ho, int wo,
			  const struct pool_spec *sp, int32_t *idx, int32_t base)
{
	int off = -sp->padding / 2;

	for (int oy = 0; oy < ho; oy++) {
		int y0, y1, from = 0;

		window(oy, sp->stride, off, sp->size, h, &y0, &y1);
		if (sp->size == 2 && sp->stride == 2 && off == 0 && y1 - y0 == 2) {
			const float *r0 = in + (size_t)y0 * w, *r1 = r0 + w,
				    *o = out + (size_t)oy * wo;
			int32_t *ix = idx + (size_t)oy * wo, at = base + y0 * w;

			from = w / 2 < wo ? w / 2 : wo;
			for (int x = 0; x < from; x++) {
				uint32_t m = bits(o[x]);
				int32_t k = at + 2 * x + w + 1;

				k = bits(r1[2 * x]) == m ? at + 2 * x + w : k;
				k = bits(r0[2 * x + 1]) == m ? at + 2 * x + 1 : k;
				k = bits(r0[2 * x]) == m ? at + 2 * x : k;
				ix[x] = k;
			}
		}
		for (int ox = from; ox < wo; ox++) {
			uint32_t m = bits(out[(size_t)oy * wo + ox]);
			int x0, x1, at = -1;

			window(ox, sp->stride, off, sp->size, w, &x0, &x1);
			for (int y = y0; y < y1 && at < 0; y++)
				for (int x = x0; x < x1; x++)
					if (bits(in[(size_t)y * w + x]) == m) {
						at = y * w + x;
						break;
					}
			/* Only a NaN matches nothing: send its gradient to the window's start. */
			idx[(size_t)oy * wo + ox] = base + (at < 0 ? y0 * w + x0 : at);
		}
	}
}

/* Max pooling of whole channels [b, e). */
static void maxpool_fwd_range(void *arg, size_t b, size_t e, int worker)
{
	const struct pool_job *j = arg;
	const struct pool_spec *sp = j->l->spec;
	const struct fundus__state *in = fundus__in(j->ctx, j->l, 0);
	struct fundus__state *s = &j->ctx->st[j->l->index];
	float *tmp = j->ctx->wscratch[worker];
	size_t hwi = (size_t)in->h * (size_t)in->w, hwo = (size_t)s->h * (size_t)s->w;

	for (size_t c = b; c < e; c++)
		for (int bi = 0; bi < j->ctx->p.batch; bi++) {
			const float *ip = in->y + c * in->plane + (size_t)bi * hwi;
			float *op = s->y + c * s->plane + (size_t)bi * hwo;

			maxpool_plane(ip, in->h, in->w, op, s->h, s->w, sp, tmp);
			if (s->idx)
				maxpool_where(ip, in->h, in->w, op, s->h, s->w, sp,
					      s->idx + c * s->plane + (size_t)bi * hwo,
					      (int32_t)((size_t)bi * hwi));
		}
}

/* A row of the input per worker. */
static void maxpool_scratch(const struct fundus_nn_ctx *ctx, const struct fundus__layer *l,
			    size_t *per_worker, size_t *shared)
{
	*per_worker = (size_t)fundus__in(ctx, l, 0)->w;
}

/* Max pooling of every channel, shared over the pool. */
static void maxpool_forward(struct fundus_nn_ctx *ctx, const struct fundus__layer *l)
{
	by_channels(ctx, l, maxpool_fwd_range, 0);
}

/* Routes the gradient of channels [b, e) to where the maxima were. */
static void maxpool_bwd_range(void *arg, size_t b, size_t e, int worker)
{
	const struct pool_job *j = arg;
	struct fundus__state *in = fundus__in_mut(j->ctx, j->l, 0);
	const struct fundus__state *s = &j->ctx->st[j->l->index];

	for (size_t c = b; c < e; c++) {
		float *dx = in->dy + c * in->plane;
		const float *dy = s->dy + c * s->plane;
		const int32_t *idx = s->idx + c * s->plane;

		for (size_t i = 0; i < s->plane; i++)
			dx[idx[i]] += dy[i];
	}
}

/* Routes the gradient back, by channels. */
static void maxpool_backward(struct fundus_nn_ctx *ctx, const struct fundus__layer *l)
{
	by_channels(ctx, l, maxpool_bwd_range, 1);
}

/*
 * Reference max pooling: the first largest value of each window, in row
 * order; backward finds it again.
 */
static void maxpool_ref(struct fundus_nn_ctx *ctx, const struct fundus__layer *l, int backward)
{
	const struct pool_spec *sp = l->spec;
	struct fundus__state *in = fundus__in_mut(ctx, l, 0), *s = &ctx->st[l->index];
	int off = -sp->padding / 2;

	if (backward && in->dy == NULL)
		return;
	for (int c = 0; c < s->c; c++)
		for (int b = 0; b < ctx->p.batch; b++)
			for (int oy = 0; oy < s->h; oy++)
				for (int ox = 0; ox < s->w; ox++) {
					size_t best = 0, o;
					int found = 0;

					for (int ky = 0; ky < sp->size; ky++)
						for (int kx = 0; kx < sp->size; kx++) {
							int iy = oy * sp->stride + off + ky;
							int ix = ox * sp->stride + off + kx;
							size_t k;

							if (iy < 0 || iy >= in->h || ix < 0 ||
							    ix >= in->w)
								continue;
							k = (size_t)c * in->plane +
							    ((size_t)b * in->h + iy) * in->w + ix;
							if (!found || in->y[k] > in->y[best]) {
								best = k;
								found = 1;
							}
						}
					o = (size_t)c * s->plane + ((size_t)b * s->h + oy) * s->w +
					    ox;
					if (backward)
						in->dy[best] += s->dy[o];
					else
						s->y[o] = in->y[best];
				}
}

/* Reference forward. */
static void maxpool_forward_ref(struct fundus_nn_ctx *ctx, const struct fundus__layer *l)
{
	maxpool_ref(ctx, l, 0);
}

/* Reference backward. */
static void maxpool_backward_ref(struct fundus_nn_ctx *ctx, const struct fundus__layer *l)
{
	maxpool_ref(ctx, l, 1);
}

/* Average pooling (local windows) of whole channels [b, e); backward when asked. */
static void avgpool_range(void *arg, size_t b, size_t e, int worker)
{
	const struct pool_job *j = arg;
	int backward = j->backward;
	const struct pool_spec *sp = j->l->spec;
	struct fundus__state *in = fundus__in_mut(j->ctx, j->l, 0);
	struct fundus__state *s = &j->ctx->st[j->l->index];
	int off = -sp->padding / 2, B = j->ctx->p.batch;

	for (size_t c = b; c < e; c++)
		for (int bi = 0; bi < B; bi++) {
			size_t ib = c * in->plane + (size_t)bi * in->h * in->w;
			size_t ob = c * s->plane + (size_t)bi * s->h * s->w;

			for (int oy = 0; oy < s->h; oy++) {
				int y0, y1;

				window(oy, sp->stride, off, sp->size, in->h, &y0, &y1);
				for (int ox = 0; ox < s->w; ox++) {
					int x0, x1;
					size_t o = ob + (size_t)oy * s->w + ox;
					float sum = 0, inv;

					window(ox, sp->stride, off, sp->size, in->w, &x0, &x1);
					inv = 1.0f / (float)((y1 - y0) * (x1 - x0));
					for (int iy = y0; iy < y1; iy++)
						for (int ix = x0; ix < x1; ix++) {
							size_t k = ib + (size_t)iy * in->w + ix;

							if (backward)
								in->dy[k] += s->dy[o] * inv;
							else
								sum += in->y[k];
						}
					if (!backward)
						s->y[o] = sum * inv;
				}
			}
		}
}

/* Average pooling of every channel, shared over the pool. */
static void avgpool_forward(struct fundus_nn_ctx *ctx, const struct fundus__layer *l)
{
	by_channels(ctx, l, avgpool_range, 0);
}

/* Spreads the gradient back, by channels. */
static void avgpool_backward(struct fundus_nn_ctx *ctx, const struct fundus__layer *l)
{
	by_channels(ctx, l, avgpool_range, 1);
}

/* Reference average pooling: the mean of the pixels inside each window, in double. */
static void avgpool_ref(struct fundus_nn_ctx *ctx, const struct fundus__layer *l, int backward)
{
	const struct pool_spec *sp = l->spec;
	struct fundus__state *in = fundus__in_mut(ctx, l, 0), *s = &ctx->st[l->index];
	int off = -sp->padding / 2;

	if (backward && in->dy == NULL)
		return;
	for (int c = 0; c < s->c; c++)
		for (int b = 0; b < ctx->p.batch; b++)
			for (int oy = 0; oy < s->h; oy++)
				for (int ox = 0; ox < s->w; ox++) {
					size_t o = (size_t)c * s->plane +
						   ((size_t)b * s->h + oy) * s->w + ox;
					double sum = 0;
					int n = 0;

					for (int pass = 0; pass < 2; pass++)
						for (int ky = 0; ky < sp->size; ky++)
							for (int kx = 0; kx < sp->size; kx++) {
								int iy = oy * sp->stride + off + ky;
								int ix = ox * sp->stride + off + kx;
								size_t k;

								if (iy < 0 || iy >= in->h ||
								    ix < 0 || ix >= in->w)
									continue;
								k = (size_t)c * in->plane +
								    ((size_t)b * in->h + iy) *
									in->w +
								    ix;
								if (pass == 0)
									n++, sum += in->y[k];
								else if (backward)
									in->dy[k] +=
									    (float)(s->dy[o] / n);
							}
					if (!backward)
						s->y[o] = (float)(sum / n);
				}
}

/* Reference forward. */
static void avgpool_forward_ref(struct fundus_nn_ctx *ctx, const struct fundus__layer *l)
{
	avgpool_ref(ctx, l, 0);
}

/* Reference backward. */
static void avgpool_backward_ref(struct fundus_nn_ctx *ctx, const struct fundus__layer *l)
{
	avgpool_ref(ctx, l, 1);
}

/* [globalavgpool]: one value per channel and image. */
static const struct fundus__key gap_keys[] = {FUNDUS__K_END};

/* Same channels as the input. */
static int gap_build(struct fundus_net *net, struct fundus__layer *l)
{
	l->channels = fundus__in_channels(net, l);
	return 0;
}

/* One pixel. */
static int gap_shape(const struct fundus_net *net, const struct fundus__layer *l, const int *in_h,
		     const int *in_w, int *h, int *w)
{
	*h = *w = 1;
	return 0;
}

/* Global average of channels [b, e); backward spreads the gradient evenly. */
static void gap_range(void *arg, size_t b, size_t e, int worker)
{
	const struct pool_job *j = arg;
	int backward = j->backward;
	struct fundus__state *in = fundus__in_mut(j->ctx, j->l, 0);
	struct fundus__state *s = &j->ctx->st[j->l->index];
	size_t hw = (size_t)in->h * (size_t)in->w;

	for (size_t c = b; c < e; c++)
		for (int bi = 0; bi < j->ctx->p.batch; bi++) {
			size_t ib = c * in->plane + (size_t)bi * hw, o = c * s->plane + (size_t)bi;

			if (backward) {
				float g = s->dy[o] / (float)hw;

				for (size_t i = 0; i < hw; i++)
					in->dy[ib + i] += g;
			} else {
				double sum = 0;

				for (size_t i = 0; i < hw; i++)
					sum += in->y[ib + i];
				s->y[o] = (float)(sum / (double)hw);
			}
		}
}

/* The mean of every channel, shared over the pool. */
static void gap_forward(struct fundus_nn_ctx *ctx, const struct fundus__layer *l)
{
	by_channels(ctx, l, gap_range, 0);
}

/* Spreads the gradient back, by channels. */
static void gap_backward(struct fundus_nn_ctx *ctx, const struct fundus__layer *l)
{
	by_channels(ctx, l, gap_range, 1);
}

/* Reference global average: sums in the plain order. */
static void gap_forward_ref(struct fundus_nn_ctx *ctx, const struct fundus__layer *l)
{
	const struct fundus__state *in = fundus__in(ctx, l, 0);
	struct fundus__state *s = &ctx->st[l->index];

	for (int c = 0; c < s->c; c++)
		for (int b = 0; b < ctx->p.batch; b++) {
			double sum = 0;

			for (int y = 0; y < in->h; y++)
				for (int x = 0; x < in->w; x++)
					sum += in->y[(size_t)c * in->plane +
						     ((size_t)b * in->h + y) * in->w + x];
			s->y[(size_t)c * s->plane + b] = (float)(sum / (in->h * in->w));
		}
}

/* Reference backward: the gradient over h w, to every pixel. */
static void gap_backward_ref(struct fundus_nn_ctx *ctx, const struct fundus__layer *l)
{
	struct fundus__state *in = fundus__in_mut(ctx, l, 0);
	const struct fundus__state *s = &ctx->st[l->index];

	if (in->dy == NULL)
		return;
	for (int c = 0; c < s->c; c++)
		for (int b = 0; b < ctx->p.batch; b++)
			for (int y = 0; y < in->h; y++)
				for (int x = 0; x < in->w; x++)
					in->dy[(size_t)c * in->plane +
					       ((size_t)b * in->h + y) * in->w + x] +=
					    (float)((double)s->dy[(size_t)c * s->plane + b] /
						    (in->h * in->w));
}

const struct fundus__layer_type fundus__maxpool_type = {
    .name = "maxpool",
    .prefix = "maxpool",
    .keys = maxpool_keys,
    .spec_size = sizeof(struct pool_spec),
    .build = pool_build,
    .shape = pool_shape,
    .scratch = maxpool_scratch,
    .state = maxpool_state,
    .forward = maxpool_forward,
    .backward = maxpool_backward,
    .forward_ref = maxpool_forward_ref,
    .backward_ref = maxpool_backward_ref,
};

const struct fundus__layer_type fundus__avgpool_type = {
    .name = "avgpool",
    .prefix = "avgpool",
    .keys = avgpool_keys,
    .spec_size = sizeof(struct pool_spec),
    .build = pool_build,
    .shape = pool_shape,
    .forward = avgpool_forward,
    .backward = avgpool_backward,
    .forward_ref = avgpool_forward_ref,
    .backward_ref = avgpool_backward_ref,
};

const struct fundus__layer_type fundus__gap_type = {
    .name = "globalavgpool",
    .prefix = "gap",
    .keys = gap_keys,
    .build = gap_build,
    .shape = gap_shape,
    .forward = gap_forward,
    .backward = gap_backward,
    .forward_ref = gap_forward_ref,
    .backward_ref = gap_backward_ref,
};
