/*
 * The [centre] layer: a centre-heatmap detection head after CenterNet
 * (Zhou, Wang and Kraehenbuehl, "Objects as Points", 2019). Its input has
 * classes + 4 channels: one heatmap logit per class, then the offset of
 * the object's centre within the cell (x, y, in cells) and the log of its
 * width and height (in cells). Like [yolo], the engine passes the input
 * through; decoding and the loss are the detector's (lib/detect).
 */
#include "nn/internal.h"

struct centre_spec {
	int classes;
};

static const struct fundus__key centre_keys[] = {
    FUNDUS__K_INT("classes", struct centre_spec, classes, 0, 1, 1, FUNDUS_NET_MAX_LABELS),
    FUNDUS__K_END,
};

/* Checks that the input has classes + 4 channels. */
static int centre_build(struct fundus_net *net, struct fundus__layer *l)
{
	const struct centre_spec *sp = l->spec;
	int c = fundus__in_channels(net, l);

	if (c != sp->classes + 4)
		return fundus_error_set(FUNDUS_EFORMAT,
					"line %d: [centre]: the layer before has %d channels, not "
					"%d classes + 4 = %d",
					l->line, c, sp->classes, sp->classes + 4);
	l->channels = c;
	return 0;
}

const struct fundus__layer_type fundus__centre_type = {
    .name = "centre",
    .prefix = "centre",
    .keys = centre_keys,
    .spec_size = sizeof(struct centre_spec),
    .is_head = 1,
    .build = centre_build,
    .shape = fundus__head_shape,
    .forward = fundus__head_forward,
    .backward = fundus__head_backward,
    .forward_ref = fundus__head_forward,
    .backward_ref = fundus__head_backward,
};
