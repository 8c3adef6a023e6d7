/*
 * Heads to boxes: reading the keys of [yolo] and [centre] layers, and
 * decoding their outputs into scored boxes in network input pixels.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "detect/internal.h"
#include "fundus/workspace.h"

/* Parses a comma-separated list of at most max numbers; returns the count or -1. */
static int parse_list(const char *s, double *v, int max)
{
	int n = 0;

	while (s && *s) {
		char *end;

		if (n == max)
			return -1;
		v[n] = strtod(s, &end);
		if (end == s)
			return -1;
		n++;
		while (*end == ' ' || *end == '\t')
			end++;
		if (*end == ',')
			end++;
		else if (*end)
			return -1;
		s = end;
	}
	return n;
}

int fundus__head_parse(const struct fundus_net *net, struct fundus__head *h)
{
	const char *type = fundus_net_layer_type(net, h->layer);
	const char *cl = fundus_net_layer_option(net, h->layer, "classes");
	double anchors[2 * FUNDUS__MAX_ANCHOR], mask[FUNDUS__MAX_ANCHOR], sxy = 1;
	int na, nm;

	/* The engine checked every key when it built the network. */
	h->classes = cl ? (int)strtol(cl, NULL, 10) : 1;
	h->centre = strcmp(type, "centre") == 0;
	if (h->centre)
		return 0;
	na = parse_list(fundus_net_layer_option(net, h->layer, "anchors"), anchors,
			2 * FUNDUS__MAX_ANCHOR);
	nm = parse_list(fundus_net_layer_option(net, h->layer, "mask"), mask, FUNDUS__MAX_ANCHOR);
	if (na < 2 || nm < 0)
		return fundus_error_set(FUNDUS_EFORMAT, "more than %d anchors", FUNDUS__MAX_ANCHOR);
	if (nm == 0) {
		nm = na / 2;
		for (int i = 0; i < nm; i++)
			mask[i] = i;
	}
	if (fundus_net_layer_option(net, h->layer, "scale_x_y"))
		parse_list(fundus_net_layer_option(net, h->layer, "scale_x_y"), &sxy, 1);
	h->nmask = nm;
	h->scale_x_y = (float)sxy;
	for (int i = 0; i < nm; i++) {
		h->anchor_w[i] = (float)anchors[2 * (int)mask[i]];
		h->anchor_h[i] = (float)anchors[2 * (int)mask[i] + 1];
	}
	return 0;
}

static float sigmoid(float x)
{
	return 1.0f / (1.0f + expf(-x));
}

/* The logit of a probability, to compare raw outputs with a threshold. */
static float logit(float p)
{
	if (p <= 0)
		return -INFINITY;
	if (p >= 1)
		return INFINITY;
	return logf(p / (1 - p));
}

/* Clamps the log of a size so that exp() stays finite. */
static float clamp_log(float v)
{
	return v < -12 ? -12 : v > 12 ? 12 : v;
}

/* Appends a candidate unless the head's room is used up (the lowest are then lost). */
static void add(struct fundus_detect_ctx *c, size_t *n, size_t cap, float x0, float y0, float x1,
		float y1, float score, int label)
{
	struct fundus_detection *d;

	if (*n >= cap) {
		/* Replace the weakest so far: keeps the best cap candidates. */
		size_t w = 0;

		for (size_t i = 1; i < *n; i++)
			if (c->cand[i].score < c->cand[w].score)
				w = i;
		if (c->cand[w].score >= score)
			return;
		d = &c->cand[w];
	} else {
		d = &c->cand[(*n)++];
	}
	d->box.x0 = x0;
	d->box.y0 = y0;
	d->box.x1 = x1;
	d->box.y1 = y1;
	d->score = score;
	d->label = label;
}

/* Decodes a [centre] head of h x w cells: local maxima of each heatmap. */
static void decode_centre(struct fundus_detect_ctx *c, const struct fundus__head *hd, int h,
			  int w, float sx, float sy, float thr, size_t *n, size_t cap)
{
	const float *o = c->out;
	size_t plane = (size_t)h * (size_t)w;
	float lthr = logit(thr);

	for (int k = 0; k < hd->classes; k++) {
		const float *hm = o + (size_t)k * plane;

		for (int y = 0; y < h; y++)
			for (int x = 0; x < w; x++) {
				float v = hm[(size_t)y * w + x];
				int peak = 1;

				if (!(v >= lthr))
					continue;
				for (int dy = -1; dy <= 1 && peak; dy++)
					for (int dx = -1; dx <= 1; dx++) {
						int yy = y + dy, xx = x + dx;

						if ((dx || dy) && yy >= 0 && yy < h && xx >= 0 &&
						    xx < w && hm[(size_t)yy * w + xx] > v) {
							peak = 0;
							break;
						}
					}
				if (!peak)
					continue;
				{
					/*
					 * The box: the neighbours' predictions
					 * too (they are trained to give it),
					 * weighted by their heat.
					 */
					float cx = 0, cy = 0, lw = 0, lh = 0, wsum = 0;

					for (int dy = -1; dy <= 1; dy++)
						for (int dx = -1; dx <= 1; dx++) {
							int yy = y + dy, xx = x + dx;
							size_t at;
							const float *r;
							float wt;

							if (yy < 0 || yy >= h || xx < 0 || xx >= w)
								continue;
							at = (size_t)yy * w + xx;
							r = o + (size_t)hd->classes * plane + at;
							wt = sigmoid(hm[at]);
							cx += wt * ((float)xx + r[0]);
							cy += wt * ((float)yy + r[plane]);
							lw += wt * clamp_log(r[2 * plane]);
							lh += wt * clamp_log(r[3 * plane]);
							wsum += wt;
						}
					cx = cx / wsum * sx;
					cy = cy / wsum * sy;
					lw = expf(lw / wsum) * sx;
					lh = expf(lh / wsum) * sy;
					add(c, n, cap, cx - lw / 2, cy - lh / 2, cx + lw / 2, cy + lh / 2,
					    sigmoid(v), k);
				}
			}
	}
}

