/*
 * The [yolo] layer: a detection head in darknet's style. The engine treats
 * it as an output of the network that passes its input through unchanged;
 * decoding the boxes and the loss belong to the detector, which reads the
 * head's keys with fundus_net_layer_option(). The keys are checked here so
 * that a description with a wrong channel count fails when it is read.
 *
 * Another kind of head is added the same way: a file like this one with
 * its table of keys, is_head set, and an entry in fundus__layer_types.
 */
#include <string.h>

#include "nn/internal.h"

struct yolo_spec {
	int mask[FUNDUS__MAX_LIST];
	int nmask;
	float anchors[FUNDUS__MAX_LIST];
	int nanchors;
	int classes, num, random;
	float jitter, ignore_thresh, truth_thresh, scale_x_y;
};

static const struct fundus__key yolo_keys[] = {
    FUNDUS__K_INTS("mask", struct yolo_spec, mask, nmask, 0, 0, FUNDUS__MAX_LIST),
    FUNDUS__K_FLOATS("anchors", struct yolo_spec, anchors, nanchors, 1, 0, FUNDUS_NET_MAX_SIZE),
    FUNDUS__K_INT("classes", struct yolo_spec, classes, 1, 0, 1, FUNDUS_NET_MAX_LABELS),
    FUNDUS__K_INT("num", struct yolo_spec, num, 0, 0, 1, FUNDUS__MAX_LIST / 2),
    FUNDUS__K_FLOAT("jitter", struct yolo_spec, jitter, 0, 0, 0, 1),
    FUNDUS__K_FLOAT("ignore_thresh", struct yolo_spec, ignore_thresh, 0, 0.5, 0, 1),
    FUNDUS__K_FLOAT("truth_thresh", struct yolo_spec, truth_thresh, 0, 1, 0, 1),
    FUNDUS__K_FLOAT("scale_x_y", struct yolo_spec, scale_x_y, 0, 1, 1, 4),
    FUNDUS__K_INT("random", struct yolo_spec, random, 0, 0, 0, 1),
    FUNDUS__K_END,
};

/* Checks the anchors and masks, and that the input has the channels they need. */
static int yolo_build(struct fundus_net *net, struct fundus__layer *l)
{
	const struct yolo_spec *sp = l->spec;
	int c = fundus__in_channels(net, l);
	int num = sp->num ? sp->num : sp->nanchors / 2;
	int used = sp->nmask ? sp->nmask : num;

	if (sp->nanchors % 2 || sp->nanchors / 2 < num)
		return fundus_error_set(FUNDUS_EFORMAT,
					"line %d: [yolo]: anchors must be %d width,height pairs",
					l->line, num);
	for (int i = 0; i < sp->nmask; i++)
		if (sp->mask[i] >= num)
			return fundus_error_set(FUNDUS_EFORMAT,
						"line %d: [yolo]: mask %d names no anchor (num=%d)",
						l->line, sp->mask[i], num);
	if (c != used * (sp->classes + 5))
		return fundus_error_set(FUNDUS_EFORMAT,
					"line %d: [yolo]: the layer before has %d channels, not %d "
					"anchors x (%d classes + 5) = %d",
					l->line, c, used, sp->classes, used * (sp->classes + 5));
	l->channels = c;
	return 0;
}

/* Same size as the input (every head). */
int fundus__head_shape(const struct fundus_net *net, const struct fundus__layer *l, const int *in_h,
		       const int *in_w, int *h, int *w)
{
	*h = in_h[0];
	*w = in_w[0];
	return 0;
}

/* Passes the input through (every head). */
void fundus__head_forward(struct fundus_nn_ctx *ctx, const struct fundus__layer *l)
{
	struct fundus__state *s = &ctx->st[l->index];

	memcpy(s->y, fundus__in(ctx, l, 0)->y, s->count * sizeof *s->y);
}

/* Passes the gradient back (every head). */
void fundus__head_backward(struct fundus_nn_ctx *ctx, const struct fundus__layer *l)
{
	struct fundus__state *s = &ctx->st[l->index], *in = fundus__in_mut(ctx, l, 0);

	if (in->dy)
		for (size_t i = 0; i < s->count; i++)
			in->dy[i] += s->dy[i];
}

const struct fundus__layer_type fundus__yolo_type = {
    .name = "yolo",
    .prefix = "yolo",
    .keys = yolo_keys,
    .spec_size = sizeof(struct yolo_spec),
    .is_head = 1,
    .build = yolo_build,
    .shape = fundus__head_shape,
    .forward = fundus__head_forward,
    .backward = fundus__head_backward,
    .forward_ref = fundus__head_forward,
    .backward_ref = fundus__head_backward,
};
