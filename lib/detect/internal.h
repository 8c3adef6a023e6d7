/* Internal to lib/detect. */
#ifndef FUNDUS_DETECT_INTERNAL_H
#define FUNDUS_DETECT_INTERNAL_H

#include "fundus/detect.h"

#define FUNDUS__MAX_HEADS  8
#define FUNDUS__MAX_ANCHOR 16
#define FUNDUS__MAX_CAND   4096 /* candidates one head may give before suppression */

/* One detection head of a network. */
struct fundus__head {
	int output; /* index among the network's outputs */
	int layer;
	int centre; /* 1: [centre], 0: [yolo] */
	int classes;
	/* [yolo]: the anchors it uses (input pixels), and its keys */
	int nmask;
	float anchor_w[FUNDUS__MAX_ANCHOR], anchor_h[FUNDUS__MAX_ANCHOR];
	float scale_x_y;
};

struct fundus_detector {
	struct fundus_net *net;
	struct fundus__head heads[FUNDUS__MAX_HEADS];
	int nheads;
	char id[80];
	char name[128];
};

struct fundus_detect_ctx {
	const struct fundus_detector *det;
	struct fundus_nn_ctx *nn;
	float *input;   /* channels x height x width */
	float *scratch; /* fundus_detect_normalise_scratch() floats */
	float *out;     /* one head's output */
	struct fundus_detection *cand;
	size_t cand_cap;
};

/* Fills h from the head layer's keys (h->layer set). */
int fundus__head_parse(const struct fundus_net *net, struct fundus__head *h);

/*
 * Decodes the heads of the last forward pass into c->cand (network input
 * pixels), suppressed, thresholded and limited as p says, best first.
 * Returns their number.
 */
int fundus__detect_decode(struct fundus_detect_ctx *c, const struct fundus_detect_params *p);

#endif