/* Decodes a [yolo] head of h x w cells (darknet's box parametrisation). */
static void decode_yolo(struct fundus_detect_ctx *c, const struct fundus__head *hd, int h, int w,
			float sx, float sy, float thr, size_t *n, size_t cap)
{
	const float *o = c->out;
	size_t plane = (size_t)h * (size_t)w;
	int per = hd->classes + 5;
	float lthr = logit(thr), s = hd->scale_x_y;

	for (int a = 0; a < hd->nmask; a++) {
		const float *base = o + (size_t)a * (size_t)per * plane;

		for (size_t at = 0; at < plane; at++) {
			float obj = base[4 * plane + at];
			int x = (int)(at % (size_t)w), y = (int)(at / (size_t)w);

			/* score = obj * cls <= obj: skip cells that cannot pass */
			if (!(obj >= lthr))
				continue;
			for (int k = 0; k < hd->classes; k++) {
				float score = sigmoid(obj) * sigmoid(base[(size_t)(5 + k) * plane + at]);
				float cx, cy, bw, bh;

				if (!(score >= thr))
					continue;
				cx = ((float)x + sigmoid(base[at]) * s - (s - 1) / 2) * sx;
				cy = ((float)y + sigmoid(base[plane + at]) * s - (s - 1) / 2) * sy;
				bw = expf(clamp_log(base[2 * plane + at])) * hd->anchor_w[a];
				bh = expf(clamp_log(base[3 * plane + at])) * hd->anchor_h[a];
				add(c, n, cap, cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2, score,
				    k);
			}
		}
	}
}

/* Best first; ties by position so that the order is the same run after run. */
static int by_score(const void *pa, const void *pb)
{
	const struct fundus_detection *a = pa, *b = pb;

	if (a->score != b->score)
		return a->score > b->score ? -1 : 1;
	if (a->box.x0 != b->box.x0)
		return a->box.x0 < b->box.x0 ? -1 : 1;
	if (a->box.y0 != b->box.y0)
		return a->box.y0 < b->box.y0 ? -1 : 1;
	return a->label - b->label;
}

int fundus__detect_decode(struct fundus_detect_ctx *c, const struct fundus_detect_params *p)
{
	const struct fundus_detector *d = c->det;
	struct fundus_net_input in;
	size_t n = 0, kept = 0;
	float thr = p->threshold > 0 ? p->threshold : 0;

	fundus_net_get_input(d->net, &in);
	for (int i = 0; i < d->nheads; i++) {
		const struct fundus__head *hd = &d->heads[i];
		size_t start = n, cap;
		int sh[4];
		float sx, sy;

		fundus_nn_output_shape(c->nn, hd->output, sh);
		fundus_nn_get_output(c->nn, hd->output, c->out);
		sx = (float)in.width / (float)sh[3];
		sy = (float)in.height / (float)sh[2];
		cap = (size_t)sh[2] * (size_t)sh[3] * (size_t)(hd->nmask ? hd->nmask : 1) *
		      (size_t)hd->classes;
		cap = start + (cap < FUNDUS__MAX_CAND ? cap : FUNDUS__MAX_CAND);
		if (cap > c->cand_cap)
			cap = c->cand_cap;
		/* add() compares against the whole array: give each head its own slice */
		{
			struct fundus_detection *all = c->cand;
			size_t m = 0;

			c->cand = all + start;
			if (hd->centre)
				decode_centre(c, hd, sh[2], sh[3], sx, sy, thr, &m, cap - start);
			else
				decode_yolo(c, hd, sh[2], sh[3], sx, sy, thr, &m, cap - start);
			c->cand = all;
			n = start + m;
		}
	}
	qsort(c->cand, n, sizeof *c->cand, by_score);
	/* Greedy suppression per label, best first. */
	for (size_t i = 0; i < n; i++) {
		int drop = 0;

		if (p->nms > 0)
			for (size_t j = 0; j < kept && !drop; j++)
				if (c->cand[j].label == c->cand[i].label &&
				    fundus_box_iou(&c->cand[j].box, &c->cand[i].box) > p->nms)
					drop = 1;
		if (drop)
			continue;
		c->cand[kept++] = c->cand[i];
		if (p->top > 0 && kept == (size_t)p->top)
			break;
	}
	return (int)kept;
}
