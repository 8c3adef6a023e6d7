/* The [upsample] layer: nearest-neighbour upsampling by an integer stride. */
#include <string.h>

#include "nn/internal.h"

struct upsample_spec {
	int stride;
};

static const struct fundus__key upsample_keys[] = {
    FUNDUS__K_INT("stride", struct upsample_spec, stride, 0, 2, 1, FUNDUS_NET_MAX_KERNEL),
    FUNDUS__K_END,
};

/* Same channels as the input. */
static int upsample_build(struct fundus_net *net, struct fundus__layer *l)
{
	l->channels = fundus__in_channels(net, l);
	return 0;
}

/* stride times the input size, within the limits. */
static int upsample_shape(const struct fundus_net *net, const struct fundus__layer *l,
			  const int *in_h, const int *in_w, int *h, int *w)
{
	const struct upsample_spec *sp = l->spec;

	if ((long)in_h[0] * sp->stride > FUNDUS_NET_MAX_SIZE ||
	    (long)in_w[0] * sp->stride > FUNDUS_NET_MAX_SIZE)
		return fundus_error_set(FUNDUS_ELIMIT, "layer %d [upsample] (line %d): too large",
					l->index, l->line);
	*h = in_h[0] * sp->stride;
	*w = in_w[0] * sp->stride;
	return 0;
}

struct up_job {
	struct fundus_nn_ctx *ctx;
	const struct fundus__layer *l;
};

/* Forward (copies) or backward (sums) of whole channels [b, e), by input rows. */
static void up_range(const struct up_job *j, size_t b, size_t e, int backward)
{
	const struct upsample_spec *sp = j->l->spec;
	struct fundus__state *in = fundus__in_mut(j->ctx, j->l, 0);
	struct fundus__state *s = &j->ctx->st[j->l->index];
	int st = sp->stride;
	size_t rows = (size_t)j->ctx->p.batch * (size_t)in->h;

	for (size_t c = b; c < e; c++)
		for (size_t r = 0; r < rows; r++) {
			/* Input row r (image r / h, row r % h) feeds output rows r*st .. r*st+st-1.
			 */
			float *ir = (backward ? in->dy : in->y) + c * in->plane + r * (size_t)in->w;
			float *orow = (backward ? s->dy : s->y) + c * s->plane +
				      r * (size_t)st * (size_t)s->w;

			if (backward) {
				for (int dy = 0; dy < st; dy++)
					for (int x = 0; x < s->w; x++)
						ir[x / st] += orow[(size_t)dy * s->w + (size_t)x];
			} else {
				for (int x = 0; x < s->w; x++)
					orow[x] = ir[x / st];
				for (int dy = 1; dy < st; dy++)
					memcpy(orow + (size_t)dy * s->w, orow,
					       (size_t)s->w * sizeof *orow);
			}
		}
}

/* Forward of channels [b, e). */
static void up_fwd_range(void *arg, size_t b, size_t e, int worker)
{
	up_range(arg, b, e, 0);
}

/* Backward of channels [b, e). */
static void up_bwd_range(void *arg, size_t b, size_t e, int worker)
{
	up_range(arg, b, e, 1);
}

/* Upsamples every channel, shared over the pool. */
static void upsample_forward(struct fundus_nn_ctx *ctx, const struct fundus__layer *l)
{
	struct up_job j = {ctx, l};

	fundus__parallel(ctx, (size_t)l->channels, up_fwd_range, &j);
}

/* Sums the gradient back, by channels. */
static void upsample_backward(struct fundus_nn_ctx *ctx, const struct fundus__layer *l)
{
	struct up_job j = {ctx, l};

	if (fundus__in(ctx, l, 0)->dy)
		fundus__parallel(ctx, (size_t)l->channels, up_bwd_range, &j);
}

/* Reference: each output pixel from (y / stride, x / stride). */
static void upsample_ref(struct fundus_nn_ctx *ctx, const struct fundus__layer *l, int backward)
{
	const struct upsample_spec *sp = l->spec;
	struct fundus__state *in = fundus__in_mut(ctx, l, 0), *s = &ctx->st[l->index];

	if (backward && in->dy == NULL)
		return;
	for (int c = 0; c < s->c; c++)
		for (int b = 0; b < ctx->p.batch; b++)
			for (int y = 0; y < s->h; y++)
				for (int x = 0; x < s->w; x++) {
					size_t o = (size_t)c * s->plane +
						   ((size_t)b * s->h + y) * s->w + x;
					size_t i = (size_t)c * in->plane +
						   ((size_t)b * in->h + y / sp->stride) * in->w +
						   x / sp->stride;

					if (backward)
						in->dy[i] += s->dy[o];
					else
						s->y[o] = in->y[i];
				}
}

/* Reference forward. */
static void upsample_forward_ref(struct fundus_nn_ctx *ctx, const struct fundus__layer *l)
{
	upsample_ref(ctx, l, 0);
}

/* Reference backward. */
static void upsample_backward_ref(struct fundus_nn_ctx *ctx, const struct fundus__layer *l)
{
	upsample_ref(ctx, l, 1);
}

const struct fundus__layer_type fundus__upsample_type = {
    .name = "upsample",
    .prefix = "upsample",
    .keys = upsample_keys,
    .spec_size = sizeof(struct upsample_spec),
    .build = upsample_build,
    .shape = upsample_shape,
    .forward = upsample_forward,
    .backward = upsample_backward,
    .forward_ref = upsample_forward_ref,
    .backward_ref = upsample_backward_ref,
};
