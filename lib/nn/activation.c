/*
 * Activation functions: the kernels the other layers fuse into their
 * output, and the [activation] layer that applies one on its own.
 */
#include <math.h>
#include <string.h>

#include "nn/internal.h"

/* "swish" and "logistic" are darknet's names for silu and sigmoid. */
const char *const fundus__act_names[] = {"linear", "relu",    "leaky",    "silu",
					 "swish",  "sigmoid", "logistic", NULL};
const int fundus__act_values[] = {FUNDUS__ACT_LINEAR, FUNDUS__ACT_RELU, FUNDUS__ACT_LEAKY,
				  FUNDUS__ACT_SILU,   FUNDUS__ACT_SILU, FUNDUS__ACT_SIGMOID,
				  FUNDUS__ACT_SIGMOID};

/*
 * The loops below are written so that GCC vectorises them at its default
 * -ftrapping-math: a select may only pick between values computed on both
 * paths anyway, and where the choice depends on the sign of another value
 * it is made on the bits, as integers (a float comparison could raise an
 * exception the scalar code would not). A branch on the sign of a value
 * would be mispredicted half the time.
 */

void fundus__act_forward(enum fundus__act act, const float *x, float *y, size_t n)
{
	switch (act) {
	case FUNDUS__ACT_LINEAR:
		if (x != y)
			memcpy(y, x, n * sizeof *y);
		break;
	case FUNDUS__ACT_RELU:
		for (size_t i = 0; i < n; i++) {
			float v = x[i];

			y[i] = v > 0 ? v : 0;
		}
		break;
	case FUNDUS__ACT_LEAKY:
		/* max(v, 0.1 v) is v above zero and 0.1 v below. */
		for (size_t i = 0; i < n; i++) {
			float v = x[i], s = FUNDUS__LEAKY_SLOPE * v;

			y[i] = v > s ? v : s;
		}
		break;
	case FUNDUS__ACT_SILU:
		for (size_t i = 0; i < n; i++)
			y[i] = x[i] / (1.0f + expf(-x[i]));
		break;
	case FUNDUS__ACT_SIGMOID:
		for (size_t i = 0; i < n; i++)
			y[i] = 1.0f / (1.0f + expf(-x[i]));
		break;
	}
}

void fundus__act_backward(enum fundus__act act, const float *x, const float *y, const float *dy,
			  float *dx, size_t n)
{
	switch (act) {
	case FUNDUS__ACT_LINEAR:
		if (dx != dy)
			memcpy(dx, dy, n * sizeof *dx);
		break;
	case FUNDUS__ACT_RELU:
		for (size_t i = 0; i < n; i++)
			dx[i] = fundus__where_positive(y[i], dy[i], 0.0f);
		break;
	case FUNDUS__ACT_LEAKY:
		/* y > 0 exactly when x > 0, since the slope below zero is positive. */
		for (size_t i = 0; i < n; i++) {
			float d = dy[i];

			dx[i] = fundus__where_positive(y[i], d, FUNDUS__LEAKY_SLOPE * d);
		}
		break;
	case FUNDUS__ACT_SILU:
		for (size_t i = 0; i < n; i++) {
			float s = 1.0f / (1.0f + expf(-x[i]));

			dx[i] = dy[i] * s * (1.0f + x[i] * (1.0f - s));
		}
		break;
	case FUNDUS__ACT_SIGMOID:
		for (size_t i = 0; i < n; i++)
			dx[i] = dy[i] * y[i] * (1.0f - y[i]);
		break;
	}
}

double fundus__act_ref(enum fundus__act act, double x)
{
	switch (act) {
	case FUNDUS__ACT_LINEAR: return x;
	case FUNDUS__ACT_RELU: return x > 0 ? x : 0;
	case FUNDUS__ACT_LEAKY: return x > 0 ? x : FUNDUS__LEAKY_SLOPE * x;
	case FUNDUS__ACT_SILU: return x / (1 + exp(-x));
	case FUNDUS__ACT_SIGMOID: return 1 / (1 + exp(-x));
	}
	return x;
}

double fundus__act_grad_ref(enum fundus__act act, double x)
{
	double s;

	switch (act) {
	case FUNDUS__ACT_LINEAR: return 1;
	case FUNDUS__ACT_RELU: return x > 0 ? 1 : 0;
	case FUNDUS__ACT_LEAKY: return x > 0 ? 1 : FUNDUS__LEAKY_SLOPE;
	case FUNDUS__ACT_SILU: s = 1 / (1 + exp(-x)); return s * (1 + x * (1 - s));
	case FUNDUS__ACT_SIGMOID: s = 1 / (1 + exp(-x)); return s * (1 - s);
	}
	return 1;
}

