/*
 * The [route] layer: the channels of earlier layers, concatenated (darknet's
 * route). With groups = n and group_id = i, it takes the i-th of n equal
 * slices of each input's channels instead of all of them.
 */
#include <string.h>

#include "nn/internal.h"

struct route_spec {
	int layers[FUNDUS__MAX_LIST];
	int nlayers;
	int groups, group_id;
};

static const struct fundus__key route_keys[] = {
    FUNDUS__K_INTS("layers", struct route_spec, layers, nlayers, 1, -FUNDUS_NET_MAX_LAYERS,
		   FUNDUS_NET_MAX_LAYERS),
    FUNDUS__K_INT("groups", struct route_spec, groups, 0, 1, 1, FUNDUS_NET_MAX_CHANNELS),
    FUNDUS__K_INT("group_id", struct route_spec, group_id, 0, 0, 0, FUNDUS_NET_MAX_CHANNELS),
    FUNDUS__K_END,
};

/* Resolves the layers, checks the groups, adds up the channels. */
static int route_build(struct fundus_net *net, struct fundus__layer *l)
{
	const struct route_spec *sp = l->spec;
	long sum = 0;

	if (sp->nlayers > FUNDUS__MAX_INPUTS)
		return fundus_error_set(FUNDUS_ELIMIT, "line %d: [route]: more than %d layers",
					l->line, FUNDUS__MAX_INPUTS);
	if (sp->group_id >= sp->groups)
		return fundus_error_set(FUNDUS_EFORMAT,
					"line %d: [route]: group_id %d is not below groups %d",
					l->line, sp->group_id, sp->groups);
	l->ninputs = sp->nlayers;
	for (int i = 0; i < sp->nlayers; i++) {
		int rc = fundus__layer_ref(l, sp->layers[i], &l->inputs[i]);
		int c;

		if (rc < 0)
			return rc;
		c = net->layers[l->inputs[i]].channels;
		if (c % sp->groups)
			return fundus_error_set(
			    FUNDUS_EFORMAT,
			    "line %d: [route]: groups=%d does not divide the %d "
			    "channels of layer %d",
			    l->line, sp->groups, c, l->inputs[i]);
		sum += c / sp->groups;
	}
	if (sum > FUNDUS_NET_MAX_CHANNELS)
		return fundus_error_set(FUNDUS_ELIMIT, "line %d: [route]: %ld channels", l->line,
					sum);
	l->channels = (int)sum;
	return 0;
}

/* All inputs must be of one size; so is the output. */
static int route_shape(const struct fundus_net *net, const struct fundus__layer *l, const int *in_h,
		       const int *in_w, int *h, int *w)
{
	for (int i = 1; i < l->ninputs; i++)
		if (in_h[i] != in_h[0] || in_w[i] != in_w[0])
			return fundus_error_set(FUNDUS_EINVAL,
						"layer %d [route] (line %d): layer %d is %dx%d, "
						"layer %d is %dx%d",
						l->index, l->line, l->inputs[0], in_w[0], in_h[0],
						l->inputs[i], in_w[i], in_h[i]);
	*h = in_h[0];
	*w = in_w[0];
	return 0;
}

/*
 * Copies (or, backward, adds back) the slices. Channel planes of the batch
 * are contiguous, so each input's slice is one block of memory.
 */
static void route_run(struct fundus_nn_ctx *ctx, const struct fundus__layer *l, int backward)
{
	const struct route_spec *sp = l->spec;
	struct fundus__state *s = &ctx->st[l->index];
	size_t at = 0;

	for (int i = 0; i < l->ninputs; i++) {
		struct fundus__state *in = fundus__in_mut(ctx, l, i);
		size_t part = (size_t)(in->c / sp->groups) * in->plane;
		size_t from = (size_t)sp->group_id * part;

		if (!backward) {
			memcpy(s->y + at, in->y + from, part * sizeof *s->y);
		} else if (in->dy) {
			for (size_t k = 0; k < part; k++)
				in->dy[from + k] += s->dy[at + k];
		}
		at += part;
	}
}

/* Concatenates. */
static void route_forward(struct fundus_nn_ctx *ctx, const struct fundus__layer *l)
{
	route_run(ctx, l, 0);
}

/* Hands each input its slice of the gradient. */
static void route_backward(struct fundus_nn_ctx *ctx, const struct fundus__layer *l)
{
	route_run(ctx, l, 1);
}

/* Reference: output channel by output channel, from the definition. */
static void route_ref(struct fundus_nn_ctx *ctx, const struct fundus__layer *l, int backward)
{
	const struct route_spec *sp = l->spec;
	struct fundus__state *s = &ctx->st[l->index];
	int oc = 0;

	for (int i = 0; i < l->ninputs; i++) {
		struct fundus__state *in = fundus__in_mut(ctx, l, i);
		int per = in->c / sp->groups;

		for (int c = 0; c < per; c++, oc++)
			for (size_t k = 0; k < s->plane; k++) {
				size_t ii = (size_t)(sp->group_id * per + c) * in->plane + k;
				size_t o = (size_t)oc * s->plane + k;

				if (!backward)
					s->y[o] = in->y[ii];
				else if (in->dy)
					in->dy[ii] += s->dy[o];
			}
	}
}

/* Reference forward. */
static void route_forward_ref(struct fundus_nn_ctx *ctx, const struct fundus__layer *l)
{
	route_ref(ctx, l, 0);
}

/* Reference backward. */
static void route_backward_ref(struct fundus_nn_ctx *ctx, const struct fundus__layer *l)
{
	route_ref(ctx, l, 1);
}

const struct fundus__layer_type fundus__route_type = {
    .name = "route",
    .prefix = "route",
    .keys = route_keys,
    .spec_size = sizeof(struct route_spec),
    .build = route_build,
    .shape = route_shape,
    .forward = route_forward,
    .backward = route_backward,
    .forward_ref = route_forward_ref,
    .backward_ref = route_backward_ref,
};
