/*
 * The [shortcut] layer: a residual addition of the previous layer and an
 * earlier one of the same shape (from = -3), then an activation.
 */
#include <string.h>

#include "nn/internal.h"

struct shortcut_spec {
	int from, act;
};

static const struct fundus__key shortcut_keys[] = {
    FUNDUS__K_INT("from", struct shortcut_spec, from, 1, 0, -FUNDUS_NET_MAX_LAYERS,
		  FUNDUS_NET_MAX_LAYERS),
    FUNDUS__K_ENUM("activation", struct shortcut_spec, act, 0, FUNDUS__ACT_LINEAR,
		   fundus__act_names, fundus__act_values),
    FUNDUS__K_END,
};

/* Resolves from and checks that the channels agree. */
static int shortcut_build(struct fundus_net *net, struct fundus__layer *l)
{
	const struct shortcut_spec *sp = l->spec;
	int rc, a, b;

	if (l->index == 0)
		return fundus_error_set(FUNDUS_EFORMAT,
					"line %d: [shortcut]: needs a layer before it", l->line);
	rc = fundus__layer_ref(l, sp->from, &l->inputs[1]);
	if (rc < 0)
		return rc;
	l->ninputs = 2;
	a = net->layers[l->inputs[0]].channels;
	b = net->layers[l->inputs[1]].channels;
	if (a != b)
		return fundus_error_set(FUNDUS_EFORMAT,
					"line %d: [shortcut]: layer %d has %d channels, layer %d "
					"has %d",
					l->line, l->inputs[0], a, l->inputs[1], b);
	l->channels = a;
	return 0;
}

/* Both inputs must be of one size; so is the output. */
static int shortcut_shape(const struct fundus_net *net, const struct fundus__layer *l,
			  const int *in_h, const int *in_w, int *h, int *w)
{
	if (in_h[0] != in_h[1] || in_w[0] != in_w[1])
		return fundus_error_set(
		    FUNDUS_EINVAL,
		    "layer %d [shortcut] (line %d): layer %d is %dx%d, layer %d "
		    "is %dx%d",
		    l->index, l->line, l->inputs[0], in_w[0], in_h[0], l->inputs[1], in_w[1],
		    in_h[1]);
	*h = in_h[0];
	*w = in_w[0];
	return 0;
}

/* The sum before the activation is kept for silu's backward. */
static void shortcut_state(const struct fundus_nn_ctx *ctx, const struct fundus__layer *l,
			   size_t *z, size_t *stats, size_t *idx)
{
	const struct shortcut_spec *sp = l->spec;

	if (ctx->training && sp->act == FUNDUS__ACT_SILU)
		*z = ctx->st[l->index].count;
}

struct sc_job {
	struct fundus_nn_ctx *ctx;
	const struct fundus__layer *l;
};

/* Forward of whole channels [b, e). */
static void sc_fwd_range(void *arg, size_t b, size_t e, int worker)
{
	const struct sc_job *j = arg;
	const struct shortcut_spec *sp = j->l->spec;
	struct fundus__state *s = &j->ctx->st[j->l->index];
	const float *x1 = fundus__in(j->ctx, j->l, 0)->y, *x2 = fundus__in(j->ctx, j->l, 1)->y;
	size_t o = b * s->plane, n = (e - b) * s->plane;
	float *sum = s->z ? s->z : s->y;

	for (size_t i = o; i < o + n; i++)
		sum[i] = x1[i] + x2[i];
	if (sp->act != FUNDUS__ACT_LINEAR)
		fundus__act_forward(sp->act, sum + o, s->y + o, n);
}

/* Backward of whole channels [b, e): dy becomes the gradient of the sum. */
static void sc_bwd_range(void *arg, size_t b, size_t e, int worker)
{
	const struct sc_job *j = arg;
	const struct shortcut_spec *sp = j->l->spec;
	struct fundus__state *s = &j->ctx->st[j->l->index];
	float *d1 = fundus__in_mut(j->ctx, j->l, 0)->dy, *d2 = fundus__in_mut(j->ctx, j->l, 1)->dy;
	size_t o = b * s->plane, n = (e - b) * s->plane;

	if (sp->act != FUNDUS__ACT_LINEAR)
		fundus__act_backward(sp->act, s->z ? s->z + o : NULL, s->y + o, s->dy + o,
				     s->dy + o, n);
	for (size_t i = o; i < o + n; i++) {
		if (d1)
			d1[i] += s->dy[i];
		if (d2)
			d2[i] += s->dy[i];
	}
}

/* The sum and activation of every channel, shared over the pool. */
static void shortcut_forward(struct fundus_nn_ctx *ctx, const struct fundus__layer *l)
{
	struct sc_job j = {ctx, l};

	fundus__parallel(ctx, (size_t)l->channels, sc_fwd_range, &j);
}

/* The gradient to both inputs, by channels. */
static void shortcut_backward(struct fundus_nn_ctx *ctx, const struct fundus__layer *l)
{
	struct sc_job j = {ctx, l};

	fundus__parallel(ctx, (size_t)l->channels, sc_bwd_range, &j);
}

/* Reference: y = f(a + b), dy f'(a + b) to both, in double. */
static void shortcut_forward_ref(struct fundus_nn_ctx *ctx, const struct fundus__layer *l)
{
	const struct shortcut_spec *sp = l->spec;
	struct fundus__state *s = &ctx->st[l->index];
	const float *x1 = fundus__in(ctx, l, 0)->y, *x2 = fundus__in(ctx, l, 1)->y;

	for (size_t i = 0; i < s->count; i++)
		s->y[i] = (float)fundus__act_ref(sp->act, (double)x1[i] + x2[i]);
}

/* Reference backward. */
static void shortcut_backward_ref(struct fundus_nn_ctx *ctx, const struct fundus__layer *l)
{
	const struct shortcut_spec *sp = l->spec;
	struct fundus__state *s = &ctx->st[l->index];
	struct fundus__state *a = fundus__in_mut(ctx, l, 0), *b = fundus__in_mut(ctx, l, 1);

	for (size_t i = 0; i < s->count; i++) {
		double g = s->dy[i] * fundus__act_grad_ref(sp->act, (double)a->y[i] + b->y[i]);

		if (a->dy)
			a->dy[i] += (float)g;
		if (b->dy)
			b->dy[i] += (float)g;
	}
}

const struct fundus__layer_type fundus__shortcut_type = {
    .name = "shortcut",
    .prefix = "shortcut",
    .keys = shortcut_keys,
    .spec_size = sizeof(struct shortcut_spec),
    .build = shortcut_build,
    .shape = shortcut_shape,
    .state = shortcut_state,
    .forward = shortcut_forward,
    .backward = shortcut_backward,
    .forward_ref = shortcut_forward_ref,
    .backward_ref = shortcut_backward_ref,
};