/* The [activation] layer. */
struct act_spec {
	int act;
};

static const struct fundus__key act_keys[] = {
    FUNDUS__K_ENUM("activation", struct act_spec, act, 1, 0, fundus__act_names, fundus__act_values),
    FUNDUS__K_END,
};

/* Same channels as the input. */
static int act_build(struct fundus_net *net, struct fundus__layer *l)
{
	l->channels = fundus__in_channels(net, l);
	return 0;
}

/* Same size as the input. */
static int same_shape(const struct fundus_net *net, const struct fundus__layer *l, const int *in_h,
		      const int *in_w, int *h, int *w)
{
	*h = in_h[0];
	*w = in_w[0];
	return 0;
}

struct act_job {
	const struct fundus__layer *l;
	const float *x, *y, *dy;
	float *out, *dx;
	size_t plane;
	int act;
};

/* Applies the activation to whole channels [b, e). */
static void act_fwd_range(void *arg, size_t b, size_t e, int worker)
{
	struct act_job *j = arg;

	fundus__act_forward(j->act, j->x + b * j->plane, j->out + b * j->plane, (e - b) * j->plane);
}

/* The activation of every channel, shared over the pool. */
static void act_forward(struct fundus_nn_ctx *ctx, const struct fundus__layer *l)
{
	const struct act_spec *sp = l->spec;
	struct fundus__state *s = &ctx->st[l->index];
	struct act_job j = {
	    .l = l, .x = fundus__in(ctx, l, 0)->y, .out = s->y, .plane = s->plane, .act = sp->act};

	fundus__parallel(ctx, (size_t)s->c, act_fwd_range, &j);
}

/* Adds the gradient of whole channels [b, e) into the input's, a block at a time. */
static void act_bwd_range(void *arg, size_t b, size_t e, int worker)
{
	struct act_job *j = arg;
	float g[512];

	for (size_t o = b * j->plane; o < e * j->plane; o += 512) {
		size_t n = e * j->plane - o < 512 ? e * j->plane - o : 512;

		fundus__act_backward(j->act, j->x + o, j->y + o, j->dy + o, g, n);
		for (size_t i = 0; i < n; i++)
			j->dx[o + i] += g[i];
	}
}

/* Adds the gradient through the activation into the input's, by channels. */
static void act_backward(struct fundus_nn_ctx *ctx, const struct fundus__layer *l)
{
	const struct act_spec *sp = l->spec;
	struct fundus__state *s = &ctx->st[l->index];
	struct fundus__state *in = fundus__in_mut(ctx, l, 0);
	struct act_job j = {.l = l,
			    .x = in->y,
			    .y = s->y,
			    .dy = s->dy,
			    .dx = in->dy,
			    .plane = s->plane,
			    .act = sp->act};

	if (in->dy)
		fundus__parallel(ctx, (size_t)s->c, act_bwd_range, &j);
}

/* Reference: the activation of each value, in double. */
static void act_forward_ref(struct fundus_nn_ctx *ctx, const struct fundus__layer *l)
{
	const struct act_spec *sp = l->spec;
	struct fundus__state *s = &ctx->st[l->index];
	const float *x = fundus__in(ctx, l, 0)->y;

	for (size_t i = 0; i < s->count; i++)
		s->y[i] = (float)fundus__act_ref(sp->act, x[i]);
}

/* Reference: the derivative at each input value, in double. */
static void act_backward_ref(struct fundus_nn_ctx *ctx, const struct fundus__layer *l)
{
	const struct act_spec *sp = l->spec;
	struct fundus__state *s = &ctx->st[l->index];
	struct fundus__state *in = fundus__in_mut(ctx, l, 0);

	if (in->dy == NULL)
		return;
	for (size_t i = 0; i < s->count; i++)
		in->dy[i] += (float)(s->dy[i] * fundus__act_grad_ref(sp->act, in->y[i]));
}

const struct fundus__layer_type fundus__activation_type = {
    .name = "activation",
    .prefix = "act",
    .keys = act_keys,
    .spec_size = sizeof(struct act_spec),
    .build = act_build,
    .shape = same_shape,
    .forward = act_forward,
    .backward = act_backward,
    .forward_ref = act_forward_ref,
    .backward_ref = act_backward_ref,
};
